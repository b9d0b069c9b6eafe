"""The loop-nest sparse model (sparsesim.loopnest): Sparseloop's artifact reproduced, count invariants,
exact masks against brute force, and the readers' errors."""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsesim.loopnest import (ActionOpt, ComputeLevel, Design, FixedStructured, Loop, RankFormat,
                                StorageLevel, Tensor, Workload, evaluate)
from sparsesim.loopnest.density import ExactMask, Hypergeometric
from sparsesim.loopnest.ranks import word_bits
from sparsesim.loopnest.schema import design_from_dict, design_to_dict, workload_from_dict, workload_to_dict
from sparsesim.loopnest.spec import SPARSELOOP_2022_COUNTS, SpecError
from sparsesim.loopnest.timeloop_inputs import read_case

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sparseloop_validation as validation  # noqa: E402

FIG1 = validation.load_cases(("fig1",))
TUTORIAL = validation.load_cases(("tutorial",))
FIG12 = validation.load_cases(("fig12",))
TABLE7 = validation.load_cases(("table7",))
# Sparseloop's two counts one above the 2022 source's arithmetic (docs/validation.md section 14d): both sit
# on an integer rounding boundary (conv2: floor(6881280 x 0.4); conv3: 1382400 x (1 - 0.275))
TABLE7_OFF_BY_ONE = {"table7 conv2 sparse": "weights_spad.Weights.gated_reads",
                     "table7 conv3 sparse": "DRAM.Inputs.actual_reads"}
GRIDS = validation.load_cases(("grid", "grid_heldout"))
SGRIDS = validation.load_cases(("sgrid", "sgrid_heldout"))
# The held-out spatial grid's two misses (docs/validation.md section 14e), as they came out on its first run: one
# fill above ours, each where n x (1 - tile density) is an integer (Timeloop's density a hair above the exact one)
SGRID_MISSES = {("sgrid_heldout", "sgrid p019"): "Buffer.A.actual_fills",
                ("sgrid_heldout", "sgrid p025"): "Buffer.Weights.actual_fills"}


@pytest.mark.parametrize("case", FIG1, ids=[c["name"] for c in FIG1])
def test_fig1_reproduces_sparseloop(case):
    r = validation.compare(case)
    assert abs(r["cycles_err"]) < 1e-4
    assert abs(r["energy_err"]) < 0.01          # AccelForge's own bounds: 25% (bitmask), 10% (coordinate list)
    assert r["level_cycles_err"] < 0.01
    assert r["worst_count_err"] < 0.005, r["worst_count"]
    assert abs(r["computes_err"]) < 0.005       # Sparseloop prints one compute more than the effectual ones


@pytest.mark.parametrize("case", TUTORIAL, ids=[c["name"] for c in TUTORIAL])
def test_timeloop_04_tutorial_designs_are_reproduced(case):
    """Timeloop v0.4's own Sparseloop tutorial designs (dot products with gating and skipping, spMspM untiled
    and pre-tiled).  Not held out: five rules came from them (docs/validation.md section 14); Fig. 1 kept
    its errors through those changes."""
    r = validation.compare(case)
    assert abs(r["cycles_err"]) < 1e-9 and r["level_cycles_err"] < 1e-9
    assert abs(r["energy_err"]) < 1e-4
    assert r["worst_count_err"] < 1e-9, r["worst_count"]


@pytest.mark.parametrize("case", FIG12, ids=[c["name"] for c in FIG12])
def test_fig12_eyeriss_v2_pe_is_reproduced_in_whole_accesses(case):
    """Fig. 12 (Eyeriss v2 PE, MobileNet-0.5 layers, hypergeometric zeros) under Timeloop's whole-access
    counts.  Not held out: the rules came from these outputs (docs/validation.md section 14).  Every count
    and cycle is exact; energy within 1e-6 (L27: 3.2e-7, two RLE metadata counts one above ours, boost's
    lanczos pmf for a tensor over 104,729 elements)."""
    r = validation.compare(case)
    assert r["cycles_err"] == 0 and r["level_cycles_err"] == 0 and r["computes_err"] == 0
    assert r["worst_count_err"] == 0, r["worst_count"]
    assert abs(r["energy_err"]) < (1e-6 if case["name"] == "fig12 L27" else 1e-8)


