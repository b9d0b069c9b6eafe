"""``sparsesim compare`` as six typed stages, each a frozen dataclass in and out:

    plan(cfg, out, accs, log) -> Plan            data split, model, dense directory, n_val / n_test
    prune(plan) -> Pruned                        dense baseline, then every search: budget -> structure -> outcome
    price(plan, pruned) -> Priced                chosen models, priced rows, the rules beside, the cost rule
    measure(plan, priced) -> Measured            CPU (and GPU) rows; empty without ``measure_cpu``
    decide(plan, priced, measured) -> Decision   results.csv rows, verdicts, every rule, across budgets
    report(plan, decision) -> CompareSummary     results.csv, summary.json, report.md / report.html
                                                 (``analysis.compare_summary``)

Between stages travel dataclasses (``SearchOutcome``, ``ChosenModel``, ``PricedRow``); the mappings are made once,
by ``CompareSummary.to_json()``, for summary.json and the report (which renders from that mapping, as a resumed
run re-reads it).  Every step before pricing writes into OUT and is skipped when its output exists."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accel_models.hardware import Accelerator
from fileguard import atomic_write_json
from pruning.artifact import read_manifest
from pruning.data import Dataset, load_dataset
from pruning.models import prunable_layers
from pruning.pipeline import run_prune

from .compare_config import (COUPLED, CompareConfig, CompareError, budget_modes, check_coupled, compared_model,
                             probe_epochs, prune_config, resume_conflicts, split_validation, training_budget)
from .compare_results import BreakEven, HILResult, ParetoPoint
from .compare_search import SearchOutcome, Searches, _Search, search_all
from .compare_summary import CompareSummary, accuracy_summary, jsonable, runs_seconds, structure_summary
from .correctness import correct_on_test
from .report_data import (ChosenModel, PricedRow, breakeven_curves, chosen_model, cpu_sweep, hardware_in_the_loop,
                          measure_models, pareto_points, price_models, priced_verdicts,
                          workloads_line, write_results_csv)
from .bench import break_even
from .stats import Accuracy, PairedLoss, resolution
from .verdict import across_budgets, every_rule, make_verdicts


# ------------------------------------------------------------------ the stages' types
@dataclass(frozen=True)
class Plan:
    """What every later stage reads: the config, the output directory, the platforms and the data split."""

    cfg: CompareConfig
    out: Path
    accs: tuple[Accelerator, ...]
    log: Callable[[str], None]
    progress: bool
    search_data: Dataset        # training split; its test part is the validation split every decision is made on
    full: Dataset               # the whole training set; its test part is reported, never a gate
    model0: nn.Module           # the compared model (the dense baseline trains it in place)
    started_s: float            # time.perf_counter() at the start (summary.json's wall_s)

    @property
    def dense_dir(self) -> Path:
        return self.out / "runs" / "dense"

    @property
    def n_val(self) -> int:
        return len(self.search_data.test_y)

    @property
    def n_test(self) -> int:
        return len(self.full.test_y)

    @property
    def calibration(self):
        """The validation images that measure input-activation density (None: dense activations)."""
        return self.search_data.test_x[: self.cfg.calibrate_images] if self.cfg.calibrate_images else None


@dataclass(frozen=True)
class Pruned:
    """The dense baseline and every search: ``searches`` budget -> structure -> outcome (the deciding budget first);
    ``cost``: platform -> structure -> outcome of the cost-aware searches (None: no cost budget)."""

    baseline_val: float          # the dense model's validation accuracy (a fraction)
    searches: Searches
    cost: Searches | None = None

    @property
    def deciding(self) -> str:
        return next(iter(self.searches))

    @property
    def results(self) -> Mapping[str, SearchOutcome]:
        """The deciding budget's outcome per structure."""
        return self.searches[self.deciding]


@dataclass(frozen=True)
class BesideRule:
    """Another budget's search, priced and judged the same way, reported beside the deciding one."""

    budget: str
    models: tuple[ChosenModel, ...]
    results: Mapping[str, SearchOutcome]
    rows: tuple[PricedRow, ...]
    verdicts: list

    def to_json(self, n_val: int) -> dict:
        by_structure = {m.structure: m for m in self.models}
        return {"budget": self.budget, "verdicts": self.verdicts, "rows": [r.as_row() for r in self.rows],
                "structures": {s: structure_summary(r, by_structure.get(s), n_val, self.models[0].val.fraction)
                               for s, r in self.results.items()}}


