"""Data-parallel pruning under ``torchrun`` (torch DDP; gloo on CPU, NCCL on GPU).

Every process holds the whole model and the same ADMM state; each trains on
its shard of every global batch (``pruning.batches``), DDP averages the
gradients (the ADMM penalty gradient is added before the average, identical
on every process), so every process makes the same update and the same Z/U
projections, and the masks equal those of one process with the same seed.
Only the first process writes checkpoints, logs and the artifact.

What is not bit-identical to one process: the floating-point order of the
gradient sum (weights agree to rounding), and BatchNorm statistics, which DDP
computes per process (convert to ``SyncBatchNorm`` on GPU if that matters).
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .batches import Shard


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard() -> Shard:
    return Shard(dist.get_rank(), dist.get_world_size()) if active() else Shard()


def is_main() -> bool:
    return not active() or dist.get_rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group ``torchrun`` describes (WORLD_SIZE > 1); returns whether it did."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return True


class Replicas:
    """The DDP wrapper of a model, rebuilt when its parameters change: the hard prune re-parametrizes them,
    with fresh tensors under DDP (``pruning.masking.apply_masks``), so the old reducer's hooks stay behind."""

    def __init__(self, model: nn.Module):
        self.model = model
        self._key: tuple = ()
        self._ddp: nn.Module | None = None

    def trainable(self) -> nn.Module:
        if not active():
            return self.model
        key = tuple(id(p) for p in self.model.parameters())
        if key != self._key:
            device_ids = [torch.cuda.current_device()] if next(self.model.parameters()).is_cuda else None
            self._ddp, self._key = DistributedDataParallel(self.model, device_ids=device_ids), key
            # a 1-input-channel conv in channels_last has strides DDP's bucket views do not copy: harmless
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        return self._ddp
