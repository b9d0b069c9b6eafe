"""SCALE-Sim v3 over a generated grid of hardware configurations: the `scalesim` convention's agreement, and how far
the `native` convention (the presets' default) is from SCALE-Sim.

The grid (``configs()``) crosses array shapes (square and non-square, 4x4 .. 128x128), per-operand SRAM sizes
(2 KB .. 2 MB, unequal), per-operand USER bandwidths (1 .. 64 words/cycle, unequal) and CALC, the three
dataflows, dense and N:M; none repeats a configuration of tests/fixtures/scalesim/golden.csv.  Every config runs a
few layers drawn from LeNet-5, AlexNet conv1-5, ResNet-18-shaped layers, fully connected layers (conv format,
1x1) and GEMMs (SCALE-Sim's GEMM topology format), picked so that each config's SCALE-Sim run stays small
(``BUDGET_S``, estimated from the demand rows by ``est_seconds``); four more (``LARGE``) carry the layers too slow
for small arrays on 64x64 .. 128x128.  Every fourth config is held out: it was run but not looked at while the
convention was checked, and is reported separately.

    python benchmarks/scalesim_grid.py --scalesim-python /tmp/ssvenv/bin/python --write   # reruns SCALE-Sim
    python benchmarks/scalesim_grid.py                          # compares with tests/fixtures/scalesim/grid.csv
    python benchmarks/scalesim_grid.py --split tune             # only the configs used while fixing

Our side is the user's path: the config's .cfg through ``accel_models.scalesim_cfg.accelerator_from_scalesim_cfg``
(``memory.convention: scalesim``), the topology through ``sparsesim.topology.read_topology``, then
``sparsesim.analytical.evaluate``; the `native` column prices the same hardware with ``memory.convention: native``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.scalesim_cfg import CFG_TEMPLATE, accelerator_from_scalesim_cfg  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.topology import read_topology  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "scalesim" / "grid.csv"
BUDGET_S = 14.0              # estimated SCALE-Sim seconds per config (``est_seconds``)
LAYER_CAP_S = 10.0           # the largest single layer
MAX_LAYERS = 5

# name -> (H, W, R, S, C, M, stride): SCALE-Sim conv rows (ifmap sizes include padding)
CONV_LAYERS = {
    "lenet5.conv1": (28, 28, 5, 5, 1, 20, 1), "lenet5.conv2": (12, 12, 5, 5, 20, 50, 1),
    "lenet5.fc1": (4, 4, 4, 4, 50, 500, 1), "lenet5.fc2": (1, 1, 1, 1, 500, 10, 1),
    "alexnet.Conv1": (224, 224, 11, 11, 3, 96, 4), "alexnet.Conv2": (27, 27, 5, 5, 96, 256, 1),
    "alexnet.Conv3": (13, 13, 3, 3, 256, 384, 1), "alexnet.Conv4": (13, 13, 3, 3, 384, 384, 1),
    "alexnet.Conv5": (13, 13, 3, 3, 384, 256, 1),
    "resnet18.conv1": (229, 229, 7, 7, 3, 64, 2), "resnet18.l1conv": (58, 58, 3, 3, 64, 64, 1),
    "resnet18.l2conv1": (57, 57, 3, 3, 64, 128, 2), "resnet18.l2down": (55, 55, 1, 1, 64, 128, 2),
    "resnet18.l3conv": (16, 16, 3, 3, 256, 256, 1), "resnet18.l4conv": (9, 9, 3, 3, 512, 512, 1),
    "resnet18.l4down": (13, 13, 1, 1, 256, 512, 2), "resnet18.fc": (1, 1, 1, 1, 512, 1000, 1),
}
# name -> (M, N, K): SCALE-Sim GEMM rows (M output rows, N filters, K reduction)
GEMM_LAYERS = {"gemm.a": (64, 128, 256), "gemm.b": (200, 40, 300), "gemm.c": (16, 1000, 512),
               "gemm.d": (300, 96, 64), "gemm.e": (32, 16, 48)}

ARRAYS = [(4, 4), (8, 16), (16, 8), (32, 32), (64, 16), (16, 64), (128, 128), (8, 8), (32, 128), (64, 64),
          (128, 32), (4, 32), (24, 40)]
SRAM_KB = [(2, 8, 4), (64, 16, 2), (256, 32, 8), (4, 4, 16), (2048, 512, 64), (16, 2048, 32), (8, 64, 256),
           (32, 2, 1024), (512, 128, 4), (1024, 1024, 2048), (6, 12, 3)]
BW = [(1, 4, 2), (64, 64, 64), (8, 2, 16), (4, 32, 1), (16, 16, 8), (2, 1, 32), (32, 8, 4), (3, 5, 7)]
SPARSITY = ["dense", "dense", "1:4", "dense", "2:4", "dense", "1:2", "dense", "dense", "2:8"]
N_CONFIGS = 28
# Four more configs, on large arrays, for the layers too slow for the cycled ones (AlexNet conv1/2/4, ResNet-18's
# stem and its layer1 / layer4 3x3 convs): (array, dataflow, mode, SRAM KB, bw, N:M, layers)
LARGE = [((128, 128), "ws", "USER", (512, 256, 128), (16, 8, 32), "dense", ("alexnet.Conv1", "resnet18.conv1")),
         ((64, 64), "os", "CALC", (96, 48, 24), (1, 1, 1), "1:4",
          ("alexnet.Conv4", "resnet18.l1conv", "alexnet.Conv1")),
         ((128, 64), "ws", "USER", (20, 200, 40), (12, 24, 6), "2:4", ("resnet18.l1conv", "alexnet.Conv2")),
         ((128, 128), "os", "USER", (160, 640, 16), (48, 2, 5), "2:4",
          ("alexnet.Conv2", "resnet18.l4conv", "alexnet.Conv5", "alexnet.Conv4"))]
COLUMNS = ["config", "split", "mode", "dataflow", "rows", "cols", "ifmap_kb", "filter_kb", "ofmap_kb", "ifmap_bw",
           "filter_bw", "ofmap_bw", "sparsity", "format", "layer", "d1", "d2", "d3", "d4", "d5", "d6", "d7",
           "total_cycles_incl_prefetch", "total_cycles", "stall_cycles", "sram_ifmap_reads", "sram_filter_reads",
           "sram_ofmap_writes", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "wall_s_invocation"]
# SCALE-Sim's report -> our layers.csv column (compute cycles are checked as Total - Stall + 1)
KEYS = {"total_cycles_incl_prefetch": "cycles", "stall_cycles": "stall_cycles",
        "sram_ifmap_reads": "sram_ifmap_read_words", "sram_filter_reads": "sram_filter_read_words",
        "sram_ofmap_writes": "sram_ofmap_write_words", "dram_ifmap_reads": "dram_ifmap_read_words",
        "dram_filter_reads": "dram_filter_read_words", "dram_ofmap_writes": "dram_ofmap_write_words"}
RUNNER = """
import sys, time
from scalesim.scale_sim import scalesim
t = time.time()
s = scalesim(save_disk_space=True, verbose=False, config=sys.argv[1], topology=sys.argv[2], layout=sys.argv[3],
             input_type_gemm=sys.argv[5] == "gemm")
