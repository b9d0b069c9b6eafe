"""Torch threads that fit the machine as it is now, and OpenMP threads that sleep instead of spinning.

On a busy machine torch's default (one intra-op thread per physical core) makes each OpenMP thread spin-wait
for the others at every parallel region; with the cores taken by other work, a 2-core machine ran the README's
job at 5x its CPU time in wall time.  So training commands default to the cores that are free now (usable cores
minus the 1-minute load average, at least 1), and OpenMP's wait policy is ``PASSIVE`` (a waiting thread sleeps)
unless the environment says otherwise.  ``--threads`` overrides both.
"""

from __future__ import annotations

import os

WAIT_POLICY = "PASSIVE"


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_cores(load: float | None = None, cores: int | None = None) -> int:
    """Cores not taken by other runnable work: ``cores - round(load)``, at least 1 (load: 1-minute average)."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, cores - int(round(max(0.0, load)))))


def quiet_openmp() -> None:
    """OpenMP threads sleep while they wait (set before torch starts its runtime; a user's setting is kept)."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def set_torch_threads(threads: int | None) -> int:
    """``threads`` if given, else the free cores; applied to torch; returns the count."""
    import torch

    n = threads if threads else free_cores()
    torch.set_num_threads(n)
    return n
