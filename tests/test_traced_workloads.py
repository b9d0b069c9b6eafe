"""Traced workloads in ``simulate`` / ``compare`` (issue 22): every GEMM a user model runs is priced, named, with
its real weights; the module list stays as ``--workloads modules``; totals equal FlopCounterMode's FLOPs / 2."""

import json

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from accel_models.hardware import load_accelerator, preset_names
from analysis.compare_config import CompareConfig, CompareError
from sparsecodesign import api
from sparsecodesign.cli import main
from sparsesim.analytical import evaluate
from sparsesim.trace import flop_counter_macs
from sparsesim.traced_workloads import traced_workloads
from sparsesim.workload import WorkloadError

ENCODER = """
import torch
from torch import nn


class Encoder(nn.Module):
    input_shape = (16, 64)   # 16 tokens of d_model 64

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(64, 4, 256, batch_first=True)

    def forward(self, x):
        return self.layer(x)


def build():
    torch.manual_seed(0)
    return Encoder()
"""


def _encoder_files(tmp_path, pruned: bool = False):
    (tmp_path / "enc.py").write_text(ENCODER)
    ns: dict = {}
    exec(ENCODER, ns)
    model = ns["build"]()
    if pruned:   # torch.nn.utils.prune: the checkpoint holds linear1.weight_orig and linear1.weight_mask
        prune.l1_unstructured(model.layer.linear1, "weight", amount=0.5)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    return tmp_path / "model.pt", f"{tmp_path / 'enc.py'}:build", model


def _rows(out):
    return {r["layer"]: r for r in json.loads((out / "layers.json").read_text())}


def test_encoder_simulate_prices_every_token_attention_and_prints_the_share(tmp_path, capsys):
    ckpt, spec, _ = _encoder_files(tmp_path)
    assert main(["simulate", str(ckpt), "--model", spec, "--out", str(tmp_path / "o"), "--hw", "tpu_like"]) == 0
    text = capsys.readouterr().out
    assert "priced 100.0% of the model's FLOPs (1,638,400 of 1,638,400" in text
    rows = _rows(tmp_path / "o")
    assert rows["layer.linear1"]["macs_dense"] == 262_144 == 64 * 256 * 16     # 16 tokens, not one
    for p in "qkv":
        assert rows[f"layer.self_attn.in_proj_weight.{p}"]["macs_dense"] == 64 * 64 * 16
    for what in ("score", "context"):   # 4 heads x (16 x 16 x 16)
        row = rows[f"layer.self_attn.{what}"]
        assert row["macs_dense"] == 4 * 16 ** 3 and "activation x activation" in row["note"]
    assert sum(r["macs_dense"] for r in rows.values()) == 819_200
    # the module list, as before, on request: a Linear as one token, no attention; its share printed
    assert main(["simulate", str(ckpt), "--model", spec, "--out", str(tmp_path / "m"), "--hw", "tpu_like",
                 "--workloads", "modules"]) == 0
    text = capsys.readouterr().out
    assert "priced 4.5% of the model's FLOPs (module list: 73,728 of 1,638,400" in text
    rows = _rows(tmp_path / "m")
    assert set(rows) == {"layer.self_attn.out_proj", "layer.linear1", "layer.linear2"}
    assert rows["layer.linear1"]["macs_dense"] == 16_384


def test_pruned_linear_mask_reaches_the_traced_row(tmp_path, capsys):
    ckpt, spec, model = _encoder_files(tmp_path, pruned=True)
    assert main(["simulate", str(ckpt), "--model", spec, "--out", str(tmp_path / "o"), "--hw", "eie_like"]) == 0
    row = _rows(tmp_path / "o")["layer.linear1"]
    nnz = int((model.layer.linear1.weight != 0).sum())
    assert nnz == 256 * 64 // 2
    assert row["macs_useful"] == nnz * 16 and row["macs_dense"] == 262_144   # EIE skips the pruned weights
    # the API on the pruned module itself (weight = weight_orig x weight_mask while tracing)
    table = api.simulate(model, "eie_like", log=lambda s: None)
    assert {r["layer"]: r["macs_useful"] for r in table.rows()}["layer.linear1"] == nnz * 16


def test_untraceable_model_is_one_line_naming_the_op_and_the_fallback(tmp_path, capsys, monkeypatch):
    ckpt, spec, _ = _encoder_files(tmp_path)

    def unreadable(rec, args, kwargs):
        raise RuntimeError("an op this trace cannot read")

    monkeypatch.setitem(__import__("sparsesim.trace", fromlist=["_HANDLERS"])._HANDLERS, "aten.addmm", unreadable)
    monkeypatch.setitem(__import__("sparsesim.trace", fromlist=["_HANDLERS"])._HANDLERS, "aten.mm", unreadable)
    argv = ["simulate", str(ckpt), "--model", spec, "--out", str(tmp_path / "o"), "--hw", "tpu_like"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be traced: tracing failed at aten." in err[0] and "--workloads modules" in err[0]
    assert main(argv + ["--workloads", "modules"]) == 0   # the fallback still prices (and says its share)
    assert "module list" in capsys.readouterr().out
    with pytest.raises(WorkloadError, match="--workloads modules"):
        api.simulate(nn.Sequential(nn.Linear(4, 4)), "tpu_like", input_shape=(4,), log=lambda s: None)


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, groups=2),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10))


