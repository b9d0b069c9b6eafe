"""The analytical engine's throughput on the call path ``simulate``, ``compare`` and ``sweep`` use; prints JSON.

Imports whatever ``sparsesim`` is first on the path and uses only calls every release since 60935ad has
(``accelerator_from_dict``, ``load_accelerator``, ``evaluate``, ``CostTable.totals``, ``from_model``), so
``benchmarks/sim_throughput.py`` runs this file once against this tree and once against an older checkout
(``PYTHONPATH=OLD``) in the same run and prints the ratio.  Timed in CPU seconds of this process
(``time.process_time``), single-threaded (the thread variables are set before numpy loads).  Inside the timer:
everything from a list of ``Accelerator`` objects to the ``CostTable`` (the hardware arrays included), and its
``totals()`` where the command adds them (sweep, compare).  Outside: building the ``Accelerator`` objects and
the workloads (reading the artifact).  Hardware configs and layers are drawn from fixed seeds.

Usage: python benchmarks/throughput_probe.py [--configs 500] [--models 20] [--reps 5]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from accel_models.hardware import accelerator_from_dict, load_accelerator  # noqa: E402
from pruning.constraint import Constraint  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.structures import Structure  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.workload import from_model  # noqa: E402


def pruned_workloads(name: str, shape: tuple, structure: str, ratio: float, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(name)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and ratio > 0:
                m.weight.copy_(Constraint(Structure(structure, ratio)).project(m.weight)[0])
    return from_model(model, torch.zeros(1, *shape), weight_bits=8)


def common_configs(n: int, rng) -> list:
    """Configs every release accepts: systolic, nm and EIE-style (``sparse``) arrays, one global buffer."""
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


def every_engine_configs(n: int, rng) -> list:
    """Configs spanning every engine (systolic, nm, eie, sigma, scnn), memory organisation and DRAM interface
    (the mix ``sim_throughput.py`` has used since the engines were added; this release on)."""
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


def presets() -> list:
    import accel_models
    folder = Path(accel_models.__file__).parent / "presets"
    return [load_accelerator(p.stem) for p in sorted(folder.glob("*.yaml"))]


def forget_hardware() -> None:
    """Drop arrays a release keeps for a list of accelerators it priced before (a sweep task builds new
    ``Accelerator`` objects, so its hardware setup never finds them)."""
    try:
        from sparsesim.hwarrays import forget_recent
    except ImportError:   # releases that keep none
        return
    forget_recent()


def cpu_seconds(fn, reps: int, before=lambda: None) -> float:
    """Median CPU seconds of ``reps`` calls (``before()`` runs before each, outside the timer)."""
    times = []
    for _ in range(reps):
        before()
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return float(np.median(times))


def read_columns(table) -> list:
    """Every column of the table as its list of values (what writing the CSV reads; a release whose table keeps
    numpy columns converts them on this first read)."""
    return [table.columns[k] for k in table.columns]


def sweep_call(workloads, accs, reps: int) -> dict:
    """One sweep task: a workload priced on many configs (``analysis.sweep.evaluate_group``)."""
    n = len(workloads) * len(accs)
    forget_hardware()
    t = time.process_time()
    evaluate(workloads, accs).totals()       # the first call also analyses each layer's mask (cached on it)
    cold = time.process_time() - t
    table_s = cpu_seconds(lambda: evaluate(workloads, accs), reps, forget_hardware)
    totals_s = cpu_seconds(lambda: evaluate(workloads, accs).totals(), reps, forget_hardware)
    read_s = cpu_seconds(lambda: read_columns(evaluate(workloads, accs)), reps, forget_hardware)
    out = {"layer_configs": n, "layers": len(workloads), "configs": len(accs),
           "table_per_cpu_s": n / table_s, "with_totals_per_cpu_s": n / totals_s,
           "table_read_per_cpu_s": n / read_s, "first_call_s": cold}
    try:   # the old benchmark's figure: hardware arrays built before the timer
        from sparsesim.hwarrays import HardwareArrays
    except ImportError:
        from sparsesim.demand import HardwareArrays
    hw = HardwareArrays.from_accelerators(accs)
    out["prebuilt_hw_per_cpu_s"] = n / cpu_seconds(lambda: evaluate(workloads, hw), reps)
    return out


def compare_calls(models: int, reps: int) -> dict:
    """``compare``'s pricing: each pruned model's layers on every preset, then its totals
    (``analysis.report_data``): ``models`` models, each priced once with fresh workloads as compare reads them
    from their artifacts (their per-layer mask analyses inside the timer), then again (warm: the masks
    analysed).  One list of preset objects for all models, as compare passes it."""
    accs = presets()
    ratios = np.linspace(0.0, 0.95, models)
    structures = ["nonstructured", "channel"]
    sets = [pruned_workloads("lenet5", (1, 28, 28), structures[i % 2], float(r), seed=i)
            for i, r in enumerate(ratios)]
    n = sum(len(ws) * len(accs) for ws in sets)
    forget_hardware()
    t = time.process_time()
    for ws in sets:
        evaluate(ws, accs).totals()
    cold = time.process_time() - t
    warm = cpu_seconds(lambda: [evaluate(ws, accs).totals() for ws in sets], reps, forget_hardware)
    return {"layer_configs": n, "models": models, "layers": len(sets[0]), "presets": len(accs),
            "cold_per_cpu_s": n / cold, "warm_per_cpu_s": n / warm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--configs", type=int, default=500)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    alexnet = pruned_workloads("alexnet", (3, 227, 227), "nonstructured", 0.9)
    result = {"sparsesim": str(Path(sys.modules["sparsesim"].__file__).parent.parent),
              "sweep_common": sweep_call(alexnet, common_configs(args.configs, np.random.default_rng(0)), args.reps),
              "compare": compare_calls(args.models, args.reps)}
    try:
        accs = every_engine_configs(args.configs, np.random.default_rng(0))
    except Exception as e:   # an older release without these engines / memory fields
        result["sweep_every_engine"] = {"error": f"{type(e).__name__}: {str(e)[:120]}"}
    else:
        result["sweep_every_engine"] = sweep_call(alexnet, accs, args.reps)
    result["load_1min"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
