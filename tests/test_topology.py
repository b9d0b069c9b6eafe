"""SCALE-Sim topology and .cfg readers: workloads, hardware, and one-line errors naming file, line and field."""

import numpy as np
import pytest

from accel_models.hardware import HardwareError
from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg
from sparsecodesign.cli import main
from sparsesim.topology import TopologyError, read_topology

CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
CFG = """[general]
run_name = mine
[architecture_presets]
ArrayHeight: 8
ArrayWidth: 16
IfmapSramSzkB: 4
FilterSramSzkB: 8
OfmapSramSzkB: 2
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: os
[run_presets]
InterfaceBandwidth: USER
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_conv_topology_gives_scalesim_geometry_and_masks(tmp_path):
    p = write(tmp_path, "t.csv", CONV.rstrip(",\n") + ", Sparsity, Weight density, Activation density,\n"
              "c1, 10, 10, 3, 3, 4, 8, 2, 2:4, , 0.5,\n"
              "c2, 6, 6, 3, 3, 8, 16, 1, , 0.25, ,\n")
    a, b = read_topology(p, seed=1)
    assert (a.M, a.K, a.N) == (8, 36, 5 * 5)                 # ceil((10 - 3 + 2) / 2) = 5 (SCALE-Sim's rule)
    assert a.sparsity_type == "nm" and a.max_nonzeros_per_group(4) == 2 and a.act_density == 0.5
    assert np.array_equal(a.mask[0], (np.arange(36) % 4) < 2)   # first N of every M, like SCALE-Sim
    assert b.sparsity_type == "nonstructured" and 0.15 < b.density < 0.35 and b.act_density == 1.0
    assert np.array_equal(read_topology(p, seed=1)[1].mask, b.mask)          # seeded
    assert not np.array_equal(read_topology(p, seed=2)[1].mask, b.mask)


def test_gemm_topology_and_depthwise_layers(tmp_path):
    g = read_topology(write(tmp_path, "g.csv", "Layer, M, N, K,\nmm, 100, 64, 256,\n"))[0]
    assert (g.M, g.K, g.columns, g.kind) == (64, 256, 100, "linear")
    dw = read_topology(write(tmp_path, "d.csv", CONV + "DP1, 8, 8, 3, 3, 4, 1, 1,\n"))
    assert [w.name for w in dw] == [f"DP1Channel_{i}" for i in range(4)] and dw[0].K == 9


@pytest.mark.parametrize("text, pattern", [
    (CONV.replace(" Strides,", ""), r"t.csv: line 1: missing column 'Strides' \(column 8\)"),
    ("Layer, M, N,\nx, 1, 2,\n", r"t.csv: line 1: missing column 'K' \(column 4\); a SCALE-Sim gemm topology"),
    (CONV + "c1, 10, 10, 3, 3, 4, 8,\n", r"t.csv: line 2: missing field 'Strides'"),
    (CONV + "c1, 10, ten, 3, 3, 4, 8, 1,\n", r"t.csv: line 2: field 'IFMAP Width'='ten'; allowed: an integer >= 1"),
    (CONV + "c1, 10, 10, 3, 3, 4, 0, 1,\n", r"t.csv: line 2: field 'Num Filter'=0"),
    (CONV + "c1, 10, -10, 3, 3, 4, 8, 1,\n", r"t.csv: line 2: field 'IFMAP Width'=-10; allowed: an integer in 1\.\."),
    (CONV + "c1, 10, 10, 11, 3, 4, 8, 1,\n", r"t.csv: line 2: field 'Filter Height'=11 exceeds the IFMAP side 10"),
    (CONV + "ok, 10, 10, 3, 3, 4, 8, 1,\nc2, 10, 10, 3, 3, 4, 8, 1, 5:4,\n",
     r"t.csv: line 3: field 'Sparsity'='5:4'; allowed: 'N:M' with 0 < N <= M"),
    (CONV.rstrip(",\n") + ", Weight density,\nc1, 10, 10, 3, 3, 4, 8, 1, 1.5,\n",
     r"t.csv: line 2: field 'Weight density'='1.5'; allowed: a number in \(0, 1\]"),
    (CONV.rstrip(",\n") + ", Colour,\nc1, 10, 10, 3, 3, 4, 8, 1, red,\n", r"t.csv: line 1: unknown column 'Colour'"),
    (CONV, r"t.csv: no layers after the header"),
    ("", r"t.csv: empty topology file"),
    # results are keyed by name: a repeated one made the simpy comparison pair the wrong layers (-80% "error")
    (CONV + "c1, 10, 10, 3, 3, 4, 8, 1,\nc1, 12, 12, 3, 3, 8, 8, 1,\n",
     r"t.csv: line 3: layer name 'c1' is already used on line 2; allowed: unique layer names"),
    (CONV + ", 8, 8, 3, 3, 1, 1, 1,\nlayer0, 8, 8, 3, 3, 4, 1, 1,\n", r"line 3: layer name 'layer0'"),  # unnamed
])
def test_bad_topologies_name_file_line_and_field(tmp_path, text, pattern):
    with pytest.raises(TopologyError, match=pattern):
        read_topology(write(tmp_path, "t.csv", text))


def test_cfg_gives_per_operand_srams_interfaces_and_the_scalesim_convention(tmp_path):
    a = accelerator_from_scalesim_cfg(write(tmp_path, "s.cfg", CFG))
    assert (a.name, a.pe.rows, a.pe.cols, a.pe.dataflow) == ("mine", 8, 16, "os")
    assert (a.ifmap_sram.capacity_bytes, a.filter_sram.capacity_bytes, a.ofmap_sram.capacity_bytes) == \
        (4096, 8192, 2048)
    assert a.memory.convention == "scalesim" and a.dram.interfaces == "per_operand"
    assert a.dram.operand_bandwidth("ofmap") == 80 and a.dram.operand_bandwidth("ifmap") == 80
    calc = accelerator_from_scalesim_cfg(write(tmp_path, "c.cfg", CFG.replace("USER", "CALC")))
    assert calc.dram.stall_free


@pytest.mark.parametrize("edit, pattern", [
    (("Dataflow: os", "Dataflow: rs"), r"s.cfg: line 13: field 'Dataflow'='rs'; allowed: ws, os, is"),
    (("ArrayWidth: 16", "ArrayWidth: wide"), r"s.cfg: line 5: field 'ArrayWidth'='wide'; allowed: a positive integer"),
    (("OfmapSramSzkB: 2\n", ""), r"s.cfg: line 3: missing field 'OfmapSramSzkB' in \[architecture_presets\]"),
    (("InterfaceBandwidth: USER", "InterfaceBandwidth: FAST"), r"s.cfg: line 15: field 'InterfaceBandwidth'='FAST'"),
    (("[general]\nrun_name = mine\n", ""), r"s.cfg: missing section \[general\]"),
    (("Bandwidth: 10\n", "Bandwidth: 10\nBandwidth: 20\n"), r"s.cfg: not a SCALE-Sim .cfg"),
])
def test_bad_cfgs_name_file_line_and_field(tmp_path, edit, pattern):
    with pytest.raises(HardwareError, match=pattern):
        accelerator_from_scalesim_cfg(write(tmp_path, "s.cfg", CFG.replace(*edit)))


def test_cli_prices_a_topology_under_a_cfg_and_reports_words(tmp_path, capsys):
    topo = write(tmp_path, "t.csv", CONV + "c1, 12, 12, 3, 3, 4, 8, 1,\nc2, 10, 10, 3, 3, 8, 8, 1,\n")
    cfg = write(tmp_path, "s.cfg", CFG)
    assert main(["simulate", "--topology", str(topo), "--scalesim-config", str(cfg), "--hw", "eie_like",
                 "--out", str(tmp_path / "o")]) == 0
    header = (tmp_path / "o" / "layers.csv").read_text().splitlines()[0].split(",")
    for col in ("sram_ifmap_read_words", "sram_filter_read_words", "sram_ofmap_write_words", "dram_ifmap_read_words",
                "dram_filter_read_words", "dram_ofmap_write_words", "cycles", "compute_cycles", "stall_cycles",
                "energy_pj", "latency_s"):
        assert col in header
    out = capsys.readouterr().out
    assert "mine" in out and "eie_like" in out and "convention scalesim" in out


@pytest.mark.parametrize("args, pattern", [
    (["--topology", "{t}"], r"sparsesim simulate: error: .*t.csv: line 2: field 'Channels'='x'"),
    (["--topology", "{t}", "--scalesim-config", "{missing}"], r"SCALE-Sim config .*nope.cfg not found"),
    ([], r"give an artifact directory or --topology FILE.csv"),
    (["--topology", "{t}", "--hw", ","], r"--hw ',': no preset or file named"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, pattern):
    t = write(tmp_path, "t.csv", CONV + "c1, 12, 12, 3, 3, x, 8, 1,\n")
    argv = ["simulate", *[a.format(t=t, missing=tmp_path / "nope.cfg") for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re
    assert re.search(pattern, err), err
