"""The README's main job (``sparsesim compare`` on digits, every default) timed as a user runs it: wall and CPU
seconds (the child's user + system time), on the machine as it is and with ``--busy`` CPU-bound processes of ours
started beside it (issue 25: <= 120 CPU-s on 2 cores; wall <= 3x CPU with two other CPU-bound processes).

    python benchmarks/default_compare_time.py [--busy 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from loaded_threads import _spin  # noqa: E402  (the same busy loop as the threads benchmark)


def run_once(out: str) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh default compare into ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sparsecodesign.cli", "compare", "--out", out, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--busy", type=int, default=2)
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="default_compare_")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the runs")
    print(f"{'setting':<34}{'wall s':>8}{'CPU s':>8}{'wall/CPU':>10}")
    wall, cpu = run_once(out)
    print(f"{'as the machine is':<34}{wall:>8.1f}{cpu:>8.1f}{wall / cpu:>10.2f}")
    busy = [multiprocessing.Process(target=_spin, args=(time.time() + 1800,), daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    time.sleep(10)   # the load average sees them
    try:
        wall, cpu = run_once(out)
        print(f"{f'with {args.busy} CPU-bound processes':<34}{wall:>8.1f}{cpu:>8.1f}{wall / cpu:>10.2f}")
    finally:
        for p in busy:
            p.terminate()
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
