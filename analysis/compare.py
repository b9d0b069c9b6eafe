"""The main comparison (``sparsesim compare``): sparsity structures at matched accuracy, priced everywhere.

0. Pre-flight (``preflight``), before any data is read: every preset and hardware YAML loads and every priced
   weight bit-width (``bits``, ``breakeven_bits``) fits every platform; a bad combination is one error line.
1. Train the model dense once (cached in OUT/dense); hold out a validation
   split of the training data for every accuracy decision.
2. For each structure (non-structured, filter, channel, column, block, N:M) at
   the same weight bit-width, search the highest pruning ratio whose validation
   accuracy loss stays within the tolerance (``analysis.search``); every probe is
   an ADMM prune + masked retrain from the dense weights, cached as an artifact.
   A structure is *matched* only if its test accuracy is also within the
   tolerance of the dense model's; otherwise it is flagged "validation only"
   and never declared a winner.  Every accuracy carries its n and a 95% Wilson
   interval, and the summary says whether n resolves the tolerance
   (``analysis.stats``).
3. Price the dense model and every probed artifact on every hardware preset
   (analytical engine; each model's input-activation density measured on
   ``calibrate_images`` validation images, so zero-skipping engines see the
   real ReLU sparsity) and measure the chosen ones on this CPU (and GPU).
4. Break-even curves, hardware-in-the-loop per-layer structures (scaled down
   until the mix meets the tolerance), verdicts (``analysis.verdict``; costs
   within ``tie_threshold`` tie), plots, report.

Every step writes into OUT and is skipped when its output exists, so a killed
run resumes where it stopped.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from accel_models.hardware import Accelerator, preset_names
from pruning.artifact import read_manifest
from pruning.budget import BudgetError
from pruning.checkpoint import OutputLock, atomic_write_json
from pruning.config import PruneConfig
from pruning.data import DATASETS, Dataset, load_dataset
from pruning.models import MODELS, prunable_layers
from pruning.pipeline import run_prune
from pruning.structures import Structure, StructureError
from pruning.user_model import ModelSpecError, build_for_data, load_artifact_as, parse_input_shape, spec_form
from pruning.yamlio import as_tuple, short

from .search import loss_pp, loss_within, matched_ratio
from .stats import Accuracy, resolution

if TYPE_CHECKING:
    from .report_data import ChosenModel

STRUCTURES = ("nonstructured", "filter", "channel", "column", "block", "nm")
BUDGETS = ("global", "uniform", "both")
DEFAULT_PRESETS = ("tpu_like", "eyeriss_like", "eie_like", "sigma_like", "scnn_like", "nm_asic", "fpga_small",
                   "fpga_large", "fpga_sparse")


class CompareError(ValueError):
    pass


LIST_FIELDS = ("structures", "presets", "ladder", "breakeven_bits")  # a scalar is a one-element list
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


@dataclass(frozen=True)
class CompareConfig:
    model: str = "digits_cnn"           # a zoo name, MODULE:CALLABLE or FILE.py:CALLABLE (your code; run by compare)
    input_shape: tuple[int, ...] | None = None   # your model's C,H,W when it declares no input_shape
    dataset: str = "digits"
    data_dir: str | None = None
    structures: tuple[str, ...] = STRUCTURES
    bits: int = 8                       # weight bit-width for every structure (32 = float)
    tolerance_pp: float = 1.0           # allowed validation accuracy loss, percentage points
    ladder: tuple[float, ...] = (0.5, 0.75, 0.9)
    bisections: int = 2
    block: tuple[int, int] = (4, 4)
    nm: tuple[int, int] = (2, 4)
    presets: tuple[str, ...] = DEFAULT_PRESETS
    measure_cpu: bool = True
    batch: int = 8
    seed: int = 0
    validation_fraction: float = 0.1
    pretrain_epochs: int = 15
    admm_rounds: int = 4
    epochs_per_round: int = 1
    retrain_epochs: int = 6
    lr: float = 2e-3
    batch_size: int = 64
    rho: float = 0.05
    breakeven_bits: tuple[int, ...] | None = None   # null: the compare's own ``bits``; a list must hold ``bits``
    hil_preset: str | None = "eie_like"
    calibrate_images: int = 256         # validation images that measure input-activation density (0: dense)
    tie_threshold: float = 0.05         # relative cost difference below which two models tie (0.05 = 5%)
    budget: str = "global"              # global: one whole-network ratio shared out per layer (exact ADMM
                                        # projection); uniform: the same ratio in every layer; both: global
                                        # decides, uniform reported beside it
    budget_min_keep: float = 0.0        # global: each layer keeps at least this fraction of its groups
    hil_probes: int = 4                 # most ADMM runs the hardware-in-the-loop scale search may spend
    jobs: int = 1                       # structure searches run at once (processes, 1 torch thread each if > 1)

    @classmethod
    def from_dict(cls, data) -> "CompareConfig":
        """A config from a YAML mapping: unknown fields refused, list fields may be given as one scalar."""
        if not isinstance(data, dict):
            raise CompareError(f"compare config: expected a mapping of fields, got {short(data)}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed, key=str)
        if unknown:
            raise CompareError(f"compare config: unknown field(s) {', '.join(short(k, 40) for k in unknown[:5])}; "
                               f"allowed: {', '.join(sorted(allowed))}")
        return cls(**data)

    def __post_init__(self):
        if self.breakeven_bits is None:   # the curves follow the bit-width the structures are compared at
            object.__setattr__(self, "breakeven_bits", self.bits)
        for name in LIST_FIELDS + ("block", "nm"):
            v = getattr(self, name)
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
        for name, allowed in (("dataset", DATASETS), ("budget", BUDGETS)):
            v = getattr(self, name)
            if not isinstance(v, str) or v not in allowed:
                raise CompareError(f"compare config: {name}={short(v)}; allowed: {', '.join(allowed)}")
        for name in ("data_dir", "hil_preset"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise CompareError(f"compare config: {name}={short(v)}; allowed: text or null")
        _items("structures", self.structures, lambda s: isinstance(s, str) and s in STRUCTURES,
               ", ".join(STRUCTURES))
        known = set(preset_names())
        _items("presets", self.presets, lambda p: isinstance(p, str) and (p in known or p.endswith((".yaml", ".yml"))),
               f"preset names ({', '.join(sorted(known))}) or .yaml files")
        if self.hil_preset is not None and self.hil_preset not in known and not self.hil_preset.endswith(
                (".yaml", ".yml")):
            raise CompareError(f"compare config: hil_preset={short(self.hil_preset)}; allowed: null, "
                               f"{', '.join(sorted(known))} or a .yaml file")
        _items("ladder", self.ladder, lambda r: not isinstance(r, bool) and isinstance(r, (int, float))
               and 0 <= r < 1, "ratios in [0, 1)")
        if list(self.ladder) != sorted(self.ladder):
            raise CompareError(f"compare config: ladder={short(list(self.ladder))}; allowed: increasing "
                               "ratios")
        if not (not isinstance(self.bits, bool) and isinstance(self.bits, int) and (1 <= self.bits <= 16
                                                                                   or self.bits == 32)):
            raise CompareError(f"compare config: bits={short(self.bits)}; allowed: 1..16 or 32 (float)")
        _items("breakeven_bits", self.breakeven_bits, lambda b: not isinstance(b, bool) and isinstance(b, int)
               and (1 <= b <= 16 or b == 32), "bit-widths 1..16 or 32")
        for name, hi in (("block", 65_536), ("nm", 1024)):
            v = getattr(self, name)
            if not (isinstance(v, tuple) and len(v) == 2 and all(
                    not isinstance(i, bool) and isinstance(i, int) and 1 <= i <= hi for i in v)):
                raise CompareError(f"compare config: {name}={short(v)}; allowed: two integers in 1..{hi}")
        if self.nm[0] > self.nm[1]:
            raise CompareError(f"compare config: nm={list(self.nm)}; allowed: [N, M] with N <= M")
        if not isinstance(self.measure_cpu, bool):
            raise CompareError(f"compare config: measure_cpu={short(self.measure_cpu)}; allowed: true, false")
        _num("tolerance_pp", self.tolerance_pp, 0, 100, lo_open=True, hi_open=True, what=" percentage points")
        _num("validation_fraction", self.validation_fraction, 0, 0.5, lo_open=True, hi_open=True)
        _num("tie_threshold", self.tie_threshold, 0, 1, hi_open=True, kind="a relative cost difference",
             what=", e.g. 0.05 = 5%")
        _num("budget_min_keep", self.budget_min_keep, 0, 1, hi_open=True, kind="a fraction of groups")
        _num("lr", self.lr, 0, 1e3, lo_open=True)
        _num("rho", self.rho, 0, 1e6, lo_open=True)
        for name, lo, hi in (("bisections", 0, 20), ("batch", 1, 65_536), ("seed", 0, MAX_SEED),
                             ("pretrain_epochs", 0, MAX_EPOCHS), ("admm_rounds", 0, 10_000),
                             ("epochs_per_round", 1, MAX_EPOCHS), ("retrain_epochs", 0, MAX_EPOCHS),
                             ("batch_size", 1, 1 << 20), ("calibrate_images", 0, 1_000_000), ("hil_probes", 1, 8),
                             ("jobs", 1, 64)):
            _num(name, getattr(self, name), lo, hi, integer=True)
        if self.bits not in self.breakeven_bits:   # never a curve at a width the structures were not priced at
            raise CompareError(f"compare config: breakeven_bits={short(list(self.breakeven_bits))} leaves out "
                               f"bits={self.bits}; allowed: a list of bit-widths that holds {self.bits}, or leave "
                               "breakeven_bits out (it then follows bits)")

    def to_dict(self) -> dict:
        return asdict(self)


# -------------------------------------------------------------- pre-flight
FLOAT_BITS = 32   # float weights: priced at the widest width each array accepts, so every array takes them


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
    return tuple(accs)


# ------------------------------------------------------------------ helpers
def split_validation(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """(search data: train minus validation, tested on validation), (final data: full train, real test)."""
    g = torch.Generator().manual_seed(seed + 1)
    perm = torch.randperm(len(data.train_y), generator=g)
    n_val = max(1, int(len(perm) * fraction))
    val, tr = perm[:n_val], perm[n_val:]
    search = Dataset(data.name, data.train_x[tr], data.train_y[tr], data.train_x[val], data.train_y[val],
                     data.num_classes)
    return search, data


def budget_modes(cfg: CompareConfig) -> tuple[str, ...]:
    """The searches to run, the deciding one first."""
    return ("global", "uniform") if cfg.budget == "both" else (cfg.budget,)


def layer_plan(model: nn.Module, structure: str, ratio: float, cfg: CompareConfig, budget: str = "uniform") -> dict:
    """Per-layer YAML fields: the structure where it fits; dense (same bits) where it cannot apply.

    ``budget="global"``: pooled layers carry no ratio (``prune_config`` adds the whole-network budget)."""
    layers = prunable_layers(model)
    last = list(layers)[-1]
    plan = {}
    for name, mod in layers.items():
        spec: dict = {"type": structure} if budget == "global" else {"type": structure, "ratio": float(ratio)}
        if structure == "block":
            spec["block"] = list(cfg.block)
        if structure == "nm":
            spec = {"type": "nm", "nm": list(cfg.nm)}
        try:
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


def prune_config(cfg: CompareConfig, layers: dict, pretrain: int = 0, rounds: int | None = None,
                 budget_ratio: float | None = None) -> PruneConfig:
    budget = {} if budget_ratio is None else {"budget": {"ratio": float(budget_ratio),
                                                         "min_keep": cfg.budget_min_keep}}
    return PruneConfig.from_dict({**budget,
        "method": "admm", "seed": cfg.seed, "pretrain_epochs": pretrain,
        "retrain_epochs": cfg.retrain_epochs if rounds is None or rounds else 0,
        "train": {"optimizer": "adam", "lr": cfg.lr, "batch_size": cfg.batch_size},
        "admm": {"schedule": [1.0], "rounds": cfg.admm_rounds if rounds is None else rounds,
                 "epochs_per_round": cfg.epochs_per_round, "rho": cfg.rho, "rho_multiplier": 1.3},
        "layers": layers})


def compared_model(cfg: CompareConfig, data: Dataset) -> nn.Module:
    """A fresh model of ``cfg.model`` for ``data`` (zoo by name; yours rebuilt from the spec, in every process)."""
    return build_for_data(cfg.model, data.num_classes, data.input_shape, cfg.input_shape, cfg.dataset)


def final_test_accuracy(path: Path, data: Dataset, cfg: CompareConfig) -> Accuracy:
    from pruning.train import evaluate

    model = load_artifact_as(path, cfg.model, cfg.input_shape).model
    return Accuracy.from_fraction(evaluate(model, data.test_x, data.test_y), len(data.test_y))


def chosen_models(cfg: CompareConfig, dense_dir: Path, results: dict, full: Dataset,
                  n_val: int) -> list[ChosenModel]:
    """The dense model, then each structure at its matched ratio, with validation and test accuracies."""
    from .report_data import chosen_model

    dense_test = final_test_accuracy(dense_dir, full, cfg)
    dense_val = Accuracy.from_fraction(read_manifest(dense_dir)["accuracy"]["pruned"], n_val)
    models = [chosen_model("dense", 0.0, dense_dir, dense_val, dense_test, dense_test, cfg.tolerance_pp, dense_val)]
    for s, r in results.items():
        if r["dir"]:
            models.append(chosen_model(s, r["ratio"], Path(r["dir"]), Accuracy.from_fraction(r["val_accuracy"], n_val),
                                       final_test_accuracy(Path(r["dir"]), full, cfg), dense_test, cfg.tolerance_pp,
                                       dense_val))
    return models


def structure_summary(result: dict, chosen: ChosenModel | None, n_val: int, baseline_val: float) -> dict:
    """summary.json entry of one structure: probes and chosen model with n and 95% intervals, losses in pp
    (positive = worse than dense), status, compression and the per-layer ratios it reached."""
    from .report_data import layer_ratios

    points = [{"ratio": r, "val": Accuracy.from_fraction(a, n_val).to_dict(), "val_loss_pp": loss_pp(baseline_val, a),
               "within": ok} for r, a, ok in result["points"]]
    out = {**result, "points": points, "status": "not matched", "val": None, "test": None, "val_loss_pp": None,
           "test_loss_pp": None, "compression": None, "layer_ratios": None}
    if chosen is not None:
        out.update(status=chosen.status, val=chosen.val.to_dict(), test=chosen.test.to_dict(),
                   val_loss_pp=chosen.val_loss_pp, test_loss_pp=chosen.test_loss_pp, compression=read_manifest(chosen.path)["totals"]["compression"],
                   layer_ratios=layer_ratios(chosen.path))
    return out


def beside_summary(cfg: CompareConfig, searched: dict, budget: str, dense_dir: Path, full: Dataset, n_val: int,
                   accs, calibration) -> dict:
    """The other budget's search, priced and judged the same way, reported beside the deciding one."""
    from .report_data import priced_verdicts

    models = chosen_models(cfg, dense_dir, searched[budget], full, n_val)
    by_structure = {m.structure: m for m in models}
    rows, verdicts = priced_verdicts(cfg, models, accs, calibration)
    return {"budget": budget, "verdicts": verdicts, "rows": rows,
            "structures": {s: structure_summary(r, by_structure.get(s), n_val, models[0].val.fraction)
                           for s, r in searched[budget].items()}}


