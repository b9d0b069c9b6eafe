"""Network purification: dead channels are found, and compaction is exact."""

import torch
from torch import nn

from pruning.constraint import Constraint
from pruning.models import build_model
from pruning.purification import compact, coupled_masks, purify
from pruning.structures import Structure


def _prune(model, name, structure, example):
    m = dict(model.named_modules())[name]
    with torch.no_grad():
        z, mask = Constraint(structure).project(m.weight)
        m.weight.copy_(z)
        for pname, pm in coupled_masks(model, example, {name: mask}).items():
            p = dict(model.named_parameters())[pname]
            p.mul_(pm)
    return mask


def _randomize_bn(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.mul_(torch.rand_like(m.weight) + 0.5)
                m.bias.uniform_(-0.5, 0.5)


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_digits_cnn_filter_and_channel_pruning_compacts_exactly():
    model = build_model("digits_cnn").eval()
    _randomize_bn(model)
    x = torch.randn(16, 1, 8, 8)
    example = x[:1]
    _prune(model, "conv1", Structure("filter", 0.5), example)   # 16 dead filters -> bn1 masked
    _prune(model, "conv2", Structure("channel", 0.25), example)  # 8 more unused inputs of conv2
    _prune(model, "fc1", Structure("filter", 0.5), example)     # dead neurons of fc1
    report = purify(model, example)
    spaces = {tuple(s["producers"]): s for s in report.removable}
    assert len(spaces[("conv1",)]["channels"]) >= 16
    assert len(spaces[("fc1",)]["channels"]) == 16
    assert len(report.zero_filters["conv1"]) == 16
    small = compact(model, example, report).eval()
    assert small.conv1.out_channels == 32 - len(spaces[("conv1",)]["channels"])
    assert _params(small) < _params(model)
    with torch.no_grad():
        assert (small(x) - model(x)).abs().max() < 1e-5


def test_unused_path_across_layers_lenet300():
    model = build_model("lenet300").eval()
    example = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        model.fc2.weight[:, :100] = 0  # fc1 neurons 0..99 feed nothing: unused although fc1 rows are dense
    report = purify(model, example)
    space = next(s for s in report.removable if s["producers"] == ["fc1"])
    assert space["channels"] == list(range(100))
    assert report.zero_filters["fc1"] == []
    small = compact(model, example, report)
    assert small.fc1.out_features == 200 and small.fc2.in_features == 200
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert (small(x) - model(x)).abs().max() < 1e-5


def test_lenet5_flatten_to_linear_compaction():
    model = build_model("lenet5").eval()
    example = torch.zeros(1, 1, 28, 28)
    _prune(model, "conv2", Structure("filter", 0.6), example)
    small = compact(model, example)
    assert small.conv2.out_channels == 20 and small.fc1.in_features == 20 * 16
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert (small(x) - model(x)).abs().max() < 1e-5


def test_resnet18_residual_spaces_are_coupled_and_inner_channels_compact():
    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    _randomize_bn(model)
    example = torch.zeros(1, 3, 32, 32)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and n.endswith("conv1") and "layer" in n]
    for n in names:  # inner conv of each block: not coupled to the residual add
        _prune(model, n, Structure("filter", 0.5), example)
    _prune(model, "layer1.0.conv2", Structure("filter", 0.5), example)  # coupled with the identity path
    report = purify(model, example)
    inner = [s for s in report.removable if s["producers"] == ["layer1.0.conv1"]][0]
    assert len(inner["channels"]) == 32
    residual = [s for s in report.removable + report.pinned if "layer1.0.conv2" in s["producers"]][0]
    assert len(residual["producers"]) >= 3  # stem conv + both blocks' conv2 share one space
    assert residual.get("channels", []) == []  # other producers still write those channels
    small = compact(model, example, report).eval()
    assert small.layer1[0].conv1.out_channels == 32 and small.layer4[1].conv1.out_channels == 256
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (small(x) - model(x)).abs().max() < 1e-5


def test_untraceable_ops_pin_spaces():
    class Cat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 4, 3)
            self.b = nn.Conv2d(8, 2, 3)

        def forward(self, x):
            y = self.a(x)
            return self.b(torch.cat([y, y], 1))

    model = Cat()
    with torch.no_grad():
        model.a.weight[:2] = 0
        model.a.bias.zero_()
    report = purify(model, torch.zeros(1, 1, 8, 8))
    assert any("cat" in s["why"] for s in report.pinned)
    assert all("a" not in s["producers"] for s in report.removable)
