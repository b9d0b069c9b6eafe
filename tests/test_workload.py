"""Workloads from artifacts, torch models (incl. torch.nn.utils.prune) and state dicts; simulate CLI."""

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from sparsecodesign.cli import main
from pruning.config import PruneConfig
from pruning.models import build_model
from pruning.pipeline import run_prune
from sparsesim.workload import LayerWorkload, WorkloadError, from_artifact, from_model, from_state_dict

CFG = {"pretrain_epochs": 1, "retrain_epochs": 1, "train": {"batch_size": 64},
       "admm": {"schedule": [1.0], "rounds": 1, "epochs_per_round": 1},
       "layers": {"conv2": {"type": "filter", "ratio": 0.5, "bits": 8}, "fc1": {"ratio": 0.9, "bits": 4}}}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, tiny_digits):
    out = tmp_path_factory.mktemp("art")
    torch.manual_seed(0)
    run_prune(build_model("digits_cnn"), tiny_digits, PruneConfig.from_dict(CFG), out, progress=False,
              log=lambda s: None, model_name="digits_cnn")
    return out


def test_from_artifact_reads_real_zero_patterns(artifact):
    ws = {w.name: w for w in from_artifact(artifact, batch=4)}
    conv2 = ws["conv2"]
    assert (conv2.M, conv2.K, conv2.N, conv2.batch) == (64, 288, 64, 4)
    assert conv2.weight_bits == 8 and conv2.sparsity_type == "filter"
    assert conv2.kept_rows <= 32
    assert ws["fc1"].nnz <= round(0.1 * 32 * 1024) and ws["fc1"].weight_bits == 4
    assert ws["conv1"].weight_bits == 32 and ws["conv1"].input_elems == 64


def test_from_model_with_torch_prune_and_activation_density():
    torch.manual_seed(0)
    model = build_model("lenet5")
    prune.l1_unstructured(model.fc1, "weight", amount=0.75)
    x = torch.randn(8, 1, 28, 28)
    ws = {w.name: w for w in from_model(model, x[:1], calibration=x)}
    assert ws["fc1"].density == pytest.approx(0.25, abs=1e-3)
    assert ws["conv2"].N == 64 and ws["conv1"].N == 576
    assert ws["conv1"].act_density == 1.0  # raw input has no zeros
    assert 0.2 < ws["fc1"].act_density < 0.8  # after ReLU


def test_from_state_dict_dense_sparse_and_pruned():
    lin = nn.Linear(10, 6)
    prune.random_unstructured(lin, "weight", amount=0.5)
    sd = {"a.weight_orig": lin.weight_orig.detach(), "a.weight_mask": lin.weight_mask,
          "b.weight": torch.eye(4).to_sparse(), "c.weight": torch.ones(3, 2, 3, 3), "bn.weight": torch.ones(3)}
    with pytest.raises(WorkloadError, match="layer 'c': a conv weight"):   # never priced as one output pixel
        from_state_dict(sd)
    ws = {w.name: w for w in from_state_dict({k: v for k, v in sd.items() if k != "c.weight"})}
    assert set(ws) == {"a", "b"} and ws["a"].nnz == 30 and ws["b"].nnz == 4
    geo = {"c": {"kind": "conv2d", "weight_shape": [3, 2, 3, 3], "in_channels": 2, "kernel": [3, 3],
                 "input_hw": [7, 7], "output_hw": [5, 5], "gemm": {"M": 3, "K": 18, "N": 25, "groups": 1}}}
    ws = {w.name: w for w in from_state_dict(sd, geometry=geo)}
    assert set(ws) == {"c"} and ws["c"].N == 25 and ws["c"].K == 18 and ws["c"].input_elems == 98
    with pytest.raises(WorkloadError, match="no 2-D or 4-D"):
        from_state_dict({"bn.weight": torch.ones(3)})


