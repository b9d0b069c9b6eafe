"""A quantizer's parameter rules and level set in numpy, without torch.

``pruning.quantizers.Quantizer`` (torch) takes its rules from ``quantizer_params`` and exposes these levels as
``Quantizer.levels_numpy()``; the artifact reader (``pruning.artifact_read``) checks a layer's weights against
``levels`` so pricing an artifact never imports torch.  ``tests/test_quant_levels.py`` holds ``levels`` equal to
``Quantizer.levels()`` (torch) over every scheme, bit-width and zero-level choice and random scales.

Level sets (scale 1, ascending):

* uniform: ``{-M..M}`` with a zero level (``M = 2**(bits-1) - 1``), ``{+-1..+-2**(bits-1)}`` without;
* pow2: ``{0, +-2**-j : j = 0..L-1}`` (``L = 2**(bits-1) - 1``), without zero ``L = 2**(bits-1)``;
* binary: uniform, 1 bit, no zero; ternary: uniform, 2 bits, with zero.
"""

from __future__ import annotations

import math

import numpy as np

from fileguard import short

from .weight_bits import QUANT_BITS

SCHEMES = ("uniform", "pow2", "binary", "ternary")


def quantizer_params(scheme: str, bits, zero_level: bool, scale) -> tuple[int, bool]:
    """``(bits, zero_level)`` as ``scheme`` fixes them (binary: 1 bit, no zero; ternary: 2 bits, zero), after
    checking every field; ValueError naming the field, its value and what is allowed."""
    if scheme not in SCHEMES:
        raise ValueError(f"quantizer scheme {short(scheme)} unknown; allowed: {', '.join(SCHEMES)}")
    if scheme == "binary":
        bits, zero_level = 1, False
    elif scheme == "ternary":
        bits, zero_level = 2, True
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"quantizer bits={short(bits)}; allowed: an integer >= 1")
    if bits > QUANT_BITS[-1]:
        raise ValueError(f"quantizer bits={short(bits)}; allowed: 1..{QUANT_BITS[-1]} (use no quantizer for float)")
    if zero_level and bits < 2:
        raise ValueError("quantizer with a zero level needs bits >= 2 (1 bit gives only {0})")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"quantizer scale={short(scale)}; allowed: a finite number > 0")
    return bits, zero_level


def max_code(bits: int, zero_level: bool) -> int:
    """Largest integer code (uniform) or number of magnitudes (pow2)."""
    half = 2 ** (bits - 1)
    return half - 1 if zero_level else half


def unit_levels(scheme: str, bits: int, zero_level: bool) -> np.ndarray:
    """The level set for scale 1, ascending (float64); the parameters as ``quantizer_params`` returns them."""
    m = max_code(bits, zero_level)
    mags = 2.0 ** -np.arange(m - 1, -1, -1, dtype=np.float64) if scheme == "pow2" \
        else np.arange(1, m + 1, dtype=np.float64)
    return np.concatenate([-mags[::-1], np.zeros(1 if zero_level else 0), mags])


def levels(scheme: str, bits: int, zero_level: bool, scale: float) -> np.ndarray:
    """The level set ``scale * unit_levels``, ascending (float64)."""
    return unit_levels(scheme, bits, zero_level) * scale
