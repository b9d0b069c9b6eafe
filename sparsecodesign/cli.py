"""``sparsesim`` command line: one subcommand per job, each a thin shell over a Python API."""

from __future__ import annotations

import argparse
import errno
import math
import re
import sys
from pathlib import Path

from analysis.simulation import DEFAULT_HW
from fileguard import clip, short
from pruning.defaults import DEFAULT_MODEL, default_config_path
from sparsecodesign import checks
from sparsecodesign.checks import MAX_BATCH, MAX_SEED, MAX_THREADS, InputError
from sparsecodesign.threads import quiet_openmp, set_torch_threads
from sparsesim.size_bounds import DEFAULT_MAX_EXACT_WEIGHTS, MAX_TOTAL_WEIGHTS

USER_DATASETS = ("imagefolder", "npz")   # your own data: --model is required


def _default_config(model: str, dataset: str) -> Path:
    return default_config_path(model, dataset)


def cmd_prune(args: argparse.Namespace) -> int:
    import torch

    from pruning.artifact import load_artifact
    from pruning.config import PruneConfig
    from pruning.data import load_dataset
    from pruning.distributed import init_from_env, is_main
    from pruning.pipeline import check_output
    from pruning.user_model import build_for_data

    from . import api

    _check_device(args.device)
    init_from_env(args.device)  # under torchrun: join the process group (DDP)
    if args.dataset not in DEFAULT_MODEL and not args.model:
        raise ValueError(f"--dataset {args.dataset} needs --model (a zoo model taking its image size, "
                         "MODULE:CALLABLE or FILE.py:CALLABLE)")
    if args.workers is not None and args.dataset != "imagefolder":   # it would be ignored
        raise ValueError(f"--workers {args.workers}: only --dataset imagefolder reads with DataLoader workers; "
                         f"--dataset {args.dataset} is read in this process (leave --workers out)")
    checks.refuse_unused("prune", {"data": args.dataset, "data_dir": args.data_dir}, cli=True)
    model_name = args.model or DEFAULT_MODEL[args.dataset]
    cfg_path = Path(args.config) if args.config else _default_config(model_name, args.dataset)
    cfg = PruneConfig.from_yaml(cfg_path)
    overrides = {k: v for k, v in (("seed", args.seed), ("method", args.method),
                                   ("pretrain_epochs", args.pretrain_epochs)) if v is not None}
    if overrides:
        cfg = PruneConfig.from_dict({**cfg.to_dict(), **overrides})
    check_output(args.out, args.resume, args.overwrite)   # the config is sound: the output before any data
    if args.download:
        if args.dataset != "mnist" or not args.data_dir:
            raise ValueError("--download fetches MNIST: use it with --dataset mnist --data-dir DIR")
        from pruning.data import download_mnist
        download_mnist(args.data_dir)  # each file SHA-256 checked; needs a network
    data = load_dataset(args.dataset, args.data_dir,
                        **({"num_workers": args.workers or 0, "input_shape": args.input_shape}
                           if args.dataset == "imagefolder" else {}))
    torch.manual_seed(cfg.seed)
    model = build_for_data(model_name, data.num_classes, data.input_shape, args.input_shape, args.dataset)
    if args.init:
        model = load_artifact(args.init, model).model
    threads = set_torch_threads(args.threads)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    log(f"prune: model {model_name}, dataset {args.dataset}, config {cfg_path}, out {args.out}, "
        f"{threads} torch thread(s){'' if args.threads else ' (the free cores now; --threads to set)'}")
    res = api.prune(model, data, cfg, args.out, validation_fraction=args.validation_fraction,
                    model_name=model_name, resume=args.resume,
                    overwrite=args.overwrite, device=args.device, progress=not args.quiet, log=log)
    if args.quiet and is_main():   # the result in one line (without --quiet the log's last line says it)
        print(prune_line(res))
    return 0


def prune_line(res) -> str:
    """One line of a finished prune: artifact, storage (with index bits) and nominal reductions, accuracies and the
    loss (pp, positive = worse)."""
    from analysis.search import loss_pp
    from pruning.artifact import storage_headline

    totals = res.manifest.get("totals") or {"compression": res.compression}
    if res.test_pruned_accuracy is not None:   # a validation split: test reported, validation beside it
        return (f"prune: {res.out_dir}: {storage_headline(totals)}, test accuracy {res.test_pruned_accuracy:.2%} "
                f"(dense {res.test_dense_accuracy:.2%}, loss "
                f"{loss_pp(res.test_dense_accuracy, res.test_pruned_accuracy):+.2f} pp), validation "
                f"{res.pruned_accuracy:.2%} (dense {res.dense_accuracy:.2%})")
    return (f"prune: {res.out_dir}: {storage_headline(totals)}, accuracy {res.pruned_accuracy:.2%} "
            f"(dense {res.dense_accuracy:.2%}, loss {loss_pp(res.dense_accuracy, res.pruned_accuracy):+.2f} pp)")


