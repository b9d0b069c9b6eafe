"""Fashion-MNIST (issue 23 item 3): MNIST's IDX reader on tiny files the test writes; payload checksums; the name is
accepted wherever mnist is (prune, compare, the API's checks)."""

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from analysis.compare_config import CompareConfig, CompareError
from pruning.data import (DATASETS, FASHION_MNIST_CLASSES, MNIST_FILES, DataError, load_dataset, load_fashion_mnist,
                          split_validation)
from pruning.defaults import DEFAULT_MODEL
from sparsecodesign import checks


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write(d, n_train=20, n_test=10, gz=True, labels_max=10):
    """Four tiny IDX files; returns their arrays and the SHA-256 of each decompressed file (by stem)."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, labels_max, n_train, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, labels_max, n_test, dtype=np.uint8)}
    sums = {}
    for key, stem in MNIST_FILES.items():
        raw = _idx(arrays[key])
        sums[stem] = hashlib.sha256(raw).hexdigest()
        if gz:
            (d / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (d / stem).write_bytes(raw)
    return arrays, sums


@pytest.mark.parametrize("gz", [True, False])
def test_reads_idx_files_checks_the_payload_and_standardizes(tmp_path, gz):
    arrays, sums = _write(tmp_path, gz=gz)
    ds = load_fashion_mnist(tmp_path, sha256=sums)
    assert ds.name == "fashion_mnist" and ds.num_classes == 10 and ds.input_shape == (1, 28, 28)
    assert ds.classes == FASHION_MNIST_CLASSES and ds.classes[9] == "Ankle boot"
    assert torch.equal(ds.train_y, torch.tensor(arrays["train_labels"], dtype=torch.long))
    x = (arrays["test_images"][3, 5, 7] / 255.0 - 0.2860) / 0.3530
    assert ds.test_x[3, 0, 5, 7].item() == pytest.approx(x, abs=1e-5)
    # the same checksums hold whatever the gzip wrapper: a recompressed file at another level still passes
    if gz:
        stem = MNIST_FILES["test_labels"]
        (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(_idx(arrays["test_labels"]), compresslevel=1))
        assert len(load_fashion_mnist(tmp_path, sha256=sums).test_y) == 10


def test_published_checksums_refuse_other_files_and_bad_files_are_named(tmp_path):
    _write(tmp_path)
    with pytest.raises(DataError, match="SHA-256 of the decompressed bytes"):   # tiny files are not the published set
        load_fashion_mnist(tmp_path)
    assert len(load_fashion_mnist(tmp_path, verify=False).train_y) == 20
    with pytest.raises(DataError, match="Fashion-MNIST file train-images-idx3-ubyte"):
        load_fashion_mnist(tmp_path / "missing")
    bad = tmp_path / "labels"
    bad.mkdir()
    _, sums = _write(bad, labels_max=12)
    with pytest.raises(DataError, match="label 1[01]; allowed: 0..9"):
        load_fashion_mnist(bad, sha256=sums)


def test_the_name_is_accepted_where_mnist_is(tmp_path):
    _, sums = _write(tmp_path)
    assert "fashion_mnist" in DATASETS and DEFAULT_MODEL["fashion_mnist"] == "lenet5"
    assert "fashion_mnist" in checks.FILE_DATASETS
    assert checks.DATA.check("fashion_mnist", "data", "prune") == "fashion_mnist"
    assert "'fashion_mnist'" in checks.DATA.allowed
    with pytest.raises(ValueError, match="needs --data-dir"):
        load_dataset("fashion_mnist")
    cfg = CompareConfig(model="lenet5", dataset="fashion_mnist", data_dir=str(tmp_path))
    assert cfg.dataset == "fashion_mnist"
    with pytest.raises(CompareError, match="dataset='fashion-mnist'"):
        CompareConfig(model="lenet5", dataset="fashion-mnist", data_dir=str(tmp_path))
    ds = load_fashion_mnist(tmp_path, sha256=sums)
    search, full = split_validation(ds, 0.25, 0)
    assert len(search.test_y) == 5 and search.classes == FASHION_MNIST_CLASSES and full is ds


def test_the_shared_files_match_the_published_payloads():
    """The real files where the checkout has them (../shared/data/fashion-mnist); skipped elsewhere."""
    from pathlib import Path

    d = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fashion-mnist"
    if not (d / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST files not present")
    from pruning.data import FASHION_MNIST_SHA256, _read_idx_bytes   # the test set's labels only: fast
    raw = _read_idx_bytes(d / "t10k-labels-idx1-ubyte.gz")
    assert hashlib.sha256(raw).hexdigest() == FASHION_MNIST_SHA256["t10k-labels-idx1-ubyte"]
    assert np.bincount(np.frombuffer(raw, np.uint8, offset=8)).tolist() == [1000] * 10


@pytest.mark.parametrize("model", ["lenet5", "resnet8"])
def test_the_shipped_fashion_mnist_compare_configs(model):
    """benchmarks/compare_fmnist_<model>.yaml: valid compare configs with the issue's tolerance, and the commands that
    run them in their header (the compare, 4-bit, and the seeds script)."""
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"compare_fmnist_{model}.yaml"
    text = path.read_text()
    cfg = CompareConfig.from_dict(yaml.safe_load(text))
    assert (cfg.model, cfg.dataset, cfg.bits, cfg.tolerance_pp, cfg.budget) == (model, "fashion_mnist", 8, 0.5,
                                                                                  "global")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert f"--config benchmarks/compare_fmnist_{model}.yaml" in header and "--bits 4" in header
    assert "benchmarks/compare_seeds.py" in header and "--seeds 0,1,2 --bits 8,4" in header
