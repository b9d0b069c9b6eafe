"""Network purification: find removable channels and compact the model.

The model is traced with ``torch.fx`` and every tensor is assigned a *channel
space*: a conv/linear output opens one; BatchNorm, ReLU, pooling, dropout keep
it; a residual ``add`` merges the spaces of its inputs; ``flatten`` maps channel
``c`` of a ``C x H x W`` tensor to features ``c*H*W ... (c+1)*H*W - 1``.  A
space has *producers* (conv/linear writing it, BatchNorms acting on it) and
*consumers* (conv/linear reading it, directly or through a flatten).

Channel ``c`` of a space is removable when either

* its output is exactly zero: every producer's filter ``c`` is all-zero with
  zero bias, and every BatchNorm on the space has ``weight[c] = bias[c] = 0``;
* or it is unused: every consumer's weights for input ``c`` are all zero.

Spaces that touch the model's input or output, a grouped convolution, or an op
the analysis does not know are pinned (nothing removed): the compacted model is
then exactly the masked model with fewer channels, never an approximation.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

_KEEP_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                 nn.AdaptiveMaxPool2d, nn.Dropout, nn.Identity)
_KEEP_FUNCS = {torch.relu, torch.nn.functional.relu, torch.max_pool2d, torch.nn.functional.max_pool2d,
               torch.nn.functional.avg_pool2d, torch.nn.functional.adaptive_avg_pool2d,
               torch.nn.functional.dropout, torch.nn.functional.relu6}
_KEEP_METHODS = {"relu", "relu_", "contiguous", "clone"}
_ADD = {operator.add, operator.iadd, torch.add}
_FLATTEN_METHODS = {"view", "reshape", "flatten"}


class PurificationError(RuntimeError):
    pass


@dataclass
class ChannelSpace:
    channels: int
    producers: list[str] = field(default_factory=list)   # conv/linear module names
    norms: list[str] = field(default_factory=list)       # BatchNorm module names
    consumers: list[tuple[str, int]] = field(default_factory=list)  # (module, features per channel)
    pinned: str | None = None                            # why nothing may be removed


@dataclass(frozen=True)
class PurificationReport:
    zero_filters: dict[str, list[int]]          # layer -> output channels whose weights are all zero
    zero_inputs: dict[str, list[int]]           # layer -> input channels whose weights are all zero
    removable: list[dict]                       # per space: producers, consumers, channels removable
    pinned: list[dict]                          # spaces left alone and why

    def to_dict(self) -> dict:
        return {"zero_filters": self.zero_filters, "zero_inputs": self.zero_inputs,
                "removable": self.removable, "pinned": self.pinned}

    @property
    def removable_channels(self) -> int:
        return sum(len(s["channels"]) for s in self.removable)


class _Spaces:
    def __init__(self):
        self.parent: list[int] = []
        self.spaces: list[ChannelSpace] = []

    def new(self, channels: int, pinned: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.spaces.append(ChannelSpace(channels, pinned=pinned))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        sa, sb = self.spaces[a], self.spaces[b]
        if sa.channels != sb.channels:
            sa.pinned = sa.pinned or f"add of {sa.channels} and {sb.channels} channels"
        sa.producers += sb.producers
        sa.norms += sb.norms
        sa.consumers += sb.consumers
        sa.pinned = sa.pinned or sb.pinned
        self.parent[b] = a
        return a

    def pin(self, i: int, why: str) -> None:
        s = self.spaces[self.find(i)]
        s.pinned = s.pinned or why

    def roots(self) -> list[int]:
        return sorted({self.find(i) for i in range(len(self.parent))})


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def analyse_spaces(model: nn.Module, example: torch.Tensor) -> tuple[_Spaces, dict[str, nn.Module]]:
    """Trace ``model`` and build its channel spaces."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - any tracing failure means "cannot analyse"
        raise PurificationError(f"model cannot be traced by torch.fx: {e}") from e
    was_training = model.training
    gm.eval()
    ShapeProp(gm).propagate(example)
    model.train(was_training)
    modules = dict(model.named_modules())
    sp = _Spaces()
    space_of: dict[fx.Node, tuple[int, int]] = {}  # node -> (space, features per channel; 0 = not flat)

    def inputs(node):
        return [a for a in node.all_input_nodes if a in space_of]

    for node in gm.graph.nodes:
        shape = _shape(node)
        if node.op == "placeholder":
            space_of[node] = (sp.new(shape[1] if shape and len(shape) > 1 else 1, "model input"), 0)
            continue
        if node.op == "output":
            for a in inputs(node):
                sp.pin(space_of[a][0], "model output")
            continue
        if shape is None:  # non-tensor values (sizes, ints): no channels
            continue
        ins = inputs(node)
        target = node.target
        mod = modules.get(target) if node.op == "call_module" else None
        first = space_of[ins[0]] if ins else None
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            s, per = first
            if isinstance(mod, nn.Conv2d) and mod.groups != 1:
                sp.pin(s, f"grouped conv {target}")
                space_of[node] = (sp.new(shape[1], f"grouped conv {target}"), 0)
                continue
            if isinstance(mod, nn.Conv2d) and per:
                sp.pin(s, f"conv {target} reads a flattened tensor")
            sp.spaces[sp.find(s)].consumers.append((target, max(per, 1)))
            out = sp.new(shape[1])
            sp.spaces[out].producers.append(target)
            space_of[node] = (out, 0)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            sp.spaces[sp.find(first[0])].norms.append(target)
            space_of[node] = first
        elif isinstance(mod, _KEEP_MODULES) or (node.op == "call_function" and target in _KEEP_FUNCS) or (
                node.op == "call_method" and target in _KEEP_METHODS):
            space_of[node] = first
        elif (node.op == "call_function" and target is torch.flatten) or (
                node.op == "call_method" and target in _FLATTEN_METHODS):
            in_shape = _shape(ins[0])
            if in_shape is not None and len(in_shape) == 4 and len(shape) == 2 and first[1] == 0:
                space_of[node] = (first[0], in_shape[2] * in_shape[3])
            elif in_shape is not None and tuple(in_shape) == tuple(shape):
                space_of[node] = first
            else:
                for a in ins:
                    sp.pin(space_of[a][0], f"reshape {node.name}")
                space_of[node] = (sp.new(shape[1] if len(shape) > 1 else 1, f"reshape {node.name}"), 0)
        elif node.op == "call_function" and target in _ADD and len(ins) == 2 and all(
                space_of[a][1] == 0 for a in ins):
            space_of[node] = (sp.union(space_of[ins[0]][0], space_of[ins[1]][0]), 0)
        else:
            why = f"unsupported op {node.op}:{getattr(target, '__name__', target)}"
            for a in ins:
                sp.pin(space_of[a][0], why)
            space_of[node] = (sp.new(shape[1] if len(shape) > 1 else 1, why), 0)
    return sp, modules


