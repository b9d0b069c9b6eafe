"""LeNet-5 MNIST epoch time: a plain loop vs ours, and ADMM overhead.

Targets (issues 2, 9): a LeNet-5 MNIST epoch <= 30 s on 2 cores; an ADMM epoch
at most 10% slower than a plain epoch.  Like with like: the textbook loop, our
loop and our loop with ADMM all use the same batch size and optimizer (Adam).
Usage: python benchmarks/epoch_time.py [--data-dir ../shared/data/mnist] [--epochs 2]
Without the MNIST files a random tensor set of the same size is used (timing only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from pruning.config import PruneConfig
from pruning.data import load_mnist
from pruning.lifecycle import Pruner
from pruning.models import build_model
from pruning.train import make_optimizer, prepare_for_speed, train_epoch


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
    args = ap.parse_args()
    try:
        ds = load_mnist(args.data_dir)
        x, y, src = ds.train_x, ds.train_y, "MNIST"
    except Exception as e:  # noqa: BLE001 - benchmark only needs the shapes
        x, y, src = torch.randn(60000, 1, 28, 28), torch.randint(0, 10, (60000,)), f"random ({e})"
    print(f"data: {src}, {len(x)} images; threads={torch.get_num_threads()}")
    torch.manual_seed(0)
    naive = naive_epoch(build_model("lenet5"), x, y, args.batch_size)
    print(f"plain loop (DataLoader, NCHW, Adam, batch {args.batch_size}): {naive:6.1f} s/epoch")

    g = torch.Generator().manual_seed(0)
    model = prepare_for_speed(build_model("lenet5"))
    opt = make_optimizer("adam", model.parameters(), 1e-3)
    cfg = PruneConfig.from_dict({"layers": {n: {"type": "nonstructured", "ratio": 0.9}
                                            for n in ("conv1", "conv2", "fc1", "fc2")}})
    plain, with_admm = [], []
    for _ in range(args.epochs):  # interleaved, so drift on a noisy machine hits both alike
        plain.append(train_epoch(model, x, y, opt, args.batch_size, g).seconds)
        pruner = Pruner(model, cfg.resolve(model)).prepare()  # penalty gradient hooks on all 4 weights
        with_admm.append(train_epoch(model, x, y, opt, args.batch_size, g).seconds)
        pruner.step()
        pruner.close()
    p, a = statistics.median(plain), statistics.median(with_admm)
    print(f"ours (tensors, channels_last, Adam, batch {args.batch_size}): {p:6.1f} s/epoch  "
          f"({naive / p:.1f}x faster than the plain loop; target <= 30 s)")
    print(f"ours + ADMM penalty on all 4 layers:      {a:6.1f} s/epoch  "
          f"(ADMM/plain = {a / p:.3f}; target <= 1.10)")


if __name__ == "__main__":
    main()
