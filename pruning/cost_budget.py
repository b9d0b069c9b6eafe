"""A whole-network budget counted in a platform's cost, not in weights (``budget: {ratio, cost: ...}``).

A weight budget treats every weight alike; on hardware a weight of a convolution is read once and used
in hundreds of MACs, a weight of a fully connected layer in one.  A *cost-aware* budget prices each
layer's kept weights with that layer's **cost curve** on one platform: ``C_l(d)``, the layer's cost
(energy, cycles, or both, as the caller measured it) when a fraction ``d`` of its weights is kept under the
layer's structure, sampled at a few densities and interpolated linearly between them.  The curves are
plain numbers (``CostCurves``), measured by the caller with a simulator (``analysis.cost_curves``), so a
pruning job that carries them is data, reproducible and resumable; this package imports no simulator.

**The set.**  With ``C = sum_l C_l(1)`` (every layer dense) and ``C_min = sum_l min_j C_l(j)`` (each layer at
its cheapest kept count, at least its minimum groups), a budget ``ratio`` r removes that share of the
*reducible* cost::

    S = { (Z_1..Z_L) : sum_l C_l(nnz(Z_l) / numel_l) <= C - r (C - C_min),  each layer keeps >= its minimum }

so r = 0 is the dense model and r -> 1 the cheapest one the structure allows on this platform.

**The projection** (ADMM's Z-update) keeps, per layer, its ``j_l`` most valuable groups (value = ``rho_l``
times the group's gain, as in ``pruning.budget``) and chooses the counts by Lagrangian relaxation: for a
price ``lam`` each layer independently takes ``argmax_j F_l(j) - lam C_l(j)`` (``F_l`` its concave prefix
sum of values); the total cost falls as ``lam`` rises, and bisection finds the smallest price whose
allocation fits.  At the price found, the allocation is **optimal for the cost it uses** (no allocation of at
most that cost keeps more value: tested against enumeration).  Where a curve is not convex the price jumps
over stretches of it (from 73% to 98% of a layer pruned in one step), so the room left is then filled toward
the allocation just over the budget (``_fill``): the budget is used, the allocation moves continuously with
the ratio, and it keeps at least the value of the price's allocation (``exact`` False where room is left).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

BISECTIONS = 100


class CostCurveError(ValueError):
    pass


@dataclass(frozen=True)
class CostCurves:
    """Per layer, its cost at each of ``densities`` (the fraction of its weights kept).

    ``densities``: increasing, in [0, 1], the last 1.0; ``layers[name]``: one finite cost >= 0 per density;
    ``label``: what the cost is (e.g. ``eie_like energy_pj``), for the record."""

    densities: tuple[float, ...]
    layers: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        d = tuple(float(x) for x in self.densities)
        if len(d) < 2 or any(not math.isfinite(x) or not 0 <= x <= 1 for x in d) or list(d) != sorted(set(d)) \
                or d[-1] != 1.0:
            raise CostCurveError(f"cost densities={list(self.densities)}; allowed: two or more increasing "
                                 "fractions in [0, 1] ending at 1.0")
        object.__setattr__(self, "densities", d)
        layers = {}
        for name, costs in dict(self.layers).items():
            c = tuple(float(x) for x in costs)
            if len(c) != len(d) or any(not math.isfinite(x) or x < 0 for x in c):
                raise CostCurveError(f"cost curve of layer {name!r} has {len(c)} value(s) {list(costs)[:4]}...; "
                                     f"allowed: {len(d)} finite costs >= 0, one per density")
            layers[str(name)] = c
        if not layers:
            raise CostCurveError("cost curves: no layer; allowed: at least one layer's curve")
        object.__setattr__(self, "layers", layers)

    def at(self, name: str, density: np.ndarray) -> np.ndarray:
        """The layer's cost at each density (linear interpolation between the samples)."""
        return np.interp(density, self.densities, self.layers[name])

    def to_dict(self) -> dict:
        return {"densities": list(self.densities), "layers": {n: list(c) for n, c in self.layers.items()},
                "label": self.label}

    @classmethod
    def from_dict(cls, data: dict) -> "CostCurves":
        if not isinstance(data, dict) or set(data) - {"densities", "layers", "label"} or "densities" not in data \
                or not isinstance(data.get("layers"), dict):
            raise CostCurveError(f"budget cost: expected {{densities: [...], layers: {{name: [...]}}, label: ...}}, "
                                 f"got keys {sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__}")
        if not isinstance(data["densities"], (list, tuple)) or not all(
                isinstance(v, (list, tuple)) for v in data["layers"].values()):
            raise CostCurveError("budget cost: densities and every layer's costs must be lists of numbers")
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in data["densities"]) or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) for v in data["layers"].values() for x in v):
            raise CostCurveError("budget cost: densities and costs must be numbers")
        return cls(tuple(data["densities"]), {n: tuple(v) for n, v in data["layers"].items()},
                   str(data.get("label", "")))


