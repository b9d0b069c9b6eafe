"""Cost engines: physical bounds, monotonicity, engine cross-checks, memory-hierarchy rules."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel_models.hardware import accelerator_from_dict, load_accelerator
from sparsesim.analytical import evaluate, pipeline_cycles
from sparsesim.engines.systolic import spatio_temporal, systolic_cycles
from sparsesim.event_sim import simulate
from sparsesim.formats import encode
from sparsesim.workload import LayerWorkload

SETTINGS = settings(max_examples=30, deadline=None)
ENGINES = ["systolic", "nm", "eie", "sigma", "scnn", "rowstationary"]
SKIPPING = ["eie", "sigma", "scnn"]


def layer_from(w: np.ndarray, n: int = 1, act: float = 1.0, batch: int = 1, kernel=None, bits: int = 8):
    m, k = w.shape
    geometry = {"kernel": kernel, "input_hw": (6, 6)} if kernel else {}
    return LayerWorkload("l", "conv2d" if kernel else "linear", m, k, n, w.astype(np.float32), weight_bits=bits,
                         batch=batch, act_density=act, geometry=geometry,
                         input_elems=(k // int(np.prod(kernel))) * 36 if kernel else 0)


@st.composite
def layers(draw, max_dim=40):
    m = draw(st.integers(1, max_dim))
    conv = draw(st.booleans())
    k = draw(st.sampled_from([9, 18, 36, 72])) if conv else draw(st.sampled_from([4, 8, 12, 16, 36, 64]))
    density = draw(st.sampled_from([0.02, 0.1, 0.5, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    w = rng.standard_normal((m, k)) * (rng.random((m, k)) < density)
    n = 16 if conv else 1
    return layer_from(w, n=n, act=draw(st.sampled_from([1.0, 0.6])), batch=draw(st.integers(1, 3)),
                      kernel=(3, 3) if conv else None, bits=draw(st.sampled_from([4, 8])))


@st.composite
def accelerators(draw, engine=None):
    engine = engine or draw(st.sampled_from(ENGINES))
    per_op = draw(st.booleans())
    cap = lambda: draw(st.sampled_from([256, 4096, 1 << 20]))  # noqa: E731
    data = {"name": f"hw_{engine}", "clock_hz": 1e9, "tech_node_nm": draw(st.sampled_from([45, 28, 65])),
            "pe": {"engine": engine, "rows": draw(st.integers(1, 16)), "cols": draw(st.integers(1, 16)),
                   "dataflow": draw(st.sampled_from(["ws", "os", "is"])), "weight_bits": [4, 8, 16],
                   "zero_handling": draw(st.sampled_from(["none", "gating", "skipping"])),
                   "index_bits": draw(st.integers(2, 6)), "compact_zero_rows_cols": draw(st.booleans())},
            "memory": {"organization": "per_operand" if per_op else "shared",
                       "double_buffered": draw(st.booleans()),
                       "weights": draw(st.sampled_from(["streamed", "resident", "auto"])),
                       "activations": draw(st.sampled_from(["streamed", "resident", "auto"]))},
            "dram": {"kind": "lpddr4", "bandwidth_bits_per_cycle": draw(st.sampled_from([8, 64, 512])),
                     "latency_cycles": draw(st.integers(0, 200)),
                     "interfaces": draw(st.sampled_from(["shared", "per_operand"]))}}
    eie_own = {"fifo_depth": draw(st.integers(1, 8)),
               "decode_entries_per_cycle": draw(st.sampled_from([0.5, 1.0, 2.0]))}
    if engine == "eie":   # EIE's own keys (accel_models/engine_params/eie.py); drawn for every engine as before
        data["pe"].update(eie_own)
    if per_op:
        for op in ("ifmap", "filter", "ofmap"):
            data[f"{op}_sram"] = {"capacity_bytes": cap()}
    else:
        data["glb"] = {"capacity_bytes": cap()}
    return accelerator_from_dict(data)


@SETTINGS
@given(layers(), accelerators())
def test_costs_never_fall_below_physical_bounds(layer, hw):
    r = evaluate([layer], [hw]).rows()[0]
    assert r["cycles"] >= r["ideal_cycles"] - 1e-9
    assert r["cycles"] >= r["compute_cycles"] - 1e-9 and r["cycles"] >= r["memory_cycles"] - 1e-9
    assert r["energy_pj"] >= r["energy_lower_bound_pj"] * (1 - 1e-12)
    assert r["dram_bits"] >= r["dram_bits_compulsory"] - 1e-9
    assert 0 <= r["utilization"] <= 1 + 1e-12
    assert r["storage_bits"] == pytest.approx(r["storage_weight_bits"] + r["storage_index_bits"]
                                              + r["storage_padding_bits"] + r["storage_pointer_bits"])
    for key in ("sram_ifmap_read_words", "dram_ifmap_read_words", "dram_filter_read_words", "dram_ofmap_write_words"):
        assert r[key] >= 0


def _with_weights(layer: LayerWorkload, w: np.ndarray, act: float | None = None) -> LayerWorkload:
    return dataclasses.replace(layer, weights=w.astype(np.float32),
                               act_density=layer.act_density if act is None else act)


@SETTINGS
@given(layers(), st.sampled_from(SKIPPING), st.integers(0, 2**16), st.data())
def test_zero_skipping_engines_never_costlier_as_zeros_are_added(layer, engine, seed, data):
    hw = data.draw(accelerators(engine))
    rng = np.random.default_rng(seed)
    sparser = _with_weights(layer, np.where(rng.random(layer.weights.shape) < 0.3, 0, layer.weights))
    a, b = evaluate([layer, sparser], [hw]).rows()
    for key in ("energy_pj", "macs_executed", "storage_bits", "dram_bits"):
        assert b[key] <= a[key] * (1 + 1e-9) + 1e-9, key
    if engine == "sigma":
        # whole-row packing (STONNE's, docs/cost_model.md) is a bin packing: a sparser row can let one more
        # row into an iteration, whose results then share the collection lines; bounded by one round of
        # output collection per iteration
        from sparsesim.engines.sigma import sigma_cycles
        pe = hw.pe
        _, iterations = sigma_cycles(layer, pe.num_pes, pe.params.distribution_bw(pe), pe.params.reduction_bw(pe),
                                     pe.params.iteration_overhead_cycles)
        # one round per iteration was falsified (2026-12-07: M=29, K=4, N=1, batch 3, a 3x4 SIGMA, 4-bit: 23 vs
        # 18 + 4 cycles; packing one more row into an iteration also lengthens its streaming, by up to N + 1 a
        # row): two rounds per iteration is an observed bound, not a derived one (issue note 30)
        slack = 2 * iterations * (layer.columns + 1)
        assert b["compute_cycles"] <= a["compute_cycles"] + slack
    else:
        for key in ("cycles", "compute_cycles"):
            assert b[key] <= a[key] * (1 + 1e-9) + 1e-9, key


@SETTINGS
@given(layers(), st.sampled_from(["eie", "scnn"]), st.data())
def test_fewer_nonzero_activations_never_cost_more_on_activation_skipping_engines(layer, engine, data):
    hw = data.draw(accelerators(engine))
    hw = dataclasses.replace(hw, pe=dataclasses.replace(hw.pe, zero_handling="skipping"))
    dense_act, sparse_act = _with_weights(layer, layer.weights, 0.9), _with_weights(layer, layer.weights, 0.4)
    a, b = evaluate([dense_act, sparse_act], [hw]).rows()
    assert b["compute_cycles"] <= a["compute_cycles"] + 1e-9
    assert b["energy_mac_pj"] <= a["energy_mac_pj"] + 1e-9


@SETTINGS
@given(layers(), st.sampled_from(["ws", "os", "is"]))
def test_dense_engine_ignores_sparsity(layer, dataflow):
    hw = accelerator_from_dict({"name": "dense", "pe": {"engine": "systolic", "rows": 8, "cols": 8,
                                                        "dataflow": dataflow, "weight_bits": [8],
                                                        "compact_zero_rows_cols": False}})
    a, b = evaluate([_with_weights(layer, np.ones_like(layer.weights)), layer], [hw]).rows()
    for key in ("cycles", "storage_bits", "dram_bits", "macs_executed", "sram_ifmap_read_words"):
        assert a[key] == pytest.approx(b[key]), key


# ------------------------------------------------------------- event engine
def _bandwidth_bound_config(buffers_kb: int, dataflow: str = "ws"):
    return accelerator_from_dict({
        "name": "ev", "pe": {"engine": "systolic", "rows": 8, "cols": 8, "dataflow": dataflow, "weight_bits": [8],
                             "compact_zero_rows_cols": False},
        "glb": {"capacity_bytes": buffers_kb * 1024}, "dram": {"bandwidth_bits_per_cycle": 64, "latency_cycles": 10}})


def _equal_tile_closed_form(row: dict, bw: float = 64) -> float:
    """The closed form had every tile carried the same share of the traffic (one channel of ``bw`` bits/cycle):
    latency + L + C + (T-1) max(L, C)."""
    latency = row["memory_cycles"] - row["dram_bits"] / bw if row["dram_bits"] else 0.0
    tiles = row["tiles"]
    return latency + pipeline_cycles(row["dram_bits"] / bw / tiles, row["compute_cycles"] / tiles, tiles)


@SETTINGS
@given(layers(), accelerators("systolic"))
def test_event_and_closed_form_engines_agree(layer, hw):
    row = evaluate([layer], [hw]).rows()[0]
    event = simulate([layer], hw, record_timeline=False)[0]
    tiles = row["tiles"]
    # the same unequal tiles and the same double-buffered schedule; the event engine may differ by where the
    # last tile's stores land and, above the closed form, by stores queueing between a burst's loads; below it
    # by up to one DRAM latency, which the closed form charges once in full and the event engine overlaps with
    # other transfers (found by hypothesis: 1x5 OS array, 37-cycle latency, 684 vs 721 cycles; equal at latency 0)
    assert event.cycles >= row["cycles"] * (1 - 1.5 / tiles - 0.02) - hw.dram.latency_cycles
    assert event.stall_cycles == pytest.approx(event.cycles - row["compute_cycles"])


@SETTINGS
@given(layers(), accelerators("systolic"))
def test_event_engine_on_equal_tiles_is_the_equal_tile_closed_form(layer, hw):
    hw = dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, interfaces="shared",
                                                          bandwidth_bits_per_cycle=64, stall_free=False))
    row = evaluate([layer], [hw]).rows()[0]
    even = simulate([layer], hw, record_timeline=False, equal_tiles=True)[0].cycles
    assert even == pytest.approx(_equal_tile_closed_form(row), rel=1.5 / row["tiles"] + 0.02)
    assert row["cycles"] >= _equal_tile_closed_form(row) * (1 - 1e-9)   # unequal tiles never price below


def test_the_closed_form_sees_a_first_pass_burst_and_the_event_engine_a_store_queue():
    """A burst meets a compute-bound phase: the input fits on chip, so it is fetched once, all of it
    during the first of 8 column folds; spread evenly over the folds it would hide under compute.  Both
    engines price the burst; only the event engine sees each fold's outputs block the next load."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 288))
    layer = LayerWorkload("burst", "conv2d", 64, 288, 400, w.astype(np.float32), weight_bits=8,
                          input_elems=70_000, geometry={"kernel": (3, 3), "input_hw": (47, 47)})
    hw = _bandwidth_bound_config(1024)
    hw = dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, bandwidth_bits_per_cycle=8))
    closed = evaluate([layer], [hw]).rows()[0]
    event = simulate([layer], hw, record_timeline=False)[0]
    even = simulate([layer], hw, record_timeline=False, equal_tiles=True)[0]
    assert closed["dram_ifmap_read_words"] == 70_000                  # fetched once ...
    assert closed["tiles"] == 8 * 36                                  # ... although 8 column folds use it
    spread = _equal_tile_closed_form(closed, 8)
    assert spread < 1.01 * closed["compute_cycles"]                   # on average, DRAM keeps up
    assert even.cycles == pytest.approx(spread, rel=0.02)
    # but the whole input arrives during the first fold's 36 tiles (with their share of the weights), then
    # 253 tiles compute back to back, then the last of 8 output groups (one per fold) leaves: by hand
    burst = 10 + (70_000 * 8 + closed["dram_filter_read_words"] * 8 * 36 / 288) / 8
    last_outputs = closed["dram_ofmap_write_words"] * 8 / 8 / 8
    assert closed["cycles"] == pytest.approx(burst + (288 - 36 + 1) * closed["compute_cycles"] / 288
                                             + last_outputs, rel=1e-9)
    assert closed["cycles"] > 1.3 * spread
    # contention the closed form cannot see: at the end of each of the first 7 folds the fold's outputs (3200
    # cycles on the 8-bit channel) queue ahead of the next tile's load (64 cycles; FIFO), while the double
    # buffer holds one tile of compute (422 cycles): the array idles 3200 + 64 - 422 cycles, 7 times
    tile_compute = closed["compute_cycles"] / 288
    assert event.cycles - closed["cycles"] == pytest.approx(7 * (last_outputs + 512 / 8 - tile_compute), rel=1e-9)


