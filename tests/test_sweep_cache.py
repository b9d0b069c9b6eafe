"""Sweep cache keys that cannot go stale: resolved hardware, weights, cost-model version; corrupt entries."""

import json
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from accel_models.hardware import _presets_dir
from analysis import sweep
from analysis.sweep import SweepSpec, run_sweep
from fileguard import OutputError, OutputLock
from pruning.config import PruneConfig
from pruning.data import Dataset
from pruning.models import build_model
from pruning.pipeline import run_prune


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, tiny_digits):
    d = tiny_digits
    data = Dataset("digits", d.train_x[:128], d.train_y[:128], d.test_x[:50], d.test_y[:50], 10)
    out = tmp_path_factory.mktemp("art")
    cfg = PruneConfig.from_dict({"pretrain_epochs": 1, "retrain_epochs": 0, "admm": {"rounds": 0},
                                 "train": {"batch_size": 64}, "layers": {"fc2": {"type": "dense"}}})
    run_prune(build_model("digits_cnn"), data, cfg, out, progress=False, log=lambda s: None, model_name="digits_cnn")
    return out


def _hw_file(path, **edits):
    """fpga_small as a user YAML, with ``section.field`` edits."""
    d = yaml.safe_load((_presets_dir() / "fpga_small.yaml").read_text())
    for k, v in edits.items():
        sec, _, key = k.partition(".")
        if key:
            d[sec][key] = v
        else:
            d[sec] = v
    path.write_text(yaml.safe_dump(d))
    return str(path)


def _spec(art, base_hw, **kw):
    return SweepSpec.from_dict({"artifact": str(art), "base_hw": base_hw, "parameters": {"pe.rows": [4, 8]},
                                "workload": {"structures": ["nonstructured"], "ratios": [0.5], "bits": [8]}, **kw})


def _run(spec, out, log=None):
    return run_sweep(spec, out, scheduler="sync", progress=False, log=log if log is not None else (lambda s: None))


def _by_base(rows):
    return {(r["hw.base"], r["hw.pe.rows"]): r for r in rows}


def test_editing_one_hardware_file_recomputes_exactly_its_points(artifact, tmp_path):
    a, b = _hw_file(tmp_path / "a.yaml"), _hw_file(tmp_path / "b.yaml", **{"dram.kind": "lpddr4"})
    out = tmp_path / "out"
    first = _run(_spec(artifact, [a, b]), out)
    assert (first.computed, first.cached, len(first.rows)) == (4, 0, 4)
    # a's DRAM 14x slower: a's two points are recomputed, b's two come from the cache unchanged
    _hw_file(tmp_path / "a.yaml", **{"dram.bandwidth_bits_per_cycle": 16})
    edited = _run(_spec(artifact, [a, b]), out)
    assert (edited.computed, edited.cached) == (2, 2)
    old, new = _by_base(first.rows), _by_base(edited.rows)
    for rows in (4, 8):
        assert new[(b, rows)] == old[(b, rows)]
        assert new[(a, rows)]["cycles"] > old[(a, rows)]["cycles"]
    # edits that leave the resolved description unchanged (a field every point overrides, the description
    # text) change no key; going back to the first content finds its entries again
    _hw_file(tmp_path / "a.yaml", **{"dram.bandwidth_bits_per_cycle": 16, "pe.rows": 8, "description": "x"})
    assert _run(_spec(artifact, [a, b]), out).computed == 0
    _hw_file(tmp_path / "a.yaml")
    back = _run(_spec(artifact, [a, b]), out)
    assert back.computed == 0 and back.rows == first.rows


def test_the_same_content_under_another_name_is_served_with_the_new_label(artifact, tmp_path):
    out = tmp_path / "out"
    first = _run(_spec(artifact, _hw_file(tmp_path / "a.yaml")), out)
    again = _run(_spec(artifact, _hw_file(tmp_path / "renamed.yaml")), out)
    assert again.computed == 0
    assert {r["hw.base"] for r in again.rows} == {str(tmp_path / "renamed.yaml")}
    assert [r["energy_pj"] for r in again.rows] == [r["energy_pj"] for r in first.rows]


