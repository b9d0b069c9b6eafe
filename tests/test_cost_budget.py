"""The cost-aware whole-network budget (pruning.cost_budget): exact for the cost it uses, against enumeration."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pruning.budget import BudgetError, GlobalBudget, budget_constraints
from pruning.config import ConfigError, PruneConfig
from pruning.constraint import Constraint
from pruning.cost_budget import CostCurveError, CostCurves, allocate_by_cost
from pruning.structures import Structure

DENSITIES = (0.0, 0.25, 0.5, 0.75, 1.0)


@st.composite
def instances(draw):
    n_layers = draw(st.integers(1, 3))
    values, curves, lo = {}, {}, {}
    for i in range(n_layers):
        g = draw(st.integers(1, 5))
        v = sorted(draw(st.lists(st.floats(0, 10, allow_nan=False), min_size=g, max_size=g)), reverse=True)
        values[f"l{i}"] = np.array(v)
        # any shape: increasing, flat, or sparse formats that cost more than dense at high density
        curves[f"l{i}"] = tuple(draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=5, max_size=5)))
        lo[f"l{i}"] = draw(st.integers(0, min(1, g)))
    return values, CostCurves(DENSITIES, curves, "test"), lo


def enumerate_best(values, curves, lo, cap):
    """Most value of any allocation (kept counts per layer, each >= lo) whose cost is at most ``cap``."""
    names = list(values)
    best = -np.inf
    for counts in itertools.product(*[range(lo[n], len(values[n]) + 1) for n in names]):
        cost = sum(float(curves.at(n, np.array([j / len(values[n])]))[0]) for n, j in zip(names, counts))
        if cost <= cap * (1 + 1e-9) + 1e-9:
            best = max(best, sum(float(np.sum(values[n][:j])) for n, j in zip(names, counts)))
    return best


@settings(max_examples=150, deadline=None)
@given(instances(), st.floats(0, 0.999))
def test_allocation_is_optimal_for_the_cost_it_uses(inst, ratio):
    values, curves, lo = inst
    try:
        a = allocate_by_cost(ratio, values, curves, lo)
    except CostCurveError:
        # only when no density is cheaper than dense in any layer
        assert all(min(np.interp(np.arange(lo[n], len(values[n]) + 1) / len(values[n]), DENSITIES,
                                 curves.layers[n])) >= curves.layers[n][-1] - 1e-9 for n in values)
        return
    assert a.cost <= a.budget_cost * (1 + 1e-9) + 1e-9
    assert a.min_cost - 1e-9 <= a.budget_cost <= a.dense_cost + 1e-9
    assert all(lo[n] <= j <= len(values[n]) for n, j in a.kept_groups.items())
    # at least the value of the best allocation that costs no more than the budget's Lagrangian allocation
    # (the fill only adds groups), and never more than the best allocation within the budget
    assert a.objective <= enumerate_best(values, curves, lo, a.budget_cost) + 1e-6 * max(1.0, a.objective)


@settings(max_examples=150, deadline=None)
@given(instances(), st.floats(0, 0.999))
def test_the_price_alone_is_optimal_for_the_cost_it_uses(inst, ratio):
    """Without the fill (the allocation at the price found), nothing that costs as much keeps more value."""
    from pruning import cost_budget

    values, curves, lo = inst
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cost_budget, "_fill", lambda layers, fits, over, room: fits)
            a = allocate_by_cost(ratio, values, curves, lo)
    except CostCurveError:
        return
    assert a.objective >= enumerate_best(values, curves, lo, a.cost) - 1e-6 * max(1.0, a.objective)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_a_higher_ratio_never_costs_more(inst):
    values, curves, lo = inst
    try:
        costs = [allocate_by_cost(r, values, curves, lo).cost for r in (0.0, 0.3, 0.6, 0.9)]
    except CostCurveError:
        return
    assert all(b <= a + 1e-9 for a, b in zip(costs, costs[1:]))


def test_the_layer_that_costs_more_per_weight_is_pruned_harder():
    """Equal values; layer 'conv' costs 10x per kept weight what 'fc' does: a cost budget cuts conv first, a
    weight budget treats both alike."""
    values = {"conv": np.ones(10), "fc": np.ones(10)}
    curves = CostCurves((0.0, 1.0), {"conv": (0.0, 100.0), "fc": (0.0, 10.0)})
    a = allocate_by_cost(0.5, values, curves, {"conv": 1, "fc": 1})
    assert a.kept_groups["fc"] == 10 and a.kept_groups["conv"] < 10
    assert a.cost <= a.budget_cost + 1e-9


def test_a_layer_whose_pruning_saves_nothing_stays_whole():
    values = {"a": np.linspace(5, 1, 8), "b": np.linspace(5, 1, 8)}
    curves = CostCurves((0.0, 1.0), {"a": (7.0, 7.0), "b": (0.0, 8.0)})
    a = allocate_by_cost(0.75, values, curves, {"a": 1, "b": 1})
    assert a.kept_groups["a"] == 8 and a.kept_groups["b"] < 8


def test_no_saving_anywhere_is_one_line():
    with pytest.raises(CostCurveError, match="saves no cost"):
        allocate_by_cost(0.5, {"a": np.ones(4)}, CostCurves((0.0, 1.0), {"a": (3.0, 3.0)}, "tpu_like energy_pj"),
                         {"a": 1})


def test_curves_are_checked():
    with pytest.raises(CostCurveError, match="densities"):
        CostCurves((0.5, 0.2, 1.0), {"a": (1, 2, 3)})
    with pytest.raises(CostCurveError, match="layer 'a'"):
        CostCurves((0.0, 1.0), {"a": (1, float("nan"))})
    with pytest.raises(CostCurveError, match="no cost curve for layer 'b'"):
        allocate_by_cost(0.5, {"b": np.ones(2)}, CostCurves((0.0, 1.0), {"a": (0, 1)}), {"b": 0})


def test_budget_constraints_use_the_curves():
    """Through the ADMM projection's entry point: the per-layer ratios follow the cost, not the weight count."""
    torch.manual_seed(0)
    tensors = {"conv": torch.randn(8, 4, 3, 3), "fc": torch.randn(10, 288)}
    cons = {n: Constraint(Structure("nonstructured", 0.0)) for n in tensors}
    curves = CostCurves((0.0, 1.0), {"conv": (0.0, 1000.0), "fc": (0.0, 10.0)})
    out, alloc = budget_constraints(GlobalBudget(0.5, cost=curves), cons, tensors)
    ratios = alloc.ratios()
    assert ratios["conv"] > 0.4 and ratios["fc"] < 0.05
    assert alloc.cost <= alloc.budget_cost + 1e-9
    _, weight_alloc = budget_constraints(GlobalBudget(0.5), cons, tensors)
    assert weight_alloc.ratios()["fc"] > 0.3   # a weight budget cuts the big layer


