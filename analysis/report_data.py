"""Numbers behind the comparison report: results.csv rows, Pareto points, break-even curves, HIL, verdicts."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import torch

from accel_models.hardware import Accelerator
from pruning.artifact import load_artifact, read_manifest
from pruning.checkpoint import atomic_write_text
from pruning.constraint import Constraint
from pruning.structures import Structure
from pruning.train import evaluate
from sparsesim.analytical import evaluate as simulate
from sparsesim.workload import from_artifact, from_model, measure_activation_density

from .bench import break_even, measure_model

ROW_KEYS = ["model", "structure", "platform", "kind", "engine", "ratio", "compression", "val_accuracy",
            "test_accuracy", "weight_bits", "storage_bits", "storage_weight_bits", "storage_index_bits",
            "storage_padding_bits", "storage_pointer_bits", "energy_pj", "energy_dram_pj", "energy_sram_pj",
            "energy_rf_pj", "energy_mac_pj", "energy_index_pj", "cycles", "latency_s", "utilization",
            "energy_vs_dense", "speedup_vs_dense", "note"]
STRUCTURED = ("filter", "channel", "column", "block", "nm")
BREAKEVEN_RATIOS = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99]


def priced_workloads(cfg, path: Path, calibration):
    """The artifact's workloads, with input-activation densities measured on the calibration images."""
    density = None if calibration is None else measure_activation_density(load_artifact(path).model, calibration)
    return from_artifact(path, batch=cfg.batch, act_density=density)


def _sim_rows(cfg, structure, ratio, path: Path, accs, val_acc, test_acc, calibration) -> list[dict]:
    m = read_manifest(path)
    table = simulate(priced_workloads(cfg, path, calibration), accs)
    rows = []
    for a in accs:
        t = table.totals()[a.name]
        rows.append({"model": cfg.model, "structure": structure, "platform": a.name, "kind": a.platform,
                     "engine": a.pe.engine, "ratio": ratio, "compression": m["totals"]["compression"],
                     "val_accuracy": val_acc, "test_accuracy": test_acc, "weight_bits": cfg.bits,
                     "storage_bits": t.storage_bits, "storage_weight_bits": t.storage_weight_bits,
                     "storage_index_bits": t.storage_index_bits, "storage_padding_bits": t.storage_padding_bits,
                     "storage_pointer_bits": t.storage_pointer_bits, "energy_pj": t.energy_pj,
                     "energy_dram_pj": t.energy_dram_pj, "energy_sram_pj": t.energy_sram_pj,
                     "energy_rf_pj": t.energy_rf_pj, "energy_mac_pj": t.energy_mac_pj,
                     "energy_index_pj": t.energy_index_pj, "cycles": t.cycles, "latency_s": t.latency_s,
                     "utilization": t.utilization, "note": ""})
    return rows, table


def measured_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _measured_rows(cfg, structure, ratio, path, val_acc, test_acc, log, device: str = "cpu") -> list[dict]:
    """Whole-model latency on a real device, the variant that suits the structure."""
    art = load_artifact(path)
    try:
        meas = measure_model(art.model, art.manifest["model"]["input_shape"], cfg.batch, device, repeats=15)
    except Exception as e:  # noqa: BLE001 - a measurement failure must not lose the simulations
        log(f"[{device}] {structure}: measurement failed: {e}")
        return []
    variant = "dense" if structure == "dense" else ("csr" if structure == "nonstructured" else "compact")
    if variant not in meas:
        variant = "dense"
    best = min(meas, key=lambda v: meas[v]["latency_s"])
    m = meas[variant]
    note = "; ".join(f"{v} {d['latency_s'] * 1e6:.0f} us" for v, d in meas.items())
    platform = f"cpu ({torch.get_num_threads()} threads)" if device == "cpu" else torch.cuda.get_device_name()
    return [{"model": cfg.model, "structure": structure, "platform": platform,
             "kind": "cpu" if device == "cpu" else "gpu", "engine": f"measured:{variant}", "ratio": ratio,
             "compression": read_manifest(path)["totals"]["compression"], "val_accuracy": val_acc,
             "test_accuracy": test_acc, "weight_bits": 32, "latency_s": m["latency_s"],
             "note": f"batch {cfg.batch}; {note}; fastest: {best}"}]


