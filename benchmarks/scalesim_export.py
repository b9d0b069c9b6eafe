"""The SCALE-Sim export, checked by running SCALE-Sim on it: dense compute cycles per layer, SCALE-Sim vs ours.

Builds a pruned-model artifact with random weights and masks (LeNet-5 by default, ``--model resnet18`` for the
zoo's CIFAR ResNet-18; conv1 50% non-structured, conv2 (the second conv) 2:4, the first linear layer 90%
non-structured, the rest dense) or takes one (``--artifact DIR``), exports it with
``sparsesim.export.scalesim_files`` for each hardware preset (``sparsesim export --to scalesim``), runs SCALE-Sim
3.0.0 on the exported topology.csv / layout.csv / scalesim.cfg through its Python API (as
benchmarks/scalesim_validation.py does), and prices the same artifact (``from_artifact``, not the exported file)
on the hardware the exported .cfg describes (``accelerator_from_scalesim_cfg``: the ``scalesim`` convention).

Compared per layer: SCALE-Sim's compute cycles ("Total Cycles" - "Stall Cycles" + 1, i.e. the demand rows) with
our ``compute_cycles``, and "Total Cycles (incl. prefetch)" with our ``cycles``.  A preset with ``pe.engine: nm``
exports ``SparsitySupport: true`` and the layers' N:M, so its compute cycles are those of the compressed K.

    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    python benchmarks/scalesim_export.py --scalesim-python /tmp/ssvenv/bin/python
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accel_models.hardware import load_accelerator  # noqa: E402
from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg  # noqa: E402
from scalesim_validation import RUNNER, _report  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.export import scalesim_files, scalesim_rows, write_files  # noqa: E402
from sparsesim.workload import from_artifact  # noqa: E402

DEFAULT_HARDWARE = ("eyeriss_like", "fpga_small", "nm_asic", "tpu_like")


def build_artifact(model_name: str, out: Path, seed: int) -> Path:
    """A zoo model with random weights, pruned by magnitude to a mix of structures (no training)."""
    import torch

    from pruning.artifact import save_artifact
    from pruning.constraint import Constraint
    from pruning.models import build_model
    from pruning.structures import Structure

    torch.manual_seed(seed)
    model = build_model(model_name).eval()
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    plan = {convs[0]: Structure("nonstructured", 0.5), convs[1]: Structure("nm", n=2, m=4),
            linears[0]: Structure("nonstructured", 0.9)}
    fitted = {}
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, structure in plan.items():
            w = modules[name].weight
            fitted[name] = Constraint(structure).fit(w)
            w.copy_(fitted[name].project(w)[0])
    return save_artifact(out, model, model_name=model_name, constraints=fitted,
                         example=torch.zeros(1, *model.input_shape), extra={"seed": seed}, log_rows=[])


def run_scalesim(python: str, files: list[Path], out: Path) -> tuple[list[dict], float]:
    cfg, topo, layout = (next(p for p in files if p.name == n) for n in ("scalesim.cfg", "topology.csv",
                                                                           "layout.csv"))
    res = subprocess.run([python, "-c", RUNNER, str(cfg), str(topo), str(layout), str(out)], check=True,
                         capture_output=True, text=True, cwd=out.parent)
    wall = float(res.stdout.split("WALL_S")[-1])
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    return _report(run_dir / "COMPUTE_REPORT.csv"), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalesim-python", required=True, help="python of a venv with scalesim==3.0.0")
    ap.add_argument("--model", default="lenet5", help="zoo model to build with random masks (lenet5, resnet18)")
    ap.add_argument("--artifact", help="export this artifact instead of building one")
    ap.add_argument("--hardware", default=",".join(DEFAULT_HARDWARE), help="comma-separated presets or YAML files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--golden", help="also write SCALE-Sim's per-layer cycles to this CSV (a test fixture)")
    args = ap.parse_args()
    golden = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        art = Path(args.artifact) if args.artifact else build_artifact(args.model, tmp / "artifact", args.seed)
        workloads = from_artifact(art)
        print(f"artifact {args.artifact or args.model + ' (random masks, seed ' + str(args.seed) + ')'}: "
              + ", ".join(f"{w.name} {w.sparsity_type} {w.density:.2f}" for w in workloads))
        print("\n| hardware | array | dataflow | layer | N:M | SCALE-Sim compute cycles | ours | "
              "SCALE-Sim total incl. prefetch | ours | SCALE-Sim s | ours s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        worst = 0.0
        for hw_name in args.hardware.split(","):
            acc = load_accelerator(hw_name)
            out = tmp / acc.name
            files = write_files(scalesim_files(workloads, acc), out / "export")
            ref, wall = run_scalesim(args.scalesim_python, files, out / "results")
            t = time.perf_counter()
            table = evaluate(workloads, [accelerator_from_scalesim_cfg(out / "export" / "scalesim.cfg")])
            ours = {r["layer"]: r for r in table.rows()}
            dt = time.perf_counter() - t
            rows = scalesim_rows(workloads)
            assert len(rows) == len(ref), (len(rows), len(ref))
            for i, (row, r) in enumerate(zip(rows, ref)):
                mine = ours[row.name]
                compute = float(r["Total Cycles"]) - float(r["Stall Cycles"]) + 1
                total = float(r["Total Cycles (incl. prefetch)"])
                for a, b in ((compute, mine["compute_cycles"]), (total, mine["cycles"])):
                    worst = max(worst, abs(a - b) / max(a, 1))
                nm = f"{row.nm[0]}:{row.nm[1]}" if row.nm and acc.pe.engine == "nm" else "-"
                golden.append(f"{acc.name},{row.name},{nm},{compute:.0f},{total:.0f}")
                timing = f"{wall:.1f} | {dt:.2f}" if i == 0 else " | "
                print(f"| {acc.name} | {acc.pe.rows}x{acc.pe.cols} | {acc.pe.dataflow.upper()} | {row.name} | {nm} | "
                      f"{compute:,.0f} | {mine['compute_cycles']:,.0f} | {total:,.0f} | {mine['cycles']:,.0f} | "
                      f"{timing} |")
        print(f"\nlargest relative difference over all layers and both quantities: {worst * 100:.4f}%")
    if args.golden:
        head = (f"# SCALE-Sim v3.0.0 on the export of {args.model} (random masks, seed {args.seed}): "
                "python benchmarks/scalesim_export.py " + " ".join(sys.argv[1:]) + "\n"
                "hardware,layer,nm,scalesim_compute_cycles,scalesim_total_cycles_incl_prefetch\n")
        Path(args.golden).write_text(head + "\n".join(golden) + "\n")
        print(f"wrote {args.golden}")


if __name__ == "__main__":
    main()
