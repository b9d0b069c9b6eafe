"""ADMM engine and masked retraining."""

import pytest
import torch
from torch import nn

from pruning.admm import ADMM
from pruning.config import LayerPlan, PruneConfig
from pruning.constraint import Constraint
from pruning.models import build_model
from pruning.quantizers import Quantizer
from pruning.retrain import MaskedRetrainer
from pruning.structures import Structure
from pruning.train import evaluate, train_epoch


def test_penalty_gradient_is_gradient_of_augmented_term():
    lin = nn.Linear(6, 4)
    net = nn.Sequential(lin)
    admm = ADMM(net, {"0": LayerPlan("0", Constraint(Structure("nonstructured", 0.5)), 0.7)})
    admm.U["0"] = torch.randn_like(lin.weight)
    admm._shift["0"] = admm.U["0"] - admm.Z["0"]
    lin.weight.grad = torch.zeros_like(lin.weight)
    admm.after_backward()
    w = lin.weight.detach().clone().requires_grad_(True)
    term = 0.7 / 2 * ((w - admm.Z["0"] + admm.U["0"]) ** 2).sum()
    term.backward()
    assert torch.allclose(lin.weight.grad, w.grad, atol=1e-6)
    assert admm.penalty() == pytest.approx(float(term.detach()), rel=1e-5)


def test_admm_drives_model_to_constraint_set(digits):
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        train_epoch(model, digits.train_x, digits.train_y, opt, 32, g)
    cfg = PruneConfig.from_dict({"layers": {"conv2": {"type": "filter", "ratio": 0.5},
                                            "fc1": {"type": "nonstructured", "ratio": 0.9, "bits": 4}},
                                 "admm": {"rho": 0.1}})
    admm = ADMM(model, cfg.resolve(model), rho_multiplier=1.5)
    primal = []
    for _ in range(8):
        opt = torch.optim.Adam(model.parameters(), 1e-3)  # learning rate reset each round
        train_epoch(model, digits.train_x, digits.train_y, opt, 32, g, hooks=(admm,))
        res = admm.update()
        primal.append(sum(r.primal for r in res))
    assert primal[-1] < 0.3 * primal[0], primal
    assert admm.rho["fc1"] == pytest.approx(0.1 * 1.5 ** 8)
    acc_before = evaluate(model, digits.test_x, digits.test_y)
    masks = admm.hard_prune()
    assert evaluate(model, digits.test_x, digits.test_y) > acc_before - 0.05  # W was already near Z
    w = model.fc1.weight
    assert int((w != 0).sum()) <= round(0.1 * w.numel())
    assert int((model.conv2.weight.reshape(64, -1) != 0).any(1).sum()) <= 32
    levels = admm.constraints["fc1"].quantizer.levels().float()
    assert torch.isclose(w[w != 0][:, None], levels[None], rtol=1e-6, atol=0).any(1).all()
    assert set(masks) == {"conv2", "fc1"}


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_masked_retraining_keeps_zeros_and_levels(tiny_digits, opt_name):
    model = build_model("digits_cnn")
    c1 = Constraint(Structure("nonstructured", 0.8))
    c2 = Constraint(Structure("filter", 0.5), Quantizer("uniform", 3)).fit(model.fc1.weight)
    with torch.no_grad():
        z1, m1 = c1.project(model.conv2.weight)
        model.conv2.weight.copy_(z1)
        z2, m2 = c2.project(model.fc1.weight)
        model.fc1.weight.copy_(z2)
    rt = MaskedRetrainer(model, {"conv2.weight": m1.float(), "fc1.weight": m2.float()},
                         {"fc1.weight": c2.quantizer})
    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    before = model.fc1.weight.detach().clone()
    for _ in range(2):
        train_epoch(model, tiny_digits.train_x, tiny_digits.train_y, opt, 32,
                    torch.Generator().manual_seed(1), hooks=(rt,))
        assert torch.all(model.conv2.weight[~m1] == 0)
        assert torch.all(model.fc1.weight[~m2] == 0)
    rt.apply()
    w = model.fc1.weight.detach()
    assert not torch.equal(w, before)  # the latent weights did train
    levels = c2.quantizer.levels().float()
    assert torch.isclose(w.reshape(-1)[:, None], levels[None], rtol=1e-6, atol=1e-12).any(1).all()
    assert torch.all(model.conv2.weight[~m1] == 0) and torch.all(w[~m2] == 0)
    with rt.projected():
        acc = evaluate(model, tiny_digits.test_x, tiny_digits.test_y)
    assert 0.0 <= acc <= 1.0
