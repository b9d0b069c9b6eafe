"""Data sets: small ones held as tensors, large ones streamed from disk.

* ``digits``      - scikit-learn's bundled 8x8 digits (the embedded default; no files)
* ``mnist``       - the four IDX files (``.gz`` or raw) in a directory, SHA-256 verified
* ``fashion_mnist`` - Fashion-MNIST's four IDX files (MNIST's names, sizes and format), same loader; the
                    decompressed bytes are SHA-256 verified (gzip wrappers differ between mirrors)
* ``cifar10``     - the python pickled batches (``data_batch_1..5``, ``test_batch``),
                    read by a restricted unpickler that admits only arrays (no code runs)
* ``imagefolder`` - ``DIR/train/<class>/*.png|jpg`` and ``DIR/test/<class>/...``
                    (``val`` accepted for ``test``), decoded image by image as
                    batches are drawn: the set never has to fit in memory
* ``npz``         - one ``.npz`` file of arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``
                    (x: N x C x H x W, N x H x W or N x F numbers; y: N integer labels 0..K-1)

Every data set offers ``train`` and ``test`` batch sources (``pruning.batches``).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fileguard import ReadRefused, check_regular, read_regular

from .batches import StreamSource, TensorSource

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# SHA-256 of the published .gz files (the values torchvision, Keras and TFDS check).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)
# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747): MNIST's four file names and IDX format.  SHA-256 of
# the *decompressed* files, computed from ../shared/data/fashion-mnist (Debian's dataset-fashion-mnist); its README
# gives the MD5s of the same decompressed bytes.  Checked on the payload because the .gz wrappers differ between
# mirrors while the bytes inside do not.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
FASHION_MNIST_MEAN_STD = (0.2860, 0.3530)   # of the 60,000 training images' pixels / 255, computed from the files
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "imagefolder", "npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".gif", ".tif", ".tiff", ".webp")


class DataError(RuntimeError):
    """Missing, corrupt or malformed data files."""


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    classes: tuple[str, ...] = ()   # class names where the data set has them (label i is classes[i])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def train(self) -> TensorSource:
        return TensorSource(self.train_x, self.train_y)

    @property
    def test(self) -> TensorSource:
        return TensorSource(self.test_x, self.test_y)


@dataclass(frozen=True)
class StreamDataset:
    """A data set read from disk batch by batch (same interface as ``Dataset`` minus the tensors)."""

    name: str
    train: StreamSource
    test: StreamSource
    num_classes: int
    input_shape: tuple[int, ...]
    classes: tuple[str, ...] = ()


def split_validation(data: Dataset | StreamDataset, fraction: float, seed: int):
    """(search data: train minus a held-out validation split, tested on that split; the data as given: full
    train, real test).  ``fraction`` of the training samples, drawn with ``seed``; a streamed set is split by
    index (``torch.utils.data.Subset``), nothing is loaded."""
    g = torch.Generator().manual_seed(seed + 1)
    n = len(data.train_y) if isinstance(data, Dataset) else len(data.train)
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(n * fraction))
    val, tr = perm[:n_val], perm[n_val:]
    if isinstance(data, Dataset):
        return Dataset(data.name, data.train_x[tr], data.train_y[tr], data.train_x[val], data.train_y[val],
                       data.num_classes, data.classes), data
    src = data.train

    def part(idx):
        return StreamSource(torch.utils.data.Subset(src.dataset, idx.tolist()), src.num_workers)
    return StreamDataset(data.name, part(tr), part(val), data.num_classes, data.input_shape, data.classes), data


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, **kw) -> Dataset:
    if name == "digits":
        return load_digits(**kw)
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} unknown; allowed: {', '.join(DATASETS)}")
    if data_dir is None:
        raise ValueError(f"dataset {name!r} needs --data-dir (" + ("FILE.npz" if name == "npz" else
                                                                  "a directory with its files") + ")")
    loader = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist, "cifar10": load_cifar10, "imagefolder": load_imagefolder, "npz": load_npz}[name]
    return loader(data_dir, **kw)


def _standardize(train: torch.Tensor, test: torch.Tensor, dims: tuple[int, ...]):
    mean = train.mean(dims, keepdim=True)
    std = train.std(dims, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """sklearn's 1,797 8x8 digits; a stratified, seeded train/test split."""
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    test_idx = []
    for c in range(10):
        idx = (y == c).nonzero().reshape(-1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        test_idx.append(idx[: int(round(len(idx) * test_fraction))])
    test_mask = torch.zeros(len(y), dtype=torch.bool)
    test_mask[torch.cat(test_idx)] = True
    tr, te = _standardize(x[~test_mask], x[test_mask], (0, 1, 2, 3))
    return Dataset("digits", tr, y[~test_mask], te, y[test_mask], 10)


# ----------------------------------------------------------------------- files
MAX_IDX_BYTES = 256 << 20   # an MNIST IDX file, uncompressed, is at most 47 MB


def _read_regular(path: Path, cap: int, opener=None) -> bytes:
    """At most ``cap`` bytes of a regular file (devices and FIFOs refused; ``opener`` e.g. gzip.open)."""
    try:
        return read_regular(path, cap, "data file", opener)
    except ReadRefused as e:
        raise DataError(str(e)) from None


# ----------------------------------------------------------------------- MNIST
def _sha256(path: Path) -> str:
    try:
        check_regular(path, None, "data file")   # a FIFO named like an MNIST file is refused, never opened
    except ReadRefused as e:
        raise DataError(str(e)) from None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (optionally gzip'ed): magic, dims, big-endian uint8 payload."""
    path = Path(path)
    return _parse_idx(_read_idx_bytes(path), path)


def _read_idx_bytes(path: Path) -> bytes:
    return _read_regular(path, MAX_IDX_BYTES, gzip.open if path.suffix == ".gz" else None)


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions, {len(raw)} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != math.prod(dims):   # exact integers: a header's claim never wraps around
        raise DataError(f"{path}: header says {dims} ({math.prod(dims):,} bytes), payload has {payload.size:,}")
    return payload.reshape(dims)


def _find(data_dir: Path, stem: str, what: str = "MNIST") -> Path:
    for cand in (data_dir / f"{stem}.gz", data_dir / stem):
        if cand.exists():
            return cand
    raise DataError(f"{what} file {stem}(.gz) not found in {data_dir}")


def load_mnist(data_dir: str | os.PathLike, verify: bool = True, sha256: dict | None = None) -> Dataset:
    """MNIST from IDX files; ``.gz`` files are checked against the published SHA-256."""
    data_dir = Path(data_dir)
    sums = MNIST_SHA256 if sha256 is None else sha256
    arrays = {}
    for key, stem in MNIST_FILES.items():
        path = _find(data_dir, stem)
        if verify and path.name in sums and _sha256(path) != sums[path.name]:
            raise DataError(f"{path}: SHA-256 mismatch (corrupt or not the published file)")
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise DataError(f"MNIST {split}: {len(arrays[f'{split}_images'])} images but "
                            f"{len(arrays[f'{split}_labels'])} labels")
    to_x = lambda a: (torch.tensor(a, dtype=torch.float32)[:, None] / 255.0 - 0.1307) / 0.3081  # noqa: E731
    to_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return Dataset("mnist", to_x(arrays["train_images"]), to_y(arrays["train_labels"]),
                   to_x(arrays["test_images"]), to_y(arrays["test_labels"]), 10)


def load_fashion_mnist(data_dir: str | os.PathLike, verify: bool = True, sha256: dict | None = None) -> Dataset:
    """Fashion-MNIST from its IDX files (``.gz`` or raw): MNIST's reader; each file's decompressed bytes are checked
    against ``FASHION_MNIST_SHA256`` (or ``sha256``, keyed by the file name without ``.gz``); pixels standardized
    with the training set's mean and standard deviation."""
    data_dir = Path(data_dir)
    sums = FASHION_MNIST_SHA256 if sha256 is None else sha256
    arrays = {}
    for key, stem in MNIST_FILES.items():
        path = _find(data_dir, stem, "Fashion-MNIST")
        raw = _read_idx_bytes(path)
        if verify and stem in sums and hashlib.sha256(raw).hexdigest() != sums[stem]:
            raise DataError(f"{path}: SHA-256 of the decompressed bytes does not match Fashion-MNIST's "
                            "(corrupt, or not the published file)")
        arrays[key] = _parse_idx(raw, path)
    for split in ("train", "test"):
        if arrays[f"{split}_images"].ndim != 3 or arrays[f"{split}_labels"].ndim != 1:
            raise DataError(f"Fashion-MNIST {split}: images of shape {arrays[f'{split}_images'].shape} and labels of "
                            f"shape {arrays[f'{split}_labels'].shape}; allowed: N x H x W images, N labels")
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise DataError(f"Fashion-MNIST {split}: {len(arrays[f'{split}_images'])} images but "
                            f"{len(arrays[f'{split}_labels'])} labels")
        if arrays[f"{split}_labels"].size and int(arrays[f"{split}_labels"].max()) >= len(FASHION_MNIST_CLASSES):
            raise DataError(f"Fashion-MNIST {split}: label {int(arrays[f'{split}_labels'].max())}; allowed: 0..9")
    mean, std = FASHION_MNIST_MEAN_STD
    to_x = lambda a: (torch.tensor(a, dtype=torch.float32)[:, None] / 255.0 - mean) / std  # noqa: E731
    to_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return Dataset("fashion_mnist", to_x(arrays["train_images"]), to_y(arrays["train_labels"]),
                   to_x(arrays["test_images"]), to_y(arrays["test_labels"]), 10, FASHION_MNIST_CLASSES)


def download_mnist(data_dir: str | os.PathLike, mirrors=MNIST_MIRRORS, sha256: dict | None = None) -> Path:
    """Fetch the four ``.gz`` files where a network exists; each is verified before it is kept."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sums = MNIST_SHA256 if sha256 is None else sha256
    for stem in MNIST_FILES.values():
        name = f"{stem}.gz"
        dest = data_dir / name
        if dest.exists() and _sha256(dest) == sums[name]:
            continue
        errors = []
        for mirror in mirrors:
            tmp = dest.with_suffix(".part")
            try:
                urllib.request.urlretrieve(mirror + name, tmp)
            except OSError as e:
                errors.append(f"{mirror}: {e}")
                continue
            if _sha256(tmp) != sums[name]:
                tmp.unlink()
                errors.append(f"{mirror}: checksum mismatch")
                continue
            os.replace(tmp, dest)
            break
        else:
            raise DataError(f"could not download {name}: " + "; ".join(errors))
    return data_dir


# -------------------------------------------------------------------- CIFAR-10
MAX_CIFAR_BATCH_BYTES = 256 << 20   # one published batch is ~31 MB


def _numpy_pickle_globals() -> dict:
    """What numpy's own pickles of plain arrays refer to (names differ between numpy 1 and 2)."""
    import codecs

    def dtype(*args):
        d = np.dtype(*args)
        if d.hasobject:
            raise pickle.UnpicklingError("object dtype refused")
        return d

    def encode(text, encoding="utf-8"):      # protocol-2 pickles written by python 3 spell bytes this way
        if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
            raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} refused")
        return codecs.encode(text, "latin1")

    arr = np.zeros(2, np.uint8)
    reconstruct, scalar, frombuffer = arr.__reduce__()[0], np.int64(0).__reduce__()[0], arr.__reduce_ex__(5)[0]
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): dtype, ("_codecs", "encode"): encode}
    for mod in ("numpy.core", "numpy._core"):
        out[(f"{mod}.multiarray", "_reconstruct")] = reconstruct
        out[(f"{mod}.multiarray", "scalar")] = scalar
        out[(f"{mod}.numeric", "_frombuffer")] = frombuffer
    return out


