"""Metadata and payload bits of one tile in a per-rank format, Sparseloop's units.

The tile's ranks are its loops (one per loop over a tensor dimension, in loop-nest order, outermost first:
:func:`sparsesim.loopnest.tiling.loop_ranks`).  Formats pair with ranks outermost first, or innermost first where the level lists the tensor as ``rank-application-order:
inner-to-outer``; a format left without a rank costs nothing.  Per rank of extent ``n`` holding ``f``
fibres (one at the outermost rank; below a UOP rank, all its coordinates; below any other, its nonempty
ones), of which ``c`` coordinates lead to a nonzero (the block below them is nonempty):

* UOP: ``f x (n + 1)`` offsets of ``payload_bits`` (0 by default) and every coordinate stays a fibre below;
* B (bitmask): ``f x n`` bits of ``metadata_bits`` (1);
* CP (coordinate payload) and RLE: ``c`` entries of ``metadata_bits`` (``ceil(log2 n)`` by default).

Data is stored compressed (zeros dropped) when any listed format is B, CP or RLE, paired with a rank or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparsesim.loopnest.spec import RankFormat, SpecError

COMPRESSING = ("B", "CP", "RLE")


@dataclass(frozen=True)
class TileMetadata:
    metadata_bits: float
    payload_bits: float
    compressed: bool
    bitmask: bool               # a B rank is used: metadata is read per position, not per nonzero


def _pair(formats: tuple[RankFormat, ...], n_ranks: int, inner_to_outer: bool) -> list[tuple]:
    if inner_to_outer:
        k = min(len(formats), n_ranks)
        return list(zip(formats[len(formats) - k:], range(n_ranks - k, n_ranks)))
    return list(zip(formats, range(n_ranks)))


def _inner_block(ranks, dims: tuple[str, ...], j: int) -> tuple[int, ...]:
    """Extent per tensor dimension of the block below rank ``j`` (the ranks inside it)."""
    return tuple(math.prod(n for d, n in ranks[j + 1:] if d == dim) for dim in dims)


def tile_metadata(formats: tuple[RankFormat, ...], ranks: tuple[tuple[str, int], ...], dims: tuple[str, ...],
                  p_nonempty, inner_to_outer: bool = False, entry_bits: int | None = None) -> TileMetadata:
    """``ranks``: the tile's (dimension, extent) ranks, outermost first; ``p_nonempty(block)``: probability
    that a block of those extents (per tensor dimension ``dims``) holds a nonzero.  ``entry_bits``: count
    every metadata and payload entry as that many metadata bits (one access each), whatever its width."""
    used = _pair(formats, len(ranks), inner_to_outer)
    md = payload = 0.0
    fibres = 1.0
    for fmt, j in used:
        n = ranks[j][1]
        coords = fibres * n
        if fmt.kind == "UOP":
            offsets = fibres * (n + 1)
            payload += offsets * (fmt.payload_bits or 0) if entry_bits is None else 0.0
            md += offsets * entry_bits if entry_bits is not None else 0.0
            fibres = coords
            continue
        nonempty = math.prod(r[1] for r in ranks[:j + 1]) * p_nonempty(_inner_block(ranks, dims, j))
        entries = coords if fmt.kind == "B" else nonempty
        own = (fmt.metadata_bits or 1) if fmt.kind == "B" else (fmt.metadata_bits or max(1, math.ceil(math.log2(n))))
        md += entries * (own if entry_bits is None else entry_bits)
        fibres = nonempty
    return TileMetadata(md, payload, any(f.kind in COMPRESSING for f in formats),
                        any(f.kind == "B" for f, _ in used))


# --- Timeloop's ranks and per-rank units (Convention.integer_counts) ----------------------------------------
# Ranks are numbered innermost first (rank 0 = the format listed last), as Timeloop numbers them.

@dataclass(frozen=True)
class Rank:
    """One rank of a tile at a level: its format, fibre shape (coordinates per fibre), the elements under one
    of its coordinates, its word bits (after rounding to a divisor of the metadata width) and whether it
    is trivial (a fibre of one coordinate that Timeloop does not encode)."""

    kind: str
    fiber_shape: int
    subtile: int
    metadata_bits: int
    payload_bits: int
    trivial: bool


def word_bits(spec: int | None, metadata_width_bits: int, default_bits: int) -> int:
    """A rank's word bits, rounded up to the next divisor of the metadata width where it is not one
    (sparse-optimization-parser.cpp AdjustFormatWordBits: UOP's 7 b payload is 8 b in an 8 b store)."""
    if spec is None:
        return default_bits
    if spec and metadata_width_bits % spec:
        return next((b for b in range(spec, 2 * spec) if metadata_width_bits % b == 0), spec)
    return spec


def _rule(fmt: RankFormat, dim: str) -> tuple | None:
    return next((g for g in fmt.flattened if dim in g), None)


def assign_loops(formats: tuple[RankFormat, ...], loops: list[tuple[str, int, int]], first: int,
                 inner_to_outer: bool) -> list[tuple[tuple[tuple[str, int], ...], int]]:
    """Timeloop's ApplyRanksInnerToOuter / OuterToInner: give each rank from ``first`` up (or from the top
    down) the next nontrivial loop of ``loops`` ((dim, factor, tile after it), innermost first); a rank with
    flattened-rankIDs also takes the following loops over its rule's dimensions, and one whose rule does not
    name the loop's dimension is a dummy.  Returns per rank (its loops, the tile under one coordinate of the
    rank above); ranks left over are dummies."""
    n_ranks = len(formats)
    out: list[tuple[tuple, int]] = []
    base = loops[0][2] if loops else 1
    if not inner_to_outer:                      # outer-to-inner: the outermost loops take the top ranks
        nontrivial = [lp for lp in loops if lp[1] > 1]
        own = [(((d, f),), tile) for d, f, tile in nontrivial[max(0, len(nontrivial) - (n_ranks - first)):]]
        return [((), base)] * (n_ranks - first - len(own)) + own
    j, r = 0, first - 1
    while r < n_ranks - 1:
        while j < len(loops) and loops[j][1] <= 1:
            j += 1
        if j >= len(loops):
            break
        r += 1
        dim, factor, tile = loops[j]
        fmt = formats[r]
        rule = _rule(fmt, dim)
        if fmt.flattened and rule is None:      # this rank flattens other dimensions: a dummy (unexercised)
            out.append(((), loops[j - 1][2] if j else base))
            continue
        nest = [(dim, factor)]
        j += 1
        while j < len(loops) and ((rule is not None and loops[j][0] in rule) or loops[j][1] <= 1):
            if loops[j][1] > 1:
                nest.append(loops[j][:2])
            j += 1
        out.append((tuple(nest), tile))
    out += [((), base)] * (n_ranks - 1 - r)
    if any(lp[1] > 1 for lp in loops[j:]):
        raise SpecError(f"format: {n_ranks} ranks do not cover the tile's loops {loops[j:]}")
    return out


def format_units(kind: str, max_fibers: float, fiber_shape: int, p_empty_fiber: float, p_empty_coord: float,
                 convention) -> tuple[float, float]:
    """(metadata, payload) units of one rank (workload/format-models/*.cpp): ``max_fibers`` fibres of
    ``fiber_shape`` coordinates, each fibre empty with ``p_empty_fiber``, each coordinate's block with
    ``p_empty_coord``; RLE and CP as the design's :class:`~spec.Convention` says."""
    fibers = max_fibers * (1 - p_empty_fiber)
    nonempty = fiber_shape * (1 - p_empty_coord)
    if kind == "UOP":
        return 0.0, fibers * (fiber_shape + 1)
    if kind == "RLE":
        md = nonempty * (fibers if convention.rle_counts_empty_fibers else max_fibers)
        return md, md
    if kind == "CP":
        md = (math.ceil(nonempty) if convention.cp_rounds_coordinates else nonempty) * fibers
        return md, md
    if kind == "B":
        return fibers * fiber_shape, fibers * math.ceil(nonempty)
    raise SpecError(f"format: {kind!r} has no Timeloop occupancy rule here")


def units_given(ranks: tuple[Rank, ...], tile: int, p_empty_within, convention):
    """Per rank (innermost first), (metadata, payload) units of a tile holding a given number of nonzeros
    (tiling-tile-info.cpp GetMetaDataTileOccupancyGivenDataTile): walk from the top rank down;
    ``p_empty_within(block)`` is the probability that a block of the tile is empty.  The innermost rank
    that holds anything keeps no payload (its payload is the data)."""
    occ = [(0.0, 0.0)] * len(ranks)
    max_fibers, cur = 1, tile
    for r in range(len(ranks) - 1, -1, -1):
        rk = ranks[r]
        if not rk.trivial:
            occ[r] = format_units(rk.kind, max_fibers, rk.fiber_shape, p_empty_within(cur),
                                  p_empty_within(rk.subtile), convention)
        max_fibers *= rk.fiber_shape
        cur = rk.subtile
    inner = next((r for r, (m, p) in enumerate(occ) if m or p), None)
    if inner is not None:
        occ[inner] = (occ[inner][0], 0.0)
    return occ
