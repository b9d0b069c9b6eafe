"""Density models: how likely a block of a tensor is to hold a nonzero, and how densely.

``FixedStructured`` is Sparseloop's ``fixed-structured`` distribution: every block holds its share of the
nonzeros, ``density x size`` (so one element is nonzero with probability ``density``).
``Hypergeometric`` is its ``hypergeometric`` (uniformly random positions) distribution: a block of ``s`` of
the tensor's ``n`` elements, ``round(density x n)`` of them nonzero, is empty with probability
C(n - nnz, s) / C(n, s).
``ExactMask`` holds the real zero pattern (e.g. a pruned layer's mask): every answer is counted on it, and
several exact tensors are counted jointly (:func:`sparsesim.loopnest.joint.joint_fraction`).

A block is given by its extent along each of the tensor's dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def _check(density: float) -> None:
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density: {density} is not in [0, 1]")


@dataclass(frozen=True)
class FixedStructured:
    density: float

    def __post_init__(self):
        _check(self.density)

    def p_nonempty(self, block: tuple[int, ...], shape: tuple[int, ...]) -> float:
        return min(1.0, self.density * math.prod(block))


@dataclass(frozen=True)
class Hypergeometric:
    density: float

    def __post_init__(self):
        _check(self.density)

    def p_nonempty(self, block: tuple[int, ...], shape: tuple[int, ...]) -> float:
        tile, tensor = math.prod(block), math.prod(shape)
        nnz = round(self.density * tensor)
        if tile > tensor - nnz:
            return 1.0
        log_empty = (math.lgamma(tensor - nnz + 1) - math.lgamma(tensor - nnz - tile + 1)
                     - math.lgamma(tensor + 1) + math.lgamma(tensor - tile + 1))
        return 1.0 - math.exp(log_empty)


def block_view(mask: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """``mask`` cut into blocks: axes (grid_0, block_0, grid_1, block_1, ...)."""
    shape = []
    for n, b in zip(mask.shape, block):
        if n % b:
            raise ValueError(f"block: extent {b} does not divide the tensor's {n}")
        shape += [n // b, b]
    return mask.reshape(shape)


def block_nnz(mask: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """Nonzeros per block, on the block grid."""
    return block_view(mask, block).sum(axis=tuple(range(1, 2 * mask.ndim, 2)))


@dataclass(frozen=True, eq=False)
class ExactMask:
    mask: np.ndarray = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "mask", np.asarray(self.mask) != 0)

    @property
    def density(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0

    def p_nonempty(self, block: tuple[int, ...], shape: tuple[int, ...]) -> float:
        return float((block_nnz(self.mask, block) > 0).mean())


DENSE = FixedStructured(1.0)
