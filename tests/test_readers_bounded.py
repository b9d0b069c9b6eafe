"""Every reader bounded and named (issue 24, findings 3, 4 and 8): hostile files made in tmp_path, tiny and fast.

Each test reproduces one finding: a file whose header claims more than it holds, a member that inflates beyond
the bound, an image whose pixel count is out of bounds, a FIFO where a file was expected, weights that are not
finite real numbers.  Every refusal is one error line that names the file."""

from __future__ import annotations

import io
import os
import struct
import threading
import zipfile
import zlib

import numpy as np
import pytest

from pruning.data import DataError, load_imagefolder, load_npz


def _within(seconds: float, fn, fifo=None):
    """``fn()``'s result or exception, or a failure after ``seconds`` (a FIFO a reader blocks on is then opened
    for writing, so the thread ends)."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        if fifo is not None:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        t.join(5)
        pytest.fail(f"still running after {seconds} s (a hang)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ====================================================================== .npz (finding 3)
def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz(path, members: dict[str, bytes], compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _valid_members(n=8, hw=(4, 4)) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {"x_train.npy": _npy_bytes(rng.random((n, *hw), dtype=np.float32)),
            "y_train.npy": _npy_bytes(np.arange(n) % 2),
            "x_test.npy": _npy_bytes(rng.random((n, *hw), dtype=np.float32)),
            "y_test.npy": _npy_bytes(np.arange(n) % 2)}


def _npy_header(shape, descr="<f4") -> bytes:
    """An .npy v1.0 header claiming ``shape`` (no data after it)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def test_npz_header_claiming_1e9_samples_is_refused_naming_the_file_and_array(tmp_path):
    members = _valid_members()
    members["x_train.npy"] = _npy_header((10**9, 28, 28)) + b"\0" * 64   # a 2 KB file claiming 3 TB
    path = _npz(tmp_path / "liar.npz", members)
    assert path.stat().st_size < 4096
    with pytest.raises(DataError) as e:
        _within(20, lambda: load_npz(path))
    msg = str(e.value)
    assert str(path) in msg and "x_train" in msg and "10^9" not in msg
    assert "1000000000" in msg.replace(",", "") and "allowed" in msg


def test_npz_member_that_inflates_beyond_the_bound_is_refused_before_it_is_inflated(tmp_path):
    members = _valid_members(hw=(32, 32))
    members["x_train.npy"] = _npy_bytes(np.zeros((512, 32, 32), np.float32))   # 2 MiB of zeros, ~2 KB deflated
    members["y_train.npy"] = _npy_bytes(np.arange(512) % 2)
    path = _npz(tmp_path / "bomb.npz", members)
    assert path.stat().st_size < 64 << 10
    with pytest.raises(DataError, match=r"bomb\.npz: array x_train .*allowed: at most 1,048,576"):
        load_npz(path, max_bytes=1 << 20)
    assert load_npz(path).input_shape == (1, 32, 32)   # under the default bound it loads


