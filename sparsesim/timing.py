"""Timing of one layer from its compute demand and DRAM traffic: the double-buffered pipeline closed form.

A layer is ``T`` tiles; tile loads (DRAM) and computes overlap through double
buffering; the DRAM latency is exposed once (by the first request), then
transfers stream at the shared channel's bandwidth or, with one interface per
operand, at the slowest interface's pace.  With equal per-tile loads ``L`` and
compute ``C``: ``cycles = latency + L + C + (T - 1) max(L, C)``, the exact
makespan of the two-stage pipeline; the first tile's load is the prefetch phase.

Tiles are not equal (``tile_phases``, the structure the simpy engine replays
tile by tile): an operand fetched once although the array passes over it
several times arrives during the first pass; outputs leave when their
accumulation ends (after the last tile of each output group), spilled partial
sums leave and come back every tile.  The closed form is the largest of the
pipeline's bounds under that structure:

* compute-bound after the first ``k`` tiles' loads, for ``k`` = 1 and the end
  of each first-pass burst: ``prefix_load(k) + (T - k + 1) C + S_last``
  (``S_last``: the last output group's stores, which leave after the last compute);
* channel-bound: every transfer back to back, then one tile's compute.

With equal tiles it is the formula above.  What it cannot see is the order in
which streams queue on one channel (stores of a tile delaying the next tile's
loads inside a burst): the event engine's contention.
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


@dataclass(frozen=True, eq=False)
class TilePhases:
    """How a layer's DRAM traffic falls on its tiles (arrays over configs; bits unless named cycles).

    An operand read once from DRAM although the array passes over it several times (it fits its buffer) arrives
    spread over the first pass's tiles (``*_first_tiles`` of them); one refetched per pass arrives evenly with
    every tile (``*_first_tiles`` == ``tiles``).  Partial-sum reads and spill writes are even; final outputs
    leave at the end of each of ``output_groups`` accumulation groups (the last tile of each)."""

    tiles: np.ndarray
    ifmap_bits: np.ndarray
    ifmap_first_tiles: np.ndarray
    filter_bits: np.ndarray
    filter_first_tiles: np.ndarray
    psum_bits: np.ndarray            # spilled partial sums read back
    spill_bits: np.ndarray           # spilled partial sums written
    output_bits: np.ndarray          # final outputs written
    output_groups: np.ndarray


def _first_pass_tiles(once: np.ndarray, tiles: np.ndarray, passes: np.ndarray) -> np.ndarray:
    return np.where(once, np.maximum(1.0, np.floor(tiles / np.maximum(passes, 1.0))), tiles)


def tile_phases(d: ComputeDemand, t: Traffic, hw: HardwareArrays, tiles: np.ndarray | None = None) -> TilePhases:
    """The per-tile structure of every config's traffic (``tiles``: the tile count to use; default the
    demand's, at least 1)."""
    n = np.maximum(d.tiles, 1.0) if tiles is None else tiles
    once_if = (t.dram_ifmap_read_words <= d.ifmap_words * (1 + 1e-9)) & (d.ifmap_passes > 1)
    entries = d.storage_bits / np.maximum(d.filter_word_bits, 1e-12)
    once_w = (t.dram_filter_read_words <= entries * (1 + 1e-9)) & (d.filter_passes > 1)
    groups = np.maximum(1.0, np.minimum(n, np.round(n / np.maximum(d.psum_passes, 1.0))))
    return TilePhases(
        tiles=n, ifmap_bits=t.dram_ifmap_read_words * hw.act_bits,
        ifmap_first_tiles=_first_pass_tiles(once_if, n, d.ifmap_passes), filter_bits=t.dram_filter_bits,
        filter_first_tiles=_first_pass_tiles(once_w, n, d.filter_passes),
        psum_bits=t.dram_ofmap_read_words * hw.acc_bits, spill_bits=t.dram_ofmap_read_words * hw.acc_bits,
        output_bits=(t.dram_ofmap_write_words - t.dram_ofmap_read_words) * hw.act_bits, output_groups=groups)


def _load_cycles(ph: TilePhases, hw: HardwareArrays, k: np.ndarray) -> np.ndarray:
    """DRAM cycles of the first ``k`` tiles' loads: on one channel back to back, on per-operand interfaces
    in parallel (partial sums on the output interface)."""
    ifmap = ph.ifmap_bits * np.minimum(k, ph.ifmap_first_tiles) / ph.ifmap_first_tiles
    filt = ph.filter_bits * np.minimum(k, ph.filter_first_tiles) / ph.filter_first_tiles
    psum = ph.psum_bits * k / ph.tiles
    shared = (ifmap + filt + psum) / hw.dram_bw
    parallel = np.maximum.reduce([ifmap / hw.dram_op_bw["ifmap"], filt / hw.dram_op_bw["filter"],
                                  psum / hw.dram_op_bw["ofmap"]])
    return np.where(hw.stall_free, 0.0, np.where(hw.dram_shared, shared, parallel))


def pipelined_timing(d: ComputeDemand, t: Traffic, hw: HardwareArrays) -> Timing:
    ph = tile_phases(d, t, hw)
    n, compute = ph.tiles, d.compute_cycles / ph.tiles
    transfer = transfer_cycles(t, hw)
    latency = np.where(t.dram_bits > 0, hw.dram_latency, 0.0)   # exposed once, by the first request
    store_bw = np.where(hw.dram_shared, hw.dram_bw, hw.dram_op_bw["ofmap"])
    last_stores = np.where(hw.stall_free, 0.0, (ph.output_bits / ph.output_groups + ph.spill_bits / n) / store_bw)
    bounds = [_load_cycles(ph, hw, k) + (n - k + 1) * compute + last_stores
              for k in (np.ones_like(n), ph.ifmap_first_tiles, ph.filter_first_tiles)]
    cycles = latency + np.maximum.reduce([*bounds, transfer + compute])
    return Timing(d.compute_cycles, latency + transfer, cycles, cycles - d.compute_cycles)
