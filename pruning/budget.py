"""A whole-network pruning budget: one total number of weights, shared out across layers.

ECCV'18 (Zhang et al., footnote on the constraint sets) notes that the per-layer
cardinality constraints can be replaced by one on the whole network.  Here the
set is

    S = { (Z_1..Z_L) : each Z_l has the allowed shape of its layer's structure,
                       sum_l nnz(Z_l) <= K,  each layer keeps >= its minimum groups }

with ``K = round((1 - ratio) * sum_l numel(W_l))`` over the *pooled* layers
(every pruned layer except fixed N:M patterns; dense layers are not pooled).

**The projection is exact.**  ADMM's Z-update minimises
``sum_l rho_l ||V_l - Z_l||^2`` over S.  Given the support, each kept entry is
``V`` (or its level), so the problem is to choose which groups to keep: a group
is worth ``rho_l`` times the sum of its gains (``v^2``, or the quantization gain
of ``pruning.constraint``) and costs its size in weights.  Within a layer all
groups have the same size, so a layer keeps its ``j_l`` most valuable groups
and is worth the concave prefix sum ``F_l(j_l)``; across layers the choice is a
knapsack over ``(j_1..j_L)`` with item sizes ``s_l``:

* layers with the same group size merge into one class: among equal sizes the
  most valuable groups win whatever their layer, so a class is one concave
  prefix sum (all non-structured layers: a global top-K);
* the class with the most groups is placed last in closed form (it fills the
  room the others leave); the other classes by an exact dynamic programme over
  the capacity in units of ``gcd(s_l)`` (``O(capacity x their groups)``) when
  that is at most ``exact_cells``;
* beyond that, the density-greedy allocation (the longest prefix of groups in
  order of value per weight), optimal for the budget it uses but not
  necessarily for K; the result says ``exact=False``.

**Per-layer normalisation, and why.**  Groups of different layers compete on
value *per weight* (the knapsack above), and each layer's value carries its own
``rho_l`` because that is the norm ADMM's Z-update minimises.  Weights are not
rescaled by their layer's magnitude: the exact Euclidean projection prunes
layers with many small weights (fc1 of LeNet-5) hardest, which is the
allocation of the ADMM authors' per-layer targets (conv1 keeps 20%, fc1 0.9%).
To keep a layer from being cut off, every pooled layer keeps at least
``max(1, ceil(min_keep * n_groups))`` groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from .constraint import Constraint
from .cost_budget import CostCurveError, CostCurves, allocate_by_cost

POOLED = ("nonstructured", "filter", "channel", "column", "block")


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class GlobalBudget:
    ratio: float                    # fraction of the pooled layers' weights pruned, in total
    min_keep: float = 0.0           # fraction of each pooled layer's groups that always stays
    exact_cells: int = 200_000_000  # largest DP (capacity units x groups) solved exactly
    cost: CostCurves | None = None  # a platform's per-layer cost curves: the budget counts cost, not weights
                                    # (``pruning.cost_budget``; ratio = share of the reducible cost removed)

    def __post_init__(self):
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) or not 0 <= self.ratio < 1:
            raise BudgetError(f"budget ratio={self.ratio!r}; allowed: a number in [0, 1) (fraction pruned)")
        if isinstance(self.min_keep, bool) or not isinstance(self.min_keep, (int, float)) \
                or not 0 <= self.min_keep <= 1:
            raise BudgetError(f"budget min_keep={self.min_keep!r}; allowed: a number in [0, 1]")
        if isinstance(self.exact_cells, bool) or not isinstance(self.exact_cells, int) or self.exact_cells < 0:
            raise BudgetError(f"budget exact_cells={self.exact_cells!r}; allowed: an integer >= 0")
        if self.cost is not None and not isinstance(self.cost, CostCurves):
            raise BudgetError(f"budget cost={type(self.cost).__name__}; allowed: CostCurves or None")

    def at(self, ratio: float) -> "GlobalBudget":
        return replace(self, ratio=ratio)


@dataclass(frozen=True)
class Allocation:
    kept_groups: dict[str, int]     # per pooled layer
    groups: dict[str, int]          # per pooled layer, total
    kept_weights: int
    budget_weights: int
    objective: float                # sum_l rho_l * (sum of kept gains)
    exact: bool
    cost: float | None = None       # a cost-aware budget: the cost the kept groups have on its platform ...
    budget_cost: float | None = None   # ... and the budget (pruning.cost_budget; None: a weight budget)

    def ratios(self) -> dict[str, float]:
        """Per-layer pruning ratios that keep exactly ``kept_groups`` (``keep_count`` rounds them back)."""
        return {n: 1.0 - k / self.groups[n] for n, k in self.kept_groups.items()}


def pooled(constraints: dict[str, Constraint]) -> list[str]:
    return [n for n, c in constraints.items() if c.structure.kind in POOLED]


def sorted_group_values(constraint: Constraint, w: torch.Tensor) -> np.ndarray:
    """The layer's group values (sum of positive gains per group), largest first, float64."""
    gain = constraint.gains(w.detach())
    scores = constraint.structure.group_scores(gain).reshape(-1).to(torch.float64)
    return np.sort(scores.cpu().numpy())[::-1]


