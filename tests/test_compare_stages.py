"""compare as typed stages: each option checked once (the same line from a flag, a --config YAML and the API), the
training recipe embedded from pruning.config (old flat configs still read and resume), the typed hand-offs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

import sparsecodesign as sc
from analysis.compare_config import RECIPE_KEYS, CompareConfig, CompareError, Recipe, flat_fields, prune_config
from analysis.compare_search import SearchOutcome
from analysis.report_data import MEASURED_ROW_KEYS, ROW_KEYS, SIM_ROW_KEYS, PricedRow
from pruning.config import ADMMConfig, PruneConfig, TrainConfig
from sparsecodesign.cli import main

# (flag, its text, the config field, the value the YAML / API gives)
BAD_FLAGS = [
    ("--bits", "20", "bits", 20), ("--bits", "x", "bits", "x"), ("--tolerance", "150", "tolerance_pp", 150),
    ("--tolerance", "nan", "tolerance_pp", math.nan), ("--tie-threshold", "1.5", "tie_threshold", 1.5),
    ("--jobs", "0", "jobs", 0), ("--seed", "-1", "seed", -1), ("--budget", "layerwise", "budget", "layerwise"),
    ("--structures", "diagonal", "structures", ["diagonal"]), ("--structures", "filter,,nm", "structures",
                                                                ["filter", "", "nm"]),
    ("--presets", "tpu_like,tpu_like", "presets", ["tpu_like", "tpu_like"]),
    ("--dataset", "imagefolder", "dataset", "imagefolder"), ("--dataset", "svhn", "dataset", "svhn"),
    ("--workloads", "all", "workloads", "all"), ("--input-shape", "0,8", "input_shape", [0, 8]),
]
# fields with no flag: the --config YAML and the API's dict (the recipe's flat keys among them)
BAD_FIELDS = [("lr", -1), ("lr", 0), ("rho", 50.0), ("admm_rounds", 1.5), ("pretrain_epochs", -1),
              ("retrain_epochs", -1), ("epochs_per_round", 0), ("batch_size", 0), ("ladder", [0.9, 0.5]),
              ("bisections", 21), ("hil_probes", 0), ("validation_fraction", 0.5), ("breakeven_bits", [4])]


def _api_line(tmp_path: Path, field: str, value) -> str:
    with pytest.raises(CompareError) as e:
        sc.compare({field: value}, tmp_path / "api")
    assert "\n" not in str(e.value) and not (tmp_path / "api").exists()
    return str(e.value)


def _cli_line(tmp_path: Path, capsys, argv: list[str]) -> str:
    assert main(["compare", "--out", str(tmp_path / "cli"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not (tmp_path / "cli").exists(), err
    return err[0]


@pytest.mark.parametrize("flag, text, field, value", BAD_FLAGS)
def test_a_bad_flag_gets_the_line_its_config_field_gets(tmp_path, capsys, flag, text, field, value):
    api = _api_line(tmp_path, field, value)
    assert api.startswith(f"compare config: {field}") and "allowed" in api
    assert _cli_line(tmp_path, capsys, [flag, text]) == f"sparsesim compare: error: {api}"


@pytest.mark.parametrize("field, value", BAD_FIELDS)
def test_a_bad_config_field_gets_one_line_from_yaml_and_api(tmp_path, capsys, field, value):
    api = _api_line(tmp_path, field, value)
    assert api.startswith(f"compare config: {field}=") and "; allowed: " in api, api
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({field: value}))
    assert _cli_line(tmp_path, capsys, ["--config", str(conf)]) == f"sparsesim compare: error: {api}"


def test_the_recipe_is_checked_by_pruning_and_named_by_the_users_key():
    for key, value, allowed in (("lr", -1, "a finite number > 0"), ("admm_rounds", 10_001, "an integer >= 0 and <= "
                                "10,000"), ("rho", 50.0, "a finite number > 0 and <= 10")):
        with pytest.raises(CompareError) as e:
            CompareConfig.of(**{key: value})
        assert str(e.value).startswith(f"compare config: {key}={value}; allowed: {allowed}"), str(e.value)
    with pytest.raises(CompareError, match=r"compare config: recipe="):
        CompareConfig(recipe={"lr": 1e-3})


def test_the_recipe_is_pruning_configs_own_dataclasses():
    cfg = CompareConfig.of(pretrain_epochs=3, admm_rounds=2, epochs_per_round=2, retrain_epochs=1, lr=1e-3,
                           batch_size=32, rho=0.1)
    r = cfg.recipe
    assert isinstance(r.train, TrainConfig) and isinstance(r.admm, ADMMConfig)
    assert (r.pretrain_epochs, r.admm.rounds, r.admm.epochs_per_round, r.retrain_epochs, r.train.lr,
            r.train.batch_size, r.admm.rho) == (3, 2, 2, 1, 1e-3, 32, 0.1)
    assert r.flat() == {"pretrain_epochs": 3, "admm_rounds": 2, "epochs_per_round": 2, "retrain_epochs": 1,
                        "lr": 1e-3, "batch_size": 32, "rho": 0.1}
    assert r.probe_epochs == 2 * 2 + 1
    # a probe's pruning job carries them unchanged (the same job the flat fields made)
    job = prune_config(cfg, {})
    assert (job.pretrain_epochs, job.retrain_epochs, job.train, job.admm) == (0, 1, r.train, r.admm)
    assert prune_config(cfg, {}, pretrain=3, rounds=0).admm.rounds == 0
    assert prune_config(cfg, {}, pretrain=3, rounds=0).retrain_epochs == 0
    assert PruneConfig.from_dict(r.prune_fields()).train == r.train


def test_flat_keys_keep_working_and_to_dict_stays_flat():
    assert set(RECIPE_KEYS) <= set(flat_fields()) and "recipe" not in flat_fields()
    cfg = CompareConfig.of(lr=0.003, admm_rounds=2)
    d = cfg.to_dict()
    assert list(d) == list(flat_fields()) and d["lr"] == 0.003 and d["admm_rounds"] == 2
    assert CompareConfig.from_dict(d) == cfg
    assert CompareConfig.from_dict(json.loads(json.dumps(d))) == cfg
    with pytest.raises(CompareError, match="unknown field.*'recipe'"):
        CompareConfig.from_dict({"recipe": {}})
    for path in sorted(Path(__file__).resolve().parents[1].glob("benchmarks/compare*.yaml")):
        CompareConfig.from_dict(yaml.safe_load(path.read_text()))   # every shipped compare config reads


# configs/compare.json as the code before the recipe was embedded wrote it (seven flat recipe fields)
OLD_COMPARE_JSON = {
    "model": "digits_cnn", "input_shape": None, "dataset": "digits", "data_dir": None,
    "structures": ["nonstructured", "filter"], "bits": 8, "tolerance_pp": 1.0, "ladder": [0.5, 0.75, 0.9],
    "bisections": 2, "block": [4, 4], "nm": [2, 4], "presets": ["eie_like"], "measure_cpu": False, "batch": 8,
    "seed": 0, "act_seed": 0, "validation_fraction": 0.4, "pretrain_epochs": 15, "admm_rounds": 4,
    "epochs_per_round": 1, "retrain_epochs": 6, "lr": 0.002, "batch_size": 64, "rho": 0.05, "breakeven_bits": [8],
    "hil_preset": None, "calibrate_images": 256, "tie_threshold": 0.05, "budget": "global", "cost_metric": "energy",
    "cost_presets": None, "budget_min_keep": 0.0, "hil_probes": 4, "jobs": 1, "workloads": "traced"}


def test_a_run_directory_of_the_old_flat_config_still_resumes(tmp_path):
    from analysis.compare_stages import check_resume

    out = tmp_path / "run"
    (out / "configs").mkdir(parents=True)
    (out / "runs").mkdir()
    (out / "configs" / "compare.json").write_text(json.dumps(OLD_COMPARE_JSON))
    cfg = CompareConfig.from_dict(OLD_COMPARE_JSON)
    assert json.loads(json.dumps(cfg.to_dict())) == OLD_COMPARE_JSON   # written back in the same form
    check_resume(out, cfg)
    check_resume(out, CompareConfig.of(structures=["nonstructured", "filter"], presets=["eie_like"],
                                       measure_cpu=False, hil_preset=None, tolerance_pp=0.5))   # selection only
    with pytest.raises(CompareError, match=r"other settings \(lr: 0.002 -> 0.001; rho: 0.05 -> 0.1\)"):
        check_resume(out, CompareConfig.of(lr=0.001, rho=0.1))


def test_a_priced_row_gives_the_mapping_of_its_kind():
    sim = PricedRow(model="m", structure="dense", platform="eie_like", kind="asic", energy_pj=2.0, latency_s=1.0,
                    speedup_vs_dense=1.0, energy_vs_dense=1.0, budget="global")
    row = sim.as_row()
    assert list(row) == [*SIM_ROW_KEYS, "speedup_vs_dense", "energy_vs_dense", "budget"]
    cpu = PricedRow(model="m", structure="dense", platform="cpu (2 threads)", kind="cpu", latency_s=1.0)
    assert cpu.measured and list(cpu.as_row()) == [*MEASURED_ROW_KEYS, "speedup_vs_dense", "energy_vs_dense"]
    assert set(ROW_KEYS) <= set(SIM_ROW_KEYS) | set(MEASURED_ROW_KEYS) | {"speedup_vs_dense", "energy_vs_dense",
                                                                           "budget"}


def test_a_search_outcome_reads_as_summary_json_has_always_held_it():
    o = SearchOutcome("global", 0.5, 0.97, ((0.5, 0.97, True, 0.004),), "runs/x", {"0.500000": "runs/x"})
    assert o.to_dict() == {"budget": "global", "ratio": 0.5, "val_accuracy": 0.97, "points": [(0.5, 0.97, True, 0.004)],
                           "dir": "runs/x", "probe_dirs": {"0.500000": "runs/x"}}
    from dataclasses import replace
    shared = replace(o, budget="cost@eie_like", shared_with="global", cost_note="no budget to share out")
    assert list(shared.to_dict())[-2:] == ["shared_with", "cost_note"]


def test_run_compare_is_the_six_stages():
    import inspect

    from analysis import compare

    body = inspect.getsource(compare._run_compare)
    calls = [n for n in ("plan", "prune", "price", "measure", "decide", "report") if f"stages.{n}(" in body]
    assert calls == ["plan", "prune", "price", "measure", "decide", "report"]
    assert len(body.splitlines()) <= 10
