"""Example: weight bit-width sweep: storage and energy of each structure on a sparse and a dense engine.

Shows the ADMM-NN argument directly: as weights get narrower, the index bits of
non-structured formats become a larger share of storage, so its advantage
shrinks against structured sparsity.
Usage: python -m analysis.examples.bitwidth_sweep ARTIFACT [--out DIR] [--ratio 0.9]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from analysis.plots import COLORS  # noqa: E402
from analysis.sweep import SweepSpec, run_sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("artifact")
    ap.add_argument("--out", default="runs/bitwidth_sweep")
    ap.add_argument("--ratio", type=float, default=0.9)
    args = ap.parse_args()
    bits = [16, 8, 4, 2, 1]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for col, (base, key, label) in enumerate((("eie_like", "storage_bits", "storage (kbit)"),
                                              ("eie_like", "energy_pj", "energy on eie_like (uJ)"),
                                              ("eyeriss_like", "energy_pj", "energy on eyeriss_like (uJ)"))):
        spec = SweepSpec.from_dict({
            "artifact": args.artifact, "base_hw": base, "mode": "grid",
            "parameters": {"pe.weight_bits": [[1, 2, 4, 8, 16]]},
            "workload": {"structures": ["dense", "nonstructured", "filter", "channel", "column"],
                         "ratios": [args.ratio], "bits": bits}})
        res = run_sweep(spec, Path(args.out) / base, scheduler="sync", progress=False)
        ax = axes[col]
        scale = 1e3 if key == "storage_bits" else 1e6
        for s in dict.fromkeys(r["structure"] for r in res.rows):
            pts = sorted((r["bits"], r[key] / scale) for r in res.rows if r["structure"] == s)
            ax.plot([b for b, _ in pts], [v for _, v in pts], marker="o", label=s, color=COLORS.get(s))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("weight bits")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Bit-width sweep at pruning ratio {args.ratio}")
    fig.tight_layout()
    path = Path(args.out) / "bitwidth_sweep.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
