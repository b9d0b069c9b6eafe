"""The row-stationary engine and eyeriss_like against Eyeriss v1 silicon (JSSC 2017 Tables IV and V).

Acceptance (issue item 3): AlexNet CONV1-5 at batch 4 within 15% per layer on processing latency, DRAM and
GLB accesses.  Known misses are pinned, not hidden (docs/validation.md, Eyeriss section): CONV3's GLB
accesses (+43%: with Table IV's q=4, r=1 the model moves 2/(4*9) partial sums per MAC where the chip's
figure implies about one GLB word per 24 MACs, as for CONV4-5; no rule of the chip found closes it, and the
chip's figure is that of CONV4/5's mapping, benchmarks/eyeriss_glb_hypotheses.py) and the power of CONV4-5 (+19%).
The power includes the clock network, priced per cycle from the chip's own breakdown (32.9% of CONV1's 332 mW,
JSSC Fig. 16; the share is unconfirmed, so the power is reported, not validated); the model has no control or
inter-PE network energy.
"""

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from accel_models.hardware import accelerator_from_dict, load_accelerator
from sparsesim.analytical import evaluate
from sparsesim.engines.rowstationary import MAPPING_FIELDS, layer_plan, rlc_bits_per_value
from sparsesim.hwarrays import HardwareArrays
from sparsesim.workload import LayerWorkload, WorkloadError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import eyeriss_glb_hypotheses as glb_hyp  # noqa: E402
import eyeriss_validation as bench  # noqa: E402

TOLERANCE = 0.15
PINNED = {("conv3", "glb_mb"): (0.35, 0.50)}            # known miss: its error stays in this band
POWER_PINNED = {"conv4": (0.15, 0.23), "conv5": (0.15, 0.23)}   # power misses of 15%: pinned against drift
NO_CLOCK_BAND = (-0.45, -0.20)                           # the per-access energy alone, as before the clock term


@pytest.fixture(scope="module")
def table():
    rows = bench.published()
    ours = bench.measure()
    return rows, ours, bench.errors(ours, rows)


def test_fixture_matches_the_table_totals():
    """The transcription against Table V's own total row (processing latency 103.5 ms, GLB 208.5 MB, DRAM
    15.4 MB, 2.66 G MACs)."""
    rows = bench.published()
    total = lambda k: sum(float(r[k]) for r in rows)  # noqa: E731
    assert total("processing_latency_ms") == pytest.approx(103.5)
    assert total("glb_mb") == pytest.approx(208.5, abs=0.15)       # per-layer values are rounded
    assert total("dram_mb") == pytest.approx(15.4)
    assert total("total_latency_ms") == pytest.approx(115.3)
    assert total("macs_g") == pytest.approx(2.67, abs=0.015)


def test_alexnet_workloads_match_the_table(table):
    """Our AlexNet has Table V's MAC counts (batch 4) and the Table IV mapping gives its active PEs."""
    rows, ours, _ = table
    for w, r in zip(bench.alexnet_workloads(rows), rows):
        assert w.dense_macs / 1e9 == pytest.approx(float(r["macs_g"]), abs=0.01)
    assert [o["active_pes"] for o in ours] == [float(r["active_pes"]) for r in rows]


@pytest.mark.parametrize("metric", ["latency_ms", "dram_mb", "glb_mb"])
def test_within_15_percent_per_layer(table, metric):
    _, _, errs = table
    for e in errs:
        band = PINNED.get((e["layer"], metric))
        if band:
            assert band[0] < e[metric] < band[1], (e["layer"], metric, e[metric])
        else:
            assert abs(e[metric]) <= TOLERANCE, (e["layer"], metric, e[metric])


