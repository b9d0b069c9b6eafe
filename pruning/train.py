"""A lean training loop over tensors, with hooks for ADMM and masked retraining.

Hooks are objects with any of ``before_forward()``, ``after_backward()`` and
``after_step()``; the loop calls them around every optimizer step, so ADMM's
penalty gradient and the retraining masks need no change to user training code.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the caller keeps its last good checkpoint."""


@dataclass(frozen=True)
class EpochStats:
    loss: float
    seconds: float
    samples: int


def uses_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def prepare_for_speed(model: nn.Module) -> nn.Module:
    """channels_last for conv nets: the faster CPU (oneDNN) and GPU layouts."""
    if uses_conv(model):
        model.to(memory_format=torch.channels_last)
    return model


def _as_input(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    if x.dim() == 4 and uses_conv(model):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> Iterable[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def _call(hooks: Sequence, name: str) -> None:
    for h in hooks:
        f = getattr(h, name, None)
        if f is not None:
            f()


def train_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                batch_size: int = 256, generator: torch.Generator | None = None, hooks: Sequence = (),
                loss_fn=nn.functional.cross_entropy, extra_loss=None, progress: bool = False,
                desc: str = "train") -> EpochStats:
    """One pass over ``(x, y)``. ``extra_loss(model)`` adds a differentiable term (e.g. group lasso)."""
    model.train()
    device = next(model.parameters()).device
    start = time.perf_counter()
    total = torch.zeros((), dtype=torch.float64, device=device)
    n = len(x)
    bar = tqdm(total=n, desc=desc, unit="img", leave=False, disable=not progress)
    for idx in batches(n, batch_size, generator):
        xb = _as_input(x[idx].to(device, non_blocking=True), model)
        yb = y[idx].to(device, non_blocking=True)
        _call(hooks, "before_forward")
        loss = loss_fn(model(xb), yb)
        if extra_loss is not None:
            loss = loss + extra_loss(model)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLoss(f"loss became {value} during {desc}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _call(hooks, "after_backward")
        optimizer.step()
        _call(hooks, "after_step")
        total += loss.detach() * len(idx)
        bar.update(len(idx))
    bar.close()
    return EpochStats(float(total) / n, time.perf_counter() - start, n)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in [0, 1]."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = _as_input(x[i : i + batch_size].to(device), model)
        correct += int((model(xb).argmax(1) == y[i : i + batch_size].to(device)).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer {name!r} unknown; allowed: sgd, adam")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


def cosine_lr(base_lr: float, epoch: int, epochs: int, floor: float = 0.01) -> float:
    """Cosine decay of ``base_lr`` over ``epochs``, sampled at the start of each epoch.

    Epoch 0 gets ``base_lr``; the floor (``floor * base_lr``) is approached but
    never reached, so every epoch (also the last of a 2-epoch ADMM round) trains.
    """
    if epochs <= 1:
        return base_lr
    t = min(max(epoch / epochs, 0.0), 1.0)
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))
