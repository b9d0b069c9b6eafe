"""The event-level engine (simpy): per-tile operand streams competing for DRAM.

It consumes the per-tile demand of one (layer, accelerator), not totals, from
the same tile structure the closed form reads (``sparsesim.timing.tile_phases``):

* tiles are unequal: an operand fetched once although the array passes over
  it several times (it fits its buffer) arrives during the first pass only;
  operands refetched per pass arrive with every tile; outputs leave when their
  accumulation ends (the last tile of each output group), spilled partial sums
  leave and come back in between;
* each operand stream (input, weight and partial-sum loads; output stores) is
  a process that requests its DRAM interface per tile: one channel shared by
  all streams (FIFO arbitration, so stores of tile t compete with loads of
  tile t+1), or one interface per operand (partial-sum loads and stores share
  the output one);
* loads of tile t start only when one of ``buffers`` tile slots is free (2 =
  double buffering, deeper queues prefetch further ahead); the PE array
  computes tile t when all its loads are in and tile t-1 is done, then frees
  the slot; the first DRAM request waits the DRAM latency.

The closed form prices the same structure by its pipeline bounds; what only
this engine sees is the order in which streams queue (tests show two cases:
stores between a burst's loads, a group's outputs ahead of the next load).
Results carry a per-resource timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from types import MappingProxyType

import numpy as np
import simpy

from accel_models.hardware import Accelerator

from .conventions import convention_costs
from .demand import ComputeDemand
from .engines import compute_demand
from .hwarrays import HardwareArrays
from .memory import Traffic, resident_weights
from .stationary import one_instance
from .timing import tile_phases
from .workload import LayerWorkload

LOADS = ("ifmap", "filter", "psum")
# per-operand interfaces: a stream -> the interface it uses (partial sums go in and out on the output one)
INTERFACE = MappingProxyType({"ifmap": "ifmap", "filter": "filter", "psum": "ofmap", "store": "ofmap"})


@dataclass(frozen=True)
class SimResult:
    layer: str
    hardware: str
    cycles: float
    compute_cycles: float
    stall_cycles: float        # PE array idle (waiting for loads, or for the last stores): cycles - compute
    dram_busy_cycles: float
    tiles: int
    timeline: tuple = field(repr=False, default=())  # (resource, tile, start, end)


@dataclass(frozen=True, eq=False)
class TileTrace:
    """Per-tile DRAM bits by stream and compute cycles for one config."""

    loads: dict           # stream -> bits per tile (ifmap, filter, psum)
    stores: np.ndarray    # output and spilled partial-sum bits per tile
    compute: np.ndarray   # cycles per tile


def _spread(total: float, first_tiles: float, tiles: int) -> np.ndarray:
    """``total`` bits over the first ``first_tiles`` of ``tiles`` tiles (all of them: evenly)."""
    k = int(min(max(first_tiles, 1), tiles))
    out = np.zeros(tiles)
    out[:k] = total / k
    return out


def tile_trace(d: ComputeDemand, t: Traffic, i: int, hw: HardwareArrays) -> TileTrace:
    """Unequal tiles from the pass structure (``sparsesim.timing.tile_phases``, which the closed form reads
    too) for config ``i``."""
    n = int(max(d.tiles[i], 1))
    ph = tile_phases(d.take([i]), _take_traffic(t, i), hw.take(np.array([i])), tiles=np.array([float(n)]))
    groups = int(ph.output_groups[0])
    group_end = np.zeros(n)
    group_end[(np.arange(groups) + 1) * n // groups - 1] = 1.0 / groups
    even = np.full(n, 1.0 / n)
    loads = {"ifmap": _spread(ph.ifmap_bits[0], ph.ifmap_first_tiles[0], n),
             "filter": _spread(ph.filter_bits[0], ph.filter_first_tiles[0], n), "psum": ph.psum_bits[0] * even}
    stores = ph.output_bits[0] * group_end + ph.spill_bits[0] * even
    return TileTrace(loads, stores, np.full(n, d.compute_cycles[i] / n))


def _take_traffic(t: Traffic, i: int) -> Traffic:
    """Config ``i`` of ``t`` (the per-operand dicts included)."""
    return Traffic(**{f.name: ({k: np.asarray(v)[[i]] for k, v in getattr(t, f.name).items()}
                               if isinstance(getattr(t, f.name), dict) else np.asarray(getattr(t, f.name))[[i]])
                      for f in fields(t)})


def simulate_trace(trace: TileTrace, bandwidth: dict, shared: bool, latency_cycles: float, buffers: int = 2,
                   record: bool = True) -> tuple[float, float, float, list]:
    """Run one tile trace; returns (makespan, PE idle cycles within it, DRAM busy cycles, timeline).

    ``bandwidth`` maps each stream (ifmap, filter, psum, store) to its interface's bits/cycle.
    """
    env = simpy.Environment()
    n = trace.compute.size
    channels = {s: simpy.Resource(env, 1) for s in dict.fromkeys(INTERFACE.values())} if not shared else \
        {"dram": simpy.Resource(env, 1)}
    slots = simpy.Container(env, capacity=buffers, init=buffers)
    loaded = [[env.event() for _ in range(n)] for _ in LOADS]
    computed = [env.event() for _ in range(n)]
    timeline: list = []
    stats = {"dram": 0.0, "first": True}

    def transfer(stream: str, tile: int, bits: float):
        with channels["dram" if shared else INTERFACE[stream]].request() as req:
            yield req
            if stats["first"]:
                stats["first"] = False
                yield env.timeout(latency_cycles)
            start = env.now
            dur = bits / bandwidth[stream]
            yield env.timeout(dur)
            stats["dram"] += dur
            if record:
                timeline.append((f"dram:{stream}", tile, start, env.now))

    def loader():
        for t in range(n):
            yield slots.get(1)
            for s, stream in enumerate(LOADS):
                bits = trace.loads[stream][t]
                if bits > 0:
                    env.process(_then(transfer(stream, t, bits), loaded[s][t]))
                else:
                    loaded[s][t].succeed()

    def _then(proc, event):
        yield env.process(proc)
        event.succeed()

    def array():
        for t in range(n):
            yield env.all_of([loaded[s][t] for s in range(len(LOADS))])
            start = env.now
            yield env.timeout(trace.compute[t])
            if record:
                timeline.append(("pe", t, start, env.now))
            computed[t].succeed()
            yield slots.put(1)

    def storer():
        for t in range(n):
            yield computed[t]
            if trace.stores[t] > 0:
                yield env.process(transfer("store", t, trace.stores[t]))

    env.process(loader())
    env.process(array())
    done = env.process(storer())
    env.run(until=done)
    return env.now, env.now - float(trace.compute.sum()), stats["dram"], timeline


def stream_bandwidths(hw: HardwareArrays, i: int) -> dict:
    """Bits/cycle of each stream's interface for config ``i`` (``stall_free``: unbounded, transfers take 0)."""
    if hw.stall_free[i]:
        return {s: np.inf for s in (*LOADS, "store")}
    if hw.dram_shared[i]:
        return {s: float(hw.dram_bw[i]) for s in (*LOADS, "store")}
    return {"ifmap": float(hw.dram_op_bw["ifmap"][i]), "filter": float(hw.dram_op_bw["filter"][i]),
            "psum": float(hw.dram_op_bw["ofmap"][i]), "store": float(hw.dram_op_bw["ofmap"][i])}


