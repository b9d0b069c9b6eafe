"""ADMM engine and the pruning lifecycle (prepare / step / hard_prune / finalize) in plain training loops."""

import pytest
import torch
from torch import nn

from pruning.admm import ADMM
from pruning.config import LayerPlan, PruneConfig
from pruning.constraint import Constraint
from pruning.lifecycle import LifecycleError, Pruner
from pruning.masking import is_masked
from pruning.models import build_model
from pruning.pipeline import run_prune
from pruning.quantizers import Quantizer
from pruning.structures import Structure
from pruning.train import evaluate, train_epoch


def _plain_loop(model, x, y, opt, batch=32, steps=None, check=None):
    """A user's own loop: no hooks, no pruning calls inside."""
    loss_fn = nn.CrossEntropyLoss()
    for i in range(0, len(x), batch):
        opt.zero_grad()
        loss_fn(model(x[i:i + batch]), y[i:i + batch]).backward()
        opt.step()
        if check is not None:
            check()
        if steps is not None and i // batch + 1 >= steps:
            break


def test_penalty_gradient_rides_on_the_weight_grad():
    lin = nn.Linear(6, 4)
    net = nn.Sequential(lin)
    pruner = Pruner(net, {"0": LayerPlan("0", Constraint(Structure("nonstructured", 0.5)), 0.7)}).prepare()
    admm = pruner.admm
    admm.U["0"] = torch.randn_like(lin.weight)
    admm._shift["0"] = admm.U["0"] - admm.Z["0"]
    x = torch.randn(5, 6)
    net(x).square().sum().backward()
    w = lin.weight.detach().clone().requires_grad_(True)
    (torch.nn.functional.linear(x, w, lin.bias.detach()).square().sum()
     + 0.7 / 2 * ((w - admm.Z["0"] + admm.U["0"]) ** 2).sum()).backward()
    assert torch.allclose(lin.weight.grad, w.grad, atol=1e-5)
    assert admm.penalty() == pytest.approx(float(0.7 / 2 * ((w.detach() - admm.Z["0"] + admm.U["0"]) ** 2).sum()), rel=1e-5)
    pruner.close()  # hooks gone: a plain gradient again
    lin.weight.grad = None
    net(x).square().sum().backward()
    assert not torch.allclose(lin.weight.grad, w.grad, atol=1e-3)


def test_scaled_dual_is_rescaled_when_rho_grows():
    lin = nn.Linear(8, 8)
    admm = ADMM(nn.Sequential(lin), {"0": LayerPlan("0", Constraint(Structure("nonstructured", 0.75)), 0.2)},
                rho_multiplier=2.0, rho_max=0.3)
    with torch.no_grad():
        lin.weight.add_(0.1)
    v = lin.weight.detach() + admm.U["0"]
    z = admm.constraints["0"].project(v)[0]
    lam = 0.2 * (v - z)  # the unscaled multiplier Lambda = rho * U after the U-update
    res = admm.update()[0]
    assert admm.rho["0"] == 0.3  # grown, capped at rho_max
    assert torch.allclose(admm.rho["0"] * admm.U["0"], lam, atol=1e-7)  # Lambda kept, U rescaled
    assert res.rho == 0.2 and res.primal_rel == pytest.approx(float((lin.weight.detach() - z).norm() / lin.weight.detach().norm()))


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
    pruner = Pruner(model, cfg.resolve(model), rho_multiplier=1.5, eps=0.05).prepare()
    primal = []
    for _ in range(8):
        opt = torch.optim.Adam(model.parameters(), 1e-3)  # learning rate reset each round
        train_epoch(model, digits.train_x, digits.train_y, opt, 32, g)
        res = pruner.step()
        primal.append(sum(r.primal for r in res))
    assert primal[-1] < 0.3 * primal[0], primal
    assert pruner.admm.rho["fc1"] == pytest.approx(0.1 * 1.5 ** 8)
    assert pruner.converged == all(r.primal_rel <= 0.05 and r.dual_rel <= 0.05 for r in res)
    acc_before = evaluate(model, digits.test_x, digits.test_y)
    result = pruner.hard_prune()
    assert evaluate(model, digits.test_x, digits.test_y) > acc_before - 0.05  # W was already near Z
    w = model.fc1.weight
    assert int((w != 0).sum()) <= round(0.1 * w.numel())
    assert int((model.conv2.weight.reshape(64, -1) != 0).any(1).sum()) <= 32
    levels = result.constraints["fc1"].quantizer.levels().float()
    assert torch.isclose(w[w != 0][:, None], levels[None], rtol=1e-6, atol=0).any(1).all()
    assert {"conv2.weight", "fc1.weight"} <= set(result.masks)


