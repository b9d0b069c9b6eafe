"""Simulator speed: the analytical engine on the call path users get, the simpy engine on AlexNet conv1-5, and both
next to SCALE-Sim's wall time on the same layers.

Analytical (issue 6): >= 200,000 layer-configurations per CPU second through the path ``simulate``, ``compare``
and ``sweep`` use: from a list of ``Accelerator`` objects to the ``CostTable`` (hardware arrays built inside the
timer) and, where the command adds them, its ``totals()``.  Measured by ``benchmarks/throughput_probe.py`` in CPU
seconds, single-threaded, run in the same call against this tree, against the previous release (default
60935ad) and against the previous commit on main (default 5844fb7), both exported with ``git archive``, so the
ratios hold on a shared machine: (a) a sweep task, AlexNet 8
layers x 500 configs (the configs every release accepts, and this release's mix over every engine, memory
organisation and DRAM interface); (b) compare's pricing, a pruned LeNet-5 on every preset, model after model.
simpy AlexNet conv1-5 <= 10 s.  SCALE-Sim's time is
the one recorded with tests/fixtures/scalesim/golden.csv (its conv1-5 topology, 32x32, 64 KB SRAMs, USER
bandwidth; rerun it with benchmarks/scalesim_validation.py); this script prices the same topology with the
native convention, with the scalesim convention (which reproduces SCALE-Sim's numbers) and with simpy.
Usage: python benchmarks/sim_throughput.py [--configs 500] [--models 20] [--old-ref 60935ad] [--prev-ref 5844fb7]
[--analytical-only]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import accelerator_from_dict, load_accelerator  # noqa: E402
from pruning.constraint import Constraint  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.structures import Structure  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.event_sim import simulate  # noqa: E402
from sparsesim.topology import read_topology  # noqa: E402
from sparsesim.workload import from_model  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "scalesim"


def alexnet_workloads(ratio: float = 0.9):
    torch.manual_seed(0)
    model = build_model("alexnet")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(Constraint(Structure("nonstructured", ratio)).project(m.weight)[0])
    return from_model(model, torch.zeros(1, 3, 227, 227), weight_bits=8)


def scalesim_wall_s() -> dict:
    with open(FIXTURES / "golden.csv") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return {r["dataflow"]: float(r["wall_s_invocation"]) for r in rows
            if (r["mode"], r["sparsity"], r["topology"]) == ("USER", "dense", "alexnet")}


def same_layers_as_scalesim(dataflow: str):
    cfg = {"name": f"ss_{dataflow}", "pe": {"engine": "systolic", "rows": 32, "cols": 32, "dataflow": dataflow,
                                            "compact_zero_rows_cols": False},
           "memory": {"organization": "per_operand"},
           "dram": {"interfaces": "per_operand", "bandwidth_bits_per_cycle": 80, "latency_cycles": 1},
           **{f"{op}_sram": {"capacity_bytes": 65536, "width_bits": 8} for op in ("ifmap", "filter", "ofmap")}}
    native = accelerator_from_dict(cfg)
    scalesim = accelerator_from_dict({**cfg, "name": f"ss_{dataflow}_conv",
                                      "memory": {"organization": "per_operand", "convention": "scalesim"}})
    return read_topology(FIXTURES / "alexnet.csv"), native, scalesim


def probe(root: Path, args) -> dict:
    """benchmarks/throughput_probe.py run against the tree at ``root`` (its packages first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput_probe.py"), "--configs",
                          str(args.configs), "--models", str(args.models), "--reps", str(args.reps)],
                         cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(rounds: list[dict]) -> dict:
    """Each figure's best round (the highest rate, the shortest first call): other processes only slow a round."""
    out = {}
    for k, v in rounds[0].items():
        if isinstance(v, dict) and "error" not in v:
            out[k] = {f: (min if f == "first_call_s" else max)(r[k][f] for r in rounds) for f in v}
        else:
            out[k] = v
    return out


def export(ref: str, into: Path) -> Path:
    """The tree of git revision ``ref`` (``git archive``) under ``into``."""
    root = into / ref
    root.mkdir()
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=tar.stdout, check=True)
    return root


