"""The matched-accuracy searches of ``sparsesim compare``: per (budget, structure), the highest pruning ratio
non-inferior to dense at the tolerance on validation, every probe an ADMM prune cached as an artifact.

``search_all`` returns budget -> structure -> ``SearchOutcome`` (the cost budget: platform -> structure ->
``SearchOutcome``); ``analysis.compare_stages.prune`` calls it."""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from pruning.artifact import read_manifest
from pruning.budget import BudgetError
from pruning.data import Dataset, load_dataset
from pruning.pipeline import run_prune
from pruning.user_model import load_artifact_as
from sparsesim.storage import price_storage

from .compare_config import (COST_LADDER_FRACTIONS, COUPLED, CompareConfig, achievable_ratio, budget_independent,
                             budget_modes, compared_model, cost_budget, cost_platforms, is_cost, layer_plan, pooled,
                             prune_config, split_validation)
from .correctness import correct_on_validation
from .cost_curves import cost_curves, share_searches
from .report_data import layer_ratios
from .search import PairedRule, matched_ratio
from .stats import Accuracy


@dataclass(frozen=True)
class SearchOutcome:
    """One (budget, structure) search: the matched ratio (None: none within the tolerance), its validation
    accuracy and artifact, every probe ``(ratio, accuracy, within, loss_upper)`` and its directory.

    ``shared_with``: the budget (or platform) whose runs stand for this one; ``cost_note``: why a cost budget kept
    the global model; ``curves``: a cost search's platform curves (``CostCurves.to_dict()``)."""

    budget: str
    ratio: float | None
    val_accuracy: float | None
    points: tuple[tuple, ...]
    dir: str | None
    probe_dirs: Mapping[str, str]
    shared_with: str | None = None
    cost_note: str | None = None
    curves: dict | None = None

    @property
    def path(self) -> Path | None:
        return None if self.dir is None else Path(self.dir)

    def to_dict(self) -> dict:
        """The mapping summary.json has always held (the optional fields only where set)."""
        out = {"budget": self.budget, "ratio": self.ratio, "val_accuracy": self.val_accuracy,
               "points": list(self.points), "dir": self.dir, "probe_dirs": dict(self.probe_dirs)}
        for name in ("shared_with", "cost_note", "curves"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


Searches = Mapping[str, Mapping[str, SearchOutcome]]   # budget (or cost platform) -> structure -> outcome


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
    curves: Mapping = field(default_factory=lambda: MappingProxyType({}))   # (structure, cost budget) -> CostCurves
    accs: tuple = ()                             # the priced platforms, in the order of cfg.presets


def probe_dir(ctx: _Search, structure: str, ratio: float, budget: str) -> Path:
    """One ADMM run per (structure, ratio, budget); N:M is a fixed pattern, shared by both budgets (a structure
    that fits one layer only is searched once, under the deciding budget: ``search_all``)."""
    if structure == "nm":
        return ctx.out / "runs" / "nm_nm"
    if is_cost(budget):   # cost@platform: the platform's name made safe for a directory, the metric if not energy
        platform = re.sub(r"[^A-Za-z0-9_.-]", "_", budget[len("cost@"):])[:48]
        metric = "" if ctx.cfg.cost_metric == "energy" else f"-{ctx.cfg.cost_metric}"
        return ctx.out / "runs" / f"{structure}_c-{platform}{metric}_{ratio:.4f}"
    return ctx.out / "runs" / f"{structure}_{'g' if pooled(structure, budget) else ''}{ratio:.4f}"


def prune_probe(ctx: _Search, structure: str, ratio: float, budget: str) -> Path:
    """The probe's artifact directory, pruned now unless cached."""
    cfg = ctx.cfg
    run_dir = probe_dir(ctx, structure, ratio, budget)
    if not (run_dir / "manifest.json").exists():
        shared = pooled(structure, budget)
        layers = layer_plan(ctx.model0, structure, ratio, cfg, "global" if shared else "uniform")
        torch.manual_seed(cfg.seed)
        m = load_artifact_as(ctx.dense_dir, cfg.model, cfg.input_shape).model
        coupled = (structure, ratio) if structure in COUPLED else None
        cost = ctx.curves[(structure, budget)] if is_cost(budget) else None
        run_prune(m, ctx.data, prune_config(cfg, layers, budget_ratio=ratio if shared else None, coupled=coupled,
                                            cost=cost),
                  run_dir,
                  model_name=cfg.model, resume=True, progress=ctx.progress, log=lambda s: None, storage=price_storage)
    return run_dir


def search_structure(ctx: _Search, structure: str, budget: str,
                     ladder: tuple[float, ...] | None = None) -> SearchOutcome:
    """The highest ratio of ``structure`` non-inferior to dense at the tolerance on validation (the paired
    per-image test, ``PairedRule``), with every probe (``ladder``: the config's unless given)."""
    cfg, probes, infeasible = ctx.cfg, {}, set()
    snap = (lambda r: achievable_ratio(ctx.model0, structure, r)) if structure in COUPLED else (lambda r: r)
    rule = PairedRule(correct_on_validation(cfg, ctx.dense_dir, ctx.data), cfg.tolerance_pp / 100)

    def evaluate_ratio(r: float) -> np.ndarray:
        r = snap(r)   # a coupled structure prunes whole groups: the ratio it really reaches
        try:
            probes[r] = prune_probe(ctx, structure, r, budget)
        except BudgetError as e:   # a whole-network ratio no pruning can reach (every layer at its minimum)
            ctx.log(f"[{structure}, {budget}] ratio {r:.3f}: infeasible ({e}); counted as outside the tolerance")
            infeasible.add(r)
            return np.zeros(ctx.n_val, dtype=bool)
        correct = correct_on_validation(cfg, probes[r], ctx.data)
        pair = rule.paired(correct)
        ctx.log(f"[{structure}, {budget}] ratio {r:.3f}: validation accuracy "
                f"{Accuracy(int(correct.sum()), ctx.n_val).text()}, loss {pair.loss * 100:+.2f} pp, upper 95% "
                f"bound {pair.upper_bound() * 100:.2f} pp ({pair.lost} image(s) lost, {pair.gained} gained)")
        return correct

    if structure == "nm":  # fixed pattern: one probe
        r = 1 - cfg.nm[0] / cfg.nm[1]
        acc, ok, upper = rule.judge(evaluate_ratio(r))
        chosen = (r, acc) if ok else (None, None)
        points = [(r, acc, ok, upper)]
    else:
        res = matched_ratio(evaluate_ratio, rule, ladder or cfg.ladder, cfg.bisections)
        # an unreachable ratio is outside the tolerance even where a baseline within the tolerance of 0 accuracy
        # (a chance-level dense model) would count its 0.0 as matched: the highest reachable match instead
        points = list({snap(p.ratio): (snap(p.ratio), p.accuracy, p.within and snap(p.ratio) not in infeasible,
                                       p.loss_upper) for p in res.points}.values())
        chosen = (None if res.ratio is None else snap(res.ratio), res.accuracy)
        if chosen[0] in infeasible:
            chosen = max(((r, a) for r, a, ok, _ in points if ok), default=(None, None))
    if chosen[0] is None:
        ctx.log(f"[{structure}, {budget}] no ratio non-inferior at {cfg.tolerance_pp} pp; it is left out of the "
                "comparison")
    return SearchOutcome(budget, chosen[0], chosen[1], tuple(points),
                         str(probes[chosen[0]]) if chosen[0] is not None else None,
                         {f"{r:.6f}": str(p) for r, p in probes.items()})


def search_all(ctx: _Search) -> dict[str, dict[str, SearchOutcome]]:
    """Every (budget, structure) search.  A structure whose runs do not depend on the budget (N:M, a fixed
    pattern; a structure that fits one layer only: ``budget_independent``) is searched once, under the deciding
    budget, and its result serves both.

    With ``cfg.jobs > 1`` the searches run in that many processes, one torch thread each (results then
    differ from ``jobs=1`` by floating-point order only)."""
    cfg, modes = ctx.cfg, tuple(m for m in budget_modes(ctx.cfg) if m != "cost")
    shared = [s for s in cfg.structures if len(modes) > 1 and budget_independent(ctx.model0, s, cfg)]
    tasks = [(m, s) for m in modes for s in cfg.structures if not (s in shared and m != modes[0])]
    ctx.log(f"[step 2/4] matched-accuracy search: {len(tasks)} search(es) ({', '.join(cfg.structures)}; budget "
            f"{' and '.join(modes)}), each a few ADMM probes" + (f", {cfg.jobs} at once" if cfg.jobs > 1 else "")
            + (f"; {', '.join(shared)}: the same runs under both budgets, searched once" if shared else ""))
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
        searched[m].update({s: replace(searched[modes[0]][s], budget=m, shared_with=modes[0]) for s in shared})
        searched[m] = {s: searched[m][s] for s in cfg.structures}
    if "cost" in budget_modes(cfg):
        searched["cost"] = cost_searches(ctx, searched[modes[0]])
    return searched


# ------------------------------------------------------------- cost budgets
def cost_searches(ctx: _Search, reference: Mapping[str, SearchOutcome]) -> dict[str, dict[str, SearchOutcome]]:
    """Per cost platform and structure, the matched search under a budget counted in that platform's cost
    (``pruning.cost_budget``; curves from ``analysis.cost_curves``).  Platforms whose curves give the same
    allocations share one search; N:M and coupled structures, and a structure pruning saves nothing with on a
    platform, keep ``reference``'s result (the same runs: their ratio is not shared out by any budget).  With
    ``cfg.jobs > 1`` the searches run in that many processes, like the others."""
    cfg = ctx.cfg
    accs = [a for src, a in zip(cfg.presets, ctx.accs) if src in cost_platforms(cfg)]
    art = load_artifact_as(ctx.dense_dir, cfg.model, cfg.input_shape)
    calibration = ctx.data.test_x[: cfg.calibrate_images] if cfg.calibrate_images else None
    out: dict[str, dict[str, SearchOutcome]] = {a.name: {} for a in accs}
    ctx.log(f"[cost] cost-aware budgets ({cfg.cost_metric}) on {len(accs)} platform(s): per-layer cost curves, then "
            "a search per platform (platforms whose curves give the same allocations share one)")
    tasks, follow = [], []   # (structure, budget, ladder, curves); (platform, structure, leader)
    for s in cfg.structures:
        plan = layer_plan(art.model, s, 0.5, cfg, "global")
        layers = [n for n, spec in plan.items() if spec["type"] == s]
        if s == "nm" or s in COUPLED or not layers:
            for a in accs:
                out[a.name][s] = replace(reference[s], budget=cost_budget(a.name), shared_with="global",
                                         cost_note="a fixed pattern or coupled groups: no budget to share out")
            continue
        per = cost_curves(cfg, art.model, s, layers, accs, art.manifest["model"]["input_shape"], calibration,
                          cfg.cost_metric)
        for platform, pc in share_searches(per, art.model, s, layers, cfg).items():
            if pc.curves is None:
                ctx.log(f"[cost] {s} on {platform}: no density of it is cheaper than dense there; its global model "
                        "stands for it")
                out[platform][s] = replace(reference[s], budget=cost_budget(platform), shared_with="global",
                                           cost_note="pruning saves nothing on this platform")
            elif pc.search_for != platform:
                follow.append((platform, s, pc.search_for))
            else:
                tasks.append((s, cost_budget(platform), cost_ladder(pc.curves, reference[s]), pc.curves))
    ctx.log(f"[cost] {len(tasks)} cost search(es)" + (f", {len(follow)} platform(s) sharing one" if follow else ""))
    found = _run_cost_tasks(ctx, tasks)
    for (s, budget, _, curves), res in zip(tasks, found):
        out[budget[len("cost@"):]][s] = replace(res, curves=curves.to_dict())
    for platform, s, leader in follow:
        out[platform][s] = replace(out[leader][s], shared_with=cost_budget(leader))
    return out


def _run_cost_tasks(ctx: _Search, tasks: list) -> list[SearchOutcome]:
    """Each (structure, budget, ladder, curves) search, here or in ``cfg.jobs`` processes."""
    ctx = replace(ctx, curves=MappingProxyType({**ctx.curves, **{(s, b): c for s, b, _, c in tasks}}))
    if ctx.cfg.jobs == 1 or len(tasks) < 2:
        out = []
        for i, (s, budget, ladder, _) in enumerate(tasks, 1):
            ctx.log(f"[cost search {i}/{len(tasks)}] {s} on {budget[len('cost@'):]}, from {ladder[0]:.3f} of the "
                    f"reducible {ctx.cfg.cost_metric} (the global model's share)")
            out.append(search_structure(ctx, s, budget, ladder))
        return out
    with multiprocessing.get_context("spawn").Pool(ctx.cfg.jobs) as pool:
        return pool.starmap(_search_in_process, [(ctx.cfg, str(ctx.out), b, s, ladder, {(s, b): c})
                                                 for s, b, ladder, c in tasks], chunksize=1)


def cost_ladder(curves, reference: SearchOutcome) -> tuple[float, ...]:
    """A cost search's ladder: the share of the platform's reducible cost the reference (global) model removes,
    where the cost-aware allocation keeps at least the value the global one kept at the same cost, then two steps
    toward the cheapest (``COST_LADDER_FRACTIONS`` of the way from there)."""
    start = 0.5
    if reference.dir:
        ratios = layer_ratios(reference.path)
        names = list(curves.layers)
        dense = sum(curves.layers[n][-1] for n in names)
        cheapest = sum(min(curves.layers[n]) for n in names)
        cost = sum(float(curves.at(n, np.array([1.0 - ratios.get(n, 0.0)]))[0]) for n in names)
        if dense > cheapest:
            start = min(max((dense - cost) / (dense - cheapest), 0.05), 0.9)
    return tuple(round(start + (1 - start) * f, 4) for f in COST_LADDER_FRACTIONS)


def _search_in_process(cfg: CompareConfig, out: str, budget: str, structure: str,
                       ladder: tuple[float, ...] | None = None, curves: dict | None = None) -> SearchOutcome:
    """``search_structure`` in a worker process: data and dense model reloaded, lines printed (``curves``: a cost
    search's platform curves)."""
    torch.set_num_threads(1)
    data = load_dataset(cfg.dataset, cfg.data_dir)
    search_data, _ = split_validation(data, cfg.validation_fraction, cfg.seed)
    dense_dir = Path(out) / "runs" / "dense"
    ctx = _Search(cfg, Path(out), compared_model(cfg, data), dense_dir, search_data,
                  read_manifest(dense_dir)["accuracy"]["pruned"], len(search_data.test_y), data.num_classes,
                  lambda line: print(line, flush=True), False, MappingProxyType(dict(curves or {})))
    return search_structure(ctx, structure, budget, ladder)


