"""EIE-style sparse engine (Han et al., ISCA 2016): CSC weights, activation broadcast, per-PE queues.

GEMM rows are interleaved over the P = rows x cols PEs (row i on PE i mod P);
each PE keeps its slice of every column in CSC with ``index_bits``-bit relative
row indices, a gap longer than 2^index_bits - 1 costing a padding entry
(``sparsesim.formats.encode_relative``).  For each input vector the nonzero
activations (all activations when the engine does not skip zeros) are
broadcast, ``act_broadcast_per_cycle`` per cycle, into every PE's activation
queue of ``fifo_depth`` entries (with ``skip_empty_columns`` an activation no
PE holds a weight for is not broadcast: a compiler dropped that input); a PE works on the head of its queue for
``max(1, ceil(entries / min(decode_entries_per_cycle, macs_per_pe_per_cycle)))``
cycles, ``entries`` being its entries (real and padding) in that column: every broadcast activation takes a PE
at least one cycle, even where its slice of the column is empty (EIE Sec. IV: the activation at the head of
the queue is popped, its column's pointers p_j and p_j+1 read, and only then is the slice known to be empty;
the pipeline handles one column at a time).  The
broadcast stalls while any PE's queue is full.  The makespan is the exact
result of that recursion:

    b_j   = max(b_{j-1} + 1/rate, max_p s_{p, j-D})     (broadcast of activation j)
    s_p,j = max(b_j, f_{p, j-1}),  f_p,j = s_p,j + work_p,j

with the per-(PE, column) work counted from the real mask.  Which activations
are nonzero is not in the artifact, only their density: each input vector's
nonzero positions are the measured ones when the workload carries them
(``act_pattern``), else drawn with that density from a generator seeded by the
workload's ``act_seed`` (a user setting, default 0: the same draw for every
hardware config and any layer name, nested across densities, so fewer nonzero
activations never cost more).  Layers with many
input vectors (convolutions) simulate ``SAMPLED_VECTORS`` of them as one
continuous stream and scale by the vector count.

The broadcast bounds the engine at one activation per cycle: a layer with no
more rows than PEs gives each PE at most one entry per column, so weight
sparsity cannot make it faster (only activation sparsity, and dropped input
columns when ``skip_empty_columns``), as in EIE itself.
"""

from __future__ import annotations

import numpy as np

from accel_models.engine_params.eie import EieParams

from ..demand import ComputeDemand, gating_weight, layer_stats, storage_width, unique_rows
from ..formats import encode_relative
from ..hwarrays import HardwareArrays
from ..workload import LayerWorkload

SAMPLED_VECTORS = 4   # input vectors simulated per layer (all of them when the layer has fewer)


def eie_layout(w: LayerWorkload, pes: int, index_bits: int) -> np.ndarray:
    """Entries (real and padding) per (column, PE) as a (K, PEs holding rows) int32 array; also caches the
    layout's totals (``layout_totals``).  The array itself is not cached: it can be large, and every result
    derived from it is."""
    if w.pattern is not None:                          # statistical mode (``sparsesim.pattern``)
        per, pads, pointers = w.pattern.relative_layout(pes, index_bits)
        w.cache[("eie_totals", pes, index_bits)] = (w.nnz + pads, pointers)
        return per
    e = encode_relative(w.weights, 1, index_bits=index_bits, pes=pes)
    w.cache[("eie_totals", pes, index_bits)] = (w.nnz + e.params["padding_entries"], e.pointer_bits)
    live = min(pes, w.M)                               # PEs beyond the row count hold nothing
    per = np.bincount(e.arrays["col"].astype(np.int64) * live + e.arrays["pe"], weights=e.arrays["pads"] + 1,
                      minlength=w.K * live)
    return per.astype(np.int32).reshape(w.K, live)


def layout_totals(w: LayerWorkload, pes: int, index_bits: int) -> tuple[int, int]:
    """(entries incl. padding, pointer bits) of the EIE layout; cached."""
    key = ("eie_totals", pes, index_bits)
    if key not in w.cache:
        if w.pattern is not None:
            eie_layout(w, pes, index_bits)
        else:
            e = encode_relative(w.weights, 1, index_bits=index_bits, pes=pes)
            w.cache[key] = (w.nnz + e.params["padding_entries"], e.pointer_bits)
    return w.cache[key]


