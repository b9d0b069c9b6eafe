"""The zoo's ResNet-8 (issue 23 item 3's deeper CNN): shapes and MACs, every structure's compare plan applies in a real
(tiny) pruning run, and filter pruning purifies exactly across its residual adds."""

import pytest
import torch
from torch import nn

from analysis.compare_config import STRUCTURES, CompareConfig, layer_plan, prune_config
from analysis.simulation import model_workloads
from pruning.constraint import Constraint
from pruning.data import Dataset
from pruning.models import build_model, prunable_layers
from pruning.pipeline import run_prune
from pruning.purification import compact, coupled_masks, purify
from pruning.structures import Structure
from sparsesim.trace import flop_counter_macs, trace_model
from test_purification import _randomize_bn   # BN statistics, scales and shifts drawn (shared helper)

MACS_PER_IMAGE = 2_364_864   # 9 convolutions + the Linear at width 8, 1x28x28 (FlopCounterMode / 2)


def test_shapes_weights_and_macs():
    model = build_model("resnet8").eval()
    layers = prunable_layers(model)
    assert len(layers) == 10 and sum(isinstance(m, nn.Conv2d) for m in layers.values()) == 9
    assert sum(m.weight.numel() for m in layers.values()) == 19_464
    assert sum(m.weight.numel() for m in prunable_layers(build_model("resnet8").__class__(10, 16)).values()) == 77_072
    x = torch.randn(2, 1, 28, 28)
    assert model(x).shape == (2, 10)
    assert build_model("resnet8", 7)(x).shape == (2, 7)
    with torch.no_grad():
        trace = trace_model(model, x[:1])
    assert trace.macs_by_op() == flop_counter_macs(model, (x[:1],))
    assert sum(trace.macs_by_op().values()) == MACS_PER_IMAGE
    assert layers["layer3.conv2"].weight.shape == (32, 32, 3, 3)


def test_the_module_list_workloads_price_every_mac():
    model = build_model("resnet8").eval()
    wl = model_workloads(model, torch.zeros(1, 1, 28, 28), batch=1, weight_bits=8, mode="modules", log=lambda s: None)
    assert [w.name for w in wl] == list(prunable_layers(model))
    assert sum(w.M * w.K * w.N for w in wl) == MACS_PER_IMAGE   # groups=1 everywhere: M x K x N is the MACs


# the layers a structure cannot take: the classifier's filters are the classes; 4x4 blocks and 2:4 need a stem with
# more than one input channel (its K is 9) and blocks need 4 | 10 classes
DENSE_IN_PLAN = {"nonstructured": set(), "filter": {"fc"}, "channel": set(), "column": set(),
                 "block": {"conv1", "fc"}, "nm": {"conv1"}}


def _tiny_fashion(n_train=32, n_test=16):
    g = torch.Generator().manual_seed(0)
    return Dataset("fashion_mnist", torch.randn(n_train, 1, 28, 28, generator=g),
                   torch.randint(0, 10, (n_train,), generator=g), torch.randn(n_test, 1, 28, 28, generator=g),
                   torch.randint(0, 10, (n_test,), generator=g), 10)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_every_structures_global_plan_runs(structure, tmp_path):
    cfg = CompareConfig.of(model="resnet8", dataset="fashion_mnist", data_dir=str(tmp_path), admm_rounds=1,
                        retrain_epochs=1, batch_size=32)
    model = build_model("resnet8")
    plan = layer_plan(model, structure, 0.5, cfg, "global")
    dense = {n for n, spec in plan.items() if spec["type"] == "dense"}
    assert dense == DENSE_IN_PLAN[structure]
    job = prune_config(cfg, plan, pretrain=1, budget_ratio=None if structure == "nm" else 0.5)
    res = run_prune(model, _tiny_fashion(), job, tmp_path / structure, progress=False, log=lambda s: None)
    layers = {e["name"]: e for e in res.manifest["layers"]}
    assert set(layers) == set(prunable_layers(model))
    pruned = sum(e["weight_shape"][0] * e["gemm"]["K"] - e["nonzeros"] for e in layers.values())
    total = sum(e["weight_shape"][0] * e["gemm"]["K"] for e in layers.values())
    assert pruned / total >= (0.45 if structure != "nm" else 0.4)   # nm: the stem (dense) is 0.2% of the weights


def test_filter_pruning_purifies_exactly_across_the_residual_adds():
    model = build_model("resnet8").eval()
    _randomize_bn(model)
    example = torch.zeros(1, 1, 28, 28)
    masks = {}
    for name in ("layer1.conv1", "layer2.conv1", "layer3.conv1", "layer2.conv2"):
        m = dict(model.named_modules())[name]
        with torch.no_grad():
            z, masks[name] = Constraint(Structure("filter", 0.5)).project(m.weight)
            m.weight.copy_(z)
    with torch.no_grad():
        for pname, pm in coupled_masks(model, example, masks).items():
            dict(model.named_parameters())[pname].mul_(pm)
    report = purify(model, example)
    inner = {tuple(s["producers"]): len(s["channels"]) for s in report.removable}
    assert inner[("layer1.conv1",)] == 4 and inner[("layer2.conv1",)] == 8 and inner[("layer3.conv1",)] == 16
    residual = [s for s in report.removable + report.pinned if "layer2.conv2" in s["producers"]][0]
    assert "layer2.shortcut.0" in residual["producers"]   # the add couples the block's output with its shortcut
    assert residual.get("channels", []) == []              # the shortcut still writes those channels
    small = compact(model, example, report).eval()
    assert small.layer3.conv1.out_channels == 16 and small.layer2.conv2.out_channels == 16
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert (small(x) - model(x)).abs().max() < 1e-4
