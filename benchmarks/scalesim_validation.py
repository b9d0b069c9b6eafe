"""Side by side with SCALE-Sim v3: dense systolic compute cycles for WS, OS and IS.

SCALE-Sim (``pip install scalesim==3.0.0 "numpy<2.4"``, best in its own venv)
is run on the same layers and array in its stall-free CALC bandwidth mode; its
"Total Cycles" is compared with our dense systolic model's compute cycles.
SCALE-Sim's CALC path reports ``max(ofmap_serviced_cycles)``, the index of the
last busy cycle counted from 0, so it equals our cycle count minus one
(docs/validation.md); the table shows both and the difference.

Usage: python benchmarks/scalesim_validation.py --scalesim-python /path/to/venv/bin/python [--array 32]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from accel_models.hardware import accelerator_from_dict
from sparsesim.analytical import evaluate
from sparsesim.workload import LayerWorkload

# (name, H, W, R, S, C, M, stride, pad): ResNet-18 and VGG-16 for 32x32 inputs (pruning/models.py)
LAYERS = [
    ("resnet18.conv1", 32, 32, 3, 3, 3, 64, 1, 1),
    ("resnet18.layer1.0.conv1", 32, 32, 3, 3, 64, 64, 1, 1),
    ("resnet18.layer2.0.conv1", 32, 32, 3, 3, 64, 128, 2, 1),
    ("resnet18.layer2.0.shortcut", 32, 32, 1, 1, 64, 128, 2, 0),
    ("resnet18.layer3.1.conv2", 8, 8, 3, 3, 256, 256, 1, 1),
    ("resnet18.layer4.1.conv2", 4, 4, 3, 3, 512, 512, 1, 1),
    ("vgg16.features.3", 32, 32, 3, 3, 64, 64, 1, 1),
    ("vgg16.features.10", 8, 8, 3, 3, 128, 256, 1, 1),
    ("vgg16.features.34", 2, 2, 3, 3, 512, 512, 1, 1),
]

CFG = """[general]
run_name = v

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {df}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
FilterCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def run_scalesim(python: str, df: str, rows: int, cols: int, work: Path) -> tuple[list[int], float]:
    (work / f"{df}.cfg").write_text(CFG.format(rows=rows, cols=cols, df=df))
    topo = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    layout = ["Layer name," + ",".join(f"f{i}" for i in range(20)) + ","]
    for i, (name, h, w, r, s, c, m, st, pad) in enumerate(LAYERS):
        topo.append(f"L{i}, {h + 2 * pad}, {w + 2 * pad}, {r}, {s}, {c}, {m}, {st},")
        layout.append(f"L{i}," + ",".join(["1"] * 6 + ["0", "1", "2"] * 3 + ["0", "1", "2", "3"] * 2) + ",")
    (work / "topo.csv").write_text("\n".join(topo) + "\n")
    (work / "layout.csv").write_text("\n".join(layout) + "\n")
    t = time.perf_counter()
    subprocess.run([python, "-m", "scalesim.scale", "-c", str(work / f"{df}.cfg"), "-t", str(work / "topo.csv"),
                    "-l", str(work / "layout.csv"), "-p", str(work / f"out_{df}"), "-s", "N"], check=True,
                   capture_output=True, cwd=work)
    dt = time.perf_counter() - t
    with open(work / f"out_{df}" / "v" / "COMPUTE_REPORT.csv") as f:
        rows_ = list(csv.reader(f))[1:]
    return [int(r[2]) for r in rows_], dt


def out_size(h: int, r: int, st: int, pad: int, convention: str) -> int:
    if convention == "torch":  # PyTorch (and our artifacts): floor((H + 2p - R) / S) + 1
        return (h + 2 * pad - r) // st + 1
    return -(-(h + 2 * pad - r + st) // st)  # SCALE-Sim topology_utils: ceil((H' - R + S) / S)


def ours(df: str, rows: int, cols: int, convention: str) -> list[int]:
    hw = accelerator_from_dict({"name": f"sa_{df}", "pe": {"engine": "systolic", "rows": rows, "cols": cols,
                                                           "dataflow": df, "weight_bits": [8],
                                                           "compact_zero_rows_cols": False}})
    ws = []
    for name, h, w, r, s, c, m, st, pad in LAYERS:
        n = out_size(h, r, st, pad, convention) * out_size(w, s, st, pad, convention)
        ws.append(LayerWorkload(name, "conv2d", m, c * r * s, n, np.ones((m, c * r * s), np.float32), 8))
    return [int(r["compute_cycles"]) for r in evaluate(ws, [hw]).rows()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scalesim-python", required=True)
    ap.add_argument("--array", type=int, default=32)
    args = ap.parse_args()
    print(f"Array {args.array}x{args.array}; SCALE-Sim 3.0.0, CALC bandwidth mode (stall-free)\n")
    print("| dataflow | layer | M | K | N (torch / SCALE-Sim) | ours, torch geometry | ours, SCALE-Sim geometry "
          "| SCALE-Sim Total Cycles | SCALE-Sim + 1 = ours? |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for df in ("ws", "os", "is"):
            ss, dt = run_scalesim(args.scalesim_python, df, args.array, args.array, Path(tmp))
            t = time.perf_counter()
            torch_geo = ours(df, args.array, args.array, "torch")
            ours_dt = time.perf_counter() - t
            ss_geo = ours(df, args.array, args.array, "scalesim")
            for (name, h, w, r, s, c, m, st, pad), a, b, ref in zip(LAYERS, torch_geo, ss_geo, ss):
                nt = out_size(h, r, st, pad, "torch") * out_size(w, s, st, pad, "torch")
                ns = out_size(h, r, st, pad, "scalesim") * out_size(w, s, st, pad, "scalesim")
                print(f"| {df.upper()} | {name} | {m} | {c * r * s} | {nt} / {ns} | {a:,} | {b:,} | {ref:,} | "
                      f"{'yes' if b == ref + 1 else 'NO'} |")
            print(f"| {df.upper()} | *time, {len(LAYERS)} layers* | | | | {ours_dt * 1e3:.1f} ms | | {dt:.1f} s | |")


if __name__ == "__main__":
    main()
