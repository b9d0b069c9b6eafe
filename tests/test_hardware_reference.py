"""The hardware YAML reference (docs/hardware.md), `presets --show` and the defaults `simulate` names.

The page, the validator and the resolved YAML all read the ``Rule`` tables of ``accel_models.hardware``; these
tests check that the committed page is the generated one, that the validator enforces exactly the bounds the
page states, that a shown preset loads back equal, and that a file's defaults are named."""

from dataclasses import MISSING, fields, replace
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accel_models.engines import ENGINE_REGISTRY
from accel_models.hardware import (
    ENGINES,
    SECTIONS,
    Accelerator,
    HardwareError,
    PEArray,
    accelerator_from_dict,
    load_accelerator,
    preset_names,
)
from accel_models.reference import (
    REGENERATE,
    defaults_line,
    defaults_used,
    fmt_value,
    hardware_reference,
    resolved_yaml,
)
from fileguard import load_unique_yaml, loads_unique_yaml
from sparsecodesign.cli import main

PARAMS = {e: ENGINE_REGISTRY[e].params for e in ENGINES if ENGINE_REGISTRY[e].params is not None}
PAGE = Path(__file__).resolve().parents[1] / "docs" / "hardware.md"
CLASSES = {"": Accelerator, **SECTIONS}
TOPOLOGY = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c1, 6, 6, 3, 3, 2, 4, 1,\n")


def yaml_fields(cls):
    """The dataclass fields that are YAML keys of the section (PEArray.params holds the engine's own keys)."""
    return [f for f in fields(cls) if not (cls is PEArray and f.name == "params")]


def _owner(sec, name, acc):
    """The class whose field ``name`` of section ``sec`` is: the section's, or pe's engine parameter class."""
    cls = CLASSES[sec]
    return type(acc.pe.params) if cls is PEArray and name not in cls.RULES else cls


def _default(cls, name):
    f = cls.__dataclass_fields__[name]
    return f.default if f.default is not MISSING else f.default_factory()


# ------------------------------------------------------------ the page
def test_reference_page_is_the_generated_one():
    assert PAGE.read_text() == hardware_reference(), f"docs/hardware.md differs from the code: run `{REGENERATE}`"


def test_every_field_has_a_rule_and_a_row():
    page = hardware_reference()
    for cls in {Accelerator, *SECTIONS.values(), *PARAMS.values()}:
        assert list(cls.RULES) == [f.name for f in yaml_fields(cls)], cls.__name__
        for f in yaml_fields(cls):
            assert f"| `{f.name}` |" in page, f"{cls.__name__}.{f.name} has no row"
    assert "No DRAM type sets `bandwidth_bits_per_cycle`" in page


def test_the_validator_reads_the_same_rule_as_the_page(monkeypatch):
    narrow = replace(PEArray.RULES["rows"], hi=8)
    monkeypatch.setattr(PEArray, "RULES", MappingProxyType({**PEArray.RULES, "rows": narrow}))
    assert "an integer 1..8 |" in hardware_reference()
    with pytest.raises(HardwareError, match=r"pe: field 'rows'=16; allowed: an integer > 0 and <= 8"):
        accelerator_from_dict({"name": "x", "pe": {"rows": 16}})


def _edges(rule, section_obj):
    """(accepted, refused) values at the bounds a rule states."""
    k, lo, hi = rule.kind, rule.lo, rule.hi
    if k in ("number", "integer"):
        step = 1 if k == "integer" else None
        ok = [x for x in (hi, lo, 0 if rule.zero_ok else None) if x is not None]
        bad = [hi + 1 if step else hi * 1.001] if hi is not None else []
        bad += [lo - 1 if step else lo * 0.999] if lo is not None else [-1 if rule.zero_ok else 0]
        bad += [True, float("nan"), [1]] if k == "number" else [True, 1.5]
        return ok, bad
    if k == "int_in":
        top = getattr(section_obj, rule.hi_field) if rule.hi_field else hi
        return [lo, top], [lo - 1, top + 1, True, float(lo)]
    if k == "number_in":
        return [lo, hi], [lo - 0.01, hi + 0.01, True]
    if k == "choice":
        return list(rule.choices), ["no-such-value", True]
    if k == "flag":
        return [True, False], ["true", 1]
    if k == "pair":
        if rule.ordered:
            return [[1, 1], [1, hi], [hi, hi]], [[2, 1], [0, 1], [hi + 1, hi + 1], [1], [1, True]]
        return [[1, hi], [hi, 1]], [[0, 1], [1, hi + 1], [1, 2, 3]]
    if k == "int_list":
        return [[lo], [hi], [lo, hi], hi], [[], [hi + 1], [lo - 1], [True]]
    if k == "text":
        return (["a", "a" * hi], ["a" * (hi + 1)]) if hi is not None else ([""], [5])
    return [], []


