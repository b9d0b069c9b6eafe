"""The comparison's figures (matplotlib, Agg): each function writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"dense": "#7f7f7f", "nonstructured": "#d62728", "filter": "#1f77b4", "channel": "#2ca02c",
          "column": "#9467bd", "block": "#ff7f0e", "nm": "#17becf", "mixed": "#000000"}
ENERGY_PARTS = [("energy_dram_pj", "DRAM", "#4e79a7"), ("energy_sram_pj", "SRAM", "#f28e2b"),
                ("energy_rf_pj", "RF", "#e15759"), ("energy_mac_pj", "MAC", "#76b7b2"),
                ("energy_index_pj", "index", "#59a14f")]
STORAGE_PARTS = [("storage_weight_bits", "weights", "#4e79a7"), ("storage_index_bits", "index", "#e15759"),
                 ("storage_padding_bits", "padding", "#f28e2b"), ("storage_pointer_bits", "pointers", "#59a14f")]


def _grid(n: int):
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _stacked(rows, parts, path: Path, title: str, unit: str, scale: float) -> Path:
    sim = [r for r in rows if r["kind"] not in ("cpu", "gpu")]
    platforms = list(dict.fromkeys(r["platform"] for r in sim))
    fig, axes = _grid(len(platforms))
    for ax, plat in zip(axes, platforms):
        pr = [r for r in sim if r["platform"] == plat]
        names = [r["structure"] for r in pr]
        bottom = [0.0] * len(pr)
        for key, label, color in parts:
            vals = [(r.get(key) or 0) / scale for r in pr]
            ax.bar(names, vals, bottom=bottom, color=color, label=label)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(plat, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.tick_params(axis="y", labelsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def energy_breakdown(rows, out: Path) -> Path:
    return _stacked(rows, ENERGY_PARTS, out / "energy_breakdown.png",
                    "Energy per inference at matched accuracy (DRAM / SRAM / RF / MAC / index)", "uJ", 1e6)


def storage(rows, out: Path) -> Path:
    return _stacked(rows, STORAGE_PARTS, out / "storage.png",
                    "Weight storage in each platform's format (values / index / padding / pointers)", "kbit", 1e3)


def breakeven(curves: dict, out: Path, measured: list[dict] | None = None) -> Path:
    """Non-structured cost relative to dense vs pruning ratio, per platform; break-even marked."""
    ratios = curves["ratios"]
    bits = next(iter(curves["bits"]))
    data = curves["bits"][bits]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, key, label in ((axes[0], "energy_pj", "energy speedup (dense / non-structured)"),
                           (axes[1], "cycles", "speed-up in cycles (dense / non-structured)")):
        for plat, c in data["curves"].items():
            base = data["reference"][plat][key]
            sp = [base / v for v in c[key]]
            line, = ax.plot(ratios, sp, marker="o", ms=3, label=plat)
            be = data["breakeven"][plat].get(f"{key}_vs_dense")
            if be is not None:
                ax.axvline(be, color=line.get_color(), ls=":", lw=1)
                ax.plot([be], [1.0], marker="x", color=line.get_color(), ms=8)
        measured = measured if measured is not None else curves.get("cpu_sweep")
        if measured and key == "cycles":
            ax.plot([m["ratio"] for m in measured], [m["csr_speedup"] for m in measured], "k--", marker="s",
                    label="CPU measured (CSR)")
            ax.plot([m["ratio"] for m in measured], [m["ideal_speedup"] for m in measured], color="0.6", lw=1,
                    label="ideal 1/(1-r)")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xlabel("non-structured pruning ratio")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Non-structured sparsity vs the dense model on each platform's dense counterpart, {bits}-bit "
                 "weights (x: break-even)")
    return _save(fig, out / "speedup_vs_ratio.png")


def pareto(points: list[dict], out: Path) -> Path:
    platforms = list(dict.fromkeys(p["platform"] for p in points))
    fig, axes = _grid(len(platforms))
    for ax, plat in zip(axes, platforms):
        pts = [p for p in points if p["platform"] == plat]
        for s in dict.fromkeys(p["structure"] for p in pts):
            sp = [p for p in pts if p["structure"] == s]
            ax.scatter([p["energy_pj"] / 1e6 for p in sp], [p["val_accuracy"] * 100 for p in sp],
                       color=COLORS.get(s, "k"), label=s, s=18)
        front, best = [], -1.0
        for p in sorted(pts, key=lambda p: p["energy_pj"]):
            if p["val_accuracy"] > best:
                front.append(p)
                best = p["val_accuracy"]
        ax.step([p["energy_pj"] / 1e6 for p in front], [p["val_accuracy"] * 100 for p in front], where="post",
                color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(plat, fontsize=10)
        ax.set_xlabel("energy (uJ)", fontsize=8)
        ax.set_ylabel("val. accuracy (%)", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle("Accuracy vs energy: every probed pruning run, Pareto front in black")
    return _save(fig, out / "pareto.png")


def sim_vs_measured(rows: list[dict], out: Path) -> Path:
    cpu = {r["structure"]: r for r in rows if r["kind"] == "cpu"}
    sim = [r for r in rows if r["kind"] not in ("cpu", "gpu") and r["structure"] in cpu
           and r.get("speedup_vs_dense")]
    fig, ax = plt.subplots(figsize=(6, 5))
    for plat in dict.fromkeys(r["platform"] for r in sim):
        pr = [r for r in sim if r["platform"] == plat]
        ax.scatter([cpu[r["structure"]]["speedup_vs_dense"] for r in pr], [r["speedup_vs_dense"] for r in pr],
                   label=plat, s=22)
    for r in sim:
        if r["platform"] == sim[0]["platform"]:
            ax.annotate(r["structure"], (cpu[r["structure"]]["speedup_vs_dense"], r["speedup_vs_dense"]),
                        fontsize=7)
    lim = [0.05, 50]
    ax.plot(lim, lim, "k:", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured CPU speedup vs dense")
    ax.set_ylabel("simulated speedup vs dense")
    ax.legend(fontsize=7)
    ax.set_title("Simulated accelerators vs measured CPU, per structure")
    return _save(fig, out / "sim_vs_measured.png")