def cmd_presets(args: argparse.Namespace) -> int:
    from accel_models.hardware import PEArray, load_accelerator, preset_names, read_hardware
    from accel_models.reference import resolved_yaml
    from sparsesim.provenance import provenance

    if args.show is not None:   # one description, every field written out, to copy and edit
        sys.stdout.write(resolved_yaml(read_hardware(args.show)[0], source=args.show))
        return 0
    _, engines = PEArray.RULES["dataflow"].used_when
    rows = []
    for name in preset_names():
        a = load_accelerator(name)
        rows.append((name, a.platform, a.pe.engine, f"{a.pe.rows}x{a.pe.cols}",
                     a.pe.dataflow if a.pe.engine in engines else "-", f"{a.clock_hz / 1e6:g} MHz",
                     f"{sum(b.capacity_bytes for b in a.buffers()) / 1024:g} KiB", a.dram.kind,
                     provenance(a).summary(), a.description))
    head = ("name", "platform", "engine", "array", "dataflow", "clock", "buffers", "dram", "validated by",
            "description")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head) - 1)]
    for r in [head] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + r[-1])
    print(f"\nValidated by: the reference that reproduces each quantity on this preset's path (* part of it only: "
          "compute cycles, DRAM traffic); every other number is a model assumption, marked `unvalidated` in "
          "results (docs/validation.md, one table per preset).")
    print(f"Default for `sparsesim simulate`: {DEFAULT_HW}.  Use --hw NAME[,NAME...] or --hw FILE.yaml; "
          "`sparsesim presets --show NAME` prints one with every field (docs/hardware.md).")
    return 0


def _simulate_hardware(args: argparse.Namespace) -> list:
    from analysis.simulation import hardware_list

    return hardware_list(args.hw, args.scalesim_config)


def _simulate_workloads(args: argparse.Namespace):
    """(workloads, default output directory) from an artifact, a checkpoint, ONNX or a SCALE-Sim topology (what
    the simpy engine replays)."""
    from analysis.simulation import workloads_of

    return workloads_of(args.artifact or None, topology=args.topology or None, model=args.model,
                        input_shape=args.input_shape, batch=args.batch, bits=args.bits, calibrate=args.calibrate,
                        data_dir=args.data_dir, trust_module=args.trust_module, seed=args.seed or 0,
                        act_seed=args.act_seed or 0, max_exact_weights=args.max_exact_weights, workloads=args.workloads,
                        log=lambda s: None)


def _simulate_out(args: argparse.Namespace) -> Path:
    """Where ``simulate`` writes: --out, else ARTIFACT/sim or FILE_sim beside a file."""
    from analysis.simulation import default_out_dir

    return Path(args.out) if args.out else default_out_dir(args.artifact or None, args.topology or None)


def _model_input_kind(path: str, model: str | None, input_shape: str | None, artifact_model: bool = False) -> str:
    """artifact | checkpoint | onnx, with the options that kind allows (``analysis.simulation.source_kind``)."""
    from analysis.simulation import source_kind

    return source_kind(path, model, input_shape, artifact_model)


def _artifact_model(args: argparse.Namespace):
    """The artifact with its model: yours rebuilt from --model, else a zoo model or a --trust-module factory."""
    from analysis.simulation import artifact_with_model

    return artifact_with_model(args.artifact, args.model, args.trust_module)


def cmd_simulate(args: argparse.Namespace) -> int:
    from fileguard import OutputLock, check_writable

    from sparsesim.model_import import input_kind

    accs = _simulate_hardware(args)
    if bool(args.topology) == bool(args.artifact):
        raise ValueError("give an artifact directory or --topology FILE.csv (one of them)")
    checks.refuse_unused("simulate", {   # an option this source or hardware would ignore: refused, naming both
        **{k: getattr(args, k) for k in ("model", "input_shape", "calibrate", "data_dir", "trust_module", "seed",
                                         "max_exact_weights", "workloads", "bits", "act_seed")},
        "kind": "topology" if args.topology else input_kind(args.artifact),
        "source": args.topology or args.artifact, "engines": {a.pe.engine for a in accs},
        "hardware": ",".join(a.name for a in accs)}, cli=True)
    out = check_writable(_simulate_out(args))   # before the work, not after it
    with OutputLock(out, "simulate"):   # one job per --out: files of two runs never mix
        return _simulate_locked(args, accs, out)


