"""Activation operands where a weight would sit (``sparsesim.stationary``, issue 22 item 3): an activation x activation
GEMM's stationary operand (K, V) is an activation per instance, never weights nor resident; a KV cache passed in
is DRAM traffic per step, the new K/V written out; a decode step on a weight-stationary array is DRAM-bound."""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from accel_models.hardware import accelerator_from_dict
from sparsesim.analytical import evaluate
from sparsesim.event_sim import simulate
from sparsesim.trace import trace_model
from sparsesim.workload import LayerWorkload, WorkloadError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import decode_bound  # noqa: E402
import trace_zoo  # noqa: E402


def _hw(weights="auto", activations="streamed", filter_bytes=256, act_bits=16, weight_bits=4, rows=8):
    return accelerator_from_dict({
        "name": f"t_{weights}_{activations}", "pe": {"engine": "systolic", "rows": rows, "cols": rows,
                                                     "dataflow": "ws", "weight_bits": [weight_bits],
                                                     "act_bits": act_bits, "compact_zero_rows_cols": False},
        "memory": {"organization": "per_operand", "double_buffered": False, "weights": weights,
                   "activations": activations},
        "ifmap_sram": {"capacity_bytes": 1 << 20}, "filter_sram": {"capacity_bytes": filter_bytes},
        "ofmap_sram": {"capacity_bytes": 1 << 20}})


def _weights(m=8, k=8, n=4):
    return LayerWorkload("fc", "linear", m, k, n, np.ones((m, k), np.float32), weight_bits=4)


def _keys(m=64, k=16, n=1, heads=4, read=0, write=0):
    """A score row of ``heads`` instances: K (m keys x k head dim) stationary, n queries streamed."""
    return LayerWorkload("attn.score", "linear", m, k, n, np.ones((m, k), np.float32), batch=heads,
                         stationary="activations", cache_read_elems=read, cache_write_elems=write)


def test_act_x_act_operand_never_enters_weight_storage():
    """The weights (8 x 8 at 4 bits = 256 bits) fit the filter buffer (256 B), so with ``weights: auto`` they stay
    resident; the K operand (64 x 16 x 4 heads at 16 bits = 65,536 bits) does not count toward that footprint."""
    hw = _hw()
    fc, keys = _weights(), _keys()
    rows = {r["layer"]: r for r in evaluate([fc, keys], [hw]).rows()}
    assert rows["fc"]["weights_resident"] and rows["fc"]["dram_filter_read_words"] == 0
    k = rows["attn.score"]
    assert not k["weights_resident"]
    assert all(k[c] == 0 for c in ("storage_bits", "storage_weight_bits", "storage_index_bits"))
    # streamed activations: each head's K read from DRAM at activation bits (16), not at a weight width (4)
    assert k["dram_filter_read_words"] == 4 * 64 * 16
    assert k["dram_bits"] >= 4 * 64 * 16 * 16
    # the same operand priced as a weight would enter the footprint and evict the weights from chip
    as_weight = replace(keys, stationary="weights", batch=1)
    assert not evaluate([fc, as_weight], [hw]).rows()[0]["weights_resident"]
    # even a hardware that keeps every weight resident reads the K operand
    r = evaluate([keys], [_hw(weights="resident")]).rows()[0]
    assert not r["weights_resident"] and r["dram_filter_read_words"] == 4 * 64 * 16


def test_instances_are_priced_one_after_another():
    """4 heads = 4 independent GEMMs: every additive column is 4x one head's; MACs equal the row's dense MACs."""
    hw = _hw()
    four, one = evaluate([_keys(heads=4)], [hw]).rows()[0], evaluate([_keys(heads=1)], [hw]).rows()[0]
    for col in ("macs_dense", "macs_executed", "cycles", "compute_cycles", "dram_bits", "energy_pj", "latency_s"):
        assert four[col] == pytest.approx(4 * one[col]), col
    assert four["batch"] == 4 and four["utilization"] == pytest.approx(one["utilization"])
    assert four["macs_dense"] == 64 * 16 * 1 * 4
    ev, = simulate([_keys(heads=4)], hw, record_timeline=False)
    ev1, = simulate([_keys(heads=1)], hw, record_timeline=False)
    assert ev.cycles == pytest.approx(4 * ev1.cycles)


