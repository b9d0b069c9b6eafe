"""Fuzzing the loaders and the CLI against the documented ranges (docs/config.md, docs/hardware.md).

Each test mutates one value of something valid and checks both directions: a value outside the documented
range is refused with one line naming it, and nothing escapes ``main()`` but an exit code.  Nothing trains:
prune and compare runs are made to stop at a later validation step, simulate prices a one-layer topology.
"""

import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accel_models.engines import ENGINE_REGISTRY
from accel_models.hardware import (
    ENGINE_ALIASES,
    ENGINES,
    FPGA_PARTS,
    SECTIONS,
    Accelerator,
    HardwareError,
    _presets_dir,
    accelerator_from_dict,
    preset_names,
)
from accel_models.tech import DRAM_PJ_PER_BIT, NODE_ENERGY_FACTOR
from fileguard import load_unique_yaml
from sparsecodesign.cli import main
from analysis.compare_config import STRUCTURES, CompareConfig, CompareError
from pruning.config import METHODS, ConfigError, PruneConfig
from pruning.quantizers import SCHEMES
from pruning.structures import KINDS

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FUZZ_IN_PROCESS = settings(max_examples=150, deadline=None)  # loaders only: about 10 ms an example

EDGES = [0, 1, -1, 2, 3, 4, 8, 16, 17, 32, 33, 64, 65, 1024, 1025, 65_536, 65_537, 100_000, 100_001, 2**20,
         2**20 + 1, 2**24, 2**24 + 1, 2**30, 2**32 - 1, 2**32, 2**40, 2**40 + 1, 10**9, 10**9 + 1, 10**12, 2**64,
         0.0, 0.5, 0.999, 1.0, 1.5, -0.5, 1e-300, 1e-6, 1e-7, 1e-3, 9e-4, 1e3, 999.0, 1e6, 1.1e6, 1e9, 1.1e9, 1e13,
         1.1e13, math.nan, math.inf, -math.inf]
values = st.one_of(
    st.sampled_from(EDGES), st.integers(-5, 70_000), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["false", "true", "1e3", "nan", "", "filter", "eie", "ws", "x" * 200]),
    st.text(max_size=6), st.booleans(), st.none(), st.just([]), st.lists(st.integers(-2, 40), max_size=3),
    st.lists(st.sampled_from([0.25, 0.5, 1.0, 2.0, math.nan]), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


# ----------------------------------------------------------------- oracles
def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _with_edges(check, edges):
    check.edges = [e for e in edges if e is None or math.isfinite(e)]
    return check


def num_in(lo, hi, lo_open=False, hi_open=False):
    """A finite number in the range; ``.edges``: the bounds and the floats just outside them."""
    return _with_edges(lambda v: is_num(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi),
                       [lo, hi, math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf), lo / 2, hi * 2])


def int_in(lo, hi):
    return _with_edges(lambda v: is_int(v) and lo <= v <= hi, [lo, hi, lo - 1, hi + 1, float(lo)])


def opt(check):
    return _with_edges(lambda v: v is None or check(v), [None, *getattr(check, "edges", [])])


def edge_values(check):
    """Generic values, or (half the time) the check's own bounds and their neighbours."""
    edges = getattr(check, "edges", [])
    return st.one_of(values, st.sampled_from(edges)) if edges else values


def one_of(*allowed):
    return lambda v: isinstance(v, str) and v in allowed


def pair(hi, ordered=False):
    return lambda v: (isinstance(v, list) and len(v) == 2 and all(int_in(1, hi)(i) for i in v)
                      and (not ordered or v[0] <= v[1]))


def schedule(v) -> bool:
    s = v if isinstance(v, list) else [v]
    return bool(s) and all(num_in(0, 1, lo_open=True)(x) for x in s) and all(a < b for a, b in zip(s, s[1:])) \
        and s[-1] == 1


def is_bool(v) -> bool:
    return isinstance(v, bool)


