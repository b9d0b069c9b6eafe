"""The prune job end to end: artifact, resume, NaN handling, baselines, config errors."""

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from pruning.artifact import load_artifact, read_manifest
from pruning.checkpoint import load_checkpoint
from pruning.config import ConfigError, PruneConfig
from pruning.models import build_model
from pruning.pipeline import PruneError, run_prune
from pruning.topk import keep_count

TINY = {
    "seed": 3, "pretrain_epochs": 2, "retrain_epochs": 2,
    "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 32},
    "admm": {"schedule": [0.5, 1.0], "rounds": 2, "epochs_per_round": 1, "rho": 0.05},
    "layers": {"conv2": {"type": "filter", "ratio": 0.5},
               "fc1": {"type": "nonstructured", "ratio": 0.9, "bits": 4},
               "fc2": {"type": "nonstructured", "ratio": 0.5}},
}


def _run(data, out, cfg=TINY, **kw):
    torch.manual_seed(0)
    return run_prune(build_model("digits_cnn"), data, PruneConfig.from_dict(cfg), out, model_name="digits_cnn",
                     progress=False, log=lambda s: None, **kw)


def test_artifact_is_feasible_documented_and_loads_bit_for_bit(tiny_digits, tmp_path):
    res = _run(tiny_digits, tmp_path / "a")
    m = read_manifest(tmp_path / "a")
    layers = {e["name"]: e for e in m["layers"]}
    assert set(layers) == {"conv1", "conv2", "fc1", "fc2"}
    assert layers["conv2"]["gemm"] == {"M": 64, "K": 288, "N": 64, "groups": 1}
    assert layers["conv2"]["sparsity"]["type"] == "filter"
    assert layers["fc1"]["bits"] == 4 and layers["fc1"]["quantizer"]["scale"] > 0
    assert len(layers["fc1"]["levels"]) == 15
    assert layers["fc1"]["nonzeros"] <= keep_count(32 * 1024, 0.9)
    assert layers["conv1"]["sparsity"]["type"] == "dense" and layers["conv1"]["bits"] == 32
    assert m["accuracy"]["pruned"] == pytest.approx(res.pruned_accuracy)
    assert m["seed"] == 3 and m["config"]["layers"]["fc1"]["bits"] == 4
    assert (tmp_path / "a" / "training_log.csv").read_text().startswith("stage,step,round")
    log = (tmp_path / "a" / "training_log.csv").read_text()
    assert "admm_residual" in log and "retrain" in log
    art = load_artifact(tmp_path / "a")
    saved = load_file(tmp_path / "a" / "weights.safetensors")
    for k, v in art.model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    fc1 = art.model.fc1.weight
    levels = torch.tensor(layers["fc1"]["levels"], dtype=torch.float32)
    assert torch.isclose(fc1.reshape(-1)[:, None], levels[None], rtol=1e-6, atol=0).any(1).all()
    # pruned filters of conv2 take their BatchNorm channel with them (coupled pruning)
    dead = (art.model.conv2.weight.reshape(64, -1) == 0).all(1)
    assert int(dead.sum()) >= 32
    assert torch.all(art.model.bn2.weight[dead] == 0) and torch.all(art.model.bn2.bias[dead] == 0)
    assert m["purification"]["zero_filters"]["conv2"] == dead.nonzero().reshape(-1).tolist()


def test_resume_equals_uninterrupted(tiny_digits, tmp_path):
    _run(tiny_digits, tmp_path / "full")

    class Kill(Exception):
        pass

    for kill_after in (3, 6, 8):  # mid-pretrain/prune, inside the second ADMM step, after hard prune
        out = tmp_path / f"killed{kill_after}"
        count = {"n": 0}

        def on_unit(unit):
            count["n"] += 1
            if count["n"] == kill_after:
                raise Kill()

        with pytest.raises(Kill):
            _run(tiny_digits, out, on_unit=on_unit)
        assert load_checkpoint(out / "checkpoint.pt")["state"]["done"] == kill_after
        _run(tiny_digits, out, resume=True)
        a = load_file(tmp_path / "full" / "weights.safetensors")
        b = load_file(out / "weights.safetensors")
        for k in a:
            assert torch.equal(a[k], b[k]), (kill_after, k)
        assert json.loads((out / "manifest.json").read_text())["accuracy"] == \
            json.loads((tmp_path / "full" / "manifest.json").read_text())["accuracy"]


def test_resume_with_another_config_is_refused(tiny_digits, tmp_path):
    _run(tiny_digits, tmp_path / "r")
    other = {**TINY, "seed": 4}
    with pytest.raises(ConfigError, match="another config"):
        _run(tiny_digits, tmp_path / "r", cfg=other, resume=True)


