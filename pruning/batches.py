"""Where training batches come from: tensors in memory, or a ``torch.utils.data.Dataset`` read item by item.

Both yield the same batches for the same seed: one permutation of the sample
indices per epoch (from the job's generator), cut into global batches; under
DDP each process takes every ``world``-th sample of each global batch, so
gradients averaged over processes are those of the whole batch.

* ``TensorSource`` - slices of two tensors (the fast path: no workers, no collation)
* ``StreamSource`` - any map-style data set through a ``DataLoader`` with our
  index batches as its ``batch_sampler`` (``num_workers`` processes decode in
  parallel); the data set never has to fit in memory
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

import torch
from torch.utils.data import DataLoader


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1


class BatchSource(Protocol):
    def __len__(self) -> int: ...

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                shard: Shard = Shard()) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def index_batches(n: int, batch_size: int, generator: torch.Generator | None, shard: Shard) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    out = [order[i : i + batch_size][shard.rank :: shard.world] for i in range(0, n, batch_size)]
    return [b for b in out if len(b)]


class TensorSource:
    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size, generator=None, shard=Shard()):
        for idx in index_batches(len(self), batch_size, generator, shard):
            yield self.x[idx], self.y[idx]


class StreamSource:
    def __init__(self, dataset: torch.utils.data.Dataset, num_workers: int = 0):
        self.dataset, self.num_workers = dataset, num_workers

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, batch_size, generator=None, shard=Shard()):
        sampler = [b.tolist() for b in index_batches(len(self), batch_size, generator, shard)]
        try:
            yield from DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.num_workers)
        except Exception as e:
            raise _worker_error(e) from None


def _worker_error(e: Exception) -> Exception:
    """An error a DataLoader worker raised, as the worker raised it: torch re-raises it with the worker's whole
    traceback as its message; the error's own line (naming the file, e.g. ``pruning.data.DataError: x.png: ...``)
    is the last one."""
    text = str(e)
    if "Original Traceback" not in text:
        return e
    last = [line for line in text.splitlines() if line.strip()][-1]
    for prefix in (f"{type(e).__module__}.{type(e).__qualname__}: ", f"{type(e).__qualname__}: "):
        if last.startswith(prefix):
            last = last[len(prefix):]
            break
    try:
        return type(e)(last)
    except Exception:  # noqa: BLE001 - an error type that takes other arguments: keep torch's
        return e
