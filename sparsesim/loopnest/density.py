"""Density models: how likely a block of a tensor is to hold a nonzero, and how densely.

``FixedStructured`` is Sparseloop's ``fixed-structured`` distribution: every block holds its share of the
nonzeros, ``density x size`` (so one element is nonzero with probability ``density``).
``Hypergeometric`` is its ``hypergeometric`` (uniformly random positions) distribution: a block of ``s`` of
the tensor's ``n`` elements, ``round(density x n)`` of them nonzero, is empty with probability
C(n - nnz, s) / C(n, s).
Timeloop's whole-access counts (``Convention.integer_counts``) also ask each statistical model for the
distribution of a tile's nonzeros (:class:`Occupancy`) and for the probability that a block inside a tile
holding ``k`` nonzeros is empty; those two are statistical-only (an ``ExactMask`` has no such
distribution to give, and is refused there).

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
class Occupancy:
    """The nonzeros of one tile: the values ``k`` it may hold and their probabilities (none zero), and
    whether Timeloop's smallest occupancy is 0 (the tile may be empty)."""

    nnz: tuple[int, ...]
    p: tuple[float, ...]
    may_be_empty: bool


def _two_point(tile: int, density: float) -> tuple[dict[int, float], int]:
    """Fixed-structured: floor(tile x d) nonzeros with probability 1 - frac, ceil(tile x d) with frac."""
    exact = tile * density
    lo, frac = math.floor(exact), exact - math.floor(exact)
    return ({lo: 1.0} if frac == 0 else {lo: 1.0 - frac, lo + 1: frac}), lo


def hypergeometric_pmf(k: int, population: int, successes: int, draws: int) -> float:
    """P(k of ``draws`` elements drawn without replacement are among ``successes`` of ``population``),
    as an exactly rounded ratio of integers (boost's pdf, exact branch)."""
    if k < max(0, draws + successes - population) or k > min(draws, successes):
        return 0.0
    return math.comb(successes, k) * math.comb(population - successes, draws - k) / math.comb(population, draws)


_LGAMMA = np.frompyfunc(math.lgamma, 1, 1)


def _lgamma(x) -> np.ndarray:
    return np.asarray(_LGAMMA(np.asarray(x, dtype=float)), dtype=float)


# :func:`hypergeometric_pmfs` is exact up to this many values, each of at most this many drawn elements
# (or as many left undrawn): the whole-access fixtures stay within (601 values, 2040 elements).
EXACT_PMF_VALUES, EXACT_PMF_DRAWS = 1024, 4096


def _exact_pmf(values: int, population: int, draws: int) -> bool:
    return values <= EXACT_PMF_VALUES and min(draws, population - draws) <= EXACT_PMF_DRAWS


def hypergeometric_pmfs(k, population: int, successes, draws: int) -> np.ndarray:
    """:func:`hypergeometric_pmf` over arrays (``k`` and ``successes`` broadcast).  Exact (a ratio of
    integers) within ``EXACT_PMF_VALUES`` and ``EXACT_PMF_DRAWS``; past them, in log space
    (lgamma differences, as boost's pdf does past its factorial table; relative error about 1e-10 on
    tensors of 2**18 elements, where the exact ratios of a 32768-element tile take minutes)."""
    k, r = np.broadcast_arrays(np.asarray(k), np.asarray(successes))
    if _exact_pmf(k.size, population, draws):
        exact = [hypergeometric_pmf(int(a), population, int(b), draws) for a, b in zip(k.ravel(), r.ravel())]
        return np.array(exact, dtype=float).reshape(k.shape)
    k, r = k.astype(float), r.astype(float)
    ok = (k >= np.maximum(0, draws + r - population)) & (k <= np.minimum(draws, r))
    out = np.zeros(k.shape)
    if ok.any():
        kk, rr = k[ok], r[ok]
        log_p = (_lgamma(rr + 1) - _lgamma(kk + 1) - _lgamma(rr - kk + 1) + _lgamma(population - rr + 1)
                 - _lgamma(draws - kk + 1) - _lgamma(population - rr - draws + kk + 1)
                 - math.lgamma(population + 1) + math.lgamma(draws + 1) + math.lgamma(population - draws + 1))
        out[ok] = np.exp(log_p)
    return out


@dataclass(frozen=True)
class FixedStructured:
    density: float

    def __post_init__(self):
        _check(self.density)

    def p_nonempty(self, block: tuple[int, ...], shape: tuple[int, ...]) -> float:
        return min(1.0, self.density * math.prod(block))

    def occupancy(self, tile: int, tensor_size: int) -> Occupancy:
        pmf, lo = _two_point(tile, self.density)
        return Occupancy(tuple(k for k, p in pmf.items() if p), tuple(p for p in pmf.values() if p), lo == 0)

    def p_empty_within(self, block: int, tile: int, nnz: int) -> float:
        """A block of ``block`` elements inside a tile of ``tile`` holding ``nnz``: the tile's density."""
        return _two_point(block, nnz / tile)[0].get(0, 0.0)

    def p_empty_within_all(self, block: int, tile: int, nnz: np.ndarray) -> np.ndarray:
        """:meth:`p_empty_within` over an array of ``nnz``."""
        exact = block * (np.asarray(nnz, dtype=float) / tile)
        frac = exact - np.floor(exact)
        return np.where(np.floor(exact) == 0, np.where(frac == 0, 1.0, 1.0 - frac), 0.0)

    def p_empty(self, block: int, tensor_size: int) -> float:
        return _two_point(block, self.density)[0].get(0, 0.0)


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

    def nonzeros(self, tensor_size: int) -> int:
        """Timeloop's nonzero count: ceil(density x size) (HypergeometricDistribution::SetWorkloadTensorSize)."""
        return math.ceil(self.density * tensor_size)

    def occupancy(self, tile: int, tensor_size: int) -> Occupancy:
        """k from 0 to min(tile, nonzeros), the exact pmf; Timeloop's smallest occupancy is 0 for every tile
        short of the whole tensor (HypergeometricDistribution::GetMinTileDensity: ``tile - size`` underflows
        in uint64 where the tile cannot be empty, and the 2**64 that comes back converts to 0), the nonzeros
        for the whole tensor."""
        r = self.nonzeros(tensor_size)
        if tile == tensor_size:
            return Occupancy((r,), (1.0,), r == 0)
        ks = np.arange(0, min(tile, r) + 1)
        pmf = hypergeometric_pmfs(ks, tensor_size, r, tile)
        if not _exact_pmf(len(ks), tensor_size, tile):
            pmf = pmf / math.fsum(pmf.tolist())    # log space: its rounding would bias E[k] (a count's floor)
        keep = pmf > 0
        return Occupancy(tuple(ks[keep].tolist()), tuple(pmf[keep].tolist()), True)

    def p_empty_within(self, block: int, tile: int, nnz: int) -> float:
        """A block of ``block`` elements inside a tile of ``tile`` holding ``nnz``: hypergeometric(nnz, block, tile)."""
        return hypergeometric_pmf(0, tile, nnz, block)

    def p_empty_within_all(self, block: int, tile: int, nnz: np.ndarray) -> np.ndarray:
        """:meth:`p_empty_within` over an array of ``nnz`` (:func:`hypergeometric_pmfs`)."""
        return hypergeometric_pmfs(0, tile, nnz, block)

    def p_empty(self, block: int, tensor_size: int) -> float:
        return hypergeometric_pmf(0, tensor_size, self.nonzeros(tensor_size), block)


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
