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
from ..stationary import StationaryOperands
from ..timing import pipelined_timing
from ..engines import register_in, rowstationary, unregister_in
from ..workload import LayerWorkload
from . import scalesim, zigzag


def _merge(full, idx: list[np.ndarray], parts: list):
    """A copy of ``full`` (Traffic or Timing) with configs ``idx[i]`` taken from ``parts[i]`` (disjoint; no array
    is shared)."""
    at = idx[0] if len(idx) == 1 else np.concatenate(idx)

    def put(a, bs):
        out = np.array(a, copy=True)
        if len(bs) == 1:
            out[at] = bs[0]
        else:
            try:
                out[at] = np.concatenate(bs)
            except ValueError:    # a scalar among the parts: one value for its configs
                out[at] = np.concatenate([np.broadcast_to(b, i.shape) for b, i in zip(bs, idx)])
        return out
    values = {}
    for f in fields(full):
        a, bs = getattr(full, f.name), [getattr(p, f.name) for p in parts]
        values[f.name] = {k: put(a[k], [b[k] for b in bs]) for k in a} if isinstance(a, dict) else put(a, bs)
    return type(full)(**values)


_COSTS: dict[str, Callable] = {}
CONVENTION_MODELS = MappingProxyType(_COSTS)   # name -> costs function (read-only view); native: the base
_ENGINE_COSTS: dict[str, Callable] = {}
ENGINE_COST_MODELS = MappingProxyType(_ENGINE_COSTS)   # engine -> its own costs function, whatever the convention


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


def register_engine_costs(engine: str, costs_fn: Callable, *, replace: bool = False) -> None:
    """Price the traffic and timing of every config of ``engine`` with ``costs_fn(w, demand, hw, idx, resident)
    -> (Traffic, Timing)`` whatever its convention (applied after the convention, overriding it), as the
    row-stationary engine does."""
    register_in(_ENGINE_COSTS, engine, costs_fn, "costs function", replace)


def unregister_engine_costs(engine: str) -> Callable:
    return unregister_in(_ENGINE_COSTS, engine, "costs function")


_COSTS["scalesim"] = scalesim.costs        # registered on the hardware side in accel_models.engines
_COSTS["zigzag"] = zigzag.costs
register_engine_costs("rowstationary", rowstationary.costs)


def _check_registered(convention: np.ndarray) -> None:
    missing = sorted(set(convention) - set(_COSTS) - {"native"})
    if missing:
        raise HardwareError(f"memory.convention {missing[0]!r} has no costs function registered "
                            f"(sparsesim.conventions.register_convention); registered: native, {', '.join(_COSTS)}")


def _own_pricers(convention: np.ndarray, engine: np.ndarray) -> list[tuple[np.ndarray, Callable]]:
    """(config indices, ``costs`` function) of every config priced by another rule than the native one: a
    registered convention (scalesim, zigzag, ...) or an engine that prices its own traffic and timing
    (``register_engine_costs``: rowstationary); a later entry overrides an earlier one, as the merges below
    apply them in order."""
    _check_registered(convention)
    out = []
    for name, costs in list(_COSTS.items()):
        idx = np.nonzero(convention == name)[0]
        if idx.size:
            out.append((idx, costs))
    for name, costs in list(_ENGINE_COSTS.items()):
        idx = np.nonzero(engine == name)[0]
        if idx.size:
            out.append((idx, costs))
    return out


def convention_costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray):
    """(Traffic, Timing) for every config, each priced under its own convention (an activation stationary
    operand is never resident: ``sparsesim.stationary``)."""
    ops = StationaryOperands.of([w], len(hw))
    resident = resident & ~ops.activation
    traffic = native_traffic(d, hw, resident, w.act_density, ops)
    timing = pipelined_timing(d, traffic, hw)
    for idx, costs in _own_pricers(hw.convention, hw.engine):
        t, tm = costs(w, d, hw, idx, resident)
        traffic, timing = _merge(traffic, [idx], [t]), _merge(timing, [idx], [tm])
    return traffic, timing


def stacked_convention_costs(workloads, d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray, n: int):
    """``convention_costs`` for layers stacked layer after layer (``n`` configs each; ``d``, ``hw`` and
    ``resident`` hold ``len(workloads) * n`` entries): the native model and its timing in one pass over every
    entry, then each layer's configs under another rule priced and merged as ``convention_costs`` does."""
    density = np.repeat(np.array([w.act_density for w in workloads], dtype=float), n)
    ops = StationaryOperands.of(workloads, n)
    resident = resident & ~ops.activation
    traffic = native_traffic(d, hw, resident, density, ops)
    timing = pipelined_timing(d, traffic, hw)
    for idx, costs in _own_pricers(hw.convention[:n], hw.engine[:n]):
        at = [idx + layer * n for layer in range(len(workloads))]
        parts = [costs(w, d, hw, i, resident) for w, i in zip(workloads, at)]   # every layer, then one merge
        traffic, timing = _merge(traffic, at, [t for t, _ in parts]), _merge(timing, at, [tm for _, tm in parts])
    return traffic, timing


__all__ = ["convention_costs", "stacked_convention_costs", "register_convention", "unregister_convention",
           "plugged_convention", "register_engine_costs", "unregister_engine_costs", "Traffic"]
