"""Coupled structures of a transformer block: attention heads and FFN neurons.

A *coupled group* is a set of weight slices, spread over several parameters, that must be
zero together for the block to shrink to a smaller dense block:

* attention head ``h`` (``dh = E / num_heads``): rows ``h*dh:(h+1)*dh`` of each of Q, K and V
  (the three thirds of ``nn.MultiheadAttention.in_proj_weight``, or separate q/k/v Linears) and
  of their biases, and the matching columns ``h*dh:(h+1)*dh`` of the output projection;
* FFN neuron ``j``: row ``j`` of fc1 and its bias, and column ``j`` of fc2.

The output projection's and fc2's biases belong to no group (they stay).

Given a gain per parameter entry (``p^2`` by default; any caller gain, e.g. Wanda's
``w_ij^2 H_jj``), ``keep_masks`` keeps the ``k`` groups of largest total gain (a top-k over the
group sums).  With ``p^2`` gains that is the exact Euclidean projection of all the block's
parameters onto "at most k groups nonzero", tested against brute force.

``prune_coupled_`` is the one-shot driver: masks from calibration data (``"magnitude"`` or
``"wanda"`` gains), applied in place, then the output projection and fc2 are refitted by least
squares on their kept input columns (``pruning.oneshot.refit`` on the dense inputs' Gram
matrix).  The kept heads' contexts and the kept neurons' activations do not depend on the pruned
groups, so that refit minimises the block's output error over the kept columns exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import torch
from torch import nn

from .oneshot import capture_grams, refit
from .topk import keep_count, topk_mask

GAINS = ("magnitude", "wanda")


@dataclass(frozen=True)
class Member:
    """One slice of a parameter that a coupled group owns: group ``g`` owns indices
    ``offset + g*size : offset + (g+1)*size`` along ``axis`` (0: rows, 1: columns)."""

    param: str
    axis: int
    offset: int
    size: int


@dataclass(frozen=True)
class CoupledGroups:
    """``n_groups`` groups of one kind (``"heads"`` or ``"neurons"``) of one block."""

    name: str
    kind: str
    n_groups: int
    members: tuple[Member, ...]
    refit_param: str  # the consumer weight (out_proj / fc2), refitted on its kept columns


# ------------------------------------------------------------------ finding the groups
def head_groups(name: str, params: Mapping[str, torch.Tensor], q: str, k: str, v: str, out: str,
                num_heads: int) -> CoupledGroups:
    """Heads from separate q/k/v/out Linears given by module name (``<q>.weight``, ``<q>.bias``...)."""
    e = params[f"{q}.weight"].shape[0]
    if e % num_heads:
        raise ValueError(f"{name}: {e} query rows do not split into {num_heads} heads")
    dh = e // num_heads
    members = []
    for lin in (q, k, v):
        members.append(Member(f"{lin}.weight", 0, 0, dh))
        if f"{lin}.bias" in params:
            members.append(Member(f"{lin}.bias", 0, 0, dh))
    members.append(Member(f"{out}.weight", 1, 0, dh))
    return CoupledGroups(name, "heads", num_heads, tuple(members), f"{out}.weight")


def neuron_groups(name: str, params: Mapping[str, torch.Tensor], fc1: str, fc2: str) -> CoupledGroups:
    """FFN neurons from two Linears given by module name: row j of fc1 (+ bias), column j of fc2."""
    n = params[f"{fc1}.weight"].shape[0]
    if params[f"{fc2}.weight"].shape[1] != n:
        raise ValueError(f"{name}: {fc1} has {n} outputs but {fc2} takes {params[f'{fc2}.weight'].shape[1]}")
    members = [Member(f"{fc1}.weight", 0, 0, 1)]
    if f"{fc1}.bias" in params:
        members.append(Member(f"{fc1}.bias", 0, 0, 1))
    members.append(Member(f"{fc2}.weight", 1, 0, 1))
    return CoupledGroups(name, "neurons", n, tuple(members), f"{fc2}.weight")


# module attribute names that find_groups recognises (torch, Hugging Face and timm conventions)
HEAD_NAMES = (("q_proj", "k_proj", "v_proj", "out_proj"), ("q_proj", "k_proj", "v_proj", "o_proj"))
HEAD_COUNT_NAMES = ("num_heads", "n_heads", "num_attention_heads")
FFN_NAMES = (("linear1", "linear2"), ("fc1", "fc2"))


def _linears(m: nn.Module, names: tuple[str, ...]) -> bool:
    return all(isinstance(getattr(m, a, None), nn.Linear) for a in names)


def _head_count(m: nn.Module) -> int | None:
    for a in HEAD_COUNT_NAMES:
        n = getattr(m, a, None)
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return None


def find_groups(model: nn.Module) -> tuple[CoupledGroups, ...]:
    """Every coupled set of the model, in module order:

    * heads of every ``nn.MultiheadAttention`` with a packed ``in_proj_weight``, and of every module with
      ``q_proj``/``k_proj``/``v_proj`` and ``out_proj`` (or ``o_proj``) Linears and a head count
      (``num_heads``, ``n_heads`` or ``num_attention_heads``);
    * neurons of every module with ``linear1``/``linear2`` (``nn.TransformerEncoderLayer``/``DecoderLayer``)
      or ``fc1``/``fc2`` Linears."""
    params = dict(model.named_parameters())
    out = []
    for name, m in model.named_modules():
        p = f"{name}." if name else ""
        heads = next((names for names in HEAD_NAMES if _linears(m, names)), None)
        ffn = next((names for names in FFN_NAMES if _linears(m, names)), None)
        if heads is not None and _head_count(m) is not None:
            out.append(head_groups(name or "(model)", params, *(p + a for a in heads), _head_count(m)))
        if ffn is not None:
            out.append(neuron_groups(name or "(model)", params, *(p + a for a in ffn)))
        if isinstance(m, nn.MultiheadAttention) and m.in_proj_weight is not None:
            e, dh = m.embed_dim, m.head_dim
            members = [Member(f"{p}in_proj_weight", 0, t * e, dh) for t in range(3)]
            if m.in_proj_bias is not None:
                members += [Member(f"{p}in_proj_bias", 0, t * e, dh) for t in range(3)]
            members.append(Member(f"{p}out_proj.weight", 1, 0, dh))
            out.append(CoupledGroups(name or "(model)", "heads", m.num_heads, tuple(members), f"{p}out_proj.weight"))
    return tuple(out)


# ------------------------------------------------------------------ the projection
def _slices(t: torch.Tensor, mb: Member, n_groups: int) -> torch.Tensor:
    """The member's region of ``t`` as (n_groups, size, rest...)."""
    region = t.narrow(mb.axis, mb.offset, n_groups * mb.size)
    region = region.movedim(mb.axis, 0)
    return region.view(n_groups, mb.size, *region.shape[1:])  # a view (never a copy): keep_masks writes through it


