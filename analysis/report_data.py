"""Numbers behind the comparison report: results.csv rows, Pareto points, break-even curves, HIL, verdicts.

Every row carries its accuracies with n and 95% Wilson bounds, an ``accuracy_status`` (dense or matched: decided
on validation only) and the test loss with its paired 95% interval and ``test_over_tolerance`` (a flag, never a
gate); verdicts come from ``analysis.verdict``."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from accel_models.hardware import Accelerator
from accel_models.machine_load import LoadMonitor, wait_for_idle
from fileguard import atomic_write_text
from pruning.artifact import read_manifest
from pruning.constraint import Constraint
from pruning.structures import Structure
from pruning.user_model import build_for_data, load_artifact_as
from pruning.weight_bits import held_bits
from sparsesim.analytical import evaluate as simulate
from sparsesim.measured import measure_model
from sparsesim.provenance import QUANTITIES, provenance
from sparsesim.traced_workloads import module_share_line, traced_workloads
from sparsesim.workload import from_artifact, from_model, measure_activations

from .bench import break_even
from .compare_results import (BREAKEVEN_QUANTITIES, BreakEven, BreakEvenAtBits, BreakEvenEntry, HILMix, HILProbe,
                              HILResult, ParetoPoint)
from .compare_config import COUPLED, CompareError, layer_plan, prune_config, split_validation
from .matrix import zero_mode
from .correctness import correct_on_test, correct_on_validation
from .search import PairedRule, loss_pp, loss_within, scale_search
from .simulation import with_act_seed
from .stats import Accuracy, PairedLoss
from .verdict import STRUCTURED, make_verdicts

ROW_KEYS = ["model", "structure", "budget", "platform", "kind", "engine", "ratio", "compression", "accuracy_status",
            "val_accuracy", "n_val", "val_ci_low", "val_ci_high", "val_loss_pp", "test_accuracy", "n_test", "test_ci_low",
            "test_ci_high", "test_loss_pp", "test_loss_ci_low_pp", "test_loss_ci_high_pp", "test_over_tolerance",
            "weight_bits", "weight_bits_mixed", "storage_bits", "storage_weight_bits",
            "storage_index_bits", "storage_padding_bits", "storage_pointer_bits", "macs_useful", "energy_pj",
            "energy_dram_pj", "energy_sram_pj", "energy_rf_pj", "energy_mac_pj", "energy_index_pj",
            "energy_clock_pj", "cycles", "compute_cycles", "stall_cycles", "latency_s", "latency_p25_s", "latency_p75_s", "latency_iqr_rel",
            "threads", "timing_trusted", "timing_note", "utilization", "energy_vs_dense", "speedup_vs_dense", "cycles_validated_by",
            "traffic_validated_by", "energy_validated_by", "unvalidated", "note"]
BREAKEVEN_RATIOS = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99]
DENSE, MATCHED = "dense", "matched"


@dataclass(frozen=True)
class ChosenModel:
    """A model the comparison prices: dense, or a structure at its matched ratio, with both accuracies."""

    structure: str
    ratio: float
    path: Path
    val: Accuracy
    test: Accuracy
    status: str                 # dense | matched (decided on validation by the paired test; test is no gate)
    test_loss_pp: float         # loss: dense test accuracy minus this model's, pp (positive = worse than dense)
    val_loss_pp: float | None = None   # the same on validation (None: the dense validation accuracy not given)
    test_loss_ci95_pp: tuple[float, float] | None = None   # Tango's paired 95% interval of the test loss, pp
    test_over_tolerance: bool = False  # test loss above the tolerance: flagged in the report, not disqualified

    def accuracy_columns(self) -> dict:
        (vl, vh), (tl, th) = self.val.ci95, self.test.ci95
        ci = self.test_loss_ci95_pp or (None, None)
        return {"accuracy_status": self.status, "val_accuracy": self.val.fraction, "n_val": self.val.n,
                "val_ci_low": vl, "val_ci_high": vh, "val_loss_pp": self.val_loss_pp, "test_accuracy": self.test.fraction, "n_test": self.test.n,
                "test_ci_low": tl, "test_ci_high": th, "test_loss_pp": self.test_loss_pp,
                "test_loss_ci_low_pp": ci[0], "test_loss_ci_high_pp": ci[1],
                "test_over_tolerance": self.test_over_tolerance}


ACCURACY_KEYS = ("accuracy_status", "val_accuracy", "n_val", "val_ci_low", "val_ci_high", "val_loss_pp", "test_accuracy",
                 "n_test", "test_ci_low", "test_ci_high", "test_loss_pp", "test_loss_ci_low_pp", "test_loss_ci_high_pp",
                 "test_over_tolerance")
COST_KEYS = ("storage_bits", "storage_weight_bits", "storage_index_bits", "storage_padding_bits", "storage_pointer_bits",
             "macs_useful", "energy_pj", "energy_dram_pj", "energy_sram_pj", "energy_rf_pj", "energy_mac_pj",
             "energy_index_pj", "energy_clock_pj", "cycles", "compute_cycles", "stall_cycles", "latency_s", "utilization")
QUALITY_KEYS = ("threads", "load_start", "load_end", "cores", "latency_iqr_rel", "latency_max_over_min", "latency_drift",
                "cpu_share", "timing_trusted", "timing_note")   # accel_models.machine_load's TimingQuality.to_row()
# the keys each kind of row carries, in the order summary.json has always held them
SIM_ROW_KEYS = ("model", "structure", "platform", "kind", "engine", "zero_handling", "ratio", "compression",
                *ACCURACY_KEYS, "weight_bits", "weight_bits_mixed", *COST_KEYS, "cycles_validated_by",
                "traffic_validated_by", "energy_validated_by", "unvalidated", "note")
MEASURED_ROW_KEYS = ("model", "structure", "platform", "kind", "engine", "ratio", "compression", *ACCURACY_KEYS,
                     "weight_bits", "latency_s", "latency_p25_s", "latency_p75_s", *QUALITY_KEYS, "note")
MEASURED_KINDS = ("cpu", "gpu")


@dataclass(frozen=True)
class PricedRow:
    """One model on one platform: a simulated row (a preset) or a measured one (``kind`` cpu or gpu); the fields
    are results.csv's columns (``ROW_KEYS``) and the few more summary.json holds.  ``as_row()``: the mapping."""

    model: str | None = None
    structure: str | None = None
    budget: str | None = None   # the rule whose search found the model's allocation (deciding and cost rows)
    platform: str | None = None
    kind: str | None = None
    engine: str | None = None
    ratio: float | None = None
    compression: float | None = None
    accuracy_status: str | None = None
    val_accuracy: float | None = None
    n_val: int | None = None
    val_ci_low: float | None = None
    val_ci_high: float | None = None
    val_loss_pp: float | None = None
    test_accuracy: float | None = None
    n_test: int | None = None
    test_ci_low: float | None = None
    test_ci_high: float | None = None
    test_loss_pp: float | None = None
    test_loss_ci_low_pp: float | None = None
    test_loss_ci_high_pp: float | None = None
    test_over_tolerance: bool | None = None
    weight_bits: int | None = None
    weight_bits_mixed: str | None = None
    storage_bits: float | None = None
    storage_weight_bits: float | None = None
    storage_index_bits: float | None = None
    storage_padding_bits: float | None = None
    storage_pointer_bits: float | None = None
    macs_useful: float | None = None
    energy_pj: float | None = None
    energy_dram_pj: float | None = None
    energy_sram_pj: float | None = None
    energy_rf_pj: float | None = None
    energy_mac_pj: float | None = None
    energy_index_pj: float | None = None
    energy_clock_pj: float | None = None
    cycles: float | None = None
    compute_cycles: float | None = None
    stall_cycles: float | None = None
    latency_s: float | None = None
    latency_p25_s: float | None = None
    latency_p75_s: float | None = None
    latency_iqr_rel: float | None = None
    threads: int | None = None
    timing_trusted: bool | None = None
    timing_note: str | None = None
    utilization: float | None = None
    energy_vs_dense: float | None = None
    speedup_vs_dense: float | None = None
    cycles_validated_by: str | None = None
    traffic_validated_by: str | None = None
    energy_validated_by: str | None = None
    unvalidated: str | None = None
    note: str | None = None
    zero_handling: str | None = None   # simulated rows: how the platform skips zeros (not a results.csv column)
    found_by: str | None = None   # cost rule: the search that found the cheapest matched allocation (not a results.csv column)
    load_start: float | None = None
    load_end: float | None = None
    cores: int | None = None
    latency_max_over_min: float | None = None
    latency_drift: float | None = None
    cpu_share: float | None = None

    @property
    def measured(self) -> bool:
        return self.kind in MEASURED_KINDS

    def as_row(self) -> dict:
        """The row's mapping for results.csv and summary.json: the keys of its kind, its cost relative to dense,
        then its budget and finder where set."""
        keys = (*(MEASURED_ROW_KEYS if self.measured else SIM_ROW_KEYS), "speedup_vs_dense", "energy_vs_dense",
                *(k for k in ("budget", "found_by") if getattr(self, k) is not None))
        return {k: getattr(self, k) for k in keys}