def test_simulate_cli_writes_tables(artifact, tmp_path, capsys):
    rc = main(["simulate", str(artifact), "--hw", "eie_like,fpga_small", "--engine", "simpy",
               "--out", str(tmp_path / "sim")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "TOTAL" in out and "fpga_small" in out
    rows = json.loads((tmp_path / "sim" / "layers.json").read_text())
    assert len(rows) == 8 and {r["hardware"] for r in rows} == {"eie_like", "fpga_small"}
    assert (tmp_path / "sim" / "layers.csv").read_text().startswith("layer,hardware")
    assert "dram" in (tmp_path / "sim" / "timeline.csv").read_text()
    assert main(["simulate", str(artifact), "--hw", "nope"]) == 2
    assert main(["presets"]) == 0


def test_simpy_is_not_compared_where_the_analytical_cycles_use_another_timing_model(artifact, tmp_path, capsys):
    """eyeriss_like times itself (row stationary): its event-engine line says so instead of a % difference; a
    native closed-form preset in the same call is still compared."""
    rc = main(["simulate", str(artifact), "--hw", "eyeriss_like,fpga_small", "--engine", "simpy",
               "--out", str(tmp_path / "sim")])
    assert rc == 0
    lines = capsys.readouterr().out.split("simpy engine (cycles, stall cycles) vs analytical:")[1].splitlines()
    eyeriss = [x for x in lines if "eyeriss_like" in x]
    fpga = [x for x in lines if "fpga_small" in x]
    assert eyeriss and all("not compared: the analytical cycles come from engine rowstationary" in x for x in eyeriss)
    assert fpga and all("% vs analytical" in x for x in fpga)


def test_simulate_with_calibrated_activation_sparsity(artifact, tmp_path, capsys):
    assert main(["simulate", str(artifact), "--hw", "eie_like", "--calibrate", "64", "--out", str(tmp_path)]) == 0
    assert "input-activation density" in capsys.readouterr().out
    plain = from_artifact(artifact)
    rows = {r["layer"]: r for r in json.loads((tmp_path / "layers.json").read_text())}
    assert rows["fc2"]["macs_executed"] < evaluate_one(plain, "fc2")  # zero activations skipped


def evaluate_one(workloads, name):
    from accel_models.hardware import load_accelerator
    from sparsesim.analytical import evaluate
    return next(r["macs_executed"] for r in evaluate(workloads, [load_accelerator("eie_like")]).rows()
                if r["layer"] == name)


def test_user_yaml_hardware(artifact, tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("name: mine\npe: {engine: systolic, rows: 4, cols: 4, weight_bits: [8, 32], act_bits: 8}\n")
    assert main(["simulate", str(artifact), "--hw", str(p), "--out", str(tmp_path / "o")]) == 0
    assert np.all(np.array([r["hardware"] for r in json.loads((tmp_path / "o" / "layers.json").read_text())])
                  == "mine")


def test_bench_cli_measures_artifact(artifact, tmp_path, capsys):
    assert main(["bench", str(artifact), "--out", str(tmp_path / "b"), "--repeats", "2", "--batch", "2"]) == 0
    text = (tmp_path / "b" / "measured.csv").read_text()
    assert text.startswith("layer,hardware,engine,convention,format")   # the columns of simulate's layers.csv
    assert ",MODEL," not in text and "MODEL,cpu" in text and "compact" in text
    assert "peak_gflops" in (tmp_path / "b" / "roofline.json").read_text()


def test_calibration_measures_activation_patterns_that_win_over_drawn_ones():
    """measure_activations keeps which GEMM inputs were nonzero (Linear rows, Conv2d im2col columns); from_model
    hands them to the workload (act_pattern), so the EIE engine uses them instead of a seeded draw."""
    import torch
    from torch import nn

    from sparsesim.workload import from_model, measure_activations

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 6))
    x = torch.randn(3, 2, 5, 5)
    density, pats = measure_activations(model, x)
    relu_out = torch.relu(model[0](x)).flatten(1)
    assert np.array_equal(pats["3"], (relu_out != 0).numpy()) and pats["3"].shape == (3, 100)
    cols = torch.nn.functional.unfold(x, 3, padding=1).transpose(1, 2).reshape(-1, 18)
    spread = torch.linspace(0, cols.shape[0] - 1, 16).round().long()    # 16 of 75 columns, over the batch
    assert np.array_equal(pats["0"], (cols[spread] != 0).numpy())
    assert density["3"] == pytest.approx(float((relu_out != 0).float().mean()))
    ws = {w.name: w for w in from_model(model, x[:1], calibration=x)}
    assert np.array_equal(ws["3"].act_pattern, pats["3"]) and not ws["3"].pattern_drawn
    assert ws["3"].act_density == pytest.approx(density["3"])


def test_simulate_act_seed_option_reaches_the_eie_engine(tmp_path, capsys):
    """`sparsesim simulate --act-seed` seeds the drawn activation pattern: another seed moves EIE's cycles, a
    renamed layer with the same seed does not."""
    import csv

    head = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, "
            "Sparsity, Weight density, Activation density,\n")

    def cycles(name: str, seed: int) -> float:
        topo = tmp_path / f"{name}.csv"
        topo.write_text(head + f"{name}, 1, 1, 1, 1, 512, 256, 1, , 0.1, 0.4,\n")
        out = tmp_path / f"{name}_{seed}"
        assert main(["simulate", "--topology", str(topo), "--hw", "eie_like", "--act-seed", str(seed),
                     "--out", str(out)]) == 0
        with (out / "layers.csv").open() as f:
            return float(next(csv.DictReader(f))["cycles"])

    assert cycles("fc", 0) != cycles("fc", 1)
    assert cycles("renamed", 0) == cycles("fc", 0)
    assert "--act-seed 1" in capsys.readouterr().out


