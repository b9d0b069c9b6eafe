"""The comparison's figures: each function writes one PNG and returns its path.

Figures are ``matplotlib.figure.Figure`` objects saved directly (no ``pyplot``, no backend switch), so importing
this module or calling ``sc.compare`` from a notebook leaves the notebook's backend alone.  Legends sit outside
the axes, titles leave room for the figure title, and log axes carry a few plain labels.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from .matrix import CostMatrix

COLORS = {"dense": "#7f7f7f", "nonstructured": "#d62728", "filter": "#1f77b4", "channel": "#2ca02c",
          "column": "#9467bd", "block": "#ff7f0e", "nm": "#17becf", "mixed": "#000000"}
MARKERS = {"dense": "o", "nonstructured": "X", "filter": "s", "channel": "^", "column": "v", "block": "D",
           "nm": "P", "mixed": "*"}
ENERGY_PARTS = [("energy_dram_pj", "DRAM", "#4e79a7"), ("energy_sram_pj", "SRAM", "#f28e2b"),
                ("energy_rf_pj", "RF", "#e15759"), ("energy_mac_pj", "MAC", "#76b7b2"),
                ("energy_index_pj", "index", "#59a14f")]
STORAGE_PARTS = [("storage_weight_bits", "weights", "#4e79a7"), ("storage_index_bits", "index", "#e15759"),
                 ("storage_padding_bits", "padding", "#f28e2b"), ("storage_pointer_bits", "pointers", "#59a14f")]
DPI = 110


def _grid(n: int, width: float = 3.6, height: float = 3.2):
    cols = min(4, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.9))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _title(fig: Figure, text: str, width: int = 110) -> None:
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=11)


def _save(fig: Figure, path: Path, legend_rows: int = 0) -> Path:
    """Lay out with room for the (wrapped) figure title on top and a figure legend of ``legend_rows`` rows below."""
    height = fig.get_figheight()
    title_lines = fig._suptitle.get_text().count("\n") + 1 if fig._suptitle else 0
    top = 1 - (0.12 + 0.2 * title_lines) / height
    bottom = (0.15 + 0.22 * legend_rows) / height if legend_rows else 0
    fig.tight_layout(rect=(0, bottom, 1, top))
    fig.savefig(path, dpi=DPI)
    return path


def _legend_below(fig: Figure, handles, labels, ncol: int) -> int:
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    return -(-len(labels) // ncol)


def _log_axis(axis) -> None:
    """A log axis with plain numbers at 1-2-5 steps, no crowded minor labels."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=6))
    axis.set_minor_formatter(NullFormatter())
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


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
        ax.set_ylim(0, max(bottom + [1e-12]) * 1.08)
        ax.set_title(plat, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.tick_params(axis="y", labelsize=8)
    handles = [Patch(color=c) for _, _, c in parts]
    n = _legend_below(fig, handles, [label for _, label, _ in parts], len(parts))
    _title(fig, title)
    return _save(fig, path, n)


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
    fig = Figure(figsize=(12, 5.4))
    axes = fig.subplots(1, 2)
    lines = {}
    for ax, key, label in ((axes[0], "energy_pj", "energy saving (dense / non-structured)"),
                           (axes[1], "cycles", "speed-up in cycles (dense / non-structured)")):
        for plat, c in data["curves"].items():
            base = data["reference"][plat][key]
            sp = [base / v for v in c[key]]
            line, = ax.plot(ratios, sp, marker="o", ms=3)
            lines[plat] = line
            be = data["breakeven"][plat].get(f"{key}_vs_dense")
            if be is not None:
                ax.axvline(be, color=line.get_color(), ls=":", lw=1)
                ax.plot([be], [1.0], marker="x", color=line.get_color(), ms=8)
        measured = measured if measured is not None else curves.get("cpu_sweep")
        if measured and key == "cycles":
            lines["CPU measured (CSR)"], = ax.plot([m["ratio"] for m in measured],
                                                   [m["csr_speedup"] for m in measured], "k--", marker="s")
            lines["ideal 1/(1-r)"], = ax.plot([m["ratio"] for m in measured], [m["ideal_speedup"] for m in measured],
                                              color="0.6", lw=1)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
        ax.set_xlabel("non-structured pruning ratio")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    n = _legend_below(fig, list(lines.values()), list(lines), min(6, len(lines)))
    _title(fig, f"Non-structured sparsity vs the dense model on each platform's dense counterpart, {bits}-bit "
                "weights (x: break-even)")
    return _save(fig, out / "speedup_vs_ratio.png", n)


def pareto(points: list[dict], out: Path) -> Path:
    platforms = list(dict.fromkeys(p["platform"] for p in points))
    fig, axes = _grid(len(platforms))
    seen = {}
    for ax, plat in zip(axes, platforms):
        pts = [p for p in points if p["platform"] == plat]
        for s in dict.fromkeys(p["structure"] for p in pts):
            sp = [p for p in pts if p["structure"] == s]
            seen[s] = ax.scatter([p["energy_pj"] / 1e6 for p in sp], [p["val_accuracy"] * 100 for p in sp],
                                 color=COLORS.get(s, "k"), marker=MARKERS.get(s, "o"), s=20)
        front, best = [], -1.0
        for p in sorted(pts, key=lambda p: p["energy_pj"]):
            if p["val_accuracy"] > best:
                front.append(p)
                best = p["val_accuracy"]
        ax.step([p["energy_pj"] / 1e6 for p in front], [p["val_accuracy"] * 100 for p in front], where="post",
                color="k", lw=0.8)
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        ax.set_title(plat, fontsize=10)
        ax.set_xlabel("energy (uJ)", fontsize=8)
        ax.set_ylabel("val. accuracy (%)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.tick_params(axis="x", rotation=30)
    n = _legend_below(fig, list(seen.values()), list(seen), min(7, len(seen)))
    _title(fig, "Accuracy vs energy: every probed pruning run, Pareto front in black")
    return _save(fig, out / "pareto.png", n)


def sim_vs_measured(rows: list[dict], out: Path) -> Path:
    """Colour = platform, marker = structure (no text labels to overprint)."""
    cpu = {r["structure"]: r for r in rows if r["kind"] == "cpu"}
    sim = [r for r in rows if r["kind"] not in ("cpu", "gpu") and r["structure"] in cpu
           and r.get("speedup_vs_dense")]
    fig = Figure(figsize=(7.5, 6.2))
    ax = fig.subplots()
    platforms = list(dict.fromkeys(r["platform"] for r in sim))
    palette = [f"C{i}" for i in range(10)]
    for i, plat in enumerate(platforms):
        for r in (r for r in sim if r["platform"] == plat):
            ax.scatter(cpu[r["structure"]]["speedup_vs_dense"], r["speedup_vs_dense"], s=30,
                       color=palette[i % 10], marker=MARKERS.get(r["structure"], "o"))
    values = [v for r in sim for v in (r["speedup_vs_dense"], cpu[r["structure"]]["speedup_vs_dense"]) if v > 0]
    lo, hi = (min(values) / 1.5, max(values) * 1.5) if values else (0.1, 10)
    ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis)
    _log_axis(ax.yaxis)
    ax.set_xlabel("measured CPU speedup vs dense")
    ax.set_ylabel("simulated speedup vs dense")
    ax.grid(alpha=0.3)
    structures = list(dict.fromkeys(r["structure"] for r in sim))
    handles = ([Patch(color=palette[i % 10]) for i in range(len(platforms))]
               + [ax.scatter([], [], color="k", marker=MARKERS.get(s, "o")) for s in structures])
    n = _legend_below(fig, handles, platforms + structures, 5)
    _title(fig, "Simulated accelerators vs measured CPU: colour = platform, marker = structure (dotted: equal)")
    return _save(fig, out / "sim_vs_measured.png", n)


def _cell_color(rel: float) -> tuple[float, float, float]:
    """Green below the dense cost, red above, white at 1 (log scale, saturating at 8x either way)."""
    x = max(-1.0, min(1.0, math.log(rel) / math.log(8))) if rel > 0 else 0.0
    g = (0.40, 0.74, 0.45)
    r = (0.86, 0.38, 0.35)
    c = g if x < 0 else r
    a = abs(x)
    return tuple(1 - a * (1 - v) for v in c)


def structure_matrix(m: CostMatrix, out: Path) -> Path:
    """Structure x platform: cost relative to dense (big number) and to the best structured model (small), the
    winner starred and boxed, ties starred, validation-only models hatched, missing ones '-'."""
    nrow, ncol = len(m.structures), len(m.platforms)
    fig = Figure(figsize=(1.25 * ncol + 2.6, 0.62 * nrow + 2.3))
    ax = fig.subplots()
    for i, s in enumerate(m.structures):
        for j, p in enumerate(m.platforms):
            cell = m.cells.get((s, p))
            y = nrow - 1 - i
            if cell is None:
                ax.add_patch(Rectangle((j, y), 1, 1, facecolor="0.93", edgecolor="white"))
                ax.text(j + 0.5, y + 0.5, "-", ha="center", va="center", color="0.5")
                continue
            ax.add_patch(Rectangle((j, y), 1, 1, facecolor=_cell_color(cell.vs_dense), edgecolor="white",
                                   hatch="///" if cell.flagged else None))
            star = "*" if cell.winner else ""
            ax.text(j + 0.5, y + 0.6, f"{cell.vs_dense:.2f}{star}", ha="center", va="center", fontsize=10,
                    fontweight="bold" if cell.winner else "normal")
            if cell.vs_best_structured is not None:
                ax.text(j + 0.5, y + 0.25, f"{cell.vs_best_structured:.2f} vs best s.", ha="center", va="center",
                        fontsize=6.5, color="0.25")
            if cell.winner:
                ax.add_patch(Rectangle((j + 0.03, y + 0.03), 0.94, 0.94, fill=False, lw=2,
                                       ls="--" if cell.tied else "-", edgecolor="k"))
    ax.set_xlim(0, ncol)
    ax.set_ylim(0, nrow)
    ax.set_xticks([j + 0.5 for j in range(ncol)])
    ax.set_xticklabels([f"{p}\n({m.metrics[p]})" for p in m.platforms], fontsize=8, rotation=30, ha="right")
    ax.set_yticks([nrow - 1 - i + 0.5 for i in range(nrow)])
    ax.set_yticklabels([m.row_labels[s] for s in m.structures], fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    _title(fig, m.title, 90)
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(m.caption, 150)), fontsize=7, va="bottom")
    return _save(fig, out / "structure_matrix.png", legend_rows=1 + len(m.caption) // 150)
