"""Data beyond memory (streamed batch sources, ImageFolder) and DDP with 2 CPU processes equal to 1 process."""

import json

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from safetensors.torch import load_file
from torch.utils.data import TensorDataset

from pruning.batches import Shard, StreamSource, TensorSource
from pruning.config import PruneConfig
from pruning.data import DataError, StreamDataset, load_dataset
from pruning.models import build_model
from pruning.pipeline import run_prune

CFG = {"seed": 2, "pretrain_epochs": 1, "retrain_epochs": 1,
       "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 32},
       "admm": {"rounds": 2, "rho": 0.05},
       "layers": {"fc1": {"type": "nonstructured", "ratio": 0.9}, "fc2": {"type": "filter", "ratio": 0.5},
                  "fc3": {"type": "nonstructured", "ratio": 0.5, "bits": 4}}}


def _random_mnist_like(n=192, n_test=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_test, 1, 28, 28, generator=g)
    y = (x[:, 0, :14].mean((1, 2)) > 0).long() + 2 * (x[:, 0, 14:].mean((1, 2)) > 0).long()  # learnable
    return x, y


def _streamed(x, y, n):
    train, test = StreamSource(TensorDataset(x[:n], y[:n])), StreamSource(TensorDataset(x[n:], y[n:]))
    return StreamDataset("random", train, test, 10, (1, 28, 28))


def test_sources_cut_the_same_batches_and_shards_partition_them():
    x, y = torch.arange(50.0)[:, None], torch.arange(50)
    a = list(TensorSource(x, y).batches(8, torch.Generator().manual_seed(1)))
    b = list(StreamSource(TensorDataset(x, y)).batches(8, torch.Generator().manual_seed(1)))
    assert all(torch.equal(p[1], q[1]) for p, q in zip(a, b)) and len(a) == len(b) == 7
    halves = [list(TensorSource(x, y).batches(8, torch.Generator().manual_seed(1), Shard(r, 2))) for r in (0, 1)]
    for whole, h0, h1 in zip(a, *halves):
        assert sorted(torch.cat([h0[1], h1[1]]).tolist()) == sorted(whole[1].tolist())


def test_streamed_data_trains_exactly_like_tensors(tmp_path):
    x, y = _random_mnist_like()
    cfg = PruneConfig.from_dict(CFG)
    runs = {}
    for kind in ("tensors", "stream"):
        from pruning.data import Dataset
        data = Dataset("random", x[:192], y[:192], x[192:], y[192:], 10) if kind == "tensors" else \
            _streamed(x, y, 192)
        torch.manual_seed(0)
        runs[kind] = run_prune(build_model("lenet300"), data, cfg, tmp_path / kind, progress=False,
                               log=lambda s: None)
    a, b = (load_file(tmp_path / k / "weights.safetensors") for k in ("tensors", "stream"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs["tensors"].pruned_accuracy == runs["stream"].pruned_accuracy


def _write_folder(root, digits, n_train=120, n_test=40):
    for split, xs, ys in (("train", digits.train_x[:n_train], digits.train_y[:n_train]),
                          ("test", digits.test_x[:n_test], digits.test_y[:n_test])):
        for i, (im, label) in enumerate(zip(xs, ys)):
            d = root / split / f"class_{int(label)}"
            d.mkdir(parents=True, exist_ok=True)
            a = ((im[0] - im.min()) / (im.max() - im.min() + 1e-9) * 255).numpy().astype(np.uint8)
            Image.fromarray(a, mode="L").save(d / f"{i}.png")


def test_imagefolder_prunes_end_to_end(tmp_path, digits):
    _write_folder(tmp_path / "imgs", digits)
    data = load_dataset("imagefolder", tmp_path / "imgs")
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10 and len(data.train) == 120
    cfg = PruneConfig.from_dict({**CFG, "layers": {"fc1": {"type": "nonstructured", "ratio": 0.8}}})
    res = run_prune(build_model("digits_cnn"), data, cfg, tmp_path / "run", progress=False, log=lambda s: None)
    assert res.manifest["dataset"] == "imagefolder" and 0 <= res.pruned_accuracy <= 1


def test_imagefolder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="needs train/<class>/ and test/<class>/"):
        load_dataset("imagefolder", tmp_path)
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "test" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_dataset("imagefolder", tmp_path)


def _ddp_worker(rank, store, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        x, y = _random_mnist_like()
        torch.manual_seed(0)
        run_prune(build_model("lenet300"), _streamed(x, y, 192), PruneConfig.from_dict(CFG), out, progress=False,
                  log=lambda s: None)
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_equal_one(tmp_path):
    x, y = _random_mnist_like()
    torch.manual_seed(0)
    one = run_prune(build_model("lenet300"), _streamed(x, y, 192), PruneConfig.from_dict(CFG), tmp_path / "one",
                    progress=False, log=lambda s: None)
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path / "two")), nprocs=2, join=True)
    a, b = load_file(tmp_path / "one" / "weights.safetensors"), load_file(tmp_path / "two" / "weights.safetensors")
    for k in a:
        assert torch.equal(a[k] != 0, b[k] != 0), k  # the same masks
        assert torch.allclose(a[k], b[k], atol=1e-4), k  # the same weights up to the order of the gradient sum
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert abs(two["accuracy"]["pruned"] - one.pruned_accuracy) <= 1 / 64 + 1e-12  # at most one test image