def accuracy_summary(cfg: CompareConfig, models: list[ChosenModel], n_val: int, n_test: int) -> dict:
    """n, dense accuracies with intervals, and whether each set resolves the tolerance."""
    dense = models[0]
    return {"n_val": n_val, "n_test": n_test, "baseline_val_accuracy": dense.val.fraction,
            "baseline_val": dense.val.to_dict(), "baseline_test": dense.test.to_dict(),
            "resolution": {"validation": resolution(n_val, dense.val.fraction, cfg.tolerance_pp).to_dict(),
                           "test": resolution(n_test, dense.test.fraction, cfg.tolerance_pp).to_dict()}}


# ------------------------------------------------------------------ search
@dataclass(frozen=True)
class _Search:
    """What every probe of the matched-ratio search needs."""

    cfg: CompareConfig
    out: Path
    model0: nn.Module
    dense_dir: Path
    data: Dataset
    baseline: float
    n_val: int
    num_classes: int
    log: Callable[[str], None]
    progress: bool


def probe_dir(ctx: _Search, structure: str, ratio: float, budget: str) -> Path:
    """One ADMM run per (structure, ratio, budget); N:M is a fixed pattern, shared by both budgets."""
    if structure == "nm":
        return ctx.out / "runs" / "nm_nm"
    return ctx.out / "runs" / f"{structure}_{'g' if budget == 'global' else ''}{ratio:.4f}"


