"""The ``zigzag`` convention: ZigZag's access counting for a tpu_like hierarchy.

ZigZag (KU Leuven, zigzag-dse 3.9.1) prices a layer by counting, for its
energy-optimal temporal mapping, the accesses of every operand at every memory
level and multiplying them by per-access energies.  For the tpu_like shape of
hierarchy (weights in a register per PE, outputs in an accumulator register per
PE, inputs read from the shared buffer every cycle and broadcast along the
output-channel dimension, the shared buffer also holding outputs, DRAM above),
with output channels K unrolled on the array rows and input channels C on the
columns, that mapping moves every operand across DRAM exactly once when the
input and output fit the shared buffer, and keeps all reduction loops in the
accumulators.  Its access counts then follow in closed form
(docs/validation.md checks them against ZigZag, term by term):

* unrolling is greedy and fractional: Ku = K / ceil(K / rows), Cu = C / ceil(C / cols);
  the temporal cycles are T = ceil(K / rows) ceil(C / cols) N R S;
* DRAM: weights, inputs and outputs once (inputs refetched once per K tile
  when input and output do not fit the buffer together);
* buffer: the input is written once and read every cycle, ``ceil(Cu act_bits /
  g) g`` bits per cycle (g = the port's ``min_access_bits``, ZigZag's
  bw_min); outputs are written once per output tile of Ku values, rounded up to
  g, and read once to go to DRAM;
* registers: one weight read per MAC plus one write per weight; one
  partial-sum write and one read per MAC (ZigZag charges the read-back of the
  first write too) plus Cu reads per output to send it up; no input register.

Timing stays this toolkit's (systolic fold model and pipelined DRAM); ZigZag's
latency differs (its temporal cycles have no per-fold fill and drain; it adds
port stalls and on/off-loading) and docs/validation.md explains by how much.
"""

from __future__ import annotations

import numpy as np

from ..demand import ComputeDemand, ceil_div
from ..hwarrays import HardwareArrays
from ..memory import Traffic
from ..timing import pipelined_timing
from ..workload import LayerWorkload


def _window(w: LayerWorkload) -> int:
    kernel = w.geometry.get("kernel")
    rs = int(np.prod(kernel)) if (w.kind == "conv2d" and kernel) else 1
    return rs if w.K % rs == 0 else 1


def costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, idx: np.ndarray, resident: np.ndarray):
    """(Traffic, Timing) for configs ``idx`` under the zigzag convention."""
    rs = _window(w)
    act = hw.act_bits[idx]
    m, c = d.gemm_m[idx], np.maximum(d.gemm_k[idx] / rs, 1.0)
    n = float(w.columns)
    k_tiles, c_tiles = ceil_div(m, hw.rows[idx]), ceil_div(np.ceil(c), hw.cols[idx])
    ku, cu = m / k_tiles, c / c_tiles
    temporal = k_tiles * c_tiles * n * rs
    macs = m * c * n * rs
    g = hw.buf_min_bits["ifmap"][idx]
    entries = d.storage_bits[idx] / np.maximum(d.filter_word_bits[idx], 1e-12)
    if_words, out_words = d.ifmap_words[idx], m * n
    fits = (if_words + out_words) * act <= hw.buf_bits["ifmap"][idx]
    dram_if = if_words * np.where(fits, 1.0, k_tiles)
    dram_w = np.where(resident[idx], 0.0, entries)
    if_read_bits = temporal * np.ceil(cu * act / g) * g
    out_write_bits = k_tiles * n * np.ceil(ku * act / g) * g
    out_read_bits = np.ceil(out_words * act / g) * g
    zeros = np.zeros(idx.size)
    t = Traffic(
        sram_ifmap_read_words=if_read_bits / act, sram_ifmap_write_words=dram_if,
        sram_filter_read_words=zeros, sram_filter_write_words=zeros,
        sram_ofmap_write_words=out_write_bits / act, sram_ofmap_read_words=out_read_bits / act,
        dram_ifmap_read_words=dram_if, dram_filter_read_words=dram_w, dram_ofmap_write_words=out_words,
        dram_ofmap_read_words=zeros, dram_ifmap_bits=dram_if * act, dram_filter_bits=dram_w * d.filter_word_bits[idx],
        dram_ofmap_bits=out_words * act, dram_write_bits=out_words * act,
        dram_bits_compulsory=d.storage_weight_bits[idx] + (if_words + out_words) * act,
        rf_weight_accesses=macs + entries, rf_act_accesses=zeros, rf_psum_accesses=2 * macs + out_words * cu,
        sram_read_bits={"ifmap": if_read_bits, "filter": zeros, "ofmap": out_read_bits},
        sram_write_bits={"ifmap": dram_if * act, "filter": zeros, "ofmap": out_write_bits},
        weights_resident=resident[idx])
    return t, pipelined_timing(d.take(idx), t, hw.take(idx))