@pytest.mark.parametrize("opt_name", ["sgd", "adamw"])
def test_lifecycle_drops_into_a_plain_training_loop(tiny_digits, opt_name):
    """prepare/step/hard_prune/finalize around a user's loop: zeros and levels hold after every step."""
    torch.manual_seed(0)
    model = build_model("digits_cnn")
    cfg = PruneConfig.from_dict({"layers": {"conv2": {"type": "nonstructured", "ratio": 0.8},
                                            "fc1": {"type": "filter", "ratio": 0.5, "bits": 3}}})
    pruner = Pruner(model, cfg.resolve(model), example=torch.zeros(1, 1, 8, 8)).prepare()
    x, y = tiny_digits.train_x, tiny_digits.train_y
    for _ in range(2):
        _plain_loop(model, x, y, torch.optim.SGD(model.parameters(), 0.05))
        pruner.step()
    result = pruner.hard_prune()
    assert is_masked(model)
    m1, m2 = result.masks["conv2.weight"], result.masks["fc1.weight"]
    levels = result.constraints["fc1"].quantizer.levels().float()

    def check():
        w1, w2 = model.conv2.weight, model.fc1.weight
        assert torch.all(w1[~m1] == 0) and torch.all(w2[~m2] == 0)
        assert torch.isclose(w2.reshape(-1)[:, None], levels[None], rtol=1e-6, atol=1e-12).any(1).all()
        assert torch.all(model.fc1.bias[~m2.any(1)] == 0)  # a pruned filter's bias stays 0 too

    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    before = model.fc1.parametrizations.weight.original.detach().clone()
    _plain_loop(model, x, y, opt, check=check)
    assert not torch.equal(model.fc1.parametrizations.weight.original, before)  # the latent weights trained
    state = pruner.state_dict()
    constraints = pruner.finalize()
    assert not is_masked(model) and set(constraints) == {"conv2", "fc1"}
    check()
    # resume: a fresh pruner re-registers masks and levels before the model state loads
    model2 = build_model("digits_cnn")
    p2 = Pruner(model2, cfg.resolve(model2))
    p2.load_state_dict(state)
    assert p2.phase == "masked" and is_masked(model2)
    with pytest.raises(LifecycleError, match="phase 'masked'"):
        p2.step()


def test_pipeline_stops_a_step_when_admm_converges(tiny_digits, tmp_path):
    cfg = {"seed": 1, "pretrain_epochs": 1, "retrain_epochs": 1, "train": {"optimizer": "sgd", "lr": 0.05,
                                                                          "batch_size": 32},
           "admm": {"rounds": 6, "rho": 5.0, "rho_multiplier": 2.0, "rho_max": 100.0, "eps": 0.05},
           "layers": {"fc2": {"type": "nonstructured", "ratio": 0.5}}}
    res = run_prune(build_model("digits_cnn"), tiny_digits, PruneConfig.from_dict(cfg), tmp_path, progress=False,
                    log=lambda s: None)
    conv = res.manifest["admm_convergence"]
    assert len(conv) == 1 and conv[0]["converged"] and conv[0]["rounds"] < 6
    assert all(v["primal_rel"] <= 0.05 and v["dual_rel"] <= 0.05 for v in conv[0]["layers"].values())
    assert (tmp_path / "training_log.csv").read_text().count("\nadmm,") == conv[0]["rounds"]  # no idle rounds


