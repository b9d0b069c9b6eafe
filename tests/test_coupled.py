"""Coupled head / FFN-neuron structures (pruning/coupled.py): consistency, exact top-k, brute force,
equivalence with a smaller dense layer, refit."""

import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruning.coupled import find_groups, group_scores, head_groups, keep_masks, neuron_groups, prune_coupled_

D, HEADS, FF, TOKENS = 16, 4, 12, 10


def encoder_layer(seed: int = 0) -> nn.TransformerEncoderLayer:
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True).double().eval()
    with torch.no_grad():
        for p in layer.parameters():  # non-zero biases, so a bias left behind would show
            if p.dim() == 1:
                p.uniform_(-0.5, 0.5)
    return layer


def calibration(seed: int = 1, batches: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, TOKENS, D, generator=g, dtype=torch.float64) for _ in range(batches)]


def heads_and_neurons(model):
    sets = {cg.kind: cg for cg in find_groups(model)}
    return sets["heads"], sets["neurons"]


def kept_heads(layer, masks) -> list[int]:
    dh = D // HEADS
    m = masks["self_attn.out_proj.weight"]
    return [h for h in range(HEADS) if bool(m[:, h * dh:(h + 1) * dh].all())]


def test_masks_zero_whole_heads_and_neurons_consistently():
    layer = encoder_layer()
    params = dict(layer.named_parameters())
    heads, neurons = heads_and_neurons(layer)
    assert (heads.kind, heads.n_groups, neurons.kind, neurons.n_groups) == ("heads", HEADS, "neurons", FF)
    dh = D // HEADS
    mh = keep_masks(heads, params, 2)
    assert set(mh) == {"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight"}
    kept = kept_heads(layer, mh)
    assert len(kept) == 2
    for h in range(HEADS):
        rows = torch.cat([torch.arange(t * D + h * dh, t * D + (h + 1) * dh) for t in range(3)])
        on = h in kept
        assert bool((mh["self_attn.in_proj_weight"][rows] == on).all())
        assert bool((mh["self_attn.in_proj_bias"][rows] == on).all())
        assert bool((mh["self_attn.out_proj.weight"][:, h * dh:(h + 1) * dh] == on).all())
    assert int(mh["self_attn.in_proj_weight"].sum()) == 2 * 3 * dh * D  # nothing else masked
    mn = keep_masks(neurons, params, 5)
    rows = mn["linear1.weight"].all(1)
    assert int(rows.sum()) == 5 and bool((mn["linear1.weight"].any(1) == rows).all())
    assert torch.equal(mn["linear1.bias"], rows)
    assert torch.equal(mn["linear2.weight"], rows[None, :].expand(D, FF))


@pytest.mark.parametrize("k", range(0, FF + 1))
def test_exactly_k_groups_kept(k):
    layer = encoder_layer()
    params = dict(layer.named_parameters())
    _, neurons = heads_and_neurons(layer)
    assert int(keep_masks(neurons, params, k)["linear1.bias"].sum()) == k
    with pytest.raises(ValueError, match="allowed"):
        keep_masks(neurons, params, FF + 1)


def test_projection_is_optimal_against_brute_force():
    """With p^2 gains the masks are the Euclidean projection of all the set's parameters onto "at
    most k groups": no other choice of k groups leaves a smaller ||p - p * mask||^2."""
    for seed in range(3):
        layer = encoder_layer(seed)
        params = {n: p.detach() for n, p in layer.named_parameters()}
        for cg, k in zip(heads_and_neurons(layer), (2, 5)):
            names = sorted({mb.param for mb in cg.members})
            masks = keep_masks(cg, params, k)
            ours = sum(float(((params[n] * ~masks[n]) ** 2).sum()) for n in names)
            scores = group_scores(cg, {n: params[n] ** 2 for n in names})
            best = math.inf
            for combo in itertools.combinations(range(cg.n_groups), k):
                keep = torch.zeros(cg.n_groups, dtype=torch.bool)
                keep[list(combo)] = True
                best = min(best, float(scores[~keep].sum()))
            assert ours == pytest.approx(best, rel=1e-12, abs=1e-12)


