"""Weight storage of documented LeNet-5 results priced in the simulator's formats, from their per-layer nonzero
counts (docs/results.md section 1), beside the nominal figures.

Only the formats whose exact bits depend on the counts alone are priced (dense, bitmask, CSR, CSC, COO: values,
one index per nonzero or one bit per weight, pointers per row/column); EIE's relative layout, BCSR and the compact
form depend on where the zeros are, which needs the run's weights (``sparsesim.storage.price_storage`` on the
artifact; ``prune`` keeps it in ``manifest.totals.storage``).  A seeded random placement of the counts is used to
call the same encoders; the printed formats give the same bits for any placement (checked on a second seed).

Usage: PYTHONPATH=. python benchmarks/storage_counts.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sparsesim.storage import STORAGE_FORMATS, price_storage  # noqa: E402

GEMM = {"conv1": (20, 25), "conv2": (50, 500), "fc1": (500, 800), "fc2": (10, 500)}   # LeNet-5 (Caffe 20-50-500-10)
COUNT_ONLY = ("dense", "bitmask", "csr", "csc", "coo")
# (name, bits, kept weights per layer) as docs/results.md section 1 reports them
RESULTS = [("authors' targets 71.2x, 32-bit", 32, {"conv1": 100, "conv2": 2000, "fc1": 3600, "fc2": 350}),
           ("joint 50x + 4-bit levels, seed 0 ('406x')", 4, {"conv1": 331, "conv2": 2388, "fc1": 5087, "fc2": 678})]


def layers(kept: dict[str, int], bits: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, (m, k) in GEMM.items():
        w = np.zeros(m * k, dtype=np.float32)
        w[rng.choice(m * k, kept[name], replace=False)] = 1.0
        out[name] = (w.reshape(m, k), bits)
    return out


def main() -> None:
    formats = {f: STORAGE_FORMATS[f] for f in COUNT_ONLY}
    print("| result | weights / nonzeros (nominal) | value bits only (nominal) | " +
          " | ".join(COUNT_ONLY) + " | cheapest of these per layer |")
    print("|---" * (4 + len(COUNT_ONLY)) + "|")
    for name, bits, kept in RESULTS:
        s, again = (price_storage(layers(kept, bits, seed), formats) for seed in (0, 1))
        assert s == again, "a count-only format changed with the placement"
        weights = sum(m * k for m, k in GEMM.values())
        per = ", ".join(f"{n} {f}" for n, f in s["cheapest"]["per_layer"].items())
        print(f"| {name} | {weights / sum(kept.values()):.1f}x | {s['nominal_reduction']:.0f}x | " +
              " | ".join(f"{s['formats'][f]['reduction']:.1f}x" for f in COUNT_ONLY) +
              f" | {s['cheapest']['reduction']:.1f}x ({per}) |")


if __name__ == "__main__":
    main()
