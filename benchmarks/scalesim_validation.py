"""Side by side with SCALE-Sim v3: every reported count under the SCALE-Sim convention, and the speed.

Runs (when ``--scalesim-python`` is given) the real SCALE-Sim 3.0.0 on LeNet-5 and AlexNet conv1-5 on a
32x32 array with 64 KB SRAMs, dataflows WS/OS/IS, in CALC and USER (10 words/cycle) bandwidth modes, plus
N:M 1:4 and 2:4 in USER mode, and an 8x8 / 4 KB quick set; writes tests/fixtures/scalesim/golden.csv
(``--write``); then prices the same topology and .cfg files through this toolkit's public path
(``sparsesim.topology.read_topology`` + ``accel_models.scalesim_cfg`` + ``sparsesim.analytical.evaluate``)
and prints, per layer, every quantity's error and both tools' wall times.

SCALE-Sim is run through its own Python API (``scalesim.scale_sim.scalesim``) with ``save_disk_space=True``:
its command line ignores ``-s N`` and writes every cycle's trace.  Install it in its own venv:

    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    python benchmarks/scalesim_validation.py --scalesim-python /tmp/ssvenv/bin/python --write
    python benchmarks/scalesim_validation.py            # compare against the stored fixture only
    python benchmarks/scalesim_validation.py --native   # the same layers under the native convention (the
                                                        # presets' default) beside SCALE-Sim's USER numbers
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.topology import read_topology  # noqa: E402
from test_validation import SCALESIM_CFG, SCALESIM_KEYS, scalesim_topology  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "scalesim" / "golden.csv"
RUNS = ([(mode, "dense", df, "32x32", "64", topo) for mode in ("USER", "CALC") for df in ("ws", "os", "is")
         for topo in ("lenet5", "alexnet")]
        + [("USER", sp, df, "32x32", "64", topo) for sp in ("1:4", "2:4") for df in ("ws", "os", "is")
           for topo in ("lenet5", "alexnet")]
        + [(mode, "dense", df, "8x8", "4", "lenet5c12") for mode in ("USER", "CALC") for df in ("ws", "os", "is")])
COLUMNS = ["mode", "sparsity", "dataflow", "array", "sram_kb", "topology", "layer", "total_cycles_incl_prefetch",
           "total_cycles", "stall_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
           "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "wall_s_invocation"]
RUNNER = """
import sys, time
from scalesim.scale_sim import scalesim
t = time.time()
s = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2], layout=sys.argv[3],
             input_type_gemm=False)
s.run_scale(top_path=sys.argv[4])
print("WALL_S", time.time() - t)
"""


def write_inputs(run: tuple, work: Path) -> tuple[Path, Path, Path]:
    mode, sparsity, dataflow, array, kb, topology = run
    cfg = work / "run.cfg"
    cfg.write_text(SCALESIM_CFG.format(array=array.split("x")[0], kb=kb, dataflow=dataflow, mode=mode,
                                       sparse="true" if sparsity != "dense" else "false"))
    topo = scalesim_topology(work, topology, sparsity)
    layers = [line.split(",")[0] for line in topo.read_text().splitlines()[1:]]
    layout = work / "layout.csv"   # required by SCALE-Sim's reader even with custom layouts off
    layout.write_text("Layer name," + ",".join(f"f{i}" for i in range(20)) + ",\n"
                      + "".join(f"{n}," + ",".join(["1"] * 6 + ["0", "1", "2"] * 3 + ["0", "1", "2", "3"] * 2)
                                + ",\n" for n in layers))
    return cfg, topo, layout


def _report(path: Path) -> list[dict]:
    rows = [[c.strip() for c in line.rstrip().rstrip(",").split(",")] for line in path.read_text().splitlines()
            if line.strip()]
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def run_scalesim(python: str, run: tuple, work: Path) -> list[dict]:
    cfg, topo, layout = write_inputs(run, work)
    out = subprocess.run([python, "-c", RUNNER, str(cfg), str(topo), str(layout), str(work / "out")],
                         check=True, capture_output=True, text=True, cwd=work)
    wall = float(out.stdout.split("WALL_S")[-1])
    rep = work / "out" / "ref"
    compute, detail = _report(rep / "COMPUTE_REPORT.csv"), _report(rep / "DETAILED_ACCESS_REPORT.csv")
    names = [line.split(",")[0].strip() for line in topo.read_text().splitlines()[1:]]
    rows = []
    for name, c, d in zip(names, compute, detail):
        rows.append(dict(zip(COLUMNS, [*run, name, c["Total Cycles (incl. prefetch)"], c["Total Cycles"],
                                       c["Stall Cycles"], d["SRAM IFMAP Reads"], d["SRAM Filter Reads"],
                                       d["SRAM OFMAP Writes"], d["DRAM IFMAP Reads"], d["DRAM Filter Reads"],
                                       d["DRAM OFMAP Writes"], f"{wall:.3f}"])))
    return rows


def ours(run: tuple, work: Path) -> tuple[dict, float]:
    cfg, topo, _ = write_inputs(run, work)
    t = time.perf_counter()
    table = evaluate(read_topology(topo), [accelerator_from_scalesim_cfg(cfg)])
    return {r["layer"]: r for r in table.rows()}, time.perf_counter() - t


def native_rows(run: tuple, work: Path) -> dict:
    """The run's layers priced on the same hardware under the ``native`` convention."""
    cfg, topo, _ = write_inputs(run, work)
    acc = accelerator_from_scalesim_cfg(cfg)
    acc = replace(acc, memory=replace(acc.memory, convention="native"))
    workloads = read_topology(topo)
    table = evaluate(workloads, [acc])
    im2col = {w.name: w.K * w.columns / w.input_elems for w in workloads}
    return {r["layer"]: {**r, "im2col_ratio": im2col[r["layer"]]} for r in table.rows()}