def test_pipeline_with_a_whole_network_budget(tiny_digits, tmp_path):
    cfg = {"seed": 1, "pretrain_epochs": 2, "retrain_epochs": 1, "train": {"optimizer": "sgd", "lr": 0.05,
                                                                          "batch_size": 32},
           "admm": {"rounds": 2, "rho": 0.05}, "budget": {"ratio": 0.9, "min_keep": 0.01},
           "layers": {"conv2": {"type": "filter"}, "fc1": {"type": "nonstructured", "bits": 4},
                      "fc2": {"type": "nonstructured"}}}
    res = run_prune(build_model("digits_cnn"), tiny_digits, PruneConfig.from_dict(cfg), tmp_path, progress=False,
                    log=lambda s: None)
    alloc = res.manifest["budget_allocation"]
    layers = {e["name"]: e for e in res.manifest["layers"]}
    pooled = ("conv2", "fc1", "fc2")
    total = sum(layers[n]["weight_shape"][0] * layers[n]["gemm"]["K"] for n in pooled)
    assert sum(layers[n]["nonzeros"] for n in pooled) <= alloc["budget_weights"] == round(0.1 * total)
    assert alloc["exact"] and len({round(r, 3) for r in alloc["ratios"].values()}) > 1  # not one uniform ratio
    for n in pooled:
        assert layers[n]["sparsity"]["ratio"] == pytest.approx(alloc["ratios"][n])
        assert layers[n]["achieved_ratio"] >= alloc["ratios"][n] - 1e-9


def test_quantizer_without_pruning_in_a_lifecycle():
    lin = nn.Linear(16, 4)
    plans = {"0": LayerPlan("0", Constraint(Structure("dense"), Quantizer("pow2", 4)), 0.1)}
    pruner = Pruner(nn.Sequential(lin), plans)
    result = pruner.hard_prune()  # one-shot, no ADMM
    levels = result.constraints["0"].quantizer.levels().float()
    assert torch.isclose(lin.weight.reshape(-1)[:, None], levels[None], rtol=1e-6, atol=1e-12).any(1).all()
    pruner.finalize()
    assert isinstance(lin.weight, nn.Parameter)


def test_convergence_summary_says_whether_eps_was_met_and_by_how_much():
    from pruning.admm import convergence_summary

    steps = [{"step": 0, "rounds": 2, "converged": True, "eps": 0.01,
              "layers": {"fc1": {"primal_rel": 0.004, "dual_rel": 0.009}}},
             {"step": 1, "rounds": 4, "converged": False, "eps": 0.01,
              "layers": {"fc1": {"primal_rel": 0.034, "dual_rel": 0.012}, "fc2": {"primal_rel": 0.02,
                                                                                   "dual_rel": 0.05}}}]
    s = convergence_summary(steps, 0.01)
    assert (s["met"], s["steps"], s["steps_met"]) == (False, 2, 1)
    assert s["worst"] == {"step": 1, "layer": "fc2", "primal_rel": 0.02, "dual_rel": 0.05, "times_eps": 5.0}
    assert "not met" in s["text"] and "1 of 2 steps" in s["text"] and "fc2" in s["text"] and "5x eps" in s["text"]
    ok = convergence_summary(steps[:1], 0.01)
    assert ok["met"] and ok["worst"]["times_eps"] == pytest.approx(0.9) and "met" in ok["text"]
    free = convergence_summary(steps, None)
    assert free["met"] is None and "no criterion" in free["text"]
    assert convergence_summary([], 0.01) is None


def test_pipeline_log_and_manifest_state_the_convergence_criterion(tiny_digits, tmp_path):
    cfg = {"seed": 1, "pretrain_epochs": 1, "retrain_epochs": 1, "train": {"optimizer": "sgd", "lr": 0.05,
                                                                          "batch_size": 32},
           "admm": {"rounds": 1, "rho": 0.01, "eps": 1e-6}, "layers": {"fc2": {"type": "nonstructured", "ratio": 0.5}}}
    lines = []
    res = run_prune(build_model("digits_cnn"), tiny_digits, PruneConfig.from_dict(cfg), tmp_path, progress=False,
                    log=lines.append)
    s = res.manifest["admm_convergence_summary"]
    assert s["met"] is False and s["eps"] == 1e-6 and s["worst"]["layer"] == "fc2" and s["worst"]["times_eps"] > 1
    assert any(line.startswith("ADMM convergence: eps 1e-06 not met") for line in lines)