def prune_probe(ctx: _Search, structure: str, ratio: float, budget: str) -> Path:
    """The probe's artifact directory, pruned now unless cached."""
    cfg = ctx.cfg
    run_dir = probe_dir(ctx, structure, ratio, budget)
    if not (run_dir / "manifest.json").exists():
        pooled = budget == "global" and structure != "nm"
        layers = layer_plan(ctx.model0, structure, ratio, cfg, "global" if pooled else "uniform")
        torch.manual_seed(cfg.seed)
        m = load_artifact_as(ctx.dense_dir, cfg.model, cfg.input_shape).model
        run_prune(m, ctx.data, prune_config(cfg, layers, budget_ratio=ratio if pooled else None), run_dir,
                  model_name=cfg.model, resume=True, progress=ctx.progress, log=lambda s: None)
    return run_dir


def search_structure(ctx: _Search, structure: str, budget: str) -> dict:
    """The highest ratio of ``structure`` within the tolerance on validation, with every probe."""
    cfg, probes = ctx.cfg, {}

    def evaluate_ratio(r: float) -> float:
        try:
            probes[r] = prune_probe(ctx, structure, r, budget)
        except BudgetError as e:   # a whole-network ratio no pruning can reach (every layer at its minimum)
            ctx.log(f"[{structure}, {budget}] ratio {r:.3f}: infeasible ({e}); counted as outside the tolerance")
            return 0.0
        acc = read_manifest(probes[r])["accuracy"]["pruned"]
        ctx.log(f"[{structure}, {budget}] ratio {r:.3f}: validation accuracy "
                f"{Accuracy.from_fraction(acc, ctx.n_val).text()}, loss {loss_pp(ctx.baseline, acc):+.2f} pp")
        return acc

    if structure == "nm":  # fixed pattern: one probe
        r = 1 - cfg.nm[0] / cfg.nm[1]
        acc = evaluate_ratio(r)
        ok = loss_within(ctx.baseline, acc, cfg.tolerance_pp / 100)
        chosen = (r, acc) if ok else (None, None)
        points = [(r, acc, ok)]
    else:
        res = matched_ratio(evaluate_ratio, ctx.baseline, cfg.tolerance_pp / 100, cfg.ladder, cfg.bisections)
        chosen = (res.ratio, res.accuracy)
        points = [(p.ratio, p.accuracy, p.within) for p in res.points]
    if chosen[0] is None:
        ctx.log(f"[{structure}, {budget}] no ratio within {cfg.tolerance_pp} pp; it is left out of the comparison")
    return {"budget": budget, "ratio": chosen[0], "val_accuracy": chosen[1], "points": points,
            "dir": str(probes[chosen[0]]) if chosen[0] is not None else None,
            "probe_dirs": {f"{r:.6f}": str(p) for r, p in probes.items()}}


