"""A layer's constraint set: a sparsity structure, optionally intersected with
a quantization level set, and its exact Euclidean projection.

For the intersection ``{z : support(z) allowed, z_i in levels or 0}`` with a
fixed scale, the projection is separable once the support is chosen: a kept
weight goes to its nearest level ``q(w)``, a pruned one to 0.  Keeping weight i
instead of zeroing it lowers the squared error by the *gain*
``w_i^2 - (w_i - q(w_i))^2``; it can be negative for level sets without 0
(binary), and then the entry is better zero even inside a kept group.  So a
group is worth the sum of its positive gains, and the optimal support is the
allowed one of largest worth.  This is not
"prune by magnitude then round": a weight that rounds to 0 has no gain, and a
weight far from every level may lose to a smaller one that sits on a level.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .quantizers import Quantizer
from .structures import Structure


@dataclass(frozen=True)
class Constraint:
    structure: Structure = Structure("dense")
    quantizer: Quantizer | None = None

    @property
    def prunes(self) -> bool:
        return self.structure.kind != "dense"

    def project(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, mask)``: the closest point of the set to ``w`` and its support mask."""
        w = w.detach()
        if self.quantizer is None:
            if not self.prunes:
                return w.clone(), torch.ones_like(w, dtype=torch.bool)
            if self.structure.kind == "nonstructured":  # |w| orders like w^2, cheaper
                mask = self.structure.keep_mask(w.abs())
            else:
                mask = self.structure.keep_mask(w * w)
            return w * mask, mask
        q = self.quantizer.quantize(w)
        if not self.prunes:
            return q, q != 0
        gain = (2 * w - q).mul_(q)  # = w^2 - (w - q)^2
        if self.structure.kind == "nonstructured":
            # gain = max over levels l of l(2|w| - l) rises strictly with |w| where it is positive, so
            # the top-k positive gains are the top-k |w| that have a positive gain (same order, same ties)
            mask = self.structure.keep_mask(w.abs()) & (gain > 0)
        else:  # inside a kept group an entry may still be 0: a group is worth its positive gains
            mask = self.structure.keep_mask(gain.clamp(min=0)) & (gain > 0)
        return q * mask, mask

    def project_on(self, w: torch.Tensor, support: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, mask)``: the closest point to ``w`` whose nonzeros lie in a given ``support`` (chosen elsewhere, e.g.
        jointly across layers): ``w`` there, or its level where an entry has a positive gain (as in ``project``)."""
        w = w.detach()
        support = support.to(w.device)
        if self.quantizer is None:
            return w * support, support
        q = self.quantizer.quantize(w)
        mask = support & ((2 * w - q) * q > 0)
        return q * mask, mask

    def gains(self, w: torch.Tensor) -> torch.Tensor:
        """Per weight, how much keeping it lowers the squared error (``w^2``; with a quantizer the positive
        part of ``w^2 - (w - q(w))^2``): the values a group's worth is summed from."""
        w = w.detach()
        if self.quantizer is None:
            return w * w
        q = self.quantizer.quantize(w)
        return (2 * w - q).mul_(q).clamp_(min=0)

    def fit(self, w: torch.Tensor) -> "Constraint":
        """Constraint whose quantizer scale is fitted to the weights that survive pruning."""
        if self.quantizer is None:
            return self
        w = w.detach()
        support = Constraint(self.structure).project(w)[1] if self.prunes else torch.ones_like(w, dtype=torch.bool)
        return replace(self, quantizer=self.quantizer.fit(w[support]))

    def to_dict(self) -> dict:
        d = self.structure.to_dict()
        d["quantizer"] = None if self.quantizer is None else self.quantizer.to_dict()
        return d
