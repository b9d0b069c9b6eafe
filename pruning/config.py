"""Pruning configuration: YAML in, validated frozen dataclasses out.

Everything is checked before any training starts; an error names the layer,
the field, the value and what is allowed.  See ``docs/config.md`` for the
format.  Two ways to name layers are accepted:

* ``layers: {conv1: {type: filter, ratio: 0.5, bits: 4}, "re:fc.*": {...}}``
* ``prune_ratios: {conv1.weight: 0.8, fc1.weight: 0.99}`` (the ADMM authors'
  format; the sparsity type and bits come from ``defaults``)
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from torch import nn

from fileguard import YamlError, as_tuple, load_unique_yaml, short, unknown_fields

from .budget import POOLED, BudgetError, GlobalBudget
from .cost_budget import CostCurveError, CostCurves
from .constraint import Constraint
from .coupled import CoupledGroups
from .coupled_projection import KINDS as COUPLED_KINDS
from .coupled_projection import CoupledError, coupled_sets, member_layers
from .quantizers import SCHEMES, Quantizer
from .structures import KINDS, Structure
from .weight_bits import FLOAT_BITS, BitsError, check_weight_bits

METHODS = ("admm", "magnitude", "group_lasso")
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 100_000
MAX_ROUNDS = 10_000
MAX_BATCH = 1 << 20
MAX_BLOCK_SIDE = 65_536
MAX_NM_M = 1024
MAX_EXACT_CELLS = 1_000_000_000


class ConfigError(ValueError):
    """An invalid configuration; the message names the field and what is allowed."""


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping from ``path`` ({} when the file is empty); one ConfigError line for anything else."""
    try:
        data = load_unique_yaml(path)
    except YamlError as e:
        raise ConfigError(str(e)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of fields, got {type(data).__name__}")
    return data


def _check_keys(where: str, data: dict, allowed) -> None:
    unknown = sorted(set(data) - set(allowed), key=str)
    if unknown:
        raise ConfigError(f"{where}: {unknown_fields(unknown, allowed)}; allowed: {', '.join(sorted(allowed))}")


def _fmt(v) -> str:
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def _range_text(lo, hi, integer: bool, lo_open: bool, hi_open: bool) -> str:
    kind = "an integer" if integer else "a finite number"
    if lo is not None and hi is not None and integer:
        return f"{kind} >= {_fmt(lo)} and <= {_fmt(hi)}"
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{kind} {'<' if hi_open else '<='} {_fmt(hi)}"
    return kind


def _number(where: str, name: str, value, lo=None, hi=None, integer=False, lo_open=False, hi_open=False):
    """``value`` if it is a number (an int when ``integer``; never a bool, NaN or inf) within the bounds."""
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = not isinstance(value, bool) and ok_type and (integer or math.isfinite(value))
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        raise ConfigError(f"{where}: field {name!r}={short(value)}; allowed: "
                          f"{_range_text(lo, hi, integer, lo_open, hi_open)}")
    return value


def _bool(where: str, name: str, value) -> bool:
    """Only YAML ``true``/``false``: the string 'false' is not a bool (it would read as true)."""
    if not isinstance(value, bool):
        hint = " (a string is not a bool: write true or false unquoted)" if isinstance(value, str) else ""
        raise ConfigError(f"{where}: field {name!r}={short(value)}; allowed: true, false{hint}")
    return value


def _choice(where: str, name: str, value, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{where}: field {name!r}={short(value)}; allowed: {', '.join(allowed)}")
    return value


# --------------------------------------------------------------------- layers
@dataclass(frozen=True)
class LayerSpec:
    """What the user asked for one layer (or a regex of layers)."""

    type: str = "nonstructured"
    ratio: float = 0.0
    block: tuple[int, int] = (4, 4)
    nm: tuple[int, int] = (2, 4)
    bits: int | None = None
    quant: str = "uniform"
    zero_level: bool = True
    rho: float | None = None

    @classmethod
    def from_dict(cls, where: str, data: dict, base: "LayerSpec | None" = None) -> "LayerSpec":
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of fields, got {short(data)}")
        _check_keys(where, data, {f.name for f in fields(cls)})
        spec = replace(base or cls(), **data)
        return spec.validated(where)

    def validated(self, where: str) -> "LayerSpec":
        _choice(where, "type", self.type, KINDS)
        _number(where, "ratio", self.ratio, 0, 1, hi_open=True)  # fraction pruned
        for name, hi in (("block", MAX_BLOCK_SIDE), ("nm", MAX_NM_M)):
            v = getattr(self, name)
            if not (isinstance(v, (list, tuple)) and len(v) == 2
                    and all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= hi for i in v)):
                raise ConfigError(f"{where}: field {name!r}={short(v)}; allowed: two integers in 1..{hi}")
        if self.nm[0] > self.nm[1]:
            raise ConfigError(f"{where}: field 'nm'={list(self.nm)}; allowed: N <= M")
        if self.bits is not None:
            try:
                check_weight_bits(self.bits, "field 'bits'")   # the house form of this file's messages
            except BitsError as e:
                raise ConfigError(f"{where}: {e}") from None
        _choice(where, "quant", self.quant, SCHEMES)
        _bool(where, "zero_level", self.zero_level)
        if self.rho is not None:
            _number(where, "rho", self.rho, 0, lo_open=True)
        bits = None if self.bits == FLOAT_BITS else self.bits   # 32: float weights, no quantizer
        return replace(self, block=tuple(self.block), nm=tuple(self.nm), bits=bits)

    def constraint(self, where: str) -> Constraint:
        try:
            structure = Structure(self.type, float(self.ratio), block=self.block, n=self.nm[0], m=self.nm[1])
            quantizer = None
            if self.bits is not None or self.quant in ("binary", "ternary"):
                bits = self.bits if self.bits is not None else 8
                quantizer = Quantizer(self.quant, bits, self.zero_level)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
        return Constraint(structure, quantizer)


@dataclass(frozen=True)
class LayerPlan:
    """A resolved layer: its name in the model, its constraint set and its ADMM rho."""

    name: str
    constraint: Constraint
    rho: float


# ---------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 256


@dataclass(frozen=True)
class ADMMConfig:
    schedule: tuple[float, ...] = (1.0,)  # progressive steps: fractions of the final log-compression
    rounds: int = 4                       # ADMM rounds per step (0: one-shot prune + retrain)
    epochs_per_round: int = 1
    rho: float = 1e-3
    rho_multiplier: float = 1.3
    rho_max: float = 10.0
    lr: float | None = None               # None: train.lr; reset at the start of every round
    eps: float | None = None              # convergence: a step ends early once every layer's relative
                                          # primal and dual residuals are <= eps (None: always `rounds`)


@dataclass(frozen=True)
class DistillConfig:
    """Masked retraining learns from the dense model's softened outputs too (``pruning.distill``)."""

    weight: float = 0.5        # share of the loss on the teacher's outputs, in (0, 1]; the rest on the labels
    temperature: float = 4.0   # softmax temperature T of teacher and student, in (0, 100]


@dataclass(frozen=True)
class CoupledConfig:
    """Coupled structures (``pruning.coupled_projection``): a fraction ``ratio`` of the model's attention heads
    (``kind: heads``) or FFN neurons (``kind: neurons``) pruned in every block, each group across all its layers."""

    kind: str = "heads"
    ratio: float = 0.5


@dataclass(frozen=True)
class PruneConfig:
    method: str = "admm"
    seed: int = 0
    pretrain_epochs: int = 5
    retrain_epochs: int = 5
    retrain_lr: float | None = None
    group_lasso: float = 1e-4            # SSL penalty weight (method: group_lasso)
    train: TrainConfig = field(default_factory=TrainConfig)
    admm: ADMMConfig = field(default_factory=ADMMConfig)
    defaults: LayerSpec = field(default_factory=LayerSpec)
    layers: tuple[tuple[str, LayerSpec], ...] = ()
    budget: GlobalBudget | None = None   # one whole-network ratio shared out across layers (pruning.budget)
    distill: DistillConfig | None = None # retraining distils from the dense model (None: labels only)
    coupled: CoupledConfig | None = None # heads / FFN neurons pruned across their layers (None: none)

    # --------------------------------------------------------------- parsing
    @classmethod
    def from_dict(cls, data: dict) -> "PruneConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"config: expected a mapping of fields, got {short(data)}")
        top = {"method", "seed", "pretrain_epochs", "retrain_epochs", "retrain_lr", "group_lasso",
               "train", "admm", "defaults", "layers", "prune_ratios", "budget", "distill", "coupled"}
        _check_keys("config", data, top)
        method = _choice("config", "method", data.get("method", "admm"), METHODS)
        train = _train(_sub(TrainConfig, "train", data.get("train", {})))
        admm = _admm(_sub(ADMMConfig, "admm", data.get("admm", {})))
        for name, hi in (("seed", MAX_SEED), ("pretrain_epochs", MAX_EPOCHS), ("retrain_epochs", MAX_EPOCHS)):
            if name in data:
                _number("config", name, data[name], 0, hi, integer=True)
        if data.get("retrain_lr") is not None:
            _number("config", "retrain_lr", data["retrain_lr"], 0, lo_open=True)
        _number("config", "group_lasso", data.get("group_lasso", 1e-4), 0)
        defaults = LayerSpec.from_dict("defaults", data.get("defaults", {}))
        layers: list[tuple[str, LayerSpec]] = []
        raw_layers = data.get("layers")
        raw_layers = {} if raw_layers is None else raw_layers
        if not isinstance(raw_layers, dict):
            raise ConfigError(f"config: field 'layers'={short(raw_layers)}; allowed: a mapping of layer names "
                              "(or re:PATTERN) to their fields")
        for name, spec in raw_layers.items():
            key = _layer_key(name, "layers", layers)
            layers.append((key, LayerSpec.from_dict(f"layer {short(name, 60)}", {} if spec is None else spec,
                                                    defaults)))
        ratios = data.get("prune_ratios")
        ratios = {} if ratios is None else ratios
        if not isinstance(ratios, dict):
            raise ConfigError(f"config: field 'prune_ratios'={short(ratios)}; allowed: a mapping of layer names "
                              "to ratios")
        for name, ratio in ratios.items():
            key = _layer_key(name, "prune_ratios", layers)
            layers.append((key, LayerSpec.from_dict(f"layer {short(name, 60)}", {"ratio": ratio}, defaults)))
        kw = {k: data[k] for k in ("seed", "pretrain_epochs", "retrain_epochs", "retrain_lr", "group_lasso")
              if k in data}
        budget = _budget(data.get("budget"), layers)
        _rho_within_max(admm, defaults, layers)
        distill = _distill(data.get("distill"))
        coupled = _coupled(data.get("coupled"), budget)
        return cls(method=method, train=train, admm=admm, defaults=defaults, layers=tuple(layers), budget=budget,
                   distill=distill, coupled=coupled, **kw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "PruneConfig":
        return cls.from_dict(load_yaml(path))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = {name: asdict(spec) for name, spec in self.layers}
        for optional in ("budget", "distill", "coupled"):
            if getattr(self, optional) is None:
                d.pop(optional)
        if self.budget is not None and self.budget.cost is None:
            d["budget"].pop("cost")   # a weight budget reads as it always did
        return _plain(d)

    def with_overrides(self, **kw) -> "PruneConfig":
        return replace(self, **kw)

    # ------------------------------------------------------------- resolving
    def resolve(self, model: nn.Module) -> dict[str, LayerPlan]:
        """Match layer names/regexes to the model; check every layer's shape."""
        modules = dict(model.named_modules())
        prunable = [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
        plans: dict[str, LayerPlan] = {}
        named_by: dict[str, str] = {}
        for key, spec in self.layers:
            if key.startswith("re:"):
                pattern = _compile(key)
                names = [n for n in prunable if pattern.fullmatch(n)]
                if not names:
                    raise ConfigError(f"layer pattern {short(key)} matches no Conv2d/Linear layer; "
                                      f"prunable layers: {', '.join(prunable)}")
            else:
                if key not in modules:
                    raise ConfigError(f"layer {short(key)} not found in the model; prunable layers: "
                                      f"{', '.join(prunable)}")
                if key not in prunable:
                    raise ConfigError(f"layer {short(key)} is {type(modules[key]).__name__}; allowed: Conv2d, Linear")
                names = [key]
            for name in names:
                if name in named_by:
                    raise ConfigError(f"layer {name!r} is named by both {short(named_by[name], 60)} and "
                                      f"{short(key, 60)}; allowed: one key per layer (narrow the pattern)")
                named_by[name] = key
                where = f"layer {name!r}"
                constraint = spec.constraint(where)
                try:
                    constraint.structure.check_shape(tuple(modules[name].weight.shape), name)
                except ValueError as e:
                    raise ConfigError(str(e)) from None
                plans[name] = LayerPlan(name, constraint, float(spec.rho if spec.rho is not None else self.admm.rho))
        if self.coupled is not None:
            plans.update(self._coupled_plans(model, plans))
        return plans

    def coupled_groups(self, model: nn.Module) -> tuple[CoupledGroups, ...]:
        """The model's coupled sets this config prunes (none without ``coupled``)."""
        if self.coupled is None:
            return ()
        try:
            return coupled_sets(model, self.coupled.kind)
        except CoupledError as e:
            raise ConfigError(str(e)) from None

    def _coupled_plans(self, model: nn.Module, plans: dict[str, LayerPlan]) -> dict[str, LayerPlan]:
        """Each member layer of the coupled sets at the set's ratio; its bits from its own entry (if dense) or
        ``defaults``; a member given another structure is refused."""
        try:
            structures = member_layers(self.coupled_groups(model), model, self.coupled.ratio)
        except CoupledError as e:
            raise ConfigError(str(e)) from None
        out = {}
        for name, structure in structures.items():
            given = plans.get(name)
            if given is not None and given.constraint.prunes:
                raise ConfigError(f"layer {name!r} is in a coupled set ({self.coupled.kind}) and also has type "
                                  f"{given.constraint.structure.kind!r}; allowed: dense or leave it out")
            quantizer = given.constraint.quantizer if given is not None else \
                self.defaults.constraint("defaults").quantizer
            rho = given.rho if given is not None else float(self.defaults.rho or self.admm.rho)
            out[name] = LayerPlan(name, Constraint(structure, quantizer), rho)
        return out


def _budget(data, layers: list[tuple[str, LayerSpec]]) -> GlobalBudget | None:
    """``budget: {ratio: 0.986, min_keep: 0.0}``: pooled layers must leave their own ratio unset."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"budget: expected a mapping like {{ratio: 0.98}}, got {short(data)}")
    _check_keys("budget", data, {"ratio", "min_keep", "exact_cells", "cost"})
    if "ratio" not in data:
        raise ConfigError("budget: field 'ratio' is required (the fraction of all pooled weights pruned)")
    _number("budget", "ratio", data["ratio"], 0, 1, hi_open=True)
    _number("budget", "min_keep", data.get("min_keep", 0.0), 0, 1)
    _number("budget", "exact_cells", data.get("exact_cells", 0), 0, MAX_EXACT_CELLS, integer=True)
    try:
        cost = None if data.get("cost") is None else CostCurves.from_dict(data["cost"])
        budget = GlobalBudget(**{**data, "cost": cost})
    except (BudgetError, CostCurveError) as e:
        raise ConfigError(str(e)) from None
    for name, spec in layers:
        if spec.type in POOLED and spec.ratio:
            raise ConfigError(f"layer {name!r}: field 'ratio'={spec.ratio} conflicts with 'budget' (the budget "
                              "shares out per-layer ratios); remove one")
    return budget


def _coupled(data, budget: GlobalBudget | None) -> CoupledConfig | None:
    """``coupled: {kind: heads, ratio: 0.5}``; absent or null: none.  One ratio per set, so no budget beside it."""
    if data is None:
        return None
    c = _sub(CoupledConfig, "coupled", data)
    _choice("coupled", "kind", c.kind, COUPLED_KINDS)
    _number("coupled", "ratio", c.ratio, 0, 1, hi_open=True)
    if budget is not None:
        raise ConfigError("coupled: a whole-network 'budget' does not apply to coupled structures (each set is "
                          "pruned at the coupled ratio); remove one")
    return c


def _distill(data) -> DistillConfig | None:
    """``distill: {weight: 0.5, temperature: 4}`` (either may be left out); absent or null: no distillation."""
    if data is None:
        return None
    d = _sub(DistillConfig, "distill", data)
    _number("distill", "weight", d.weight, 0, 1, lo_open=True)
    _number("distill", "temperature", d.temperature, 0, 100, lo_open=True)
    return d


def _rho_within_max(admm: ADMMConfig, defaults: LayerSpec, layers: list[tuple[str, LayerSpec]]) -> None:
    """Every initial rho at most ``admm.rho_max``: a larger one would be cut to rho_max after the first round
    (silently changing the schedule the config asks for)."""
    for where, rho in (("admm", admm.rho), ("defaults", defaults.rho),
                       *((f"layer {short(name, 60)}", spec.rho) for name, spec in layers)):
        if rho is not None and rho > admm.rho_max:
            raise ConfigError(f"{where}: field 'rho'={short(rho)} exceeds admm: field 'rho_max'={short(admm.rho_max)}; "
                              "allowed: rho <= rho_max (raise admm.rho_max or lower rho)")


def _sub(cls, where: str, data) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {short(data)}")
    _check_keys(where, data, {f.name for f in fields(cls)})
    return cls(**data)


def _train(train: TrainConfig) -> TrainConfig:
    _choice("train", "optimizer", train.optimizer, ("sgd", "adam"))
    _number("train", "lr", train.lr, 0, lo_open=True)
    _number("train", "momentum", train.momentum, 0, 1)
    _number("train", "weight_decay", train.weight_decay, 0)
    _number("train", "batch_size", train.batch_size, 1, MAX_BATCH, integer=True)
    return train


def _admm(admm: ADMMConfig) -> ADMMConfig:
    sched = as_tuple(admm.schedule)  # a scalar is a one-step schedule
    if not sched or any(isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 1 for s in sched) \
            or any(b <= a for a, b in zip(sched, sched[1:])) or sched[-1] != 1:   # strictly: a repeat is no step
        raise ConfigError(f"admm: field 'schedule'={short(admm.schedule)}; allowed: a non-empty list of increasing "
                          "fractions in (0, 1] ending with 1")
    admm = replace(admm, schedule=tuple(float(s) for s in sched))
    _number("admm", "rounds", admm.rounds, 0, MAX_ROUNDS, integer=True)  # 0: one-shot prune, then retrain
    _number("admm", "epochs_per_round", admm.epochs_per_round, 1, MAX_EPOCHS, integer=True)
    _number("admm", "rho", admm.rho, 0, lo_open=True)
    _number("admm", "rho_multiplier", admm.rho_multiplier, 1)
    _number("admm", "rho_max", admm.rho_max, 0, lo_open=True)
    if admm.lr is not None:
        _number("admm", "lr", admm.lr, 0, lo_open=True)
    if admm.eps is not None:
        _number("admm", "eps", admm.eps, 0, 1, lo_open=True)
    return admm


def _compile(key: str) -> re.Pattern:
    try:
        return re.compile(key[3:])
    except (re.error, RecursionError, OverflowError) as e:
        raise ConfigError(f"layer key {short(key)}: invalid regular expression: {short(str(e))[1:-1]}; "
                          "allowed: re: plus a Python regular expression") from None


def _layer_key(name, section: str, layers: list[tuple[str, "LayerSpec"]]) -> str:
    """A layer key of ``section`` as stored: a str, '.weight' stripped, a 're:' pattern compiled once to check it,
    not given twice."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{section}: key {short(name)}; allowed: a layer name or re:PATTERN (a string)")
    key = _strip(name)
    if key.startswith("re:"):
        _compile(key)
    if any(n == key for n, _ in layers):
        raise ConfigError(f"{section}: layer {short(key)} is named twice (in both 'layers' and 'prune_ratios', or "
                          "with and without '.weight'); allowed: one key per layer")
    return key


def _strip(name: str) -> str:
    name = str(name)
    return name[: -len(".weight")] if name.endswith(".weight") else name


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


ABSENT = "<absent>"


def _flat(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def changed_fields(old: dict, new: dict) -> dict[str, tuple]:
    """Where two config dicts differ: dotted field path -> (old value, new value), sorted by path; a field one
    side lacks shows as ``ABSENT``."""
    a, b = _flat(old), _flat(new)
    return {k: (a.get(k, ABSENT), b.get(k, ABSENT)) for k in sorted(set(a) | set(b))
            if a.get(k, ABSENT) != b.get(k, ABSENT)}


def step_ratio(final_ratio: float, fraction: float) -> float:
    """Ratio at one progressive step: a fraction of the final *log* compression (2x, 4x, ... 16x)."""
    return 1.0 - (1.0 - final_ratio) ** fraction
