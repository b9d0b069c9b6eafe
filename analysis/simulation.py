"""What ``sparsesim simulate`` and ``sparsecodesign.simulate`` share: hardware and workloads from their sources,
priced by the analytical engine.  The CLI turns options into these arguments and prints; nothing here prints
except through ``log``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from fileguard import short

DEFAULT_HW = "eyeriss_like"


def hardware_names(hw: str | list | tuple) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` -> the names, each once; one clear error otherwise."""
    names = [h.strip() for h in hw.split(",")] if isinstance(hw, str) else [str(h).strip() for h in hw]
    if not any(names):
        raise ValueError(f"--hw {short(hw)}: no preset or file named; see `sparsesim presets`")
    if not all(names):
        raise ValueError(f"--hw {short(hw)}: an empty name in the list; allowed: NAME[,NAME...] "
                         "(see `sparsesim presets`) or FILE.yaml")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--hw {short(hw)}: {short(twice[0])} named twice; allowed: each name once")
    return names


def load_hardware(name_or_path, log: Callable[[str], None] = print):
    """A preset by name or a user YAML (an ``Accelerator`` passes through); for a YAML, ``log`` gets one line
    naming the fields it left to their defaults."""
    from accel_models.hardware import Accelerator, is_hardware_file, read_hardware
    from accel_models.reference import defaults_line, defaults_used

    if isinstance(name_or_path, Accelerator):
        return name_or_path
    acc, data = read_hardware(name_or_path)
    line = defaults_line(name_or_path, defaults_used(data, acc)) if is_hardware_file(name_or_path) else ""
    if line:
        log(line)
    return acc


def hardware_list(hw, scalesim_config: str | None = None, log: Callable[[str], None] = print) -> list:
    """The accelerators to price on: a SCALE-Sim ``.cfg`` (if given) then ``hw`` (names, a comma list, YAML files
    or ``Accelerator`` objects; default ``DEFAULT_HW`` unless a ``.cfg`` is given)."""
    from accel_models.hardware import Accelerator
    from accel_models.scalesim_cfg import accelerator_from_scalesim_cfg

    accs = [accelerator_from_scalesim_cfg(scalesim_config)] if scalesim_config else []
    hw = hw if hw is not None else (None if accs else DEFAULT_HW)
    if hw is not None:
        items = [hw] if isinstance(hw, Accelerator) else (hardware_names(hw) if isinstance(hw, str) else list(hw))
        named = [h for h in items if not isinstance(h, Accelerator)]
        if not isinstance(hw, (str, Accelerator)) and (named or not items):
            hardware_names(named)   # the same checks as a comma list: none empty, each once
        accs += [load_hardware(h, log) for h in items]
    return accs


def source_kind(path, model=None, input_shape=None, artifact_model: bool = False) -> str:
    """artifact | checkpoint | onnx, with the options that kind allows (a model spec with a checkpoint, or with
    an artifact where its model runs: ``artifact_model``, bench and --calibrate)."""
    from sparsesim.model_import import input_kind

    kind = input_kind(path)
    if model and kind != "checkpoint" and not (kind == "artifact" and artifact_model):
        raise ValueError(f"--model {short(model)}: only for a .pt/.pth/.safetensors checkpoint, or an artifact of your "
                         "own model with bench or --calibrate (simulate reads an artifact's weights, no model code; "
                         "an ONNX graph is its own model)")
    if input_shape and kind == "artifact":
        raise ValueError(f"--input-shape {short(input_shape)}: only for a checkpoint or ONNX file (an artifact "
                         "records its geometry)")
    return kind


def default_out_dir(source=None, topology=None) -> Path:
    """Where ``simulate`` writes when no --out is given: ARTIFACT/sim, or FILE_sim beside a file."""
    path = Path(topology if topology is not None else source)
    return path / "sim" if topology is None and path.is_dir() else path.with_name(path.stem + "_sim")


def with_act_seed(ws: list, act_seed: int) -> list:
    """The workloads with their drawn activation patterns seeded by ``act_seed`` (0, the default, leaves them)."""
    from dataclasses import replace

    return [replace(w, act_seed=act_seed) for w in ws] if act_seed else ws


