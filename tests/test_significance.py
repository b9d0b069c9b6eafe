"""analysis/significance.py: against scipy.stats where it computes the same, textbook cases, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.significance import (betainc, binomial_cdf_half, holm, mcnemar, mcnemar_counts, paired_comparison,
                                   t_quantile, t_sf_two_sided)

scipy_stats = pytest.importorskip("scipy.stats")

finite = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)


# ----------------------------------------------------------------------------------------- distributions
@pytest.mark.parametrize("df", [1, 2, 4, 9, 30, 200])
@pytest.mark.parametrize("q", [0.6, 0.9, 0.975, 0.995, 0.025])
def test_t_quantile_matches_scipy(df, q):
    assert t_quantile(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("df", [1, 3, 4, 10, 100])
@pytest.mark.parametrize("t", [0.0, 0.3, 1.0, 2.776, 5.0, 40.0])
def test_two_sided_t_tail_matches_scipy(df, t):
    assert t_sf_two_sided(t, df) == pytest.approx(2 * scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-15)


def test_t_quantile_textbook_table():
    # the Student t table's 97.5% row: df 4 -> 2.776, df 1 -> 12.706
    assert t_quantile(0.975, 4) == pytest.approx(2.776, abs=5e-4)
    assert t_quantile(0.975, 1) == pytest.approx(12.706, abs=5e-4)


@pytest.mark.parametrize("a,b,x", [(0.5, 0.5, 0.3), (2.0, 0.5, 0.9), (10.0, 3.0, 0.7), (1.0, 1.0, 0.42)])
def test_betainc_matches_scipy(a, b, x):
    from scipy.special import betainc as sp_betainc
    assert betainc(a, b, x) == pytest.approx(sp_betainc(a, b, x), rel=1e-10)


def test_bad_inputs_are_refused_naming_them():
    with pytest.raises(ValueError, match="q=1.5"):
        t_quantile(1.5, 3)
    with pytest.raises(ValueError, match="pairs=1"):
        paired_comparison([1.0], [2.0])
    with pytest.raises(ValueError, match="allowed: two 1-D"):
        paired_comparison([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="boolean"):
        mcnemar(np.array([1, 0]), np.array([True, False]))
    with pytest.raises(ValueError, match="b=-1"):
        mcnemar_counts(-1, 3)
    with pytest.raises(ValueError, match="1.2"):
        holm([0.1, 1.2])


# ------------------------------------------------------------------------------------------- paired t
def test_paired_comparison_matches_scipy_ttest_rel():
    a = [99.12, 99.05, 99.20, 98.91, 99.07]
    b = [99.02, 99.08, 99.01, 98.80, 99.00]
    r = paired_comparison(a, b)
    ref = scipy_stats.ttest_rel(a, b)
    assert r.t == pytest.approx(ref.statistic, rel=1e-10)
    assert r.p == pytest.approx(ref.pvalue, rel=1e-9)
    lo, hi = ref.confidence_interval(0.95)
    assert r.ci95 == pytest.approx((lo, hi), rel=1e-9)
    d = np.subtract(a, b)
    assert r.dz == pytest.approx(d.mean() / d.std(ddof=1))
    assert r.df == 4 and r.n == 5


def test_paired_textbook_student_sleep_data():
    # Student (1908) / Cushny & Peebles sleep data: paired differences, t = 4.062, df 9, p = 0.00283
    # (R: t.test(extra ~ group, data = sleep, paired = TRUE) on group 2 - group 1)
    g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    r = paired_comparison(g2, g1)
    assert r.t == pytest.approx(4.0621, abs=1e-4)
    assert r.p == pytest.approx(0.002833, abs=1e-6)
    assert r.ci95 == pytest.approx((0.7001142, 2.4598858), abs=1e-6)
    assert r.mean_diff == pytest.approx(1.58)


def test_dz_interval_is_the_stated_approximation():
    r = paired_comparison([1.0, 2.0, 3.0, 4.5], [0.0, 0.5, 1.0, 1.0])
    half = 1.959963984540054 * math.sqrt(1 / 4 + r.dz ** 2 / 8)
    assert r.dz_ci95 == pytest.approx((r.dz - half, r.dz + half))


def test_constant_differences():
    r = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (r.mean_diff, r.p, r.dz, r.ci95) == (0.0, 1.0, 0.0, (0.0, 0.0))
    r = paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert r.p == 0.0 and r.dz == math.inf and r.significant


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=12))
def test_paired_invariants(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    r, s = paired_comparison(a, b), paired_comparison(b, a)
    assert 0.0 <= r.p <= 1.0
    assert r.p == pytest.approx(s.p, abs=1e-12)                      # symmetric
    assert r.mean_diff == pytest.approx(-s.mean_diff, abs=1e-9)       # swapping A/B flips the sign
    assert r.dz == pytest.approx(-s.dz, abs=1e-9) or (math.isinf(r.dz) and r.dz == -s.dz)
    assert r.ci95[0] <= r.mean_diff <= r.ci95[1]
    assert r.significant == (r.p < 0.05) or abs(r.p - 0.05) < 1e-6


# ------------------------------------------------------------------------------------------------ McNemar
@pytest.mark.parametrize("b,c", [(0, 0), (10, 3), (3, 10), (0, 7), (25, 25), (40, 17), (120, 90)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    r = mcnemar_counts(b, c)
    expect = 1.0 if b + c == 0 else scipy_stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert r.p == pytest.approx(expect, rel=1e-10)


def test_mcnemar_textbook_mid_p():
    # b = 1, c = 7 by hand: exact p = 2 (C(8,0) + C(8,1)) / 2^8 = 18/256; mid-p = 18/256 - C(8,1)/2^8 = 10/256
    r = mcnemar_counts(1, 7, n=59)
    assert r.p == 18 / 256
    assert r.p_mid == 10 / 256


def test_mcnemar_from_per_image_correctness():
    a = np.array([True, True, True, False, False, True, True])
    b = np.array([True, False, False, True, False, True, False])
    r = mcnemar(a, b)
    assert (r.b, r.c, r.n) == (3, 1, 7)
    assert r.diff == pytest.approx(a.mean() - b.mean())


def test_binomial_cdf_large_n_is_finite():
    assert binomial_cdf_half(5000, 10000) == pytest.approx(scipy_stats.binom.cdf(5000, 10000, 0.5), rel=1e-9)
    assert binomial_cdf_half(10, 3000) == pytest.approx(scipy_stats.binom.cdf(10, 3000, 0.5), abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 400), st.integers(0, 400))
def test_mcnemar_invariants(b, c):
    r, s = mcnemar_counts(b, c), mcnemar_counts(c, b)
    assert 0.0 <= r.p_mid <= r.p <= 1.0
    assert r.p == s.p and r.p_mid == s.p_mid                           # symmetric
    assert r.diff == -s.diff


# ---------------------------------------------------------------------------------------------------- Holm
def test_holm_textbook():
    # p = (0.01, 0.04, 0.03, 0.2), m = 4: sorted 0.01*4, 0.03*3, 0.04*2 -> max(0.09, 0.08), 0.2*1 -> max(., 0.2)
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx((0.04, 0.09, 0.09, 0.2))
    assert holm([]) == ()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_holm_invariants(p):
    adj = holm(p)
    assert all(0.0 <= q <= 1.0 for q in adj)
    assert all(q >= v - 1e-15 for q, v in zip(adj, p))                # never below the raw p
    order = sorted(range(len(p)), key=lambda i: p[i])
    assert all(adj[order[i]] <= adj[order[i + 1]] + 1e-15 for i in range(len(p) - 1))  # order kept


# ------------------------------------------------------------------- the benchmark's budget and its verdicts
def test_methods_benchmark_gives_every_method_the_same_budget():
    from benchmarks.methods_significance import METHODS, TARGETS, pruned
    from pruning.config import PruneConfig
    for target in TARGETS:
        configs = [PruneConfig.from_dict(pruned(m, target, 3).config).to_dict() for m in METHODS]
        for c in configs:
            c.pop("method")
        assert all(c == configs[0] for c in configs[1:])


def test_methods_benchmark_verdict_says_when_not_significant():
    from benchmarks.methods_significance import verdict
    base = {"target": "authors71", "method": "magnitude", "mcnemar": [mcnemar_counts(12, 9, 10000)] * 5}
    not_sig = {**base, "paired": paired_comparison([99.1, 99.0, 99.2, 98.9, 99.1], [99.0, 99.1, 99.0, 98.9, 99.0]),
               "p_holm": 0.6}
    assert "ADMM's advantage is not significant" in verdict("mnist", not_sig)
    assert "significant on 0 of 5 seeds" in verdict("mnist", not_sig)
    sig = {**not_sig, "p_holm": 0.01}
    assert "ADMM is better, significantly" in verdict("mnist", sig)
