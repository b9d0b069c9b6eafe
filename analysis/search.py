"""Matched-accuracy search: the highest pruning ratio whose accuracy loss stays within tolerance.

As in the ADMM papers, accuracy is assumed to fall (noisily) as the ratio
rises.  The search first walks a coarse ladder of ratios upward from the
lowest until the loss exceeds the tolerance, then bisects between the last
passing and the first failing ratio.  ``evaluate(ratio)`` is any callable
(a full prune + retrain run, or a synthetic curve in tests); every call is
recorded so a report can show the whole curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence


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


def matched_ratio(evaluate: Callable[[float], float], baseline: float, tolerance: float,
                  ladder: Sequence[float] = (0.5, 0.75, 0.9, 0.95), bisections: int = 2,
                  max_ratio: float = 0.99) -> SearchResult:
    """Highest ratio r with ``baseline - evaluate(r) <= tolerance`` (accuracies and tolerance as fractions)."""
    if not ladder or any(not 0 <= r < 1 for r in ladder) or list(ladder) != sorted(ladder):
        raise ValueError(f"ladder={list(ladder)}; allowed: increasing ratios in [0, 1)")
    points: list[SearchPoint] = []
    cache: dict[float, float] = {}

    def probe(r: float) -> bool:
        r = round(min(r, max_ratio), 6)
        if r not in cache:
            cache[r] = float(evaluate(r))
            points.append(SearchPoint(r, cache[r], baseline - cache[r] <= tolerance + 1e-12))
        return baseline - cache[r] <= tolerance + 1e-12

    lo, hi = None, None
    for r in ladder:
        if probe(r):
            lo = r
        else:
            hi = r
            break
    if lo is None:
        return SearchResult(None, None, tuple(points))
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
