"""Nothing finished is lost: output locks, resume-or-refuse, --overwrite, writable --out, NaN resume, umask."""

import json
import multiprocessing
import os
import socket
import time

import pytest
import torch

from fileguard import LOCK_NAME, OutputError, OutputLock, atomic_write_json, current_umask
from sparsecodesign.cli import main
from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.config import ConfigError, PruneConfig
from pruning.data import Dataset
from pruning.models import build_model
from pruning.pipeline import PruneError, resume_changes, run_prune

TINY = {
    "seed": 3, "pretrain_epochs": 2, "retrain_epochs": 1,
    "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 64},
    "admm": {"rounds": 1, "epochs_per_round": 1, "rho": 0.05},
    "layers": {"fc2": {"type": "nonstructured", "ratio": 0.5}},
}  # 5 units: pretrain x2, one ADMM round, hard prune, retrain


class Kill(Exception):
    pass


@pytest.fixture(scope="module")
def micro(tiny_digits):
    """128 training and 50 test images: two batches an epoch, the pipeline still real."""
    d = tiny_digits
    return Dataset("digits", d.train_x[:128], d.train_y[:128], d.test_x[:50], d.test_y[:50], 10)


def _run(data, out, cfg=TINY, log=None, **kw):
    torch.manual_seed(0)
    return run_prune(build_model("digits_cnn"), data, PruneConfig.from_dict(cfg), out, model_name="digits_cnn",
                     progress=False, log=log if log is not None else (lambda s: None), **kw)


def _killed_after(data, out, n, cfg=TINY):
    count = {"n": 0}

    def on_unit(unit):
        count["n"] += 1
        if count["n"] == n:
            raise Kill()

    with pytest.raises(Kill):
        _run(data, out, cfg=cfg, on_unit=on_unit)


def _stop(unit):
    raise Kill()


def _hold_lock(out, ready, release):
    with OutputLock(out, "prune"):
        ready.set()
        release.wait(30)


