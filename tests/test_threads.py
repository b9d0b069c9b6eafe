"""Torch threads from the free cores; OpenMP threads sleep while waiting (sparsecodesign.threads)."""

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecodesign.threads import free_cores


@given(cores=st.integers(1, 256), load=st.floats(0, 1000, allow_nan=False))
def test_free_cores_is_within_one_and_the_cores(cores, load):
    n = free_cores(load, cores)
    assert 1 <= n <= cores
    assert n == max(1, cores - round(load)) or (load < 0.5 and n == cores)


@pytest.mark.parametrize("load, cores, want", [(0.0, 2, 2), (0.4, 2, 2), (1.2, 2, 1), (2.0, 2, 1), (8.3, 2, 1),
                                               (3.0, 16, 13)])
def test_free_cores_examples(load, cores, want):
    assert free_cores(load, cores) == want


def test_the_cli_sets_a_passive_wait_policy_before_torch_and_keeps_a_users():
    probe = ("import os, sys\nfrom sparsecodesign.cli import main\nmain(['presets'])\n"
             "print('POLICY', os.environ.get('OMP_WAIT_POLICY'), file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert "POLICY PASSIVE" in run.stderr
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, timeout=120)
    assert "POLICY ACTIVE" in run.stderr
