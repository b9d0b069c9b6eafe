"""The main job: matched-accuracy search, sweeps (resume, Dask), compare end to end."""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from analysis.compare import run_compare
from analysis.compare_config import CompareConfig, CompareError
from analysis.search import PointRule, matched_ratio
from analysis.sweep import SweepError, SweepSpec, run_sweep
from pruning.config import PruneConfig
from pruning.models import build_model
from pruning.pipeline import run_prune


def curve(boundary):
    """Synthetic accuracy: flat at 0.99 until ``boundary``, then falling 2 points per 0.01 of ratio."""
    calls = []

    def acc(r):
        calls.append(r)
        return 0.99 - max(0.0, r - boundary) * 2.0
    return acc, calls


@pytest.mark.parametrize("boundary", [0.62, 0.8, 0.93])
def test_search_finds_the_boundary_of_a_synthetic_curve(boundary):
    acc, calls = curve(boundary)
    res = matched_ratio(acc, PointRule(0.99, 0.01), ladder=(0.5, 0.75, 0.9), bisections=8)
    edge = boundary + 0.005  # loss reaches 1 pp here
    assert res.ratio <= edge + 1e-9 and edge - res.ratio < 0.15 / 2**8 + 1e-9
    assert 0.99 - res.accuracy <= 0.01 + 1e-12
    assert res.evaluations == len(calls) == len(set(calls))  # every probe recorded, none repeated


def test_search_edge_cases():
    acc, _ = curve(0.0)
    assert matched_ratio(acc, PointRule(0.99, 0.001), ladder=(0.5,)).ratio is None  # nothing passes
    low, calls = curve(0.3)   # the lowest rung fails: the search bisects below it
    res = matched_ratio(low, PointRule(0.99, 0.01), ladder=(0.75, 0.9), bisections=3)
    assert calls == [0.75, 0.375, 0.1875, 0.28125] and res.ratio == 0.28125
    res = matched_ratio(lambda r: 0.99, PointRule(0.99, 0.01), ladder=(0.5, 0.9), max_ratio=0.97)
    assert res.ratio == 0.97  # everything passes: the cap
    with pytest.raises(ValueError, match="ladder"):
        matched_ratio(acc, PointRule(0.99, 0.01), ladder=(0.9, 0.5))


@pytest.fixture(scope="module")
def dense_artifact(tmp_path_factory, tiny_digits):
    out = tmp_path_factory.mktemp("dense")
    torch.manual_seed(0)
    cfg = PruneConfig.from_dict({"pretrain_epochs": 1, "retrain_epochs": 0, "admm": {"rounds": 0},
                                 "layers": {"fc2": {"type": "dense"}}})
    run_prune(build_model("digits_cnn"), tiny_digits, cfg, out, progress=False, log=lambda s: None,
              model_name="digits_cnn")
    return out


def _spec(path, **kw):
    d = {"artifact": str(path), "base_hw": "fpga_small",
         "parameters": {"pe.rows": [4, 8], "pe.cols": [8], "glb.capacity_bytes": [65536, 262144]},
         "workload": {"structures": ["nonstructured", "filter"], "ratios": [0.5, 0.8], "bits": [8]}}
    d.update(kw)
    return SweepSpec.from_dict(d)


def test_sweep_resume_recomputes_nothing(dense_artifact, tmp_path):
    spec = _spec(dense_artifact)
    first = run_sweep(spec, tmp_path, scheduler="sync", progress=False)
    assert (first.computed, first.cached, len(first.rows)) == (16, 0, 16)
    # a killed run: drop some cached points, the rest must not be recomputed
    files = sorted((tmp_path / "cache").glob("*.json"))
    for f in files[:5]:
        f.unlink()
    again = run_sweep(spec, tmp_path, scheduler="sync", progress=False)
    assert (again.computed, again.cached) == (5, 11)
    assert again.rows == first.rows
    assert run_sweep(spec, tmp_path, scheduler="sync", progress=False).computed == 0
    assert (tmp_path / "results.csv").exists() and (tmp_path / "pareto.png").exists()
    assert 1 <= len(first.pareto) <= 16