def test_the_event_engine_catches_stores_queueing_inside_a_burst():
    """The contention the closed form cannot see: a 1x1 stride-2 conv on SIGMA (one input column per tile,
    outputs final after each tile) reads its input once, all of it in the first pass's a = 16 tiles, each
    load (32 cycles) far longer than a tile's compute.  On the one DRAM channel each finished tile's outputs
    (4 cycles) queue between the burst's loads (FIFO: store t after load t+1, before load t+2), so a - 2
    stores delay the burst; the closed form counts the burst's loads back to back and the stores only after it."""
    from sparsesim.conventions import convention_costs
    from sparsesim.engines import compute_demand
    from sparsesim.hwarrays import HardwareArrays
    from sparsesim.memory import resident_weights
    from sparsesim.timing import tile_phases

    rng = np.random.default_rng(1)
    w = (rng.standard_normal((64, 32)) * (rng.random((64, 32)) < 0.2)).astype(np.float32)
    layer = LayerWorkload("shortcut", "conv2d", 64, 32, 64, w, weight_bits=8, input_elems=32 * 16 * 16,
                          geometry={"kernel": (1, 1), "input_hw": (16, 16), "stride": (2, 2)})
    acc = load_accelerator("sigma_like")
    hw = HardwareArrays.from_accelerators([acc])
    d = compute_demand(layer, hw)
    ph = tile_phases(d, convention_costs(layer, d, hw, resident_weights(hw, d.storage_bits))[0], hw)
    first, store = float(ph.ifmap_first_tiles[0]), float(ph.output_bits[0] / ph.output_groups[0] / hw.dram_bw[0])
    assert (first, store) == (16.0, 4.0)                              # 32 x 16 x 16 inputs in 16 tiles; 64 x 16 b
    assert ph.ifmap_bits[0] / first / hw.dram_bw[0] > 4 * d.compute_cycles[0] / d.tiles[0]   # load-bound burst
    closed = evaluate([layer], [acc]).rows()[0]["cycles"]
    event = simulate([layer], acc)[0]
    assert event.cycles - closed == pytest.approx((first - 2) * store, rel=1e-9)
    stores = sorted(s for res, t, s, e in event.timeline if res == "dram:store" and t < first - 2)
    loads = sorted(s for res, t, s, e in event.timeline if res == "dram:ifmap")
    assert all(loads[t + 1] < stores[t] < loads[t + 2] for t in range(int(first) - 2))


