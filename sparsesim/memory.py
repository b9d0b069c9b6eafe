"""The memory hierarchy under the ``native`` convention: buffer and DRAM traffic per operand.

From a layer's ``ComputeDemand`` and the hardware arrays this computes, per
config and per operand (ifmap = input activations, filter = weights, ofmap =
outputs and partial sums), the words moved between DRAM and the on-chip
buffers and between the buffers and the array.  Rules (docs/cost_model.md):

* Capacity.  Each operand lives in its own buffer (``per_operand``) or all
  share the global buffer (``shared``).  With double buffering half of a
  buffer holds data in use while the other half is filled.
* Inputs.  The raw input is fetched once when it fits its buffer (sliding
  windows reuse it on chip); otherwise once per pass over it (``ifmap_passes``,
  e.g. once per column fold for WS), since the reuse distance exceeds the buffer.
* Weights.  Resident weights (``memory.weights: resident``, or ``auto`` and the
  whole model's encoded weights fit the weight buffer) cost no DRAM traffic per
  inference.  Otherwise they are fetched once if they fit, else once per pass.
* Activations.  A layer's input is read from DRAM and its output written back,
  unless activations stay on chip between layers (``memory.activations:
  resident``, or ``auto`` and the layer's input and output fit their buffers):
  then neither touches DRAM (the previous layer left the input on chip).
* Outputs.  Outputs are written once.  When a layer accumulates over several
  passes (``psum_passes``) and the output tile being accumulated does not fit,
  either partial sums spill (written at ``acc_bits`` after every pass but the
  last and read back before the next) or the output columns are split into
  chunks that fit and the stationary operand is streamed again per chunk,
  whichever moves fewer bits.
* Shared buffer.  The operands kept on chip are the subset that fits the buffer
  and minimises DRAM traffic (all 8 subsets are priced, vectorized).
* Buffer traffic.  The array's reads and writes come from the engine; every
  DRAM fill is a buffer write and every DRAM write-back a buffer read.
* Activation operands (``sparsesim.stationary``).  The stationary operand of an
  activation x activation GEMM (K, V) is never resident: it comes from the
  activation buffer when the layer's activations stay on chip (its input and
  this operand fit the activation buffer), else from DRAM, like a streamed
  weight (once if it fits its buffer, else once per pass).  The part of it
  copied from a KV cache passed in as model inputs is read from DRAM every
  step; the new part the model returns is written to DRAM (output writes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .demand import ComputeDemand
from .hwarrays import HardwareArrays
from .stationary import StationaryOperands


@dataclass(frozen=True, eq=False)
class Traffic:
    """Words moved per operand (arrays over configs) and the bits they amount to."""

    sram_ifmap_read_words: np.ndarray
    sram_ifmap_write_words: np.ndarray
    sram_filter_read_words: np.ndarray
    sram_filter_write_words: np.ndarray
    sram_ofmap_write_words: np.ndarray
    sram_ofmap_read_words: np.ndarray
    dram_ifmap_read_words: np.ndarray
    dram_filter_read_words: np.ndarray
    dram_ofmap_write_words: np.ndarray
    dram_ofmap_read_words: np.ndarray       # spilled partial sums read back
    dram_ifmap_bits: np.ndarray
    dram_filter_bits: np.ndarray
    dram_ofmap_bits: np.ndarray
    dram_write_bits: np.ndarray             # of the DRAM bits, those written (outputs, spills)
    dram_bits_compulsory: np.ndarray
    rf_weight_accesses: np.ndarray          # register accesses inside the PEs
    rf_act_accesses: np.ndarray
    rf_psum_accesses: np.ndarray
    sram_read_bits: dict                    # operand -> bits read from the buffer holding it
    sram_write_bits: dict
    weights_resident: np.ndarray

    @property
    def dram_bits(self) -> np.ndarray:
        return self.dram_ifmap_bits + self.dram_filter_bits + self.dram_ofmap_bits


def resident_weights(hw: HardwareArrays, model_weight_bits: np.ndarray) -> np.ndarray:
    """Per config: are the weights kept on chip across inferences?"""
    fits = model_weight_bits <= hw.buf_bits["filter"]
    return (hw.weights_mode == "resident") | ((hw.weights_mode == "auto") & fits)


def _kept_on_chip(hw: HardwareArrays, sizes: dict, savings: dict) -> dict:
    """Which operands stay on chip: each in its own buffer, or the best subset of the shared one."""
    half = np.where(hw.double_buffered, 0.5, 1.0)
    own = {op: sizes[op] <= hw.buf_bits[op] * half for op in sizes}
    cap = hw.buf_bits["ifmap"] * half          # the shared buffer (every operand maps to glb)
    best_saving = np.full(len(hw), -1.0)
    best = {op: np.zeros(len(hw), dtype=bool) for op in sizes}
    ops = list(sizes)
    for mask in range(1 << len(ops)):
        chosen = [op for i, op in enumerate(ops) if mask >> i & 1]
        used = sum((sizes[op] for op in chosen), np.zeros(len(hw)))
        saving = sum((savings[op] for op in chosen), np.zeros(len(hw)))
        better = (used <= cap) & (saving > best_saving)
        best_saving = np.where(better, saving, best_saving)
        for op in ops:
            best[op] = np.where(better, op in chosen, best[op])
    return {op: np.where(hw.per_operand, own[op], best[op]) for op in ops}


def _partial_sums(d: ComputeDemand, hw: HardwareArrays, kept: dict, resident: np.ndarray) -> tuple:
    """A layer whose accumulating output tile does not fit either spills partial sums to DRAM, or splits its
    output columns into chunks that fit and streams the stationary operand (WS: weights, IS: inputs) again
    per chunk; the cheaper wins.  Returns (spilled words, extra weight entries, extra input words)."""
    acc = hw.acc_bits
    needs = (d.psum_passes > 1) & ~kept["ofmap"]
    spill_words = d.ofmap_words * np.maximum(d.psum_passes - 1, 0)
    half = np.where(hw.double_buffered, 0.5, 1.0)
    chunks = np.maximum(1.0, np.ceil(d.ofmap_tile_words * acc / (hw.buf_bits["ofmap"] * half)))
    w_again = d.restream_filter * np.where(kept["filter"] | resident, 0.0, d.storage_bits)
    if_again = d.restream_ifmap * np.where(kept["ifmap"], 0.0, d.ifmap_words * hw.act_bits)
    chunked = needs & ((chunks - 1) * (w_again + if_again) < 2 * spill_words * acc)
    entries = d.storage_bits / np.maximum(d.filter_word_bits, 1e-12)
    extra_w = np.where(chunked & (w_again > 0), (chunks - 1) * entries, 0.0)
    extra_if = np.where(chunked & (if_again > 0), (chunks - 1) * d.ifmap_words, 0.0)
    return np.where(needs & ~chunked, spill_words, 0.0), extra_w, extra_if


def native_traffic(d: ComputeDemand, hw: HardwareArrays, resident: np.ndarray, act_density,
                   operands: StationaryOperands | None = None) -> Traffic:
    """Traffic per config; ``act_density``: the layer's input-activation density (or one per entry of ``d``);
    ``operands``: which entries' stationary operand is an activation, with their KV-cache words (None: weights)."""
    act, acc = hw.act_bits, hw.acc_bits
    zero = np.zeros(len(hw))
    act_op, cache_in, cache_out = (zero.astype(bool), zero, zero) if operands is None else (
        operands.activation, operands.cache_read_words, operands.cache_write_words)
    resident = resident & ~act_op
    entries = d.storage_bits / np.maximum(d.filter_word_bits, 1e-12)
    spill_words = d.ofmap_words * np.maximum(d.psum_passes - 1, 0)
    sizes = {"ifmap": d.ifmap_words * act, "filter": d.storage_bits, "ofmap": d.ofmap_tile_words * acc}
    savings = {"ifmap": d.ifmap_words * act * (d.ifmap_passes - 1),
               "filter": np.where(resident, 0.0, d.storage_bits * (d.filter_passes - 1)),
               "ofmap": 2 * spill_words * acc}
    kept = _kept_on_chip(hw, sizes, savings)
    half = np.where(hw.double_buffered, 0.5, 1.0)
    acts_fit = (sizes["ifmap"] <= hw.buf_bits["ifmap"] * half) & (d.ofmap_words * act <= hw.buf_bits["ofmap"] * half)
    acts_fit = acts_fit & (~act_op | (sizes["ifmap"] + sizes["filter"] <= hw.buf_bits["ifmap"] * half))
    acts_on_chip = (hw.acts_mode == "resident") | ((hw.acts_mode == "auto") & acts_fit)
    kept["ifmap"] = kept["ifmap"] | acts_on_chip
    from_chip = act_op & acts_on_chip       # an activation operand the activation buffer holds (but its cache part)
    spill, extra_w, extra_if = _partial_sums(d, hw, kept, resident | from_chip)
    dram_if = np.where(acts_on_chip, 0.0, d.ifmap_words * np.where(kept["ifmap"], 1.0, d.ifmap_passes)) + extra_if
    fetches = np.where(kept["filter"], 1.0, d.filter_passes)
    dram_w = np.where(resident, 0.0, np.where(from_chip, cache_in, entries) * fetches) + extra_w
    on_chip_w = np.where(from_chip, (entries - cache_in) * fetches, 0.0)   # activation buffer -> filter buffer
    out_words = np.where(acts_on_chip, 0.0, d.ofmap_words) + cache_out
    bits_if, bits_w = dram_if * act, dram_w * d.filter_word_bits
    compulsory = np.where(resident, 0.0, np.where(from_chip, cache_in * act, d.storage_weight_bits)) + np.where(
        acts_on_chip, 0.0, d.ifmap_words * act * act_density + d.ofmap_words * act) + cache_out * act
    reads = {"ifmap": d.sram_ifmap_read_words * act + on_chip_w * act,
             "filter": d.sram_filter_read_words * d.filter_word_bits,
             "ofmap": d.sram_ofmap_read_words * acc + out_words * act + spill * acc}
    writes = {"ifmap": bits_if, "filter": bits_w + on_chip_w * act,
              "ofmap": d.sram_ofmap_write_words * acc + spill * acc}
    return Traffic(
        sram_ifmap_read_words=d.sram_ifmap_read_words, sram_ifmap_write_words=dram_if,
        sram_filter_read_words=d.sram_filter_read_words, sram_filter_write_words=dram_w + on_chip_w,
        sram_ofmap_write_words=d.sram_ofmap_write_words + spill,
        sram_ofmap_read_words=d.sram_ofmap_read_words + out_words + spill,
        dram_ifmap_read_words=dram_if, dram_filter_read_words=dram_w, dram_ofmap_write_words=out_words + spill,
        dram_ofmap_read_words=spill, dram_ifmap_bits=bits_if, dram_filter_bits=bits_w,
        dram_ofmap_bits=out_words * act + 2 * spill * acc, dram_write_bits=out_words * act + spill * acc,
        dram_bits_compulsory=compulsory, rf_weight_accesses=d.rf_weight_accesses, rf_act_accesses=d.rf_act_accesses,
        rf_psum_accesses=d.rf_psum_accesses, sram_read_bits=reads, sram_write_bits=writes, weights_resident=resident)
