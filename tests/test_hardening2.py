"""Issue 24 (hardening II), part A: locks that cannot be redirected, exact trust, a user model's own mistakes as
one line, and one validation layer for the CLI and the Python API.  Each case was a failing test first."""

from __future__ import annotations

import json
import os
import socket

import pytest

from fileguard import LOCK_NAME, OutputError, OutputLock
from sparsecodesign.cli import main

TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 8, 8, 3, 3, 2, 4, 1,\n")


@pytest.fixture(scope="module")
def zoo_art(tmp_path_factory):
    """A digits_cnn artifact written directly (no training): what sweep, export and the API read."""
    import torch

    from pruning.artifact import save_artifact
    from pruning.constraint import Constraint
    from pruning.models import build_model
    from pruning.quantizers import Quantizer
    from pruning.structures import Structure

    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    c = Constraint(Structure("nonstructured", 0.5), Quantizer("uniform", 8))
    fitted = {"fc1": c.fit(model.fc1.weight)}
    with torch.no_grad():
        model.fc1.weight.copy_(fitted["fc1"].project(model.fc1.weight)[0])
    return save_artifact(tmp_path_factory.mktemp("zoo") / "a", model, model_name="digits_cnn", constraints=fitted,
                         example=torch.zeros(1, 1, 8, 8), extra={"dataset": "digits"}, log_rows=[])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# ================================================================ finding 1: a planted lock file
def _plant(out, kind, target):
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_NAME
    if kind == "symlink":
        target.write_text("precious\n")
        os.symlink(target, lock)
    elif kind == "dangling symlink":
        os.symlink(target, lock)
    elif kind == "directory":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    elif kind == "hard link":
        target.write_text("precious\n")
        os.link(target, lock)


LOCK_KINDS = ["symlink", "dangling symlink", "directory", "fifo", "hard link"]


@pytest.mark.parametrize("kind", LOCK_KINDS)
def test_a_planted_lock_is_refused_and_its_target_untouched(tmp_path, kind):
    out, target = tmp_path / "out", tmp_path / "victim.txt"
    _plant(out, kind, target)
    with pytest.raises(OutputError, match=rf"output directory .*out: its lock file {LOCK_NAME} is a "
                                          rf"{kind}[^\n]*; allowed: a regular file this job creates \(remove "):
        OutputLock(out, "prune").acquire()
    if kind in ("symlink", "hard link"):
        assert target.read_text() == "precious\n"
    else:
        assert not target.exists()


@pytest.mark.parametrize("command", ["prune", "sweep", "compare"])
def test_prune_sweep_and_compare_refuse_a_symlinked_lock_in_one_line(tmp_path, capsys, command, zoo_art):
    out, target = tmp_path / "out", tmp_path / "victim.txt"
    _plant(out, "symlink", target)
    if command == "sweep":
        (tmp_path / "s.yaml").write_text(f"artifact: {zoo_art}\n")
        argv = ["sweep", str(tmp_path / "s.yaml"), "--scheduler", "sync", "--out", str(out), "--quiet"]
    elif command == "prune":
        argv = ["prune", "--dataset", "digits", "--pretrain-epochs", "0", "--out", str(out), "--quiet"]
    else:
        argv = ["compare", "--out", str(out), "--structures", "filter", "--presets", "tpu_like", "--no-cpu"]
    assert main(argv) == 2
    line = _one_line(capsys)
    assert f"its lock file {LOCK_NAME} is a symlink" in line, line
    assert target.read_text() == "precious\n"


def test_a_lock_the_job_created_leaves_no_empty_directory(tmp_path):
    with OutputLock(tmp_path / "a" / "b", "simulate"):
        assert (tmp_path / "a" / "b" / LOCK_NAME).is_file()
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    with OutputLock(tmp_path / "kept", "simulate"):
        pass
    assert (tmp_path / "kept").is_dir()   # it was there before


# ================================================================ finding 6: every command that writes --out locks it
def _bench_checkpoint(tmp_path):
    import torch

    from pruning.models import build_model

    torch.save(build_model("digits_cnn").state_dict(), tmp_path / "m.pt")
    return str(tmp_path / "m.pt")