class _CifarUnpickler(pickle.Unpickler):
    """Admits dicts, lists, bytes, str, numbers and plain numpy arrays; any other global is refused unrun."""

    def __init__(self, f, path: Path):
        super().__init__(f, encoding="bytes")
        self.path = path
        self.allowed = _numpy_pickle_globals()

    def find_class(self, module: str, name: str):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise DataError(f"{self.path}: refused pickle global {module[:60]}.{name[:60]}; a CIFAR-10 batch holds "
                        "only dicts, lists, bytes, numbers and numpy arrays")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels of one python batch, read without running pickled code."""
    import io

    path = Path(path)
    raw = _read_regular(path, MAX_CIFAR_BATCH_BYTES)
    try:
        d = _CifarUnpickler(io.BytesIO(raw), path).load()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed pickle is a bad data file
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {str(e)[:80]})") from None
    try:
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        y = np.asarray(d[b"labels"], dtype=np.int64)
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {str(e)[:80]})") from None
    if y.shape != (len(x),) or (y.size and not 0 <= y.min() <= y.max() <= 9):
        raise DataError(f"{path}: not a CIFAR-10 python batch ({len(x)} images, labels of shape {y.shape} "
                        "in 0..9 expected)")
    return x, y


def load_cifar10(data_dir: str | os.PathLike) -> Dataset:
    """CIFAR-10 from the python batches (directory containing data_batch_* and test_batch)."""
    data_dir = Path(data_dir)
    if (data_dir / "cifar-10-batches-py").is_dir():
        data_dir = data_dir / "cifar-10-batches-py"

    def read(name: str):
        path = data_dir / name
        if not path.exists():
            raise DataError(f"CIFAR-10 batch {name} not found in {data_dir}")
        return read_cifar_batch(path)

    train = [read(f"data_batch_{i}") for i in range(1, 6) if (data_dir / f"data_batch_{i}").exists()]
    if not train:
        raise DataError(f"no data_batch_* files in {data_dir}")
    tx, ty = np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])
    vx, vy = read("test_batch")
    tr = torch.tensor(tx, dtype=torch.float32) / 255.0
    te = torch.tensor(vx, dtype=torch.float32) / 255.0
    tr, te = _standardize(tr, te, (0, 2, 3))
    return Dataset("cifar10", tr, torch.tensor(ty), te, torch.tensor(vy), 10)


# ----------------------------------------------------------------- ImageFolder
MAX_IMAGE_PIXELS = 1 << 26        # any one image, read from its header before it is decoded (~200 MB as RGB bytes)
MAX_IMAGE_FILE_BYTES = 1 << 28    # any one image file
MAX_SAMPLE_PIXELS = 1 << 20       # the sample size taken from the first image when no input shape is given


def _open_image(path: Path, max_pixels: int):
    """The image at ``path``, opened from at most ``MAX_IMAGE_FILE_BYTES`` read through ``read_regular`` (a FIFO
    or device is refused unopened) and not yet decoded: its size, from the header, is at most ``max_pixels``."""
    import io
    import warnings

    Image = _pil_image()
    raw = _read_regular(path, MAX_IMAGE_FILE_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # our own bound below is lower
            im = Image.open(io.BytesIO(raw))
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: cannot be read as an image (not a format Pillow knows, or corrupt)") from None
    except Image.DecompressionBombError:
        raise DataError(f"{path}: an image of more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; allowed: at most "
                        f"{max_pixels:,} pixels per image") from None
    except Exception as e:  # noqa: BLE001 - Pillow's plugins raise many types for a malformed file
        raise DataError(f"{path}: cannot be read as an image ({type(e).__name__}: {str(e)[:80]})") from None
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise DataError(f"{path}: a {w}x{h} image ({w * h:,} pixels); allowed: at most {max_pixels:,} pixels per "
                        "image")
    return im


class ImageFiles(torch.utils.data.Dataset):
    """Labelled image files decoded on access: grey (1 channel) or RGB, each resized on its own to ``size`` (W, H),
    standardised per channel; an image of more than ``max_pixels`` (its header's size) is refused undecoded."""

    def __init__(self, files: list[tuple[Path, int]], mode: str, size: tuple[int, int],
                 mean: torch.Tensor | None = None, std: torch.Tensor | None = None,
                 max_pixels: int = MAX_IMAGE_PIXELS):
        self.files, self.mode, self.size = files, mode, size
        self.mean, self.std, self.max_pixels = mean, std, max_pixels

    def __len__(self) -> int:
        return len(self.files)

    def raw(self, i: int) -> torch.Tensor:
        path, _ = self.files[i]
        im = _open_image(path, self.max_pixels)
        try:
            with im:
                im.draft(self.mode, self.size)   # JPEG: decode at a reduced scale where that still covers size
                im = im.convert(self.mode)
                if im.size != self.size:
                    im = im.resize(self.size)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except Exception as e:  # noqa: BLE001 - truncated or corrupt pixel data: Pillow raises many types
            raise DataError(f"{path}: cannot be read as an image ({type(e).__name__}: {str(e)[:80]})") from None
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())

    def __getitem__(self, i: int):
        x = self.raw(i)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, self.files[i][1]


