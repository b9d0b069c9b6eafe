"""Energy of one layer from its compute demand and memory traffic (pure, vectorized over configs).

Per-access energies come from the hardware arrays: buffers read/write per
access of their width (CACTI fit or the YAML's ``read_pj``/``write_pj``),
register accesses per operand (the YAML's ``rf.weight/act/psum_access_pj`` or
the register file's per-bit energy times the operand's width), DRAM reads and
writes per bit, MACs per operation (zero-gated MACs at ``gated_mac_fraction``),
index decodes per decode.  One term is per cycle, not per access: the clock network
(``pe.clock_pj_per_pe_cycle`` x PEs x the layer's cycles, stalls included; 0 where the
description does not model it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel_models.hardware import OPERANDS

from .demand import ComputeDemand, mac_energy
from .hwarrays import HardwareArrays
from .memory import Traffic


@dataclass(frozen=True, eq=False)
class Energy:
    dram_pj: np.ndarray
    sram_pj: np.ndarray
    rf_pj: np.ndarray
    mac_pj: np.ndarray
    index_pj: np.ndarray
    clock_pj: np.ndarray              # per cycle: the clock network (0: not modelled)
    lower_bound_pj: np.ndarray        # compulsory DRAM traffic + useful MACs
    mac_unit_pj: np.ndarray           # one full MAC

    @property
    def total_pj(self) -> np.ndarray:
        return self.dram_pj + self.sram_pj + self.rf_pj + self.mac_pj + self.index_pj + self.clock_pj


def sram_energy(t: Traffic, hw: HardwareArrays) -> np.ndarray:
    total = np.zeros(len(hw))
    for op in OPERANDS:
        width = hw.buf_width[op]
        total = total + t.sram_read_bits[op] / width * hw.buf_read_pj[op] \
            + t.sram_write_bits[op] / width * hw.buf_write_pj[op]
    return total


def rf_access_pj(hw: HardwareArrays, operand: str, bits) -> np.ndarray:
    given = hw.rf_operand_pj[operand]
    return np.where(np.isnan(given), hw.rf_pj_bit * bits, given)


def rf_energy(d: ComputeDemand, t: Traffic, hw: HardwareArrays) -> np.ndarray:
    return (t.rf_weight_accesses * rf_access_pj(hw, "weight", d.value_width)
            + t.rf_act_accesses * rf_access_pj(hw, "act", hw.act_bits)
            + t.rf_psum_accesses * rf_access_pj(hw, "psum", hw.acc_bits))


def rf_bits(d: ComputeDemand, t: Traffic, hw: HardwareArrays) -> np.ndarray:
    return t.rf_weight_accesses * d.value_width + t.rf_act_accesses * hw.act_bits + t.rf_psum_accesses * hw.acc_bits


def clock_energy(cycles: np.ndarray, hw: HardwareArrays) -> np.ndarray:
    """The clock network's energy: every cycle of the layer (stalls included) on every PE."""
    return cycles * hw.pes * hw.clock_pj_pe_cycle


def layer_energy(d: ComputeDemand, t: Traffic, hw: HardwareArrays, cycles: np.ndarray) -> Energy:
    """Every energy term of a layer; ``cycles``: its total cycles (the timing model's), for the per-cycle term."""
    e_mac = mac_energy(hw, d.value_width)
    dram = (t.dram_bits - t.dram_write_bits) * hw.dram_pj_bit + t.dram_write_bits * hw.dram_write_pj_bit
    return Energy(
        dram_pj=dram, sram_pj=sram_energy(t, hw), rf_pj=rf_energy(d, t, hw),
        mac_pj=d.macs_executed * d.mac_energy_weight * e_mac, index_pj=d.index_decodes * hw.decode_pj,
        clock_pj=clock_energy(cycles, hw),
        lower_bound_pj=t.dram_bits_compulsory * np.minimum(hw.dram_pj_bit, hw.dram_write_pj_bit)
        + d.macs_useful * e_mac, mac_unit_pj=e_mac)
