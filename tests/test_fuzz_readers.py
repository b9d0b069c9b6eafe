"""Fuzzed data and model files (the fuzz suite of tests/test_fuzz_files.py, extended to the readers of issue 24):
an ``.npz``, an ImageFolder image, a ``.pt``/``.safetensors`` checkpoint and an ONNX graph, each mutated byte by
byte or built with hostile headers and values.  Each is either read into sound data (finite, of the documented
shapes) or refused with the reader's own error naming the file; never another exception, never a hang."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pruning.data import DataError, load_imagefolder, load_npz
from sparsesim.model_import import from_checkpoint, from_onnx
from sparsesim.workload import WorkloadError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# (position as a fraction of the file, replacement bytes); a truncation point
edits = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)), max_size=6)
cut = st.one_of(st.none(), st.floats(0, 1))


def _mutate(data: bytes, changes, truncate) -> bytes:
    b = bytearray(data)
    for where, new in changes:
        i = int(where * len(b))
        b[i:i + len(new)] = new
    if truncate is not None:
        b = b[: int(truncate * len(b))]
    return bytes(b)


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


VALID_NPZ = _npz_bytes(x_train=np.random.default_rng(0).random((6, 4, 4), dtype=np.float32),
                       y_train=np.arange(6) % 2, x_test=np.ones((3, 4, 4), np.uint8), y_test=np.arange(3) % 2)


def _sound_dataset(d) -> None:
    assert d.num_classes >= 2 and len(d.train_x) == len(d.train_y) >= 1 and len(d.test_x) == len(d.test_y) >= 1
    assert torch.isfinite(d.train_x).all() and torch.isfinite(d.test_x).all()
    assert int(d.train_y.min()) >= 0 and int(d.train_y.max()) < d.num_classes


@FUZZ
@given(changes=edits, truncate=cut)
def test_fuzzed_npz_bytes_load_soundly_or_are_one_data_error(tmp_path_factory, changes, truncate):
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    path.write_bytes(_mutate(VALID_NPZ, changes, truncate))
    try:
        d = load_npz(path, max_bytes=1 << 20)
    except DataError as e:
        assert str(path) in str(e)
        return
    _sound_dataset(d)


def _npy_header(shape, descr) -> bytes:
    import struct

    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    text += " " * (64 - (10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


@FUZZ
@given(shape=st.lists(st.integers(0, 10**12), min_size=0, max_size=5),
       descr=st.sampled_from(["<f4", "<f8", "|u1", "<i8", "|b1", "<c8", "|O", "<U3", "|V4", "<M8[s]"]),
       tail=st.binary(max_size=64), key=st.sampled_from(["x_train", "y_train", "x_test", "y_test"]))
def test_hostile_npy_headers_are_refused_before_any_allocation(tmp_path_factory, shape, descr, tail, key):
    path = tmp_path_factory.mktemp("npz") / "h.npz"
    good = {"x_train": np.zeros((4, 3), np.float32), "y_train": np.arange(4) % 2,
            "x_test": np.zeros((2, 3), np.float32), "y_test": np.arange(2) % 2}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k, a in good.items():
            buf = io.BytesIO()
            np.save(buf, a)
            z.writestr(f"{k}.npy", _npy_header(shape, descr) + tail if k == key else buf.getvalue())
    try:
        d = load_npz(path)
    except DataError as e:
        assert str(path) in str(e)
        return
    _sound_dataset(d)


def _png_bytes(w=5, h=4, seed=0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    a = np.random.default_rng(seed).integers(0, 255, (h, w, 3)).astype(np.uint8)
    Image.fromarray(a, "RGB").save(buf, format="PNG")
    return buf.getvalue()


@FUZZ
@given(changes=edits, truncate=cut, input_shape=st.sampled_from([None, (3, 4, 4), (1, 6, 2)]))
def test_fuzzed_images_decode_soundly_or_are_one_data_error(tmp_path_factory, changes, truncate, input_shape):
    pytest.importorskip("PIL")
    root = tmp_path_factory.mktemp("img")
    for split in ("train", "test"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            (root / split / c / "1.png").write_bytes(_png_bytes(seed=len(c)))
    (root / "train" / "a" / "0.png").write_bytes(_mutate(_png_bytes(), changes, truncate))
    try:
        d = load_imagefolder(root, input_shape=input_shape, max_pixels=1 << 16)
        batches = list(d.train.batches(2)) + list(d.test.batches(2))
    except DataError as e:
        assert str(root) in str(e)
        return
    for x, _ in batches:
        assert tuple(x.shape[1:]) == d.input_shape and torch.isfinite(x).all()


def _state_bytes(suffix: str) -> bytes:
    state = {"fc1.weight": torch.randn(4, 3), "fc1.bias": torch.zeros(4), "fc2.weight": torch.randn(2, 4)}
    if suffix == ".safetensors":
        from safetensors.torch import save
        return save(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


CHECKPOINTS = {s: _state_bytes(s) for s in (".pt", ".safetensors")}


def _sound_workloads(ws) -> None:
    assert ws
    for w in ws:
        assert w.weights is not None and np.isfinite(w.weights).all() and w.weights.shape == (w.M, w.K)
        assert 1 <= w.M <= 1 << 24 and 1 <= w.K <= 1 << 24 and w.N >= 1


@FUZZ
@given(suffix=st.sampled_from(sorted(CHECKPOINTS)), changes=edits, truncate=cut)
def test_fuzzed_checkpoint_bytes_price_soundly_or_are_one_workload_error(tmp_path_factory, suffix, changes,
                                                                         truncate):
    path = tmp_path_factory.mktemp("ck") / f"net{suffix}"
    path.write_bytes(_mutate(CHECKPOINTS[suffix], changes, truncate))
    try:
        ws = from_checkpoint(path)
    except WorkloadError as e:
        assert str(path) in str(e)
        return
    _sound_workloads(ws)


values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-2**31, 2**31 - 1),
                   st.booleans())


@FUZZ
@given(data=st.lists(values, min_size=6, max_size=6),
       dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.int64,
                              torch.bool, torch.complex64]),
       suffix=st.sampled_from([".pt", ".safetensors"]))
def test_fuzzed_checkpoint_weights_price_soundly_or_are_one_workload_error(tmp_path_factory, data, dtype, suffix):
    w = torch.tensor([float(v) for v in data], dtype=torch.float64)
    try:
        w = w.to(dtype).reshape(2, 3)
    except RuntimeError:
        return
    path = tmp_path_factory.mktemp("ck") / f"w{suffix}"
    state = {"fc.weight": w}
    try:
        if suffix == ".safetensors":
            from safetensors.torch import save_file
            save_file(state, str(path))
        else:
            torch.save(state, path)
    except Exception:  # noqa: BLE001 - a dtype the format cannot store never reaches the reader
        return
    try:
        ws = from_checkpoint(path)
    except WorkloadError as e:
        assert str(path) in str(e) and "fc.weight" in str(e)
        return
    _sound_workloads(ws)


def _onnx_bytes() -> bytes:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], name="/conv1/Conv", pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["h"], ["f"]),
             helper.make_node("Gemm", ["f", "v"], ["y"], name="/fc/Gemm", transB=1)]
    inits = [numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w"),
             numpy_helper.from_array(np.ones((3, 72), np.float32), "v")]
    return onnx.helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits)).SerializeToString()


@FUZZ
@given(changes=edits, truncate=cut, input_shape=st.sampled_from([None, (1, 6, 6), (1, 2**16, 2**16)]))
def test_fuzzed_onnx_bytes_price_soundly_or_are_one_workload_error(tmp_path_factory, changes, truncate,
                                                                   input_shape):
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    path.write_bytes(_mutate(_onnx_bytes(), changes, truncate))
    try:
        ws = from_onnx(path, input_shape=input_shape)
    except WorkloadError as e:
        assert str(path) in str(e)
        return
    _sound_workloads(ws)
