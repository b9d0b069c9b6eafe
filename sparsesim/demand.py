"""What a layer demands from an accelerator: the one trace both engines consume.

For every (layer, accelerator) pair this computes, from the real weight
matrix and the hardware description, vectorized over hardware configs:

* the weight format and its exact storage bits (weights / index / padding / pointers),
* the executed and useful MACs, compute cycles and the number of tiles,
* DRAM traffic (with the re-fetches the buffer size forces) and its
  compulsory lower bound, SRAM and register-file traffic, index decodes.

Mapping rules (see docs/cost_model.md):

* systolic / nm: the GEMM (M x K x N*batch) after dropping all-zero rows and
  columns is folded onto the R x C array; SCALE-Sim's stall-free cycle count
  per fold: WS/IS ``2R + C + T - 2``, OS ``R + C + T - 2``, with
  (Sr, Sc, T) = WS (K, M, N), OS (N, M, K), IS (K, N, M).  The nm engine
  compresses K by N/M when the layer is N:M-sparse, else runs it dense.
* sparse (EIE): GEMM rows interleaved over P PEs; each PE decodes its CSC
  entries (incl. padding) at ``decode_entries_per_cycle``; per input vector the
  array takes ``max(most-loaded PE's entries / rate, nonzero activations)``
  cycles (activation broadcast is one per cycle), scaled by activation density
  when zero activations are skipped.
* DRAM: weights (encoded), input and output activations once if they fit half
  the global buffer; otherwise the cheaper of re-reading inputs per weight
  chunk or weights per input chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel_models.hardware import Accelerator, HardwareError
from accel_models.tech import mac_pj

from .formats import encode_relative, index_width
from .workload import LayerWorkload


@dataclass(frozen=True, eq=False)
class HardwareArrays:
    """A batch of accelerators as parallel numpy arrays (one entry per config)."""

    names: list
    engine: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    dataflow: np.ndarray
    act_bits: np.ndarray
    acc_bits: np.ndarray
    glb_bits: np.ndarray
    dram_bw: np.ndarray
    dram_latency: np.ndarray
    dram_pj_bit: np.ndarray
    glb_pj_bit: np.ndarray
    rf_pj_bit: np.ndarray
    gating: np.ndarray
    skipping: np.ndarray
    gated_fraction: np.ndarray
    index_bits: np.ndarray
    decode_rate: np.ndarray
    decode_pj: np.ndarray
    nm_n: np.ndarray
    nm_m: np.ndarray
    compact: np.ndarray
    clock_hz: np.ndarray
    storage_table: np.ndarray   # [config, bits] -> stored value width (0: unsupported)
    widest_bits: np.ndarray
    energy_scale: np.ndarray
    accelerators: list

    @classmethod
    def from_accelerators(cls, accs: list[Accelerator]) -> "HardwareArrays":
        a = lambda f, dt=float: np.array([f(x) for x in accs], dtype=dt)  # noqa: E731
        return cls(
            names=[x.name for x in accs],
            engine=np.array([x.pe.engine for x in accs]),
            rows=a(lambda x: x.pe.rows, np.int64), cols=a(lambda x: x.pe.cols, np.int64),
            dataflow=np.array([x.pe.dataflow for x in accs]),
            act_bits=a(lambda x: x.pe.act_bits), acc_bits=a(lambda x: x.pe.acc_bits),
            glb_bits=a(lambda x: x.glb.capacity_bytes * 8),
            dram_bw=a(lambda x: x.dram.bandwidth_bits_per_cycle), dram_latency=a(lambda x: x.dram.latency_cycles),
            dram_pj_bit=a(lambda x: x.dram.pj_per_bit), glb_pj_bit=a(lambda x: x.glb.pj_per_bit(x.energy_scale)),
            rf_pj_bit=a(lambda x: x.rf.pj_per_bit(x.energy_scale)),
            gating=a(lambda x: x.pe.zero_handling in ("gating", "skipping"), bool),
            skipping=a(lambda x: x.pe.zero_handling == "skipping", bool),
            gated_fraction=a(lambda x: x.pe.gated_mac_fraction),
            index_bits=a(lambda x: x.pe.index_bits, np.int64), decode_rate=a(lambda x: x.pe.decode_entries_per_cycle),
            decode_pj=a(lambda x: x.decode_pj()), nm_n=a(lambda x: x.pe.nm[0], np.int64),
            nm_m=a(lambda x: x.pe.nm[1], np.int64), compact=a(lambda x: x.pe.compact_zero_rows_cols, bool),
            clock_hz=a(lambda x: x.clock_hz),
            storage_table=np.array([[next((w for w in x.pe.weight_bits if w >= b), 0) for b in range(33)]
                                    for x in accs], dtype=float).reshape(len(accs), 33),
            widest_bits=a(lambda x: max(x.pe.weight_bits)), energy_scale=a(lambda x: x.energy_scale),
            accelerators=list(accs))


def _ceil_div(a, b):
    return -(-a // b)


def systolic_cycles(sr, sc, t, rows, cols, dataflow) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, folds) for an Sr x Sc x T mapping on R x C arrays (SCALE-Sim's stall-free model)."""
    folds = _ceil_div(sr, rows) * _ceil_div(sc, cols)
    per_fold = np.where(dataflow == "os", rows + cols + t - 2, 2 * rows + cols + t - 2)
    return folds * per_fold, folds


