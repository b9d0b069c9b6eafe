"""The ``sparse_tc_like`` preset (A100-like 2:4 sparse tensor cores): its fields derive from the cited chip table,
2:4 layers run at twice the math rate and everything else at the dense rate, its speedups against the published
A100 measurements are pinned as they are (a miss: docs/validation.md section 15), and the measured engine's CUDA
2:4 path (``dense_fp16`` and ``semi24``) runs where a GPU with 2:4 support is present and skips cleanly elsewhere."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from accel_models.hardware import load_accelerator, preset_names
from accel_models.tech import AMPERE_A100, citations
from sparsesim.analytical import evaluate
from sparsesim.measured import FORMATS, layer_variants, semi_structured_variants
from sparsesim.pattern import WeightPattern
from sparsesim.workload import LayerWorkload

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import sparse_tc_validation as stc  # noqa: E402

A = {k: c.value for k, c in AMPERE_A100.items()}


def test_preset_fields_derive_from_the_cited_a100_table():
    acc = load_accelerator("sparse_tc_like")
    assert "sparse_tc_like" in preset_names()
    fma_per_clock = A["sms"] * A["tensor_cores_per_sm"] * A["fp16_fma_per_tensor_core_per_clock"]
    # the array x its clock is the chip's dense FP16 rate (312 TFLOPS = 2 x FMA/s)
    assert acc.pe.num_pes * acc.clock_hz == pytest.approx(fma_per_clock * A["boost_clock_hz"], rel=1e-12)
    assert 2 * fma_per_clock * A["boost_clock_hz"] / 1e12 == pytest.approx(A["fp16_dense_tflops"], rel=0.01)
    assert A["fp16_sparse_tflops"] == 2 * A["fp16_dense_tflops"]
    # DRAM bandwidth per array cycle is HBM2's bytes/s at that clock; the L2 is the shared buffer
    assert acc.dram.bandwidth_bits_per_cycle * acc.clock_hz == pytest.approx(A["hbm2_bytes_per_s"] * 8, rel=1e-12)
    assert acc.glb.capacity_bytes == A["l2_bytes"] and acc.dram.kind == "hbm2"
    assert acc.pe.engine == "nm" and acc.pe.params.nm == (2, 4) and acc.pe.weight_bits == (16,)
    assert acc.pe.act_bits == 16 and acc.tech_node_nm == 7
    rows = {name: src for name, _, _, src in citations()}
    assert all(rows[f"a100_{k}"] for k in AMPERE_A100)


def _layer(keep_k=None, weights=None, m=256, k=512, tokens=64):
    pat = None if keep_k is None else WeightPattern(m, k, keep_k=np.asarray(keep_k, dtype=bool))
    return LayerWorkload("l", "linear", m, k, 1, weights, weight_bits=16, batch=tokens, pattern=pat)


def test_24_layers_run_at_twice_the_math_rate_with_2bit_metadata_others_at_the_dense_rate():
    m, k = 256, 512
    rng = np.random.default_rng(0)
    random60 = (rng.random((m, k)) < 0.4) * (1.0 + rng.random((m, k)))     # 60% sparse, not 2:4
    random60[:, 0] = 1.0                                                   # no column left empty
    random60[0, :] = 1.0
    rows = evaluate([_layer(np.ones(k)), _layer(np.tile([1, 1, 0, 0], k // 4)),
                     _layer(weights=random60.astype(np.float32))], [load_accelerator("sparse_tc_like")]).rows()
    dense, nm, other = rows
    assert (dense["format"], nm["format"], other["format"]) == ("dense", "nm", "dense")
    assert nm["macs_executed"] == dense["macs_executed"] / 2
    assert other["compute_cycles"] == dense["compute_cycles"]          # unstructured: the dense rate
    assert nm["storage_index_bits"] == m * k / 2 * 2                   # 2 bits per kept value
    assert nm["storage_weight_bits"] == m * k / 2 * 16
    assert 1.5 < dense["compute_cycles"] / nm["compute_cycles"] < 2.0  # K halved; each fold's fill/drain stays


def test_an_nm_layer_reads_every_input_wherever_its_zeros_sit():
    """A row-uniform 2:4 mask (half the input columns empty in every row) and a random per-row 2:4 mask cost the
    same on the N:M array: the metadata selects among all K inputs, so none is dropped from DRAM."""
    m, k = 64, 128
    rng = np.random.default_rng(1)
    w = 1.0 + rng.random((m, k))
    g = w.reshape(m, k // 4, 4)
    np.put_along_axis(g, np.argsort(rng.random(g.shape), axis=2)[:, :, :2], 0.0, axis=2)
    rows = evaluate([_layer(np.tile([1, 1, 0, 0], k // 4), m=m, k=k),
                     _layer(weights=g.reshape(m, k).astype(np.float32), m=m, k=k)],
                    [load_accelerator("sparse_tc_like")]).rows()
    for col in ("dram_ifmap_read_words", "dram_filter_read_words", "cycles", "energy_pj"):
        assert rows[0][col] == pytest.approx(rows[1][col], rel=1e-12), col
    assert rows[0]["dram_ifmap_read_words"] == k * 64


# ours / published per fixture row, as benchmarks/sparse_tc_validation.py prints them (docs/validation.md 15):
# pinned as they are, a miss included; a change to the preset or the model shows here.
PINNED = {
    "tutorial": 0.925, "pr90119_768_b4_cslt": 0.951, "pr90119_768_b16_cslt": 0.620, "pr90119_768_b64_cslt": 0.618,
    "pr90119_768_b256_cslt": 0.603, "pr90119_3072_b4_cslt": 1.193, "pr90119_3072_b16_cslt": 0.814,
    "pr90119_768_b4_cutlass": 1.291, "pr90119_768_b16_cutlass": 0.718, "pr90119_768_b64_cutlass": 0.705,
    "pr90119_768_b256_cutlass": 0.685, "pr90119_3072_b4_cutlass": 1.157, "pr90119_3072_b16_cutlass": 0.782,
    "cls57_4096": 1.738, "cutlass408_16384": 0.799,
}


def test_published_speedups_against_the_preset_pinned_miss_included():
    pubs = stc.published()
    assert [p.id for p in pubs] == list(PINNED)
    assert all(p.source.startswith("https://") and "A100" in p.gpu for p in pubs)
    mod = stc.modelled([(p.M, p.K, p.N) for p in pubs])
    ratios = {p.id: mod[(p.M, p.K, p.N)].speedup / p.speedup for p in pubs}
    for rid, r in ratios.items():
        assert r == pytest.approx(PINNED[rid], abs=5e-4), rid
    within = sum(abs(r - 1) <= 0.15 for r in ratios.values())
    assert within == 2                                        # the miss, as docs/validation.md section 15 says
    for p in pubs:
        m = mod[(p.M, p.K, p.N)]
        assert 1.0 <= m.speedup <= 2.0 and m.compute_speedup < 2.0   # never past the math-bound limit 2x
        # the model is memory-bound on every row, while the published dense runs reach >= 60% of the 312 TFLOPS
        # peak (a compute-bound GPU): the cause of the miss
        assert m.dense_bound == "memory"
        if not math.isnan(p.dense_us):
            peak_us = p.M * p.K * p.N / (A["fp16_dense_tflops"] * 1e12 / 2) * 1e6
            assert peak_us / p.dense_us > 0.6


def test_measured_engine_offers_the_24_path_only_on_cuda():
    lin = torch.nn.Linear(64, 32)
    with torch.no_grad():
        lin.weight.mul_(torch.tensor([1.0, 1.0, 0.0, 0.0]).repeat(32, 16))
    variants = layer_variants(lin, torch.randn(4, 64), "cpu")
    assert "semi24" not in variants and "dense_fp16" not in variants
    assert {"dense_fp16", "semi24"} <= set(FORMATS)


def _has_24_gpu() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8


@pytest.mark.skipif(not _has_24_gpu(), reason="needs a CUDA GPU with 2:4 sparse tensor cores (compute capability 8.0+)")
def test_semi_structured_path_on_the_gpu_matches_dense_fp16():
    torch.manual_seed(0)
    mask = torch.tensor([0.0, 0.0, 1.0, 1.0], device="cuda").tile(128, 64)
    w = torch.randn(128, 256, device="cuda") * mask
    x = torch.randn(256, 128, device="cuda")
    variants = semi_structured_variants(w, x, lambda y: y)
    assert {"dense_fp16", "semi24"} <= set(variants)
    dense = variants["dense_fp16"].to_dense(variants["dense_fp16"].run())
    sparse = variants["semi24"].to_dense(variants["semi24"].run())
    torch.testing.assert_close(sparse, dense, rtol=1e-2, atol=1e-2)
    assert variants["semi24"].value_bits == 16