@dataclass(frozen=True)
class CostRule:
    """The cost rule: each platform's cost-aware models, kept where no other rule's allocation is cheaper."""

    metric: str
    rows: tuple[PricedRow, ...]
    verdicts: list
    platforms: Searches

    def to_json(self) -> dict:
        platforms = {p: {s: {"ratio": r.ratio, "dir": r.dir, "shared_with": r.shared_with, "note": r.cost_note or "",
                             "points": [list(x) for x in r.points]}
                         for s, r in by_s.items()} for p, by_s in self.platforms.items()}
        return {"budget": "cost", "metric": self.metric, "rows": [r.as_row() for r in self.rows],
                "verdicts": self.verdicts, "platforms": platforms}


@dataclass(frozen=True)
class Priced:
    """The deciding rule's models (dense first) priced on every platform, with its Pareto points, break-even
    curves and hardware in the loop; the other budgets' rules beside it; the cost rule."""

    pruned: Pruned
    models: tuple[ChosenModel, ...]
    rows: tuple[PricedRow, ...]       # simulated rows of the deciding rule (``budget`` set)
    pareto: tuple[ParetoPoint, ...]
    breakeven: BreakEven
    hil: HILResult | None
    beside: tuple[BesideRule, ...]
    cost_rule: CostRule | None


@dataclass(frozen=True)
class Measured:
    """The models timed on this machine (empty without ``measure_cpu``) and the CPU ratio sweep."""

    rows: tuple[PricedRow, ...] = ()
    cpu_sweep: list | None = None
    cpu_breakeven: object = None


@dataclass(frozen=True)
class Decision:
    """The deciding rows (results.csv), their verdicts, the verdict under every rule and across budgets."""

    priced: Priced
    measured: Measured
    budget: str                       # the deciding rule (cost when ``budget: cost``)
    rows: tuple[PricedRow, ...]
    verdicts: list
    rules: dict
    across_budgets: list | None


# ------------------------------------------------------------------ 1. plan
def plan(cfg: CompareConfig, out: Path, accs, log: Callable[[str], None], progress: bool = False) -> Plan:
    """The run's directory checked against its cached runs and its config written; the data split (validation held
    out of training) and the model, checked before any training."""
    started = time.perf_counter()
    (out / "configs").mkdir(parents=True, exist_ok=True)
    check_resume(out, cfg)
    atomic_write_json(out / "configs" / "compare.json", cfg.to_dict())
    data = load_dataset(cfg.dataset, cfg.data_dir)   # held in memory: CompareConfig refuses a streamed one
    search_data, full = split_validation(data, cfg.validation_fraction, cfg.seed)
    torch.manual_seed(cfg.seed)
    model0 = compared_model(cfg, data)
    check_coupled(model0, cfg.structures)
    log(f"[workloads] {workloads_line(cfg, model0, getattr(model0, 'input_shape', None) or data.input_shape)}")
    return Plan(cfg, out, tuple(accs), log, progress, search_data, full, model0, started)


def check_resume(out: Path, cfg: CompareConfig) -> None:
    """A run resumed into ``out`` with other training settings than its cached runs were made with is refused
    (they would be reused as if made with the new ones); settings that only change selection or pricing are fine."""
    old_path = out / "configs" / "compare.json"
    if not (old_path.is_file() and (out / "runs").is_dir()):
        return
    try:
        old = json.loads(old_path.read_text())
    except (OSError, ValueError):
        raise CompareError(f"{old_path} is unreadable, so the runs in {out / 'runs'} cannot be matched to this "
                           "config; allowed: a new --out, or remove that directory") from None
    changed = resume_conflicts(old if isinstance(old, dict) else {}, cfg)
    if changed:
        raise CompareError(f"{out} holds runs made with other settings ({'; '.join(changed)}); resuming would reuse "
                           "them as if made with these; allowed: the same settings, or a new --out")


