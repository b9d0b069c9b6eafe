"""Row-stationary engine (``rowstationary``): Eyeriss's dataflow (Chen et al., ISCA 2016; JSSC 52(1) 2017).

The dataflow, as the JSSC paper describes it (Sec. III-IV, Table IV's mapping parameters):

* A PE runs the 1-D convolution of one filter row (S taps) with one input row:
  its filter spad holds ``p`` filters x ``q`` channels x S weights, its ifmap spad
  the sliding window of ``q`` x S activations, its psum spad the ``p`` partial
  sums of the output pixel being computed.  Per output pixel it does ``p q S``
  MACs and, with its single adder, one more add per partial sum to accumulate the
  partial sum arriving from the PE below (``p`` adds): ``p (q S + 1)`` cycles.
* A logical PE set of R x ``e`` PEs (R filter rows x ``e`` output rows) computes
  ``e`` output rows of a 2-D convolution: filter rows are reused horizontally,
  input rows diagonally, partial sums accumulated vertically.  A set wider than
  the array is cut into segments stacked vertically (ceil(e / cols) x R rows); a
  filter taller than the array is cut into row chunks processed one after
  another like extra channels.  ``r`` x ``t`` sets run at once: ``r`` on different
  channels (their partial sums chain vertically), ``t`` on different filters
  (sharing the input rows by multicast).  Active PEs = r t R e.
* A processing pass: ``n`` images x ``p t`` filters x ``q r`` channels x ``e``
  output rows (a strip) x the full output width F, taking ``n F p (q S + 1)`` cycles.
  The global buffer (GLB) holds the input rows of one pass (``n q r`` channels x
  ((e-1) U + R) rows x W, padding included) and the partial sums of ``m``
  filters (``m n e F``).  Loops, outer to inner: groups, image groups of ``n``,
  strips of ``e`` rows, blocks of ``m`` filters, channel groups of ``q r``, filter
  passes of ``p t``.
* Filters go from DRAM straight into the filter spads (Eyeriss's GLB holds only
  input activations and partial sums, JSSC Table IV), once per pass: every
  weight is read from DRAM once per image group and strip.  Inputs are read from
  DRAM into the GLB once per block of ``m`` filters and from the GLB into the array
  once per filter pass (multicast to every PE needing them).  Partial sums are
  written to the GLB after every channel group and read back before the next;
  after the last they are read out to DRAM (ReLU, compression) once.
* Activations cross the DRAM interface run-length coded (JSSC Sec. V-B): pairs of
  a ``rlc_run_bits``-bit zero run and a 16-bit value, as many pairs as fit a
  ``rlc_word_bits``-bit word beside one flag bit; a run longer than the run
  field allows costs an extra pair.  With i.i.d. zeros at density d the expected
  pairs per value are d / (1 - (1-d)^(2^run_bits)); a tensor is coded only when
  that is smaller than raw (a dense image stays raw).  Inputs use the layer's
  ``act_density``, outputs its ``out_density`` (raw when unknown).  Zero inputs
  are gated (energy), never skipped (cycles).

With ``compact_zero_rows_cols`` all-zero filters and input channels are dropped
first (structured pruning runs as the smaller dense layer); zeros left inside
are computed.

The mapping (e, n, p, q, r, t, m) is an input, like a mapping file
(``geometry["rs_mapping"]``, e.g. JSSC Table IV's); without one the engine picks
the largest p and q the spads allow, then for every strip width e and image
group n the most sets (filters first, then channels) and the largest m the GLB
holds, keeping, among the mappings within 10 % of the fewest cycles, the one of
least normalized data-movement energy (DRAM 200, GLB 6 per word; Chen et al. ISCA
2016 Table IV).  If even the smallest mapping does not fit the GLB, partial
sums spill to DRAM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..demand import ComputeDemand, gating_weight, layer_stats, storage_width
from ..hwarrays import HardwareArrays
from ..memory import Traffic
from ..timing import Timing, pipeline_cycles, transfer_cycles
from ..workload import LayerWorkload, WorkloadError

MAPPING_FIELDS = ("e", "n", "p", "q", "r", "t", "m")
NORMALIZED_DRAM, NORMALIZED_GLB = 200.0, 6.0   # x a MAC: Chen et al. ISCA 2016 Table IV (mapper tie-break only)
CYCLE_SLACK = 0.10   # the mapper trades up to 10 % more cycles for less data-movement energy


@dataclass(frozen=True)
class Shape:
    """A layer as the RS dataflow sees it (per group; padded input H x W)."""

    groups: int
    batch: int
    C: int
    M: int
    R: int
    S: int
    H: int
    W: int
    E: int
    F: int
    U: int
    Uw: int
    H_real: int
    W_real: int
    pad_top: int


def shape(w: LayerWorkload, compact: bool = False) -> Shape:
    """The conv shape of a layer; a linear layer (or a conv without geometry) is a 1x1 conv on a 1x1 plane.
    With ``compact`` all-zero filters and input channels are dropped (structured pruning runs as the smaller
    dense layer, as on the systolic engine)."""
    g = w.geometry
    kernel, hw_in, hw_out = g.get("kernel"), g.get("input_hw"), g.get("output_hw")
    conv = w.kind == "conv2d" and kernel and hw_in and hw_out and w.K % int(np.prod(kernel)) == 0
    groups = w.groups if conv else 1
    c, m = (w.K // int(np.prod(kernel)) if conv else w.K), w.M // groups
    if compact:
        s = layer_stats(w)
        m = max(1, math.ceil(s.kept_rows / groups))
        c = max(1, round(c * (s.kept_input_fraction if conv else s.kept_cols / w.K)))
    if conv:
        r, s_ = map(int, kernel)
        u, uw = map(int, g.get("stride") or (1, 1))
        pad = g.get("padding") or (0, 0)
        e, f = map(int, hw_out)
        return Shape(groups, w.batch, c, m, r, s_, (e - 1) * u + r, (f - 1) * uw + s_, e, f, u, uw,
                     int(hw_in[0]), int(hw_in[1]), int(pad[0]))
    return Shape(1, w.batch * w.N, c, m, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0)


def rlc_bits_per_value(density: float, value_bits: float, run_bits: int, word_bits: int) -> float:
    """Expected DRAM bits per activation: run-length coded (module docstring) or raw, whichever is smaller."""
    if run_bits <= 0:
        return value_bits
    pairs_per_word = (word_bits - 1) // (run_bits + value_bits)
    if pairs_per_word < 1 or density <= 0.0:
        return value_bits if pairs_per_word < 1 else word_bits / max(pairs_per_word, 1) / 2.0 ** run_bits
    pairs = density / (1.0 - (1.0 - density) ** (2 ** run_bits)) if density < 1.0 else 1.0
    return min(value_bits, pairs * word_bits / pairs_per_word)


@dataclass(frozen=True)
class HwKey:
    rows: int
    cols: int
    filter_spad: int
    ifmap_spad: int
    psum_spad: int
    ifmap_bits: float       # GLB capacity for input rows
    psum_bits: float        # GLB capacity for partial sums
    shared: bool            # one GLB for both (capacity ifmap_bits)
    act_bits: float
    acc_bits: float


def _counts(sh: Shape, k: HwKey, e, n, p, q, r, t, m) -> dict:
    """Everything the mapping implies (numpy arrays broadcast over candidate mappings)."""
    e, n, p, q, r, t, m = (np.asarray(x, dtype=float) for x in (e, n, p, q, r, t, m))
    rf = min(sh.R, k.rows)                                   # filter rows on the array at once
    row_chunks = math.ceil(sh.R / k.rows)
    strips = np.ceil(sh.E / e)
    img_groups = np.ceil(sh.batch / n)
    chan_groups = np.ceil(sh.C / (q * r)) * row_chunks
    blocks = np.ceil(sh.M / m)
    fpass = np.floor(sh.M / m) * np.ceil(m / (p * t)) + np.ceil((sh.M % m) / (p * t))
    passes = sh.groups * img_groups * strips * chan_groups * fpass
    cycles = passes * n * sh.F * p * (q * sh.S + 1)
    rows_in = np.minimum((e - 1) * sh.U + sh.R, sh.H)
    pad_rows = (sh.E - strips) * sh.U + strips * sh.R            # input rows over all strips (halos again)
    bottom = max(0, sh.H - sh.pad_top - sh.H_real)
    real_rows = np.maximum(pad_rows - sh.pad_top - bottom, 0)
    ifmap_glb_fill = sh.groups * sh.batch * sh.C * pad_rows * sh.W * blocks
    ifmap_glb_read = sh.groups * sh.batch * sh.C * pad_rows * sh.W * fpass * row_chunks
    ifmap_dram = sh.groups * sh.batch * sh.C * real_rows * sh.W_real * blocks
    ofmap = float(sh.groups * sh.M * sh.batch * sh.E * sh.F)
    psum_glb = ofmap * chan_groups                               # writes, and as many reads (last: readout)
    weights = float(sh.groups * sh.M * sh.C * sh.R * sh.S)
    filter_dram = weights * img_groups * strips
    glb_if = n * q * r * rows_in * sh.W
    glb_ps = m * n * e * sh.F
    if_bits, ps_bits = glb_if * k.act_bits, glb_ps * k.acc_bits
    fits = (if_bits + ps_bits <= k.ifmap_bits) if k.shared else ((if_bits <= k.ifmap_bits) & (ps_bits <= k.psum_bits))
    return dict(passes=passes, cycles=cycles, active=r * t * rf * e, ifmap_glb_fill=ifmap_glb_fill,
                ifmap_glb_read=ifmap_glb_read, ifmap_dram=ifmap_dram, ofmap=np.full(passes.shape, ofmap),
                psum_glb=psum_glb, filter_dram=filter_dram, fits=fits, chan_groups=chan_groups,
                img_groups=img_groups, strips=strips, blocks=blocks, glb_words=glb_if + glb_ps,
                glb_ifmap_words=glb_if, glb_psum_words=glb_ps,
                weights=np.full(passes.shape, weights), rf=np.full(passes.shape, float(rf)),
                macs=np.full(passes.shape, weights * sh.batch * sh.E * sh.F),
                ifmap_words=np.full(passes.shape, float(sh.groups * sh.batch * sh.C * sh.H_real * sh.W_real)))


def _sets(sh: Shape, k: HwKey, e: np.ndarray) -> np.ndarray:
    """PE sets of R x e that fit the array at once."""
    rf = min(sh.R, k.rows)
    seg = np.ceil(e / k.cols)
    return np.floor(k.rows / (rf * seg)) * np.floor(k.cols / np.minimum(e, k.cols))


def check_mapping(sh: Shape, k: HwKey, mp: dict, layer: str) -> None:
    """A given mapping must respect the array, the spads and the GLB; one line naming what it breaks."""
    bad = [f for f in MAPPING_FIELDS if not isinstance(mp.get(f), (int, np.integer)) or isinstance(mp.get(f), bool)
           or mp[f] < 1]
    if bad or set(mp) - set(MAPPING_FIELDS):
        raise WorkloadError(f"layer {layer!r}: rs_mapping={mp!r}; allowed: positive integers for exactly "
                            f"{', '.join(MAPPING_FIELDS)}")
    e, n, p, q, r, t, m = (mp[f] for f in MAPPING_FIELDS)
    limits = [("e", e, sh.E, "output rows E"), ("n", n, sh.batch, "the batch"), ("q", q, sh.C, "channels C"),
              ("p", p, k.psum_spad, "psum_spad_words"), ("m", m, sh.M, "filters per group M")]
    for name, v, hi, what in limits:
        if v > hi:
            raise WorkloadError(f"layer {layer!r}: rs_mapping {name}={v}; allowed: <= {hi} ({what})")
    if q * sh.S > max(k.ifmap_spad, sh.S) or p * q * sh.S > max(k.filter_spad, sh.S):
        raise WorkloadError(f"layer {layer!r}: rs_mapping p={p}, q={q} with S={sh.S}: q*S={q * sh.S} ifmap and "
                            f"p*q*S={p * q * sh.S} filter spad words; allowed: <= {k.ifmap_spad} and <= "
                            f"{k.filter_spad}")
    sets = int(_sets(sh, k, np.array([e]))[0])
    if r * t > sets:
        raise WorkloadError(f"layer {layer!r}: rs_mapping r*t={r * t} PE sets of {min(sh.R, k.rows)}x{e}; "
                            f"allowed: <= {sets} on a {k.rows}x{k.cols} array")
    if m % (p * t) and m < sh.M:
        raise WorkloadError(f"layer {layer!r}: rs_mapping m={m}; allowed: a multiple of p*t={p * t} (or M)")
    c = _counts(sh, k, e, n, p, q, r, t, m)
    if not bool(c["fits"]):
        raise WorkloadError(f"layer {layer!r}: rs_mapping needs {float(c['glb_words']):,.0f} GLB words for input "
                            f"rows and partial sums; allowed: what the global buffer holds "
                            f"({k.ifmap_bits / 8:,.0f} bytes)")


def _choices(hi: int, most: int = 24) -> np.ndarray:
    """1..hi, or ``most`` geometrically spaced values of it (hi included) when there are more."""
    if hi <= most:
        return np.arange(1, hi + 1, dtype=float)
    return np.unique(np.round(np.geomspace(1, hi, most)))


def search_mapping(sh: Shape, k: HwKey, in_bits: float, out_bits: float) -> dict:
    """The engine's own mapping (module docstring), as a dict of MAPPING_FIELDS."""
    e = _choices(sh.E, 64)
    e = e[_sets(sh, k, e) >= 1]                                # e = 1 always fits (R is cut to the rows)
    q = _choices(max(1, min(sh.C, k.ifmap_spad // sh.S)), 12)
    p = _choices(max(1, min(sh.M, k.psum_spad)), 24)
    n = _choices(sh.batch, 8)
    E, Q, P, N, how = (a.ravel() for a in np.meshgrid(e, q, p, n, np.arange(3), indexing="ij"))
    ok = P * Q * sh.S <= max(k.filter_spad, sh.S)
    E, Q, P, N, how = E[ok], Q[ok], P[ok], N[ok], how[ok]
    sets = _sets(sh, k, E)
    need_t, need_r = np.ceil(sh.M / P), np.ceil(sh.C / Q)
    t_first = np.minimum(sets, need_t)
    r_first = np.minimum(sets, need_r)
    root = np.maximum(1, np.floor(np.sqrt(sets)))
    T = np.select([how == 0, how == 1], [t_first, np.maximum(1, np.minimum(np.floor(sets / r_first), need_t))],
                  np.minimum(root, need_t))
    R = np.select([how == 0, how == 1], [np.maximum(1, np.minimum(np.floor(sets / t_first), need_r)), r_first],
                  np.minimum(root, need_r))
    rows_in = np.minimum((E - 1) * sh.U + sh.R, sh.H)
    if_bits = N * Q * R * rows_in * sh.W * k.act_bits
    room = (k.ifmap_bits - if_bits) if k.shared else np.full(E.shape, k.psum_bits)
    room = np.where(if_bits <= k.ifmap_bits, room, 0.0)
    pt = P * T
    m = np.floor(room / k.acc_bits / (N * E * sh.F) / pt) * pt
    m = np.where(m >= sh.M, sh.M, m)
    fits = m >= np.minimum(pt, sh.M)
    m = np.where(fits, m, np.minimum(pt, sh.M))
    c = _counts(sh, k, E, N, P, Q, R, T, m)
    energy = NORMALIZED_DRAM * (c["filter_dram"] + (c["ifmap_dram"] * in_bits + c["ofmap"] * out_bits)
                                / k.act_bits) \
        + NORMALIZED_GLB * (c["ifmap_glb_fill"] + c["ifmap_glb_read"] + 2 * c["psum_glb"])
    cycles = np.where(fits, c["cycles"], np.inf)
    if not np.isfinite(cycles).any():                          # nothing fits: smallest footprint, psums spill
        cycles = np.where(c["glb_words"] == c["glb_words"].min(), c["cycles"], np.inf)
    score = np.where(cycles <= cycles.min() * (1 + CYCLE_SLACK), energy, np.inf)
    i = int(np.argmin(score))
    return {"e": int(E[i]), "n": int(N[i]), "p": int(P[i]), "q": int(Q[i]), "r": int(R[i]), "t": int(T[i]),
            "m": int(m[i])}


def rs_arrays(hw: HardwareArrays) -> dict[str, np.ndarray]:
    """The row-stationary engine's own fields over every config (``pe.params``,
    ``accel_models.engine_params.rowstationary``; 0 where the config is another engine's)."""
    def per(name):
        return np.array([getattr(x.pe.params, name) if x.pe.engine == "rowstationary" else 0
                         for x in hw.accelerators], dtype=np.int64)
    return {"filter_spad": per("filter_spad_words"), "ifmap_spad": per("ifmap_spad_words"),
            "psum_spad": per("psum_spad_words"), "rlc_run_bits": per("rlc_run_bits"),
            "rlc_word_bits": per("rlc_word_bits")}


def _hw_key(hw: HardwareArrays, i: int) -> HwKey:
    half = 0.5 if hw.double_buffered[i] else 1.0
    ra = hw.engine_arrays("rowstationary", rs_arrays)
    return HwKey(int(hw.rows[i]), int(hw.cols[i]), int(ra["filter_spad"][i]), int(ra["ifmap_spad"][i]),
                 int(ra["psum_spad"][i]), float(hw.buf_bits["ifmap"][i] * half), float(hw.buf_bits["ofmap"][i] * half),
                 not bool(hw.per_operand[i]), float(hw.act_bits[i]), float(hw.acc_bits[i]))


def layer_plan(w: LayerWorkload, hw: HardwareArrays, i: int) -> dict:
    """Mapping and counts of layer ``w`` on config ``i``; cached per hardware key."""
    k = _hw_key(hw, i)
    ra = hw.engine_arrays("rowstationary", rs_arrays)
    act, run, word = float(hw.act_bits[i]), int(ra["rlc_run_bits"][i]), int(ra["rlc_word_bits"][i])
    compact = bool(hw.compact[i])
    key = ("rs_plan", k, act, run, word, compact, w.act_density, w.out_density)
    if key in w.cache:
        return w.cache[key]
    sh = shape(w, compact)
    in_bits = rlc_bits_per_value(w.act_density, act, run, word)
    out_bits = rlc_bits_per_value(1.0 if w.out_density is None else w.out_density, act, run, word)
    given = w.geometry.get("rs_mapping")
    if given is not None:
        check_mapping(sh, k, dict(given), w.name)
        mp = {f: int(given[f]) for f in MAPPING_FIELDS}
    else:
        mp = search_mapping(sh, k, in_bits, out_bits)
    c = {name: float(np.asarray(v)) for name, v in _counts(sh, k, *(mp[f] for f in MAPPING_FIELDS)).items()}
    plan = {"mapping": mp, "shape": sh, "in_bits": in_bits, "out_bits": out_bits, **c}
    w.cache[key] = plan
    return plan


def plans(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> list[dict]:
    return [layer_plan(w, hw, int(i)) for i in idx]


def _column(ps: list[dict], name: str) -> np.ndarray:
    return np.array([p[name] for p in ps], dtype=float)


def demand(w: LayerWorkload, hw: HardwareArrays, idx: np.ndarray) -> ComputeDemand:
    s = layer_stats(w)
    n = idx.size
    b = storage_width(hw, w.weight_bits, idx, w.name)
    ps = plans(w, hw, idx)
    col = lambda name: _column(ps, name)  # noqa: E731
    macs = col("macs")
    useful = np.minimum(s.nnz * float(w.columns) * w.act_density, macs)
    weights = col("weights")
    e = np.array([p["mapping"]["e"] for p in ps], dtype=float)
    t = np.array([p["mapping"]["t"] for p in ps], dtype=float)
    psum_glb = col("psum_glb")
    adds = psum_glb * col("rf")                                # incoming partial sums accumulated in the PEs
    return ComputeDemand(
        format=np.full(n, "dense", dtype=object), value_width=b, storage_weight_bits=s.nnz * b,
        storage_index_bits=np.zeros(n), storage_padding_bits=np.maximum(weights - s.nnz, 0) * b,
        storage_pointer_bits=np.zeros(n), macs_executed=macs, macs_useful=useful,
        mac_energy_weight=gating_weight(hw, idx, useful, macs), index_decodes=np.zeros(n),
        compute_cycles=col("cycles"), tiles=col("passes"),
        gemm_m=np.array([p["shape"].M * p["shape"].groups for p in ps], dtype=float),
        gemm_k=np.array([p["shape"].C * p["shape"].R * p["shape"].S for p in ps], dtype=float),
        sram_ifmap_read_words=col("ifmap_glb_read"),
        sram_filter_read_words=np.zeros(n), sram_ofmap_write_words=psum_glb, sram_ofmap_read_words=psum_glb,
        rf_weight_accesses=macs + col("filter_dram") * np.minimum(e, hw.cols[idx]),
        rf_act_accesses=macs + col("ifmap_glb_read") * col("rf") * t,
        rf_psum_accesses=2 * macs + 2 * adds, filter_word_bits=b.astype(float),
        ifmap_words=col("ifmap_words"), ofmap_words=col("ofmap"),
        ifmap_passes=col("blocks"), filter_passes=col("img_groups") * col("strips"), psum_passes=col("chan_groups"),
        ofmap_tile_words=col("glb_words"), restream_filter=np.zeros(n), restream_ifmap=np.zeros(n))


def costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, idx: np.ndarray,
          resident: np.ndarray) -> tuple[Traffic, Timing]:
    """Traffic and timing of the RS configs ``idx`` (``d`` and ``resident`` are the full-length arrays)."""
    ps = plans(w, hw, idx)
    col = lambda name: _column(ps, name)  # noqa: E731
    sub = hw.take(idx)
    dd = d.take(idx)
    act, acc = sub.act_bits, sub.acc_bits
    res = resident[idx]
    acts_on_chip = sub.acts_mode == "resident"
    fits = col("fits") > 0
    in_bits, out_bits = col("in_bits"), col("out_bits")
    psum = col("psum_glb")
    spill = np.where(fits, 0.0, psum - col("ofmap"))              # partial sums beyond the last go to DRAM
    dram_w = np.where(res, 0.0, col("filter_dram"))
    dram_if = np.where(acts_on_chip, 0.0, col("ifmap_dram"))
    dram_of = np.where(acts_on_chip, 0.0, col("ofmap"))
    bits_w = dram_w * dd.filter_word_bits
    bits_if = dram_if * in_bits
    bits_of = dram_of * out_bits + 2 * spill * acc
    glb_psum = psum - spill
    compulsory = np.where(res, 0.0, dd.storage_weight_bits) + np.where(
        acts_on_chip, 0.0, col("ifmap_dram") / col("blocks") * in_bits + col("ofmap") * out_bits)
    t = Traffic(
        sram_ifmap_read_words=col("ifmap_glb_read"), sram_ifmap_write_words=col("ifmap_glb_fill"),
        sram_filter_read_words=np.zeros(idx.size), sram_filter_write_words=np.zeros(idx.size),
        sram_ofmap_write_words=glb_psum, sram_ofmap_read_words=glb_psum,
        dram_ifmap_read_words=dram_if, dram_filter_read_words=dram_w, dram_ofmap_write_words=dram_of + spill,
        dram_ofmap_read_words=spill, dram_ifmap_bits=bits_if, dram_filter_bits=bits_w, dram_ofmap_bits=bits_of,
        dram_write_bits=dram_of * out_bits + spill * acc, dram_bits_compulsory=compulsory,
        rf_weight_accesses=dd.rf_weight_accesses, rf_act_accesses=dd.rf_act_accesses,
        rf_psum_accesses=dd.rf_psum_accesses,
        sram_read_bits={"ifmap": col("ifmap_glb_read") * act, "filter": np.zeros(idx.size),
                        "ofmap": glb_psum * acc},
        sram_write_bits={"ifmap": col("ifmap_glb_fill") * act, "filter": np.zeros(idx.size),
                         "ofmap": glb_psum * acc},
        weights_resident=res)
    tiles = np.maximum(dd.tiles, 1.0)
    transfer = transfer_cycles(t, sub)
    latency = np.where(t.dram_bits > 0, sub.dram_latency, 0.0)
    cycles = latency + pipeline_cycles(transfer / tiles, dd.compute_cycles / tiles, tiles)
    return t, Timing(dd.compute_cycles, latency + transfer, cycles, cycles - dd.compute_cycles)


__all__ = ["demand", "costs", "layer_plan", "rlc_bits_per_value", "search_mapping", "shape"]