def test_power_with_the_clock_network(table):
    """On-chip energy / latency, clock network included: within 15% on CONV1-3 (-5.2%, -4.4%, +8.9%), CONV4-5
    +18.8% / +18.6% pinned (the model's per-access power falls less from CONV1 to CONV5 than the chip's).  Without
    the clock term the same energy is 28-42% short on every layer."""
    rows, ours, errs = table
    for e in errs:
        band = POWER_PINNED.get(e["layer"])
        if band:
            assert band[0] < e["power_mw"] < band[1], (e["layer"], e["power_mw"])
        else:
            assert abs(e["power_mw"]) <= TOLERANCE, (e["layer"], e["power_mw"])
    for o, r in zip(ours, rows):
        assert NO_CLOCK_BAND[0] < (o["power_mw"] - o["clock_mw"]) / float(r["power_mw"]) - 1 < NO_CLOCK_BAND[1]


def test_clock_network_is_the_cited_per_cycle_power(table):
    """The preset's per-cycle term is the cited table's (accel_models.tech.CLOCK_NETWORK: 32.9% x 332 mW over 168
    PEs at 200 MHz), and it is a constant power: 109.2 mW on every layer, stalls included."""
    from accel_models.tech import CLOCK_NETWORK

    acc, ref = load_accelerator("eyeriss_like"), CLOCK_NETWORK["eyeriss_like"]
    assert (ref.clock_hz, ref.pes) == (acc.clock_hz, acc.pe.num_pes)
    assert acc.pe.clock_pj_per_pe_cycle == pytest.approx(ref.pj_per_pe_cycle, rel=1e-4)
    _, ours, _ = table
    assert all(o["clock_mw"] == pytest.approx(0.329 * 332, rel=1e-4) for o in ours)


def test_no_glb_rule_closes_conv3_with_table_iv_mapping():
    """The CONV3 bullet's findings (docs/validation.md section 7): no candidate rule brings all five layers within
    15% with Table IV's mapping; without the input-row fills the other four match within 0.5% and CONV3 stays
    over +35%; CONV3 under CONV4/5's q r t = 3 2 2 has CONV4's error (+5.5%, and 0.0% without the fills) but
    needs a 10.5 KB ifmap allocation where Table IV gives 7.0 KB."""
    rows = bench.published()
    paper = [float(r["glb_mb"]) for r in rows]
    by_rule = glb_hyp.glb_mb_by_rule(rows)
    assert set(by_rule) == set(glb_hyp.RULES)
    for rule, mbs in by_rule.items():
        assert max(abs(m / p - 1) for m, p in zip(mbs, paper)) > TOLERANCE, rule
    no_fill = [m / p - 1 for m, p in zip(by_rule["no ifmap fills"], paper)]
    assert all(abs(no_fill[i]) < 0.005 for i in (0, 1, 3, 4)) and no_fill[2] > 0.35, no_fill
    conv3 = glb_hyp.conv3_by_mapping(rows)
    as_conv45, table_iv = conv3["CONV4/5's 3 2 2"], conv3["Table IV (4 1 4)"]
    conv4_err = by_rule["model"][3] / paper[3] - 1
    assert as_conv45["glb_mb"] / paper[2] - 1 == pytest.approx(conv4_err, abs=0.01)
    assert as_conv45["glb_mb_no_fills"] == pytest.approx(paper[2], rel=0.005)
    assert table_iv["glb_mb"] == pytest.approx(by_rule["model"][2])
    assert (as_conv45["ifmap_kib"], table_iv["ifmap_kib"]) == pytest.approx((10.5, 7.0), abs=0.05)


def test_table_iv_buffer_allocations():
    """Table IV's GLB allocation follows from its mapping: CONV1 ifmap 15.5 KB, psum 72.2 KB; CONV2 3.8 / 91.1 KB;
    CONV3 7.0 / 84.5 KB (KB = 1024 bytes, 16-bit words)."""
    rows = bench.published()
    arrays = HardwareArrays.of([load_accelerator("eyeriss_like")])
    kib = {w.name: (layer_plan(w, arrays, 0)["glb_ifmap_words"] * 2 / 1024,
                    layer_plan(w, arrays, 0)["glb_psum_words"] * 2 / 1024) for w in bench.alexnet_workloads(rows)}
    assert kib["conv1"] == pytest.approx((15.5, 72.2), abs=0.05)
    assert kib["conv2"] == pytest.approx((3.8, 91.1), abs=0.05)
    assert kib["conv3"] == pytest.approx((7.0, 84.5), abs=0.05)