POSITIVE = num_in(0, math.inf, lo_open=True)
RHO = num_in(0, 1.0, lo_open=True)        # an initial rho is at most VALID_PRUNE's admm.rho_max (1.0)
RHO_MAX = num_in(0.01, math.inf)          # rho_max at least VALID_PRUNE's largest initial rho (fc1's 0.01)
WEIGHT_BITS = _with_edges(lambda v: is_int(v) and (1 <= v <= 16 or v == 32), [0, 1, 16, 17, 31, 32, 33, 8.0])
LAYER = {"type": one_of(*KINDS), "ratio": num_in(0, 1, hi_open=True), "block": pair(65_536),
         "nm": pair(1024, ordered=True), "bits": opt(WEIGHT_BITS), "quant": one_of(*SCHEMES),
         "zero_level": is_bool, "rho": opt(RHO)}
PRUNE = {
    ("method",): one_of(*METHODS), ("seed",): int_in(0, 2**32 - 1), ("pretrain_epochs",): int_in(0, 100_000),
    ("retrain_epochs",): int_in(0, 100_000), ("retrain_lr",): opt(POSITIVE), ("group_lasso",): num_in(0, math.inf),
    ("train", "optimizer"): one_of("sgd", "adam"), ("train", "lr"): POSITIVE, ("train", "momentum"): num_in(0, 1),
    ("train", "weight_decay"): num_in(0, math.inf), ("train", "batch_size"): int_in(1, 2**20),
    ("admm", "schedule"): schedule, ("admm", "rounds"): int_in(0, 10_000), ("admm", "epochs_per_round"):
    int_in(1, 100_000), ("admm", "rho"): RHO, ("admm", "rho_multiplier"): num_in(1, math.inf),
    ("admm", "rho_max"): RHO_MAX, ("admm", "lr"): opt(POSITIVE), ("admm", "eps"): opt(num_in(0, 1, lo_open=True)),
    ("distill", "weight"): num_in(0, 1, lo_open=True), ("distill", "temperature"): num_in(0, 100, lo_open=True),
    **{("defaults", k): c for k, c in LAYER.items()}, **{("layers", "fc1", k): c for k, c in LAYER.items()},
}
VALID_PRUNE = {
    "method": "admm", "seed": 0, "pretrain_epochs": 1, "retrain_epochs": 1, "retrain_lr": 0.001,
    "group_lasso": 1e-4,
    "train": {"optimizer": "adam", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 64},
    "admm": {"schedule": [0.5, 1.0], "rounds": 2, "epochs_per_round": 1, "rho": 0.001, "rho_multiplier": 1.3,
             "rho_max": 1.0, "lr": 0.001, "eps": 0.01},
    "distill": {"weight": 0.5, "temperature": 4.0},
    "defaults": {"type": "nonstructured", "ratio": 0.0, "block": [4, 4], "nm": [2, 4], "bits": 8,
                 "quant": "uniform", "zero_level": True, "rho": None},
    "layers": {"fc1": {"type": "filter", "ratio": 0.5, "block": [4, 4], "nm": [2, 4], "bits": 4, "quant": "pow2",
                       "zero_level": False, "rho": 0.01}},
}


def mutated(base: dict, path: tuple, value) -> dict:
    d = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
    node = d
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return d


def one_line(message: str) -> None:
    assert "\n" not in message and len(message) < 600, message


# ------------------------------------------------------- (a) prune configs
def test_the_valid_prune_config_is_valid():
    assert PruneConfig.from_dict(VALID_PRUNE).layers[0][0] == "fc1"


@FUZZ_IN_PROCESS
@given(st.data())
def test_prune_config_fields_accept_exactly_their_documented_range(data):
    path = data.draw(st.sampled_from(sorted(PRUNE)))
    _judge_prune(path, data.draw(edge_values(PRUNE[path])))


JUNK = [None, True, False, "false", "1", math.nan, math.inf, -math.inf, [], [1], {}, "x" * 300]