@pytest.mark.parametrize("case", TABLE7, ids=[c["name"] for c in TABLE7])
def test_table7_eyeriss_v1_spatial_fanout_is_reproduced(case):
    """Table 7 (Eyeriss v1, 168 PEs, AlexNet conv1-5, sparse and dense): spatial fan-out, multicast, spatial
    reduction, sliding-window tiles.  Not held out: the rules came from these outputs (/work/briefs'
    table7_rules.md, ported).  Cycles and computes exact; counts exact but two, one access off each."""
    r = validation.compare(case)
    assert r["cycles_err"] == 0 and r["level_cycles_err"] == 0 and r["computes_err"] == 0
    off = TABLE7_OFF_BY_ONE.get(case["name"])
    assert r["worst_count_err"] == 0 or (r["worst_count"] == off and r["worst_count_err"] < 3e-6), r["worst_count"]
    assert abs(r["energy_err"]) < (4e-7 if off else 1e-10)


FIG15 = {c["name"]: c for c in validation.load_cases(("fig15",))}
FIG15_INFERRED = [n for n in FIG15 if "DSTC" in n or "dualCompress" in n]
# STC_flexible(-RLE) at WD-1.0 and 0.5 is STC's run again (same counts): left to the validation script
FIG15_TESTED = [n for n in FIG15 if n not in FIG15_INFERRED
                and not ("flexible" in n and ("WD-1.0" in n or "WD-0.5" in n))]
FIG15_LAYERS = ("M512-K256-N1024", "M512-K128-N1024", "M128-K1152-N1024", "M512-K1024-N256")


@functools.lru_cache(maxsize=None)
def _fig15(name: str) -> dict:
    return validation.compare(FIG15[name])


@pytest.mark.parametrize("name", FIG15_TESTED)
def test_fig15_stc_family_is_reproduced(name):
    """Fig. 15 (TC, STC's 2:4, STC_flexible CP and RLE; four ResNet-50 GEMMs, four weight densities):
    stream, skipping-spatial, per-rank formats.  Not held out: the rules came from these outputs
    (/work/briefs' fig1315_rules.md, ported); ``stream`` is inferred (no public Timeloop has it).  Every
    count and cycle exact."""
    r = _fig15(name)
    assert r["cycles_err"] == 0 and r["level_cycles_err"] == 0 and r["computes_err"] == 0
    assert r["worst_count_err"] == 0, r["worst_count"]
    assert abs(r["energy_err"]) < 1e-9


@pytest.mark.parametrize("name", FIG15_INFERRED)
def test_fig15_dstc_and_dual_compress_are_reproduced(name):
    """Fig. 15's DSTC (position-skipping, bitmask ranks, hypergeometric A and B) and STC_flexible_dualCompress
    (RLE A, bitmask B): cycles and level cycles exact in all 32 runs.  DSTC needs two rules inferred from
    these outputs (position-skipping; bitmask payload = metadata) and the artifact build's naive vector
    counts, so it is not an independent check.  Misses, pinned: one-access differences on integer rounding
    boundaries (DSTC: 10 runs, worst 4.1e-5 relative, DRAM A reads in WD-0.3333 L2; computes 1 of ~1e7 in 7
    runs; dualCompress: SMEM B fills in 3 runs), energy within 5.4e-6 (DSTC) and 2e-10 (dualCompress)."""
    r = _fig15(name)
    assert r["cycles_err"] == 0 and r["level_cycles_err"] == 0
    dstc = "DSTC" in name
    assert abs(r["computes_err"]) < (1.2e-7 if dstc else 1e-15)
    assert r["worst_count_err"] < (4.1e-5 if dstc else 4.7e-6), r["worst_count"]
    assert abs(r["energy_err"]) < (5.4e-6 if dstc else 2e-10)


FIG13 = validation.load_cases(("fig13",))


@functools.lru_cache(maxsize=None)
def _fig13() -> dict:
    return {r["case"]: r for r in validation.compare_figure(FIG13)}