def test_stores_compete_with_loads_on_a_shared_channel():
    rng = np.random.default_rng(1)
    layer = LayerWorkload("fc", "linear", 256, 64, 1, rng.standard_normal((256, 64)).astype(np.float32),
                          weight_bits=8, batch=64)
    shared = _bandwidth_bound_config(4)
    split = dataclasses.replace(shared, dram=dataclasses.replace(shared.dram, interfaces="per_operand"))
    a, b = (simulate([layer], h, record_timeline=False)[0].cycles for h in (shared, split))
    assert a > b   # one channel carries loads and stores in turn; separate interfaces overlap them


def test_partial_sums_and_stores_share_the_output_interface():
    """With one DRAM interface per operand, spilled partial sums come back and outputs leave on the output one:
    its transfers never overlap, and it carries their sum (4 tiles x (30 + 30) bits at 10 bits/cycle)."""
    from sparsesim.event_sim import TileTrace, simulate_trace

    n = 4
    trace = TileTrace({"ifmap": np.full(n, 10.0), "filter": np.full(n, 10.0), "psum": np.full(n, 30.0)},
                      np.full(n, 30.0), np.full(n, 1.0))
    bw = {"ifmap": 10.0, "filter": 10.0, "psum": 10.0, "store": 10.0}
    cycles, stall, busy, timeline = simulate_trace(trace, bw, shared=False, latency_cycles=0.0)
    out = sorted((s, e) for res, _, s, e in timeline if res in ("dram:psum", "dram:store"))
    assert all(e <= s2 + 1e-9 for (_, e), (s2, _) in zip(out, out[1:]))
    assert out[-1][1] - out[0][0] == pytest.approx(n * 6.0)   # the output interface never idles: 24 cycles
    assert cycles == pytest.approx(out[-1][1]) and stall == pytest.approx(cycles - n * 1.0)


