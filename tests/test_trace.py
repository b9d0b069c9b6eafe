"""sparsesim.trace: workloads from the traced computation, held to FlopCounterMode (the oracle: our MACs per aten op
== its FLOPs / 2, exactly) on the zoo at small shapes (benchmarks/trace_zoo.py runs the full ones)."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize, prune

from sparsesim.trace import TraceError, flop_counter_macs, trace_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import trace_zoo  # noqa: E402

ZOO = dict(trace_zoo.zoo(small=True))


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_macs_equal_flop_counter_per_op(name):
    trace, ref = trace_zoo.check(ZOO[name])
    assert trace.macs_by_op() == ref
    assert trace.unpriced == () and trace.priced_share == 1.0
    assert trace.vector_elements > 0


def _encoder_layer():
    return nn.TransformerEncoderLayer(64, 4, 256, batch_first=True).eval()


def test_linear_counts_every_token_and_attention_is_traced():
    """The issue's encoder: linear1 at 16 tokens is 64 x 256 x 16 = 262,144 MACs (not 16,384); the Q/K/V
    projections come from ``in_proj_weight``; score and context are activation x activation."""
    layer = _encoder_layer()
    with torch.no_grad():
        trace = trace_model(layer, torch.randn(1, 16, 64))
    by_weight = {g.weight: g for g in trace.gemms if g.weight}
    assert by_weight["linear1.weight"].macs == 262_144
    linear1 = by_weight["linear1.weight"]
    assert (linear1.M, linear1.K, linear1.N) == (256, 64, 16)
    assert by_weight["self_attn.in_proj_weight"].macs == 3 * 64 * 64 * 16
    kinds = {g.kind: g for g in trace.gemms if g.act_x_act}
    assert set(kinds) == {"attention_score", "attention_context"}
    assert (kinds["attention_score"].M, kinds["attention_score"].K, kinds["attention_score"].N,
            kinds["attention_score"].batch) == (16, 16, 16, 4)
    assert all(g.weight_matrix is None for g in kinds.values())
    vector = {v.op: v for v in trace.vector}
    assert vector["aten.native_layer_norm"].elements >= 2 * 16 * 64
    assert torch.backends.mha.get_fastpath_enabled()   # restored


def test_samples_split_columns_into_tokens_times_batch():
    lin = nn.Linear(8, 4)
    with torch.no_grad():
        g, = trace_model(lin, torch.randn(3, 5, 8), samples=3).gemms
    assert (g.M, g.K, g.N, g.batch, g.kind) == (4, 8, 5, 3, "linear")


def test_weight_operand_keeps_its_parameter_and_its_mask():
    """torch.nn.utils.prune (weight_orig x weight_mask) and a parametrization: the GEMM's weight is the
    parameter it derives from, and its (M, K) matrix holds the masked zeros."""
    net = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
    prune.l1_unstructured(net[0], "weight", amount=0.5)

    class Mask(nn.Module):
        def __init__(self, mask):
            super().__init__()
            self.register_buffer("mask", mask)

        def forward(self, w):
            return w * self.mask

    parametrize.register_parametrization(net[2], "weight", Mask((torch.rand(4, 8) > 0.5).float()))
    with torch.no_grad():
        g0, g2 = trace_model(net, torch.randn(2, 16)).gemms
    assert (g0.weight, g2.weight) == ("0.weight", "2.weight")
    assert torch.equal(g0.weight_matrix, net[0].weight) and int((g0.weight_matrix == 0).sum()) == 64
    assert torch.equal(g2.weight_matrix, net[2].weight)


def test_conv_geometry_and_transposed_weight_matrix():
    conv_t = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    with torch.no_grad():
        g, = trace_model(conv_t, torch.randn(1, 4, 5, 7)).gemms
    assert (g.kind, g.M, g.K, g.N, g.groups) == ("conv_transpose2d", 6, 2 * 9, 35, 2)
    # output channel 4 (group 1, its channel 1) reads input channels 2..3 of the weight's group 1
    assert torch.equal(g.weight_matrix[4].reshape(2, 9), conv_t.weight[2:4, 1].reshape(2, 9))
    dw = nn.Conv2d(8, 8, 3, groups=8, stride=2, padding=1)
    with torch.no_grad():
        g, = trace_model(dw, torch.randn(2, 8, 9, 9)).gemms
    assert (g.kind, g.M, g.K, g.N, g.batch, g.groups) == ("conv2d", 8, 9, 25, 2, 8)
    assert g.geometry["stride"] == [2, 2]


def test_einsum_and_functional_ops_reach_the_trace():
    w = nn.Parameter(torch.randn(6, 5))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = w

        def forward(self, x):
            y = torch.einsum("btk,nk->btn", x, self.w)            # weight GEMM via einsum's decomposition
            return torch.einsum("btn,bsn->bts", y, y)              # activation x activation

    net = Net()
    x = torch.randn(2, 3, 5)
    with torch.no_grad():
        trace = trace_model(net, x)
        ref = flop_counter_macs(net, x)
    assert trace.macs_by_op() == ref
    weighted = [g for g in trace.gemms if g.weight == "w"]
    assert weighted and sum(g.macs for g in weighted) == 2 * 3 * 5 * 6
    assert sum(g.macs for g in trace.gemms if g.act_x_act) == 2 * 3 * 6 * 3


def test_sdpa_kernel_formula_agrees_with_the_math_path():
    """The oracle maps torch's own formula for the flash kernel onto the CPU kernel; the math path (plain bmm,
    counted by FlopCounterMode's bmm formula alone) gives the same total."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = torch.randn(2, 4, 8, 16), torch.randn(2, 4, 12, 16), torch.randn(2, 4, 12, 16)

    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v)

    with torch.no_grad():
        fused = trace_model(Attn(), (q, k, v))
        with sdpa_kernel(SDPBackend.MATH):
            math = flop_counter_macs(Attn(), (q, k, v))
    assert fused.macs == sum(math.values()) == 2 * (2 * 4 * 8 * 16 * 12)