# ------------------------------------------------------------------ 2. prune
def prune(p: Plan) -> Pruned:
    """The dense baseline (every layer dense at the compared bits, trained on the search split; cached), then the
    matched-accuracy search of every structure under every budget (``analysis.compare_search``)."""
    cfg, log = p.cfg, p.log
    dense_layers = {n: ({"type": "dense", "bits": cfg.bits} if cfg.bits != 32 else {"type": "dense"})
                    for n in prunable_layers(p.model0)}
    log(f"[step 1/4] dense baseline ({cfg.model} on {cfg.dataset}: {p.n_val} validation, {p.n_test} test images)")
    if not (p.dense_dir / "manifest.json").exists():
        log(f"[dense] training {cfg.model} for {cfg.recipe.pretrain_epochs} epochs")
        run_prune(p.model0, p.search_data, prune_config(cfg, dense_layers, cfg.recipe.pretrain_epochs, rounds=0),
                  p.dense_dir, model_name=cfg.model, resume=True, progress=p.progress, log=lambda s: None)
    dense_m = read_manifest(p.dense_dir)
    baseline = dense_m["accuracy"]["pruned"]
    log(time_estimate(cfg, dense_m))
    log(f"[dense] validation accuracy {Accuracy.from_fraction(baseline, p.n_val).text()}")
    log(resolution(p.n_val, cfg.tolerance_pp).sentence("validation").replace("**", ""))
    ctx = _Search(cfg, p.out, p.model0, p.dense_dir, p.search_data, baseline, p.n_val, p.full.num_classes, log,
                  p.progress, accs=p.accs)
    searched = search_all(ctx)
    cost = searched.pop("cost", None)
    return Pruned(baseline, searched, cost)


def time_estimate(cfg: CompareConfig, dense_manifest: dict) -> str:
    """``[plan]`` line after the dense model: the rest of the run's training at the dense model's seconds per epoch
    (an upper bound in epochs; probes train a little slower, with the ADMM penalty and masks)."""
    seconds = float((dense_manifest.get("timings_s") or {}).get("pretrain") or 0.0)
    if cfg.recipe.pretrain_epochs == 0 or seconds <= 0:
        return "[plan] no dense training was timed: no time estimate"
    per_epoch = seconds / cfg.recipe.pretrain_epochs
    probes, epochs = training_budget(cfg)
    rest = (epochs - cfg.recipe.pretrain_epochs) * per_epoch
    return (f"[plan] the dense model trained at {per_epoch:.1f} s per epoch: the searches take at most about "
            f"{rest / 60:.1f} min ({probes} probe(s) x {probe_epochs(cfg)} epoch(s); fewer when a search stops early "
            "or a run is cached)")


# ------------------------------------------------------------------ 3. price
def price(p: Plan, pruned: Pruned) -> Priced:
    """The test accuracy of each chosen model (reported, never a gate), each priced on every platform; Pareto
    points, break-even curves, hardware in the loop; the other budgets beside; the cost rule."""
    cfg, log = p.cfg, p.log
    log(f"[step 3/4] test accuracies; pricing on {len(p.accs)} platform(s)" + (", CPU measurement" if
        cfg.measure_cpu else "") + "; break-even curves" + ("; hardware in the loop" if cfg.hil_preset else ""))
    dense_correct = correct_on_test(cfg, p.dense_dir, p.full)   # once: every rule's paired test loss reads it
    models = chosen_models(p, pruned.results, dense_correct)
    for m in models[1:]:
        if m.test_over_tolerance:
            log(f"[{m.structure}] flag: test loss {m.test_loss_pp:+.2f} pp vs dense, over the {cfg.tolerance_pp:g} pp "
                "tolerance (matched on validation; test is reported, not a gate)")
    rows, layer_tables = price_models(cfg, models, list(p.accs), log, p.calibration)
    rows = [replace(r, budget=pruned.deciding) for r in rows]
    pareto = pareto_points(cfg, pruned.results, models[0], rows, p.accs, p.calibration)
    breakeven = breakeven_curves(cfg, models[0].path, p.accs, rows, pruned.results, p.calibration)
    hil = (hardware_in_the_loop(cfg, p.out, models, layer_tables, p.accs, p.full, log, p.calibration)
           if cfg.hil_preset else None)
    beside = tuple(beside_rule(p, b, pruned.searches[b], dense_correct) for b in budget_modes(cfg)[1:]
                   if b != "cost")
    cost_rule = None
    if pruned.cost is not None:
        log("[cost] pricing each platform's cost-aware models")
        others = {pruned.deciding: rows, **{b.budget: list(b.rows) for b in beside}}
        cost_rule = price_cost_rule(p, pruned.cost, models, others, dense_correct)
    return Priced(pruned, tuple(models), tuple(rows), tuple(pareto), breakeven, hil, beside, cost_rule)


