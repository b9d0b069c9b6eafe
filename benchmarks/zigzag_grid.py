"""ZigZag on a generated grid of hierarchies: energy and DRAM traffic per layer, ours vs ZigZag's.

Generates 48 hierarchies (arrays 8x8..64x64 incl. non-square, on-chip SRAM 16 KB..4 MB, WS- and OS-style
spatial unrollings, two and three memory levels; docs/validation.md section 9 defines them), writes each as
a ZigZag (zigzag-dse 3.9.1) hardware + mapping YAML and as this toolkit's YAML with the same per-access
energies, runs three layers per hierarchy (one each of LeNet-5, AlexNet conv1-5 and ResNet-18, rotating),
and stores ZigZag's energy per component and its per-level traffic in tests/fixtures/zigzag/grid.csv.
Every 4th hierarchy (index % 4 == 3) is held out: not looked at while the convention was written.

    python benchmarks/zigzag_grid.py --zigzag-python /tmp/zzvenv/bin/python --write   # reruns ZigZag (~40 min)
    python benchmarks/zigzag_grid.py              # compare against the stored fixture only
    python benchmarks/zigzag_grid.py --csv out.csv   # also write the per-point comparison

Hierarchy levels, in terms this toolkit's YAML expresses:
* ``3``: DRAM -> shared SRAM (inputs, outputs; `glb`) -> per-PE registers (a 128 B weight register, a 16-bit
  output accumulator; `rf`), weights going DRAM -> register directly (ZigZag's tpu_like shape);
* ``2``: DRAM -> shared SRAM (inputs, weights and outputs) -> MACs, no registers (`rf.weight_access_pj: 0`,
  `rf.psum_access_pj: 0`, as `rf.act_access_pj: 0` already says "no input register": the PEs read every
  operand from the SRAM and accumulate partial sums there).
Unrollings: ``ws`` puts output channels K on the rows and input channels C on the columns; ``os`` puts K on
the rows and output columns OX on the columns (each PE owns one output).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import accelerator_from_dict  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zigzag_validation import our_layer, workload_yaml  # noqa: E402  (one ZigZag workload writer and layer for both)

FIXTURE = ROOT / "tests" / "fixtures" / "zigzag" / "grid.csv"
# (name, K, C, OX, OY, FX, FY, stride, padding)
LENET = [("lenet_conv1", 20, 1, 24, 24, 5, 5, 1, 0), ("lenet_conv2", 50, 20, 8, 8, 5, 5, 1, 0),
         ("lenet_fc1", 500, 800, 1, 1, 1, 1, 1, 0), ("lenet_fc2", 10, 500, 1, 1, 1, 1, 1, 0)]
ALEXNET = [("alexnet_conv1", 96, 3, 55, 55, 11, 11, 4, 0), ("alexnet_conv2", 256, 96, 27, 27, 5, 5, 1, 2),
           ("alexnet_conv3", 384, 256, 13, 13, 3, 3, 1, 1), ("alexnet_conv4", 384, 384, 13, 13, 3, 3, 1, 1),
           ("alexnet_conv5", 256, 384, 13, 13, 3, 3, 1, 1)]
RESNET = [("resnet18_conv1", 64, 3, 112, 112, 7, 7, 2, 3), ("resnet18_l1_conv", 64, 64, 56, 56, 3, 3, 1, 1),
          ("resnet18_l2_conv", 128, 128, 28, 28, 3, 3, 1, 1), ("resnet18_l2_down", 128, 64, 28, 28, 1, 1, 2, 0),
          ("resnet18_l3_conv", 256, 256, 14, 14, 3, 3, 1, 1), ("resnet18_l4_conv", 512, 512, 7, 7, 3, 3, 1, 1),
          ("resnet18_fc", 1000, 512, 1, 1, 1, 1, 1, 0)]
LAYERS = {x[0]: x for x in LENET + ALEXNET + RESNET}
ARRAYS = [(8, 8), (16, 16), (32, 32), (64, 64), (16, 64), (32, 8)]
SRAM_KB = [16, 64, 256, 1024, 4096]
STYLES = [("ws", 3), ("os", 3), ("ws", 2), ("os", 2)]
# per-access energies: ZigZag's tpu_like numbers; the SRAM's scale with sqrt(capacity / 2 MB) (a stand-in for a
# CACTI sweep; both tools are given the same numbers, so only their access counting is compared)
MAC_PJ, RF_W_PJ, RF_O_PJ = 0.04, 0.095, 0.021
SRAM_RD_PJ_2MB, SRAM_WR_PJ_2MB, SRAM_PORT_BITS, SRAM_MIN_BITS = 416.16, 378.4, 2048, 64
DRAM_RD_PJ, DRAM_WR_PJ, DRAM_BITS = 700.0, 750.0, 64
COMPONENTS = ["mac", "rf_w", "rf_o", "sram_i", "sram_w", "sram_o", "dram_i", "dram_w", "dram_o"]


def hierarchies() -> list[dict]:
    """The grid: for each (unrolling, levels) style, every array with two SRAM sizes (rotating)."""
    out = []
    for s, (flow, levels) in enumerate(STYLES):
        for a, (rows, cols) in enumerate(ARRAYS):
            for j in range(2):
                kb = SRAM_KB[(2 * a + j + s) % len(SRAM_KB)]
                i = len(out)
                out.append(dict(hier=f"h{i:02d}_{flow}{levels}_{rows}x{cols}_{kb}k", rows=rows, cols=cols,
                                sram_kb=kb, dataflow=flow, levels=levels, held_out=int(i % 4 == 3)))
    return out


def layers_of(i: int) -> list[tuple]:
    """Three layers for hierarchy ``i``: one of each family, rotating so every layer is covered."""
    return [LENET[i % len(LENET)], ALEXNET[i % len(ALEXNET)], RESNET[i % len(RESNET)]]


def sram_pj(kb: int) -> tuple[float, float]:
    f = (kb / 2048) ** 0.5
    return SRAM_RD_PJ_2MB * f, SRAM_WR_PJ_2MB * f


# ------------------------------------------------------------------ ZigZag side
def _port(name, kind, lo, hi, alloc):
    lines = [f"      - name: {name}", f"        type: {kind}", f"        bandwidth_min: {lo}",
             f"        bandwidth_max: {hi}", "        allocation:"] + [f"          - {a}" for a in alloc]
    return "\n".join(lines)


def _memory(name, bits, rd, wr, operands, ports, served):
    return (f"  {name}:\n    size: {bits}\n    r_cost: {rd}\n    w_cost: {wr}\n    area: 0\n    latency: 1\n"
            f"    operands: [{', '.join(operands)}]\n    ports:\n" + "\n".join(ports) +
            f"\n    served_dimensions: [{', '.join(served)}]\n")


def zigzag_hardware(h: dict) -> str:
    rd, wr = sram_pj(h["sram_kb"])
    text = f"name: {h['hier']}\n\nmemories:\n"
    if h["levels"] == 3:
        text += _memory("rf_128B", 1024, RF_W_PJ, RF_W_PJ, ["I2"],
                        [_port("r_port_1", "read", 8, 8, ["I2, tl"]), _port("w_port_1", "write", 8, 8, ["I2, fh"])],
                        [])
        text += _memory("rf_2B", 16, RF_O_PJ, RF_O_PJ, ["O"],
                        [_port("r_port_1", "read", 16, 16, ["O, tl"]), _port("r_port_2", "read", 16, 16, ["O, th"]),
                         _port("w_port_1", "write", 16, 16, ["O, fh"]),
                         _port("w_port_2", "write", 16, 16, ["O, fl"])], [])
        sram_ops, ops = ["I1", "O"], ("I1", "O")
    else:
        sram_ops, ops = ["I1", "I2", "O"], ("I1", "I2", "O")
    alloc_r = [f"{o}, tl" for o in ops] + (["O, th"] if "O" in ops else [])
    alloc_w = [f"{o}, fh" for o in ops] + (["O, fl"] if "O" in ops else [])
    text += _memory("sram", h["sram_kb"] * 8192, round(rd, 4), round(wr, 4), sram_ops,
                    [_port("r_port_1", "read", SRAM_MIN_BITS, SRAM_PORT_BITS, alloc_r),
                     _port("w_port_1", "write", SRAM_MIN_BITS, SRAM_PORT_BITS, alloc_w)], ["D1", "D2"])
    text += _memory("dram", 10_000_000_000, DRAM_RD_PJ, DRAM_WR_PJ, ["I1", "I2", "O"],
                    [_port("rw_port_1", "read_write", DRAM_BITS, DRAM_BITS,
                           ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"])],
                    ["D1", "D2"])
    text += (f"\noperational_array:\n  unit_energy: {MAC_PJ}\n  unit_area: 1\n  dimensions: [D1, D2]\n"
             f"  sizes: [{h['rows']}, {h['cols']}]\n")
    return text


def zigzag_mapping(h: dict) -> str:
    d2 = "C" if h["dataflow"] == "ws" else "OX"
    return (f"- name: default\n  spatial_mapping:\n    D1:\n      - K, {h['rows']}\n"
            f"    D2:\n      - {d2}, {h['cols']}\n"
            "  memory_operand_links:\n    O: O\n    W: I2\n    I: I1\n")


RUNNER = """
import json, sys, time
from zigzag import api
t = time.time()
energy, latency, cmes = api.get_hardware_performance_zigzag(sys.argv[1], sys.argv[2], sys.argv[3], opt="energy",
    dump_folder=sys.argv[4], loma_show_progress_bar=False)
