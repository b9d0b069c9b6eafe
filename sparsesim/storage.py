"""A pruned model's weight storage priced in the simulator's own formats (``sparsesim.formats``: exact bits, index,
pointer and padding bits included), beside the nominal figures the papers report, each labelled.

* ``reference_bits``     the dense fp32 model: 32 bits per weight (the papers' baseline)
* ``value_bits``         nonzeros x their bits: ADMM-NN's "weight storage" count, no index bits (nominal)
* ``formats[f]``         the whole model in format ``f`` (only formats every layer can hold, e.g. 2:4 needs a
                         2:4-sparse K divisible by 4): bits and reduction
* ``cheapest``           each layer in its cheapest format (the most favourable count an accelerator could store)

``price_storage`` takes each layer as its GEMM matrix (M x K) and value bits; the pruning pipeline calls it through
``run_prune(storage=...)`` (``pruning`` imports no simulator) and keeps the result in ``manifest.totals.storage``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .formats import FormatError, encode

# format -> parameters, the formats' own defaults made explicit (EIE's relative layout: 4-bit relative row index,
# one PE; blocks of 4 x 4; 2:4)
STORAGE_FORMATS: dict[str, dict] = {"dense": {}, "bitmask": {}, "csr": {}, "csc": {}, "coo": {},
                                    "relative": {"index_bits": 4, "pes": 1}, "bcsr": {"block": (4, 4)},
                                    "nm": {"n": 2, "m": 4}, "compact": {}}
FLOAT_BITS = 32


def _layer_bits(w: np.ndarray, bits: int, formats: Mapping[str, dict]) -> dict[str, int]:
    """Exact total bits of one GEMM matrix in every format that can hold it."""
    out = {}
    for fmt, params in formats.items():
        try:
            out[fmt] = int(encode(w, fmt, bits, **params).total_bits)
        except FormatError:   # e.g. not N:M-sparse, K not a multiple of M
            continue
    return out


def price_storage(layers: Mapping[str, tuple[np.ndarray, int]],
                  formats: Mapping[str, dict] = STORAGE_FORMATS) -> dict:
    """Storage of ``{layer: (GEMM matrix M x K, value bits)}`` as a JSON-ready dict (module docstring)."""
    per_layer = {name: _layer_bits(np.asarray(w), int(b), formats) for name, (w, b) in layers.items()}
    reference = FLOAT_BITS * sum(int(np.asarray(w).size) for w, _ in layers.values())
    values = sum(int(np.count_nonzero(w)) * int(b) for w, b in layers.values())
    common = [f for f in formats if all(f in bits for bits in per_layer.values())]
    whole = {f: sum(bits[f] for bits in per_layer.values()) for f in common}
    cheapest = {name: min(bits, key=bits.get) for name, bits in per_layer.items()}
    cheapest_bits = sum(per_layer[n][f] for n, f in cheapest.items())

    def reduction(b: int) -> float:
        return reference / max(b, 1)

    return {"reference_bits": reference, "value_bits": values, "nominal_reduction": reduction(values),
            "formats": {f: {"bits": b, "reduction": reduction(b), "params": _jsonable(formats[f])}
                        for f, b in whole.items()},
            "cheapest": {"bits": cheapest_bits, "reduction": reduction(cheapest_bits), "per_layer": cheapest}}


def _jsonable(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}