@pytest.mark.parametrize("command", ["simulate", "bench", "export"])
def test_simulate_bench_and_export_lock_their_output(tmp_path, capsys, command, monkeypatch, zoo_art):
    (tmp_path / "t.csv").write_text(TOPOLOGY)
    out = tmp_path / "out"
    argv = {"simulate": ["simulate", "--topology", str(tmp_path / "t.csv"), "--out", str(out)],
            "bench": ["bench", "CKPT", "--model", "digits_cnn", "--repeats", "1", "--out", str(out)],
            "export": ["export", str(zoo_art), "--to", "scalesim", "--hw", "tpu_like", "--out", str(out)]}[command]
    if command == "bench":
        argv[1] = _bench_checkpoint(tmp_path)
    ran = []
    if command != "export":   # the API's export writes --out, so it takes the lock itself
        monkeypatch.setattr(f"sparsecodesign.api.{command}", lambda *a, **k: ran.append(1))
    with OutputLock(out, "sweep"):
        assert main(argv) == 2
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]   # nothing written beside the holder's lock
    line = _one_line(capsys)
    assert line.startswith(f"sparsesim {command}: error: output directory ") and "in use by another sweep" in line
    assert f"pid {os.getpid()} on {socket.gethostname()}" in line and ran == []


def test_the_api_export_locks_its_output(tmp_path, zoo_art):
    import sparsecodesign as sc

    with OutputLock(tmp_path / "e", "sweep"), pytest.raises(OutputError, match="in use by another sweep"):
        sc.export(zoo_art, "scalesim", "tpu_like", tmp_path / "e")


# ================================================================ finding 5: trust is exact
TRUSTED_NETS = '''
import os, sys
from os import getcwd as imported_helper
import torch
from torch import nn
from trusted_nets_helpers import Elsewhere


class Net(nn.Module):
    input_shape = (1, 6, 6)

    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def make():
    return Net()


def make_and_exit():
    sys.exit(3)


class Holder:
    abort = staticmethod(os.abort)
'''
HELPERS = '''
from torch import nn


class Elsewhere(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
'''