def _loaded(cfg, path: Path):
    """The artifact of the compared model: a zoo model by name, the user's rebuilt from ``cfg.model``."""
    return load_artifact_as(path, cfg.model, cfg.input_shape)


def chosen_model(structure: str, ratio: float, path: Path, val: Accuracy, test: Accuracy, dense_test: Accuracy,
                 tolerance_pp: float, dense_val: Accuracy | None = None,
                 test_pair: PairedLoss | None = None) -> ChosenModel:
    """A model the search matched on validation: status ``matched`` (``dense`` for dense) whatever its test
    accuracy.  The test loss (pp, positive = worse than dense: ``analysis.search.loss_pp``), its paired 95%
    interval (``test_pair``: dense vs this model on the test images) and ``test_over_tolerance`` are reported."""
    status = DENSE if structure == DENSE else MATCHED
    over = structure != DENSE and not loss_within(dense_test.fraction, test.fraction, tolerance_pp / 100)
    ci = None if test_pair is None else tuple(v * 100 for v in test_pair.interval())
    return ChosenModel(structure, ratio, Path(path), val, test, status, loss_pp(dense_test.fraction, test.fraction),
                       None if dense_val is None else loss_pp(dense_val.fraction, val.fraction), ci, over)


def priced_workloads(cfg, path: Path, calibration, log=None):
    """The artifact's workloads, with input-activation densities measured on the calibration images: your model
    traced (``cfg.traced``: every GEMM it runs, the artifact's weights and bit-widths on its layers), else the
    artifact's Conv2d/Linear list.  ``log``: where the traced share line goes (None: nowhere)."""
    if cfg.traced:
        art = _loaded(cfg, path)
        bits = {e["name"]: int(e.get("bits", 32)) for e in art.manifest["layers"]}
        ws, trace = traced_workloads(art.model, torch.zeros(1, *art.manifest["model"]["input_shape"]), cfg.batch,
                                     bits, calibration)
        if log is not None:
            log(trace.share_line())
        return with_act_seed(ws, cfg.act_seed)
    density, patterns = (None, None) if calibration is None else measure_activations(_loaded(cfg, path).model,
                                                                                       calibration)
    return from_artifact(path, batch=cfg.batch, act_density=density, act_pattern=patterns, act_seed=cfg.act_seed)


