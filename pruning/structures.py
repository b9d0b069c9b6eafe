"""Sparsity structures: which groups of a weight may be zero.

Every weight is seen through its GEMM view ``(M, K)``: ``M`` filters (output
channels / output features) by ``K = C*R*S`` inputs in PyTorch's ``(C, R, S)``
order (``K = in_features`` for Linear).

* ``dense``            nothing pruned
* ``nonstructured``    any weight                       (groups: single weights)
* ``filter``           a whole GEMM row                  (groups: M rows)
* ``channel``          all weights of one input channel  (groups: C; for Linear = columns)
* ``column``           one GEMM column (a "shape": one (c, r, s) position of every filter)
* ``block``            ``bh x bw`` tiles of the GEMM matrix (must divide M and K)
* ``nm``               at most N of every M consecutive weights along K (e.g. 2:4)

A structure only chooses a support.  Given a *gain* per weight (how much the
squared error falls if that weight is kept: ``w^2`` for plain pruning,
``w^2 - (w - q(w))^2`` with a quantizer), ``keep_mask`` returns the support of
allowed shape with the largest total gain.  That is the exact Euclidean
projection onto "at most k groups nonzero" (resp. "N per M-group").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .sparsity_kinds import KINDS
from .topk import keep_count, topk_mask


class StructureError(ValueError):
    """A structure that cannot be applied to a layer's weight shape."""


@dataclass(frozen=True)
class Structure:
    kind: str = "nonstructured"
    ratio: float = 0.0
    block: tuple[int, int] = (1, 1)
    n: int = 2
    m: int = 4

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"sparsity type {self.kind!r} unknown; allowed: {', '.join(KINDS)}")
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio={self.ratio!r}; allowed: a number in [0, 1) (the fraction pruned)")
        object.__setattr__(self, "block", tuple(int(b) for b in self.block))
        if len(self.block) != 2 or min(self.block) < 1:
            raise ValueError(f"block={self.block!r}; allowed: two positive integers (rows, cols)")
        if self.kind == "nm":
            if not (isinstance(self.n, int) and isinstance(self.m, int) and 0 < self.n <= self.m):
                raise ValueError(f"nm=({self.n}, {self.m}); allowed: integers 0 < N <= M")
            object.__setattr__(self, "ratio", 1.0 - self.n / self.m)
        if self.kind == "dense":
            object.__setattr__(self, "ratio", 0.0)

    # ---------------------------------------------------------------- checks
    def check_shape(self, shape: tuple[int, ...], layer: str = "?") -> None:
        """Raise ``StructureError`` naming the layer if the structure cannot apply."""
        if len(shape) not in (2, 4):
            raise StructureError(f"layer {layer!r}: weight of shape {tuple(shape)} unsupported; "
                                 "allowed: Linear (2-D) or Conv2d (4-D)")
        rows, cols = shape[0], _prod(shape[1:])
        if self.kind == "block":
            bh, bw = self.block
            if rows % bh or cols % bw:
                raise StructureError(f"layer {layer!r}: block {bh}x{bw} does not divide the "
                                     f"GEMM matrix {rows}x{cols}")
        if self.kind == "nm" and cols % self.m:
            raise StructureError(f"layer {layer!r}: nm {self.n}:{self.m} needs K={cols} "
                                 f"(inputs per filter) divisible by M={self.m}")

    # --------------------------------------------------------------- support
    def group_scores(self, gain: torch.Tensor) -> torch.Tensor:
        """Total gain per group (the unit that is kept or pruned)."""
        g = gain.reshape(gain.shape[0], -1)
        if self.kind in ("nonstructured", "dense"):
            return g
        if self.kind == "filter":
            return g.sum(1)
        if self.kind == "column":
            return g.sum(0)
        if self.kind == "channel":
            c = gain.shape[1]
            return g.reshape(g.shape[0], c, -1).sum((0, 2))
        if self.kind == "block":
            bh, bw = self.block
            return g.reshape(g.shape[0] // bh, bh, g.shape[1] // bw, bw).sum((1, 3))
        raise AssertionError(self.kind)  # nm handled in keep_mask

    def keep_mask(self, gain: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the weights kept: the allowed support of largest gain."""
        self.check_shape(tuple(gain.shape))
        if self.kind == "dense":
            return torch.ones_like(gain, dtype=torch.bool)
        if self.kind == "nm":
            return nm_keep(gain.reshape(gain.shape[0], -1, self.m), self.n).reshape(gain.shape)
        scores = self.group_scores(gain)
        keep = topk_mask(scores, keep_count(scores.numel(), self.ratio))
        return self.expand(keep, tuple(gain.shape))

    def expand(self, group_keep: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Per-group booleans back to a weight-shaped mask."""
        rows, cols = shape[0], _prod(shape[1:])
        if self.kind in ("nonstructured", "dense", "nm"):
            return group_keep.reshape(shape)
        if self.kind == "filter":
            m = group_keep[:, None].expand(rows, cols)
        elif self.kind == "column":
            m = group_keep[None, :].expand(rows, cols)
        elif self.kind == "channel":
            c = shape[1]
            m = group_keep[None, :, None].expand(rows, c, cols // c)
        else:
            bh, bw = self.block
            m = group_keep[:, None, :, None].expand(rows // bh, bh, cols // bw, bw)
        return m.reshape(shape)

    def n_groups(self, shape: tuple[int, ...]) -> int:
        rows, cols = shape[0], _prod(shape[1:])
        return {
            "dense": rows * cols, "nonstructured": rows * cols, "filter": rows, "column": cols,
            "channel": shape[1], "block": (rows * cols) // (self.block[0] * self.block[1]),
            "nm": rows * cols // self.m,
        }[self.kind]

    def max_nonzeros(self, shape: tuple[int, ...]) -> int:
        """Feasibility bound: the most nonzeros a weight of this shape may have."""
        rows, cols = shape[0], _prod(shape[1:])
        if self.kind == "dense":
            return rows * cols
        if self.kind == "nm":
            return rows * cols // self.m * self.n
        per_group = rows * cols // self.n_groups(shape)
        return keep_count(self.n_groups(shape), self.ratio) * per_group

    def to_dict(self) -> dict:
        d: dict = {"type": self.kind, "ratio": self.ratio}
        if self.kind == "block":
            d["block"] = list(self.block)
        if self.kind == "nm":
            d["nm"] = [self.n, self.m]
        return d


def nm_keep(groups: torch.Tensor, n: int) -> torch.Tensor:
    """Top-n of every group along the last axis; ties go to the lower index.

    For small M the rank of each entry is counted with M*(M-1) column
    comparisons (no sort): 5x faster than a stable sort for 2:4.
    """
    m = groups.shape[-1]
    if m > 32:
        order = torch.sort(groups, dim=-1, descending=True, stable=True).indices[..., :n]
        return torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, order, True)
    cols = groups.unbind(-1)
    keep = []
    for i in range(m):
        rank = torch.zeros(groups.shape[:-1], dtype=torch.int16, device=groups.device)
        for j in range(m):
            if j != i:  # entries before i win ties, entries after i must be strictly larger
                rank += (cols[j] >= cols[i]) if j < i else (cols[j] > cols[i])
        keep.append(rank < n)
    return torch.stack(keep, -1)


def _prod(xs) -> int:
    p = 1
    for x in xs:
        p *= int(x)
    return p