def test_npz_declared_size_above_the_bound_is_refused_unread(tmp_path):
    """The zip's own size fields are read first: a member declaring 6.1 GB (the 6 MB file of the finding) is
    refused without inflating a byte of it."""
    members = _valid_members()
    path = _npz(tmp_path / "declared.npz", members, compress=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    # rewrite x_train.npy's uncompressed size in the central directory to 0xFFFFFFF0 (zip32's largest)
    cd = data.find(b"PK\x01\x02")
    while cd != -1:
        name_len = struct.unpack_from("<H", data, cd + 28)[0]
        if bytes(data[cd + 46: cd + 46 + name_len]) == b"x_train.npy":
            struct.pack_into("<I", data, cd + 24, 0xFFFFFFF0)
        cd = data.find(b"PK\x01\x02", cd + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"declared\.npz: array x_train.*4,294,967,280 bytes.*allowed: at most"):
        load_npz(path, max_bytes=1 << 30)


def test_npz_member_larger_than_its_declared_size_is_refused(tmp_path):
    """A member whose zip entry understates its size is read up to the declared size only, then refused."""
    path = _npz(tmp_path / "under.npz", _valid_members())
    data = bytearray(path.read_bytes())
    cd = data.find(b"PK\x01\x02")
    while cd != -1:
        name_len = struct.unpack_from("<H", data, cd + 28)[0]
        if bytes(data[cd + 46: cd + 46 + name_len]) == b"y_test.npy":
            struct.pack_into("<I", data, cd + 24, 140)
        cd = data.find(b"PK\x01\x02", cd + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"under\.npz: .*y_test"):
        load_npz(path)


@pytest.mark.parametrize("member, match", [
    (_npy_header((8, 4, 4), "|O"), "array x_train has dtype object"),
    (b"not an npy file at all", "array x_train is not an .npy array"),
    (_npy_header((8, 4, 4)), r"array x_train: the header says \(8, 4, 4\)"),
])
def test_npz_malformed_members_name_file_and_array(tmp_path, member, match):
    members = _valid_members()
    members["x_train.npy"] = member
    path = _npz(tmp_path / "bad.npz", members)
    with pytest.raises(DataError, match=r"bad\.npz: " + match):
        load_npz(path)


def test_npz_not_a_zip_and_fifo(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    os.replace(tmp_path / "plain.npy", tmp_path / "plain.npz")   # an .npy renamed: np.load would return an array
    with pytest.raises(DataError, match=r"plain\.npz: not a readable \.npz"):
        load_npz(tmp_path / "plain.npz")
    os.mkfifo(tmp_path / "fifo.npz")
    with pytest.raises(DataError, match=r"fifo\.npz: not a regular file"):
        _within(10, lambda: load_npz(tmp_path / "fifo.npz"), tmp_path / "fifo.npz")


# ====================================================================== ImageFolder (finding 4)
def _png(path, w: int, h: int, grey: bool = True, data: bytes | None = None) -> None:
    """A PNG whose header says ``w`` x ``h``; its pixels are ``data`` (raw scanlines) or a deflated stub."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0 if grey else 2, 0, 0, 0)
    idat = zlib.compress(data if data is not None else b"\0" * 64)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _img(path, w: int, h: int, mode: str = "RGB", seed: int = 0) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 255, (h, w, 3) if mode == "RGB" else (h, w)).astype(np.uint8)
    Image.fromarray(a, mode).save(path)


def _folder(root, sizes_train=((6, 5), (40, 30), (7, 9)), sizes_test=((12, 12),), mode="RGB"):
    for split, sizes in (("train", sizes_train), ("test", sizes_test)):
        for i, (w, h) in enumerate(sizes):
            _img(root / split / ("a" if i % 2 == 0 else "b") / f"{i}.png", w, h, mode, seed=i)
    return root


def test_imagefolder_resizes_each_image_independently_to_the_input_shape(tmp_path):
    pytest.importorskip("PIL")
    d = load_imagefolder(_folder(tmp_path), input_shape=(3, 8, 10))
    assert d.input_shape == (3, 8, 10)
    for source in (d.train, d.test):
        for x, _ in source.batches(2):
            assert tuple(x.shape[1:]) == (3, 8, 10)
    grey = load_imagefolder(tmp_path, input_shape=(1, 4, 4))
    x, _ = next(iter(grey.train.batches(3)))
    assert tuple(x.shape) == (3, 1, 4, 4)
    with pytest.raises(DataError, match=r"input_shape \(2, 4, 4\); allowed: 1,H,W \(grey\) or 3,H,W \(RGB\)"):
        load_imagefolder(tmp_path, input_shape=(2, 4, 4))


def test_imagefolder_first_image_of_95_megapixels_no_longer_sets_every_size(tmp_path):
    """A 92 KB first image of 95 Mpx made every sample 95 Mpx (~12 GB a batch).  Its pixel count is read from the
    header: without --input-shape it is refused naming the file before any image is decoded; with --input-shape
    each image is decoded within the per-image bound or refused naming it."""
    pytest.importorskip("PIL")
    _folder(tmp_path)
    big = tmp_path / "train" / "a" / "0-big.png"          # sorts first
    _png(big, 9_800, 9_700)
    assert big.stat().st_size < 4096
    with pytest.raises(DataError) as e:
        _within(20, lambda: load_imagefolder(tmp_path))
    assert str(big) in str(e.value) and "9800x9700" in str(e.value) and "--input-shape" in str(e.value)
    with pytest.raises(DataError, match=r"0-big\.png: a 9800x9700 image \(95,060,000 pixels\); allowed: at most "):
        _within(20, lambda: load_imagefolder(tmp_path, input_shape=(3, 8, 8)))


def test_imagefolder_per_image_pixel_bound_names_the_file(tmp_path):
    pytest.importorskip("PIL")
    _folder(tmp_path)
    with pytest.raises(DataError, match=r"1\.png: a 40x30 image \(1,200 pixels\); allowed: at most 1,000 pixels"):
        load_imagefolder(tmp_path, input_shape=(3, 8, 8), max_pixels=1000)


def test_imagefolder_200_megapixel_png_is_refused_naming_the_file(tmp_path):
    """Pillow's own decompression-bomb error (above 2 x 89 Mpx) named no file."""
    pytest.importorskip("PIL")
    _folder(tmp_path)
    huge = tmp_path / "test" / "a" / "huge.png"
    _png(huge, 20_000, 10_000)
    with pytest.raises(DataError) as e:
        d = load_imagefolder(tmp_path, input_shape=(3, 8, 8))
        for _ in d.test.batches(4):
            pass
    assert str(huge) in str(e.value) and "allowed: at most" in str(e.value)


def test_imagefolder_fifo_named_png_is_refused_not_waited_on(tmp_path):
    pytest.importorskip("PIL")
    _folder(tmp_path)
    fifo = tmp_path / "train" / "b" / "x.png"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"x\.png: not a regular file \(a device or FIFO\)"):
        _within(10, lambda: load_imagefolder(tmp_path, input_shape=(3, 8, 8)), fifo)
    os.unlink(fifo)
    os.symlink("/dev/zero", fifo)
    with pytest.raises(DataError, match=r"x\.png: not a regular file"):
        _within(10, lambda: load_imagefolder(tmp_path, input_shape=(3, 8, 8)))


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\xff" * 20])
def test_imagefolder_corrupt_image_anywhere_names_the_file(tmp_path, content):
    pytest.importorskip("PIL")
    _folder(tmp_path)
    bad = tmp_path / "test" / "b" / "zz.png"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(content)
    d = load_imagefolder(tmp_path, input_shape=(3, 8, 8))
    with pytest.raises(DataError, match=r"zz\.png: cannot be read as an image"):
        for _ in d.test.batches(4):
            pass


def test_imagefolder_truncated_pixels_name_the_file(tmp_path):
    pytest.importorskip("PIL")
    _folder(tmp_path)
    _png(tmp_path / "test" / "b" / "short.png", 50, 50, data=b"\0" * 100)   # 100 of 2,550 scanline bytes
    d = load_imagefolder(tmp_path, input_shape=(3, 8, 8))
    with pytest.raises(DataError, match=r"short\.png: cannot be read as an image"):
        for _ in d.test.batches(4):
            pass


def test_prune_cli_passes_input_shape_to_the_imagefolder_and_refuses_in_one_line(tmp_path, capsys):
    pytest.importorskip("PIL")
    from sparsecodesign.cli import main

    _folder(tmp_path / "imgs")
    _png(tmp_path / "imgs" / "train" / "a" / "0-big.png", 2_000, 1_000)
    argv = ["prune", "--dataset", "imagefolder", "--data-dir", str(tmp_path / "imgs"), "--model", "digits_cnn",
            "--out", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0-big.png: the first training image is 2000x1000" in err
    os.mkfifo(tmp_path / "imgs" / "test" / "a" / "f.png")
    assert _within(20, lambda: main(argv + ["--input-shape", "1,8,8"])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "f.png: not a regular file (a device or FIFO)" in err


# ====================================================================== checkpoints and ONNX (finding 8)
def _state(weight) -> dict:
    import torch

    return {"fc1.weight": weight, "fc1.bias": torch.zeros(weight.shape[0]),
            "fc2.weight": torch.ones(3, weight.shape[0])}


def _save(path, state) -> None:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import save_file
        save_file(state, str(path))
    else:
        torch.save(state, path)


def _bad_weights():
    import torch

    return [(torch.tensor([[float("nan"), 1.0], [0.0, 2.0]]), "NaN or infinite"),
            (torch.tensor([[float("-inf"), 1.0], [0.0, 2.0]]), "NaN or infinite"),
            (torch.tensor([[1e300, 1.0], [0.0, 2.0]], dtype=torch.float64), "NaN or infinite"),
            (torch.ones(2, 2, dtype=torch.bool), "dtype bool"),
            (torch.ones(2, 2, dtype=torch.complex64), "dtype complex64")]


@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_weights_are_checked_like_an_artifacts(tmp_path, case, suffix):
    from sparsesim.model_import import from_checkpoint
    from sparsesim.workload import WorkloadError

    weight, why = _bad_weights()[case]
    path = tmp_path / f"w{suffix}"
    try:
        _save(path, _state(weight))
    except Exception:  # noqa: BLE001 - a dtype this safetensors cannot store cannot reach the reader either
        pytest.skip(f"{suffix} cannot store {weight.dtype}")
    with pytest.raises(WorkloadError, match=rf"{path}: .*'fc1\.weight'.*{why}"):
        from_checkpoint(path)


def test_pruned_form_checkpoint_complex_weight_is_refused_not_cast(tmp_path):
    import torch

    from sparsesim.model_import import from_checkpoint, load_checkpoint_model
    from sparsesim.workload import WorkloadError

    state = {"fc1.weight_orig": torch.ones(2, 2, dtype=torch.complex64), "fc1.weight_mask": torch.ones(2, 2)}
    torch.save(state, tmp_path / "p.pt")
    with pytest.raises(WorkloadError, match=r"p\.pt: .*'fc1\.weight_orig'.*dtype complex64"):
        from_checkpoint(tmp_path / "p.pt")
    torch.save({"0.weight": torch.full((2, 2), float("nan")), "0.bias": torch.zeros(2)}, tmp_path / "n.pt")
    with pytest.raises(WorkloadError, match=r"n\.pt: .*'0\.weight'.*NaN"):
        load_checkpoint_model(tmp_path / "n.pt", torch.nn.Sequential(torch.nn.Linear(2, 2)))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors", ".onnx"])
@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"PK\x03\x04 truncated zip", os.urandom(300)])
def test_corrupt_or_empty_model_files_name_the_file(tmp_path, suffix, content):
    pytest.importorskip("onnx")
    from sparsesim.model_import import from_checkpoint, from_onnx
    from sparsesim.workload import WorkloadError

    path = tmp_path / f"m{suffix}"
    path.write_bytes(content)
    with pytest.raises(WorkloadError, match=rf"^{path}: "):
        (from_onnx if suffix == ".onnx" else from_checkpoint)(path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".onnx"])