# ------------------------------------------------------------- engines
def test_storage_matches_the_format_encoders():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 72)) * (rng.random((64, 72)) < 0.1)).astype(np.float32)
    layer = LayerWorkload("fc", "linear", 64, 72, 1, w, weight_bits=8)
    r = evaluate([layer], [load_accelerator("eie_like")]).rows()[0]
    e = encode(w, "relative", 8, index_bits=4, pes=64)
    assert (r["storage_bits"], r["storage_padding_bits"], r["storage_pointer_bits"]) == \
        (e.total_bits, e.padding_bits, e.pointer_bits)
    w2 = w.copy()
    w2[:32] = 0
    r2 = evaluate([LayerWorkload("fc", "linear", 64, 72, 1, w2, weight_bits=8)], [load_accelerator("fpga_small")])
    c = encode(w2, "compact", 8)
    assert r2.rows()[0]["format"] == "compact" and r2.rows()[0]["storage_bits"] == c.total_bits


def test_structured_sparsity_speeds_up_systolic_array():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((256, 576)).astype(np.float32)
    half = w.copy()
    half[::2] = 0
    hw = load_accelerator("fpga_large")
    full, pruned = evaluate([LayerWorkload("c", "conv2d", 256, 576, 196, w, 8),
                             LayerWorkload("c", "conv2d", 256, 576, 196, half, 8)], [hw]).rows()
    assert pruned["compute_cycles"] == pytest.approx(full["compute_cycles"] / 2, rel=0.05)


