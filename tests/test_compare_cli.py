"""compare's checks before any training, --quiet summaries, and one sign convention for accuracy loss."""

import time
from pathlib import Path

import pytest
import yaml

from analysis import compare
from sparsecodesign.cli import compare_line, main, prune_line
from analysis import compare_stages, compare_summary
from analysis.compare_search import SearchOutcome
from analysis.compare_summary import structure_summary
from analysis.compare_config import CompareConfig, CompareError, preflight
from analysis.report import _beside, _hil, _matched, _results, matched_line
from analysis.report_data import chosen_model
from analysis.search import loss_pp
from analysis.stats import Accuracy
from analysis.verdict import make_verdicts
from pruning.pipeline import PruneResult


def int4_yaml(tmp_path: Path, name="my_int4", widths=(4,)) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump({"name": name, "pe": {"rows": 16, "cols": 16, "weight_bits": list(widths)}}))
    return p


@pytest.fixture
def no_data(monkeypatch):
    """Reading data (the first step after the checks) fails the test: every refusal must come before it."""
    def refuse(*a, **k):
        raise AssertionError("data were loaded before the pre-flight check")
    monkeypatch.setattr(compare_stages, "load_dataset", refuse)


# ------------------------------------------------------------------ pre-flight
@pytest.mark.parametrize("argv, field", [
    (["--presets", "{hw}"], "bits=8 does not fit preset"),                       # int4 array, default 8 bits
    (["--bits", "8", "--presets", "tpu_like,{hw}"], "bits=8 does not fit preset"),
    (["--bits", "4", "--presets", "{hw}", "--config", "{be}"], "breakeven_bits=[4, 8] does not fit preset"),
    (["--bits", "4", "--config", "{be8}"], "breakeven_bits=[8] leaves out bits=4"),
    (["--presets", "{missing}"], "not found"),
])
def test_bad_bits_and_hardware_fail_within_5_s_in_one_line_before_data(tmp_path, capsys, no_data, argv, field):
    hw = int4_yaml(tmp_path)
    (tmp_path / "be.yaml").write_text("breakeven_bits: [4, 8]\n")
    (tmp_path / "be8.yaml").write_text("breakeven_bits: [8]\n")
    fill = {"hw": hw, "be": tmp_path / "be.yaml", "be8": tmp_path / "be8.yaml", "missing": tmp_path / "nope.yaml"}
    t0 = time.perf_counter()
    rc = main(["compare", "--out", str(tmp_path / "out"), *(a.format(**fill) for a in argv)])
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("sparsesim compare: error: "), err
    assert field in err[0]
    if "fit" in field:   # names the file and what is allowed
        assert str(hw) in err[0] and "allowed: " in err[0] and "1..4 or 32" in err[0]
    assert not (tmp_path / "out").exists()


def test_preflight_accepts_a_fitting_combination_and_says_the_break_even_widths(tmp_path):
    hw = int4_yaml(tmp_path, widths=(2, 4))
    lines = []
    accs = preflight(CompareConfig(bits=4, presets=(str(hw), "eie_like")), lines.append)
    assert [a.name for a in accs] == ["my_int4", "eie_like"]
    assert any("break-even curves at 4 bits" in line for line in lines)
    assert preflight(CompareConfig(bits=32, presets=(str(hw),)), lambda s: None)   # float: priced at 4 bits


@pytest.mark.parametrize("bits", [1, 4, 8, 16, 32])
def test_breakeven_bits_follows_bits_unless_given_and_must_hold_them(bits):
    assert CompareConfig(bits=bits).breakeven_bits == (bits,)
    assert CompareConfig(bits=bits, breakeven_bits=[bits, 2]).breakeven_bits == (bits, 2)
    other = 3 if bits != 3 else 5
    with pytest.raises(CompareError, match=rf"breakeven_bits=\[{other}\] leaves out bits={bits}; allowed: "):
        CompareConfig(bits=bits, breakeven_bits=other)


def test_preflight_refuses_two_platforms_of_one_name(tmp_path):
    hw = int4_yaml(tmp_path, name="eie_like")
    with pytest.raises(CompareError, match="two platforms named 'eie_like'"):
        preflight(CompareConfig(bits=4, presets=("eie_like", str(hw))), lambda s: None)


# ---------------------------------------------------------------------- --quiet
SUMMARY = {"verdicts": [{"platform": "eie_like", "winner": "nonstructured", "tied": ["nonstructured"]},
                        {"platform": "tpu_like", "winner": "filter", "tied": ["filter", "channel"]}]}


