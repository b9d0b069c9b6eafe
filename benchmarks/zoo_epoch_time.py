"""Seconds per training epoch of zoo models on a data set, at a thread count: how long a compare takes.

A compare with ``jobs: 2`` runs two structure searches at once, one torch thread each, so ``--threads 1`` is the
figure that sets its wall time: about (dense epochs + probes x epochs per probe) x s/epoch / jobs.  Our training
loop (``pruning.train.train_source``: tensors, channels_last, Adam, batch 256), the median of ``--epochs``.
Usage (docs/results.md "Beyond MNIST"):
    python benchmarks/zoo_epoch_time.py --dataset fashion_mnist --data-dir ../shared/data/fashion-mnist \\
        --models lenet5,resnet8:8,resnet8:16 --threads 1 --epochs 1 --images 12000
``NAME:WIDTH`` builds a model that takes ``width=`` (resnet8) at that width.  Also prints the load average, so a
figure taken on a shared machine says so.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from pruning.batches import TensorSource
from pruning.data import load_dataset
from pruning.models import MODELS, prunable_layers
from pruning.train import make_optimizer, prepare_for_speed, train_source


def build(spec: str, num_classes: int) -> torch.nn.Module:
    name, _, width = spec.partition(":")
    if name not in MODELS:
        raise SystemExit(f"--models: {name!r}; allowed: {', '.join(sorted(MODELS))} (NAME or NAME:WIDTH)")
    if width and not width.isdigit():
        raise SystemExit(f"--models: width {width!r} of {spec!r}; allowed: a positive integer")
    return MODELS[name](num_classes, int(width)) if width else MODELS[name](num_classes)


def epoch_seconds(model: torch.nn.Module, source, epochs: int, batch_size: int = 256) -> float:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = prepare_for_speed(model)
    opt = make_optimizer("adam", model.parameters(), 1e-3)
    return statistics.median(train_source(model, source, opt, batch_size, g).seconds for _ in range(epochs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--data-dir", default="../shared/data/fashion-mnist")
    ap.add_argument("--models", default="lenet5,resnet8", help="comma-separated NAME or NAME:WIDTH")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1, help="epochs timed per model (median)")
    ap.add_argument("--images", type=int, default=0, help="time passes over the first N training images only and "
                    "scale to the full set (images/s x set size; 0: whole epochs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, args.data_dir)
    print(f"{args.dataset}: {len(data.train_y)} training images; threads={args.threads}; "
          f"load average before {os.getloadavg()[0]:.2f}")
    full = len(data.train_y)
    part = min(args.images, full) if args.images > 0 else full
    source = TensorSource(data.train_x[:part], data.train_y[:part])
    if part < full:
        print(f"timing {part} of {full} images per pass; s/epoch = seconds x {full / part:g}")
    for spec in args.models.split(","):
        model = build(spec, data.num_classes)
        n = sum(m.weight.numel() for m in prunable_layers(model).values())
        s = epoch_seconds(model, source, args.epochs) * full / part
        print(f"{spec:12s} {n:>9,} prunable weights  {s:7.1f} s/epoch  (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
