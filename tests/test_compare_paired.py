"""compare's paired non-inferiority test (Tango's score bound), the search deciding with it, per-image correctness
cached beside an artifact, and the default run resolving its own tolerance."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import multinomial

from analysis.compare_config import CompareConfig, split_validation
from analysis.correctness import CORRECT_FILE, validation_correct
from analysis.search import PairedRule, PointRule, matched_ratio, scale_search
from analysis.stats import Z95_ONE_SIDED, PairedLoss, resolution
from pruning.data import load_digits

FAST = settings(max_examples=40, deadline=None)


def tables(max_n=400):
    """(lost, gained, n) of a paired 2x2 table."""
    return st.integers(1, max_n).flatmap(lambda n: st.integers(0, n).flatmap(
        lambda lost: st.tuples(st.just(lost), st.integers(0, n - lost), st.just(n))))


# ------------------------------------------------------------- the bound itself
def test_tango_reproduces_the_published_worked_example():
    """Cavo et al. 2012 (complete response before/after consolidation), n12 = 6, n21 = 16, N = 161: Tango's
    asymptotic score 95% interval -0.1240 to -0.0054 (Fagerland, Lydersen & Laake 2017, ch. 8; the values the
    R package contingencytables tests for ``Tango_asymptotic_score_CI_paired_2x2(cavo_2012)``)."""
    pair = PairedLoss(lost=6, gained=16, n=161)
    assert pair.loss == pytest.approx(-0.0621, abs=5e-5)
    lo, hi = pair.interval()
    assert (round(lo, 4), round(hi, 4)) == (-0.1240, -0.0054)


def brute_score(lost: int, gained: int, n: int, d: float) -> float:
    """Tango's statistic with the restricted MLE found numerically (no closed form): maximise the trinomial
    likelihood of (lost, gained, concordant) over P(gained) = q with P(lost) = q + d."""
    lo, hi = max(0.0, -d), (1 - d) / 2

    def nll(q):
        p = np.clip([q + d, q, 1 - 2 * q - d], 1e-300, None)
        return -(lost * np.log(p[0]) + gained * np.log(p[1]) + (n - lost - gained) * np.log(p[2]))
    q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    return (lost - gained - n * d) / np.sqrt(n * (2 * q + d * (1 - d)))


@FAST
@given(tables())
def test_upper_bound_is_where_the_brute_force_score_crosses_minus_z(table):
    lost, gained, n = table
    pair = PairedLoss(lost, gained, n)
    u = pair.upper_bound()
    if u >= 1 - 1e-9:
        assert lost == n
        return
    assert brute_score(lost, gained, n, u) == pytest.approx(-Z95_ONE_SIDED, abs=2e-4)
    below = max(pair.loss, u - 1e-3)   # the score is decreasing: just below the bound it is still above -z
    assert brute_score(lost, gained, n, below) > -Z95_ONE_SIDED - 2e-4


@FAST
@given(tables())
def test_bound_orders_and_monotonicity(table):
    lost, gained, n = table
    pair = PairedLoss(lost, gained, n)
    lo, hi = pair.interval()
    assert -1 <= lo <= pair.lower_bound() <= pair.loss <= pair.upper_bound() <= hi <= 1
    if lost + gained < n:   # one more image lost raises the bound; one more gained lowers it
        assert PairedLoss(lost + 1, gained, n).upper_bound() > pair.upper_bound()
        assert PairedLoss(lost, gained + 1, n).upper_bound() < pair.upper_bound()
    assert pair.non_inferior(pair.upper_bound()) and not pair.non_inferior(pair.upper_bound() - 1e-6)


@pytest.mark.parametrize("n, p_lost, p_gained", [(30, 0.1, 0.05), (40, 0.05, 0.05), (60, 0.1, 0.1), (40, 0.2, 0.05)])
def test_one_sided_coverage_by_exact_enumeration(n, p_lost, p_gained):
    """Over every table of n images, the probability that the upper bound covers the true loss: ~95% (0.948 to
    0.967 here; an asymptotic bound, so not exactly)."""
    d, cover, probs = p_lost - p_gained, 0.0, [p_lost, p_gained, 1 - p_lost - p_gained]
    for lost in range(n + 1):
        for gained in range(n + 1 - lost):
            if PairedLoss(lost, gained, n).upper_bound() >= d - 1e-12:
                cover += multinomial.pmf([lost, gained, n - lost - gained], n, probs)
    assert 0.94 <= cover <= 0.98


def test_from_correct_counts_the_discordant_images():
    dense = np.array([1, 1, 1, 0, 0, 1], dtype=bool)
    pruned = np.array([1, 0, 0, 1, 0, 1], dtype=bool)
    assert PairedLoss.from_correct(dense, pruned) == PairedLoss(lost=2, gained=1, n=6)
    with pytest.raises(ValueError, match="same images"):
        PairedLoss.from_correct(dense, pruned[:5])
    with pytest.raises(ValueError, match="lost=4, gained=3, n=6"):
        PairedLoss(4, 3, 6)


# ------------------------------------------------------------- the searches use it
def images(n: int, wrong) -> np.ndarray:
    out = np.ones(n, dtype=bool)
    out[list(wrong)] = False
    return out


def test_matched_ratio_decides_by_the_paired_bound_not_the_point_loss():
    """Every probe loses 0.1 pp net (2 of 2,000 images; tolerance 1 pp), but above ratio 0.6 it swaps 80 images
    each way: the point rule passes every ratio, the paired test only the ratios that change few images."""
    n = 2000
    dense = images(n, range(100))

    def probe(r):   # k of dense's wrong images become right, k + 2 of its right ones wrong
        k = 2 if r <= 0.6 else 80
        return images(n, list(range(k, 100)) + list(range(100, 102 + k)))

    point = matched_ratio(lambda r: float(probe(r).mean()), PointRule(float(dense.mean()), 0.01), ladder=(0.5, 0.75),
                          bisections=2)
    paired = matched_ratio(probe, PairedRule(dense, 0.01), ladder=(0.5, 0.75), bisections=2)
    assert point.ratio == 0.99
    assert paired.ratio == 0.5625 and paired.accuracy == pytest.approx(0.949)
    assert all(p.loss_upper is not None and p.within == (p.loss_upper <= 0.01) for p in paired.points)
    assert [p.within for p in paired.points] == [True, False, False, True]   # 0.5, 0.75, 0.625, 0.5625


@FAST
@given(st.lists(st.integers(0, 40), min_size=6, max_size=6), st.integers(1, 6))
def test_scale_search_only_returns_a_mix_that_passes_the_paired_test(swaps, max_probes):
    n, dense = 600, images(600, range(6))
    calls = []

    def evaluate(scale):
        k = swaps[len(calls)]
        calls.append(scale)
        return images(n, list(range(min(k, 6), 6)) + list(range(6, 6 + k)))   # k images swapped, gains first
    rule = PairedRule(dense, 0.01)
    res = scale_search(evaluate, rule, max_probes)
    if res.scale is not None:
        chosen = next(p for p in res.points if p.ratio == res.scale)
        assert chosen.within and chosen.loss_upper <= 0.01 + 1e-12


# ------------------------------------------------------------- per-image correctness, cached
def test_validation_correct_is_cached_beside_the_artifact_and_recomputed_when_stale(tmp_path, monkeypatch):
    import analysis.correctness as C

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.randn(50, 1, 2, 2), torch.randint(0, 3, (50,))
    truth = C.per_image_correct(model, x, y)
    monkeypatch.setattr(C, "read_manifest", lambda p: {"accuracy": {"pruned": float(truth.mean())}})
    loads = []

    def load(path):
        loads.append(path)
        return model
    first = validation_correct(tmp_path, load, x, y)
    assert np.array_equal(first, truth) and (tmp_path / CORRECT_FILE).is_file() and len(loads) == 1
    assert np.array_equal(validation_correct(tmp_path, load, x, y), truth) and len(loads) == 1   # from the file
    np.save(tmp_path / CORRECT_FILE, ~truth)   # another model's: disagrees with the manifest, recomputed
    assert np.array_equal(validation_correct(tmp_path, load, x, y), truth) and len(loads) == 2
    (tmp_path / CORRECT_FILE).write_bytes(b"not an npy")
    assert np.array_equal(validation_correct(tmp_path, load, x, y), truth) and len(loads) == 3
    np.save(tmp_path / CORRECT_FILE, np.array([{"a": 1}], dtype=object), allow_pickle=True)   # never unpickled
    assert np.array_equal(validation_correct(tmp_path, load, x, y), truth) and len(loads) == 4


# ------------------------------------------------------------- the default run resolves its tolerance
def test_the_default_compare_resolves_its_tolerance():
    """Issue 23: on the default run one validation image is worth less than a fifth of the tolerance (digits:
    1,797 images, 20% test, ``validation_fraction`` of the rest held out), and the paired test can pass."""
    cfg = CompareConfig()
    search, full = split_validation(load_digits(), cfg.validation_fraction, cfg.seed)
    n_val = len(search.test_y)
    assert cfg.dataset == "digits" and n_val == 575 and len(full.test_y) == 359
    assert 100 / n_val < cfg.tolerance_pp / 5
    res = resolution(n_val, cfg.tolerance_pp)
    assert res.resolved and res.changes_allowed >= 8
    assert "one image is 0.17 pp (< tolerance/5 = 0.20 pp)" in res.sentence("validation")