def simulate(workloads: list[LayerWorkload], accelerator: Accelerator, buffers: int = 2,
             record_timeline: bool = True, equal_tiles: bool = False) -> list[SimResult]:
    """Event-level costs of every layer on one accelerator (``equal_tiles`` spreads traffic evenly).  An
    activation x activation row is replayed as one of its instances, its counts times the instances (the
    instances run one after another, as ``sparsesim.analytical`` prices them; its timeline is one instance's)."""
    hw = HardwareArrays.from_accelerators([accelerator])
    whole = workloads
    workloads = [one_instance(w) for w in whole]
    demands = [compute_demand(w, hw) for w in workloads]
    resident = resident_weights(hw, sum((d.storage_bits for w, d in zip(workloads, demands)
                                         if w.stationary == "weights"), np.zeros(1)))
    out = []
    for w, d, k in zip(workloads, demands, (w.instances for w in whole)):
        traffic, _ = convention_costs(w, d, hw, resident)
        trace = tile_trace(d, traffic, 0, hw)
        if equal_tiles:
            n = trace.compute.size
            trace = TileTrace({s: np.full(n, v.sum() / n) for s, v in trace.loads.items()},
                              np.full(n, trace.stores.sum() / n), trace.compute)
        cycles, stall, busy, tl = simulate_trace(trace, stream_bandwidths(hw, 0), bool(hw.dram_shared[0]),
                                                 float(hw.dram_latency[0]), buffers, record_timeline)
        out.append(SimResult(w.name, accelerator.name, k * cycles, k * float(d.compute_cycles[0]), k * stall,
                             k * busy, k * trace.compute.size, tuple(tl)))
    return out


def replays_closed_form(accelerator: Accelerator) -> bool:
    """True when the accelerator's cycles come from the native closed form, the schedule this engine replays; an
    engine with its own costs (e.g. row stationary) or a peer convention (scalesim, zigzag) times itself with
    another model, so the event engine's cycles are not a check of it."""
    from .conventions import ENGINE_COST_MODELS

    return accelerator.memory.convention == "native" and accelerator.pe.engine not in ENGINE_COST_MODELS


def timeline_rows(results: list[SimResult]) -> list[dict]:
    """Flat rows (layer, hardware, resource, tile, start, end) for CSV."""
    return [{"layer": r.layer, "hardware": r.hardware, "resource": res, "tile": t, "start": s, "end": e}
            for r in results for res, t, s, e in r.timeline]