@torch.no_grad()
def _zero_output(space: ChannelSpace, modules) -> torch.Tensor:
    zero = torch.ones(space.channels, dtype=torch.bool)
    for name in space.producers:
        m = modules[name]
        w = m.weight.reshape(m.weight.shape[0], -1)
        zero &= (w == 0).all(1).cpu()
        if m.bias is not None:
            zero &= (m.bias == 0).cpu()
    for name in space.norms:
        bn = modules[name]
        if bn.affine:
            zero &= ((bn.weight == 0) & (bn.bias == 0)).cpu()
        else:
            zero &= False
    if not space.producers:
        zero &= False
    return zero


@torch.no_grad()
def _unused(space: ChannelSpace, modules) -> torch.Tensor:
    unused = torch.ones(space.channels, dtype=torch.bool)
    for name, per in space.consumers:
        m = modules[name]
        w = m.weight
        if isinstance(m, nn.Conv2d):
            unused &= (w == 0).all(dim=(0, 2, 3)).cpu()
        else:
            unused &= (w.reshape(w.shape[0], space.channels, per) == 0).all(dim=(0, 2)).cpu()
    if not space.consumers:
        unused &= False
    return unused


def _zero_io(modules) -> tuple[dict, dict]:
    zf, zi = {}, {}
    for name, m in modules.items():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach().reshape(m.weight.shape[0], m.weight.shape[1], -1)
            zf[name] = (w == 0).all(dim=(1, 2)).nonzero().reshape(-1).tolist()
            zi[name] = (w == 0).all(dim=(0, 2)).nonzero().reshape(-1).tolist()
    return zf, zi


