"""What ``sparsesim compare`` is asked to do, checked before any work: the config, pre-flight, and the plans.

``CompareConfig`` (every field bounded, one error line naming it), ``preflight`` (every preset and hardware YAML
loads and every priced bit-width fits every platform, before any data is read), the validation split held out
of training, the per-layer pruning plan of a structure at a ratio under a budget (``layer_plan``) and the
pruning job of one probe (``prune_config``).  The search (``analysis.compare``) and the pricing
(``analysis.report_data``) both build on it, so neither imports the other's module back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
import re
from dataclasses import asdict, dataclass, fields, replace

from torch import nn

from accel_models.hardware import Accelerator, preset_names
from fileguard import as_tuple, short, unknown_fields
from pruning.config import ADMMConfig, ConfigError, PruneConfig, TrainConfig, changed_fields
from pruning.cost_budget import CostCurves
from pruning.coupled_projection import KINDS as COUPLED
from pruning.coupled_projection import CoupledError, coupled_sets
from pruning.data import DATASETS, Dataset, split_validation  # noqa: F401 (compare, report_data import it here)
from pruning.models import MODELS, TRACED, prunable_layers
from pruning.structures import Structure, StructureError
from pruning.topk import keep_count
from pruning.user_model import ModelSpecError, build_for_data, parse_input_shape, spec_form
from pruning.weight_bits import ALLOWED_BITS, FLOAT_BITS, BitsError, check_weight_bits, is_weight_bits

STRUCTURES = ("nonstructured", "filter", "channel", "column", "block", "nm")   # the default list
ALLOWED_STRUCTURES = STRUCTURES + COUPLED   # heads, neurons: a transformer's coupled groups (pruning.coupled)
BUDGETS = ("global", "uniform", "cost", "both", "all")
COST_METRICS = ("energy", "latency", "edp")   # what a cost-aware budget minimises (analysis.cost_curves)
DEFAULT_PRESETS = ("tpu_like", "eyeriss_like", "eie_like", "sigma_like", "scnn_like", "nm_asic", "fpga_small",
                   "fpga_large", "fpga_sparse")


COMPARE_DATASETS = tuple(d for d in DATASETS if d != "imagefolder")   # held in memory (split into validation)


class CompareError(ValueError):
    pass


LIST_FIELDS = ("structures", "presets", "ladder", "breakeven_bits", "cost_presets")  # a scalar is a one-element list
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 100_000


def _num(name: str, value, lo, hi, integer: bool = False, lo_open: bool = False, hi_open: bool = False,
         kind: str = "a finite number", what: str = ""):
    """``value`` when it is a finite number (an int when ``integer``; never a bool) within [lo, hi] (open ends
    as asked); otherwise one CompareError line with the field, the value and the range."""
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    ok = ok and (integer or math.isfinite(value))
    ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        rng = (f"an integer in {lo}..{hi}" if integer else
               f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}")
        raise CompareError(f"compare config: {name}={short(value)}; allowed: {rng}{what}")
    return value


def _items(name: str, values: tuple, check, allowed: str) -> None:
    if not values:
        raise CompareError(f"compare config: {name} is empty; allowed: a non-empty list of {allowed}")
    for v in values:
        if not check(v):
            raise CompareError(f"compare config: {name} has {short(v)}; allowed: {allowed}")
    if len(set(map(repr, values))) != len(values):
        raise CompareError(f"compare config: {name}={short(list(values))} repeats an entry; allowed: each "
                           "once")


# the numeric fields' ranges: (lo, hi) for integers; (lo, hi, integer, lo_open, hi_open) for numbers (the
# training recipe's fields are pruning.config's: ``Recipe``)
INTEGER_BOUNDS = {"bisections": (0, 20), "batch": (1, 65_536), "seed": (0, MAX_SEED), "act_seed": (0, MAX_SEED),
                  "calibrate_images": (0, 1_000_000), "hil_probes": (1, 8), "jobs": (1, 64)}
NUMBER_BOUNDS = {"tolerance_pp": (0, 100, False, True, True), "validation_fraction": (0, 0.5, False, True, True),
                 "tie_threshold": (0, 1, False, False, True), "budget_min_keep": (0, 1, False, False, True)}

# the recipe's keys as users write them (flat, in a compare YAML, a CLI flag or ``sc.compare(...)``) -> where each
# lives in pruning.config's dataclasses (``PruneConfig``'s own field, or its ``train`` / ``admm`` section)
RECIPE_KEYS = {"pretrain_epochs": ("config", "pretrain_epochs"), "admm_rounds": ("admm", "rounds"),
               "epochs_per_round": ("admm", "epochs_per_round"), "retrain_epochs": ("config", "retrain_epochs"),
               "lr": ("train", "lr"), "batch_size": ("train", "batch_size"), "rho": ("admm", "rho")}


@dataclass(frozen=True)
class Recipe:
    """The training every run of a comparison shares (dense, probes, hardware in the loop): pruning.config's own
    ``TrainConfig`` and ``ADMMConfig`` and the pretrain / retrain epochs, checked by ``PruneConfig``'s checks when
    made (an error names the user's flat key: ``compare config: lr=-1; allowed: ...``)."""

    pretrain_epochs: int = 15
    retrain_epochs: int = 6
    train: TrainConfig = TrainConfig(optimizer="adam", lr=2e-3, batch_size=64)
    admm: ADMMConfig = ADMMConfig(schedule=(1.0,), rounds=4, epochs_per_round=1, rho=0.05, rho_multiplier=1.3)

    def __post_init__(self):
        try:
            PruneConfig.from_dict(self.prune_fields())
        except ConfigError as e:
            raise CompareError(_flat_error(str(e))) from None

    @classmethod
    def from_flat(cls, data: dict) -> "Recipe":
        """A recipe from the flat keys (``RECIPE_KEYS``); the ones left out keep their defaults."""
        base = cls()
        part = {section: {f: data[k] for k, (s, f) in RECIPE_KEYS.items() if s == section and k in data}
                for section in ("config", "train", "admm")}
        return cls(**{**{f: getattr(base, f) for f in ("pretrain_epochs", "retrain_epochs")}, **part["config"]},
                   train=replace(base.train, **part["train"]), admm=replace(base.admm, **part["admm"]))

    def flat(self) -> dict:
        """The flat keys, in ``RECIPE_KEYS``'s order (configs/compare.json and summary.json's config)."""
        return {k: getattr(self if s == "config" else getattr(self, s), f) for k, (s, f) in RECIPE_KEYS.items()}

    def prune_fields(self, pretrain: int | None = None, rounds: int | None = None) -> dict:
        """The recipe as ``PruneConfig.from_dict`` fields (``pretrain``/``rounds`` in place of the recipe's)."""
        return {"pretrain_epochs": self.pretrain_epochs if pretrain is None else pretrain,
                "retrain_epochs": self.retrain_epochs if rounds is None or rounds else 0,
                "train": asdict(self.train),
                "admm": {**asdict(self.admm), "rounds": self.admm.rounds if rounds is None else rounds}}

    @property
    def probe_epochs(self) -> int:
        """Training epochs of one ADMM probe: the rounds' epochs, then the masked retraining."""
        return self.admm.rounds * self.admm.epochs_per_round + self.retrain_epochs


def _flat_error(message: str) -> str:
    """pruning.config's error line (``train: field 'lr'=-1; allowed: ...``) with the user's flat key instead."""
    m = re.match(r"(\w+): field '(\w+)'=(.*)", message)
    flat = {v: k for k, v in RECIPE_KEYS.items()}.get((m.group(1), m.group(2))) if m else None
    if flat is None:   # pragma: no cover - every recipe value pruning checks has a flat key
        return f"compare config: {message}"
    rest = m.group(3)
    if " exceeds admm: field 'rho_max'=" in rest:   # a compare recipe keeps pruning's default rho_max
        value, rho_max = rest.split(" exceeds admm: field 'rho_max'=")
        return f"compare config: {flat}={value}; allowed: a finite number > 0 and <= {rho_max.split(';')[0]} " \
               "(pruning's admm.rho_max)"
    return f"compare config: {flat}={rest}"


@dataclass(frozen=True)
class CompareConfig:
    model: str = "digits_cnn"           # a zoo name, MODULE:CALLABLE or FILE.py:CALLABLE (your code; run by compare)
    input_shape: tuple[int, ...] | None = None   # your model's C,H,W when it declares no input_shape
    dataset: str = "digits"
    data_dir: str | None = None
    structures: tuple[str, ...] = STRUCTURES
    bits: int = 8                       # weight bit-width for every structure (32 = float)
    tolerance_pp: float = 1.0           # non-inferiority margin on validation (paired test), percentage points
    ladder: tuple[float, ...] = (0.5, 0.75, 0.9)
    bisections: int = 2
    block: tuple[int, int] = (4, 4)
    nm: tuple[int, int] = (2, 4)
    presets: tuple[str, ...] = DEFAULT_PRESETS
    measure_cpu: bool = True
    batch: int = 8
    seed: int = 0
    act_seed: int = 0                   # seed of drawn activation patterns (EIE without calibration patterns; SCNN)
    validation_fraction: float = 0.4    # digits: 575 validation images, one = 0.17 pp < tolerance / 5
    recipe: Recipe = Recipe()           # the training recipe; written flat: pretrain_epochs, admm_rounds,
                                        # epochs_per_round, retrain_epochs, lr, batch_size, rho (``RECIPE_KEYS``)
    breakeven_bits: tuple[int, ...] | None = None   # null: the compare's own ``bits``; a list must hold ``bits``
    hil_preset: str | None = "eie_like"
    calibrate_images: int = 256         # validation images that measure input-activation density (0: dense)
    tie_threshold: float = 0.05         # relative cost difference below which two models tie (0.05 = 5%)
    budget: str = "global"              # global: one whole-network ratio shared out per layer (exact ADMM
                                        # projection); uniform: the same ratio in every layer; cost: per
                                        # platform, a whole-network budget counted in that platform's cost
                                        # (the global search runs too, for the CPU and break-even); both:
                                        # global decides, uniform beside it; all: global decides, uniform
                                        # and cost beside it, and the verdict under every rule
    cost_metric: str = "energy"         # cost budgets: energy, latency (cycles) or edp (first-order E x D)
    cost_presets: tuple[str, ...] | None = None   # cost budgets: the platforms searched (null: every preset)
    budget_min_keep: float = 0.0        # global: each layer keeps at least this fraction of its groups
    hil_probes: int = 4                 # most ADMM runs the hardware-in-the-loop scale search may spend
    jobs: int = 1                       # structure searches run at once (processes, 1 torch thread each if > 1)
    workloads: str = "traced"           # your model (a spec): traced (every GEMM it runs) or modules (its
                                        # Conv2d/Linear list); a zoo CNN is priced from its module list (vit_tiny traced)

    @property
    def traced(self) -> bool:
        """Priced from the trace: your model (a spec, not a zoo name) with ``workloads`` traced."""
        return self.workloads == "traced" and (self.model not in MODELS or self.model in TRACED)

    @classmethod
    def from_dict(cls, data) -> "CompareConfig":
        """A config from a YAML mapping (the flat form of ``to_dict``; the recipe's keys flat, ``RECIPE_KEYS``):
        unknown fields refused, list fields may be given as one scalar."""
        if not isinstance(data, dict):
            raise CompareError(f"compare config: expected a mapping of fields, got {short(data)}")
        allowed = set(flat_fields())
        unknown = sorted(set(data) - allowed, key=str)
        if unknown:
            raise CompareError(f"compare config: {unknown_fields(unknown, allowed)}; "
                               f"allowed: {', '.join(sorted(allowed))}")
        recipe = Recipe.from_flat({k: v for k, v in data.items() if k in RECIPE_KEYS})
        return cls(**{k: v for k, v in data.items() if k not in RECIPE_KEYS}, recipe=recipe)

    @classmethod
    def of(cls, **fields_) -> "CompareConfig":
        """``from_dict`` with keywords: ``CompareConfig.of(pretrain_epochs=4, lr=1e-3, bits=4)``."""
        return cls.from_dict(fields_)

    def __post_init__(self):
        if self.breakeven_bits is None:   # the curves follow the bit-width the structures are compared at
            object.__setattr__(self, "breakeven_bits", self.bits)
        for name in LIST_FIELDS + ("block", "nm"):
            v = getattr(self, name)
            if v is None:   # cost_presets: null means every preset
                continue
            object.__setattr__(self, name, as_tuple(v) if name in LIST_FIELDS else
                               (tuple(v) if isinstance(v, list) else v))
        if not (isinstance(self.model, str) and (self.model in MODELS or spec_form(self.model))):
            raise CompareError(f"compare config: model={short(self.model)}; allowed: {', '.join(MODELS)}, "
                               "MODULE:CALLABLE or FILE.py:CALLABLE")
        if self.input_shape is not None:
            if not isinstance(self.input_shape, (list, tuple)):
                raise CompareError(f"compare config: input_shape={short(self.input_shape)}; allowed: [C, H, W] "
                                   "(or [F]) or null")
            try:
                object.__setattr__(self, "input_shape", parse_input_shape(",".join(map(str, self.input_shape)),
                                                                          "compare config: input_shape"))
            except ModelSpecError as e:
                raise CompareError(str(e)) from None
        if self.dataset == "imagefolder":   # a streamed data set: compare splits one held in memory
            raise CompareError(f"compare config: dataset='imagefolder': compare splits a data set held in memory; "
                               f"allowed: {', '.join(COMPARE_DATASETS)} (write your images to an .npz for dataset npz)")
        for name, allowed in (("dataset", COMPARE_DATASETS), ("budget", BUDGETS), ("workloads", ("traced", "modules")),
                              ("cost_metric", COST_METRICS)):
            v = getattr(self, name)
            if not isinstance(v, str) or v not in allowed:
                raise CompareError(f"compare config: {name}={short(v)}; allowed: {', '.join(allowed)}")
        for name in ("data_dir", "hil_preset"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise CompareError(f"compare config: {name}={short(v)}; allowed: text or null")
        if self.data_dir is not None and self.dataset == "digits":   # it would be ignored: refused, naming both
            raise CompareError(f"compare config: data_dir={short(self.data_dir)} has no effect with dataset='digits' "
                               "(scikit-learn's, built in; mnist, fashion_mnist, cifar10 and npz are read from data_dir); allowed: "
                               "leave data_dir out")
        _items("structures", self.structures, lambda s: isinstance(s, str) and s in ALLOWED_STRUCTURES,
               ", ".join(ALLOWED_STRUCTURES))
        known = set(preset_names())
        _items("presets", self.presets, lambda p: isinstance(p, str) and (p in known or p.endswith((".yaml", ".yml"))),
               f"preset names ({', '.join(sorted(known))}) or .yaml files")
        if self.budget not in ("cost", "all"):   # a cost-budget option with no cost search has no effect
            for name, default in (("cost_metric", "energy"), ("cost_presets", None)):
                if getattr(self, name) != default:
                    raise CompareError(f"compare config: {name}={short(getattr(self, name))} has no effect with "
                                       f"budget={self.budget!r} (no cost-aware search); allowed: budget cost or all, "
                                       f"or leave {name} out")
        if self.cost_presets is not None:
            _items("cost_presets", self.cost_presets, lambda p: isinstance(p, str) and p in self.presets,
                   f"entries of presets ({', '.join(self.presets)})")
        if self.hil_preset is not None and self.hil_preset not in known and not self.hil_preset.endswith(
                (".yaml", ".yml")):
            raise CompareError(f"compare config: hil_preset={short(self.hil_preset)}; allowed: null, "
                               f"{', '.join(sorted(known))} or a .yaml file")
        _items("ladder", self.ladder, lambda r: not isinstance(r, bool) and isinstance(r, (int, float))
               and 0 <= r < 1, "ratios in [0, 1)")
        if list(self.ladder) != sorted(self.ladder):
            raise CompareError(f"compare config: ladder={short(list(self.ladder))}; allowed: increasing "
                               "ratios")
        try:
            check_weight_bits(self.bits)
        except BitsError as e:
            raise CompareError(f"compare config: {e}") from None
        _items("breakeven_bits", self.breakeven_bits, is_weight_bits, f"bit-widths {ALLOWED_BITS}")
        for name, hi in (("block", 65_536), ("nm", 1024)):
            v = getattr(self, name)
            if not (isinstance(v, tuple) and len(v) == 2 and all(
                    not isinstance(i, bool) and isinstance(i, int) and 1 <= i <= hi for i in v)):
                raise CompareError(f"compare config: {name}={short(v)}; allowed: two integers in 1..{hi}")
        if self.nm[0] > self.nm[1]:
            raise CompareError(f"compare config: nm={list(self.nm)}; allowed: [N, M] with N <= M")
        if not isinstance(self.measure_cpu, bool):
            raise CompareError(f"compare config: measure_cpu={short(self.measure_cpu)}; allowed: true, false")
        _num("tolerance_pp", self.tolerance_pp, *NUMBER_BOUNDS["tolerance_pp"], what=" percentage points")
        _num("tie_threshold", self.tie_threshold, *NUMBER_BOUNDS["tie_threshold"], kind="a relative cost difference",
             what=", e.g. 0.05 = 5%")
        _num("budget_min_keep", self.budget_min_keep, *NUMBER_BOUNDS["budget_min_keep"], kind="a fraction of groups")
        _num("validation_fraction", self.validation_fraction, *NUMBER_BOUNDS["validation_fraction"])
        if not isinstance(self.recipe, Recipe):
            raise CompareError(f"compare config: recipe={short(self.recipe)}; allowed: a Recipe (or its flat keys: "
                               f"{', '.join(RECIPE_KEYS)})")
        for name, (lo, hi) in INTEGER_BOUNDS.items():
            _num(name, getattr(self, name), lo, hi, integer=True)
        if self.bits not in self.breakeven_bits:   # never a curve at a width the structures were not priced at
            raise CompareError(f"compare config: breakeven_bits={short(list(self.breakeven_bits))} leaves out "
                               f"bits={self.bits}; allowed: a list of bit-widths that holds {self.bits}, or leave "
                               "breakeven_bits out (it then follows bits)")

    def to_dict(self) -> dict:
        """The flat form users write (the recipe's keys in its place), as configs/compare.json has always held."""
        out = {}
        for f in fields(self):
            out.update(self.recipe.flat() if f.name == "recipe" else {f.name: getattr(self, f.name)})
        return out


def flat_fields() -> tuple[str, ...]:
    """The field names a compare config is written with: the dataclass's, the recipe's flat keys in its place."""
    return tuple(n for f in fields(CompareConfig) for n in (RECIPE_KEYS if f.name == "recipe" else (f.name,)))


# -------------------------------------------------------------- pre-flight
# float weights (FLOAT_BITS) are priced at the widest width each array accepts, so every array takes them


def priced_bits(cfg: CompareConfig) -> tuple[int, ...]:
    """Every weight bit-width the comparison will price: the structures' ``bits`` and each break-even width."""
    return tuple(sorted({cfg.bits, *cfg.breakeven_bits}))


def check_bits_fit(cfg: CompareConfig, source: str, acc: Accelerator) -> None:
    """One CompareError line when a bit-width the comparison prices is wider than ``acc``'s PEs accept (the
    check the simulator would make when pricing, after the training)."""
    widest = max(acc.pe.weight_bits)
    accepted = ", ".join(map(str, acc.pe.weight_bits))
    for field, widths in (("bits", (cfg.bits,)), ("breakeven_bits", cfg.breakeven_bits)):
        too_wide = [b for b in widths if b != FLOAT_BITS and b > widest]
        if too_wide:
            value = f"bits={cfg.bits}" if field == "bits" else f"breakeven_bits={list(cfg.breakeven_bits)}"
            raise CompareError(f"compare config: {value} does not fit preset {short(source, 200)} (pe.weight_bits="
                               f"[{accepted}]: weights of at most {widest} bits); allowed: {field} of 1..{widest} "
                               f"or {FLOAT_BITS} (float), or a preset whose pe.weight_bits reaches {max(too_wide)}")


def preflight(cfg: CompareConfig, log: Callable[[str], None] = print) -> tuple[Accelerator, ...]:
    """Everything that can be checked before any data is read or any model trained: every preset and hardware
    YAML loads, every priced bit-width fits every platform; the plan in one line.  Returns the accelerators.

    A bad combination is one error line naming the field or file; nothing is written."""
    from accel_models.hardware import is_hardware_file, read_hardware
    from accel_models.reference import defaults_line, defaults_used

    accs = []
    for source in cfg.presets:
        acc, data = read_hardware(source)
        if is_hardware_file(source):
            line = defaults_line(source, defaults_used(data, acc))
            if line:
                log(line)
        check_bits_fit(cfg, source, acc)
        accs.append(acc)
    names = [a.name for a in accs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CompareError(f"compare config: presets={short(list(cfg.presets))} give two platforms named "
                           f"{short(twice[0])}; allowed: distinct names (a YAML's name: field)")
    if cfg.hil_preset is not None and cfg.hil_preset not in names:
        log(f"[plan] hil_preset {cfg.hil_preset!r} is not among the presets ({', '.join(names)}): hardware in "
            "the loop is skipped")
    be = ", ".join(map(str, cfg.breakeven_bits))
    log(f"[plan] {len(cfg.structures)} structure(s) at {cfg.bits}-bit weights on {len(accs)} platform(s); "
        f"break-even curves at {be} bits (breakeven_bits; when left out it follows bits)")
    probes, epochs = training_budget(cfg)
    log(f"[plan] at most {probes} pruning probe(s) x {probe_epochs(cfg)} epoch(s) + {cfg.recipe.pretrain_epochs} dense "
        f"epoch(s) = {epochs} training epochs (cached runs are reused; a time estimate follows the dense model)")
    return tuple(accs)


def probe_epochs(cfg: CompareConfig) -> int:
    """Training epochs of one ADMM probe: the rounds' epochs, then the masked retraining."""
    return cfg.recipe.probe_epochs


def training_budget(cfg: CompareConfig) -> tuple[int, int]:
    """(most probes, most training epochs) the run can take: per search the ladder, the cap and the bisections
    (N:M one probe), each structure under each budget mode unless it is budget-independent (N:M, coupled), plus
    the hardware-in-the-loop probes; the dense model's epochs on top.  An upper bound: searches stop early."""
    modes = len([m for m in budget_modes(cfg) if m != "cost"])
    per_search = len(cfg.ladder) + 1 + cfg.bisections
    probes = sum(1 if s == "nm" else per_search * (1 if s in COUPLED else modes) for s in cfg.structures)
    if "cost" in budget_modes(cfg):   # a search per platform (fewer where platforms share one: analysis.cost_curves)
        per_cost = len(COST_LADDER_FRACTIONS) + 1 + cfg.bisections
        probes += per_cost * len(cost_platforms(cfg)) * sum(s != "nm" and s not in COUPLED for s in cfg.structures)
    probes += cfg.hil_probes if cfg.hil_preset else 0
    return probes, probes * probe_epochs(cfg) + cfg.recipe.pretrain_epochs


# ------------------------------------------------------------------ helpers
# fields that change what a cached probe (one structure at one ratio under one budget) or the dense run holds
PROBE_FIELDS = ("model", "input_shape", "dataset", "data_dir", "bits", "block", "nm", "seed", "validation_fraction",
                "pretrain_epochs", "admm_rounds", "epochs_per_round", "retrain_epochs", "lr", "batch_size", "rho",
                "budget_min_keep")


def resume_conflicts(old: dict, cfg: CompareConfig) -> list[str]:
    """``field: old -> new`` for each field a resumed run would silently reuse stale pruned runs for: the runs
    already in the output directory were made with ``old`` (its configs/compare.json)."""
    new = json.loads(json.dumps(cfg.to_dict()))   # as the stored config reads back (tuples are lists)
    diff = changed_fields({k: old[k] for k in PROBE_FIELDS if k in old}, {k: new[k] for k in PROBE_FIELDS if k in old})
    return [f"{k}: {short(diff[k][0], 40)} -> {short(diff[k][1], 40)}" for k in PROBE_FIELDS if k in diff]


COST_LADDER_FRACTIONS = (0.0, 0.5, 0.8)   # a cost search's ladder: from the global model's cost share s, the
                                          # rungs s + f (1 - s) (analysis.compare.cost_ladder)


def cost_platforms(cfg: CompareConfig) -> tuple[str, ...]:
    """The presets a cost budget searches (names as given in ``presets``)."""
    return cfg.cost_presets if cfg.cost_presets is not None else cfg.presets


MODES = {"global": ("global",), "uniform": ("uniform",), "cost": ("global", "cost"), "both": ("global", "uniform"),
         "all": ("global", "uniform", "cost")}
COST_PREFIX = "cost@"


def budget_modes(cfg: CompareConfig) -> tuple[str, ...]:
    """The searches to run, the one whose models the per-structure tables use first (``cost`` needs the global
    search beside it: the CPU, break-even and HIL price one model per structure)."""
    return MODES[cfg.budget]


def cost_budget(platform: str) -> str:
    """The budget name of a cost-aware search for ``platform`` (``cost@eie_like``)."""
    return COST_PREFIX + platform


def is_cost(budget: str) -> bool:
    return budget.startswith(COST_PREFIX)


def pooled(structure: str, budget: str) -> bool:
    """Whether a probe of ``structure`` shares a whole-network budget: under ``global`` or a cost budget, every
    structure but the fixed N:M pattern and the coupled ones (one ratio per head / neuron set)."""
    return (budget == "global" or is_cost(budget)) and structure != "nm" and structure not in COUPLED


def achievable_ratio(model: nn.Module, structure: str, ratio: float) -> float:
    """The ratio a coupled structure really prunes when asked for ``ratio``: whole groups, at least one kept
    (4 heads: 0.25, 0.5 or 0.75; asked 0.99 it keeps 1 head, 0.75).  Sets of different sizes: the first set's."""
    n = coupled_sets(model, structure)[0].n_groups
    return round(1.0 - keep_count(n, ratio) / n, 6)


def check_coupled(model: nn.Module, structures) -> None:
    """A coupled structure the model cannot carry (no heads, a packed in_proj) is refused before any training."""
    for s in structures:
        if s in COUPLED:
            try:
                coupled_sets(model, s)
            except CoupledError as e:
                raise CompareError(f"compare config: structures: {e}") from None


def layer_plan(model: nn.Module, structure: str, ratio: float, cfg: CompareConfig, budget: str = "uniform") -> dict:
    """Per-layer YAML fields: the structure where it fits; dense (same bits) where it cannot apply.

    ``budget="global"``: pooled layers carry no ratio (``prune_config`` adds the whole-network budget).  A coupled
    structure (heads, neurons) leaves every layer dense here: ``prune_config(coupled=...)`` adds its members."""
    layers = prunable_layers(model)
    last = list(layers)[-1]
    plan = {}
    for name, mod in layers.items():
        spec: dict = {"type": structure} if budget == "global" else {"type": structure, "ratio": float(ratio)}
        if structure in COUPLED:
            spec = {"type": "dense"}
        if structure == "block":
            spec["block"] = list(cfg.block)
        if structure == "nm":
            spec = {"type": "nm", "nm": list(cfg.nm)}
        try:
            if structure not in COUPLED:
                Structure(structure, 0.0 if structure == "nm" else ratio, block=cfg.block, n=cfg.nm[0],
                          m=cfg.nm[1]).check_shape(tuple(mod.weight.shape), name)
        except StructureError:
            spec = {"type": "dense"}
        if name == last and structure == "filter":  # filters of the classifier are the classes
            spec = {"type": "dense"}
        if cfg.bits != 32:
            spec["bits"] = cfg.bits
        plan[name] = spec
    return plan


def budget_independent(model: nn.Module, structure: str, cfg: CompareConfig) -> bool:
    """Whether the global and uniform budgets make the same runs: N:M (a fixed pattern in every layer), or a
    structure that fits one layer only (a whole-network budget over one layer is that layer's ratio)."""
    if structure == "nm" or structure in COUPLED:
        return True
    plan = layer_plan(model, structure, 0.5, cfg, "uniform")
    return sum(spec["type"] != "dense" for spec in plan.values()) <= 1


def prune_config(cfg: CompareConfig, layers: dict, pretrain: int = 0, rounds: int | None = None,
                 budget_ratio: float | None = None, coupled: tuple[str, float] | None = None,
                 cost: CostCurves | None = None) -> PruneConfig:
    """The pruning job of one probe; ``coupled=(kind, ratio)`` prunes that share of the heads / neurons; ``cost``:
    the whole-network budget counts that platform's cost (``pruning.cost_budget``)."""
    budget = {} if budget_ratio is None else {"budget": {"ratio": float(budget_ratio),
                                                         "min_keep": cfg.budget_min_keep,
                                                         **({} if cost is None else {"cost": cost.to_dict()})}}
    if coupled is not None:
        budget["coupled"] = {"kind": coupled[0], "ratio": float(coupled[1])}
    return PruneConfig.from_dict({**budget, "method": "admm", "seed": cfg.seed,
                                  **cfg.recipe.prune_fields(pretrain, rounds), "layers": layers})


def compared_model(cfg: CompareConfig, data: Dataset) -> nn.Module:
    """A fresh model of ``cfg.model`` for ``data`` (zoo by name; yours rebuilt from the spec, in every process)."""
    return build_for_data(cfg.model, data.num_classes, data.input_shape, cfg.input_shape, cfg.dataset)
