"""The compare's numbers: accuracy intervals, resolution, ties, self-explaining verdicts, searches on noisy curves."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from analysis.compare_config import CompareConfig, CompareError
from analysis.report import _hil
from analysis.report_data import ChosenModel, chosen_model
from analysis.search import PointRule, matched_ratio, scale_search
from analysis.stats import Accuracy, PairedLoss, resolution, wilson_interval
from analysis.verdict import cost_split, is_tie, make_verdicts, split_log_ratio

FAST = settings(max_examples=60, deadline=None)


# ------------------------------------------------------------------ statistics
@FAST
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate_and_stays_in_unit_interval(counts):
    correct, n = counts
    lo, hi = wilson_interval(correct, n)
    assert 0.0 <= lo <= correct / n <= hi <= 1.0
    assert hi - lo > 0


@pytest.mark.parametrize("correct, n", [(81, 263), (142, 143), (143, 143), (0, 10), (355, 360)])
def test_wilson_matches_scipy(correct, n):
    ref = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(correct, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_accuracy_counts_and_text():
    a = Accuracy.from_fraction(0.986013986, 143)
    assert (a.correct, a.n) == (141, 143)
    assert a.text() == "98.60% [95.0, 99.6], n=143"
    assert Accuracy.from_dict(a.to_dict()) == a
    with pytest.raises(ValueError, match="correct=5, n=3"):
        wilson_interval(5, 3)


def test_resolution_of_the_old_digits_demo_and_of_mnist():
    old = resolution(143, 1.0)  # the former default demo (validation_fraction 0.1): one image = 0.7 pp
    assert not old.resolved and not old.fine_enough_grain and old.tolerance_images == 1
    assert old.image_pp == pytest.approx(100 / 143) and not old.test_can_pass   # 1.86 pp with nothing changed
    assert old.sentence("validation") == (
        "**The validation set is too small to resolve the 1 pp tolerance**: 143 images, one image is 0.70 pp (not < "
        "tolerance/5 = 0.20 pp); the paired test cannot pass even a model that changes no image (bound 1.86 pp); the "
        "tolerance comes down to 1 image(s), so read accuracies on this set as indicative.")
    mnist = resolution(6000, 0.5)  # LeNet-5: 10% of 60,000 images
    assert mnist.resolved and mnist.changes_allowed > 20
    assert mnist.sentence("validation").startswith("The validation set resolves the 0.5 pp tolerance: 6000 images, "
                                                   "one image is 0.02 pp (< tolerance/5 = 0.10 pp)")
    assert not resolution(500, 1.0).fine_enough_grain and resolution(501, 1.0).fine_enough_grain   # strictly < T/5


# ---------------------------------------------------------------------- ties
@FAST
@given(st.floats(0, 1e9), st.floats(0, 1e9), st.floats(0, 0.99))
def test_ties_are_symmetric(a, b, threshold):
    assert is_tie(a, b, threshold) == is_tie(b, a, threshold)
    assert is_tie(a, a, threshold)


def test_tie_threshold_is_relative():
    assert is_tie(100.0, 105.0, 0.05) and not is_tie(100.0, 105.1, 0.05)
    assert not is_tie(100.0, 101.0, 0.0)


@pytest.mark.parametrize("field, value, pattern", [
    ("tie_threshold", -0.1, r"tie_threshold=-0.1; allowed: a relative cost difference in \[0, 1\)"),
    ("tie_threshold", 1.5, r"tie_threshold=1.5; allowed"),
    ("tie_threshold", "5%", r"tie_threshold='5%'; allowed"),
    ("hil_probes", 0, r"hil_probes=0; allowed: an integer in 1..8"),
    ("hil_probes", 2.5, r"hil_probes=2.5; allowed"),
])
def test_bad_compare_fields_raise_one_clear_line(field, value, pattern):
    with pytest.raises(CompareError, match=pattern) as e:
        CompareConfig(**{field: value})
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------ verdicts
def row(structure, energy_pj, *, platform="acc", kind="asic", macs=1e6, dram_share=0.5, util=0.1, overhead=0.0,
        ratio=0.8, status="matched", latency_s=None, stall_share=0.2, test_loss_pp=0.3, **test):
    storage = 1000.0
    return {"structure": structure, "platform": platform, "kind": kind, "engine": "e", "ratio": ratio,
            "compression": 1 / (1 - ratio), "accuracy_status": status, "test_loss_pp": test_loss_pp, **test,
            "storage_bits": storage, "storage_weight_bits": storage * (1 - overhead),
            "storage_index_bits": storage * overhead, "storage_padding_bits": 0.0, "storage_pointer_bits": 0.0,
            "macs_useful": macs, "energy_pj": energy_pj, "energy_dram_pj": energy_pj * dram_share,
            "cycles": 1000.0, "stall_cycles": 1000.0 * stall_share, "utilization": util,
            "latency_s": latency_s if latency_s is not None else energy_pj * 1e-9}


def dense(**kw):
    return row("dense", 1000.0, ratio=0.0, macs=4e6, status="dense", **kw)


def test_structured_winner_blamed_on_index_overhead_only_from_the_numbers():
    rows = [dense(), row("nonstructured", 300.0, util=0.05, overhead=0.8, dram_share=0.3),
            row("filter", 100.0, util=0.2, dram_share=0.5)]
    (v,) = make_verdicts(rows, 0.05)
    assert v["winner"] == "filter" and v["decisive"] == "on_chip_per_mac"
    assert "non-structured costs 3.00x the best structured" in v["text"]
    assert "80% of non-structured's stored bits are index/padding/pointers" in v["text"]
    assert v["factors"]["nonstructured"]["storage_overhead_share"] == pytest.approx(0.8)
    assert sum(v["split_log"].values()) == pytest.approx(math.log(3.0))


def test_work_decides_when_the_winner_keeps_fewer_macs():
    rows = [dense(), row("nonstructured", 100.0, macs=1e6, ratio=0.9, overhead=0.6, util=0.3),
            row("filter", 250.0, macs=2.5e6, ratio=0.7, util=0.2)]
    (v,) = make_verdicts(rows, 0.05)
    assert v["winner"] == "nonstructured" and v["decisive"] == "work"
    assert "work done decides: non-structured keeps 2.50x fewer useful MACs" in v["text"]
    assert "index" not in v["text"]


@FAST
@given(st.floats(10, 1000), st.floats(10, 1000), st.floats(0.01, 1), st.floats(0.01, 1), st.floats(0, 0.9),
       st.floats(0, 0.9), st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.floats(1e5, 1e7), st.floats(1e5, 1e7))
def test_index_overhead_is_never_blamed_when_nonstructured_wins_or_has_higher_utilization(
        e_ns, e_s, u_ns, u_s, o_ns, o_s, d_ns, d_s, m_ns, m_s):
    rows = [dense(), row("nonstructured", e_ns, util=u_ns, overhead=o_ns, dram_share=d_ns, macs=m_ns),
            row("block", e_s, util=u_s, overhead=o_s, dram_share=d_s, macs=m_s)]
    (v,) = make_verdicts(rows, 0.05)
    if v["winner"] == "nonstructured" or u_ns > u_s or e_ns <= e_s:
        assert "index" not in v["text"]
    if v.get("split_log"):
        assert sum(v["split_log"].values()) == pytest.approx(math.log(max(e_ns, e_s) / min(e_ns, e_s)))


def test_small_differences_are_ties():
    rows = [dense(), row("nonstructured", 102.0), row("filter", 100.0), row("channel", 150.0)]
    (v,) = make_verdicts(rows, 0.05)
    assert v["text"].startswith("On acc, filter and non-structured tie on energy (within 5%; 10.00x less than dense)")
    assert "tie (within 5%: 1.02x)" in v["text"] and "Why" not in v["text"]
    assert v["tied"] == ["filter", "nonstructured"]


def test_a_test_loss_over_the_tolerance_is_flagged_never_disqualified():
    rows = [dense(), row("nonstructured", 300.0), row("filter", 200.0),
            row("block", 50.0, test_loss_pp=1.67, test_over_tolerance=True, test_loss_ci_low_pp=0.2,
                test_loss_ci_high_pp=3.1)]
    (v,) = make_verdicts(rows, 0.05)
    assert v["winner"] == "block"   # test is not a gate: the cheapest matched model wins
    assert ("Flag: block's test loss is +1.67 pp vs dense, 95% interval [+0.20, +3.10], over the tolerance "
            "(matched on validation; test is reported, not a gate)") in v["text"]
    assert len(v["flags"]) == 1


def test_nonstructured_over_the_tolerance_on_test_is_compared_with_its_flag():
    rows = [dense(), row("nonstructured", 80.0, test_loss_pp=1.11, test_over_tolerance=True, util=0.3),
            row("filter", 100.0), row("channel", 300.0, test_loss_pp=2.0, test_over_tolerance=True)]
    (v,) = make_verdicts(rows, 0.05)
    assert v["winner"] == "nonstructured" and v["pair"]["winner"] == "nonstructured"
    assert ("non-structured is 1.25x cheaper than the best structured (filter 0.8 (5.0x) vs non-structured 0.8 "
            "(5.0x))") in v["text"]
    assert v["flags"] == ["Flag: non-structured's test loss is +1.11 pp vs dense, over the tolerance (matched on "
                          "validation; test is reported, not a gate)"]   # channel is not in the line: no flag


def test_measured_platforms_get_a_verdict_without_hardware_factors():
    rows = [dense(kind="cpu", latency_s=1e-3), row("nonstructured", 1, kind="cpu", latency_s=2e-3),
            row("filter", 1, kind="cpu", latency_s=5e-4)]
    (v,) = make_verdicts(rows, 0.05)
    assert v["metric"] == "latency" and "Why" not in v["text"] and "factors" not in v
    assert "Measured latency, no hardware factors" in v["text"]
    assert "non-structured costs 4.00x the best structured (filter" in v["text"]


@FAST
@given(st.lists(st.floats(0.01, 100), min_size=2, max_size=2), st.lists(st.floats(0.01, 100), min_size=2, max_size=2))
def test_log_split_is_exact(a, b):
    parts = split_log_ratio({"x": a[0], "y": a[1]}, {"x": b[0], "y": b[1]})
    assert sum(parts.values()) == pytest.approx(math.log(sum(b) / sum(a)), abs=1e-9)


def test_cycle_split_adds_up():
    w, o = row("filter", 100.0, macs=1e6, stall_share=0.1), row("nonstructured", 300.0, macs=2e6, stall_share=0.5)
    o["cycles"] = 3000.0
    o["stall_cycles"] = 1500.0
    assert sum(cost_split(w, o, "cycles").values()) == pytest.approx(math.log(3.0))


def test_chosen_model_status_ignores_test():
    dense_test = Accuracy(358, 360)
    ok = chosen_model("filter", 0.7, "x", Accuracy(142, 143), Accuracy(356, 360), dense_test, 1.0)
    bad = chosen_model("block", 0.9, "x", Accuracy(142, 143), Accuracy(352, 360), dense_test, 1.0,
                       test_pair=PairedLoss(7, 1, 360))
    assert isinstance(ok, ChosenModel) and ok.status == "matched" and not ok.test_over_tolerance
    assert bad.status == "matched" and bad.test_over_tolerance and bad.test_loss_pp == pytest.approx(600 / 360)
    lo, hi = bad.test_loss_ci95_pp
    assert lo < 600 / 360 < hi and bad.accuracy_columns()["test_over_tolerance"] is True
    assert chosen_model("dense", 0.0, "x", Accuracy(142, 143), dense_test, dense_test, 1.0).status == "dense"


# ----------------------------------------------------------------- searches
def noisy_curve(boundary: float, amplitude: float, seed: int, slope: float = 2.0):
    """Flat at 0.99 up to ``boundary``, then falling ``slope`` per unit ratio; plus seeded uniform noise."""
    rng = np.random.default_rng(seed)
    return lambda r: 0.99 - max(0.0, r - boundary) * slope + rng.uniform(-amplitude, amplitude)


@FAST
@given(st.floats(0.02, 0.975), st.floats(0, 0.9), st.integers(0, 2**31))
def test_matched_ratio_on_noisy_curves(boundary, noise_of_tolerance, seed):
    tol, slope, bisections = 0.01, 2.0, 6
    amplitude = noise_of_tolerance * tol
    res = matched_ratio(noisy_curve(boundary, amplitude, seed, slope), PointRule(0.99, tol), ladder=(0.5, 0.75, 0.9),
                        bisections=bisections)
    edge = boundary + tol / slope  # the clean loss reaches the tolerance here
    assert 0.99 - res.accuracy <= tol + 1e-12
    assert all(res.ratio < p.ratio for p in res.points if not p.within)  # never above a probed failure
    gap = 0.5 if edge < 0.5 + amplitude / slope else 0.25   # the lowest rung may fail: bisection on (0, 0.5)
    assert abs(res.ratio - edge) <= amplitude / slope + gap / 2**bisections + 1e-9


def evaluator(accuracies: list[float]):
    """An arbitrary (noisy, non-monotone) evaluator: the k-th call returns accuracies[k]."""
    calls = []

    def evaluate(scale):
        calls.append(scale)
        return accuracies[len(calls) - 1]
    return evaluate, calls


@FAST
@given(st.lists(st.floats(0.5, 1.0), min_size=8, max_size=8), st.integers(1, 6))
def test_scale_search_never_returns_a_mix_outside_the_tolerance(accuracies, max_probes):
    evaluate, calls = evaluator(accuracies)
    res = scale_search(evaluate, PointRule(0.95, 0.01), max_probes=max_probes)
    assert len(calls) == len(res.points) <= max_probes and calls[0] == 1.0
    if res.scale is None:
        assert res.accuracy is None and not any(p.within for p in res.points)
    else:
        assert 0 < res.scale <= 1 and 0.95 - res.accuracy <= 0.01 + 1e-12
        assert all(res.scale < p.ratio for p in res.points if not p.within)


@FAST
@given(st.floats(0.05, 1.5), st.floats(0, 0.9), st.integers(0, 2**31))
def test_scale_search_brackets_the_boundary_of_a_monotone_noisy_curve(boundary, noise_of_tolerance, seed):
    tol, slope = 0.01, 0.2
    amplitude = noise_of_tolerance * tol
    res = scale_search(noisy_curve(boundary, amplitude, seed, slope), PointRule(0.99, tol), max_probes=4)
    edge = boundary + tol / slope
    if edge >= 1 + amplitude / slope:
        assert res.scale == 1.0
    elif res.scale is not None:
        assert res.scale <= edge + amplitude / slope + 1e-9
        assert res.scale >= edge - amplitude / slope - 1 / 2**3 - 1e-9


def test_report_says_when_no_mix_meets_the_tolerance():
    hil = {"preset": "eie_like", "per_layer": {"conv1": "filter"}, "max_probes": 2, "best_single": "filter",
           "best_single_energy_pj": 2e6, "chosen": None, "note": "no mix within tolerance",
           "trail": [{"scale": s, "layers": {"conv1": f"filter {0.7 * s:.3f}"},
                      "val": Accuracy(120, 143).to_dict(), "within": False} for s in (1.0, 0.5)]}
    text = "\n".join(_hil(hil, {"config": {"tolerance_pp": 1.0}, "structures": {"filter": {"ratio": 0.7}}}))
    assert "**No mix within tolerance** in 2 ADMM runs, so no mix is reported; the best single structure stays " \
           "filter (2.000 uJ)." in text
    assert "| 0.5000 | conv1 filter 0.350 | 83.92% [77.0, 89.0], n=143 | - | - | no |" in text   # no loss given


def test_an_infeasible_global_ratio_counts_as_a_failure_not_a_crash(monkeypatch, tmp_path):
    """Every ladder rung passes, so the search tries the 0.99 cap, which no whole-network budget can reach."""
    from analysis import compare_search as C
    from pruning.budget import BudgetError

    def probe(ctx, structure, r, budget):
        if r >= 0.98:
            raise BudgetError(f"budget ratio={r} keeps 2 weights but ...; allowed: ratio <= 0.974")
        return tmp_path / f"{r}"

    monkeypatch.setattr(C, "prune_probe", probe)
    monkeypatch.setattr(C, "correct_on_validation", lambda cfg, d, data: np.arange(1000) % 100 != 0)  # 99%
    cfg = CompareConfig.from_dict({"ladder": [0.5, 0.9], "bisections": 2})
    lines = []
    ctx = C._Search(cfg, tmp_path, None, tmp_path, None, 0.99, 1000, 10, lines.append, False)
    res = C.search_structure(ctx, "filter", "global")
    assert res.ratio is not None and 0.9 <= res.ratio < 0.99
    assert any("infeasible" in line and "outside the tolerance" in line for line in lines)
    assert all(ok is False for r, _, ok, _ in res.points if r >= 0.98)


def test_an_infeasible_ratio_is_never_chosen_even_when_the_baseline_is_at_chance(monkeypatch, tmp_path):
    """A dense baseline within the tolerance of 0 accuracy (a one-epoch model on 4 validation images, found by
    the docs examples' run) made the infeasible cap's 0.0 'matched': compare failed with KeyError: 0.99."""
    from analysis import compare_search as C
    from pruning.budget import BudgetError

    def probe(ctx, structure, r, budget):
        if r >= 0.98:
            raise BudgetError(f"budget ratio={r} keeps 0 weights; allowed: ratio <= 0.75")
        return tmp_path / f"{r}"

    monkeypatch.setattr(C, "prune_probe", probe)
    # every model (and the infeasible probe's all-wrong stand-in) gets every one of 400 images wrong: paired loss 0
    monkeypatch.setattr(C, "correct_on_validation", lambda cfg, d, data: np.zeros(400, dtype=bool))
    cfg = CompareConfig.from_dict({"ladder": [0.5, 0.9], "bisections": 0})
    ctx = C._Search(cfg, tmp_path, None, tmp_path, None, 0.0, 400, 10, lambda s: None, False)
    res = C.search_structure(ctx, "filter", "global")
    assert res.ratio == 0.9 and res.dir == str(tmp_path / "0.9")
    assert [ok for r, _, ok, _ in res.points if r >= 0.98] == [False]


def test_a_structure_that_fits_one_layer_is_searched_once_for_both_budgets(monkeypatch, tmp_path):
    """LeNet-5 with 4x4 blocks: only fc1 takes them, so its global budget is fc1's ratio (the same runs);
    N:M is a fixed pattern.  Both are searched once and serve both budgets; every other structure twice."""
    from analysis import compare_search as C
    from analysis.compare_config import budget_independent
    from pruning.models import build_model

    model = build_model("lenet5")
    cfg = CompareConfig.from_dict({"budget": "both", "jobs": 1})
    assert [s for s in cfg.structures if budget_independent(model, s, cfg)] == ["block", "nm"]
    assert not budget_independent(model, "block", CompareConfig.from_dict({"block": [1, 1]}))
    calls = []

    def search(ctx, structure, budget):
        calls.append((structure, budget))
        return C.SearchOutcome(budget, 0.5, 0.9, (), str(tmp_path), {})

    monkeypatch.setattr(C, "search_structure", search)
    lines = []
    ctx = C._Search(cfg, tmp_path, model, tmp_path, None, 0.99, 100, 10, lines.append, False)
    searched = C.search_all(ctx)
    assert sorted(calls) == sorted([(s, "global") for s in cfg.structures]
                                   + [(s, "uniform") for s in cfg.structures if s not in ("block", "nm")])
    assert searched["uniform"]["block"].to_dict() == {**searched["global"]["block"].to_dict(), "budget": "uniform",
                                                      "shared_with": "global"}
    assert list(searched["uniform"]) == list(cfg.structures)
    assert "block, nm: the same runs under both budgets, searched once" in lines[0]


def _row(platform, structure, energy, status="matched", kind="asic"):
    return {"platform": platform, "structure": structure, "energy_pj": energy, "accuracy_status": status,
            "kind": kind, "ratio": 0.5, "compression": 2.0}


def test_the_cheapest_model_across_budgets_is_named_with_its_budget():
    from analysis.verdict import across_budgets

    rows = {"global": [_row("p", "dense", 100.0, "dense"), _row("p", "nonstructured", 60.0),
                       _row("p", "filter", 80.0), _row("q", "filter", 10.0), _row("q", "dense", 50.0, "dense"),
                       _row("cpu", "filter", 1.0, kind="cpu")],
            "uniform": [_row("p", "dense", 1.0, "dense"),            # dense counts once, under the deciding budget
                        _row("p", "filter", 20.0), _row("p", "block", 5.0, "validation only"),   # never eligible
                        _row("q", "filter", 10.4)]}
    out = {r["platform"]: r for r in across_budgets(rows, 0.05)}
    assert set(out) == {"p", "q"}                                    # measured platforms are left out
    p = out["p"]
    assert (p["deciding_winner"], p["cheapest_budget"], p["cheapest_structure"]) == ("nonstructured", "uniform",
                                                                                     "filter")
    assert p["factor"] == pytest.approx(3.0) and not p["tie"]
    q = out["q"]
    assert (q["cheapest_budget"], q["cheapest_structure"], q["factor"], q["tie"]) == ("global", "filter", 1.0, True)


def _verdict_row(structure, ratio, macs, energy, clock, utilization):
    return {"structure": structure, "ratio": ratio, "compression": 1 / (1 - ratio), "macs_useful": macs,
            "storage_bits": 1000, "storage_index_bits": 0, "storage_padding_bits": 0, "storage_pointer_bits": 0,
            "utilization": utilization, "energy_pj": energy, "energy_dram_pj": 0.1 * energy, "stall_cycles": 0,
            "cycles": 100, "energy_clock_pj": clock, "accuracy_status": "matched"}


def test_an_on_chip_verdict_names_the_clock_networks_share():
    """Where the hardware prices a clock network (per cycle), the on-chip reason says how much of each model's
    energy it is; hardware without one gets no clause."""
    from analysis.verdict import explain

    win = _verdict_row("filter", 0.9, 1000, 100.0, 30.0, 0.3)
    other = _verdict_row("nonstructured", 0.95, 500, 150.0, 90.0, 0.05)
    split = {"work": -0.69, "dram_per_mac": 0.1, "on_chip_per_mac": 1.0}
    decisive, text = explain(win, other, split)
    assert decisive == "on_chip_per_mac"
    assert "the clock network (per cycle) is 60% of its energy vs 30%" in text
    no_clock = explain({**win, "energy_clock_pj": 0.0}, {**other, "energy_clock_pj": float("nan")}, split)[1]
    assert "clock" not in no_clock


def test_a_resumed_compare_with_other_training_settings_is_refused(tmp_path):
    """Cached runs are keyed by structure, ratio and budget only: resuming with other training settings would reuse
    them as if made with the new ones, so compare refuses naming the fields; selection/pricing fields are fine."""
    import json

    from analysis.compare_stages import check_resume
    from analysis.compare_config import CompareConfig, CompareError

    out = tmp_path / "c"
    (out / "configs").mkdir(parents=True)
    (out / "runs").mkdir()
    old = CompareConfig.of(admm_rounds=4, bits=8)
    (out / "configs" / "compare.json").write_text(json.dumps(old.to_dict()))
    check_resume(out, CompareConfig.of(admm_rounds=4, bits=8, tolerance_pp=0.5, presets=("tpu_like",), jobs=2))
    with pytest.raises(CompareError, match=r"bits: 8 -> 4; admm_rounds: 4 -> 2"):
        check_resume(out, CompareConfig.of(admm_rounds=2, bits=4))
    (out / "configs" / "compare.json").write_text("{not json")
    with pytest.raises(CompareError, match="unreadable"):
        check_resume(out, old)


def test_the_runs_time_counts_every_cached_run_once(tmp_path):
    """A resumed report says what the pruning runs cost in all, not only the resumed invocation's wall time."""
    import json

    from analysis.compare_summary import runs_seconds

    for name, timings in (("dense", {"pretrain": 100.0, "total_this_process": 100.0}),
                          ("nm_nm", {"admm": 30.0, "retrain": 20.0, "total_this_process": 5.0})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"timings_s": timings}))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{")
    assert runs_seconds(tmp_path) == 150.0


def test_no_winner_is_declared_on_untrusted_timings():
    """Finding 4 of issue 25: a boxed '0.76*?' on a loaded CPU. The order is shown, never declared."""
    from analysis.verdict import short_verdict

    rows = [dense(kind="cpu", platform="cpu (2 threads)", latency_s=2e-3),
            row("filter", 1.0, kind="cpu", platform="cpu (2 threads)", latency_s=1e-3)]
    rows[1]["timing_trusted"], rows[1]["timing_note"] = False, "IQR 35% of the median"
    (v,) = make_verdicts(rows, 0.05)
    assert v["declared"] is False and "wins" not in v["text"].split(".")[0]
    assert v["text"].startswith("On cpu (2 threads), no winner is declared (untrusted timings; as timed, filter")
    assert short_verdict(v) == "cpu (2 threads) filter? (untrusted, no winner)"
    rows[1]["timing_trusted"] = True
    (v,) = make_verdicts(rows, 0.05)
    assert v["declared"] is True and short_verdict(v) == "cpu (2 threads) filter"


def test_the_headline_ratio_vs_dense_is_explained_by_its_parts():
    """Finding 7 of issue 25: 'Nx less than dense' with no parts. The exact split multiplies back to it."""
    rows = [dense(), row("nonstructured", 300.0, util=0.05), row("filter", 100.0, macs=1e6, dram_share=0.25)]
    (v,) = make_verdicts(rows, 0.05)
    assert "10.00x less than dense" in v["text"]
    m = re.search(r"Versus dense: the 10.00x splits as ([\d.]+) \(work\) x ([\d.]+) \(DRAM per MAC\) x "
                  r"([\d.]+) \(on-chip per MAC\)", v["text"])
    assert m and math.prod(float(x) for x in m.groups()) == pytest.approx(10.0, rel=0.01)
    assert float(m.group(1)) == pytest.approx(4.0)   # dense does 4e6 useful MACs, filter 1e6