cme = cmes[0][1][0][0]
names = {"I1": "I", "I2": "W", "O": "O"}
levels = {}
for op, accs in cme.memory_word_access.items():
    mem_op = cme.memory_operand_links.layer_to_mem_op(op)
    mems = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op=mem_op)
    for a, m, e in zip(accs, mems, cme.mem_energy_breakdown[op]):
        d = {str(k): v for k, v in a.data.items()}
        levels[f"{m.name}:{op}"] = {"energy": e, "rd_up": d["rd_out_to_high"], "wr_down": d["wr_in_by_high"],
                                    "rd_down": d["rd_out_to_low"], "wr_up": d["wr_in_by_low"]}
print("RESULT", json.dumps({"energy": cme.energy_total, "mac": cme.mac_energy, "latency": cme.latency_total2,
                           "levels": levels, "temporal": str(cme.temporal_mapping),
                           "spatial": str(cme.spatial_mapping), "wall_s": time.time() - t}))
"""


def run_zigzag(python: str, h: dict, layer: tuple) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: Path(tmp) / f"{n}.yaml" for n in ("wl", "hw", "map")}
        paths["wl"].write_text(workload_yaml(layer))
        paths["hw"].write_text(zigzag_hardware(h))
        paths["map"].write_text(zigzag_mapping(h))
        out = subprocess.run(["nice", "-n", "10", python, "-c", RUNNER, str(paths["wl"]), str(paths["hw"]),
                              str(paths["map"]), str(Path(tmp) / "dump")], check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.split("RESULT", 1)[1])
    lv = res["levels"]

    def pick(mem, op, key="energy"):
        return sum(v[key] for k, v in lv.items() if k.split(":")[0].startswith(mem) and k.split(":")[1] == op)

    row = {"zz_energy_pj": res["energy"], "zz_mac_pj": res["mac"],
           "zz_rf_w_pj": pick("rf_128B", "W"), "zz_rf_o_pj": pick("rf_2B", "O"),
           "zz_sram_i_pj": pick("sram", "I"), "zz_sram_w_pj": pick("sram", "W"), "zz_sram_o_pj": pick("sram", "O"),
           "zz_dram_i_pj": pick("dram", "I"), "zz_dram_w_pj": pick("dram", "W"), "zz_dram_o_pj": pick("dram", "O")}
    # DRAM traffic in bits: ZigZag counts 64-bit DRAM words per direction
    row["zz_dram_i_bits"] = DRAM_BITS * pick("dram", "I", "rd_down")
    row["zz_dram_w_bits"] = DRAM_BITS * pick("dram", "W", "rd_down")
    row["zz_dram_o_bits"] = DRAM_BITS * (pick("dram", "O", "wr_up") + pick("dram", "O", "rd_down"))
    row["zz_sram_words"] = sum(v[k] for n, v in lv.items() if n.startswith("sram")
                               for k in ("rd_up", "wr_down", "rd_down", "wr_up"))
    row["zz_latency_cycles"] = res["latency"]
    row["zz_temporal_mapping"] = res["temporal"]
    row["wall_s"] = f"{res['wall_s']:.2f}"
    return row


# ------------------------------------------------------------------ our side
def our_hardware(h: dict, convention: str = "zigzag") -> dict:
    """The hierarchy as this toolkit's YAML (a dict), with ZigZag's per-access energies."""
    rd, wr = sram_pj(h["sram_kb"])
    regs = h["levels"] == 3
    return {
        "name": h["hier"], "platform": "asic", "clock_hz": 1.0e9,
        "pe": {"engine": "systolic", "rows": h["rows"], "cols": h["cols"], "dataflow": h["dataflow"],
               "weight_bits": [8], "act_bits": 8, "acc_bits": 16, "mac_pj": MAC_PJ, "compact_zero_rows_cols": False},
        "memory": {"organization": "shared", "double_buffered": False, "weights": "streamed",
                   "convention": convention},
        "glb": {"capacity_bytes": h["sram_kb"] * 1024, "banks": 1, "width_bits": SRAM_PORT_BITS,
                "min_access_bits": SRAM_MIN_BITS, "read_pj": round(rd, 4), "write_pj": round(wr, 4)},
        "rf": {"capacity_bytes": 128, "width_bits": 8, "weight_access_pj": RF_W_PJ if regs else 0.0,
               "psum_access_pj": RF_O_PJ if regs else 0.0, "act_access_pj": 0.0},
        "dram": {"energy_pj_per_bit": DRAM_RD_PJ / DRAM_BITS, "write_energy_pj_per_bit": DRAM_WR_PJ / DRAM_BITS,
                 "bandwidth_bits_per_cycle": DRAM_BITS, "latency_cycles": 1},
    }


def ours(h: dict, layer: tuple, convention: str) -> dict:
    hw = accelerator_from_dict(our_hardware(h, convention))
    return evaluate([our_layer(layer)], [hw]).rows()[0]


def read_fixture(path: Path = FIXTURE) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def compare(row: dict, conventions: tuple = ("zigzag", "native")) -> dict:
    """Our energy and DRAM bits (zigzag and native conventions) vs ZigZag's for one fixture row."""
    h = {k: (int(row[k]) if k in ("rows", "cols", "sram_kb", "levels", "held_out") else row[k])
         for k in ("hier", "rows", "cols", "sram_kb", "dataflow", "levels", "held_out")}
    layer = LAYERS[row["layer"]]
    ref_e = float(row["zz_energy_pj"])
    ref_dram = sum(float(row[f"zz_dram_{o}_bits"]) for o in "iwo")
    ref_sram = sum(float(row[f"zz_sram_{o}_pj"]) for o in "iwo")
    ref_rf = float(row["zz_rf_w_pj"]) + float(row["zz_rf_o_pj"])
    out = {}
    for conv in conventions:
        r = ours(h, layer, conv)
        out[f"{conv}_energy_err"] = (r["energy_pj"] - ref_e) / ref_e
        out[f"{conv}_dram_err"] = (r["dram_bits"] - ref_dram) / ref_dram
        ref_sram_bits = float(row["zz_sram_words"]) * SRAM_PORT_BITS
        out[f"{conv}_sram_err"] = (r["sram_bits"] - ref_sram_bits) / max(ref_sram_bits, 1.0)
        out[f"{conv}_sram_pj_diff"] = r["energy_sram_pj"] - ref_sram
        out[f"{conv}_rf_pj_diff"] = r["energy_rf_pj"] - ref_rf
        out[f"{conv}_row"] = r
    return out


