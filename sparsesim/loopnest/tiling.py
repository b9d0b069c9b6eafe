"""Dense (algorithmic) access counts of a loop nest, with Timeloop's tiling rules.

For tensor ``t`` kept at level ``L`` (levels innermost first):

* tile: the product, over ``t``'s dimensions, of the loop factors at ``L`` and below;
* refills: over the loops above ``L`` from the innermost out, loops over dimensions ``t`` does not index are
  free (the tile stays) until the first loop that changes the tile; from there on every loop multiplies;
* fills = tile x refills (none at the outermost level);
* reads of an input: the fills of the next level in that keeps it, or one per MAC where the compute unit
  reads it directly;
* updates of an output: the next level in's fills (each tile drained once), or one per MAC; its reads are
  the updates less the first touches (fills, or the whole tensor at the outermost level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparsesim.loopnest.spec import Design, Tensor, Workload


@dataclass(frozen=True)
class DenseCounts:
    tile: int                  # elements of the tensor in one tile at this level
    ranks: tuple[int, ...]     # the tile's extent per tensor dimension, outermost first
    fills: int
    reads: int
    updates: int
    child_tile: int            # elements one access from the level below moves (1: the compute unit)


def tile_ranks(design: Design, t: Tensor, level: int) -> tuple[int, ...]:
    return tuple(math.prod(lvl.factor(d) for lvl in design.levels[:level + 1]) for d in t.dims)


def refills(design: Design, t: Tensor, level: int) -> int:
    count, changed = 1, False
    for lvl in design.levels[level + 1:]:
        for lp in lvl.loops:
            if lp.factor == 1:
                continue
            changed = changed or lp.dim in t.dims
            if changed:
                count *= lp.factor
    return count


def holders(design: Design, t: Tensor) -> list[int]:
    return [i for i, lvl in enumerate(design.levels) if t.name in lvl.keep]


def dense_counts(design: Design, w: Workload, t: Tensor) -> dict[int, DenseCounts]:
    """Per level keeping ``t``: its dense counts."""
    held = holders(design, t)
    top = len(design.levels) - 1
    tiles = {i: math.prod(tile_ranks(design, t, i)) for i in held}
    fills = {i: 0 if i == top else tiles[i] * refills(design, t, i) for i in held}
    out = {}
    for pos, i in enumerate(held):
        child = held[pos - 1] if pos else None
        inflow = w.macs if child is None else fills[child]
        if t.output:
            first = math.prod(w.size(d) for d in t.dims) if i == top else fills[i]
            reads, updates = inflow - first, inflow
        else:
            reads, updates = inflow, 0
        out[i] = DenseCounts(tiles[i], tile_ranks(design, t, i), fills[i], reads, updates,
                             1 if child is None else tiles[child])
    return out
