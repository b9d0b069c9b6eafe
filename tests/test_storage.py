"""Weight storage priced in the simulator's formats (index, pointer and padding bits included), beside the
nominal figures (weights / nonzeros; nonzeros x bits), each labelled."""

from __future__ import annotations

import numpy as np
import pytest

from pruning.artifact import storage_headline
from sparsesim.formats import encode
from sparsesim.storage import price_storage


def _sparse(rng, m, k, nnz):
    w = np.zeros(m * k, dtype=np.float32)
    w[rng.choice(m * k, nnz, replace=False)] = rng.standard_normal(nnz).astype(np.float32) + 3
    return w.reshape(m, k)


def test_priced_storage_counts_index_and_pointer_bits_exactly():
    rng = np.random.default_rng(0)
    layers = {"a": (_sparse(rng, 50, 500, 400), 4), "b": (_sparse(rng, 10, 50, 300), 32)}
    s = price_storage(layers)
    assert s["reference_bits"] == 32 * (50 * 500 + 10 * 50)
    assert s["value_bits"] == 400 * 4 + 300 * 32
    for fmt in ("csr", "bitmask", "coo", "relative"):   # the whole model in one format: the encoders' exact bits
        want = sum(encode(w, fmt, b).total_bits for w, b in layers.values())
        assert s["formats"][fmt]["bits"] == want
        assert s["formats"][fmt]["reduction"] == pytest.approx(s["reference_bits"] / want)
    per_layer = {n: min((encode(w, f, b).total_bits, f) for f in ("dense", "bitmask", "csr", "csc", "coo",
                                                                    "relative", "bcsr", "compact"))
                 for n, (w, b) in layers.items()}
    assert s["cheapest"]["bits"] == sum(v[0] for v in per_layer.values())
    assert s["cheapest"]["per_layer"] == {n: v[1] for n, v in per_layer.items()}
    assert s["cheapest"]["bits"] > s["value_bits"]                   # index bits are never free
    assert s["cheapest"]["reduction"] < s["nominal_reduction"]
    assert "nm" not in s["formats"]                                  # a format a layer cannot hold is left out


def test_headline_prints_priced_storage_beside_the_labelled_nominal_figures():
    rng = np.random.default_rng(1)
    w = _sparse(rng, 100, 400, 100)
    s = price_storage({"fc": (w, 4)})
    totals = {"weights": w.size, "nonzeros": 100, "compression": w.size / 100, "storage": s}
    text = storage_headline(totals)
    assert f"storage {s['cheapest']['reduction']:.1f}x with index/pointer bits" in text
    assert "400.0x fewer weights (nominal" in text and f"{s['nominal_reduction']:.0f}x in value bits" in text
    bare = storage_headline({"weights": 1000, "nonzeros": 10, "compression": 100.0})
    assert bare.startswith("100.0x fewer weights (nominal: weights / nonzeros, no index bits)")
    assert not bare.startswith("compression")


def test_prune_keeps_priced_storage_in_the_manifest_and_says_it(tiny_digits, tmp_path):
    from pruning.artifact import read_artifact
    from pruning.config import PruneConfig
    from pruning.models import build_model
    from pruning.pipeline import run_prune

    cfg = {"seed": 1, "pretrain_epochs": 1, "retrain_epochs": 0, "admm": {"rounds": 1, "rho": 0.01},
           "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 64},
           "layers": {"fc1": {"type": "nonstructured", "ratio": 0.9, "bits": 4}}}
    lines = []
    res = run_prune(build_model("digits_cnn"), tiny_digits, PruneConfig.from_dict(cfg), tmp_path, progress=False,
                    log=lines.append, storage=price_storage)
    art = read_artifact(tmp_path)          # its storage counts checked against the layers (read_manifest)
    layers = {e["name"]: (art.weights[e["name"]].reshape(e["weight_shape"][0], -1), e["bits"])
              for e in art.manifest["layers"]}
    assert art.manifest["totals"]["storage"] == price_storage(layers)
    assert res.manifest["totals"]["storage"]["cheapest"]["per_layer"]["fc1"] in ("csr", "csc", "bitmask", "coo",
                                                                                   "relative", "bcsr", "compact")
    assert lines[-1].startswith("accuracy ") and storage_headline(res.manifest["totals"]) in lines[-1]


def test_the_api_prices_storage(monkeypatch, tiny_digits, tmp_path):
    import sparsecodesign as sc

    seen = {}
    monkeypatch.setattr("pruning.pipeline.run_prune", lambda *a, **k: seen.update(k))
    sc.prune("digits_cnn", tiny_digits, {"layers": {"fc1": {"ratio": 0.5}}}, tmp_path)
    assert seen["storage"] is price_storage


def test_a_manifest_whose_storage_disagrees_with_its_layers_is_refused(tiny_digits, tmp_path):
    import json

    from pruning.artifact import ArtifactError, read_manifest
    from pruning.config import PruneConfig
    from pruning.models import build_model
    from pruning.pipeline import run_prune

    cfg = {"seed": 1, "pretrain_epochs": 0, "retrain_epochs": 0, "admm": {"rounds": 1, "rho": 0.01},
           "layers": {"fc2": {"type": "nonstructured", "ratio": 0.5}}}
    run_prune(build_model("digits_cnn"), tiny_digits, PruneConfig.from_dict(cfg), tmp_path, progress=False,
              log=lambda s: None, storage=price_storage)
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["totals"]["storage"]["cheapest"]["reduction"] *= 2          # a headline that is not its bits
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="totals.storage.cheapest.reduction"):
        read_manifest(tmp_path)