def workloads_line(cfg, model, input_shape) -> str:
    """One line: how the compared model is priced and the share of its FLOPs that is (run before any training, so
    a model the trace cannot run fails at once, naming the op and the ``workloads: modules`` fallback)."""
    example = torch.zeros(1, *input_shape)
    if cfg.traced:
        return f"traced workloads: {traced_workloads(model, example)[1].share_line()}"
    return f"module-list workloads: {module_share_line(from_model(model, example), model, example)}"


def _sim_rows(cfg, chosen: ChosenModel, accs, calibration) -> tuple[list[PricedRow], object]:
    m = read_manifest(chosen.path)
    held = held_bits(m["layers"])   # the widths priced: the artifact's own (a mixed one: its widest, and the range)
    table = simulate(priced_workloads(cfg, chosen.path, calibration), accs)
    totals = table.totals()
    rows = [PricedRow(model=cfg.model, structure=chosen.structure, platform=a.name, kind=a.platform,
                      engine=a.pe.engine, zero_handling=zero_mode(a), ratio=chosen.ratio,
                      compression=m["totals"]["compression"], **chosen.accuracy_columns(), weight_bits=held.widest,
                      weight_bits_mixed=held.mixed_text(), **{k: getattr(totals[a.name], k) for k in COST_KEYS},
                      **_validation_columns(a), note="")
            for a in accs]
    return rows, table