def search_all(ctx: _Search) -> dict[str, dict[str, dict]]:
    """Every (budget, structure) search; N:M (a fixed pattern) runs once and serves both budgets.

    With ``cfg.jobs > 1`` the searches run in that many processes, one torch thread each (results then
    differ from ``jobs=1`` by floating-point order only)."""
    cfg, modes = ctx.cfg, budget_modes(ctx.cfg)
    tasks = [(m, s) for m in modes for s in cfg.structures if not (s == "nm" and m != modes[0])]
    ctx.log(f"[step 2/4] matched-accuracy search: {len(tasks)} search(es) ({', '.join(cfg.structures)}; budget "
            f"{' and '.join(modes)}), each a few ADMM probes" + (f", {cfg.jobs} at once" if cfg.jobs > 1 else ""))
    if cfg.jobs == 1:
        found = []
        for i, (m, s) in enumerate(tasks, 1):
            ctx.log(f"[search {i}/{len(tasks)}] {s}, {m} budget")
            found.append(search_structure(ctx, s, m))
    else:
        with multiprocessing.get_context("spawn").Pool(cfg.jobs) as pool:
            # one search per hand-out (chunksize 1), N:M's single probe last: no worker idles on a queued chunk
            order = sorted(range(len(tasks)), key=lambda i: tasks[i][1] == "nm")
            done = pool.starmap(_search_in_process, [(cfg, str(ctx.out), *tasks[i]) for i in order], chunksize=1)
            found = [done[order.index(i)] for i in range(len(tasks))]
    searched = {m: {} for m in modes}
    for (m, s), res in zip(tasks, found):
        searched[m][s] = res
    for m in modes[1:]:
        if "nm" in cfg.structures:
            searched[m]["nm"] = {**searched[modes[0]]["nm"], "budget": m}
        searched[m] = {s: searched[m][s] for s in cfg.structures}
    return searched


