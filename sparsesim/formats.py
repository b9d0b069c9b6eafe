"""Sparse weight formats with exact bit counts, each with an exact decoder.

Every encoder takes the real GEMM weight matrix ``W`` (M x K) and the value
width ``b``; every bit is accounted for in one of four buckets:

* ``weight_bits``   nonzero values: ``nnz * b``
* ``padding_bits``  stored zeros: zero entries inside stored blocks/rows, empty
                    N:M slots, EIE padding entries (their value and index bits)
* ``index_bits``    positions: column/row indices, bitmasks, N:M metadata
* ``pointer_bits``  row/column pointers (CSR/CSC/BCSR/EIE)

Index fields are ``ceil(log2 n)`` bits for n possible positions (at least 1);
pointers are ``ceil(log2 (entries + 1))`` bits.

| format       | layout |
|--------------|--------|
| dense        | all M*K values |
| bitmask      | M*K presence bits + nonzero values |
| csr          | values, column index per value, M+1 row pointers |
| csc          | values, row index per value, K+1 column pointers |
| coo          | values, (row, column) per value |
| relative     | EIE: rows interleaved over P PEs; per PE CSC with r-bit relative row index; a gap longer than 2^r - 1 inserts a padding entry (value 0, index 2^r - 1) |
| bcsr         | bh x bw blocks with any nonzero, stored dense; block column index, block-row pointers |
| nm           | N slots per M-group along K (values + ceil(log2 M)-bit position) |
| compact      | structured: the kept rows x kept columns as a dense matrix + their index lists |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


class FormatError(ValueError):
    pass


def index_width(n: int) -> int:
    """Bits to address n positions (at least 1)."""
    return max(1, math.ceil(math.log2(max(n, 1))))


def pointer_width(entries: int) -> int:
    return max(1, math.ceil(math.log2(entries + 1)))


@dataclass(frozen=True, eq=False)
class Encoded:
    format: str
    shape: tuple[int, int]
    value_bits: int
    weight_bits: int
    index_bits: int
    padding_bits: int
    pointer_bits: int
    arrays: dict = field(repr=False)
    params: dict = field(default_factory=dict)

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.index_bits + self.padding_bits + self.pointer_bits

    @property
    def overhead_bits(self) -> int:
        return self.index_bits + self.padding_bits + self.pointer_bits

    def decode(self) -> np.ndarray:
        return DECODERS[self.format](self)

    def summary(self) -> dict:
        return {"format": self.format, "weight_bits": self.weight_bits, "index_bits": self.index_bits,
                "padding_bits": self.padding_bits, "pointer_bits": self.pointer_bits,
                "total_bits": self.total_bits, **self.params}


def _check(w: np.ndarray, b: int) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2:
        raise FormatError(f"weights must be a 2-D GEMM matrix, got shape {w.shape}")
    if not isinstance(b, (int, np.integer)) or b < 1:
        raise FormatError(f"value_bits={b!r}; allowed: an integer >= 1")
    return w


# ----------------------------------------------------------------- encoders
def encode_dense(w, b: int) -> Encoded:
    w = _check(w, b)
    nnz = int(np.count_nonzero(w))
    return Encoded("dense", w.shape, b, nnz * b, 0, (w.size - nnz) * b, 0, {"values": w.copy()})


def encode_bitmask(w, b: int) -> Encoded:
    w = _check(w, b)
    mask = w != 0
    vals = w[mask]
    return Encoded("bitmask", w.shape, b, vals.size * b, w.size, 0, 0,
                   {"mask": np.packbits(mask.reshape(-1)), "values": vals})


def _compressed(w, b: int, by_cols: bool) -> Encoded:
    w = _check(w, b)
    m, k = w.shape
    a = w.T if by_cols else w
    outer, inner = (k, m) if by_cols else (m, k)
    o, i = np.nonzero(a)  # row-major over ``a``: sorted by outer, then inner
    vals = a[o, i]
    ptr = np.zeros(outer + 1, dtype=np.int64)
    np.cumsum(np.bincount(o, minlength=outer), out=ptr[1:])
    nnz = vals.size
    name = "csc" if by_cols else "csr"
    return Encoded(name, w.shape, b, nnz * b, nnz * index_width(inner), 0, (outer + 1) * pointer_width(nnz),
                   {"ptr": ptr, "idx": i, "values": vals})


def encode_csr(w, b: int) -> Encoded:
    return _compressed(w, b, by_cols=False)


def encode_csc(w, b: int) -> Encoded:
    return _compressed(w, b, by_cols=True)


def encode_coo(w, b: int) -> Encoded:
    w = _check(w, b)
    r, c = np.nonzero(w)
    m, k = w.shape
    return Encoded("coo", w.shape, b, r.size * b, r.size * (index_width(m) + index_width(k)), 0, 0,
                   {"rows": r, "cols": c, "values": w[r, c]})


def relative_entries(w: np.ndarray, pes: int, index_bits: int) -> dict:
    """EIE stream per PE: entries sorted by (pe, column); padding where a gap overflows.  Positions are held as
    int32 where the shape allows (a dense 4096 x 4096 layer is 16.8M entries)."""
    m, k = w.shape
    c, r = np.nonzero(w.T)                              # sorted by (column, row)
    itype = np.int32 if max(m, k) < 2 ** 31 - 1 else np.int64
    c, r = c.astype(itype), r.astype(itype)
    pe = r % pes
    order = np.argsort(pe, kind="stable")               # by (pe, column, row): a PE's rows ascend with their local index
    pe, c, r = pe[order], c[order], r[order]
    del order
    local = r // pes
    vals = w[r, c]
    del r
    new_seg = np.ones(c.size, dtype=bool)
    new_seg[1:] = (pe[1:] != pe[:-1]) | (c[1:] != c[:-1])
    prev = np.empty_like(local)
    prev[0:1] = -1
    prev[1:] = local[:-1]
    prev[new_seg] = -1
    gap = local.astype(np.int64) - prev - 1
    del prev, local
    span = 1 << index_bits
    pads = gap // span
    idx = gap % span
    return {"pe": pe, "col": c, "idx": idx, "values": vals, "pads": pads}


def encode_relative(w, b: int, index_bits: int = 4, pes: int = 1) -> Encoded:
    w = _check(w, b)
    if not 1 <= index_bits <= 32 or pes < 1:
        raise FormatError(f"relative: index_bits={index_bits} (1..32) and pes={pes} (>= 1)")
    m, k = w.shape
    e = relative_entries(w, pes, index_bits)
    n_pad = int(e["pads"].sum())
    nnz = e["values"].size
    # per-PE column pointers over that PE's entries (real + padding)
    per_pe_entries = np.bincount(e["pe"], weights=e["pads"] + 1, minlength=pes).astype(np.int64)
    ptr_bits = int(sum((k + 1) * pointer_width(int(n)) for n in per_pe_entries))
    return Encoded("relative", w.shape, b, nnz * b, nnz * index_bits, n_pad * (b + index_bits), ptr_bits,
                   e, {"index_bits": index_bits, "pes": pes, "padding_entries": n_pad})


def encode_bcsr(w, b: int, block: tuple[int, int] = (4, 4)) -> Encoded:
    w = _check(w, b)
    bh, bw = block
    m, k = w.shape
    mp, kp = -(-m // bh) * bh, -(-k // bw) * bw
    padded = np.zeros((mp, kp), dtype=w.dtype)
    padded[:m, :k] = w
    blocks = padded.reshape(mp // bh, bh, kp // bw, bw).transpose(0, 2, 1, 3)
    live = np.any(blocks != 0, axis=(2, 3))
    br, bc = np.nonzero(live)
    data = blocks[br, bc]
    nnz = int(np.count_nonzero(w))
    nb = br.size
    ptr = np.zeros(mp // bh + 1, dtype=np.int64)
    np.cumsum(np.bincount(br, minlength=mp // bh), out=ptr[1:])
    return Encoded("bcsr", w.shape, b, nnz * b, nb * index_width(kp // bw), (nb * bh * bw - nnz) * b,
                   (mp // bh + 1) * pointer_width(nb), {"ptr": ptr, "bcols": bc, "blocks": data},
                   {"block": [bh, bw], "blocks": nb})


def encode_nm(w, b: int, n: int = 2, m: int = 4) -> Encoded:
    w = _check(w, b)
    rows, k = w.shape
    if k % m:
        raise FormatError(f"nm {n}:{m}: K={k} is not divisible by M={m}")
    g = w.reshape(rows, k // m, m)
    nz = g != 0
    count = nz.sum(-1)
    if count.max(initial=0) > n:
        raise FormatError(f"nm {n}:{m}: weights are not {n}:{m}-sparse (a group holds {int(count.max())} "
                          f"nonzeros)")
    # slot positions: nonzero positions first (ascending), then the lowest unused positions
    key = np.where(nz, 0, 1) * m + np.arange(m)
    pos = np.argsort(key, axis=-1, kind="stable")[..., :n]
    vals = np.take_along_axis(g, pos, -1)
    nnz = int(count.sum())
    slots = rows * (k // m) * n
    return Encoded("nm", w.shape, b, nnz * b, slots * index_width(m), (slots - nnz) * b, 0,
                   {"pos": pos.astype(np.int8 if m <= 127 else np.int32), "values": vals}, {"n": n, "m": m})


def encode_compact(w, b: int) -> Encoded:
    w = _check(w, b)
    m, k = w.shape
    rows = np.nonzero(np.any(w != 0, axis=1))[0]
    cols = np.nonzero(np.any(w != 0, axis=0))[0]
    sub = w[np.ix_(rows, cols)]
    nnz = int(np.count_nonzero(sub))
    return Encoded("compact", w.shape, b, nnz * b, rows.size * index_width(m) + cols.size * index_width(k),
                   (sub.size - nnz) * b, 0, {"rows": rows, "cols": cols, "values": sub},
                   {"kept_rows": int(rows.size), "kept_cols": int(cols.size)})


# ----------------------------------------------------------------- decoders
def _decode_dense(e: Encoded) -> np.ndarray:
    return e.arrays["values"].copy()


def _decode_bitmask(e: Encoded) -> np.ndarray:
    m, k = e.shape
    mask = np.unpackbits(e.arrays["mask"])[: m * k].astype(bool)
    out = np.zeros(m * k, dtype=e.arrays["values"].dtype)
    out[mask] = e.arrays["values"]
    return out.reshape(m, k)


def _decode_compressed(e: Encoded) -> np.ndarray:
    m, k = e.shape
    by_cols = e.format == "csc"
    outer = k if by_cols else m
    ptr, idx, vals = e.arrays["ptr"], e.arrays["idx"], e.arrays["values"]
    o = np.repeat(np.arange(outer), np.diff(ptr))
    out = np.zeros((m, k), dtype=vals.dtype)
    if by_cols:
        out[idx, o] = vals
    else:
        out[o, idx] = vals
    return out


def _decode_coo(e: Encoded) -> np.ndarray:
    out = np.zeros(e.shape, dtype=e.arrays["values"].dtype)
    out[e.arrays["rows"], e.arrays["cols"]] = e.arrays["values"]
    return out


def _decode_relative(e: Encoded) -> np.ndarray:
    """Replay the stream: each pad advances 2^r positions, each entry idx + 1."""
    m, k = e.shape
    a = e.arrays
    span = 1 << e.params["index_bits"]
    pes = e.params["pes"]
    step = a["pads"] * span + a["idx"] + 1
    seg = a["pe"].astype(np.int64) * k + a["col"]
    csum = np.cumsum(step)
    start = np.ones(seg.size, dtype=bool)
    start[1:] = seg[1:] != seg[:-1]
    base = np.maximum.accumulate(np.where(start, csum - step, 0))
    local = csum - base - 1
    out = np.zeros((m, k), dtype=a["values"].dtype)
    out[local * pes + a["pe"], a["col"]] = a["values"]
    return out


def _decode_bcsr(e: Encoded) -> np.ndarray:
    m, k = e.shape
    bh, bw = e.params["block"]
    mp, kp = -(-m // bh) * bh, -(-k // bw) * bw
    out = np.zeros((mp // bh, kp // bw, bh, bw), dtype=e.arrays["blocks"].dtype)
    br = np.repeat(np.arange(mp // bh), np.diff(e.arrays["ptr"]))
    out[br, e.arrays["bcols"]] = e.arrays["blocks"]
    return out.transpose(0, 2, 1, 3).reshape(mp, kp)[:m, :k]


def _decode_nm(e: Encoded) -> np.ndarray:
    rows, k = e.shape
    m = e.params["m"]
    out = np.zeros((rows, k // m, m), dtype=e.arrays["values"].dtype)
    np.put_along_axis(out, e.arrays["pos"].astype(np.int64), e.arrays["values"], -1)
    return out.reshape(rows, k)


def _decode_compact(e: Encoded) -> np.ndarray:
    out = np.zeros(e.shape, dtype=e.arrays["values"].dtype)
    out[np.ix_(e.arrays["rows"], e.arrays["cols"])] = e.arrays["values"]
    return out


ENCODERS = {"dense": encode_dense, "bitmask": encode_bitmask, "csr": encode_csr, "csc": encode_csc,
            "coo": encode_coo, "relative": encode_relative, "bcsr": encode_bcsr, "nm": encode_nm,
            "compact": encode_compact}
DECODERS = {"dense": _decode_dense, "bitmask": _decode_bitmask, "csr": _decode_compressed,
            "csc": _decode_compressed, "coo": _decode_coo, "relative": _decode_relative, "bcsr": _decode_bcsr,
            "nm": _decode_nm, "compact": _decode_compact}


def encode(w, fmt: str, b: int, **params) -> Encoded:
    if fmt not in ENCODERS:
        raise FormatError(f"format {fmt!r} unknown; allowed: {', '.join(ENCODERS)}")
    return ENCODERS[fmt](w, b, **params)
