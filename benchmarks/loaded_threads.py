"""Wall vs CPU time of a training workload on a loaded machine: torch's default threads with spinning OpenMP
threads against this project's default (free cores, ``OMP_WAIT_POLICY=PASSIVE``; sparsecodesign.threads).

    python benchmarks/loaded_threads.py [--busy 2] [--steps 300]

Starts ``--busy`` CPU-bound processes (the load), then runs the same training steps (digits_cnn, batch 64) in a
fresh process under each setting, and prints wall s, CPU s and wall/CPU for each.  The machine's own load is
printed too: on a shared machine the figures vary from run to run; compare the rows of one run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time

WORK = """
import os, resource, time, torch
from pruning.models import build_model
torch.manual_seed(0)
threads = {threads}
if threads:
    torch.set_num_threads(threads)
m = build_model("digits_cnn")
opt = torch.optim.Adam(m.parameters(), 1e-3)
x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
t0, c0 = time.perf_counter(), time.process_time()
for _ in range({steps}):
    opt.zero_grad(); torch.nn.functional.cross_entropy(m(x), y).backward(); opt.step()
print(time.perf_counter() - t0, time.process_time() - c0, torch.get_num_threads())
"""


def _spin(stop_at: float) -> None:
    while time.time() < stop_at:
        pass


def run(setting: str, steps: int) -> tuple[float, float, int]:
    env = dict(os.environ)
    if setting == "torch default":
        env["OMP_WAIT_POLICY"] = "ACTIVE"
        threads = 0
    else:
        from sparsecodesign.threads import free_cores
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        threads = free_cores()
    out = subprocess.run([sys.executable, "-c", WORK.format(threads=threads, steps=steps)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    stop_at = time.time() + 600
    busy = [multiprocessing.Process(target=_spin, args=(stop_at,), daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    time.sleep(5)   # let the load average see them
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (with {args.busy} busy "
              "processes of ours)")
        print(f"{'setting':<22}{'threads':>8}{'wall s':>9}{'CPU s':>8}{'wall/CPU':>10}")
        walls = []
        for setting in ("torch default", "free cores, passive"):
            wall, cpu, threads = run(setting, args.steps)
            walls.append(wall)
            print(f"{setting:<22}{threads:>8}{wall:>9.2f}{cpu:>8.2f}{wall / cpu:>10.2f}")
        print(f"the same {args.steps} training steps: {walls[0] / walls[1]:.1f}x less wall time with free cores, passive")
    finally:
        for p in busy:
            p.terminate()


if __name__ == "__main__":
    main()
