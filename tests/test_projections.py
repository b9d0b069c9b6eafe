"""Property tests: every projection is feasible, idempotent and optimal."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pruning.constraint import Constraint
from pruning.quantizers import Quantizer
from pruning.structures import Structure, StructureError
from pruning.topk import keep_count, kth_largest, topk_mask

SETTINGS = settings(max_examples=60, deadline=None)

finite = st.floats(-4, 4, allow_nan=False, width=32)


@st.composite
def weights(draw, max_rows=4, max_cols=4, conv=None):
    """Small Linear (2-D) or Conv2d (4-D) weights, sometimes with repeated values (ties)."""
    conv = draw(st.booleans()) if conv is None else conv
    if conv:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 2)), 1, draw(st.integers(1, 2)))
    else:
        shape = (draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols)))
    n = 1
    for s in shape:
        n *= s
    if draw(st.booleans()):
        vals = draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]), min_size=n, max_size=n))
    else:
        vals = draw(st.lists(finite, min_size=n, max_size=n))
    return torch.tensor(vals, dtype=torch.float32).reshape(shape)


def structures_for(shape):
    rows, cols = shape[0], int(torch.tensor(shape[1:]).prod())
    ratios = st.sampled_from([0.0, 0.25, 0.5, 0.6, 0.75, 0.9])
    kinds = [st.builds(Structure, st.sampled_from(["nonstructured", "filter", "column", "channel"]), ratios)]
    blocks = [(bh, bw) for bh in (1, 2) for bw in (1, 2) if rows % bh == 0 and cols % bw == 0]
    kinds.append(st.builds(lambda r, b: Structure("block", r, block=b), ratios, st.sampled_from(blocks)))
    ms = [m for m in (1, 2, 4) if cols % m == 0]
    kinds.append(st.sampled_from(ms).flatmap(lambda m: st.integers(1, m).map(lambda n: Structure("nm", n=n, m=m))))
    return st.one_of(kinds)


def group_ids(structure, shape):
    """Brute-force reference: which group each weight belongs to (flat, GEMM order)."""
    rows = shape[0]
    cols = int(torch.tensor(shape[1:]).prod())
    r = torch.arange(rows)[:, None].expand(rows, cols)
    c = torch.arange(cols)[None, :].expand(rows, cols)
    k = structure.kind
    if k == "nonstructured":
        g = r * cols + c
    elif k == "filter":
        g = r
    elif k == "column":
        g = c
    elif k == "channel":
        g = c // (cols // shape[1])
    elif k == "block":
        bh, bw = structure.block
        g = (r // bh) * (cols // bw) + c // bw
    else:
        g = r * (cols // structure.m) + c // structure.m
    return g.reshape(-1)


def brute_force_error(w, constraint):
    """Smallest ||w - z||^2 over every feasible support (enumerated: at most k groups)."""
    s = constraint.structure
    flat = w.reshape(-1).double()
    q = flat if constraint.quantizer is None else constraint.quantizer.quantize(flat)
    gid = group_ids(s, tuple(w.shape))
    groups = sorted(set(gid.tolist()))
    if s.kind == "nm":
        best = 0.0
        for g in groups:  # independent per M-group
            idx = (gid == g).nonzero().reshape(-1)
            opts = []
            subsets = itertools.chain.from_iterable(itertools.combinations(idx.tolist(), r) for r in range(s.n + 1))
            for keep in subsets:  # "at most N": with levels lacking 0, zero can beat a level
                z = torch.zeros(len(idx), dtype=torch.float64)
                for j, i in enumerate(idx.tolist()):
                    if i in keep:
                        z[j] = q[i]
                opts.append(float(((flat[idx] - z) ** 2).sum()))
            best += min(opts)
        return best
    k = keep_count(len(groups), s.ratio)
    best = float("inf")
    for keep in itertools.chain.from_iterable(itertools.combinations(groups, r) for r in range(k + 1)):
        on = torch.isin(gid, torch.tensor(keep, dtype=torch.long))
        # inside kept groups each entry is on its nearest level or 0, whichever is closer
        per = torch.minimum((flat - q) ** 2, flat ** 2)
        best = min(best, float(torch.where(on, per, flat ** 2).sum()))
    return best


def check_feasible(z, mask, constraint):
    s = constraint.structure
    shape = tuple(z.shape)
    assert int((z != 0).sum()) <= s.max_nonzeros(shape)
    assert torch.all(z[~mask] == 0)
    gid = group_ids(s, shape)
    nz = (z.reshape(-1) != 0)
    if s.kind == "nm":
        for g in set(gid.tolist()):
            assert int(nz[gid == g].sum()) <= s.n
    else:
        live = set(gid[nz].tolist())
        assert len(live) <= keep_count(len(set(gid.tolist())), s.ratio)
    if constraint.quantizer is not None:
        levels = constraint.quantizer.levels().float()
        on = z.reshape(-1)[nz]
        assert torch.all(torch.isclose(on[:, None], levels[None, :], rtol=1e-6, atol=0).any(1))


@SETTINGS
@given(st.data())
def test_structure_projection_feasible_idempotent_optimal(data):
    w = data.draw(weights())
    s = data.draw(structures_for(tuple(w.shape)))
    c = Constraint(s)
    z, mask = c.project(w)
    check_feasible(z, mask, c)
    z2, _ = c.project(z)
    assert torch.equal(z2, z)
    err = float(((w.double() - z.double()) ** 2).sum())
    assert err == pytest.approx(brute_force_error(w, c), rel=1e-9, abs=1e-9)


@st.composite
def quantizers(draw):
    scheme = draw(st.sampled_from(["uniform", "pow2", "binary", "ternary"]))
    bits = draw(st.integers(2, 4))
    zero = draw(st.booleans()) if scheme in ("uniform", "pow2") else True
    scale = draw(st.sampled_from([0.25, 0.5, 1.0, 1.7]))
    return Quantizer(scheme, bits, zero, scale)


@SETTINGS
@given(st.data())
def test_joint_prune_quantize_projection_is_exact(data):
    w = data.draw(weights())
    s = data.draw(structures_for(tuple(w.shape)))
    c = Constraint(s, data.draw(quantizers()))
    z, mask = c.project(w)
    check_feasible(z, mask, c)
    z2, _ = c.project(z)
    assert torch.allclose(z2, z, rtol=0, atol=1e-6)
    err = float(((w.double() - z.double()) ** 2).sum())
    assert err == pytest.approx(brute_force_error(w, c), rel=1e-6, abs=1e-6)


def test_joint_projection_beats_prune_then_round():
    # Gain is monotone in |w| for one level set, so non-structured joint projection equals
    # prune-then-round; with groups it differs. Levels {0, +-0.9, +-1.8}; filter pruning keeps 1 row.
    w = torch.tensor([[1.34, 0.0], [0.9, 0.9]])
    c = Constraint(Structure("filter", 0.5), Quantizer("uniform", 3, scale=0.9))
    z, _ = c.project(w)
    assert torch.allclose(z, torch.tensor([[0.0, 0.0], [0.9, 0.9]]))
    # prune by norm (row 0: 1.80 > 1.62) then round: error 1.8136 vs 1.7956
    naive = torch.tensor([[0.9, 0.0], [0.0, 0.0]])
    assert float(((w - z) ** 2).sum()) < float(((w - naive) ** 2).sum())


@SETTINGS
@given(st.lists(finite, min_size=1, max_size=12), quantizers())
def test_quantize_is_nearest_level(vals, q):
    w = torch.tensor(vals, dtype=torch.float64)
    z = q.quantize(w)
    levels = q.levels()
    best = ((w[:, None] - levels[None, :]) ** 2).min(1).values
    assert torch.allclose((w - z) ** 2, best, atol=1e-9)
    assert torch.equal(q.quantize(z), z)  # idempotent
    assert len(set(z.tolist())) <= len(levels)


@SETTINGS
@given(st.lists(st.floats(0.01, 4, allow_nan=False), min_size=1, max_size=5),
       st.sampled_from([("uniform", 2, True), ("uniform", 3, True), ("uniform", 2, False),
                        ("uniform", 3, False), ("binary", 1, False), ("ternary", 2, True)]))
def test_uniform_scale_fit_is_globally_optimal(vals, spec):
    scheme, bits, zero = spec
    q = Quantizer(scheme, bits, zero)
    a = torch.tensor(vals, dtype=torch.float64)
    fitted = q.fit(a)
    err = fitted.sq_error(a, fitted.scale)
    codes = sorted(set(abs(v) for v in q.unit_levels().tolist()))
    best = float("inf")
    for n in itertools.product(codes, repeat=len(vals)):  # every assignment, its optimal scale
        n = torch.tensor(n, dtype=torch.float64)
        if float((n * n).sum()) == 0:
            best = min(best, float((a * a).sum()))
            continue
        s = float((a * n).sum() / (n * n).sum())
        if s > 0:
            best = min(best, float(((a - s * n) ** 2).sum()))
    assert err <= best + 1e-9 * max(1.0, best)


def test_binary_scale_is_mean_abs():
    w = torch.tensor([0.5, -1.5, 2.0, -0.25])
    assert Quantizer("binary").fit(w).scale == pytest.approx(float(w.abs().mean()))


def test_large_tensor_fit_is_close_to_exact_and_pow2_improves_on_max():
    torch.manual_seed(0)
    w = torch.randn(600_000)
    q = Quantizer("uniform", 4).fit(w)
    small = Quantizer("uniform", 4).fit(w[::20])
    assert q.sq_error(w.double().abs(), q.scale) <= q.sq_error(w.double().abs(), small.scale) * 1.001
    p = Quantizer("pow2", 4).fit(w)
    naive = float(w.abs().max())
    assert p.sq_error(w.double().abs(), p.scale) < p.sq_error(w.double().abs(), naive)


@SETTINGS
@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0]), min_size=1, max_size=40), st.integers(0, 45))
def test_topk_mask_exact_and_lowest_index_on_ties(vals, k):
    s = torch.tensor(vals)
    m = topk_mask(s, k)
    assert int(m.sum()) == min(k, len(vals))
    ref = sorted(range(len(vals)), key=lambda i: (-vals[i], i))[:k]
    assert sorted(m.nonzero().reshape(-1).tolist()) == sorted(ref)


def test_kth_largest_bracketed_path_is_exact():
    torch.manual_seed(1)
    for data in (torch.randn(300_000), torch.arange(300_000.0), torch.randint(0, 5, (300_000,)).float()):
        for k in (1, 17, 150_000, 299_999, 300_000):
            ref = torch.sort(data, descending=True).values[k - 1]
            assert kth_largest(data, k) == ref


def test_structure_errors_name_layer_and_field():
    with pytest.raises(StructureError, match=r"layer 'fc1'.*block 3x2"):
        Structure("block", 0.5, block=(3, 2)).check_shape((10, 8), "fc1")
    with pytest.raises(StructureError, match=r"layer 'conv1'.*nm 2:4.*K=25"):
        Structure("nm", n=2, m=4).check_shape((20, 1, 5, 5), "conv1")
    with pytest.raises(ValueError, match="ratio"):
        Structure("nonstructured", 1.0)
    with pytest.raises(ValueError, match="bits"):
        Quantizer("uniform", 0)
    with pytest.raises(ValueError, match="scheme"):
        Quantizer("log")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_projection_on_cuda_matches_cpu():
    torch.manual_seed(0)
    w = torch.randn(256, 64, 3, 3)
    for s in (Structure("nonstructured", 0.9), Structure("filter", 0.5), Structure("nm", n=2, m=4),
              Structure("block", 0.5, block=(4, 4))):
        c = Constraint(s, Quantizer("uniform", 4).fit(w))
        zc, _ = c.project(w)
        zg, _ = c.project(w.cuda())
        assert torch.equal(zg.cpu(), zc)


@pytest.mark.parametrize("kind,bits", [("uniform", 2), ("uniform", 4), ("pow2", 3), ("pow2", 5), ("binary", 1),
                                       ("ternary", 2)])
def test_unit_levels_ascend_as_documented(kind, bits):
    levels = Quantizer(kind, bits).unit_levels()
    assert torch.all(levels[1:] > levels[:-1]), levels.tolist()