def chosen_models(p: Plan, results: Mapping[str, SearchOutcome], dense_correct: np.ndarray) -> list[ChosenModel]:
    """The dense model, then each structure at its matched ratio, with validation and test accuracies (the test
    loss with its paired interval against ``dense_correct``, the dense model's per-image test correctness)."""
    cfg = p.cfg
    dense_test = Accuracy(int(dense_correct.sum()), len(dense_correct))
    dense_val = Accuracy.from_fraction(read_manifest(p.dense_dir)["accuracy"]["pruned"], p.n_val)
    models = [chosen_model("dense", 0.0, p.dense_dir, dense_val, dense_test, dense_test, cfg.tolerance_pp, dense_val)]
    for s, r in results.items():
        if r.dir:
            correct = correct_on_test(cfg, r.path, p.full)
            models.append(chosen_model(s, r.ratio, r.path, Accuracy.from_fraction(r.val_accuracy, p.n_val),
                                       Accuracy(int(correct.sum()), len(correct)), dense_test, cfg.tolerance_pp,
                                       dense_val, PairedLoss.from_correct(dense_correct, correct)))
    return models


def beside_rule(p: Plan, budget: str, results: Mapping[str, SearchOutcome], dense_correct: np.ndarray) -> BesideRule:
    """The other budget's search, priced and judged the same way, reported beside the deciding one."""
    models = chosen_models(p, results, dense_correct)
    rows, verdicts = priced_verdicts(p.cfg, models, list(p.accs), p.calibration)
    return BesideRule(budget, tuple(models), results, tuple(rows), verdicts)


def price_cost_rule(p: Plan, searched: Searches, models: list[ChosenModel],
                    other_rows: dict[str, list[PricedRow]], dense_correct: np.ndarray) -> CostRule:
    """The cost rule: each platform priced with its own cost-aware models (platforms with the same models priced
    together), each kept only where no other rule's matched allocation of the structure is cheaper there
    (``cheapest_allocations``); verdicts judged as everywhere else."""
    cfg = p.cfg
    dense = models[0]
    chosen: dict[str, ChosenModel] = {}

    def model_of(structure: str, result: SearchOutcome) -> ChosenModel | None:
        if not result.dir:
            return None
        if result.dir not in chosen:   # its ratio: the share of weights pruned (a cost search's is of cost)
            path = result.path
            ratio = result.ratio if structure == "nm" or structure in COUPLED else \
                round(1.0 - 1.0 / read_manifest(path)["totals"]["compression"], 6)
            correct = correct_on_test(cfg, path, p.full)
            chosen[result.dir] = chosen_model(
                structure, ratio, path, Accuracy.from_fraction(result.val_accuracy, p.n_val),
                Accuracy(int(correct.sum()), len(correct)), dense.test, cfg.tolerance_pp, dense.val,
                PairedLoss.from_correct(dense_correct, correct))
        return chosen[result.dir]

    groups: dict[tuple, list] = {}
    for a in p.accs:
        if a.name in searched:
            ms = [m for m in (model_of(s, r) for s, r in searched[a.name].items()) if m is not None]
            groups.setdefault(tuple(str(m.path) for m in ms), [[], ms])[0].append(a)
    rows: list[PricedRow] = []
    for platforms, ms in groups.values():
        rows += priced_verdicts(cfg, [dense, *ms], platforms, p.calibration)[0]
    rows = cheapest_allocations([replace(r, budget="cost", found_by="cost") for r in rows], other_rows,
                                cfg.cost_metric)
    return CostRule(cfg.cost_metric, tuple(rows), make_verdicts([r.as_row() for r in rows], cfg.tie_threshold),
                    searched)


COST_KEY = {"energy": "energy_pj", "latency": "cycles", "edp": None}


def cheapest_allocations(cost_rows: list[PricedRow], other_rows: Mapping[str, list[PricedRow]],
                         metric: str) -> list[PricedRow]:
    """The cost rule's row of each (platform, structure): the cheapest matched allocation of that structure on
    that platform among the cost-aware search's and the other rules' (each an allocation of the same structure
    matched at the same tolerance, priced on its real pattern; the cost-aware projection ranks groups across
    layers by weight magnitude, which can miss an allocation another rule found).  ``found_by`` names the search
    that found it."""
    key = COST_KEY[metric]

    def cost(r: PricedRow) -> float:
        return r.energy_pj * r.cycles if key is None else getattr(r, key)

    platforms = {r.platform for r in cost_rows}
    best = {(r.platform, r.structure): r for r in cost_rows}
    for rule, rows in other_rows.items():
        for r in rows:
            k = (r.platform, r.structure)
            if r.platform not in platforms or r.structure == "dense" or r.measured \
                    or r.accuracy_status != "matched" or r.energy_pj is None:
                continue
            if k not in best or cost(r) < cost(best[k]) * (1 - 1e-9):
                best[k] = replace(r, budget="cost", found_by=rule)
    return list(best.values())


