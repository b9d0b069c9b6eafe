"""Issue 24 finding 10: no option is silently ignored.  Every combination of a command's options where one has no
effect is refused before any work with one line naming both (exit 2), by the table ``checks.UNUSED`` that the
CLI and the Python API share; each case here was a run that exited 0 with the option dropped."""

from __future__ import annotations

import pytest

import sparsecodesign as sc
from sparsecodesign import checks
from sparsecodesign.cli import main

TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 8, 8, 3, 3, 2, 4, 1,\n")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A zoo artifact (no training), a topology, a checkpoint and a sweep spec, in one directory."""
    import torch

    from pruning.artifact import save_artifact
    from pruning.models import build_model

    root = tmp_path_factory.mktemp("unused")
    torch.manual_seed(0)
    model = build_model("digits_cnn").eval()
    save_artifact(root / "art", model, model_name="digits_cnn", constraints={}, example=torch.zeros(1, 1, 8, 8),
                  extra={"dataset": "digits"}, log_rows=[])
    (root / "t.csv").write_text(TOPOLOGY)
    torch.save(model.state_dict(), root / "net.pt")
    (root / "s.yaml").write_text(f"artifact: {root / 'art'}\nbase_hw: eyeriss_like\nparameters: {{pe.rows: [4]}}\n"
                                 "workload: {structures: [dense], ratios: [0.5], bits: [8]}\n")
    return root


# (argv, the option refused, its partner as the error names it); {r}: the files' directory
CLI_CASES = [
    (["simulate", "--topology", "{r}/t.csv", "--calibrate", "5"], "--calibrate 5", "with --topology"),
    (["simulate", "--topology", "{r}/t.csv", "--input-shape", "1,8,8"], "--input-shape 1,8,8", "with --topology"),
    (["simulate", "--topology", "{r}/t.csv", "--model", "digits_cnn"], "--model digits_cnn", "with --topology"),
    (["simulate", "--topology", "{r}/t.csv", "--workloads", "modules"], "--workloads modules", "with --topology"),
    (["simulate", "--topology", "{r}/t.csv", "--data-dir", "{r}"], "--data-dir", "without --calibrate"),
    (["simulate", "--topology", "{r}/t.csv", "--trust-module", "nets"], "--trust-module nets",
     "without --calibrate"),
    (["simulate", "{r}/art", "--seed", "3"], "--seed 3", "with an artifact"),
    (["simulate", "{r}/art", "--seed", "0"], "--seed 0", "with an artifact"),   # given is given, default or not
    (["simulate", "{r}/art", "--max-exact-weights", "5"], "--max-exact-weights 5", "with an artifact"),
    (["simulate", "{r}/art", "--workloads", "modules"], "--workloads modules", "with an artifact"),
    (["simulate", "{r}/art", "--data-dir", "{r}"], "--data-dir", "without --calibrate"),
    (["simulate", "{r}/art", "--trust-module", "nets"], "--trust-module nets", "without --calibrate"),
    (["simulate", "{r}/art", "--act-seed", "2"], "--act-seed 2", "with --hw eyeriss_like"),
    (["simulate", "{r}/art", "--act-seed", "2", "--hw", "tpu_like"], "--act-seed 2", "with --hw tpu_like"),
    (["simulate", "{r}/net.pt", "--input-shape", "1,8,8"], "--input-shape 1,8,8", "with a checkpoint"),
    (["simulate", "{r}/net.pt", "--workloads", "modules"], "--workloads modules", "with a checkpoint"),
    (["simulate", "{r}/net.pt", "--seed", "1"], "--seed 1", "with a checkpoint"),
    (["export", "{r}/art", "--to", "scalesim", "--hw", "tpu_like", "--act-density", "0.5"], "--act-density 0.5",
     "with --to scalesim"),
    (["export", "{r}/art", "--to", "timeloop", "--scalesim-format", "gemm"], "--scalesim-format gemm",
     "with --to timeloop"),
    (["export", "{r}/art", "--to", "timeloop", "--scalesim-format", "conv"], "--scalesim-format conv",
     "with --to timeloop"),
    (["sweep", "{r}/s.yaml", "--scheduler", "sync", "--workers", "3"], "--workers 3", "with --scheduler sync"),
    (["prune", "--data-dir", "{r}"], "--data-dir", "with --dataset digits"),
    (["bench", "{r}/art", "--trust-module", "nets"], "--trust-module nets", "with the zoo model 'digits_cnn'"),
    (["compare", "--workloads", "modules"], "--workloads modules", "with --model digits_cnn"),
    (["compare", "--dataset", "digits", "--data-dir", "{r}"], "data_dir=", "with dataset='digits'"),
]


@pytest.mark.parametrize("argv, option, partner", CLI_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_an_option_with_no_effect_is_refused_naming_both(files, tmp_path, capsys, argv, option, partner):
    argv = [a.replace("{r}", str(files)) for a in argv]
    if argv[0] in ("simulate", "export", "prune", "bench", "compare", "sweep"):
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"sparsesim {argv[0]}: error: ")
    assert option in err[0] and partner in err[0] and "has no effect" in err[0], err[0]
    assert not (tmp_path / "out").exists()   # refused before any work