def test_own_mapping_finds_table_iv_for_conv1():
    rows = bench.published()
    w = bench.alexnet_workloads(rows, own_mapping=True)[0]
    plan = layer_plan(w, HardwareArrays.of([load_accelerator("eyeriss_like")]), 0)
    assert plan["mapping"] == {f: int(rows[0][f]) for f in MAPPING_FIELDS}


def test_rlc_bits():
    assert rlc_bits_per_value(1.0, 16, 5, 64) == 16                       # dense data stays raw
    assert rlc_bits_per_value(0.25, 16, 5, 64) == pytest.approx(0.25 * 64 / 3, rel=1e-3)
    assert rlc_bits_per_value(0.25, 16, 0, 64) == 16                      # no code
    d = np.linspace(0, 1, 21)
    bits = [rlc_bits_per_value(x, 16, 5, 64) for x in d]
    assert all(a <= b + 1e-12 for a, b in zip(bits, bits[1:])) and bits[0] > 0


def _tiny_rs(**pe):
    return accelerator_from_dict({"name": "rs", "clock_hz": 1e8, "tech_node_nm": 65,
                                  "pe": {"engine": "rowstationary", "rows": 4, "cols": 5, "weight_bits": [8],
                                         "act_bits": 8, "acc_bits": 16, **pe},
                                  "memory": {"double_buffered": False}, "glb": {"capacity_bytes": 8192}})


def _conv(mapping=None, batch=2):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4 * 9)).astype(np.float32)
    geo = {"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1], "input_hw": [7, 7], "output_hw": [7, 7]}
    if mapping:
        geo["rs_mapping"] = mapping
    return LayerWorkload("c", "conv2d", 6, 36, 49, w, weight_bits=8, batch=batch, input_elems=4 * 49,
                         act_density=0.5, geometry=geo)


def test_engine_bounds_on_small_layers():
    """Every MAC is computed, no faster than the active PEs allow; a linear layer runs too."""
    hw = _tiny_rs()
    lin = LayerWorkload("fc", "linear", 10, 12, 1, np.ones((10, 12), np.float32), weight_bits=8, batch=3)
    for w in (_conv(), lin):
        r = evaluate([w], [hw]).rows()[0]
        plan = layer_plan(w, HardwareArrays.of([hw]), 0)
        assert r["macs_executed"] == w.dense_macs
        assert r["compute_cycles"] >= w.dense_macs / plan["active"]
        assert plan["active"] <= hw.pe.num_pes
        assert r["cycles"] >= r["compute_cycles"] and r["dram_bits"] > 0 and r["energy_pj"] > 0


def test_given_mapping_is_checked():
    hw = _tiny_rs(ifmap_spad_words=9)
    ok = {"e": 5, "n": 1, "p": 2, "q": 2, "r": 1, "t": 1, "m": 2}
    evaluate([_conv(ok)], [hw])
    with pytest.raises(WorkloadError, match=r"rs_mapping r\*t=2 PE sets of 3x5; allowed: <= 1 on a 4x5 array"):
        evaluate([_conv({**ok, "t": 2})], [hw])
    with pytest.raises(WorkloadError, match="q\\*S=12 ifmap"):
        evaluate([_conv({**ok, "q": 4})], [hw])
    with pytest.raises(WorkloadError, match="allowed: positive integers"):
        evaluate([_conv({**ok, "x": 1})], [hw])


def test_lower_activation_density_never_costs_more():
    hw = _tiny_rs()
    dense, sparse = _conv(), dataclasses.replace(_conv(), act_density=0.1)
    a, b = evaluate([dense], [hw]).rows()[0], evaluate([sparse], [hw]).rows()[0]
    assert b["dram_bits"] <= a["dram_bits"] and b["energy_pj"] <= a["energy_pj"]
    assert b["compute_cycles"] == a["compute_cycles"]                     # zeros gated, not skipped
