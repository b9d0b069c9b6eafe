"""Compute engines, one module each, behind one registry.

Every engine is a function ``demand(workload, hardware_arrays, config_indices) ->
ComputeDemand`` computing, vectorized over the given configs, what the layer
needs from that kind of array (``sparsesim.demand``);
``compute_demand`` dispatches each config to its engine; ``compute_demands`` does it for a list of layers at
once, stacked layer after layer (what the analytical engine prices in one pass).  Engine constants are
hardware fields (``accel_models.hardware.PEArray``), never literals here.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from ..demand import ComputeDemand
from ..hwarrays import HardwareArrays
from ..workload import LayerWorkload
from . import eie, rowstationary, scnn, sigma, systolic

ENGINE_MODELS = {
    "systolic": systolic.demand,
    "nm": systolic.demand,
    "eie": eie.demand,
    "sigma": sigma.demand,
    "scnn": scnn.demand,
    "rowstationary": rowstationary.demand,
}


def compute_demand(w: LayerWorkload, hw: HardwareArrays) -> ComputeDemand:
    """Every config's compute demand for one layer: one call per engine on that engine's configs."""
    out = ComputeDemand.empty(len(hw))
    for name, model in ENGINE_MODELS.items():
        idx = np.nonzero(hw.engine == name)[0]
        if idx.size:
            out.scatter(idx, model(w, hw, idx))
    return out


def compute_demands(workloads, hw: HardwareArrays) -> ComputeDemand:
    """Every layer's demand on every config, stacked layer after layer (entry ``l * len(hw) + i``: layer ``l``
    on config ``i``); the same values as ``compute_demand`` per layer, assembled with one write per field."""
    n = len(hw)
    models = {}   # one call per engine function (systolic and nm share one): every config is priced on its own
    for name, model in ENGINE_MODELS.items():
        models.setdefault(model, []).append(name)
    groups = [(model, idx) for model, idx in ((model, np.nonzero(np.isin(hw.engine, names))[0])
                                              for model, names in models.items()) if idx.size]
    parts, where = [], []
    for layer, w in enumerate(workloads):
        for model, idx in groups:
            parts.append(model(w, hw, idx))
            where.append(idx + layer * n)
    out = ComputeDemand.empty(n * len(workloads))
    if parts:
        at = np.concatenate(where)
        for f in fields(ComputeDemand):
            getattr(out, f.name)[at] = np.concatenate([getattr(p, f.name) for p in parts])
    return out
