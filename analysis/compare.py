"""The main comparison (``sparsesim compare``): sparsity structures at matched accuracy, priced everywhere.

0. Pre-flight (``preflight``), before any data is read: every preset and hardware YAML loads and every priced
   weight bit-width (``bits``, ``breakeven_bits``) fits every platform; a bad combination is one error line.
1. Train the model dense once (cached in OUT/dense); hold out a validation
   split of the training data for every accuracy decision.
2. For each structure (non-structured, filter, channel, column, block, N:M) at
   the same weight bit-width, search the highest pruning ratio whose validation
   is non-inferior to dense at the tolerance on validation (``analysis.search``
   with a paired per-image test, ``PairedRule``); every probe is an ADMM prune +
   masked retrain from the dense weights, cached as an artifact (with its
   per-image correctness, ``analysis.correctness``).  *Matched* is decided on
   validation only; the test accuracy, its paired loss and interval are
   reported, never a gate, and a test loss over the tolerance is flagged.
   Every accuracy carries its n and a 95% Wilson interval, and the summary says
   whether n resolves the tolerance (``analysis.stats``).
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

import json
import multiprocessing
import time
from collections.abc import Callable
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accel_models.hardware import Accelerator
from fileguard import OutputLock, atomic_write_json
from pruning.artifact import read_manifest
from pruning.budget import BudgetError
from pruning.data import DATASETS, Dataset, load_dataset
from pruning.models import prunable_layers
from pruning.pipeline import run_prune
from pruning.user_model import load_artifact_as
from sparsesim.storage import price_storage

from .compare_config import (
    COUPLED,
    CompareConfig,
    achievable_ratio,
    CompareError,
    budget_independent,
    budget_modes,
    COST_LADDER_FRACTIONS,
    check_coupled,
    cost_budget,
    cost_platforms,
    is_cost,
    compared_model,
    probe_epochs,
    layer_plan,
    pooled,
    preflight,
    prune_config,
    resume_conflicts,
    training_budget,
    split_validation,
)
from .report_data import (ChosenModel, build_tables, chosen_model, layer_ratios, priced_verdicts, workloads_line,
                          write_results_csv)
from .correctness import correct_on_test, correct_on_validation
from .cost_curves import cost_curves, share_searches
from .search import PairedRule, loss_pp, matched_ratio
from .stats import Accuracy, PairedLoss, resolution
from .verdict import across_budgets, every_rule, make_verdicts


def chosen_models(cfg: CompareConfig, dense_dir: Path, results: dict, full: Dataset,
                  n_val: int) -> list[ChosenModel]:
    """The dense model, then each structure at its matched ratio, with validation and test accuracies (the test
    loss with its paired interval)."""

    dense_correct = correct_on_test(cfg, dense_dir, full)
    dense_test = Accuracy(int(dense_correct.sum()), len(dense_correct))
    dense_val = Accuracy.from_fraction(read_manifest(dense_dir)["accuracy"]["pruned"], n_val)
    models = [chosen_model("dense", 0.0, dense_dir, dense_val, dense_test, dense_test, cfg.tolerance_pp, dense_val)]
    for s, r in results.items():
        if r["dir"]:
            correct = correct_on_test(cfg, r["dir"], full)
            models.append(chosen_model(s, r["ratio"], Path(r["dir"]), Accuracy.from_fraction(r["val_accuracy"], n_val),
                                       Accuracy(int(correct.sum()), len(correct)), dense_test, cfg.tolerance_pp,
                                       dense_val, PairedLoss.from_correct(dense_correct, correct)))
    return models


def structure_summary(result: dict, chosen: ChosenModel | None, n_val: int, baseline_val: float) -> dict:
    """summary.json entry of one structure: probes and chosen model with n and 95% intervals, losses in pp
    (positive = worse than dense), status, compression and the per-layer ratios it reached."""

    points = [{"ratio": r, "val": Accuracy.from_fraction(a, n_val).to_dict(), "val_loss_pp": loss_pp(baseline_val, a),
               "val_loss_upper95_pp": None if up is None else up * 100, "within": ok}
              for r, a, ok, up in result["points"]]
    out = {**result, "points": points, "status": "not matched", "val": None, "test": None, "val_loss_pp": None,
           "test_loss_pp": None, "test_loss_ci95_pp": None, "test_over_tolerance": None, "compression": None,
           "layer_ratios": None}
    if chosen is not None:
        out.update(status=chosen.status, val=chosen.val.to_dict(), test=chosen.test.to_dict(),
                   val_loss_pp=chosen.val_loss_pp, test_loss_pp=chosen.test_loss_pp,
                   test_loss_ci95_pp=chosen.test_loss_ci95_pp, test_over_tolerance=chosen.test_over_tolerance,
                   compression=read_manifest(chosen.path)["totals"]["compression"],
                   layer_ratios=layer_ratios(chosen.path))
    return out


def beside_summary(cfg: CompareConfig, searched: dict, budget: str, dense_dir: Path, full: Dataset, n_val: int,
                   accs, calibration) -> dict:
    """The other budget's search, priced and judged the same way, reported beside the deciding one."""

    models = chosen_models(cfg, dense_dir, searched[budget], full, n_val)
    by_structure = {m.structure: m for m in models}
    rows, verdicts = priced_verdicts(cfg, models, accs, calibration)
    return {"budget": budget, "verdicts": verdicts, "rows": rows,
            "structures": {s: structure_summary(r, by_structure.get(s), n_val, models[0].val.fraction)
                           for s, r in searched[budget].items()}}


