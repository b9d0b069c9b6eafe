"""The public API (``import sparsecodesign``): the README's example as written, and each function on tiny inputs."""

import csv
import io
import re
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pruning.data
import sparsecodesign as sc
from sparsecodesign.cli import main
from analysis.compare_config import CompareError
from pruning.config import ConfigError, PruneConfig
from pruning.models import build_model
from sparsecodesign.api import _config
from sparsecodesign.table import NUMERIC

README = Path(__file__).resolve().parents[1] / "README.md"
QUIET = {"progress": False, "log": lambda s: None}


def _readme_block() -> str:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def tiny_data(monkeypatch, digits):
    """``"digits"`` by name gives 128 training and 64 test images: the README's code runs unchanged, in seconds."""
    tiny = pruning.data.Dataset("digits", digits.train_x[:128], digits.train_y[:128], digits.test_x[:64],
                                digits.test_y[:64], 10)
    real = pruning.data.load_dataset
    monkeypatch.setattr(pruning.data, "load_dataset",
                        lambda name, data_dir=None, **kw: tiny if name == "digits" else real(name, data_dir, **kw))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, tiny_digits):
    torch.manual_seed(0)
    cfg = {"pretrain_epochs": 1, "retrain_epochs": 1, "admm": {"rounds": 1},
           "defaults": {"ratio": 0.6}, "layers": {"fc1": {"ratio": 0.9, "bits": 4}}}
    return sc.prune("digits_cnn", tiny_digits, cfg, tmp_path_factory.mktemp("api") / "art", **QUIET)


