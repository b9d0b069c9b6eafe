"""compare's cost budget on a small model, against the cheapest allocation of an exhaustive grid.

Probes here are one-shot (no ADMM rounds, no retraining: the hard prune of the dense weights with the budget's
allocation), so every per-layer allocation can be judged the same way: the grid prunes each of the 4 layers of
the digits CNN to each of 3 ratios (81 models), keeps those compare's paired rule matches on validation, and prices them
on eie_like on their real patterns.  The cost-aware search must reach at least the grid's cheapest matched model,
and beat the weight-counting (global) and uniform searches on that platform."""

import itertools

import numpy as np
import pytest
import torch

from analysis.compare import run_compare
from analysis.compare_config import CompareConfig, split_validation
from accel_models.hardware import load_accelerator
from pruning.constraint import Constraint
from pruning.data import load_dataset
from pruning.structures import Structure
from analysis.correctness import per_image_correct
from analysis.search import PairedRule
from pruning.user_model import load_artifact_as
from sparsesim.analytical import evaluate as simulate
from sparsesim.workload import from_model

GRID = (0.0, 0.6, 0.9)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    cfg = CompareConfig.of(structures=("nonstructured",), presets=("eie_like", "tpu_like"), bits=32, ladder=(0.5, 0.8),
                        bisections=2, pretrain_epochs=3, admm_rounds=0, retrain_epochs=0, measure_cpu=False,
                        hil_preset=None, budget="all", calibrate_images=64)
    out = tmp_path_factory.mktemp("cost") / "c"
    return cfg, out, run_compare(cfg, out, log=lambda s: None)


def energy(summary_rows, platform, structure="nonstructured"):
    return next(r["energy_pj"] for r in summary_rows if r["platform"] == platform and r["structure"] == structure)


def test_cost_budget_reaches_the_cheapest_matched_allocation_of_a_grid(compared):
    cfg, out, summary = compared
    data = load_dataset("digits")
    search, _ = split_validation(data, cfg.validation_fraction, cfg.seed)
    art = load_artifact_as(out / "runs" / "dense", cfg.model)
    model, shape = art.model, art.manifest["model"]["input_shape"]
    rule = PairedRule(per_image_correct(model, search.test_x, search.test_y), cfg.tolerance_pp / 100)
    layers = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    modules = dict(model.named_modules())
    dense = {n: modules[n].weight.detach().clone() for n in layers}
    eie = load_accelerator("eie_like")
    calibration = search.test_x[: cfg.calibrate_images]
    best = np.inf
    for ratios in itertools.product(GRID, repeat=len(layers)):
        with torch.no_grad():
            for n, r in zip(layers, ratios):
                modules[n].weight.copy_(Constraint(Structure("nonstructured", r)).project(dense[n])[0] if r else dense[n])
        if not rule.judge(per_image_correct(model, search.test_x, search.test_y))[1]:
            continue   # not non-inferior on validation: compare's own rule (analysis.search.PairedRule)
        ws = from_model(model, torch.zeros(1, *shape), batch=cfg.batch, weight_bits=32, calibration=calibration)
        best = min(best, simulate(ws, [eie]).totals()["eie_like"].energy_pj)
    ours = energy(summary["cost_rule"]["rows"], "eie_like")
    assert np.isfinite(best)
    # the cost search's own model, not one another rule found (the cost rule keeps the cheapest of all)
    assert next(r["found_by"] for r in summary["cost_rule"]["rows"]
                if r["platform"] == "eie_like" and r["structure"] == "nonstructured") == "cost"
    assert ours <= best * 1.02, (ours, best)
    # and at least as cheap as what the weight-counting and uniform searches found on this platform (the search
    # itself beat them: found_by is "cost" above)
    uniform = next(b for b in summary["beside"] if b["budget"] == "uniform")
    assert ours <= energy(summary["rows"], "eie_like") * 1.0001
    assert ours <= energy(uniform["rows"], "eie_like") * 1.0001


def test_every_rule_table_and_report(compared):
    cfg, out, summary = compared
    rules = summary["rules"]
    assert rules["rules"] == ["uniform", "global", "cost"] and not rules["missing"]
    assert {t["platform"] for t in rules["table"]} == {"eie_like", "tpu_like"}
    report = (out / "report.md").read_text()
    assert "## The verdict under every budget rule" in report and "## Cost-aware searches" in report
    csv_head = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert "budget" in csv_head


# ---------------------------------------------------------------- config and the rules table (fast)
from analysis.compare_config import CompareError, budget_modes, training_budget  # noqa: E402
from analysis.verdict import every_rule  # noqa: E402


@pytest.mark.parametrize("budget, modes", [("global", ("global",)), ("uniform", ("uniform",)),
                                           ("cost", ("global", "cost")), ("both", ("global", "uniform")),
                                           ("all", ("global", "uniform", "cost"))])
def test_budget_modes(budget, modes):
    assert budget_modes(CompareConfig(budget=budget)) == modes


def test_cost_options_are_checked_and_refused_where_they_do_nothing():
    with pytest.raises(CompareError, match="cost_metric='power'; allowed: energy, latency, edp"):
        CompareConfig(budget="cost", cost_metric="power")
    with pytest.raises(CompareError, match="cost_presets has 'tpu_like'; allowed: entries of presets"):
        CompareConfig(budget="all", presets=("eie_like",), cost_presets=["tpu_like"])
    with pytest.raises(CompareError, match="cost_metric='latency' has no effect with budget='global'"):
        CompareConfig(cost_metric="latency")
    with pytest.raises(CompareError, match="cost_presets=.* has no effect with budget='both'"):
        CompareConfig(budget="both", cost_presets=["eie_like"])
    assert CompareConfig(budget="cost", cost_presets="eie_like").cost_presets == ("eie_like",)


