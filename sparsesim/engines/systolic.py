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

Buffer traffic per dataflow (words; SCALE-Sim's counting): WS reads each weight
once, inputs once per column fold, writes partial sums once per row fold; OS
reads weights once per row fold and inputs once per column fold, writes outputs
once; IS reads inputs once, weights once per column fold, partial sums per row
fold.  Partial sums written by one row fold are read back by the next.
"""

from __future__ import annotations

import numpy as np

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


def nm_fit(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> np.ndarray:
    """Per config: is the layer N:M-sparse for that config's (N, M) (K zero-padded to a multiple of M)?"""
    ok = np.zeros(idx.size, dtype=bool)
    for m in np.unique(hw.nm_m[idx]):
        sel = hw.nm_m[idx] == m
        ok[sel] = w.max_nonzeros_per_group(int(m)) <= hw.nm_n[idx][sel]
    return ok


def demand(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    s = layer_stats(w)
    n_cols = float(w.columns)
    b = storage_width(hw, w.weight_bits, idx)
    rows, cols, df = hw.rows[idx], hw.cols[idx], hw.dataflow[idx]
    compact = hw.compact[idx]
    nm_n, nm_m = hw.nm_n[idx].astype(float), hw.nm_m[idx].astype(float)
    nm_ok = (hw.engine[idx] == "nm") & nm_fit(w, hw, idx)
    k_pad = np.ceil(s.K / nm_m) * nm_m
    m_eff = np.where(compact & ~nm_ok, s.kept_rows, s.M).astype(float)
    k_eff = np.where(compact, s.kept_cols, s.K).astype(float)
    k_run = np.where(nm_ok, k_pad * nm_n / nm_m, k_eff)        # K the array iterates over
    k_read = np.where(nm_ok, k_pad, k_eff)                     # inputs read per output column
    # formats and their exact bits
    compacted = ~nm_ok & ((m_eff < s.M) | (k_eff < s.K))
    fmt = np.where(nm_ok, "nm", np.where(compacted, "compact", "dense")).astype(object)
    entries = m_eff * k_run                                    # stored values incl. zero slots
    weight_bits = s.nnz * b
    padding = (entries - s.nnz) * b
    meta = np.maximum(1, np.ceil(np.log2(nm_m)))
    index = np.where(nm_ok, entries * meta,
                     np.where(compacted, m_eff * index_width(s.M) + k_eff * index_width(s.K), 0.0))
    storage = weight_bits + padding + index
    # folds and cycles
    sr, sc, t = spatio_temporal(m_eff, k_run, n_cols, df)
    cycles, folds = systolic_cycles(sr, sc, t, rows, cols, df)
    row_folds, col_folds = ceil_div(sr, rows), ceil_div(sc, cols)
    macs = m_eff * k_run * n_cols
    useful = s.nnz * n_cols * w.act_density * np.ones(idx.size)
    ws, os_ = df == "ws", df == "os"
    is_ = ~ws & ~os_
    ifmap_reads = np.where(is_, k_read * n_cols, k_read * n_cols * col_folds)
    filter_reads = np.where(ws, entries, entries * np.where(os_, row_folds, col_folds))
    psums = np.where(os_, 1.0, row_folds)
    ofmap_writes = m_eff * n_cols * psums
    ofmap_reads = m_eff * n_cols * (psums - 1)
    ifmap_words = w.input_elems * w.batch * np.where(compact, s.kept_input_fraction, 1.0)
    return ComputeDemand(
        format=fmt, value_width=b, storage_weight_bits=weight_bits, storage_index_bits=index,
        storage_padding_bits=padding, storage_pointer_bits=np.zeros(idx.size),
        macs_executed=macs, macs_useful=useful, mac_energy_weight=gating_weight(hw, idx, useful, macs),
        index_decodes=np.where(nm_ok, macs, 0.0), compute_cycles=cycles.astype(float), tiles=folds.astype(float),
        gemm_m=m_eff, gemm_k=k_run, sram_ifmap_read_words=ifmap_reads, sram_filter_read_words=filter_reads,
        sram_ofmap_write_words=ofmap_writes, sram_ofmap_read_words=ofmap_reads,
        rf_weight_accesses=macs, rf_act_accesses=macs, rf_psum_accesses=2 * macs,
        filter_word_bits=storage / np.maximum(entries, 1), ifmap_words=ifmap_words,
        ofmap_words=m_eff * n_cols,
        ifmap_passes=np.where(is_, 1.0, col_folds), filter_passes=np.where(ws, 1.0, np.where(os_, row_folds,
                                                                                              col_folds)),
        psum_passes=psums,
        ofmap_tile_words=np.where(ws, n_cols * np.minimum(cols, m_eff),
                                  np.where(os_, np.minimum(rows, n_cols) * np.minimum(cols, m_eff),
                                           np.minimum(cols, n_cols) * m_eff)),
        restream_filter=ws.astype(float), restream_ifmap=is_.astype(float))
