"""Dense (algorithmic) access counts of a loop nest, with Timeloop's tiling rules.

For tensor ``t`` kept at level ``L`` (levels innermost first):

* tile: the product, over ``t``'s dimensions, of the loop factors at ``L`` and below;
* refills: over the loops above ``L`` from the innermost out, loops over dimensions ``t`` does not index are
  free (the tile stays) until the first loop that changes the tile; from there on every loop multiplies;
* fills = tile x refills (none at the outermost level); for an output, less its first touches (the tensor's
  size) where the design elides them (``Convention.first_fill_elision``);
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
    ranks: tuple[tuple[str, int], ...]   # the tile's fibre-tree ranks: (dimension, extent), outermost first
    fills: int
    reads: int
    updates: int
    child_tile: int            # elements one access from the level below moves (1: the compute unit)


def tile_ranks(design: Design, t: Tensor, level: int) -> tuple[int, ...]:
    return tuple(math.prod(lvl.factor(d) for lvl in design.levels[:level + 1]) for d in t.dims)


def loop_ranks(design: Design, t: Tensor, level: int) -> tuple[tuple[str, int], ...]:
    """The tile's ranks as Sparseloop forms them: one per loop over one of ``t``'s dimensions (factor above
    one) at ``level`` and below, in loop-nest order, outermost first (a dimension split across levels, a
    pre-tiled tensor, has a rank per split)."""
    ranks = []
    for lvl in reversed(design.levels[:level + 1]):
        ranks += [(lp.dim, lp.factor) for lp in reversed(lvl.loops) if lp.dim in t.dims and lp.factor > 1]
    return tuple(ranks)


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


def loop_nest(design: Design) -> tuple[tuple[int, str, int], ...]:
    """Every loop as (level, dimension, factor), innermost first."""
    return tuple((i, lp.dim, lp.factor) for i, lvl in enumerate(design.levels) for lp in lvl.loops)


def tiles_after(nest, t: Tensor) -> tuple[int, ...]:
    """Elements of ``t`` in the tile the loops up to and including each loop of ``nest`` span."""
    out, extents = [], {}
    for _, dim, factor in nest:
        extents[dim] = extents.get(dim, 1) * factor
        out.append(math.prod(extents.get(d, 1) for d in t.dims))
    return tuple(out)


def holders(design: Design, t: Tensor) -> list[int]:
    return [i for i, lvl in enumerate(design.levels) if t.name in lvl.keep]


def dense_counts(design: Design, w: Workload, t: Tensor) -> dict[int, DenseCounts]:
    """Per level keeping ``t``: its dense counts."""
    held = holders(design, t)
    top = len(design.levels) - 1
    tiles = {i: math.prod(tile_ranks(design, t, i)) for i in held}
    fills = {i: 0 if i == top else tiles[i] * refills(design, t, i) for i in held}
    size = math.prod(w.size(d) for d in t.dims)
    firsts = {i: size if t.output and design.convention.first_fill_elision and i != top else 0 for i in held}
    out = {}
    for pos, i in enumerate(held):
        child = held[pos - 1] if pos else None
        inflow = w.macs if child is None else fills[child]
        if t.output:                # the first reads elided: the whole tensor's (2022), or this level's fills
            first = size if i == top or not design.convention.first_fill_elision else fills[i]
            reads, updates = inflow - first, inflow
        else:
            reads, updates = inflow, 0
        out[i] = DenseCounts(tiles[i], loop_ranks(design, t, i), fills[i] - firsts[i], reads, updates,
                             1 if child is None else tiles[child])
    return out
