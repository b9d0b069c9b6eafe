"""One validation layer (issue 24 finding 13): every public function checks every argument with the rules the
command line uses, and a bad value is ``sc.InputError`` naming the function, the argument, the value and what is
allowed, before any work: never a foreign exception (IndexError, TypeError ...), never accepted silently."""

from __future__ import annotations

import inspect
import re
import traceback
from pathlib import Path

import pytest
import torch
from torch import nn

import sparsecodesign as sc
from sparsecodesign import checks
from sparsecodesign.cli import build_parser

TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 8, 8, 3, 3, 2, 4, 1,\n")
FUNCTIONS = [n for n in sc.__all__ if n not in ("CostTable", "InputError")]


def _net():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 10))


@pytest.fixture
def topology(tmp_path):
    (tmp_path / "t.csv").write_text(TOPOLOGY)
    return str(tmp_path / "t.csv")


# ------------------------------------------------------------- the issue's cases
ISSUE_CASES = [
    ("simulate", {"batch": 10**12}, r"^simulate: batch=1000000000000; allowed: an integer in 1\.\.65,536$"),
    ("simulate", {"batch": True}, r"^simulate: batch=True; allowed: an integer in 1\.\.65,536$"),
    ("simulate", {"bits": 0}, r"^simulate: bits=0; allowed: 1\.\.16 \(quantized\) or 32 \(float\) or None$"),
    ("simulate", {"calibrate": -5}, r"^simulate: calibrate=-5; allowed: an integer in 0\.\.1,000,000 \(0: none\)$"),
    ("simulate", {"hardware": []}, r"^simulate: hardware=\[\] \(an empty list\); allowed: "),
    ("simulate", {"input_shape": "0,8,8"}, r"^simulate: input_shape='0,8,8'; allowed: C,H,W"),
    ("sweep", {"workers": 0}, r"^sweep: workers=0; allowed: an integer in 1\.\.256 or None$"),
    ("sweep", {"scheduler": "foo"}, r"^sweep: scheduler='foo'; allowed: None \(a local Dask cluster\), 'sync'"),
    ("bench", {"batch": 0}, r"^bench: batch=0; allowed: an integer in 1\.\.65,536$"),
    ("bench", {"device": "gpu"}, r"^bench: device='gpu'; allowed: cpu, cuda, cuda:N$"),
    ("bench", {"wait_idle_s": float("nan")}, r"^bench: wait_idle_s=nan; allowed: seconds in 0\.\.86,400$"),
    ("export", {"act_density": 1.5}, r"^export: act_density=1\.5; allowed: a number in \[0, 1\] or None$"),
    ("export", {"to": "onnx"}, r"^export: to='onnx'; allowed: 'scalesim', 'timeloop'$"),
    ("prune", {"frobnicate": 1}, r"^prune: unknown keyword frobnicate=1; allowed: device, log, model_name, "),
    ("prune", {"resume": "yes"}, r"^prune: resume='yes'; allowed: True or False$"),
]
PLACEHOLDERS = {   # arguments that pass the checks; the work after them is stubbed out or fails on a missing file
    "prune": lambda t: (("digits_cnn", "digits", None, t / "p"), {}),
    "simulate": lambda t: ((str(t / "t.csv"),), {}),
    "bench": lambda t: ((_net(),), {"input_shape": (1, 8, 8), "repeats": 1}),
    "compare": lambda t: ((None, t / "c"), {}),
    "sweep": lambda t: (({"artifact": str(t / "none")}, t / "s"), {"scheduler": "sync"}),
    "export": lambda t: ((str(t / "none"),), {"to": "scalesim", "out": t / "e"}),
    "presets": lambda t: ((), {}),
    "load_hardware": lambda t: (("eyeriss_like",), {}),
    "load_artifact": lambda t: ((str(t / "none"),), {}),
    "masks": lambda t: ((str(t / "none"),), {}),
    "CostTable.concat": lambda t: ((), {}),
    "CostTable.select": lambda t: (("eyeriss_like",), {}),
    "CostTable.where": lambda t: ((), {}),
    "CostTable.total": lambda t: (("cycles",), {}),
    "CostTable.to_csv": lambda t: ((), {}),
    "CostTable.to_json": lambda t: ((), {}),
    "CostTable.plot": lambda t: ((), {}),
}


class _Ran(Exception):
    """The long work was reached: the arguments were not refused."""


@pytest.fixture
def no_long_work(monkeypatch):
    def ran(*a, **k):
        raise _Ran()

    for target in ("pruning.pipeline.run_prune", "analysis.compare.run_compare", "analysis.sweep.run_sweep",
                   "analysis.bench.bench_loaded"):
        monkeypatch.setattr(target, ran)


@pytest.mark.parametrize("function, bad, pattern", ISSUE_CASES, ids=[f"{c[0]}-{list(c[1])[0]}" for c in ISSUE_CASES])
def test_the_issues_cases_are_refused_by_name(tmp_path, topology, no_long_work, function, bad, pattern):
    args, kw = PLACEHOLDERS[function](tmp_path)
    with pytest.raises(sc.InputError, match=pattern):
        getattr(sc, function)(*args, **{**kw, **bad})


