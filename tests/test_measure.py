"""Real CPU/GPU runner: equal outputs, statistics on a fake timer, GPU paths skipped without CUDA."""

import pytest
import torch
from torch import nn

from analysis.bench import break_even, sweep_ratio
from sparsesim.measured import csr_model, evaluate_measured, run_layer
from sparsesim.stopwatch import MeasureError, WallTimer, summarize, time_fn
from sparsecodesign.cli import main
from pruning.constraint import Constraint
from pruning.models import build_model
from pruning.structures import Structure


def _pruned(layer, kind, ratio):
    with torch.no_grad():
        layer.weight.copy_(Constraint(Structure(kind, ratio)).project(layer.weight)[0])
    return layer


class FakeClock:
    """Each measured call advances the clock by the next scripted duration."""

    def __init__(self, durations):
        self.durations = list(durations)
        self.now = 0.0
        self.reads = 0

    def __call__(self):
        self.reads += 1
        if self.reads % 2 == 0:  # end of a measurement
            self.now += self.durations.pop(0)
        return self.now


def test_statistics_on_a_fake_timer():
    calls = []
    t = time_fn(lambda: calls.append(1), WallTimer(FakeClock([5, 1, 3, 2, 4])), repeats=5, warmup=2)
    assert len(calls) == 7  # warm-up runs are executed but not timed
    assert (t.median_s, t.min_s, t.p25_s, t.p75_s, t.repeats, t.warmup) == (3, 1, 2, 4, 5, 2)
    assert t.spread == pytest.approx(2 / 3)
    assert summarize([2.0], 0).median_s == 2.0
    with pytest.raises(MeasureError):
        summarize([], 0)


@pytest.mark.parametrize("kind", ["nonstructured", "filter", "channel", "column"])
def test_conv_variants_give_equal_outputs(kind):
    torch.manual_seed(0)
    conv = _pruned(nn.Conv2d(16, 32, 3, padding=1, stride=2), kind, 0.5)
    runs = run_layer("c", conv, torch.randn(2, 16, 9, 9), "cpu", repeats=2, warmup=1)
    assert {r.variant for r in runs} == {"dense", "dense_gemm", "csr", "coo", "compact"}
    assert all(r.max_abs_err < 1e-4 for r in runs)


def test_linear_variants_and_whole_model_equal():
    torch.manual_seed(0)
    lin = _pruned(nn.Linear(64, 48), "filter", 0.5)
    runs = {r.variant: r for r in run_layer("l", lin, torch.randn(3, 64), "cpu", repeats=2, warmup=1)}
    assert "mm 24x64" in runs["compact"].note
    model = build_model("lenet5").eval()
    _pruned(model.conv2, "filter", 0.5)
    _pruned(model.fc1, "nonstructured", 0.9)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(csr_model(model)(x), model(x), atol=1e-4)
    rows = evaluate_measured(model, (1, 28, 28), batches=(1,), repeats=2, log=lambda s: None).rows()
    assert {r["format"] for r in rows if r["layer"] == "MODEL"} == {"dense", "compact", "csr"}
    assert {"layer", "hardware", "format", "latency_s", "utilization"} <= set(rows[0])


def test_break_even_interpolates():
    assert break_even([0.5, 0.7, 0.9], [0.4, 0.8, 1.6]) == pytest.approx(0.7 + 0.2 * 0.2 / 0.8)
    assert break_even([0.5, 0.9], [1.2, 3.0]) == 0.5
    assert break_even([0.5, 0.9], [0.2, 0.5]) is None


def test_sweep_ratio_rows():
    rows = sweep_ratio(nn.Linear(64, 64), torch.randn(4, 64), "column", [0.5, 0.75], repeats=2)
    assert [r["ratio"] for r in rows] == [0.5, 0.75]
    assert {"csr_speedup", "compact_speedup", "ideal_speedup"} <= set(rows[0])


def test_gpu_request_without_cuda_is_skipped_with_message(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the skip path does not apply")
    assert main(["bench", str(tmp_path), "--device", "cuda", "--out", str(tmp_path / "o")]) == 0
    assert "no CUDA device" in capsys.readouterr().out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_variants_equal_outputs():
    torch.manual_seed(0)
    lin = nn.Linear(128, 128).cuda()
    with torch.no_grad():
        w = lin.weight.reshape(128, 32, 4)
        w[..., 2:] = 0
    runs = {r.variant for r in run_layer("l", lin, torch.randn(64, 128, device="cuda"), "cuda", repeats=3)}
    assert {"dense", "csr", "compact"} <= runs