@pytest.fixture
def trusted_art(tmp_path, monkeypatch):
    """An artifact of ``trusted_nets:Net`` with ``trusted_nets.py`` importable; ``set_factory`` edits the manifest."""
    import sys

    import torch

    from pruning.artifact import save_artifact

    (tmp_path / "trusted_nets.py").write_text(TRUSTED_NETS)
    (tmp_path / "trusted_nets_helpers.py").write_text(HELPERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("trusted_nets", "trusted_nets_helpers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import trusted_nets

    model = trusted_nets.Net().eval()
    art = save_artifact(tmp_path / "art", model, model_name=None, constraints={}, example=torch.zeros(1, 1, 6, 6),
                        extra={"dataset": "digits"}, log_rows=[])

    def set_factory(factory):
        m = json.loads((art / "manifest.json").read_text())
        m["model"]["factory"] = factory
        (art / "manifest.json").write_text(json.dumps(m))
        return art

    return set_factory


def test_a_trusted_module_still_builds_its_own_callables(trusted_art):
    from pruning.artifact import load_artifact

    for factory in ("trusted_nets:Net", "trusted_nets:make"):
        assert type(load_artifact(trusted_art(factory), trust_module="trusted_nets").model).__name__ == "Net"


@pytest.mark.parametrize("factory, reached", [
    ("trusted_nets:os.abort", "it is reached through module os"),
    ("trusted_nets:sys.exit", "it is reached through module sys"),
    ("trusted_nets:torch.nn.Linear", "it is reached through module torch"),
    ("trusted_nets:imported_helper", "a builtin_function_or_method, not a function or class defined there"),
    ("trusted_nets:Elsewhere", "defined in trusted_nets_helpers"),
    ("trusted_nets:Holder.abort", "a builtin_function_or_method, not a function or class defined there"),
    ("trusted_nets:Net.mro", "a builtin_function_or_method, not a function or class defined there"),
])
def test_trust_covers_only_what_the_module_defines(trusted_art, factory, reached):
    from pruning.artifact import ArtifactError, load_artifact

    with pytest.raises(ArtifactError, match=rf"manifest.json: model.factory '{factory}' is not defined in the trusted "
                                            rf"module trusted_nets \({reached}.*\); allowed: a function or class "
                                            r"defined in trusted_nets"):
        load_artifact(trusted_art(factory), trust_module="trusted_nets")


@pytest.mark.parametrize("factory", ["trusted_nets:os.abort", "trusted_nets:sys.exit"])
def test_the_cli_refuses_a_factory_reached_through_the_trusted_module(trusted_art, tmp_path, factory):
    """Run in a child: before the fix ``os.abort`` killed the process and ``sys.exit`` ended it with rc 0."""
    import subprocess
    import sys

    art = trusted_art(factory)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    r = subprocess.run([sys.executable, "-m", "sparsecodesign.cli", "bench", str(art), "--trust-module",
                        "trusted_nets", "--repeats", "1", "--out", str(tmp_path / "b")],
                       capture_output=True, text=True, env=env, timeout=120, cwd=os.getcwd())
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, (r.returncode, r.stderr[-2000:])
    assert f"model.factory '{factory}' is not defined in the trusted module trusted_nets" in err[0]


def test_a_trusted_factory_that_exits_is_one_line(trusted_art):
    from pruning.artifact import ArtifactError, load_artifact

    with pytest.raises(ArtifactError, match=r"model.factory 'trusted_nets:make_and_exit' failed: it called "
                                            r"sys.exit\(3\)"):
        load_artifact(trusted_art("trusted_nets:make_and_exit"), trust_module="trusted_nets")


# ================================================================ finding 11: a user model's own mistakes
USER_MODELS = {
    "wrong_width.py": ("import torch\nfrom torch import nn\ninput_shape = (1, 8, 8)\n"
                       "def make():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5))\n"),
    "wrong_channels.py": ("from torch import nn\ninput_shape = (1, 8, 8)\n"
                          "def make():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), "
                          "nn.Linear(144, 10))\n"),
    "exits_at_import.py": "import sys\nsys.exit(4)\n",
    "exits_in_factory.py": "import sys\ninput_shape = (1, 8, 8)\ndef make():\n    sys.exit(5)\n",
    "exits_zero.py": "import sys\ninput_shape = (1, 8, 8)\ndef make():\n    sys.exit()\n",
    "raises_at_import.py": "raise ImportError('needs a GPU build')\n",
    "returns_tuple.py": ("from torch import nn\ninput_shape = (1, 8, 8)\nclass M(nn.Module):\n"
                         "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(64, 10)\n"
                         "    def forward(self, x):\n        return self.fc(x.flatten(1)), 0\n"
                         "def make():\n    return M()\n"),
}
USER_CASES = [
    ("wrong_width.py:make", r"--model '.*wrong_width.py:make': the model's output has shape \[2, 5\] on 2 samples; "
                            r"allowed: \[2, 10\], one score per class of dataset 'digits' \(10 classes\)"),
    ("wrong_channels.py:make", r"--model '.*wrong_channels.py:make': a forward pass on 2 samples of dataset "
                               r"'digits' \(shape 1,8,8\) failed \(RuntimeError: .*to have 3 channels"),
    ("exits_at_import.py:make", r"--model '.*exits_at_import.py:make': running '.*exits_at_import.py' failed \(it "
                                r"called sys.exit\(4\)\)"),
    ("exits_in_factory.py:make", r"--model '.*exits_in_factory.py:make': make\(\) failed \(it called sys.exit\(5\)\)"),
    ("exits_zero.py:make", r"--model '.*exits_zero.py:make': make\(\) failed \(it called sys.exit\(None\)\)"),
    ("raises_at_import.py:make", r"--model '.*raises_at_import.py:make': running '.*raises_at_import.py' failed "
                                 r"\(ImportError: needs a GPU build\)"),
    ("returns_tuple.py:make", r"--model '.*returns_tuple.py:make': the model's output is a tuple; allowed: a tensor "
                              r"of shape \[2, 10\]"),
]


@pytest.fixture
def user_models(tmp_path):
    for name, text in USER_MODELS.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("spec, pattern", USER_CASES, ids=[c[0] for c in USER_CASES])
def test_a_user_models_mistake_is_one_line_naming_it(user_models, tmp_path, capsys, spec, pattern):
    out = tmp_path / "out"
    rc = main(["prune", "--dataset", "digits", "--model", str(user_models / spec), "--out", str(out), "--quiet"])
    line = _one_line(capsys)
    assert rc == 2, line
    assert line.startswith("sparsesim prune: error: "), line
    import re

    assert re.search(pattern, line), line
    assert not out.exists()


def test_a_module_spec_that_raises_or_exits_at_import_is_one_line(user_models, monkeypatch):
    from pruning.user_model import ModelSpecError, resolve_model

    monkeypatch.syspath_prepend(str(user_models))
    with pytest.raises(ModelSpecError, match=r"--model 'raises_at_import:make': importing 'raises_at_import' failed "
                                             r"\(ImportError: needs a GPU build\)"):
        resolve_model("raises_at_import:make")
    with pytest.raises(ModelSpecError, match=r"--model 'exits_at_import:make': importing 'exits_at_import' failed "
                                             r"\(it called sys.exit\(4\)\)"):
        resolve_model("exits_at_import:make")


def test_the_api_checks_a_given_modules_output_width(tiny_digits, tmp_path):
    import sparsecodesign as sc
    from torch import nn

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    model.input_shape = (1, 8, 8)
    with pytest.raises(ValueError, match=r"model 'Sequential': the model's output has shape \[2, 5\] on 2 samples; "
                                         r"allowed: \[2, 10\]"):
        sc.prune(model, tiny_digits, None, tmp_path / "p", progress=False, log=lambda s: None)
    assert not (tmp_path / "p").exists()


EXITS_IN_FORWARD = '''
import sys
import torch
from torch import nn

input_shape = (1, 8, 8)
CALLS = [0]


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        CALLS[0] += 1
        if CALLS[0] > 2:   # the checks' forward passes work (the CLI's and the API's); training's first batch exits
            sys.exit(7)
        return self.fc(torch.flatten(x, 1))


def make():
    return M()
'''


def test_sys_exit_from_user_code_during_the_run_is_one_line_not_a_silent_exit(tmp_path, capsys):
    (tmp_path / "exits_later.py").write_text(EXITS_IN_FORWARD)
    out = tmp_path / "out"
    rc = main(["prune", "--dataset", "digits", "--model", f"{tmp_path / 'exits_later.py'}:make", "--out", str(out),
               "--quiet"])
    line = _one_line(capsys)
    assert rc == 1, line
    assert line.startswith("sparsesim prune: failed: sys.exit(7) was called during the run"), line
    assert not (out / LOCK_NAME).exists()


def test_bench_of_a_model_that_cannot_take_its_input_is_one_line_before_any_timing(user_models, tmp_path, capsys):
    import sys

    import torch

    sys.path.insert(0, str(user_models))
    try:
        import wrong_channels

        torch.save(wrong_channels.make().state_dict(), tmp_path / "wc.pt")
    finally:
        sys.path.remove(str(user_models))
        sys.modules.pop("wrong_channels", None)
    rc = main(["bench", str(tmp_path / "wc.pt"), "--model", str(user_models / "wrong_channels.py:make"),
               "--repeats", "1", "--out", str(tmp_path / "b")])
    line = _one_line(capsys)
    assert rc == 2, line
    assert line.startswith("sparsesim bench: error: model Sequential: a forward pass on one sample of shape 1,8,8 "
                           "failed (RuntimeError: "), line
    assert "to have 3 channels" in line and not (tmp_path / "b").exists()


def _lock_in_child(out: str, queue) -> None:
    try:
        with OutputLock(out, "compare"):
            queue.put("acquired")
    except OutputError as e:
        queue.put(str(e))


def test_a_worker_that_reran_the_script_is_told_about_the_main_guard(tmp_path):
    """A script without ``if __name__ == "__main__":`` that runs compare with jobs > 1: each spawned worker re-runs it
    and meets its parent's lock; the error names the guard (an unrelated holder's error does not)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with OutputLock(tmp_path / "out", "compare"):
        child = ctx.Process(target=_lock_in_child, args=(str(tmp_path / "out"), queue))
        child.start()
        message = queue.get(timeout=60)
        child.join(60)
    assert "in use by another compare" in message and '__name__ == "__main__"' in message, message
    assert "\n" not in message
