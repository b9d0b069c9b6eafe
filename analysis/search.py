"""Searches against an accuracy tolerance: the matched ratio of one structure, the scale of a per-layer mix.

As in the ADMM papers, accuracy is assumed to fall (noisily) as the ratio
rises.  ``matched_ratio`` first walks a coarse ladder of ratios upward from the
lowest until the loss exceeds the tolerance, then bisects between the last
passing and the first failing ratio (between 0 and the lowest rung when even
that one fails, so a ladder may start high without losing weak structures).  ``scale_search`` does the same for a
common scale of per-layer ratios (1 first, then bisection on (0, 1)).
``evaluate`` is any callable (a full prune + retrain run, or a synthetic curve
in tests); every call is recorded so a report can show the whole curve.

Guarantees, for any evaluator (monotone or noisy): the returned point was
probed and passed the tolerance, and it lies below every probed failure (each
new probe lies between the highest pass and the lowest failure so far).  On a
curve whose loss crosses the tolerance with slope k (loss per unit ratio) and
noise of amplitude a < tolerance, every pass lies below boundary + a/k and every
failure above boundary - a/k, so ``matched_ratio`` returns a ratio within
a/k + (ladder gap) / 2**bisections of the boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

EPS = 1e-12


def loss_pp(reference: float, accuracy: float) -> float:
    """Accuracy loss in percentage points: ``(reference - accuracy) * 100`` (fractions in); positive = worse than
    the reference (dense).  The one sign convention of compare's log, report, results.csv and summary.json."""
    return (reference - accuracy) * 100


def loss_within(baseline: float, accuracy: float, tolerance: float) -> bool:
    """``baseline - accuracy <= tolerance`` (fractions), with a float guard."""
    return baseline - accuracy <= tolerance + EPS


@dataclass(frozen=True)
class SearchPoint:
    ratio: float
    accuracy: float
    within: bool


@dataclass(frozen=True)
class SearchResult:
    ratio: float | None            # highest ratio within tolerance (None: none passed)
    accuracy: float | None
    points: tuple[SearchPoint, ...] = field(default_factory=tuple)

    @property
    def evaluations(self) -> int:
        return len(self.points)


def _recorder(evaluate: Callable[[float], float], baseline: float, tolerance: float):
    """(probe(x) -> within, points): evaluates each x once, in call order."""
    points: list[SearchPoint] = []
    cache: dict[float, float] = {}

    def probe(x: float) -> bool:
        if x not in cache:
            cache[x] = float(evaluate(x))
            points.append(SearchPoint(x, cache[x], loss_within(baseline, cache[x], tolerance)))
        return loss_within(baseline, cache[x], tolerance)
    return probe, points, cache


def matched_ratio(evaluate: Callable[[float], float], baseline: float, tolerance: float,
                  ladder: Sequence[float] = (0.5, 0.75, 0.9, 0.95), bisections: int = 2,
                  max_ratio: float = 0.99) -> SearchResult:
    """Highest ratio r with ``baseline - evaluate(r) <= tolerance`` (accuracies and tolerance as fractions)."""
    if not ladder or any(not 0 <= r < 1 for r in ladder) or list(ladder) != sorted(ladder):
        raise ValueError(f"ladder={list(ladder)}; allowed: increasing ratios in [0, 1)")
    raw, points, cache = _recorder(evaluate, baseline, tolerance)

    def probe(r: float) -> bool:
        return raw(round(min(r, max_ratio), 6))

    lo, hi = None, None
    for r in ladder:
        if probe(r):
            lo = r
        else:
            hi = r
            break
    if lo is None:  # even the lowest rung failed: bisect below it; None if no probe passes
        for _ in range(bisections):
            mid = round(hi / 2 if lo is None else (lo + hi) / 2, 6)
            if probe(mid):
                lo = mid
            else:
                hi = mid
        if lo is None:
            return SearchResult(None, None, tuple(points))
        return SearchResult(lo, cache[lo], tuple(points))
    if hi is None:  # every ladder step passed: try the cap
        hi = max_ratio
        if probe(hi):
            return SearchResult(round(hi, 6), cache[round(hi, 6)], tuple(points))
    for _ in range(bisections):
        mid = (lo + hi) / 2
        if probe(mid):
            lo = mid
        else:
            hi = mid
    lo = round(lo, 6)
    return SearchResult(lo, cache[lo], tuple(points))


@dataclass(frozen=True)
class ScaleResult:
    scale: float | None            # highest probed scale within tolerance (None: none passed)
    accuracy: float | None
    points: tuple[SearchPoint, ...] = field(default_factory=tuple)   # ``ratio`` holds the scale


def scale_search(evaluate: Callable[[float], float], baseline: float, tolerance: float,
                 max_probes: int = 4) -> ScaleResult:
    """Highest scale s in (0, 1] with ``baseline - evaluate(s) <= tolerance``: s = 1, then bisection on (0, 1).

    At most ``max_probes`` calls (each may be a full prune); the result is a probed scale that passed, or None."""
    if max_probes < 1:
        raise ValueError(f"max_probes={max_probes}; allowed: >= 1")
    probe, points, cache = _recorder(evaluate, baseline, tolerance)
    if probe(1.0):
        return ScaleResult(1.0, cache[1.0], tuple(points))
    lo, hi = 0.0, 1.0
    for _ in range(max_probes - 1):
        mid = round((lo + hi) / 2, 6)
        if probe(mid):
            lo = mid
        else:
            hi = mid
    return ScaleResult(lo or None, cache.get(lo), tuple(points))
