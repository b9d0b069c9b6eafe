"""One rule for a weight bit-width (``pruning.weight_bits``: 1..16 quantized, or 32 float), one sentence when it is
refused: the command line (``simulate --bits``, ``compare --bits``), the API (``sc.simulate(bits=)``,
``sc.compare({"bits": ...})``) and the configs (compare, pruning layer, sweep workload, artifact manifest) all say
``bits=40; allowed: 1..16 (quantized) or 32 (float)`` (argparse words it ``argument --bits: 40; allowed: ...``, the
pruning config names its fields ``field 'bits'=40; ...`` as all its messages do)."""

from __future__ import annotations

import re

import pytest

import sparsecodesign as sc
from analysis.compare_config import CompareConfig, CompareError
from pruning.config import ConfigError, PruneConfig
from pruning.weight_bits import ALLOWED_BITS, FLOAT_BITS, QUANT_BITS, BitsError, check_weight_bits, is_weight_bits
from sparsecodesign.cli import main

TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "conv1, 8, 8, 3, 3, 1, 4, 1,\n")
SENTENCE = "; allowed: 1..16 (quantized) or 32 (float)"


def test_the_rule():
    assert ALLOWED_BITS == SENTENCE.removeprefix("; allowed: ")
    assert [b for b in range(-1, 40) if is_weight_bits(b)] == [*QUANT_BITS, FLOAT_BITS]
    for bad in (0, 17, 31, 33, True, 8.0, "8", None):
        with pytest.raises(BitsError, match=re.escape(SENTENCE)):
            check_weight_bits(bad)
    assert check_weight_bits(8) == 8 and type(check_weight_bits(__import__("numpy").int64(4))) is int


def test_the_command_line_refuses_with_the_sentence(capsys, tmp_path):
    assert main(["simulate", "--bits", "40"]) == 2
    assert f"argument --bits: 40{SENTENCE}" in capsys.readouterr().err
    # compare's --bits is checked by its config, the line its YAML field and sc.compare get (test_compare_stages)
    assert main(["compare", "--bits", "40", "--out", str(tmp_path / "out")]) == 2
    assert f"compare config: bits=40{SENTENCE}" in capsys.readouterr().err


def test_the_api_refuses_with_the_sentence(tmp_path):
    (tmp_path / "t.csv").write_text(TOPOLOGY)
    with pytest.raises(sc.InputError, match=re.escape(f"simulate: bits=40{SENTENCE}")):
        sc.simulate(tmp_path / "t.csv", bits=40)
    with pytest.raises(CompareError, match=re.escape(f"compare config: bits=40{SENTENCE}")):
        sc.compare({"bits": 40}, tmp_path / "out", log=lambda s: None)
    assert not (tmp_path / "out").exists()


def test_the_configs_refuse_with_the_sentence(tmp_path):
    with pytest.raises(CompareError, match=re.escape(f"compare config: bits=40{SENTENCE}")):
        CompareConfig.from_dict({"bits": 40})
    with pytest.raises(CompareError, match=re.escape(f"breakeven_bits has 40; allowed: bit-widths {ALLOWED_BITS}")):
        CompareConfig.from_dict({"bits": 8, "breakeven_bits": [8, 40]})
    with pytest.raises(ConfigError, match=re.escape(f"layer 'fc1': field 'bits'=40{SENTENCE}")):   # its house form
        PruneConfig.from_dict({"layers": {"fc1": {"ratio": 0.5, "bits": 40}}})


def test_a_pruning_layer_at_32_bits_is_float():
    """32 means float on every face, a pruning config's layer too (no quantizer), as ``bits: null`` does."""
    spec = dict(PruneConfig.from_dict({"layers": {"fc1": {"ratio": 0.5, "bits": 32}}}).layers)["fc1"]
    assert spec.bits is None and spec.constraint("fc1").quantizer is None


# ------------------------------------------------------------- the report prices the artifact's widths
def _artifact(tmp_path, widths: dict[str, int | None]):
    """A digits_cnn artifact whose layers hold ``widths`` (None: float), weights left as built."""
    import torch

    from pruning.artifact import save_artifact
    from pruning.constraint import Constraint
    from pruning.models import build_model
    from pruning.quantizers import Quantizer
    from pruning.structures import Structure

    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    modules = dict(model.named_modules())
    fitted = {}
    with torch.no_grad():
        for name, bits in widths.items():
            c = Constraint(Structure("nonstructured", 0.5), None if bits is None else Quantizer("uniform", bits))
            fitted[name] = c.fit(modules[name].weight)
            modules[name].weight.copy_(fitted[name].project(modules[name].weight)[0])
    return save_artifact(tmp_path, model, model_name="digits_cnn", constraints=fitted,
                         example=torch.zeros(1, 1, 8, 8), extra={"dataset": "digits"}, log_rows=[])


@pytest.mark.parametrize("widths, weight_bits, mixed, text", [
    ({"conv1": 4, "conv2": 4, "fc1": 4, "fc2": 4}, 4, "", "4-bit"),     # one width, not the config's 8
    ({"conv1": 4, "conv2": 8, "fc1": 8, "fc2": 8}, 8, "4..8", "mixed 4..8-bit"),
])
def test_priced_rows_carry_the_artifacts_bits_not_the_configs(tmp_path, widths, weight_bits, mixed, text):
    from accel_models.hardware import load_accelerator
    from analysis.report import priced_bits
    from analysis.report_data import _sim_rows, chosen_model
    from analysis.stats import Accuracy
    from pruning.artifact import read_manifest

    path = _artifact(tmp_path / "a", widths)
    assert {e["name"]: e["bits"] for e in read_manifest(path)["layers"]} == widths
    cfg = CompareConfig(bits=8, workloads="modules")
    acc = Accuracy.from_fraction(0.9, 100)
    chosen = chosen_model("nonstructured", 0.5, path, acc, acc, acc, 1.0, acc)
    rows, _ = _sim_rows(cfg, chosen, [load_accelerator("eyeriss_like")], None)
    assert [(r.weight_bits, r.weight_bits_mixed) for r in rows] == [(weight_bits, mixed)]
    assert priced_bits({"rows": [r.as_row() for r in rows], "config": cfg.to_dict()}) == text
    dense_row = {**rows[0].as_row(), "structure": "dense", "weight_bits": 32, "weight_bits_mixed": ""}
    assert priced_bits({"rows": [dense_row, *(r.as_row() for r in rows)], "config": cfg.to_dict()}) == f"dense 32-bit, non-structured {text}"
