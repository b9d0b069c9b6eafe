"""Measured CPU speedup vs pruning ratio: CSR (non-structured) and compacted GEMM (column, filter).

Layers: AlexNet conv3 (384x256x3x3 on 13x13, batch 1) and LeNet-5 fc1 (500x800,
batch 1) and conv2 (50x20x5x5 on 12x12, batch 64).  For each structure and
ratio the layer is pruned by the toolkit's projection, every variant's output
is checked against dense, and the median of repeated runs is compared with the
dense layer as the model runs it (oneDNN conv2d / linear) and, for convs, with
the same im2col GEMM the sparse variants use.  Prints the tables and the
measured break-even ratios.
Usage: python benchmarks/cpu_sparse_speedup.py [--repeats 30] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import csv

import torch
from torch import nn

from analysis.bench import break_even, sweep_ratio

RATIOS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98]


def layers():
    torch.manual_seed(0)
    return [
        ("AlexNet conv3", nn.Conv2d(256, 384, 3, padding=1), torch.randn(1, 256, 13, 13)),
        ("LeNet-5 fc1", nn.Linear(800, 500), torch.randn(1, 800)),
        ("LeNet-5 conv2 (batch 64)", nn.Conv2d(20, 50, 5), torch.randn(64, 20, 12, 12)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--csv")
    args = ap.parse_args()
    print(f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}; median of {args.repeats} runs\n")
    all_rows = []
    for name, layer, x in layers():
        plans = [("nonstructured", "csr"), ("column", "compact"), ("filter", "compact")]
        print(f"### {name}\n")
        print("| structure | variant | " + " | ".join(f"{r:.2f}" for r in RATIOS) + " | break-even |")
        print("|---|---|" + "---|" * len(RATIOS) + "---|")
        for structure, variant in plans:
            rows = sweep_ratio(layer, x, structure, RATIOS, repeats=args.repeats)
            for r in rows:
                all_rows.append({"layer": name, **r})
            for key, label in ((f"{variant}_speedup", "vs dense layer"),
                               (f"{variant}_speedup_vs_gemm", "vs dense im2col GEMM")):
                if key not in rows[0]:
                    continue
                sp = [r[key] for r in rows]
                be = break_even(RATIOS, sp)
                print(f"| {structure} | {variant} {label} | " + " | ".join(f"{s:.2f}x" for s in sp)
                      + f" | {'never' if be is None else f'{be:.2f}'} |")
            if variant == "compact":
                frac = [r[f"{variant}_speedup"] / r["ideal_speedup"] for r in rows]
                print(f"| {structure} | fraction of ideal 1/(1-r) | " + " | ".join(f"{f:.0%}" for f in frac) + " | |")
        print()
    if args.csv:
        keys = sorted({k for r in all_rows for k in r}, key=lambda k: (k != "layer", k))
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(all_rows)


if __name__ == "__main__":
    main()
