"""LeNet-5 MNIST epoch time: a plain loop vs ours, and ADMM overhead.

Targets (issues 2, 9): a LeNet-5 MNIST epoch <= 30 s on 2 cores; an ADMM epoch
at most 10% slower than a plain epoch.  Like with like: the textbook loop, our
loop and our loop with ADMM all use the same batch size and optimizer (Adam).
Usage: python benchmarks/epoch_time.py [--data-dir ../shared/data/mnist] [--epochs 2]
Under DDP (each process trains on half of every batch, gloo on CPU):
       OMP_NUM_THREADS=1 torchrun --nproc-per-node 2 benchmarks/epoch_time.py --ddp-only
Without the MNIST files a random tensor set of the same size is used (timing only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from pruning.batches import TensorSource
from pruning.config import PruneConfig
from pruning.data import load_mnist
from pruning.distill import Distiller
from pruning.distributed import Replicas, init_from_env, is_main, shard
from pruning.lifecycle import Pruner
from pruning.models import build_model
from pruning.train import make_optimizer, prepare_for_speed, train_source


def naive_epoch(model, x, y, batch_size: int) -> float:
    """The textbook loop: DataLoader over a TensorDataset, contiguous NCHW, Adam (as ours)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    t = time.perf_counter()
    model.train()
    for xb, yb in loader:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1] / ".." / "shared/data/mnist"))
    ap.add_argument("--epochs", type=int, default=2, help="epochs timed per variant (median)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--ddp-only", action="store_true", help="skip the textbook loop (for torchrun)")
    args = ap.parse_args()
    try:
        ds = load_mnist(args.data_dir)
        x, y, src = ds.train_x, ds.train_y, "MNIST"
    except Exception as e:  # noqa: BLE001 - benchmark only needs the shapes
        x, y, src = torch.randn(60000, 1, 28, 28), torch.randint(0, 10, (60000,)), f"random ({e})"
    ddp = init_from_env()
    if is_main():
        print(f"data: {src}, {len(x)} images; threads={torch.get_num_threads()}; processes={shard().world}")
    if not args.ddp_only:
        torch.manual_seed(0)
        naive = naive_epoch(build_model("lenet5"), x, y, args.batch_size)
        print(f"plain loop (DataLoader, NCHW, Adam, batch {args.batch_size}): {naive:6.1f} s/epoch")
    p, a, kd = admm_overhead(x, y, args.batch_size, args.epochs)
    if not is_main():
        return
    where = f"DDP x{shard().world}" if ddp else "one process"
    print(f"ours (tensors, channels_last, Adam, batch {args.batch_size}, {where}): {p:6.1f} s/epoch" +
          ("" if args.ddp_only else f"  ({naive / p:.1f}x faster than the plain loop; target <= 30 s)"))
    print(f"ours + ADMM penalty on all 4 layers ({where}):      {a:6.1f} s/epoch  "
          f"(ADMM/plain = {a / p:.3f}; target <= 1.10)")
    print(f"ours + distillation from a dense teacher ({where}): {kd:6.1f} s/epoch  (distilled/plain = {kd / p:.3f}; "
          "masked retraining with `distill`)")


def admm_overhead(x, y, batch_size: int, epochs: int) -> tuple[float, float, float]:
    """Median plain, ADMM and distilled epoch times, interleaved (drift on a noisy machine hits all alike)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = prepare_for_speed(build_model("lenet5"))
    trainable = Replicas(model).trainable()
    opt = make_optimizer("adam", model.parameters(), 1e-3)
    cfg = PruneConfig.from_dict({"layers": {n: {"type": "nonstructured", "ratio": 0.9}
                                            for n in ("conv1", "conv2", "fc1", "fc2")}})
    source = TensorSource(x, y)
    teacher = prepare_for_speed(build_model("lenet5")).eval()
    distiller = Distiller(teacher, 0.5, 4.0)
    plain, with_admm, distilled = [], [], []
    for _ in range(epochs):
        plain.append(train_source(trainable, source, opt, batch_size, g, shard=shard()).seconds)
        pruner = Pruner(model, cfg.resolve(model)).prepare()  # penalty gradient hooks on all 4 weights
        with_admm.append(train_source(trainable, source, opt, batch_size, g, shard=shard()).seconds)
        pruner.step()
        pruner.close()
        distilled.append(train_source(trainable, source, opt, batch_size, g, shard=shard(),
                                      distiller=distiller).seconds)
    return statistics.median(plain), statistics.median(with_admm), statistics.median(distilled)

if __name__ == "__main__":
    main()
