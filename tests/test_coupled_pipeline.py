"""Coupled structures (attention heads, FFN neurons) inside the pruning pipeline: ADMM's joint projection, the hard
prune, the config and compare's plans (pruning.coupled_projection)."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.compare_config import CompareConfig, CompareError, check_coupled, layer_plan, pooled, prune_config
from pruning.config import ConfigError, PruneConfig
from pruning.constraint import Constraint
from pruning.coupled_projection import coupled_sets, member_layers, project_coupled, weight_members
from pruning.lifecycle import Pruner
from pruning.models import build_model
from pruning.quantizers import Quantizer
from pruning.topk import keep_count

HEADS, DH = 4, 8


def _vit(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("vit_tiny")


def _head_alive(attn) -> dict[str, list[bool]]:
    """Per member, which heads hold any nonzero weight (or bias)."""
    view = {n: getattr(attn, n).weight.detach().view(HEADS, DH, -1) for n in ("q_proj", "k_proj", "v_proj")}
    alive = {n: (v.abs().sum((1, 2)) > 0).tolist() for n, v in view.items()}
    alive.update({f"{n}.bias": (getattr(attn, n).bias.detach().view(HEADS, DH).abs().sum(1) > 0).tolist()
                  for n in ("q_proj", "k_proj", "v_proj")})
    alive["out_proj"] = (attn.out_proj.weight.detach().view(-1, HEADS, DH).abs().sum((0, 2)) > 0).tolist()
    return alive


def _brute_force(sets, constraints, tensors, rho):
    """The joint projection by enumeration: every k-subset of groups, the one nearest in sum_l rho_l ||.||^2."""
    out = {}
    for cg in sets:
        members = weight_members(cg)
        names = [mb.param.removesuffix(".weight") for mb in members]
        k = keep_count(cg.n_groups, constraints[names[0]].structure.ratio)
        best = None
        for keep in itertools.combinations(range(cg.n_groups), k):
            cand, dist = {}, 0.0
            for mb, n in zip(members, names):
                support = torch.zeros(cg.n_groups, dtype=torch.bool)
                support[list(keep)] = True
                shape = tensors[n].shape
                sup = support.repeat_interleave(mb.size)
                sup = sup[:, None].expand(shape) if mb.axis == 0 else sup[None, :].expand(shape)
                c = constraints[n]
                z = tensors[n] * sup if c.quantizer is None else c.quantizer.quantize(tensors[n]) * sup
                if c.quantizer is not None:  # entries with no gain are better zero
                    q = c.quantizer.quantize(tensors[n])
                    z = torch.where((2 * tensors[n] - q) * q > 0, z, torch.zeros_like(z))
                cand[n] = z
                dist += rho[n] * float(((tensors[n] - z) ** 2).sum())
            if best is None or dist < best[0] - 1e-9:
                best = (dist, cand)
        out.update(best[1])
    return out


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), ratio=st.sampled_from([0.25, 0.5, 0.75]), kind=st.sampled_from(["heads"]),
       quantize=st.booleans(), rho_spread=st.floats(0.1, 10.0))
def test_joint_projection_is_the_nearest_k_group_support(seed, ratio, kind, quantize, rho_spread):
    model = _vit(seed)
    sets = coupled_sets(model, kind)[:1]
    structures = member_layers(sets, model, ratio)
    q = Quantizer("uniform", 4, True) if quantize else None
    g = torch.Generator().manual_seed(seed)
    tensors = {n: torch.randn(dict(model.named_modules())[n].weight.shape, generator=g) for n in structures}
    constraints = {n: Constraint(s, None if q is None else q.fit(tensors[n])) for n, s in structures.items()}
    rho = {n: 1.0 + rho_spread * i for i, n in enumerate(structures)}
    got = project_coupled(sets, constraints, tensors, rho)
    want = _brute_force(sets, constraints, tensors, rho)
    for n in structures:
        assert torch.equal(got[n][0], want[n]), n


def test_neuron_projection_matches_brute_force_on_a_small_ffn():
    model = torch.nn.Module()
    model.fc1, model.fc2 = torch.nn.Linear(3, 6), torch.nn.Linear(6, 3)
    sets = coupled_sets(model, "neurons")
    structures = member_layers(sets, model, 0.5)
    assert {n: s.kind for n, s in structures.items()} == {"fc1": "filter", "fc2": "channel"}
    tensors = {"fc1": model.fc1.weight.detach(), "fc2": model.fc2.weight.detach()}
    constraints = {n: Constraint(s) for n, s in structures.items()}
    got = project_coupled(sets, constraints, tensors, {"fc1": 1.0, "fc2": 3.0})
    want = _brute_force(sets, constraints, tensors, {"fc1": 1.0, "fc2": 3.0})
    assert all(torch.equal(got[n][0], want[n]) for n in structures)


@pytest.mark.parametrize("method", ["admm", "magnitude"])
def test_pruner_prunes_the_same_heads_in_every_member_and_their_biases(method):
    model = _vit(1)
    cfg = PruneConfig.from_dict({"method": method, "coupled": {"kind": "heads", "ratio": 0.5},
                                 "layers": {"head": {"type": "dense", "bits": 8}}})
    plans = cfg.resolve(model)
    pruner = Pruner(model, plans, example=torch.zeros(1, 1, 28, 28), coupled=cfg.coupled_groups(model))
    x = torch.randn(16, 1, 28, 28)
    if method == "admm":
        pruner.prepare()
        for _ in range(3):
            model.zero_grad()
            model(x).logsumexp(1).sum().backward()
            pruner.step()
    pruner.hard_prune()
    pruner.finalize()
    for block in model.blocks:
        alive = _head_alive(block.attn)
        first = alive["q_proj"]
        assert sum(first) == keep_count(HEADS, 0.5)
        assert all(a == first for a in alive.values()), alive
    # a pruned head's output is exactly zero: the block equals the block with those heads' slices cut out
    assert torch.isfinite(model(x)).all()


def test_config_refuses_what_coupling_cannot_carry():
    model = _vit()
    with pytest.raises(ConfigError, match="budget"):
        PruneConfig.from_dict({"coupled": {"kind": "heads", "ratio": 0.5}, "budget": {"ratio": 0.5}})
    with pytest.raises(ConfigError, match="kind"):
        PruneConfig.from_dict({"coupled": {"kind": "rows", "ratio": 0.5}})
    with pytest.raises(ConfigError, match="ratio"):
        PruneConfig.from_dict({"coupled": {"kind": "heads", "ratio": 1.0}})
    cfg = PruneConfig.from_dict({"coupled": {"kind": "heads", "ratio": 0.5},
                                 "layers": {"blocks.0.attn.q_proj": {"type": "nonstructured", "ratio": 0.5}}})
    with pytest.raises(ConfigError, match="blocks.0.attn.q_proj.*coupled"):
        cfg.resolve(model)
    mha = torch.nn.TransformerEncoderLayer(16, 2, 32)
    with pytest.raises(ConfigError, match="in_proj_weight"):
        PruneConfig.from_dict({"coupled": {"kind": "heads", "ratio": 0.5}}).resolve(mha)
    with pytest.raises(ConfigError, match="no heads"):
        PruneConfig.from_dict({"coupled": {"kind": "heads", "ratio": 0.5}}).resolve(build_model("lenet5"))


def test_compare_plans_for_coupled_structures():
    model = _vit()
    cfg = CompareConfig(model="vit_tiny", dataset="mnist", structures=("nonstructured", "heads", "neurons"))
    assert not pooled("heads", "global") and not pooled("neurons", "global") and pooled("filter", "global")
    plan = layer_plan(model, "neurons", 0.5, cfg, "uniform")
    assert all(spec["type"] == "dense" for spec in plan.values())
    pc = prune_config(cfg, plan, coupled=("neurons", 0.5))
    plans = pc.resolve(model)
    assert {n for n, p in plans.items() if p.constraint.prunes} == {
        "blocks.0.fc1", "blocks.0.fc2", "blocks.1.fc1", "blocks.1.fc2"}
    assert all(p.constraint.quantizer is not None and p.constraint.quantizer.bits == 8 for p in plans.values())
    check_coupled(model, cfg.structures)
    with pytest.raises(CompareError, match="structures: .*no heads"):
        check_coupled(build_model("lenet5"), ("heads",))
    with pytest.raises(CompareError, match="heads, neurons"):
        CompareConfig(structures=("attention",))


def test_pruned_heads_are_priced_as_zero_instances_with_the_macs_kept():
    from sparsesim.trace import flop_counter_macs
    from sparsesim.traced_workloads import traced_workloads

    model = _vit(2)
    cfg = PruneConfig.from_dict({"method": "magnitude", "coupled": {"kind": "heads", "ratio": 0.5}})
    pruner = Pruner(model, cfg.resolve(model), example=torch.zeros(1, 1, 28, 28), coupled=cfg.coupled_groups(model))
    pruner.hard_prune()
    pruner.finalize()
    example, calib = torch.zeros(1, 1, 28, 28), torch.randn(8, 1, 28, 28)
    ws, _ = traced_workloads(model, example, calibration=calib)
    by = {w.name: w for w in ws}
    for block in ("blocks.0.attn", "blocks.1.attn"):
        for what in ("score", "context"):
            live, dead = by[f"{block}.{what}"], by[f"{block}.{what}.zero_heads"]
            assert (live.batch, dead.batch) == (2, 2)          # 4 heads: 2 kept, 2 pruned
            assert not dead.weights.any() and live.weights.all()
    assert sum(w.M * w.K * w.N * w.batch for w in ws) == sum(flop_counter_macs(model, example).values())
    ws_dense, _ = traced_workloads(_vit(2), example, calibration=calib)   # nothing pruned: no zero rows
    assert not any(w.name.endswith(".zero_heads") for w in ws_dense)


def test_hil_mixes_per_layer_structures_only_and_only_pruned_layers():
    """Hardware in the loop mixes structures layer by layer: coupled groups are not candidates (a per-layer mix
    would split a head), and a traced table's weightless rows (attention's score/context) are not layers to mix."""
    from analysis.report_data import cheapest_per_layer
    from sparsesim.results import CostTable  # noqa: F401  (the type the tables are)

    class _Table:
        def __init__(self, energy):
            self.energy = energy

        def select(self, preset):
            return self

        def rows(self):
            return [{"layer": k, "energy_pj": v} for k, v in self.energy.items()]

    tables = {"nonstructured": _Table({"fc1": 1.0, "fc2": 5.0, "attn.score": 9.0}),
              "nm": _Table({"fc1": 2.0, "fc2": 3.0, "attn.score": 1.0})}
    assert cheapest_per_layer(tables, ["nonstructured", "nm"], "p") == {"fc1": "nonstructured", "fc2": "nm",
                                                                          "attn.score": "nm"}
    assert cheapest_per_layer(tables, ["nonstructured", "nm"], "p", ["fc1", "fc2"]) == {"fc1": "nonstructured",
                                                                                          "fc2": "nm"}


def test_a_coupled_search_reports_the_ratio_it_really_reached():
    """4 heads: asked 0.9 or 0.99 the pruning keeps one head, 0.75; 64 neurons: 0.9 keeps 6, 0.90625."""
    from analysis.compare_config import achievable_ratio

    model = _vit()
    assert [achievable_ratio(model, "heads", r) for r in (0.25, 0.5, 0.6, 0.75, 0.9, 0.99)] == \
        [0.25, 0.5, 0.5, 0.75, 0.75, 0.75]
    assert achievable_ratio(model, "neurons", 0.9) == 0.90625
    assert achievable_ratio(model, "neurons", 0.99) == round(1 - 1 / 64, 6)
