"""Atomic file writes, ``weights_only`` checkpoints and output-directory locks.

Every file is written to a temporary file in its directory, fsynced, given the
mode the process umask asks for (``0o666 & ~umask``, as ``open`` would) and
renamed over its target: a kill never leaves half a file.

``OutputLock`` guards a job's output directory: the directory is created and
checked writable first, then ``OUT/.lock`` is held with ``fcntl.flock`` for the
whole run (the kernel drops it when the process dies, so a lock file left by a
killed run is taken over, with a log line); a second job into the same
directory fails at once with an ``OutputError`` naming the holder.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import torch

LOCK_NAME = ".lock"


class OutputError(ValueError):
    """An output directory that cannot be used: not writable, in use by another job, or holding a run
    the caller did not say to resume or discard.  Bad input: the CLI exits with status 2."""


def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` (no change to it, no race with other threads);
    where that is not available, set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode a new file gets under the current umask (0o644 under umask 0o022)."""
    return 0o666 & ~current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), file_mode())  # mkstemp makes 0600; honour the umask like open() does
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


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
    """Load with ``weights_only=True``: tensors and plain containers only, no code."""
    return torch.load(path, map_location="cpu", weights_only=True)


# ------------------------------------------------------------ output directories
def _short(value, limit: int = 80) -> str:
    s = str(value)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def ensure_writable(out: str | os.PathLike) -> Path:
    """Create ``out`` (and its parents) and prove it writable with a probe file, before any work starts."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output directory {_short(out)} is a file; allowed: a directory (new or existing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe.", suffix=".tmp")
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise OutputError(f"output directory {_short(out)} is not writable ({e.strerror or e}); allowed: a "
                          "directory this user can create and write") from None
    return out


def check_writable(out: str | os.PathLike) -> Path:
    """``out`` could be written, checked before any work and without creating anything (a refused job leaves no
    empty directory behind): an existing directory is probed, a new one needs a writable nearest parent."""
    out = Path(out)
    if out.exists():
        return ensure_writable(out)
    if out.is_symlink():
        raise OutputError(f"output directory {_short(out)} is a dangling link; allowed: a directory (new or existing)")
    parent = next((p for p in out.absolute().parents if p.exists()), Path("/"))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {_short(out)} cannot be created under {_short(parent)} (not a writable "
                          "directory); allowed: a directory this user can create and write")
    return out


def _describe(holder: dict) -> str:
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"{holder.get('job', 'job')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {when})"


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        holder = json.loads(raw.decode()) if raw.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {"pid": "?"}


class OutputLock:
    """Exclusive use of an output directory for one job: ``with OutputLock(out, "prune", log): ...``.

    ``OUT/.lock`` holds the holder's pid, host and start time; it is locked with ``fcntl.flock`` (released by
    the kernel if the process dies) and removed when the job ends.  Not re-entrant: a second lock on the same
    directory, from this process or another, raises ``OutputError`` at once."""

    def __init__(self, out: str | os.PathLike, job: str = "job", log: Callable[[str], None] | None = None):
        self.out, self.job, self.log = Path(out), job, log or (lambda s: None)
        self.path = self.out / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> Self:
        import fcntl

        ensure_writable(self.out)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputError(f"output directory {_short(self.out)} is in use by another {_describe(holder)}; "
                                  "allowed: one job per directory (wait for it or choose another --out)") from None
            except OSError as e:
                os.close(fd)
                raise OutputError(f"output directory {_short(self.out)}: cannot lock {LOCK_NAME} "
                                  f"({e.strerror or e})") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder removed the file between our open and our lock: try again
        stale = _read_holder(fd)
        if stale:
            self.log(f"{self.out}: taking over the lock of {_describe(stale)}, which is no longer running")
        me = {"job": self.job, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(me) + "\n").encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding the lock: a waiting opener re-checks the inode
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
