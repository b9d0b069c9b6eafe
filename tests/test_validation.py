"""Golden checks against reference simulators and published silicon (docs/validation.md).

Fixtures in tests/fixtures were produced by the real tools (commands in docs/validation.md), so these
tests run without them and fail when the model drifts.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from accel_models.hardware import accelerator_from_dict, load_accelerator
from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg
from sparsesim.analytical import evaluate
from sparsesim.topology import read_topology
from sparsesim.workload import LayerWorkload

FIXTURES = Path(__file__).parent / "fixtures"


def _rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


# ------------------------------------------------------------------ SCALE-Sim v3
SCALESIM_CFG = """[general]
run_name = ref
[architecture_presets]
ArrayHeight: {array}
ArrayWidth: {array}
IfmapSramSzkB: {kb}
FilterSramSzkB: {kb}
OfmapSramSzkB: {kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512
[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport: {sparse}
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 4
RandomNumberGeneratorSeed: 40
[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""
SCALESIM_KEYS = {  # golden column -> our layers.csv column
    "total_cycles_incl_prefetch": "cycles", "stall_cycles": "stall_cycles",
    "sram_ifmap_reads": "sram_ifmap_read_words", "sram_filter_reads": "sram_filter_read_words",
    "sram_ofmap_writes": "sram_ofmap_write_words", "dram_ifmap_reads": "dram_ifmap_read_words",
    "dram_filter_reads": "dram_filter_read_words", "dram_ofmap_writes": "dram_ofmap_write_words"}
SCALESIM_GOLDEN = _rows(FIXTURES / "scalesim" / "golden.csv")
SCALESIM_RUNS = sorted({(r["mode"], r["sparsity"], r["dataflow"], r["array"], r["sram_kb"], r["topology"])
                        for r in SCALESIM_GOLDEN})


def scalesim_topology(tmp_path: Path, name: str, sparsity: str) -> Path:
    """The fixture topology, with SCALE-Sim's Sparsity column when the run is N:M."""
    source = "lenet5" if name.startswith("lenet5") else name
    lines = (FIXTURES / "scalesim" / f"{source}.csv").read_text().strip().splitlines()
    if name == "lenet5c12":
        lines = lines[:3]                                      # the 8x8 quick set: conv1 and conv2
    if sparsity != "dense":
        lines = [lines[0] + " Sparsity,"] + [line + f" {sparsity}," for line in lines[1:]]
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("run", SCALESIM_RUNS, ids=["-".join(r) for r in SCALESIM_RUNS])
def test_scalesim_convention_reproduces_scalesim(run, tmp_path):
    mode, sparsity, dataflow, array, kb, topology = run
    cfg = tmp_path / "ref.cfg"
    cfg.write_text(SCALESIM_CFG.format(array=array.split("x")[0], kb=kb, dataflow=dataflow, mode=mode,
                                       sparse="true" if sparsity != "dense" else "false"))
    hw = accelerator_from_scalesim_cfg(cfg)
    table = {r["layer"]: r for r in evaluate(read_topology(scalesim_topology(tmp_path, topology, sparsity)),
                                             [hw]).rows()}
    golden = [r for r in SCALESIM_GOLDEN if (r["mode"], r["sparsity"], r["dataflow"], r["array"], r["sram_kb"],
                                            r["topology"]) == run]
    assert len(golden) == len(table)
    for g in golden:
        ours = table[g["layer"]]
        for ref_key, our_key in SCALESIM_KEYS.items():   # acceptance: within 5%; the convention is exact
            assert ours[our_key] == pytest.approx(float(g[ref_key]), rel=1e-9, abs=1e-9), (g["layer"], ref_key)
        assert ours["compute_cycles"] == float(g["total_cycles"]) - float(g["stall_cycles"]) + 1


def test_scalesim_calc_compute_cycles_equal_the_native_fold_model():
    """CALC: SCALE-Sim's stall-free 'Total Cycles' is the native model's compute cycles minus one."""
    layers = read_topology(FIXTURES / "scalesim" / "lenet5.csv")
    for dataflow in ("ws", "os", "is"):
        native = accelerator_from_dict({"name": "n", "pe": {"engine": "systolic", "rows": 32, "cols": 32,
                                                            "dataflow": dataflow, "compact_zero_rows_cols": False}})
        ours = {r["layer"]: r["compute_cycles"] for r in evaluate(layers, [native]).rows()}
        for g in SCALESIM_GOLDEN:
            if (g["mode"], g["sparsity"], g["dataflow"], g["topology"]) == ("CALC", "dense", dataflow, "lenet5"):
                assert ours[g["layer"]] - 1 == float(g["total_cycles"])


# ------------------------------------------------------------------ ZigZag
def test_zigzag_convention_reproduces_zigzag_energy():
    hw = load_accelerator(FIXTURES / "zigzag" / "zigzag_tpu_like.yaml")
    for g in _rows(FIXTURES / "zigzag" / "golden.csv"):
        k, c, ox, oy, fx, fy, s, p = (int(g[x]) for x in ("K", "C", "OX", "OY", "FX", "FY", "stride", "padding"))
        h, w = (oy - 1) * s + fy - 2 * p, (ox - 1) * s + fx - 2 * p
        conv = (fx, ox) != (1, 1)
        layer = LayerWorkload(g["layer"], "conv2d" if conv else "linear", k, c * fx * fy, ox * oy,
                              np.ones((k, c * fx * fy), np.float32), weight_bits=8, input_elems=c * h * w,
                              geometry={"kernel": (fy, fx)} if conv else {})
        ours = evaluate([layer], [hw]).rows()[0]
        assert ours["energy_pj"] == pytest.approx(float(g["total_energy_pj"]), rel=0.01), g["layer"]  # acc.: 10%
        assert ours["energy_mac_pj"] == pytest.approx(float(g["mac_energy_pj"]), rel=1e-9)
        assert ours["energy_dram_pj"] == pytest.approx(float(g["total_dram_energy_pj"]), rel=0.01)


# ------------------------------------------------------------------ EIE (ISCA 2016)
EIE = _rows(FIXTURES / "eie" / "published.csv")
EIE_ENERGY = [r for r in EIE if r["layer"].startswith("Alex-")]   # section 10a's layers (energy reference)


def eie_layer(row: dict, seed: int = 0, act_seed: int | None = None) -> LayerWorkload:
    """A Table III layer: a random mask of the published weight density (generator ``seed``, drawn in float32 row
    blocks so VGG-6's 102.8M weights stay ~0.5 GB) and the published activation density, its pattern drawn with
    ``act_seed`` (default: ``seed``)."""
    rng = np.random.default_rng(seed)
    m, k = int(row["outputs"]), int(row["inputs"])
    w = np.empty((m, k), np.float32)
    for r in range(0, m, 512):
        w[r:r + 512] = rng.random((min(512, m - r), k), dtype=np.float32) < float(row["weight_density"])
    return LayerWorkload(row["layer"], "linear", m, k, 1, w, weight_bits=4, act_density=float(row["act_density"]),
                         act_seed=seed if act_seed is None else act_seed)


EIE_NINE = {r["layer"]: r for r in _rows(FIXTURES / "eie" / "latency_nine.csv")}   # benchmarks/eie_validation.py
EIE_SMALL = [r for r in EIE if r["layer"] != "VGG-6"]   # VGG-6 (102.8M weights, ~3 s a seed): benchmark fixture only
# the two layers the published densities cannot reach (docs/validation.md section 3): the paper's own
# perfect-balance time is 19% (Alex-8) and 22% (VGG-6) above the work those densities imply
EIE_MISSES = {"Alex-8": (-19.0, -16.0), "VGG-6": (-30.0, -26.0)}


@pytest.mark.parametrize("row", EIE_SMALL, ids=[r["layer"] for r in EIE_SMALL])
def test_eie_like_latency_against_the_paper(row):
    ours = evaluate([eie_layer(row)], [load_accelerator("eie_like")]).rows()[0]
    latency_us = ours["latency_s"] * 1e6
    perfect_us = ours["macs_executed"] / 64 / 800  # work incl. padding entries, perfectly balanced
    # the load-imbalance the FIFOs leave matches the paper's own actual/perfect-balance ratio within 15%
    assert latency_us / perfect_us == pytest.approx(float(row["actual_us"]) / float(row["perfect_balance_us"]),
                                                    rel=0.15)
    if row["layer"] not in EIE_MISSES:
        assert latency_us == pytest.approx(float(row["actual_us"]), rel=0.15)
    else:
        # Alex-8's perfect-balance time (8.9 us) is 19% above the work its own densities imply (25% x 37.5% of
        # 4096 x 1000 on 64 PEs: 7.5 us); our latency is 18% under the measured 9.9 us. Pinned so drift shows.
        assert 8.0 < latency_us < 8.4 and perfect_us < 0.85 * float(row["perfect_balance_us"])


def test_eie_nine_layers_fixture():
    """All nine Table IV layers, 5 seeds each (tests/fixtures/eie/latency_nine.csv, written by
    benchmarks/eie_validation.py): 7 of 9 within 15%; Alex-8 and VGG-6 miss (pinned); mean |error| 9.5%
    misses the issue's 8% (pinned); the spread over seeds stays under 4% of the mean."""
    assert sorted(EIE_NINE) == sorted(r["layer"] for r in EIE) and all(r["seeds"] == "5" for r in EIE_NINE.values())
    errs = {k: float(r["error_pct"]) for k, r in EIE_NINE.items()}
    for layer, err in errs.items():
        lo, hi = EIE_MISSES.get(layer, (-15.0, 15.0))
        assert lo <= err <= hi, (layer, err)
    assert 9.0 < np.mean(np.abs(list(errs.values()))) < 10.0      # acceptance asks <= 8%: a miss, pinned
    for r in EIE_NINE.values():
        assert float(r["ours_max_us"]) - float(r["ours_min_us"]) < 0.04 * float(r["ours_mean_us"])
        assert float(r["ours_min_us"]) <= float(r["ours_mean_us"]) <= float(r["ours_max_us"])


@pytest.mark.parametrize("layer", ["Alex-8", "NT-We", "NT-LSTM"])
def test_eie_nine_fixture_is_what_the_benchmark_computes(layer):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from eie_validation import layer_runs, summary

    hw = load_accelerator("eie_like")
    row = next(r for r in EIE if r["layer"] == layer)
    mine = summary(row, layer_runs(row, 5, hw), hw)
    for k in ("ours_mean_us", "ours_min_us", "ours_max_us", "ours_perfect_us", "error_pct"):
        assert mine[k] == pytest.approx(float(EIE_NINE[layer][k]), abs=1e-3), k


def test_eie_renaming_a_layer_changes_nothing():
    """The drawn activation pattern comes from the workload's act_seed, never from the layer's name."""
    from dataclasses import replace

    hw = load_accelerator("eie_like")
    row = next(r for r in EIE if r["layer"] == "Alex-8")
    w = eie_layer(row)
    a = evaluate([w], [hw]).rows()[0]
    for name in ("renamed", "fc8", "Alex-8 copy"):
        b = evaluate([replace(w, name=name)], [hw]).rows()[0]
        assert b["cycles"] == a["cycles"] and b["energy_pj"] == a["energy_pj"], name


def test_eie_act_seed_changes_the_pattern_and_measured_pattern_wins():
    from dataclasses import replace

    from sparsesim.engines.eie import activation_pattern, activation_stream

    hw = load_accelerator("eie_like")
    row = next(r for r in EIE if r["layer"] == "NT-LSTM")
    w = replace(eie_layer(row), act_density=0.4)
    p0, p1 = activation_pattern(w, 4), activation_pattern(replace(w, act_seed=1), 4)
    assert p0.shape == (4, w.K) and not np.array_equal(p0, p1)
    assert abs(p0.mean() - 0.4) < 0.03 and w.pattern_drawn
    assert np.array_equal(activation_pattern(replace(w, act_seed=0), 4), p0)     # fixed default: reproducible
    c0 = evaluate([w], [hw]).rows()[0]["cycles"]
    assert evaluate([replace(w, act_seed=1)], [hw]).rows()[0]["cycles"] != c0
    # a measured pattern (e.g. from calibration) wins over the seed: the seed then changes nothing
    measured = np.zeros((2, w.K), bool)
    measured[:, : w.K // 2] = True
    m0 = replace(w, act_density=0.5, act_pattern=measured)
    assert not m0.pattern_drawn
    assert np.array_equal(activation_stream(m0, True, False), np.arange(w.K // 2))   # one vector (N = 1)
    assert evaluate([replace(m0, act_seed=7)], [hw]).rows()[0]["cycles"] == evaluate([m0], [hw]).rows()[0]["cycles"]


# ------------------------------------------------------------------ STONNE SIGMA
STONNE = json.loads((FIXTURES / "stonne" / "sigma_runs.json").read_text())["runs"]


def sigma_layer(run: dict) -> LayerWorkload:
    nnz = np.array(run["row_nnz"])
    mask = np.arange(run["gemm_k"])[None, :] < nnz[:, None]
    return LayerWorkload("g", "linear", run["gemm_m"], run["gemm_k"], 1, mask.astype(np.float32), weight_bits=8,
                         batch=run["gemm_n"])


def sigma_cycles(run: dict) -> float:
    from sparsesim.engines.sigma import sigma_cycles as cycles
    return cycles(sigma_layer(run), run["ms_size"], run["dn_bw"], run["rn_bw"], 4)[0]


def test_sigma_engine_matches_stonne_within_15_percent_on_every_fixture_run():
    """All 43 runs, the many-short-rows ones included (they were 20-48% low before the engine collected each
    iteration at its busiest collection-bus line, docs/validation.md section 4)."""
    assert len(STONNE) == 43
    errors = [sigma_cycles(r) / r["cycles"] - 1 for r in STONNE]
    assert max(abs(e) for e in errors) < 0.035, errors


STONNE_NEW = json.loads((FIXTURES / "stonne" / "sigma_new_runs.json").read_text())["runs"]


def test_sigma_engine_matches_stonne_on_new_shapes_arrays_and_truly_dense_rows():
    """60 runs on 4 GEMM shapes x 3 arrays outside the 43-run fixture, 0 (truly dense) to 90% sparsity, 24
    of them held out while the engine was changed; STONNE patched only to take per-row counts."""
    shapes = {(r["gemm_m"], r["gemm_n"], r["gemm_k"]) for r in STONNE_NEW}
    arrays = {(r["ms_size"], r["dn_bw"], r["rn_bw"]) for r in STONNE_NEW}
    old_shapes = {(r["gemm_m"], r["gemm_n"], r["gemm_k"]) for r in STONNE}
    old_arrays = {(r["ms_size"], r["dn_bw"], r["rn_bw"]) for r in STONNE}
    assert len(STONNE_NEW) == 60 and not shapes & old_shapes and not arrays & old_arrays
    dense = [r for r in STONNE_NEW if r["mk_sparsity_pct"] == 0]
    assert len(dense) == 12 and all(r["nnz"] == r["gemm_m"] * r["gemm_k"] for r in dense)
    errors = [sigma_cycles(r) / r["cycles"] - 1 for r in STONNE_NEW]
    assert all(abs(e) < 0.15 for e in errors), errors
    assert max(abs(e) for e in errors) < 0.09
    assert max(abs(sigma_cycles(r) / r["cycles"] - 1) for r in dense) < 0.04


def test_sigma_mapping_is_stonnes_weights_iterations_and_collection_bus_lines():
    """The engine's packing and bus-line rule against what STONNE reports of each new run: weights read,
    reconfigurations, and the results each collection-bus line carried (exactly)."""
    from sparsesim.engines.sigma import vn_lines
    for r in STONNE_NEW:
        it, line = vn_lines(np.array(r["row_nnz"]), r["ms_size"], r["rn_bw"])
        assert r["nnz"] == r["weight_reads"] and it[-1] + 1 == r["reconfigurations"], r["shape"]
        assert (np.bincount(line, minlength=r["rn_bw"]) * r["gemm_n"]).tolist() == r["line_results"], r["shape"]


def test_sigma_truly_dense_rows_cost_what_stonne_charges():
    """The 43-run fixture's GEMM/array pairs with every row full: a 256-long row on 128 multipliers takes 3
    iterations in STONNE too (set A: 14016 cycles against 9926 for its "0%" run, which keeps ~1% zeros)."""
    twins = json.loads((FIXTURES / "stonne" / "sigma_new_runs.json").read_text())["dense_twins"]
    assert {r["set"] for r in twins} == {"A", "B", "C", "D", "E", "F", "J"}
    for r in twins:
        assert r["nnz"] == r["weight_reads"] == r["gemm_m"] * r["gemm_k"]
        assert sigma_cycles(r) == pytest.approx(r["cycles"], rel=0.03), r["set"]
    a = next(r for r in twins if r["set"] == "A")
    assert a["cycles"] > 1.4 * next(r["cycles"] for r in STONNE if r["set"] == "A" and r["mk_sparsity_pct"] == 0)
