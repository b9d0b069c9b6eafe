"""The ``zigzag`` convention: ZigZag's access counting (zigzag-dse 3.9.1) for the energy-optimal mapping.

ZigZag prices a layer by searching temporal loop orderings (LOMA), allocating each ordering's loops to the
memories bottom-up, counting every operand's accesses at every memory level at that memory's access granularity
and keeping the ordering of least energy.  ``zigzag_loma.py`` writes those rules out; this module describes a
configuration as ZigZag would see it and turns the counts into this toolkit's ``Traffic``:

* spatial unrolling from ``pe.dataflow``: ``ws`` unrolls output channels K on the rows and input channels C on the
  columns (ZigZag's tpu_like mapping), ``os`` unrolls K on the rows and output columns OX on the columns;
* memory levels from the YAML: with registers (``rf.weight_access_pj`` and ``rf.psum_access_pj`` not 0), each PE
  holds ``rf.capacity_bytes`` of weights and one ``pe.acc_bits`` partial sum, weights go DRAM -> register and
  inputs/outputs live in the shared ``glb``; without them (both 0, as ``rf.act_access_pj: 0`` already means "no
  input register"), every operand is read from the ``glb`` by the MACs and partial sums accumulate there;
* the ``glb`` port moves ``glb.min_access_bits`` granules of a ``glb.width_bits`` word priced ``read_pj`` /
  ``write_pj``; DRAM moves ``dram.bandwidth_bits_per_cycle`` words priced per bit;
* 8-bit (``pe.act_bits``) inputs and final outputs, ``pe.acc_bits`` partial sums, dense loop nest (ZigZag has no
  sparsity): a pruned layer's compressed weights move ``storage bits / dense bits`` of ZigZag's weight traffic.

Conv geometry (stride, padding, output height/width) comes from the workload's ``geometry``; where it is absent
the output is taken as square and stride/padding are solved from the input size.

Timing stays this toolkit's (systolic fold model and pipelined DRAM); ZigZag's latency differs
(docs/validation.md, section 2).
"""

from __future__ import annotations

import math

import numpy as np

from ..demand import ComputeDemand
from ..hwarrays import HardwareArrays
from ..memory import Traffic
from ..timing import pipelined_timing
from ..workload import LayerWorkload
from .zigzag_loma import Layer, Level, best_mapping


def _square(n: int) -> tuple[int, int]:
    r = math.isqrt(n)
    return (r, r) if r * r == n else (1, n)


def loop_nest(w: LayerWorkload, act_bits: int, w_bits: int, acc_bits: int) -> Layer:
    """The layer as ZigZag's 7-loop nest (batch folded into OY for batch > 1)."""
    g = w.geometry
    kernel = g.get("kernel") if w.kind == "conv2d" else None
    fy, fx = (tuple(kernel) if kernel else (1, 1))
    c = max(w.K // (fx * fy), 1) if kernel else w.K
    oy, ox = tuple(g["output_hw"]) if "output_hw" in g else _square(int(w.N))
    stride, pad = g.get("stride", None), g.get("padding", None)
    stride = stride[0] if isinstance(stride, (tuple, list)) else stride
    pad = pad[0] if isinstance(pad, (tuple, list)) else pad
    if kernel and (stride is None or pad is None):
        h = math.isqrt(max(int(w.input_elems) // max(c, 1), 1))
        stride, pad = next(((s, p) for s in range(1, 9) for p in range(0, 8) if (oy - 1) * s + fy - 2 * p == h),
                           (1, 0))
    return Layer(K=int(w.M), C=int(c), OX=int(ox), OY=int(oy) * int(w.batch), FX=int(fx), FY=int(fy),
                 stride=int(stride or 1), padding=int(pad or 0), w_bits=w_bits, i_bits=act_bits,
                 psum_bits=acc_bits, out_bits=act_bits)


def memory_levels(hw: HardwareArrays, i: int, w_bits: int) -> tuple:
    """Per operand, its memory levels bottom-up, as ZigZag's hardware description would list them."""
    width, gmin = float(hw.buf_width["ifmap"][i]), float(hw.buf_min_bits["ifmap"][i])
    sram = Level("sram", float(hw.buf_bits["ifmap"][i]), gmin, width, gmin, width,
                 float(hw.buf_read_pj["ifmap"][i]), float(hw.buf_write_pj["ifmap"][i]), False)
    bw = float(hw.dram_bw[i])
    dram = Level("dram", 1e12, bw, bw, bw, bw, float(hw.dram_pj_bit[i]) * bw, float(hw.dram_write_pj_bit[i]) * bw,
                 False)
    w_pj, o_pj = float(hw.rf_operand_pj["weight"][i]), float(hw.rf_operand_pj["psum"][i])
    if (w_pj == 0) and (o_pj == 0):
        return (("I", (sram, dram)), ("W", (sram, dram)), ("O", (sram, dram)))
    wb, ab = float(w_bits), float(hw.acc_bits[i])
    rf_w = Level("rf_w", float(hw.accelerators[i].rf.capacity_bytes * 8), wb, wb, wb, wb, w_pj, w_pj, True)
    rf_o = Level("rf_o", ab, ab, ab, ab, ab, o_pj, o_pj, True)
    return (("I", (sram, dram)), ("W", (rf_w, dram)), ("O", (rf_o, sram, dram)))


def costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, idx: np.ndarray, resident: np.ndarray):
    """(Traffic, Timing) for configs ``idx`` under the zigzag convention."""
    n = idx.size
    out = {k: np.zeros(n) for k in ("i_dram", "w_dram", "o_dram_wr", "o_dram_rd", "rf_w", "rf_o")}
    sram_rd = {op: np.zeros(n) for op in ("ifmap", "filter", "ofmap")}
    sram_wr = {op: np.zeros(n) for op in ("ifmap", "filter", "ofmap")}
    names = {"I": "ifmap", "W": "filter", "O": "ofmap"}
    for j, i in enumerate(idx):
        if hw.dataflow[i] not in ("ws", "os"):
            raise ValueError(f"{hw.names[i]}: pe.dataflow {hw.dataflow[i]!r} under memory.convention 'zigzag'; "
                             "allowed: 'ws' (K x C unrolled) or 'os' (K x OX unrolled)")
        act, acc, wb = int(hw.act_bits[i]), int(hw.acc_bits[i]), int(d.value_width[i])
        layer = loop_nest(w, act, wb, acc)
        counts = best_mapping(layer, int(hw.rows[i]), int(hw.cols[i]), str(hw.dataflow[i]),
                              memory_levels(hw, i, wb), 0.0)
        width, bw = float(hw.buf_width["ifmap"][i]), float(hw.dram_bw[i])
        for op, level, rd, wr in counts.words:
            if level == "dram":
                if op == "O":
                    out["o_dram_wr"][j] += wr * bw
                    out["o_dram_rd"][j] += rd * bw
                else:
                    out["i_dram" if op == "I" else "w_dram"][j] += rd * bw
            elif level == "sram":
                sram_rd[names[op]][j] += rd * width
                sram_wr[names[op]][j] += wr * width
            else:
                out["rf_w" if op == "W" else "rf_o"][j] += rd + wr
    act = hw.act_bits[idx]
    dense_w_bits = float(w.M * w.K) * d.value_width[idx]
    ratio = np.where(dense_w_bits > 0, d.storage_bits[idx] / np.maximum(dense_w_bits, 1e-12), 1.0)
    w_bits = np.where(resident[idx], 0.0, out["w_dram"] * ratio)
    i_bits, o_wr, o_rd = out["i_dram"], out["o_dram_wr"], out["o_dram_rd"]
    acc = hw.acc_bits[idx]
    fw = np.maximum(d.filter_word_bits[idx], 1e-12)
    zeros = np.zeros(n)
    t = Traffic(
        sram_ifmap_read_words=sram_rd["ifmap"] / act, sram_ifmap_write_words=sram_wr["ifmap"] / act,
        sram_filter_read_words=sram_rd["filter"] / fw, sram_filter_write_words=sram_wr["filter"] / fw,
        sram_ofmap_write_words=sram_wr["ofmap"] / act, sram_ofmap_read_words=sram_rd["ofmap"] / act,
        dram_ifmap_read_words=i_bits / act, dram_filter_read_words=w_bits / fw,
        dram_ofmap_write_words=o_wr / act, dram_ofmap_read_words=o_rd / acc,
        dram_ifmap_bits=i_bits, dram_filter_bits=w_bits, dram_ofmap_bits=o_wr + o_rd, dram_write_bits=o_wr,
        dram_bits_compulsory=np.where(resident[idx], 0.0, d.storage_weight_bits[idx])
        + (d.ifmap_words[idx] + d.ofmap_words[idx]) * act,
        rf_weight_accesses=out["rf_w"], rf_act_accesses=zeros, rf_psum_accesses=out["rf_o"],
        sram_read_bits=sram_rd, sram_write_bits=sram_wr, weights_resident=resident[idx])
    return t, pipelined_timing(d.take(idx), t, hw.take(idx))
