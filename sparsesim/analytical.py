"""The analytical engine: closed-form costs, vectorized over hardware configs.

``evaluate(workloads, accelerators)`` prices every layer on every accelerator
in one call: per layer, one numpy evaluation over all configs (no Python loop
over configs, cycles or weights; the EIE load of each distinct PE count is
computed once from the real mask and cached).

Timing: a layer is ``T`` tiles (systolic folds; EIE input vectors); tile
loads (DRAM) and tile computes overlap through double buffering.  The DRAM
latency is exposed once (the first request), then transfers stream at the
DRAM bandwidth.  With per-tile load ``L = bits/T/bw`` and compute
``C = compute_cycles/T``

    cycles = latency + L + C + (T - 1) * max(L, C)

(the exact makespan of the two-stage pipeline with equal tiles; the simpy
engine simulates the same schedule event by event).  Energy is the sum of
DRAM, SRAM, register-file, MAC and index-decode energies.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from accel_models.hardware import Accelerator

from .demand import HardwareArrays, layer_demand
from .results import COLUMNS, CostTable
from .workload import LayerWorkload


def pipeline_cycles(load, compute, tiles):
    """Makespan of ``tiles`` equal tiles through a double-buffered load -> compute pipeline."""
    return load + compute + (tiles - 1) * np.maximum(load, compute)


def evaluate(workloads: Sequence[LayerWorkload], accelerators: Sequence[Accelerator] | HardwareArrays) -> CostTable:
    hw = accelerators if isinstance(accelerators, HardwareArrays) else HardwareArrays.from_accelerators(list(accelerators))
    n_hw = len(hw.names)
    pes = (hw.rows * hw.cols).astype(float)
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    for w in workloads:
        d = layer_demand(w, hw)
        tiles = np.maximum(d["tiles"], 1.0)
        load = d["dram_bits"] / tiles / hw.dram_bw
        comp = d["compute_cycles"] / tiles
        cycles = hw.dram_latency + pipeline_cycles(load, comp, tiles)
        e_mac = d["mac_pj"]
        energy = {
            "energy_dram_pj": d["dram_bits"] * hw.dram_pj_bit,
            "energy_sram_pj": d["sram_bits"] * hw.glb_pj_bit,
            "energy_rf_pj": d["rf_bits"] * hw.rf_pj_bit,
            "energy_mac_pj": d["macs_executed"] * d["mac_energy_weight"] * e_mac,
            "energy_index_pj": d["index_decodes"] * hw.decode_pj,
        }
        total = sum(energy.values())
        lower = d["dram_bits_compulsory"] * hw.dram_pj_bit + d["macs_useful"] * e_mac
        ideal = d["macs_useful"] / pes
        block = {
            "layer": [w.name] * n_hw, "hardware": list(hw.names), "engine": list(hw.engine),
            "format": list(d["format"]), "num_pes": pes.astype(int), "weight_bits": [w.weight_bits] * n_hw,
            "storage_weight_bits": d["storage_weight_bits"], "storage_index_bits": d["storage_index_bits"],
            "storage_padding_bits": d["storage_padding_bits"], "storage_pointer_bits": d["storage_pointer_bits"],
            "storage_bits": d["storage_bits"], "macs_dense": np.full(n_hw, float(w.dense_macs)),
            "macs_executed": d["macs_executed"], "macs_useful": d["macs_useful"],
            "compute_cycles": d["compute_cycles"], "memory_cycles": hw.dram_latency + load * tiles,
            "stall_cycles": cycles - d["compute_cycles"], "cycles": cycles, "ideal_cycles": ideal,
            "utilization": d["macs_useful"] / (cycles * pes), "tiles": tiles, "dram_bits": d["dram_bits"],
            "dram_bits_compulsory": d["dram_bits_compulsory"], "sram_bits": d["sram_bits"], "rf_bits": d["rf_bits"],
            "index_decodes": d["index_decodes"], **energy, "energy_pj": total, "energy_lower_bound_pj": lower,
            "latency_s": cycles / hw.clock_hz,
        }
        for k in COLUMNS:
            cols[k].extend(list(block[k]))
    return CostTable(cols)
