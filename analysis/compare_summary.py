"""What a comparison found, as summary.json holds it: ``CompareSummary`` (``to_json()`` is the one place the
mapping is built; the report renders from it) and the entries it is made of."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pruning.artifact import read_manifest

from .compare_config import CompareConfig
from .compare_results import BreakEven, HILResult, ParetoPoint
from .compare_search import SearchOutcome
from .report_data import ChosenModel, PricedRow, layer_ratios
from .search import loss_pp
from .stats import Accuracy, resolution


@dataclass(frozen=True)
class CompareSummary:
    """What a comparison found; ``to_json()`` is summary.json, and what the report renders."""

    config: dict
    accuracy: dict                    # n_val, n_test, dense accuracies, resolution (``accuracy_summary``)
    budget: str
    structures: dict
    beside: list
    rows: tuple[PricedRow, ...]
    pareto: tuple[ParetoPoint, ...]
    breakeven: BreakEven
    hil: HILResult | None
    verdicts: list
    wall_s: float
    cost_rule: dict | None
    rules: dict
    across_budgets: list | None
    runs_s: float | None = None
    cpu_sweep: list | None = None     # measured speedups vs ratio on the largest layer (None: --no-cpu)
    cpu_breakeven: float | None = None

    def to_json(self) -> dict:
        out = {"config": self.config, **self.accuracy, "budget": self.budget, "structures": self.structures,
               "beside": self.beside, "rows": [r.as_row() for r in self.rows],
               "pareto": [x.to_json() for x in self.pareto], "breakeven": self._breakeven_json(),
               "hil": None if self.hil is None else self.hil.to_json(), "verdicts": self.verdicts,
               "wall_s": self.wall_s}
        if self.cost_rule is not None:
            out["cost_rule"] = self.cost_rule
        out["rules"] = self.rules
        if self.across_budgets is not None:
            out["across_budgets"] = self.across_budgets
        if self.runs_s is not None:
            out["runs_s"] = self.runs_s
        return out

    def _breakeven_json(self) -> dict:
        out = self.breakeven.to_json()
        if self.cpu_sweep is not None:
            out.update(cpu_sweep=self.cpu_sweep, cpu_breakeven=self.cpu_breakeven)
        return out


def accuracy_summary(cfg: CompareConfig, dense: ChosenModel, n_val: int, n_test: int) -> dict:
    """n, dense accuracies with intervals, and whether each set resolves the tolerance."""
    return {"n_val": n_val, "n_test": n_test, "baseline_val_accuracy": dense.val.fraction,
            "baseline_val": dense.val.to_dict(), "baseline_test": dense.test.to_dict(),
            "resolution": {"validation": resolution(n_val, cfg.tolerance_pp).to_dict(),
                           "test": resolution(n_test, cfg.tolerance_pp).to_dict()}}


def structure_summary(result: SearchOutcome, chosen: ChosenModel | None, n_val: int, baseline_val: float) -> dict:
    """summary.json entry of one structure: probes and chosen model with n and 95% intervals, losses in pp
    (positive = worse than dense), status, compression and the per-layer ratios it reached."""
    points = [{"ratio": r, "val": Accuracy.from_fraction(a, n_val).to_dict(), "val_loss_pp": loss_pp(baseline_val, a),
               "val_loss_upper95_pp": None if up is None else up * 100, "within": ok}
              for r, a, ok, up in result.points]
    out = {**result.to_dict(), "points": points, "status": "not matched", "val": None, "test": None,
           "val_loss_pp": None, "test_loss_pp": None, "test_loss_ci95_pp": None, "test_over_tolerance": None,
           "compression": None, "layer_ratios": None}
    if chosen is not None:
        out.update(status=chosen.status, val=chosen.val.to_dict(), test=chosen.test.to_dict(),
                   val_loss_pp=chosen.val_loss_pp, test_loss_pp=chosen.test_loss_pp,
                   test_loss_ci95_pp=chosen.test_loss_ci95_pp, test_over_tolerance=chosen.test_over_tolerance,
                   compression=read_manifest(chosen.path)["totals"]["compression"],
                   layer_ratios=layer_ratios(chosen.path))
    return out


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


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