def test_brute_force_distance_from_explicit_masks():
    """The brute force above sums group scores; here each combination's mask is built by hand."""
    layer = encoder_layer(3)
    params = {n: p.detach() for n, p in layer.named_parameters()}
    heads, _ = heads_and_neurons(layer)
    dh = D // HEADS
    w_in, b_in, w_out = (params[n] for n in ("self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                               "self_attn.out_proj.weight"))

    def dist(combo):
        rows = torch.zeros(3 * D, dtype=torch.bool)
        cols = torch.zeros(D, dtype=torch.bool)
        for h in combo:
            cols[h * dh:(h + 1) * dh] = True
            for t in range(3):
                rows[t * D + h * dh:t * D + (h + 1) * dh] = True
        return float((w_in[~rows] ** 2).sum() + (b_in[~rows] ** 2).sum() + (w_out[:, ~cols] ** 2).sum())

    for k in range(HEADS + 1):
        masks = keep_masks(heads, params, k)
        ours = float(sum(((params[n] * ~m) ** 2).sum() for n, m in masks.items()))
        assert ours == pytest.approx(min(dist(c) for c in itertools.combinations(range(HEADS), k)), rel=1e-12)


def smaller_dense_layer(layer, heads, neurons, x):
    """The encoder layer rebuilt with only the kept heads and neurons (post-norm, ReLU, batch first)."""
    dh = D // HEADS
    w_in, b_in = layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias
    ctx = []
    for h in heads:
        q, k, v = (x @ w_in[t * D + h * dh:t * D + (h + 1) * dh].T + b_in[t * D + h * dh:t * D + (h + 1) * dh]
                   for t in range(3))
        ctx.append(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v)
    cols = torch.cat([torch.arange(h * dh, (h + 1) * dh) for h in heads])
    sa = torch.cat(ctx, -1) @ layer.self_attn.out_proj.weight[:, cols].T + layer.self_attn.out_proj.bias
    x = layer.norm1(x + sa)
    n = torch.tensor(neurons)
    ff = F.relu(x @ layer.linear1.weight[n].T + layer.linear1.bias[n]) @ layer.linear2.weight[:, n].T + layer.linear2.bias
    return layer.norm2(x + ff)


@pytest.mark.parametrize("gains", ["magnitude", "wanda"])
def test_pruned_layer_equals_the_smaller_dense_layer(gains):
    layer = encoder_layer()
    dense = encoder_layer()
    x = calibration(seed=7)[0]
    with torch.no_grad():
        reports = prune_coupled_(layer, calibration(), 0.5, gains=gains, refit_outputs=False)
        heads, neurons = sorted(reports, key=lambda r: r.kind)
        assert (len(heads.kept), len(neurons.kept)) == (2, 6)
        small = smaller_dense_layer(dense, heads.kept, neurons.kept, x)
        assert torch.allclose(layer(x), small, atol=1e-12, rtol=1e-10)
        assert not torch.allclose(dense(x), small, atol=1e-3)  # something was pruned


class FFN(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.linear1, self.linear2 = nn.Linear(D, FF).double(), nn.Linear(FF, D).double()

    def forward(self, x):
        return self.linear2(F.relu(self.linear1(x)))


def test_wanda_gains_read_the_inputs():
    """Inputs with one huge feature: Wanda keeps the neuron that reads it, magnitude the largest weights."""
    batches = [x.abs() for x in calibration()]
    for b in batches:
        b[..., 0] *= 100.0
    model = FFN()
    with torch.no_grad():
        model.linear1.weight[:, 0] = 0.0
        model.linear1.weight[FF - 1, 0] = 1.0        # neuron FF-1 alone reads the huge feature
        model.linear1.weight[0, 1:] = 2.0            # neuron 0 has the largest weights
    kept = {g: prune_coupled_(copy.deepcopy(model), batches, 1 - 1 / FF, gains=g, refit_outputs=False)[0].kept
            for g in ("magnitude", "wanda")}
    assert kept == {"magnitude": (0,), "wanda": (FF - 1,)}


def encoder_layer_copy(layer):
    c = encoder_layer()
    c.load_state_dict(layer.state_dict())
    return c


def block_errors(dense, pruned, batches):
    """(attention output error, FFN output error) of a pruned layer against the dense one, each sublayer
    fed the dense sublayer's own input."""
    e_att = e_ff = 0.0
    with torch.no_grad():
        for x in batches:
            sa_d = dense.self_attn(x, x, x, need_weights=False)[0]
            sa_p = pruned.self_attn(x, x, x, need_weights=False)[0]
            e_att += float(((sa_d - sa_p) ** 2).sum())
            h = dense.norm1(x + sa_d)
            e_ff += float(((dense.linear2(F.relu(dense.linear1(h))) - pruned.linear2(F.relu(pruned.linear1(h)))) ** 2).sum())
    return e_att, e_ff


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_refit_never_increases_the_block_error(seed, ratio):
    batches = calibration(seed + 10)
    dense = encoder_layer(seed)
    no_refit, with_refit = encoder_layer(seed), encoder_layer(seed)
    prune_coupled_(no_refit, batches, ratio, refit_outputs=False)
    prune_coupled_(with_refit, batches, ratio, refit_outputs=True)
    for p, q in zip(no_refit.parameters(), with_refit.parameters()):  # the same support
        assert torch.equal(p == 0, q == 0) or p.dim() == 1
    before, after = block_errors(dense, no_refit, batches), block_errors(dense, with_refit, batches)
    for b, a in zip(before, after):
        assert a <= b * (1 + 1e-9) + 1e-12
    assert sum(after) < sum(before)


class SeparateQKV(nn.Module):
    """A hand-written attention block with separate q/k/v/o Linears and an FFN named up/down."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D).double() for _ in range(4))
        self.up, self.down = nn.Linear(D, FF).double(), nn.Linear(FF, D).double()

    def forward(self, x):
        b, t, _ = x.shape
        split = lambda y: y.view(b, t, HEADS, D // HEADS).transpose(1, 2)  # noqa: E731
        ctx = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        x = x + self.o(ctx.transpose(1, 2).reshape(b, t, D))
        return x + self.down(F.relu(self.up(x)))


def test_explicit_names_for_other_models():
    model = SeparateQKV()
    params = dict(model.named_parameters())
    sets = (head_groups("attn", params, "q", "k", "v", "o", HEADS), neuron_groups("ffn", params, "up", "down"))
    assert find_groups(model) == ()
    batches = calibration()
    reports = prune_coupled_(model, batches, 0.5, groups=sets)
    dh = D // HEADS
    for h in range(HEADS):
        on = h in reports[0].kept
        for n in ("q", "k", "v"):
            assert bool((getattr(model, n).weight[h * dh:(h + 1) * dh] != 0).any()) == on
            assert bool((getattr(model, n).bias[h * dh:(h + 1) * dh] != 0).any()) == on
        assert bool((model.o.weight[:, h * dh:(h + 1) * dh] != 0).any()) == on
    assert int((model.up.bias != 0).sum()) == 6 and int((model.down.weight.abs().sum(0) != 0).sum()) == 6
    assert all(torch.isfinite(model(x)).all() for x in batches)
    with pytest.raises(ValueError, match="split into"):
        head_groups("attn", params, "q", "k", "v", "o", 5)
    with pytest.raises(ValueError, match="allowed"):
        prune_coupled_(model, batches, 0.5, groups=sets, gains="sparsegpt")


def test_wanda_without_a_captured_input_is_refused():
    layer = encoder_layer()
    with pytest.raises(ValueError, match=r"\(model\): no calibration input seen for linear1.weight"):
        prune_coupled_(layer, [], 0.5, gains="wanda", refit_outputs=False)