def _validation_columns(a: Accelerator) -> dict:
    """Which reference validates this platform's cycles, traffic and energy; ``unvalidated``: the quantities
    that are model assumptions (a verdict on them says so)."""
    prov = provenance(a)
    return {**{f"{q}_validated_by": prov.label(q) for q in QUANTITIES}, "unvalidated": ", ".join(prov.unvalidated())}


def measured_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _measured_rows(cfg, chosen: ChosenModel, log, device: str = "cpu") -> list[PricedRow]:
    """Whole-model latency on a real device, the variant that suits the structure, with its quartiles and
    trust flag (a loaded machine is warned about in one line; its timings are flagged, not dropped)."""
    structure = chosen.structure
    art = _loaded(cfg, chosen.path)
    monitor = LoadMonitor.system(torch.get_num_threads(), cpu=device == "cpu")
    wait_for_idle(monitor, 0.0, lambda line: log(f"[{device}] {structure}: {line}"))
    try:
        meas = measure_model(art.model, art.manifest["model"]["input_shape"], cfg.batch, device, repeats=15,
                             monitor=monitor)
    except Exception as e:  # noqa: BLE001 - a measurement failure must not lose the simulations
        log(f"[{device}] {structure}: measurement failed: {e}")
        return []
    variant = "dense" if structure == "dense" else ("csr" if structure == "nonstructured" else "compact")
    if variant not in meas:
        variant = "dense"
    best = min(meas, key=lambda v: meas[v].timing.median_s)
    note = "; ".join(f"{v} {d.timing.median_s * 1e6:.0f} us" for v, d in meas.items())
    t = meas[variant].timing
    platform = f"cpu ({torch.get_num_threads()} threads)" if device == "cpu" else torch.cuda.get_device_name()
    return [PricedRow(model=cfg.model, structure=structure, platform=platform,
                      kind="cpu" if device == "cpu" else "gpu", engine=f"measured:{variant}", ratio=chosen.ratio,
                      compression=art.manifest["totals"]["compression"], **chosen.accuracy_columns(), weight_bits=32,
                      latency_s=t.median_s, latency_p25_s=t.p25_s, latency_p75_s=t.p75_s, **t.quality.to_row(),
                      note=f"batch {cfg.batch}; {note}; fastest: {best}")]


def price_models(cfg, models: list[ChosenModel], accs: list[Accelerator], log=None,
                 calibration=None) -> tuple[list[PricedRow], dict]:
    """Every model simulated on every platform (``models[0]`` is dense), each row with its cost relative to dense
    on the same platform; and the per-layer tables by structure (hardware in the loop reads them)."""
    rows: list[PricedRow] = []
    layer_tables = {}
    for chosen in models:
        sim, layer_tables[chosen.structure] = _sim_rows(cfg, chosen, accs, calibration)
        rows += sim
        if log is not None:
            log(f"[price] {chosen.structure}: ratio {chosen.ratio:.3f}, test accuracy {chosen.test.text()}")
    return vs_dense(rows), layer_tables