def test_changed_weights_or_cost_model_invalidate_every_point(artifact, tmp_path, monkeypatch):
    art = tmp_path / "art"
    shutil.copytree(artifact, art)
    hw = _hw_file(tmp_path / "a.yaml")
    out = tmp_path / "out"
    assert _run(_spec(art, hw), out).computed == 2
    w = load_file(art / "weights.safetensors")
    w["conv2.weight"] = torch.flip(w["conv2.weight"], dims=[0])
    save_file(w, art / "weights.safetensors")
    assert _run(_spec(art, hw), out).computed == 2
    assert _run(_spec(art, hw), out).computed == 0
    monkeypatch.setattr(sweep, "cost_model_version", lambda: "another cost model")
    assert _run(_spec(art, hw), out).computed == 2


def test_cost_model_version_hashes_the_source():
    v = sweep.cost_model_version()
    assert len(v) == 64 and v == sweep.cost_model_version()
    sweep.cost_model_version.cache_clear()
    assert sweep.cost_model_version() == v


def test_corrupt_cache_entries_are_named_recomputed_and_replaced(artifact, tmp_path):
    spec = _spec(artifact, [_hw_file(tmp_path / "a.yaml"), _hw_file(tmp_path / "b.yaml", clock_hz=2e8)])
    out = tmp_path / "out"
    first = _run(spec, out)
    files = sorted((out / "cache").glob("*.json"))
    assert len(files) == 4
    good = {f: json.loads(f.read_text()) for f in files}
    files[0].write_text('{"energy_pj": 1.0, "lat')                       # truncated
    files[1].write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00")  # a pickle, not data
    files[2].write_text(json.dumps({"energy_pj": "cheap"}))               # wrong schema
    lines = []
    again = _run(spec, out, log=lines.append)
    assert (again.computed, again.cached) == (3, 1)
    assert again.rows == first.rows
    assert len(lines) == 3
    for f, why in zip(files[:3], ("unreadable", "unreadable", "missing or non-numeric")):
        assert any(str(f) in s and why in s and "recomputing" in s for s in lines), (f, lines)
        assert json.loads(f.read_text()) == good[f]


def test_cache_entries_that_are_fifos_links_to_dev_zero_or_directories_are_replaced_not_read(artifact, tmp_path):
    import os

    spec = _spec(artifact, [_hw_file(tmp_path / "a.yaml"), _hw_file(tmp_path / "b.yaml", clock_hz=2e8)])
    out = tmp_path / "out"
    first = _run(spec, out)
    files = sorted((out / "cache").glob("*.json"))
    for f in files[:3]:
        f.unlink()
    os.mkfifo(files[0])                # reading it would block forever
    files[1].symlink_to("/dev/zero")   # reading it would never end
    files[2].mkdir()                   # an atomic rename cannot replace it
    lines = []
    again = _run(spec, out, log=lines.append)
    assert (again.computed, again.cached) == (3, 1) and again.rows == first.rows
    assert all(f.is_file() and not f.is_symlink() and json.loads(f.read_text()) for f in files)
    assert len(lines) == 3 and all("corrupt" in s and "recomputing" in s for s in lines)
    files[0].unlink()
    (files[0] / "x").mkdir(parents=True)   # a directory that is not empty: named, not silently skipped
    with pytest.raises(sweep.SweepError, match="cannot be replaced.*remove it"):
        _run(spec, out)


def test_a_second_sweep_into_a_locked_directory_fails_fast(artifact, tmp_path):
    spec = _spec(artifact, _hw_file(tmp_path / "a.yaml"))
    with OutputLock(tmp_path / "out", "sweep"), pytest.raises(OutputError, match="in use by another sweep"):
        _run(spec, tmp_path / "out")
    assert not (tmp_path / "out" / "cache").exists()


