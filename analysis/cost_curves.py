"""Per-layer cost curves of one structure on each platform, and which platforms can share a cost-aware search.

A cost-aware budget (``pruning.cost_budget``) needs, per pooled layer, the layer's cost on the platform as a
function of the fraction of its weights kept.  ``cost_curves`` measures it with the analytical engine: the
dense model's weights are pruned by the structure's own projection (largest groups kept) to each density of
``DENSITIES`` in every pooled layer at once, priced on every platform, and each layer's rows give its point
(a reused module's rows are summed).  The curves are therefore the platform's real cost of that structure's
zero pattern at that density -- index bits, compaction, zero skipping, load imbalance, DRAM traffic -- with one
approximation, written where they are used: a layer's curve is measured with every layer at the same density,
so a layer's cost that depends on its neighbour's pruning (filter pruning empties the next layer's input
channels) is counted at the neighbour's same density.  The final model is always priced on its real pattern.

``COST_METRICS``: ``energy`` (pJ), ``latency`` (cycles), ``edp`` (first-order energy-delay product: each
layer's ``E_l / E + L_l / L`` with the dense model's totals, so a 1% cut of either total counts alike).

Platforms whose curves lead the projection to the same per-layer allocation (within ``SHARE_TOLERANCE`` of
every layer's kept fraction at each ladder ratio) share one search (``share_searches``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from accel_models.hardware import Accelerator
from pruning.budget import min_groups, pooled, sorted_group_values
from pruning.constraint import Constraint
from pruning.cost_budget import CostCurveError, CostCurves, allocate_by_cost
from pruning.structures import Structure
from sparsesim.analytical import evaluate as simulate
from sparsesim.traced_workloads import traced_workloads
from sparsesim.workload import from_model

from .compare_config import COST_METRICS
from .simulation import with_act_seed

DENSITIES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0)
SHARE_TOLERANCE = 0.02


@dataclass(frozen=True)
class PlatformCurves:
    """One structure's cost curves on one platform (None: pruning it saves nothing there) and the platform whose
    search it shares (itself when it leads its group)."""

    platform: str
    curves: CostCurves | None
    search_for: str | None


def _structure(kind: str, ratio: float, cfg) -> Structure:
    return Structure(kind, ratio, block=tuple(cfg.block), n=cfg.nm[0], m=cfg.nm[1])


def _layer_costs(table, platform: str, layers: list[str]) -> dict[str, tuple[float, float]]:
    """(energy_pj, cycles) per pooled layer on ``platform``, a reused module's rows summed."""
    out = {n: [0.0, 0.0] for n in layers}
    for r in table.select(platform).rows():
        base = r["layer"].split("#")[0]
        if base in out:
            out[base][0] += r["energy_pj"]
            out[base][1] += r["cycles"]
    return {n: (e, c) for n, (e, c) in out.items()}


def cost_curves(cfg, model: torch.nn.Module, structure: str, layers: list[str], accs: list[Accelerator],
                input_shape, calibration=None, metric: str = "energy") -> dict[str, CostCurves | None]:
    """Per platform, the curves of ``structure`` over the pooled ``layers`` of ``model`` (dense weights; restored
    after), or None where no density is cheaper than dense in any layer."""
    if metric not in COST_METRICS:
        raise ValueError(f"cost_metric={metric!r}; allowed: {', '.join(COST_METRICS)}")
    modules = dict(model.named_modules())
    dense = {n: modules[n].weight.detach().clone() for n in layers}
    example = torch.zeros(1, *input_shape)
    points = []   # per density: {platform: {layer: (energy, cycles)}}
    try:
        for d in DENSITIES:
            with torch.no_grad():
                for n in layers:
                    w = dense[n] if d >= 1.0 else Constraint(_structure(structure, 1.0 - d, cfg)).project(dense[n])[0]
                    modules[n].weight.copy_(w)
            ws = (traced_workloads(model, example, cfg.batch, cfg.bits, calibration)[0] if cfg.traced else
                  from_model(model, example, batch=cfg.batch, weight_bits=cfg.bits, calibration=calibration))
            table = simulate(with_act_seed(ws, cfg.act_seed), accs)
            points.append({a.name: _layer_costs(table, a.name, layers) for a in accs})
    finally:
        with torch.no_grad():
            for n in layers:
                modules[n].weight.copy_(dense[n])
    out = {}
    for a in accs:
        e = np.array([[p[a.name][n][0] for p in points] for n in layers])
        c = np.array([[p[a.name][n][1] for p in points] for n in layers])
        cost = {"energy": e, "latency": c, "edp": e / max(e[:, -1].sum(), 1e-300) + c / max(c[:, -1].sum(), 1e-300)}[
            metric]
        saves = bool(np.any(cost.min(axis=1) < cost[:, -1] * (1 - 1e-9)))
        unit = {"energy": "energy_pj", "latency": "cycles", "edp": "E/E0 + L/L0"}[metric]
        out[a.name] = CostCurves(DENSITIES, {n: tuple(cost[i]) for i, n in enumerate(layers)},
                                 f"{a.name} {unit}, {structure}") if saves else None
    return out


def allocation_signature(curves: CostCurves, values: dict[str, np.ndarray], min_keep: float,
                         ratios) -> np.ndarray | None:
    """Kept fraction of every layer at each ratio (the projection on the dense weights); None: no saving."""
    lo = {n: min_groups(len(v), min_keep) for n, v in values.items()}
    try:
        allocs = [allocate_by_cost(r, values, curves, lo) for r in ratios]
    except CostCurveError:
        return None
    return np.array([[a.kept_groups[n] / len(values[n]) for n in values] for a in allocs])


def share_searches(per_platform: dict[str, CostCurves | None], model: torch.nn.Module, structure: str,
                   layers: list[str], cfg) -> dict[str, PlatformCurves]:
    """Each platform's curves and the platform whose search it uses: the first earlier platform whose
    allocations (at every ladder ratio) match its own within ``SHARE_TOLERANCE`` per layer, else itself."""
    modules = dict(model.named_modules())
    cons = {n: Constraint(_structure(structure, 0.0, cfg)) for n in layers}
    values = {n: sorted_group_values(cons[n], modules[n].weight.detach()) for n in pooled(cons)}
    leaders: list[tuple[str, np.ndarray]] = []
    out = {}
    for platform, curves in per_platform.items():
        sig = None if curves is None else allocation_signature(curves, values, cfg.budget_min_keep, cfg.ladder)
        if sig is None:
            out[platform] = PlatformCurves(platform, None, None)
            continue
        lead = next((p for p, s in leaders if np.max(np.abs(s - sig)) <= SHARE_TOLERANCE), None)
        if lead is None:
            leaders.append((platform, sig))
        out[platform] = PlatformCurves(platform, curves, lead or platform)
    return out
