"""Flexible sparse-GEMM engine (SIGMA, Qin et al. HPCA 2020; as STONNE models it).

The sparse weight matrix is stationary.  Its nonzeros are packed onto the
P = rows x cols multipliers whole rows at a time, in row order, while they
fit; a row with more than P nonzeros runs alone, folded over
1 + ceil((n - P) / (P - 1)) iterations (one multiplier re-injects the partial
sum); an empty row is not mapped.  One packing is an *iteration*; iterations
do not overlap.  In each, the dense input streams one column per step through
a distribution network of ``distribution_bw_words`` ports, each port feeding
g = P / ports multipliers (one word per port per cycle, so streaming slows by
g); the products of each row are added in STONNE's augmented reduction tree,
and the adder that completes a row sends its results over one of
``reduction_bw_words`` collection-bus lines, one result per line per cycle
(``sigma_bus`` has the rule, from STONNE's ART compiler and bus wiring):

    T_i = max(min(g, e_i) (N + 1),  b_i N + 1)
          + ceil(log2 s_i) + [ports < P] + iteration_overhead_cycles
    cycles = sum_i T_i

with e_i nonzeros, b_i the most rows whose completing adders share one line
and s_i the largest row (chunk) of iteration i, all counted from the real mask.
Zeros are never mapped, so cycles fall with the number of iterations as weights
get sparser; the streamed input is not compressed (its zeros are multiplied).
Weights are stored as a bitmap plus values.  Checked against STONNE's SIGMA
model (docs/validation.md section 4).
"""

from __future__ import annotations

import numpy as np

from ..demand import ComputeDemand, gating_weight, int_groups, layer_stats, storage_width
from ..hwarrays import HardwareArrays
from ..workload import LayerWorkload
from .sigma_bus import completing_lines


