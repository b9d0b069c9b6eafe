"""Side by side with ZigZag: per-layer energy of tpu_like under the zigzag convention, and latency.

Runs (when ``--zigzag-python`` is given) ZigZag (zigzag-dse) on its shipped tpu_like hardware and mapping
for LeNet-5 and AlexNet conv1-5 (batch 1, 8-bit operands, energy-optimal LOMA mapping), writes
tests/fixtures/zigzag/golden.csv (``--write``), then prices the same layers with this toolkit on
tests/fixtures/zigzag/zigzag_tpu_like.yaml (ZigZag's per-access energies in our YAML, memory.convention:
zigzag) and prints energy per component and latency, with ZigZag's latency terms beside ours.

    python -m venv /tmp/zzvenv && /tmp/zzvenv/bin/pip install zigzag-dse six
    python benchmarks/zigzag_validation.py --zigzag-python /tmp/zzvenv/bin/python --write
    python benchmarks/zigzag_validation.py              # compare against the stored fixture only
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import load_accelerator  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.workload import LayerWorkload  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "zigzag"
# (name, K, C, OX, OY, FX, FY, stride, padding)
LAYERS = [("lenet_conv1", 20, 1, 24, 24, 5, 5, 1, 0), ("lenet_conv2", 50, 20, 8, 8, 5, 5, 1, 0),
          ("lenet_fc1", 500, 800, 1, 1, 1, 1, 1, 0), ("lenet_fc2", 10, 500, 1, 1, 1, 1, 1, 0),
          ("alexnet_conv1", 96, 3, 55, 55, 11, 11, 4, 0), ("alexnet_conv2", 256, 96, 27, 27, 5, 5, 1, 2),
          ("alexnet_conv3", 384, 256, 13, 13, 3, 3, 1, 1), ("alexnet_conv4", 384, 384, 13, 13, 3, 3, 1, 1),
          ("alexnet_conv5", 256, 384, 13, 13, 3, 3, 1, 1)]
RUNNER = """
import json, sys, time
from importlib import resources
from zigzag import api
t = time.time()
inputs = resources.files("zigzag") / "inputs"
energy, latency, cmes = api.get_hardware_performance_zigzag(
    sys.argv[1], str(inputs / "hardware" / "tpu_like.yaml"), str(inputs / "mapping" / "tpu_like.yaml"),
    opt="energy", dump_folder=sys.argv[2], loma_show_progress_bar=False)
cme = cmes[0][1][0][0]
print("RESULT", json.dumps({"energy": cme.energy_total, "mac": cme.mac_energy, "latency": cme.latency_total2,
                           "ideal_temporal": cme.ideal_temporal_cycle, "wall_s": time.time() - t}))