def min_groups(n_groups: int, min_keep: float) -> int:
    return max(1, min(n_groups, math.ceil(min_keep * n_groups - 1e-9)))


def allocate(budget: GlobalBudget, values: dict[str, np.ndarray], sizes: dict[str, int],
             weights: dict[str, float] | None = None) -> Allocation:
    """Groups kept per layer maximising ``sum_l weights_l * F_l(j_l)`` within the budget (see module doc).

    ``values[l]``: the layer's group values sorted descending (>= 0); ``sizes[l]``: weights per group."""
    names = list(values)
    weights = weights or {}
    groups = {n: len(values[n]) for n in names}
    total = sum(groups[n] * sizes[n] for n in names)
    cap_weights = int(round((1.0 - budget.ratio) * total))
    lo = {n: min_groups(groups[n], budget.min_keep) for n in names}
    need = sum(lo[n] * sizes[n] for n in names)
    if need > cap_weights:
        raise BudgetError(f"budget ratio={budget.ratio} keeps {cap_weights} weights but every layer keeping its "
                          f"minimum groups needs {need}; allowed: ratio <= {1 - need / total:.6f}")
    scaled = {n: values[n] * float(weights.get(n, 1.0)) for n in names}
    g = math.gcd(*[sizes[n] for n in names])
    classes = _size_classes(scaled, lo, {n: sizes[n] // g for n in names})
    room = (cap_weights - need) // g
    counts, exact = _choose(classes, room, budget.exact_cells)
    kept = dict(lo)
    for cls, j in zip(classes, counts):
        for i in cls.layer_idx[:j]:
            kept[names[i]] += 1
    objective = sum(float(np.sum(scaled[n][: kept[n]])) for n in names)
    return Allocation(kept, groups, sum(kept[n] * sizes[n] for n in names), cap_weights, objective, exact)


@dataclass(frozen=True)
class _SizeClass:
    """The optional groups (beyond each layer's minimum) of all layers sharing one group size, best first:
    among equal sizes the most valuable groups win whatever their layer (an exchange argument)."""

    units: int
    values: np.ndarray       # marginal values, descending
    layer_idx: np.ndarray    # the layer each belongs to

    @property
    def prefix(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(self.values)])


def _size_classes(scaled, lo, units) -> list[_SizeClass]:
    names = list(scaled)
    out = []
    for u in sorted(set(units.values())):
        members = [i for i, n in enumerate(names) if units[n] == u]
        vals = np.concatenate([scaled[names[i]][lo[names[i]]:] for i in members])
        idx = np.concatenate([np.full(len(scaled[names[i]]) - lo[names[i]], i) for i in members])
        order = np.argsort(-vals, kind="stable")
        out.append(_SizeClass(u, vals[order], idx[order]))
    return out


def _choose(classes: list[_SizeClass], room: int, exact_cells: int) -> tuple[list[int], bool]:
    """Groups taken per size class within ``room`` capacity units.

    The class with the most groups goes last in closed form (its prefix sum is concave and nondecreasing,
    so it fills whatever room the others leave); the others by an exact DP, or the density greedy when the
    DP would exceed ``exact_cells``."""
    last = max(range(len(classes)), key=lambda i: len(classes[i].values))
    others = [c for i, c in enumerate(classes) if i != last]
    if (room + 1) * sum(len(c.values) for c in others) > exact_cells:
        return _density_greedy(classes, room), False
    best, choices = _knapsack(others, room)
    tail = classes[last]
    fill = np.minimum((room - np.arange(room + 1)) // tail.units, len(tail.values))
    total = best + tail.prefix[fill]
    c = int(np.argmax(total))  # the first maximum: the least capacity used by the others
    counts = [0] * len(classes)
    counts[last] = int(fill[c])
    for i, arg in reversed(list(zip([i for i in range(len(classes)) if i != last], choices))):
        counts[i] = int(arg[c])
        c -= counts[i] * classes[i].units
    return counts, True


def _knapsack(classes: list[_SizeClass], room: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Exact DP: best[c] = the most value of a choice using exactly c capacity units (-inf: impossible)."""
    best = np.full(room + 1, -np.inf)
    best[0] = 0.0
    choices = []
    for cls in classes:
        prefix = cls.prefix
        new = best.copy()
        arg = np.zeros(room + 1, dtype=np.int64)
        for j in range(1, len(cls.values) + 1):
            shift = j * cls.units
            if shift > room:
                break
            cand = best[: room + 1 - shift] + prefix[j]
            better = cand > new[shift:]
            new[shift:][better] = cand[better]
            arg[shift:][better] = j
        best = new
        choices.append(arg)
    return best, choices


def _density_greedy(classes: list[_SizeClass], room: int) -> list[int]:
    """Value-per-weight order, longest prefix that fits (not exact; used only for very large DPs)."""
    vals = np.concatenate([c.values for c in classes])
    cls_idx = np.concatenate([np.full(len(c.values), i) for i, c in enumerate(classes)])
    size = np.array([c.units for c in classes])[cls_idx]
    order = np.argsort(-(vals / size), kind="stable")
    take = order[np.cumsum(size[order]) <= room]
    return [int(k) for k in np.bincount(cls_idx[take], minlength=len(classes))]


def _allocate_cost(budget: GlobalBudget, values: dict[str, np.ndarray], sizes: dict[str, int],
                   weights: dict[str, float] | None) -> Allocation:
    """The cost-aware allocation (``pruning.cost_budget``) as an ``Allocation``."""
    lo = {n: min_groups(len(v), budget.min_keep) for n, v in values.items()}
    try:
        a = allocate_by_cost(budget.ratio, values, budget.cost, lo, weights)
    except CostCurveError as e:
        raise BudgetError(str(e)) from None
    groups = {n: len(v) for n, v in values.items()}
    kept_weights = sum(a.kept_groups[n] * sizes[n] for n in values)
    return Allocation(a.kept_groups, groups, kept_weights, kept_weights, a.objective, a.exact, a.cost, a.budget_cost)


def budget_constraints(budget: GlobalBudget, constraints: dict[str, Constraint], tensors: dict[str, torch.Tensor],
                       weights: dict[str, float] | None = None) -> tuple[dict[str, Constraint], Allocation]:
    """Per-layer constraints whose ratios realise the exact global projection of ``tensors``.

    Projecting each tensor with its returned constraint gives the global projection (within a layer the
    kept groups are the top ``j_l`` by gain, the order ``Constraint.project`` uses)."""
    names = pooled(constraints)
    if not names:
        raise BudgetError("budget: no layer to pool (every layer is dense or N:M)")
    values = {n: sorted_group_values(constraints[n], tensors[n]) for n in names}
    sizes = {n: tensors[n].numel() // len(values[n]) for n in names}
    alloc = allocate(budget, values, sizes, weights) if budget.cost is None else \
        _allocate_cost(budget, values, sizes, weights)
    out = dict(constraints)
    for n, r in alloc.ratios().items():
        out[n] = replace(constraints[n], structure=replace(constraints[n].structure, ratio=min(max(r, 0.0), 1 - 1e-12)))
    return out, alloc
