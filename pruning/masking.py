"""Masks and quantization levels as parametrizations (``torch.nn.utils.parametrize``).

After the hard prune every constrained parameter ``p`` is re-expressed as
``p = mask * q(latent)``: the optimizer trains the float ``latent`` tensor, the
forward pass (and anything reading ``module.weight``) sees the constrained
value.  So any training loop (its own optimizer, momentum, weight decay, AMP,
DDP) keeps the zeros exactly and the quantized layers exactly on their levels,
with no hooks to call.  The rounding passes the gradient straight through (STE);
pruned entries get no gradient.

``bake(model)`` removes the parametrizations and leaves plain parameters
holding the constrained values (what the artifact stores).  Masks are keyed by
parameter name (``conv1.weight``, ``conv1.bias``, ``bn1.weight``): the one
keying used everywhere in ``pruning``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .quantizers import Quantizer


class MaskAndLevels(nn.Module):
    """The parametrization ``latent -> mask * q(latent)`` (q: identity without a quantizer)."""

    def __init__(self, mask: torch.Tensor, quantizer: Quantizer | None = None):
        super().__init__()
        self.register_buffer("mask", mask.detach().clone())
        self.quantizer = quantizer

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        if self.quantizer is not None:
            with torch.no_grad():
                step = self.quantizer.quantize(latent.detach()) - latent.detach()
            latent = latent + step  # straight-through: value q(latent), gradient of the identity
        out = latent * self.mask
        if out.stride() != latent.stride():  # e.g. a 1-channel conv in channels_last: keep the latent's layout,
            out = torch.empty_like(latent).copy_(out)  # or oneDNN reorders the weight at every call (+40%)
        return out


def _split(name: str) -> tuple[str, str]:
    module, _, attr = name.rpartition(".")
    return module, attr


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor],
                quantizers: dict[str, Quantizer] | None = None, fresh_tensors: bool = False) -> None:
    """Register ``MaskAndLevels`` on every named parameter (a quantizer alone gets an all-ones mask).

    The latent is the parameter object itself (an optimizer built before keeps training it), unless
    ``fresh_tensors``: then a new Parameter (rebuild the optimizer), which DDP needs because a previous
    ``DistributedDataParallel`` leaves hooks on the old tensor that break the next wrapper."""
    quantizers = dict(quantizers or {})
    params = dict(model.named_parameters())
    unknown = sorted((set(masks) | set(quantizers)) - set(params))
    if unknown:
        raise KeyError(f"masks/quantizers name parameters the model lacks: {unknown}")
    modules = dict(model.named_modules())
    for name in dict.fromkeys([*masks, *quantizers]):
        p = params[name]
        mask = torch.empty_like(p).copy_(masks.get(name, torch.ones_like(p)))  # p's device, dtype and layout
        module, attr = _split(name)
        with torch.no_grad():
            p.mul_(mask)  # pruned latents start (and, without gradient, stay) at zero
        if fresh_tensors:  # a DDP reducer's hooks on the old tensor must not follow it into the new wrapper
            p = nn.Parameter(p.detach().clone(), requires_grad=p.requires_grad)
            setattr(modules[module], attr, p)
        parametrize.register_parametrization(modules[module], attr, MaskAndLevels(mask, quantizers.get(name)))


def is_masked(model: nn.Module) -> bool:
    return any(parametrize.is_parametrized(m) for m in model.modules())


def masked_names(model: nn.Module) -> list[str]:
    """Parameter names (``conv1.weight``) that carry a mask/levels parametrization."""
    out = []
    for mname, m in model.named_modules():
        if parametrize.is_parametrized(m):
            out += [f"{mname}.{attr}" if mname else attr for attr in m.parametrizations]
    return out


@torch.no_grad()
def bake(model: nn.Module) -> dict[str, torch.Tensor]:
    """Remove every mask/levels parametrization, keeping the constrained values; returns the masks."""
    masks = {}
    modules = dict(model.named_modules())
    for name in masked_names(model):
        module, attr = _split(name)
        mod = modules[module]
        masks[name] = next(iter(mod.parametrizations[attr])).mask.detach().clone()
        parametrize.remove_parametrizations(mod, attr, leave_parametrized=True)
    return masks
