"""The shipped pruning jobs say what they prune to: the default LeNet-5/MNIST job carries the ADMM authors'
per-layer targets (Zhang et al. ECCV 2018, 71.2x) and the recipe docs/results.md section 1 validated."""

from __future__ import annotations

import pytest

from pruning.config import PruneConfig
from pruning.defaults import default_config_path
from pruning.models import build_model
from pruning.topk import keep_count

# KaiqiZhang/admm-pruning lenet5 prune_ratios (ECCV'18 Table 1: LeNet-5 71.2x)
AUTHORS_RATIOS = {"conv1": 0.80, "conv2": 0.92, "fc1": 0.991, "fc2": 0.93}


def _kept(cfg: PruneConfig) -> dict[str, tuple[int, int]]:
    model = build_model("lenet5")
    plans = cfg.resolve(model)
    mods = dict(model.named_modules())
    return {n: (keep_count(mods[n].weight.numel(), p.constraint.structure.ratio), mods[n].weight.numel())
            for n, p in plans.items()}


def test_default_lenet5_mnist_job_has_the_authors_targets_and_gives_71_2x():
    cfg = PruneConfig.from_yaml(default_config_path("lenet5", "mnist"))
    kept = _kept(cfg)
    assert {n: p.constraint.structure.ratio for n, p in cfg.resolve(build_model("lenet5")).items()} == \
        pytest.approx(AUTHORS_RATIOS)
    assert {n: k for n, (k, _) in kept.items()} == {"conv1": 100, "conv2": 2000, "fc1": 3600, "fc2": 350}
    total = sum(t for _, t in kept.values())
    assert total == 430_500
    assert round(total / sum(k for k, _ in kept.values()), 1) == 71.2


def test_default_lenet5_mnist_job_is_the_validated_recipe():
    """docs/results.md section 1: 4 progressive steps x 4 rounds, rho 0.005 x1.8 (cap 1), eps 0.01, 50 retraining
    epochs distilled from the dense model (weight 0.5, T 4)."""
    cfg = PruneConfig.from_yaml(default_config_path("lenet5", "mnist"))
    a = cfg.admm
    assert (a.schedule, a.rounds, a.epochs_per_round, a.rho_multiplier, a.rho_max, a.eps) == \
        ((0.25, 0.5, 0.75, 1.0), 4, 1, 1.8, 1.0, 0.01)
    assert cfg.retrain_epochs == 50 and cfg.distill is not None
    assert (cfg.distill.weight, cfg.distill.temperature) == (0.5, 4.0)
