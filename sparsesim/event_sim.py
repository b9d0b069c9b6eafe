"""The event-level engine (simpy): DRAM channel, double-buffered SRAM tiles,
index decoders and the PE array as processes at tile granularity.

It replays the tile trace of ``sparsesim.demand`` for one (layer, accelerator):

* ``dram``    one channel: the first request waits the DRAM latency, then each
              tile's bits stream at the bandwidth; a tile may only be loaded
              into a free buffer (``buffers`` of them, 2 = double buffering);
* ``decoder`` (sparse engine) decodes a tile's index stream, overlapped with the
              PE array's MACs on the same tile (a PE waits for both);
* ``pe``      computes a tile, then frees its buffer.

It reports the makespan, the PE array's stall cycles (waiting for data) and a
per-resource timeline of busy intervals.  With equal tiles its assumptions are
the analytical engine's, and the two agree (tested within 2%); with
``burst_weights=True`` each weight chunk arrives with its first tile, which
the analytical closed form does not model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from accel_models.hardware import Accelerator

from .demand import HardwareArrays, layer_demand
from .workload import LayerWorkload


@dataclass(frozen=True)
class SimResult:
    layer: str
    hardware: str
    cycles: float
    compute_cycles: float
    stall_cycles: float        # PE array idle while waiting for data
    dram_busy_cycles: float
    tiles: int
    timeline: tuple = field(repr=False, default=())  # (resource, tile, start, end)


def tile_trace(demand: dict, i: int, hw: HardwareArrays, burst_weights: bool = False) -> dict[str, np.ndarray]:
    """Per-tile DRAM bits, compute cycles and decode cycles for config ``i``."""
    t = int(max(demand["tiles"][i], 1))
    comp = np.full(t, demand["compute_cycles"][i] / t)
    bits = np.full(t, demand["dram_bits"][i] / t)
    if burst_weights:
        w_bits = demand["storage_bits"][i]
        chunks = max(1, int(np.ceil(w_bits / (hw.glb_bits[i] / 2))))
        bits = np.full(t, (demand["dram_bits"][i] - w_bits) / t)
        starts = (np.arange(chunks) * t) // chunks
        np.add.at(bits, starts, w_bits / chunks)
    decode = np.zeros(t)
    if hw.engine[i] == "sparse":
        decode = np.full(t, demand["index_decodes"][i] / t / (hw.rows[i] * hw.cols[i]) / hw.decode_rate[i])
    return {"bits": bits, "compute": comp, "decode": decode}


def simulate_trace(trace: dict, bandwidth_bits_per_cycle: float, latency_cycles: float, buffers: int = 2,
                   record: bool = True) -> tuple[float, float, float, list]:
    """Run one tile trace; returns (makespan, pe stall cycles, dram busy cycles, timeline)."""
    env = simpy.Environment()
    free = simpy.Container(env, capacity=buffers, init=buffers)
    ready = simpy.Store(env)
    timeline: list = []
    stats = {"stall": 0.0, "dram": 0.0}
    n = len(trace["compute"])

    def dram():
        first = True
        for t in range(n):
            yield free.get(1)
            if first:
                yield env.timeout(latency_cycles)
                first = False
            start = env.now
            dur = trace["bits"][t] / bandwidth_bits_per_cycle
            yield env.timeout(dur)
            stats["dram"] += dur
            if record:
                timeline.append(("dram", t, start, env.now))
            yield ready.put(t)

    def pe():
        last_end = 0.0
        for _ in range(n):
            t = yield ready.get()
            start = env.now
            stats["stall"] += start - last_end
            c, d = trace["compute"][t], trace["decode"][t]
            if d > 0:
                yield env.all_of([env.timeout(c), env.timeout(d)])
                if record:
                    timeline.append(("decoder", t, start, start + d))
            else:
                yield env.timeout(c)
            if record:
                timeline.append(("pe", t, start, env.now))
            last_end = env.now
            yield free.put(1)

    env.process(dram())
    done = env.process(pe())
    env.run(until=done)
    return env.now, stats["stall"], stats["dram"], timeline


def simulate(workloads: list[LayerWorkload], accelerator: Accelerator, buffers: int = 2,
             burst_weights: bool = False, record_timeline: bool = True) -> list[SimResult]:
    hw = HardwareArrays.from_accelerators([accelerator])
    out = []
    for w in workloads:
        d = layer_demand(w, hw)
        trace = tile_trace(d, 0, hw, burst_weights)
        cycles, stall, dram_busy, tl = simulate_trace(trace, float(hw.dram_bw[0]), float(hw.dram_latency[0]),
                                                      buffers, record_timeline)
        out.append(SimResult(w.name, accelerator.name, cycles, float(d["compute_cycles"][0]), stall, dram_busy,
                             len(trace["compute"]), tuple(tl)))
    return out


def timeline_rows(results: list[SimResult]) -> list[dict]:
    """Flat rows (layer, hardware, resource, tile, start, end) for CSV."""
    return [{"layer": r.layer, "hardware": r.hardware, "resource": res, "tile": t, "start": s, "end": e}
            for r in results for res, t, s, e in r.timeline]