FIELDS = [(sec, f.name) for sec, cls in CLASSES.items() for f in yaml_fields(cls)   # glb stands for every buffer
          if cls.RULES[f.name].kind != "section" and not sec.endswith("_sram")]
FIELDS += [(f"pe:{e}", f.name) for e, cls in PARAMS.items() for f in fields(cls)]   # an engine's own pe: keys


@pytest.mark.parametrize("section, name", FIELDS, ids=[f"{s or 'top'}.{n}" for s, n in FIELDS])
def test_the_validator_enforces_the_bounds_the_page_states(section, name):
    section, _, engine = section.partition(":")
    cls = PARAMS[engine] if engine else CLASSES[section]
    rule = cls.RULES[name]
    ok, bad = _edges(rule, cls() if section else None)

    def build(value):
        data = {"name": "x"}
        if section == "fpga" or (not section and name == "platform" and value == "fpga"):
            data["fpga"] = {}
        if section == "memory" and name == "organization" and value == "per_operand":
            data.update({f"{op}_sram": {} for op in ("ifmap", "filter", "ofmap")})
        if section:
            data[section] = {name: value, **({"engine": engine} if engine else {})}
        else:
            data[name] = value
        return accelerator_from_dict(data)

    for value in ok:
        try:
            build(value)
        except HardwareError as e:   # only an FPGA that no longer fits may refuse a documented value
            assert "does not fit" in str(e), f"{section}.{name}={value!r} is documented as allowed: {e}"
    for value in bad:
        with pytest.raises(HardwareError, match=repr(name)):
            build(value)


# ------------------------------------------------------------ presets --show
@pytest.mark.parametrize("name", preset_names())
def test_show_prints_every_field_and_loads_back_equal(name, tmp_path, capsys):
    assert main(["presets", "--show", name]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "copy.yaml"
    path.write_text(text)
    acc = load_accelerator(name)
    assert load_accelerator(path) == acc
    data = load_unique_yaml(path)
    for sec, cls in CLASSES.items():
        if sec and data.get(sec) is not None:
            own = list(fields(type(acc.pe.params))) if sec == "pe" and acc.pe.params is not None else []
            assert list(data[sec]) == [f.name for f in yaml_fields(cls) + own], sec
    assert [k for k in data if k not in SECTIONS] == [f.name for f in fields(Accelerator) if f.name not in SECTIONS]
    assert defaults_used(data, acc) == ()    # nothing left to a default


def test_show_fills_a_user_files_defaults(tmp_path, capsys):
    one = tmp_path / "one.yaml"
    one.write_text("dram: {kind: ddr3}\n")
    assert main(["presets", "--show", str(one)]) == 0
    full = tmp_path / "full.yaml"
    full.write_text(capsys.readouterr().out)
    assert load_accelerator(full) == load_accelerator(one)
    assert load_unique_yaml(full)["clock_hz"] == _default(Accelerator, "clock_hz")


def test_show_unknown_name_is_one_line_listing_the_presets(capsys):
    assert main(["presets", "--show", "tpu_v9"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "'tpu_v9'" in err
    assert all(n in err for n in preset_names())


# ------------------------------------------------------------ defaults a file used
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(preset_names()), data=st.data())
def test_defaults_used_names_exactly_the_fields_left_out(name, data, tmp_path_factory):
    path = tmp_path_factory.mktemp("hw") / "full.yaml"
    path.write_text(resolved_yaml(load_accelerator(name)))
    full = load_unique_yaml(path)
    keys = [(s, f) for s in full if isinstance(full[s], dict) for f in full[s]] + [
        ("", k) for k in full if not isinstance(full[k], dict)]
    removed = set(data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=12)))
    cut = {k: ({f: v for f, v in full[k].items() if (k, f) not in removed} if isinstance(full[k], dict) else
               full[k]) for k in full if ("", k) not in removed}
    try:
        acc = accelerator_from_dict(cut, name="full")
    except HardwareError:   # a default that clashes with another field (e.g. organization): refused, no line
        assume(False)
    got = defaults_used(cut, acc)
    paths = {p for p, _ in got}
    assert paths <= {f"{s}.{f}" if s else f for s, f in removed}
    for p, value in got:
        sec, _, f = p.rpartition(".")
        assert value == _default(_owner(sec, f, acc), f), p
    for s, f in removed:   # every removed field the model reads on any engine is named
        owner = _owner(s, f, acc)
        if f not in getattr(owner, "RULES", {}):   # a parameter of the engine the file named, `pe.engine` removed
            continue
        rule = owner.RULES[f]
        if rule.kind == "text" or rule.optional or rule.used_when or (s and getattr(acc, s) is None):
            continue
        if s == "glb" and acc.memory.organization != "shared":
            continue
        assert (f"{s}.{f}" if s else f) in paths, (s, f)