def test_a_second_prune_into_a_locked_directory_fails_fast(micro, tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        ran = []
        t0 = time.perf_counter()
        with pytest.raises(OutputError, match=rf"in use by another prune \(pid {holder.pid} on "
                                              rf"{socket.gethostname()}.*one job per directory"):
            _run(micro, tmp_path, on_unit=ran.append)
        assert time.perf_counter() - t0 < 2 and ran == []
        assert not (tmp_path / "checkpoint.pt").exists()
    finally:
        release.set()
        holder.join(10)
    assert holder.exitcode == 0 and not (tmp_path / LOCK_NAME).exists()  # released and removed
    with OutputLock(tmp_path, "prune"):
        pass


def test_the_same_process_cannot_take_a_lock_twice_and_a_stale_lock_is_taken_over(tmp_path):
    with OutputLock(tmp_path, "sweep"), pytest.raises(OutputError, match="in use by another sweep"):
        OutputLock(tmp_path, "sweep").acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    # a killed job leaves its lock file behind, unlocked: the next job takes it over and says so
    (tmp_path / LOCK_NAME).write_text(json.dumps({"job": "prune", "pid": 999999, "host": "h", "started": 0}))
    lines = []
    with OutputLock(tmp_path, "prune", lines.append):
        held = json.loads((tmp_path / LOCK_NAME).read_text())
        assert held["pid"] == os.getpid() and held["job"] == "prune"
    assert len(lines) == 1 and "taking over the lock of prune (pid 999999 on h" in lines[0]


def test_rerun_without_resume_keeps_the_checkpoint_and_overwrite_discards_it(micro, tmp_path):
    _killed_after(micro, tmp_path, 3)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    ran = []
    with pytest.raises(OutputError, match=r"has a checkpoint of 3 finished units; pass --resume to continue or "
                                          r"--overwrite to discard"):
        _run(micro, tmp_path, on_unit=ran.append)
    assert ran == [] and (tmp_path / "checkpoint.pt").read_bytes() == before
    with pytest.raises(OutputError, match="exclude each other"):
        _run(micro, tmp_path, resume=True, overwrite=True)
    lines = []
    _run(micro, tmp_path, overwrite=True, on_unit=ran.append, log=lines.append)
    assert len(ran) == 5  # started over: every unit ran again
    assert any("discarding a checkpoint of 3 finished units" in s for s in lines)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["done"] == 5


def test_a_finished_artifact_is_refused_without_resume_and_kept_with_it(micro, tmp_path):
    _run(micro, tmp_path)
    weights = (tmp_path / "weights.safetensors").read_bytes()
    with pytest.raises(OutputError, match="has a checkpoint of 5 finished units"):
        _run(micro, tmp_path)
    ran = []
    _run(micro, tmp_path, resume=True, on_unit=ran.append)
    assert ran == [] and (tmp_path / "weights.safetensors").read_bytes() == weights
    (tmp_path / "checkpoint.pt").unlink()
    with pytest.raises(OutputError, match=r"finished artifact \(manifest.json\) but no checkpoint.pt"):
        _run(micro, tmp_path, resume=True)
    assert (tmp_path / "weights.safetensors").read_bytes() == weights


def test_cli_rerun_without_resume_exits_2_with_one_line(micro, tmp_path, capsys):
    _killed_after(micro, tmp_path / "run", 2)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(TINY))
    assert main(["prune", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sparsesim prune: error: ") and "--overwrite" in err[0]
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("make", ["under_a_file", "is_a_file"])
def test_unwritable_out_fails_before_any_training(micro, tmp_path, make):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "run" if make == "under_a_file" else tmp_path / "f"
    ran = []
    with pytest.raises(OutputError, match=r"output directory .*(not writable|is a file)"):
        _run(micro, out, on_unit=ran.append, log=ran.append)
    assert ran == []


def test_unwritable_out_by_permission_is_named(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("fileguard.writing.tempfile.mkstemp", denied)
    with pytest.raises(OutputError, match=r"not writable \(Permission denied\)"):
        OutputLock(tmp_path / "out").acquire()


def test_a_nan_stopped_run_resumes_with_a_corrected_learning_rate(micro, tmp_path):
    bad = {**TINY, "admm": {**TINY["admm"], "lr": 1e12}}  # the ADMM round diverges
    with pytest.raises(PruneError, match=r"(loss|weights) became (nan|inf|non-finite).*unit 3/5.*"
                                         r"last good checkpoint.*--resume"):
        _run(micro, tmp_path, cfg=bad)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["done"] == 2
    with pytest.raises(ConfigError, match=r"another config \(seed: 3 -> 4\)"):
        _run(micro, tmp_path, cfg={**TINY, "seed": 4}, resume=True)
    lines, ran = [], []
    res = _run(micro, tmp_path, cfg=TINY, resume=True, log=lines.append, on_unit=ran.append)
    assert [u[0] for u in ran] == ["prune", "hard_prune", "retrain"]  # from the last good checkpoint on
    assert any("resume: admm.lr 1000000000000.0 -> None" in s for s in lines)
    assert res.pruned_accuracy > 0.2
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["config"]["admm"]["lr"] is None and ck["state"]["config_changes"][0]["at_unit"] == 2


def test_a_running_admm_step_takes_a_changed_rho_at_once(micro, tmp_path):
    two = {**TINY, "admm": {**TINY["admm"], "rounds": 2}}
    _killed_after(micro, tmp_path, 3, cfg=two)  # one of two ADMM rounds done: rho 0.05 -> 0.065
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["pruner"]["admm"]["rho"]["fc2"] == \
        pytest.approx(0.05 * 1.3)
    lines = []
    halved = {**two, "admm": {**two["admm"], "rho": 0.025}}
    with pytest.raises(Kill):
        _run(micro, tmp_path, cfg=halved, resume=True, log=lines.append, on_unit=_stop)
    assert any("resume: admm.rho 0.05 -> 0.025" in s for s in lines)
    admm = load_checkpoint(tmp_path / "checkpoint.pt")["state"]["pruner"]["admm"]
    assert admm["rho"]["fc2"] == pytest.approx(0.025 * 1.3 * 1.3)  # halved, then grown by the round


def test_resume_may_change_epoch_counts_only_for_units_not_yet_run():
    old = PruneConfig.from_dict(TINY).to_dict()
    more = PruneConfig.from_dict({**TINY, "retrain_epochs": 3, "train": {**TINY["train"], "lr": 0.01}})
    assert resume_changes(old, more, 4) == ["retrain_epochs 1 -> 3 (checkpoint after unit 4)",
                                            "train.lr 0.05 -> 0.01 (checkpoint after unit 4)"]
    fewer = PruneConfig.from_dict({**TINY, "pretrain_epochs": 1})
    assert resume_changes(old, fewer, 1)  # only the first pretraining epoch has run
    with pytest.raises(ConfigError, match="alter the 2 finished units"):
        resume_changes(old, fewer, 2)
    with pytest.raises(ConfigError, match=r"another config \(layers.fc2.ratio: 0.5 -> 0.6\)"):
        resume_changes(old, PruneConfig.from_dict({**TINY, "layers": {"fc2": {"ratio": 0.6}}}), 1)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        assert current_umask() == mask
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        save_checkpoint(tmp_path / "c.pt", {"x": torch.zeros(2)})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == mode


def test_a_prune_writes_its_files_with_the_umask(micro, tmp_path):
    old = os.umask(0o022)
    try:
        _run(micro, tmp_path)
    finally:
        os.umask(old)
    for name in ("checkpoint.pt", "manifest.json", "weights.safetensors", "training_log.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
