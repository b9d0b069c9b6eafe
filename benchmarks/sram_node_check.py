"""SRAM energy at the presets' nodes: node-factor scaling of the 45 nm grid and the per-node CACTI grids, both
against CACTI run directly at each preset buffer's bank size and width (tests/fixtures/cacti/points.csv, written
by benchmarks/cacti_points.py).

Printed: per (bank capacity, width, node) CACTI's read energy, the 45 nm grid x Stillmaker & Baas's factor (the
rule before per-node grids) and the per-node grid (accel_models.tech.sram_access_pj), each with its error;
then each preset buffer at the preset's own node, before and after.

    python benchmarks/sram_node_check.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import load_accelerator, preset_names  # noqa: E402
from accel_models.tech import CACTI_NODES_NM, NODE_ENERGY_FACTOR, sram_access_pj  # noqa: E402

POINTS = ROOT / "tests" / "fixtures" / "cacti" / "points.csv"


def cacti_points() -> dict[tuple[int, int, int], float]:
    """(bank capacity bytes, width bits, node nm) -> CACTI read pJ."""
    with POINTS.open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return {(int(r["capacity_bytes"]), int(r["width_bits"]), int(r["node_nm"])): float(r["read_pj"]) for r in rows}


def scaled_45(cap: int, width: int, node: int) -> float:
    """The rule before per-node grids: the 45 nm grid x the node's Stillmaker & Baas factor."""
    return sram_access_pj(cap, width, node_nm=45) * NODE_ENERGY_FACTOR[node].value


def comparisons() -> list[dict]:
    out = []
    for (cap, width, node), cacti in sorted(cacti_points().items()):
        if node == 45:
            continue
        old, new = scaled_45(cap, width, node), sram_access_pj(cap, width, node_nm=node)
        out.append({"capacity_bytes": cap, "width_bits": width, "node_nm": node, "cacti_pj": cacti,
                    "scaled_pj": old, "scaled_err": old / cacti - 1, "grid_pj": new, "grid_err": new / cacti - 1})
    return out


def preset_buffers() -> list[dict]:
    out = []
    for name in preset_names():
        a = load_accelerator(name)
        bufs = {"glb": a.glb} if a.memory.organization == "shared" else {
            f"{op}_sram": a.buffer(op) for op in ("ifmap", "filter", "ofmap")}
        for key, b in bufs.items():
            cap = b.capacity_bytes / b.banks
            out.append({"preset": name, "buffer": key, "node_nm": a.tech_node_nm, "capacity_bytes": cap,
                        "width_bits": b.width_bits,
                        "scaled_pj": sram_access_pj(cap, b.width_bits) * NODE_ENERGY_FACTOR[a.tech_node_nm].value,
                        "grid_pj": b.access_pj(False, a.tech_node_nm)})
    return out


def main() -> None:
    rows = comparisons()
    print("| bank bytes | width bits | node nm | CACTI pJ | 45 nm grid x factor pJ | error | per-node grid pJ "
          "| error |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['capacity_bytes']:,} | {r['width_bits']} | {r['node_nm']} | {r['cacti_pj']:.3g} | "
              f"{r['scaled_pj']:.3g} | {r['scaled_err'] * 100:+.0f}% | {r['grid_pj']:.3g} | "
              f"{r['grid_err'] * 100:+.0f}% |")
    for node in [n for n in CACTI_NODES_NM if n != 45]:
        sel = [r for r in rows if r["node_nm"] == node]
        print(f"\n{node} nm: max |error| scaled {max(abs(r['scaled_err']) for r in sel) * 100:.0f}%, "
              f"per-node grid {max(abs(r['grid_err']) for r in sel) * 100:.0f}% ({len(sel)} buffers)")
    print("\n| preset | buffer | node nm | bank bytes x width bits | before: 45 nm grid x factor pJ | "
          "now pJ | change |")
    print("|---|---|---|---|---|---|---|")
    for r in preset_buffers():
        print(f"| {r['preset']} | {r['buffer']} | {r['node_nm']} | {r['capacity_bytes']:,.0f} x {r['width_bits']} | "
              f"{r['scaled_pj']:.3g} | {r['grid_pj']:.3g} | {(r['grid_pj'] / r['scaled_pj'] - 1) * 100:+.0f}% |")


if __name__ == "__main__":
    main()
