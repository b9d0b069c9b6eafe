"""Your own model and data on the command line: --model FILE.py:CALLABLE / MODULE:CALLABLE with --input-shape,
--dataset npz / imagefolder; artifacts of user models are priced without importing the user's code."""

import json
import pickle
import sys

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from analysis import compare_search
from sparsecodesign.cli import main
from analysis.compare_config import CompareConfig, CompareError
from pruning.data import DataError, load_dataset, load_imagefolder, load_npz
from pruning.user_model import ModelSpecError, build_for_data, resolve_model

# a custom CNN with a BatchNorm and a residual add; input_shape at module level (the module's attribute)
NET = """
import torch
from torch import nn

input_shape = {shape}


class Tiny(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.fc = nn.Linear(4 * 4 * 4, num_classes)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(y + self.conv2(y))
        return self.fc(torch.flatten(torch.max_pool2d(y, 2), 1))


def build(num_classes=10):
    return Tiny(num_classes)
"""
PRUNE_YAML = {"method": "admm", "pretrain_epochs": 1, "retrain_epochs": 0,
              "admm": {"schedule": [1.0], "rounds": 1, "epochs_per_round": 1, "rho": 0.01},
              "layers": {"re:.*": {"type": "nonstructured", "ratio": 0.5}}}
COMPARE_YAML = {"structures": ["nonstructured"], "presets": ["eie_like"], "pretrain_epochs": 1, "admm_rounds": 1,
                "retrain_epochs": 0, "ladder": [0.5], "bisections": 0, "tolerance_pp": 50.0, "hil_preset": None,
                "measure_cpu": False, "calibrate_images": 8, "batch_size": 32}


def user_net(tmp_path, shape="(1, 8, 8)", name="tinynet"):
    path = tmp_path / f"{name}.py"
    path.write_text(NET.format(shape=shape))
    return path


def npz(path, n_train=48, n_test=24, classes=3, hw=(8, 8), seed=0, **replace):
    r = np.random.default_rng(seed)
    arrays = {"x_train": r.random((n_train, *hw)).astype(np.float32),
              "y_train": np.arange(n_train) % classes,
              "x_test": r.random((n_test, *hw)).astype(np.float32), "y_test": np.arange(n_test) % classes}
    arrays.update(replace)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_prune_user_file_model_then_simulate_without_its_code(tmp_path, capsys):
    net = user_net(tmp_path, shape="None")   # no input_shape: --input-shape gives it
    data = npz(tmp_path / "d.npz")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(PRUNE_YAML))
    art = tmp_path / "art"
    argv = ["prune", "--model", f"{net}:build", "--dataset", "npz", "--data-dir", str(data),
            "--config", str(tmp_path / "p.yaml"), "--out", str(art), "--quiet"]
    assert main(argv) == 2   # neither the model nor its module says the input shape
    err = lines(capsys.readouterr().err)
    assert len(err) == 1 and "--input-shape C,H,W" in err[0], err
    assert main(argv + ["--input-shape", "1,8,9"]) == 2   # not the data's shape
    assert "dataset 'npz' has (1, 8, 8)" in capsys.readouterr().err
    assert main(argv + ["--input-shape", "1,8,8"]) == 0
    ref = json.loads((art / "manifest.json").read_text())["model"]
    assert ref["spec"] == f"{net}:build" and ref["factory"] == "tinynet:build"
    assert (ref["input_shape"], ref["num_classes"]) == ([1, 8, 8], 3)   # classes from the data
    net.unlink()   # the user's code is gone: the artifact is data
    for key in [k for k in sys.modules if k.endswith("tinynet")]:
        del sys.modules[key]
    capsys.readouterr()
    assert main(["simulate", str(art), "--hw", "eie_like", "--out", str(tmp_path / "sim")]) == 0
    assert {"conv1", "conv2", "fc"} <= {r["layer"] for r in json.loads((tmp_path / "sim" / "layers.json")
                                                                       .read_text())}
    capsys.readouterr()
    for argv in (["bench", str(art), "--out", str(tmp_path / "b"), "--repeats", "1"],
                 ["simulate", str(art), "--calibrate", "4", "--data-dir", str(data), "--out", str(tmp_path / "s")]):
        assert main(argv) == 2   # the model is code: one line naming --trust-module and --model
        err = lines(capsys.readouterr().err)
        assert len(err) == 1 and "--trust-module tinynet" in err[0] and "--model" in err[0], err
        assert main(argv + ["--trust-module", "tinynet"]) == 2   # trusted, but not importable: still one line
        err = lines(capsys.readouterr().err)
        assert len(err) == 1 and "ModuleNotFoundError" in err[0] and "--model" in err[0], err


