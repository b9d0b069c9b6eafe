"""The registries of compute engines and memory conventions, hardware side.

An engine is a name with a ``EngineSpec``: its parameter dataclass (the ``pe:`` keys it owns, each with its
``Rule`` in the class's ``RULES``, validated in the class's ``__post_init__``; ``None``: it owns no keys), whether
it is a sparse engine (an index decoder per PE on an FPGA) and how it counts its multipliers (``mac_units``).
``accel_models.hardware.PEArray`` validates ``pe.engine`` against this registry and builds ``pe.params`` from the
keys of ``pe:`` that belong to the chosen engine.  How a layer runs on an engine is ``sparsesim``'s business
(``sparsesim.engines.register_engine``).

A memory convention is a name with the engines it can price (``None``: every engine);
``sparsesim.conventions.register_convention`` registers its costs function and the name here.

This module imports nothing of ``accel_models.hardware`` (which imports it): a parameter class imports ``Rule``
and ``EngineParams`` from ``accel_models.rules`` (``accel_models.hardware`` re-exports them).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Callable

from .engine_params import eie, scnn
from .engine_params.nm import NmParams
from .engine_params.rowstationary import RowStationaryParams
from .engine_params.sigma import SigmaParams


@dataclass(frozen=True)
class EngineSpec:
    name: str
    params: type | None = None                 # the engine's parameter dataclass (its own RULES), or None
    sparse: bool = False                       # a sparse engine: one index decoder per PE (FPGA LUT model)
    mac_units: Callable | None = None          # PEArray -> multipliers in parallel; None: one per PE
    doc: str = ""

    def param_fields(self) -> tuple[str, ...]:
        """The ``pe:`` keys this engine owns."""
        return tuple(f.name for f in fields(self.params)) if self.params is not None else ()


@dataclass(frozen=True)
class ConventionSpec:
    name: str
    engines: tuple[str, ...] | None = None     # engines it can price; None: every engine
    doc: str = ""


_ENGINES: dict[str, EngineSpec] = {}
_CONVENTIONS: dict[str, ConventionSpec] = {}
ENGINE_REGISTRY = MappingProxyType(_ENGINES)            # read-only views: inspect, never edit
CONVENTION_REGISTRY = MappingProxyType(_CONVENTIONS)


def _check_new(table: dict, kind: str, name, replace: bool) -> None:
    """``name`` may be registered in ``table`` (an identifier, not there yet unless ``replace``)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{kind} name {name!r}; allowed: an identifier (letters, digits, _)")
    if name in table and not replace:
        raise ValueError(f"{kind} {name!r} is registered already (unregister_{kind} it first, or replace=True)")


def _pop(table: dict, kind: str, name: str):
    if name not in table:
        raise KeyError(f"{kind} {name!r} is not registered; registered: {', '.join(table)}")
    return table.pop(name)


def register_engine(name: str, params: type | None = None, *, sparse: bool = False,
                    mac_units: Callable | None = None, doc: str = "", replace: bool = False) -> EngineSpec:
    """Register engine ``name``; an existing name is an error unless ``replace``."""
    _check_new(_ENGINES, "engine", name, replace)
    if params is not None and not hasattr(params, "__dataclass_fields__"):
        raise ValueError(f"engine {name!r}: params {params!r}; allowed: a dataclass with RULES, or None")
    if params is not None:
        missing = [f.name for f in fields(params) if f.name not in getattr(params, "RULES", {})]
        if missing:
            raise ValueError(f"engine {name!r}: params {params.__name__} has no Rule for {', '.join(missing)}")
    spec = EngineSpec(name, params, sparse, mac_units, doc)
    _ENGINES[name] = spec
    return spec


def unregister_engine(name: str) -> EngineSpec:
    return _pop(_ENGINES, "engine", name)


def engine_spec(name: str) -> EngineSpec:
    return _ENGINES[name]


def engine_names() -> tuple[str, ...]:
    return tuple(_ENGINES)


def engine_of_field(key: str) -> tuple[str, ...]:
    """The registered engines whose parameter class owns ``pe:`` key ``key``."""
    return tuple(n for n, s in _ENGINES.items() if key in s.param_fields())


def register_convention(name: str, engines=None, *, doc: str = "", replace: bool = False) -> ConventionSpec:
    _check_new(_CONVENTIONS, "convention", name, replace)
    spec = ConventionSpec(name, None if engines is None else tuple(engines), doc)
    _CONVENTIONS[name] = spec
    return spec


def unregister_convention(name: str) -> ConventionSpec:
    return _pop(_CONVENTIONS, "convention", name)


def convention_names() -> tuple[str, ...]:
    return tuple(_CONVENTIONS)


def convention_engines(name: str) -> tuple[str, ...] | None:
    return _CONVENTIONS[name].engines


@contextmanager
def engine_registered(name: str, params: type | None = None, **kw):
    """Register engine ``name`` for the ``with`` block only (tests: nothing leaks into the next test)."""
    spec = register_engine(name, params, **kw)
    try:
        yield spec
    finally:
        if _ENGINES.get(name) is spec:
            del _ENGINES[name]


# ------------------------------------------------------------ built-ins
# Migrated engines own a parameter class (accel_models/engine_params/); the others' fields still live in the flat
# PEArray (marked used_when their engine), where mac_units reads them.

register_engine("systolic", doc="dense R x C array, dataflow ws/os/is/ci_co")
register_engine("nm", NmParams, doc="N:M engine (sparse tensor core style)")
register_engine("eie", eie.EieParams, sparse=True, mac_units=eie.mac_units,
                doc="EIE (Han et al. ISCA 2016)")
register_engine("sigma", SigmaParams, sparse=True, doc="SIGMA (Qin et al. HPCA 2020)")
register_engine("scnn", scnn.ScnnParams, sparse=True, mac_units=scnn.mac_units,
                doc="SCNN (Parashar et al. ISCA 2017)")
register_engine("rowstationary", RowStationaryParams, doc="Eyeriss row-stationary (Chen et al. ISCA 2016)")
register_convention("native", doc="this toolkit's hierarchy model")
register_convention("scalesim", engines=("systolic", "nm"), doc="SCALE-Sim v3's scratchpads")
register_convention("zigzag", engines=("systolic", "nm"), doc="ZigZag's access counting")