def test_scnn_activation_draw_is_unchanged_by_renaming_a_layer():
    """SCNN's drawn activation pattern comes from act_seed (like EIE's), not from the layer's name."""
    import dataclasses

    from sparsesim.engines.scnn import activation_counts, scnn_cycles

    rng = np.random.default_rng(3)
    weights = rng.standard_normal((8, 4 * 9)).astype(np.float32) * (rng.random((8, 36)) < 0.5)
    geo = {"kernel": (3, 3), "stride": (1, 1), "padding": (1, 1), "input_hw": (10, 10), "output_hw": (10, 10)}
    layer = LayerWorkload("a", "conv2d", 8, 36, 100, weights, weight_bits=8, input_elems=400, act_density=0.4,
                          geometry=geo)
    renamed = dataclasses.replace(layer, name="b")
    reseeded = dataclasses.replace(layer, act_seed=7)
    assert np.array_equal(activation_counts(layer, 2, 2), activation_counts(renamed, 2, 2))
    assert scnn_cycles(layer, 2, 2, 4, 4, 8) == scnn_cycles(renamed, 2, 2, 4, 4, 8)
    assert not np.array_equal(activation_counts(layer, 2, 2), activation_counts(reseeded, 2, 2))


def test_a_copy_of_a_workload_does_not_share_its_cache():
    """dataclasses.replace starts an empty cache (a copy may carry another activation pattern or weights); only
    with_batch shares it.  EIE's cycles follow the copy's measured pattern, not the original's cached draw."""
    import dataclasses

    from accel_models.hardware import load_accelerator
    from sparsesim.analytical import evaluate

    rng = np.random.default_rng(0)
    weights = rng.standard_normal((64, 256)).astype(np.float32)
    drawn = LayerWorkload("fc", "linear", 64, 256, 1, weights, weight_bits=8, act_density=0.5)
    eie = [load_accelerator("eie_like")]
    first = evaluate([drawn], eie).rows()[0]["cycles"]
    dense_pattern = dataclasses.replace(drawn, act_pattern=np.ones((4, 256), dtype=bool))
    assert dense_pattern.cache == {} and drawn.cache
    assert evaluate([dense_pattern], eie).rows()[0]["cycles"] > first
    assert drawn.with_batch(2).cache is drawn.cache


def test_simpy_line_with_zero_analytical_cycles_prints_no_nan():
    from sparsecodesign.cli import _vs_analytical

    assert _vs_analytical(0.0, 0.0) == "both 0 cycles"
    assert _vs_analytical(12.0, 0.0) == "12 cycles vs 0 analytical"
    assert _vs_analytical(100.0, 100.0) == "+0.00% vs analytical" and _vs_analytical(99.0, 100.0).startswith("-1.00%")


def test_measured_patterns_are_spread_over_the_batch_and_the_output_positions():
    """The kept GEMM input columns are evenly spaced over every (image, position), not the first image's first
    positions: the same rows as the whole batch's im2col sampled with linspace."""
    from torch import nn

    from sparsesim.workload import _input_vectors

    torch.manual_seed(0)
    conv, x = nn.Conv2d(3, 4, 3, padding=1), torch.relu(torch.randn(10, 3, 8, 8))
    cols = nn.functional.unfold(x, 3, padding=1).transpose(1, 2).reshape(-1, 27)
    rows = torch.linspace(0, cols.shape[0] - 1, 16).round().long()
    assert np.array_equal(_input_vectors(conv, x, 16), (cols[rows] != 0).numpy())
    assert _input_vectors(conv, x[:1, :, :2, :2], 16).shape == (4, 27)      # fewer columns than asked: all
    fc_in = torch.relu(torch.randn(40, 5))
    assert np.array_equal(_input_vectors(nn.Linear(5, 2), fc_in, 16),
                          (fc_in[torch.linspace(0, 39, 16).round().long()] != 0).numpy())