def analytical_report(args) -> None:
    refs = [args.old_ref] + [r for r in (args.prev_ref,) if r and r != args.old_ref]
    with tempfile.TemporaryDirectory() as tmp:
        roots = {r: Path(args.old_dir) if (r == args.old_ref and args.old_dir) else export(r, Path(tmp))
                 for r in refs}
        loads = [os.getloadavg()[0]]
        runs: dict[str, list] = {r: [] for r in ["this tree", *refs]}
        for _ in range(args.rounds):          # alternated, so every tree sees the same machine
            for r in runs:
                runs[r].append(probe(ROOT if r == "this tree" else roots[r], args))
                loads.append(runs[r][-1]["load_1min"])
    new, old = best(runs["this tree"]), {r: best(runs[r]) for r in refs}
    print(f"analytical engine, layer-configurations per CPU second (single thread; this tree vs "
          f"{' and '.join(refs)}, {args.rounds} alternated rounds in this run, each figure the median of "
          f"{args.reps} calls, the better round's; 1-min load {min(loads):.1f}-{max(loads):.1f} on "
          f"{os.cpu_count()} CPUs)")
    print("| call (user path: Accelerator objects -> CostTable) | this tree | "
          + " | ".join(f"{r} | ratio" for r in refs) + " |")
    print("|---|---|" + "---|---|" * len(refs))

    def line(label, part, field):
        a = new[part][field]
        cells = [f"{a:,.0f}"]
        for r in refs:
            b = old[r][part].get(field)
            cells += [f"{b:,.0f}", f"{a / b:.2f}x"] if b else ["n/a", ""]
        print(f"| {label} | " + " | ".join(cells) + " |")

    sc, se, cn = new["sweep_common"], new["sweep_every_engine"], new["compare"]
    what = f"{sc['layers']} AlexNet layers x {sc['configs']} configs"
    line(f"(a) sweep task, {what} (systolic/nm/EIE, one buffer): CostTable", "sweep_common", "table_per_cpu_s")
    line("(a) same + totals() (what sweep runs)", "sweep_common", "with_totals_per_cpu_s")
    line("(a) same, CostTable with every column read (what writing the CSV reads)", "sweep_common",
         "table_read_per_cpu_s")
    line("(a) same, hardware arrays built before the timer (the old benchmark's figure)", "sweep_common",
         "prebuilt_hw_per_cpu_s")
    line(f"(a) sweep task, {what} (every engine, memory organisation, DRAM interface): CostTable",
         "sweep_every_engine", "table_per_cpu_s")
    line("(a) same + totals() (what sweep runs)", "sweep_every_engine", "with_totals_per_cpu_s")
    line("(a) same, CostTable with every column read", "sweep_every_engine", "table_read_per_cpu_s")
    line(f"(b) compare: {cn['models']} pruned LeNet-5 ({cn['layers']} layers) x every preset "
         f"({cn['presets']} here; " + ", ".join(f"{old[r]['compare']['presets']} in {r}" for r in refs)
         + ") + totals(), masks analysed", "compare", "warm_per_cpu_s")
    line("(b) same, first pricing of each model (its per-layer mask analyses inside the timer)", "compare",
         "cold_per_cpu_s")
    for part, field in (("sweep_common", "table_per_cpu_s"), ("sweep_every_engine", "with_totals_per_cpu_s"),
                        ("compare", "warm_per_cpu_s")):
        print(f"{part} {field} per round: " + "; ".join(
            f"{r}: " + ", ".join(f"{x[part].get(field) or 0:,.0f}" for x in runs[r]) for r in runs))
    print(f"first sweep-task call incl. per-layer analyses of the real masks: {sc['first_call_s']:.1f} s "
          f"(systolic/nm/EIE), {se['first_call_s']:.1f} s (every engine); "
          + ", ".join(f"{r}: {old[r]['sweep_common']['first_call_s']:.1f} s" for r in refs)
          + "; target >= 200,000 layer-configurations per CPU second on (a)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--configs", type=int, default=500)
    ap.add_argument("--models", type=int, default=20, help="pruned models priced in the compare-sized call")
    ap.add_argument("--reps", type=int, default=21, help="timed calls per figure (their median is taken)")
    ap.add_argument("--rounds", type=int, default=2, help="alternated runs of this tree and --old-ref")
    ap.add_argument("--old-ref", default="60935ad", help="the release to compare with (a git revision)")
    ap.add_argument("--prev-ref", default="5844fb7", help="the previous commit on main, also compared ('' : none)")
    ap.add_argument("--old-dir", help="a checkout of --old-ref to use instead of exporting one")
    ap.add_argument("--analytical-only", action="store_true", help="skip the SCALE-Sim and simpy comparisons")
    args = ap.parse_args()
    analytical_report(args)
    if args.analytical_only:
        return
    workloads = alexnet_workloads()

    walls = scalesim_wall_s()
    print("\nAlexNet conv1-5 (SCALE-Sim's topology), 32x32, 64 KB SRAMs, 10 words/cycle:")
    print("| dataflow | SCALE-Sim 3.0.0 (recorded) | scalesim convention (same numbers) | native analytical | simpy |")
    print("|---|---|---|---|---|")
    for df in ("ws", "os", "is"):
        layers, native, conv = same_layers_as_scalesim(df)
        t = time.perf_counter()
        evaluate(layers, [conv])
        t_conv = time.perf_counter() - t
        t = time.perf_counter()
        evaluate(read_topology(FIXTURES / "alexnet.csv"), [native])
        t_native = time.perf_counter() - t
        tracemalloc.start()
        t = time.perf_counter()
        sims = simulate(read_topology(FIXTURES / "alexnet.csv"), native, record_timeline=False)
        t_simpy = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"| {df} | {walls.get(df, float('nan')):.0f} s | {t_conv:.2f} s | {t_native * 1e3:.1f} ms | "
              f"{t_simpy:.2f} s ({sum(s.tiles for s in sims):,} tiles, {peak / 2**20:.1f} MiB) |")

    convs = [w for w in workloads if w.kind == "conv2d"]
    print("\nsimpy on the toolkit's AlexNet conv1-5 (groups, 90% non-structured), per preset (target <= 10 s):")
    for preset in ("eyeriss_like", "tpu_like", "eie_like", "sigma_like", "scnn_like", "fpga_small"):
        t = time.perf_counter()
        sims = simulate(convs, load_accelerator(preset), record_timeline=False)
        print(f"  {preset:13s}: {sum(s.tiles for s in sims):>9,} tiles in {time.perf_counter() - t:6.2f} s")
    print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (incl. torch)")


if __name__ == "__main__":
    main()
