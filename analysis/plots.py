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
from matplotlib.ticker import MaxNLocator, NullFormatter

from .matrix import CostMatrix

COLORS = {"dense": "#7f7f7f", "nonstructured": "#d62728", "filter": "#1f77b4", "channel": "#2ca02c",
          "column": "#9467bd", "block": "#ff7f0e", "nm": "#17becf", "heads": "#bcbd22",
          "neurons": "#8c564b", "mixed": "#000000"}
MARKERS = {"dense": "o", "nonstructured": "X", "filter": "s", "channel": "^", "column": "v", "block": "D",
           "nm": "P", "heads": "h", "neurons": "p", "mixed": "*"}
ENERGY_PARTS = [("energy_dram_pj", "DRAM", "#4e79a7"), ("energy_sram_pj", "SRAM", "#f28e2b"),
                ("energy_rf_pj", "RF", "#e15759"), ("energy_mac_pj", "MAC", "#76b7b2"),
                ("energy_index_pj", "index", "#59a14f"), ("energy_clock_pj", "clock", "#b07aa1")]
# index has one colour in both breakdowns; no other colour is used in both with two meanings (issue 25, finding 7)
STORAGE_PARTS = [("storage_weight_bits", "weights", "#bab0ac"), ("storage_index_bits", "index", "#59a14f"),
                 ("storage_padding_bits", "padding", "#edc948"), ("storage_pointer_bits", "pointers", "#9c755f")]
# platforms (lines, scatter colours) never take a structure's colour: 'blue' is filter in every figure
PLATFORM_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#000080",
                    "#8b0000", "#e377c2")


def platform_colors(platforms) -> dict[str, str]:
    """One colour per platform, by its order in the comparison (the same in every figure that colours platforms)."""
    return {p: PLATFORM_PALETTE[i % len(PLATFORM_PALETTE)] for i, p in enumerate(dict.fromkeys(platforms))}


def log_range(trusted: list[float], margin: float = 1.3) -> tuple[float, float] | None:
    """A log axis's limits from the values that may set it (untrusted timings and failed probes may not), widened
    by ``margin`` either side; None when there is none."""
    vals = [v for v in trusted if v and v > 0 and math.isfinite(v)]
    return (min(vals) / margin, max(vals) * margin) if vals else None


def clipped(values: list[float], lo: float, hi: float) -> list[float]:
    """Values pinned inside [lo, hi] (drawn at the axis's edge with a marker that says so)."""
    return [min(max(v, lo), hi) for v in values]


def accuracy_floor_pct(points: list[dict], tolerance_pp: float) -> float | None:
    """The accuracy axis's lower limit (%): the lowest probe within ``max(10 x tolerance, 5)`` pp of dense sets it,
    a failed probe far below does not (it is drawn at the floor, marked); None: no dense point."""
    dense = [p["val_accuracy"] * 100 for p in points if p["structure"] == "dense"]
    if not dense:
        return None
    floor = max(dense) - max(10 * tolerance_pp, 5.0)
    near = [p["val_accuracy"] * 100 for p in points if p["val_accuracy"] * 100 >= floor]
    return min(near) - 0.1 * max(10 * tolerance_pp, 5.0)
DPI = 110


def _grid(n: int, width: float = 3.6, height: float = 3.2):
    cols = min(4, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.9))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


TITLE_PT = 11
LEGEND_ROW_IN = 0.22    # one row of an 8 pt figure legend, inches


def _title(fig: Figure, text: str) -> None:
    """The figure title, wrapped to the figure's width (never clipped at its edges)."""
    fig.suptitle("\n".join(textwrap.wrap(text, max(40, int(fig.get_figwidth() * 72 / (TITLE_PT * 0.56))))),
                 fontsize=TITLE_PT)


def _save(fig: Figure, path: Path, bottom_in: float = 0.0) -> Path:
    """Lay out above ``bottom_in`` inches kept for figure legends/captions; tight_layout itself keeps the axes
    below the figure title (suptitle)."""
    for _ in range(2):   # a second pass settles long tick labels
        fig.tight_layout(rect=(0, bottom_in / fig.get_figheight(), 1, 1))
    fig.savefig(path, dpi=DPI)
    return path


