"""Does this tree price every case exactly as another revision does?  Every column of every row and every total.

Exports ``--ref`` (``git archive``), runs this file's ``--dump`` in both trees (each with its own packages
first on the path) and compares: value and type, the sign of zero, NaN as NaN.  The cases: the throughput
benchmark's (AlexNet 8 layers x 500 configs, the configs every release accepts and the mix over every engine,
memory organisation and DRAM interface, also with prebuilt hardware arrays), every preset x AlexNet and x
LeNet-5 (non-structured and channel-pruned), LeNet-5 x 60 configs mixing the row-stationary, systolic and nm
engines under the native, scalesim and zigzag conventions (shared and per-operand buffers, double buffering,
resident weights and activations), one layer, no layers, and compare-sized models priced twice.  Used to show
that a speed change changed no value (docs/validation.md section 11).

Usage: python benchmarks/same_values.py [--ref 5844fb7]
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mixed_configs(n: int, rng) -> list:
    from accel_models.hardware import accelerator_from_dict
    out = []
    for i in range(n):
        engine = ["rowstationary", "systolic", "nm", "rowstationary"][i % 4]
        side = int(rng.choice([4, 8, 12, 16, 32]))
        per_op = bool(rng.integers(2))
        d = {"name": f"rs{i}", "pe": {"engine": engine, "rows": side, "cols": side + 2,
                                      "dataflow": str(rng.choice(["ws", "os", "is"])), "weight_bits": [8, 16],
                                      "zero_handling": str(rng.choice(["none", "gating", "skipping"]))},
             "memory": {"organization": "per_operand" if per_op else "shared",
                        "double_buffered": bool(rng.integers(2)),
                        "weights": str(rng.choice(["streamed", "auto", "resident"])),
                        "activations": str(rng.choice(["streamed", "auto", "resident"]))},
             "dram": {"kind": str(rng.choice(["lpddr4", "ddr3", "hbm2"])),
                      "bandwidth_bits_per_cycle": float(rng.choice([16, 64, 256])),
                      "interfaces": str(rng.choice(["shared", "per_operand"]))}}
        if engine != "rowstationary" and rng.integers(3) == 0:
            d["memory"]["convention"] = str(rng.choice(["scalesim", "zigzag"]))
            if d["memory"]["convention"] == "zigzag":
                d["pe"]["dataflow"] = str(rng.choice(["ws", "os"]))
        kb = lambda: int(rng.choice([2, 16, 64, 256])) * 1024  # noqa: E731
        if per_op:
            d.update({f"{op}_sram": {"capacity_bytes": kb()} for op in ("ifmap", "filter", "ofmap")})
        else:
            d["glb"] = {"capacity_bytes": kb()}
        out.append(accelerator_from_dict(d))
    return out


def dump(path: str) -> None:
    """Every case's columns and totals, pickled to ``path`` (run with the tree to dump first on the path)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import throughput_probe as tp
    from sparsesim.analytical import evaluate
    try:
        from sparsesim.hwarrays import HardwareArrays
    except ImportError:
        from sparsesim.demand import HardwareArrays

    def snap(table) -> dict:
        totals = table.totals()
        return {"columns": {k: list(table.columns[k]) for k in table.columns},
                "totals": {h: asdict(c) for h, c in totals.items()}, "order": list(totals)}

    presets = tp.presets()
    alex = tp.pruned_workloads("alexnet", (3, 227, 227), "nonstructured", 0.9)
    lenet = tp.pruned_workloads("lenet5", (1, 28, 28), "nonstructured", 0.8)
    lenet_ch = tp.pruned_workloads("lenet5", (1, 28, 28), "channel", 0.5, seed=3)
    every = tp.every_engine_configs(500, np.random.default_rng(0))
    mixed = _mixed_configs(60, np.random.default_rng(1))
    cases = {"alexnet x common": (alex, tp.common_configs(500, np.random.default_rng(0))),
             "alexnet x every engine": (alex, every),
             "alexnet x every engine, prebuilt arrays": (alex, HardwareArrays.from_accelerators(every)),
             "alexnet x presets": (alex, presets), "lenet5 x presets": (lenet, presets),
             "lenet5 channel x presets": (lenet_ch, presets), "lenet5 x mixed": (lenet, mixed),
             "lenet5 channel x mixed": (lenet_ch, mixed), "one layer": (lenet[:1], presets + mixed),
             "no layers": ([], presets), "lenet5 x every engine": (lenet, every[:120]),
             "alexnet 3 layers x presets + mixed": (alex[:3], presets + mixed[:20])}
    out = {name: snap(evaluate(ws, accs)) for name, (ws, accs) in cases.items()}
    for i, r in enumerate(np.linspace(0.0, 0.95, 6)):    # compare-sized: model after model, each priced twice
        ws = tp.pruned_workloads("lenet5", (1, 28, 28), ["nonstructured", "channel"][i % 2], float(r), seed=i)
        out[f"compare {i}"] = snap(evaluate(ws, presets))
        out[f"compare {i} again"] = snap(evaluate(ws, presets))
    with open(path, "wb") as f:
        pickle.dump(out, f)


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.isnan(b) if math.isnan(a) else a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def differences(a: dict, b: dict) -> list[str]:
    out = [f"cases differ: {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
    for case in a.keys() & b.keys():
        x, y = a[case], b[case]
        for k in x["columns"].keys() | y["columns"].keys():
            u, v = x["columns"].get(k), y["columns"].get(k)
            if u is None or v is None or len(u) != len(v):
                out.append(f"{case}: column {k} missing or of another length")
                continue
            out += [f"{case}: row {i} {k}: {p!r} != {q!r}" for i, (p, q) in enumerate(zip(u, v)) if not same(p, q)]
        if x["order"] != y["order"]:
            out.append(f"{case}: totals of other hardware")
        for h in x["totals"].keys() & y["totals"].keys():
            out += [f"{case}: total {h} {k}: {p!r} != {y['totals'][h].get(k)!r}"
                    for k, p in x["totals"][h].items() if not same(p, y["totals"][h].get(k))]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ref", default="5844fb7", help="the revision to compare with (a git revision)")
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dump:
        dump(args.dump)
        return
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        ref.mkdir()
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(ref)], input=tar.stdout, check=True)
        tables = {}
        for name, root in (("ref", ref), ("this", ROOT)):
            out = Path(tmp) / f"{name}.pkl"
            subprocess.run([sys.executable, __file__, "--dump", str(out)], cwd=root, check=True,
                           env={**os.environ, "PYTHONPATH": str(root)})
            with open(out, "rb") as f:
                tables[name] = pickle.load(f)
    bad = differences(tables["ref"], tables["this"])
    rows = sum(len(c["columns"]["layer"]) for c in tables["this"].values())
    totals = sum(len(c["totals"]) for c in tables["this"].values())
    print(f"{len(tables['this'])} cases, {rows:,} rows, {totals:,} totals: {len(bad)} differences from {args.ref}")
    for line in bad[:20]:
        print(" ", line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