def test_input_shape_as_documented_a_string(tmp_path):
    quiet = {"log": lambda s: None}
    by_text = sc.simulate(_net(), "eyeriss_like", input_shape="1,8,8", **quiet)
    assert by_text.rows() == sc.simulate(_net(), "eyeriss_like", input_shape=(1, 8, 8), **quiet).rows()
    assert sc.simulate(_net(), "eyeriss_like", input_shape=[1, 8, 8], **quiet).rows() == by_text.rows()


def test_the_api_and_the_cli_share_the_error_type():
    assert sc.InputError is checks.InputError and issubclass(sc.InputError, ValueError)
    from sparsecodesign.cli import _bad_input_errors

    assert any(issubclass(sc.InputError, e) for e in _bad_input_errors())   # exit 2 on the command line


# ------------------------------------------------------------- every parameter of every public function
METHODS = ["concat", "select", "where", "total", "to_csv", "to_json", "plot"]   # CostTable's, with arguments
PUBLIC = FUNCTIONS + [f"CostTable.{m}" for m in METHODS]


def _function(name: str, table=None):
    """The public callable ``name``: ``sc.simulate``, or ``CostTable.total`` bound to ``table``."""
    if name.startswith("CostTable."):
        method = name.partition(".")[2]
        return getattr(sc.CostTable, method) if method == "concat" else getattr(table, method)
    return getattr(sc, name)


def _parameters():
    for name in PUBLIC:
        for p in inspect.signature(_function(name, sc.CostTable)).parameters.values():
            if p.name not in ("self", "cls"):
                yield name, p


PARAMETERS = list(_parameters())


def test_every_public_function_is_checked_and_every_parameter_has_a_rule():
    for name in PUBLIC:
        fn = _function(name, sc.CostTable)
        assert getattr(fn, "__wrapped__", None) is not None, f"{name} is not @validated"
        params = set(inspect.signature(fn).parameters) - {"self", "cls"}
        assert params == set(checks.FUNCTION_RULES[name]), name
    public_methods = {m for m, v in vars(sc.CostTable).items() if not m.startswith("_") and callable(
        getattr(v, "__func__", v)) and inspect.signature(getattr(sc.CostTable, m)).parameters.keys() - {"self"}}
    assert public_methods == set(METHODS)


@pytest.fixture
def table(topology):
    return sc.simulate(topology, "eyeriss_like", log=lambda s: None)


@pytest.mark.parametrize("function, param", PARAMETERS, ids=[f"{f}.{p.name}" for f, p in PARAMETERS])
def test_a_bad_value_of_every_parameter_is_refused_naming_it(tmp_path, table, no_long_work, function, param,
                                                             monkeypatch):
    """``object()`` is allowed nowhere: each parameter in turn gets it, the others valid placeholders."""
    monkeypatch.chdir(tmp_path)
    fn = _function(function, table)
    args, kw = PLACEHOLDERS[function](tmp_path)
    bound = inspect.signature(fn).bind_partial(*args, **kw).arguments
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        call, named = {**bound, **bound.pop(param.name, {}), "frobnicate": object()}, "unknown keyword frobnicate="
    elif param.kind is inspect.Parameter.VAR_POSITIONAL:
        call, named = {}, f"{param.name}[1]=<object"
    else:
        call, named = {**bound, param.name: object()}, f"{param.name}=<object"
    positional = [call.pop(p.name) for p in inspect.signature(fn).parameters.values()
                  if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name in call and p.default is p.empty]
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        positional = [table, object()]
    with pytest.raises(sc.InputError) as e:
        fn(*positional, **call)
    assert str(e.value).startswith(f"{function}: {named}"), str(e.value)
    assert "; allowed: " in str(e.value) and "\n" not in str(e.value)


BATTERY = [None, True, False, 0, -1, 1, 2, 10**12, 1.5, float("nan"), float("inf"), "", "x", "1,8,8", "\0",
           b"bytes", [], [0], (1, 8, 8), {}, object(), print]


@pytest.mark.parametrize("function, param", PARAMETERS, ids=[f"{f}.{p.name}" for f, p in PARAMETERS])
def test_every_rule_refuses_or_accepts_a_hostile_value_and_never_raises_anything_else(function, param):
    rule = checks.FUNCTION_RULES[function][param.name]
    rules = list(rule.items()) if isinstance(rule, dict) else [(param.name, rule)]
    for name, r in rules:
        refused = 0
        for value in BATTERY:
            try:
                r.check(value, name if param.kind is not inspect.Parameter.VAR_POSITIONAL else f"{name}[0]", function)
            except sc.InputError as e:
                refused += 1
                assert str(e).startswith(f"{function}: {name}") and "; allowed: " in str(e), str(e)
        assert refused, f"{function}.{name} refuses none of {BATTERY}"


