"""Per-image correctness of an artifact on a split, the input of compare's paired test, cached beside it.

``<artifact>/val_correct.npy`` holds one boolean per validation image (the search split's held-out images, in
their order).  It is read with ``allow_pickle=False`` and a size cap, and recomputed (by evaluating the artifact:
a fraction of a second on digits) when it is missing, unreadable, of another length or disagrees with the
manifest's recorded accuracy on that split (another split, another model)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pruning.artifact import read_manifest
from pruning.user_model import load_artifact_as
from fileguard import ReadRefused, atomic_write_bytes, read_regular

CORRECT_FILE = "val_correct.npy"


@torch.no_grad()
def per_image_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Whether ``model``'s top-1 class is right, image by image (bool array of ``len(y)``), in eval mode."""
    from pruning.train import _as_input

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = [(model(_as_input(x[i:i + batch_size].to(device), model)).argmax(1).cpu() == y[i:i + batch_size])
             for i in range(0, len(y), batch_size)]
    model.train(was_training)
    return torch.cat(parts).numpy().astype(bool) if parts else np.zeros(0, dtype=bool)


def _read(path: Path, n: int) -> np.ndarray | None:
    try:
        arr = np.load(io.BytesIO(read_regular(path, 4096 + 2 * n, "per-image correctness")), allow_pickle=False)
    except (OSError, ReadRefused, ValueError):
        return None
    return arr if arr.dtype == bool and arr.shape == (n,) else None


def validation_correct(path: str | Path, load_model: Callable[[Path], nn.Module], x: torch.Tensor,
                       y: torch.Tensor) -> np.ndarray:
    """The artifact's per-image correctness on the validation images ``x, y`` (the split its manifest's
    ``accuracy.pruned`` was measured on), from ``val_correct.npy`` when that matches, else evaluated and saved."""
    path = Path(path)
    recorded = read_manifest(path)["accuracy"]["pruned"]
    n = len(y)
    cached = _read(path / CORRECT_FILE, n)
    if cached is not None and round(float(cached.mean()) * n) == round(recorded * n):
        return cached
    correct = per_image_correct(load_model(path), x, y)
    buf = io.BytesIO()
    np.save(buf, correct, allow_pickle=False)
    atomic_write_bytes(path / CORRECT_FILE, buf.getvalue())
    return correct


def _model(cfg, path: Path) -> nn.Module:
    return load_artifact_as(path, cfg.model, cfg.input_shape).model


def correct_on_validation(cfg, path: str | Path, search_data) -> np.ndarray:
    """A compare artifact's per-image correctness on the validation images (``search_data``'s test split: the
    search split of ``analysis.compare_config.split_validation``), cached beside it."""
    return validation_correct(path, lambda p: _model(cfg, p), search_data.test_x, search_data.test_y)


def correct_on_test(cfg, path: str | Path, data) -> np.ndarray:
    """A compare artifact's per-image correctness on the test set (reported, never a gate; not cached)."""
    return per_image_correct(_model(cfg, Path(path)), data.test_x, data.test_y)