def test_on_chip_activations_leave_only_the_kv_cache_in_dram():
    """Activations on chip (``resident``): K comes from the activation buffer, except the part copied from a cache
    passed in (read from DRAM every step); the new token's K the model returns is written to DRAM."""
    hw = _hw(activations="resident")
    plain = evaluate([_keys()], [hw]).rows()[0]
    assert plain["dram_bits"] == 0 and plain["sram_filter_write_words"] == 4 * 64 * 16
    cached = evaluate([_keys(read=63 * 16, write=16)], [hw]).rows()[0]
    assert cached["dram_filter_read_words"] == 4 * 63 * 16
    assert cached["dram_ofmap_write_words"] == 4 * 16
    assert cached["dram_bits"] == 4 * (63 * 16 + 16) * 16
    with pytest.raises(WorkloadError, match="cache_read_elems"):
        LayerWorkload("x", "linear", 4, 4, 1, np.ones((4, 4), np.float32), cache_read_elems=4)


def test_trace_reads_the_kv_cache_inputs_and_writes_the_new_tokens():
    """GPT-2-shaped decoder: at decode each head's K and V hold 128 cached tokens (model inputs) and the new one
    (returned with the cache); at prefill all 128 are computed and returned; an encoder reads and writes none."""
    torch.manual_seed(0)
    model = trace_zoo.GPT2(d=64, heads=4, layers=2, vocab=100).eval()
    for decode, read, write, n in ((True, 128 * 16, 16, 1), (False, 0, 128 * 16, 128)):
        with torch.no_grad():
            trace = trace_model(model, trace_zoo.gpt2_inputs(model, 128, decode))
        act = [g for g in trace.gemms if g.act_x_act]
        assert len(act) == 4 and all((g.cache_read_elems, g.cache_write_elems, g.N) == (read, write, n) for g in act)
        score = next(g for g in act if g.kind == "attention_score")   # K stationary: M = keys
        assert (score.M, score.K, score.batch) == (128 + decode, 16, 4)
    enc = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()
    with torch.no_grad():
        act = [g for g in trace_model(enc, torch.randn(1, 8, 32)).gemms if g.act_x_act]
    assert act and all(g.cache_read_elems == g.cache_write_elems == 0 for g in act)


def test_decode_step_is_dram_bound_on_a_weight_stationary_array():
    """A small GPT-2-shaped decoder (d 256, 4 heads, 2 layers, vocab 512; d 256 fills the 256-row array's folds,
    at d 64 the fills bound it) on tpu_like: one decode step with a 128-token cache moves at least the weights and
    the whole KV cache through DRAM and its DRAM transfers outlast the compute; prefill moves 100x fewer DRAM bits
    per MAC (tpu_like's 34 GB/s weight memory keeps even a 128-token prefill memory-bound: TPU v1's ridge point)."""
    prefill, decode = decode_bound.prefill_and_decode()
    kv = 2 * 2 * 4 * 128 * 64 * 8                      # layers x (K, V) x heads x tokens x head dim x 8 bits
    assert decode.kv_cache_bits == kv and decode.kv_write_bits == 2 * 2 * 4 * 64 * 8
    assert decode.dram_bits >= decode.weight_bits + decode.kv_cache_bits + decode.kv_write_bits
    assert decode.bound == "memory" and decode.stall_cycles > 0.4 * decode.cycles
    assert prefill.macs > 100 * decode.macs
    assert decode.dram_bits_per_mac > 100 * prefill.dram_bits_per_mac
    assert prefill.kv_cache_bits == 0 and prefill.kv_write_bits == kv