def activation_pattern(w: LayerWorkload, n_vec: int) -> np.ndarray:
    """Which inputs are nonzero in each of ``n_vec`` vectors, (n_vec, K) bool: the measured ``act_pattern``
    (its vectors in turn) when the workload carries one, else drawn with the layer's density from a generator
    seeded by ``act_seed`` (a user setting with a fixed default: renaming a layer changes nothing; one uniform
    draw per input, so a lower density never adds a nonzero activation)."""
    if w.act_pattern is not None:
        return w.act_pattern[np.arange(n_vec) % w.act_pattern.shape[0]]
    return np.random.default_rng(w.act_seed).random((n_vec, w.K)) < w.act_density


def activation_stream(w: LayerWorkload, skipping: bool, skip_empty: bool) -> np.ndarray:
    """Column indices of the activations broadcast, sampled vectors back to back (``activation_pattern``);
    with ``skip_empty`` the columns without any weight are left out."""
    n_vec = min(w.columns, SAMPLED_VECTORS)
    if not skipping or (w.act_pattern is None and w.act_density >= 1.0):
        cols = np.tile(np.arange(w.K), n_vec)
    else:
        cols = np.nonzero(activation_pattern(w, n_vec))[1]
    return cols[w.kept_columns()[cols]] if skip_empty else cols


def queue_makespan(per: np.ndarray, cols: np.ndarray, rate: float, depth: int, interval: float) -> float:
    """Makespan of the broadcast / per-PE FIFO recursion (module docstring); work of activation j on
    PE p is max(1, ceil(per[cols[j], p] / rate)).  Keeps only the last ``depth`` start times."""
    if cols.size == 0:
        return 0.0
    pes = per.shape[1]
    starts = np.zeros((depth, pes))                    # ring buffer: start times of the last depth activations
    finish = np.zeros(pes)
    b = -interval
    for j, col in enumerate(cols.tolist()):
        b += interval
        if j >= depth:
            b = max(b, starts[j % depth].max())
        s = np.maximum(finish, b)
        starts[j % depth] = s
        finish = s + np.maximum(np.ceil(per[col] / rate), 1.0)
    return float(finish.max())


def vector_cycles(w: LayerWorkload, configs: list[tuple]) -> dict:
    """Cycles per input vector (mean over the sampled stream) for each (pes, index_bits, depth, interval,
    rate, skipping, skip_empty) in ``configs``; one layout per (pes, index_bits); cached per configuration."""
    out, todo = {}, []
    for c in configs:
        key = ("eie_cycles", *c, w.act_density, w.act_seed)
        if key in w.cache:
            out[c] = w.cache[key]
        else:
            todo.append(c)
    for pes, index_bits in sorted({(c[0], c[1]) for c in todo}):
        per = eie_layout(w, pes, index_bits)
        for c in [c for c in todo if (c[0], c[1]) == (pes, index_bits)]:
            _, _, depth, interval, rate, skipping, skip_empty = c
            cycles = queue_makespan(per, activation_stream(w, skipping, skip_empty), rate, depth, interval)
            out[c] = w.cache[("eie_cycles", *c, w.act_density, w.act_seed)] = cycles / min(w.columns, SAMPLED_VECTORS)
    return out


def eie_arrays(hw: HardwareArrays) -> dict[str, np.ndarray]:
    """EIE's own fields over every config (``pe.params``, ``accel_models.engine_params.eie``; the defaults
    where the config is another engine's)."""
    d = EieParams()

    def per(field, dtype):
        return hw.per_engine("eie", lambda pe: getattr(pe.params, field), dtype, getattr(d, field))
    return {"decode_rate": per("decode_entries_per_cycle", float), "macs_per_pe": per("macs_per_pe_per_cycle", float),
            "fifo_depth": per("fifo_depth", np.int64), "bcast_rate": per("act_broadcast_per_cycle", float),
            "skip_empty_cols": per("skip_empty_columns", bool)}