def native_table(golden: list[dict]) -> None:
    """SCALE-Sim's USER cycles and DRAM words beside the native convention's on the same dense runs."""
    print("| dataflow | layer | SCALE-Sim cycles (incl. prefetch) | of which stalls | SCALE-Sim DRAM words (ifmap + "
          "filter + ofmap) | native cycles | native DRAM words | im2col words / raw ifmap words |")
    print("|---|---|---|---|---|---|---|---|")
    for run in RUNS:
        if run[0] != "USER" or run[1] != "dense" or run[3] != "32x32":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            ours_ = native_rows(run, Path(tmp))
        for g in (g for g in golden if tuple(g[c] for c in COLUMNS[:6]) == run):
            o = ours_[g["layer"]]
            ref_dram = sum(float(g[k]) for k in ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes"))
            dram = o["dram_ifmap_read_words"] + o["dram_filter_read_words"] + o["dram_ofmap_write_words"] \
                + o["dram_ofmap_read_words"]
            total = float(g["total_cycles_incl_prefetch"])
            print(f"| {run[2].upper()} | {run[5]}.{g['layer']} | {total:,.0f} | {float(g['stall_cycles']) / total:.0%} "
                  f"| {ref_dram:,.0f} | {o['cycles']:,.0f} | {dram:,.0f} | {o['im2col_ratio']:.1f} |")


def load_fixture() -> list[dict]:
    with open(FIXTURE) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalesim-python", help="python of a venv with scalesim==3.0.0 (rerun the reference)")
    ap.add_argument("--write", action="store_true", help="store the reference numbers as the test fixture")
    ap.add_argument("--native", action="store_true", help="print the native convention beside SCALE-Sim (USER)")
    args = ap.parse_args()
    golden = load_fixture()
    if args.native:
        native_table(golden)
        return
    if args.scalesim_python:
        golden = []
        for run in RUNS:
            with tempfile.TemporaryDirectory() as tmp:
                golden += run_scalesim(args.scalesim_python, run, Path(tmp))
            print(f"SCALE-Sim {' '.join(run)}: {golden[-1]['wall_s_invocation']} s", flush=True)
        if args.write:
            with open(FIXTURE) as f:
                header = "".join(line for line in f if line.startswith("#"))
            with open(FIXTURE, "w", newline="") as f:
                f.write(header)
                w = csv.DictWriter(f, fieldnames=COLUMNS)
                w.writeheader()
                w.writerows(golden)
    keys = list(SCALESIM_KEYS)
    print("| mode | N:M | dataflow | array | layer | " + " | ".join(keys) + " | ours s | SCALE-Sim s |")
    print("|" + "---|" * (len(keys) + 7))
    worst = 0.0
    for run in RUNS:
        ref = [g for g in golden if tuple(g[c] for c in COLUMNS[:6]) == run]
        if not ref:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            table, dt = ours(run, Path(tmp))
        for i, g in enumerate(ref):
            errs = []
            for k in keys:
                r, o = float(g[k]), table[g["layer"]][SCALESIM_KEYS[k]]
                e = abs(o - r) / r * 100 if r else abs(o)
                worst = max(worst, e)
                errs.append(f"{e:.2f}%")
            timing = f"{dt:.2f} | {g['wall_s_invocation']}" if i == 0 else " | "
            print(f"| {run[0]} | {run[1]} | {run[2]} | {run[3]} | {g['layer']} | " + " | ".join(errs)
                  + f" | {timing} |")
    print(f"\nlargest error over {len(golden)} layer runs and {len(keys)} quantities: {worst:.4f}%")


if __name__ == "__main__":
    main()
