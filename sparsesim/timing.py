"""Timing of one layer from its compute demand and DRAM traffic: the double-buffered pipeline closed form.

A layer is ``T`` tiles; tile loads (DRAM) and computes overlap through double
buffering; the DRAM latency is exposed once (by the first request), then
transfers stream at the shared channel's bandwidth or, with one interface per
operand, at the slowest interface's pace.  With per-tile load ``L`` and compute
``C``: ``cycles = latency + L + C + (T - 1) max(L, C)``, the exact makespan of
the two-stage pipeline with equal tiles; the first tile's load is the prefetch
phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel_models.hardware import OPERANDS

from .demand import ComputeDemand
from .hwarrays import HardwareArrays
from .memory import Traffic


@dataclass(frozen=True, eq=False)
class Timing:
    compute_cycles: np.ndarray
    memory_cycles: np.ndarray        # DRAM latency + every transfer back to back
    cycles: np.ndarray               # makespan incl. the prefetch phase
    stall_cycles: np.ndarray         # cycles the array waits for data


def pipeline_cycles(load, compute, tiles):
    """Makespan of ``tiles`` equal tiles through a double-buffered load -> compute pipeline."""
    return load + compute + (tiles - 1) * np.maximum(load, compute)


def transfer_cycles(t: Traffic, hw: HardwareArrays) -> np.ndarray:
    """Cycles to move the layer's DRAM traffic: one shared channel, or per-operand interfaces in parallel."""
    per_op = {"ifmap": t.dram_ifmap_bits, "filter": t.dram_filter_bits, "ofmap": t.dram_ofmap_bits}
    shared = t.dram_bits / hw.dram_bw
    parallel = np.max([per_op[op] / hw.dram_op_bw[op] for op in OPERANDS], axis=0)
    return np.where(hw.stall_free, 0.0, np.where(hw.dram_shared, shared, parallel))


def pipelined_timing(d: ComputeDemand, t: Traffic, hw: HardwareArrays) -> Timing:
    tiles = np.maximum(d.tiles, 1.0)
    transfer = transfer_cycles(t, hw)
    latency = np.where(t.dram_bits > 0, hw.dram_latency, 0.0)   # exposed once, by the first request
    cycles = latency + pipeline_cycles(transfer / tiles, d.compute_cycles / tiles, tiles)
    return Timing(d.compute_cycles, latency + transfer, cycles, cycles - d.compute_cycles)