def test_simulate_names_the_defaults_a_file_relied_on(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text(TOPOLOGY)
    one = tmp_path / "one.yaml"
    one.write_text("name: mine\ndram: {kind: ddr3}\n")
    given = tmp_path / "given.yaml"
    given.write_text("name: given\nclock_hz: 5.0e+8\ndram: {kind: ddr3, bandwidth_bits_per_cycle: 64}\n")
    rc = main(["simulate", "--topology", str(topo), "--hw", f"{one},{given},tpu_like", "--out", str(tmp_path / "o")])
    assert rc == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("hardware ")]
    assert len(lines) == 2                                   # the two files; the preset prints none
    first, second = lines
    clock = fmt_value(_default(Accelerator, "clock_hz"))
    bandwidth = fmt_value(_default(SECTIONS["dram"], "bandwidth_bits_per_cycle"))
    assert first.startswith(f"hardware {one}: defaults used for ") and first.endswith("(docs/hardware.md)")
    assert f"clock_hz={clock}" in first
    assert f"bandwidth_bits_per_cycle={bandwidth} (dram.kind does not set it: give it)" in first
    assert "kind=" not in first and "name=" not in first        # given fields and text fields are not named
    assert "clock_hz" not in second and "bandwidth_bits_per_cycle" not in second and "dram: latency_cycles" in second


def test_dram_kind_sets_energy_not_bandwidth():
    a, b = (accelerator_from_dict({"name": "x", "dram": {"kind": k}}) for k in ("ddr3", "hbm2"))
    assert a.dram.pj_per_bit != b.dram.pj_per_bit
    assert a.dram.bandwidth_bits_per_cycle == b.dram.bandwidth_bits_per_cycle   # no cited per-kind bandwidth


def test_defaults_line_counts_what_it_cannot_list():
    many = [(f"pe.f{i}", 10 ** 6 + i) for i in range(200)]
    line = defaults_line("x.yaml", many)
    assert line.count("\n") == 0 and len(line) < 800
    shown = line.count("=")
    assert f"and {200 - shown} more (`sparsesim presets --show x.yaml`" in line
    assert defaults_line("x.yaml", ()) == ""


@settings(max_examples=80, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80),
       description=st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
       clock_hz=st.floats(1e3, 1e13), preset=st.sampled_from(preset_names()))
def test_resolved_yaml_reads_back_equal_for_any_text_and_number(name, description, clock_hz, preset):
    acc = replace(load_accelerator(preset), name=name, description=description, clock_hz=clock_hz)
    assert accelerator_from_dict(loads_unique_yaml(resolved_yaml(acc))) == acc
