"""``weights_only`` checkpoints of a pruning run, written atomically (generic file I/O: ``fileguard``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from fileguard import file_mode, read_regular

MAX_CHECKPOINT_BYTES = 16 << 30   # a run's checkpoint: model, optimizer state, teacher and masks


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """``torch.save`` to a temporary file, then an atomic rename: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load with ``weights_only=True``: tensors and plain containers only, no code.  Read through the bounded
    reader first (``read_regular``: a FIFO or device is refused, ``ReadRefused`` naming the file, never waited on);
    the caller names the file in any other error (``pruning.pipeline``)."""
    import io

    raw = read_regular(path, MAX_CHECKPOINT_BYTES, "checkpoint")
    return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