def test_fifo_or_device_model_file_is_refused_not_waited_on(tmp_path, suffix):
    pytest.importorskip("onnx")
    from sparsesim.model_import import from_checkpoint, from_onnx
    from sparsesim.workload import WorkloadError

    read = from_onnx if suffix == ".onnx" else from_checkpoint
    fifo = tmp_path / f"f{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(WorkloadError, match=r"not a regular file \(a device or FIFO\)"):
        _within(10, lambda: read(fifo), fifo)
    dev = tmp_path / f"d{suffix}"
    os.symlink("/dev/zero", dev)
    with pytest.raises(WorkloadError, match=rf"{dev}: not a regular file"):
        _within(10, lambda: read(dev))


def test_resume_checkpoint_fifo_is_refused_not_waited_on(tmp_path):
    from pruning.checkpoint import load_checkpoint

    os.mkfifo(tmp_path / "checkpoint.pt")
    with pytest.raises(Exception, match=r"checkpoint\.pt: not a regular file"):
        _within(10, lambda: load_checkpoint(tmp_path / "checkpoint.pt"), tmp_path / "checkpoint.pt")


def _onnx_conv(path, in_hw=(8, 8), weight=None, op="Conv"):
    """A one-node graph: Conv of a 1 x 1 x H x W input with a 4 x 1 x 3 x 3 weight (or Gemm with a 2-D one)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    if op == "Conv":
        w = np.ones((4, 1, 3, 3), np.float32) if weight is None else weight
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, *in_hw])
        node = helper.make_node("Conv", ["x", "w"], ["y"], name="/conv1/Conv")
    else:
        w = np.ones((4, 3), np.float32) if weight is None else weight
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
        node = helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc/Gemm", transB=1)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_onnx_input_of_2_30_squared_is_refused_not_priced_at_411_years(tmp_path):
    from sparsesim.model_import import from_onnx
    from sparsesim.workload import WorkloadError

    path = _onnx_conv(tmp_path / "huge.onnx", in_hw=(2**30, 2**30))
    with pytest.raises(WorkloadError, match=rf"{path}: .*1073741824.*allowed"):
        from_onnx(path)
    assert len(from_onnx(_onnx_conv(tmp_path / "ok.onnx"))) == 1


def test_onnx_cli_huge_input_exits_2_in_one_line(tmp_path, capsys):
    from sparsecodesign.cli import main

    path = _onnx_conv(tmp_path / "huge.onnx", in_hw=(2**30, 2**30))
    assert main(["simulate", str(path), "--hw", "eyeriss_like", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "huge.onnx" in err


@pytest.mark.parametrize("weight, why", [
    (np.full((4, 1, 3, 3), np.nan, np.float32), "NaN or infinite"),
    (np.full((4, 1, 3, 3), np.inf, np.float32), "NaN or infinite"),
    (np.ones((4, 1, 3, 3), np.bool_), "dtype bool"),
    (np.ones((4, 1, 3, 3), np.complex64), "dtype complex64"),
])
def test_onnx_weights_are_checked_like_an_artifacts(tmp_path, weight, why):
    from sparsesim.model_import import from_onnx
    from sparsesim.workload import WorkloadError

    path = _onnx_conv(tmp_path / "w.onnx", weight=weight)
    with pytest.raises(WorkloadError, match=rf"{path}: layer 'conv1': .*{why}"):
        from_onnx(path)


# ====================================================================== every other input: one shared check
def test_every_input_refuses_a_fifo_in_one_named_line(tmp_path):
    """Configs, hardware files, SCALE-Sim configs, MNIST files and a sweep's artifact: each reader refuses a FIFO
    (never opened, never waited on) with its own error class, naming the file."""
    from accel_models.hardware import HardwareError, load_accelerator
    from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg
    from analysis.sweep import SweepError, _artifact_digest
    from pruning.config import ConfigError, PruneConfig
    from pruning.data import load_mnist
    from fileguard import YamlError

    def fifo(name):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(p)
        return p

    cases = [(fifo("c.yaml"), lambda p: PruneConfig.from_yaml(p), (ConfigError, YamlError)),
             (fifo("hw.yaml"), lambda p: load_accelerator(p), (HardwareError, YamlError)),
             (fifo("s.cfg"), lambda p: accelerator_from_scalesim_cfg(p), HardwareError),
             (fifo("mnist/train-images-idx3-ubyte.gz"), lambda p: load_mnist(p.parent), DataError),
             (fifo("art/weights.safetensors"), lambda p: _artifact_digest(str(p.parent)), SweepError)]
    (tmp_path / "art" / "manifest.json").write_text("{}")
    for path, read, errors in cases:
        with pytest.raises(errors, match=rf"{path}: not a regular file \(a device or FIFO\)"):
            _within(10, lambda: read(path), path)


def test_imagefolder_error_in_a_dataloader_worker_is_still_one_line_naming_the_file(tmp_path):
    pytest.importorskip("PIL")
    _folder(tmp_path)
    (tmp_path / "test" / "a" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    d = load_imagefolder(tmp_path, num_workers=1, input_shape=(3, 8, 8))
    with pytest.raises(DataError) as e:
        for _ in d.test.batches(4):
            pass
    assert "zz.png: cannot be read as an image" in str(e.value) and len(str(e.value).splitlines()) == 1


def test_onnx_malformed_node_attributes_are_one_error_naming_the_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from sparsesim.model_import import from_onnx
    from sparsesim.workload import WorkloadError

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    for attrs in ({"strides": [0, 0]}, {"group": 0}, {"pads": [1]}, {"kernel_shape": [3]}):
        node = helper.make_node("Conv", ["x", "w"], ["y"], name="/conv1/Conv", **attrs)
        graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32),
                                                                                   "w")])
        path = tmp_path / "m.onnx"
        onnx.save(helper.make_model(graph), str(path))
        with pytest.raises(WorkloadError, match=rf"^{path}: "):
            from_onnx(path)


def test_simulate_cli_refuses_a_nan_checkpoint_in_one_line(tmp_path, capsys):
    import torch

    from sparsecodesign.cli import main

    torch.save(_state(torch.tensor([[float("nan"), 1.0], [0.0, 2.0]])), tmp_path / "nan.pt")
    assert main(["simulate", str(tmp_path / "nan.pt"), "--hw", "eyeriss_like", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nan.pt: weight 'fc1.weight' holds NaN or infinite values" in err


def test_idx_header_whose_claimed_size_wraps_int64_is_refused(tmp_path):
    """4 dims of 2^16 claim 2^64 bytes: numpy's int64 product wraps to 0, which an empty payload matched."""
    from pruning.data import read_idx

    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">HBB", 0, 8, 4) + struct.pack(">4I", *(1 << 16,) * 4))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: header says .*18,446,744,073,709,551,616 bytes"):
        read_idx(path)