# ------------------------------------------------------------------ 4. measure
def measure(p: Plan, priced: Priced) -> Measured:
    """The deciding rule's models timed on this CPU (and GPU), and the CPU's CSR speedup over the ratio; nothing
    without ``measure_cpu``."""
    if not p.cfg.measure_cpu:
        return Measured()
    rows = measure_models(p.cfg, list(priced.models), p.log)
    sweep = cpu_sweep(p.cfg, priced.models[0].path)
    return Measured(tuple(replace(r, budget=priced.pruned.deciding) for r in rows), sweep,
                    break_even([r["ratio"] for r in sweep], [r["csr_speedup"] for r in sweep]))


# ------------------------------------------------------------------ 5. decide
def decide(p: Plan, priced: Priced, measured: Measured) -> Decision:
    """The deciding rule's rows (each model's simulated rows, then its measured ones) and verdicts (costs within
    ``tie_threshold`` tie); under ``budget: cost`` the cost rule decides on the simulated platforms and the
    measured ones keep the global models; the verdict under every rule, and across budgets."""
    tie = p.cfg.tie_threshold
    order = {m.structure: i for i, m in enumerate(priced.models)}
    rows = sorted(priced.rows + measured.rows, key=lambda r: order[r.structure])   # stable: simulated first
    rule_rows = {priced.pruned.deciding: rows, **{b.budget: list(b.rows) for b in priced.beside}}
    budget = priced.pruned.deciding
    if priced.cost_rule is not None:
        rule_rows["cost"] = list(priced.cost_rule.rows)
    if p.cfg.budget == "cost":
        budget, rows = "cost", [*priced.cost_rule.rows, *measured.rows]
    dicts = {rule: [r.as_row() for r in rs] for rule, rs in rule_rows.items()}
    across = None
    if len(rule_rows) > 1:   # the cheapest matched model on each platform, whichever search found it
        across = across_budgets({budget: dicts[budget], **{b: r for b, r in dicts.items() if b != budget}}, tie)
    return Decision(priced, measured, budget, tuple(rows), make_verdicts([r.as_row() for r in rows], tie),
                    every_rule(dicts, tie), across)


# ------------------------------------------------------------------ 6. report
def report(p: Plan, decision: Decision) -> CompareSummary:
    """results.csv, summary.json, report.md / report.html and the plots; the summary (``wall_s``: this
    invocation's seconds, ``runs_s``: the pruning runs' own, cached ones included)."""
    from .report import write_report

    summary = compare_summary(p, decision, time.perf_counter() - p.started_s)
    write_results_csv(p.out / "results.csv", list(decision.rows))
    atomic_write_json(p.out / "summary.json", jsonable(summary.to_json()))
    p.log("[step 4/4] report and plots")
    write_report(p.out, summary.to_json(), p.log)
    summary = replace(summary, wall_s=time.perf_counter() - p.started_s, runs_s=runs_seconds(p.out / "runs"))
    atomic_write_json(p.out / "summary.json", jsonable(summary.to_json()))
    p.log(f"compare finished in {summary.wall_s:.0f} s: {p.out / 'report.md'}, {p.out / 'report.html'}")
    return summary


def compare_summary(p: Plan, decision: Decision, wall_s: float) -> CompareSummary:
    priced, measured, cfg = decision.priced, decision.measured, p.cfg
    results = priced.pruned.results
    by_structure = {m.structure: m for m in priced.models}
    return CompareSummary(
        cfg.to_dict(), accuracy_summary(cfg, priced.models[0], p.n_val, p.n_test), decision.budget,
        {s: structure_summary(r, by_structure.get(s), p.n_val, priced.pruned.baseline_val) for s, r in results.items()},
        [b.to_json(p.n_val) for b in priced.beside], decision.rows, priced.pareto, priced.breakeven, priced.hil,
        decision.verdicts, wall_s, None if priced.cost_rule is None else priced.cost_rule.to_json(),
        decision.rules, decision.across_budgets, cpu_sweep=measured.cpu_sweep, cpu_breakeven=measured.cpu_breakeven)