def _legend_below(fig: Figure, handles, labels, ncol: int) -> float:
    """One figure legend under the axes (never over the data); returns the inches it needs."""
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    return 0.15 + LEGEND_ROW_IN * -(-len(labels) // ncol)


LOG_SUBS = ((1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,))


def log_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Tick values for a log axis over [lo, hi]: the densest of the 1-2-5-like series with at most ``most``
    ticks, or a few evenly spaced values when the range is too narrow for three."""
    if not (0 < lo < hi):
        return []
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for subs in LOG_SUBS:
        ticks = [m * 10.0 ** e for e in decades for m in subs if lo <= m * 10.0 ** e <= hi]
        if len(ticks) <= most:
            break
    if len(ticks) >= 3:
        return ticks
    return [float(t) for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]


def _log_axis(axis) -> None:
    """Plain labels (0.5, 2, 100) at a few ticks for the axis's current range; unlabelled minor ticks."""
    ticks = log_ticks(*sorted(axis.get_view_interval()))
    axis.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    axis.set_minor_formatter(NullFormatter())


def _stacked(rows, parts, path: Path, title: str, unit: str, scale: float) -> Path:
    sim = [r for r in rows if r["kind"] not in ("cpu", "gpu")]
    platforms = list(dict.fromkeys(r["platform"] for r in sim))
    fig, axes = _grid(len(platforms))
    flagged = any(r.get("accuracy_status") == "validation only" for r in sim)
    for ax, plat in zip(axes, platforms):
        pr = [r for r in sim if r["platform"] == plat]
        # a model matched on validation only is marked here too, not only in the matrix
        names = [r["structure"] + (" (val. only)" if r.get("accuracy_status") == "validation only" else "")
                 for r in pr]
        bottom = [0.0] * len(pr)
        for key, label, color in parts:
            vals = [(r.get(key) or 0) / scale for r in pr]
            ax.bar(names, vals, bottom=bottom, color=color, label=label)
            bottom = [b + v for b, v in zip(bottom, vals)]
        index_key = next(k for k, label, _ in parts if label == "index")
        for x, (r, total) in enumerate(zip(pr, bottom)):   # a thin index segment is named by its share
            share = (r.get(index_key) or 0) / scale / total if total else 0.0
            if share:
                ax.text(x, total, f"idx {share:.0%}" if share >= 0.005 else "idx <1%", ha="center",
                        va="bottom", fontsize=6, color=dict((lb, c) for _, lb, c in parts)["index"])
        ax.set_ylim(0, max(bottom + [1e-12]) * 1.15)
        ax.set_title(plat, fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.tick_params(axis="y", labelsize=8)
    handles = [Patch(color=c) for _, _, c in parts]
    legend_in = _legend_below(fig, handles, [label for _, label, _ in parts], len(parts))
    _title(fig, title + "; idx: the index share above each bar" + ("; (val. only): matched on validation only, "
                                                                  "never a winner" if flagged else ""))
    return _save(fig, path, legend_in)


def energy_breakdown(rows, out: Path) -> Path:
    return _stacked(rows, ENERGY_PARTS, out / "energy_breakdown.png",
                    "Energy per inference at matched accuracy (DRAM / SRAM / RF / MAC / index / clock)", "uJ", 1e6)


def storage(rows, out: Path) -> Path:
    return _stacked(rows, STORAGE_PARTS, out / "storage.png",
                    "Weight storage in each platform's format (values / index / padding / pointers)", "kbit", 1e3)


def breakeven(curves: dict, out: Path, measured: list[dict] | None = None, bits: int | None = None) -> Path:
    """Non-structured cost relative to dense vs pruning ratio, per platform, at ``bits``-bit weights (the first
    width in ``curves`` when not given or not there); break-even marked, CPU points timed on a loaded machine
    hollow."""
    ratios = curves["ratios"]
    bits = str(bits) if str(bits) in curves["bits"] else next(iter(curves["bits"]))
    data = curves["bits"][bits]
    fig = Figure(figsize=(12, 5.4))
    axes = fig.subplots(1, 2)
    lines = {}
    colour = platform_colors(data["curves"])
    clipped_any = False
    for ax, key, label in ((axes[0], "energy_pj", "energy saving (dense / non-structured)"),
                           (axes[1], "cycles", "speed-up in cycles (dense / non-structured)")):
        for plat, c in data["curves"].items():
            base = data["reference"][plat][key]
            sp = [base / v for v in c[key]]
            line, = ax.plot(ratios, sp, marker="o", ms=3, color=colour[plat])
            lines[plat] = line
            be = data["breakeven"][plat].get(f"{key}_vs_dense")
            if be is not None:
                ax.axvline(be, color=line.get_color(), ls=":", lw=1)
                ax.plot([be], [1.0], marker="x", color=line.get_color(), ms=8)
        measured = measured if measured is not None else curves.get("cpu_sweep")
        sim_values = [base / v for plat, c in data["curves"].items()
                      for base in [data["reference"][plat][key]] for v in c[key] if v]
        trusted = [m for m in (measured or []) if m.get("timing_trusted") is not False]
        lo, hi = log_range(sim_values + [1.0] + ([m["csr_speedup"] for m in trusted] if key == "cycles" else []))
        if measured and key == "cycles":
            lines["CPU measured (CSR)"], = ax.plot([m["ratio"] for m in trusted],
                                                   [m["csr_speedup"] for m in trusted], "k--", marker="s")
            loaded = [m for m in measured if m.get("timing_trusted") is False]
            if loaded:   # shown, pinned inside the axis (they do not set it): '^'/'v' at the edge when outside
                ys = [m["csr_speedup"] for m in loaded]
                for y, at in zip(ys, clipped(ys, lo, hi)):
                    clipped_any |= y != at
                lines["CPU, timed on a loaded machine (untrusted; at the edge: beyond the axis)"], = ax.plot(
                    [m["ratio"] for m in loaded], clipped(ys, lo, hi), ls="none", marker="s", mfc="white",
                    mec="k", ms=7)
            lines["ideal 1/(1-r)"], = ax.plot([m["ratio"] for m in measured], [m["ideal_speedup"] for m in measured],
                                              color="0.6", lw=1)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylim(lo, hi)
        _log_axis(ax.yaxis)
        ax.set_xlabel("non-structured pruning ratio")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    legend_in = _legend_below(fig, list(lines.values()), list(lines), min(6, len(lines)))
    _title(fig, f"Non-structured sparsity vs the dense model on each platform's dense counterpart, "
                f"{bits}-bit weights (x: break-even)"
           + ("; untrusted CPU timings beyond the axis drawn at its edge" if clipped_any else ""))
    return _save(fig, out / "speedup_vs_ratio.png", legend_in)


def pareto(points: list[dict], out: Path, tolerance_pp: float = 1.0) -> Path:
    """Validation accuracy vs energy per platform; the accuracy axis spans dense down to the probes within
    ``max(10 x tolerance, 5)`` pp of it (``accuracy_floor_pct``): a failed probe far below sits at the floor as 'v'."""
    platforms = list(dict.fromkeys(p["platform"] for p in points))
    fig, axes = _grid(len(platforms))
    seen = {}
    floor = accuracy_floor_pct(points, tolerance_pp)
    below = [p for p in points if floor is not None and p["val_accuracy"] * 100 < floor]
    for ax, plat in zip(axes, platforms):
        pts = [p for p in points if p["platform"] == plat]
        for s in dict.fromkeys(p["structure"] for p in pts):
            sp = [p for p in pts if p["structure"] == s]
            acc = [p["val_accuracy"] * 100 for p in sp]
            low = [a < floor for a in acc] if floor is not None else [False] * len(acc)
            seen[s] = ax.scatter([p["energy_pj"] / 1e6 for p, lw in zip(sp, low) if not lw],
                                 [a for a, lw in zip(acc, low) if not lw],
                                 color=COLORS.get(s, "k"), marker=MARKERS.get(s, "o"), s=20)
            if any(low):
                ax.scatter([p["energy_pj"] / 1e6 for p, lw in zip(sp, low) if lw], [floor] * sum(low),
                           color=COLORS.get(s, "k"), marker="v", s=28)
        front, best = [], -1.0
        for p in sorted(pts, key=lambda p: p["energy_pj"]):
            if p["val_accuracy"] > best:
                front.append(p)
                best = p["val_accuracy"]
        ax.step([p["energy_pj"] / 1e6 for p in front], [p["val_accuracy"] * 100 for p in front], where="post",
                color="k", lw=0.8)
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        if floor is not None:
            top = max(p["val_accuracy"] * 100 for p in points)
            ax.set_ylim(floor - 0.02 * (top - floor + 1e-9), top + 0.05 * (top - floor + 1e-9))
        ax.set_title(plat, fontsize=10)
        ax.set_xlabel("energy (uJ)", fontsize=8)
        ax.set_ylabel("val. accuracy (%)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.tick_params(axis="x", rotation=30)
    legend_in = _legend_below(fig, list(seen.values()), list(seen), min(7, len(seen)))
    n_below = len({(p["structure"], p["ratio"]) for p in below})
    _title(fig, "Accuracy vs energy: every probed pruning run, Pareto front in black"
           + (f"; v: {n_below} probe(s) below {floor:.1f}% (failed, far from dense) drawn at the floor"
              if n_below else ""))
    return _save(fig, out / "pareto.png", legend_in)


def sim_vs_measured(rows: list[dict], out: Path) -> Path:
    """Colour = platform, marker = structure (no text labels to overprint)."""
    cpu = {r["structure"]: r for r in rows if r["kind"] == "cpu"}
    sim = [r for r in rows if r["kind"] not in ("cpu", "gpu") and r["structure"] in cpu
           and r.get("speedup_vs_dense")]
    fig = Figure(figsize=(8.5, 6.6))
    ax = fig.subplots()
    platforms = list(dict.fromkeys(r["platform"] for r in rows if r["kind"] not in ("cpu", "gpu")))
    colour = platform_colors(platforms)
    platforms = [p for p in platforms if any(r["platform"] == p for r in sim)]
    trusted = [cpu[s]["speedup_vs_dense"] for s in cpu if cpu[s].get("timing_trusted") is not False]
    lo, hi = log_range([r["speedup_vs_dense"] for r in sim] + trusted, 1.5) or (0.1, 10)
    for plat in platforms:
        for r in (r for r in sim if r["platform"] == plat):
            hollow = cpu[r["structure"]].get("timing_trusted") is False   # untrusted: hollow, pinned inside
            ax.scatter(clipped([cpu[r["structure"]]["speedup_vs_dense"]], lo, hi), r["speedup_vs_dense"], s=30,
                       facecolors="none" if hollow else colour[plat], edgecolors=colour[plat],
                       marker=MARKERS.get(r["structure"], "o"))
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
    # two legends side by side under the axes: colour keys the platform, marker the structure
    ncol = 3
    fig.legend([Patch(color=colour[p]) for p in platforms], platforms, loc="lower left",
               bbox_to_anchor=(0.01, 0.0), ncol=ncol, fontsize=8, frameon=False, title="platform (colour)",
               title_fontsize=8)
    fig.legend([ax.scatter([], [], color="k", marker=MARKERS.get(s, "o")) for s in structures], structures,
               loc="lower right", bbox_to_anchor=(0.99, 0.0), ncol=ncol, fontsize=8, frameon=False,
               title="structure (marker)", title_fontsize=8)
    rows = max(-(-len(platforms) // ncol), -(-len(structures) // ncol)) + 1
    loaded = any(r.get("timing_trusted") is False for r in cpu.values())
    _title(fig, "Simulated accelerators vs measured CPU, speed-up over dense (dotted: equal)"
           + ("; hollow: CPU timed on a loaded machine (untrusted: it does not set the axis; beyond it, drawn "
              "at its edge)" if loaded else ""))
    return _save(fig, out / "sim_vs_measured.png", 0.15 + LEGEND_ROW_IN * rows)


def _cell_color(rel: float) -> tuple[float, float, float]:
    """Green below the dense cost, red above, white at 1 (log scale, saturating at 8x either way)."""
    x = max(-1.0, min(1.0, math.log(rel) / math.log(8))) if rel > 0 else 0.0
    g = (0.40, 0.74, 0.45)
    r = (0.86, 0.38, 0.35)
    c = g if x < 0 else r
    a = abs(x)
    return tuple(1 - a * (1 - v) for v in c)


def _rel(x: float) -> str:
    """A cost ratio in at most 4 characters' worth of digits: 0.52, 3.41, 12.3, 1155."""
    return f"{x:.2f}" if x < 10 else f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def structure_matrix(m: CostMatrix, out: Path) -> Path:
    """Structure x platform: cost relative to dense (big number) and to the best structured model (small), the
    winner starred and boxed (dashed on a tie), validation-only models hatched, missing ones '-'."""
    nrow, ncol = len(m.structures), len(m.platforms)
    width_in = 1.25 * ncol + 2.9
    caption = textwrap.wrap(m.caption, max(60, int(width_in * 72 / (7 * 0.62))))
    caption_in = 0.1 + len(caption) * 7 * 1.3 / 72
    fig = Figure(figsize=(width_in, 0.62 * nrow + 1.6 + caption_in))
    ax = fig.subplots()
    for i, s in enumerate(m.structures):
        for j, p in enumerate(m.platforms):
            cell = m.cells.get((s, p))
            y = nrow - 1 - i
            if cell is None:
                ax.add_patch(Rectangle((j, y), 1, 1, facecolor="0.93", edgecolor="white"))
                ax.text(j + 0.5, y + 0.5, "-", ha="center", va="center", color="0.4", fontsize=11)
                continue
            face = "0.95" if s == "dense" else _cell_color(cell.vs_dense)
            ax.add_patch(Rectangle((j, y), 1, 1, facecolor=face, edgecolor="white", lw=1.5))
            box = None
            if cell.flagged:   # grey hatching over the colour; the numbers on a light box stay legible
                ax.add_patch(Rectangle((j, y), 1, 1, fill=False, hatch="///", edgecolor="0.45", lw=0))
                box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}
            mark = ("*" if cell.winner else "") + ("?" if cell.untrusted else "")
            ax.text(j + 0.5, y + 0.6, f"{_rel(cell.vs_dense)}{mark}", ha="center", va="center", fontsize=10,
                    fontweight="bold" if cell.winner else "normal", bbox=box,
                    style="italic" if cell.untrusted else "normal")
            if cell.vs_best_structured is not None:
                ax.text(j + 0.5, y + 0.22, f"{_rel(cell.vs_best_structured)} vs best s.", ha="center",
                        va="center", fontsize=6.5, color="0.2", bbox=box)
            if cell.winner:
                ax.add_patch(Rectangle((j + 0.04, y + 0.04), 0.92, 0.92, fill=False, lw=2,
                                       ls="--" if cell.tied else "-", edgecolor="k"))
    ax.set_xlim(0, ncol)
    ax.set_ylim(0, nrow)
    ax.set_xticks([j + 0.5 for j in range(ncol)])
    untrusted = {p for (_, p), c in m.cells.items() if c.untrusted}
    ax.set_xticklabels([f"{p}\n({m.metrics[p]}{', untrusted' if p in untrusted else ''}"
                        f"{', unvalidated' if p in m.unvalidated else ''})" for p in m.platforms],
                       fontsize=8, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_yticks([nrow - 1 - i + 0.5 for i in range(nrow)])
    ax.set_yticklabels([m.row_labels[s] for s in m.structures], fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    _title(fig, m.title)
    fig.text(0.01, 0.01, "\n".join(caption), fontsize=7, va="bottom")
    return _save(fig, out / "structure_matrix.png", caption_in)
