"""Whole-network budget: the global projection is exact (brute force over every support on small tensors)."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pruning.budget import BudgetError, GlobalBudget, allocate, budget_constraints, min_groups
from pruning.constraint import Constraint
from pruning.quantizers import Quantizer
from pruning.structures import Structure

SHAPES = {"filter": [(2, 3), (3, 2), (2, 1, 2, 1)], "column": [(2, 3), (4, 2)], "channel": [(2, 2, 1, 2)],
          "nonstructured": [(1, 3), (2, 2)], "block": [(2, 4)]}


@st.composite
def layers(draw):
    n = draw(st.integers(1, 3))
    cons, tensors, weights = {}, {}, {}
    same = draw(st.booleans())  # half the draws: every layer non-structured (equal group sizes: the top-k path)
    for i in range(n):
        kind = "nonstructured" if same else draw(st.sampled_from(sorted(SHAPES)))
        shape = draw(st.sampled_from(SHAPES[kind]))
        seed = draw(st.integers(0, 10_000))
        w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        w = w * draw(st.sampled_from([0.1, 1.0, 3.0]))
        q = draw(st.sampled_from([None, Quantizer("uniform", 2), Quantizer("binary")]))
        c = Constraint(Structure(kind, 0.0, block=(2, 2)), q)
        cons[f"l{i}"] = c.fit(w) if q is not None else c
        tensors[f"l{i}"] = w
        weights[f"l{i}"] = draw(st.sampled_from([1.0, 0.5, 2.0]))
    return cons, tensors, weights


def brute_force(cons, tensors, weights, budget):
    """The best objective over every allowed support (any subset of groups per layer)."""
    per_layer = []
    total = sum(t.numel() for t in tensors.values())
    cap = round((1 - budget.ratio) * total)
    for n, c in cons.items():
        scores = c.structure.group_scores(c.gains(tensors[n])).reshape(-1).tolist()
        size = tensors[n].numel() // len(scores)
        lo = min_groups(len(scores), budget.min_keep)
        options = []
        for mask in itertools.product([0, 1], repeat=len(scores)):
            if sum(mask) >= lo:
                options.append((sum(mask) * size, weights[n] * sum(s for s, m in zip(scores, mask) if m)))
        per_layer.append(options)
    best = -math.inf
    for combo in itertools.product(*per_layer):
        if sum(s for s, _ in combo) <= cap:
            best = max(best, sum(v for _, v in combo))
    return best


@settings(max_examples=120, deadline=None)
@given(layers(), st.floats(0.0, 0.95), st.sampled_from([0.0, 0.3]))
def test_global_projection_is_exact(data, ratio, min_keep):
    cons, tensors, weights = data
    budget = GlobalBudget(ratio, min_keep)
    try:
        out, alloc = budget_constraints(budget, cons, tensors, weights)
    except BudgetError as e:
        assert "minimum groups" in str(e)
        return
    best = brute_force(cons, tensors, weights, budget)
    assert alloc.exact
    assert alloc.objective == pytest.approx(best, rel=1e-9, abs=1e-12)
    # projecting each layer with its constraint realises the allocation: feasible and optimal
    nnz_cap, achieved = alloc.budget_weights, 0.0
    kept_weights = 0
    for n, c in out.items():
        z, mask = c.project(tensors[n])
        groups = c.structure.group_scores(mask.to(torch.float64))
        kept = int((groups > 0).sum()) if c.structure.kind != "nonstructured" else int(mask.sum())
        assert kept <= alloc.kept_groups[n]
        kept_weights += alloc.kept_groups[n] * (tensors[n].numel() // alloc.groups[n])
        achieved += weights[n] * float(cons[n].gains(tensors[n])[mask].sum())
        assert ((tensors[n] - z) ** 2).sum() >= 0
    assert kept_weights <= nnz_cap
    assert achieved == pytest.approx(best, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(layers(), st.floats(0.0, 0.95))
def test_greedy_fallback_is_feasible_and_never_beats_the_optimum(data, ratio):
    cons, tensors, weights = data
    try:
        _, exact = budget_constraints(GlobalBudget(ratio), cons, tensors, weights)
    except BudgetError:
        return
    _, greedy = budget_constraints(GlobalBudget(ratio, exact_cells=0), cons, tensors, weights)
    assert greedy.kept_weights <= greedy.budget_weights
    assert greedy.objective <= exact.objective + 1e-9
    if len({t.numel() // greedy.groups[n] for n, t in tensors.items()}) > 1:
        assert not greedy.exact


def test_nonstructured_budget_is_a_global_top_k():
    torch.manual_seed(0)
    a, b = torch.randn(20, 30), torch.randn(10, 5) * 3
    cons = {"a": Constraint(Structure("nonstructured")), "b": Constraint(Structure("nonstructured"))}
    out, alloc = budget_constraints(GlobalBudget(0.9), cons, {"a": a, "b": b})
    k = round(0.1 * 650)
    thresh = torch.cat([a.reshape(-1), b.reshape(-1)]).abs().topk(k).values[-1]
    assert alloc.kept_groups == {"a": int((a.abs() >= thresh).sum()), "b": int((b.abs() >= thresh).sum())}
    assert alloc.kept_groups["b"] > 0.3 * 50  # the large-magnitude layer keeps far more than 10%


def test_min_keep_and_infeasible_budget():
    values = {"a": np.array([5.0, 4.0, 3.0, 2.0]), "b": np.array([0.1, 0.05])}
    alloc = allocate(GlobalBudget(0.5, min_keep=0.5), values, {"a": 1, "b": 1})
    assert alloc.kept_groups == {"a": 2, "b": 1}
    with pytest.raises(BudgetError, match="ratio=0.9 keeps 1 weights.*allowed: ratio <= 0.5000"):
        allocate(GlobalBudget(0.9, min_keep=0.5), values, {"a": 1, "b": 1})
    with pytest.raises(BudgetError, match="ratio=1.0"):
        GlobalBudget(1.0)