def _search_in_process(cfg: CompareConfig, out: str, budget: str, structure: str) -> dict:
    """``search_structure`` in a worker process: data and dense model reloaded, lines printed."""
    torch.set_num_threads(1)
    data = load_dataset(cfg.dataset, cfg.data_dir)
    search_data, _ = split_validation(data, cfg.validation_fraction, cfg.seed)
    dense_dir = Path(out) / "runs" / "dense"
    ctx = _Search(cfg, Path(out), compared_model(cfg, data), dense_dir, search_data,
                  read_manifest(dense_dir)["accuracy"]["pruned"], len(search_data.test_y), data.num_classes,
                  lambda line: print(line, flush=True), False)
    return search_structure(ctx, structure, budget)


# --------------------------------------------------------------------- run
def run_compare(cfg: CompareConfig, out_dir: str | Path, log: Callable[[str], None] = print,
                progress: bool = False) -> dict:
    """Run the whole comparison into ``out_dir``; returns the summary dict (also summary.json).

    Every preset and bit-width is checked first (``preflight``): a bad combination fails before any data is
    read or anything trained.  ``out_dir`` is locked for the run: a second compare into it fails at once
    (``OutputError``)."""
    accs = preflight(cfg, log)
    with OutputLock(out_dir, "compare", log):
        return _run_compare(cfg, Path(out_dir), list(accs), log, progress)