def test_compare_user_module_model_and_its_worker_rebuild(tmp_path, monkeypatch, capsys):
    user_net(tmp_path, name="usercnn")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = npz(tmp_path / "d.npz")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(COMPARE_YAML))
    monkeypatch.setattr("analysis.report.write_report", lambda out, summary, log: None)   # plots: other tests
    out = tmp_path / "cmp"
    rc = main(["compare", "--config", str(tmp_path / "c.yaml"), "--model", "usercnn:build", "--dataset", "npz",
               "--data-dir", str(data), "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["model"] == "usercnn:build"
    assert {v["platform"] for v in summary["verdicts"]} == {"eie_like"}
    assert json.loads((out / "runs" / "dense" / "manifest.json").read_text())["model"]["spec"] == "usercnn:build"
    # a --jobs worker gets the config (strings only) and rebuilds the model from the same spec
    cfg = pickle.loads(pickle.dumps(CompareConfig.from_dict({**COMPARE_YAML, "model": "usercnn:build",
                                                             "dataset": "npz", "data_dir": str(data)})))
    found = compare_search._search_in_process(cfg, str(out), "global", "nonstructured")   # cached probe: no training
    assert found.dir == summary["structures"]["nonstructured"]["dir"]


def test_compare_config_model_field():
    assert CompareConfig(model="pkg.mod:build", input_shape=[1, 8, 8]).input_shape == (1, 8, 8)
    for bad, field in (({"model": "nope"}, "model='nope'"), ({"model": "a:b-c"}, "model="),
                       ({"model": "m:f", "input_shape": [0, 8]}, "input_shape"),
                       ({"model": "m:f", "input_shape": "1,8"}, "input_shape='1,8'; allowed: \\[C, H, W\\]")):
        with pytest.raises(CompareError, match=field):
            CompareConfig(**bad)


def test_resolve_model_forms_and_input_shape(tmp_path):
    net = user_net(tmp_path, shape="(1, 8, 8)")
    m = build_for_data(f"{net}:build", 5, (1, 8, 8))
    assert m.fc.out_features == 5 and m.num_classes == 5 and m.input_shape == (1, 8, 8)   # num_classes= passed
    assert resolve_model(f"{net}:Tiny").fc.out_features == 10
    with pytest.raises(ModelSpecError, match="declares input_shape 1,8,8"):
        build_for_data(f"{net}:build", 5, (1, 8, 8), given=(3, 8, 8))
    with pytest.raises(ModelSpecError, match="no file"):
        resolve_model(f"{tmp_path / 'missing.py'}:build")
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ModelSpecError, match="running .* failed .*boom"):
        resolve_model(f"{tmp_path / 'broken.py'}:build")
    assert isinstance(resolve_model("digits_cnn", 4), nn.Module)


# ------------------------------------------------------------------ data
def test_npz_loader(tmp_path):
    d = load_dataset("npz", npz(tmp_path / "d.npz", classes=4))
    assert (d.num_classes, d.input_shape, len(d.train_y), len(d.test_y)) == (4, (1, 8, 8), 48, 24)
    assert abs(float(d.train_x.mean())) < 1e-4   # standardised on the training set
    flat = load_npz(npz(tmp_path / "f.npz", hw=(6,)))
    assert flat.input_shape == (6,)


@pytest.mark.parametrize("replace, match", [
    ({"y_test": None}, "no array y_test"),
    ({"x_train": np.array(["a"] * 48)}, "array x_train has dtype <U1"),
    ({"y_train": np.zeros(48, np.float32)}, "array y_train has dtype float32; allowed: integer"),
    ({"y_train": np.zeros(47, np.int64)}, r"array y_train has shape \(47,\); allowed: \(48,\)"),
    ({"y_test": -np.ones(24, np.int64)}, "array y_test holds label -1"),
    ({"x_test": np.zeros((24, 8, 7), np.float32)}, "array x_test has samples of shape"),
    ({"x_train": np.full((48, 8, 8), np.nan, np.float32)}, "array x_train holds a NaN"),
    ({"x_train": np.zeros(48, np.float32)}, r"array x_train has shape \(48,\)"),
    ({"x_train": np.array([{"a": 1}] * 48, dtype=object)}, "not a readable .npz of plain arrays"),
])
def test_npz_loader_refuses_bad_arrays(tmp_path, replace, match):
    with pytest.raises(DataError, match=match):
        load_npz(npz(tmp_path / "d.npz", **replace))


def test_npz_bad_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="reads one .npz file"):
        load_npz(tmp_path)
    with pytest.raises(ValueError, match="needs --data-dir \\(FILE.npz\\)"):
        load_dataset("npz")


