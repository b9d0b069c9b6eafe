"""Coupled structures inside the pruning pipeline: ADMM's Z-update and the hard prune for heads and neurons.

A coupled set (``pruning.coupled``: an attention head's Q/K/V rows and out-projection columns, an FFN
neuron's fc1 row and fc2 column) spans several Linear layers.  Each member layer keeps an ordinary
per-layer structure that describes its shape of zeros: a row member of ``s`` rows per group is
``block (s, K)`` (``filter`` when ``s = 1``), a column member ``block (M, s)`` (``channel`` when
``s = 1``), all at the set's ratio.  That is what the artifact, the checks and the pricing see.  What
coupling adds is *which* groups: the same ``k`` in every member, chosen jointly.

**The projection is exact.**  ADMM's Z-update minimises ``sum_l rho_l ||V_l - Z_l||^2`` over the set
"the same k groups kept in every member".  Given the kept groups each entry is ``V`` (or its level,
with a quantizer), so a group is worth ``sum_l rho_l * (its positive gains in layer l)`` and the best
support keeps the ``k`` groups of largest worth: ``pruning.coupled.keep_masks`` on rho-weighted gains.
Biases are not ADMM variables; the hard prune zeroes the bias entries of pruned groups (``bias_masks``),
so a pruned head's or neuron's output is exactly zero and the block can shrink.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import torch

from .constraint import Constraint
from .coupled import CoupledGroups, Member, find_groups, keep_masks
from .structures import Structure
from .topk import keep_count

KINDS = ("heads", "neurons")


class CoupledError(ValueError):
    """A coupled structure that the model cannot carry (one line naming the model's part and what is allowed)."""


def module_of(param: str) -> str:
    return param.removesuffix(".weight")


def coupled_sets(model: torch.nn.Module, kind: str) -> tuple[CoupledGroups, ...]:
    """The model's coupled sets of ``kind`` whose every weight member is a Linear's ``.weight``."""
    if kind not in KINDS:
        raise CoupledError(f"coupled kind={kind!r}; allowed: {', '.join(KINDS)}")
    modules = dict(model.named_modules())
    sets = [cg for cg in find_groups(model) if cg.kind == kind]
    for cg in sets:
        for mb in cg.members:
            if mb.param.endswith("in_proj_weight"):
                raise CoupledError(
                    f"{cg.name}: nn.MultiheadAttention packs Q, K and V in one in_proj_weight, which the pipeline "
                    "does not prune (it prunes Conv2d/Linear modules); allowed for heads: separate q_proj, k_proj, "
                    "v_proj and out_proj Linears with a num_heads attribute")
            if mb.param.endswith(".weight") and not isinstance(modules.get(module_of(mb.param)), torch.nn.Linear):
                raise CoupledError(f"{cg.name}: member {mb.param} is not a Linear's weight")
    if not sets:
        what = ("q_proj/k_proj/v_proj/out_proj Linears with num_heads" if kind == "heads"
                else "linear1/linear2 or fc1/fc2 Linear pairs")
        raise CoupledError(f"structure {kind!r}: the model has no {kind} to prune; allowed: modules with {what}")
    return tuple(sets)


def weight_members(cg: CoupledGroups) -> tuple[Member, ...]:
    return tuple(mb for mb in cg.members if mb.param.endswith(".weight"))


def member_structure(mb: Member, shape: tuple[int, int], ratio: float) -> Structure:
    """The per-layer structure of one member: its shape of zeros at the set's ratio."""
    rows, cols = shape
    if mb.axis == 0:
        return Structure("filter", ratio) if mb.size == 1 else Structure("block", ratio, block=(mb.size, cols))
    return Structure("channel", ratio) if mb.size == 1 else Structure("block", ratio, block=(rows, mb.size))


def member_layers(sets: tuple[CoupledGroups, ...], model: torch.nn.Module, ratio: float) -> dict[str, Structure]:
    """Per member layer (module name), its structure at ``ratio``; a layer in two sets is refused."""
    modules = dict(model.named_modules())
    out: dict[str, Structure] = {}
    for cg in sets:
        for mb in weight_members(cg):
            name = module_of(mb.param)
            if name in out:
                raise CoupledError(f"layer {name!r} belongs to two coupled sets; allowed: one")
            if mb.offset != 0 or mb.size * cg.n_groups != modules[name].weight.shape[mb.axis]:
                raise CoupledError(f"{cg.name}: {cg.kind} cover part of {name}'s weight; allowed: the whole axis")
            out[name] = member_structure(mb, tuple(modules[name].weight.shape), ratio)
    return out


def project_coupled(sets: tuple[CoupledGroups, ...], constraints: Mapping[str, Constraint],
                    tensors: Mapping[str, torch.Tensor], rho: Mapping[str, float] | None = None
                    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``(z, mask)`` per member layer: the same ``k`` groups kept in every member of a set, the ``k`` of
    largest rho-weighted gain (``k`` from the first member's ratio).  Layers of no set are absent."""
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for cg in sets:
        members = weight_members(cg)
        names = [module_of(mb.param) for mb in members]
        gains = {mb.param: constraints[n].gains(tensors[n]).to(torch.float64) * float((rho or {}).get(n, 1.0))
                 for mb, n in zip(members, names)}
        k = keep_count(cg.n_groups, constraints[names[0]].structure.ratio)
        masks = keep_masks(replace(cg, members=members), {mb.param: tensors[n] for mb, n in zip(members, names)},
                           k, gains)
        for mb, n in zip(members, names):
            out[n] = constraints[n].project_on(tensors[n], masks[mb.param])
    return out


def bias_masks(sets: tuple[CoupledGroups, ...], weight_masks: Mapping[str, torch.Tensor],
               params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks of the sets' bias members: a bias entry stays where its group kept any weight."""
    out: dict[str, torch.Tensor] = {}
    for cg in sets:
        first = weight_members(cg)[0]
        wm = weight_masks[first.param].movedim(first.axis, 0).reshape(cg.n_groups, -1)
        kept = wm.any(1)
        for mb in cg.members:
            if mb.param.endswith(".weight") or mb.param not in params:
                continue
            m = out.setdefault(mb.param, torch.ones(params[mb.param].shape, dtype=torch.bool))
            m.narrow(0, mb.offset, cg.n_groups * mb.size).view(cg.n_groups, mb.size).mul_(kept[:, None])
    return out