def queue_configs(hw: HardwareArrays, idx: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """The distinct (pes, index_bits, depth, interval, rate, skipping, skip_empty) among configs ``idx``, and
    which one each config has (hardware only: computed once per set of configs)."""
    ea = hw.engine_arrays("eie", eie_arrays)
    rate = np.minimum(ea["decode_rate"][idx], ea["macs_per_pe"][idx])
    keys = np.stack([hw.pes[idx], hw.index_bits[idx], ea["fifo_depth"][idx], 1.0 / ea["bcast_rate"][idx], rate,
                     hw.skipping[idx], ea["skip_empty_cols"][idx]], 1)
    uniq, inv = unique_rows(keys)
    return [(int(p), int(r), int(dpt), float(iv), float(rt), bool(sk), bool(se))
            for p, r, dpt, iv, rt, sk, se in uniq], inv


def demand(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    ea = hw.engine_arrays("eie", eie_arrays)
    s = layer_stats(w)
    n_cols = float(w.columns)
    b = storage_width(hw, w.weight_bits, idx, w.name)
    n = idx.size
    configs, inv = hw.once(("eie", idx.tobytes()), lambda: queue_configs(hw, idx))
    cycles_of = vector_cycles(w, configs)
    per_key = np.array([[*layout_totals(w, c[0], c[1]), cycles_of[c] * n_cols] for c in configs]
                       ).reshape(len(configs), 3)[inv]
    entries, pointers, cycles = per_key[:, 0], per_key[:, 1], per_key[:, 2]
    skip = np.where(hw.skipping[idx], w.act_density, 1.0)
    ib = hw.index_bits[idx]
    padding = (entries - s.nnz) * (b + ib)
    storage = s.nnz * b + s.nnz * ib + padding + pointers
    processed = entries * n_cols * skip
    useful = s.nnz * n_cols * w.act_density * np.ones(n)
    # every PE reads the start and end pointer of each broadcast column (EIE Sec. IV: p_j and p_j+1 from two
    # pointer banks in one cycle); columns are not consecutive once zero activations are skipped, so no reuse
    if "used_columns" not in w.cache:   # a fact of the mask: computed once per workload
        w.cache["used_columns"] = float(w.kept_columns().sum())
    broadcast = np.where(ea["skip_empty_cols"][idx], w.cache["used_columns"], float(s.K)) * skip * n_cols
    filter_read_bits = processed * (b + ib) + 2.0 * pointers / (s.K + 1) * broadcast
    word_bits = storage / np.maximum(entries, 1)
    return ComputeDemand(
        format=np.full(n, "relative", dtype=object), value_width=b, storage_weight_bits=s.nnz * b,
        storage_index_bits=s.nnz * ib, storage_padding_bits=padding, storage_pointer_bits=pointers,
        macs_executed=processed, macs_useful=useful,
        mac_energy_weight=np.where(hw.skipping[idx], 1.0, gating_weight(hw, idx, useful, processed)),
        index_decodes=processed, compute_cycles=cycles, tiles=np.full(n, n_cols), gemm_m=np.full(n, float(s.M)),
        gemm_k=np.full(n, float(s.K)), sram_ifmap_read_words=np.full(n, s.K * n_cols),
        sram_filter_read_words=filter_read_bits / word_bits, sram_ofmap_write_words=np.full(n, s.M * n_cols),
        sram_ofmap_read_words=np.zeros(n), rf_weight_accesses=processed, rf_act_accesses=processed,
        rf_psum_accesses=2 * processed,
        filter_word_bits=word_bits, ifmap_words=np.full(n, float(w.input_elems * w.batch)),
        ofmap_words=np.full(n, s.M * n_cols), ifmap_passes=np.ones(n), filter_passes=np.full(n, n_cols),
        psum_passes=np.ones(n), ofmap_tile_words=np.full(n, float(s.M)), restream_filter=np.zeros(n),
        restream_ifmap=np.zeros(n))
