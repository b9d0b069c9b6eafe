"""Activations where a weight would sit: the stationary ``(M, K)`` operand of an activation x activation GEMM.

An attention score ``Q K^T`` or context ``P V`` (``sparsesim.traced_workloads``: ``stationary='activations'``) keeps
K or V stationary in the array as a weight GEMM keeps its weights, but K and V are activations.  Rules
(docs/cost_model.md, "Activation operands and decode"):

* Instances.  Each of the row's ``batch`` instances (samples x heads) has its own operand (a head's K or V), so the
  row is priced as one instance (``one_instance``: batch 1) and its additive columns are multiplied by the
  instance count (``scale_instances``): the instances run one after another.
* Bits.  Its values are activations, stored at the hardware's ``act_bits`` (``activation_widths``).  They are never
  part of the model's weights: not in the footprint that decides ``weights_resident``, never resident, and the
  row's ``storage_*`` columns (the layer's stored weights) are 0.
* Where it is read from (``sparsesim.memory``, native convention): where activations live, i.e. from the
  activation buffer when the layer's activations stay on chip (``memory.activations``: ``resident``, or ``auto``
  and the layer's input and this operand fit the activation buffer beside its output), else from DRAM, at every
  pass of the array over it that its buffer cannot hold.
* KV cache.  A cache passed in as model inputs is state kept in DRAM between steps: the elements of the operand
  copied from it (``cache_read_elems``) are read from DRAM at every step wherever activations live, and the ones
  this step computed and the model returns (``cache_write_elems``: the new tokens' K or V) are written to DRAM,
  counted with the row's output writes (``dram_ofmap_write_words``).

The ``scalesim`` and ``zigzag`` conventions and the row-stationary engine read it under their own rules for a
streamed (never resident) weight operand; the cache writes are counted by the native convention only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .demand import ComputeDemand
from .hwarrays import HardwareArrays
from .workload import LayerWorkload

STORAGE_COLUMNS = ("storage_weight_bits", "storage_index_bits", "storage_padding_bits", "storage_pointer_bits",
                   "storage_bits")


@dataclass(frozen=True, eq=False)
class StationaryOperands:
    """Per priced entry (layer after layer, ``n`` configs each): is the stationary operand an activation, and the
    words of it read from / written to a KV cache in DRAM (one instance)."""

    activation: np.ndarray           # bool
    cache_read_words: np.ndarray
    cache_write_words: np.ndarray

    @classmethod
    def of(cls, workloads, n: int) -> "StationaryOperands":
        def per_layer(value, dtype=float):
            return np.repeat(np.array([value(w) for w in workloads], dtype=dtype), n)
        return cls(per_layer(lambda w: w.stationary == "activations", bool),
                   per_layer(lambda w: w.cache_read_elems), per_layer(lambda w: w.cache_write_elems))

    def take(self, idx: np.ndarray) -> "StationaryOperands":
        return StationaryOperands(self.activation[idx], self.cache_read_words[idx], self.cache_write_words[idx])


def one_instance(w: LayerWorkload) -> LayerWorkload:
    """The workload to price: an activation-stationary row as one of its instances (batch 1), any other as is."""
    return w.with_batch(1) if w.stationary == "activations" and w.batch > 1 else w


def activation_widths(d: ComputeDemand, workloads, hw: HardwareArrays) -> ComputeDemand:
    """``d`` (layer after layer, ``len(hw)`` configs each) with every activation-stationary entry's values at the
    hardware's ``act_bits`` instead of a weight width (value, padding and per-entry bits; index bits kept)."""
    act = StationaryOperands.of(workloads, 1).activation
    if not act.any():
        return d
    mask = np.repeat(act, len(hw))
    bits = np.tile(hw.act_bits.astype(float), len(workloads))
    scale = np.where(mask, bits / np.maximum(d.value_width, 1e-12), 1.0)
    entries = d.storage_bits / np.maximum(d.filter_word_bits, 1e-12)
    out = replace(d, value_width=np.where(mask, bits, d.value_width),
                  storage_weight_bits=d.storage_weight_bits * scale,
                  storage_padding_bits=d.storage_padding_bits * scale)
    return replace(out, filter_word_bits=np.where(mask, out.storage_bits / np.maximum(entries, 1e-12),
                                                  d.filter_word_bits))


def scale_instances(cols: dict, workloads, n: int, additive) -> dict:
    """The cost columns of the one-instance rows (``one_instance``) as the whole rows: the ``additive`` columns
    times the instances, the stored-weight columns 0 (no weights), ``batch`` the row's own."""
    inst = np.repeat(np.array([w.instances for w in workloads], dtype=float), n)
    act = np.repeat(np.array([w.stationary == "activations" for w in workloads], dtype=bool), n)
    if not act.any():
        return cols
    out = dict(cols)
    for k in additive:
        out[k] = np.where(act, 0.0, cols[k]) if k in STORAGE_COLUMNS else np.where(act, cols[k] * inst, cols[k])
    out["batch"] = np.repeat(np.array([w.batch for w in workloads], dtype=np.int64), n)
    return out


__all__ = ["StationaryOperands", "one_instance", "activation_widths", "scale_instances", "STORAGE_COLUMNS"]
