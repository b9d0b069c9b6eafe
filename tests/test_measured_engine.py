"""The measured engine writes the simulators' rows: one CostTable, NaN for what a run does not give, storage
bits counted from what torch stores."""

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import sparsecodesign as sc
from sparsesim.measured import MODEL_LAYER, Storage, csr_storage, evaluate_measured, measured_cost, run_layer
from sparsesim.results import COLUMNS, RUN_DEFAULTS, CostTable, LayerCost
from sparsesim.stopwatch import summarize

QUIET = {"log": lambda s: None}
# what only a simulator gives: a measured row holds NaN there, never 0
SIMULATOR_ONLY = ("num_pes", "mac_units", "weights_resident", "macs_executed", "compute_cycles", "memory_cycles",
                  "stall_cycles", "cycles", "ideal_cycles", "tiles", "sram_ifmap_read_words",
                  "sram_ifmap_write_words", "sram_filter_read_words", "sram_filter_write_words",
                  "sram_ofmap_write_words", "sram_ofmap_read_words", "dram_ifmap_read_words",
                  "dram_filter_read_words", "dram_ofmap_write_words", "dram_ofmap_read_words", "dram_bits",
                  "dram_bits_compulsory", "sram_bits", "rf_bits", "index_decodes", "energy_dram_pj", "energy_sram_pj",
                  "energy_rf_pj", "energy_mac_pj", "energy_index_pj", "energy_pj", "energy_lower_bound_pj")


class Tiny(nn.Module):
    input_shape = (2, 6, 6)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _tiny() -> Tiny:
    torch.manual_seed(0)
    m = Tiny().eval()
    with torch.no_grad():
        m.fc.weight[m.fc.weight.abs() < 0.08] = 0       # some non-structured zeros
        m.conv.weight[1] = 0                            # one pruned filter
    return m


@pytest.fixture(scope="module")
def measured():
    return evaluate_measured(_tiny(), Tiny.input_shape, batches=(1, 2), repeats=2, **QUIET)


def test_measured_and_simulated_rows_are_one_table_with_the_same_columns(measured):
    simulated = sc.simulate(_tiny(), hardware="eyeriss_like", **QUIET)
    both = sc.CostTable.concat(simulated, sc.CostTable(measured))
    assert set(simulated.columns.columns) == set(measured.columns) == set(both.columns.columns) == set(COLUMNS)
    assert len(both) == len(simulated) + len(measured)
    assert both.to_csv().splitlines()[0] == simulated.to_csv().splitlines()[0] == measured.to_csv().splitlines()[0]
    assert set(both.hardware) == {"eyeriss_like", f"cpu ({torch.get_num_threads()} threads)"}
    assert [r.layer for r in both.columns.records()][:len(simulated)] == list(simulated.layers)
    sim_rows = simulated.rows()   # simulator rows: a batch, and the timing columns at their defaults
    assert all(r["batch"] == 1 and r["timing_trusted"] is True and r["timing_note"] == "" for r in sim_rows)
    assert all(math.isnan(r["latency_p25_s"]) and math.isnan(r["latency_p75_s"]) for r in sim_rows)


def test_a_measured_row_is_nan_where_a_run_gives_no_figure(measured):
    rows = measured.rows()
    assert {r["engine"] for r in rows} == {"measured"}
    assert {r["format"] for r in rows if r["layer"] == "conv"} == {"dense", "dense_gemm", "csr", "coo", "compact"}
    assert {r["format"] for r in rows if r["layer"] == MODEL_LAYER} >= {"dense", "csr"}
    assert {r["batch"] for r in rows} == {1, 2}
    for r in rows:
        bad = [k for k in SIMULATOR_ONLY if not math.isnan(r[k])]
        assert not bad, f"{r['layer']} {r['format']}: {bad} are not NaN"
        assert r["latency_p25_s"] <= r["latency_s"] <= r["latency_p75_s"] and r["repeats"] == 2
        assert r["macs_useful"] <= r["macs_dense"] and r["storage_bits"] > 0 and r["weight_bits"] == 32
    conv = {r["format"]: r for r in rows if r["layer"] == "conv" and r["batch"] == 2}
    w = _tiny().conv.weight
    assert conv["dense"]["macs_dense"] == w.numel() * 16 * 2 and conv["dense"]["macs_useful"] == 3 * 18 * 16 * 2
    assert conv["dense"]["storage_bits"] == w.numel() * 32
    assert conv["compact"]["storage_bits"] == 3 * 2 * 9 * 32           # the smaller dense tensor
    assert math.isnan(conv["dense"]["utilization"])                    # no roofline given: no peak