def _simulate_locked(args: argparse.Namespace, accs: list, out: Path) -> int:
    from fileguard import atomic_write_text
    from sparsesim.event_sim import replays_closed_form, simulate, timeline_rows

    from . import api

    table = api.simulate(args.topology or args.artifact or None, accs, args.batch, bits=args.bits, model=args.model,
                         input_shape=args.input_shape, calibrate=args.calibrate or 0, data_dir=args.data_dir,
                         trust_module=args.trust_module, seed=args.seed or 0, act_seed=args.act_seed or 0,
                         max_exact_weights=args.max_exact_weights, workloads=args.workloads).columns
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "layers.csv")
    table.to_json(out / "layers.json")
    totals = table.totals()
    rows = table.rows() + [dataclass_row(t) for t in totals.values()]
    lw = min(max([14] + [len(r["layer"]) for r in rows]), 40)   # traced names are longer than module names
    print(f"{'layer':{lw}s} {'hardware':14s} {'format':9s} {'storage kbit':>12s} {'idx+pad %':>9s} "
          f"{'cycles':>12s} {'stall %':>7s} {'util':>6s} {'energy uJ':>10s} {'DRAM %':>7s} {'clock %':>7s}")
    for r in rows:
        overhead = (r["storage_bits"] - r["storage_weight_bits"]) / max(r["storage_bits"], 1) * 100
        print(f"{r['layer'][:lw]:{lw}s} {r['hardware'][:14]:14s} {r['format'][:9]:9s} "
              f"{r['storage_bits'] / 1e3:12.1f} {overhead:9.1f} {r['cycles']:12.0f} "
              f"{r['stall_cycles'] / max(r['cycles'], 1e-12) * 100:7.1f} {r['utilization']:6.3f} "
              f"{r['energy_pj'] / 1e6:10.3f} {r['energy_dram_pj'] / max(r['energy_pj'], 1e-12) * 100:7.1f} "
              f"{r['energy_clock_pj'] / max(r['energy_pj'], 1e-12) * 100:7.1f}")
    _print_validation(accs)
    drawing = sorted({a.pe.engine for a in accs} & set(checks.DRAWING_ENGINES))
    if drawing:
        measured = "measured with --calibrate (eie only), else " if not args.topology else ""
        print(f"\n({' and '.join(drawing)} engine: which input activations are nonzero is {measured}drawn with the "
              f"layer's density from --act-seed {args.act_seed or 0}; rerun with other seeds for the spread: under 3% on "
              "EIE's Table IV layers (docs/validation.md section 3), more on small layers)")
    conventions = sorted({a.memory.convention for a in accs} - {"native"})
    if conventions:
        print(f"\n(convention {', '.join(conventions)}: cycles, stalls and per-operand words follow that tool's "
              "rules; see docs/cost_model.md)")
    if args.engine == "simpy":
        import csv
        import io

        workloads, _ = _simulate_workloads(args)
        sims = [s for a in accs for s in simulate(workloads, a)]
        buf = io.StringIO()
        wtr = csv.DictWriter(buf, fieldnames=["layer", "hardware", "resource", "tile", "start", "end"])
        wtr.writeheader()
        wtr.writerows(timeline_rows(sims))
        atomic_write_text(out / "timeline.csv", buf.getvalue())
        print("\nsimpy engine (cycles, stall cycles) vs analytical:")
        analytic = {(r["layer"], r["hardware"]): r["cycles"] for r in table.rows()}
        own_model = {a.name: _own_timing(a) for a in accs if not replays_closed_form(a)}
        for s in sims:
            ref = analytic[(s.layer, s.hardware)]
            vs = own_model.get(s.hardware) or _vs_analytical(s.cycles, ref)
            print(f"  {s.layer:14s} {s.hardware:14s} {s.cycles:12.0f} {s.stall_cycles:10.0f}  ({vs})")
    print(f"\nwrote {out / 'layers.csv'} and {out / 'layers.json'}")
    return 0


def _vs_analytical(cycles: float, ref: float) -> str:
    """The event engine's cycles against the closed form's, as a signed percentage (0 cycles on both: equal)."""
    if ref == 0:
        return "both 0 cycles" if cycles == 0 else f"{cycles:.0f} cycles vs 0 analytical"
    return f"{(cycles - ref) / ref * 100 + 0.0:+.2f}% vs analytical"


def _own_timing(acc) -> str:
    """Why the event engine's cycles are not compared on this hardware (its analytical cycles use another model)."""
    model = (f"engine {acc.pe.engine}" if acc.memory.convention == "native"
             else f"the {acc.memory.convention} convention")
    return f"not compared: the analytical cycles come from {model}'s own timing, which this engine does not replay"


def _print_validation(accs) -> None:
    """Per hardware, which reference validates its cycles, traffic and energy; the rest is marked unvalidated."""
    from sparsesim.provenance import QUANTITIES, provenance

    print("\nvalidated by (docs/validation.md; the layers.csv columns *_validated_by):")
    for a in accs:
        prov = provenance(a)
        cells = ", ".join(f"{q}: {prov.label(q)}" for q in QUANTITIES)
        print(f"  {a.name[:14]:14s} {cells}")


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from fileguard import OutputLock, check_writable

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("sparsesim bench: no CUDA device on this machine; GPU runs skipped (use --device cpu)")
        return 0
    out = check_writable(args.out)   # before minutes of timing, not after them
    with OutputLock(out, "bench"):   # one job per --out: two runs never replace each other's timings
        return _bench_locked(args, out)


