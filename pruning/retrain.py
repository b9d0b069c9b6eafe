"""Masked retraining after the hard prune.

Guarantees (tested):
* a masked weight is exactly 0 after every step, whatever momentum, Adam
  moments or weight decay do: its gradient is zeroed before the step and the
  weight is multiplied by its mask after it;
* a quantized layer is exactly on its level set at the end: training updates a
  float *latent* copy, the forward pass sees ``mask * q(latent)``, and the
  gradient passes straight through the rounding (STE).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .quantizers import Quantizer


class MaskedRetrainer:
    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor],
                 quantizers: dict[str, Quantizer] | None = None):
        """``masks`` and ``quantizers`` are keyed by parameter name (``conv1.weight``)."""
        params = dict(model.named_parameters())
        unknown = sorted(set(masks) - set(params)) + sorted(set(quantizers or {}) - set(params))
        if unknown:
            raise KeyError(f"masks/quantizers name parameters the model lacks: {unknown}")
        self.params = {n: params[n] for n in masks}
        self.masks = {n: m.to(device=params[n].device, dtype=params[n].dtype) for n, m in masks.items()}
        self.quantizers = dict(quantizers or {})
        for n in self.quantizers:
            if n not in self.masks:
                self.params[n] = params[n]
                self.masks[n] = torch.ones_like(params[n])
        self.latent = {n: self.params[n].detach().clone() for n in self.quantizers}
        with torch.no_grad():  # masks only: quantized parameters may hold latent weights (resume)
            for n, p in self.params.items():
                p.mul_(self.masks[n])

    @torch.no_grad()
    def _projected(self, name: str, w: torch.Tensor) -> torch.Tensor:
        q = self.quantizers.get(name)
        return (w if q is None else q.quantize(w)) * self.masks[name]

    # hooks for train_epoch ------------------------------------------------
    @torch.no_grad()
    def before_forward(self) -> None:
        for n in self.quantizers:
            self.latent[n].copy_(self.params[n])
            self.params[n].copy_(self._projected(n, self.params[n]))

    @torch.no_grad()
    def after_backward(self) -> None:
        for n, p in self.params.items():
            if p.grad is not None:
                p.grad.mul_(self.masks[n])
        for n in self.quantizers:
            self.params[n].copy_(self.latent[n])

    @torch.no_grad()
    def after_step(self) -> None:
        for n, p in self.params.items():
            p.mul_(self.masks[n])

    # --------------------------------------------------------------------
    @torch.no_grad()
    def apply(self) -> None:
        """Put every constrained parameter exactly on its set (zeros and levels)."""
        for n, p in self.params.items():
            p.copy_(self._projected(n, p))

    @contextmanager
    def projected(self):
        """Evaluate the constrained model mid-training without losing the latent weights."""
        saved = {n: self.params[n].detach().clone() for n in self.quantizers}
        self.apply()
        try:
            yield
        finally:
            with torch.no_grad():
                for n, t in saved.items():
                    self.params[n].copy_(t)