def test_nm_engine_pads_k_counts_metadata_and_reads_full_k():
    rng = np.random.default_rng(2)
    k = 75                                                   # not a multiple of 4
    w = rng.standard_normal((20, k))
    g = np.pad(w, ((0, 0), (0, 1))).reshape(20, 19, 4)
    g[..., 2:] = 0
    nm = g.reshape(20, 76)[:, :k]
    hw = load_accelerator("nm_asic")
    dense, sparse = evaluate([LayerWorkload("a", "conv2d", 20, k, 100, w.astype(np.float32), 8),
                              LayerWorkload("a", "conv2d", 20, k, 100, nm.astype(np.float32), 8)], [hw]).rows()
    assert sparse["format"] == "nm" and dense["format"] == "dense"
    assert sparse["storage_index_bits"] == 20 * 19 * 2 * 2         # 19 groups of 4 (K padded to 76), 2 slots, 2 bits
    assert sparse["compute_cycles"] < dense["compute_cycles"]      # 38 compressed rows: 2 row folds, not 3
    assert sparse["sram_ifmap_read_words"] == 76 * 100             # the full padded K is read (1 column fold)
    assert dense["sram_ifmap_read_words"] == 75 * 100


def test_eie_gets_faster_with_weight_sparsity_and_deeper_queues_never_hurt():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((256, 512))
    hw = load_accelerator("eie_like")
    prev = np.inf
    for density in (0.5, 0.2, 0.05):
        layer = LayerWorkload("fc", "linear", 256, 512, 1, (base * (rng.random(base.shape) < density))
                              .astype(np.float32), 4, act_density=0.4)
        deeper = [dataclasses.replace(hw.pe, params=dataclasses.replace(hw.pe.params, fifo_depth=d))
                  for d in (1, 2, 8, 64)]
        cycles = [evaluate([layer], [dataclasses.replace(hw, pe=pe)]).rows()[0]["cycles"] for pe in deeper]
        assert cycles == sorted(cycles, reverse=True)              # deeper FIFO: never slower
        assert cycles[2] < prev
        prev = cycles[2]


def test_sigma_packs_rows_and_speeds_up_with_sparsity():
    from sparsesim.engines.sigma import pack_rows
    sizes, rows, largest = pack_rows(np.array([60, 60, 10, 300, 5]), 128)
    assert list(sizes) == [120, 10, 128, 128, 46, 5] and list(rows) == [2, 1, 1, 1, 1, 1]  # 300 = 128 + 127 + 45
    assert list(largest) == [60, 10, 128, 128, 46, 5]
    rng = np.random.default_rng(4)
    hw = load_accelerator("sigma_like")
    cycles = [evaluate([LayerWorkload("g", "linear", 64, 256, 1, (rng.random((64, 256)) > s).astype(np.float32), 8,
                                      batch=64)], [hw]).rows()[0]["compute_cycles"] for s in (0.0, 0.5, 0.8, 0.9)]
    assert cycles == sorted(cycles, reverse=True) and cycles[-1] < cycles[0] / 3