def _run_compare(cfg: CompareConfig, out: Path, accs: list[Accelerator], log: Callable[[str], None],
                 progress: bool) -> dict:
    t0 = time.perf_counter()
    (out / "configs").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "configs" / "compare.json", cfg.to_dict())
    data = load_dataset(cfg.dataset, cfg.data_dir)
    if not isinstance(data, Dataset):
        raise CompareError(f"compare config: dataset={cfg.dataset}: compare splits a data set held in memory; "
                           f"allowed: {', '.join(d for d in DATASETS if d != 'imagefolder')} (write your images to "
                           "an .npz for --dataset npz)")
    search_data, full = split_validation(data, cfg.validation_fraction, cfg.seed)
    n_val, n_test = len(search_data.test_y), len(full.test_y)
    torch.manual_seed(cfg.seed)
    model0 = compared_model(cfg, data)

    # 1. dense baseline (all layers dense at the chosen bits, trained on the search split)
    dense_dir = out / "runs" / "dense"
    dense_layers = {n: ({"type": "dense", "bits": cfg.bits} if cfg.bits != 32 else {"type": "dense"})
                    for n in prunable_layers(model0)}
    log(f"[step 1/4] dense baseline ({cfg.model} on {cfg.dataset}: {n_val} validation, {n_test} test images)")
    if not (dense_dir / "manifest.json").exists():
        log(f"[dense] training {cfg.model} for {cfg.pretrain_epochs} epochs")
        run_prune(model0, search_data, prune_config(cfg, dense_layers, cfg.pretrain_epochs, rounds=0),
                  dense_dir, model_name=cfg.model, resume=True, progress=progress, log=lambda s: None)
    dense_m = read_manifest(dense_dir)
    baseline = dense_m["accuracy"]["pruned"]
    log(f"[dense] validation accuracy {Accuracy.from_fraction(baseline, n_val).text()}")
    log(resolution(n_val, baseline, cfg.tolerance_pp).sentence("validation").replace("**", ""))

    # 2. matched-accuracy search per structure (per budget mode)
    ctx = _Search(cfg, out, model0, dense_dir, search_data, baseline, n_val, data.num_classes, log, progress)
    searched = search_all(ctx)
    mode = budget_modes(cfg)[0]
    results = searched[mode]

    # 3. test accuracy of the chosen models (matched = within tolerance on test too), price, measure
    from .report_data import build_tables
    log(f"[step 3/4] test accuracies; pricing on {len(accs)} platform(s)" + (", CPU measurement" if cfg.measure_cpu
        else "") + "; break-even curves" + ("; hardware in the loop" if cfg.hil_preset else ""))
    models = chosen_models(cfg, dense_dir, results, full, n_val)
    by_structure = {m.structure: m for m in models}
    for m in models[1:]:
        if m.status != "matched":
            log(f"[{m.structure}] matched on validation only: test loss {m.test_loss_pp:+.2f} pp vs dense "
                f"(tolerance {cfg.tolerance_pp:g} pp)")
    calibration = search_data.test_x[: cfg.calibrate_images] if cfg.calibrate_images else None
    tables = build_tables(cfg, out, models, results, accs, full, log, calibration)
    structures = {s: structure_summary(r, by_structure.get(s), n_val, baseline) for s, r in results.items()}
    beside = [beside_summary(cfg, searched, b, dense_dir, full, n_val, accs, calibration)
              for b in budget_modes(cfg)[1:]]
    summary = {"config": cfg.to_dict(), **accuracy_summary(cfg, models, n_val, n_test), "budget": mode,
               "structures": structures, "beside": beside, **tables, "wall_s": time.perf_counter() - t0}
    atomic_write_json(out / "summary.json", _jsonable(summary))
    from .report import write_report
    log("[step 4/4] report and plots")
    write_report(out, summary, log)
    summary["wall_s"] = time.perf_counter() - t0
    atomic_write_json(out / "summary.json", _jsonable(summary))
    log(f"compare finished in {summary['wall_s']:.0f} s: {out / 'report.md'}, {out / 'report.html'}")
    return summary


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
