"""Metadata and payload bits of one tile in a per-rank format, Sparseloop's units.

The tile's ranks are its tensor dimensions (outermost first) with extent above one.  Formats pair with ranks
outermost first, or innermost first where the level lists the tensor as ``rank-application-order:
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


def _pair(formats: tuple[RankFormat, ...], axes: list[int], inner_to_outer: bool) -> list[tuple]:
    if inner_to_outer:
        k = min(len(formats), len(axes))
        return list(zip(formats[len(formats) - k:], axes[len(axes) - k:]))
    return list(zip(formats, axes))


def tile_metadata(formats: tuple[RankFormat, ...], ranks: tuple[int, ...], p_nonempty,
                  inner_to_outer: bool = False) -> TileMetadata:
    """``ranks``: the tile's extent per tensor dimension; ``p_nonempty(block)``: probability that a block of
    those extents (per tensor dimension) holds a nonzero."""
    axes = [i for i, n in enumerate(ranks) if n > 1]
    used = _pair(formats, axes, inner_to_outer)
    md = payload = 0.0
    fibres = 1.0
    for fmt, axis in used:
        n = ranks[axis]
        coords = fibres * n
        if fmt.kind == "UOP":
            payload += fibres * (n + 1) * (fmt.payload_bits or 0)
            fibres = coords
            continue
        inner = tuple(1 if j <= axis else ranks[j] for j in range(len(ranks)))
        nonempty = math.prod(ranks[:axis + 1]) * p_nonempty(inner)
        md += coords * (fmt.metadata_bits or 1) if fmt.kind == "B" else \
            nonempty * (fmt.metadata_bits or max(1, math.ceil(math.log2(n))))
        fibres = nonempty
    return TileMetadata(md, payload, any(f.kind in COMPRESSING for f in formats),
                        any(f.kind == "B" for f, _ in used))

