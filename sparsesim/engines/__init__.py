"""Compute engines, one module each, behind one registry.

Every engine is a function ``demand(workload, hardware_arrays, config_indices) ->
ComputeDemand`` computing, vectorized over the given configs, what the layer
needs from that kind of array (``sparsesim.demand``); ``register_engine(name,
demand_fn)`` adds one (the built-ins are registered the same way) and
``compute_demand`` dispatches each config to its engine; ``compute_demands`` does
it for a list of layers at once, stacked layer after layer (what the analytical
engine prices in one pass).  Both give an activation-stationary layer's values the
hardware's activation width (``sparsesim.stationary.activation_widths``).  Engine constants are hardware fields
(``accel_models.hardware.PEArray`` or the engine's parameter class in
``accel_models.engines``), never literals here; an engine builds the arrays it
needs from them once per hardware set with ``hw.engine_arrays(name, builder)``.
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
from ..stationary import activation_widths
from ..workload import LayerWorkload
from . import eie, rowstationary, scnn, sigma, systolic

_MODELS: dict[str, Callable] = {}
ENGINE_MODELS = MappingProxyType(_MODELS)   # name -> demand function (read-only view)
_STACKED: dict[Callable, Callable] = {}      # demand function -> its every-layer form (``register_engine``)


def register_in(table: dict, engine: str, fn: Callable, what: str, replace: bool = False) -> None:
    """Put ``fn`` (the engine's ``what``: demand function, costs function) in ``table`` under ``engine``, which
    must be registered on the hardware side; an engine holds one per table unless ``replace``."""
    if engine not in hw_registry.ENGINE_REGISTRY:
        raise ValueError(f"engine {engine!r} has no hardware registration (accel_models.engines.register_engine); "
                         f"registered: {', '.join(hw_registry.engine_names())}")
    if engine in table and not replace:
        raise ValueError(f"engine {engine!r} has a {what} already (unregister it first, or replace=True)")
    if not callable(fn):
        raise ValueError(f"engine {engine!r}: {what} {fn!r} is not callable")
    table[engine] = fn


def unregister_in(table: dict, engine: str, what: str) -> Callable:
    if engine not in table:
        raise KeyError(f"engine {engine!r} has no {what} registered; registered: {', '.join(table)}")
    return table.pop(engine)


def register_engine(name: str, demand_fn: Callable, *, replace: bool = False, stacked_fn: Callable | None = None
                    ) -> None:
    """Price configs of engine ``name`` (registered on the hardware side, ``accel_models.engines``) with
    ``demand_fn(workload, hw, idx) -> ComputeDemand``; ``stacked_fn(workloads, hw, idx)``, if given, returns the
    same demands of every layer stacked layer after layer in one call (``compute_demands`` uses it)."""
    register_in(_MODELS, name, demand_fn, "demand function", replace)
    if stacked_fn is not None:
        _STACKED[demand_fn] = stacked_fn


def unregister_engine(name: str) -> Callable:
    return unregister_in(_MODELS, name, "demand function")


@contextmanager
def plugged_engine(name: str, demand_fn: Callable, params: type | None = None, **spec):
    """Register engine ``name`` on both sides (hardware: ``params``, ``spec`` as
    ``accel_models.engines.register_engine`` takes them; simulation: ``demand_fn``) for the ``with`` block."""
    with hw_registry.engine_registered(name, params, **spec):
        register_engine(name, demand_fn)
        try:
            yield
        finally:
            _MODELS.pop(name, None)


for _name, _fn in (("systolic", systolic.demand), ("nm", systolic.demand), ("eie", eie.demand),
                   ("sigma", sigma.demand), ("scnn", scnn.demand), ("rowstationary", rowstationary.demand)):
    register_engine(_name, _fn, stacked_fn=systolic.demands if _fn is systolic.demand else None)


def _check_registered(hw: HardwareArrays) -> None:
    missing = sorted(set(hw.engine) - set(_MODELS))
    if missing:
        raise HardwareError(f"pe.engine {missing[0]!r} has no demand function registered "
                            f"(sparsesim.engines.register_engine); registered: {', '.join(_MODELS)}")


def compute_demand(w: LayerWorkload, hw: HardwareArrays) -> ComputeDemand:
    """Every config's compute demand for one layer: one call per engine on that engine's configs."""
    _check_registered(hw)
    out = ComputeDemand.empty(len(hw))
    for name, model in list(_MODELS.items()):
        idx = np.nonzero(hw.engine == name)[0]
        if idx.size:
            out.scatter(idx, model(w, hw, idx))
    return activation_widths(out, [w], hw)


def compute_demands(workloads, hw: HardwareArrays) -> ComputeDemand:
    """Every layer's demand on every config, stacked layer after layer (entry ``l * len(hw) + i``: layer ``l``
    on config ``i``); the same values as ``compute_demand`` per layer, assembled with one write per field."""
    _check_registered(hw)
    n = len(hw)
    models = {}   # one call per engine function (systolic and nm share one): every config is priced on its own
    for name, model in list(_MODELS.items()):
        models.setdefault(model, []).append(name)
    groups = [(model, idx) for model, idx in ((model, np.nonzero(np.isin(hw.engine, names))[0])
                                              for model, names in models.items()) if idx.size]
    parts, where = [], []
    for model, idx in groups:
        if model in _STACKED and workloads:       # every layer in one call
            parts.append(_STACKED[model](workloads, hw, idx))
            where += [idx + layer * n for layer in range(len(workloads))]
        else:
            for layer, w in enumerate(workloads):
                parts.append(model(w, hw, idx))
                where.append(idx + layer * n)
    if not parts:
        return ComputeDemand.empty(n * len(workloads))
    order = np.argsort(np.concatenate(where), kind="stable")   # every entry is in exactly one part
    d = ComputeDemand(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])[order].astype(
        object if f.name == "format" else float, copy=False) for f in fields(ComputeDemand)})
    return activation_widths(d, workloads, hw)
