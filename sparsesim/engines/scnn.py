"""SCNN-style sparse CNN engine (Parashar et al., ISCA 2017): Cartesian products of nonzeros.

The input plane (H x W) is tiled over the rows x cols PEs (planar tiling, each
PE holding every input channel of its tile).  Output channels are processed
``channel_group`` (Kc) at a time.  For output group g and input channel c a PE
multiplies every nonzero weight of (g, c) with every nonzero activation of its
tile of channel c, ``cartesian = [F, I]`` of each per cycle:

    cycles(g, c, pe) = ceil(nnz_w[g, c] / F) * ceil(nnz_a[c, pe] / I)

PEs synchronise at the end of each output group (halo exchange), so

    cycles = batch * sum_g max_pe sum_c cycles(g, c, pe)

(one matrix product per layer).  nnz_w is counted from the real mask;
nnz_a[c, pe] counts the nonzero activations of the tile, each input
activation drawn nonzero with the layer's density from a generator seeded by
the layer's name (the same draw for every config, nested across densities).  Every
product is computed, so strided layers waste the products no output needs
(SCNN's known inefficiency; utilisation shows it).  Layers without a spatial
plane (linear layers) are a 1 x 1 plane: one PE holds it, the others idle.
Weights and activations are stored compressed (nonzero values with
``index_bits``-bit zero-run indices, a padding entry per run that overflows).
"""

from __future__ import annotations


import numpy as np

from ..demand import ComputeDemand, ceil_div, int_groups, layer_stats, storage_width
from ..formats import encode_relative
from ..hwarrays import HardwareArrays
from ..workload import LayerWorkload


def plane(w: LayerWorkload) -> tuple[int, int, int]:
    """(H, W, R*S) of the layer's input plane (1, 1, 1 for layers without one)."""
    kernel, hw_in = w.geometry.get("kernel"), w.geometry.get("input_hw")
    if w.kind != "conv2d" or not kernel or not hw_in:
        return 1, 1, 1
    rs = int(np.prod(kernel))
    return (int(hw_in[0]), int(hw_in[1]), rs) if w.K % rs == 0 else (1, 1, 1)


