"""Export to SCALE-Sim v3 and Timeloop/Accelergy v4: the SCALE-Sim files read back through our own readers to the
same layers and hardware; the Timeloop YAML follows the timeloopfe v4 spec and carries the artifact's densities."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from accel_models.hardware import HardwareError, accelerator_from_dict, load_accelerator, preset_names
from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg, scalesim_cfg_text
from sparsecodesign.cli import main
from pruning.artifact import save_artifact
from pruning.constraint import Constraint
from pruning.structures import Structure
from sparsesim.analytical import evaluate
from sparsesim.conventions.scalesim import layer_of
from sparsesim.export import (ExportError, scalesim_files, scalesim_rows, scalesim_topology_csv, timeloop_files,
                              timeloop_problem, weight_density, write_files)
from sparsesim.topology import read_topology
from sparsesim.workload import LayerWorkload, from_artifact


class Small(nn.Module):
    """'same' padding on an even kernel (one more row after), a strided conv, a linear layer."""

    input_shape = (1, 7, 7)

    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.a = nn.Conv2d(1, 4, 2, padding="same")
        self.b = nn.Conv2d(4, 8, 3, stride=2)
        self.fc = nn.Linear(8 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.b(torch.relu(self.a(x))), 1))


PLAN = {"a": Structure("nonstructured", 0.5), "b": Structure("nm", n=2, m=4), "fc": Structure("nonstructured", 0.7)}


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    torch.manual_seed(3)
    model = Small().eval()
    fitted = {}
    with torch.no_grad():
        for name, s in PLAN.items():
            w = dict(model.named_modules())[name].weight
            fitted[name] = Constraint(s).fit(w)
            w.copy_(fitted[name].project(w)[0])
    return save_artifact(tmp_path_factory.mktemp("exp") / "a", model, model_name=None, constraints=fitted,
                         example=torch.zeros(1, 1, 7, 7), extra={"dataset": "digits"}, log_rows=[])


def _systolic(dataflow="ws", engine="systolic", **dram):
    return accelerator_from_dict({"name": "t", "pe": {"engine": engine, "rows": 8, "cols": 8, "dataflow": dataflow},
                                  "glb": {"capacity_bytes": 3 * 16 * 1024}, "dram": dram or None})


# ------------------------------------------------------------------ SCALE-Sim
def test_scalesim_export_reads_back_to_the_same_layers(art, tmp_path):
    workloads = from_artifact(art)
    (tmp_path / "t.csv").write_text(scalesim_topology_csv(workloads))
    back = {w.name: w for w in read_topology(tmp_path / "t.csv")}
    assert list(back) == [w.name for w in workloads]
    for w in workloads:
        b = back[w.name]
        assert (b.M, b.K, b.N * b.batch) == (w.M, w.K, w.N * w.batch)              # the same GEMM
        assert b.geometry["scalesim_nm"] == ((2, 4) if w.name == "b" else None)   # N:M kept
        if w.kind == "conv2d":                                                      # the same SCALE-Sim layer
            assert layer_of(b) == layer_of(w)
            assert tuple(b.geometry["output_hw"]) == tuple(w.geometry["output_hw"])
    assert back["a"].geometry["scalesim_layer"][:2] == (8, 8)   # 7 + 0 before + 1 after ('same', kernel 2)


def test_scalesim_export_prices_like_the_artifact(art, tmp_path):
    """Ours on the artifact == ours on the exported topology + cfg, every layer, every count (nm: N:M on)."""
    workloads = from_artifact(art)
    for engine in ("systolic", "nm"):
        write_files(scalesim_files(workloads, _systolic("ws", engine)), tmp_path / engine)
        hw = accelerator_from_scalesim_cfg(tmp_path / engine / "scalesim.cfg")
        direct = {r["layer"]: r for r in evaluate(workloads, [hw]).rows()}
        via = {r["layer"]: r for r in evaluate(read_topology(tmp_path / engine / "topology.csv"), [hw]).rows()}
        for name, r in direct.items():
            for key in ("compute_cycles", "cycles", "stall_cycles", "dram_ifmap_read_words",
                        "dram_filter_read_words", "sram_filter_read_words"):
                assert via[name][key] == r[key], (engine, name, key)
    assert direct["b"]["compute_cycles"] < {r["layer"]: r for r in evaluate(
        workloads, [accelerator_from_scalesim_cfg(tmp_path / "systolic" / "scalesim.cfg")]).rows()}["b"][
        "compute_cycles"]   # 2:4 compresses K on the N:M array only


def test_gemm_format_reads_back(art, tmp_path):
    workloads = [w.with_batch(3) for w in from_artifact(art)]
    (tmp_path / "g.csv").write_text(scalesim_topology_csv(workloads, "gemm"))
    back = read_topology(tmp_path / "g.csv")
    assert [(b.M, b.K, b.batch) for b in back] == [(w.M, w.K, w.N * w.batch) for w in workloads]
    with pytest.raises(ExportError, match=r"'a': batch 3 > 1: no SCALE-Sim conv-format .*\(--scalesim-format gemm"):
        scalesim_rows(workloads, "conv")


@settings(max_examples=40, deadline=None)
@given(h=st.integers(3, 20), k=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 2),
       c=st.integers(1, 3), m=st.integers(1, 5))
def test_conv_geometry_round_trips(h, k, stride, pad, c, m, tmp_path_factory):
    out = (h + 2 * pad - k) // stride + 1
    w = LayerWorkload("L", "conv2d", m, c * k * k, out * out, np.ones((m, c * k * k), np.float32),
                      geometry={"kernel": (k, k), "stride": (stride, stride), "padding": (pad, pad),
                                "input_hw": (h, h), "output_hw": (out, out)})
    path = tmp_path_factory.mktemp("g") / "t.csv"
    path.write_text(scalesim_topology_csv([w]))
    (b,) = read_topology(path)
    assert layer_of(b) == layer_of(w) and b.N == w.N and b.K == w.K and b.M == w.M
    assert layer_of(w).out_hw == (out, out)   # torch's output count, also where the stride does not divide


def test_grouped_conv_is_one_row_per_group_and_dilation_needs_gemm():
    g = LayerWorkload("dw", "conv2d", 4, 9, 16, np.ones((4, 9), np.float32), groups=2,
                      geometry={"kernel": (3, 3), "stride": (1, 1), "input_hw": (6, 6), "output_hw": (4, 4)})
    rows = scalesim_rows([g])
    assert [(r.name, r.dims) for r in rows] == [("dw.g0", (6, 6, 3, 3, 1, 2, 1)), ("dw.g1", (6, 6, 3, 3, 1, 2, 1))]
    d = LayerWorkload("d", "conv2d", 2, 9, 4, np.ones((2, 9), np.float32),
                      geometry={"kernel": (3, 3), "dilation": (2, 2), "input_hw": (6, 6), "output_hw": (2, 2)})
    with pytest.raises(ExportError, match=r"layer 'd': dilation \(2, 2\): no SCALE-Sim .*gemm"):
        scalesim_rows([d])
    assert scalesim_rows([d], "gemm")[0].dims == (4, 2, 9)
    bad = LayerWorkload("xDPy", "linear", 2, 3, 1, np.ones((2, 3), np.float32))
    with pytest.raises(ExportError, match="'DP'"):
        scalesim_rows([bad])


def test_cfg_round_trips_for_every_systolic_preset(tmp_path):
    names = [n for n in preset_names() if load_accelerator(n).pe.engine in ("systolic", "nm")]
    assert len(names) >= 3
    for name in names + ["calc"]:
        acc = _systolic("is", stall_free=True) if name == "calc" else load_accelerator(name)
        path = tmp_path / f"{name}.cfg"
        path.write_text(scalesim_cfg_text(acc))
        back = accelerator_from_scalesim_cfg(path)
        assert (back.pe.rows, back.pe.cols, back.pe.dataflow) == (acc.pe.rows, acc.pe.cols, acc.pe.dataflow)
        assert back.pe.engine == acc.pe.engine and back.dram.stall_free == acc.dram.stall_free
        for op in ("ifmap", "filter", "ofmap"):
            want = acc.buffer(op).capacity_bytes if acc.memory.organization == "per_operand" \
                else acc.glb.capacity_bytes // 3
            assert back.buffer(op).capacity_bytes == max(1, want // 1024) * 1024
            if not acc.dram.stall_free:
                assert back.dram.operand_bandwidth(op) == max(1, round(acc.dram.operand_bandwidth(op) / 8)) * 8
    with pytest.raises(HardwareError, match="eie_like: pe.engine='eie'.*allowed for a SCALE-Sim export"):
        scalesim_cfg_text(load_accelerator("eie_like"))


# ------------------------------------------------------------------ Timeloop (the documented timeloopfe v4 spec)
DISTRIBUTIONS = ("fixed_structured", "hypergeometric", "banded")
TAGS = ("!Component", "!Container", "!Hierarchical", "!Parallel", "!Pipelined", "!Nothing")


class _TagLoader(yaml.SafeLoader):
    pass


_TagLoader.add_multi_constructor("!", lambda loader, tag, node: {"_tag": "!" + tag,
                                                                  **loader.construct_mapping(node, deep=True)})


def check_problem(doc: dict) -> dict:
    """timeloopfe v4 ``Problem``: version, instance (int dims, densities), shape (dimensions, data_spaces with
    projections over dimensions and coefficients, coefficients with defaults)."""
    assert set(doc) == {"problem"}
    p = doc["problem"]
    assert set(p) == {"version", "instance", "shape"} and str(p["version"]) == "0.4"
    shape, inst = p["shape"], p["instance"]
    assert set(shape) <= {"name", "dimensions", "data_spaces", "coefficients"}
    dims, coefs = shape["dimensions"], {c["name"] for c in shape["coefficients"]}
    assert all(set(c) == {"name", "default"} for c in shape["coefficients"])
    for key, v in inst.items():
        if key != "densities":
            assert key in set(dims) | coefs and isinstance(v, int) and v >= 1, key
    assert set(dims) <= set(inst)
    names = [ds["name"] for ds in shape["data_spaces"]]
    assert names == ["Weights", "Inputs", "Outputs"]
    for ds in shape["data_spaces"]:
        assert set(ds) <= {"name", "projection", "read_write"}
        for rank in ds["projection"]:
            for term in rank:
                assert term[0] in dims and all(t in coefs for t in term[1:]), (ds["name"], term)
    assert [ds.get("read_write", False) for ds in shape["data_spaces"]] == [False, False, True]
    for name, d in inst["densities"].items():
        assert name in names and set(d) <= {"density", "distribution", "band_width", "workload_tensor_size"}
        assert 0.0 <= d["density"] <= 1.0 and d["distribution"] in DISTRIBUTIONS
    return p


def test_timeloop_problems_follow_the_spec_and_carry_the_artifact_densities(art, tmp_path):
    manifest = {e["name"]: e for e in json.loads((art / "manifest.json").read_text())["layers"]}
    workloads = from_artifact(art)
    write_files(timeloop_files(workloads, load_accelerator("eyeriss_like")), tmp_path)
    for w in workloads:
        p = check_problem(yaml.safe_load((tmp_path / f"problem_{w.name}.yaml").read_text()))
        i = p["instance"]
        assert i["C"] * i["R"] * i["S"] == w.K and i["M"] == w.M and i["P"] * i["Q"] == w.N and i["N"] == w.batch
        e = manifest[w.name]
        nonzero_fraction = e["nonzeros"] / math.prod(e["weight_shape"])
        assert i["densities"]["Weights"]["density"] == pytest.approx(nonzero_fraction, rel=1e-12)
        assert i["densities"]["Weights"]["distribution"] == ("fixed_structured" if w.name == "b" else
                                                              "hypergeometric")
        assert i["densities"]["Inputs"]["density"] == 1.0
    assert check_problem(timeloop_problem(workloads[0], act_density=0.25))["instance"]["densities"]["Inputs"][
        "density"] == 0.25
    b = yaml.safe_load((tmp_path / "problem_b.yaml").read_text())["problem"]["instance"]
    assert (b["Hstride"], b["Wstride"], b["P"], b["Q"], b["densities"]["Weights"]["density"]) == (2, 2, 3, 3, 0.5)


def test_timeloop_grouped_problem_has_a_g_dimension():
    g = LayerWorkload("dw", "conv2d", 4, 9, 16, np.eye(4, 9, dtype=np.float32) + 1, groups=2,
                      geometry={"kernel": (3, 3), "stride": (1, 1), "input_hw": (6, 6), "output_hw": (4, 4)})
    i = check_problem(timeloop_problem(g))["instance"]
    assert (i["G"], i["C"], i["M"], i["G"] * i["M"] * i["C"] * i["R"] * i["S"]) == (2, 1, 2, 4 * 9)
    assert i["densities"]["Weights"]["density"] == weight_density(g) == 1.0


@pytest.mark.parametrize("hw", ["eyeriss_like", "tpu_like", "nm_asic", "eie_like"])
def test_timeloop_architecture_follows_the_spec(art, hw, tmp_path):
    acc = load_accelerator(hw)
    files = timeloop_files(from_artifact(art), acc)
    arch = yaml.load(files["arch.yaml"], Loader=_TagLoader)["architecture"]
    assert str(arch["version"]) == "0.4"
    dims = set(yaml.safe_load(files["problem_a.yaml"])["problem"]["shape"]["dimensions"])

    def leaves(nodes):
        for n in nodes:
            assert n["_tag"] in TAGS
            yield from leaves(n["nodes"]) if "nodes" in n else [n]

    nodes = list(leaves(arch["nodes"]))
    for n in nodes:
        assert n["name"] and (n["_tag"] == "!Container" or isinstance(n["class"], str))
        attrs = n.get("attributes", {})
        if n["_tag"] == "!Component" and n["class"] in ("SRAM", "regfile"):
            assert attrs["datawidth"] >= 1 and attrs["depth"] >= 1 and attrs["block_size"] >= 1
        for section in n.get("constraints", {}).values():
            for key in ("permutation", "factors"):
                assert {f.split("=")[0] for f in section.get(key, [])} <= dims
            for key in ("keep", "bypass"):
                assert set(section.get(key, [])) <= {"Inputs", "Weights", "Outputs"}
    pe = next(n for n in nodes if n["name"] == "PE")
    assert pe["spatial"]["meshX"] * pe["spatial"]["meshY"] == acc.pe.rows * acc.pe.cols
    assert nodes[0]["attributes"]["global_cycle_seconds"] == pytest.approx(1 / acc.clock_hz)
    assert yaml.safe_load(files["mapper.yaml"])["mapper"]["version"] == 0.4


def _plain_strings(node, path=""):
    """(path, value) of every string value written unquoted (plain style) in a composed YAML document; mapping keys
    are not values."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _plain_strings(v, f"{path}.{k.value}")
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _plain_strings(v, f"{path}[{i}]")
    elif node.tag == "tag:yaml.org,2002:str" and node.style is None:
        yield path, node.value


