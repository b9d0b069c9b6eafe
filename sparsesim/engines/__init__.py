"""Compute engines, one module each, behind one registry.

Every engine is a function ``demand(workload, hardware_arrays, config_indices) ->
ComputeDemand`` computing, vectorized over the given configs, what the layer
needs from that kind of array (``sparsesim.demand``).  Engine constants are
hardware fields (``accel_models.hardware.PEArray``), never literals here.
"""

from __future__ import annotations

from . import eie, scnn, sigma, systolic

ENGINE_MODELS = {
    "systolic": systolic.demand,
    "nm": systolic.demand,
    "eie": eie.demand,
    "sigma": sigma.demand,
    "scnn": scnn.demand,
}