HEADER = ("# ZigZag (zigzag-dse 3.9.1) on the generated grid of benchmarks/zigzag_grid.py: energy-optimal LOMA\n"
          "# mapping, batch 1, 8-bit W/I, 16-bit partial sums; energies in pJ per component (zz_<level>_<operand>),\n"
          "# DRAM traffic in bits per operand; held_out = 1: not looked at while the zigzag convention was written.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zigzag-python", help="python of a venv with zigzag-dse (rerun the reference)")
    ap.add_argument("--write", action="store_true", help="write tests/fixtures/zigzag/grid.csv")
    ap.add_argument("--jobs", type=int, default=2, help="ZigZag runs in parallel")
    ap.add_argument("--cache", default="/tmp/zigzag_grid_runs.jsonl",
                    help="ZigZag results, one JSON per line, kept between runs (a rerun skips what is there)")
    ap.add_argument("--only", help="comma-separated hierarchy indices to run (debugging)")
    ap.add_argument("--per-point", action="store_true", help="print every tuned-on point's errors")
    ap.add_argument("--show-held-out", action="store_true", help="with --per-point: the held-out points too")
    ap.add_argument("--csv", help="write the per-point comparison here")
    args = ap.parse_args()
    grid = hierarchies()
    if args.zigzag_python:
        cache = Path(args.cache)
        done = {(r["hier"], r["layer"]): r for r in map(json.loads, cache.read_text().splitlines())} \
            if cache.exists() else {}
        # one style after the other within each array/SRAM slot, so that a run stopped early covers every style
        order = sorted(range(len(grid)), key=lambda i: (i % 12, i // 12))
        todo = [(i, grid[i], layer) for i in order for layer in layers_of(i)
                if (not args.only or str(i) in args.only.split(",")) and (grid[i]["hier"], layer[0]) not in done]
        lock = threading.Lock()

        def job(t):
            i, h, layer = t
            name, k, c, ox, oy, fx, fy, s, p = layer
            r = dict(h, layer=name, K=k, C=c, OX=ox, OY=oy, FX=fx, FY=fy, stride=s, padding=p,
                     macs=k * c * ox * oy * fx * fy, **run_zigzag(args.zigzag_python, h, layer))
            print(f"{h['hier']} {name}: {r['zz_energy_pj']:.6g} pJ, {r['wall_s']} s", flush=True)
            with lock, open(cache, "a") as f:
                f.write(json.dumps(r) + "\n")
            done[(h["hier"], name)] = r
            return r
        with ThreadPoolExecutor(args.jobs) as ex:
            list(ex.map(job, todo))
    if args.write:
        cache = Path(args.cache)
        done = {(r["hier"], r["layer"]): r for r in map(json.loads, cache.read_text().splitlines())}
        complete = [h for i, h in enumerate(grid) if all((h["hier"], x[0]) in done for x in layers_of(i))]
        rows = [done[(h["hier"], x[0])] for i, h in enumerate(grid) if h in complete for x in layers_of(i)]
        print(f"writing {len(rows)} points of {len(complete)} complete hierarchies to {FIXTURE}")
        if rows:
            FIXTURE.parent.mkdir(parents=True, exist_ok=True)
            with open(FIXTURE, "w", newline="") as f:
                f.write(HEADER)
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    rows = read_fixture()
    table = []
    for row in rows:
        c = compare(row)
        table.append(dict(hier=row["hier"], style=f"{row['dataflow']}{row['levels']}", layer=row["layer"],
                          held_out=row["held_out"], zz_energy_pj=row["zz_energy_pj"],
                          **{k: f"{v * 100:+.2f}" for k, v in c.items() if k.endswith("_err")}))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(table[0]))
            w.writeheader()
            w.writerows(table)
    keys = ("zigzag_energy_err", "zigzag_dram_err", "zigzag_sram_err", "native_energy_err", "native_dram_err",
            "native_sram_err")
    print("| points | n | zigzag energy max / mean abs err | zigzag DRAM bits | zigzag SRAM bits | native energy | "
          "native DRAM bits | native SRAM bits | native energy within 10% |")
    print("|---|---|---|---|---|---|---|---|---|")
    for part, keep in (("tuned-on", "0"), ("held-out", "1")):
        for style in ("all", "ws3", "os3", "ws2", "os2"):
            sel = [t for t in table if t["held_out"] == keep and style in ("all", t["style"])]
            if not sel:
                continue
            cells = []
            for key in keys:
                v = np.abs([float(t[key]) for t in sel])
                cells.append(f"{v.max():.2f}% / {v.mean():.2f}%")
            ok = sum(abs(float(t["native_energy_err"])) <= 10 for t in sel)
            print(f"| {part} {style} | {len(sel)} | " + " | ".join(cells) + f" | {ok}/{len(sel)} |")
    if args.per_point:
        print("\n| hierarchy | layer | held out | zigzag energy | zigzag DRAM | native energy | native DRAM |")
        print("|---|---|---|---|---|---|---|")
        for t in table:
            if t["held_out"] == "0" or args.show_held_out:
                print(f"| {t['hier']} | {t['layer']} | {t['held_out']} | {t['zigzag_energy_err']}% | "
                      f"{t['zigzag_dram_err']}% | {t['native_energy_err']}% | {t['native_dram_err']}% |")

if __name__ == "__main__":
    main()