def _bench_locked(args: argparse.Namespace, out: Path) -> int:
    import json
    from dataclasses import asdict

    from fileguard import atomic_write_text

    from . import api

    kind = _model_input_kind(args.artifact, args.model, args.input_shape, artifact_model=True)
    if kind == "onnx" or (kind != "artifact" and not args.model):
        raise ValueError(f"{short(args.artifact)}: bench runs a torch model; give a .pt/.pth/.safetensors checkpoint "
                         "with --model MODULE:CALLABLE|FILE.py:CALLABLE|ZOO_NAME (ONNX files: simulate only)")
    checks.refuse_unused("bench", {"kind": kind, "source": args.artifact, "model": args.model,
                                   "trust_module": args.trust_module, "input_shape": args.input_shape}, cli=True)
    measured = api.bench(args.artifact, args.device, args.batch, repeats=args.repeats, threads=args.threads,
                         wait_idle_s=args.wait_idle, model=args.model, trust_module=args.trust_module,
                         input_shape=args.input_shape)
    table, roof = measured.columns, measured.roofline
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "measured.csv")   # the columns of simulate's layers.csv (engine "measured")
    rows = table.rows()
    atomic_write_text(out / "roofline.json", json.dumps(asdict(roof), indent=1) + "\n")
    print(f"{'layer':10s} {'batch':>5s} {'variant':8s} {'median us':>10s} {'IQR %':>6s} {'trust':>5s} "
          f"{'speedup':>8s} {'GFLOP/s':>8s} {'% peak':>7s} {'% roof':>7s}  note")
    for r in rows:
        print(f"{r['layer'][:10]:10s} {r['batch']:5d} {r['format']:8s} {r['latency_s'] * 1e6:10.1f} "
              f"{r['latency_iqr_rel'] * 100:6.1f} {'yes' if r['timing_trusted'] else 'NO':>5s} "
              f"{r['speedup_vs_dense']:8.2f} {r['achieved_gflops']:8.2f} {r['utilization'] * 100:7.1f} "
              f"{r['fraction_of_roofline'] * 100:7.1f}  {r['note']}")
    untrusted = [r for r in rows if not r["timing_trusted"]]
    if untrusted:
        print(f"\n{len(untrusted)} of {len(rows)} timings untrusted (timing_note in measured.csv), e.g. "
              f"{untrusted[0]['layer']} {untrusted[0]['format']}: {untrusted[0]['timing_note']}")
    print(f"\nwrote {out / 'measured.csv'} and {out / 'roofline.json'}")
    return 0


# compare --quick: fewer probes and epochs, no CPU timing, no hardware in the loop (each may be set again)
QUICK = {"ladder": [0.5, 0.75, 0.9], "bisections": 0, "admm_rounds": 2, "retrain_epochs": 3, "measure_cpu": False,
         "hil_preset": None}


def cmd_compare(args: argparse.Namespace) -> int:
    import torch

    from analysis.compare_config import CompareConfig
    from pruning.config import load_yaml

    from . import api

    base = load_yaml(args.config) if args.config else {}
    over = {k: v for k, v in {
        "model": args.model, "input_shape": args.input_shape and list(args.input_shape),
        "dataset": args.dataset, "data_dir": args.data_dir, "bits": args.bits,
        "tolerance_pp": args.tolerance, "seed": args.seed, "budget": args.budget,
        "tie_threshold": args.tie_threshold, "jobs": args.jobs,
        "structures": args.structures, "presets": args.presets,
        "measure_cpu": False if args.no_cpu else None, "workloads": args.workloads}.items() if v is not None}
    data = {**(QUICK if args.quick else {}), **base, **over}   # --quick: defaults a --config or flag may override
    dataset = data.get("dataset", "digits")
    if "model" not in data and dataset == "npz":
        raise ValueError("--dataset npz needs --model (a zoo model taking its sample shape, MODULE:CALLABLE or "
                         "FILE.py:CALLABLE; or model: in --config)")
    if "model" not in data and isinstance(dataset, str) and dataset in DEFAULT_MODEL:
        data["model"] = DEFAULT_MODEL[dataset]
    cfg = CompareConfig.from_dict(data)   # checks every field, the flags' values among them
    _refuse_zoo_workloads(args.workloads, cfg.model)
    threads = set_torch_threads(args.threads)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, flush=True))
    log(f"[plan] {threads} torch thread(s){'' if args.threads else ' (the free cores now; --threads to set)'}")
    if args.quick:
        log("[plan] --quick: a first look (" + ", ".join(f"{k} {v}" for k, v in QUICK.items()) + "); rerun "
            "without it, into another --out, for the report you publish")
    summary = api.compare(cfg, args.out, log=log, progress=not args.quiet)
    if args.quiet:   # one line: where the report is and the verdict in short
        print(compare_line(summary, Path(args.out)))
    return 0


def _refuse_zoo_workloads(workloads: str | None, model) -> None:
    """``compare --workloads`` with a zoo CNN: it is priced from its module list either way (the flag would be
    ignored)."""
    from pruning.models import MODELS, TRACED

    if workloads is not None and isinstance(model, str) and model in MODELS and model not in TRACED:
        raise checks.InputError(f"--workloads {workloads} has no effect with --model {model} (a zoo CNN is priced "
                                "from its module list; --workloads chooses for your own model or vit_tiny); allowed: "
                                "leave --workloads out")


def compare_line(summary: dict, out: Path) -> str:
    """'compare: OUT/report.md; winners: eie_like non-structured, tpu_like filter, ...' (ties joined by '='; a
    platform without a matched candidate is left out, as in the report)."""
    from analysis.verdict import short_verdict

    short_verdicts = [short_verdict(v) for v in summary["verdicts"]]   # untrusted timings keep their mark
    return f"compare: {out / 'report.md'}; winners: {', '.join(short_verdicts) or 'none matched'}"


