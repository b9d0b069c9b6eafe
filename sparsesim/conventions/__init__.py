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


def convention_costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray):
    """(Traffic, Timing) for every config, each priced under its own convention."""
    traffic = native_traffic(d, hw, resident, w.act_density)
    timing = pipelined_timing(d, traffic, hw)
    for name, module in (("scalesim", scalesim), ("zigzag", zigzag)):
        idx = np.nonzero(hw.convention == name)[0]
        if idx.size:
            t, tm = module.costs(w, d, hw, idx, resident)
            traffic, timing = _merge(traffic, idx, t), _merge(timing, idx, tm)
    idx = np.nonzero(hw.engine == "rowstationary")[0]
    if idx.size:
        t, tm = rowstationary.costs(w, d, hw, idx, resident)
        traffic, timing = _merge(traffic, idx, t), _merge(timing, idx, tm)
    return traffic, timing


__all__ = ["convention_costs", "Traffic"]