def workloads_of(source=None, *, topology=None, model=None, input_shape=None, batch: int = 1,
                 bits: int | None = None, calibrate: int = 0, data_dir=None, trust_module=None, seed: int = 0,
                 act_seed: int = 0, max_exact_weights: int | None = None, workloads: str | None = None,
                 log: Callable[[str], None] = print):
    """(workloads, default output directory) from an artifact directory, a checkpoint (``.pt``/``.safetensors``,
    ``model``: a spec string or an ``nn.Module`` it holds the state of), an ONNX file, or a SCALE-Sim topology CSV.
    A checkpoint with its model is traced (``sparsesim.traced_workloads``: every GEMM the model runs, one line with
    the priced share through ``log``) unless ``workloads="modules"`` (its Conv2d/Linear list, the share line too);
    ``workloads="traced"`` on a source without model code is an error.
    ``input_shape``: a tuple or ``"C,H,W"``; ``act_seed``: the seed of drawn activation patterns (measured ones,
    from ``calibrate``, win); ``max_exact_weights``: a topology's bound on exactly drawn weights (``None``: the
    default; ``sparsesim.topology``), the larger layers priced from counts."""
    from sparsesim.model_import import input_kind
    from sparsesim.size_bounds import DEFAULT_MAX_EXACT_WEIGHTS
    from sparsesim.topology import read_topology
    from sparsesim.traced_workloads import check_mode
    from sparsesim.workload import from_artifact, measure_activations

    if (source is None) == (topology is None):
        raise ValueError("give an artifact directory or --topology FILE.csv (one of them)")
    mode = check_mode(workloads)
    if workloads == "traced" and (model is None or topology is not None or input_kind(source) != "checkpoint"):
        raise ValueError("--workloads traced runs the model: give a .pt/.pth/.safetensors checkpoint with --model "
                         "(an artifact, ONNX graph or topology is priced from its own layer list)")
    if topology is not None:
        if calibrate:
            raise ValueError("--calibrate needs an artifact (a topology file has no data set)")
        bound = DEFAULT_MAX_EXACT_WEIGHTS if max_exact_weights is None else max_exact_weights
        ws = read_topology(topology, seed=seed, weight_bits=8 if bits is None else bits, max_exact_weights=bound)
        counted = [w for w in ws if w.statistical]
        if counted:
            log(f"{topology}: {len(counted)} of {len(ws)} layers priced from counts (statistical mode: the file's "
                f"{sum(w.M * w.K for w in ws):,} weights exceed --max-exact-weights {bound:,}; largest layers "
                f"first), e.g. {counted[0].name!r}")
        return with_act_seed([w.with_batch(w.batch * batch) for w in ws], act_seed), default_out_dir(topology=topology)
    spec = model if isinstance(model, str) else None
    shape_text = input_shape if isinstance(input_shape, str) else None
    kind = source_kind(source, spec or (model is not None and "a module"), shape_text or input_shape,
                       artifact_model=bool(calibrate))
    if kind != "artifact":
        from sparsesim.model_import import (example_input, from_checkpoint, from_onnx, load_checkpoint_model,
                                            load_model, parse_input_shape)

        if calibrate:
            raise ValueError(f"--calibrate needs an artifact directory (a {kind} file names no data set)")
        shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else (
            tuple(input_shape) if input_shape else None)
        bits = 32 if bits is None else bits
        if kind == "onnx":
            ws = from_onnx(source, input_shape=shape, batch=batch, weight_bits=bits)
        elif model is None:
            ws = from_checkpoint(source, None, shape, batch=batch, weight_bits=bits)
        else:
            module = load_model(model) if isinstance(model, str) else model
            ws = model_workloads(load_checkpoint_model(source, module) if mode == "traced" else module,
                                 example_input(module, shape), batch, bits, mode, log,
                                 modules=lambda: from_checkpoint(source, module, shape, batch=batch, weight_bits=bits))
        log(f"{source}: {len(ws)} layers, weights at {bits} bits (--bits; 32 = float, quantized to each PE's width)")
        return with_act_seed(ws, act_seed), default_out_dir(source)
    density = patterns = None
    if calibrate:
        from pruning.data import load_dataset

        art = artifact_with_model(source, spec, trust_module)
        if not art.manifest.get("dataset"):
            raise ValueError(f"--calibrate: {source}/manifest.json names no 'dataset' to calibrate on")
        data = load_dataset(art.manifest["dataset"], data_dir)
        density, patterns = measure_activations(art.model, data.test_x[:calibrate])
        log("input-activation density (calibration, " + f"{min(calibrate, len(data.test_x))} images): "
            + ", ".join(f"{k} {v:.2f}" for k, v in density.items()))
    ws = from_artifact(source, batch=batch, act_density=density, act_pattern=patterns, act_seed=act_seed,
                       weight_bits=bits)
    if bits is not None:
        log(f"{source}: every layer priced at {bits}-bit weights (--bits), not at the widths the artifact records; "
            "its weight values and zeros are kept as they are (the width changes, no re-quantization)")
    return ws, default_out_dir(source)


def model_workloads(model, example, batch: int, weight_bits, mode: str = "traced",
                    log: Callable[[str], None] = print, calibration=None, modules=None) -> list:
    """A torch model's workloads: traced (every GEMM it runs; ``sparsesim.traced_workloads``) or its Conv2d/Linear
    module list (``modules()`` when given, else ``from_model``); either way one line through ``log`` with the
    priced share of the model's FLOPs."""
    from sparsesim.traced_workloads import module_share_line, traced_workloads
    from sparsesim.workload import from_model

    if mode == "traced":
        ws, trace = traced_workloads(model, example, batch, weight_bits, calibration)
        log(trace.share_line())
        return ws
    ws = modules() if modules is not None else from_model(model, example, batch, weight_bits, calibration)
    log(module_share_line(ws, model, example))
    return ws


def artifact_with_model(source, model_spec: str | None = None, trust_module: str | None = None):
    """The artifact with its model: yours rebuilt from ``model_spec`` (what --model names), else a zoo model or a
    ``trust_module`` factory (``pruning.artifact.load_artifact``)."""
    from pruning.artifact import load_artifact
    from pruning.user_model import load_artifact_as

    if model_spec:
        return load_artifact_as(source, model_spec)
    return load_artifact(source, trust_module=trust_module)


def price(workloads, accelerators):
    """The analytical engine's per-layer ``sparsesim.results.CostTable``."""
    from sparsesim.analytical import evaluate

    return evaluate(workloads, accelerators)