def cmd_sweep(args: argparse.Namespace) -> int:
    from analysis.sweep import SweepSpec, check_scheduler

    from . import api

    check_scheduler(args.scheduler)
    checks.refuse_unused("sweep", {"workers": args.workers, "scheduler": args.scheduler}, cli=True)
    spec = SweepSpec.from_yaml(args.spec)
    out = Path(args.out) if args.out else Path(args.spec).with_suffix("")
    res = api.sweep(spec, out, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
    print(f"{len(res.rows)} points ({res.computed} computed, {res.cached} from cache); "
          f"Pareto front of {len(res.pareto)} on {', '.join(spec.objectives)}; tables in {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from accel_models.hardware import load_accelerator
    from fileguard import check_writable

    from . import api

    checks.refuse_unused("export", {"to": args.to, "scalesim_format": args.scalesim_format,
                                    "act_density": args.act_density}, cli=True)
    acc = load_accelerator(args.hardware)
    out = check_writable(args.out)
    paths = api.export(args.artifact, args.to, acc, out, scalesim_format=args.scalesim_format,
                       act_density=args.act_density)
    print(f"exported {args.artifact} for {args.to} on {acc.name}: {len(paths)} files in {out}")
    if args.to == "scalesim":
        print(f"run: python -m scalesim.scale -c {out / 'scalesim.cfg'} -t {out / 'topology.csv'} "
              f"-l {out / 'layout.csv'} -p {out / 'results'}" + (" -i gemm" if args.scalesim_format == "gemm" else ""))
    return 0


def dataclass_row(cost) -> dict:
    from dataclasses import asdict
    return asdict(cost)


# ------------------------------------------------------------ option types
class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``sparsesim <command>: error: ...``), no usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {clip(message, 300)} (see {self.prog} --help)\n")


def _int_in(lo: int, hi: int):
    """The argparse type of an option with no API argument (a config field's override, checked again there): an
    integer in lo..hi, by the API's rule class (``sparsecodesign.checks``)."""
    return checks.int_in(lo, hi).option


_seconds = checks.WAIT_S.option
_device = checks.DEVICE_RULE.option


def _check_device(device: str) -> None:
    """A CUDA device that this machine has (``prune`` needs it; ``bench`` skips with a message instead)."""
    if device == "cpu":
        return
    import torch

    index = int(device.split(":")[1]) if ":" in device else 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise ValueError(f"--device {device}: this machine has {have} CUDA device(s); allowed: cpu"
                         + (f", cuda, cuda:0..{have - 1}" if have else ""))


def _config_value(text: str):
    """The argparse type of a compare config flag: the text as its YAML field would read (an int, a float, else the
    text), checked by ``CompareConfig`` alone (one owner, one error line for the flag, the YAML and the API)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _config_list(text: str) -> list[str]:
    """A compare config list flag: comma-separated names, checked by ``CompareConfig`` (empty or repeated names
    included)."""
    return [n.strip() for n in text.split(",")]


SEED = checks.SEED.option          # options with an API argument: the API's rule parses them
THREADS = checks.THREADS.option
BATCH = checks.BATCH.option


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error instead of one line")
    p = _Parser(prog="sparsesim", description=__doc__, parents=[common])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    pr = sub.add_parser("prune", parents=[common],
                        help="ADMM-prune and quantize a model; write a pruned-model artifact")
    pr.add_argument("--model", metavar="NAME|MODULE:CALLABLE|FILE.py:CALLABLE",
                    help="zoo model (default: digits_cnn for digits, lenet5 for mnist and fashion_mnist; required for imagefolder and "
                         "npz) or your own: a callable returning an nn.Module (runs that code; called with "
                         "num_classes= when it takes it)")
    pr.add_argument("--input-shape", metavar="C,H,W", type=checks.SHAPE.option, help="your model's input sample shape, when neither the model "
                                                           "nor its module has an input_shape attribute")
    pr.add_argument("--dataset", default="digits", choices=sorted([*DEFAULT_MODEL, *USER_DATASETS]))
    pr.add_argument("--data-dir", help="the data set's files (mnist, fashion_mnist, cifar10: a directory; imagefolder: DIR with "
                                       "train/<class>/*.png and test/<class>/*.png; npz: FILE.npz with x_train, "
                                       "y_train, x_test, y_test)")
    pr.add_argument("--workers", type=checks.LOADER_WORKERS.option, help="imagefolder: DataLoader worker processes (0..64, "
                                                           "default 0)")
    pr.add_argument("--config", help="pruning YAML (default: a shipped config for the model)")
    pr.add_argument("--out", required=True, help="artifact directory")
    pr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (a config may change "
                                                          "learning rates, rho and epoch counts of units not yet run)")
    pr.add_argument("--overwrite", action="store_true", help="discard a checkpoint or artifact already in OUT "
                                                             "(without it or --resume such an OUT is refused)")
    pr.add_argument("--download", action="store_true", help="fetch missing MNIST files into --data-dir (verified)")
    pr.add_argument("--init", help="start from the weights of an artifact directory")
    pr.add_argument("--validation-fraction", type=checks.VALIDATION_FRACTION.option,
                    help="share of the training data held out for every accuracy the job measures (default 0.1; "
                         "0: none, accuracies on test); the test set is then only reported")
    pr.add_argument("--method", choices=["admm", "magnitude", "group_lasso"], help="override the config")
    pr.add_argument("--pretrain-epochs", type=_int_in(0, 100_000), help="override the config (0..100000; 0 with "
                                                                         "--init)")
    pr.add_argument("--seed", type=SEED, help=f"override the config (0..{MAX_SEED})")
    pr.add_argument("--device", type=_device, default="cpu", help="cpu, cuda or cuda:N")
    pr.add_argument("--threads", type=THREADS, help=f"torch intra-op threads (1..{MAX_THREADS}; default: the cores "
                                                    "free when the run starts)")
    pr.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines; one line at the end: "
                                                         "artifact, compression, accuracy and loss")
    pr.set_defaults(func=cmd_prune)

    sm = sub.add_parser("simulate", parents=[common],
                        help="price a pruned-model artifact or a SCALE-Sim topology on accelerators "
                             "(per-layer table, CSV, JSON)")
    sm.add_argument("artifact", nargs="?", help="pruned-model artifact directory, a checkpoint (.pt/.pth loaded with "
                                                "weights_only, .safetensors; torch.nn.utils.prune and torch.ao.pruning "
                                                "states too) or an ONNX file (or use --topology)")
    sm.add_argument("--model", metavar="MODULE:CALLABLE", help="checkpoint: the model it holds the state of "
                                                               "(MODULE:CALLABLE, FILE.py:CALLABLE or a zoo name; "
                                                               "runs that code), for conv geometry; artifact of "
                                                               "your model with --calibrate: its --model")
    sm.add_argument("--input-shape", metavar="C,H,W", type=checks.SHAPE.option, help="checkpoint with --model, or ONNX: one input sample's "
                                                           "shape (default: the model's input_shape / the graph's)")
    sm.add_argument("--workloads", choices=["traced", "modules"],
                    help="checkpoint with --model: traced (default: every GEMM the model runs, a Linear over every "
                         "token, attention's projections and score/context matmuls) or modules (its Conv2d/Linear "
                         "list, a Linear as one token); both print the priced share of the model's FLOPs")
    sm.add_argument("--topology", metavar="FILE.csv", help="SCALE-Sim v3 topology file (conv or GEMM format; "
                                                           "optional Sparsity, Weight density, Activation density)")
    sm.add_argument("--seed", type=SEED, help="seed of the random masks a topology's densities ask for "
                                                         f"(0..{MAX_SEED})")
    sm.add_argument("--max-exact-weights", type=checks.MAX_EXACT.option, metavar="N",
                    help="topology: a memory bound, the weights drawn as exact masks (M x K summed over those layers; "
                         f"default {DEFAULT_MAX_EXACT_WEIGHTS:,}, about 5 bytes each); the largest layers beyond it "
                         "are priced from counts of the same law (statistical mode), 0 for every layer "
                         f"(0..{MAX_TOTAL_WEIGHTS:,})")
    sm.add_argument("--act-seed", type=SEED, help="seed of the activation patterns drawn where an engine "
                                                             "needs which inputs are nonzero (EIE, SCNN; "
                                                             "SCNN always draws) and --calibrate "
                                                             f"measured none (0..{MAX_SEED}; default fixed)")
    sm.add_argument("--bits", type=checks.BITS.option, help="weight bits of every layer (1..16, or 32 = float; "
                                                         "default 8 for a topology, 32 as stored for a checkpoint "
                                                         "or ONNX file, an artifact's own widths; on an artifact the "
                                                         "width changes, its values and zeros are kept)")
    sm.add_argument("--scalesim-config", metavar="FILE.cfg", help="hardware from a SCALE-Sim .cfg (implies the "
                                                                   "SCALE-Sim convention; cycles incl. prefetch)")
    sm.add_argument("--hw", help="preset name(s), comma-separated, or a YAML file "
                                 f"(default {DEFAULT_HW} unless --scalesim-config; see `sparsesim presets`)")
    sm.add_argument("--batch", type=BATCH, default=1, help=f"images per inference (1..{MAX_BATCH})")
    sm.add_argument("--engine", choices=["analytical", "simpy"], default="analytical",
                    help="simpy also runs the event-level engine and writes timeline.csv")
    sm.add_argument("--out", help="output directory (default ARTIFACT/sim, or TOPOLOGY_sim, FILE_sim)")
    sm.add_argument("--calibrate", type=checks.CALIBRATE_IMAGES.option, metavar="N",
                    help="measure input-activation sparsity (ReLU zeros) on N test images of the artifact's data set "
                         "(1..1000000)")
    sm.add_argument("--data-dir", help="data directory for --calibrate (mnist, cifar10)")
    sm.add_argument("--trust-module", metavar="MODULE", type=checks.TRUST.option, help="--calibrate: import the artifact's model.factory "
                                                             "from MODULE (code; zoo models need no flag)")
    sm.set_defaults(func=cmd_simulate)

    bn = sub.add_parser("bench", parents=[common],
                        help="time an artifact's layers dense / CSR / COO / compacted on this CPU or GPU")
    bn.add_argument("artifact", help="pruned-model artifact directory, or a .pt/.pth/.safetensors checkpoint with "
                                     "--model")
    bn.add_argument("--model", metavar="MODULE:CALLABLE", help="checkpoint: the model it holds the state of "
                                                               "(MODULE:CALLABLE, FILE.py:CALLABLE or a zoo name; "
                                                               "runs that code); artifact of your model: its "
                                                               "--model")
    bn.add_argument("--input-shape", metavar="C,H,W", type=checks.SHAPE.option, help="checkpoint: one input sample's shape (default: the "
                                                           "model's input_shape)")
    bn.add_argument("--device", type=_device, default="cpu", help="cpu, cuda or cuda:N (skipped with a message "
                                                                   "when no GPU exists)")
    bn.add_argument("--out", required=True, help="output directory (measured.csv, roofline.json)")
    bn.add_argument("--batch", type=BATCH, default=8, help=f"user batch, timed besides batch 1 (1..{MAX_BATCH})")
    bn.add_argument("--repeats", type=checks.REPEATS.option, default=20, help="timed runs per case (1..10000)")
    bn.add_argument("--threads", type=THREADS, help="torch intra-op threads (default: the physical cores this "
                                                    "process may use)")
    bn.add_argument("--wait-idle", type=_seconds, default=0.0, metavar="SECONDS",
                    help="on a loaded machine, wait up to SECONDS for it to go quiet before timing (default 0: "
                         "warn and flag the timings untrusted)")
    bn.add_argument("--trust-module", metavar="MODULE", type=checks.TRUST.option, help="import the artifact's model.factory from MODULE "
                                                             "(code; zoo models need no flag)")
    bn.set_defaults(func=cmd_bench)

    cp = sub.add_parser("compare", parents=[common],
                        help="prune with every structure at matched accuracy, price on every platform, "
                             "write report.md/report.html, results.csv and plots")
    cp.add_argument("--out", required=True)
    cp.add_argument("--config", help="YAML with CompareConfig fields (flags override it)")
    cp.add_argument("--model", metavar="NAME|MODULE:CALLABLE|FILE.py:CALLABLE",
                    help="zoo model (default: the data set's) or your own: a callable returning an nn.Module (runs "
                         "that code, in every --jobs process; called with num_classes= when it takes it)")
    cp.add_argument("--input-shape", metavar="C,H,W", type=_config_list, help="your model's input sample shape, when neither the model "
                                                           "nor its module has an input_shape attribute")
    cp.add_argument("--workloads", metavar="{traced,modules}",
                    help="your model (MODULE:CALLABLE, FILE.py:CALLABLE): traced (default: every GEMM it runs) or "
                         "modules (its Conv2d/Linear list, a Linear as one token); zoo CNNs: their module list, vit_tiny: traced")
    cp.add_argument("--dataset", metavar="{" + ",".join(sorted([*DEFAULT_MODEL, "npz"])) + "}")
    cp.add_argument("--data-dir", help="mnist, fashion_mnist, cifar10: a directory of their files; npz: FILE.npz with x_train, "
                                       "y_train, x_test, y_test")
    # compare's config flags are parsed, never checked, here: CompareConfig checks each (the line a --config YAML
    # or sc.compare(...) with the same value gets)
    cp.add_argument("--bits", type=_config_value, help="weight bit-width for every structure: 1..16, or "
                                                        "32 = float")
    cp.add_argument("--tolerance", type=_config_value, help="non-inferiority margin on validation (paired test), "
                                                            "percentage points (0, 100)")
    cp.add_argument("--budget", metavar="{global,uniform,cost,both,all}",
                    help="global (default): one whole-network ratio per structure, shared out per layer; uniform: "
                         "the same ratio in every layer; cost: per platform, a whole-network budget of that "
                         "platform's cost (cost_metric in a --config); both: global decides, uniform beside; all: "
                         "global decides, uniform and cost beside, and the verdict under every rule")
    cp.add_argument("--jobs", type=_config_value, help="structure searches run at once (processes; 1..64, "
                                                        "default 1)")
    cp.add_argument("--tie-threshold", type=_config_value, help="relative cost difference below which models tie, "
                                                                 "[0, 1) (default 0.05)")
    cp.add_argument("--structures", type=_config_list, help="comma-separated subset of nonstructured,filter,"
                                                            "channel,column,block,nm")
    cp.add_argument("--presets", type=_config_list, help="comma-separated hardware presets (or .yaml files)")
    cp.add_argument("--no-cpu", action="store_true", help="skip the measured CPU runs")
    cp.add_argument("--quick", action="store_true", help="a first look: ladder 0.5/0.75/0.9 without bisections, 2 "
                    "ADMM rounds, 3 retraining epochs, no CPU timing or hardware in the loop (a --config or flag "
                    "still overrides each)")
    cp.add_argument("--seed", type=_config_value, help=f"0..{MAX_SEED}")
    cp.add_argument("--threads", type=THREADS, help=f"torch intra-op threads (1..{MAX_THREADS}; default: the cores "
                                                    "free when the run starts)")
    cp.add_argument("--quiet", action="store_true", help="no progress lines or bars; one line at the end: the "
                                                         "report path and the winner per platform")
    cp.set_defaults(func=cmd_compare)

    sw = sub.add_parser("sweep", parents=[common],
                        help="design-space sweep over hardware x structure x ratio x bits (Dask)")
    sw.add_argument("spec", help="sweep YAML (see docs/sweep.md)")
    sw.add_argument("--out", help="output directory (default: the YAML's name)")
    sw.add_argument("--scheduler", help="tcp://host:port of a Dask cluster; 'sync' runs in this process; "
                                        "default: a LocalCluster on this machine")
    sw.add_argument("--workers", type=checks.SWEEP_WORKERS.option, help="LocalCluster worker processes (1..256, default 2)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar; the summary line (points, Pareto "
                                                         "front, output directory) stays")
    sw.set_defaults(func=cmd_sweep)

    ex = sub.add_parser("export", parents=[common],
                        help="write an artifact's layers as SCALE-Sim v3 or Timeloop/Accelergy v4 inputs "
                             "(docs/export.md)")
    ex.add_argument("artifact", help="pruned-model artifact directory")
    ex.add_argument("--to", required=True, choices=["scalesim", "timeloop"],
                    help="scalesim: topology.csv, layout.csv, scalesim.cfg; timeloop: arch.yaml, mapper.yaml, "
                         "problem_<layer>.yaml")
    ex.add_argument("--out", required=True, help="output directory (created; files in it are replaced)")
    ex.add_argument("--hw", "--hardware", dest="hardware", default=DEFAULT_HW, help=f"preset name or YAML file (default {DEFAULT_HW}; "
                                                           "see `sparsesim presets`)")
    ex.add_argument("--scalesim-format", choices=["conv", "gemm"],
                    help="SCALE-Sim topology format (default conv; gemm for dilated, non-square-stride layers)")
    ex.add_argument("--act-density", type=checks.DENSITY.option, metavar="D",
                    help="input-activation density of every layer for Timeloop, [0, 1] (default 1.0)")
    ex.set_defaults(func=cmd_export)

    ps = sub.add_parser("presets", parents=[common], help="list the shipped hardware presets, or print one with "
                                                          "every field (--show)")
    ps.add_argument("--show", metavar="NAME", help="print preset NAME (or FILE.yaml) as YAML with every field "
                                                   "resolved, defaults filled, to copy and edit (docs/hardware.md)")
    ps.set_defaults(func=cmd_presets)
    return p


# error classes by module: a module's errors can only be raised once it was imported, so the CLI looks them up in
# sys.modules when an error arrives and never imports torch (through pruning/analysis) just to name them
PRUNE_ERRORS = (("pruning.pipeline", "PruneError"),)
BAD_INPUT_ERRORS = (("pruning.data", "DataError"), ("pruning.artifact_read", "ArtifactError"),
                    ("sparsesim.stopwatch", "MeasureError"), ("accel_models.hardware", "HardwareError"),
                    ("sparsesim.workload", "WorkloadError"), ("sparsesim.formats", "FormatError"),
                    ("analysis.compare_config", "CompareError"), ("analysis.sweep", "SweepError"))


def _loaded(names) -> tuple[type[BaseException], ...]:
    found = (getattr(sys.modules.get(mod), cls, None) for mod, cls in names)
    return tuple(c for c in found if isinstance(c, type))


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean the input is wrong (exit 2); their messages name the file, field or option."""
    return (InputError, *_loaded(BAD_INPUT_ERRORS), ValueError)


def _os_error(e: OSError) -> tuple[int, str]:
    """(exit code, message) of a file-system error: what happened to which path."""
    where = f"{e.filename}: " if e.filename else ""
    what = e.strerror or str(e) or type(e).__name__
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return 1, f"failed: {where}{what} (disk full: free space and rerun; finished work is kept)"
    if isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)) \
            or e.errno == errno.EROFS:
        return 2, f"error: {where}{what}"
    return 1, f"failed: {where}{what}"


