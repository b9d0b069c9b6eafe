"""The report's first picture, as data: structure x platform, cost relative to dense and to the best structured
model, the winner and ties marked (from the verdicts), validation-only models flagged.

Pure: ``cost_matrix(summary)`` reads a compare summary (``summary.json``) and nothing else (an older summary
without the rows' ``zero_handling``: the preset of the platform's name);
``analysis.plots.structure_matrix`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .verdict import STRUCTURED, label

COST_KEY = {"energy": "energy_pj", "latency": "latency_s", "cycles": "cycles"}


@dataclass(frozen=True)
class Cell:
    vs_dense: float                    # the model's cost / the dense model's, same platform (< 1: cheaper)
    vs_best_structured: float | None   # / the cheapest matched structured model's (None for dense or none matched)
    winner: bool                       # the verdict's winner, or one of the tied winners
    tied: bool                         # the platform's verdict is a tie
    flagged: bool                      # matched on validation only: never a winner
    untrusted: bool = False            # a measured latency timed on a loaded machine or with dispersed runs


@dataclass(frozen=True)
class CostMatrix:
    structures: tuple[str, ...]
    platforms: tuple[str, ...]
    metrics: dict[str, str]            # platform -> the cost compared there (energy; latency when measured)
    cells: dict[tuple[str, str], Cell]
    row_labels: dict[str, str]
    title: str
    caption: str
    unvalidated: frozenset = frozenset()   # platforms whose compared cost no reference reproduces
    zeros: dict = None                     # platform -> 'skips' | 'gates' | 'computes' zeros; None: unknown


ZERO_MARKS = {"skips": ("\u2298", "skips zeros: its engine does no work for a zero weight (or activation)"),
              "gates": ("\u25d0", "gates zeros: a zero operand's MAC still takes its cycle, at a fraction of the "
                                  "energy"),
              "computes": ("", "zeros are computed like any other value")}


def zero_handling(row: dict) -> str | None:
    """'skips', 'gates' or 'computes': what a platform's engine does with zeros, from the row's
    ``zero_handling`` column (written by ``report_data``); a summary without it: the preset of the same name, else
    None (measured platforms: None)."""
    mode = row.get("zero_handling")
    if mode is None and not str(row.get("engine", "")).startswith("measured"):
        from accel_models.hardware import HardwareError, load_accelerator, preset_names

        if row["platform"] in preset_names():
            try:
                mode = zero_mode(load_accelerator(row["platform"]))
            except HardwareError:
                return None
    return mode


def zero_mode(a) -> str:
    """An accelerator's zero handling in the report's three words (a sparse engine skips zero weights)."""
    if a.pe.sparse or a.pe.zero_handling == "skipping":
        return "skips"
    return "gates" if a.pe.zero_handling == "gating" else "computes"


def _interval(test: dict | None) -> str:
    """The test accuracy with its 95% interval and n, on a second line; '' when the summary has none."""
    test = test or {}
    if not {"accuracy", "ci95", "n"} <= set(test):
        return ""
    lo, hi = (100 * x for x in test["ci95"])
    return f"\ntest {test['accuracy'] * 100:.2f}% [{lo:.1f}, {hi:.1f}], n={test['n']}"


def _row_label(s: str, r: dict | None, dense_test: dict | None = None) -> str:
    if s == "dense":
        return f"dense{_interval(dense_test)}"
    if r is None or r.get("ratio") is None:
        return f"{label(s)}: no ratio within the tolerance"
    comp = f" ({r['compression']:.1f}x)" if r.get("compression") else ""
    interval = _interval(r.get("test"))
    flag = (" (validation only)" if r.get("status") == "validation only"   # summaries made before the paired test
            else " (test flag)" if r.get("test_over_tolerance") else "")
    return f"{label(s)} {r['ratio']:.3g}{comp}{flag}{interval}"


def cost_matrix(summary: dict) -> CostMatrix:
    structures = ("dense", *summary["structures"])
    verdicts = {v["platform"]: v for v in summary["verdicts"]}
    platforms = tuple(verdicts)
    metrics = {p: v.get("metric", "energy") for p, v in verdicts.items()}
    flagged = {s for s, r in summary["structures"].items() if r.get("status") == "validation only"}
    cost = {(r["structure"], r["platform"]): r.get(COST_KEY[metrics[r["platform"]]])
            for r in summary["rows"] if r["platform"] in verdicts}
    untrusted = {(r["structure"], r["platform"]) for r in summary["rows"] if r.get("timing_trusted") is False}
    cells = {}
    for p in platforms:
        dense = cost.get(("dense", p))
        matched_s = [cost[(s, p)] for s in summary["structures"] if s in STRUCTURED and s not in flagged
                     and cost.get((s, p))]
        best_s = min(matched_s) if matched_s else None
        v = verdicts[p]
        winners = set(v.get("tied") or []) | ({v["winner"]} if v.get("winner") else set())
        if v.get("declared") is False or any(q == p for _, q in untrusted):
            winners = set()   # untrusted timings: shown, never boxed as a winner
        for s in structures:
            c = cost.get((s, p))
            if not c or not dense:
                continue
            cells[(s, p)] = Cell(c / dense, None if s == "dense" or best_s is None else c / best_s, s in winners,
                                 len(winners) > 1, s in flagged,
                                 (s, p) in untrusted or (metrics[p] != "energy" and ("dense", p) in untrusted))
    tie = summary.get("config", {}).get("tie_threshold", 0.05)
    budget = summary.get("budget", "uniform")
    caption = (f"Big number: cost relative to the dense model on the same platform (energy on simulated platforms, "
               f"measured latency on CPU/GPU; green = cheaper). Small: relative to the cheapest matched structured "
               f"model. *, boxed: the winner; dashed box: a tie (within {tie:.0%}); hatched: matched on validation "
               "only (never a winner); '-': no matched model. Costs are model point estimates (docs/validation.md "
               "says how far each is validated); accuracy intervals are on the left.")
    unvalidated = frozenset(p for p, v in verdicts.items() if metrics[p] in (v.get("unvalidated") or ()))
    if unvalidated:
        caption += (" unvalidated: the platform's compared cost is a model assumption that no reference reproduces "
                    "(docs/validation.md); its verdict says so.")
    if untrusted & set(cells):
        caption += (" ?: a measured latency (or its dense reference) timed on a loaded machine or with dispersed "
                    "runs; that ratio may not hold on a quiet machine, so no winner is declared there (none boxed).")
    return CostMatrix(structures, platforms, metrics, cells,
                      {s: _row_label(s, summary["structures"].get(s), summary.get("baseline_test"))
                       for s in structures},
                      f"Which structure wins where ({budget} budget, matched accuracy): cost relative to dense",
                      caption, unvalidated,
                      {p: zero_handling(next(r for r in summary["rows"] if r["platform"] == p)) for p in platforms})
