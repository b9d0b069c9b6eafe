"""benchmarks/lenet5_mnist.py: run directories are reused only when they were made with the config asked for,
and the ladders parse and choose as documented. No training: manifests are stubbed."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lenet5_mnist as bench  # noqa: E402


def _made_with(monkeypatch, tmp_path, run, config: dict) -> None:
    """Stub a finished run under tmp_path whose manifest records ``config``."""
    (tmp_path / run.name).mkdir()
    (tmp_path / run.name / "manifest.json").write_text("{}")
    monkeypatch.setattr(bench, "read_manifest", lambda p: {"config": config})


def test_config_changes_names_nested_fields():
    made = {"retrain_epochs": 30, "admm": {"rounds": 4, "rho": 0.005}}
    wanted = {"retrain_epochs": 50, "admm": {"rounds": 10, "rho": 0.005}}
    assert bench.config_changes(made, wanted) == ["admm.rounds: 4 -> 10", "retrain_epochs: 30 -> 50"]
    assert bench.config_changes(made, made) == []


def test_reused_run_with_the_same_config_passes(monkeypatch, tmp_path):
    run = bench.experiment_runs("authors", 0)[0]
    _made_with(monkeypatch, tmp_path, run, bench.PruneConfig.from_dict(run.config).to_dict())
    bench.check_reused([run], tmp_path)


def test_reused_run_made_with_another_config_stops_with_one_line(monkeypatch, tmp_path):
    run = bench.experiment_runs("authors", 0)[0]
    old = bench.PruneConfig.from_dict(bench.with_retrain_epochs(run.config, 7)).to_dict()
    _made_with(monkeypatch, tmp_path, run, old)
    with pytest.raises(SystemExit, match=r"authors_s0.*retrain_epochs: 7 -> 50\); delete that directory"):
        bench.check_reused([run], tmp_path)


def test_admm_fields_do_not_matter_without_rounds(monkeypatch, tmp_path):
    """A dense run (no ADMM rounds) made when the config had another ADMM schedule is still the same dense run."""
    run = bench.dense_run("lenet5", 0)
    made = bench.PruneConfig.from_dict(run.config).to_dict()
    made["admm"] = {**made["admm"], "schedule": [0.5, 1.0], "rho_multiplier": 1.6}
    _made_with(monkeypatch, tmp_path, run, made)
    bench.check_reused([run], tmp_path)
    made["pretrain_epochs"] = 3
    with pytest.raises(SystemExit, match="pretrain_epochs"):
        bench.check_reused([run], tmp_path)


def test_variants_differ_from_what_they_are_compared_with_only_where_named():
    def fields(a: str, b: str) -> list[str]:
        one, other = (bench.experiment_runs(e, 0)[0].config for e in (a, b))
        return [c.split(":")[0] for c in bench.config_changes(one, other)]
    assert fields("authors", "authors_e30") == ["retrain_epochs"]
    assert fields("authors_e30", "authors_r10") == ["admm.rounds"]
    assert fields("authors", "magnitude") == ["method"]
    assert fields("authors_e30", "magnitude_e30") == ["method"]


def test_joint_ladder_parses_and_chooses_the_most_storage_within_tolerance(monkeypatch, tmp_path):
    ladder = bench.parse_joint_ladder("71.2:3,50:4,35:4")
    assert ladder == ((71.2, 3), (50.0, 4), (35.0, 4))
    losses = {(71.2, 3): 0.40, (50.0, 4): 0.16, (35.0, 4): 0.04}
    accuracy = {bench.joint_run(0, *s).name: 0.99 - pp / 100 for s, pp in losses.items()}
    monkeypatch.setattr(bench, "read_manifest",
                        lambda p: {"accuracy": {"pruned": accuracy.get(Path(p).name, 0.99)}})
    assert bench.choose_joint(tmp_path, 0.2, 0, ladder) == (50.0, 4)
    assert bench.choose_joint(tmp_path, 0.01, 0, ladder) is None
    with pytest.raises(SystemExit, match="compression:bits"):
        bench.parse_joint_ladder("71.2-3")


def test_experiments_are_checked_before_anything_trains():
    assert bench.parse_experiments("authors, global") == ["authors", "global"]
    with pytest.raises(SystemExit, match="unknown autors; allowed: authors"):
        bench.parse_experiments("autors,global")
    for exp in bench.EXPERIMENTS:   # every allowed name builds its runs
        assert bench.experiment_runs(exp, 0) or exp in bench.LADDERS
