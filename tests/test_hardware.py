"""Hardware descriptions: presets, validation, FPGA fit, fuzzing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel_models.hardware import (Accelerator, FPGAFitError, HardwareError, accelerator_from_dict,
                                   load_accelerator, preset_names)
from accel_models.tech import ENERGY_45NM, NODE_ENERGY_FACTOR, citations, mac_pj, sram_access_pj, sram_grid


def test_presets_load_and_cover_asic_fpga_and_every_engine():
    names = preset_names()
    assert {"tpu_like", "eie_like", "eyeriss_like", "fpga_small", "fpga_large", "sigma_like", "scnn_like"} <= set(names)
    accs = [load_accelerator(n) for n in names]
    assert {a.platform for a in accs} == {"asic", "fpga"}
    assert {a.pe.engine for a in accs} == {"systolic", "eie", "nm", "sigma", "scnn", "rowstationary"}
    assert {a.tech_node_nm for a in accs} <= set(NODE_ENERGY_FACTOR)


def test_sparse_is_an_alias_of_eie():
    assert accelerator_from_dict({"name": "x", "pe": {"engine": "sparse"}}).pe.engine == "eie"


def test_sram_table_is_cactis_and_close_to_horowitz():
    grid = sram_grid()
    assert grid.log_read.shape == (16, 9) and not np.isnan(grid.log_read).any()
    assert sram_access_pj(8 * 1024, 64) == pytest.approx(6.0479, rel=1e-4)        # CACTI grid point
    assert sram_access_pj(2 << 20, 2048, write=True) == pytest.approx(2264.5, rel=1e-4)
    for cap, horowitz in ((8 << 10, 10.0), (32 << 10, 20.0), (1 << 20, 100.0)):
        assert 0.55 < sram_access_pj(cap, 64) / horowitz < 0.9                  # CACTI is 0.6-0.85x Horowitz
    mid = sram_access_pj(3 << 20, 96)                                            # between grid points
    assert sram_access_pj(2 << 20, 64) < mid < sram_access_pj(4 << 20, 128)


def test_energy_table_cites_every_number():
    assert mac_pj(8, 8, 8) == pytest.approx(0.2 + 0.03)
    assert mac_pj(32, 32, 32) == pytest.approx(3.7 + 0.9)  # fp32 path
    assert ENERGY_45NM["int32_mult"].value == 3.1
    assert NODE_ENERGY_FACTOR[45].value == 1.0 and NODE_ENERGY_FACTOR[7].value < NODE_ENERGY_FACTOR[65].value
    assert all(src for *_, src in citations())


def test_node_factor_and_overrides_reach_the_description():
    a = accelerator_from_dict({"name": "n", "tech_node_nm": 22, "pe": {"mac_pj": 0.5}})
    assert a.node_factor == pytest.approx(0.283) and a.mac_pj(8) == 0.5
    with pytest.raises(HardwareError, match=r"field 'tech_node_nm'=23"):
        accelerator_from_dict({"name": "n", "tech_node_nm": 23})


@pytest.mark.parametrize("data, pattern", [
    ({"pe": {"rows": -4}}, r"pe: field 'rows'=-4; allowed: an integer > 0"),
    ({"pe": {"dataflow": "rs"}}, r"pe: field 'dataflow'='rs'; allowed: ws, os, is"),
    ({"dram": {"bandwidth_bits_per_cycle": 0}}, r"dram: field 'bandwidth_bits_per_cycle'=0"),
    ({"dram": {"kind": "ddr9"}}, r"dram: field 'kind'='ddr9'"),
    ({"glb": {"capacity_bytes": 0}}, r"buffer: field 'capacity_bytes'=0"),
    ({"pe": {"weight_bits": [0]}}, r"pe: field 'weight_bits'"),
    ({"pe": {"rowz": 4}}, r"pe: unknown field\(s\) 'rowz'"),
    ({"clock": 1e9}, r"hardware: unknown field\(s\) 'clock'"),
    ({"platform": "fpga"}, r"platform 'fpga' needs an 'fpga' section"),
    ({"fpga": {"part": "xc9z999"}}, r"fpga: field 'part'='xc9z999'"),
    ({"memory": {"organization": "per_operand"}}, r"needs sections ifmap_sram, filter_sram, ofmap_sram"),
    ({"ifmap_sram": {"capacity_bytes": 1024}}, r"need memory.organization 'per_operand'"),
    ({"memory": {"convention": "scalesim"}, "pe": {"engine": "eie"}}, r"models systolic arrays only"),
    ({"memory": {"weights": "sometimes"}}, r"memory: field 'weights'='sometimes'; allowed: streamed, resident, auto"),
    ({"dram": {"interfaces": "many"}}, r"dram: field 'interfaces'='many'"),
    ({"pe": {"rows": 70000}}, r"pe: field 'rows'=70000; allowed: an integer > 0 and <= 65536"),
    ({"pe": {"engine": "eie", "fifo_depth": 0}}, r"pe: field 'fifo_depth'=0; allowed: an integer in 1..65536"),
    ({"glb": {"min_access_bits": 128, "width_bits": 64}}, r"buffer: field 'min_access_bits'=128"),
])
def test_invalid_fields_are_named(data, pattern):
    with pytest.raises(HardwareError, match=pattern):
        accelerator_from_dict({"name": "x", **data})


def test_fpga_that_does_not_fit_names_resource_and_overflow():
    with pytest.raises(FPGAFitError, match=r"DSP needs 2,048, the part has 220 \(over by 1,828\)"):
        accelerator_from_dict({"name": "big", "platform": "fpga", "pe": {"rows": 64, "cols": 64},
                               "fpga": {"part": "xc7z020"}})
    with pytest.raises(FPGAFitError, match=r"BRAM36 needs"):
        accelerator_from_dict({"name": "mem", "platform": "fpga", "pe": {"rows": 4, "cols": 4},
                               "glb": {"capacity_bytes": 64 * 1024 * 1024}, "fpga": {"part": "xc7z020"}})


def test_bit_widths_the_pe_cannot_take():
    a = load_accelerator("tpu_like")
    assert a.pe.storage_bits(4) == 8  # narrower weights are zero-extended
    with pytest.raises(HardwareError, match="exceed the widest supported weight_bits=8"):
        a.pe.storage_bits(16)


def test_duplicate_keys_and_missing_files(tmp_path):
    p = tmp_path / "hw.yaml"
    p.write_text("name: x\npe: {rows: 4}\npe: {rows: 8}\n")
    with pytest.raises(HardwareError, match="duplicate key 'pe'"):
        load_accelerator(p)
    with pytest.raises(HardwareError, match="not found"):
        load_accelerator(tmp_path / "nope.yaml")
    with pytest.raises(HardwareError, match="shipped presets"):
        load_accelerator("tpu_v9")


values = st.one_of(st.integers(-5, 5000), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                   st.booleans(), st.none(), st.lists(st.integers(-2, 40), max_size=3))
sections = {"pe": ["engine", "rows", "cols", "dataflow", "weight_bits", "act_bits", "acc_bits", "zero_handling",
                   "gated_mac_fraction", "index_bits", "decode_entries_per_cycle", "nm", "fifo_depth",
                   "act_broadcast_per_cycle", "macs_per_pe_per_cycle", "distribution_bw_words", "cartesian",
                   "channel_group", "mac_pj", "iteration_overhead_cycles"],
            "memory": ["organization", "double_buffered", "weights", "activations", "convention"],
            "dram": ["kind", "bandwidth_bits_per_cycle", "latency_cycles", "energy_pj_per_bit", "interfaces",
                     "ifmap_bits_per_cycle", "stall_free", "write_energy_pj_per_bit"],
            "glb": ["capacity_bytes", "banks", "width_bits", "read_pj", "min_access_bits"],
            "ifmap_sram": ["capacity_bytes", "width_bits"],
            "rf": ["capacity_bytes", "width_bits", "access_pj", "weight_access_pj"],
            "fpga": ["part", "macs_per_dsp", "lut_per_pe"]}


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzzed_configs_never_raise_unhandled(data):
    d = {"name": "fuzz"}
    for sec, keys in sections.items():
        if data.draw(st.booleans()):
            d[sec] = {k: data.draw(values) for k in data.draw(st.lists(st.sampled_from(keys), max_size=4))}
    for k in ("platform", "clock_hz", "energy_scale", "tech_node_nm"):
        if data.draw(st.booleans()):
            d[k] = data.draw(st.one_of(values, st.sampled_from(["asic", "fpga"])))
    try:
        a = accelerator_from_dict(d)
    except HardwareError:
        return
    assert isinstance(a, Accelerator)
