"""Honest sweep rows and options (issue 24, findings 2, 9 and 12): the docs example runs, every row says what it
priced, a field a design does not read or a bit width it cannot take is refused before any point runs, and
simulate honours (or refuses) --bits on an artifact and --input-shape on a graph with fixed shapes."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from accel_models import engines
from accel_models.hardware import SECTIONS, Accelerator, _presets_dir, load_accelerator, preset_names
from analysis import sweep
from analysis.sweep import SweepError, SweepSpec, run_sweep
from pruning.config import PruneConfig
from pruning.data import Dataset
from pruning.models import build_model
from pruning.pipeline import run_prune
from sparsecodesign.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs" / "sweep.md"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, tiny_digits):
    """digits_cnn with conv2 and fc1 pruned 75% (nonstructured) at 8 bits; conv1 and fc2 dense."""
    d = tiny_digits
    data = Dataset("digits", d.train_x[:128], d.train_y[:128], d.test_x[:50], d.test_y[:50], 10)
    out = tmp_path_factory.mktemp("art")
    cfg = PruneConfig.from_dict({"pretrain_epochs": 1, "retrain_epochs": 0, "admm": {"rounds": 1},
                                 "train": {"batch_size": 64},
                                 "defaults": {"type": "nonstructured", "ratio": 0.75, "bits": 8},
                                 "layers": {"conv2": {}, "fc1": {}, "fc2": {"type": "dense"}}})
    run_prune(build_model("digits_cnn"), data, cfg, out, progress=False, log=lambda s: None, model_name="digits_cnn")
    return out


def _spec(art, **kw):
    d = {"artifact": str(art), "base_hw": "fpga_small", "parameters": {"pe.rows": [8]},
         "workload": {"structures": ["nonstructured"], "ratios": [0.5], "bits": [8]}}
    d.update(kw)
    return SweepSpec.from_dict(d)


def _run(spec, out, lines=None):
    return run_sweep(spec, out, scheduler="sync", progress=False,
                     log=lines.append if lines is not None else (lambda s: None))


def _docs_example() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    return yaml.safe_load(next(b for b in blocks if b.startswith("artifact:")))


# ---------------------------------------------------------------- finding 2
def test_the_docs_sweep_example_is_accepted_and_runs(artifact, tmp_path):
    """Five parameters made a point name longer than the 80-character hardware name limit: refused."""
    d = _docs_example()
    assert len(d["parameters"]) >= 5
    spec = SweepSpec.from_dict({**d, "artifact": str(artifact)})   # all 243 hardware points validated
    assert len(spec.hw_points()) == 243
    # run it with one value of each parameter (the longest ones: the name is the longest) and every workload
    one = {k: [max(v, key=lambda x: len(str(x)))] for k, v in d["parameters"].items()}
    res = _run(SweepSpec.from_dict({**d, "artifact": str(artifact), "parameters": one}), tmp_path / "out")
    assert len(res.rows) == len(spec.workloads()) and res.computed == len(res.rows)
    for k, v in one.items():
        assert {r[f"hw.{k}"] for r in res.rows} == set(v)   # the full values are the row's columns


def test_point_names_are_short_and_stable_for_any_number_of_parameters():
    many = {f"pe.p{i}": 1_000_000 + i for i in range(40)}
    name = sweep.point_name(many)
    assert len(name) <= 80 and name == sweep.point_name(dict(reversed(list(many.items()))))
    assert name != sweep.point_name({**many, "pe.p0": 7})
    assert sweep.point_name({"pe.rows": 8}) == "hw[pe.rows=8]"   # readable while it fits


# ---------------------------------------------------------------- finding 9
def test_dense_means_dense_and_artifact_is_the_artifact(artifact, tmp_path):
    res = _run(_spec(artifact, workload={"structures": ["dense", "artifact", "nonstructured"], "ratios": [0.9],
                                         "bits": [8]}), tmp_path / "out")
    rows = {r["structure"]: r for r in res.rows}
    totals = json.loads((artifact / "manifest.json").read_text())["totals"]
    assert rows["dense"]["weight_density"] == 1.0 and rows["dense"]["ratio"] == 0.0
    assert rows["artifact"]["weight_density"] == pytest.approx(totals["nonzeros"] / totals["weights"])
    assert rows["artifact"]["ratio"] == pytest.approx(1 - totals["nonzeros"] / totals["weights"], abs=1e-6)
    assert rows["nonstructured"]["weight_density"] < rows["artifact"]["weight_density"]
    assert rows["dense"]["storage_bits"] > rows["artifact"]["storage_bits"] or \
        rows["dense"]["energy_pj"] != rows["artifact"]["energy_pj"]   # dense is no longer the sparse weights
    assert all(r["structure_layers"] == "conv1,conv2,fc1,fc2" for r in res.rows)
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0].split(",")
    assert {"weight_density", "structure_layers"} <= set(header)


def test_a_structure_that_fits_no_layer_is_labelled_and_warned(artifact, tmp_path):
    lines = []
    spec = _spec(artifact, workload={"structures": ["artifact", "block", "nm"], "ratios": [0.9], "bits": [8],
                                     "block": [5, 5], "nm": [2, 4]})
    res = _run(spec, tmp_path / "out", lines)
    rows = {r["structure"]: r for r in res.rows}
    assert rows["block"]["structure_layers"] == "none"
    assert rows["block"]["energy_pj"] == rows["artifact"]["energy_pj"]   # unchanged weights, and labelled so
    assert rows["nm"]["structure_layers"] == "conv2,fc1,fc2"            # conv1's K=9 is no multiple of 4
    warned = [s for s in lines if s.startswith("sweep: warning:")]
    assert any("'block 5x5' fits no layer" in s and "conv1 32x1x3x3" in s and "unchanged" in s for s in warned)
    assert any("'nm 2:4' fits 3 of 4 layers" in s and "conv1" in s for s in warned)


def test_re_pruning_below_the_artifacts_own_ratio_is_warned(artifact, tmp_path):
    lines = []
    res = _run(_spec(artifact, workload={"structures": ["nonstructured"], "ratios": [0.5], "bits": [8]}),
               tmp_path / "out", lines)
    assert any("pruned already" in s and "conv2 0.75" in s and "ratio 0.5" in s for s in lines), lines
    assert res.rows[0]["weight_density"] < 0.5   # what was priced, whatever the label


# --------------------------------------------------------------- finding 12
def test_glb_on_a_per_operand_design_is_refused_naming_the_field_and_organization(artifact):
    with pytest.raises(SweepError, match=r"'glb.capacity_bytes' is ignored by base_hw 'tpu_like'.*section glb is read "
                                         r"only when memory.organization is shared.*memory.organization="
                                         r"'per_operand'"):
        _spec(artifact, base_hw="tpu_like", parameters={"glb.capacity_bytes": [65536, 262144]})


def test_per_operand_sram_sizes_are_swept(artifact, tmp_path):
    d = yaml.safe_load((_presets_dir() / "tpu_like.yaml").read_text())
    d["pe"].update(rows=16, cols=16)
    hw = tmp_path / "po.yaml"
    hw.write_text(yaml.safe_dump(d))
    spec = _spec(artifact, base_hw=str(hw), parameters={"filter_sram.capacity_bytes": [1024, 1 << 20],
                                                        "ifmap_sram.capacity_bytes": [1 << 20]})
    res = _run(spec, tmp_path / "out")
    small, big = sorted(res.rows, key=lambda r: r["hw.filter_sram.capacity_bytes"])
    assert small["hw.filter_sram.capacity_bytes"] == 1024 and big["hw.filter_sram.capacity_bytes"] == 1 << 20
    assert small["energy_pj"] != big["energy_pj"]   # the field is read: two different points


def _hardware_paths():
    """Every field of the hardware description as a sweep path: top-level fields, each section's own fields and
    every registered engine's parameters."""
    paths = [f.name for f in dataclasses.fields(Accelerator)]
    for sec, cls in SECTIONS.items():
        paths += [f"{sec}.{f.name}" for f in dataclasses.fields(cls) if f.name != "params"]
    for spec in engines.ENGINE_REGISTRY.values():
        paths += [f"pe.{f}" for f in spec.param_fields()]
    return sorted(set(paths))


