"""A ``--scheduler`` address checked before Dask is handed it: a Dask scheduler answers, or one clear line.

``distributed.Client`` trusts whatever listens at an address: a refused port is retried for 30 s, a TCP service
that says nothing is waited on forever (the handshake read has no timeout), and one that says anything else has
its first 8 bytes read as a frame length (a proxy's ``HTTP/1.1`` asks for exabytes: "out of memory").
``probe_scheduler`` speaks the first step of Dask's TCP handshake itself, with timeouts: connect (a refused port
fails at once, an unreachable host after ``CONNECT_TIMEOUT_S``), then read the scheduler's handshake, which a
Dask comm sends unasked as soon as it accepts (``distributed.comm.core.Comm.on_connection``): an 8-byte frame
length of at most ``MAX_HANDSHAKE_BYTES``, then msgpack frames decoding to a dict holding ``python`` and
``pickle-protocol``.  Anything else is a ``SchedulerError`` naming the address and what answered.

``tls://`` is refused up front (``check_scheme``): the sweep has no option to pass TLS certificates, and the
client without them fails with a TypeError.  Reach a TLS cluster through an SSH tunnel to a ``tcp://`` port, or
call ``analysis.sweep.run_sweep(spec, out, client=distributed.Client(address, security=...))``.
"""

from __future__ import annotations

import re
import socket
import struct
import time

CONNECT_TIMEOUT_S = 3.0        # TCP connect to the scheduler's port
HANDSHAKE_TIMEOUT_S = 5.0      # from connect to the whole handshake read
MAX_HANDSHAKE_BYTES = 1 << 16  # a Dask handshake is about 60 bytes
DEFAULT_PORT = 8786            # Dask's scheduler port, when the address names none
_ADDRESS = re.compile(r"(?P<scheme>tcp|tls)://(?P<host>\[[^\]]+\]|[^\s/:]+)(?::(?P<port>\d{1,5}))?/?")


class SchedulerError(ValueError):
    """The address is not a Dask scheduler this sweep can use; the message names it."""


def check_scheme(address: str) -> None:
    """``tcp://`` passes; ``tls://`` is refused (no way to give certificates), naming the alternatives."""
    if address.startswith("tls://"):
        raise SchedulerError(f"--scheduler {address}: tls:// is not supported (the sweep has no option for TLS "
                             "certificates); allowed: tcp://host:port, e.g. through an SSH tunnel "
                             "(ssh -L 8786:localhost:8786 host), or run_sweep(..., client=Client(address, "
                             "security=...)) in Python")


def _host_port(address: str) -> tuple[str, int]:
    m = _ADDRESS.fullmatch(address)
    if m is None:
        raise SchedulerError(f"--scheduler {address}: allowed: tcp://host:port")
    port = int(m["port"] or DEFAULT_PORT)
    if not 1 <= port <= 65535:
        raise SchedulerError(f"--scheduler {address}: port {port}; allowed: 1..65535")
    return m["host"].strip("[]"), port


def _read_exactly(sock: socket.socket, n: int, deadline: float, address: str) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout
        sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            raise SchedulerError(f"--scheduler {address}: the service closed the connection after {len(buf)} bytes "
                                 "of the handshake; allowed: a Dask scheduler (is this its port?)")
        buf += chunk
    return bytes(buf)


def _decode(payload: bytes) -> dict | None:
    """The handshake dict, or None when the payload is not Dask's framing of one."""
    try:
        from distributed.protocol.core import loads
        from distributed.protocol.utils import unpack_frames

        frames, more = unpack_frames(payload, partial=True)
        msg = loads(frames, deserialize=False) if not more else None
    except Exception:  # noqa: BLE001 - any failure to decode means: not a Dask handshake
        return None
    return msg if isinstance(msg, dict) and {"python", "pickle-protocol"} <= set(msg) else None


def probe_scheduler(address: str, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S) -> None:
    """Return when a Dask scheduler (or another Dask comm) answers at ``address`` within the timeouts; otherwise
    one ``SchedulerError`` saying what happened: refused, no answer, closed, or not Dask's handshake."""
    check_scheme(address)
    host, port = _host_port(address)
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout_s)
    except ConnectionRefusedError:
        raise SchedulerError(f"--scheduler {address}: connection refused (nothing listens on {host}:{port}); "
                             "allowed: the address of a running Dask scheduler") from None
    except socket.timeout:
        raise SchedulerError(f"--scheduler {address}: no TCP answer within {connect_timeout_s:g} s (host down or "
                             "port filtered); allowed: the address of a running Dask scheduler") from None
    except OSError as e:   # unknown host, unreachable network
        raise SchedulerError(f"--scheduler {address}: cannot connect ({e.strerror or e}); allowed: the address "
                             "of a running Dask scheduler") from None
    deadline = time.monotonic() + handshake_timeout_s
    try:
        with sock:
            head = _read_exactly(sock, 8, deadline, address)
            (size,) = struct.unpack("Q", head)   # native order, as distributed.comm.tcp reads it
            if not 8 <= size <= MAX_HANDSHAKE_BYTES:
                raise SchedulerError(f"--scheduler {address}: not a Dask scheduler (it answered {head!r}, not Dask's "
                                     "handshake); allowed: the address of a Dask scheduler (a proxy or another "
                                     "service listens here)")
            payload = _read_exactly(sock, size, deadline, address)
    except socket.timeout:
        raise SchedulerError(f"--scheduler {address}: connected, but no Dask handshake within "
                             f"{handshake_timeout_s:g} s (a Dask scheduler sends one at once); allowed: the address "
                             "of a Dask scheduler (another service listens here)") from None
    except OSError as e:
        raise SchedulerError(f"--scheduler {address}: the connection failed during the handshake "
                             f"({e.strerror or e}); allowed: the address of a running Dask scheduler") from None
    if _decode(payload) is None:
        raise SchedulerError(f"--scheduler {address}: not a Dask scheduler (its first message is not Dask's "
                             "handshake); allowed: the address of a Dask scheduler")