def measure_models(cfg, models: list[ChosenModel], log) -> list[PricedRow]:
    """Every model timed on this machine's devices (CPU, and the GPU where there is one), each row with its speedup
    over the dense model on the same device."""
    return vs_dense([r for chosen in models for device in measured_devices()
                     for r in _measured_rows(cfg, chosen, log, device)])


def vs_dense(rows: list[PricedRow]) -> list[PricedRow]:
    """Each row with ``speedup_vs_dense`` and ``energy_vs_dense``: over the dense row of its platform (None where
    that platform has no dense row, or either cost is missing or zero)."""
    dense = {r.platform: r for r in rows if r.structure == "dense"}

    def ratio(num, den):
        return num / den if num is not None and den else None

    return [replace(r, speedup_vs_dense=ratio(getattr(dense.get(r.platform), "latency_s", None), r.latency_s)
                    if r.latency_s else None,
                    energy_vs_dense=ratio(r.energy_pj, getattr(dense.get(r.platform), "energy_pj", None)))
            for r in rows]


def priced_verdicts(cfg, models: list[ChosenModel], accs: list[Accelerator],
                    calibration=None) -> tuple[list[PricedRow], list]:
    """Simulated rows and verdicts only (no measurement, break-even or HIL): the comparison reported beside."""
    rows = price_models(cfg, models, accs, calibration=calibration)[0]
    return rows, make_verdicts([r.as_row() for r in rows], cfg.tie_threshold)


def pareto_points(cfg, results: Mapping, dense: ChosenModel, rows: list[PricedRow], accs,
                  calibration) -> list[ParetoPoint]:
    """Every search probe on every platform (validation accuracy vs energy), plus dense (``results``: structure ->
    ``SearchOutcome``; ``rows``: the dense model's priced rows among them)."""
    pareto = []
    dense_by_platform = {r.platform: r for r in rows if r.structure == "dense"}
    for structure, res in results.items():
        for key, path in res.probe_dirs.items():
            acc = read_manifest(path)["accuracy"]["pruned"]
            tot = simulate(priced_workloads(cfg, path, calibration), accs).totals()
            for a in accs:
                pareto.append(ParetoPoint(structure, float(key), acc, dense.val.n, a.name, tot[a.name].energy_pj,
                                          tot[a.name].latency_s))
    for a in accs:
        d = dense_by_platform[a.name]
        pareto.append(ParetoPoint("dense", 0.0, dense.val.fraction, dense.val.n, a.name, d.energy_pj, d.latency_s))
    return pareto


def write_results_csv(path: Path, rows: list[PricedRow]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_KEYS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        row = r.as_row()
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in ROW_KEYS})
    atomic_write_text(path, buf.getvalue())


# ------------------------------------------------------------- break-even
def dense_counterpart(a: Accelerator) -> Accelerator:
    """The dense reference for break-even: same multipliers, buffers, DRAM and clock (an SCNN PE's f x i
    multipliers become f x i dense PEs sharing its per-cycle clock energy), a plain dense datapath."""
    f, i = a.pe.params.cartesian if a.pe.engine == "scnn" else (1, 1)
    clock = a.pe.clock_pj_per_pe_cycle
    pe = replace(a.pe, engine="systolic", dataflow=a.pe.dataflow if a.pe.engine == "systolic" else "ws",
                 zero_handling="none", compact_zero_rows_cols=False, rows=a.pe.rows * f, cols=a.pe.cols * i,
                 params=None, clock_pj_per_pe_cycle=None if clock is None else clock / (f * i))  # same clock power
    return replace(a, name=f"{a.name}:dense", pe=pe, fpga=None, platform="asic")


