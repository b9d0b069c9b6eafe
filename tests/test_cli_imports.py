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
