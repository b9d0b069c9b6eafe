"""The sparsesim command line."""

import json

from sparsecodesign.cli import main


def test_prune_cli_writes_artifact(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pretrain_epochs: 1\nretrain_epochs: 1\nadmm: {rounds: 1}\n"
                   "layers: {fc1: {type: nonstructured, ratio: 0.75, bits: 8}}\n")
    rc = main(["prune", "--dataset", "digits", "--config", str(cfg), "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["model"]["name"] == "digits_cnn"
    assert manifest["layers"][2]["nonzeros"] <= 0.25 * 32 * 1024 + 1


def test_prune_cli_bad_config_exits_2_with_message(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("layers: {fc7: {ratio: 0.5}}\n")
    rc = main(["prune", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    assert "layer 'fc7' not found" in capsys.readouterr().err