def build_tables(cfg, out: Path, dense_dir: Path, results: dict, accs: list[Accelerator], full, log,
                 calibration=None) -> dict:
    def test_acc(path):
        return evaluate(load_artifact(path).model, full.test_x, full.test_y)

    dense_val = read_manifest(dense_dir)["accuracy"]["pruned"]
    entries = [("dense", 0.0, dense_dir, dense_val)] + [
        (s, r["ratio"], Path(r["dir"]), r["val_accuracy"]) for s, r in results.items() if r["dir"]]
    rows: list[dict] = []
    layer_tables = {}
    for structure, ratio, path, val in entries:
        ta = test_acc(path)
        sim, table = _sim_rows(cfg, structure, ratio, path, accs, val, ta, calibration)
        rows += sim
        layer_tables[structure] = table
        if cfg.measure_cpu:
            for device in measured_devices():
                rows += _measured_rows(cfg, structure, ratio, path, val, ta, log, device)
        log(f"[price] {structure}: ratio {ratio:.3f}, test accuracy {ta:.4f}")
    dense_by_platform = {r["platform"]: r for r in rows if r["structure"] == "dense"}
    for r in rows:
        d = dense_by_platform.get(r["platform"])
        r["speedup_vs_dense"] = d["latency_s"] / r["latency_s"] if d and r.get("latency_s") else None
        r["energy_vs_dense"] = (r["energy_pj"] / d["energy_pj"] if d and r.get("energy_pj") is not None
                                and d.get("energy_pj") else None)
    _write_csv(out / "results.csv", rows)

    # every search probe on every platform (accuracy vs energy: Pareto)
    pareto = []
    for structure, res in results.items():
        for key, path in res["probe_dirs"].items():
            acc = read_manifest(path)["accuracy"]["pruned"]
            tot = simulate(priced_workloads(cfg, path, calibration), accs).totals()
            for a in accs:
                pareto.append({"structure": structure, "ratio": float(key), "val_accuracy": acc, "platform": a.name,
                               "energy_pj": tot[a.name].energy_pj, "latency_s": tot[a.name].latency_s})
    for a in accs:
        d = dense_by_platform[a.name]
        pareto.append({"structure": "dense", "ratio": 0.0, "val_accuracy": dense_val, "platform": a.name,
                       "energy_pj": d["energy_pj"], "latency_s": d["latency_s"]})

    breakeven = breakeven_curves(cfg, dense_dir, accs, rows, results, calibration)
    if cfg.measure_cpu:
        breakeven["cpu_sweep"] = cpu_sweep(cfg, dense_dir)
        breakeven["cpu_breakeven"] = break_even([r["ratio"] for r in breakeven["cpu_sweep"]],
                                                [r["csr_speedup"] for r in breakeven["cpu_sweep"]])
    hil = (hardware_in_the_loop(cfg, out, dense_dir, results, layer_tables, accs, full, log, calibration)
           if cfg.hil_preset else None)
    verdicts = make_verdicts(rows, results)
    return {"rows": rows, "pareto": pareto, "breakeven": breakeven, "hil": hil, "verdicts": verdicts}


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_KEYS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in ROW_KEYS})
    atomic_write_text(path, buf.getvalue())


# ------------------------------------------------------------- break-even
def dense_counterpart(a: Accelerator) -> Accelerator:
    """The dense reference for break-even: same multipliers, buffers, DRAM and clock, a plain dense datapath."""
    f, i = a.pe.cartesian if a.pe.engine == "scnn" else (1, 1)
    pe = replace(a.pe, engine="systolic", dataflow=a.pe.dataflow if a.pe.engine == "systolic" else "ws",
                 zero_handling="none", compact_zero_rows_cols=False, rows=a.pe.rows * f, cols=a.pe.cols * i)
    return replace(a, name=f"{a.name}:dense", pe=pe, fpga=None, platform="asic")


