"""Pruning configuration: YAML in, validated frozen dataclasses out.

Everything is checked before any training starts; an error names the layer,
the field, the value and what is allowed.  See ``docs/config.md`` for the
format.  Two ways to name layers are accepted:

* ``layers: {conv1: {type: filter, ratio: 0.5, bits: 4}, "re:fc.*": {...}}``
* ``prune_ratios: {conv1.weight: 0.8, fc1.weight: 0.99}`` (the ADMM authors'
  format; the sparsity type and bits come from ``defaults``)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from torch import nn

from .budget import POOLED, BudgetError, GlobalBudget
from .constraint import Constraint
from .quantizers import SCHEMES, Quantizer
from .structures import KINDS, Structure
from .yamlio import DuplicateKeyError, load_unique_yaml

METHODS = ("admm", "magnitude", "group_lasso")


class ConfigError(ValueError):
    """An invalid configuration; the message names the field and what is allowed."""


def load_yaml(path: str | Path) -> dict:
    try:
        data = load_unique_yaml(path)
    except DuplicateKeyError as e:
        raise ConfigError(str(e)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _check_keys(where: str, data: dict, allowed) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(sorted(allowed))}")


def _number(where: str, name: str, value, lo=None, hi=None, integer=False, lo_open=False):
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ConfigError(f"{where}: field {name!r}={value!r}; allowed: {'an integer' if integer else 'a number'}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(f"{where}: field {name!r}={value!r}; allowed: {'>' if lo_open else '>='} {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{where}: field {name!r}={value!r}; allowed: <= {hi}")
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
            raise ConfigError(f"{where}: expected a mapping of fields, got {data!r}")
        _check_keys(where, data, {f.name for f in fields(cls)})
        spec = replace(base or cls(), **data)
        return spec.validated(where)

    def validated(self, where: str) -> "LayerSpec":
        if self.type not in KINDS:
            raise ConfigError(f"{where}: field 'type'={self.type!r}; allowed: {', '.join(KINDS)}")
        ratio = self.ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
            raise ConfigError(f"{where}: field 'ratio'={ratio!r}; allowed: a number in [0, 1) (fraction pruned)")
        for name in ("block", "nm"):
            v = getattr(self, name)
            if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(i, int) and i > 0 for i in v)):
                raise ConfigError(f"{where}: field {name!r}={v!r}; allowed: two positive integers")
        if self.nm[0] > self.nm[1]:
            raise ConfigError(f"{where}: field 'nm'={list(self.nm)}; allowed: N <= M")
        if self.bits is not None:
            _number(where, "bits", self.bits, 1, 16, integer=True)
        if self.quant not in SCHEMES:
            raise ConfigError(f"{where}: field 'quant'={self.quant!r}; allowed: {', '.join(SCHEMES)}")
        if self.rho is not None:
            _number(where, "rho", self.rho, 0, lo_open=True)
        return replace(self, block=tuple(self.block), nm=tuple(self.nm))

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

    # --------------------------------------------------------------- parsing
    @classmethod
    def from_dict(cls, data: dict) -> "PruneConfig":
        top = {"method", "seed", "pretrain_epochs", "retrain_epochs", "retrain_lr", "group_lasso",
               "train", "admm", "defaults", "layers", "prune_ratios", "budget"}
        _check_keys("config", data, top)
        method = data.get("method", "admm")
        if method not in METHODS:
            raise ConfigError(f"config: field 'method'={method!r}; allowed: {', '.join(METHODS)}")
        train = _sub(TrainConfig, "train", data.get("train", {}))
        if train.optimizer not in ("sgd", "adam"):
            raise ConfigError(f"train: field 'optimizer'={train.optimizer!r}; allowed: sgd, adam")
        _number("train", "lr", train.lr, 0, lo_open=True)
        _number("train", "batch_size", train.batch_size, 1, integer=True)
        _number("train", "weight_decay", train.weight_decay, 0)
        admm = _sub(ADMMConfig, "admm", data.get("admm", {}))
        sched = admm.schedule
        if not isinstance(sched, (list, tuple)) or not sched or any(
                isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 1 for s in sched) \
                or list(sched) != sorted(sched) or sched[-1] != 1:
            raise ConfigError(f"admm: field 'schedule'={sched!r}; allowed: increasing fractions in (0, 1] "
                              "ending with 1")
        admm = replace(admm, schedule=tuple(float(s) for s in sched))
        _number("admm", "rounds", admm.rounds, 0, integer=True)  # 0: one-shot prune, then retrain
        _number("admm", "epochs_per_round", admm.epochs_per_round, 1, integer=True)
        _number("admm", "rho", admm.rho, 0, lo_open=True)
        _number("admm", "rho_multiplier", admm.rho_multiplier, 1)
        _number("admm", "rho_max", admm.rho_max, 0, lo_open=True)
        if admm.lr is not None:
            _number("admm", "lr", admm.lr, 0, lo_open=True)
        if admm.eps is not None:
            _number("admm", "eps", admm.eps, 0, 1, lo_open=True)
        for name in ("seed", "pretrain_epochs", "retrain_epochs"):
            if name in data:
                _number("config", name, data[name], 0, integer=True)
        if data.get("retrain_lr") is not None:
            _number("config", "retrain_lr", data["retrain_lr"], 0, lo_open=True)
        _number("config", "group_lasso", data.get("group_lasso", 1e-4), 0)
        defaults = LayerSpec.from_dict("defaults", data.get("defaults", {}))
        layers: list[tuple[str, LayerSpec]] = []
        raw_layers = data.get("layers") or {}
        if not isinstance(raw_layers, dict):
            raise ConfigError("config: field 'layers' must map layer names to their fields")
        for name, spec in raw_layers.items():
            layers.append((_strip(name), LayerSpec.from_dict(f"layer {name!r}", spec or {}, defaults)))
        ratios = data.get("prune_ratios") or {}
        if not isinstance(ratios, dict):
            raise ConfigError("config: field 'prune_ratios' must map layer names to ratios")
        for name, ratio in ratios.items():
            if any(n == _strip(name) for n, _ in layers):
                raise ConfigError(f"layer {name!r} is named in both 'layers' and 'prune_ratios'")
            layers.append((_strip(name), LayerSpec.from_dict(f"layer {name!r}", {"ratio": ratio}, defaults)))
        kw = {k: data[k] for k in ("seed", "pretrain_epochs", "retrain_epochs", "retrain_lr", "group_lasso")
              if k in data}
        budget = _budget(data.get("budget"), layers)
        return cls(method=method, train=train, admm=admm, defaults=defaults, layers=tuple(layers), budget=budget,
                   **kw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "PruneConfig":
        return cls.from_dict(load_yaml(path))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = {name: asdict(spec) for name, spec in self.layers}
        if self.budget is None:
            d.pop("budget")
        return _plain(d)

    def with_overrides(self, **kw) -> "PruneConfig":
        return replace(self, **kw)

    # ------------------------------------------------------------- resolving
    def resolve(self, model: nn.Module) -> dict[str, LayerPlan]:
        """Match layer names/regexes to the model; check every layer's shape."""
        modules = dict(model.named_modules())
        prunable = [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
        plans: dict[str, LayerPlan] = {}
        for key, spec in self.layers:
            if key.startswith("re:"):
                pattern = re.compile(key[3:])
                names = [n for n in prunable if pattern.fullmatch(n)]
                if not names:
                    raise ConfigError(f"layer pattern {key!r} matches no Conv2d/Linear layer; "
                                      f"prunable layers: {', '.join(prunable)}")
            else:
                if key not in modules:
                    raise ConfigError(f"layer {key!r} not found in the model; prunable layers: {', '.join(prunable)}")
                if key not in prunable:
                    raise ConfigError(f"layer {key!r} is {type(modules[key]).__name__}; allowed: Conv2d, Linear")
                names = [key]
            for name in names:
                where = f"layer {name!r}"
                constraint = spec.constraint(where)
                try:
                    constraint.structure.check_shape(tuple(modules[name].weight.shape), name)
                except ValueError as e:
                    raise ConfigError(str(e)) from None
                plans[name] = LayerPlan(name, constraint, float(spec.rho if spec.rho is not None else self.admm.rho))
        return plans


def _budget(data, layers: list[tuple[str, LayerSpec]]) -> GlobalBudget | None:
    """``budget: {ratio: 0.986, min_keep: 0.0}``: pooled layers must leave their own ratio unset."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"budget: expected a mapping like {{ratio: 0.98}}, got {data!r}")
    _check_keys("budget", data, {"ratio", "min_keep", "exact_cells"})
    if "ratio" not in data:
        raise ConfigError("budget: field 'ratio' is required (the fraction of all pooled weights pruned)")
    try:
        budget = GlobalBudget(**data)
    except BudgetError as e:
        raise ConfigError(str(e)) from None
    for name, spec in layers:
        if spec.type in POOLED and spec.ratio:
            raise ConfigError(f"layer {name!r}: field 'ratio'={spec.ratio} conflicts with 'budget' (the budget "
                              "shares out per-layer ratios); remove one")
    return budget


def _sub(cls, where: str, data) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    _check_keys(where, data, {f.name for f in fields(cls)})
    return cls(**data)


def _strip(name: str) -> str:
    name = str(name)
    return name[: -len(".weight")] if name.endswith(".weight") else name


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def step_ratio(final_ratio: float, fraction: float) -> float:
    """Ratio at one progressive step: a fraction of the final *log* compression (2x, 4x, ... 16x)."""
    return 1.0 - (1.0 - final_ratio) ** fraction