@pytest.mark.parametrize("path", sorted(PRUNE), ids=".".join)
def test_prune_config_field_bounds(path):
    for value in [*getattr(PRUNE[path], "edges", []), *JUNK]:
        _judge_prune(path, value)


def _judge_prune(path, value):
    config = mutated(VALID_PRUNE, path, value)
    try:
        PruneConfig.from_dict(config)
    except ConfigError as e:
        one_line(str(e))
        assert not PRUNE[path](value), f"{path}={value!r} is documented as allowed but refused: {e}"
        assert repr(path[-1]) in str(e), str(e)
        return
    assert PRUNE[path](value), f"{path}={value!r} is outside the documented range but was accepted"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(sorted(PRUNE)), value=values)
def test_prune_cli_refuses_out_of_range_configs_before_any_work(tmp_path_factory, path, value):
    d = tmp_path_factory.mktemp("prune")
    cfg = d / "c.yaml"
    cfg.write_text(yaml.safe_dump(mutated(VALID_PRUNE, path, value)))
    reread = load_unique_yaml(cfg)  # the oracle judges what the YAML says (1e3 unquoted is a number)
    node = reread
    for k in path:
        node = node[k]
    # --dataset mnist without --data-dir: a config that passes stops at the data set, before any training
    rc = main(["prune", "--dataset", "mnist", "--config", str(cfg), "--out", str(d / "out"), "--quiet"])
    assert rc == 2
    assert not (d / "out" / "manifest.json").exists()


# --------------------------------------------------------- (b) hardware
def _hw_field_checks(d: dict) -> dict:
    """Documented range of every hardware field (docs/hardware.md), written out independently of its Rules."""
    rate = num_in(1e-3, 1e9)
    pj = opt(num_in(0, 1e9))
    dram_energy = (d.get("dram") or {}).get("energy_pj_per_bit")
    buf = {"capacity_bytes": int_in(1, 2**40), "banks": int_in(1, 2**20), "width_bits": int_in(1, 65_536),
           "read_pj": pj, "write_pj": pj, "min_access_bits": opt(int_in(1, 65_536))}
    return {
        "name": lambda v: v is None or v == "" or (isinstance(v, (str, int)) and not isinstance(v, bool)
                                                   and 0 < len(str(v)) <= 80),
        "platform": one_of("asic", "fpga"),
        "clock_hz": lambda v: num_in(1e3, 1e13)(_as_float(v)),
        "energy_scale": lambda v: num_in(1e-6, 1e6)(_as_float(v)),
        "tech_node_nm": lambda v: is_int(v) and v in NODE_ENERGY_FACTOR,
        "description": lambda v: isinstance(v, str),
        "pe": {"engine": one_of(*ENGINES, "sparse"), "rows": int_in(1, 65_536), "cols": int_in(1, 65_536),
               "dataflow": one_of("ws", "os", "is"),
               "weight_bits": lambda v: (lambda b: bool(b) and all(int_in(1, 32)(x) for x in b))(
                   v if isinstance(v, list) else [v]),
               "act_bits": int_in(1, 64), "acc_bits": int_in(1, 64),
               "zero_handling": one_of("none", "gating", "skipping"), "gated_mac_fraction": num_in(0, 1),
               "mac_pj": pj, "clock_pj_per_pe_cycle": pj, "compact_zero_rows_cols": is_bool,
               "nm": pair(1024, ordered=True),
               "index_bits": int_in(1, 32), "decode_entries_per_cycle": num_in(1e-3, 1e6),
               "macs_per_pe_per_cycle": int_in(1, 1024), "fifo_depth": int_in(1, 65_536),
               "act_broadcast_per_cycle": num_in(1e-3, 1e6), "skip_empty_columns": is_bool,
               "distribution_bw_words": opt(int_in(1, 2**24)), "reduction_bw_words": opt(int_in(1, 2**24)),
               "iteration_overhead_cycles": int_in(0, 2**20), "cartesian": pair(1024),
               "channel_group": int_in(1, 65_536), "filter_spad_words": int_in(1, 2**20),
               "ifmap_spad_words": int_in(1, 2**20), "psum_spad_words": int_in(1, 2**20),
               "rlc_run_bits": int_in(0, 16), "rlc_word_bits": int_in(2, 4096)},
        "memory": {"organization": one_of("shared", "per_operand"), "double_buffered": is_bool,
                   "weights": one_of("streamed", "resident", "auto"),
                   "activations": one_of("streamed", "resident", "auto"),
                   "convention": one_of("native", "scalesim", "zigzag")},
        "dram": {"kind": (one_of(*DRAM_PJ_PER_BIT) if dram_energy is None else
                          lambda v: isinstance(v, str) and len(v) <= 80),
                 "bandwidth_bits_per_cycle": rate, "latency_cycles": int_in(0, 10**9),
                 "energy_pj_per_bit": opt(num_in(0, 1e9, lo_open=True)),
                 "write_energy_pj_per_bit": opt(num_in(0, 1e9, lo_open=True)),
                 "interfaces": one_of("shared", "per_operand"), "ifmap_bits_per_cycle": opt(rate),
                 "filter_bits_per_cycle": opt(rate), "ofmap_bits_per_cycle": opt(rate), "stall_free": is_bool},
        "glb": buf, "ifmap_sram": buf, "filter_sram": buf, "ofmap_sram": buf,
        "rf": {"capacity_bytes": int_in(1, 2**30), "width_bits": int_in(1, 65_536), "access_pj": pj,
               "weight_access_pj": pj, "act_access_pj": pj, "psum_access_pj": pj},
        "fpga": {"part": one_of(*FPGA_PARTS), "macs_per_dsp": int_in(1, 64), "lut_per_pe": int_in(0, 10**9),
                 "lut_per_decoder": int_in(0, 10**9), "lut_base": int_in(0, 10**9),
                 "arithmetic": one_of("fixed", "fp32")},
    }