def cost_rule_summary(cfg: CompareConfig, searched: dict[str, dict[str, dict]], models: list[ChosenModel],
                      full: Dataset, n_val: int, accs, calibration, other_rows: dict[str, list[dict]]) -> dict:
    """The cost rule: each platform priced with its own cost-aware models (platforms with the same models priced
    together), each kept only where no other rule's matched allocation of the structure is cheaper there
    (``cheapest_allocations``); verdicts judged as everywhere else."""
    dense = models[0]
    dense_correct = correct_on_test(cfg, dense.path, full)
    chosen: dict[str, ChosenModel] = {}

    def model_of(structure: str, result: dict) -> ChosenModel | None:
        if not result.get("dir"):
            return None
        if result["dir"] not in chosen:   # its ratio: the share of weights pruned (a cost search's is of cost)
            path = Path(result["dir"])
            ratio = result["ratio"] if structure == "nm" or structure in COUPLED else \
                round(1.0 - 1.0 / read_manifest(path)["totals"]["compression"], 6)
            correct = correct_on_test(cfg, path, full)
            chosen[result["dir"]] = chosen_model(
                structure, ratio, path, Accuracy.from_fraction(result["val_accuracy"], n_val),
                Accuracy(int(correct.sum()), len(correct)), dense.test, cfg.tolerance_pp, dense.val,
                PairedLoss.from_correct(dense_correct, correct))
        return chosen[result["dir"]]

    groups: dict[tuple, list] = {}
    for a in accs:
        if a.name in searched:
            ms = [m for m in (model_of(s, r) for s, r in searched[a.name].items()) if m is not None]
            groups.setdefault(tuple(str(m.path) for m in ms), [[], ms])[0].append(a)
    rows = []
    for platforms, ms in groups.values():
        rows += priced_verdicts(cfg, [dense, *ms], platforms, calibration)[0]
    for r in rows:
        r["budget"], r["found_by"] = "cost", "cost"
    rows = cheapest_allocations(rows, other_rows, cfg.cost_metric)
    platforms = {p: {s: {"ratio": r.get("ratio"), "dir": r.get("dir"), "shared_with": r.get("shared_with"),
                         "note": r.get("cost_note", ""), "points": [list(x) for x in r.get("points", [])]}
                     for s, r in by_s.items()} for p, by_s in searched.items()}
    return {"budget": "cost", "metric": cfg.cost_metric, "rows": rows,
            "verdicts": make_verdicts(rows, cfg.tie_threshold), "platforms": platforms}


COST_KEY = {"energy": "energy_pj", "latency": "cycles", "edp": None}