def spatio_temporal(m, k, n, dataflow):
    sr = np.where(dataflow == "os", n, k)
    sc = np.where(dataflow == "is", n, m)
    t = np.where(dataflow == "ws", n, np.where(dataflow == "os", k, m))
    return sr, sc, t


@dataclass(frozen=True)
class LayerStats:
    """Hardware-independent facts about one layer's weights (computed once)."""

    M: int
    K: int
    nnz: int
    kept_rows: int
    kept_cols: int
    kept_input_fraction: float


def layer_stats(w: LayerWorkload) -> LayerStats:
    if "stats" not in w.cache:
        w.cache["stats"] = _layer_stats(w)
    return w.cache["stats"]


def _layer_stats(w: LayerWorkload) -> LayerStats:
    mask = w.mask
    kept_in = 1.0
    if w.kind == "conv2d" and w.geometry.get("kernel"):
        rs = int(np.prod(w.geometry["kernel"]))
        if w.K % rs == 0:
            kept_in = float(mask.reshape(w.M, w.K // rs, rs).any((0, 2)).mean()) if w.nnz else 0.0
    elif w.kind == "linear":
        kept_in = w.kept_cols / w.K
    return LayerStats(w.M, w.K, w.nnz, w.kept_rows, w.kept_cols, kept_in)


def eie_load(w: LayerWorkload, pes: int, index_bits: int) -> tuple[int, int, int]:
    """(entries incl. padding, entries of the most-loaded PE, pointer bits) for the EIE layout.

    Computed once per (layer, PE count, index width) from the real mask and kept on the workload.
    """
    key = ("eie", pes, index_bits)
    if key not in w.cache:
        e = encode_relative(w.weights, 1, index_bits=index_bits, pes=pes)
        per_pe = np.bincount(e.arrays["pe"], weights=e.arrays["pads"] + 1, minlength=pes)
        w.cache[key] = (int(per_pe.sum()), int(per_pe.max(initial=0)), e.pointer_bits)
    return w.cache[key]


def storage_width(hw: HardwareArrays, weight_bits: int) -> np.ndarray:
    """Value width per config.  Unquantized float32 layers are taken as post-training quantized to
    the PE's widest weight width; a quantized layer wider than the PE accepts is an error."""
    want = np.minimum(weight_bits, hw.widest_bits) if weight_bits == 32 else np.full(len(hw.names), weight_bits)
    b = hw.storage_table[np.arange(len(hw.names)), want.astype(int)]
    if (b == 0).any():
        i = int(np.nonzero(b == 0)[0][0])
        raise HardwareError(f"{hw.names[i]}: pe: weights of {weight_bits} bits exceed the widest supported "
                            f"weight_bits={int(hw.widest_bits[i])}")
    return b


def mac_energy(hw: HardwareArrays, weight_bits: np.ndarray) -> np.ndarray:
    """``accel_models.tech.mac_pj`` per config, computed once per distinct (bits, act, acc, scale)."""
    keys = np.stack([weight_bits, hw.act_bits, hw.acc_bits, hw.energy_scale], 1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    vals = np.array([mac_pj(int(b), int(a), int(c), float(e)) for b, a, c, e in uniq])
    return vals[inv.reshape(-1)]


def layer_demand(w: LayerWorkload, hw: HardwareArrays) -> dict[str, np.ndarray]:
    """Every quantity both engines need, one array entry per hardware config."""
    s = layer_stats(w)
    n_cols = w.columns
    b = storage_width(hw, w.weight_bits)
    sparse = hw.engine == "sparse"
    nm_eng = hw.engine == "nm"
    act_d = w.act_density
    # ---------------- dense-array engines: compacted GEMM, optional N:M compression
    m_eff = np.where(hw.compact, s.kept_rows, s.M).astype(float)
    k_eff = np.where(hw.compact, s.kept_cols, s.K).astype(float)
    nm_max = np.full(len(hw.names), np.inf)
    for m in set(hw.nm_m[nm_eng].tolist()):
        nm_max[hw.nm_m == m] = w.max_nonzeros_per_group(int(m))
    nm_ok = nm_eng & (nm_max <= hw.nm_n)
    k_arr = np.where(nm_ok, s.K * hw.nm_n / hw.nm_m, k_eff)
    m_arr = np.where(nm_ok, float(s.M), m_eff)  # the N:M format keeps every row
    compacted = (m_eff < s.M) | (k_eff < s.K)
    # storage bits per format
    iw_m, iw_k = index_width(s.M), index_width(s.K)
    dense_vals = m_arr * k_eff * b
    fmt = np.where(nm_ok, "nm", np.where(compacted, "compact", "dense")).astype(object)
    weight_bits = s.nnz * b
    padding = np.where(nm_ok, (s.M * (s.K / hw.nm_m) * hw.nm_n - s.nnz) * b, dense_vals - weight_bits)
    nm_meta_bits = np.maximum(1, np.ceil(np.log2(hw.nm_m)))
    index = np.where(nm_ok, s.M * (s.K / hw.nm_m) * hw.nm_n * nm_meta_bits,
                     np.where(compacted, m_eff * iw_m + k_eff * iw_k, 0.0))
    pointers = np.zeros(len(hw.names))
    sr, sc, t = spatio_temporal(m_arr, np.ceil(k_arr), n_cols, hw.dataflow)
    cycles, tiles = systolic_cycles(sr, sc, t, hw.rows, hw.cols, hw.dataflow)
    cycles, tiles = cycles.astype(float), tiles.astype(float)
    macs = m_arr * np.ceil(k_arr) * n_cols
    useful = s.nnz * n_cols * act_d * np.ones_like(macs)
    decodes = np.where(nm_ok, macs, 0.0)  # one metadata mux select per N:M MAC
    row_folds = _ceil_div(sr, hw.rows).astype(float)
    col_folds = _ceil_div(sc, hw.cols).astype(float)
    # GLB traffic by dataflow (bits): weights, inputs, partial sums / outputs
    wt_bits_total = weight_bits + padding + index + pointers
    sram = np.where(hw.dataflow == "ws",
                    wt_bits_total + k_arr * n_cols * col_folds * hw.act_bits
                    + m_arr * n_cols * (2 * row_folds - 1) * hw.acc_bits,
                    np.where(hw.dataflow == "os",
                             wt_bits_total * row_folds + k_arr * n_cols * col_folds * hw.act_bits
                             + m_arr * n_cols * hw.act_bits,
                             wt_bits_total * col_folds + k_arr * n_cols * hw.act_bits
                             + m_arr * n_cols * (2 * row_folds - 1) * hw.acc_bits))
    # ---------------- sparse engine (EIE)
    if sparse.any():
        idx = np.nonzero(sparse)[0]
        pes_arr = hw.rows[idx] * hw.cols[idx]
        entries = np.empty(idx.size)
        most = np.empty(idx.size)
        ptr_bits = np.empty(idx.size)
        for p, r in set(zip(pes_arr.tolist(), hw.index_bits[idx].tolist())):
            sel = (pes_arr == p) & (hw.index_bits[idx] == r)
            entries[sel], most[sel], ptr_bits[sel] = eie_load(w, int(p), int(r))
        skip = np.where(hw.skipping[idx], act_d, 1.0)
        # a PE retires at most one MAC and decode_rate entries per cycle; one activation broadcast per cycle
        per_vec = np.maximum(np.ceil(skip * most / np.minimum(hw.decode_rate[idx], 1.0)), np.ceil(skip * w.K))
        fmt[idx] = "relative"
        padding[idx] = (entries - s.nnz) * (b[idx] + hw.index_bits[idx])
        index[idx] = s.nnz * hw.index_bits[idx]
        pointers[idx] = ptr_bits
        cycles[idx] = per_vec * n_cols
        tiles[idx] = n_cols
        macs[idx] = entries * n_cols * skip
        decodes[idx] = entries * n_cols * skip
        m_arr[idx], k_arr[idx] = s.M, s.K
        sram[idx] = (n_cols * (entries * (b[idx] + hw.index_bits[idx]) + ptr_bits) * skip
                     + s.K * n_cols * hw.act_bits[idx] + s.M * n_cols * hw.acc_bits[idx] * 2)
    wt_bits_total = weight_bits + padding + index + pointers
    # ---------------- DRAM traffic and tiling
    in_bits = w.input_elems * w.batch * hw.act_bits * np.where(hw.compact & ~sparse, s.kept_input_fraction, 1.0)
    out_bits = m_arr * n_cols * hw.act_bits
    half = hw.glb_bits / 2
    chunks_w = np.maximum(1, np.ceil(wt_bits_total / half))
    chunks_i = np.maximum(1, np.ceil(in_bits / half))
    dram = np.minimum(wt_bits_total + in_bits * chunks_w, wt_bits_total * chunks_i + in_bits) + out_bits
    compulsory = weight_bits + in_bits * act_d + out_bits  # values only, nonzero inputs, outputs once
    # zero gating: MACs with a zero operand cost ``gated_fraction`` of a MAC
    nz_frac = np.where(sparse, 1.0, np.minimum(1.0, useful / np.maximum(macs, 1)))
    mac_weight = np.where(hw.gating, nz_frac + (1 - nz_frac) * hw.gated_fraction, 1.0)
    rf = macs * (b + hw.act_bits + 2 * hw.acc_bits)
    return {
        "format": fmt, "storage_weight_bits": weight_bits, "storage_index_bits": index,
        "storage_padding_bits": padding, "storage_pointer_bits": pointers, "storage_bits": wt_bits_total,
        "macs_executed": macs, "macs_useful": useful, "mac_energy_weight": mac_weight, "compute_cycles": cycles,
        "tiles": tiles, "dram_bits": dram, "dram_bits_compulsory": compulsory, "sram_bits": sram + dram,
        "rf_bits": rf, "index_decodes": decodes, "gemm_m": m_arr, "gemm_k": k_arr, "nm_compressed": nm_ok,
        "storage_value_width": b, "mac_pj": mac_energy(hw, b),
    }
