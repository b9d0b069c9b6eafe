"""Engines and memory conventions as plug-ins: a toy engine from a temporary module, registered, loaded from a
YAML preset and priced through the analytical engine; its own Rule validates it; nothing leaks."""

import importlib
import sys
import textwrap

import numpy as np
import pytest

from accel_models import engines as hw_registry
from accel_models.hardware import HardwareError, accelerator_from_dict, load_accelerator
from sparsesim import engines as sim_engines
from sparsesim.analytical import evaluate
from sparsesim.conventions import (CONVENTION_MODELS, ENGINE_COST_MODELS, plugged_convention, register_convention,
                                   register_engine_costs, unregister_engine_costs)
from sparsesim.workload import LayerWorkload

TOY_PARAMS = '''
from dataclasses import dataclass
from types import MappingProxyType

from accel_models.hardware import EngineParams, Rule


@dataclass(frozen=True)
class ToyParams(EngineParams):
    speedup: int = 1

    RULES = MappingProxyType({"speedup": Rule("int_in", "MACs per PE-cycle", unit="x", lo=1, hi=64)})
'''

TOY_ENGINE = '''
import numpy as np

from sparsesim.demand import ComputeDemand, layer_stats, storage_width


def speedups(hw):
    return hw.param_array("toy", "speedup")


def demand(w, hw, idx):
    s = layer_stats(w)
    n = idx.size
    macs = float(s.M * s.K * w.columns)
    cycles = np.ceil(macs / (hw.pes[idx] * hw.engine_arrays("toy", speedups)[idx]))
    b = storage_width(hw, w.weight_bits, idx)
    return ComputeDemand.build(n, value_width=b, storage_weight_bits=s.M * s.K * b, macs_executed=macs,
                               macs_useful=macs, compute_cycles=cycles, gemm_m=s.M, gemm_k=s.K,
                               sram_ifmap_read_words=s.K * w.columns, sram_filter_read_words=s.M * s.K,
                               sram_ofmap_write_words=s.M * w.columns, filter_word_bits=b,
                               ifmap_words=s.K * w.columns, ofmap_words=s.M * w.columns,
                               ofmap_tile_words=s.M * w.columns)
'''