def test_readme_starts_with_the_two_commands_and_its_example_is_4_to_6_lines():
    lines = README.read_text().splitlines()
    assert lines[0] == "```bash" and lines[1].startswith("pip install") and lines[2].startswith("pip install")
    code = [ln for ln in _readme_block().splitlines() if ln.strip()]
    assert 4 <= len(code) <= 6 and code[0] == "import sparsecodesign as sc"


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys, tiny_data):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_block(), "README.md", "exec"), {})
    out = capsys.readouterr().out.strip().splitlines()
    assert float(out[-1]) > 0                                       # the printed total energy, pJ
    assert (tmp_path / "runs/api/manifest.json").exists()
    png = (tmp_path / "runs/api/costs.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_prune_takes_a_dict_a_yaml_path_a_pruneconfig_or_none(tmp_path):
    d = {"pretrain_epochs": 1, "layers": {"fc1": {"ratio": 0.5}}}
    p = tmp_path / "job.yaml"
    p.write_text("pretrain_epochs: 1\nlayers: {fc1: {ratio: 0.5}}\n")
    assert _config(d, "digits_cnn", "digits") == _config(p, "digits_cnn", "digits") == PruneConfig.from_dict(d)
    assert _config(PruneConfig.from_dict(d), None, None) == PruneConfig.from_dict(d)
    assert _config(None, "digits_cnn", "digits").pretrain_epochs == 15          # the shipped digits job
    with pytest.raises(ConfigError, match="allowed: a dict, a YAML path"):
        _config(3, "digits_cnn", "digits")


def test_prune_returns_the_artifact_result_and_checks_the_model_fits_the_data(artifact, tiny_digits, tmp_path):
    assert (artifact.out_dir / "weights.safetensors").exists() and artifact.compression > 1
    art = sc.load_artifact(artifact)                                  # what prune returned, or its path
    assert art.manifest == sc.load_artifact(artifact.out_dir).manifest == artifact.manifest
    with pytest.raises(ValueError, match=r"takes inputs \(1, 28, 28\).*has \(1, 8, 8\)"):
        sc.prune("lenet5", tiny_digits, {"pretrain_epochs": 1}, tmp_path / "x", **QUIET)


def test_simulate_equals_the_cli_and_takes_every_form_of_an_artifact(artifact, tmp_path, capsys):
    table = sc.simulate(artifact, hardware="eyeriss_like,eie_like", batch=2, log=lambda s: None)
    assert isinstance(table, sc.CostTable) and table.hardware == ("eyeriss_like", "eie_like")
    assert main(["simulate", str(artifact.out_dir), "--hw", "eyeriss_like,eie_like", "--batch", "2",
                 "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli/layers.csv").read_bytes().decode() == table.to_csv()
    for form in (artifact.out_dir, str(artifact.out_dir), sc.load_artifact(artifact)):
        assert sc.simulate(form, hardware=["eyeriss_like", "eie_like"], batch=2).rows() == table.rows()
    hw = sc.load_hardware("eie_like")
    assert sc.simulate(artifact, hardware=hw, batch=2).rows() == table.select("eie_like").rows()


def test_simulate_a_module_or_a_checkpoint_prices_the_same_layers(artifact, tmp_path):
    model = sc.load_artifact(artifact).model
    from_module = sc.simulate(model, hardware="tpu_like", bits=8)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    from_ckpt = sc.simulate(tmp_path / "m.pt", hardware="tpu_like", bits=8, model=build_model("digits_cnn"),
                            log=lambda s: None)
    assert from_module.rows() == from_ckpt.rows()
    assert from_module.layers == tuple(e["name"] for e in artifact.manifest["layers"])
    topo = Path(__file__).parent / "fixtures/scalesim/lenet5.csv"
    assert main(["simulate", "--topology", str(topo), "--hw", "tpu_like", "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t/layers.csv").read_bytes().decode() == sc.simulate(topo, hardware="tpu_like").to_csv()
    with pytest.raises(ValueError, match="twice"):
        sc.simulate(artifact, hardware="eie_like,eie_like")


def test_costtable_total_plot_csv_and_pandas(artifact, tmp_path, monkeypatch):
    table = sc.simulate(artifact, hardware="eyeriss_like,eie_like", log=lambda s: None)
    eie = table.select("eie_like")
    assert eie.total("cycles") == pytest.approx(sum(r["cycles"] for r in eie.rows()))
    assert table.total("energy_pj", "eyeriss_like") == pytest.approx(
        sum(r["energy_pj"] for r in table.rows() if r["hardware"] == "eyeriss_like"))
    with pytest.raises(sc.InputError, match="holds 2 accelerators; allowed: one of eyeriss_like, eie_like"):
        table.total("cycles")
    with pytest.raises(sc.InputError, match="column='format'; allowed: a column that adds over layers"):
        eie.total("format")
    rows = list(csv.DictReader(io.StringIO(table.to_csv(tmp_path / "t.csv"))))
    assert len(rows) == len(table) == 2 * len(table.layers) and (tmp_path / "t.csv").read_bytes().decode() == table.to_csv()
    fig = table.plot(tmp_path / "t.png")
    bars = [p for p in fig.axes[0].patches]
    assert len(fig.axes) == 2 and len(bars) == len(table)
    assert sorted(b.get_height() for b in bars) == pytest.approx(sorted(r["latency_s"] * 1e6 for r in table.rows()))
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setitem(sys.modules, "pandas", None)                 # as on a machine without pandas
    with pytest.raises(ImportError, match="to_pandas needs pandas.*pip install pandas"):
        table.to_pandas()


def test_costtable_to_pandas(artifact):
    pd = pytest.importorskip("pandas")
    df = sc.simulate(artifact, hardware="eie_like", log=lambda s: None).to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df["layer"]) == [e["name"] for e in artifact.manifest["layers"]]


@settings(max_examples=15, deadline=None)
@given(column=st.sampled_from([c for c in NUMERIC if c != "utilization"]))
def test_total_of_an_additive_column_is_the_sum_of_its_rows(column, artifact):
    table = _eie_table(str(artifact.out_dir))
    assert table.total(column) == pytest.approx(sum(r[column] for r in table.rows()), rel=1e-9, abs=1e-9)


_TABLES = {}


def _eie_table(path):
    if path not in _TABLES:
        _TABLES[path] = sc.simulate(path, hardware="eie_like", log=lambda s: None)
    return _TABLES[path]


def test_masks_are_keyed_by_parameter_name_everywhere(artifact):
    art = sc.load_artifact(artifact)
    from_art, from_model = sc.masks(artifact), sc.masks(art.model)
    assert list(from_art) == [f"{e['name']}.weight" for e in artifact.manifest["layers"]] == list(from_model)
    state = art.model.state_dict()
    for k, m in from_art.items():
        assert torch.equal(m, state[k] != 0) and torch.equal(m, from_model[k])
    kept = {e["name"]: e["nonzeros"] for e in artifact.manifest["layers"] if "nonzeros" in e}
    assert all(int(from_art[f"{n}.weight"].sum()) == v for n, v in kept.items())


def test_compare_passes_a_dict_or_yaml_through_compareconfig(tmp_path, monkeypatch):
    import analysis.compare as compare

    seen = {}
    monkeypatch.setattr(compare, "run_compare", lambda cfg, out, log, progress: seen.update(cfg=cfg, out=out)
                        or {"ok": True})
    assert sc.compare({"bits": 4, "presets": ["eie_like"]}, tmp_path) == {"ok": True}
    assert seen["cfg"].bits == 4 and seen["cfg"].model == "digits_cnn" and seen["out"] == tmp_path
    (tmp_path / "c.yaml").write_text("dataset: digits\nstructures: [filter]\n")
    sc.compare(tmp_path / "c.yaml", tmp_path)
    assert seen["cfg"].structures == ("filter",)
    with pytest.raises(CompareError, match="unknown field.*bitz"):
        sc.compare({"bitz": 4}, tmp_path)


def test_sweep_runs_in_this_process(artifact, tmp_path):
    spec = {"artifact": str(artifact.out_dir), "base_hw": "fpga_small", "parameters": {"pe.rows": [4, 8]},
            "workload": {"structures": ["nonstructured"], "ratios": [0.5], "bits": [8]}}
    res = sc.sweep(spec, tmp_path / "sw")
    assert len(res.rows) == 2 and res.pareto and res.out == tmp_path / "sw"


def test_presets_and_load_hardware_names_the_defaults_a_yaml_left(tmp_path):
    from accel_models.reference import resolved_yaml

    names = sc.presets()
    assert "eyeriss_like" in names and all(sc.load_hardware(n).name == n for n in names)
    full = resolved_yaml(sc.load_hardware("eie_like"), source="eie_like")
    y = tmp_path / "hw.yaml"
    y.write_text("\n".join(ln for ln in full.splitlines() if not ln.startswith("tech_node_nm")) + "\n")
    lines = []
    acc = sc.load_hardware(y, log=lines.append)
    assert acc.name == "eie_like" and len(lines) == 1 and "tech_node_nm" in lines[0]
    assert sc.load_hardware(str(tmp_path / "full.yaml") if (tmp_path / "full.yaml").write_text(full) else "",
                            log=lines.append) == sc.load_hardware("eie_like") and len(lines) == 1


class _Called(Exception):
    pass


@pytest.mark.parametrize("argv, function", [
    (["prune", "--dataset", "digits", "--pretrain-epochs", "0", "--out", "{tmp}/p"], "prune"),
    (["simulate", "{tmp}/art", "--out", "{tmp}/s"], "simulate"),
    (["bench", "{tmp}/art", "--out", "{tmp}/b", "--repeats", "1"], "bench"),
    (["compare", "--out", "{tmp}/c"], "compare"),
    (["sweep", "{tmp}/sweep.yaml"], "sweep"),
    (["export", "{tmp}/art", "--to", "scalesim", "--hw", "tpu_like", "--out", "{tmp}/e"], "export"),
])
def test_every_command_is_a_shell_over_the_api(argv, function, tmp_path, monkeypatch):
    """The CLI parses and checks its options, then calls the public function of the same name."""
    import sparsecodesign.api as api

    def called(*a, **k):
        raise _Called(function)

    monkeypatch.setattr(api, function, called)
    (tmp_path / "art").mkdir()
    (tmp_path / "sweep.yaml").write_text("artifacts: [x]\nhardware: [eyeriss_like]\n")
    monkeypatch.setattr("analysis.sweep.SweepSpec.from_yaml", lambda p: object())
    monkeypatch.setattr("sparsecodesign.cli._model_input_kind", lambda *a, **k: "artifact")
    with pytest.raises(_Called, match=function):
        main(["--debug", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])


@pytest.mark.parametrize("bad", [-1, 1.5, True, None, 2**32, "3"])
def test_simulate_refuses_a_bad_act_seed_naming_it(bad):
    import sparsecodesign as sc

    with pytest.raises(sc.InputError, match=r"^simulate: act_seed=.*; allowed: an integer in 0\.\.4,294,967,295$"):
        sc.simulate("nothing.csv", "eie_like", act_seed=bad)
