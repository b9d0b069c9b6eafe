"""Projection speed on a 2.4M-weight tensor, as a ratio to one torch.kthvalue over it.

Target (issue 2): non-structured projection <= 1.2x one kthvalue.
Usage: python benchmarks/projection_speed.py [--threads N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pruning.constraint import Constraint
from pruning.quantizers import Quantizer
from pruning.structures import Structure


def median_ms(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    w = torch.randn(2400, 1000)  # 2.4M weights, GEMM view of e.g. a 2400x(1000) layer
    conv = w.reshape(2400, 40, 5, 5)
    flat_abs = w.abs().reshape(-1)
    k = int(0.9 * flat_abs.numel())
    base = median_ms(lambda: torch.kthvalue(flat_abs, k), args.repeat)
    q4 = Quantizer("uniform", 4).fit(w)
    cases = [
        ("nonstructured 90%", Constraint(Structure("nonstructured", 0.9)), w),
        ("nonstructured 99%", Constraint(Structure("nonstructured", 0.99)), w),
        ("filter 50%", Constraint(Structure("filter", 0.5)), conv),
        ("channel 50%", Constraint(Structure("channel", 0.5)), conv),
        ("column 50%", Constraint(Structure("column", 0.5)), conv),
        ("block 4x4 90%", Constraint(Structure("block", 0.9, block=(4, 4))), w),
        ("nm 2:4", Constraint(Structure("nm", n=2, m=4)), w),
        ("uniform 4-bit (fixed scale)", Constraint(quantizer=q4), w),
        ("nonstructured 90% + uniform 4-bit", Constraint(Structure("nonstructured", 0.9), q4), w),
    ]
    print(f"threads={args.threads}; tensor 2,400,000 float32; torch.kthvalue median {base:.2f} ms")
    print(f"{'projection':38s} {'ms':>8s} {'x kthvalue':>11s}")
    for name, c, t in cases:
        ms = median_ms(lambda: c.project(t), args.repeat)
        print(f"{name:38s} {ms:8.2f} {ms / base:11.2f}")
    fit_s = median_ms(lambda: Quantizer("uniform", 4).fit(w), 3) / 1e3
    sort_ms = median_ms(lambda: torch.sort(flat_abs), 5)
    print(f"(for scale: full sort {sort_ms:.1f} ms = {sort_ms / base:.1f}x kthvalue; "
          f"4-bit exact-sweep scale fit {fit_s:.2f} s, once per ADMM phase)")


if __name__ == "__main__":
    main()
