"""Commands that run no torch do not import it (torch's import is most of a small command's CPU time)."""

import json
import shutil
import subprocess
import sys

import pytest

PROBE = """
import sys
from sparsecodesign.cli import main
code = None
try:
    code = main({argv!r})
except SystemExit:
    pass
print("TORCH", "torch" in sys.modules, file=sys.stderr)
print("CODE", code, file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["presets"], ["presets", "--show", "tpu_like"], ["simulate", "--help"],
                                  ["compare", "--help"], ["prune", "--help"], ["sweep", "--help"],
                                  ["export", "--help"], ["bench", "--help"]])
def test_no_torch_import(argv):
    run = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                         timeout=120)
    assert "TORCH False" in run.stderr, run.stderr[-2000:]


def test_an_error_of_a_loaded_module_keeps_its_exit_code():
    """The error classes are looked up where they were imported: a HardwareError still exits 2, one line."""
    run = subprocess.run([sys.executable, "-m", "sparsecodesign.cli", "presets", "--show", "no_such_preset"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "conv1, 8, 8, 3, 3, 1, 4, 1,\n")


def _imports_torch(argv: list[str]) -> bool:
    run = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    assert "TORCH" in run.stderr, run.stderr[-2000:]
    return "TORCH True" in run.stderr


def test_pricing_a_topology_imports_no_torch(tmp_path):
    """The argument rules tell an ``nn.Module`` from a path without importing torch (a value can be a module only
    once torch is loaded), so ``simulate`` on a SCALE-Sim topology runs torch-free."""
    (tmp_path / "t.csv").write_text(TOPOLOGY)
    assert not _imports_torch(["simulate", "--topology", str(tmp_path / "t.csv"), "--out", str(tmp_path / "o")])
    assert (tmp_path / "o" / "layers.csv").is_file()


@pytest.fixture(scope="module")
def quantized_zoo_art(tmp_path_factory):
    """A zoo artifact with 8-bit, 4-bit pow2 and binary layers: its levels are checked too (in numpy)."""
    import torch

    from pruning.artifact import save_artifact
    from pruning.constraint import Constraint
    from pruning.models import build_model
    from pruning.quantizers import Quantizer
    from pruning.structures import Structure

    from test_artifact_data import _constrain   # fit and project each constraint (shared helper)

    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    fitted = _constrain(model, {"conv2": Constraint(Structure("filter", 0.5), Quantizer("uniform", 8)),
                                "fc1": Constraint(Structure("nonstructured", 0.9), Quantizer("pow2", 4)),
                                "fc2": Constraint(Structure("nm", 0.5, n=2, m=4), Quantizer("binary"))})
    return save_artifact(tmp_path_factory.mktemp("zoo") / "a", model, model_name="digits_cnn", constraints=fitted,
                         example=torch.zeros(1, 1, 8, 8), extra={}, log_rows=[])


def _probe(argv: list[str]) -> tuple[bool, str, list[str]]:
    """(torch imported, the exit code, the command's stderr lines) of ``sparsesim ARGV`` in a fresh process."""
    run = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    lines = run.stderr.strip().splitlines()
    assert lines[-2:][0].startswith("TORCH") and lines[-1].startswith("CODE"), run.stderr[-2000:]
    return lines[-2] == "TORCH True", lines[-1].split()[1], lines[:-2]


def test_pricing_an_artifact_imports_no_torch(quantized_zoo_art, tmp_path):
    """Issue 25: the reader validates an artifact in numpy (levels: pruning.quant_levels; a zoo model's geometry:
    pruning/zoo_table.py), so simulate ARTIFACT prices it without importing torch."""
    assert _probe(["simulate", str(quantized_zoo_art), "--out", str(tmp_path / "o")])[:2] == (False, "0")
    assert (tmp_path / "o" / "layers.csv").is_file()


def _tampered(src, dst, edit):
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    edit(m)
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


@pytest.mark.parametrize("edit, says", [
    (lambda m: (m["layers"][2]["quantizer"].update(scale=0.123), m["layers"][2].update(levels=None)),
     "not a level of manifest layers[2] (fc1).quantizer"),                       # the levels check (numpy)
    (lambda m: m["model"].update(num_classes=7), "expected [7, 32] (zoo model 'digits_cnn')"),   # the zoo table
])
def test_a_tampered_artifact_is_refused_torch_free_in_one_line(quantized_zoo_art, tmp_path, edit, says):
    torch_loaded, code, err = _probe(["simulate", str(_tampered(quantized_zoo_art, tmp_path / "a", edit)), "--out",
                                      str(tmp_path / "o")])
    assert (torch_loaded, code, len(err)) == (False, "2", 1), err
    assert err[0].startswith("sparsesim simulate: error: ") and says in err[0], err
    assert not (tmp_path / "o").exists()


def test_the_artifact_reader_imports_no_torch():
    """What the reader stands on (levels, sparsity kinds, the zoo table) is torch-free too, not just the CLI path."""
    code = ("import sys, pruning.artifact_read, pruning.quant_levels, pruning.sparsity_kinds, pruning.zoo_geometry; "
            "pruning.zoo_geometry.zoo_model('vgg16'); print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "[]", run.stdout[-500:] + run.stderr[-2000:]