@dataclass(frozen=True)
class CostAllocation:
    """Groups kept per layer and what they cost (the caller's unit)."""

    kept_groups: dict[str, int]
    cost: float                 # sum_l C_l(kept fraction)
    budget_cost: float          # the budget: C - ratio * (C - C_min)
    dense_cost: float           # C
    min_cost: float             # C_min
    objective: float            # value kept
    exact: bool                 # the budget is met with equality up to one group's cost (no hull gap)


@dataclass(frozen=True)
class _Layer:
    prefix: np.ndarray          # F(j), j = 0..G
    cost: np.ndarray            # C(j), j = 0..G
    lo: int                     # minimum groups kept

    def best(self, lam: float) -> int:
        """argmax_{j >= lo} F(j) - lam C(j); among ties the cheapest (so the total cost never rises with lam)."""
        score = self.prefix[self.lo:] - lam * self.cost[self.lo:]
        top = score.max()
        tied = np.flatnonzero(score >= top - 1e-12 * max(1.0, abs(top)))
        return self.lo + int(tied[np.argmin(self.cost[self.lo:][tied])])


def _fill(layers: dict[str, _Layer], fits: dict[str, int], over: dict[str, int], room: float) -> dict[str, int]:
    """From the allocation that fits (price ``hi``) toward the one just over the budget (price ``lo``): each
    layer that differs takes the most groups between the two that the room left allows, layers with the most
    value per unit of cost first.  Where a curve is not convex the price alone jumps over whole stretches of a
    layer's curve (from 73% to 98% pruned in one step); this fills the budget along them instead."""
    kept = dict(fits)
    moves = []
    for n, j0 in fits.items():
        L, j1 = layers[n], over[n]
        if j1 > j0:
            dc = float(L.cost[j1] - L.cost[j0])
            moves.append((-(float(L.prefix[j1] - L.prefix[j0])) / max(dc, 1e-300), n, j0, j1))
    for _, n, j0, j1 in sorted(moves):
        L = layers[n]
        extra = L.cost[j0:j1 + 1] - L.cost[j0]
        ok = np.flatnonzero(extra <= room + 1e-12 * max(1.0, abs(room)))
        j = j0 + int(ok[-1])
        room -= float(extra[j - j0])
        kept[n] = j
    return kept


def allocate_by_cost(ratio: float, values: dict[str, np.ndarray], curves: CostCurves,
                     lo: dict[str, int], weights: dict[str, float] | None = None) -> CostAllocation:
    """Groups kept per layer maximising kept value within the cost budget (module doc).

    ``values[l]``: the layer's group values sorted descending (>= 0); ``lo[l]``: the groups it always keeps;
    ``weights[l]``: a factor on its values (ADMM's rho_l)."""
    missing = [n for n in values if n not in curves.layers]
    if missing:
        raise CostCurveError(f"budget cost: no cost curve for layer {missing[0]!r}; allowed: curves for every pooled "
                          f"layer ({', '.join(values)})")
    weights = weights or {}
    layers = {}
    for n, v in values.items():
        g = len(v)
        prefix = np.concatenate([[0.0], np.cumsum(np.asarray(v, dtype=np.float64) * float(weights.get(n, 1.0)))])
        layers[n] = _Layer(prefix, curves.at(n, np.arange(g + 1) / g), lo[n])
    dense = sum(float(L.cost[-1]) for L in layers.values())
    cheapest = sum(float(L.cost[L.lo:].min()) for L in layers.values())
    if dense - cheapest <= 1e-12 * max(dense, 1.0):
        what = curves.label or "the curves given"
        raise CostCurveError(f"budget cost: pruning these layers saves no cost on this platform ({what}: every "
                             "density costs at least the dense model's); allowed: a platform or structure where it does")
    budget = dense - ratio * (dense - cheapest)

    def pick(lam: float) -> dict[str, int]:
        return {n: L.best(lam) for n, L in layers.items()}

    def total(kept: dict[str, int]) -> float:
        return sum(float(layers[n].cost[j]) for n, j in kept.items())

    kept = pick(0.0)
    if total(kept) > budget * (1 + 1e-12):
        scale = max(sum(float(L.prefix[-1]) for L in layers.values()), 1e-300) / max(dense - cheapest, 1e-300)
        lo_lam, hi_lam = 0.0, scale
        while total(pick(hi_lam)) > budget * (1 + 1e-12):
            lo_lam, hi_lam = hi_lam, hi_lam * 4
            if hi_lam > scale * 1e30:   # every layer at its cheapest count fits by construction
                break
        for _ in range(BISECTIONS):
            mid = 0.5 * (lo_lam + hi_lam)
            if total(pick(mid)) > budget * (1 + 1e-12):
                lo_lam = mid
            else:
                hi_lam = mid
        kept = _fill(layers, pick(hi_lam), pick(lo_lam), budget - total(pick(hi_lam)))
    used = total(kept)
    step = max(float(np.max(np.abs(np.diff(L.cost)))) if len(L.cost) > 1 else 0.0 for L in layers.values())
    return CostAllocation(kept, used, budget, dense, cheapest,
                          sum(float(layers[n].prefix[j]) for n, j in kept.items()), budget - used <= step + 1e-9)
