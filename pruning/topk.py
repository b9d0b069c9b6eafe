"""Exact, deterministic top-k selection: the kernel of every pruning projection.

``topk_mask(scores, k)`` marks exactly ``k`` entries of largest score.  Ties at
the threshold are broken towards the lowest flat index, so the result never
depends on thread count or device.

Speed: a plain ``torch.kthvalue`` over all n scores dominates a projection.
``kth_largest`` first brackets the threshold with a strided sample, then runs
``kthvalue`` only on the entries inside the bracket.  The answer is exact
whatever the sample: the bracket is verified by counting, and if it does not
contain the target rank the full ``kthvalue`` is used.
"""

from __future__ import annotations

import math

import torch

_SAMPLE_SIZE = 16384
_SMALL = 65536  # below this, a direct kthvalue is already cheap


def kth_largest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Value of the k-th largest entry of a 1-D tensor (1 <= k <= n), exactly."""
    n = scores.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    rank = n - k + 1  # rank in ascending order, 1-based
    if n <= _SMALL:
        return torch.kthvalue(scores, rank).values
    step = n // _SAMPLE_SIZE
    sample = torch.sort(scores[::step]).values
    ns = sample.numel()
    margin = 4.0 * math.sqrt(ns) + 2.0
    centre = rank / n * ns
    lo_i = min(max(int(centre - margin), 1), ns) - 1
    hi_i = min(max(int(math.ceil(centre + margin)), 1), ns) - 1
    lo, hi = sample[lo_i], sample[hi_i]
    below = int((scores < lo).sum())
    band = scores[(scores >= lo) & (scores <= hi)]
    band_rank = rank - below
    if 1 <= band_rank <= band.numel():
        return torch.kthvalue(band, band_rank).values
    return torch.kthvalue(scores, rank).values  # bracket missed: exact fallback


def topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask (same shape as ``scores``) with exactly ``min(k, n)`` True.

    Entries with larger score win; among equal scores the lowest flat index wins.
    NaN scores are rejected.
    """
    flat = scores.reshape(-1)
    n = flat.numel()
    if k >= n:
        return torch.ones_like(scores, dtype=torch.bool)
    if k <= 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    if flat.is_floating_point() and bool(torch.isnan(flat).any()):
        raise ValueError("topk_mask: scores contain NaN")
    t = kth_largest(flat, k)
    mask = flat >= t
    if int(mask.sum()) != k:  # ties at the threshold: keep the lowest indices
        greater = flat > t
        need = k - int(greater.sum())
        equal = flat == t
        mask = greater | (equal & (torch.cumsum(equal, 0) <= need))
    return mask.reshape(scores.shape)


def keep_count(n_groups: int, ratio: float) -> int:
    """Groups kept when a fraction ``ratio`` of ``n_groups`` is pruned (at least 1)."""
    return max(1, min(n_groups, int(round(n_groups * (1.0 - ratio)))))
