"""``sparsesim prune`` / ``sc.prune`` hold a validation split out of the training data (default on): every accuracy
the job measures while it runs is on validation; the test set is evaluated only to be reported, and the manifest
records both."""

from __future__ import annotations

import torch

from pruning.data import split_validation
from pruning.defaults import VALIDATION_FRACTION

CFG = {"seed": 3, "pretrain_epochs": 1, "retrain_epochs": 1, "admm": {"rounds": 1, "rho": 0.01},
       "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 64},
       "layers": {"fc1": {"type": "nonstructured", "ratio": 0.8}}}


def test_split_holds_out_a_seeded_fraction_of_train_and_keeps_test_apart(tiny_digits):
    search, full = split_validation(tiny_digits, 0.2, 5)
    assert full is tiny_digits and len(search.test_y) == 60 and len(search.train_y) == 240
    rows = {tuple(r.tolist()) for r in search.train_x.flatten(1)}
    assert not rows & {tuple(r.tolist()) for r in search.test_x.flatten(1)}       # validation is not trained on
    again, _ = split_validation(tiny_digits, 0.2, 5)
    assert torch.equal(again.test_y, search.test_y)                              # seeded


def test_prune_decides_on_validation_and_reports_test(tiny_digits, tmp_path):
    import sparsecodesign as sc

    lines = []
    res = sc.prune("digits_cnn", tiny_digits, CFG, tmp_path, progress=False, log=lines.append)
    acc = res.manifest["accuracy"]
    n_val = int(len(tiny_digits.train_y) * VALIDATION_FRACTION)
    assert acc["split"] == "validation" and acc["n"] == n_val
    assert set(acc["test"]) == {"dense", "pruned", "n"} and acc["test"]["n"] == len(tiny_digits.test_y)
    assert (res.dense_accuracy, res.pruned_accuracy) == (acc["dense"], acc["pruned"])
    assert (res.test_dense_accuracy, res.test_pruned_accuracy) == (acc["test"]["dense"], acc["test"]["pruned"])
    # the per-epoch log and the training log measure validation only: n_val images, never the test set
    assert all(abs(round(a * n_val) - a * n_val) < 1e-6 for a in [acc["dense"], acc["pruned"]])
    assert any("validation split" in line and f"{n_val} of {len(tiny_digits.train_y)}" in line for line in lines)
    assert "test" in lines[-1]


def test_validation_fraction_zero_keeps_the_old_behaviour(tiny_digits, tmp_path):
    import sparsecodesign as sc

    res = sc.prune("digits_cnn", tiny_digits, CFG, tmp_path, progress=False, log=lambda s: None,
                   validation_fraction=0)
    assert "split" not in res.manifest["accuracy"] and res.test_pruned_accuracy is None


def test_cli_flag(tmp_path, monkeypatch):
    from sparsecodesign.cli import main

    seen = {}

    def fake(*a, **k):
        seen.update(k)
        raise SystemExit(0)
    monkeypatch.setattr("sparsecodesign.api.prune", fake)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pretrain_epochs: 0\n")
    try:
        main(["prune", "--dataset", "digits", "--config", str(cfg), "--out", str(tmp_path / "o"),
              "--validation-fraction", "0.25"])
    except SystemExit:
        pass
    assert seen["validation_fraction"] == 0.25


def test_a_resume_with_another_split_is_refused(tiny_digits, tmp_path):
    import pytest

    import sparsecodesign as sc
    from pruning.pipeline import PruneError

    stop = {"pretrain_epochs": 2, **{k: v for k, v in CFG.items() if k != "pretrain_epochs"}}

    class Stop(Exception):
        pass

    def on_unit(unit):
        raise Stop()
    with pytest.raises(Stop):
        sc.prune("digits_cnn", tiny_digits, stop, tmp_path, progress=False, log=lambda s: None, on_unit=on_unit)
    with pytest.raises(PruneError, match="validation-fraction"):
        sc.prune("digits_cnn", tiny_digits, stop, tmp_path, progress=False, log=lambda s: None, resume=True,
                 validation_fraction=0.2)
    res = sc.prune("digits_cnn", tiny_digits, stop, tmp_path, progress=False, log=lambda s: None, resume=True)
    assert res.manifest["accuracy"]["split"] == "validation"
