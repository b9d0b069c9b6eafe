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
tile's load is the prefetch phase.  Tiles are unequal (first-pass bursts,
outputs leaving after their accumulation): ``sparsesim.timing`` takes the
pipeline's bounds over that structure, which the simpy engine replays tile by
tile with operand streams competing for DRAM.  The
``scalesim`` convention reproduces SCALE-Sim v3's own memory simulation
(``sparsesim.conventions.scalesim``) and reports its cycle counts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from accel_models.hardware import OPERANDS, Accelerator

from .conventions import convention_costs, stacked_convention_costs
from .demand import ComputeDemand
from .energy import layer_energy, rf_bits
from .engines import compute_demands
from .hwarrays import HardwareArrays
from .memory import resident_weights
from .provenance import labels
from .results import ADDITIVE, COLUMNS, RUN_DEFAULTS, CostTable
from .stationary import one_instance, scale_instances
from .timing import Timing, pipeline_cycles, pipelined_timing, transfer_cycles
from .workload import LayerWorkload


def layer_costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray) -> dict:
    """Every cost column of one layer on every config."""
    traffic, timing = convention_costs(w, d, hw, resident)
    return _cost_columns([w], d, hw, traffic, timing, len(hw), labels(hw.accelerators))


def _cost_columns(workloads, d: ComputeDemand, hw: HardwareArrays, traffic, timing, n: int,
                  validated_by: dict[str, list[str]]) -> dict:
    """The cost columns (numpy arrays; names and texts as object arrays) of layers stacked layer after layer,
    ``n`` configs each (``d``, ``hw``, ``traffic`` and ``timing`` hold ``len(workloads) * n`` entries);
    ``validated_by``: ``sparsesim.provenance.labels`` of the ``n`` configs."""
    e = layer_energy(d, traffic, hw, timing.cycles)
    units = hw.mac_units.astype(float)
    total = len(hw)

    def per_layer(value, dtype) -> np.ndarray:
        return np.repeat(np.array([value(w) for w in workloads], dtype=dtype), n)

    sram_bits = sum(traffic.sram_read_bits[op] + traffic.sram_write_bits[op] for op in OPERANDS)
    return {
        "layer": per_layer(lambda w: w.name, object), "hardware": np.array(hw.names, dtype=object),
        "engine": hw.engine, "convention": hw.convention, "format": d.format, "num_pes": hw.pes,
        "mac_units": hw.mac_units, "weight_bits": per_layer(lambda w: w.weight_bits, np.int64),
        "weights_resident": traffic.weights_resident,
        "storage_weight_bits": d.storage_weight_bits, "storage_index_bits": d.storage_index_bits,
        "storage_padding_bits": d.storage_padding_bits, "storage_pointer_bits": d.storage_pointer_bits,
        "storage_bits": d.storage_bits, "macs_dense": per_layer(lambda w: float(w.dense_macs), float),
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
        "energy_mac_pj": e.mac_pj, "energy_index_pj": e.index_pj,
        "energy_clock_pj": e.clock_pj, "energy_pj": e.total_pj,
        "energy_lower_bound_pj": e.lower_bound_pj, "latency_s": timing.cycles / hw.clock_hz,
        "batch": per_layer(lambda w: w.batch, np.int64),
        **{k: np.full(total, v, dtype=object if isinstance(v, str) else type(v)) for k, v in RUN_DEFAULTS.items()},
        **({"note": per_layer(lambda w: w.note, object)} if any(w.note for w in workloads) else {}),
        **{f"{q}_validated_by": np.tile(np.array(v, dtype=object), len(workloads)) for q, v in validated_by.items()},
    }   # RUN_DEFAULTS: not a timed run


def evaluate(workloads: Sequence[LayerWorkload], accelerators: Sequence[Accelerator] | HardwareArrays) -> CostTable:
    """Every layer priced on every accelerator: one row per (layer, accelerator), layer after layer.

    All layers go through the memory, timing and energy models in one numpy pass (the stacked entries are
    priced elementwise, so each row equals pricing its layer alone); only the engines, which read per-layer
    facts of the real mask, run once per (layer, engine).  An activation x activation row is priced as one of its
    instances and scaled by their count; its operand is no weight (``sparsesim.stationary``)."""
    hw = HardwareArrays.of(accelerators)
    whole = list(workloads)
    workloads = [one_instance(w) for w in whole]
    n = len(hw)
    d = compute_demands(workloads, hw)
    model_weight_bits = np.zeros(n)
    for w, bits in zip(workloads, d.storage_bits.reshape(len(workloads), n)):   # layer by layer (the same float sum)
        if w.stationary == "weights":
            model_weight_bits = model_weight_bits + bits
    resident = resident_weights(hw, model_weight_bits)
    stacked = hw.stacked(len(workloads))
    resident = np.tile(resident, len(workloads))
    traffic, timing = stacked_convention_costs(workloads, d, stacked, resident, n)
    cols = _cost_columns(workloads, d, stacked, traffic, timing, n, hw.once("labels", lambda: labels(hw.accelerators)))
    return CostTable.from_arrays(scale_instances(cols, whole, n, ADDITIVE), n)


__all__ = ["evaluate", "layer_costs", "pipeline_cycles", "pipelined_timing", "transfer_cycles", "Timing"]