def breakeven_curves(cfg, dense_dir: Path, accs, rows, results, calibration=None) -> BreakEven:
    """Per platform and bit-width: costs of non-structured sparsity vs ratio (magnitude masks on the
    trained dense weights), and the ratios where it beats dense and the best matched structured model.

    Dense reference: storage = plain dense bits (M*K*b); energy and cycles = the dense model on the
    platform's dense counterpart (same PEs, memories and clock; a dense datapath), as the ADMM-NN
    papers compare sparse accelerators with dense ones of equal resources."""
    art = _loaded(cfg, dense_dir)
    shape = art.manifest["model"]["input_shape"]
    dense_state = {k: v.clone() for k, v in art.model.state_dict().items()}
    by_bits = {}
    ns_ratio = results["nonstructured"].ratio if "nonstructured" in results else None
    counterparts = [dense_counterpart(a) for a in accs]
    for bits in cfg.breakeven_bits:
        per_platform = {a.name: {k: [] for k in BREAKEVEN_QUANTITIES} for a in accs}
        reference = {}
        for r in BREAKEVEN_RATIOS:
            model = art.model
            model.load_state_dict(dense_state)
            with torch.no_grad():
                for mod in model.modules():
                    if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)) and r > 0:
                        mod.weight.copy_(Constraint(Structure("nonstructured", r)).project(mod.weight)[0])
            example = torch.zeros(1, *shape)
            ws = with_act_seed(traced_workloads(model, example, cfg.batch, bits, calibration)[0] if cfg.traced
                               else from_model(model, example, batch=cfg.batch, weight_bits=bits,
                                               calibration=calibration), cfg.act_seed)
            tot = simulate(ws, accs).totals()
            if r == 0:
                ref = simulate(ws, counterparts).totals()
                for a, c in zip(accs, counterparts):
                    reference[a.name] = {"storage_bits": ref[c.name].storage_weight_bits,
                                         "energy_pj": ref[c.name].energy_pj, "cycles": ref[c.name].cycles}
            for a in accs:
                for k in BREAKEVEN_QUANTITIES:
                    per_platform[a.name][k].append(getattr(tot[a.name], k))
        table = {a.name: _breakeven_entry(per_platform[a.name], reference[a.name],
                                          [x for x in rows if x.platform == a.name], ns_ratio) for a in accs}
        by_bits[str(bits)] = BreakEvenAtBits(per_platform, table, reference)
    art.model.load_state_dict(dense_state)
    return BreakEven(tuple(BREAKEVEN_RATIOS), by_bits)


def _breakeven_entry(curves: dict, reference: dict, rows: list[PricedRow], ns_ratio: float | None) -> BreakEvenEntry:
    """One platform's break-even ratios against dense and against its cheapest matched structured model."""
    vs_dense, vs_structured, best_structured = {}, {}, {}
    for k in BREAKEVEN_QUANTITIES:
        gains = [reference[k] / v for v in curves[k]]
        vs_dense[k] = break_even(BREAKEVEN_RATIOS[1:], gains[1:], strict=True)
        structured = [x for x in rows if x.structure in STRUCTURED and x.accuracy_status == MATCHED
                      and getattr(x, k) is not None]
        if structured:
            best = min(structured, key=lambda x: getattr(x, k))
            vs_structured[k] = break_even(BREAKEVEN_RATIOS[1:], [getattr(best, k) / v for v in curves[k][1:]],
                                          strict=True)
            best_structured[k] = best.structure
    return BreakEvenEntry(reference, vs_dense, vs_structured, best_structured, ns_ratio)


