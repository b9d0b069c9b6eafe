"""Data loaders, on tiny files the tests write."""

import gzip
import hashlib
import pickle
import struct

import numpy as np
import pytest

from pruning.data import DataError, download_mnist, load_cifar10, load_dataset, load_mnist, read_idx

STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_mnist(d, n_train=12, n_test=5, gz=True):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8)]
    sums = {}
    for stem, a in zip(STEMS, arrays):
        raw = _idx(a)
        if gz:
            data = gzip.compress(raw)
            (d / f"{stem}.gz").write_bytes(data)
            sums[f"{stem}.gz"] = hashlib.sha256(data).hexdigest()
        else:
            (d / stem).write_bytes(raw)
    return arrays, sums


def test_mnist_idx_gz_with_checksums(tmp_path):
    arrays, sums = _write_mnist(tmp_path)
    ds = load_mnist(tmp_path, sha256=sums)
    assert ds.train_x.shape == (12, 1, 28, 28) and ds.test_x.shape == (5, 1, 28, 28)
    assert ds.train_y.tolist() == arrays[1].tolist()
    assert np.allclose(((ds.train_x[0, 0].numpy() * 0.3081) + 0.1307) * 255, arrays[0][0], atol=1e-3)


def test_mnist_checksum_mismatch_and_truncation_are_errors(tmp_path):
    _, sums = _write_mnist(tmp_path)
    bad = dict(sums, **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(DataError, match="t10k-labels.*SHA-256 mismatch"):
        load_mnist(tmp_path, sha256=bad)
    with pytest.raises(DataError, match="SHA-256 mismatch"):  # tiny files are not the published MNIST
        load_mnist(tmp_path)
    (tmp_path / "short").write_bytes(_idx(np.zeros((3, 2), np.uint8))[:-2])
    with pytest.raises(DataError, match="payload has 4"):
        read_idx(tmp_path / "short")


def test_raw_idx_files_and_missing_files(tmp_path):
    _write_mnist(tmp_path, gz=False)
    assert len(load_mnist(tmp_path).train_y) == 12
    with pytest.raises(DataError, match="not found"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(ValueError, match="needs --data-dir"):
        load_dataset("mnist")


def test_download_verifies_each_file(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    _, sums = _write_mnist(src)
    dest = download_mnist(tmp_path / "dl", mirrors=("file://" + str(src) + "/",), sha256=sums)
    assert len(load_mnist(dest, sha256=sums).test_y) == 5
    bad = dict(sums, **{"train-images-idx3-ubyte.gz": "f" * 64})
    with pytest.raises(DataError, match="checksum mismatch"):
        download_mnist(tmp_path / "dl2", mirrors=("file://" + str(src) + "/",), sha256=bad)
    assert not (tmp_path / "dl2" / "train-images-idx3-ubyte.gz").exists()


def test_cifar10_python_batches(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 6), ("data_batch_2", 4), ("test_batch", 3)):
        with open(d / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b"labels": list(rng.integers(0, 10, n))}, f)
    ds = load_cifar10(tmp_path)
    assert ds.train_x.shape == (10, 3, 32, 32) and ds.test_x.shape == (3, 3, 32, 32)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"pixels": []}, f)
    with pytest.raises(DataError, match="not a CIFAR-10 python batch"):
        load_cifar10(tmp_path)


def test_digits_default_is_embedded_and_stratified(digits):
    assert digits.input_shape == (1, 8, 8)
    assert len(digits.train_y) + len(digits.test_y) == 1797
    counts = np.bincount(digits.test_y.numpy(), minlength=10)
    assert counts.min() >= 35
