"""Artifacts are data: no code from a manifest, manifests checked against their weights, bounded reads;
CIFAR batches read without running pickled code."""

import importlib
import json
import math
import os
import pickle
import shutil
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file
from torch import nn

import pruning.artifact_read as artifact_read
from accel_models.hardware import load_accelerator
from sparsecodesign.cli import main
from pruning.artifact import ArtifactError, load_artifact, read_artifact, read_manifest, save_artifact
from pruning.constraint import Constraint
from pruning.data import DataError, load_cifar10
from pruning.models import build_model
from pruning.quantizers import Quantizer
from pruning.structures import Structure
from sparsesim.analytical import evaluate
from sparsesim.topology import TopologyError, read_topology
from sparsesim.workload import WorkloadError, from_artifact

CONSTRAINTS = {"conv2": Constraint(Structure("filter", 0.5), Quantizer("uniform", 8)),
               "fc1": Constraint(Structure("nonstructured", 0.9), Quantizer("pow2", 4)),
               "fc2": Constraint(Structure("nm", 0.5, n=2, m=4), Quantizer("binary"))}


class Tiny(nn.Module):
    """A user model: its artifact names a factory (code), not a zoo model."""

    input_shape = (1, 6, 6)

    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.conv = nn.Conv2d(1, 4, 3, stride=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def _constrain(model, constraints):
    fitted = {}
    with torch.no_grad():
        for name, c in constraints.items():
            mod = dict(model.named_modules())[name]
            fitted[name] = c.fit(mod.weight)
            mod.weight.copy_(fitted[name].project(mod.weight)[0])
    return fitted


@pytest.fixture(scope="module")
def zoo_art(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    fitted = _constrain(model, CONSTRAINTS)
    return save_artifact(tmp_path_factory.mktemp("zoo") / "a", model, model_name="digits_cnn", constraints=fitted,
                         example=torch.zeros(1, 1, 8, 8), extra={"dataset": "digits"}, log_rows=[])


@pytest.fixture(scope="module")
def user_art(tmp_path_factory):
    torch.manual_seed(1)
    model = Tiny().eval()
    fitted = _constrain(model, {"conv": Constraint(Structure("nonstructured", 0.5), Quantizer("uniform", 4))})
    return save_artifact(tmp_path_factory.mktemp("user") / "a", model, model_name=None, constraints=fitted,
                         example=torch.zeros(1, 1, 6, 6), extra={"dataset": "digits"}, log_rows=[])


def _edited(src, dst, edit=None, raw: str | None = None):
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    if edit is not None:
        edit(m)
    (dst / "manifest.json").write_text(raw if raw is not None else json.dumps(m))
    return dst


def _costs(path):
    acc = load_accelerator("eyeriss_like")
    return sorted((r["layer"], r["cycles"], r["energy_pj"], r["storage_bits"])
                  for r in evaluate(from_artifact(path, batch=2), [acc]).rows())


# ------------------------------------------------------------- code in manifests
def test_zoo_artifact_reads_validated_and_loads_bit_for_bit(zoo_art):
    data = read_artifact(zoo_art)
    assert list(data.weights) == ["conv1", "conv2", "fc1", "fc2"]
    saved = load_file(zoo_art / "weights.safetensors")
    assert np.array_equal(data.weights["fc1"], saved["fc1.weight"].numpy())
    art = load_artifact(zoo_art)
    for k, v in art.model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    ws = {w.name: w for w in from_artifact(zoo_art)}
    assert (ws["conv2"].weight_bits, ws["fc1"].weight_bits, ws["fc2"].weight_bits) == (8, 4, 1)


@pytest.mark.parametrize("factory", ["os:abort", "builtins:exit", "subprocess:call"])
def test_a_factory_in_a_manifest_is_refused_and_never_imported(zoo_art, tmp_path, factory, monkeypatch, capsys):
    path = _edited(zoo_art, tmp_path / "a", lambda m: m["model"].update(factory=factory))
    imported = []
    real = importlib.import_module

    def spy(name, *a, **k):
        imported.append(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", spy)
    module = factory.split(":")[0]
    assert _costs(path) == _costs(zoo_art)           # pricing needs only weights + manifest
    with pytest.raises(ArtifactError, match=rf"manifest.json: model.factory '{factory}' is code; it is not imported "
                                            rf"unless you pass --trust-module {module} "):
        load_artifact(path)
    with pytest.raises(ArtifactError, match="is code"):
        load_artifact(path, trust_module="somethingelse")
    assert main(["bench", str(path), "--out", str(tmp_path / "b"), "--repeats", "1"]) == 2
    assert main(["simulate", str(path), "--calibrate", "4", "--hw", "eyeriss_like", "--out",
                 str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("is code" in e and f"--trust-module {module}" in e for e in err)
    assert module not in imported and os.getpid() > 0   # still alive, nothing imported
    assert not (tmp_path / "b").exists() and not (tmp_path / "s").exists()


def test_a_trusted_module_builds_a_user_model(user_art, tmp_path, capsys):
    ref = read_manifest(user_art)["model"]
    assert ref["factory"] == f"{Tiny.__module__}:Tiny"
    with pytest.raises(ArtifactError, match=f"--trust-module {Tiny.__module__}"):
        load_artifact(user_art)
    art = load_artifact(user_art, trust_module=Tiny.__module__)
    assert isinstance(art.model, Tiny)
    assert torch.equal(art.model.conv.weight, load_file(user_art / "weights.safetensors")["conv.weight"])
    assert [w.name for w in from_artifact(user_art)] == ["conv", "fc"]    # no trust needed to price
    assert main(["simulate", str(user_art), "--hw", "eyeriss_like", "--out", str(tmp_path / "s")]) == 0


# ------------------------------------------------------- manifest vs weights
def _set(path, value):
    def edit(m):
        obj = m
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return edit


def _swap_mk(m):
    g = m["layers"][1]["gemm"]
    g["M"], g["K"] = g["K"], g["M"]


MISMATCHES = [
    (_swap_mk, r"field 'layers\[1\] \(conv2\).gemm.M'=288; expected 64 \(weight_shape \[64, 32, 3, 3\]"),
    (_set(["layers", 1, "gemm", "N"], 1), r"field 'layers\[1\] \(conv2\).gemm.N'=1; expected 64 \(output_hw 8x8"),
    (lambda m: m["layers"].append(m["layers"][1]),
     r"field 'layers\[4\].name'='conv2'; already the name of layers\[1\]"),
    (lambda m: (m["layers"][1].update(bits=4), m["layers"][1]["quantizer"].update(bits=4), m["layers"][1].update(
        levels=None)), r"'conv2.weight' holds \S+, not a level of manifest layers\[1\] \(conv2\).quantizer"),
    (_set(["layers", 1, "bits"], 4), r"field 'layers\[1\] \(conv2\).bits'=4; expected 8 \(quantizer.bits\)"),
    (_set(["layers", 0, "bits"], 8), r"field 'layers\[0\] \(conv1\).bits'=8; expected 32: a layer without a "
                                     "quantizer"),
    (_set(["version"], 2), r"field 'version'=2; this reader knows version 1 only"),
    (_set(["version"], True), r"field 'version'=True; this reader knows version 1 only"),
    (_set(["format"], "other"), r"field 'format'='other'; expected 'sparsecodesign.pruned-model'"),
    (lambda m: m.pop("layers"), r"required field 'layers' is missing"),
    (lambda m: m["layers"].pop(), r"field 'totals.weights'=51808; expected 51488"),
    (_set(["layers", 2, "weight_shape"], [32, 512]), r"layers\[2\] \(fc1\).gemm.K'=1024; expected 512"),
    (_set(["layers", 1, "input_hw"], [9, 9]), r"layers\[1\] \(conv2\).output_hw'=\[8, 8\]; expected \[9, 9\]"),
    (_set(["layers", 1, "stride"], [2, 2]), r"layers\[1\] \(conv2\).output_hw'=\[8, 8\]; expected \[4, 4\]"),
    (_set(["layers", 1, "sparsity", "type"], "checkerboard"), r"layers\[1\] \(conv2\).sparsity'="),
    (lambda m: (m["totals"].update(nonzeros=m["totals"]["nonzeros"] - m["layers"][2]["nonzeros"] + 5,
                                   compression=m["totals"]["weights"] / (m["totals"]["nonzeros"] - m["layers"][2][
                                       "nonzeros"] + 5)), m["layers"][2].update(nonzeros=5)),
     r"layers\[2\] \(fc1\).nonzeros'=5; expected \d+ \(counted in 'fc1.weight'\)"),
    (_set(["layers", 2, "nonzeros"], 5), r"field 'totals.nonzeros'=\d+; expected \d+ \(the sum of the layers'"),
    (_set(["layers", 2, "quantizer", "zero_level"], "false"), r"fc1\).quantizer.zero_level'='false'; allowed"),
    (lambda m: (m["layers"][2]["quantizer"].update(scale=0.123), m["layers"][2].update(levels=None)),
     r"fc1.weight' holds .*not a level of manifest layers\[2\]"),
    (_set(["layers", 2, "quantizer", "scale"], 0.123), r"fc1\).levels'=\[.*; expected the 15 levels of quantizer"),
    (_set(["layers", 2, "quantizer", "scale"], 10 ** 400), r"fc1\).quantizer.scale'=1000.*; allowed: a finite number"),
    (_set(["layers", 3, "levels"], [0.5, 1.0]), r"fc2\).levels'=\[0.5, 1.0\]; expected the 2 levels"),
    (_set(["layers", 0, "name"], "conv0"), r"no tensor 'conv0.weight' for manifest layers\[0\]"),
    (_set(["model", "name"], "lenet5"), r"model.input_shape'=\[1, 8, 8\]; expected \[1, 28, 28\]"),
    (_set(["model", "num_classes"], 7), r"fc2\).weight_shape'=\[10, 32\]; expected \[7, 32\] \(zoo model"),
    (_set(["model", "num_classes"], 10 ** 12), r"model.num_classes'=1000000000000; allowed: an integer"),
    (_set(["model", "factory"], "os.system('x')"), r"model.factory'=\"os.system\('x'\)\"; allowed: null or"),
    (_set(["layers", 1, "has_bias"], True), r"conv2\).has_bias'=True; expected False \(zoo model 'digits_cnn'\)"),
]


@pytest.mark.parametrize("edit, pattern", MISMATCHES)
def test_a_manifest_that_disagrees_with_its_weights_is_refused(zoo_art, tmp_path, edit, pattern):
    path = _edited(zoo_art, tmp_path / "a", edit)
    with pytest.raises(ArtifactError, match=pattern) as e:
        from_artifact(path)
    assert "\n" not in str(e.value) and len(str(e.value)) < 400
    with pytest.raises(ArtifactError, match=pattern):
        load_artifact(path)


def test_mismatch_is_one_cli_line_exit_2(zoo_art, tmp_path, capsys):
    path = _edited(zoo_art, tmp_path / "a", _set(["layers", 1, "gemm", "N"], 1))
    assert main(["simulate", str(path), "--hw", "eyeriss_like", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sparsesim simulate: error: ") and "gemm.N'=1" in err[0]


def test_a_user_models_geometry_is_checked_without_its_code(user_art, tmp_path):
    path = _edited(user_art, tmp_path / "a", _set(["layers", 0, "gemm", "N"], 1))
    with pytest.raises(ArtifactError, match=r"layers\[0\] \(conv\).gemm.N'=1; expected 16"):
        from_artifact(path)
    with pytest.raises(ArtifactError, match=r"tensor 'conv.weight' holds .* not a level"):
        from_artifact(_edited(user_art, tmp_path / "b", lambda m: (m["layers"][0]["quantizer"].update(scale=0.77),
                                                                   m["layers"][0].update(levels=None))))


def test_unknown_layer_names_in_a_request_are_errors(zoo_art):
    with pytest.raises(WorkloadError, match="layers names layer 'nope'"):
        from_artifact(zoo_art, layers=["nope"])
    assert [w.name for w in from_artifact(zoo_art, layers=["fc2"])] == ["fc2"]


# ------------------------------------------------------------ bounded reads
@pytest.mark.parametrize("name", ["weights.safetensors", "manifest.json"])
def test_a_link_to_dev_zero_is_refused_at_once(zoo_art, tmp_path, name):
    path = _edited(zoo_art, tmp_path / "a")
    (path / name).unlink()
    os.symlink("/dev/zero", path / name)
    t = time.monotonic()
    with pytest.raises(ArtifactError, match=f"{name}: not a regular file"):
        read_artifact(path)
    assert time.monotonic() - t < 1.0


def test_size_caps(zoo_art, tmp_path, monkeypatch):
    monkeypatch.setattr(artifact_read, "MAX_WEIGHTS_BYTES", 1000)
    with pytest.raises(ArtifactError, match=r"weights.safetensors: [\d,]+ bytes; allowed: at most 1,000"):
        read_artifact(zoo_art)
    monkeypatch.setattr(artifact_read, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(ArtifactError, match=r"manifest.json: [\d,]+ bytes; allowed: at most 100"):
        read_manifest(zoo_art)


@pytest.mark.parametrize("cut, pattern", [
    (lambda b: b[:-100], r"truncated: tensor '.*' ends at data byte"),
    (lambda b: b[:5], r"5 bytes: truncated"),
    (lambda b: b[:200], r"header of [\d,]+ bytes but the file has 200"),
    (lambda b: b + b"x", r"1 bytes after the last tensor"),
    (lambda b: (999).to_bytes(8, "little") + b"{" * 999 + b[1007:], r"unreadable safetensors header"),
    (lambda b: b"", r"0 bytes: truncated"),
])
def test_truncated_or_garbled_weights_are_named(zoo_art, tmp_path, cut, pattern):
    path = _edited(zoo_art, tmp_path / "a")
    w = path / "weights.safetensors"
    w.write_bytes(cut(w.read_bytes()))
    with pytest.raises(ArtifactError, match=r"weights.safetensors: " + pattern):
        read_artifact(path)


@pytest.mark.parametrize("raw, pattern", [
    ('{"format": ', r"not valid JSON: Expecting value at line 1 column 12"),
    ('{"version": 1, "version": 1}', r"not a usable JSON manifest: duplicate key 'version'"),
    ("[" * 100000, r"manifest.json: not "),
    ("[]", r"a manifest is a JSON object, not list"),
    ('{"a": "\udcff"}', r"manifest.json: not UTF-8 text"),
])
def test_malformed_manifests_are_one_line(zoo_art, tmp_path, raw, pattern):
    path = _edited(zoo_art, tmp_path / "a")
    (path / "manifest.json").write_bytes(raw.encode("utf-8", "surrogateescape"))
    with pytest.raises(ArtifactError, match=pattern):
        read_artifact(path)


def test_topology_files_are_bounded_and_malformed_rows_named(tmp_path):
    os.symlink("/dev/zero", tmp_path / "z.csv")
    with pytest.raises(TopologyError, match="z.csv: not a regular file"):
        read_topology(tmp_path / "z.csv")
    head = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    (tmp_path / "big.csv").write_text(head + 'c1, "' + "9" * 200000 + '", 10, 3, 3, 4, 8, 1,\n')
    with pytest.raises(TopologyError, match=r"big.csv: line 2: not CSV"):
        read_topology(tmp_path / "big.csv")
    (tmp_path / "dp.csv").write_text(head + "DPw, 10, 10, 3, 3, 1000000, 8, 1,\n")
    with pytest.raises(TopologyError, match=r"dp.csv: line 2: more than 65,536 layers"):
        read_topology(tmp_path / "dp.csv")
    (tmp_path / "huge.csv").write_text("Layer, M, N, K,\ng, 1, 1000000, 100000,\n")
    with pytest.raises(TopologyError, match=r"huge.csv: line 2: the layers up to here hold 100,000,000,000 weights"):
        read_topology(tmp_path / "huge.csv")
    (tmp_path / "s.csv").write_text("Layer, M, N, K, Sparsity\ng, 4, 4, 4, \u00b2:4\n")
    with pytest.raises(TopologyError, match=r"s.csv: line 2: field 'Sparsity'="):
        read_topology(tmp_path / "s.csv")


# ------------------------------------------------------------- fuzzed manifests
def _paths(obj, prefix=()):
    """Every key/index path of a manifest, except the elements of long level lists."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list) and len(obj) <= 8:
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


WEIRD = [None, True, False, 0, 1, -1, 2, 3, 7, 10 ** 9, 2 ** 70, 0.5, 1.5, float("nan"), float("inf"), "", "x",
         "1", [], {}, [1], [1, 1], [8, 8], [64, 32, 3, 3], {"M": 1}, "os:abort"]


@st.composite
def mutations(draw, manifest):
    paths = _paths(manifest)
    kind = draw(st.sampled_from(["set", "drop", "swap_dims", "dup_layer", "drop_layer", "swap_layers", "scale"]))
    if kind in ("set", "drop", "scale"):
        path = draw(st.sampled_from(paths))
        value = draw(st.sampled_from(WEIRD)) if kind == "set" else None
        return kind, path, value
    i = draw(st.integers(0, len(manifest["layers"]) - 1))
    j = draw(st.integers(0, len(manifest["layers"]) - 1))
    pair = draw(st.sampled_from([("M", "K"), ("M", "N"), ("K", "N")]))
    return kind, (i, j), pair


def _apply(m, mutation):
    kind, where, value = mutation
    layers = m["layers"]
    if kind in ("set", "drop", "scale"):
        obj = m
        for k in where[:-1]:
            obj = obj[k]
        last = where[-1]
        if kind == "set":
            obj[last] = value
        elif kind == "drop":
            del obj[last]
        elif isinstance(obj[last], (int, float)) and not isinstance(obj[last], bool):
            obj[last] = obj[last] * 2
        else:
            obj[last] = [obj[last], obj[last]]
    elif kind == "swap_dims":
        g = layers[where[0]]["gemm"]
        g[value[0]], g[value[1]] = g[value[1]], g[value[0]]
    elif kind == "dup_layer":
        layers.insert(where[1], json.loads(json.dumps(layers[where[0]])))
    elif kind == "drop_layer":
        layers.pop(where[0])
    else:
        layers[where[0]], layers[where[1]] = layers[where[1]], layers[where[0]]


def _fuzz(base, tmp_path_factory, data):
    manifest = json.loads((base / "manifest.json").read_text())
    reference = _costs(base)
    mutation = data.draw(mutations(manifest))
    _apply(manifest, mutation)
    path = tmp_path_factory.mktemp("fuzz")
    shutil.copy(base / "weights.safetensors", path / "weights.safetensors")
    (path / "manifest.json").write_text(json.dumps(manifest))
    try:
        costs = _costs(path)
    except (ArtifactError, WorkloadError) as e:
        assert "\n" not in str(e) and len(str(e)) < 600, str(e)
        return
    assert costs == reference, mutation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_zoo_manifests_price_identically_or_are_refused(zoo_art, tmp_path_factory, data):
    _fuzz(zoo_art, tmp_path_factory, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_user_manifests_price_identically_or_are_refused(user_art, tmp_path_factory, data):
    _fuzz(user_art, tmp_path_factory, data)


# ------------------------------------------------------------------- CIFAR
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _cifar(d, protocol=4, n=3):
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        batch = {b"batch_label": b"x", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)], b"filenames": [b"a.png"] * n,
                 b"np_labels": rng.integers(0, 10, n)}
        (d / name).write_bytes(pickle.dumps(batch, protocol=protocol))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batches_load_through_the_restricted_unpickler(tmp_path, protocol):
    _cifar(tmp_path, protocol)
    ds = load_cifar10(tmp_path)
    assert ds.train_x.shape == (3, 3, 32, 32) and ds.test_y.shape == (3,)


@pytest.mark.parametrize("payload, refused", [
    (lambda marker: _Evil(marker), r"refused pickle global (posix|os|nt)\.system"),
    (lambda marker: {b"data": np.array([_Evil(marker)], dtype=object), b"labels": []},
     r"(refused pickle global|not a CIFAR-10 python batch \(UnpicklingError: object dtype refused)"),
    (lambda marker: {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": shutil.rmtree},
     r"refused pickle global shutil.rmtree"),
])
def test_a_malicious_cifar_pickle_is_refused_unrun(tmp_path, payload, refused):
    marker = tmp_path / "ran"
    _cifar(tmp_path / "c")
    (tmp_path / "c" / "data_batch_1").write_bytes(pickle.dumps(payload(marker)))
    with pytest.raises(DataError, match=r"data_batch_1: " + refused):
        load_cifar10(tmp_path / "c")
    assert not marker.exists()


@pytest.mark.parametrize("blob, pattern", [
    (b"garbage", r"not a CIFAR-10 python batch \(UnpicklingError"),
    (pickle.dumps([1, 2]), r"not a CIFAR-10 python batch \(TypeError"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), r"2 images, labels of shape \(1,\)"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}), r"in 0..9 expected"),
])
def test_malformed_cifar_batches_are_data_errors(tmp_path, blob, pattern):
    _cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(blob)
    with pytest.raises(DataError, match=pattern):
        load_cifar10(tmp_path)


def test_cifar_batch_that_is_a_device_is_refused(tmp_path):
    _cifar(tmp_path)
    (tmp_path / "test_batch").unlink()
    os.symlink("/dev/zero", tmp_path / "test_batch")
    with pytest.raises(DataError, match="test_batch: not a regular file"):
        load_cifar10(tmp_path)


def test_math_sanity_of_reference_costs(zoo_art):
    assert all(math.isfinite(c) for row in _costs(zoo_art) for c in row[1:])


class SamePadded(nn.Module):
    """String paddings: 'same' with an even kernel pads one more after than before; 'valid' pads nothing."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 2, padding="same")
        self.b = nn.Conv2d(2, 2, 3, padding="valid")
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.b(self.a(x)), 1))


def test_string_paddings_are_resolved_and_validated(tmp_path):
    model = SamePadded().eval()
    path = save_artifact(tmp_path / "a", model, model_name=None, constraints={}, example=torch.zeros(1, 1, 6, 6),
                         extra={"dataset": "digits"}, log_rows=[])
    layers = {e["name"]: e for e in read_artifact(path).manifest["layers"]}
    assert layers["a"]["padding"] == [0, 0] and layers["a"]["padding_end"] == [1, 1]
    assert layers["a"]["output_hw"] == [6, 6]
    assert layers["b"]["padding"] == [0, 0] and "padding_end" not in layers["b"]
    convs = [w for w in from_artifact(path) if w.name in ("a", "b")]
    assert [tuple(w.geometry["output_hw"]) for w in convs] == [(6, 6), (4, 4)]


def test_a_level_stored_as_neighbouring_float32_values_is_one_level(zoo_art, tmp_path):
    """ADMM's retrained 4-bit layers can store the top level as 2-3 adjacent float32 values (seen on a real
    LeNet-5 probe: 18 distinct values for 15 levels); they count as one level, and off-grid values stay refused."""
    path = _edited(zoo_art, tmp_path / "a")
    state = load_file(str(path / "weights.safetensors"))
    w = state["conv2.weight"].clone()
    top = w.abs().max()
    at = w.abs() == top
    w[at] = torch.nextafter(w[at], torch.zeros_like(w[at]))   # one ulp below the level, same sign
    w[at.nonzero()[0].unbind()] = w[at.nonzero()[0].unbind()] * (1 + 2 ** -23)   # and one beside it
    from safetensors.torch import save_file
    save_file({**state, "conv2.weight": w.contiguous()}, str(path / "weights.safetensors"))
    read_artifact(path)
    w[at] = w[at] * 1.01
    save_file({**state, "conv2.weight": w.contiguous()}, str(path / "weights.safetensors"))
    with pytest.raises(ArtifactError, match="not a level"):
        read_artifact(path)


@pytest.mark.parametrize("value", [True, 3, [2], [2, 4, 8], ["2", "4"], [0, 4], [2.0, 4]])
def test_a_manifests_nm_or_block_field_of_the_wrong_shape_is_refused(zoo_art, tmp_path, value):
    """Found by the fuzz test above: sparsity.nm = true reached the simulator as a TypeError."""
    import shutil

    from pruning.artifact import ArtifactError, read_manifest

    art = tmp_path / "a"
    shutil.copytree(zoo_art, art)
    m = json.loads((art / "manifest.json").read_text())
    for key in ("nm", "block"):
        m["layers"][0]["sparsity"][key] = value
        (art / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(ArtifactError, match=f"sparsity.{key}"):
            read_manifest(art)
        del m["layers"][0]["sparsity"][key]


def test_a_number_past_float64s_range_anywhere_is_refused_in_one_line(zoo_art, tmp_path):
    """Found while moving the reader (issue 25): 10**400 as achieved_ratio, a level, sparsity.ratio,
    totals.compression or a quantizer's scale raised OverflowError (exit 1, a traceback's last line) instead of
    naming the field."""
    base = json.loads((zoo_art / "manifest.json").read_text())
    numbers = [p for p in _paths(base) if _at(base, p) is not True and _at(base, p) is not False
               and isinstance(_at(base, p), (int, float))]
    numbers += [p + (0,) for p in _paths(base) if isinstance(_at(base, p), list) and len(_at(base, p)) > 8]
    path = _edited(zoo_art, tmp_path / "a")
    refused = set()
    for p in numbers:
        m = json.loads(json.dumps(base))
        _at(m, p[:-1])[p[-1]] = 10 ** 400
        (path / "manifest.json").write_text(json.dumps(m))
        try:
            read_artifact(path)
        except ArtifactError as e:
            assert "\n" not in str(e) and len(str(e)) < 400
            refused.add(p[-1] if isinstance(p[-1], str) else p[-2])
    assert {"achieved_ratio", "levels", "ratio", "compression", "scale"} <= refused


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj
