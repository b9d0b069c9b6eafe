"""Systolic arrays (``systolic``) and N:M arrays (``nm``): the GEMM folded onto an R x C array.

Mapping (SCALE-Sim's, exact against it for compute cycles; docs/validation.md):
(Sr, Sc, T) = WS (K, M, N), OS (N, M, K), IS (K, N, M) for M filters, K inputs per
filter and N output columns (pixels x batch); folds = ceil(Sr/R) ceil(Sc/C),
each taking WS/IS ``2R + C + T - 2`` and OS ``R + C + T - 2`` cycles.  Folds
run column fold outer, row fold inner.

* systolic: all-zero weight rows and columns are dropped when the array
  compacts (``compact_zero_rows_cols``): structured sparsity runs as the smaller
  dense GEMM; zeros left inside are computed.
* nm: K is padded with zeros to a multiple of M; a layer whose every group of
  M holds at most N nonzeros runs with K compressed to K_pad N/M and
  ceil(log2 M)-bit metadata per kept slot.  The array still reads the full
  K_pad inputs per output column (the metadata selects among them), so input
  buffer reads are counted on K_pad.  Other layers run dense.

Channel unrolling (``ci_co``; Zhang et al., FPGA 2015): ``rows`` input channels x
``cols`` output channels multiply-add in parallel (``cols`` adder trees of
``rows`` products), the kernel window and the output pixels run in time, one
(output-channel tile, input-channel tile) pair after the other, per group:
cycles = groups ceil(M_g/cols) ceil(C_g/rows) R S P (the paper's own cycle
model; no fill/drain: the pipelined loop starts a new window position every
cycle).  Each lane reads its weight and each input lane its activation every
cycle; every output lane reads and writes its partial sum in the output buffer
every cycle (the accumulation stays on chip while the output tile fits; else
the output pixels are split into chunks and the weights streamed again per
chunk, as the paper's row/column tiling does).

Buffer traffic per dataflow (words; SCALE-Sim's counting): WS reads each weight
once, inputs once per column fold, writes partial sums once per row fold; OS
reads weights once per row fold and inputs once per column fold, writes outputs
once; IS reads inputs once, weights once per column fold, partial sums per row
fold.  Partial sums written by one row fold are read back by the next.
"""

from __future__ import annotations

import numpy as np

from accel_models.engine_params.nm import NmParams

from ..demand import ComputeDemand, ceil_div, gating_weight, layer_stats, storage_width
from ..formats import index_width
from ..hwarrays import HardwareArrays
from ..workload import LayerWorkload


def systolic_cycles(sr, sc, t, rows, cols, dataflow) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, folds) for an Sr x Sc x T mapping on R x C arrays (SCALE-Sim's stall-free model)."""
    folds = ceil_div(sr, rows) * ceil_div(sc, cols)
    per_fold = np.where(dataflow == "os", rows + cols + t - 2, 2 * rows + cols + t - 2)
    return folds * per_fold, folds


def spatio_temporal(m, k, n, dataflow):
    sr = np.where(dataflow == "os", n, k)
    sc = np.where(dataflow == "is", n, m)
    t = np.where(dataflow == "ws", n, np.where(dataflow == "os", k, m))
    return sr, sc, t


def nm_arrays(hw: HardwareArrays) -> dict[str, np.ndarray]:
    """The N:M engine's pattern over every config (``pe.params.nm``, ``accel_models.engine_params.nm``); the
    other configs get the default pattern, never used (``nm_ok`` is false there)."""
    nm = hw.per_engine("nm", lambda pe: pe.params.nm, np.int64, NmParams().nm)
    return {"nm_n": nm[:, 0], "nm_m": nm[:, 1]}


def nm_fit(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> np.ndarray:
    """Per config: is the layer N:M-sparse for that config's (N, M) (K zero-padded to a multiple of M)?"""
    na = hw.engine_arrays("nm", nm_arrays)
    ok = np.zeros(idx.size, dtype=bool)
    for m in np.unique(na["nm_m"][idx]):
        sel = na["nm_m"][idx] == m
        ok[sel] = w.max_nonzeros_per_group(int(m)) <= na["nm_n"][idx][sel]
    return ok


def demand(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    return demands([w], hw, idx)


def demands(workloads, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    """``demand`` of every layer on configs ``idx``, stacked layer after layer (entry ``l * idx.size + j``: layer
    ``l`` on config ``idx[j]``) in one numpy pass: each layer's facts repeated over the configs, each config's
    arrays tiled over the layers, so every entry is the same elementwise expression as pricing its layer alone."""
    m = idx.size

    def per_layer(value, dtype=np.int64):     # one value per layer, over its configs
        return np.repeat(np.array([value(w) for w in workloads], dtype=dtype), m)

    stats = [layer_stats(w) for w in workloads]
    s_m, s_k = per_layer(lambda w: w.M), per_layer(lambda w: w.K)
    s_nnz = np.repeat(np.array([st.nnz for st in stats], dtype=np.int64), m)
    kept_rows = np.repeat(np.array([st.kept_rows for st in stats], dtype=np.int64), m)
    kept_cols = np.repeat(np.array([st.kept_cols for st in stats], dtype=np.int64), m)
    kept_in = np.repeat(np.array([st.kept_input_fraction for st in stats], dtype=float), m)
    n_cols = per_layer(lambda w: float(w.columns), float)
    density = per_layer(lambda w: w.act_density, float)
    b = np.concatenate([storage_width(hw, w.weight_bits, idx, w.name) for w in workloads])
    nm_ok = np.tile(hw.engine[idx] == "nm", len(workloads)) & np.concatenate([nm_fit(w, hw, idx) for w in workloads])
    idx = np.tile(idx, len(workloads))
    rows, cols, df = hw.rows[idx], hw.cols[idx], hw.dataflow[idx]
    compact = hw.compact[idx]
    na = hw.engine_arrays("nm", nm_arrays)
    nm_n, nm_m = na["nm_n"][idx].astype(float), na["nm_m"][idx].astype(float)
    k_pad = np.ceil(s_k / nm_m) * nm_m
    m_eff = np.where(compact & ~nm_ok, kept_rows, s_m).astype(float)
    k_eff = np.where(compact, kept_cols, s_k).astype(float)
    k_run = np.where(nm_ok, k_pad * nm_n / nm_m, k_eff)        # K the array iterates over
    k_read = np.where(nm_ok, k_pad, k_eff)                     # inputs read per output column
    # formats and their exact bits
    compacted = ~nm_ok & ((m_eff < s_m) | (k_eff < s_k))
    fmt = np.where(nm_ok, "nm", np.where(compacted, "compact", "dense")).astype(object)
    entries = m_eff * k_run                                    # stored values incl. zero slots
    weight_bits = s_nnz * b
    padding = (entries - s_nnz) * b
    meta = np.maximum(1, np.ceil(np.log2(nm_m)))
    index = np.where(nm_ok, entries * meta,
                     np.where(compacted, m_eff * per_layer(lambda w: index_width(w.M))
                              + k_eff * per_layer(lambda w: index_width(w.K)), 0.0))
    storage = weight_bits + padding + index
    # folds and cycles
    sr, sc, t = spatio_temporal(m_eff, k_run, n_cols, df)
    cycles, folds = systolic_cycles(sr, sc, t, rows, cols, df)
    row_folds, col_folds = ceil_div(sr, rows), ceil_div(sc, cols)
    macs = m_eff * k_run * n_cols
    useful = s_nnz * n_cols * density * np.ones(idx.size)
    ws, os_, cc = df == "ws", df == "os", df == "ci_co"
    is_ = ~ws & ~os_ & ~cc
    ifmap_reads = np.where(is_, k_read * n_cols, k_read * n_cols * col_folds)
    filter_reads = np.where(ws, entries, entries * np.where(os_, row_folds, col_folds))
    psums = np.where(os_, 1.0, row_folds)
    ofmap_writes = m_eff * n_cols * psums
    ofmap_reads = m_eff * n_cols * (psums - 1)
    # an N:M layer reads every input (the metadata selects among them), whatever columns its mask leaves empty
    ifmap_words = per_layer(lambda w: w.input_elems * w.batch) * np.where(compact & ~nm_ok, kept_in, 1.0)
    tile_words = np.where(ws, n_cols * np.minimum(cols, m_eff),
                          np.where(os_, np.minimum(rows, n_cols) * np.minimum(cols, m_eff),
                                   np.minimum(cols, n_cols) * m_eff))
    if cc.any():   # channel unrolling (Zhang et al. FPGA 2015): per group, output x input channel tiles
        window = per_layer(_window)
        g = per_layer(lambda w: float(w.groups), float)
        m_tiles = ceil_div(np.ceil(m_eff / g), cols)
        c_tiles = ceil_div(np.ceil(k_eff / window), rows)
        cc_folds = g * m_tiles * c_tiles
        cycles = np.where(cc, cc_folds * window * n_cols, cycles)
        folds = np.where(cc, cc_folds, folds)
        ifmap_reads = np.where(cc, g * m_tiles * k_eff * n_cols, ifmap_reads)
        filter_reads = np.where(cc, macs, filter_reads)
        ofmap_writes = np.where(cc, m_eff * n_cols * c_tiles * window, ofmap_writes)
        ofmap_reads = np.where(cc, m_eff * n_cols * (c_tiles * window - 1), ofmap_reads)
        psums = np.where(cc, c_tiles, psums)
        col_folds = np.where(cc, m_tiles, col_folds)
        tile_words = np.where(cc, np.minimum(cols, np.ceil(m_eff / g)) * n_cols, tile_words)
    no_rf = np.where(cc, 0.0, 1.0)
    return ComputeDemand(
        format=fmt, value_width=b, storage_weight_bits=weight_bits, storage_index_bits=index,
        storage_padding_bits=padding, storage_pointer_bits=np.zeros(idx.size),
        macs_executed=macs, macs_useful=useful, mac_energy_weight=gating_weight(hw, idx, useful, macs),
        index_decodes=np.where(nm_ok, macs, 0.0), compute_cycles=cycles.astype(float), tiles=folds.astype(float),
        gemm_m=m_eff, gemm_k=k_run, sram_ifmap_read_words=ifmap_reads, sram_filter_read_words=filter_reads,
        sram_ofmap_write_words=ofmap_writes, sram_ofmap_read_words=ofmap_reads,
        rf_weight_accesses=macs * no_rf, rf_act_accesses=macs * no_rf, rf_psum_accesses=2 * macs * no_rf,
        filter_word_bits=storage / np.maximum(entries, 1), ifmap_words=ifmap_words,
        ofmap_words=m_eff * n_cols,
        ifmap_passes=np.where(is_, 1.0, col_folds), filter_passes=np.where(ws | cc, 1.0, np.where(os_, row_folds,
                                                                                                   col_folds)),
        psum_passes=psums, ofmap_tile_words=tile_words,
        restream_filter=(ws | cc).astype(float), restream_ifmap=is_.astype(float))


def _window(w: LayerWorkload) -> int:
    """Kernel window size (R x S) of a conv layer whose K is channels x window; 1 for a linear layer."""
    kernel = w.geometry.get("kernel") if w.kind == "conv2d" else None
    rs = int(np.prod(kernel)) if kernel else 1
    return rs if rs > 0 and w.K % rs == 0 else 1
