"""Distillation during masked retraining: the loss, the teacher the job keeps, resume, and config bounds."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file
from torch.nn import functional as F

from pruning.checkpoint import load_checkpoint
from pruning.config import ConfigError, PruneConfig
from pruning.distill import distill_loss
from pruning.models import build_model
from pruning.pipeline import run_prune

TINY = {
    "seed": 3, "pretrain_epochs": 2, "retrain_epochs": 2,
    "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 32},
    "admm": {"schedule": [1.0], "rounds": 2, "epochs_per_round": 1, "rho": 0.05},
    "layers": {"fc1": {"type": "nonstructured", "ratio": 0.9}, "fc2": {"type": "nonstructured", "ratio": 0.5}},
    "distill": {"weight": 0.7, "temperature": 3.0},
}


def _run(data, out, cfg=TINY, **kw):
    torch.manual_seed(0)
    return run_prune(build_model("digits_cnn"), data, PruneConfig.from_dict(cfg), out, model_name="digits_cnn",
                     progress=False, log=lambda s: None, **kw)


logits = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-20, 20), min_size=n * 4, max_size=n * 4),
    st.lists(st.floats(-20, 20), min_size=n * 4, max_size=n * 4),
    st.lists(st.integers(0, 3), min_size=n, max_size=n)))


@settings(max_examples=60, deadline=None)
@given(logits, st.floats(0.01, 1.0), st.floats(0.5, 20.0))
def test_the_soft_term_is_a_nonnegative_kl_that_vanishes_when_student_equals_teacher(data, weight, temperature):
    s, t, y = data
    s = torch.tensor(s, dtype=torch.float64).reshape(len(y), 4)
    t = torch.tensor(t, dtype=torch.float64).reshape(len(y), 4)
    y = torch.tensor(y)
    hard = F.cross_entropy(s, y)
    assert distill_loss(s, t, y, weight, temperature) >= (1 - weight) * hard - 1e-9
    assert torch.isclose(distill_loss(s, s, y, weight, temperature), (1 - weight) * hard, atol=1e-9)


def test_the_soft_term_matches_the_written_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
    y = torch.randint(0, 10, (5,), generator=g)
    T = 4.0
    p_t = torch.softmax(t / T, 1)
    kl = (p_t * (p_t.log() - torch.log_softmax(s / T, 1))).sum(1).mean()
    want = 0.25 * F.cross_entropy(s, y) + 0.75 * T * T * kl
    assert torch.isclose(distill_loss(s, t, y, 0.75, T), want, rtol=1e-5)


def test_the_job_distils_from_the_dense_weights_and_resumes_to_the_same_result(tiny_digits, tmp_path):
    full = _run(tiny_digits, tmp_path / "full")
    plain = _run(tiny_digits, tmp_path / "plain", cfg={k: v for k, v in TINY.items() if k != "distill"})
    a, p = load_file(tmp_path / "full" / "weights.safetensors"), load_file(tmp_path / "plain" / "weights.safetensors")
    assert not torch.equal(a["fc1.weight"], p["fc1.weight"])  # the soft term changed retraining
    assert full.dense_accuracy == plain.dense_accuracy        # ... and nothing before it

    class Kill(Exception):
        pass

    out, count = tmp_path / "killed", {"n": 0}

    def on_unit(unit):
        count["n"] += 1
        if count["n"] == 6:  # after the first retraining epoch
            raise Kill()

    with pytest.raises(Kill):
        _run(tiny_digits, out, on_unit=on_unit)
    teacher = load_checkpoint(out / "checkpoint.pt")["state"]["teacher"]
    dense_fc1 = teacher["fc1.weight"]
    assert (dense_fc1 == 0).float().mean() < 0.5   # the teacher is the dense model, not the pruned one
    _run(tiny_digits, out, resume=True)
    b = load_file(out / "weights.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_given_teacher_is_used_and_needs_a_distill_section(tiny_digits, tmp_path):
    torch.manual_seed(1)
    other = build_model("digits_cnn")
    own = _run(tiny_digits, tmp_path / "own")
    given_ = _run(tiny_digits, tmp_path / "given", teacher=other)
    assert own.dense_accuracy == given_.dense_accuracy
    assert not torch.equal(load_file(tmp_path / "own" / "weights.safetensors")["fc1.weight"],
                           load_file(tmp_path / "given" / "weights.safetensors")["fc1.weight"])
    with pytest.raises(ConfigError, match="no 'distill' section"):
        _run(tiny_digits, tmp_path / "x", cfg={k: v for k, v in TINY.items() if k != "distill"}, teacher=other)


@pytest.mark.parametrize("bad, message", [
    ({"weight": 0}, r"distill: field 'weight'=0; allowed: a finite number in \(0, 1\]"),
    ({"weight": 1.5}, r"'weight'=1.5"),
    ({"temperature": 0}, r"'temperature'=0"),
    ({"temperature": 101}, r"'temperature'=101"),
    ({"alpha": 0.5}, r"distill: unknown field"),
    ("yes", r"distill: expected a mapping"),
])
def test_bad_distill_sections_get_one_line(bad, message):
    with pytest.raises(ConfigError, match=message):
        PruneConfig.from_dict({"distill": bad})


def test_absent_distill_leaves_old_configs_unchanged():
    assert "distill" not in PruneConfig.from_dict({}).to_dict()
    assert PruneConfig.from_dict({"distill": None}).distill is None
    assert PruneConfig.from_dict({"distill": {}}).to_dict()["distill"] == {"weight": 0.5, "temperature": 4.0}
