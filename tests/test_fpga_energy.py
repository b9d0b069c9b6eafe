"""FPGA on-chip energy (accel_models.tech.FPGA_ENERGY; docs/validation.md section 6, cost_model.md Energy).

On ``platform: fpga`` every on-chip energy the YAML does not give is the ASIC rule at the design's node times
the FPGA/ASIC dynamic power ratio of Kuon & Rose (14x); ASIC designs are untouched; YAML energies win.  The
Virtex-5 BRAM figure of Xilinx DS512 is a cross-check of the ratio, not an input."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from accel_models.hardware import FPGA_PARTS, accelerator_from_dict, load_accelerator, preset_names
from accel_models.tech import (FPGA_ENERGY, FPGA_FAMILY_NODE_NM, NODE_ENERGY_FACTOR, citations, fpga_energy_ratio,
                               sram_access_pj)
from sparsesim.analytical import evaluate
from sparsesim.workload import LayerWorkload


def _fc(m=64, k=64):
    return LayerWorkload("fc", "linear", m, k, 1, np.ones((m, k), np.float32), weight_bits=8)


def test_table_values_and_citations():
    assert fpga_energy_ratio() == FPGA_ENERGY["dynamic_ratio"].value == 14.0
    assert "Kuon" in FPGA_ENERGY["dynamic_ratio"].source and "TCAD" in FPGA_ENERGY["dynamic_ratio"].source
    bram = FPGA_ENERGY["bram_virtex5_36b"]
    assert bram.value == pytest.approx(21e-3 / 300e6 * 1e12) and "DS512" in bram.source   # 21 mW at 300 MHz
    assert {k: c.value for k, c in FPGA_FAMILY_NODE_NM.items()} == {"7-series": 28, "ultrascale+": 16}
    rows = {name: src for name, _, _, src in citations()}
    assert "fpga_dynamic_ratio" in rows and "fpga_family_7-series" in rows


def test_bram_cross_check_agrees_with_the_ratio():
    """DS512's Virtex-5 BRAM (2k x 36, 65 nm, 50% writes): 70 pJ per access against CACTI at 65 nm for one 18 Kb
    bank at 36 bits: 13.6x, within 10% of the 14x ratio (not fitted: neither number is tuned to the other)."""
    cacti_65 = NODE_ENERGY_FACTOR[65].value * (sram_access_pj(2304, 36) + sram_access_pj(2304, 36, write=True)) / 2
    ratio = FPGA_ENERGY["bram_virtex5_36b"].value / cacti_65
    assert ratio == pytest.approx(13.6, abs=0.05)
    assert ratio == pytest.approx(fpga_energy_ratio(), rel=0.10)


def test_every_part_has_a_family_and_fpga_presets_sit_at_its_node():
    assert {p.family for p in FPGA_PARTS.values()} == set(FPGA_FAMILY_NODE_NM)
    fpgas = [load_accelerator(n) for n in preset_names() if load_accelerator(n).platform == "fpga"]
    assert {a.name for a in fpgas} == {"fpga_small", "fpga_large", "fpga_sparse"}
    zhang = load_accelerator(Path(__file__).parent / "fixtures" / "fpga" / "zhang2015_vc707.yaml")
    for a in [*fpgas, zhang]:
        assert a.tech_node_nm == FPGA_PARTS[a.fpga.part].node_nm, a.name


def test_fpga_presets_use_the_ratio_and_asic_presets_do_not():
    for name in preset_names():
        a = load_accelerator(name)
        base = NODE_ENERGY_FACTOR[a.tech_node_nm].value * a.energy_scale
        assert a.node_factor == pytest.approx(base * (14.0 if a.platform == "fpga" else 1.0)), name


def test_fpga_prices_every_on_chip_energy_at_the_ratio_and_dram_as_is():
    fpga = load_accelerator("fpga_small")
    asic = dataclasses.replace(fpga, platform="asic")
    f, a = (evaluate([_fc()], [hw]).rows()[0] for hw in (fpga, asic))
    for k in ("energy_mac_pj", "energy_sram_pj", "energy_rf_pj"):
        assert f[k] == pytest.approx(14.0 * a[k]), k
    assert f["energy_dram_pj"] == a["energy_dram_pj"] and f["energy_mac_pj"] > 0 and f["energy_sram_pj"] > 0


def test_yaml_energies_win_on_fpga():
    hw = accelerator_from_dict({"name": "own", "platform": "fpga", "tech_node_nm": 28,
                                "pe": {"rows": 8, "cols": 8, "mac_pj": 1.0},
                                "glb": {"capacity_bytes": 65536, "read_pj": 5.0, "write_pj": 7.0, "width_bits": 64},
                                "rf": {"weight_access_pj": 0.5, "act_access_pj": 0.0, "psum_access_pj": 0.25},
                                "fpga": {"part": "xc7z020"}})
    r = evaluate([_fc()], [hw]).rows()[0]
    macs = 64 * 64
    assert r["energy_mac_pj"] == pytest.approx(macs * 1.0)
    assert r["energy_rf_pj"] == pytest.approx(macs * 0.5 + macs * 2 * 0.25)
    asic = evaluate([_fc()], [dataclasses.replace(hw, platform="asic")]).rows()[0]
    assert r["energy_sram_pj"] == pytest.approx(asic["energy_sram_pj"])     # given per access: no ratio
