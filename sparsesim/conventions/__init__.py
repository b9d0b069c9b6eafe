"""Memory/traffic conventions: whose rules turn a compute demand into traffic and cycles.

* ``native``   this toolkit's hierarchy model (``sparsesim.memory``) and the
  pipelined closed form (``sparsesim.analytical``);
* ``scalesim`` SCALE-Sim v3's double-buffered scratchpads, reproduced from its
  own rules (``scalesim.py``): im2col operands streamed from DRAM in prefetch
  windows, fill/drain per fold, its stall accounting;
* the ``rowstationary`` engine prices its own traffic and timing whatever the
  convention (``sparsesim.engines.rowstationary.costs``): its GLB holds only
  inputs and partial sums, filters bypass it, activations cross DRAM run-length
  coded;
* ``zigzag``   ZigZag's access counting for its tpu_like hierarchy
  (``zigzag.py``): the raw input fetched once per layer, per-level access
  counts at each memory's access granularity.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from ..demand import ComputeDemand
from ..hwarrays import HardwareArrays
from ..memory import Traffic, native_traffic
from ..timing import pipelined_timing
from ..engines import rowstationary
from ..workload import LayerWorkload
from . import scalesim, zigzag


def _merge(full, idx: np.ndarray, part):
    """A copy of ``full`` (Traffic or Timing) with configs ``idx`` taken from ``part`` (no array is shared)."""
    def put(a, b):
        out = np.array(a, copy=True)
        out[idx] = b
        return out
    values = {}
    for f in fields(full):
        a, b = getattr(full, f.name), getattr(part, f.name)
        values[f.name] = {k: put(a[k], b[k]) for k in a} if isinstance(a, dict) else put(a, b)
    return type(full)(**values)


def _own_pricers(convention: np.ndarray, engine: np.ndarray) -> list[tuple[np.ndarray, object]]:
    """(config indices, ``costs`` function) of every config priced by another rule than the native one: a peer
    convention (scalesim, zigzag) or an engine that prices its own traffic and timing (rowstationary); a later
    entry overrides an earlier one, as the merges below apply them in order."""
    out = []
    for name, module in (("scalesim", scalesim), ("zigzag", zigzag)):
        idx = np.nonzero(convention == name)[0]
        if idx.size:
            out.append((idx, module.costs))
    idx = np.nonzero(engine == "rowstationary")[0]
    if idx.size:
        out.append((idx, rowstationary.costs))
    return out


def convention_costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray):
    """(Traffic, Timing) for every config, each priced under its own convention."""
    traffic = native_traffic(d, hw, resident, w.act_density)
    timing = pipelined_timing(d, traffic, hw)
    for idx, costs in _own_pricers(hw.convention, hw.engine):
        t, tm = costs(w, d, hw, idx, resident)
        traffic, timing = _merge(traffic, idx, t), _merge(timing, idx, tm)
    return traffic, timing


def stacked_convention_costs(workloads, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray, n: int):
    """``convention_costs`` for layers stacked layer after layer (``n`` configs each; ``d``, ``hw`` and
    ``resident`` hold ``len(workloads) * n`` entries): the native model and its timing in one pass over every
    entry, then each layer's configs under another rule priced and merged as ``convention_costs`` does."""
    density = np.repeat(np.array([w.act_density for w in workloads], dtype=float), n)
    traffic = native_traffic(d, hw, resident, density)
    timing = pipelined_timing(d, traffic, hw)
    for idx, costs in _own_pricers(hw.convention[:n], hw.engine[:n]):
        for layer, w in enumerate(workloads):
            at = idx + layer * n
            t, tm = costs(w, d, hw, at, resident)
            traffic, timing = _merge(traffic, at, t), _merge(timing, at, tm)
    return traffic, timing


__all__ = ["convention_costs", "stacked_convention_costs", "Traffic"]
