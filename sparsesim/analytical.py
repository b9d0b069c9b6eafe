"""The analytical engine: closed-form costs, vectorized over hardware configs.

``evaluate(workloads, accelerators)`` prices every layer on every accelerator
in one call: per layer, one numpy evaluation per engine over all its configs
(no Python loop over configs, cycles or weights; per-layer facts computed from
the real mask are cached on the workload).  Steps: compute demand (engine) ->
memory traffic (convention) -> timing -> energy.

Timing (``native`` and ``zigzag`` conventions): a layer is ``T`` tiles (folds,
input vectors, ...); tile loads (DRAM) and computes overlap through double
buffering.  The DRAM latency is exposed once, then transfers stream at the
DRAM bandwidth: one channel shared by every operand, or one interface per
operand (the slowest sets the pace).  With per-tile load ``L`` and compute
``C = compute_cycles/T``

    cycles = latency + L + C + (T - 1) max(L, C)

the exact makespan of the two-stage pipeline with equal tiles; the first
tile's load is the prefetch phase.  The simpy engine runs the same tiles with
unequal per-tile traffic and operand streams competing for DRAM.  The
``scalesim`` convention reproduces SCALE-Sim v3's own memory simulation
(``sparsesim.conventions.scalesim``) and reports its cycle counts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from accel_models.hardware import OPERANDS, Accelerator

from .conventions import convention_costs
from .demand import ComputeDemand
from .energy import layer_energy, rf_bits
from .engines import compute_demand
from .hwarrays import HardwareArrays
from .memory import resident_weights
from .provenance import labels
from .results import COLUMNS, RUN_DEFAULTS, CostTable
from .timing import Timing, pipeline_cycles, pipelined_timing, transfer_cycles
from .workload import LayerWorkload


def layer_costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray,
                validated_by: dict[str, list[str]] | None = None) -> dict:
    """Every cost column of one layer on every config; ``validated_by``: ``sparsesim.provenance.labels`` of
    ``hw``'s accelerators (computed here when not given)."""
    traffic, timing = convention_costs(w, d, hw, resident)
    e = layer_energy(d, traffic, hw)
    units = hw.mac_units.astype(float)
    n = len(hw)
    sram_bits = sum(traffic.sram_read_bits[op] + traffic.sram_write_bits[op] for op in OPERANDS)
    return {
        "layer": [w.name] * n, "hardware": list(hw.names), "engine": list(hw.engine),
        "convention": list(hw.convention), "format": list(d.format), "num_pes": hw.pes, "mac_units": hw.mac_units,
        "weight_bits": [w.weight_bits] * n, "weights_resident": traffic.weights_resident,
        "storage_weight_bits": d.storage_weight_bits, "storage_index_bits": d.storage_index_bits,
        "storage_padding_bits": d.storage_padding_bits, "storage_pointer_bits": d.storage_pointer_bits,
        "storage_bits": d.storage_bits, "macs_dense": np.full(n, float(w.dense_macs)),
        "macs_executed": d.macs_executed, "macs_useful": d.macs_useful,
        "compute_cycles": timing.compute_cycles, "memory_cycles": timing.memory_cycles,
        "stall_cycles": timing.stall_cycles, "cycles": timing.cycles, "ideal_cycles": d.macs_useful / units,
        "utilization": np.where(timing.cycles > 0, d.macs_useful / np.maximum(timing.cycles * units, 1e-300), 0.0),
        "tiles": np.maximum(d.tiles, 1.0),
        "sram_ifmap_read_words": traffic.sram_ifmap_read_words,
        "sram_ifmap_write_words": traffic.sram_ifmap_write_words,
        "sram_filter_read_words": traffic.sram_filter_read_words,
        "sram_filter_write_words": traffic.sram_filter_write_words,
        "sram_ofmap_write_words": traffic.sram_ofmap_write_words,
        "sram_ofmap_read_words": traffic.sram_ofmap_read_words,
        "dram_ifmap_read_words": traffic.dram_ifmap_read_words,
        "dram_filter_read_words": traffic.dram_filter_read_words,
        "dram_ofmap_write_words": traffic.dram_ofmap_write_words,
        "dram_ofmap_read_words": traffic.dram_ofmap_read_words,
        "dram_bits": traffic.dram_bits, "dram_bits_compulsory": traffic.dram_bits_compulsory,
        "sram_bits": sram_bits, "rf_bits": rf_bits(d, traffic, hw), "index_decodes": d.index_decodes,
        "energy_dram_pj": e.dram_pj, "energy_sram_pj": e.sram_pj, "energy_rf_pj": e.rf_pj,
        "energy_mac_pj": e.mac_pj, "energy_index_pj": e.index_pj, "energy_pj": e.total_pj,
        "energy_lower_bound_pj": e.lower_bound_pj, "latency_s": timing.cycles / hw.clock_hz,
        "batch": [w.batch] * n, **{k: [v] * n for k, v in RUN_DEFAULTS.items()},   # not a timed run
        **{f"{q}_validated_by": list(v) for q, v in (validated_by or labels(hw.accelerators)).items()},
    }


def evaluate(workloads: Sequence[LayerWorkload], accelerators: Sequence[Accelerator] | HardwareArrays) -> CostTable:
    hw = HardwareArrays.of(accelerators)
    demands = [compute_demand(w, hw) for w in workloads]
    model_weight_bits = sum((d.storage_bits for d in demands), np.zeros(len(hw)))
    resident = resident_weights(hw, model_weight_bits)
    validated_by = labels(hw.accelerators)
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    for w, d in zip(workloads, demands):
        block = layer_costs(w, d, hw, resident, validated_by)
        for k in COLUMNS:
            cols[k].extend(list(block[k]))
    return CostTable(cols)


__all__ = ["evaluate", "layer_costs", "pipeline_cycles", "pipelined_timing", "transfer_cycles", "Timing"]
