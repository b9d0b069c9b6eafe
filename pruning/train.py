"""A lean training loop over a batch source (``pruning.batches``): tensors in memory or a streamed data set.

Pruning needs nothing from the loop (``pruning.lifecycle`` rides on gradient
hooks and parametrizations).  Optional hooks are objects with any of
``before_forward()``, ``after_backward()`` and ``after_step()``, called around
every optimizer step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .progress import bar as progress_bar
from .batches import BatchSource, Shard, TensorSource


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


def _call(hooks: Sequence, name: str) -> None:
    for h in hooks:
        f = getattr(h, name, None)
        if f is not None:
            f()


def train_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                batch_size: int = 256, generator: torch.Generator | None = None, **kw) -> EpochStats:
    """One pass over the tensors ``(x, y)``; keywords as ``train_source``."""
    return train_source(model, TensorSource(x, y), optimizer, batch_size, generator, **kw)


def train_source(model: nn.Module, source: BatchSource, optimizer: torch.optim.Optimizer, batch_size: int = 256,
                 generator: torch.Generator | None = None, hooks: Sequence = (), loss_fn=nn.functional.cross_entropy,
                 extra_loss=None, progress: bool = False, desc: str = "train", shard: Shard = Shard(),
                 distiller=None) -> EpochStats:
    """One pass over ``source`` (this process's shard of every batch). ``extra_loss(model)`` adds a
    differentiable term (e.g. group lasso); a ``distiller`` (``pruning.distill.Distiller``) replaces
    ``loss_fn`` by its blend of the labels and a teacher's softened outputs."""
    model.train()
    device = next(model.parameters()).device
    start = time.perf_counter()
    total = torch.zeros((), dtype=torch.float64, device=device)
    seen = 0
    bar = progress_bar(len(source), desc, "img", progress, leave=False)
    for xb, yb in source.batches(batch_size, generator, shard):
        xb = _as_input(xb.to(device, non_blocking=True), model)
        yb = yb.to(device, non_blocking=True)
        _call(hooks, "before_forward")
        logits = model(xb)
        loss = loss_fn(logits, yb) if distiller is None else distiller.loss(logits, xb, yb)
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
        total += loss.detach() * len(yb)
        seen += len(yb)
        bar.update(len(yb) * shard.world)
    bar.close()
    return EpochStats(float(total) / max(seen, 1), time.perf_counter() - start, seen)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in [0, 1]."""
    return evaluate_source(model, TensorSource(x, y), batch_size)


@torch.no_grad()
def evaluate_source(model: nn.Module, source: BatchSource, batch_size: int = 1000) -> float:
    """Top-1 accuracy in [0, 1] over the whole source, in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for xb, yb in source.batches(batch_size):
        correct += int((model(_as_input(xb.to(device), model)).argmax(1) == yb.to(device)).sum())
    model.train(was_training)
    return correct / max(len(source), 1)


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
