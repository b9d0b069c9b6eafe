"""Tiles of tensors whose ranks are sums of loop indices (a convolution's input row is ``q * stride + s``):
projections of operation-space boxes, point sets as unions of boxes, and Timeloop's tile deltas.

Timeloop forms a tensor's tile at a loop as the axis-aligned projection of the operation-space box that
loop and the loops below span (point-set-aahr.cpp), and what a step of the loop moves as the difference of
the new tile and the last one (operation-space.cpp SaveAndSubtractIfSameStride).  A delta is taken only
while the tile keeps stepping by the same translation; a jump (an outer loop advanced) refetches the whole
tile.  The rules were read in NVlabs/timeloop a57318c (Aug 2022), the MICRO 2022 artifact's era.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Box = tuple[tuple[int, ...], tuple[int, ...]]      # (low, high exclusive) per rank


def box_size(b: Box) -> int:
    return math.prod(max(0, h - lo) for lo, h in zip(*b))


def _minus(a: Box, b: Box) -> list[Box]:
    """a - b as boxes, splintered rank by rank (AxisAlignedHyperRectangle::MultiSubtract)."""
    (alo, ahi), (blo, bhi) = a, b
    if any(ahi[r] <= blo[r] or bhi[r] <= alo[r] for r in range(len(alo))):
        return [a]
    out, lo, hi = [], list(alo), list(ahi)
    for r in range(len(alo)):
        if lo[r] < blo[r]:
            out.append((tuple(lo), tuple(hi[:r] + [blo[r]] + hi[r + 1:])))
            lo[r] = blo[r]
        if bhi[r] < hi[r]:
            out.append((tuple(lo[:r] + [bhi[r]] + lo[r + 1:]), tuple(hi)))
            hi[r] = bhi[r]
    return out


def c_round(x: float) -> int:
    """C's round(): halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


@dataclass(frozen=True)
class PointSet:
    """A union of disjoint boxes (Timeloop's multi-AAHR point set)."""

    boxes: tuple[Box, ...] = ()

    @property
    def size(self) -> int:
        return sum(box_size(b) for b in self.boxes)

    def minus(self, other: PointSet) -> PointSet:
        cur = list(self.boxes)
        for b in other.boxes:
            cur = [piece for a in cur for piece in _minus(a, b)]
        return PointSet(tuple(b for b in cur if box_size(b) > 0))

    def shifted(self, by: tuple[int, ...]) -> PointSet:
        return PointSet(tuple((tuple(x + d for x, d in zip(lo, by)), tuple(x + d for x, d in zip(hi, by)))
                              for lo, hi in self.boxes))

    def centroid(self) -> tuple[list[float], int]:
        order = len(self.boxes[0][0]) if self.boxes else 0
        c, total = [0.0] * order, 0
        for lo, hi in self.boxes:
            s = box_size((lo, hi))
            for r in range(order):
                c[r] += (lo[r] + (hi[r] - 1 - lo[r]) / 2.0) * s
            total += s
        return ([x / total for x in c] if total else c), total

    def translation_to(self, other: PointSet, order: int) -> tuple[int, ...]:
        """The rounded centroid difference (zero if either set is empty) (MultiAAHR::GetTranslation)."""
        ca, ta = self.centroid()
        cb, tb = other.centroid()
        if ta and tb:
            return tuple(c_round(cb[r] - ca[r]) for r in range(order))
        return (0,) * order


@dataclass(frozen=True)
class Projection:
    """A tensor's ranks, each a sum of (dimension index, coefficient) terms."""

    ranks: tuple[tuple[tuple[int, int], ...], ...]

    @property
    def order(self) -> int:
        return len(self.ranks)

    def dims(self) -> frozenset[int]:
        return frozenset(d for rank in self.ranks for d, _ in rank)

    def box(self, low, high) -> Box:
        """The projection of the operation-space box [low, high] (inclusive)."""
        return (tuple(sum(c * low[d] for d, c in rank) for rank in self.ranks),
                tuple(sum(c * high[d] for d, c in rank) + 1 for rank in self.ranks))

    def points(self, low, high) -> PointSet:
        b = self.box(low, high)
        return PointSet((b,) if box_size(b) > 0 else ())

    def size(self, high) -> int:
        """Elements of the tile the box [0, high] spans."""
        return box_size(self.box([0] * len(high), high))


@dataclass
class DeltaState:
    """One loop's memory of one tensor: the last tile it produced and the translation between the last two."""

    last: PointSet = PointSet()
    translation: tuple[int, ...] | None = None

    def delta(self, cur: PointSet, order: int) -> PointSet:
        """The new points of ``cur`` (all of it after a jump), remembering ``cur``."""
        step = self.last.translation_to(cur, order) if self.last.size else None
        if self.translation is None or step == self.translation:
            out = cur.minus(self.last)
            self.last, self.translation = cur, (step if self.translation is None else self.translation)
            return out
        self.last, self.translation = cur, None
        return cur