def group_scores(groups: CoupledGroups, gains: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Total gain of each group (float64, length ``n_groups``)."""
    total = torch.zeros(groups.n_groups, dtype=torch.float64)
    for mb in groups.members:
        s = _slices(gains[mb.param].to(torch.float64).contiguous(), mb, groups.n_groups)
        total += s.reshape(groups.n_groups, -1).sum(1)
    return total


def keep_masks(groups: CoupledGroups, params: Mapping[str, torch.Tensor], k: int,
               gains: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Boolean masks (per member parameter) keeping exactly the ``k`` groups of largest total gain.

    ``gains`` maps parameter names to per-entry gains; a member missing there gets ``p^2``.
    Ties go to the lower group index.
    """
    if not 0 <= k <= groups.n_groups:
        raise ValueError(f"{groups.name}: keep k={k} of {groups.n_groups} {groups.kind}; allowed 0..{groups.n_groups}")
    gains = dict(gains or {})
    full = {mb.param: gains.get(mb.param, params[mb.param].detach().to(torch.float64) ** 2) for mb in groups.members}
    keep = topk_mask(group_scores(groups, full), k)
    masks: dict[str, torch.Tensor] = {}
    for mb in groups.members:
        m = masks.setdefault(mb.param, torch.ones(params[mb.param].shape, dtype=torch.bool))
        region = _slices(m, mb, groups.n_groups)  # a view: writes land in m
        region &= keep.reshape(-1, *([1] * (region.dim() - 1)))
    return masks


# ------------------------------------------------------------------ one-shot driver
@dataclass(frozen=True)
class CoupledReport:
    name: str
    kind: str
    kept: tuple[int, ...]   # indices of the kept groups
    n_groups: int


def _wanda_gains(params: Mapping[str, torch.Tensor], grams: Mapping[str, torch.Tensor],
                 tokens: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """``w_ij^2 H_jj`` for every weight with a captured input; a bias is a weight on a constant 1
    input, so its gain is ``b^2 * tokens``."""
    out: dict[str, torch.Tensor] = {}
    for wname, h in grams.items():
        pname = wname if wname in params else f"{wname}.weight"
        out[pname] = params[pname].detach().to(torch.float64) ** 2 * torch.diagonal(h)[None, :]
        bname = pname.replace("in_proj_weight", "in_proj_bias") if pname.endswith("in_proj_weight") \
            else pname[: -len("weight")] + "bias"
        if bname in params:
            out[bname] = params[bname].detach().to(torch.float64) ** 2 * tokens[wname]
    return out


@torch.no_grad()
def prune_coupled_(model: nn.Module, batches: Iterable, ratio: float,
                   groups: Iterable[CoupledGroups] | None = None, gains: str = "magnitude",
                   refit_outputs: bool = True) -> tuple[CoupledReport, ...]:
    """Prune a fraction ``ratio`` of the groups of every coupled set in place (``keep_count``
    groups kept per set), then, if ``refit_outputs``, refit each set's consumer weight (out_proj /
    fc2) on its kept columns from the dense calibration inputs.  ``gains``: ``"magnitude"``
    (``p^2``) or ``"wanda"`` (``w^2 H_jj``).  ``batches`` is iterated once (a list, not a generator)."""
    if gains not in GAINS:
        raise ValueError(f"gains={gains!r}; allowed: {', '.join(GAINS)}")
    sets = tuple(find_groups(model) if groups is None else groups)
    params = dict(model.named_parameters())
    grams: dict[str, torch.Tensor] = {}
    tokens: dict[str, int] = {}
    if gains == "wanda" or refit_outputs:
        grams, tokens = capture_grams(model, list(batches))
    gain_map = _wanda_gains(params, grams, tokens) if gains == "wanda" else {}
    reports = []
    for cg in sets:
        missing = [mb.param for mb in cg.members if gains == "wanda" and mb.param not in gain_map]
        if missing:
            raise ValueError(f"{cg.name}: no calibration input seen for {', '.join(missing)} (cross-attention or "
                             "never called), so no Wanda gain; use gains='magnitude'")
        masks = keep_masks(cg, params, keep_count(cg.n_groups, ratio), gain_map)
        w_dense = params[cg.refit_param].detach().clone()  # refit fits the dense output, from the dense weight
        for pname, m in masks.items():
            params[pname].mul_(m.to(params[pname].dtype))
        wname = cg.refit_param.removesuffix(".weight")  # capture_grams keys a Linear by its module name
        if refit_outputs:
            if wname not in grams:
                raise ValueError(f"{cg.name}: the input of {cg.refit_param} was never seen; cannot refit")
            params[cg.refit_param].copy_(refit(w_dense, grams[wname], masks[cg.refit_param]))
        keep = _slices(masks[cg.members[0].param], cg.members[0], cg.n_groups).reshape(cg.n_groups, -1)[:, 0]
        reports.append(CoupledReport(cg.name, cg.kind, tuple(int(i) for i in torch.nonzero(keep)[:, 0]),
                                     cg.n_groups))
    return tuple(reports)