def test_dask_local_cluster_matches_local_run(dense_artifact, tmp_path):
    from distributed import Client, LocalCluster

    spec = _spec(dense_artifact, mode="random", samples=6, seed=3)
    local = run_sweep(spec, tmp_path / "local", scheduler="sync", progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = run_sweep(spec, tmp_path / "dask", client=client, progress=False)
    assert remote.rows == local.rows
    assert (tmp_path / "dask" / "results.csv").read_text() == (tmp_path / "local" / "results.csv").read_text()


@pytest.mark.parametrize("patch, pattern", [
    ({"mode": "lattice"}, r"'mode'='lattice'; allowed: grid, random"),
    ({"colour": 1}, r"unknown field\(s\) 'colour'"),
    ({"workload": {"ratios": [1.5]}}, r"ratio 1.5; allowed"),
    ({"workload": {"structures": ["diagonal"]}}, r"structure 'diagonal' unknown"),
    ({"parameters": {"pe.rows": [-1]}}, r"sweep point \{'pe.rows': -1\}: pe: field 'rows'=-1"),
    ({"parameters": {"pe.rows": []}}, r"'pe.rows' must be a non-empty list"),
    ({"parameters": {"cpu.cores": [2]}}, r"'cpu.cores' unknown"),
    ({"artifact": "/nonexistent"}, r"'artifact'='/nonexistent' is not an artifact"),
    ({"objectives": ["beauty"]}, r"objective 'beauty'"),
])
def test_bad_sweep_files_raise_clear_errors(dense_artifact, patch, pattern):
    with pytest.raises(SweepError, match=pattern):
        _spec(dense_artifact, **patch)


def test_sweep_yaml_duplicate_keys(tmp_path, dense_artifact):
    p = tmp_path / "s.yaml"
    p.write_text(f"artifact: {dense_artifact}\nmode: grid\nmode: random\n")
    with pytest.raises(SweepError, match="duplicate key 'mode'"):
        SweepSpec.from_yaml(p)


SWEEP_YAML = """artifact: art
base_hw: fpga_small
parameters:
  pe.rows: [4, 8]
  glb.capacity_bytes: [65536]
workload:
  structures: [nonstructured]
  ratios: [0.5]
  bits: [8]
"""


@pytest.mark.parametrize("old, new, line, pattern", [
    ("ratios: [0.5]", "ratios: [0.5, abc]", 8, r"ratio 'abc'; allowed: numbers in \[0, 1\)"),           # a non-number
    ("pe.rows: [4, 8]", "pe.rows: [4,\n    -8]", 5, r"sweep point \{.*'pe.rows': -8\}: pe: field 'rows'=-8"),  # negative
    ("  bits: [8]", "  bits: [8]\n  colour: red", 10, r"sweep.workload: unknown field\(s\) 'colour'"),   # unknown key
    ("base_hw: fpga_small", "base_hw: fpga_small\nsamples: -3", 3, r"field 'samples'=-3; allowed: an integer"),
    ("artifact: art\n", "", 1, r"field 'artifact' is required"),                                      # missing
    ("pe.rows: [4, 8]", "pe.rowz: [4, 8]", 4, r"sweep point \{.*'pe.rowz': 4.*\}: pe: unknown field\(s\) 'rowz'"),
    ("bits: [8]", "bits: 40", 9, r"bits=40; allowed: 1..16 \(quantized\) or 32 \(float\)"),        # a scalar
])
def test_bad_sweep_files_name_file_line_and_field(tmp_path, capsys, old, new, line, pattern):
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "manifest.json").write_text("{}")   # a stub: the file is refused before it is read
    path = tmp_path / "bad.yaml"
    assert old in SWEEP_YAML
    path.write_text(SWEEP_YAML.replace(old, new))
    with pytest.raises(SweepError, match=rf"^{re.escape(str(path))}: line {line}: .*{pattern}") as e:
        SweepSpec.from_yaml(path)
    assert "\n" not in str(e.value)
    from sparsecodesign.cli import main
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--scheduler", "sync", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sparsesim sweep: error: {path}: line {line}: "), err