def test_prune_config_carries_the_curves_as_data():
    cfg = PruneConfig.from_dict({"budget": {"ratio": 0.5, "cost": {"densities": [0, 1], "layers": {"fc": [0, 2]},
                                                                    "label": "x energy_pj"}},
                                 "layers": {"fc": {"type": "nonstructured"}}})
    assert PruneConfig.from_dict(cfg.to_dict()) == cfg
    assert "cost" not in PruneConfig.from_dict({"budget": {"ratio": 0.5}, "layers": {}}).to_dict()["budget"]
    with pytest.raises(ConfigError, match="densities"):
        PruneConfig.from_dict({"budget": {"ratio": 0.5, "cost": {"densities": [0, 0.5], "layers": {"fc": [0, 1]}}},
                               "layers": {}})
    with pytest.raises(ConfigError, match="numbers"):
        PruneConfig.from_dict({"budget": {"ratio": 0.5, "cost": {"densities": [0, 1], "layers": {"fc": ["x", 1]}}},
                               "layers": {}})


def test_budget_error_from_the_projection():
    tensors = {"fc": torch.randn(4, 4)}
    cons = {"fc": Constraint(Structure("nonstructured", 0.0))}
    with pytest.raises(BudgetError, match="saves no cost"):
        budget_constraints(GlobalBudget(0.5, cost=CostCurves((0.0, 1.0), {"fc": (1.0, 1.0)})), cons, tensors)
