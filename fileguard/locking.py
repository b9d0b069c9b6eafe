"""Output directories: ``OutputLock`` guards a job's output directory.

It is created and checked writable first (``ensure_writable``; ``check_writable`` checks without creating), then
``OUT/.lock`` is held with ``fcntl.flock`` for the whole run (the kernel drops it when the process dies, so a lock
left by a killed run is taken over, with a log line); a second job into the same directory fails at once with an
``OutputError`` naming the holder.  The lock file is created ``O_EXCL | O_NOFOLLOW``: a symlink, hard link,
directory or FIFO planted as ``OUT/.lock`` is refused in one line, never written through."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from .messages import clip
from .writing import file_mode

LOCK_NAME = ".lock"


class OutputError(ValueError):
    """An output directory that cannot be used: not writable, in use by another job, or holding a run
    the caller did not say to resume or discard.  Bad input: the CLI exits with status 2."""


def ensure_writable(out: str | os.PathLike) -> Path:
    """Create ``out`` (and its parents) and prove it writable with a probe file, before any work starts."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output directory {clip(out)} is a file; allowed: a directory (new or existing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".probe.", suffix=".tmp")
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise OutputError(f"output directory {clip(out)} is not writable ({e.strerror or e}); allowed: a "
                          "directory this user can create and write") from None
    return out


def check_writable(out: str | os.PathLike) -> Path:
    """``out`` could be written, checked before any work and without creating anything (a refused job leaves no
    empty directory behind): an existing directory is probed, a new one needs a writable nearest parent."""
    out = Path(out)
    if out.exists():
        return ensure_writable(out)
    if out.is_symlink():
        raise OutputError(f"output directory {clip(out)} is a dangling link; allowed: a directory (new or existing)")
    parent = next((p for p in out.absolute().parents if p.exists()), Path("/"))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {clip(out)} cannot be created under {clip(parent)} (not a writable "
                          "directory); allowed: a directory this user can create and write")
    return out


def _describe_holder(holder: dict) -> str:
    started = holder.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if isinstance(started, (int, float)) else "?"
    return f"{holder.get('job', 'job')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {when})"


def _own_worker_hint(holder: dict) -> str:
    """Where the holder is this process's parent: a worker process (``jobs`` > 1, started by spawn) re-ran the
    script that started the job, because the script does not guard it with ``if __name__ == "__main__":``."""
    if holder.get("pid") != os.getppid():
        return ""
    return ("; this process is a worker the holder started, and it re-ran your script: put the call under "
            "`if __name__ == \"__main__\":` (Python's spawn start method imports the main script in every worker)")


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        holder = json.loads(raw.decode()) if raw.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {"pid": "?"}


_LOCK_KINDS = ((stat.S_ISLNK, "symlink"), (stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "fifo"),
               (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"))


def _lock_kind(st: os.stat_result) -> str | None:
    """What a planted ``.lock`` is, where it is not a plain file of its own (None for a regular file)."""
    kind = next((name for test, name in _LOCK_KINDS if test(st.st_mode)), None)
    if kind is None and st.st_nlink > 1:
        return "hard link"   # a second name of another file: writing it would write that file
    return kind


class OutputLock:
    """Exclusive use of an output directory for one job: ``with OutputLock(out, "prune", log): ...``.

    ``OUT/.lock`` holds the holder's pid, host and start time; it is locked with ``fcntl.flock`` (released by
    the kernel if the process dies) and removed when the job ends.  Not re-entrant: a second lock on the same
    directory, from this process or another, raises ``OutputError`` at once.

    The lock file is created with ``O_EXCL | O_NOFOLLOW`` and an existing one is opened with ``O_NOFOLLOW``: a
    symlink (dangling or not), a hard link to another file, a directory, a FIFO or a device planted as
    ``OUT/.lock`` is refused in one line and never written through.  Directories the lock created are removed
    again at release when the job left them empty (a refused job leaves nothing behind)."""

    def __init__(self, out: str | os.PathLike, job: str = "job", log: Callable[[str], None] | None = None):
        self.out, self.job, self.log = Path(out), job, log or (lambda s: None)
        self.path = self.out / LOCK_NAME
        self._fd: int | None = None
        self._created: list[Path] = []

    def _refuse(self, kind: str, detail: str = "") -> OutputError:
        return OutputError(f"output directory {clip(self.out)}: its lock file {LOCK_NAME} is a {kind}{detail}; "
                           f"allowed: a regular file this job creates (remove {clip(self.path)} if no job runs "
                           "there)")

    def _open(self) -> int:
        """A file descriptor of ``OUT/.lock``: created exclusively, or the regular file already there."""
        flags = os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        for _ in range(100):
            try:
                return os.open(self.path, flags | os.O_CREAT | os.O_EXCL, file_mode())
            except FileExistsError:
                pass
            except FileNotFoundError:   # another job that had created OUT removed it again, empty: recreate it
                ensure_writable(self.out)
                continue
            try:
                st = os.lstat(self.path)
            except FileNotFoundError:
                continue   # removed by its holder between the two calls: create it
            kind = _lock_kind(st)
            if kind == "symlink":
                try:
                    detail = f" (to {clip(os.readlink(self.path), 80)})"
                except OSError:
                    detail = ""
                raise self._refuse("symlink" if self.path.exists() else "dangling symlink", detail)
            if kind is not None:
                raise self._refuse(kind)
            try:
                fd = os.open(self.path, flags)
            except FileNotFoundError:
                continue
            except OSError as e:
                if e.errno == errno.ELOOP:   # replaced by a symlink after the lstat
                    raise self._refuse("symlink") from None
                raise OutputError(f"output directory {clip(self.out)}: cannot open {LOCK_NAME} "
                                  f"({e.strerror or e})") from None
            kind = _lock_kind(os.fstat(fd))
            if kind is not None:   # swapped after the lstat
                os.close(fd)
                raise self._refuse(kind)
            return fd
        raise OutputError(f"output directory {clip(self.out)}: {LOCK_NAME} keeps appearing and vanishing; allowed: "
                          "one job per directory")

    def acquire(self) -> Self:
        import fcntl

        self._created = [p for p in (self.out.absolute(), *self.out.absolute().parents)
                         if not os.path.lexists(p)]
        ensure_writable(self.out)
        try:
            while True:
                fd = self._open()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise OutputError(f"output directory {clip(self.out)} is in use by another "
                                      f"{_describe_holder(holder)}; allowed: one job per directory (wait for it or "
                                      f"choose another --out){_own_worker_hint(holder)}") from None
                except OSError as e:
                    os.close(fd)
                    raise OutputError(f"output directory {clip(self.out)}: cannot lock {LOCK_NAME} "
                                      f"({e.strerror or e})") from None
                try:
                    same = os.fstat(fd).st_ino == os.lstat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)  # the previous holder removed the file between our open and our lock: try again
        except BaseException:
            self._tidy()
            raise
        stale = _read_holder(fd)
        if stale:
            self.log(f"{self.out}: taking over the lock of {_describe_holder(stale)}, which is no longer running")
        me = {"job": self.job, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(me) + "\n").encode())
        self._fd = fd
        return self

    def _tidy(self) -> None:
        """Remove the directories ``acquire`` created, innermost first, while they are empty."""
        for p in self._created:
            try:
                os.rmdir(p)
            except OSError:
                break
        self._created = []

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding the lock: a waiting opener re-checks the inode
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
        self._tidy()

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