def test_matrix_vector_is_priced_where_flop_counter_counts_nothing():
    """``W @ v`` (aten.mv): FlopCounterMode has no formula and counts 0; we price it (a known gap of the oracle)."""
    class MV(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 6))

        def forward(self, v):
            return self.w @ v

    with torch.no_grad():
        trace = trace_model(MV(), torch.randn(6))
        ref = flop_counter_macs(MV(), torch.randn(6))
    assert trace.macs_by_op() == {"aten.mv": 24} and ref == {}
    assert trace.gemms[0].weight == "w"


def test_fused_kernel_is_listed_unpriced_with_unknown_share():
    mha = nn.MultiheadAttention(16, 2, batch_first=True)

    class Fused(nn.Module):
        def forward(self, x):
            return torch._native_multi_head_attention(x, x, x, 16, 2, mha.in_proj_weight, mha.in_proj_bias,
                                                      mha.out_proj.weight, mha.out_proj.bias, need_weights=False)[0]

    with torch.no_grad():
        trace = trace_model(Fused(), torch.randn(1, 4, 16))
    assert [u.op for u in trace.unpriced] == ["aten._native_multi_head_attention"]
    assert trace.unknown_unpriced == ("aten._native_multi_head_attention",)
    assert "share unknown" in trace.share_line()


def test_untraceable_model_names_the_op():
    class Bad(nn.Module):
        def forward(self, x):
            return torch.mm(x, torch.randn(3, 2))

    with pytest.raises(TraceError, match=r"tracing failed at aten\.mm"):
        trace_model(Bad(), torch.randn(2, 4))


def test_a_sparse_product_is_listed_unpriced_not_counted_as_vector_work():
    """torch.sparse.mm reaches aten._sparse_addmm, which FlopCounterMode does not count either: it is named."""
    import torch
    from torch import nn

    from sparsesim.trace import trace_model

    class SparseProduct(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 8))

        def forward(self, x):
            return torch.sparse.mm(self.w.to_sparse(), x)

    trace = trace_model(SparseProduct(), torch.randn(8, 4))
    assert [u.op for u in trace.unpriced] == ["aten._sparse_addmm"]
    assert "aten._sparse_addmm (share unknown)" in trace.share_line()