def _value(d: dict, path: str):
    sec, _, key = path.partition(".")
    if not key:
        return d.get(sec, "x")
    return (d.get(sec) or {}).get(key, "__absent__")


REASONS = ("is a label", "is a section", "no cost reads it", "is ignored by base_hw")


def test_every_hardware_field_is_sweepable_or_refused_with_a_reason(artifact, tmp_path):
    bases = {p: load_accelerator(p).to_dict() for p in preset_names()}
    d = yaml.safe_load((_presets_dir() / "eie_like.yaml").read_text())   # no preset has per-operand DRAM ports
    d["dram"].update(interfaces="per_operand", ifmap_bits_per_cycle=32, filter_bits_per_cycle=32,
                     ofmap_bits_per_cycle=32)
    (tmp_path / "ports.yaml").write_text(yaml.safe_dump(d))
    bases[str(tmp_path / "ports.yaml")] = load_accelerator(tmp_path / "ports.yaml").to_dict()
    accepted, refused = set(), {}
    for path in _hardware_paths():
        for name, base in bases.items():
            value = _value(base, path)
            if value == "__absent__":
                continue
            try:
                _spec(artifact, base_hw=name, parameters={path: [value]})
            except SweepError as e:
                refused[path] = str(e)
                assert "unknown" not in str(e) and any(r in str(e) for r in REASONS), (path, str(e))
                continue
            accepted.add(path)
            break
        assert path in accepted or path in refused, f"{path}: no preset has it; give the test a design that does"
    assert {"ifmap_sram.capacity_bytes", "filter_sram.capacity_bytes", "ofmap_sram.capacity_bytes",
            "memory.weights", "tech_node_nm", "pe.nm", "dram.ifmap_bits_per_cycle"} <= accepted
    assert {"name", "description", "glb", "fpga", "fpga.part"} <= set(refused) - accepted


