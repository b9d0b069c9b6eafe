"""Technology energy numbers, each with its citation, and the scaling rules built on them.

Every literature number lives in ``ENERGY_45NM`` or ``DRAM_PJ_PER_BIT``; nothing
else in the toolkit hard-codes an energy.  Units are in the names (pJ).

Scaling rules (documented approximations, not measurements):

* SRAM access energy vs capacity: piecewise log-log interpolation through
  Horowitz's three 64-bit points (8 KB, 32 KB, 1 MB), extrapolated with the end
  slopes; energy per access scales linearly with word width.
* Multiplier energy scales with the product of operand widths (an array
  multiplier has bw*ba partial-product cells): 8x8 -> 0.2 pJ, 32x32 -> 3.1 pJ
  is 15.5x against 16x predicted.  Adder energy is log-log interpolated between
  the 8-bit and 32-bit points.
* Process node: no implicit scaling.  ``energy_scale`` is an explicit factor
  the user sets (1.0 = 45 nm numbers as published); Stillmaker & Baas,
  Integration 2017, tabulate per-node factors to choose it from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cited:
    value: float
    unit: str
    source: str


HOROWITZ = "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, 45 nm"

ENERGY_45NM: dict[str, Cited] = {
    "int8_add": Cited(0.03, "pJ", HOROWITZ),
    "int32_add": Cited(0.1, "pJ", HOROWITZ),
    "fp16_add": Cited(0.4, "pJ", HOROWITZ),
    "fp32_add": Cited(0.9, "pJ", HOROWITZ),
    "int8_mult": Cited(0.2, "pJ", HOROWITZ),
    "int32_mult": Cited(3.1, "pJ", HOROWITZ),
    "fp16_mult": Cited(1.1, "pJ", HOROWITZ),
    "fp32_mult": Cited(3.7, "pJ", HOROWITZ),
    "sram_64b_8KB": Cited(10.0, "pJ per 64-bit access", HOROWITZ),
    "sram_64b_32KB": Cited(20.0, "pJ per 64-bit access", HOROWITZ),
    "sram_64b_1MB": Cited(100.0, "pJ per 64-bit access", HOROWITZ),
    "dram_32b": Cited(640.0, "pJ per 32-bit access", HOROWITZ),
}

DRAM_PJ_PER_BIT: dict[str, Cited] = {
    "horowitz45": Cited(20.0, "pJ/bit", HOROWITZ + " (640 pJ per 32-bit access)"),
    "ddr3": Cited(70.0, "pJ/bit", "K. Malladi et al., 'Towards energy-proportional datacenter memory with "
                                  "mobile DRAM', ISCA 2012 (DDR3 ~70 pJ/bit incl. I/O and background)"),
    "lpddr4": Cited(8.0, "pJ/bit", "reference value adopted by this project (issue 3); unverified here. For "
                                   "simulated per-bit energies of DDR3/DDR4/LPDDR4/HBM see S. Li, D. Reddy, "
                                   "B. Jacob, MEMSYS 2018. Override per preset if you have better data"),
    "hbm2": Cited(6.25, "pJ/bit", "reference value adopted by this project (issue 3); unverified here. See "
                                  "S. Li, D. Reddy, B. Jacob, 'A performance & power comparison of modern "
                                  "high-speed DRAM architectures', MEMSYS 2018. Override per preset"),
}

RF_NOTE = ("register files use the SRAM capacity curve extrapolated to their (small) size; Eyeriss "
           "(Chen et al., ISCA 2016) reports RF access ~1x a MAC, which the extrapolation respects in order")


def _loglog(x: float, xs: list[float], ys: list[float]) -> float:
    lx = math.log(x)
    lxs = [math.log(v) for v in xs]
    lys = [math.log(v) for v in ys]
    if lx <= lxs[0]:
        i = 0
    elif lx >= lxs[-1]:
        i = len(xs) - 2
    else:
        i = max(j for j in range(len(xs) - 1) if lxs[j] <= lx)
    slope = (lys[i + 1] - lys[i]) / (lxs[i + 1] - lxs[i])
    return math.exp(lys[i] + slope * (lx - lxs[i]))


def sram_access_pj(capacity_bytes: float, width_bits: int, energy_scale: float = 1.0) -> float:
    """Energy of one access of ``width_bits`` to an SRAM of ``capacity_bytes``."""
    if capacity_bytes <= 0 or width_bits <= 0:
        raise ValueError(f"SRAM capacity_bytes={capacity_bytes}, width_bits={width_bits}; both must be > 0")
    pts = [("sram_64b_8KB", 8 * 1024), ("sram_64b_32KB", 32 * 1024), ("sram_64b_1MB", 1024 * 1024)]
    e64 = _loglog(capacity_bytes, [c for _, c in pts], [ENERGY_45NM[k].value for k, _ in pts])
    return e64 * width_bits / 64.0 * energy_scale


def mult_pj(weight_bits: int, act_bits: int, energy_scale: float = 1.0) -> float:
    """Integer multiply energy, scaled from the 8x8-bit point by bw*ba/64."""
    return ENERGY_45NM["int8_mult"].value * weight_bits * act_bits / 64.0 * energy_scale


def add_pj(bits: int, energy_scale: float = 1.0) -> float:
    return _loglog(bits, [8, 32], [ENERGY_45NM["int8_add"].value, ENERGY_45NM["int32_add"].value]) * energy_scale


def mac_pj(weight_bits: int, act_bits: int, acc_bits: int, energy_scale: float = 1.0) -> float:
    """One multiply-accumulate: a bw x ba multiply plus an acc_bits add."""
    if weight_bits == 32 and act_bits == 32:  # float32 networks: the published fp32 numbers
        return (ENERGY_45NM["fp32_mult"].value + ENERGY_45NM["fp32_add"].value) * energy_scale
    return mult_pj(weight_bits, act_bits, energy_scale) + add_pj(acc_bits, energy_scale)


def dram_pj_per_bit(kind: str) -> float:
    if kind not in DRAM_PJ_PER_BIT:
        raise ValueError(f"DRAM type {kind!r} unknown; allowed: {', '.join(DRAM_PJ_PER_BIT)}")
    return DRAM_PJ_PER_BIT[kind].value


def citations() -> list[tuple[str, float, str, str]]:
    rows = [(k, c.value, c.unit, c.source) for k, c in ENERGY_45NM.items()]
    rows += [(f"dram_{k}", c.value, c.unit, c.source) for k, c in DRAM_PJ_PER_BIT.items()]
    return rows