def test_compare_end_to_end_small(tmp_path):
    cfg = CompareConfig.of(structures=("nonstructured", "filter"), presets=("eie_like", "fpga_small"),
                        pretrain_epochs=4, admm_rounds=1, retrain_epochs=1, ladder=(0.25, 0.5), bisections=0,
                        tolerance_pp=5.0, hil_preset="eie_like", budget="both")
    summary = run_compare(cfg, tmp_path, log=lambda s: None)
    for f in ("report.md", "report.html", "results.csv", "energy_breakdown.png", "storage.png",
              "speedup_vs_ratio.png", "pareto.png", "sim_vs_measured.png", "configs/compare.json"):
        assert (tmp_path / f).exists(), f
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 3  # (dense, 2 structures) x (2 presets + cpu)
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5   # the five plots; the matrix is an HTML table
    # the structure x platform matrix leads: before any other table, any picture and the verdicts
    assert html.index("<table class='matrix'>") < html.index("<table>")
    assert html.index("<table class='matrix'>") < html.index("data:image/png;base64,")
    assert html.index("<table class='matrix'>") < html.index("Verdict per platform")
    assert {v["platform"] for v in summary["verdicts"]} >= {"eie_like", "fpga_small"}
    report = (tmp_path / "report.md").read_text()
    assert "wins" in report or "tie on" in report
    assert "n=575" in report and "resolve" in report  # accuracies carry n; the resolution sentence
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert (saved["n_val"], saved["n_test"]) == (575, 359) and saved["resolution"]["validation"]["resolved"]
    assert {r["status"] for r in saved["structures"].values()} <= {"matched", "not matched"}   # test: no gate
    for r in saved["structures"].values():   # matched = the paired bound within the tolerance, probe by probe
        assert all(p["within"] == (p["val_loss_upper95_pp"] <= cfg.tolerance_pp + 1e-9) for p in r["points"])
        assert all((Path(d) / "val_correct.npy").is_file() for d in r["probe_dirs"].values())
    hil = saved["hil"]
    assert hil["preset"] == "eie_like" and 1 <= len(hil["trail"]) <= cfg.hil_probes
    assert all(t["within"] == (t["val_loss_upper95_pp"] <= cfg.tolerance_pp + 1e-9) for t in hil["trail"])  # paired
    if hil["chosen"] is not None:  # only a mix within the tolerance is reported
        assert next(t for t in hil["trail"] if t["scale"] == hil["chosen"]["scale"])["within"]
    # per-layer budgets decide; the uniform search is reported beside it
    assert saved["budget"] == "global" and [b["budget"] for b in saved["beside"]] == ["uniform"]
    ns = saved["structures"]["nonstructured"]
    assert len({round(r, 3) for r in ns["layer_ratios"].values()}) > 1  # the budget gave each layer its own ratio
    uniform = saved["beside"][0]["structures"]["nonstructured"]
    assert len({round(r, 3) for r in uniform["layer_ratios"].values()}) == 1
    assert "Beside it: uniform ratios" in report and "Budget: global" in report
    assert {r["platform"] for r in saved["across_budgets"]} == {"eie_like", "fpga_small"}
    assert all(r["cheapest_energy_pj"] <= r["deciding_energy_pj"] for r in saved["across_budgets"])
    # resumable: a second run reuses every pruning run (without re-timing the CPU: timings are no training setting)
    t = run_compare(replace(cfg, measure_cpu=False), tmp_path, log=lambda s: None)
    assert t["structures"]["filter"]["ratio"] == summary["structures"]["filter"]["ratio"]


def test_compare_config_errors():
    with pytest.raises(CompareError, match="structures"):
        CompareConfig(structures=("diagonal",))
    with pytest.raises(CompareError, match="tolerance_pp"):
        CompareConfig(tolerance_pp=0)
    with pytest.raises(CompareError, match="budget='layerwise'; allowed: global, uniform, cost, both, all"):
        CompareConfig(budget="layerwise")
    with pytest.raises(CompareError, match="jobs=0; allowed: an integer in 1..64"):
        CompareConfig(jobs=0)
    with pytest.raises(CompareError, match="budget_min_keep=1.5"):
        CompareConfig(budget_min_keep=1.5)


def test_dense_counterpart_keeps_the_clock_power_of_an_scnn_array():
    """An SCNN PE's f x i multipliers become f x i dense PEs: the counterpart's per-PE clock energy is divided so
    that the array's clock energy per cycle stays the same."""
    from dataclasses import replace

    from accel_models.hardware import load_accelerator
    from analysis.report_data import dense_counterpart

    scnn = load_accelerator("scnn_like")
    clocked = replace(scnn, pe=replace(scnn.pe, clock_pj_per_pe_cycle=2.0))
    dense = dense_counterpart(clocked)
    assert dense.pe.engine == "systolic" and dense.pe.num_pes > clocked.pe.num_pes
    assert dense.pe.num_pes * dense.pe.clock_pj_per_pe_cycle == pytest.approx(clocked.pe.num_pes * 2.0)
    assert dense_counterpart(scnn).pe.clock_pj_per_pe_cycle is None
