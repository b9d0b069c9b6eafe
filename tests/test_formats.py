"""Sparse formats: exact round trips and hand-counted bits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsesim.formats import FormatError, encode

SETTINGS = settings(max_examples=80, deadline=None)


@st.composite
def sparse_matrices(draw, m_mult=1, k_mult=1):
    m = draw(st.integers(1, 12)) * m_mult
    k = draw(st.integers(1, 12)) * k_mult
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    vals = draw(arrays(np.float32, (m, k), elements=st.floats(-8, 8, width=32).filter(lambda v: v != 0)))
    keep = draw(arrays(np.float64, (m, k), elements=st.floats(0, 1))) < density
    return np.where(keep, vals, np.float32(0))


def _bits_add_up(e, w):
    nnz = int(np.count_nonzero(w))
    assert e.weight_bits == nnz * e.value_bits
    assert e.total_bits == e.weight_bits + e.index_bits + e.padding_bits + e.pointer_bits


@SETTINGS
@given(sparse_matrices(), st.sampled_from(["dense", "bitmask", "csr", "csc", "coo", "compact"]),
       st.integers(1, 16))
def test_simple_formats_round_trip(w, fmt, b):
    e = encode(w, fmt, b)
    np.testing.assert_array_equal(e.decode(), w)
    _bits_add_up(e, w)


@SETTINGS
@given(sparse_matrices(), st.integers(1, 5), st.integers(1, 6), st.integers(1, 16))
def test_relative_index_round_trip(w, r, pes, b):
    e = encode(w, "relative", b, index_bits=r, pes=pes)
    np.testing.assert_array_equal(e.decode(), w)
    _bits_add_up(e, w)
    assert e.padding_bits == e.params["padding_entries"] * (b + r)


@SETTINGS
@given(sparse_matrices(), st.sampled_from([(1, 1), (2, 2), (1, 4), (3, 2)]), st.integers(1, 8))
def test_bcsr_round_trip_with_ragged_edges(w, block, b):
    e = encode(w, "bcsr", b, block=block)
    np.testing.assert_array_equal(e.decode(), w)
    _bits_add_up(e, w)


@SETTINGS
@given(st.data(), st.sampled_from([(1, 2), (2, 4), (1, 4), (4, 8)]), st.integers(1, 8))
def test_nm_round_trip(data, nm, b):
    n, m = nm
    w = data.draw(sparse_matrices(k_mult=m))
    g = w.reshape(w.shape[0], -1, m)
    order = np.argsort(-np.abs(g), axis=-1, kind="stable")
    keep = np.zeros_like(g, dtype=bool)
    np.put_along_axis(keep, order[..., :n], True, -1)
    w = np.where(keep, g, 0).reshape(w.shape).astype(np.float32)
    e = encode(w, "nm", b, n=n, m=m)
    np.testing.assert_array_equal(e.decode(), w)
    _bits_add_up(e, w)


def test_hand_counted_bits():
    w = np.array([[0, 1.5, 0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 0, 0, -2],
                  [0, 0, 0, 0, 0, 0, 0, 0],
                  [3, 0, 0, 4, 0, 0, 0, 0]], dtype=np.float32)  # 4 x 8, nnz = 4
    b = 8
    assert encode(w, "dense", b).summary()["total_bits"] == 32 * 8
    assert encode(w, "dense", b).padding_bits == 28 * 8
    bm = encode(w, "bitmask", b)
    assert (bm.weight_bits, bm.index_bits) == (32, 32)
    csr = encode(w, "csr", b)  # 4 col idx of 3 bits; 5 row ptrs of ceil(log2 5)=3 bits
    assert (csr.weight_bits, csr.index_bits, csr.pointer_bits) == (32, 12, 15)
    csc = encode(w, "csc", b)  # 4 row idx of 2 bits; 9 col ptrs of 3 bits
    assert (csc.index_bits, csc.pointer_bits) == (8, 27)
    assert encode(w, "coo", b).index_bits == 4 * (2 + 3)
    comp = encode(w, "compact", b)  # rows {0,1,3}, cols {0,1,3,7}: 12 slots, 8 stored zeros
    assert (comp.index_bits, comp.padding_bits) == (3 * 2 + 4 * 3, 8 * 8)
    blk = encode(w, "bcsr", b, block=(2, 4))  # blocks (0,0),(0,1),(1,0): 24 slots, 20 zeros
    assert (blk.index_bits, blk.padding_bits, blk.pointer_bits) == (3 * 1, 20 * 8, 3 * 2)


def test_relative_padding_entries_by_hand():
    # one column, 40 rows, nonzeros at rows 0, 20 and 39; 4-bit indices (gap <= 15)
    w = np.zeros((40, 1), dtype=np.float32)
    w[[0, 20, 39], 0] = [1, 2, 3]
    e = encode(w, "relative", 8, index_bits=4, pes=1)
    # gaps 0, 19 (one pad of 16, index 3), 18 (one pad, index 2)
    assert e.arrays["idx"].tolist() == [0, 3, 2] and e.arrays["pads"].tolist() == [0, 1, 1]
    assert e.params["padding_entries"] == 2 and e.padding_bits == 2 * 12
    assert e.pointer_bits == 2 * 3  # K + 1 = 2 pointers over 5 entries: 3 bits each
    # two PEs interleave rows: PE0 holds rows 0, 20 (local 0, 10); PE1 holds row 39 (local 19)
    e2 = encode(w, "relative", 8, index_bits=4, pes=2)
    assert e2.params["padding_entries"] == 1
    np.testing.assert_array_equal(e2.decode(), w)


def test_nm_rejects_dense_groups_and_bad_k():
    with pytest.raises(FormatError, match="not 2:4-sparse"):
        encode(np.ones((2, 8), np.float32), "nm", 8, n=2, m=4)
    with pytest.raises(FormatError, match="K=6 is not divisible"):
        encode(np.zeros((2, 6), np.float32), "nm", 8, n=2, m=4)
    with pytest.raises(FormatError, match="format 'ell' unknown"):
        encode(np.zeros((2, 2)), "ell", 8)