def _as_float(v):
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


# errors about how fields combine (not one field's range): a documented value may still meet one of these
CROSS_FIELD = re.compile(r"rows\*cols|fifo_depth x rows x cols|does not fit|needs sections|need memory.organization|"
                         r"models systolic arrays only|needs an 'fpga' section|'min_access_bits'|field 'kind'|"
                         r"belongs to engine")
PRESETS = {n: load_unique_yaml(_presets_dir() / f"{n}.yaml") for n in preset_names()}


def section_keys(name: str, sec: str) -> list[str]:
    """The YAML keys of section ``sec`` of preset ``name``: its class's fields; for ``pe`` without ``params``
    and with the preset engine's own fields (accel_models.engines)."""
    keys = [f for f in SECTIONS[sec].__dataclass_fields__ if f != "params"]
    if sec == "pe":
        engine = (PRESETS[name].get("pe") or {}).get("engine", "systolic")
        keys += list(ENGINE_REGISTRY[ENGINE_ALIASES.get(engine, engine)].param_fields())
    return keys


@st.composite
def hardware_mutation(draw):
    name = draw(st.sampled_from(sorted(PRESETS)))
    data = PRESETS[name]
    top = draw(st.sampled_from(["field", "section"]))
    if top == "field":
        path = (draw(st.sampled_from(["name", "platform", "clock_hz", "energy_scale", "tech_node_nm",
                                      "description"])),)
    else:
        sections = [s for s in SECTIONS if s in data or s in ("pe", "memory", "dram", "glb", "rf")]
        sec = draw(st.sampled_from(sections))
        field = draw(st.sampled_from(section_keys(name, sec)))
        path = (sec, field)
    checks = _hw_field_checks(data)
    return name, path, draw(edge_values(checks[path[0]] if len(path) == 1 else checks[path[0]][path[1]]))