@pytest.mark.parametrize("name", [c["name"] for c in FIG13 if c["name"] != "fig13 A=1.0 B=1.0"])
def test_fig13_dstc_normalized_latency_matches_the_figure(name):
    """Fig. 13 (DSTC, 4096^3 GEMM): cycles / the dense run's, rounded to 2 decimals as the artifact's
    parse_and_plot.py does, equal the figure's 8 bars (AccelForge allows 0.03 absolute).  The figure is the
    only reference (no stats are stored); the rules are Fig. 15's, position-skipping inferred.  Closest to a
    rounding edge: 0.1949 (A 0.3, B 0.4) and 0.3848 (A 0.7, B 0.4)."""
    r = _fig13()[name]
    assert r["rounded"] == r["figure"], (r["normalized"], r["figure"])


@pytest.mark.parametrize("design, wd, energy_uj, halve", [("TC", "1.0", 849.13, False), ("STC", "1.0", 772.27, False),
                                                          ("STC", "0.5", 511.86, True)])
def test_fig15_totals_match_accelforges_reference(design, wd, energy_uj, halve):
    """AccelForge's Fig. 15 reference (tests/test_sparseloop_reproduction.py): per-layer cycles
    {1: 131072, 2: 65536, 3: 147456, 4: 131072} (STC at 0.5: half) and the 4-layer energy, which the stats
    files print as 849.13, 772.27 and 511.86 uJ (sums of their 2-decimal per-layer values)."""
    rows = [_fig15(f"fig15 {design} WD-{wd} {layer}") for layer in FIG15_LAYERS]
    assert [r["cycles"] for r in rows] == [c // (2 if halve else 1) for c in (131072, 65536, 147456, 131072)]
    assert round(sum(round(r["energy_pj"] / 1e6, 2) for r in rows), 2) == energy_uj


def test_spatial_fanout_multicasts_and_reduces():
    """One level fanning out 4 ways over M to PEs: each PE reads its own weights, the input is multicast
    (read once at the parent for 4 children), the outputs reduce spatially over C fanned out 2 ways."""
    from sparsesim.loopnest.spatial import spatial_counts
    w = Workload((("M", 4), ("C", 2), ("K", 3)),
                 (Tensor("A", ("M", "K")), Tensor("B", ("C", "K")), Tensor("Z", ("M",), output=True)))
    pe = StorageLevel("PE", frozenset({"A", "B", "Z"}), (Loop("K", 3),))
    glb = StorageLevel("GLB", frozenset({"A", "B", "Z"}), (Loop("M", 4, "X"), Loop("C", 2, "Y")))
    counts, instances, per_instance = spatial_counts(Design((pe, glb), convention=SPARSELOOP_2022_COUNTS), w)
    assert (instances, per_instance) == (8, 3)
    assert counts[(0, "A")].fills == 3 and counts[(1, "A")].reads == 12       # A[m] shared by the 2 C's
    assert counts[(1, "B")].reads == 6                                        # B multicast to the 4 M's
    assert counts[(1, "Z")].updates == 4 and counts[(0, "Z")].updates == 3   # Z[m] reduced over the 2 C's


def test_sliding_window_tiles_carry_their_halo():
    from sparsesim.loopnest.windows import Projection, PointSet
    row = Projection((((0, 2), (1, 1)),))             # h = 2 q + s (stride 2)
    assert row.size([3, 2]) == 9                         # q 0..3, s 0..2: rows 0..8
    a, b = row.points([0, 0], [0, 2]), row.points([1, 0], [1, 2])
    assert b.minus(a).size == 2 and a.translation_to(b, 1) == (2,)
    assert PointSet().minus(a).size == 0
@pytest.mark.parametrize("case", GRIDS, ids=[f"{c['fixture']} {c['name']}" for c in GRIDS])
def test_generated_grids_are_reproduced_exactly(case):
    """Sparseloop itself (Timeloop a9c5115 built from source) on generated sparse GEMM designs: seed 0 (59
    points; the rules of docs/validation.md section 14c were fixed on it) and seed 1 (58 points, generated
    after, held out).  Every count, cycle and compute exact; energy to double precision (the fixtures carry
    Timeloop's full-precision energies)."""
    r = validation.compare(case)
    assert r["cycles_err"] == 0 and r["level_cycles_err"] == 0 and r["computes_err"] == 0
    assert r["worst_count_err"] == 0, r["worst_count"]
    assert abs(r["energy_err"]) < 1e-12


@pytest.mark.parametrize("case", SGRIDS, ids=[f"{c['fixture']} {c['name']}" for c in SGRIDS])
def test_generated_spatial_grids_are_reproduced(case):
    """Sparseloop (Timeloop a9c5115) on generated spatial designs (a PE array under a shared buffer, GEMMs and
    strided convolutions), read through the spatial reader: seed 0 (40 points; three rules fixed on it, docs
    section 14e) exact; seed 1 (40 points, generated after, held out) exact but two, pinned as they came out."""
    r = validation.compare(case)
    assert r["cycles_err"] == 0 and r["computes_err"] == 0
    miss = SGRID_MISSES.get((case["fixture"], case["name"]))
    if miss is None:
        assert r["level_cycles_err"] == 0 and r["worst_count_err"] == 0, r["worst_count"]
        assert abs(r["energy_err"]) < 1e-12
    else:
        assert r["worst_count"] == miss and r["worst_count_err"] < 0.016
        assert r["level_cycles_err"] < 0.004 and -2e-4 < r["energy_err"] < 0


def test_fig1_under_whole_access_counts_is_pinned():
    """Fig. 1 counted in whole accesses (the 2022 convention of Fig. 12): counts and cycles exact, energy as
    the expected-value path's (coordinate lists within 3e-4: the register priced at its printed 0.49 pJ;
    bitmasks +0.07..0.62%: the backing store's bitmask under the map as printed, see the test above).  Not
    switched: the worst bitmask case is 0.612% against the expected-value path's 0.610%."""
    errs = {}
    for case in FIG1:
        design = {**case["design"], "convention": "sparseloop-2022-counts"}
        r = validation.compare({**case, "design": design})
        assert r["cycles_err"] == 0 and r["worst_count_err"] == 0, r["worst_count"]
        errs[case["name"]] = r["energy_err"]
    assert all(0 < e < 0.0062 for n, e in errs.items() if "bitmask" in n)
    assert all(0 < e < 3e-4 for n, e in errs.items() if "coordinate" in n)


def test_a9c5115_rules():
    """Rules the generated grid needed (docs/validation.md section 14c)."""
    from sparsesim.loopnest.counts import _round6, vector_ratio
    assert Hypergeometric(1.0).occupancy(32, 256).may_be_empty     # uint64 underflow: smallest occupancy 0
    assert not Hypergeometric(0.5).occupancy(256, 256).may_be_empty
    assert _round6(0.1015625) == 0.101563                          # C's round(): halves away from zero
    lvl = StorageLevel("DRAM", frozenset({"A"}), block_words=8, formats=(("A", (RankFormat("CP"),)),))
    occ = FixedStructured(0.25).occupancy(64, 1024)                # 16 nonzeros: 2 vectors, as naive
    assert vector_ratio(lvl, Tensor("A", ("M",)), occ, 64, 0.25) == pytest.approx(1.0)
    occ = FixedStructured(0.2).occupancy(64, 1024)                 # 12 or 13 nonzeros: 2 vectors, not 1.6
    assert vector_ratio(lvl, Tensor("A", ("M",)), occ, 64, 0.2) == pytest.approx(2 / 1.6)


def test_whole_access_counts_refuse_exact_masks():
    """Conditioning on nonempty tiles and per-k metadata occupancies need a distribution: statistical-only."""
    case = FIG12[0]
    design, w = design_from_dict(case["design"]), workload_from_dict(case["workload"])
    masks = (("Inputs", ExactMask(np.ones((1, 64, 1, 32, 32)))),
             ("Weights", ExactMask(np.ones((64, 64, 1, 1, 1)))))
    with pytest.raises(SpecError, match="statistical-only"):
        evaluate(design, dataclasses.replace(w, densities=masks))


def test_timeloop_occupancy_rules():
    h = Hypergeometric(0.52)
    assert h.nonzeros(4096) == 2130                                   # ceil(d N), not round
    occ = h.occupancy(8, 4096)
    assert occ.may_be_empty and math.fsum(occ.p) == pytest.approx(1.0)
    assert h.occupancy(4096, 4096).nnz == (2130,)                     # the whole tensor: exactly its nonzeros
    assert h.p_empty_within(4, 8, 0) == 1.0 and h.p_empty_within(4, 8, 5) == 0.0
    f = FixedStructured(0.3)
    assert f.occupancy(5, 100).nnz == (1, 2) and f.occupancy(5, 100).p == pytest.approx((0.5, 0.5))
    assert word_bits(7, 8, 0) == 8 and word_bits(4, 8, 0) == 4 and word_bits(None, 8, 3) == 3


def test_fig1_bitmask_energy_deviation_is_pinned():
    """Sparseloop charges B's bitmask at the backing store per nonzero, not per position (unexplained):
    our bitmask energies sit above its by 0.07-0.61%, falling with density; coordinate lists within 0.03%."""
    errs = {c["name"]: validation.compare(c)["energy_err"] for c in FIG1}
    bitmask = [e for n, e in errs.items() if "bitmask" in n]
    assert all(0 < e < 0.0065 for e in bitmask) and bitmask == sorted(bitmask, reverse=True)
    assert all(abs(e) < 3e-4 for n, e in errs.items() if "coordinate" in n)


def _gemm(m=8, n=8, k=8, dens=None) -> Workload:
    return Workload((("M", m), ("N", n), ("K", k)),
                    (Tensor("A", ("M", "K")), Tensor("B", ("N", "K")), Tensor("Z", ("M", "N"), output=True)),
                    tuple((dens or {}).items()))


def _design(split, formats=(), opts=(), compute_opts=()) -> Design:
    """Three levels over a GEMM: ``split`` gives each level's loop factors {dim: f}."""
    inner, mid, outer = split
    return Design((
        StorageLevel("Reg", frozenset({"Z"}), tuple(Loop(d, f) for d, f in inner.items()), read_bw_words=1,
                     write_bw_words=1, energy_pj=(("read", 0.5), ("write", 0.5))),
        StorageLevel("Buffer", frozenset({"A", "B"}), tuple(Loop(d, f) for d, f in mid.items()), read_bw_words=2,
                     write_bw_words=2, metadata_width_bits=16, formats=tuple(formats), action_opts=tuple(opts),
                     energy_pj=(("read", 1.0), ("write", 1.2), ("gated_read", 0.01), ("metadata_read", 0.7),
                                ("metadata_write", 1.4))),
        StorageLevel("DRAM", frozenset({"A", "B", "Z"}), tuple(Loop(d, f) for d, f in outer.items()),
                     block_words=8, metadata_width_bits=32, read_bw_words=8,
                     energy_pj=(("read", 30.0), ("write", 26.0), ("metadata_read", 14.0))),
    ), ComputeLevel("MAC", 0.56, 0.04, tuple(compute_opts)))


def _factorings(size):
    return [f for f in (1, 2, 4, 8) if size % f == 0]


@st.composite
def splits(draw):
    out = ({}, {}, {})
    for d in ("M", "N", "K"):
        a = draw(st.sampled_from(_factorings(8)))
        b = draw(st.sampled_from(_factorings(8 // a)))
        out[0][d], out[1][d], out[2][d] = a, b, 8 // (a * b)
    return out


@settings(max_examples=40, deadline=None)
@given(splits())
def test_dense_counts_conserve_data(split):
    w = _gemm()
    r = evaluate(_design(split), w)
    levels = {lv.name: {tc.tensor: tc for tc in lv.tensors} for lv in r.levels}
    assert levels["Buffer"]["A"].reads == levels["Buffer"]["B"].reads == w.macs      # the MAC reads them
    assert levels["DRAM"]["A"].reads == levels["Buffer"]["A"].fills >= 64            # each element at least once
    assert levels["Reg"]["Z"].updates == w.macs
    assert levels["DRAM"]["Z"].updates == levels["Reg"]["Z"].fills >= 64
    assert levels["DRAM"]["Z"].reads == levels["DRAM"]["Z"].updates - 64              # partial sums read back
    assert r.computes == w.macs and r.cycles >= w.macs


@settings(max_examples=40, deadline=None)
@given(splits(), st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.sampled_from(["gating", "skipping"]),
       st.sampled_from(["B", "CP", "RLE"]))
def test_sparse_splits_add_up(split, da, db, kind, fmt):
    w = _gemm(dens={"A": FixedStructured(da), "B": FixedStructured(db)})
    opts = (ActionOpt(kind, "A", ("B",)), ActionOpt(kind, "B", ("A",)))
    sparse = evaluate(_design(split, (("A", (RankFormat(fmt),)), ("B", (RankFormat(fmt),))), opts), w)
    dense = evaluate(_design(split), _gemm())
    for lv_s, lv_d in zip(sparse.levels, dense.levels):
        for s, d in zip(lv_s.tensors, lv_d.tensors):
            stored = d.reads * (dict(w.densities)[s.tensor].density if lv_s.name == "Buffer" else 1.0)
            assert s.reads + s.gated_reads + s.skipped_reads == pytest.approx(stored)
            assert s.fills <= d.fills + 1e-9
    if max(da, db) <= 0.5:                     # denser, the metadata can cost more than the zeros save
        assert sparse.energy_pj < dense.energy_pj
    assert sparse.computes == pytest.approx(w.macs * da * db)


def test_gating_keeps_cycles_skipping_saves_them():
    w = _gemm(dens={"A": FixedStructured(0.25), "B": FixedStructured(0.5)})
    split = ({"K": 8}, {}, {"M": 8, "N": 8})
    fmt = (("A", (RankFormat("B"),)), ("B", (RankFormat("B"),)))
    gate = evaluate(_design(split, fmt, [ActionOpt("gating", "Z", ("A", "B"))]), w)
    skip = evaluate(_design(split, fmt, [ActionOpt("skipping", "Z", ("A", "B"))]), w)
    assert gate.level("Buffer").cycles >= skip.level("Buffer").cycles


def test_all_ones_mask_equals_dense_statistics():
    split = ({"K": 4}, {"M": 2}, {"M": 4, "N": 8, "K": 2})
    fmt = (("A", (RankFormat("UOP"), RankFormat("CP"))), ("B", (RankFormat("B"),)))
    opts = (ActionOpt("skipping", "A", ("B",)), ActionOpt("gating", "B", ("A",)))
    exact = evaluate(_design(split, fmt, opts), _gemm(dens={"A": ExactMask(np.ones((8, 8))),
                                                             "B": ExactMask(np.ones((8, 8)))}))
    stat = evaluate(_design(split, fmt, opts), _gemm(dens={"A": FixedStructured(1.0), "B": FixedStructured(1.0)}))
    assert exact.energy_pj == pytest.approx(stat.energy_pj) and exact.cycles == pytest.approx(stat.cycles)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.1, 0.9), st.sampled_from(["random", "rows", "cols", "blocks"]))
def test_exact_masks_count_what_brute_force_counts(seed, density, structure):
    rng = np.random.default_rng(seed)
    a = rng.random((8, 8)) < density
    if structure == "rows":
        a = np.repeat(rng.random((8, 1)) < density, 8, axis=1)
    elif structure == "cols":
        a = np.repeat(rng.random((1, 8)) < density, 8, axis=0)
    elif structure == "blocks":
        a = np.kron(rng.random((4, 4)) < density, np.ones((2, 2), bool))
    b = rng.random((8, 8)) < 0.5
    w = _gemm(dens={"A": ExactMask(a), "B": ExactMask(b)})
    split = ({"K": 2}, {"M": 2, "K": 2}, {"M": 4, "N": 8, "K": 2})
    design = _design(split, (("A", (RankFormat("CP"),)),), [ActionOpt("skipping", "A", ("B",))])
    reg = dataclasses.replace(design.levels[0], action_opts=(ActionOpt("skipping", "Z", ("A", "B")),))
    r = evaluate(dataclasses.replace(design, levels=(reg,) + design.levels[1:]), w)
    effectual = int(np.einsum("mk,nk->", a.astype(int), b.astype(int)))
    assert r.computes == pytest.approx(effectual)
    assert r.level("Buffer").tensors[0].reads == pytest.approx(effectual)           # A read where B is nonzero
    z = r.level("Reg").tensors[0]
    assert z.updates == pytest.approx(effectual) and z.skipped_updates == pytest.approx(w.macs - effectual)


def test_exact_random_masks_agree_with_hypergeometric_statistics():
    case = next(c for c in FIG1 if c["name"] == "fig1 coordinate_list d=0.2")
    design, w = design_from_dict(case["design"]), workload_from_dict(case["workload"])
    rng = np.random.default_rng(0)
    masks = {t: (rng.permutation(128 * 128) < round(0.19921875 * 128 * 128)).reshape(128, 128) for t in "AB"}
    exact = evaluate(design, dataclasses.replace(w, densities=tuple((t, ExactMask(m)) for t, m in masks.items())))
    stat = evaluate(design, dataclasses.replace(w, densities=(("A", Hypergeometric(0.19921875)),
                                                             ("B", Hypergeometric(0.19921875)))))
    assert exact.cycles == pytest.approx(stat.cycles, rel=0.01)
    assert exact.energy_pj == pytest.approx(stat.energy_pj, rel=0.01)


def test_hypergeometric_tiles():
    h = Hypergeometric(0.25)
    assert h.p_nonempty((1,), (64,)) == pytest.approx(0.25)
    assert h.p_nonempty((49,), (64,)) == 1.0                      # more elements than zeros: never empty
    assert h.p_nonempty((4,), (64,)) == pytest.approx(1 - math.comb(48, 4) / math.comb(64, 4))


def test_hypergeometric_pmfs_exact_while_small_log_space_past():
    """The vectorised pmf is the exact ratio within its limits and agrees with it to 1e-9 in log space
    (a 32768-element tile of 2**18 elements takes log space: Fig. 15's SMEM tiles)."""
    from sparsesim.loopnest.density import EXACT_PMF_DRAWS, hypergeometric_pmf, hypergeometric_pmfs
    ks = np.arange(0, 65)
    assert hypergeometric_pmfs(ks, 4096, 1024, 64).tolist() == [hypergeometric_pmf(int(k), 4096, 1024, 64) for k in ks]
    big = EXACT_PMF_DRAWS + 1904                      # past the exact limit: log space
    ks = np.array([1400, 1500, 1500 + 37])
    exact = [hypergeometric_pmf(int(k), 1 << 14, 1 << 12, big) for k in ks]
    np.testing.assert_allclose(hypergeometric_pmfs(ks, 1 << 14, 1 << 12, big), exact, rtol=1e-9)
    occ = Hypergeometric(0.82).occupancy(32768, 1 << 18)
    assert math.fsum(occ.p) == pytest.approx(1.0, abs=1e-12)
    assert math.fsum(p * k for p, k in zip(occ.p, occ.nnz)) == pytest.approx(32768 * math.ceil(0.82 * 2**18) / 2**18,
                                                                              rel=1e-12)


def test_schema_round_trip_and_errors():
    case = FIG1[0]
    design, w = design_from_dict(case["design"]), workload_from_dict(case["workload"])
    assert design_from_dict(design_to_dict(design)) == design and workload_from_dict(workload_to_dict(w)) == w
    bad = dict(case["workload"], densities={"A": {"distribution": "zipf", "density": 0.1}})
    with pytest.raises(SpecError, match="densities.A.distribution: 'zipf'"):
        workload_from_dict(bad)
    with pytest.raises(SpecError, match="format: 'CSR2'"):
        RankFormat("CSR2")
    with pytest.raises(SpecError, match="action optimization: 'prune'"):
        ActionOpt("prune", "A", ("B",))
    short = _design(({"K": 2}, {}, {"M": 8, "N": 8}))
    with pytest.raises(SpecError, match="loops over K multiply to 2, the workload has 8"):
        evaluate(short, _gemm())
    with pytest.raises(ValueError, match="density: 1.5"):
        FixedStructured(1.5)


ARCH = """architecture:
  version: 0.3
  subtree:
  - name: system
    local:
    - {name: DRAM, class: DRAM, attributes: {datawidth: 8, data_storage_width: 64, read_bandwidth: 8}}
    subtree:
    - name: PE
      local:
      - {name: Buf, class: storage, attributes: {datawidth: 8, metadata_storage_width: 16, read_bandwidth: 2, write_bandwidth: 2}}
      - {name: MAC, class: compute}
"""
MAP = """mapping:
  - {target: Buf, type: datatype, keep: [A, B, Z]}
  - {target: DRAM, type: datatype, keep: [A, B, Z]}
  - {target: Buf, type: temporal, factors: M4 N4 K4, permutation: KMN}
  - {target: DRAM, type: temporal, factors: M2 N1 K1, permutation: MNK}
"""
ERT = """ERT:
  tables:
  - name: system.DRAM
    actions: [{name: read, energy: 30}, {name: write, energy: 26}]
  - name: system.PE.Buf
    actions: [{name: read, energy: 1}, {name: write, energy: 1}, {name: metadata_read, energy: 0.5}]
  - name: system.PE.MAC
    actions: [{name: mac_random, energy: 0.5}, {name: mac_gated, energy: 0.05}]
"""
PROB = """problem:
  shape:
    name: MM
    dimensions: [M, N, K]
    data-spaces:
    - {name: A, projection: [[[M]], [[K]]]}
    - {name: B, projection: [[[N]], [[K]]]}
    - {name: Z, projection: [[[M]], [[N]]], read-write: True}
  instance: {M: 8, N: 4, K: 4, densities: {A: {distribution: hypergeometric, density: 0.5}}}
"""
SPARSE = """sparse_optimizations:
  targets:
  - name: Buf
    representation-format:
      data-spaces:
      - {name: A, ranks: [{format: UOP}, {format: CP, metadata-word-bits: 2}]}
    action-optimization:
    - {type: skipping, options: [{target: B, condition-on: [A]}]}
"""


def test_timeloop_inputs_are_read(tmp_path):
    for name, text in {"arch.yaml": ARCH, "map.yaml": MAP, "ert.yaml": ERT, "prob.yaml": PROB,
                       "sparse.yaml": SPARSE}.items():
        (tmp_path / name).write_text(text)
    design, w = read_case(tmp_path, "arch.yaml", "map.yaml", "ert.yaml", "sparse.yaml", "prob.yaml")
    assert [lv.name for lv in design.levels] == ["Buf", "DRAM"] and design.levels[1].block_words == 8
    assert design.levels[0].action_opts == (ActionOpt("skipping", "B", ("A",)),)
    r = evaluate(design, w)
    buf = {tc.tensor: tc for tc in r.level("Buf").tensors}
    assert buf["B"].reads == pytest.approx(w.macs * 0.5) and buf["B"].skipped_reads == pytest.approx(w.macs * 0.5)
    assert r.computes == pytest.approx(w.macs * 0.5)
    (tmp_path / "prob.yaml").write_text(PROB.replace("[[[M]], [[K]]]", "[[[M], [K]], [[K]]]"))
    with pytest.raises(SpecError, match="projection .* is not a plain index"):
        read_case(tmp_path, "arch.yaml", "map.yaml", "ert.yaml", "sparse.yaml", "prob.yaml")


def test_statistics_miss_correlated_zeros_that_exact_masks_count():
    """Weights pruned by input column and activations dead on the same columns: the statistical model
    multiplies densities as if independent; counted on the masks, every kept weight meets a live input."""
    cols = np.arange(8) % 4 == 0                                   # 2 of 8 input columns kept / alive
    a, b = np.tile(cols, (8, 1)), np.tile(cols, (8, 1))
    split = ({"K": 8}, {}, {"M": 8, "N": 8})
    fmt = (("A", (RankFormat("CP"),)), ("B", (RankFormat("CP"),)))
    opts = (ActionOpt("skipping", "A", ("B",)), ActionOpt("skipping", "B", ("A",)))
    exact = evaluate(_design(split, fmt, opts), _gemm(dens={"A": ExactMask(a), "B": ExactMask(b)}))
    stat = evaluate(_design(split, fmt, opts), _gemm(dens={"A": Hypergeometric(0.25), "B": Hypergeometric(0.25)}))
    assert exact.computes == 8 * 8 * 2 and stat.computes == pytest.approx(exact.computes / 4)