def _run(args: argparse.Namespace) -> tuple[int, str | None]:
    """Run the subcommand: (exit code, the one error line after ``sparsesim <command>: `` or None)."""
    try:
        return args.func(args), None
    except KeyboardInterrupt:
        return 130, "interrupted (finished work is kept; rerun to continue)"
    except _loaded(PRUNE_ERRORS) as e:
        return 1, f"failed: {e}"
    except _bad_input_errors() as e:
        return 2, f"error: {e}"
    except OSError as e:
        return _os_error(e)
    except MemoryError:
        return 1, "failed: out of memory (use a smaller batch, model or sweep)"
    except RuntimeError as e:
        text = str(e)
        if "enforce fail" in text or "write failed" in text or "file write" in text:  # torch.save on a full disk
            return 1, f"failed: could not write a file (disk full or I/O error): {clip(text, 160)}"
        return 1, f"failed: {type(e).__name__}: {text} (run with --debug for the traceback)"
    except SystemExit as e:  # nothing of ours exits: user code did (a --model's forward, a trusted module)
        return 1, (f"failed: sys.exit({e.code!r}) was called during the run (by your model's or a trusted module's "
                   "code; run with --debug for the traceback)")
    except Exception as e:  # last resort: one line, never a traceback
        return 1, f"failed: {type(e).__name__}: {e} (run with --debug for the traceback)"