API_CASES = [
    ("simulate", ("{r}/t.csv",), {"calibrate": 5}, r"simulate: calibrate=5 has no effect with source="),
    ("simulate", ("{r}/t.csv",), {"input_shape": "1,8,8"}, r"input_shape=\(1, 8, 8\) has no effect with source="),
    ("simulate", ("{r}/t.csv",), {"data_dir": "{r}"}, r"data_dir=.* has no effect without calibrate"),
    ("simulate", ("{r}/art",), {"seed": 3}, r"seed=3 has no effect with source=.*\(an artifact\)"),
    ("simulate", ("{r}/art",), {"max_exact_weights": 9}, r"max_exact_weights=9 has no effect"),
    ("simulate", ("{r}/art",), {"act_seed": 2}, r"act_seed=2 has no effect with hardware=\['eyeriss_like'\]"),
    ("simulate", ("{r}/art",), {"trust_module": "nets"}, r"trust_module='nets' has no effect without calibrate"),
    ("simulate", ("module",), {"calibrate": 5}, r"calibrate=5 has no effect with source=.*\(an nn.Module\)"),
    ("simulate", ("module",), {"seed": 5}, r"seed=5 has no effect with source=.*\(an nn.Module\)"),
    ("bench", ("{r}/art",), {"input_shape": (1, 8, 8)}, r"bench: input_shape=\(1, 8, 8\) has no effect with source="),
    ("bench", ("{r}/net.pt",), {"model": "digits_cnn", "trust_module": "nets"},
     r"bench: trust_module='nets' has no effect with source=.*\(a checkpoint\)"),
    ("bench", ("module",), {"trust_module": "nets"}, r"trust_module='nets' has no effect with source="),
    ("sweep", ("{r}/s.yaml", "{r}/o"), {"workers": 3}, r"sweep: workers=3 has no effect with scheduler='sync'"),
    ("export", ("{r}/art", "timeloop"), {"scalesim_format": "conv", "out": "{r}/o"},
     r"export: scalesim_format='conv' has no effect with to='timeloop'"),
    ("export", ("{r}/art", "scalesim"), {"act_density": 0.5, "out": "{r}/o"},
     r"export: act_density=0.5 has no effect with to='scalesim'"),
    ("prune", ("digits_cnn", "digits", None, "{r}/o"), {"data_dir": "{r}"},
     r"prune: data_dir=.* has no effect with data='digits'"),
    ("load_artifact", ("{r}/art",), {"model": "module", "trust_module": "nets"},
     r"--trust-module nets \(trust_module=\) has no effect with a model given"),
]


@pytest.mark.parametrize("function, args, kwargs, pattern", API_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[2])}" for c in API_CASES])
def test_the_api_refuses_the_same_combinations(files, function, args, kwargs, pattern):
    from pruning.artifact import ArtifactError
    from pruning.models import build_model

    def value(v):
        if v == "module":
            return build_model("digits_cnn")
        return v.replace("{r}", str(files)) if isinstance(v, str) else v

    with pytest.raises((sc.InputError, ArtifactError), match=pattern):
        getattr(sc, function)(*map(value, args), **{k: value(v) for k, v in kwargs.items()}, **(
            {"log": lambda s: None} if function in ("simulate", "bench", "sweep") else {}))
    assert not (files / "o").exists()


def test_the_honoured_combinations_still_run(files, tmp_path, capsys):
    """The partners that make each option count: a topology's seed, a drawing engine's act seed, timeloop's
    activation density, gemm for SCALE-Sim, workers on a local cluster (checked, not started)."""
    assert main(["simulate", "--topology", str(files / "t.csv"), "--seed", "3", "--max-exact-weights", "0",
                 "--bits", "4", "--out", str(tmp_path / "a")]) == 0
    assert main(["simulate", str(files / "art"), "--act-seed", "2", "--hw", "eie_like,eyeriss_like",
                 "--out", str(tmp_path / "b")]) == 0
    assert main(["export", str(files / "art"), "--to", "timeloop", "--act-density", "0.5",
                 "--out", str(tmp_path / "c")]) == 0
    assert main(["export", str(files / "art"), "--to", "scalesim", "--hw", "tpu_like", "--scalesim-format", "gemm",
                 "--out", str(tmp_path / "d")]) == 0
    checks.refuse_unused("sweep", {"workers": 3, "scheduler": None}, cli=True)
    checks.refuse_unused("simulate", {"calibrate": 5, "data_dir": "d", "trust_module": "m", "kind": "artifact",
                                      "source": "a", "engines": {"eie"}, "act_seed": 1}, cli=True)


def test_every_rule_names_a_real_parameter_of_its_function():
    import inspect

    from sparsecodesign import api

    for function, rules in checks.UNUSED.items():
        params = set(inspect.signature(getattr(api, function)).parameters)
        for rule in rules:
            assert rule.option in params, (function, rule.option)
            assert rule.partner in params | {"source"}, (function, rule.partner)
            assert "allowed" not in rule.why and rule.why, rule.why
