"""Simulator speed: analytical layer-evaluations per second, the simpy engine on AlexNet conv1-5, and both
next to SCALE-Sim's wall time on the same layers.

Targets (issue 8): analytical >= 100,000 layer-evaluations/s warm (AlexNet 8 layers x 500 configs spanning
every engine, memory organisation and DRAM interface); simpy AlexNet conv1-5 <= 10 s.  SCALE-Sim's time is
the one recorded with tests/fixtures/scalesim/golden.csv (its conv1-5 topology, 32x32, 64 KB SRAMs, USER
bandwidth; rerun it with benchmarks/scalesim_validation.py); this script prices the same topology with the
native convention, with the scalesim convention (which reproduces SCALE-Sim's numbers) and with simpy.
Usage: python benchmarks/sim_throughput.py [--configs 500]
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import accelerator_from_dict, load_accelerator  # noqa: E402
from pruning.constraint import Constraint  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.structures import Structure  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.event_sim import simulate  # noqa: E402
from sparsesim.hwarrays import HardwareArrays  # noqa: E402
from sparsesim.topology import read_topology  # noqa: E402
from sparsesim.workload import from_model  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "scalesim"


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
    engines = ["systolic", "systolic", "nm", "eie", "sigma", "scnn"]
    for i in range(n):
        engine = engines[i % len(engines)]
        side = int(rng.choice([8, 16, 32, 64, 128]))
        per_op = bool(rng.integers(2))
        kb = lambda: int(rng.choice([64, 256, 1024, 4096])) * 1024  # noqa: E731
        d = {"name": f"cfg{i}", "pe": {"engine": engine, "rows": side, "cols": side,
                                       "dataflow": str(rng.choice(["ws", "os", "is"])), "weight_bits": [8],
                                       "index_bits": int(rng.choice([4, 8]))},
             "memory": {"organization": "per_operand" if per_op else "shared",
                        "weights": str(rng.choice(["streamed", "auto"]))},
             "dram": {"kind": str(rng.choice(["lpddr4", "ddr3", "hbm2"])),
                      "bandwidth_bits_per_cycle": float(rng.choice([64, 256, 1024])),
                      "interfaces": str(rng.choice(["shared", "per_operand"]))}}
        if per_op:
            d.update({f"{op}_sram": {"capacity_bytes": kb()} for op in ("ifmap", "filter", "ofmap")})
        else:
            d["glb"] = {"capacity_bytes": kb()}
        out.append(accelerator_from_dict(d))
    return out


def scalesim_wall_s() -> dict:
    with open(FIXTURES / "golden.csv") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return {r["dataflow"]: float(r["wall_s_invocation"]) for r in rows
            if (r["mode"], r["sparsity"], r["topology"]) == ("USER", "dense", "alexnet")}


def same_layers_as_scalesim(dataflow: str):
    cfg = {"name": f"ss_{dataflow}", "pe": {"engine": "systolic", "rows": 32, "cols": 32, "dataflow": dataflow,
                                            "compact_zero_rows_cols": False},
           "memory": {"organization": "per_operand"},
           "dram": {"interfaces": "per_operand", "bandwidth_bits_per_cycle": 80, "latency_cycles": 1},
           **{f"{op}_sram": {"capacity_bytes": 65536, "width_bits": 8} for op in ("ifmap", "filter", "ofmap")}}
    native = accelerator_from_dict(cfg)
    scalesim = accelerator_from_dict({**cfg, "name": f"ss_{dataflow}_conv",
                                      "memory": {"organization": "per_operand", "convention": "scalesim"}})
    return read_topology(FIXTURES / "alexnet.csv"), native, scalesim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--configs", type=int, default=500)
    args = ap.parse_args()
    workloads = alexnet_workloads()
    hw = HardwareArrays.from_accelerators(sweep_configs(args.configs, np.random.default_rng(0)))
    t = time.perf_counter()
    evaluate(workloads, hw)  # warm the per-layer caches (EIE loads, SIGMA packings, ...), as a sweep would
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    reps = 3
    for _ in range(reps):
        table = evaluate(workloads, hw)
    dt = (time.perf_counter() - t) / reps
    n = len(table)
    print(f"analytical: {n} layer-evaluations (AlexNet 8 layers x {args.configs} configs, 5 engines) in "
          f"{dt * 1e3:.1f} ms = {n / dt:,.0f} layer-evaluations/s warm (target >= 100,000); "
          f"first call incl. per-layer analyses of the real masks {cold_s:.1f} s")

    walls = scalesim_wall_s()
    print("\nAlexNet conv1-5 (SCALE-Sim's topology), 32x32, 64 KB SRAMs, 10 words/cycle:")
    print("| dataflow | SCALE-Sim 3.0.0 (recorded) | scalesim convention (same numbers) | native analytical | simpy |")
    print("|---|---|---|---|---|")
    for df in ("ws", "os", "is"):
        layers, native, conv = same_layers_as_scalesim(df)
        t = time.perf_counter()
        evaluate(layers, [conv])
        t_conv = time.perf_counter() - t
        t = time.perf_counter()
        evaluate(read_topology(FIXTURES / "alexnet.csv"), [native])
        t_native = time.perf_counter() - t
        tracemalloc.start()
        t = time.perf_counter()
        sims = simulate(read_topology(FIXTURES / "alexnet.csv"), native, record_timeline=False)
        t_simpy = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"| {df} | {walls.get(df, float('nan')):.0f} s | {t_conv:.2f} s | {t_native * 1e3:.1f} ms | "
              f"{t_simpy:.2f} s ({sum(s.tiles for s in sims):,} tiles, {peak / 2**20:.1f} MiB) |")

    convs = [w for w in workloads if w.kind == "conv2d"]
    print("\nsimpy on the toolkit's AlexNet conv1-5 (groups, 90% non-structured), per preset (target <= 10 s):")
    for preset in ("eyeriss_like", "tpu_like", "eie_like", "sigma_like", "scnn_like", "fpga_small"):
        t = time.perf_counter()
        sims = simulate(convs, load_accelerator(preset), record_timeline=False)
        print(f"  {preset:13s}: {sum(s.tiles for s in sims):>9,} tiles in {time.perf_counter() - t:6.2f} s")
    print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (incl. torch)")


if __name__ == "__main__":
    main()