def test_training_budget_counts_a_cost_search_per_platform():
    base = dict(structures=("nonstructured", "nm"), ladder=(0.5, 0.75), bisections=1, admm_rounds=1,
                epochs_per_round=1, retrain_epochs=1, pretrain_epochs=2, hil_preset=None,
                presets=("eie_like", "tpu_like", "scnn_like"))
    weight = training_budget(CompareConfig.of(**base, budget="global"))[0]          # nonstructured 4, nm 1
    cost = training_budget(CompareConfig.of(**base, budget="cost"))[0]
    assert (weight, cost) == (5, 5 + 3 * (3 + 1 + 1))
    assert training_budget(CompareConfig.of(**base, budget="cost", cost_presets=["eie_like"]))[0] == 5 + 5


def _row(platform, structure, energy, status="matched", ratio=0.5, compression=2.0):
    return {"platform": platform, "kind": "asic", "structure": structure, "energy_pj": energy, "cycles": energy,
            "latency_s": energy, "accuracy_status": status, "ratio": ratio, "compression": compression,
            "macs_useful": 100.0, "energy_dram_pj": energy / 2, "stall_cycles": 0.0, "storage_bits": 10,
            "storage_index_bits": 1, "storage_padding_bits": 0, "storage_pointer_bits": 0, "utilization": 0.5,
            "energy_clock_pj": 0.0, "unvalidated": ""}


def test_every_rule_says_what_holds_and_what_flips_with_the_numbers():
    dense = [_row(p, "dense", 100.0, "dense", 0.0, 1.0) for p in ("a", "b")]
    rules = {"uniform": dense + [_row("a", "nonstructured", 40.0), _row("a", "filter", 60.0),
                                 _row("b", "nonstructured", 70.0), _row("b", "filter", 50.0)],
             "global": dense + [_row("a", "nonstructured", 30.0, ratio=0.9, compression=10.0),
                                _row("a", "filter", 60.0), _row("b", "nonstructured", 45.0), _row("b", "filter", 50.0)]}
    out = every_rule(rules, 0.05)
    assert out["rules"] == ["uniform", "global"] and out["missing"] == ["cost"]
    by = {t["platform"]: t for t in out["table"]}
    assert by["a"]["answer_holds"] and by["a"]["winner_holds"]
    assert not by["b"]["answer_holds"]
    assert by["b"]["cells"]["uniform"]["answer"] == "structured"
    assert by["b"]["cells"]["global"]["answer"] == "non-structured"
    assert by["b"]["cells"]["uniform"]["ns_over_structured"] == pytest.approx(1.4)
    assert len(out["flips"]) == 1 and "On b the answer flips" in out["flips"][0] and "1.40x" in out["flips"][0]
    assert "holds on 1 of 2 platforms" in out["summary"]


def test_a_platform_the_cost_rule_did_not_search_is_said_and_left_out_of_holds():
    dense = [_row(p, "dense", 100.0, "dense", 0.0, 1.0) for p in ("a", "b")]
    rules = {"global": dense + [_row("a", "nonstructured", 30.0), _row("a", "filter", 60.0),
                                _row("b", "nonstructured", 45.0), _row("b", "filter", 50.0)],
             "cost": [_row("a", "dense", 100.0, "dense", 0.0, 1.0), _row("a", "nonstructured", 20.0),
                      _row("a", "filter", 40.0)]}
    by = {t["platform"]: t for t in every_rule(rules, 0.05)["table"]}
    assert by["b"]["cells"]["cost"] == {"not_searched": True}
    assert by["b"]["answer_holds"] and by["a"]["answer_holds"]


def test_the_cost_rule_keeps_the_cheapest_matched_allocation_any_search_found():
    from analysis.compare_stages import cheapest_allocations
    from analysis.report_data import PricedRow

    def row(*a, **k):
        return PricedRow(**_row(*a), **k)

    cost = [row("a", "dense", 100.0, "dense", 0.0, 1.0), row("a", "filter", 60.0, found_by="cost"),
            row("a", "nonstructured", 30.0, found_by="cost")]
    other = {"global": [row("a", "filter", 50.0), row("a", "nonstructured", 35.0), row("b", "filter", 1.0)],
             "uniform": [row("a", "filter", 55.0), row("a", "column", 70.0)]}
    out = {r.structure: r.as_row() for r in cheapest_allocations(cost, other, "energy")}
    assert out["filter"]["energy_pj"] == 50.0 and out["filter"]["found_by"] == "global"
    assert out["nonstructured"]["found_by"] == "cost"
    assert out["column"]["found_by"] == "uniform" and out["column"]["budget"] == "cost"
    assert all(r["platform"] == "a" for r in out.values())   # b has no cost search


def test_one_rule_claims_nothing_holds_across_rules():
    from analysis.report_rules import every_rule_section

    dense = [_row("a", "dense", 100.0, "dense", 0.0, 1.0)]
    out = every_rule({"global": dense + [_row("a", "nonstructured", 30.0), _row("a", "filter", 60.0)]}, 0.05)
    assert out["summary"].startswith("Only the global rule was searched")
    text = "\n".join(every_rule_section({"rules": out}))
    assert "answer holds" not in text and "Not searched in this run: uniform, cost" in text
