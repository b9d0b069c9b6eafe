"""Bounded reads: ``read_regular`` reads a regular file of at most ``cap`` bytes or refuses in one line
(``ReadRefused``); ``check_regular`` is the same check without opening, for a file a library must open by name.

A link to ``/dev/zero``, a FIFO, a directory or a huge file never fills memory.  Callers turn the refusal into
their own error class (``ArtifactError``, ``DataError`` ...) with ``str(e)``.  It is the one reader of every input
file (configs, data, images, checkpoints, ONNX graphs, artifacts)."""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path


class ReadRefused(ValueError):
    """The file cannot be read within the bound; the message names it."""


def read_regular(path: str | os.PathLike, cap: int, what: str = "file", opener=None) -> bytes:
    """The bytes of the regular file ``path`` (links followed), at most ``cap`` of them.

    ``opener`` (e.g. ``gzip.open``) wraps the file; ``cap`` then bounds the decompressed bytes."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ReadRefused(f"{path}: {what} not found") from None
    except OSError as e:
        raise ReadRefused(f"{path}: cannot open the {what}: {e.strerror or type(e).__name__}") from None
    st = os.fstat(fd)
    try:
        _refuse_irregular(path, st, None if opener is not None else cap, what)
    except ReadRefused:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb", buffering=0) as f:
        try:
            raw = _read_all(f, st.st_size) if opener is None else _read_wrapped(f, opener, cap)
        except OSError as e:
            raise ReadRefused(f"{path}: cannot read the {what}: {e.strerror or e}") from None
        except (EOFError, zlib.error) as e:
            raise ReadRefused(f"{path}: truncated or corrupt compressed {what} ({e})") from None
    if len(raw) > cap:
        more = " uncompressed" if opener is not None else ""
        raise ReadRefused(f"{path}: more than {cap:,} bytes{more}; allowed: at most {cap:,} for a {what}")
    return bytes(raw) if opener is not None else raw


def _refuse_irregular(path: Path, st: os.stat_result, cap: int | None, what: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ReadRefused(f"{path}: a directory; expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise ReadRefused(f"{path}: not a regular file (a device or FIFO); expected a {what}")
    if cap is not None and st.st_size > cap:
        raise ReadRefused(f"{path}: {st.st_size:,} bytes; allowed: at most {cap:,} for a {what}")


def check_regular(path: str | os.PathLike, cap: int | None = None, what: str = "file") -> int:
    """The size of the regular file ``path`` (links followed), checked as ``read_regular`` checks it but without
    opening it (a FIFO is never opened, so nothing blocks): for files another library opens by name, and for
    listings checked before any is read.  ``cap`` None: any size."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ReadRefused(f"{path}: {what} not found") from None
    except OSError as e:
        raise ReadRefused(f"{path}: cannot open the {what}: {e.strerror or type(e).__name__}") from None
    _refuse_irregular(path, st, cap, what)
    return st.st_size


def _read_all(f, size: int) -> bytearray:
    """All of a regular file whose size is known, one extra byte to see it grow (reads past 2 GiB too)."""
    buf = bytearray(size + 1)
    view, n = memoryview(buf), 0
    while n < len(buf):
        got = f.readinto(view[n:])
        if not got:
            break
        n += got
    view.release()
    if n > size:
        raise OSError(f"the file grew while it was read ({size:,} bytes when opened)")
    del buf[n:]
    return buf


def _read_wrapped(f, opener, cap: int) -> bytes:
    chunks, total = [], 0
    with opener(f, "rb") as g:
        while total <= cap:
            chunk = g.read(min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)