def test_scnn_cycles_are_the_cartesian_product_count():
    from sparsesim.engines.scnn import scnn_cycles, weight_counts
    w = np.zeros((16, 2 * 9))
    w[:8, :9] = 1.0                                    # group 0, channel 0: 72 nonzeros
    w[8:, 9:12] = 1.0                                  # group 1, channel 1: 24 nonzeros
    layer = LayerWorkload("c", "conv2d", 16, 18, 16, w.astype(np.float32), 8, act_density=1.0,
                          input_elems=2 * 36, geometry={"kernel": (3, 3), "input_hw": (6, 6)})
    assert weight_counts(layer, 8).tolist() == [[72, 0], [0, 24]]
    cycles, products = scnn_cycles(layer, 1, 1, 4, 4, 8)    # one PE holds the whole 6x6 plane
    assert cycles == np.ceil(72 / 4) * np.ceil(36 / 4) + np.ceil(24 / 4) * np.ceil(36 / 4)
    assert products == (72 + 24) * 36


# ------------------------------------------------------------- memory hierarchy
def _fc(m=256, k=256, batch=1):
    rng = np.random.default_rng(5)
    return LayerWorkload("fc", "linear", m, k, 1, rng.standard_normal((m, k)).astype(np.float32), 8, batch=batch)


def test_resident_weights_cost_no_dram_weight_traffic():
    base = _bandwidth_bound_config(1024)
    res = dataclasses.replace(base, memory=dataclasses.replace(base.memory, weights="resident"))
    a, b = evaluate([_fc()], [base, res]).rows()
    assert a["dram_filter_read_words"] == 256 * 256 and b["dram_filter_read_words"] == 0
    assert b["energy_dram_pj"] < a["energy_dram_pj"] and b["weights_resident"]
    auto = dataclasses.replace(base, memory=dataclasses.replace(base.memory, weights="auto"))
    assert evaluate([_fc()], [auto]).rows()[0]["weights_resident"]              # 64 KiB fits 1 MiB
    tiny = dataclasses.replace(auto, glb=dataclasses.replace(auto.glb, capacity_bytes=1024))
    assert not evaluate([_fc()], [tiny]).rows()[0]["weights_resident"]


def test_partial_sums_spill_or_outputs_are_chunked_whichever_moves_less():
    layer = _fc(m=64, k=256, batch=512)            # WS on 8x8: 32 row folds accumulate each output
    big, small = _bandwidth_bound_config(1024), _bandwidth_bound_config(1)
    a, b = evaluate([layer], [big, small]).rows()
    assert a["dram_ofmap_read_words"] == 0 and a["dram_filter_read_words"] == 64 * 256
    # 512 x 8 partial sums of 32 bits per column fold need 32 chunks of a 4-kbit half buffer: re-reading the
    # 64 x 256 weights 31 more times (4 Mbit) beats spilling 31 passes of partial sums (65 Mbit)
    assert b["dram_ofmap_read_words"] == 0 and b["dram_filter_read_words"] == 64 * 256 * 32
    tiny_out = accelerator_from_dict({
        "name": "t", "pe": {"engine": "systolic", "rows": 8, "cols": 8, "weight_bits": [8],
                            "compact_zero_rows_cols": False},
        "memory": {"organization": "per_operand"}, "ifmap_sram": {"capacity_bytes": 1 << 20},
        "filter_sram": {"capacity_bytes": 1024}, "ofmap_sram": {"capacity_bytes": 16}})
    c = evaluate([layer], [tiny_out]).rows()[0]
    assert c["dram_ofmap_read_words"] == 64 * 512 * 31          # spilling is cheaper: every pass but the last
    assert c["dram_ofmap_write_words"] == 64 * 512 * 32
    assert c["dram_filter_read_words"] == 64 * 256


def test_inputs_are_refetched_per_pass_when_they_do_not_fit():
    layer = _fc(m=64, k=256, batch=64)             # WS: 8 column folds pass over the input
    a, b = evaluate([layer], [_bandwidth_bound_config(1024), _bandwidth_bound_config(1)]).rows()
    assert a["dram_ifmap_read_words"] == 256 * 64
    assert b["dram_ifmap_read_words"] == 256 * 64 * 8


