"""The ``sparse_tc_like`` preset's dense / 2:4 speedup by GEMM shape against published A100 measurements.

The published rows (tests/fixtures/sparse_tc/published_speedups.csv, each with its source) time one fp16 GEMM
(``nn.Linear`` or a library sample) with a dense weight and with the same weight 2:4-sparse
(cuSPARSELt or CUTLASS through ``torch.sparse.to_sparse_semi_structured``, or the libraries' own samples), under
their convention: speedup = dense time / sparse time of the same shape (M output features, K inputs, N tokens).
Ours is the same ratio of the preset's latency: the layer with every weight nonzero (the dense rate) against
the layer 2:4-sparse along K (``WeightPattern`` row-uniform 2:4: every count exact; an N:M layer reads all its
inputs, so where its zeros sit does not change the cost).  Also printed: the ratio of compute cycles alone
(the math-bound limit of the array, below 2 by the fill/drain of each fold) and which bound each side hits.
Usage: PYTHONPATH=. python benchmarks/sparse_tc_validation.py [--hw sparse_tc_like]
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel_models.hardware import load_accelerator
from sparsesim.analytical import evaluate
from sparsesim.pattern import WeightPattern
from sparsesim.workload import LayerWorkload

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "sparse_tc" / "published_speedups.csv"


@dataclass(frozen=True)
class Published:
    id: str
    M: int
    K: int
    N: int
    backend: str
    speedup: float
    gpu: str
    source: str
    dense_us: float            # NaN where the source gives rates, not times


@dataclass(frozen=True)
class Modelled:
    speedup: float             # dense latency / 2:4 latency
    compute_speedup: float     # dense compute cycles / 2:4 compute cycles (the math-bound limit)
    dense_bound: str           # compute | memory
    sparse_bound: str
    dense_us: float            # the preset's dense latency


def published(path: Path = FIXTURE) -> list[Published]:
    with open(path, newline="") as f:
        return [Published(r["id"], int(r["M"]), int(r["K"]), int(r["N"]), r["backend"], float(r["speedup"]),
                          r["gpu"], r["source"], float(r["dense_us"] or "nan")) for r in csv.DictReader(f)]


def _layer(m: int, k: int, n: int, sparse: bool) -> LayerWorkload:
    keep = np.tile([True, True, False, False], k // 4) if sparse else np.ones(k, dtype=bool)
    return LayerWorkload(f"{m}x{k}x{n}{'_24' if sparse else ''}", "linear", m, k, 1, None, weight_bits=16,
                         batch=n, pattern=WeightPattern(m, k, keep_k=keep))


def modelled(shapes, hw: str = "sparse_tc_like") -> dict[tuple[int, int, int], Modelled]:
    """Per (M, K, N): the preset's dense / 2:4 speedup, priced in one call."""
    shapes = sorted(set(shapes))
    layers = [_layer(*s, sparse) for s in shapes for sparse in (False, True)]
    rows = evaluate(layers, [load_accelerator(hw)]).rows()
    bound = lambda r: "memory" if r["memory_cycles"] > r["compute_cycles"] else "compute"  # noqa: E731
    out = {}
    for i, s in enumerate(shapes):
        d, sp = rows[2 * i], rows[2 * i + 1]
        assert d["format"] == "dense" and sp["format"] == "nm", (d["format"], sp["format"])
        out[s] = Modelled(d["latency_s"] / sp["latency_s"], d["compute_cycles"] / sp["compute_cycles"], bound(d),
                          bound(sp), d["latency_s"] * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="sparse_tc_like")
    args = ap.parse_args()
    pubs = published()
    mod = modelled([(p.M, p.K, p.N) for p in pubs], args.hw)
    print("| row | M | K | N | backend | published | ours | ours / published | math-bound limit | bound (dense, 2:4) | dense us: published, ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for p in pubs:
        m = mod[(p.M, p.K, p.N)]
        ratios.append(m.speedup / p.speedup)
        print(f"| {p.id} | {p.M} | {p.K} | {p.N} | {p.backend} | {p.speedup:.3f} | {m.speedup:.3f} | "
              f"{m.speedup / p.speedup:.3f} | {m.compute_speedup:.3f} | {m.dense_bound}, {m.sparse_bound} | "
              f"{p.dense_us:.1f}, {m.dense_us:.1f} |")
    r = np.array(ratios)
    print(f"\nours / published over {r.size} rows: min {r.min():.3f}, median {np.median(r):.3f}, max {r.max():.3f}; "
          f"within 15%: {int((abs(r - 1) <= 0.15).sum())} of {r.size}")


if __name__ == "__main__":
    main()
