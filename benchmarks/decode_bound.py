"""Prefill vs one decode step of a GPT-2-shaped decoder on a weight-stationary array: where the DRAM bound shows.

The decoder is ``trace_zoo.GPT2`` (random weights): prefill runs ``tokens`` ids; decode runs one id with a
``tokens``-long KV cache per layer passed in as model inputs.  Both are traced (``sparsesim.traced_workloads``) and
priced on a preset (default ``tpu_like``).  Per step: MACs, DRAM bits (and the weights' and KV cache's share of
them), cycles, compute and memory cycles (``memory_cycles``: DRAM latency + every transfer back to back), stall
cycles, DRAM bits per MAC, and the bound: ``memory`` where the DRAM transfers take longer than the array's compute.
Usage: python benchmarks/decode_bound.py [--d 256 --heads 4 --layers 2 --vocab 512 --tokens 128] [--hw tpu_like]
       python benchmarks/decode_bound.py --gpt2-small    (d 768, 12 heads, 12 layers, vocab 50257)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_zoo import GPT2, gpt2_inputs  # noqa: E402

from accel_models.hardware import load_accelerator  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.traced_workloads import traced_workloads  # noqa: E402


@dataclass(frozen=True)
class StepCost:
    """One step's totals on one accelerator."""

    step: str
    macs: float
    dram_bits: float
    weight_bits: float          # stored weights (every weight row's storage_bits): streamed once per step
    kv_cache_bits: float        # the KV cache read from DRAM (the cache passed in as model inputs)
    kv_write_bits: float        # the new tokens' K/V written to DRAM (returned by the model)
    cycles: float
    compute_cycles: float
    memory_cycles: float
    stall_cycles: float

    @property
    def bound(self) -> str:
        return "memory" if self.memory_cycles > self.compute_cycles else "compute"

    @property
    def dram_bits_per_mac(self) -> float:
        return self.dram_bits / self.macs


def step_cost(model, example, hw: str = "tpu_like", step: str = "") -> StepCost:
    """The totals of ``model`` run once on ``example``, traced and priced on preset ``hw``."""
    acc = load_accelerator(hw)
    with torch.no_grad():
        ws, _ = traced_workloads(model, example)
    rows = evaluate(ws, [acc]).rows()
    act_bits = acc.pe.act_bits
    total = lambda key: float(sum(r[key] for r in rows))  # noqa: E731
    act = [w for w in ws if w.stationary == "activations"]
    return StepCost(step, total("macs_dense"), total("dram_bits"), total("storage_bits"),
                    float(sum(w.cache_read_elems * w.instances for w in act)) * act_bits,
                    float(sum(w.cache_write_elems * w.instances for w in act)) * act_bits,
                    total("cycles"), total("compute_cycles"), total("memory_cycles"), total("stall_cycles"))


def prefill_and_decode(d: int = 256, heads: int = 4, layers: int = 2, vocab: int = 512, tokens: int = 128,
                       hw: str = "tpu_like", seed: int = 0) -> tuple[StepCost, StepCost]:
    """(prefill of ``tokens`` ids, one decode step with a ``tokens``-long KV cache) of one random-weight GPT2."""
    torch.manual_seed(seed)
    model = GPT2(d=d, heads=heads, layers=layers, vocab=vocab, context=max(1024, tokens + 1)).eval()
    return (step_cost(model, gpt2_inputs(model, tokens, decode=False), hw, f"prefill {tokens}"),
            step_cost(model, gpt2_inputs(model, tokens, decode=True), hw, f"decode, KV cache {tokens}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--hw", default="tpu_like")
    ap.add_argument("--gpt2-small", action="store_true", help="GPT-2 small's shape (d 768, 12 heads, 12 layers)")
    a = ap.parse_args()
    shape = (768, 12, 12, 50257) if a.gpt2_small else (a.d, a.heads, a.layers, a.vocab)
    print(f"GPT2(d={shape[0]}, heads={shape[1]}, layers={shape[2]}, vocab={shape[3]}), {a.tokens} tokens, on {a.hw}; "
          f"torch {torch.__version__}\n")
    print("| step | MACs | DRAM bits | weights | KV cache read | K/V written | DRAM bits / MAC | cycles | "
          "compute cycles | memory cycles | stall cycles | bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in prefill_and_decode(*shape, tokens=a.tokens, hw=a.hw):
        print(f"| {c.step} | {c.macs:,.0f} | {c.dram_bits:,.0f} | {c.weight_bits:,.0f} | {c.kv_cache_bits:,.0f} | "
              f"{c.kv_write_bits:,.0f} | {c.dram_bits_per_mac:.3f} | {c.cycles:,.0f} | {c.compute_cycles:,.0f} | "
              f"{c.memory_cycles:,.0f} | {c.stall_cycles:,.0f} | {c.bound} |")


if __name__ == "__main__":
    main()
