"""The eie_like preset against EIE's published latencies (Han et al., ISCA 2016, Tables III and IV).

Each benchmark layer (Alex-6/7/8: size, weight and activation density from Table III) gets a random
weight mask of the published density per seed; the EIE engine counts the exact per-PE work (CSC with
4-bit relative indices and padding entries) and runs the activation-queue recursion (FIFO depth 8).
Printed per layer: our latency over seeds (mean, min, max), the paper's actual and perfect-balance
latency, our perfectly balanced work, and the load-imbalance factors side by side.

Usage: python benchmarks/eie_validation.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from accel_models.hardware import load_accelerator  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from test_validation import EIE, eie_layer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    hw = load_accelerator("eie_like")
    print("| layer | paper actual us | ours us (mean, min-max over seeds) | error of mean | paper perfect-balance us "
          "| our perfectly balanced work us | imbalance: paper / ours |")
    print("|---|---|---|---|---|---|---|")
    for row in EIE:
        lat, perfect = [], []
        for seed in range(args.seeds):
            r = evaluate([eie_layer(row, seed)], [hw]).rows()[0]
            lat.append(r["latency_s"] * 1e6)
            perfect.append(r["macs_executed"] / hw.pe.num_pes / hw.clock_hz * 1e6)
        actual, balanced = float(row["actual_us"]), float(row["perfect_balance_us"])
        print(f"| {row['layer']} | {actual} | {np.mean(lat):.2f} ({min(lat):.2f}-{max(lat):.2f}) | "
              f"{(np.mean(lat) - actual) / actual * 100:+.1f}% | {balanced} | {np.mean(perfect):.2f} | "
              f"{actual / balanced:.3f} / {np.mean(lat) / np.mean(perfect):.3f} |")


if __name__ == "__main__":
    main()