def test_compare_quiet_prints_one_line_with_the_report_path_and_winners(tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_run(cfg, out, log, progress):
        seen["progress"] = progress
        log("a progress line")
        return SUMMARY
    monkeypatch.setattr(compare, "run_compare", fake_run)
    assert main(["compare", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"compare: {tmp_path / 'report.md'}; winners: eie_like non-structured, tpu_like filter=channel"]
    assert seen["progress"] is False
    assert main(["compare", "--out", str(tmp_path)]) == 0   # without --quiet: the log and bars
    lines = capsys.readouterr().out.splitlines()   # the threads line, then the log
    assert lines[0].startswith("[plan] ") and "torch thread(s)" in lines[0]
    assert lines[1:] == ["a progress line"] and seen["progress"] is True


def test_prune_quiet_line_names_artifact_compression_accuracy_and_loss(tmp_path, capsys, monkeypatch):
    res = PruneResult(tmp_path / "art", 0.98, 0.95, 12.5, {})
    monkeypatch.setattr("pruning.pipeline.run_prune", lambda *a, **k: res)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pretrain_epochs: 0\n")
    assert main(["prune", "--dataset", "digits", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [prune_line(res)]
    assert prune_line(res) == (f"prune: {tmp_path / 'art'}: 12.5x fewer weights (nominal: weights / nonzeros, no "
                               "index bits), accuracy 95.00% (dense 98.00%, loss +3.00 pp)")
    assert "winners: none matched" in compare_line({"verdicts": []}, tmp_path)


# ------------------------------------------------------------- sign convention
def worse_than_dense_summary(tmp_path):
    """A summary built by the real functions: dense 98%, filter 95% on test (90% on validation): 3 pp worse."""
    dense_val, dense_test = Accuracy.from_fraction(0.98, 200), Accuracy.from_fraction(0.98, 400)
    val, test = Accuracy.from_fraction(0.90, 200), Accuracy.from_fraction(0.95, 400)
    dense = chosen_model("dense", 0.0, tmp_path, dense_val, dense_test, dense_test, 1.0, dense_val)
    filt = chosen_model("filter", 0.9, tmp_path, val, test, dense_test, 1.0, dense_val)
    return dense, filt


def test_a_model_worse_than_dense_has_a_positive_loss_everywhere(tmp_path, monkeypatch):
    dense, filt = worse_than_dense_summary(tmp_path)
    assert loss_pp(0.98, 0.95) == pytest.approx(3.0) and loss_pp(0.95, 0.98) < 0
    assert (filt.status, filt.test_loss_pp, filt.val_loss_pp) == ("matched", pytest.approx(3.0), pytest.approx(8.0))
    assert filt.test_over_tolerance   # flagged, never a gate
    cols = filt.accuracy_columns()   # results.csv columns
    assert cols["test_loss_pp"] > 0 and cols["val_loss_pp"] > 0
    monkeypatch.setattr(compare_summary, "layer_ratios", lambda p: {"fc1": 0.9})
    monkeypatch.setattr(compare_summary, "read_manifest", lambda p: {"totals": {"compression": 10.0}})
    result = SearchOutcome("global", 0.9, 0.90, ((0.9, 0.90, False, 0.11),), "x", {})
    s = structure_summary(result, filt, 200, dense.val.fraction)   # summary.json entry
    assert s["test_loss_pp"] > 0 and s["val_loss_pp"] > 0 and s["points"][0]["val_loss_pp"] == pytest.approx(8.0)
    summary = {"structures": {"filter": s}, "baseline_val": dense.val.to_dict(), "baseline_test": dense.test.to_dict(),
               "budget": "global"}
    text = "\n".join(_matched(summary) + _results([], summary["structures"]))
    assert "+8.00" in text and "+3.00" in text and "test loss +3.00 pp" in text
    assert "-3.00" not in text and "-8.00" not in text and "below dense" not in text
    hil = {"preset": "eie_like", "max_probes": 1, "per_layer": {"fc1": "filter"}, "best_single": "filter",
           "best_single_energy_pj": 1e6,
           "trail": [{"scale": 1.0, "layers": {"fc1": "filter 0.900"}, "val": filt.val.to_dict(), "val_loss_pp": 8.0,
                      "within": False}],
           "chosen": {"scale": 1.0, "energy_pj": 1e6, "val": filt.val.to_dict(), "test": filt.test.to_dict(),
                      "status": "matched", "test_loss_pp": filt.test_loss_pp, "test_over_tolerance": True}}
    hil_text = "\n".join(_hil(hil, {**summary, "config": {"tolerance_pp": 1.0}}))
    assert "test loss +3.00 pp" in hil_text and "| +8.00 |" in hil_text
    assert "| fc1 | filter | 0.9 (10.0x) |" in hil_text   # the structure's ratio with its compression
    row = {"structure": "filter", "platform": "p", "kind": "asic", "engine": "e", "ratio": 0.9, "compression": 10.0,
           "accuracy_status": filt.status, "test_loss_pp": filt.test_loss_pp, "test_over_tolerance": True,
           "energy_pj": 1.0, "latency_s": 1.0,
           "storage_bits": 1.0, "storage_index_bits": 0.0, "storage_padding_bits": 0.0, "storage_pointer_bits": 0.0,
           "macs_useful": 1.0, "energy_dram_pj": 0.5, "cycles": 1.0, "stall_cycles": 0.0, "utilization": 1.0}
    dense_row = {**row, "structure": "dense", "ratio": 0.0, "compression": 1.0, "accuracy_status": "dense",
                 "test_loss_pp": 0.0, "energy_pj": 2.0}
    (v,) = make_verdicts([dense_row, row], 0.05)
    assert "test loss is +3.00 pp vs dense" in v["text"]


def test_report_names_each_ratio_with_its_structure_and_compression():
    acc = {"val": None, "test": None}
    structures = {"nonstructured": {"ratio": 0.97, "compression": 33.3, "status": "matched", **acc},
                  "filter": {"ratio": 0.925, "compression": 11.9, "status": "matched", **acc},
                  "channel": {"ratio": None, "compression": None, "status": "not matched", **acc}}
    assert matched_line(structures) == ("Matched ratios (compression): non-structured 0.97 (33.3x), filter 0.925 "
                                        "(11.9x); no ratio within the tolerance: channel.")
    other = {"budget": "uniform", "structures": {**structures, "filter": {**structures["filter"], "ratio": 0.75,
                                                                          "compression": 3.9}}, "verdicts": []}
    text = "\n".join(_beside({"budget": "global", "structures": structures, "baseline_val": None,
                              "baseline_test": None}, other))
    assert "| filter | 0.925 (11.9x) | 0.75 (3.9x) |" in text


def test_the_quiet_line_keeps_the_untrusted_mark(tmp_path):
    summary = {"verdicts": [{"platform": "eie_like", "winner": "nonstructured"},
                            {"platform": "cpu (2 threads)", "winner": "channel", "declared": False}]}
    assert compare_line(summary, tmp_path).endswith(
        "winners: eie_like non-structured, cpu (2 threads) channel? (untrusted, no winner)")


def test_quick_sets_first_look_defaults_that_a_config_or_flag_still_overrides(tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_run(cfg, out, log, progress):
        seen["cfg"] = cfg
        return SUMMARY
    monkeypatch.setattr(compare, "run_compare", fake_run)
    assert main(["compare", "--out", str(tmp_path / "q"), "--quick"]) == 0
    cfg = seen["cfg"]
    assert (cfg.bisections, cfg.recipe.admm.rounds, cfg.recipe.retrain_epochs, cfg.measure_cpu, cfg.hil_preset) == \
        (0, 2, 3, False, None)
    assert "--quick: a first look" in capsys.readouterr().out
    conf = tmp_path / "c.yaml"
    conf.write_text("admm_rounds: 4\n")
    assert main(["compare", "--out", str(tmp_path / "r"), "--quick", "--config", str(conf)]) == 0
    assert seen["cfg"].recipe.admm.rounds == 4 and seen["cfg"].bisections == 0


def test_the_plan_counts_the_most_probes_and_epochs():
    from analysis.compare_stages import time_estimate
    from analysis.compare_config import CompareConfig, training_budget

    cfg = CompareConfig.of(structures=("nonstructured", "nm"), ladder=(0.5, 0.75), bisections=1, admm_rounds=2,
                        epochs_per_round=1, retrain_epochs=3, pretrain_epochs=10, hil_probes=2, budget="both")
    # nonstructured: (2 rungs + cap + 1 bisection) x 2 budgets = 8; nm: 1; hil: 2  -> 11 probes x 5 epochs + 10
    assert training_budget(cfg) == (11, 65)
    assert "2.0 s per epoch" in time_estimate(cfg, {"timings_s": {"pretrain": 20.0}})
    assert "about 1.8 min" in time_estimate(cfg, {"timings_s": {"pretrain": 20.0}})
    assert "no time estimate" in time_estimate(cfg, {"timings_s": {}})
