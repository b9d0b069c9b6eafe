"""Simulator speed: analytical layer-evaluations per second, and the simpy engine on AlexNet conv1-5.

Targets (issue 3): analytical >= 10,000 layer-evaluations/s on 2 cores;
simpy AlexNet conv1-conv5 in <= 10 s and < 200 MB.
Usage: python benchmarks/sim_throughput.py [--configs 500]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch

from accel_models.hardware import accelerator_from_dict, load_accelerator
from pruning.constraint import Constraint
from pruning.models import build_model
from pruning.structures import Structure
from sparsesim.analytical import evaluate
from sparsesim.hwarrays import HardwareArrays
from sparsesim.event_sim import simulate
from sparsesim.workload import from_model


def alexnet_workloads(ratio: float = 0.9):
    torch.manual_seed(0)
    model = build_model("alexnet")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(Constraint(Structure("nonstructured", ratio)).project(m.weight)[0])
    return from_model(model, torch.zeros(1, 3, 227, 227), weight_bits=8)


def sweep_configs(n: int, rng) -> list:
    out = []
    for i in range(n):
        engine = ["systolic", "systolic", "nm", "sparse"][i % 4]
        side = int(rng.choice([8, 16, 32, 64, 128]))
        out.append(accelerator_from_dict({
            "name": f"cfg{i}", "pe": {"engine": engine, "rows": side, "cols": side,
                                      "dataflow": str(rng.choice(["ws", "os", "is"])), "weight_bits": [8],
                                      "index_bits": int(rng.choice([4, 8]))},
            "glb": {"capacity_bytes": int(rng.choice([64, 256, 1024, 4096])) * 1024},
            "dram": {"kind": str(rng.choice(["lpddr4", "ddr3", "hbm2"])),
                     "bandwidth_bits_per_cycle": float(rng.choice([64, 256, 1024]))}}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--configs", type=int, default=500)
    args = ap.parse_args()
    workloads = alexnet_workloads()
    rng = np.random.default_rng(0)
    hw = HardwareArrays.from_accelerators(sweep_configs(args.configs, rng))
    evaluate(workloads, hw)  # warm the per-layer caches (EIE loads per PE count), as a sweep would
    t = time.perf_counter()
    reps = 3
    for _ in range(reps):
        table = evaluate(workloads, hw)
    dt = (time.perf_counter() - t) / reps
    n = len(table)
    print(f"analytical: {n} layer-evaluations (AlexNet 8 layers x {args.configs} configs) in {dt * 1e3:.1f} ms "
          f"= {n / dt:,.0f} layer-evaluations/s (target >= 10,000)")
    t = time.perf_counter()
    cold = evaluate(alexnet_workloads(), hw)
    print(f"            cold (incl. EIE encodings of the real masks): {len(cold) / (time.perf_counter() - t):,.0f}/s")

    convs = [w for w in workloads if w.kind == "conv2d"]
    for preset in ("eyeriss_like", "eie_like", "fpga_small"):
        acc = load_accelerator(preset)
        tracemalloc.start()
        t = time.perf_counter()
        sims = simulate(convs, acc)
        dt = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tiles = sum(s.tiles for s in sims)
        print(f"simpy {preset:13s}: AlexNet conv1-5, {tiles:,} tiles, {sum(len(s.timeline) for s in sims):,} "
              f"timeline events in {dt:.2f} s, peak traced memory {peak / 2**20:.1f} MiB (target <= 10 s, < 200 MB)")
    print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (incl. torch)")


if __name__ == "__main__":
    main()