def cpu_sweep(cfg, dense_dir: Path) -> list[dict]:
    """Measured CSR and compacted speedups vs ratio on the model's largest layer, at the compare batch."""
    from sparsesim.measured import layer_inputs

    from .bench import sweep_ratio

    art = _loaded(cfg, dense_dir)
    x = torch.randn(cfg.batch, *art.manifest["model"]["input_shape"])
    inputs = layer_inputs(art.model, x)
    name, layer = max(((n, m) for n, m in art.model.named_modules()
                       if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))), key=lambda t: t[1].weight.numel())
    rows = sweep_ratio(layer, inputs[name], "nonstructured", [r for r in BREAKEVEN_RATIOS if r > 0], repeats=10,
                       monitor=LoadMonitor.system(torch.get_num_threads()))
    for r in rows:
        r["layer"] = name
    return rows


# ------------------------------------------------------- hardware in the loop
def cheapest_per_layer(layer_tables: dict, structures: list[str], preset: str,
                       layers: list[str] | None = None) -> dict[str, str]:
    """Per layer (``layers``, default every priced row), the structure whose model spends the least simulated
    energy in that layer on ``preset``."""
    energy = {s: {r["layer"]: r["energy_pj"] for r in layer_tables[s].select(preset).rows()} for s in structures}
    layers = list(energy[structures[0]]) if layers is None else [n for n in layers if n in energy[structures[0]]]
    return {layer: min(structures, key=lambda s: energy[s][layer]) for layer in layers}


def layer_ratios(path: Path) -> dict[str, float]:
    """Per layer, the pruning ratio of its structure in an artifact (the matched ratio under a uniform budget,
    the ratio the whole-network budget gave that layer under a global one)."""
    return {e["name"]: float(e["sparsity"]["ratio"]) for e in read_manifest(path)["layers"]}


def mix_plan(model0, per_layer: dict[str, str], ratios: dict[str, dict[str, float]], scale: float, cfg) -> dict:
    """Per-layer YAML fields of the mix at ``scale``: each layer's ratio = scale x its ratio in the chosen
    model of its structure (``ratios[structure][layer]``; N:M fixed)."""

    return {layer: layer_plan(model0, s, round(scale * ratios[s][layer], 6), cfg)[layer]
            for layer, s in per_layer.items()}


def _plan_label(spec: dict) -> str:
    if spec["type"] in ("dense", "nm"):
        return "dense" if spec["type"] == "dense" else ":".join(map(str, spec["nm"]))
    return f"{spec['type']} {spec['ratio']:.3f}"


def _hil_probe(cfg, run_dir: Path, dense_path: Path, search_data, plan: dict) -> float:
    """Validation accuracy of one ADMM run of the mix (cached in ``run_dir``; a different mix there is an error)."""
    from pruning.pipeline import run_prune


    if (run_dir / "manifest.json").exists():
        stored = read_manifest(run_dir)["config"]["layers"]
        if {k: _plan_label(v) for k, v in stored.items()} != {k: _plan_label(v) for k, v in plan.items()}:
            raise CompareError(f"{run_dir} holds a different mix; delete it or use a new --out")
    else:
        torch.manual_seed(cfg.seed)
        m = _loaded(cfg, dense_path).model
        run_prune(m, search_data, prune_config(cfg, plan), run_dir, model_name=cfg.model, resume=True,
                  progress=False, log=lambda s: None)
    return read_manifest(run_dir)["accuracy"]["pruned"]