def _pil_image():
    """PIL's Image module; without Pillow an ImageFolder cannot be decoded (one DataError line)."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError("--dataset imagefolder decodes images with Pillow, which is not installed: pip install "
                        "pillow (or use --dataset npz)") from None
    return Image


def _image_files(split_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """The images of a split; each is checked to be a regular file now (a FIFO is never opened)."""
    files = []
    for label, c in enumerate(classes):
        d = split_dir / c
        if d.is_dir():
            files += [(p, label) for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    for p, _ in files:
        try:
            check_regular(p, MAX_IMAGE_FILE_BYTES, "image file")
        except ReadRefused as e:
            raise DataError(str(e)) from None
    return files


def _sample_form(first: Path, input_shape: tuple[int, ...] | None, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """(mode, (W, H)) of every sample: from ``input_shape`` (C,H,W; C 1 = grey, 3 = RGB), else from the first
    training image, whose size must then be at most ``MAX_SAMPLE_PIXELS``."""
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[0] not in (1, 3) or not all(isinstance(v, int) and v >= 1 for v in shape) \
                or shape[1] * shape[2] > max_pixels:
            raise DataError(f"--input-shape / input_shape {shape}; allowed: 1,H,W (grey) or 3,H,W (RGB) for an "
                            f"ImageFolder, H x W at most {max_pixels:,}")
        return ("L" if shape[0] == 1 else "RGB"), (shape[2], shape[1])
    bound = min(max_pixels, MAX_SAMPLE_PIXELS)
    with _open_image(first, 1 << 62) as im:   # the header only; the bound that applies is the sample's, below
        mode, (w, h) = ("L" if im.mode in ("L", "1", "I", "I;16") else "RGB"), im.size
    if w * h > bound:
        raise DataError(f"{first}: the first training image is {w}x{h} ({w * h:,} pixels) and would set every "
                        f"sample's size; allowed without --input-shape: at most {bound:,} pixels (give "
                        "--input-shape C,H,W: every image is resized to it)")
    return mode, (w, h)


def load_imagefolder(data_dir: str | os.PathLike, num_workers: int = 0, stats_images: int = 512,
                     input_shape: tuple[int, ...] | None = None,
                     max_pixels: int = MAX_IMAGE_PIXELS) -> StreamDataset:
    """``DIR/train/<class>/*`` and ``DIR/test/<class>/*`` (or ``val``); classes are the sorted train folders.

    Every image is converted and resized on its own to ``input_shape`` (C,H,W: grey for C=1, RGB for C=3); without
    it the first training image fixes mode and size (at most ``MAX_SAMPLE_PIXELS``).  Each image's pixel count is
    read from its header and bounded by ``max_pixels`` before it is decoded; FIFOs and devices are refused; every
    error names the file.  Per-channel mean and std come from up to ``stats_images`` training images spread over
    the set."""
    root = Path(data_dir)
    train_dir = root / "train"
    test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DataError(f"{root}: an ImageFolder needs train/<class>/ and test/<class>/ (or val/) directories")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    train, test = _image_files(train_dir, classes), _image_files(test_dir, classes)
    if not train or not test:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) under "
                        f"{train_dir if not train else test_dir}/<class>/")
    mode, size = _sample_form(train[0][0], input_shape, max_pixels)
    probe = ImageFiles(train, mode, size, max_pixels=max_pixels)
    step = max(1, len(train) // stats_images)
    sample = torch.stack([probe.raw(i) for i in range(0, len(train), step)])
    mean = sample.mean((0, 2, 3)).reshape(-1, 1, 1)
    std = sample.std((0, 2, 3)).clamp_min(1e-6).reshape(-1, 1, 1)
    sets = [ImageFiles(f, mode, size, mean, std, max_pixels) for f in (train, test)]
    return StreamDataset("imagefolder", StreamSource(sets[0], num_workers), StreamSource(sets[1], num_workers),
                         len(classes), (1 if mode == "L" else 3, size[1], size[0]), tuple(classes))


# ------------------------------------------------------------------------ .npz
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
MAX_NPZ_BYTES = 4 << 30      # the .npz file; and, separately, its four arrays as loaded (x float32, y int64)
MAX_CLASSES = 1 << 20
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npz_x(path: Path, key: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind not in "biuf" or a.dtype == np.bool_:
        raise DataError(f"{path}: array {key} has dtype {a.dtype}; allowed: integers or floats")
    if a.ndim not in (2, 3, 4) or a.shape[0] == 0 or 0 in a.shape:
        raise DataError(f"{path}: array {key} has shape {a.shape}; allowed: N x C x H x W, N x H x W or N x F "
                        "with N >= 1")
    x = a.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: array {key} holds a NaN or infinity; allowed: finite numbers")
    return x[:, None] if x.ndim == 3 else x


def _npz_y(path: Path, key: str, a: np.ndarray, n: int) -> np.ndarray:
    if a.dtype.kind not in "iu":
        raise DataError(f"{path}: array {key} has dtype {a.dtype}; allowed: integer class labels 0..K-1")
    if a.shape != (n,):
        raise DataError(f"{path}: array {key} has shape {a.shape}; allowed: ({n},), one label per row of "
                        f"x_{key.split('_')[1]}")
    if a.min() < 0 or a.max() >= MAX_CLASSES:
        raise DataError(f"{path}: array {key} holds label {int(a.min() if a.min() < 0 else a.max())}; allowed: "
                        f"0..{MAX_CLASSES - 1:,}")
    return a.astype(np.int64)


def _npy_header(f, path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the ``.npy`` header at the start of the open member ``f`` (at most 10,000 bytes read)."""
    try:
        version = np.lib.format.read_magic(f)
        shape, _, dtype = _NPY_HEADERS[version](f)
    except (ValueError, KeyError, EOFError) as e:
        raise DataError(f"{path}: array {key} is not an .npy array ({type(e).__name__}: {str(e)[:80]}); allowed: "
                        "arrays written by numpy.savez") from None
    if dtype.hasobject:
        raise DataError(f"{path}: array {key} has dtype object, not a readable .npz of plain arrays; allowed: "
                        "integers or floats (no pickled objects)")
    return shape, dtype


def _npz_member(z, path: Path, key: str, budget: int, max_bytes: int) -> np.ndarray:
    """One array of an open ``.npz``, its sizes checked before any of it is inflated: the zip entry's declared
    size, then the ``.npy`` header's shape x itemsize (which must fill the entry exactly) and the size it has once
    loaded (x as float32, y as int64) against ``budget``, the bytes left of ``max_bytes``."""
    info = z.getinfo(f"{key}.npy" if f"{key}.npy" in z.namelist() else key)
    if info.file_size > max_bytes:
        raise DataError(f"{path}: array {key} is {info.file_size:,} bytes uncompressed; allowed: at most "
                        f"{max_bytes:,} for the four arrays of a .npz")
    with z.open(info) as f:
        shape, dtype = _npy_header(f, path, key)
        start = f.tell()
    count = math.prod(shape)
    loaded = count * (4 if key.startswith("x") else 8)
    if loaded > budget:
        raise DataError(f"{path}: array {key}: the header claims shape {shape} ({count:,} values, {loaded:,} bytes "
                        f"once loaded); allowed: at most {max_bytes:,} bytes for the four arrays of a .npz")
    if start + count * dtype.itemsize != info.file_size:
        raise DataError(f"{path}: array {key}: the header says {shape} {dtype} ({count * dtype.itemsize:,} bytes), "
                        f"the zip entry holds {info.file_size - start:,} bytes after it; truncated or not an .npy")
    with z.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def load_npz(path: str | os.PathLike, max_bytes: int = MAX_NPZ_BYTES) -> Dataset:
    """x_train, y_train, x_test, y_test of one ``.npz`` (numpy's ``.npy`` reader, ``allow_pickle=False``: no code
    runs).  Bounded: the file is at most ``max_bytes``, and so are its four arrays once loaded (x as float32, y as
    int64), checked from the zip's size fields and the ``.npy`` headers before anything is inflated.
    Images N x H x W gain a channel; x is standardised per channel with the training set's mean and std; the
    classes are 0..max label."""
    import io
    import zipfile

    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise DataError(f"--data-dir {path}: --dataset npz reads one .npz file (arrays {', '.join(NPZ_ARRAYS)})")
    raw = _read_regular(path, max_bytes)
    arrays, budget = {}, max_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = {n.removesuffix(".npy") for n in z.namelist()}
            missing = [k for k in NPZ_ARRAYS if k not in names]
            if missing:
                raise DataError(f"{path}: no array {missing[0]}; allowed: an .npz holding {', '.join(NPZ_ARRAYS)} "
                                f"(it has {', '.join(sorted(names)[:8]) or 'none'})")
            for k in NPZ_ARRAYS:
                arrays[k] = _npz_member(z, path, k, budget, max_bytes)
                budget -= arrays[k].size * (4 if k.startswith("x") else 8)
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
        # a corrupt zip or member, an unsupported compression, not an npz
        raise DataError(f"{path}: not a readable .npz of plain arrays ({type(e).__name__}: {str(e)[:80]})") from None
    tx, vx = (_npz_x(path, k, arrays[k]) for k in ("x_train", "x_test"))
    if tx.shape[1:] != vx.shape[1:]:
        raise DataError(f"{path}: array x_test has samples of shape {vx.shape[1:]}, x_train {tx.shape[1:]}; "
                        "allowed: the same shape")
    ty = _npz_y(path, "y_train", arrays["y_train"], len(tx))
    vy = _npz_y(path, "y_test", arrays["y_test"], len(vx))
    classes = int(max(ty.max(), vy.max())) + 1
    if classes < 2:
        raise DataError(f"{path}: arrays y_train/y_test hold one class; allowed: at least 2 classes")
    tr, te = torch.from_numpy(tx), torch.from_numpy(vx)
    dims = (0, 2, 3) if tr.ndim == 4 else (0,)
    if len(tr) > 1:
        tr, te = _standardize(tr, te, dims)
    return Dataset("npz", tr, torch.from_numpy(ty), te, torch.from_numpy(vy), classes)
