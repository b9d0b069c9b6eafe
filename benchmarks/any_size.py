"""Layers of any size: VGG-16 with its fc layers and a 7B-parameter decoder priced from topology files.

Issue 21 item 6's targets: VGG-16 (with fc) in <= 2 GiB peak; a 7B-parameter decoder topology in <= 4 GiB and
<= 60 s.  Each model runs in its own process (its peak resident set is its own: ``resource.getrusage``), priced
with ``sparsecodesign.api.simulate`` on every preset at the default ``max_exact_weights`` (2^26, or ``--bound``):

* VGG-16: SCALE-Sim conv format, 13 convs (inputs padded as SCALE-Sim's own vgg16 topology does) and fc6/7/8 as
  1x1 layers; 138.3M weights, fc6 alone 102.8M (EIE's VGG-6): fc6 goes to the statistical mode, the rest is drawn.
* Decoder 7B: SCALE-Sim GEMM format, 32 blocks x (q, k, v, o 4096x4096; gate, up 4096->11008; down 11008->4096)
  at sequence length 2048 (``--seq``); 6.48B weights, every layer priced from counts (dense: exact counts).

Printed per model: layers, weights, layers counted, wall and CPU seconds of the pricing (topology read included)
and the peak resident set, with the 1-min load average before and after.

Usage: python benchmarks/any_size.py [--only vgg16|decoder7b] [--bound N] [--seq 2048]
       python benchmarks/any_size.py --agreement 8     # the statistical mode vs the exact masks (mean of seeds)
       python benchmarks/any_size.py --eie-vgg6 5      # EIE's VGG-6 from a topology (docs/validation.md section 3)
       python benchmarks/any_size.py --both-modes      # VGG-16: default bound vs every layer from counts
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRESETS = ("eyeriss_like", "tpu_like", "nm_asic", "sigma_like", "fpga_small", "fpga_large", "fpga_sparse",
           "eie_like", "scnn_like")
TARGETS = {"vgg16": {"rss_gib": 2.0}, "decoder7b": {"rss_gib": 4.0, "wall_s": 60.0}}
VGG16_CONVS = [  # name, padded input side, channels, filters (3x3, stride 1; SCALE-Sim's vgg16.csv shapes)
    ("conv1_1", 226, 3, 64), ("conv1_2", 226, 64, 64), ("conv2_1", 114, 64, 128), ("conv2_2", 114, 128, 128),
    ("conv3_1", 58, 128, 256), ("conv3_2", 58, 256, 256), ("conv3_3", 58, 256, 256), ("conv4_1", 30, 256, 512),
    ("conv4_2", 30, 512, 512), ("conv4_3", 30, 512, 512), ("conv5_1", 16, 512, 512), ("conv5_2", 16, 512, 512),
    ("conv5_3", 16, 512, 512)]
VGG16_FC = [("fc6", 25088, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)]
DECODER = {"blocks": 32, "hidden": 4096, "mlp": 11008}


def vgg16_topology() -> str:
    rows = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    rows += [f"{n}, {s}, {s}, 3, 3, {c}, {m}, 1," for n, s, c, m in VGG16_CONVS]
    rows += [f"{n}, 1, 1, 1, 1, {c}, {m}, 1," for n, c, m in VGG16_FC]
    return "\n".join(rows) + "\n"


def decoder_topology(seq: int) -> str:
    h, f = DECODER["hidden"], DECODER["mlp"]
    rows = ["Layer, M, N, K,"]
    for b in range(DECODER["blocks"]):
        rows += [f"b{b}_{p}, {seq}, {h}, {h}," for p in ("q", "k", "v", "o")]
        rows += [f"b{b}_gate, {seq}, {f}, {h},", f"b{b}_up, {seq}, {f}, {h},", f"b{b}_down, {seq}, {h}, {f},"]
    return "\n".join(rows) + "\n"


def run_one(name: str, bound: int | None, seq: int) -> dict:
    """Price one model here; the figures as a dict (this process's peak RSS)."""
    from sparsecodesign import api
    from sparsesim.topology import read_topology

    text = vgg16_topology() if name == "vgg16" else decoder_topology(seq)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        path.write_text(text)
        kw = {} if bound is None else {"max_exact_weights": bound}
        lines = []
        wall, cpu = time.perf_counter(), time.process_time()
        table = api.simulate(path, list(PRESETS), **kw, log=lines.append)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        layers = read_topology(path, **kw)
    rows = table.rows()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: KiB
    return {"model": name, "layers": len(layers), "weights": sum(w.M * w.K for w in layers),
            "counted": sum(w.statistical for w in layers), "rows": len(rows), "wall_s": wall, "cpu_s": cpu,
            "peak_rss_gib": peak / 2 ** 30, "log": lines,
            "cycles_total": {p: sum(r["cycles"] for r in rows if r["hardware"] == p) for p in PRESETS}}


AGREEMENT_FILES = {   # the layers tests/test_anysize.py checks (random densities; row-uniform ones are exact)
    "conv": "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, "
            "Sparsity, Weight density,\nc4, 14, 14, 3, 3, 128, 256, 1, , 0.5,\nc5, 14, 14, 3, 3, 256, 256, 2, , 0.1,\n",
    "gemm": "Layer, M, N, K, Weight density,\ng1, 64, 512, 1024, 0.3,\ng2, 32, 1000, 600, 0.05,\n"}


def agreement(seeds: int) -> None:
    """Per file: the largest relative difference, over every numeric cost column of every (layer, preset), between
    the mean over ``seeds`` of the exact masks and of the counts (and the largest outside SCNN's padding bits, a
    count of a few hundred entries here, so its means differ by noise: tests/test_anysize.py holds it to 4
    standard errors)."""
    import numpy as np

    from analysis.simulation import hardware_list, price
    from sparsesim.topology import read_topology

    accs = hardware_list(",".join(PRESETS), log=lambda s: None)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in AGREEMENT_FILES.items():
            path = Path(tmp) / f"{name}.csv"
            path.write_text(text)
            sums: dict = {}
            for seed in range(seeds):
                for mode, bound in (("exact", 1 << 26), ("counted", 0)):
                    for r in price(read_topology(path, seed, 8, bound), accs).rows():
                        for col, v in r.items():
                            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                                sums.setdefault((r["layer"], r["hardware"], col), {}).setdefault(mode, []).append(v)
            diffs = {k: abs(np.mean(v["counted"]) - np.mean(v["exact"])) / max(abs(np.mean(v["exact"])), 1e-30)
                     for k, v in sums.items()}
            worst = max(diffs, key=diffs.get)
            common = max((k for k in diffs if k[2] != "storage_padding_bits"), key=diffs.get)
            print(f"agreement {name}: {len(diffs)} (layer, preset, column) means over {seeds} seeds; largest "
                  f"difference {diffs[worst]:.2%} ({' / '.join(worst)}); without padding bits {diffs[common]:.2%} "
                  f"({' / '.join(common)})")


def vgg16_both_modes() -> None:
    """VGG-16 (dense: every pattern row-uniform) at the default bound and with every layer from counts: the
    largest relative difference over every numeric column of every (layer, preset)."""
    from analysis.simulation import hardware_list, price
    from sparsesim.topology import read_topology

    accs = hardware_list(",".join(PRESETS), log=lambda s: None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vgg16.csv"
        path.write_text(vgg16_topology())
        a, b = ({(r["layer"], r["hardware"]): r for r in price(read_topology(path, **kw), accs).rows()}
                for kw in ({}, {"max_exact_weights": 0}))
    worst = max((abs(b[k][c] - v) / max(abs(v), 1e-30) for k, r in a.items() for c, v in r.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v), default=0.0)
    print(f"VGG-16 default bound vs every layer from counts: {len(a)} rows, largest relative difference {worst:.3g}")


def eie_vgg6(seeds: int) -> None:
    """EIE's VGG-6 (fc6 at Table III's densities, tests/fixtures/eie/published.csv) through a topology file, priced
    from counts on eie_like (4-bit weights; mask seed = act_seed = s, as benchmarks/eie_validation.py draws them)."""
    import csv

    from sparsecodesign import api

    row = next(r for r in csv.DictReader(line for line in (ROOT / "tests/fixtures/eie/published.csv").open()
                                         if not line.startswith("#")) if r["layer"] == "VGG-6")
    text = (f"Layer, M, N, K, Weight density, Activation density,\nVGG-6, 1, {row['outputs']}, {row['inputs']}, "
            f"{row['weight_density']}, {row['act_density']},\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vgg6.csv"
        path.write_text(text)
        wall = time.perf_counter()
        lat = [api.simulate(path, "eie_like", bits=4, seed=s, act_seed=s, log=lambda x: None).rows()[0]["latency_s"]
               * 1e6 for s in range(seeds)]
        wall = (time.perf_counter() - wall) / seeds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"VGG-6 from counts on eie_like, {seeds} seeds: {', '.join(f'{x:.2f}' for x in lat)} us; mean "
          f"{sum(lat) / seeds:.2f} us (paper actual {row['actual_us']} us); {wall:.1f} s a seed; peak RSS {peak:.2f} GiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(TARGETS))
    ap.add_argument("--bound", type=int, help="max_exact_weights (default: the library's)")
    ap.add_argument("--seq", type=int, default=2048, help="decoder sequence length (GEMM rows)")
    ap.add_argument("--agreement", type=int, metavar="SEEDS", help="instead: the statistical mode against the "
                                                                     "exact masks, mean over SEEDS seeds")
    ap.add_argument("--eie-vgg6", type=int, metavar="SEEDS", help="instead: EIE's VGG-6 at its published "
                                                                   "densities from a topology, priced from counts")
    ap.add_argument("--both-modes", action="store_true", help="instead: VGG-16 at the default bound against "
                                                                  "every layer from counts")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.both_modes:
        vgg16_both_modes()
        return
    if args.eie_vgg6:
        eie_vgg6(args.eie_vgg6)
        return
    if args.agreement:
        agreement(args.agreement)
        return
    if args.child:
        print(json.dumps(run_one(args.only, args.bound, args.seq)))
        return
    names = [args.only] if args.only else ["vgg16", "decoder7b"]
    print(f"1-min load before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; presets: {', '.join(PRESETS)}")
    for name in names:
        cmd = [sys.executable, __file__, "--child", "--only", name, "--seq", str(args.seq)]
        cmd += ["--bound", str(args.bound)] if args.bound is not None else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ,
                                                                                    "PYTHONPATH": str(ROOT)})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        t = TARGETS[name]
        ok = r["peak_rss_gib"] <= t["rss_gib"] and r["wall_s"] <= t.get("wall_s", float("inf"))
        print(f"{name}: {r['layers']} layers, {r['weights']:,} weights ({r['counted']} layers from counts), "
              f"{r['rows']} rows; wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, peak RSS "
              f"{r['peak_rss_gib']:.2f} GiB; target <= {t['rss_gib']} GiB"
              + (f", <= {t['wall_s']:.0f} s" if "wall_s" in t else "") + (": met" if ok else ": MISSED"))
        for line in r["log"]:
            print(f"  log: {line}")
    print(f"1-min load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