HOSTILE = [None, True, 0, -1, 10**12, 1.5, float("nan"), "", "x", "1,8,8", "a,b", b"x", [], ["x"], (1, 8, 8), {},
           {"a": 1}]
ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("pruning", "sparsesim", "accel_models", "analysis", "sparsecodesign")


def _ours(e: BaseException) -> bool:
    """An error of the project: its own class, or a ValueError/OSError raised by project code (one line)."""
    if type(e).__module__.split(".")[0] in PROJECT:
        return True
    frames = list(traceback.walk_tb(e.__traceback__))
    where = Path(frames[-1][0].f_code.co_filename).resolve() if frames else ROOT / "?"
    return isinstance(e, (ValueError, OSError)) and ROOT in where.parents and "site-packages" not in str(where)


@pytest.mark.parametrize("function, param", [(f, p) for f, p in PARAMETERS if p.kind not in (
    inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)], ids=lambda v: getattr(v, "name", v))
def test_hostile_values_through_the_real_functions_give_only_the_projects_errors(tmp_path, table, no_long_work,
                                                                                  function, param, monkeypatch):
    """Each parameter in turn gets each hostile value, the real function runs (long work stubbed): it returns,
    or raises an error of the project in one line; never a TypeError, IndexError, AttributeError ..."""
    monkeypatch.chdir(tmp_path)   # a relative path that is allowed ('x') is written here
    fn = _function(function, table)
    signature = inspect.signature(fn)
    args, kw = PLACEHOLDERS[function](tmp_path)
    for value in [*HOSTILE, tmp_path / "missing.yaml"]:
        call = {**signature.bind_partial(*args, **kw).arguments, param.name: value}
        positional = [call.pop(p.name) for p in signature.parameters.values()
                      if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name in call and p.default is p.empty]
        try:
            fn(*positional, **call)
        except _Ran:
            pass
        except Exception as e:  # noqa: BLE001 - what the test inspects
            assert _ours(e), f"{function}({param.name}={value!r}): {type(e).__name__}: {e}"
            assert "\n" not in str(e) and len(str(e)) < 1000, str(e)


# ------------------------------------------------------------- the command line parses with the same rules
SHARED = [  # (command, option, function, parameter)
    ("simulate", "--batch", "simulate", "batch"), ("simulate", "--bits", "simulate", "bits"),
    ("simulate", "--seed", "simulate", "seed"), ("simulate", "--act-seed", "simulate", "act_seed"),
    ("simulate", "--max-exact-weights", "simulate", "max_exact_weights"),
    ("simulate", "--input-shape", "simulate", "input_shape"), ("simulate", "--trust-module", "simulate",
                                                                "trust_module"),
    ("bench", "--batch", "bench", "batch"), ("bench", "--repeats", "bench", "repeats"),
    ("bench", "--threads", "bench", "threads"), ("bench", "--wait-idle", "bench", "wait_idle_s"),
    ("bench", "--device", "bench", "device"), ("bench", "--input-shape", "bench", "input_shape"),
    ("bench", "--trust-module", "bench", "trust_module"),
    ("sweep", "--workers", "sweep", "workers"), ("export", "--act-density", "export", "act_density"),
    ("prune", "--device", "prune", "kw.device"),
]


def _action(command: str, option: str):
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and command in a.choices)
    return next(a for a in sub.choices[command]._actions if option in a.option_strings)


@pytest.mark.parametrize("command, option, function, param", SHARED, ids=[f"{c} {o}" for c, o, _, _ in SHARED])
def test_the_cli_option_is_parsed_by_the_apis_rule(command, option, function, param):
    rule = checks.FUNCTION_RULES[function]
    for part in param.split("."):
        rule = rule[part]
    assert getattr(_action(command, option).type, "__self__", None) is rule


def test_the_cli_calibrate_is_the_same_range_without_its_off_value():
    assert _action("simulate", "--calibrate").type.__self__ is checks.CALIBRATE_IMAGES
    assert (checks.CALIBRATE_IMAGES.lo, checks.CALIBRATE_IMAGES.hi) == (1, checks.CALIBRATE.hi)


def test_the_cli_messages_keep_their_form():
    assert re.fullmatch(r"0; allowed: an integer in 1\.\.65,536", _message(checks.BATCH, "0"))
    assert re.fullmatch(r"'x' is not an integer; allowed: .*", _message(checks.BATCH, "x"))
    assert re.fullmatch(r"'-1'; allowed: seconds in 0\.\.86,400", _message(checks.WAIT_S, "-1"))
    assert re.fullmatch(r"'gpu'; allowed: cpu, cuda, cuda:N", _message(checks.DEVICE_RULE, "gpu"))


def _message(rule, text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError) as e:
        rule.option(text)
    return str(e.value)


def test_the_restated_bounds_equal_their_sources():
    from pruning import model_spec, user_model

    from pruning.data import DATASETS

    assert checks.MAX_SIDE == user_model.MAX_SIDE and checks.IDENT.pattern == model_spec.IDENT.pattern
    assert all(repr(name) in checks.DATA.allowed for name in DATASETS)