@pytest.mark.parametrize("base_hw, pattern", [([], "non-empty list"), (["fpga_small", "fpga_small"], "distinct")])
def test_bad_base_hw_lists(artifact, base_hw, pattern):
    with pytest.raises(sweep.SweepError, match=pattern):
        _spec(artifact, base_hw)


def test_sweep_files_read_scalars_as_one_element_lists_and_refuse_empty_ones(artifact, tmp_path):
    spec = SweepSpec.from_dict({"artifact": str(artifact), "base_hw": "fpga_small",
                                "workload": {"structures": "filter", "ratios": 0.5, "bits": 8}})
    assert (spec.structures, spec.ratios, spec.bits) == (("filter",), (0.5,), (8,))
    for field, value in (("structures", []), ("ratios", []), ("bits", []), ("structures", ["filter", "filter"])):
        with pytest.raises(sweep.SweepError, match=field):
            SweepSpec.from_dict({"artifact": str(artifact), "workload": {field: value}})
    with pytest.raises(sweep.SweepError, match="objectives"):
        SweepSpec.from_dict({"artifact": str(artifact), "objectives": []})
    with pytest.raises(sweep.SweepError, match="block"):
        SweepSpec.from_dict({"artifact": str(artifact), "workload": {"block": 4}})


def test_hardware_files_are_relative_to_the_sweep_file(artifact, tmp_path):
    here = tmp_path / "study"
    here.mkdir()
    _hw_file(here / "mine.yaml")
    (here / "sweep.yaml").write_text(yaml.safe_dump({"artifact": str(artifact), "base_hw": "mine.yaml",
                                                     "parameters": {"pe.rows": [4]}}))
    spec = SweepSpec.from_yaml(here / "sweep.yaml")
    assert spec.base_hw == str(here / "mine.yaml") and spec.base_dicts()


@pytest.mark.parametrize("fields, pattern", [
    ({"artifact": None}, r"field 'artifact'=None; allowed: an artifact directory"),   # was a TypeError
    ({"artifact": 5}, r"field 'artifact'=5"),
    ({"batch": 10**8}, r"field 'batch'=100000000; allowed: an integer in 1..65,536"),   # was accepted
    ({"batch": True}, r"field 'batch'=True"),
    ({"seed": -1}, r"field 'seed'=-1; allowed: an integer in 0..4,294,967,295"),       # was accepted
    ({"mode": "random", "samples": 10**9}, r"field 'samples'=1000000000; allowed: .*1..1,000,000"),  # was a hang
    ({"parameters": {"pe.rows": list(range(1, 201)), "pe.cols": list(range(1, 201)),
                     "glb.banks": list(range(1, 101))}}, r"4,000,000 hardware points \(grid\); allowed: at most"),
])
def test_sweep_fields_are_bounded_before_any_point_is_built(artifact, fields, pattern):
    with pytest.raises(sweep.SweepError, match=pattern) as e:
        SweepSpec.from_dict({"artifact": str(artifact), "base_hw": "fpga_small", **fields})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("scheduler", ["foo", "http://host:8786", "tcp://", "sync ", ""])
def test_a_scheduler_that_is_not_sync_or_a_dask_address_is_refused_not_replaced_by_a_local_cluster(
        artifact, tmp_path, scheduler):
    with pytest.raises(sweep.SweepError, match=r"--scheduler .*allowed: sync, tcp://host:port"):
        run_sweep(_spec(artifact, "fpga_small"), tmp_path / "out", scheduler=scheduler, progress=False)
    assert not (tmp_path / "out").exists()
    sweep.check_scheduler("tcp://10.0.0.1:8786")
    with pytest.raises(sweep.SweepError, match="tls:// is not supported"):   # no certificates: refused up front
        sweep.check_scheduler("tls://scheduler.example.org:8786")
