"""Example: PE array size vs energy per inference, for each sparsity structure.

Composes the Python API behind ``sparsesim sweep``: re-prunes an artifact's
weights with each structure, prices it on square systolic and sparse arrays of
growing size, and plots energy against the number of PEs.
Usage: python -m analysis.examples.pe_array_vs_energy ARTIFACT [--out DIR] [--ratio 0.8]
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
    ap.add_argument("--out", default="runs/pe_array_vs_energy")
    ap.add_argument("--ratio", type=float, default=0.8)
    args = ap.parse_args()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, base in zip(axes, ("fpga_large", "eie_like")):
        spec = SweepSpec.from_dict({
            "artifact": args.artifact, "base_hw": base, "mode": "grid",
            "parameters": {"pe.rows": [2, 4, 8, 16, 32], "pe.cols": [2, 4, 8, 16, 32]},
            "workload": {"structures": ["dense", "nonstructured", "filter", "column", "nm"],
                         "ratios": [args.ratio], "bits": [8]}})
        res = run_sweep(spec, Path(args.out) / base, scheduler="sync", progress=False)
        for s in dict.fromkeys(r["structure"] for r in res.rows):
            pts = sorted(((r["hw.pe.rows"] * r["hw.pe.cols"], r["energy_pj"] / 1e6) for r in res.rows
                          if r["structure"] == s and r["hw.pe.rows"] == r["hw.pe.cols"]))
            ax.plot([p for p, _ in pts], [e for _, e in pts], marker="o", label=s, color=COLORS.get(s))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("PEs (square array)")
        ax.set_title(f"{base} ({'sparse' if base == 'eie_like' else 'systolic'} engine), ratio {args.ratio}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("energy per inference (uJ)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(args.out) / "pe_array_vs_energy.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