def _judge_hardware(name, path, value, build):
    data = yaml.safe_load(yaml.safe_dump(PRESETS[name]))
    node = data
    for k in path[:-1]:
        node = node.setdefault(k, {}) if node.get(k) is not None else node.setdefault(k, {})
    node[path[-1]] = value
    checks = _hw_field_checks(data)
    check = checks[path[0]] if len(path) == 1 else checks[path[0]][path[1]]
    try:
        a = build(data)
    except HardwareError as e:
        one_line(str(e))
        if check(value):
            assert CROSS_FIELD.search(str(e)), f"{path}={value!r} is documented as allowed but refused: {e}"
        return False
    assert isinstance(a, Accelerator)
    assert check(value), f"{name}: {path}={value!r} is outside the documented range but was accepted"
    return True


@FUZZ_IN_PROCESS
@given(hardware_mutation())
def test_hardware_fields_accept_only_their_documented_range(mutation):
    name, path, value = mutation
    _judge_hardware(name, path, value, lambda d: accelerator_from_dict(d, name=name))


HW_PATHS = [(n, (f,)) for n in ("eyeriss_like", "eie_like", "sigma_like")
            for f in ("name", "platform", "clock_hz", "energy_scale", "tech_node_nm", "description")] + [
    (n, (sec, f)) for n in ("eyeriss_like", "eie_like", "sigma_like") for sec in SECTIONS
    if sec in PRESETS[n] for f in section_keys(n, sec)]


@pytest.mark.parametrize("name, path", HW_PATHS, ids=[f"{n}:{'.'.join(p)}" for n, p in HW_PATHS])
def test_hardware_field_bounds(name, path):
    checks = _hw_field_checks(PRESETS[name])
    check = checks[path[0]] if len(path) == 1 else checks[path[0]][path[1]]
    for value in [*getattr(check, "edges", []), *JUNK]:
        _judge_hardware(name, path, value, lambda d: accelerator_from_dict(d, name=name))


CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


@pytest.fixture(scope="module")
def topology(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("topo") / "t.csv"
    p.write_text(CONV + "c1, 6, 6, 3, 3, 2, 4, 1,\n")
    return p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=hardware_mutation())
def test_simulate_with_fuzzed_hardware_yaml_exits_0_only_in_range(tmp_path_factory, topology, mutation):
    name, path, value = mutation
    d = tmp_path_factory.mktemp("hw")
    hw = d / "hw.yaml"

    def via_cli(data):
        hw.write_text(yaml.safe_dump(data))
        reread = load_unique_yaml(hw)
        node = reread
        for k in path:
            node = node[k]
        if node != value and not (isinstance(value, float) and math.isnan(value)):
            assume(False)  # YAML reads this value differently (e.g. the string '1e3' dumped unquoted)
        rc = main(["simulate", "--topology", str(topology), "--hw", str(hw), "--out", str(d / "o")])
        assert rc in (0, 2)
        if rc == 2:
            raise HardwareError("refused")  # the message was checked by the in-process test above
        return Accelerator("x")

    try:
        _judge_hardware(name, path, value, via_cli)
    except AssertionError as e:
        if "documented as allowed but refused" in str(e):
            return  # a one-line refusal (cross-field or the hardware's weight widths); the range test covers it
        raise


# ------------------------------------------------------- (c) CLI options
def _int_text(lo, hi):
    def documented(text):
        try:
            return lo <= int(text) <= hi
        except ValueError:
            return False
    return documented


def _float_text(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


option_text = st.one_of(st.sampled_from([str(v) for v in EDGES]), st.integers(-10, 70_000).map(str),
                        st.sampled_from(["", " 3", "+2", "1.5", "0x10", "nan", "inf", "-inf", "1e3", "cuda:0",
                                         "cpu", "gpu", "cuda", "filter", "filter,nm", ",", "filter,,nm",
                                         "eie_like", "eie_like,eie_like", "tpu_like,eie_like", "abc"]),
                        st.text(alphabet="0123456789-+.,e ", max_size=6))

def _bits_text(text) -> bool:
    """A weight bit-width as documented: 1..16, or 32 (float)."""
    return _int_text(1, 32)(text) and (int(text) <= 16 or int(text) == 32)


SIMULATE = {"--batch": _int_text(1, 65_536), "--bits": _bits_text,
            "--seed": _int_text(0, 2**32 - 1), "--act-seed": _int_text(0, 2**32 - 1)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(SIMULATE)), text=option_text)
