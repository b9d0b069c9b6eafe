"""Per-layer reconstruction error of the four one-shot methods on a tiny random transformer.

The shape of issue 22's MiniLM table (layer x method x sparsity), on a model built here with random
weights: a 2-layer ``nn.TransformerEncoder`` (d_model 64, 4 heads, FFN 256) and random calibration
tokens.  Every Linear and attention in/out projection is pruned from the same captured inputs (dense model), with
``pruning.oneshot`` at 50%, 70% non-structured and 2:4.  The error is relative:
``||XW^T - XW'^T||^2 / ||XW^T||^2`` on the calibration inputs.

    PYTHONPATH=. python benchmarks/oneshot_layers.py [--layers 2 --d-model 64 --tokens 512 --seed 0]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from pruning.oneshot import METHODS, capture_grams, method_named, prunable_weights, reconstruction_error
from pruning.structures import Structure

STRUCTURES = {"50%": Structure("nonstructured", 0.5), "70%": Structure("nonstructured", 0.7),
              "2:4": Structure("nm", n=2, m=4)}


def tiny_transformer(layers: int, d_model: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=4 * d_model, dropout=0.0,
                                       batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False).eval()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=512, help="calibration tokens (in sequences of 32)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    model = tiny_transformer(a.layers, a.d_model, a.seed)
    g = torch.Generator().manual_seed(a.seed + 1)
    batches = [torch.randn(4, 32, a.d_model, generator=g) for _ in range(max(1, a.tokens // 128))]
    grams, tokens = capture_grams(model, batches)
    weights = prunable_weights(model)
    skipped = [n for n in weights if n not in grams]
    print(f"calibration tokens per layer: {sorted(set(tokens.values()))}; weights whose input was never "
          f"seen (not pruned): {', '.join(skipped) or 'none'}")
    print("relative reconstruction error ||XW^T - XW'^T||^2 / ||XW^T||^2")
    header = f"{'layer':<34}{'sparsity':>9}" + "".join(f"{m:>12}" for m in METHODS)
    print(header)
    wins, total, seconds = {k: 0 for k in STRUCTURES}, 0, {m: 0.0 for m in METHODS}
    for name, h in grams.items():
        w = weights[name].detach()
        ref = reconstruction_error(w, torch.zeros_like(w), h)
        total += 1
        for label, s in STRUCTURES.items():
            err = {}
            for m in METHODS:
                t0 = time.perf_counter()
                err[m] = reconstruction_error(w, method_named(m).prune(w, h, s), h) / ref
                seconds[m] += time.perf_counter() - t0
            wins[label] += err["admm"] <= err["sparsegpt"]
            print(f"{name:<34}{label:>9}" + "".join(f"{err[m]:>12.4f}" for m in METHODS))
    print("ADMM <= SparseGPT on " + ", ".join(f"{wins[k]}/{total} layers at {k}" for k in STRUCTURES))
    print("seconds per method (all layers, all sparsities): "
          + ", ".join(f"{m} {seconds[m]:.2f}" for m in METHODS))


if __name__ == "__main__":
    main()
