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

from sparsesim.loopnest.spec import RankFormat

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