def pack_vns(row_nnz: np.ndarray, multipliers: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows as STONNE maps them (``SparseSDMemory::cycle``, state CONFIGURING): (multipliers used, iteration) per
    virtual neuron; whole rows while they fit, a longer row folded alone (chunks of ``multipliers``, one multiplier
    re-injecting the partial sum, the rest last), empty rows never mapped.  The greedy packing walks the rows; the
    chunks of the folded rows are laid out with numpy (a row of 10^4 nonzeros is 10^2 chunks)."""
    rows = row_nnz[row_nnz > 0].astype(np.int64)
    reinject = 1 if multipliers > 1 else 0          # a single multiplier accumulates in the output instead
    step = multipliers - reinject
    long = rows > multipliers
    rest = rows - multipliers
    rem = np.where(long, rest % step, 0)
    chunks = np.where(long, 1 + rest // step + (rem > 0), 1)      # virtual neurons per row
    first = np.empty(rows.size, dtype=np.int64)                  # iteration of each row's first neuron
    it, total = -1, multipliers + 1
    for i, (c, n) in enumerate(zip(rows.tolist(), chunks.tolist())):
        if c > multipliers:
            first[i] = it + 1
            it += n
            total = multipliers + 1
            continue
        if total + c > multipliers:
            it, total = it + 1, 0
        first[i] = it
        total += c
    row_of = np.repeat(np.arange(rows.size), chunks)
    k = np.arange(row_of.size) - np.repeat(np.cumsum(chunks) - chunks, chunks)   # chunk number inside its row
    sizes = np.where(long[row_of], multipliers, rows[row_of])
    last = long[row_of] & (k == chunks[row_of] - 1) & (rem[row_of] > 0)
    sizes = np.where(last, rem[row_of] + reinject, sizes)
    its = first[row_of] + np.where(long[row_of], k, 0)
    return sizes.astype(np.int64), its.astype(np.int64)


def pack_rows(row_nnz: np.ndarray, multipliers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterations as (multipliers used, rows, largest row) arrays: whole rows while they fit; long rows folded."""
    size, it = pack_vns(row_nnz, multipliers)
    n = int(it[-1]) + 1 if it.size else 0
    largest = np.maximum.reduceat(size, np.searchsorted(it, np.arange(n))).astype(float) if n else np.zeros(0)
    return np.bincount(it, size, n).astype(float), np.bincount(it, minlength=n).astype(float), largest


def vn_lines(row_nnz: np.ndarray, multipliers: int, lines: int) -> tuple[np.ndarray, np.ndarray]:
    """(iteration, collection-bus line) of each mapped row (``sigma_bus``)."""
    size, it = pack_vns(row_nnz, multipliers)
    start = np.cumsum(size) - size
    first = np.searchsorted(it, it)                        # each iteration's first row (it is sorted)
    return it, completing_lines(size, start - start[first], multipliers, lines)


def busiest_line(row_nnz: np.ndarray, multipliers: int, lines: int) -> np.ndarray:
    """Per iteration, the most rows whose results share one collection-bus line."""
    it, line = vn_lines(row_nnz, multipliers, lines)
    if not it.size:
        return np.zeros(0)
    key = np.sort(it * lines + line)                      # (iteration, line) runs; every iteration has one
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    runs = np.diff(np.r_[start, key.size])
    run_it = key[start] // lines
    first = np.flatnonzero(np.r_[True, run_it[1:] != run_it[:-1]])
    return np.maximum.reduceat(runs, first).astype(float)


def sigma_cycles(w: LayerWorkload, multipliers: int, dn: int, rn: int, overhead: int) -> tuple[float, float]:
    """(cycles, iterations) per layer; cached per configuration."""
    key = ("sigma", multipliers, dn, rn, overhead)
    if key not in w.cache:
        row_nnz = w.row_nnz
        e, r, s = pack_rows(row_nnz, multipliers)
        n = float(w.columns)
        fan = max(1, multipliers // dn)
        stream = np.minimum(fan, e) * (n + 1)
        collect = busiest_line(row_nnz, multipliers, rn) * n + 1
        depth = np.ceil(np.log2(np.maximum(s, 1)))
        t = np.maximum(stream, collect) + depth + (1 if dn < multipliers else 0) + overhead
        w.cache[key] = (float(t.sum()), float(e.size))
    return w.cache[key]


def sigma_arrays(hw: HardwareArrays) -> dict[str, np.ndarray]:
    """SIGMA's own fields over every config (``pe.params``, ``accel_models.engine_params.sigma``; 0 where the
    config is another engine's)."""
    def per(f):
        return hw.per_engine("sigma", f, float, 0)
    return {"dist_bw": per(lambda pe: pe.params.distribution_bw(pe)),
            "red_bw": per(lambda pe: pe.params.reduction_bw(pe)),
            "iter_overhead": per(lambda pe: pe.params.iteration_overhead_cycles)}


def demand(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    sa = hw.engine_arrays("sigma", sigma_arrays)
    s = layer_stats(w)
    n = idx.size
    n_cols = float(w.columns)
    b = storage_width(hw, w.weight_bits, idx, w.name)
    uniq, inv = hw.once(("sigma", idx.tobytes()), lambda: int_groups(
        np.stack([hw.pes[idx], sa["dist_bw"][idx], sa["red_bw"][idx], sa["iter_overhead"][idx]], 1)))
    per_key = np.array([sigma_cycles(w, *k) for k in uniq]).reshape(len(uniq), 2)[inv]
    cycles, iters = per_key[:, 0], per_key[:, 1]
    macs = s.nnz * n_cols * np.ones(n)
    useful = macs * w.act_density
    bitmap = float(s.M * s.K)
    storage = s.nnz * b + bitmap
    iters = np.maximum(iters, 1)
    return ComputeDemand(
        format=np.full(n, "bitmask", dtype=object), value_width=b, storage_weight_bits=s.nnz * b,
        storage_index_bits=np.full(n, bitmap), storage_padding_bits=np.zeros(n),
        storage_pointer_bits=np.zeros(n), macs_executed=macs, macs_useful=useful,
        mac_energy_weight=gating_weight(hw, idx, useful, macs), index_decodes=np.full(n, bitmap),
        compute_cycles=cycles, tiles=np.full(n, max(n_cols, 1.0)), gemm_m=np.full(n, float(s.M)),
        gemm_k=np.full(n, float(s.K)),
        sram_ifmap_read_words=macs.copy(), sram_filter_read_words=np.full(n, float(s.nnz)),
        sram_ofmap_write_words=np.full(n, s.M * n_cols), sram_ofmap_read_words=np.zeros(n),
        rf_weight_accesses=macs, rf_act_accesses=macs, rf_psum_accesses=np.zeros(n),
        filter_word_bits=storage / max(s.nnz, 1),
        ifmap_words=np.full(n, float(w.input_elems * w.batch)), ofmap_words=np.full(n, s.M * n_cols),
        ifmap_passes=iters, filter_passes=np.ones(n), psum_passes=np.ones(n),
        ofmap_tile_words=np.full(n, s.M * n_cols), restream_filter=np.zeros(n), restream_ifmap=np.zeros(n))
