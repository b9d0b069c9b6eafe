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

from contextlib import contextmanager
from dataclasses import fields
from types import MappingProxyType
from typing import Callable

import numpy as np

from accel_models import engines as hw_registry
from accel_models.hardware import HardwareError

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


_COSTS: dict[str, Callable] = {}
CONVENTION_MODELS = MappingProxyType(_COSTS)   # name -> costs function (read-only view); native: the base


def register_convention(name: str, costs_fn: Callable, engines=None, *, doc: str = "") -> None:
    """Price configs whose ``memory.convention`` is ``name`` with ``costs_fn(w, demand, hw, idx, resident) ->
    (Traffic, Timing)`` for configs ``idx``; ``engines``: the engines it can price (None: every engine), checked
    when a description is built (``accel_models.engines.register_convention``)."""
    if not callable(costs_fn):
        raise ValueError(f"convention {name!r}: costs_fn {costs_fn!r} is not callable")
    hw_registry.register_convention(name, engines, doc=doc)
    _COSTS[name] = costs_fn


def unregister_convention(name: str) -> Callable:
    if name not in _COSTS:
        raise KeyError(f"convention {name!r} has no costs function registered; registered: {', '.join(_COSTS)}")
    hw_registry.unregister_convention(name)
    return _COSTS.pop(name)


@contextmanager
def plugged_convention(name: str, costs_fn: Callable, engines=None):
    """``register_convention`` for the ``with`` block only."""
    register_convention(name, costs_fn, engines)
    try:
        yield
    finally:
        unregister_convention(name)


_COSTS["scalesim"] = scalesim.costs        # registered on the hardware side in accel_models.engines
_COSTS["zigzag"] = zigzag.costs


def convention_costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray):
    """(Traffic, Timing) for every config, each priced under its own convention."""
    traffic = native_traffic(d, hw, resident, w.act_density)
    timing = pipelined_timing(d, traffic, hw)
    missing = sorted(set(hw.convention) - set(_COSTS) - {"native"})
    if missing:
        raise HardwareError(f"memory.convention {missing[0]!r} has no costs function registered "
                            f"(sparsesim.conventions.register_convention); registered: native, {', '.join(_COSTS)}")
    for name, costs in list(_COSTS.items()):
        idx = np.nonzero(hw.convention == name)[0]
        if idx.size:
            t, tm = costs(w, d, hw, idx, resident)
            traffic, timing = _merge(traffic, idx, t), _merge(timing, idx, tm)
    idx = np.nonzero(hw.engine == "rowstationary")[0]
    if idx.size:
        t, tm = rowstationary.costs(w, d, hw, idx, resident)
        traffic, timing = _merge(traffic, idx, t), _merge(timing, idx, tm)
    return traffic, timing


__all__ = ["convention_costs", "register_convention", "unregister_convention", "plugged_convention", "Traffic"]
