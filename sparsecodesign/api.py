"""The public functions: thin over the same code the ``sparsesim`` commands run (docs/api.md).

Every one is ``@validated``: its arguments are checked by the rules of ``sparsecodesign.checks`` (the ones the
command line parses its options with) before any work; a bad one is ``InputError`` naming it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from .checks import InputError, given, refuse_unused, validated
from .table import CostTable

__all__ = ["InputError"]   # re-exported: ``sc.InputError``


def _config(config, model_name: str | None, dataset: str | None):
    from pruning.config import ConfigError, PruneConfig
    from pruning.defaults import default_config_path

    if isinstance(config, PruneConfig):
        return config
    if config is None:
        return PruneConfig.from_yaml(default_config_path(model_name or "", dataset or ""))
    if isinstance(config, dict):
        return PruneConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return PruneConfig.from_yaml(config)
    raise ConfigError(f"config {str(config)[:80]!r}: allowed: a dict, a YAML path, a PruneConfig or None (the "
                      "shipped default for the model and data set)")   # unreachable from prune: checked first


@validated
def prune(model, data, config, out: str | Path, *, data_dir: str | Path | None = None,
          validation_fraction: float | None = None, **kw):
    """Prune (and quantize) ``model`` on ``data`` into the artifact directory ``out``; returns the
    ``PruneResult`` (``out_dir``, ``dense_accuracy``, ``pruned_accuracy``, ``compression``, ``manifest``).

    ``model``: a zoo name (``"digits_cnn"``, ``"lenet5"``), ``"module:callable"`` / ``"file.py:callable"``, or an
    ``nn.Module`` (it needs an ``input_shape`` attribute or a first layer that fixes it).  ``data``: a built-in
    data set name (``"digits"``; ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ``"imagefolder"`` with ``data_dir``) or a
    ``pruning.data.Dataset``.  ``config``: a dict, a YAML path, a ``PruneConfig``, or None for the shipped default.
    ``validation_fraction``: the share of the training data held out as the validation split (default
    ``pruning.defaults.VALIDATION_FRACTION``, 0.1; a seeded draw, ``config.seed``); every accuracy the job measures
    is on it and the test set is evaluated only to be reported (``PruneResult.test_*``, ``manifest.accuracy.test``);
    0 trains on all of it and measures on the test set, as before.
    Other keywords go to ``pruning.pipeline.run_prune`` (``resume``, ``overwrite``, ``device``, ``progress``,
    ``log``, ``teacher``; ``model_name`` names an ``nn.Module`` in the artifact, as the CLI's ``--model`` does)."""
    import torch

    from pruning.data import load_dataset, split_validation
    from pruning.defaults import DEFAULT_MODEL, VALIDATION_FRACTION
    from pruning.pipeline import run_prune

    refuse_unused("prune", {"data": data if isinstance(data, str) else f"a loaded {type(data).__name__}",
                            "data_dir": data_dir})
    dataset = load_dataset(data, data_dir) if isinstance(data, str) else data
    if model is None:
        model = DEFAULT_MODEL.get(getattr(dataset, "name", ""))
        if model is None:
            raise InputError(f"prune: model=None: data {str(getattr(dataset, 'name', data))[:80]!r} has no default "
                             "model; allowed: model= a zoo name, 'module:callable' or an nn.Module")
    cfg = _config(config, model if isinstance(model, str) else None, getattr(dataset, "name", None))
    model_name = kw.pop("model_name", None) or (model if isinstance(model, str) else None)
    from pruning.user_model import build_for_data, check_fits_data

    if isinstance(model, str):   # the CLI's resolver: zoo name or your callable, checked against the data
        torch.manual_seed(cfg.seed)
        model = build_for_data(model, dataset.num_classes, dataset.input_shape,
                               dataset=getattr(dataset, "name", "data"))
    else:   # your module: one forward pass on the data's shape, one score per class
        shape = getattr(model, "input_shape", None)
        if shape is not None and tuple(shape) != tuple(dataset.input_shape):
            raise InputError(f"model {model_name or type(model).__name__!r} takes inputs {tuple(shape)}, data "
                             f"{getattr(dataset, 'name', '?')!r} has {tuple(dataset.input_shape)}")
        check_fits_data(model, f"model {model_name or type(model).__name__!r}", dataset.num_classes,
                        tuple(dataset.input_shape), getattr(dataset, "name", "data"))
    from sparsesim.storage import price_storage

    fraction = VALIDATION_FRACTION if validation_fraction is None else validation_fraction
    if fraction > 0:
        search, full = split_validation(dataset, fraction, cfg.seed)
        n_val, n_train = len(search.test), len(full.train)
        (kw.get("log") or print)(f"prune: validation split {n_val} of {n_train} training images (fraction "
                                 f"{fraction:g}, seed {cfg.seed}): every accuracy below is on it; the test set "
                                 f"({len(full.test)}) is evaluated only to be reported")
        return run_prune(model, search, cfg, out, model_name=model_name, storage=price_storage, test=full.test,
                         **kw)
    return run_prune(model, dataset, cfg, out, model_name=model_name, storage=price_storage, **kw)


def _source_path(source):
    """A path for what ``simulate`` reads from a file: a PruneResult / Artifact / ArtifactData or a path."""
    for attr in ("out_dir", "path"):
        if hasattr(source, attr) and not isinstance(source, (str, Path)):
            return getattr(source, attr)
    return source


def _is_module(value) -> bool:
    """``value`` is an ``nn.Module``, told without importing torch: an instance exists only once torch is loaded."""
    nn = sys.modules.get("torch.nn")
    return nn is not None and isinstance(value, nn.Module)


@validated
def simulate(source, hardware=None, batch: int = 1, *, bits: int | None = None, model=None, input_shape=None,
             calibrate: int = 0, data_dir=None, trust_module: str | None = None, seed: int = 0,
             act_seed: int = 0, max_exact_weights: int | None = None, workloads: str | None = None,
             log: Callable[[str], None] = print) -> CostTable:
    """Per-layer cost of a model on one or more accelerators (the analytical engine ``sparsesim simulate`` runs).

    ``source``: what ``prune`` returned, a ``load_artifact`` result, an artifact directory, a checkpoint
    (``.pt``/``.pth``/``.safetensors``; ``model=`` a spec or ``nn.Module`` for conv geometry), an ONNX file, a
    SCALE-Sim topology ``.csv`` (8-bit unless ``bits``), or an ``nn.Module`` (priced as it stands, at
    ``bits`` or 32-bit weights; ``input_shape`` unless it has one).
    ``hardware``: a preset name, ``"a,b"``, a YAML path, an ``Accelerator``, or a list of them (default
    ``eyeriss_like``).  ``batch``: images per inference.  ``seed``: the random zero patterns a topology's
    sparsity columns ask for.  ``act_seed``: the seed of the activation patterns drawn where an engine needs which
    inputs are nonzero (EIE, SCNN; SCNN always draws) and no measured pattern exists (``calibrate`` measures
    them); the default is fixed, so results are reproducible; rerun with other seeds for the spread.
    ``max_exact_weights``: a topology's memory bound, the weights drawn as exact masks (M x K summed; default
    ``sparsesim.topology``'s 2^26, about 5 bytes each); larger layers are priced from counts of the same law
    (``sparsesim.pattern``), 0 prices every layer so.  ``workloads``: how a model you give (an ``nn.Module``, or a
    checkpoint with ``model=``) becomes workloads: ``"traced"`` (the default: every GEMM it runs, Linear over every
    token, attention's projections and score/context matmuls; docs/cost_model.md "Traced workloads") or
    ``"modules"`` (its Conv2d/Linear list, a Linear as one token); either logs one line with the priced share of
    the model's FLOPs.  Artifacts, ONNX files and topologies are priced from their layer lists.  Writes nothing:
    ``CostTable.to_csv(path)``."""
    from analysis.simulation import hardware_list, model_workloads, price, with_act_seed, workloads_of
    from sparsesim.traced_workloads import check_mode

    mode = check_mode(workloads)
    accs = hardware_list(hardware, log=log)
    topology = isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".csv"
    is_module = _is_module(source)   # pricing an artifact, ONNX file or topology never imports torch
    if not is_module and not topology:
        from sparsesim.model_import import input_kind

        kind = input_kind(_source_path(source))
    else:
        kind = "module" if is_module else "topology"
    refuse_unused("simulate", {**given("simulate", {
        "model": model, "input_shape": input_shape, "calibrate": calibrate, "data_dir": data_dir,
        "trust_module": trust_module, "seed": seed, "max_exact_weights": max_exact_weights, "workloads": workloads,
        "bits": bits, "act_seed": act_seed}), "kind": kind, "source": type(source).__name__ if kind == "module"
        else _source_path(source), "engines": {a.pe.engine for a in accs}, "hardware": [a.name for a in accs]})
    if is_module:
        from sparsesim.model_import import example_input

        if model is not None:
            raise InputError("simulate(nn.Module, model=...): the module is the model; allowed: leave model= out")
        shape = tuple(input_shape) if input_shape else None
        ws = model_workloads(source, example_input(source, shape), batch, 32 if bits is None else bits, mode, log)
        workloads = with_act_seed(ws, act_seed)
    elif topology:   # a SCALE-Sim topology
        workloads, _ = workloads_of(topology=source, batch=batch, bits=bits, seed=seed, act_seed=act_seed,
                                    max_exact_weights=max_exact_weights, workloads=workloads, log=log)
    else:
        workloads, _ = workloads_of(_source_path(source), model=model, input_shape=input_shape, batch=batch,
                                    bits=bits, calibrate=calibrate, data_dir=data_dir, trust_module=trust_module,
                                    act_seed=act_seed, workloads=workloads, log=log)
    return CostTable(price(workloads, accs))


@validated
def bench(source, device: str = "cpu", batch: int = 8, *, repeats: int = 20, threads: int | None = None,
          wait_idle_s: float = 0.0, model=None, input_shape=None, trust_module: str | None = None,
          log: Callable[[str], None] = print) -> CostTable:
    """Time a model on this machine's CPU or GPU (the measured engine ``sparsesim bench`` runs): every
    Conv2d/Linear as dense, CSR, COO, compacted (and 2:4 on CUDA), and the whole model (``layer == "MODEL"``),
    at batch 1 and ``batch``.  The rows have the columns of ``simulate``'s (engine ``"measured"``, NaN where a run
    gives no figure, such as energy) plus the timing's quartiles and trust flag, so
    ``CostTable.concat(simulated, measured)`` is one table.

    ``source``: what ``prune`` returned, a ``load_artifact`` result, an artifact directory, a checkpoint
    (``.pt``/``.pth``/``.safetensors`` with ``model=`` a spec or ``nn.Module``), or an ``nn.Module`` as it stands
    (``input_shape`` unless it has one).  ``device``: ``"cpu"`` or ``"cuda"``/``"cuda:I"``.  ``threads``: torch
    threads to time with (default: the physical cores); ``wait_idle_s``: how long to wait for a loaded machine to
    go quiet before timing anyway (one ``log`` line).  The table's ``roofline`` holds the peak GEMM rate and copy
    bandwidth measured first (what ``utilization`` and ``fraction_of_roofline`` are relative to)."""
    import torch
    from torch import nn

    from analysis.bench import bench_artifact, bench_checkpoint, bench_loaded
    from sparsesim.stopwatch import MeasureError

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MeasureError(f"device {device!r}: no CUDA device is available on this machine; allowed: 'cpu'")
    batches = tuple(sorted({1, int(batch)}))
    if isinstance(source, nn.Module):
        kind = "module"
    else:
        from sparsesim.model_import import input_kind

        kind = input_kind(_source_path(source))
    refuse_unused("bench", {**given("bench", {"trust_module": trust_module, "input_shape": input_shape,
                                              "model": model}),
                            "kind": kind, "source": type(source).__name__ if kind == "module" else _source_path(source)})
    if isinstance(model, str):   # a spec: the user's own code, named by them
        from sparsesim.model_import import load_model

        model = load_model(model)
    kw = {"device": device, "repeats": repeats, "log": log, "threads": threads, "wait_idle_s": wait_idle_s}
    if isinstance(source, nn.Module):
        from sparsesim.model_import import example_input

        if model is not None:
            raise InputError("bench(nn.Module, model=...): the module is the model; allowed: leave model= out")
        shape = tuple(example_input(source, tuple(input_shape) if input_shape else None).shape[1:])
        table, roof = bench_loaded(source, shape, batches, **kw)
    elif isinstance(source, (str, Path)) and Path(source).suffix.lower() in (".pt", ".pth", ".safetensors"):
        if model is None:
            raise InputError(f"bench: {str(source)[:80]}: a checkpoint holds no architecture; allowed: model= a spec "
                             "('module:callable', 'file.py:callable', a zoo name) or an nn.Module")
        table, roof = bench_checkpoint(source, model, tuple(input_shape) if input_shape else None, batches, **kw)
    elif model is not None:
        art = load_artifact(source, model, trust_module=trust_module)
        table, roof = bench_loaded(art.model, art.manifest["model"]["input_shape"], batches, **kw)
    else:
        table, roof = bench_artifact(_source_path(source), batches, trust_module=trust_module, **kw)
    return CostTable(table, roofline=roof)


@validated
def compare(config, out: str | Path, *, log: Callable[[str], None] = print,
            progress: bool = False) -> dict:
    """Which sparsity structure wins on which platform, at matched accuracy (``sparsesim compare``); writes the
    report into ``out`` and returns the summary dict (also ``out/summary.json``).  ``config``: a
    ``CompareConfig``, a dict of its fields, a YAML path, or None (the digits defaults)."""
    from analysis.compare import run_compare
    from analysis.compare_config import CompareConfig
    from pruning.config import load_yaml
    from pruning.defaults import DEFAULT_MODEL

    if not isinstance(config, CompareConfig):
        data = load_yaml(config) if isinstance(config, (str, Path)) else dict(config or {})
        dataset = data.get("dataset", "digits")
        if "model" not in data and isinstance(dataset, str) and dataset in DEFAULT_MODEL:
            data["model"] = DEFAULT_MODEL[dataset]
        config = CompareConfig.from_dict(data)
    return run_compare(config, out, log=log, progress=progress)


@validated
def sweep(spec, out: str | Path, *, scheduler: str | None = "sync", workers: int | None = None,
          progress: bool = False, log: Callable[[str], None] = print):
    """A design-space sweep (``sparsesim sweep``): ``spec`` a ``SweepSpec``, a dict of its fields or a YAML path;
    results, cache and Pareto front in ``out``.  ``scheduler``: ``"sync"`` (default: in this process), None (a
    local Dask cluster) or ``"tcp://host:port"``.  Returns the ``SweepResult`` (``rows``, ``pareto``, ``out``)."""
    from analysis.sweep import SweepSpec, run_sweep

    refuse_unused("sweep", {"workers": workers, "scheduler": scheduler})
    if isinstance(spec, (str, Path)):
        spec = SweepSpec.from_yaml(spec)
    elif isinstance(spec, dict):
        spec = SweepSpec.from_dict(spec)
    return run_sweep(spec, out, scheduler=scheduler, workers=workers, progress=progress, log=log)


@validated
def export(source, to: str, hardware="eyeriss_like", out: str | Path = "export", *,
           scalesim_format: str | None = None, act_density: float | None = None) -> list[Path]:
    """Write an artifact's layers for another tool (``sparsesim export``): ``to="scalesim"`` (SCALE-Sim v3
    topology.csv, layout.csv, scalesim.cfg; ``scalesim_format="gemm"`` for layers the conv format cannot say, default
    ``"conv"``) or
    ``"timeloop"`` (timeloopfe v4 arch.yaml, mapper.yaml, one problem_<layer>.yaml each, with the artifact's
    weight densities); ``hardware`` a preset name, YAML path or ``Accelerator``; ``act_density`` overrides every
    layer's input-activation density (0..1).  Returns the files written (docs/export.md)."""
    from dataclasses import replace

    from accel_models.hardware import Accelerator
    from fileguard import OutputLock
    from sparsesim.export import scalesim_files, timeloop_files, write_files
    from sparsesim.workload import from_artifact

    refuse_unused("export", {"to": to, "scalesim_format": scalesim_format, "act_density": act_density})
    acc = hardware if isinstance(hardware, Accelerator) else load_hardware(hardware, log=lambda s: None)
    workloads = from_artifact(_source_path(source))
    if act_density is not None:
        workloads = [replace(w, act_density=act_density) for w in workloads]
    files = scalesim_files(workloads, acc, scalesim_format or "conv") if to == "scalesim" else timeloop_files(workloads, acc)
    with OutputLock(out, "export"):   # one job per directory: two exports never mix their files
        return write_files(files, Path(out))


@validated
def presets() -> list[str]:
    """The shipped hardware presets' names (``load_hardware(name)``, ``simulate(..., hardware=name)``)."""
    from accel_models.hardware import preset_names

    return preset_names()


@validated
def load_hardware(name_or_yaml, log: Callable[[str], None] = print):
    """An ``Accelerator`` from a preset name or a hardware YAML (docs/hardware.md); a YAML that leaves fields to
    their defaults gets one line through ``log`` naming them."""
    from analysis.simulation import load_hardware as _load

    return _load(name_or_yaml, log)


@validated
def load_artifact(path, model=None, *, trust_module: str | None = None):
    """The pruned model and its manifest (``pruning.artifact.load_artifact``); ``path`` may be what ``prune``
    returned."""
    from pruning.artifact import load_artifact as _load

    return _load(_source_path(path), model, trust_module=trust_module)


@validated
def masks(source) -> dict:
    """The kept entries of every pruned weight, keyed by **parameter name** (``"conv1.weight"``), the keys of
    ``model.state_dict()`` and of ``pruning.lifecycle.Pruner``'s masks.  ``source``: an artifact (path,
    ``prune`` / ``load_artifact`` result) or an ``nn.Module`` (its Conv2d/Linear weights).  Values: bool tensors of
    the weight's shape.  (Manifest entries and cost rows name the *layer*, i.e. the module: ``"conv1"``.)"""
    import torch
    from torch import nn

    if isinstance(source, nn.Module):
        return {f"{n}.weight": (m.weight.detach() != 0).cpu() for n, m in source.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear))}
    from pruning.artifact import read_artifact

    data = read_artifact(_source_path(source))
    return {f"{name}.weight": torch.from_numpy(w != 0) for name, w in data.weights.items()}