"""


def workload_yaml(layer: tuple) -> str:
    name, k, c, ox, oy, fx, fy, s, p = layer
    text = (f"- id: 0\n  name: {name}\n  operator_type: Conv\n"
            "  equation: O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]\n"
            f"  dimension_relations: [ix={s}*ox+1*fx, iy={s}*oy+1*fy]\n"
            "  loop_dims: [B, K, C, OY, OX, FY, FX]\n"
            f"  loop_sizes: [1, {k}, {c}, {oy}, {ox}, {fy}, {fx}]\n"
            "  operand_precision: {W: 8, I: 8, O: 16, O_final: 8}\n  operand_source: {I: 0, W: 0}\n")
    if fx > 1:
        text += f"  pr_loop_dims: [IX, IY]\n  padding:\n  - [{p}, {p}]\n  - [{p}, {p}]\n"
    return text


def run_zigzag(python: str, layer: tuple) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / f"{layer[0]}.yaml"
        wl.write_text(workload_yaml(layer))
        out = subprocess.run([python, "-c", RUNNER, str(wl), str(Path(tmp) / "dump")], check=True,
                             capture_output=True, text=True)
    return json.loads(out.stdout.split("RESULT", 1)[1])


def our_layer(layer: tuple) -> LayerWorkload:
    name, k, c, ox, oy, fx, fy, s, p = layer
    h, w = (oy - 1) * s + fy - 2 * p, (ox - 1) * s + fx - 2 * p
    conv = (fx, ox) != (1, 1)
    return LayerWorkload(name, "conv2d" if conv else "linear", k, c * fx * fy, ox * oy,
                         np.ones((k, c * fx * fy), np.float32), weight_bits=8, input_elems=c * h * w,
                         geometry={"kernel": (fy, fx), "output_hw": (oy, ox), "stride": (s, s), "padding": (p, p)}
                         if conv else {})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zigzag-python", help="python of a venv with zigzag-dse (rerun the reference)")
    ap.add_argument("--write", action="store_true", help="update total energy/latency in the fixture")
    args = ap.parse_args()
    with open(FIXTURES / "golden.csv") as f:
        header = "".join(line for line in f if line.startswith("#"))
    with open(FIXTURES / "golden.csv") as f:
        golden = {r["layer"]: r for r in csv.DictReader(line for line in f if not line.startswith("#"))}
    if args.zigzag_python:
        for layer in LAYERS:
            res = run_zigzag(args.zigzag_python, layer)
            g = golden[layer[0]]
            print(f"ZigZag {layer[0]}: {res['energy']:.6g} pJ (fixture {float(g['total_energy_pj']):.6g}), "
                  f"{res['latency']:.0f} cycles, {res['wall_s']:.1f} s", flush=True)
            g.update(total_energy_pj=res["energy"], mac_energy_pj=res["mac"], latency_cycles=res["latency"],
                     ideal_temporal_cycles=res["ideal_temporal"], wall_s=f"{res['wall_s']:.3f}")
        if args.write:
            with open(FIXTURES / "golden.csv", "w", newline="") as f:
                f.write(header)
                w = csv.DictWriter(f, fieldnames=list(next(iter(golden.values()))))
                w.writeheader()
                w.writerows(golden.values())
    hw = load_accelerator(FIXTURES / "zigzag_tpu_like.yaml")
    print("| layer | ZigZag pJ | ours pJ | error | DRAM (ZZ / ours) | SRAM | RF | MAC | ZigZag cycles (ideal "
          "temporal + stall + on/offload + drain) | our cycles (compute + stall) | ZigZag s | ours ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for layer in LAYERS:
        g = golden[layer[0]]
        t = time.perf_counter()
        r = evaluate([our_layer(layer)], [hw]).rows()[0]
        dt = time.perf_counter() - t
        ref = float(g["total_energy_pj"])
        rf = float(g["total_rf128b_energy_pj"]) + float(g["total_rf2b_energy_pj"])
        load = float(g["onloading_cycles"]) + float(g["offloading_cycles"])
        lat = (f"{float(g['latency_cycles']):,.0f} ({float(g['ideal_temporal_cycles']):,.0f} + "
               f"{float(g['stall_slack_cycles']):,.0f} + {load:,.0f} + {float(g['systolic_drain_cycles']):,.0f})")
        print(f"| {layer[0]} | {ref:,.0f} | {r['energy_pj']:,.0f} | {(r['energy_pj'] - ref) / ref * 100:+.2f}% | "
              f"{float(g['total_dram_energy_pj']):,.0f} / {r['energy_dram_pj']:,.0f} | "
              f"{float(g['total_sram2mb_energy_pj']):,.0f} / {r['energy_sram_pj']:,.0f} | "
              f"{rf:,.0f} / {r['energy_rf_pj']:,.0f} | {float(g['mac_energy_pj']):,.0f} / {r['energy_mac_pj']:,.0f} | "
              f"{lat} | {r['cycles']:,.0f} ({r['compute_cycles']:,.0f} + {r['stall_cycles']:,.0f}) | "
              f"{float(g['wall_s']):.1f} | {dt * 1e3:.1f} |")


if __name__ == "__main__":
    main()