def hardware_in_the_loop(cfg, out: Path, models: list[ChosenModel], layer_tables, accs, full, log,
                         calibration=None) -> HILResult | None:
    """Per layer the structure with the least simulated energy on ``cfg.hil_preset`` (among the matched
    structures); then the highest common scale of their matched ratios whose mix is non-inferior to dense at the
    tolerance on validation (the paired test, ``scale_search`` with ``PairedRule``, at most ``cfg.hil_probes``
    ADMM runs)."""


    preset, dense = cfg.hil_preset, models[0]
    if preset not in [a.name for a in accs]:
        log(f"[hil] preset {preset!r} is not among the simulated presets; skipped")
        return None
    # a per-layer mix of coupled groups (heads, neurons) would break them apart: they are not candidates
    candidates = {m.structure: m for m in models if m.status == MATCHED and m.structure not in COUPLED}
    if not candidates:
        log("[hil] no per-layer structure is matched; skipped")
        return None
    model0 = build_for_data(cfg.model, full.num_classes, full.input_shape, cfg.input_shape, cfg.dataset)
    ratios = {s: layer_ratios(m.path) for s, m in candidates.items()}
    # the pruned layers only (a traced table also has rows without weights: attention's score and context)
    per_layer = cheapest_per_layer(layer_tables, list(candidates), preset, list(next(iter(ratios.values()))))
    search_data, _ = split_validation(full, cfg.validation_fraction, cfg.seed)
    rule = PairedRule(correct_on_validation(cfg, dense.path, search_data), cfg.tolerance_pp / 100)

    def evaluate(scale: float):
        run_dir = out / "runs" / f"hil_s{scale:.4f}"
        _hil_probe(cfg, run_dir, dense.path, search_data, mix_plan(model0, per_layer, ratios, scale, cfg))
        correct = correct_on_validation(cfg, run_dir, search_data)
        pair = rule.paired(correct)
        log(f"[hil] scale {scale:.4f}: validation accuracy {Accuracy(int(correct.sum()), len(correct)).text()}, "
            f"loss {pair.loss * 100:+.2f} pp, upper 95% bound {pair.upper_bound() * 100:.2f} pp")
        return correct

    found = scale_search(evaluate, rule, cfg.hil_probes)
    trail = tuple(HILProbe(p.ratio, {k: _plan_label(v) for k, v in
                                     mix_plan(model0, per_layer, ratios, p.ratio, cfg).items()},
                           Accuracy.from_fraction(p.accuracy, dense.val.n), loss_pp(dense.val.fraction, p.accuracy),
                           p.loss_upper * 100, p.within)
                  for p in found.points)
    singles = {s: layer_tables[s].select(preset).totals()[preset].energy_pj for s in candidates}
    best_single = min(singles, key=singles.get)
    res = HILResult(preset, per_layer, trail, cfg.hil_probes, best_single, singles[best_single], None,
                    "no mix within tolerance")
    if found.scale is None:
        log(f"[hil] {preset}: no mix within {cfg.tolerance_pp} pp in {len(trail)} probes")
        return res
    res = replace(res, chosen=_price_mix(cfg, out / "runs" / f"hil_s{found.scale:.4f}", found.scale, dense, accs,
                                         preset, full, calibration), note="")
    log(f"[hil] {preset}: mix at scale {found.scale:.4f}: {res.chosen.energy_pj / 1e6:.3f} uJ vs best "
        f"single {best_single} {singles[best_single] / 1e6:.3f} uJ")
    return res


def _price_mix(cfg, run_dir: Path, scale: float, dense: ChosenModel, accs, preset: str, full,
               calibration) -> HILMix:
    """The chosen mix: accuracies (validation, test with its paired loss interval, status, test flag) and its cost
    on ``preset``."""
    val = Accuracy.from_fraction(read_manifest(run_dir)["accuracy"]["pruned"], dense.val.n)
    correct, dense_correct = correct_on_test(cfg, run_dir, full), correct_on_test(cfg, dense.path, full)
    test = Accuracy(int(correct.sum()), len(correct))
    mix = chosen_model("hil", scale, run_dir, val, test, dense.test, cfg.tolerance_pp, dense.val,
                       PairedLoss.from_correct(dense_correct, correct))
    cost = simulate(priced_workloads(cfg, run_dir, calibration), [a for a in accs if a.name == preset]).totals()[preset]
    return HILMix(scale, str(run_dir), val, test, mix.status, mix.val_loss_pp, mix.test_loss_pp,
                  mix.test_loss_ci95_pp, mix.test_over_tolerance, cost.energy_pj, cost.latency_s)