def toy_yaml(speedup) -> str:
    return textwrap.dedent(f"""\
        name: toy_chip
        pe: {{engine: toy, rows: 4, cols: 4, speedup: {speedup}}}
        dram: {{bandwidth_bits_per_cycle: 1.0e6, stall_free: true}}
        """)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy engine's two files in a temporary package on sys.path, registered for this test only."""
    (tmp_path / "toy_params.py").write_text(TOY_PARAMS)
    (tmp_path / "toy_engine.py").write_text(TOY_ENGINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    params, engine = importlib.import_module("toy_params"), importlib.import_module("toy_engine")
    with sim_engines.plugged_engine("toy", engine.demand, params.ToyParams, doc="a toy"):
        yield params
    for m in ("toy_params", "toy_engine"):
        sys.modules.pop(m, None)


def col(table, name):
    return [r[name] for r in table.rows()]


def layer():
    rng = np.random.default_rng(0)
    return LayerWorkload("fc", "linear", 32, 64, 1, rng.standard_normal((32, 64)).astype(np.float32),
                         weight_bits=8)


def test_toy_engine_priced_from_a_yaml_file(toy, tmp_path):
    cycles = {}
    for s in (1, 2, 4):
        f = tmp_path / f"toy{s}.yaml"
        f.write_text(toy_yaml(s))
        acc = load_accelerator(f)
        assert acc.pe.engine == "toy" and acc.pe.params == toy.ToyParams(speedup=s)
        assert "speedup" in acc.pe.all_rules()
        assert accelerator_from_dict(acc.to_dict()) == acc          # flat YAML round trip
        t = evaluate([layer()], [acc])
        cycles[s] = col(t, "compute_cycles")[0]
    assert cycles == {1: 32 * 64 / 16, 2: 32 * 64 / 32, 4: 32 * 64 / 64}


def test_toy_priced_beside_builtins_one_call(toy):
    toys = [accelerator_from_dict({"name": f"t{s}", "pe": {"engine": "toy", "rows": 4, "cols": 4, "speedup": s}})
            for s in (1, 8)]
    t = evaluate([layer()], [load_accelerator("tpu_like"), *toys, load_accelerator("eie_like")])
    c = col(t, "compute_cycles")
    assert c[1] == 8 * c[2] and c[0] > 0 and c[3] > 0


def test_toy_field_checked_by_its_own_rule(toy):
    with pytest.raises(HardwareError) as e:
        accelerator_from_dict({"name": "t", "pe": {"engine": "toy", "speedup": 0}})
    assert str(e.value) == "pe: field 'speedup'=0; allowed: an integer in 1..64"
    assert "\n" not in str(e.value)


def test_field_of_another_engine_is_one_clear_line(toy):
    with pytest.raises(HardwareError, match=r"^pe: field 'speedup' belongs to engine toy, not pe.engine="
                                            r"'systolic'; allowed: .*rows"):
        accelerator_from_dict({"name": "t", "pe": {"engine": "systolic", "speedup": 2}})
    with pytest.raises(HardwareError, match=r"unknown field\(s\) 'warp'"):
        accelerator_from_dict({"name": "t", "pe": {"engine": "toy", "warp": 2}})


def test_registries_inspectable_and_nothing_leaks(toy):
    assert "toy" in hw_registry.ENGINE_REGISTRY and "toy" in sim_engines.ENGINE_MODELS
    assert hw_registry.ENGINE_REGISTRY["toy"].param_fields() == ("speedup",)
    with pytest.raises(ValueError, match="registered already"):
        hw_registry.register_engine("toy")
    with pytest.raises(TypeError):
        hw_registry.ENGINE_REGISTRY["x"] = None          # a read-only view


def test_unregistered_engine_is_a_clear_error(toy):
    acc = accelerator_from_dict({"name": "t", "pe": {"engine": "toy", "speedup": 2}})
    sim_engines.unregister_engine("toy")
    with pytest.raises(HardwareError, match="pe.engine 'toy' has no demand function registered"):
        evaluate([layer()], [acc])


def test_after_the_toy_it_is_gone():
    assert "toy" not in hw_registry.ENGINE_REGISTRY and "toy" not in sim_engines.ENGINE_MODELS
    with pytest.raises(HardwareError, match=r"^pe: field 'engine'='toy'; allowed: systolic, nm, eie"):
        accelerator_from_dict({"name": "t", "pe": {"engine": "toy"}})
    with pytest.raises(HardwareError, match="unknown field"):
        accelerator_from_dict({"name": "t", "pe": {"engine": "systolic", "speedup": 2}})


def test_builtins_registered_the_same_way():
    assert set(hw_registry.engine_names()) >= {"systolic", "nm", "eie", "sigma", "scnn", "rowstationary"}
    assert set(sim_engines.ENGINE_MODELS) == set(hw_registry.engine_names())
    assert hw_registry.ENGINE_REGISTRY["scnn"].sparse and not hw_registry.ENGINE_REGISTRY["systolic"].sparse
    assert set(CONVENTION_MODELS) == {"scalesim", "zigzag"}


def test_convention_plugin(toy):
    def costs(w, d, hw, idx, resident):      # a convention that doubles native cycles
        from sparsesim.memory import native_traffic
        from sparsesim.timing import pipelined_timing
        t = native_traffic(d.take(idx), hw.take(idx), resident[idx], w.act_density)
        tm = pipelined_timing(d.take(idx), t, hw.take(idx))
        return t, type(tm)(**{k: getattr(tm, k) * 2 for k in tm.__dataclass_fields__})
    base = {"name": "t", "pe": {"engine": "toy", "speedup": 2}}
    with plugged_convention("double", costs, engines=("toy",)):
        native = col(evaluate([layer()], [accelerator_from_dict(base)]), "cycles")[0]
        doubled = evaluate([layer()], [accelerator_from_dict({**base, "memory": {"convention": "double"}})])
        assert col(doubled, "cycles")[0] == 2 * native
        with pytest.raises(HardwareError, match="models engines toy only"):
            accelerator_from_dict({"name": "s", "memory": {"convention": "double"}})
    with pytest.raises(HardwareError, match=r"field 'convention'='double'; allowed: native, scalesim, zigzag"):
        accelerator_from_dict({**base, "memory": {"convention": "double"}})
    with pytest.raises(ValueError, match="registered already"):
        register_convention("zigzag", costs)


def test_engine_costs_plugin_in_both_pricing_paths(toy):
    """An engine pricing its own traffic and timing (as rowstationary does) overrides every convention, in the
    one-layer path and the stacked (several layers) path alike."""
    def costs(w, d, hw, idx, resident):      # native costs, cycles doubled
        from sparsesim.memory import native_traffic
        from sparsesim.timing import pipelined_timing
        t = native_traffic(d.take(idx), hw.take(idx), resident[idx], w.act_density)
        tm = pipelined_timing(d.take(idx), t, hw.take(idx))
        return t, type(tm)(**{k: getattr(tm, k) * 2 for k in tm.__dataclass_fields__})
    assert ENGINE_COST_MODELS["rowstationary"].__module__ == "sparsesim.engines.rowstationary"
    accs = [load_accelerator("tpu_like"), accelerator_from_dict({"name": "t", "pe": {"engine": "toy", "speedup": 2}})]
    layers = [layer(), layer()]
    native = col(evaluate(layers, accs), "cycles")
    register_engine_costs("toy", costs)
    try:
        for ws in (layers[:1], layers):
            got = col(evaluate(ws, accs), "cycles")
            assert got[0::2] == native[0:len(got):2] and got[1::2] == [2 * c for c in native[1:len(got):2]]
        with pytest.raises(ValueError, match="has a costs function already"):
            register_engine_costs("toy", costs)
    finally:
        unregister_engine_costs("toy")
    assert "toy" not in ENGINE_COST_MODELS
    with pytest.raises(ValueError, match="no hardware registration"):
        register_engine_costs("nope", costs)


def test_demand_build_fills_neutral_values_and_refuses_unknown_fields():
    from sparsesim.demand import NEUTRAL, ComputeDemand
    d = ComputeDemand.build(3, compute_cycles=[1.0, 2.0, 3.0], macs_executed=5.0)
    assert d.compute_cycles.tolist() == [1.0, 2.0, 3.0] and d.macs_executed.tolist() == [5.0] * 3
    assert d.format.tolist() == ["dense"] * 3 and d.filter_passes.tolist() == [NEUTRAL["filter_passes"]] * 3
    assert d.sram_ofmap_read_words.tolist() == [0.0] * 3
    with pytest.raises(TypeError, match="unknown field.*cycles_total"):
        ComputeDemand.build(1, cycles_total=1.0)


def test_engine_arrays_built_once_per_hardware_set():
    from sparsesim.hwarrays import HardwareArrays
    hw = HardwareArrays.of([load_accelerator("sigma_like"), load_accelerator("tpu_like")])
    calls = []
    build = lambda h: calls.append(1) or np.arange(len(h))  # noqa: E731
    assert hw.engine_arrays("x", build) is hw.engine_arrays("x", build) and len(calls) == 1
    hw.take(np.array([1])).engine_arrays("x", build)        # a subset is another set: built afresh
    assert len(calls) == 2


def test_builtin_params_own_their_fields():
    a = load_accelerator("eie_like")
    assert a.pe.params.fifo_depth == 8 and not hasattr(a.pe, "fifo_depth")
    assert load_accelerator("sigma_like").pe.params.distribution_bw_words == 128
    assert load_accelerator("tpu_like").pe.params is None
    with pytest.raises(HardwareError, match=r"^pe: field 'fifo_depth' belongs to engine eie, not pe.engine='scnn'"):
        accelerator_from_dict({"name": "x", "pe": {"engine": "scnn", "fifo_depth": 4}})