@pytest.mark.parametrize("hw", preset_names())
def test_timeloop_export_quotes_every_string_so_timeloopfe_reads_strings(art, hw):
    """timeloopfe evaluates an unquoted string under ``attributes`` (and any unquoted string that fails its type
    check) as a Python expression: ``technology: 65nm`` and ``type: LPDDR4`` failed its processing (issue 25).  Every
    string value is written double-quoted; the data read back is unchanged."""
    acc = load_accelerator(hw)
    files = timeloop_files(from_artifact(art), acc)
    for name, text in files.items():
        assert list(_plain_strings(yaml.compose(text, Loader=_TagLoader))) == [], name
    arch = yaml.load(files["arch.yaml"], Loader=_TagLoader)["architecture"]["nodes"]
    assert arch[0]["attributes"]["technology"] == f"{acc.tech_node_nm}nm"
    assert arch[1]["attributes"]["type"] == acc.dram.kind.upper()
    assert '    attributes: {technology: "' in files["arch.yaml"]          # one line per leaf mapping, as before


@pytest.mark.parametrize("hw", preset_names())
def test_timeloop_storage_widths_are_whole_words(art, hw):
    """Timeloop asserts ``width % (datawidth * block_size) == 0`` and, with timeloopfe's ``cluster_size: 1``,
    ``block_size * datawidth == width`` on every storage level; the exported 29-bit DRAM of 16-bit words (eyeriss_like)
    and 32-bit registers of 8-bit words stopped a Timeloop build with those checks before it mapped anything."""
    acc = load_accelerator(hw)
    arch = yaml.load(timeloop_files(from_artifact(art), acc)["arch.yaml"], Loader=_TagLoader)["architecture"]

    def leaves(nodes):
        for n in nodes:
            yield from leaves(n["nodes"]) if "nodes" in n else [n]

    storage = [n for n in leaves(arch["nodes"]) if n.get("class") in ("DRAM", "SRAM", "regfile")]
    assert len(storage) == (5 if acc.memory.organization == "per_operand" else 3)
    for n in storage:
        a = n["attributes"]
        assert a["width"] == a["block_size"] * a["datawidth"], (n["name"], a)
    dram = storage[0]["attributes"]
    assert dram["shared_bandwidth"] == pytest.approx(acc.dram.bandwidth_bits_per_cycle / acc.pe.act_bits)
    assert abs(dram["width"] - acc.dram.bandwidth_bits_per_cycle) < acc.pe.act_bits     # the nearest whole word


