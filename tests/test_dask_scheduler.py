"""``sweep --scheduler`` pointed at something that is not a Dask scheduler (issue 24, finding 7): a tiny local TCP
server thread that says nothing, speaks garbage or answers like an HTTP proxy; a refused port; ``tls://``.  Each is
one SweepError within seconds (it hung forever, ran out of memory, waited 30 s or raised a TypeError)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from analysis import sweep
from analysis.dask_scheduler import SchedulerError, probe_scheduler


class _Server:
    """A local TCP server in a thread: every connection gets ``reply`` (None: nothing) and is held open."""

    def __init__(self, reply: bytes | None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.reply, self.held = reply, []
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.reply:
                try:
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def server(request):
    s = _Server(request.param)
    yield s
    s.close()


def _refused_address() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there now
    return f"tcp://127.0.0.1:{port}"


@pytest.mark.parametrize("server, match", [
    (None, r"connected, but no Dask handshake within 1 s"),
    (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", r"not a Dask scheduler \(it answered b'HTTP/1.1'"),
    (b"\xff" * 64, r"not a Dask scheduler"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 16, r"not a Dask scheduler \(its first message"),
    (b"\x40\x00\x00\x00\x00\x00\x00\x00" + b"\x01" * 8, r"no Dask handshake within 1 s"),   # 64 announced, 8 sent
], indirect=["server"])
def test_a_service_that_is_not_dask_is_one_error_within_seconds(server, match):
    pytest.importorskip("distributed.protocol.core")   # imported once per process (seconds under load): not timed
    t = time.monotonic()
    with pytest.raises(SchedulerError, match=match):
        probe_scheduler(server.address, 1.0, 1.0)
    assert time.monotonic() - t < 5


def test_a_refused_port_fails_in_under_5_seconds():
    address = _refused_address()
    t = time.monotonic()
    with pytest.raises(SchedulerError, match=r"connection refused \(nothing listens on 127\.0\.0\.1:\d+\)"):
        probe_scheduler(address)
    assert time.monotonic() - t < 5


def test_tls_is_refused_up_front_naming_the_alternatives():
    with pytest.raises(sweep.SweepError, match=r"tls:// is not supported.*allowed: tcp://host:port.*SSH tunnel"):
        sweep.check_scheduler("tls://scheduler.example.org:8786")
    sweep.check_scheduler("tcp://10.0.0.1:8786")


def test_a_real_dask_scheduler_passes_the_probe():
    """The probe reads Dask's own handshake: a scheduler of the installed distributed is accepted (so a change
    in the wire format shows here, not as a refused cluster)."""
    distributed = pytest.importorskip("distributed")

    async def run():
        async with distributed.Scheduler(host="127.0.0.1", port=0, dashboard_address=None) as s:
            await asyncio.get_running_loop().run_in_executor(None, probe_scheduler, s.address)

    asyncio.run(run())


@pytest.mark.parametrize("server", [None, b"HTTP/1.1 200 OK\r\n\r\n"], indirect=True)
def test_sweep_cli_with_a_foreign_scheduler_exits_2_in_one_line_within_seconds(server, tmp_path, capsys,
                                                                                 tiny_digits):
    import yaml

    from pruning.artifact import save_artifact
    from pruning.models import build_model
    from sparsecodesign.cli import main

    import torch

    art = save_artifact(tmp_path / "art", build_model("digits_cnn"), model_name="digits_cnn", constraints={},
                        example=torch.zeros(1, 1, 8, 8), extra={}, log_rows=[])
    spec = {"base_hw": "fpga_small", "artifact": str(art), "parameters": {"pe.rows": [4]},
            "workload": {"structures": ["nonstructured"], "ratios": [0.5], "bits": [8]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    t = time.monotonic()
    rc = main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--scheduler", server.address,
               "--quiet"])
    assert time.monotonic() - t < 20   # the probe: 3 s connect + 5 s handshake at most
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and server.address in err and "Dask" in err


def test_a_sweep_on_a_real_tcp_scheduler_still_runs(tmp_path, tiny_digits):
    distributed = pytest.importorskip("distributed")
    import torch

    from analysis.sweep import SweepSpec, run_sweep
    from pruning.artifact import save_artifact
    from pruning.models import build_model

    art = save_artifact(tmp_path / "art", build_model("digits_cnn"), model_name="digits_cnn", constraints={},
                        example=torch.zeros(1, 1, 8, 8), extra={}, log_rows=[])
    spec = SweepSpec.from_dict({"base_hw": "fpga_small", "artifact": str(art), "parameters": {"pe.rows": [4, 8]},
                                "workload": {"structures": ["nonstructured"], "ratios": [0.5], "bits": [8]}})
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as c:
        res = run_sweep(spec, tmp_path / "out", scheduler=c.scheduler_address, progress=False, log=lambda s: None)
    assert res.computed == 2 and len(res.rows) == 2


def test_a_dask_workers_port_is_refused_as_not_a_scheduler():
    distributed = pytest.importorskip("distributed")

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as c:
        worker = next(iter(c.scheduler_info["workers"]))
        with pytest.raises(sweep.SweepError, match=r"a Dask service answered, but a client could not register.*"
                                                   r"not a worker's"):
            sweep._connect(worker)
