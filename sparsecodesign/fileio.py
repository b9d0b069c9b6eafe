"""Files in and out, the same way on every floor: bounded reads, strict YAML, atomic writes, output locks.

The one module of generic I/O that ``pruning``, ``sparsesim``, ``accel_models`` and ``analysis`` all import
(it imports nothing of theirs, so data still flows one way):

* ``read_regular`` reads a regular file of at most ``cap`` bytes or refuses in one line (``ReadRefused``):
  a link to ``/dev/zero``, a FIFO, a directory or a huge file never fills memory.  Callers turn the
  refusal into their own error class (``ArtifactError``, ``DataError`` ...) with ``str(e)``.  It is the one
  reader of every input file (configs, data, images, checkpoints, ONNX graphs, artifacts); ``check_regular`` is
  the same check without opening, for a file a library must open by name.
* ``load_unique_yaml`` / ``loads_unique_yaml`` read YAML strictly: safe tags only (no Python objects), at most
  ``MAX_YAML_BYTES`` of UTF-8, duplicate keys are errors (merge keys ``<<: *base`` work, the mapping's own keys
  win), aliases expand to at most ``MAX_YAML_NODES`` nodes and never recursively, ``1e-3`` is a number
  (YAML 1.2); every failure is one ``YamlError`` line naming the file, line and column.
* ``yaml_line(text, keys)`` is the line of a field (``("workload", "ratios", 1)``) in a YAML text, for messages
  about a value that parsed but is not allowed.
* ``short(value)`` is how a value appears in an error message (bounded, one line), ``clip(text)`` free text,
  ``as_tuple(value)`` how a list field reads a scalar.
* ``atomic_write_bytes/_text/_json`` write a temporary file in the target's directory, fsync it, give it the
  mode the umask asks for (``0o666 & ~umask``, as ``open`` would) and rename it over the target: a kill never
  leaves half a file.
* ``OutputLock`` guards a job's output directory: created and checked writable first (``ensure_writable``;
  ``check_writable`` checks without creating), then ``OUT/.lock`` held with ``fcntl.flock`` for the whole run
  (the kernel drops it when the process dies, so a lock left by a killed run is taken over, with a log line);
  a second job into the same directory fails at once with an ``OutputError`` naming the holder.  The lock file
  is created ``O_EXCL | O_NOFOLLOW``: a symlink, hard link, directory or FIFO planted as ``OUT/.lock`` is refused
  in one line, never written through.
"""

from __future__ import annotations

import errno
import json
import os
import re
import reprlib
import socket
import stat
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Self

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode


# ================================================================ bounded reads
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


# ================================================================ strict YAML, messages
MAX_YAML_BYTES = 1 << 20     # input files are configs, not data
MAX_YAML_NODES = 100_000     # nodes after alias expansion


class YamlError(ValueError):
    """A YAML file that cannot be read or parsed; the message names the file (and line)."""


class DuplicateKeyError(YamlError):
    pass


# ------------------------------------------------------------- messages
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlong = 40


def short(value, n: int = 80) -> str:
    """``repr(value)`` for a message: one line, at most ``n`` characters, cheap for any size of value."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails must not hide the message it belongs in
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def clip(text: str, n: int = 160) -> str:
    """Free text for a message: one line, at most ``n`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def unknown_fields(unknown, allowed, limit: int = 5) -> str:
    """``unknown field(s) 'tolerance' (did you mean 'tolerance_pp'?), ...``: each name with its nearest allowed one."""
    import difflib

    names = sorted(unknown, key=str)
    items = []
    for k in names[:limit]:
        near = difflib.get_close_matches(str(k), [str(a) for a in allowed], n=1, cutoff=0.6)
        items.append(short(k, 40) + (f" (did you mean {near[0]!r}?)" if near else ""))
    return f"unknown field(s) {', '.join(items)}{' ...' if len(names) > limit else ''}"


def as_tuple(value) -> tuple:
    """A list field's value as a tuple: a list or tuple as is, any other value as a one-element list
    (``structures: filter`` means ``[filter]``, never ``[f, i, l, t, e, r]``)."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


# --------------------------------------------------------------- loader
class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: construct_mapping says so
            continue
        if duplicate:
            raise DuplicateKeyError(f"duplicate key {short(key)} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    loader.flatten_mapping(node)  # merge keys: merged pairs first, so the mapping's own keys win
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
# YAML 1.2 floats without a dot (1e-3, 2E9): PyYAML (YAML 1.1) reads them as strings
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.[0-9_]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."))


def _children(node) -> list:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root, source: str, limit: int) -> None:
    """Refuse a document whose aliases expand it beyond ``limit`` nodes, or refer to themselves."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            open_ids.discard(nid)
            total = 1 + sum(sizes[id(k)] for k in _children(node))
            if total > limit:
                raise YamlError(f"{source}: line {node.start_mark.line + 1}: aliases expand the document beyond "
                                f"{limit:,} nodes; allowed: at most {limit:,} (is it an alias bomb?)")
            sizes[nid] = total
            continue
        if nid in sizes:
            continue
        if nid in open_ids:
            raise YamlError(f"{source}: line {node.start_mark.line + 1}: a recursive alias (a value containing "
                            "itself); allowed: aliases to finished values only")
        open_ids.add(nid)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)


def _describe(source: str, e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        mark = e.problem_mark
        problem = e.problem or "invalid YAML"
        if "'\\t'" in problem:
            problem = "a tab character; YAML indents with spaces only"
        context = f" ({e.context})" if e.context else ""
        return f"{source}: line {mark.line + 1}, column {mark.column + 1}: {clip(problem + context, 200)}"
    first = (str(e).splitlines() or ["invalid YAML"])[0]
    return f"{source}: {clip(first, 200)}"


def loads_unique_yaml(text: str, source: str = "<string>", max_nodes: int = MAX_YAML_NODES):
    """Parse YAML text (see the module docstring); ``source`` names it in messages."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source, max_nodes)
        return loader.construct_document(node)
    except DuplicateKeyError as e:
        raise DuplicateKeyError(f"{source}: {e}") from None
    except yaml.YAMLError as e:
        raise YamlError(_describe(source, e)) from None
    except RecursionError:
        raise YamlError(f"{source}: nested too deeply; allowed: ordinary config nesting") from None
    finally:
        loader.dispose()


def yaml_line(text: str, keys: tuple) -> int:
    """The 1-based line of the entry at ``keys`` (mapping keys, then list indices) in YAML ``text``: of its key in
    a mapping, of the item in a list; of the deepest entry found where the path stops early (a field that is
    missing, a scalar where a list was expected); 1 when nothing matches or the text does not parse."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 1
    line = 1
    for key in keys:
        if isinstance(node, MappingNode):
            hit = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(key)), None)
            if hit is None:
                return line
            line = next(k for k, v in node.value if v is hit).start_mark.line + 1
            node = hit
        elif isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def read_bounded_text(path: str | Path, max_bytes: int = MAX_YAML_BYTES, what: str = "file") -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; one ``YamlError`` line otherwise."""
    try:
        data = read_regular(path, max_bytes, what)
    except ReadRefused as e:
        raise YamlError(str(e)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlError(f"{path}: byte {e.start}: not UTF-8 text; expected a {what}") from None


def load_unique_yaml(path: str | Path, max_bytes: int = MAX_YAML_BYTES):
    """The YAML document in ``path`` (None when empty); see the module docstring for what is refused."""
    return loads_unique_yaml(read_bounded_text(path, max_bytes, "YAML file"), str(path))


# ================================================================ atomic writes, output directories
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


# ------------------------------------------------------------ output directories
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
                                      "choose another --out)") from None
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