@pytest.mark.parametrize("hw", ["eyeriss_like", "tpu_like", "eie_like", "sparse_tc_like"])
def test_timeloopfe_processes_every_exported_layer_when_installed(art, hw, tmp_path):
    """What ``timeloopfe.v4.call_mapper`` runs before Timeloop (parsing, processors, v4 -> v3), on every layer;
    shared and per-operand buffers, gating and skipping, WS and OS constraints, an engine without a dataflow."""
    pytest.importorskip("timeloopfe.v4")   # not a dependency; present only where a user built it (docs/export.md)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from timeloop_export_check import process_export

    workloads = from_artifact(art)
    write_files(timeloop_files(workloads, load_accelerator(hw)), tmp_path / "export")
    rows = process_export(sys.executable, tmp_path / "export", [f"problem_{w.name}.yaml" for w in workloads],
                          tmp_path / "out", mapper=False)
    assert [r["processed"] for r in rows] == ["ok"] * len(workloads), rows
    assert "technology: \"" in (tmp_path / "out" / "problem_a" / "parsed-processed-input.yaml").read_text()


# ------------------------------------------------------------------ CLI
def test_cli_export_writes_both_tools_files_and_errors_are_one_line(art, tmp_path, capsys):
    assert main(["export", str(art), "--to", "scalesim", "--out", str(tmp_path / "s"), "--hardware",
                 "nm_asic"]) == 0
    assert {p.name for p in (tmp_path / "s").iterdir()} == {"topology.csv", "layout.csv", "scalesim.cfg"}
    assert "Sparsity" in (tmp_path / "s" / "topology.csv").read_text().splitlines()[0]
    assert main(["export", str(art), "--to", "timeloop", "--out", str(tmp_path / "t"), "--act-density",
                 "0.4"]) == 0
    assert yaml.safe_load((tmp_path / "t" / "problem_fc.yaml").read_text())["problem"]["instance"]["densities"][
        "Inputs"]["density"] == 0.4
    capsys.readouterr()
    for argv, message in (
            (["--to", "scalesim", "--hardware", "sigma_like"], "sigma_like: pe.engine='sigma'"),
            (["--to", "timeloop", "--act-density", "2"], "argument --act-density: '2'; allowed: a number in [0, 1]"),
            (["--to", "ns3"], "argument --to: invalid choice")):
        assert main(["export", str(art), "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


# ------------------------------------------------- ResNet-18 export, run in SCALE-Sim (golden)
RESNET18_GOLDEN = Path(__file__).parent / "fixtures" / "scalesim" / "resnet18_export.csv"
RESNET18_LAYERS = ("conv1", "layer1.0.conv1", "layer2.0.conv1", "layer2.0.shortcut.0", "layer3.0.shortcut.0",
                   "fc")   # every kind of layer (stem, 2:4, strided 3x3, strided 1x1, linear), none of the slow deep ones


def test_resnet18_export_gives_scalesims_cycles(tmp_path):
    """SCALE-Sim 3.0.0 ran on our export of a pruned CIFAR ResNet-18 (benchmarks/scalesim_export.py --model
    resnet18 --golden ...; all 21 layers on 4 presets in docs/validation.md): the artifact priced on the exported hardware has its compute cycles and its total
    cycles (incl. prefetch) exactly, 2:4 on the N:M array included.  Layers of every kind, to keep it fast."""
    import csv
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from scalesim_export import build_artifact

    golden = [r for r in csv.DictReader(line for line in RESNET18_GOLDEN.read_text().splitlines()
                                        if not line.startswith("#"))]
    assert {r["hardware"] for r in golden} == {"tpu_like", "nm_asic"} and len(golden) == 42
    workloads = [w for w in from_artifact(build_artifact("resnet18", tmp_path / "art", 0)) if w.name in RESNET18_LAYERS]
    for hw_name in ("tpu_like", "nm_asic"):
        files = write_files(scalesim_files(workloads, load_accelerator(hw_name)), tmp_path / hw_name)
        hw = accelerator_from_scalesim_cfg(next(p for p in files if p.name == "scalesim.cfg"))
        ours = {r["layer"]: r for r in evaluate(workloads, [hw]).rows()}
        for g in (g for g in golden if g["hardware"] == hw_name and g["layer"] in RESNET18_LAYERS):
            assert ours[g["layer"]]["compute_cycles"] == float(g["scalesim_compute_cycles"]), (hw_name, g["layer"])
            assert ours[g["layer"]]["cycles"] == float(g["scalesim_total_cycles_incl_prefetch"]), (hw_name, g["layer"])
    assert all((g["nm"] == "2:4") == (g["hardware"] == "nm_asic") for g in golden if g["layer"] == "layer1.0.conv1")