def main(argv: list[str] | None = None) -> int:
    """The ``sparsesim`` entry point: the exit code (0 done, 1 a failed run, 2 bad input, 130 interrupted).

    Every failure is one line on stderr, ``sparsesim <command>: error: ...`` (bad input) or ``... failed: ...``;
    ``--debug`` shows the traceback instead."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    dashes = next((a for a in argv if a.startswith("--") and a.endswith("=--") and "=" not in a[:-3]), None)
    if dashes:   # argparse (3.11) reads "--opt=--" as an empty list, not as a missing value
        command = argv[0] if argv and not argv[0].startswith("-") else "sparsesim"
        print(f"sparsesim {command}: error: argument {dashes[:-3]}: expected one argument "
              f"(see sparsesim {command} --help)", file=sys.stderr)
        return 2
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            parser.exit(2, f"sparsesim {args.command}: error: unrecognized arguments: {clip(' '.join(extra), 200)} "
                           f"(see sparsesim {args.command} --help)\n")
    except SystemExit as e:  # --help, or a bad option (argparse printed its one line)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    quiet_openmp()   # before any command imports torch
    if getattr(args, "debug", False):
        return args.func(args)
    code, message = _run(args)
    if message is not None:
        print(f"sparsesim {args.command}: {clip(message, 1000)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