def purify(model: nn.Module, example: torch.Tensor) -> PurificationReport:
    """Report all-zero filters/channels and every channel that can be removed exactly."""
    sp, modules = analyse_spaces(model, example)
    zf, zi = _zero_io(modules)
    removable, pinned = [], []
    for r in sp.roots():
        s = sp.spaces[r]
        if not s.producers and not s.consumers:
            continue
        desc = {"producers": list(s.producers), "norms": list(s.norms),
                "consumers": [c for c, _ in s.consumers], "channels_total": s.channels}
        if s.pinned:
            pinned.append({**desc, "why": s.pinned})
            continue
        dead = (_zero_output(s, modules) | _unused(s, modules)).nonzero().reshape(-1).tolist()
        if len(dead) == s.channels:  # keep one channel so every layer keeps a shape
            dead = dead[1:]
        removable.append({**desc, "channels": dead})
    return PurificationReport(zf, zi, removable, pinned)


@torch.no_grad()
def compact(model: nn.Module, example: torch.Tensor, report: PurificationReport | None = None) -> nn.Module:
    """A physically smaller copy of ``model`` (same class) with removable channels cut out."""
    report = report or purify(model, example)
    small = copy.deepcopy(model)
    mods = dict(small.named_modules())
    for space in report.removable:
        drop = space["channels"]
        if not drop:
            continue
        n = space["channels_total"]
        keep = torch.tensor([c for c in range(n) if c not in set(drop)])
        for name in space["producers"]:
            m = mods[name]
            m.weight = nn.Parameter(m.weight[keep].clone())
            if m.bias is not None:
                m.bias = nn.Parameter(m.bias[keep].clone())
            if isinstance(m, nn.Conv2d):
                m.out_channels = len(keep)
            else:
                m.out_features = len(keep)
        for name in space["norms"]:
            bn = mods[name]
            for attr in ("weight", "bias"):
                if getattr(bn, attr) is not None:
                    setattr(bn, attr, nn.Parameter(getattr(bn, attr)[keep].clone()))
            for attr in ("running_mean", "running_var"):
                if getattr(bn, attr) is not None:
                    setattr(bn, attr, getattr(bn, attr)[keep].clone())
            bn.num_features = len(keep)
        for name in space["consumers"]:
            m = mods[name]
            if isinstance(m, nn.Conv2d):
                m.weight = nn.Parameter(m.weight[:, keep].clone())
                m.in_channels = len(keep)
            else:
                per = m.weight.shape[1] // n
                cols = (keep[:, None] * per + torch.arange(per)[None, :]).reshape(-1)
                m.weight = nn.Parameter(m.weight[:, cols].clone())
                m.in_features = len(cols)
    return small


def coupled_masks(model: nn.Module, example: torch.Tensor, weight_masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks for the bias and BatchNorm channels of fully pruned filters.

    Pruning a filter removes the whole output channel: its bias and the affine
    parameters of the BatchNorm that normalises it.  Returns extra masks keyed by
    parameter name; spaces with several producers (residual adds) only couple
    the BatchNorm when every producer's filter is pruned.
    """
    try:
        sp, modules = analyse_spaces(model, example)
    except PurificationError:
        return {}
    extra: dict[str, torch.Tensor] = {}
    for name, mask in weight_masks.items():
        m = modules[name]
        alive = mask.reshape(mask.shape[0], -1).any(1)
        if m.bias is not None:
            extra[f"{name}.bias"] = alive.to(m.bias.dtype)
    for r in sp.roots():
        s = sp.spaces[r]
        if not s.norms or not s.producers or not all(p in weight_masks for p in s.producers):
            continue
        alive = torch.zeros(s.channels, dtype=torch.bool)
        for p in s.producers:
            m = weight_masks[p]
            alive |= m.reshape(m.shape[0], -1).any(1).cpu()
        if alive.all():
            continue
        for bn in s.norms:
            if modules[bn].affine:
                extra[f"{bn}.weight"] = alive.float()
                extra[f"{bn}.bias"] = alive.float()
    return extra