def test_simulate_options_exit_0_only_in_their_documented_range(tmp_path_factory, topology, capsys, option, text):
    out = tmp_path_factory.mktemp("sim")
    rc = main(["simulate", "--topology", str(topology), "--hw", "eie_like", "--out", str(out), f"{option}={text}"])
    err = capsys.readouterr().err.strip().splitlines()
    if rc == 0:
        assert SIMULATE[option](text), f"{option} {text!r} is outside the documented range but was accepted"
        assert err == []
    else:
        assert rc == 2 and len(err) == 1 and err[0].startswith("sparsesim simulate: error: ")
        if not SIMULATE[option](text):
            assert option in err[0], err[0]


PRUNE_OPTIONS = {"--threads": _int_text(1, 1024), "--seed": _int_text(0, 2**32 - 1),
                 "--pretrain-epochs": _int_text(0, 100_000), "--workers": _int_text(0, 64),
                 "--device": lambda t: t == "cpu"}  # cuda needs a CUDA device; refused here otherwise


@FUZZ
@given(option=st.sampled_from(sorted(PRUNE_OPTIONS)), text=option_text)
def test_prune_options_are_refused_out_of_range_and_passed_in_range(tmp_path_factory, capsys, option, text):
    d = tmp_path_factory.mktemp("po")
    cfg = d / "c.yaml"
    cfg.write_text("defaults: {zero_level: 'false'}\n")  # fails after the options: nothing trains
    rc = main(["prune", "--config", str(cfg), "--out", str(d / "out"), f"{option}={text}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("sparsesim prune: error: ")
    if PRUNE_OPTIONS[option](text) and option != "--workers":   # --workers is for imagefolder: refused for digits
        assert "zero_level" in err[0], err[0]
    elif not (option == "--device" and re.fullmatch(r"cuda(:\d{1,3})?", text)):
        assert option in err[0], err[0]
    else:
        assert "--device" in err[0] or "zero_level" in err[0]


def _names_text(allowed):
    def documented(text):
        names = [n.strip() for n in text.split(",")]
        return all(names) and len(set(names)) == len(names) and all(n in allowed for n in names)
    return documented


COMPARE_OPTIONS = {
    "--tolerance": lambda t: _float_text(t) and 0 < float(t) < 100,
    "--tie-threshold": lambda t: _float_text(t) and 0 <= float(t) < 1,
    "--jobs": _int_text(1, 64), "--seed": _int_text(0, 2**32 - 1), "--threads": _int_text(1, 1024),
    "--bits": _bits_text,
    "--structures": _names_text(STRUCTURES), "--presets": _names_text(preset_names()),
}


@FUZZ
@given(option=st.sampled_from(sorted(COMPARE_OPTIONS)), text=option_text)
def test_compare_options_are_refused_out_of_range_and_passed_in_range(tmp_path_factory, capsys, option, text):
    d = tmp_path_factory.mktemp("co")
    cfg = d / "c.yaml"
    # a field CompareConfig checks after the option's (it owns the flags' checks too): refused after every option
    last = "hil_probes" if option == "--bits" else "breakeven_bits"
    cfg.write_text("hil_probes: 0\n" if option == "--bits" else "breakeven_bits: [4]\n")
    rc = main(["compare", "--config", str(cfg), "--out", str(d / "out"), f"{option}={text}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("sparsesim compare: error: ")
    field = {"--tolerance": "tolerance_pp", "--tie-threshold": "tie_threshold"}.get(option, option.lstrip("-"))
    if COMPARE_OPTIONS[option](text):
        assert last in err[0], err[0]
    else:
        assert option in err[0] or f"{field}" in err[0], err[0]
    assert not (d / "out").exists()


@FUZZ
@given(text=option_text)
def test_sweep_workers_option(tmp_path_factory, capsys, text):
    d = tmp_path_factory.mktemp("sw")
    rc = main(["sweep", str(d / "missing.yaml"), f"--workers={text}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("sparsesim sweep: error: ")
    if _int_text(1, 256)(text):
        assert "missing.yaml" in err[0] and "--workers" not in err[0]
    else:
        assert "--workers" in err[0]


# ------------------------------------------------------- compare config
COMPARE_FIELDS = {
    "structures": lambda v: (lambda s: bool(s) and all(isinstance(x, str) and x in STRUCTURES for x in s)
                             and len(set(map(repr, s))) == len(s))(v if isinstance(v, list) else [v]),
    "tolerance_pp": num_in(0, 100, lo_open=True, hi_open=True), "ladder":
        lambda v: (lambda s: bool(s) and all(num_in(0, 1, hi_open=True)(x) for x in s) and s == sorted(s)
                   and len(set(map(repr, s))) == len(s))(v if isinstance(v, list) else [v]),
    "bits": lambda v: is_int(v) and (1 <= v <= 16 or v == 32), "bisections": int_in(0, 20),
    "measure_cpu": is_bool, "batch": int_in(1, 65_536), "seed": int_in(0, 2**32 - 1),
    "act_seed": int_in(0, 2**32 - 1),
    "validation_fraction": num_in(0, 0.5, lo_open=True, hi_open=True),
    # the training recipe: pruning.config's ranges (lr > 0; rho up to its admm.rho_max, 10)
    "lr": _with_edges(lambda v: is_num(v) and v > 0, [0, math.nextafter(0, 1), -1.0, 1e300]),
    "rho": num_in(0, 10, lo_open=True), "admm_rounds": int_in(0, 10_000), "retrain_epochs": int_in(0, 100_000),
    "batch_size": int_in(1, 1 << 20), "calibrate_images": int_in(0, 1_000_000),
    "tie_threshold": num_in(0, 1, hi_open=True), "budget_min_keep": num_in(0, 1, hi_open=True),
    "hil_probes": int_in(1, 8), "jobs": int_in(1, 64), "pretrain_epochs": int_in(0, 100_000),
    "epochs_per_round": int_in(1, 100_000), "block": pair(65_536), "nm": pair(1024, ordered=True),
}


@FUZZ_IN_PROCESS
@given(st.data())
def test_compare_config_fields_accept_exactly_their_documented_range(data):
    field = data.draw(st.sampled_from(sorted(COMPARE_FIELDS)))
    _judge_compare(field, data.draw(edge_values(COMPARE_FIELDS[field])))


@pytest.mark.parametrize("field", sorted(COMPARE_FIELDS))
def test_compare_config_field_bounds(field):
    for value in [*getattr(COMPARE_FIELDS[field], "edges", []), *JUNK]:
        _judge_compare(field, value)


def _judge_compare(field, value):
    try:
        CompareConfig.from_dict({field: value})
    except CompareError as e:
        one_line(str(e))
        assert not COMPARE_FIELDS[field](value), f"{field}={value!r} is documented as allowed but refused: {e}"
        assert field in str(e)
        return
    assert COMPARE_FIELDS[field](value), f"{field}={value!r} is outside the documented range but was accepted"


@pytest.mark.parametrize("option", ["--seed", "--act-seed", "--batch"])
def test_an_option_given_dashes_as_its_value_is_refused_naming_it(option, topology, tmp_path, capsys):
    """argparse reads "--opt=--" as an empty list; the CLI refuses it like a missing value."""
    rc = main(["simulate", "--topology", str(topology), "--hw", "eie_like", "--out", str(tmp_path), f"{option}=--"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"sparsesim simulate: error: argument {option}: expected one argument "
                               "(see sparsesim simulate --help)"]
