"""Which collection-bus line each packed row's results leave on, as STONNE wires SIGMA's reduction tree.

STONNE (stonne-simulator/stonne 22634b8b) reduces each row (a "virtual neuron", VN) of an iteration in an
augmented reduction tree (ART) over the multipliers, and the adder that completes the row sends its N results
to memory through one of ``rn_bw`` collection-bus lines; a line forwards one result per cycle
(``CollectionBusLine::cycle``), so rows whose completing adders share a line are collected one after another.

* The completing adder (``CompilerART::generate_art_signals_sparse``): walking the tree from the leaves, a row's
  live nodes at each level are its children's parents, except that where the row crosses a forwarding-linked
  pair (adders ``a`` odd and ``a + 1``, not the first or last of the level) at its end, the smaller side is sent
  over the link (the left on a tie) and that side's adder drops out; the first level where one adder is live
  completes the row.
* The wiring (``ASNetwork::ASNetwork`` and ``ASNetwork::setMemoryConnections``): adders are numbered level by
  level from the root; the forwarding-linked pairs, in that order, go round-robin over the lines (pair ``p`` on
  line ``p mod rn``), then the unpaired adders (the root and each level's first and last) continue the
  round-robin after the ``2 x pairs`` paired adders (``(s + 2 x pairs) mod rn``).

Vectorised over rows: each row's live nodes stay one contiguous range [lo, hi], so a level is a few array ops.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=256)      # a pure function of two ints: a bounded memo, no state that changes results
def bus_lines(multipliers: int, lines: int) -> tuple[tuple[int, ...], ...]:
    """Collection-bus line of adder (level, index), level 0 the root; a tuple per level.  STONNE requires a
    power-of-two array; another size gets the tree of the next power of two (a model assumption)."""
    levels = max(1, int(np.ceil(np.log2(multipliers))))
    pairs, singles = [], []
    for level in range(levels):
        width = 1 << level
        for j in range(width):
            if level and j and j % 2 == 0:
                pairs.append((level, j - 1))
                pairs.append((level, j))
            elif j == 0 or j == width - 1:
                singles.append((level, j))
    line = {}
    for i, node in enumerate(pairs):
        line[node] = (i // 2) % lines
    for s, node in enumerate(singles):
        line[node] = (s + len(pairs)) % lines
    return tuple(tuple(line[(level, j)] for j in range(1 << level)) for level in range(levels))


def _forward_at_end(side: np.ndarray, lo: np.ndarray, hi: np.ndarray, a: np.ndarray, n_adders: int):
    """For rows crossing pair (a, a + 1) at one end: (drops adder a + 1, drops adder a) by the ART's rule."""
    valid = side & (a % 2 == 1) & (a >= 1) & (a <= n_adders - 3)
    left_span = 2 * a + 2 - lo                      # the row's live children at or left of the pair's boundary
    right_span = hi - (2 * a + 1)
    to_left = left_span >= right_span
    drop_right = valid & to_left & (hi < 2 * a + 4)     # nothing beyond a + 1: a + 1 forwards into a
    drop_left = valid & ~to_left & (lo > 2 * a - 1)     # nothing before a: a forwards into a + 1
    return drop_right, drop_left


def completing_lines(sizes: np.ndarray, offsets: np.ndarray, multipliers: int, lines: int) -> np.ndarray:
    """Collection-bus line of each row, given its multiplier count and first multiplier in the iteration."""
    wiring = bus_lines(multipliers, lines)
    lo, hi = offsets.astype(np.int64), (offsets + sizes - 1).astype(np.int64)
    level_done = np.full(lo.size, -1)
    node = np.zeros(lo.size, dtype=np.int64)
    for level in range(len(wiring) - 1, -1, -1):
        n_adders = 1 << level
        a_lo, a_hi = lo // 2, hi // 2
        crosses = a_hi > a_lo
        dr1, dl1 = _forward_at_end(crosses, lo, hi, a_lo, n_adders)              # the pair at the row's left end
        dr2, dl2 = _forward_at_end(crosses & (a_hi - 1 != a_lo), lo, hi, a_hi - 1, n_adders)   # and its right end
        a_hi = np.where(dr1 | dr2, a_hi - 1, a_hi)
        a_lo = np.where(dl1 | dl2, a_lo + 1, a_lo)
        fresh = (level_done < 0) & (a_lo == a_hi)
        level_done[fresh], node[fresh] = level, a_lo[fresh]
        lo, hi = a_lo, a_hi
    flat = np.concatenate([np.asarray(w) for w in wiring])
    return flat[(1 << level_done) - 1 + node]