def test_a_bit_width_that_fits_no_base_fails_before_any_point_runs(artifact, tmp_path, capsys):
    with pytest.raises(SweepError, match=r"bits 16 does not fit base_hw 'fpga_small' at point .*pe.weight_bits=\[8\]"):
        _spec(artifact, base_hw=["eie_like", "fpga_small"], workload={"bits": [8, 16]})
    _spec(artifact, base_hw=["eie_like", "fpga_small"], workload={"bits": [8, 32]})   # 32: float, any width
    (tmp_path / "s.yaml").write_text(f"artifact: {artifact}\nbase_hw: fpga_small\nparameters:\n  pe.rows: [4, 8]\n"
                                     "workload:\n  bits: [4,\n    16]\n")
    rc = main(["sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--scheduler", "sync", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "line 7" in err[0] and "bits 16 does not fit base_hw 'fpga_small'" in err[0]
    assert not (tmp_path / "out" / "cache").exists()   # nothing ran
    # a task that still meets a width its design cannot take names the base design, point and layer, not "point0"
    base = {"fpga_small": load_accelerator("fpga_small").to_dict()}
    with pytest.raises(SweepError, match=r"^sweep: workload 'nonstructured' ratio 0.5 bits 16: base_hw 'fpga_small' "
                                         r"at point \{'pe.rows': 8\}: layer 'conv1': pe: weights of 16 bits"):
        sweep.evaluate_group(str(artifact), base, ("nonstructured", 0.5, 16), [{"base": "fpga_small", "pe.rows": 8}],
                             1, (4, 4), (2, 4))


def test_an_8_bit_artifact_on_an_int4_array_names_the_layer_and_bits_4_prices_it(artifact, tmp_path, capsys):
    hw = tmp_path / "int4.yaml"
    hw.write_text("name: int4\npe: {engine: systolic, rows: 8, cols: 8, weight_bits: [4], act_bits: 8}\n"
                  "dram: {kind: lpddr4, bandwidth_bits_per_cycle: 64}\n")
    rc = main(["simulate", str(artifact), "--hw", str(hw), "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "layer 'conv2'" in err[0] and "weights of 8 bits" in err[0], err
    rc = main(["simulate", str(artifact), "--hw", str(hw), "--bits", "4", "--out", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert rc == 0 and "priced at 4-bit weights (--bits)" in out
    # and --bits changes what an array that takes 4 and 8 bits prices (it was ignored for an artifact)
    import sparsecodesign as sc

    at8, at4 = (sc.simulate(str(artifact), "eie_like", log=lambda s: None),
                sc.simulate(str(artifact), "eie_like", bits=4, log=lambda s: None))
    assert at4.totals()["eie_like"].storage_bits < at8.totals()["eie_like"].storage_bits


class _Net(torch.nn.Module):
    def __init__(self, linear: bool):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5) if linear else None

    def forward(self, x):
        y = self.conv2(torch.relu(self.conv1(x)))
        return self.fc(y.flatten(1)) if self.fc is not None else y


def _fixed_onnx(path, linear: bool):
    onnx = pytest.importorskip("onnx")
    torch.onnx.export(_Net(linear), torch.zeros(1, 3, 8, 8), str(path), dynamo=False, input_names=["x"])
    onnx.save(onnx.shape_inference.infer_shapes(onnx.load(str(path))), str(path))   # shapes stored in the graph
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_input_shape_on_an_onnx_graph_with_fixed_shapes_is_honoured_or_refused(tmp_path):
    from sparsesim.model_import import from_onnx
    from sparsesim.workload import WorkloadError

    convs = _fixed_onnx(tmp_path / "convs.onnx", linear=False)
    ws = {w.name: w for w in from_onnx(convs, input_shape=(3, 16, 16))}
    # every conv at the new size (the second one was priced at the stored 8x8 before: half the shape ignored)
    assert [tuple(w.geometry["input_hw"]) for w in ws.values()] == [(16, 16), (16, 16)]
    assert [w.N for w in ws.values()] == [256, 64]
    with pytest.raises(WorkloadError, match=r"--input-shape 3,16,16 does not fit the graph, exported for 3,8,8 "
                                            r"\(.*128 and 512"):
        from_onnx(_fixed_onnx(tmp_path / "fc.onnx", linear=True), input_shape=(3, 16, 16))
    at_exported = from_onnx(tmp_path / "fc.onnx", input_shape=(3, 8, 8))   # its own shape: accepted
    assert [tuple(w.geometry["input_hw"]) for w in at_exported[:2]] == [(8, 8), (8, 8)]