def cheapest_allocations(cost_rows: list[dict], other_rows: dict[str, list[dict]], metric: str) -> list[dict]:
    """The cost rule's row of each (platform, structure): the cheapest matched allocation of that structure on
    that platform among the cost-aware search's and the other rules' (each an allocation of the same structure
    matched at the same tolerance, priced on its real pattern; the cost-aware projection ranks groups across
    layers by weight magnitude, which can miss an allocation another rule found).  ``found_by`` names the search
    that found it."""
    key = COST_KEY[metric]

    def cost(r: dict) -> float:
        return r["energy_pj"] * r["cycles"] if key is None else r[key]

    platforms = {r["platform"] for r in cost_rows}
    best = {(r["platform"], r["structure"]): r for r in cost_rows}
    for rule, rows in other_rows.items():
        for r in rows:
            k = (r["platform"], r["structure"])
            if r["platform"] not in platforms or r["structure"] == "dense" or r.get("kind") in ("cpu", "gpu") \
                    or r.get("accuracy_status") != "matched" or r.get("energy_pj") is None:
                continue
            if k not in best or cost(r) < cost(best[k]) * (1 - 1e-9):
                best[k] = {**r, "budget": "cost", "found_by": rule}
    return list(best.values())


def accuracy_summary(cfg: CompareConfig, models: list[ChosenModel], n_val: int, n_test: int) -> dict:
    """n, dense accuracies with intervals, and whether each set resolves the tolerance."""
    dense = models[0]
    return {"n_val": n_val, "n_test": n_test, "baseline_val_accuracy": dense.val.fraction,
            "baseline_val": dense.val.to_dict(), "baseline_test": dense.test.to_dict(),
            "resolution": {"validation": resolution(n_val, cfg.tolerance_pp).to_dict(),
                           "test": resolution(n_test, cfg.tolerance_pp).to_dict()}}


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
    curves: dict = field(default_factory=dict)   # (structure, cost budget) -> CostCurves of that platform
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


def search_structure(ctx: _Search, structure: str, budget: str, ladder: tuple[float, ...] | None = None) -> dict:
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
    return {"budget": budget, "ratio": chosen[0], "val_accuracy": chosen[1], "points": points,
            "dir": str(probes[chosen[0]]) if chosen[0] is not None else None,
            "probe_dirs": {f"{r:.6f}": str(p) for r, p in probes.items()}}


def search_all(ctx: _Search) -> dict[str, dict[str, dict]]:
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
        searched[m].update({s: {**searched[modes[0]][s], "budget": m, "shared_with": modes[0]} for s in shared})
        searched[m] = {s: searched[m][s] for s in cfg.structures}
    if "cost" in budget_modes(cfg):
        searched["cost"] = cost_searches(ctx, searched[modes[0]])
    return searched