def breakeven_curves(cfg, dense_dir: Path, accs, rows, results, calibration=None) -> dict:
    """Per platform and bit-width: costs of non-structured sparsity vs ratio (magnitude masks on the
    trained dense weights), and the ratios where it beats dense and the best structured model.

    Dense reference: storage = plain dense bits (M*K*b); energy and cycles = the dense model on the
    platform's dense counterpart (same PEs, memories and clock; a dense datapath), as the ADMM-NN
    papers compare sparse accelerators with dense ones of equal resources."""
    art = load_artifact(dense_dir)
    shape = art.manifest["model"]["input_shape"]
    dense_state = {k: v.clone() for k, v in art.model.state_dict().items()}
    curves: dict = {"ratios": BREAKEVEN_RATIOS, "bits": {}}
    ns_ratio = (results.get("nonstructured") or {}).get("ratio")
    counterparts = [dense_counterpart(a) for a in accs]
    for bits in cfg.breakeven_bits:
        per_platform = {a.name: {"storage_bits": [], "energy_pj": [], "cycles": []} for a in accs}
        reference = {}
        for r in BREAKEVEN_RATIOS:
            model = art.model
            model.load_state_dict(dense_state)
            with torch.no_grad():
                for mod in model.modules():
                    if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)) and r > 0:
                        mod.weight.copy_(Constraint(Structure("nonstructured", r)).project(mod.weight)[0])
            ws = from_model(model, torch.zeros(1, *shape), batch=cfg.batch, weight_bits=bits, calibration=calibration)
            tot = simulate(ws, accs).totals()
            if r == 0:
                ref = simulate(ws, counterparts).totals()
                for a, c in zip(accs, counterparts):
                    reference[a.name] = {"storage_bits": ref[c.name].storage_weight_bits,
                                         "energy_pj": ref[c.name].energy_pj, "cycles": ref[c.name].cycles}
            for a in accs:
                for k in ("storage_bits", "energy_pj", "cycles"):
                    per_platform[a.name][k].append(getattr(tot[a.name], k))
        table = {}
        for a in accs:
            c = per_platform[a.name]
            entry = {"dense_reference": reference[a.name]}
            for k in ("storage_bits", "energy_pj", "cycles"):
                gains = [reference[a.name][k] / v for v in c[k]]
                entry[f"{k}_vs_dense"] = break_even(BREAKEVEN_RATIOS[1:], gains[1:], strict=True)
                structured = [x for x in rows if x["platform"] == a.name and x["structure"] in STRUCTURED
                              and x.get(k) is not None]
                if structured:
                    best = min(structured, key=lambda x: x[k])
                    entry[f"{k}_vs_structured"] = break_even(BREAKEVEN_RATIOS[1:], [best[k] / v for v in c[k][1:]],
                                                             strict=True)
                    entry[f"best_structured_{k}"] = best["structure"]
            entry["nonstructured_matched_ratio"] = ns_ratio
            table[a.name] = entry
        curves["bits"][str(bits)] = {"curves": per_platform, "breakeven": table, "reference": reference}
    art.model.load_state_dict(dense_state)
    return curves


def cpu_sweep(cfg, dense_dir: Path) -> list[dict]:
    """Measured CSR and compacted speedups vs ratio on the model's largest layer, at the compare batch."""
    from accel_models.measure import layer_inputs

    from .bench import sweep_ratio

    art = load_artifact(dense_dir)
    x = torch.randn(cfg.batch, *art.manifest["model"]["input_shape"])
    inputs = layer_inputs(art.model, x)
    name, layer = max(((n, m) for n, m in art.model.named_modules()
                       if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))), key=lambda t: t[1].weight.numel())
    rows = sweep_ratio(layer, inputs[name], "nonstructured", [r for r in BREAKEVEN_RATIOS if r > 0], repeats=10)
    for r in rows:
        r["layer"] = name
    return rows