def _images(root, split, classes=("cat", "dog"), n=3, size=(6, 5), mode="RGB"):
    from PIL import Image

    for c in classes:
        (root / split / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = np.random.default_rng(i).integers(0, 255, (size[1], size[0], 3) if mode == "RGB" else size[::-1])
            Image.fromarray(a.astype(np.uint8), mode).save(root / split / c / f"{i}.png")


def test_imagefolder_loader(tmp_path):
    pytest.importorskip("PIL")
    _images(tmp_path, "train")
    _images(tmp_path, "val", n=2)
    d = load_imagefolder(tmp_path)
    assert (d.num_classes, d.input_shape, d.classes) == (2, (3, 5, 6), ("cat", "dog"))
    x, y = next(iter(d.train.batches(4)))
    assert tuple(x.shape) == (4, 3, 5, 6) and set(y.tolist()) <= {0, 1} and torch.isfinite(x).all()


def test_imagefolder_refusals(tmp_path):
    pytest.importorskip("PIL")
    with pytest.raises(DataError, match="needs train/<class>/ and test/<class>/"):
        load_imagefolder(tmp_path)
    _images(tmp_path, "train")
    (tmp_path / "test" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_imagefolder(tmp_path)
    (tmp_path / "test" / "cat" / "x.png").write_bytes(b"junk")
    (tmp_path / "train" / "cat" / "0.png").write_bytes(b"junk")   # the first training image fixes the mode
    with pytest.raises(DataError, match="0.png: cannot be read as an image"):
        load_imagefolder(tmp_path)


def test_readme_your_own_model_commands_run(tmp_path, monkeypatch, capsys):
    """The README's "Your own model" commands, as written, on a tiny .npz with a tiny training config."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"### Your own model\n.*?```bash\n(.*?)```", readme, re.DOTALL).group(1)
    commands = [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("sparsesim ")]
    assert [c[0] for c in commands] == ["compare", "simulate"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    user_net(tmp_path, name="mynets")
    npz(tmp_path / "my.npz")
    tiny = {**{k: v for k, v in COMPARE_YAML.items() if k != "structures"}, "budget": "uniform"}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny))   # a tiny net: global filter 0.99 cannot be met
    monkeypatch.setattr("analysis.report.write_report", lambda out, summary, log: None)   # plots: other tests
    for argv in commands:
        extra = ["--config", "tiny.yaml", "--quiet"] if argv[0] == "compare" else []
        assert main(argv + extra) == 0, capsys.readouterr().err
    assert (tmp_path / "cmp" / "runs" / "dense" / "sim" / "layers.csv").exists()
