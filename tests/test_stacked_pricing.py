"""The analytical engine's one-pass paths give what pricing layer by layer and adding row by row give.

``evaluate`` prices every layer in one numpy pass (``compute_demands``, ``stacked_convention_costs``) and its
table adds its blocks with numpy (``CostTable.totals``); these check them, value for value, against the per-layer
``compute_demand`` / ``layer_costs`` and the row-by-row ``LayerCost.__add__``, on every preset and engine."""

import math
from dataclasses import asdict, fields

import numpy as np

from accel_models.hardware import accelerator_from_dict, load_accelerator, preset_names
from sparsesim.analytical import evaluate, layer_costs
from sparsesim.demand import ComputeDemand
from sparsesim.engines import compute_demand, compute_demands
from sparsesim.hwarrays import HardwareArrays
from sparsesim.memory import resident_weights
from sparsesim.results import COLUMNS, CostTable
from sparsesim.workload import LayerWorkload


def _layers():
    rng = np.random.default_rng(0)
    out = []
    for i, (m, k, n, kernel) in enumerate([(8, 18, 16, (3, 3)), (12, 8, 1, None), (6, 36, 16, (3, 3))]):
        w = (rng.standard_normal((m, k)) * (rng.random((m, k)) < 0.4)).astype(np.float32)
        geometry = {"kernel": kernel, "input_hw": (6, 6)} if kernel else {}
        out.append(LayerWorkload(f"l{i}", "conv2d" if kernel else "linear", m, k, n, w, weight_bits=8,
                                 act_density=0.7 if i else 1.0, geometry=geometry, batch=1 + i % 2,
                                 input_elems=(k // 9) * 36 if kernel else 0))
    return out


def _hardware():
    accs = [load_accelerator(p) for p in preset_names()]
    for i, engine in enumerate(["systolic", "nm", "eie", "sigma", "scnn"]):
        accs.append(accelerator_from_dict({"name": f"x{i}", "pe": {"engine": engine, "rows": 4, "cols": 4},
                                           "glb": {"capacity_bytes": 1024}}))
    return accs


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


def test_stacked_demands_equal_per_layer():
    ws, hw = _layers(), HardwareArrays.from_accelerators(_hardware())
    stacked = compute_demands(ws, hw)
    for i, w in enumerate(ws):
        one = compute_demand(w, hw)
        for f in fields(ComputeDemand):
            part = getattr(stacked, f.name)[i * len(hw):(i + 1) * len(hw)]
            assert np.array_equal(part, getattr(one, f.name)), f.name


def test_evaluate_rows_equal_layer_costs():
    ws, accs = _layers(), _hardware()
    table = evaluate(ws, accs)
    hw = HardwareArrays.from_accelerators(accs)
    demands = [compute_demand(w, hw) for w in ws]
    resident = resident_weights(hw, sum((d.storage_bits for d in demands), np.zeros(len(hw))))
    rows = table.rows()
    for i, (w, d) in enumerate(zip(ws, demands)):
        block = layer_costs(w, d, hw, resident)
        for j in range(len(hw)):
            row = rows[i * len(hw) + j]
            for k in COLUMNS:
                v = block[k][j]
                assert _same(row[k], v.item() if isinstance(v, np.generic) else v), (w.name, j, k)


def test_block_totals_equal_row_by_row_sum():
    ws, accs = _layers(), _hardware()
    table = evaluate(ws, accs)
    fast = table.totals()
    slow = CostTable(table.columns).totals()        # a plain table: added row by row
    assert list(fast) == list(slow) == [a.name for a in accs]
    for h in slow:
        a, b = asdict(fast[h]), asdict(slow[h])
        assert all(_same(a[k], b[k]) for k in COLUMNS), h
        assert fast[h] == slow[h] or any(isinstance(v, float) and math.isnan(v) for v in a.values())


def test_repeated_hardware_names_add_up_row_by_row():
    ws = _layers()
    acc = load_accelerator(preset_names()[0])
    totals = evaluate(ws, [acc, acc]).totals()
    one = evaluate(ws, [acc]).totals()[acc.name]
    assert list(totals) == [acc.name]
    assert _same(totals[acc.name].energy_pj, 2 * one.energy_pj) or math.isclose(
        totals[acc.name].energy_pj, 2 * one.energy_pj, rel_tol=1e-12)


def test_clock_column_is_per_cycle_and_in_the_total():
    """The per-cycle term (``pe.clock_pj_per_pe_cycle`` x PEs x cycles, stalls included) in the one-pass table
    (equal to the per-layer path by ``test_evaluate_rows_equal_layer_costs``) and inside ``energy_pj``; 0 where
    the hardware does not model it."""
    ws, accs = _layers(), _hardware()
    rows = evaluate(ws, accs).rows()
    assert len(rows) == len(ws) * len(accs)
    parts = ("energy_dram_pj", "energy_sram_pj", "energy_rf_pj", "energy_mac_pj", "energy_index_pj", "energy_clock_pj")
    clocked = 0
    for i, r in enumerate(rows):
        a = accs[i % len(accs)]
        per_cycle = (a.pe.clock_pj_per_pe_cycle or 0.0) * a.pe.num_pes
        assert math.isclose(r["energy_clock_pj"], r["cycles"] * per_cycle, rel_tol=1e-12, abs_tol=0.0)
        assert math.isclose(r["energy_pj"], sum(r[k] for k in parts), rel_tol=1e-12)
        clocked += r["energy_clock_pj"] > 0
    assert clocked == len(ws) * sum(1 for a in accs if a.pe.clock_pj_per_pe_cycle)
    assert clocked > 0


def _records_equal(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(all(_same(x, y) for x, y in zip(asdict(a[h]).values(), asdict(b[h]).values()))
                                      for h in a)


def test_block_totals_fall_back_to_the_block_chain_where_the_one_pass_sum_does_not_apply():
    """NaN cycles (a measured-like row) and a non-default run column take the block-by-block ``_add_v`` path;
    each still equals the row-by-row sum."""
    ws, accs = _layers(), _hardware()
    arrays, block, _ = evaluate(ws, accs)._blocks
    nan_cycles = {**arrays, "cycles": arrays["cycles"].copy()}
    nan_cycles["cycles"][block + 1] = math.nan
    timed = {**arrays, "repeats": np.arange(len(arrays["repeats"]), dtype=np.int64)}
    for cols in (nan_cycles, timed):
        fast = CostTable.from_arrays(cols, block).totals()
        slow = CostTable({k: v.tolist() for k, v in cols.items()}).totals()
        assert _records_equal(fast, slow)


def test_texts_and_flags_total_as_the_pairwise_sum_does():
    """A column that differs between layers totals to "mixed" (texts), False (flags), the largest (sizes)."""
    ws, accs = _layers(), _hardware()
    arrays, block, _ = evaluate(ws, accs)._blocks
    cols = {**arrays, "format": arrays["format"].copy(), "weights_resident": arrays["weights_resident"].copy(),
            "weight_bits": arrays["weight_bits"].copy(), "batch": arrays["batch"].copy()}
    cols["format"][2 * block] = "mixed"            # a literal "mixed" in the last layer only
    cols["format"][3] = "other"
    cols["weights_resident"][:] = True
    cols["weights_resident"][block + 4] = False
    cols["weight_bits"][2 * block + 5] = 16
    cols["batch"][:] = 1
    cols["batch"][block + 6] = 2
    fast = CostTable.from_arrays(cols, block).totals()
    slow = CostTable({k: v.tolist() for k, v in cols.items()}).totals()
    assert _records_equal(fast, slow)
    names = [a.name for a in accs]
    assert fast[names[3]].format == "mixed" and fast[names[0]].format == "mixed" and not fast[names[4]].weights_resident
    assert fast[names[5]].weight_bits == 16 and fast[names[6]].batch == 0


def test_array_columns_read_as_lists_of_python_values():
    ws, accs = _layers(), _hardware()
    table = evaluate(ws, accs)
    assert list(table.columns) == COLUMNS and len(table.columns) == len(COLUMNS)
    rows = table.rows()
    for k in COLUMNS:
        col = table.columns[k]
        assert type(col) is list and col is table.columns[k]          # converted once, then kept
        assert all(_same(v, r[k]) and not isinstance(v, np.generic) for v, r in zip(col, rows))
    assert dict(table.columns) == {k: table.columns[k] for k in COLUMNS}
    try:
        table.columns["not_a_column"]
    except KeyError:
        pass
    else:
        raise AssertionError("an unknown column must raise KeyError")


def test_per_list_arrays_are_kept_on_the_hardware_arrays():
    """The stacked arrays, the subsets ``take`` gives and the labels are built once per HardwareArrays; pricing
    twice with the same arrays gives the same rows."""
    ws, accs = _layers(), _hardware()
    hw = HardwareArrays.from_accelerators(accs)
    assert hw.stacked(1) is hw and hw.stacked(3) is hw.stacked(3) and len(hw.stacked(3)) == 3 * len(hw)
    idx = np.array([1, 4])
    assert hw.take(idx) is hw.take(idx.copy()) and hw.take(idx) is not hw.take(np.array([4, 1]))
    assert hw.take(idx).names == [hw.names[1], hw.names[4]]
    first, again = evaluate(ws, hw), evaluate(ws, hw)
    assert all(all(_same(x, y) for x, y in zip(first.columns[k], again.columns[k])) for k in COLUMNS)
    fresh = evaluate(ws, HardwareArrays.from_accelerators(accs))
    assert all(all(_same(x, y) for x, y in zip(first.columns[k], fresh.columns[k])) for k in COLUMNS)


def test_no_layers_price_to_an_empty_table():
    accs = _hardware()
    table = evaluate([], accs)
    assert len(table) == 0 and table.totals() == {} and table.rows() == []
    assert len(HardwareArrays.from_accelerators(accs).stacked(0)) == 0