class NaNAfter(nn.Module):
    """digits_cnn whose output turns NaN after a number of training forwards."""

    def __init__(self, after):
        super().__init__()
        self.net = build_model("digits_cnn")
        self.after, self.calls = after, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                out = out * float("nan")
        return out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_digits, tmp_path):
    cfg = PruneConfig.from_dict({**TINY, "layers": {"net.fc1": {"ratio": 0.5}}})
    model = NaNAfter(after=25)  # 10 batches per epoch: epochs 1-2 fine, NaN in the first ADMM round
    with pytest.raises(PruneError, match=r"loss became nan.*last good checkpoint"):
        run_prune(model, tiny_digits, cfg, tmp_path, progress=False, log=lambda s: None)
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["state"]["done"] == 2
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


@pytest.mark.parametrize("method", ["magnitude", "group_lasso"])
def test_baselines_reach_the_same_constraint_sets(tiny_digits, tmp_path, method):
    res = _run(tiny_digits, tmp_path, cfg={**TINY, "method": method})
    layers = {e["name"]: e for e in res.manifest["layers"]}
    assert layers["fc1"]["nonzeros"] <= keep_count(32 * 1024, 0.9)
    assert layers["fc2"]["nonzeros"] <= keep_count(10 * 32, 0.5)
    assert res.manifest["method"] == method
    w = load_artifact(tmp_path).model.conv2.weight.reshape(64, -1)
    assert int((w != 0).any(1).sum()) <= 32


@pytest.mark.parametrize("layers, pattern", [
    ({"conv2": {"ratio": 1.2}}, r"layer 'conv2'.*'ratio'=1.2.*\[0, 1\)"),
    ({"conv9": {"ratio": 0.5}}, r"layer 'conv9' not found.*prunable layers: conv1, conv2, fc1, fc2"),
    ({"bn1": {"ratio": 0.5}}, r"layer 'bn1' is BatchNorm2d; allowed: Conv2d, Linear"),
    ({"conv1": {"type": "nm", "nm": [2, 4]}}, r"layer 'conv1'.*nm 2:4.*K=9"),
    ({"fc2": {"type": "block", "block": [3, 3], "ratio": 0.5}}, r"layer 'fc2'.*block 3x3 does not divide"),
    ({"fc1": {"ratio": 0.5, "bits": 0}}, r"layer 'fc1': field 'bits'=0; allowed: 1..16 \(quantized\)"),
    ({"fc1": {"ratio": 0.5, "typ": "filter"}}, r"layer 'fc1'.*unknown field.*'typ'"),
    ({"re:conv[5-9]": {"ratio": 0.5}}, r"pattern 're:conv\[5-9\]' matches no"),
    ({"fc1": {"type": "diagonal"}}, r"layer 'fc1'.*'type'='diagonal'"),
])
def test_bad_configs_raise_named_errors_before_training(tiny_digits, tmp_path, layers, pattern):
    ran = []
    with pytest.raises(ConfigError, match=pattern):
        cfg = PruneConfig.from_dict({**TINY, "layers": layers})
        run_prune(build_model("digits_cnn"), tiny_digits, cfg, tmp_path, progress=False, log=ran.append,
                  on_unit=ran.append)
    assert ran == [] and not (tmp_path / "checkpoint.pt").exists()


def test_prune_ratios_format_and_duplicate_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("defaults: {type: column}\nprune_ratios:\n  conv2.weight: 0.5\n  fc1.weight: 0.75\n")
    plans = PruneConfig.from_yaml(p).resolve(build_model("digits_cnn"))
    assert plans["conv2"].constraint.structure.kind == "column"
    assert plans["fc1"].constraint.structure.ratio == 0.75
    p.write_text("prune_ratios:\n  fc1: 0.5\n  fc1: 0.6\n")
    with pytest.raises(ConfigError, match="duplicate key 'fc1'"):
        PruneConfig.from_yaml(p)
    with pytest.raises(ConfigError, match=r"admm: field 'schedule'"):
        PruneConfig.from_dict({"admm": {"schedule": [0.5, 0.4]}})
    with pytest.raises(ConfigError, match=r"train: unknown field\(s\) 'lrate'"):
        PruneConfig.from_dict({"train": {"lrate": 1}})


def test_config_round_trips_through_dict():
    cfg = PruneConfig.from_dict(TINY)
    assert PruneConfig.from_dict(cfg.to_dict()) == cfg


def test_dead_filters_are_reported_with_their_zeroed_biases(tiny_digits, tmp_path):
    cfg = {**TINY, "layers": {"conv2": {"type": "filter", "ratio": 0.5}, "fc1": {"type": "filter", "ratio": 0.75}}}
    res = _run(tiny_digits, tmp_path, cfg=cfg)
    zeroed = res.manifest["coupled_zeroed"]
    assert zeroed["fc1.bias"] == {"zeroed": 24, "of": 32}  # 3/4 of fc1's neurons pruned: their biases say so
    assert zeroed["bn2.weight"] == zeroed["bn2.bias"] == {"zeroed": 32, "of": 64}  # BatchNorm of dead channels
    art = load_artifact(tmp_path)
    assert int((art.model.fc1.bias == 0).sum()) >= 24
