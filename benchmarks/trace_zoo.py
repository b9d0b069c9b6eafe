"""The traced-workload oracle on a zoo of random-weight models: our MACs per aten op == FlopCounterMode FLOPs / 2.

Zoo (random weights, nothing downloaded): torchvision resnet18, resnet50, mobilenet_v2, mobilenet_v3_small,
efficientnet_b0, vit_b_16, convnext_tiny; nn.TransformerEncoder and nn.TransformerDecoder; a GPT-2-shaped decoder
(plain torch, below) at prefill (128 tokens) and one decode step with a 128-token KV cache.  ``--small`` runs the
shapes the tests use (tests/test_trace.py).  Prints one row per model: our MACs, FlopCounterMode's / 2, the op kinds
that differ (none expected), the priced share, the activation x activation share and the vector elements.
Usage: python benchmarks/trace_zoo.py [--small] [--only NAME]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from pruning.models import build_model
from sparsesim.trace import flop_counter_macs, trace_model


def import_torchvision():
    """torchvision's model definitions.  PyPI's torchvision wheel beside a CPU-only torch cannot load its C
    extension (it links libc10_cuda.so), and its import then fails registering fake kernels for ``torchvision::nms``
    / ``qnms``; defining those two schemas first (no kernels: no model here calls them) lets the pure-Python model
    definitions import."""
    try:
        import torchvision
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
        lib = torch.library.Library("torchvision", "DEF")   # kept alive on the module: a registration lives with it
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision.lib = lib
        import torchvision
    return torchvision.models


class GPT2Block(nn.Module):
    """A GPT-2 block (pre-norm, fused QKV ``c_attn`` stored (in, out) as in HF's Conv1D, GELU MLP)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn_weight = nn.Parameter(torch.randn(d, 3 * d) * 0.02)   # (in, out): x @ W, like HF's Conv1D
        self.c_attn_bias = nn.Parameter(torch.zeros(3 * d))
        self.c_proj = nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, past_k=None, past_v=None):
        b, t, d = x.shape
        h = self.ln_1(x)
        qkv = torch.addmm(self.c_attn_bias, h.reshape(-1, d), self.c_attn_weight).reshape(b, t, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)            # (B, H, T, D) each
        if past_k is not None:
            k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=past_k is None)
        x = x + self.c_proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")), k, v


class GPT2(nn.Module):
    """GPT-2-shaped decoder (GPT-2 small: d 768, 12 heads, 12 layers, vocab 50257, tied LM head)."""

    def __init__(self, d: int = 768, heads: int = 12, layers: int = 12, vocab: int = 50257, context: int = 1024):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.h = nn.ModuleList(GPT2Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids, past=None):
        start = 0 if past is None else past[0][0].shape[2]
        x = self.wte(ids) + self.wpe(torch.arange(start, start + ids.shape[1]))
        cache = []
        for i, block in enumerate(self.h):
            x, k, v = block(x, *(past[i] if past is not None else (None, None)))
            cache.append((k, v))
        return F.linear(self.ln_f(x), self.wte.weight), cache   # tied LM head


def gpt2_inputs(model: GPT2, tokens: int, decode: bool):
    """Prefill: ``tokens`` ids.  Decode: one id and a ``tokens``-long KV cache per layer (inputs, as a runtime
    holds it)."""
    d, heads = model.ln_f.normalized_shape[0], model.h[0].heads
    if not decode:
        return (torch.randint(0, model.wte.num_embeddings, (1, tokens)),)
    past = [(torch.randn(1, heads, tokens, d // heads), torch.randn(1, heads, tokens, d // heads))
            for _ in model.h]
    return (torch.randint(0, model.wte.num_embeddings, (1, 1)), past)


def zoo(small: bool):
    """(name, build) pairs; ``build()`` returns (model in eval mode, example inputs as a tuple)."""
    img = 64 if small else 224

    def tv(name, size=img, **kw):
        def build():
            m = getattr(import_torchvision(), name)(weights=None, **kw).eval()
            return m, (torch.randn(1, 3, size, size),)
        return build

    def encoder():
        d, t = (64, 16) if small else (512, 128)
        layer = nn.TransformerEncoderLayer(d, 8, 4 * d, batch_first=True)
        return nn.TransformerEncoder(layer, 2 if small else 6, enable_nested_tensor=False).eval(), \
            (torch.randn(1, t, d),)

    def decoder():
        d, t = (64, 16) if small else (512, 128)
        layer = nn.TransformerDecoderLayer(d, 8, 4 * d, batch_first=True)
        return nn.TransformerDecoder(layer, 2 if small else 6).eval(), (torch.randn(1, t, d), torch.randn(1, t, d))

    def gpt2(decode):
        def build():
            m = (GPT2(d=64, heads=4, layers=2, vocab=500) if small else GPT2()).eval()
            return m, gpt2_inputs(m, 128, decode)
        return build

    return [("resnet18", tv("resnet18")), ("resnet50", tv("resnet50")), ("mobilenet_v2", tv("mobilenet_v2")),
            ("mobilenet_v3_small", tv("mobilenet_v3_small")), ("efficientnet_b0", tv("efficientnet_b0")),
            ("vit_b_16", tv("vit_b_16", size=32 if small else 224, **({"image_size": 32} if small else {}))),
            ("convnext_tiny", tv("convnext_tiny")),
            ("transformer_encoder", encoder), ("transformer_decoder", decoder),
            ("gpt2_prefill_128", gpt2(False)), ("gpt2_decode_kv128", gpt2(True)),
            ("vit_tiny (ours)", lambda: (build_model("vit_tiny").eval(), (torch.randn(1, 1, 28, 28),))),
            ("resnet8 (ours)", lambda: (build_model("resnet8").eval(), (torch.randn(1, 1, 28, 28),)))]


def check(build):
    """(trace, FlopCounterMode MACs per op) of one zoo model on its example."""
    model, example = build()
    with torch.no_grad():
        return trace_model(model, example), flop_counter_macs(model, example)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="the tests' shapes")
    ap.add_argument("--only", help="one model of the zoo")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}; {'small' if args.small else 'full'} shapes\n")
    print(f"| model | our MACs | FlopCounterMode FLOPs / 2 | op kinds that differ | priced share | "
          f"act x act share | vector elements | s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name, build in zoo(args.small):
        if args.only and name != args.only:
            continue
        t0 = time.perf_counter()
        trace, ref = check(build)
        ours = trace.macs_by_op()
        differ = [op for op in set(ours) | set(ref) if ours.get(op, 0) != ref.get(op, 0)]
        act = sum(g.macs for g in trace.gemms if g.act_x_act)
        print(f"| {name} | {trace.macs:,} | {sum(ref.values()):,} | {', '.join(sorted(differ)) or 'none'} | "
              f"{trace.priced_share:.1%} | {act / trace.macs:.2%} | {trace.vector_elements:,} | "
              f"{time.perf_counter() - t0:.1f} |")


if __name__ == "__main__":
    main()