def test_per_operand_interfaces_overlap_transfers():
    shared = _bandwidth_bound_config(1)
    split = dataclasses.replace(shared, dram=dataclasses.replace(shared.dram, interfaces="per_operand"))
    a, b = evaluate([_fc(batch=64)], [shared, split]).rows()
    assert a["dram_bits"] == b["dram_bits"] and b["memory_cycles"] < a["memory_cycles"]


def test_sram_energy_is_sublinear_in_width_and_grows_with_capacity():
    from accel_models.tech import sram_access_pj
    assert sram_access_pj(2 << 20, 2048) / sram_access_pj(2 << 20, 64) == pytest.approx(14.78, rel=0.01)
    assert sram_access_pj(2 << 20, 2048) < 32 * sram_access_pj(2 << 20, 64)
    assert sram_access_pj(1 << 20, 64) > sram_access_pj(32 << 10, 64) > sram_access_pj(8 << 10, 64)
    assert sram_access_pj(64, 16) < sram_access_pj(1024, 16)      # register files below the grid


def test_technology_node_scales_on_chip_energy_only():
    hw = load_accelerator("fpga_large")
    at16 = evaluate([_fc()], [hw]).rows()[0]
    at45 = evaluate([_fc()], [dataclasses.replace(hw, tech_node_nm=45)]).rows()[0]
    assert at16["energy_mac_pj"] == pytest.approx(at45["energy_mac_pj"] * 0.1608)
    # SRAM: CACTI's grid at its nodes (22-90 nm); below 22 nm the 22 nm grid x the factor ratio
    at22 = evaluate([_fc()], [dataclasses.replace(hw, tech_node_nm=22)]).rows()[0]
    assert at16["energy_sram_pj"] == pytest.approx(at22["energy_sram_pj"] * 0.1608 / 0.283)
    assert at16["energy_dram_pj"] == at45["energy_dram_pj"]


def test_yaml_per_access_energies_override_the_tables():
    hw = accelerator_from_dict({"name": "own", "pe": {"rows": 8, "cols": 8, "mac_pj": 1.0},
                                "glb": {"read_pj": 5.0, "write_pj": 7.0, "width_bits": 64},
                                "rf": {"weight_access_pj": 0.5, "act_access_pj": 0.0, "psum_access_pj": 0.25},
                                "dram": {"energy_pj_per_bit": 10.0, "write_energy_pj_per_bit": 20.0}})
    r = evaluate([_fc(64, 64)], [hw]).rows()[0]
    macs = 64 * 64
    assert r["energy_mac_pj"] == pytest.approx(macs * 1.0)
    assert r["energy_rf_pj"] == pytest.approx(macs * 0.5 + macs * 2 * 0.25)
    assert r["energy_dram_pj"] == pytest.approx((64 * 64 * 8 + 64 * 8) * 10.0 + 64 * 8 * 20.0)


def test_pipeline_closed_form():
    assert pipeline_cycles(np.array(3.0), np.array(5.0), np.array(4.0)) == 3 + 5 + 3 * 5
    assert pipeline_cycles(np.array(7.0), np.array(5.0), np.array(1.0)) == 12


# SCALE-Sim v3.0.0 "Total Cycles" (CALC mode, 8x8 array) for two layers, recorded from a run of the
# real tool (benchmarks/scalesim_validation.py); SCALE-Sim reports the index of the last cycle, so
# its number is our cycle count minus one (docs/validation.md).
@pytest.mark.parametrize("dataflow, m, k, n, scalesim", [
    ("ws", 12, 18, 64, 515), ("os", 12, 18, 64, 511), ("is", 12, 18, 64, 815),
    ("ws", 5, 20, 49, 212), ("os", 5, 20, 49, 237), ("is", 5, 20, 49, 566),
])
def test_systolic_cycles_match_scalesim_golden(dataflow, m, k, n, scalesim):
    df = np.array([dataflow])
    sr, sc, t = spatio_temporal(np.array([m]), np.array([k]), np.array([n]), df)
    cycles, _ = systolic_cycles(sr, sc, t, np.array([8]), np.array([8]), df)
    assert int(cycles[0]) - 1 == scalesim