def weight_counts(w: LayerWorkload, group: int) -> np.ndarray:
    """nnz_w[g, c]: nonzero weights of output group g and input channel c (cached)."""
    key = ("scnn_w", group)
    if key not in w.cache:
        _, _, rs = plane(w)
        if w.pattern is not None:                      # statistical mode (``sparsesim.pattern``)
            w.cache[key] = w.pattern.group_counts(group, rs)
        else:
            per = w.mask.reshape(w.M, w.K // rs, rs).sum(-1)
            pad = (-w.M) % group
            per = np.pad(per, ((0, pad), (0, 0)))
            w.cache[key] = per.reshape(-1, group, per.shape[1]).sum(1)
    return w.cache[key]


def activation_counts(w: LayerWorkload, rows: int, cols: int) -> np.ndarray:
    """nnz_a[c, pe] over the PEs whose tile is not empty; cached.

    Each input activation (c, y, x) is nonzero when a uniform draw, seeded by the workload's ``act_seed`` (a user
    setting, default 0: renaming a layer changes nothing), falls below the layer's activation density, so a lower
    density never adds a nonzero activation.
    """
    key = ("scnn_a", rows, cols, w.act_density, w.act_seed)
    if key not in w.cache:
        h, wd, rs = plane(w)
        rng = np.random.default_rng(w.act_seed)
        nonzero = rng.random((w.K // rs, h, wd)) < w.act_density
        th, tw = ceil_div(h, rows), ceil_div(wd, cols)
        ph, pw = ceil_div(h, th), ceil_div(wd, tw)        # PEs that hold pixels, per side
        padded = np.zeros((nonzero.shape[0], ph * th, pw * tw), dtype=bool)
        padded[:, :h, :wd] = nonzero
        counts = padded.reshape(-1, ph, th, pw, tw).sum((2, 4), dtype=np.int64)
        w.cache[key] = counts.reshape(counts.shape[0], -1).astype(float)
    return w.cache[key]


def scnn_cycles(w: LayerWorkload, rows: int, cols: int, f: int, i: int, group: int) -> tuple[float, float]:
    """(cycles, products computed) per image; cached per configuration."""
    key = ("scnn_cycles", rows, cols, f, i, group, w.act_density, w.act_seed)
    if key not in w.cache:
        nw = weight_counts(w, group).astype(float)
        na = activation_counts(w, rows, cols)
        per_pe = np.ceil(nw / f) @ np.ceil(na / i)          # [g, pe]
        w.cache[key] = (float(per_pe.max(1, initial=0.0).sum()), float((nw @ na).sum()))
    return w.cache[key]


def rle_layout(w: LayerWorkload, index_bits: int) -> tuple[int, int]:
    """(stored entries incl. padding, pointer bits) of the zero-run encoded weights; cached."""
    key = ("rle", index_bits)
    if key not in w.cache:
        if w.pattern is not None:                      # statistical mode (``sparsesim.pattern``)
            _, pads, pointers = w.pattern.relative_layout(1, index_bits)
            w.cache[key] = (w.nnz + pads, pointers)
        else:
            e = encode_relative(w.weights, 1, index_bits=index_bits, pes=1)
            w.cache[key] = (w.nnz + e.params["padding_entries"], e.pointer_bits)
    return w.cache[key]


def scnn_arrays(hw: HardwareArrays) -> dict[str, np.ndarray]:
    """SCNN's own fields over every config (``pe.params``, ``accel_models.engine_params.scnn``; 0 where the
    config is another engine's)."""
    def per(f):
        return hw.per_engine("scnn", lambda pe: f(pe.params), np.int64, 0)
    return {"cart_f": per(lambda p: p.cartesian[0]), "cart_i": per(lambda p: p.cartesian[1]),
            "channel_group": per(lambda p: p.channel_group)}


def demand(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    sa = hw.engine_arrays("scnn", scnn_arrays)
    s = layer_stats(w)
    n = idx.size
    b = storage_width(hw, w.weight_bits, idx, w.name)
    uniq, inv = hw.once(("scnn", idx.tobytes()), lambda: int_groups(
        np.stack([hw.rows[idx], hw.cols[idx], sa["cart_f"][idx], sa["cart_i"][idx], sa["channel_group"][idx],
                  hw.index_bits[idx]], 1)))
    per_key = np.array([[*scnn_cycles(w, *k[:5]), *rle_layout(w, k[5])] for k in uniq])
    cycles, products, entries, pointers = per_key.reshape(len(uniq), 4)[inv].T
    cycles, products = cycles * w.batch, products * w.batch
    ib = hw.index_bits[idx]
    groups = ceil_div(s.M, sa["channel_group"][idx])
    padding = (entries - s.nnz) * (b + ib)
    storage = s.nnz * (b + ib) + padding + pointers
    useful = s.nnz * float(w.columns) * w.act_density * np.ones(n)
    act_nnz = w.input_elems * w.batch * w.act_density
    return ComputeDemand(
        format=np.full(n, "rle", dtype=object), value_width=b, storage_weight_bits=s.nnz * b,
        storage_index_bits=s.nnz * ib, storage_padding_bits=padding, storage_pointer_bits=pointers,
        macs_executed=products, macs_useful=np.minimum(useful, products), mac_energy_weight=np.ones(n),
        index_decodes=products, compute_cycles=cycles, tiles=groups.astype(float) * w.batch,
        gemm_m=np.full(n, float(s.M)), gemm_k=np.full(n, float(s.K)),
        sram_ifmap_read_words=act_nnz * groups, sram_filter_read_words=entries * w.batch,
        sram_ofmap_write_words=np.full(n, float(s.M * w.columns)), sram_ofmap_read_words=np.zeros(n),
        rf_weight_accesses=products, rf_act_accesses=products,
        rf_psum_accesses=2 * products,  # accumulator read-modify-write per product
        filter_word_bits=storage / np.maximum(entries, 1),
        ifmap_words=np.full(n, float(w.input_elems * w.batch)), ofmap_words=np.full(n, float(s.M * w.columns)),
        ifmap_passes=groups.astype(float), filter_passes=np.full(n, float(w.batch)), psum_passes=np.ones(n),
        ofmap_tile_words=np.minimum(sa["channel_group"][idx], s.M) * float(w.N), restream_filter=np.zeros(n),
        restream_ifmap=np.zeros(n))
