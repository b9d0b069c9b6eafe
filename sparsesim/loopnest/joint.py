"""The share of accesses at which several tensors hold nonzeros together.

Statistical density models are independent, so their shares multiply.  Real masks are counted jointly on
the grid of blocks one access serves: the fraction of grid points where every condition tensor's block is
nonempty, weighted, for a tensor read at its nonzeros, by that tensor's block density.
"""

from __future__ import annotations

import math
import string

import numpy as np

from sparsesim.loopnest.density import ExactMask, block_nnz


def _letters(dims) -> dict[str, str]:
    return {d: string.ascii_letters[i] for i, d in enumerate(dims)}


def joint_fraction(terms, block: dict[str, int], sizes: dict[str, int]) -> float:
    """``terms``: (tensor, density model, weighted) triples; ``weighted`` counts the tensor's block density,
    otherwise whether its block is nonempty.  ``block``: extent of one access per dimension."""
    share = 1.0
    exact = []
    for t, model, weighted in terms:
        tb = tuple(block.get(d, 1) for d in t.dims)
        shape = tuple(sizes[d] for d in t.dims)
        if isinstance(model, ExactMask):
            nnz = block_nnz(model.mask.reshape(shape), tb)
            exact.append((t, nnz / math.prod(tb) if weighted else (nnz > 0).astype(float)))
        else:
            share *= model.density if weighted else model.p_nonempty(tb, shape)
    if not exact:
        return share
    dims = sorted({d for t, _ in exact for d in t.dims})
    let = _letters(dims)
    spec = ",".join("".join(let[d] for d in t.dims) for t, _ in exact) + "->"
    total = float(np.einsum(spec, *[a for _, a in exact], optimize=True))
    grid = math.prod(sizes[d] // block.get(d, 1) for d in dims)
    return share * total / grid