# ------------------------------------------------------------- cost budgets
def cost_searches(ctx: _Search, reference: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """Per cost platform and structure, the matched search under a budget counted in that platform's cost
    (``pruning.cost_budget``; curves from ``analysis.cost_curves``).  Platforms whose curves give the same
    allocations share one search; N:M and coupled structures, and a structure pruning saves nothing with on a
    platform, keep ``reference``'s result (the same runs: their ratio is not shared out by any budget).  With
    ``cfg.jobs > 1`` the searches run in that many processes, like the others."""
    cfg = ctx.cfg
    accs = [a for src, a in zip(cfg.presets, ctx.accs) if src in cost_platforms(cfg)]
    art = load_artifact_as(ctx.dense_dir, cfg.model, cfg.input_shape)
    calibration = ctx.data.test_x[: cfg.calibrate_images] if cfg.calibrate_images else None
    out: dict[str, dict[str, dict]] = {a.name: {} for a in accs}
    ctx.log(f"[cost] cost-aware budgets ({cfg.cost_metric}) on {len(accs)} platform(s): per-layer cost curves, then "
            "a search per platform (platforms whose curves give the same allocations share one)")
    tasks, follow = [], []   # (structure, budget, ladder, curves); (platform, structure, leader)
    for s in cfg.structures:
        plan = layer_plan(art.model, s, 0.5, cfg, "global")
        layers = [n for n, spec in plan.items() if spec["type"] == s]
        if s == "nm" or s in COUPLED or not layers:
            for a in accs:
                out[a.name][s] = {**reference[s], "budget": cost_budget(a.name), "shared_with": "global",
                                  "cost_note": "a fixed pattern or coupled groups: no budget to share out"}
            continue
        per = cost_curves(cfg, art.model, s, layers, accs, art.manifest["model"]["input_shape"], calibration,
                          cfg.cost_metric)
        for platform, pc in share_searches(per, art.model, s, layers, cfg).items():
            if pc.curves is None:
                ctx.log(f"[cost] {s} on {platform}: no density of it is cheaper than dense there; its global model "
                        "stands for it")
                out[platform][s] = {**reference[s], "budget": cost_budget(platform), "shared_with": "global",
                                    "cost_note": "pruning saves nothing on this platform"}
            elif pc.search_for != platform:
                follow.append((platform, s, pc.search_for))
            else:
                tasks.append((s, cost_budget(platform), cost_ladder(pc.curves, reference[s]), pc.curves))
    ctx.log(f"[cost] {len(tasks)} cost search(es)" + (f", {len(follow)} platform(s) sharing one" if follow else ""))
    found = _run_cost_tasks(ctx, tasks)
    for (s, budget, _, curves), res in zip(tasks, found):
        out[budget[len("cost@"):]][s] = {**res, "curves": curves.to_dict()}
    for platform, s, leader in follow:
        out[platform][s] = {**out[leader][s], "shared_with": cost_budget(leader)}
    return out


def _run_cost_tasks(ctx: _Search, tasks: list) -> list[dict]:
    """Each (structure, budget, ladder, curves) search, here or in ``cfg.jobs`` processes."""
    for s, budget, ladder, curves in tasks:
        ctx.curves[(s, budget)] = curves
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


def cost_ladder(curves, reference: dict) -> tuple[float, ...]:
    """A cost search's ladder: the share of the platform's reducible cost the reference (global) model removes,
    where the cost-aware allocation keeps at least the value the global one kept at the same cost, then two steps
    toward the cheapest (``COST_LADDER_FRACTIONS`` of the way from there)."""
    import numpy as np

    start = 0.5
    if reference.get("dir"):
        ratios = layer_ratios(Path(reference["dir"]))
        names = list(curves.layers)
        dense = sum(curves.layers[n][-1] for n in names)
        cheapest = sum(min(curves.layers[n]) for n in names)
        cost = sum(float(curves.at(n, np.array([1.0 - ratios.get(n, 0.0)]))[0]) for n in names)
        if dense > cheapest:
            start = min(max((dense - cost) / (dense - cheapest), 0.05), 0.9)
    return tuple(round(start + (1 - start) * f, 4) for f in COST_LADDER_FRACTIONS)


def _search_in_process(cfg: CompareConfig, out: str, budget: str, structure: str,
                       ladder: tuple[float, ...] | None = None, curves: dict | None = None) -> dict:
    """``search_structure`` in a worker process: data and dense model reloaded, lines printed (``curves``: a cost
    search's platform curves)."""
    torch.set_num_threads(1)
    data = load_dataset(cfg.dataset, cfg.data_dir)
    search_data, _ = split_validation(data, cfg.validation_fraction, cfg.seed)
    dense_dir = Path(out) / "runs" / "dense"
    ctx = _Search(cfg, Path(out), compared_model(cfg, data), dense_dir, search_data,
                  read_manifest(dense_dir)["accuracy"]["pruned"], len(search_data.test_y), data.num_classes,
                  lambda line: print(line, flush=True), False, dict(curves or {}))
    return search_structure(ctx, structure, budget, ladder)


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


def _run_compare(cfg: CompareConfig, out: Path, accs: list[Accelerator], log: Callable[[str], None],
                 progress: bool) -> dict:
    t0 = time.perf_counter()
    (out / "configs").mkdir(parents=True, exist_ok=True)
    check_resume(out, cfg)
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
    check_coupled(model0, cfg.structures)
    log(f"[workloads] {workloads_line(cfg, model0, getattr(model0, 'input_shape', None) or data.input_shape)}")

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
    log(time_estimate(cfg, dense_m))
    log(f"[dense] validation accuracy {Accuracy.from_fraction(baseline, n_val).text()}")
    log(resolution(n_val, cfg.tolerance_pp).sentence("validation").replace("**", ""))

    # 2. matched-accuracy search per structure (per budget mode)
    ctx = _Search(cfg, out, model0, dense_dir, search_data, baseline, n_val, data.num_classes, log, progress,
                  accs=tuple(accs))
    searched = search_all(ctx)
    mode = budget_modes(cfg)[0]
    results = searched[mode]

    # 3. test accuracy of the chosen models (reported, never a gate), price, measure
    log(f"[step 3/4] test accuracies; pricing on {len(accs)} platform(s)" + (", CPU measurement" if cfg.measure_cpu
        else "") + "; break-even curves" + ("; hardware in the loop" if cfg.hil_preset else ""))
    models = chosen_models(cfg, dense_dir, results, full, n_val)
    by_structure = {m.structure: m for m in models}
    for m in models[1:]:
        if m.test_over_tolerance:
            log(f"[{m.structure}] flag: test loss {m.test_loss_pp:+.2f} pp vs dense, over the {cfg.tolerance_pp:g} pp "
                "tolerance (matched on validation; test is reported, not a gate)")
    calibration = search_data.test_x[: cfg.calibrate_images] if cfg.calibrate_images else None
    tables = build_tables(cfg, out, models, results, accs, full, log, calibration)
    structures = {s: structure_summary(r, by_structure.get(s), n_val, baseline) for s, r in results.items()}
    beside = [beside_summary(cfg, searched, b, dense_dir, full, n_val, accs, calibration)
              for b in budget_modes(cfg)[1:] if b != "cost"]
    summary = {"config": cfg.to_dict(), **accuracy_summary(cfg, models, n_val, n_test), "budget": mode,
               "structures": structures, "beside": beside, **tables, "wall_s": time.perf_counter() - t0}
    rule_rows = {mode: tables["rows"], **{b["budget"]: b["rows"] for b in beside}}
    for r in tables["rows"]:
        r["budget"] = mode
    if "cost" in searched:
        log(f"[cost] pricing each platform's cost-aware models")
        summary["cost_rule"] = cost_rule_summary(cfg, searched["cost"], models, full, n_val, accs, calibration,
                                                 dict(rule_rows))
        rule_rows["cost"] = summary["cost_rule"]["rows"]
        if cfg.budget == "cost":   # the cost rule decides on the simulated platforms; measured ones keep global's
            summary["rows"] = rule_rows["cost"] + [r for r in tables["rows"] if r.get("kind") in ("cpu", "gpu")]
            summary["verdicts"] = make_verdicts(summary["rows"], cfg.tie_threshold)
            summary["budget"] = "cost"
    write_results_csv(out / "results.csv", summary["rows"])
    summary["rules"] = every_rule(rule_rows, cfg.tie_threshold)
    if len(rule_rows) > 1:   # the cheapest matched model on each platform, whichever search found it
        deciding = summary["budget"]
        summary["across_budgets"] = across_budgets({deciding: rule_rows[deciding],
                                                    **{b: r for b, r in rule_rows.items() if b != deciding}},
                                                   cfg.tie_threshold)
    atomic_write_json(out / "summary.json", _jsonable(summary))
    from .report import write_report
    log("[step 4/4] report and plots")
    write_report(out, summary, log)
    summary["wall_s"] = time.perf_counter() - t0
    summary["runs_s"] = runs_seconds(out / "runs")
    atomic_write_json(out / "summary.json", _jsonable(summary))
    log(f"compare finished in {summary['wall_s']:.0f} s: {out / 'report.md'}, {out / 'report.html'}")
    return summary


def time_estimate(cfg: CompareConfig, dense_manifest: dict) -> str:
    """``[plan]`` line after the dense model: the rest of the run's training at the dense model's seconds per epoch
    (an upper bound in epochs; probes train a little slower, with the ADMM penalty and masks)."""
    seconds = float((dense_manifest.get("timings_s") or {}).get("pretrain") or 0.0)
    if cfg.pretrain_epochs == 0 or seconds <= 0:
        return "[plan] no dense training was timed: no time estimate"
    per_epoch = seconds / cfg.pretrain_epochs
    probes, epochs = training_budget(cfg)
    rest = (epochs - cfg.pretrain_epochs) * per_epoch
    return (f"[plan] the dense model trained at {per_epoch:.1f} s per epoch: the searches take at most about "
            f"{rest / 60:.1f} min ({probes} probe(s) x {probe_epochs(cfg)} epoch(s); fewer when a search stops early "
            "or a run is cached)")


def runs_seconds(runs: Path) -> float:
    """The pruning runs' own recorded time (every phase of every run in ``runs``, cached ones included): what the
    comparison cost in training, however many invocations it took (``wall_s`` is this invocation's)."""
    total = 0.0
    for manifest in sorted(runs.glob("*/manifest.json")):
        try:
            timings = json.loads(manifest.read_text()).get("timings_s") or {}
        except (OSError, ValueError):
            continue
        total += sum(float(v) for k, v in timings.items() if k != "total_this_process" and isinstance(v, (int, float)))
    return total


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