# ------------------------------------------------------- hardware in the loop
def hardware_in_the_loop(cfg, out: Path, dense_dir: Path, results, layer_tables, accs, full, log,
                         calibration=None) -> dict | None:
    """Per layer, the structure with the least simulated energy on ``cfg.hil_preset``; then prune that mix."""
    from pruning.models import build_model
    from pruning.pipeline import run_prune

    from .compare import layer_plan, prune_config, split_validation

    preset = cfg.hil_preset
    if preset not in [a.name for a in accs]:
        log(f"[hil] preset {preset!r} is not among the simulated presets; skipped")
        return None
    candidates = {s: r for s, r in results.items() if r["dir"]}
    if not candidates:
        return None
    model0 = build_model(cfg.model, None)
    per_layer = {}
    for layer in [n for n in layer_plan(model0, "nonstructured", 0.5, cfg)]:
        best = None
        for s in candidates:
            t = layer_tables[s].select(preset)
            e = next(r["energy_pj"] for r in t.rows() if r["layer"] == layer)
            if best is None or e < best[1]:
                best = (s, e)
        per_layer[layer] = best[0]
    mixed = {}
    for layer, s in per_layer.items():
        mixed[layer] = layer_plan(model0, s, candidates[s]["ratio"], cfg)[layer]
    run_dir = out / "runs" / "hil_mixed"
    data = full
    search, _ = split_validation(data, cfg.validation_fraction, cfg.seed)
    if not (run_dir / "manifest.json").exists():
        torch.manual_seed(cfg.seed)
        m = load_artifact(dense_dir, build_model(cfg.model, data.num_classes)).model
        run_prune(m, search, prune_config(cfg, mixed), run_dir, model_name=cfg.model, resume=True, progress=False,
                  log=lambda s: None)
    val = read_manifest(run_dir)["accuracy"]["pruned"]
    test = evaluate(load_artifact(run_dir).model, full.test_x, full.test_y)
    acc = [a for a in accs if a.name == preset]
    mixed_cost = simulate(priced_workloads(cfg, run_dir, calibration), acc).totals()[preset]
    singles = {s: layer_tables[s].select(preset).totals()[preset].energy_pj for s in candidates}
    best_single = min(singles, key=singles.get)
    baseline = read_manifest(dense_dir)["accuracy"]["pruned"]
    res = {"preset": preset, "per_layer": per_layer, "val_accuracy": val, "test_accuracy": test,
           "within_tolerance": baseline - val <= cfg.tolerance_pp / 100 + 1e-12,
           "energy_pj": mixed_cost.energy_pj, "latency_s": mixed_cost.latency_s,
           "best_single": best_single, "best_single_energy_pj": singles[best_single]}
    log(f"[hil] {preset}: mixed {res['energy_pj'] / 1e6:.3f} uJ (val acc {val:.4f}) vs best single "
        f"{best_single} {singles[best_single] / 1e6:.3f} uJ")
    return res


# ---------------------------------------------------------------- verdicts
def make_verdicts(rows: list[dict], results: dict) -> list[dict]:
    """Per platform: which structure wins at matched accuracy, by how much, and why."""
    out = []
    for platform in dict.fromkeys(r["platform"] for r in rows):
        prow = [r for r in rows if r["platform"] == platform]
        kind = prow[0]["kind"]
        measured = kind in ("cpu", "gpu")
        key = "latency_s" if measured else "energy_pj"
        metric = "latency" if measured else "energy"
        cand = [r for r in prow if r.get(key) is not None]
        if not cand:
            continue
        win = min(cand, key=lambda r: r[key])
        dense = next((r for r in prow if r["structure"] == "dense"), None)
        ns = next((r for r in prow if r["structure"] == "nonstructured"), None)
        structured = [r for r in cand if r["structure"] in STRUCTURED]
        best_s = min(structured, key=lambda r: r[key]) if structured else None
        text = f"On {platform}, {win['structure']} wins on {metric}"
        if dense and win is not dense:
            text += f" ({dense[key] / win[key]:.2f}x less than dense)"
        if ns and best_s:
            ratio = ns[key] / best_s[key]
            if ratio > 1:
                text += (f"; non-structured costs {ratio:.2f}x the best structured ({best_s['structure']}, "
                         f"ratio {best_s['ratio']:.2f} vs {ns['ratio']:.2f})")
            else:
                text += (f"; non-structured is {1 / ratio:.2f}x cheaper than the best structured "
                         f"({best_s['structure']}, ratio {best_s['ratio']:.2f} vs {ns['ratio']:.2f})")
            if not measured and ns.get("storage_bits"):
                over = (ns["storage_bits"] - ns["storage_weight_bits"]) / ns["storage_bits"]
                text += (f". Why: non-structured stores {over:.0%} of its bits as index/padding/pointers "
                         f"({ns['engine']} engine, {ns.get('utilization', 0):.1%} PE utilization vs "
                         f"{best_s.get('utilization', 0):.1%} for {best_s['structure']})")
        elif ns is None:
            text += "; non-structured found no ratio within the tolerance"
        out.append({"platform": platform, "kind": kind, "metric": metric, "winner": win["structure"],
                    "text": text + "."})
    return out

