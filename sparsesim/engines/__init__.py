"""Compute engines, one module each, behind one registry.

Every engine is a function ``demand(workload, hardware_arrays, config_indices) ->
ComputeDemand`` computing, vectorized over the given configs, what the layer
needs from that kind of array (``sparsesim.demand``);
``compute_demand`` dispatches each config to its engine.  Engine constants are
hardware fields (``accel_models.hardware.PEArray``), never literals here.
"""

from __future__ import annotations

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