def test_csr_storage_bits_are_what_torch_stores():
    w = torch.tensor([[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 3.0], [4.0, 5.0, 0.0, 0.0]])
    lin = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    runs = {r.variant: r.storage for r in run_layer("l", lin, torch.randn(2, 4), "cpu", repeats=2, warmup=0)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        csr = w.to_sparse_csr()
    held = [csr.values(), csr.col_indices(), csr.crow_indices()]
    assert runs["csr"].total_bits == sum(t.numel() * t.element_size() * 8 for t in held)
    assert csr.col_indices().dtype == csr.crow_indices().dtype == torch.int64      # torch's default index width
    assert (runs["csr"].value_bits, runs["csr"].index_bits, runs["csr"].pointer_bits) == (5 * 32, 5 * 64, 4 * 64)
    assert csr_storage(csr) == runs["csr"]
    assert (runs["coo"].value_bits, runs["coo"].index_bits, runs["coo"].pointer_bits) == (5 * 32, 2 * 5 * 64, 0)
    assert runs["dense"].total_bits == 12 * 32 and runs["compact"].total_bits == 3 * 4 * 32


def test_totals_leave_out_model_rows_and_add_one_variant(measured):
    csr = measured.where(format="csr", batch=2)
    layers = [r for r in csr.records() if r.layer != MODEL_LAYER]
    total = csr.totals()[layers[0].hardware]
    assert total.latency_s == pytest.approx(sum(r.latency_s for r in layers))
    assert total.storage_bits == sum(r.storage_bits for r in layers) and total.batch == 2
    assert math.isnan(total.latency_p25_s) and math.isnan(total.energy_pj)
    assert total.achieved_gflops == pytest.approx(2 * total.macs_useful / total.latency_s / 1e9)
    assert measured.totals()[layers[0].hardware].batch == 0          # batches mixed: flagged, not a model cost
    with pytest.raises(ValueError, match="'nope'.*not a column"):
        measured.where(nope=1)


def _row(latency_s, util, trusted, p25, note=""):
    achieved_gflops = 2 * 5.0 / latency_s / 1e9
    r = measured_cost("l", "cpu", "csr", summarize([latency_s], 0), batch=1, weight_bits=32, storage=Storage(32.0),
                      macs_dense=10.0, macs_useful=5.0, peak_gflops=achieved_gflops / util)
    return LayerCost(**{**r.__dict__, "latency_p25_s": p25, "timing_trusted": trusted, "timing_note": note})


@settings(max_examples=30, deadline=None)
@given(la=st.floats(1e-6, 1.0), lb=st.floats(1e-6, 1.0), ua=st.floats(0.01, 1.0), ub=st.floats(0.01, 1.0),
       ta=st.booleans(), tb=st.booleans())
def test_adding_measured_rows_keeps_latency_and_achieved_over_peak(la, lb, ua, ub, ta, tb):
    a, b = _row(la, ua, ta, la / 2, "" if ta else "loaded"), _row(lb, ub, tb, lb / 2, "" if tb else "spread")
    s = a + b
    assert s.latency_s == pytest.approx(la + lb) and math.isnan(s.latency_p25_s) and math.isnan(s.cycles)
    assert s.utilization == pytest.approx((ua * la + ub * lb) / (la + lb))   # achieved / the same peak
    assert s.timing_trusted == (ta and tb) and s.timing_note == ("" if ta and tb else ("loaded" if not ta else "spread"))


def test_simulator_rows_construct_without_the_run_fields():
    given_ = {k: 1.0 for k in COLUMNS if k not in RUN_DEFAULTS and k != "batch"}
    given_.update(layer="l", hardware="h", engine="systolic", convention="native", format="dense",
                  weights_resident=True, num_pes=4, mac_units=4, weight_bits=8)
    r = LayerCost(**given_)
    assert r.batch == 1 and r.timing_trusted and math.isnan(r.latency_p75_s)
    t = CostTable.from_records([r, r])
    assert t.totals()["h"].cycles == 2.0 and t.totals()["h"].batch == 1


def test_sc_bench_returns_a_costtable_with_utilization_over_the_peak(monkeypatch):
    import analysis.bench
    from sparsesim.stopwatch import MeasureError, Roofline

    monkeypatch.setattr(analysis.bench, "measure_roofline", lambda device, size: Roofline(device, 1, 2.0, 10.0))
    before = torch.get_num_threads()
    table = sc.bench(_tiny(), batch=2, repeats=2, threads=1, **QUIET)
    assert isinstance(table, sc.CostTable) and table.hardware == ("cpu (1 threads)",)
    assert torch.get_num_threads() == before                          # the caller's setting, as it was
    for r in table.rows():
        assert r["utilization"] == pytest.approx(r["achieved_gflops"] / 2.0)
        if r["layer"] != MODEL_LAYER:
            assert r["fraction_of_roofline"] == pytest.approx(r["achieved_gflops"] / r["roofline_gflops"])
    with pytest.raises(sc.InputError, match=r"^bench: device='gpu'; allowed: cpu, cuda, cuda:N$"):
        sc.bench(_tiny(), device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(MeasureError, match="no CUDA device"):
            sc.bench(_tiny(), device="cuda")


def test_a_linear_over_tokens_is_timed_as_one_gemm_over_every_row():
    """A transformer's Linear sees (batch, tokens, features): every variant runs the GEMM over batch x tokens rows
    and agrees with the dense layer (it used to fail in x.t() on a 3-D input)."""
    from sparsesim.measured import run_layer

    torch.manual_seed(0)
    lin = nn.Linear(32, 64)
    with torch.no_grad():
        lin.weight[::2] = 0
    runs = run_layer("l", lin, torch.randn(4, 16, 32), "cpu", repeats=2, warmup=1)
    assert {r.variant for r in runs} >= {"dense", "csr", "compact"}
    assert all(r.batch == 64 for r in runs)