s.run_scale(top_path=sys.argv[4])
print("WALL_S", time.time() - t)
"""


@dataclasses.dataclass(frozen=True)
class GridConfig:
    config: str
    split: str                       # "tune" (looked at while fixing) or "holdout"
    mode: str                        # USER or CALC
    dataflow: str
    rows: int
    cols: int
    sram_kb: tuple[int, int, int]    # ifmap, filter, ofmap
    bw: tuple[int, int, int]         # words/cycle: ifmap, filter, ofmap (USER)
    sparsity: str                    # "dense" or "N:M"
    fmt: str                         # "conv" or "gemm" topology
    layers: tuple[tuple[str, tuple], ...]


def _conv_geometry(dims: tuple, fmt: str) -> tuple[int, int, int, int, int, int, int]:
    if fmt == "gemm":
        m, n, k = dims
        return m, k, 1, k, 1, n, 1
    return dims


def demand_rows(dims: tuple, fmt: str, dataflow: str, ar: int, ac: int, sparsity: str) -> int:
    """SCALE-Sim's demand rows for a layer (fill/drain included): a proxy for its run time."""
    h, w, r, s, c, m, st = _conv_geometry(dims, fmt)
    n = -(-(h - r + st) // st) * -(-(w - s + st) // st)
    k = r * s * c
    if sparsity != "dense":
        a, b = (int(x) for x in sparsity.split(":"))
        k = -(-k * a // b)
    if dataflow == "ws":
        return -(-k // ar) * -(-m // ac) * (2 * ar + ac + n - 2)
    if dataflow == "os":
        return -(-n // ar) * -(-m // ac) * (ar + ac + k - 2)
    return -(-k // ar) * -(-n // ac) * (2 * ar + ac + m - 2)


def est_seconds(rows: int, ar: int, ac: int) -> float:
    """SCALE-Sim's run time, roughly (fitted on two runs, 2 shared cores): it grows with rows x array side."""
    return rows * (1e-4 + 3.5e-6 * (ar + ac))


FAMILIES = ("lenet5", "alexnet", "resnet18")


def configs() -> list[GridConfig]:
    """The grid: parameter lists cycled with co-prime periods; layers taken from each family in turn (a different
    start per config), each the least-used-so-far layer of its family that fits the time budget."""
    out, uses = [], {}
    dataflows = ("ws", "os", "is")
    for i in range(N_CONFIGS):
        ar, ac = ARRAYS[i % len(ARRAYS)]
        mode = "CALC" if i % 5 == 3 else "USER"
        dataflow = dataflows[i % 3]
        fmt = "gemm" if i % 7 == 5 else "conv"
        sparsity = SPARSITY[i % len(SPARSITY)]
        pool = GEMM_LAYERS if fmt == "gemm" else CONV_LAYERS
        if fmt == "gemm":
            groups = [list(pool)]
        else:
            groups = [[n for n in pool if n.startswith(f) and not n.endswith(("fc", "fc1", "fc2"))]
                      for f in FAMILIES] + [[n for n in pool if n.endswith(("fc", "fc1", "fc2"))]]
        groups = [g[(3 * i) % len(g):] + g[:(3 * i) % len(g)] for g in groups]   # a different start per config
        picked, total = [], 0.0
        for _ in range(MAX_LAYERS):
            for g in groups[i % len(groups):] + groups[:i % len(groups)]:
                for name in sorted(g, key=lambda n: uses.get(n, 0)):     # least-used layers first (stable)
                    t = est_seconds(demand_rows(pool[name], fmt, dataflow, ar, ac, sparsity), ar, ac)
                    if (name, pool[name]) not in picked and t <= LAYER_CAP_S and total + t <= BUDGET_S:
                        picked.append((name, pool[name]))
                        uses[name] = uses.get(name, 0) + 1
                        total += t
                        break
                if len(picked) == MAX_LAYERS:
                    break
            if len(picked) == MAX_LAYERS:
                break
        out.append(GridConfig(f"g{i:02d}", "holdout" if i % 4 == 3 else "tune", mode, dataflow, ar, ac,
                              SRAM_KB[i % len(SRAM_KB)], BW[i % len(BW)], sparsity, fmt, tuple(picked)))
    for j, ((ar, ac), dataflow, mode, kb, bw, sparsity, names) in enumerate(LARGE):
        i = N_CONFIGS + j
        out.append(GridConfig(f"g{i:02d}", "holdout" if i % 4 == 3 else "tune", mode, dataflow, ar, ac, kb, bw,
                              sparsity, "conv", tuple((n, CONV_LAYERS[n]) for n in names)))
    return out


def write_inputs(cfg: GridConfig, work: Path) -> tuple[Path, Path, Path]:
    """The .cfg, topology and layout files SCALE-Sim and our reader are given."""
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = work / f"{cfg.config}.cfg"
    block = cfg.sparsity.split(":")[1] if cfg.sparsity != "dense" else 4
    cfg_path.write_text(CFG_TEMPLATE.format(
        run_name="ref", rows=cfg.rows, cols=cfg.cols, ifmap_kb=cfg.sram_kb[0], filter_kb=cfg.sram_kb[1],
        ofmap_kb=cfg.sram_kb[2], ifmap_bw=cfg.bw[0], filter_bw=cfg.bw[1], ofmap_bw=cfg.bw[2], dataflow=cfg.dataflow,
        sparse="true" if cfg.sparsity != "dense" else "false", block=block, mode=cfg.mode))
    sparse = cfg.sparsity != "dense"
    if cfg.fmt == "gemm":
        header = "Layer, M, N, K," + (" Sparsity," if sparse else "")
    else:
        header = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                  "Strides," + (" Sparsity," if sparse else ""))
    lines = [header] + [f"{name}, " + ", ".join(str(d) for d in dims) + ","
                        + (f" {cfg.sparsity}," if sparse else "") for name, dims in cfg.layers]
    topo = work / f"{cfg.config}_{cfg.fmt}.csv"
    topo.write_text("\n".join(lines) + "\n")
    layout = work / "layout.csv"   # required by SCALE-Sim's reader even with custom layouts off
    layout.write_text("Layer name," + ",".join(f"f{i}" for i in range(20)) + ",\n"
                      + "".join(f"{n}," + ",".join(["1"] * 6 + ["0", "1", "2"] * 3 + ["0", "1", "2", "3"] * 2)
                                + ",\n" for n, _ in cfg.layers))
    return cfg_path, topo, layout


def _report(path: Path) -> list[dict]:
    rows = [[c.strip() for c in line.rstrip().rstrip(",").split(",")] for line in path.read_text().splitlines()
            if line.strip()]
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def run_scalesim(python: str, cfg: GridConfig, cache: Path | None = None) -> list[dict]:
    """SCALE-Sim's rows for a config (reused from ``cache``/<config>.csv when that file exists)."""
    key = hashlib.sha256(repr(cfg).encode()).hexdigest()[:12]      # a changed config is run again
    done = cache / f"{cfg.config}-{key}.csv" if cache else None
    if done is not None and done.is_file():
        return load_fixture(done)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg_path, topo, layout = write_inputs(cfg, work)
        out = subprocess.run(["nice", "-n", "10", python, "-c", RUNNER, str(cfg_path), str(topo), str(layout),
                              str(work / "out"), cfg.fmt], check=True, capture_output=True, text=True, cwd=work)
        wall = float(out.stdout.split("WALL_S")[-1])
        rep = work / "out" / "ref"
        compute, detail = _report(rep / "COMPUTE_REPORT.csv"), _report(rep / "DETAILED_ACCESS_REPORT.csv")
    rows = []
    for (name, dims), c, d in zip(cfg.layers, compute, detail):
        geo = list(dims) + [""] * (7 - len(dims))
        rows.append(dict(zip(COLUMNS, [
            cfg.config, cfg.split, cfg.mode, cfg.dataflow, cfg.rows, cfg.cols, *cfg.sram_kb, *cfg.bw, cfg.sparsity,
            cfg.fmt, name, *geo, c["Total Cycles (incl. prefetch)"], c["Total Cycles"], c["Stall Cycles"],
            d["SRAM IFMAP Reads"], d["SRAM Filter Reads"], d["SRAM OFMAP Writes"], d["DRAM IFMAP Reads"],
            d["DRAM Filter Reads"], d["DRAM OFMAP Writes"], f"{wall:.3f}"])))
    if done is not None:
        with open(done, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
    return rows


def load_fixture(path: Path = FIXTURE) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def config_of_rows(rows: list[dict]) -> GridConfig:
    """A config rebuilt from its fixture rows (the test's path: no grid code needed)."""
    r = rows[0]
    fmt = r["format"]
    layers = tuple((g["layer"], tuple(int(g[f"d{j}"]) for j in range(1, 8) if g[f"d{j}"] != "")) for g in rows)
    return GridConfig(r["config"], r["split"], r["mode"], r["dataflow"], int(r["rows"]), int(r["cols"]),
                      (int(r["ifmap_kb"]), int(r["filter_kb"]), int(r["ofmap_kb"])),
                      (int(r["ifmap_bw"]), int(r["filter_bw"]), int(r["ofmap_bw"])), r["sparsity"], fmt, layers)


def price(cfg: GridConfig, work: Path, convention: str = "scalesim") -> dict:
    """Our per-layer rows for a config, through the user's path (.cfg reader, topology reader, evaluate)."""
    cfg_path, topo, _ = write_inputs(cfg, work)
    acc = accelerator_from_scalesim_cfg(cfg_path)
    if convention != "scalesim":
        acc = dataclasses.replace(acc, memory=dataclasses.replace(acc.memory, convention=convention))
    return {r["layer"]: r for r in evaluate(read_topology(topo), [acc]).rows()}


def _by_config(golden: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for g in golden:
        out.setdefault(g["config"], []).append(g)
    return out


def _fmt_cfg(c: GridConfig) -> str:
    bw = "CALC" if c.mode == "CALC" else "/".join(map(str, c.bw))
    return (f"{c.config} | {c.rows}x{c.cols} | {c.dataflow.upper()} | {'/'.join(map(str, c.sram_kb))} | {bw} | "
            f"{c.sparsity}")


def _span(xs: list[float]) -> str:
    lo, hi = min(xs), max(xs)
    return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}"


def _gmean(xs: list[float]) -> float:
    return float(np.exp(np.mean(np.log(xs))))


def compare(golden: list[dict], split: str, layers: bool = False) -> None:
    """Per-config summary (and with ``layers`` every layer): the scalesim convention's largest error over every
    quantity, and the native convention's compute cycles, total cycles and DRAM words over SCALE-Sim's."""
    keys = list(KEYS)
    if layers:
        print("| config | array | dataflow | SRAM KB (i/f/o) | bw (i/f/o) | N:M | layer | largest error (scalesim "
              "conv.) | SCALE-Sim cycles | native / SCALE-Sim: compute cycles | cycles | SCALE-Sim DRAM words | "
              "native DRAM words / SCALE-Sim |")
        print("|" + "---|" * 13)
    worst = {"tune": 0.0, "holdout": 0.0}
    n_rows = {"tune": 0, "holdout": 0}
    summary, groups = [], {}
    t_ours = 0.0
    for name, rows in _by_config(golden).items():
        cfg = config_of_rows(rows)
        if split != "all" and cfg.split != split:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            ours = price(cfg, Path(tmp))
            t_ours += time.perf_counter() - t
            native = price(cfg, Path(tmp) / "n", "native")
        rk_, rc_, rd_, e_cfg = [], [], [], 0.0
        for g in rows:
            o, nat = ours[g["layer"]], native[g["layer"]]
            errs = []
            for k in keys:
                r = float(g[k])
                errs.append(abs(o[KEYS[k]] - r) / r * 100 if r else abs(o[KEYS[k]]))
            compute = float(g["total_cycles"]) - float(g["stall_cycles"]) + 1
            errs.append(abs(o["compute_cycles"] - compute) / compute * 100)
            e = max(errs)
            e_cfg = max(e_cfg, e)
            worst[cfg.split] = max(worst[cfg.split], e)
            n_rows[cfg.split] += 1
            ss_cycles = float(g["total_cycles_incl_prefetch"])
            ss_dram = sum(float(g[k]) for k in ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes"))
            nat_dram = nat["dram_ifmap_read_words"] + nat["dram_filter_read_words"] + nat["dram_ofmap_write_words"]
            rc, rd, rk = nat["cycles"] / ss_cycles, nat_dram / ss_dram, nat["compute_cycles"] / compute
            rk_.append(rk)
            rc_.append(rc)
            rd_.append(rd)
            for grp in ("all", "dense" if cfg.sparsity == "dense" else "N:M", cfg.mode):
                groups.setdefault(grp, ([], [], []))
                for lst, x in zip(groups[grp], (rk, rc, rd)):
                    lst.append(x)
            if layers:
                which = "" if e == 0 else " (" + ", ".join(k for k, x in zip(keys + ["compute"], errs) if x) + ")"
                print(f"| {_fmt_cfg(cfg)} | {g['layer']} | {e:.4f}%{which} | {ss_cycles:,.0f} | {rk:.2f} | "
                      f"{rc:.2f} | {ss_dram:,.0f} | {rd:.2f} |")
        summary.append(f"| {_fmt_cfg(cfg)} | {cfg.fmt} | {', '.join(n for n, _ in cfg.layers)} | {cfg.split} | "
                       f"{e_cfg:.4f}% | {_span(rk_)} | {_span(rc_)} | {_span(rd_)} | {rows[0]['wall_s_invocation']} |")
    print("\n| config | array | dataflow | SRAM KB (i/f/o) | bw words/cycle (i/f/o) | N:M | format | layers | split | "
          "largest error, scalesim convention | native / SCALE-Sim: compute cycles | total cycles | DRAM words | "
          "SCALE-Sim s |")
    print("|" + "---|" * 14)
    print("\n".join(summary))
    for s in ("tune", "holdout"):
        if n_rows[s]:
            print(f"\n{s}: largest error over {n_rows[s]} layer runs and {len(keys) + 1} quantities: {worst[s]:.4f}%")
    for grp, (k, c, d) in groups.items():
        print(f"native / SCALE-Sim, {grp} ({len(c)} layer runs): compute cycles {_span(k)}x (geo-mean "
              f"{_gmean(k):.2f}), cycles {_span(c)}x (geo-mean {_gmean(c):.2f}), DRAM words {_span(d)}x (geo-mean "
              f"{_gmean(d):.2f})")
    print(f"scalesim convention: {t_ours:.1f} s for all configs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalesim-python", help="python of a venv with scalesim==3.0.0 (rerun the reference)")
    ap.add_argument("--write", action="store_true", help="store the reference numbers as the test fixture")
    ap.add_argument("--split", choices=("all", "tune", "holdout"), default="all")
    ap.add_argument("--jobs", type=int, default=2, help="SCALE-Sim runs at once")
    ap.add_argument("--cache", type=Path, help="keep each config's SCALE-Sim rows here and reuse them on a rerun")
    ap.add_argument("--only", help="comma-separated config names to run (with --scalesim-python)")
    ap.add_argument("--layers", action="store_true", help="also print every layer's row")
    ap.add_argument("--list", action="store_true", help="print the grid and its estimated demand rows, then stop")
    args = ap.parse_args()
    if args.list:
        for c in configs():
            est = sum(est_seconds(demand_rows(d, c.fmt, c.dataflow, c.rows, c.cols, c.sparsity), c.rows, c.cols)
                      for _, d in c.layers)
            print(f"{_fmt_cfg(c)} | {c.mode} | {c.split} | {c.fmt} | ~{est:.0f} s | {[n for n, _ in c.layers]}")
        return
    if args.scalesim_python:
        grid = [c for c in configs() if not args.only or c.config in args.only.split(",")]
        if args.cache:
            args.cache.mkdir(parents=True, exist_ok=True)
        t0 = time.time()

        def one(c):
            try:
                rows = run_scalesim(args.scalesim_python, c, args.cache)
            except subprocess.CalledProcessError as e:
                print(f"SCALE-Sim {c.config}: failed: {e.stderr.strip().splitlines()[-1:]}", flush=True)
                return []
            print(f"SCALE-Sim {c.config}: {rows[0]['wall_s_invocation']} s ({time.time() - t0:.0f} s elapsed)",
                  flush=True)
            return rows
        with ThreadPoolExecutor(max_workers=args.jobs) as ex:
            golden = [r for rows in ex.map(one, grid) for r in rows]
        if args.write:
            with open(FIXTURE, "w", newline="") as f:
                f.write("# SCALE-Sim v3.0.0 (pip scalesim==3.0.0, numpy<2.4) on the generated grid of "
                        "benchmarks/scalesim_grid.py (docs/validation.md section 8).\n"
                        "# d1..d7: the topology row (conv: H, W, R, S, C, M, stride; gemm: M, N, K); bw in "
                        "words/cycle (USER); split holdout: not looked at while fixing the convention.\n")
                w = csv.DictWriter(f, fieldnames=COLUMNS)
                w.writeheader()
                w.writerows(golden)
    else:
        golden = load_fixture()
    compare(golden, args.split, args.layers)


if __name__ == "__main__":
    main()
