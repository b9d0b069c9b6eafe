"""Commands that run no torch do not import it (torch's import is most of a small command's CPU time)."""

import subprocess
import sys

import pytest

PROBE = """
import sys
from sparsecodesign.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("TORCH", "torch" in sys.modules, file=sys.stderr)
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


@pytest.mark.xfail(strict=True, reason="issue 25: pricing an artifact still imports torch, for its validation, not "
                                       "its weights (safetensors, read with numpy; no torch.load): pruning.artifact "
                                       "imports torch at module level, checks each quantized layer's values against "
                                       "Quantizer.levels() (torch) and a zoo model's geometry by building it on the "
                                       "meta device")
def test_pricing_an_artifact_imports_no_torch(tmp_path):
    import torch

    from pruning.artifact import save_artifact
    from pruning.models import build_model

    art = save_artifact(tmp_path / "a", build_model("digits_cnn"), model_name="digits_cnn", constraints={},
                        example=torch.zeros(1, 1, 8, 8), extra={}, log_rows=[])
    assert not _imports_torch(["simulate", str(art), "--out", str(tmp_path / "o")])