@pytest.mark.parametrize("name", ["cnn", "encoder"])
def test_total_macs_equal_flop_counter(name):
    model, x = ((_cnn(), torch.zeros(1, 3, 12, 12)) if name == "cnn" else
                (nn.TransformerEncoderLayer(64, 4, 256, batch_first=True), torch.zeros(1, 16, 64)))
    ref = sum(flop_counter_macs(model, x).values())
    for batch in (1, 3):
        ws, _ = traced_workloads(model, x, batch=batch)
        assert sum(w.dense_macs for w in ws) == batch * ref


class _Mixed(nn.Module):
    """Every conv form the engines see through a mapping, and a batched matmul of two activations."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=1)
        self.c3 = nn.Conv3d(2, 3, 2)
        self.ct = nn.ConvTranspose2d(3, 2, 2, stride=2)
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        a = self.c1(x.reshape(1, 4, 16))                                  # (1, 6, 16)
        b = self.c3(x.reshape(1, 2, 2, 4, 4))                             # (1, 3, 1, 3, 3)
        c = self.ct(b[:, :, 0])                                           # (1, 2, 6, 6)
        h = self.fc(a.transpose(1, 2))                                    # (1, 16, 6)
        return torch.bmm(h, h.transpose(1, 2)).sum() + c.sum()


def test_conv_forms_and_matmuls_map_onto_engine_kinds_with_their_macs():
    model, x = _Mixed(), torch.randn(1, 64)
    ws, trace = traced_workloads(model, x)
    assert [w.name for w in ws] == ["c1", "c3", "ct", "fc", "matmul"]
    assert [w.kind for w in ws] == ["conv2d", "linear", "linear", "linear", "linear"]
    assert [w.dense_macs for w in ws] == [g.macs for g in trace.gemms]
    assert ws[0].geometry["kernel"] == [1, 3] and ws[0].geometry["output_hw"] == [1, 16]
    assert "GEMM" in ws[1].note and "activation x activation" in ws[4].note
    table = evaluate(ws, [load_accelerator(p) for p in preset_names()])   # every engine prices every row
    assert len(table.rows()) == len(ws) * len(preset_names())
    assert all(r["cycles"] > 0 for r in table.rows())


def test_calibration_measures_activation_densities():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    calib = torch.randn(32, 8)
    ws, _ = traced_workloads(model, torch.zeros(1, 8), calibration=calib)
    assert ws[0].act_density == 1.0
    with torch.no_grad():
        expect = float((torch.relu(model[0](calib)) != 0).float().mean())
    assert ws[1].act_density == pytest.approx(expect) and ws[1].act_pattern is not None


def test_compare_config_workloads_field():
    assert CompareConfig(model="pkg.mod:build").traced
    assert not CompareConfig(model="pkg.mod:build", workloads="modules").traced
    assert not CompareConfig().traced   # a zoo model: its module list
    with pytest.raises(CompareError, match="workloads='sideways'; allowed: traced, modules"):
        CompareConfig(workloads="sideways")


TOKENS = """
import torch
from torch import nn

input_shape = (1, 8, 8)   # 8 rows of 8 pixels: 8 tokens


class Rows(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.enc = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.enc(self.embed(x.flatten(1, 2))).mean(1))


def build(num_classes=3):
    return Rows(num_classes)
"""


def test_compare_traces_a_user_transformer(tmp_path, monkeypatch):
    import numpy as np

    from analysis.report_data import priced_workloads

    (tmp_path / "rows.py").write_text(TOKENS)
    r = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=r.random((48, 1, 8, 8), dtype=np.float32), y_train=r.integers(0, 3, 48),
             x_test=r.random((24, 1, 8, 8), dtype=np.float32), y_test=r.integers(0, 3, 24))
    monkeypatch.setattr("analysis.report.write_report", lambda out, summary, log: None)
    cfg = {"model": f"{tmp_path / 'rows.py'}:build", "dataset": "npz", "data_dir": str(data),
           "structures": ["nonstructured"], "presets": ["eie_like"], "pretrain_epochs": 1, "admm_rounds": 1,
           "retrain_epochs": 0, "ladder": [0.5], "bisections": 0, "tolerance_pp": 50.0, "hil_preset": None,
           "measure_cpu": False, "calibrate_images": 8, "batch_size": 32, "batch": 2}
    lines: list[str] = []
    api.compare(cfg, tmp_path / "cmp", log=lines.append)
    assert any(s.startswith("[workloads] traced workloads: priced 100.0% of the model's FLOPs") for s in lines)
    ws = priced_workloads(CompareConfig.from_dict(cfg), tmp_path / "cmp" / "runs" / "dense", None)
    names = [w.name for w in ws]
    assert {"enc.self_attn.score", "enc.self_attn.context", "enc.self_attn.in_proj_weight.q", "enc.linear1"} <= set(
        names)
    ns: dict = {}
    exec(TOKENS, ns)
    assert sum(w.dense_macs for w in ws) == 2 * sum(flop_counter_macs(ns["build"]().eval(),
                                                                       torch.zeros(1, 1, 8, 8)).values())
