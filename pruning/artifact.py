"""The pruned-model artifact: the contract between ``pruning`` and the simulators.

A directory with

* ``weights.safetensors`` - the full state dict (contiguous float32), bit-exact;
* ``manifest.json``       - per layer geometry, sparsity, bits, scale/levels;
                            model accuracy, timings, config, seed (docs/artifact.md);
* ``training_log.csv``    - one row per epoch / ADMM round / layer residual.

Every file is written atomically.  An artifact is data: ``read_artifact`` (``pruning.artifact_read``, which
imports no torch) checks the manifest against the weights (shapes, GEMM dims, bits vs the levels present, unique
layers, version, a zoo model's geometry) and imports no code; ``load_artifact`` rebuilds the model from the zoo,
or from a manifest's ``module:callable`` factory only when the caller names that module as trusted
(``trust_module``), and loads the weights strictly.  This module (writing, loading) imports torch; the reading
names stay importable from here.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import io
import math
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors.torch import save as st_save
from torch import nn

from fileguard import atomic_write_bytes, atomic_write_json, atomic_write_text

from .artifact_read import (  # noqa: F401 (the reading names, re-exported: pruning.artifact keeps them)
    FORMAT, MAX_CHANNELS, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, MAX_SAMPLE_VALUES, MAX_SIDE, MAX_WEIGHTS_BYTES,
    REAL_DTYPES, VERSION, WEIGHT_DTYPES, ArtifactData, ArtifactError, _is_zoo, _show, _ST_DTYPES, _Tensor,
    check_state_dict, read_artifact, read_checked, read_manifest, validate_geometry, validate_manifest,
    weight_dtype_problem, weight_values_problem)
from .constraint import Constraint
from .model_spec import code_failure, reference
from .models import MODELS, build_model

LOG_COLUMNS = ("stage", "step", "round", "epoch", "layer", "lr", "rho", "loss", "test_acc",
               "primal_residual", "dual_residual", "seconds")


@dataclass(frozen=True)
class Artifact:
    model: nn.Module
    manifest: dict
    path: Path

    def layer(self, name: str) -> dict:
        for entry in self.manifest["layers"]:
            if entry["name"] == name:
                return entry
        raise KeyError(name)


@torch.no_grad()
def conv_padding(m: nn.Conv2d) -> tuple[list[int], list[int]]:
    """Zero padding before and after the input, per spatial dim (``padding='same'``/``'valid'`` resolved as torch
    does: 'same' pads d*(k-1) in total, the odd one after)."""
    if m.padding == "valid":
        return [0, 0], [0, 0]
    if m.padding == "same":
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        return [t // 2 for t in total], [t - t // 2 for t in total]
    return list(m.padding), list(m.padding)


def layer_geometry(model: nn.Module, example: torch.Tensor) -> dict[str, dict]:
    """Per Conv2d/Linear: kind, shapes, conv parameters and the GEMM view, from one forward pass."""
    seen: dict[str, dict] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            def hook(mod, inp, out, name=name):
                seen.setdefault(name, {"in": tuple(inp[0].shape), "out": tuple(out.shape)})
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    geo = {}
    for name, m in model.named_modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        io_shapes = seen.get(name)
        w = m.weight
        entry = {"kind": "conv2d" if isinstance(m, nn.Conv2d) else "linear",
                 "weight_shape": list(w.shape), "has_bias": m.bias is not None}
        if isinstance(m, nn.Conv2d):
            out_hw = list(io_shapes["out"][2:]) if io_shapes else None
            begin, end = conv_padding(m)
            entry.update(in_channels=m.in_channels, out_channels=m.out_channels, kernel=list(m.kernel_size),
                         stride=list(m.stride), padding=begin, dilation=list(m.dilation),
                         groups=m.groups, input_hw=list(io_shapes["in"][2:]) if io_shapes else None,
                         output_hw=out_hw)
            if end != begin:
                entry["padding_end"] = end
            n = out_hw[0] * out_hw[1] if out_hw else None
        else:
            entry.update(in_features=m.in_features, out_features=m.out_features)
            n = 1
        entry["gemm"] = {"M": int(w.shape[0]), "K": int(w[0].numel()), "N": n,
                         "groups": m.groups if isinstance(m, nn.Conv2d) else 1}
        entry["executed"] = io_shapes is not None
        geo[name] = entry
    return geo


def layer_entries(model: nn.Module, example: torch.Tensor, constraints: dict[str, Constraint]) -> list[dict]:
    """Manifest ``layers``: geometry plus the achieved sparsity and quantization of each weight."""
    entries = []
    for name, geo in layer_geometry(model, example).items():
        w = dict(model.named_modules())[name].weight.detach()
        c = constraints.get(name)
        nnz = int((w != 0).sum())
        entry = {"name": name, **geo}
        entry["sparsity"] = c.structure.to_dict() if c is not None else {"type": "dense", "ratio": 0.0}
        entry["nonzeros"] = nnz
        entry["achieved_ratio"] = 1.0 - nnz / w.numel()
        q = c.quantizer if c is not None else None
        entry["bits"] = q.bits if q is not None else 32
        entry["weight_dtype"] = "float32"
        entry["quantizer"] = q.to_dict() if q is not None else None
        entry["levels"] = q.levels().tolist() if q is not None and q.bits <= 8 else None
        entries.append(entry)
    return entries


def model_reference(model: nn.Module, name: str | None) -> dict:
    """Zoo: the name.  A user model named by its ``--model`` spec (``module:callable``, ``file.py:callable``): the
    spec as data plus an importable factory where it has one.  Otherwise the model's class as the factory."""
    if name in MODELS:
        return {"name": name, "factory": None}
    if name and ":" in name:
        return {"name": name, **reference(name)}
    cls = type(model)
    return {"name": name or cls.__name__, "factory": f"{cls.__module__}:{cls.__qualname__}"}


def storage_headline(totals: dict) -> str:
    """The artifact's reductions in words, each labelled: the storage priced with index/pointer bits first (where
    ``totals.storage`` holds it), then the nominal figures the papers report (weights / nonzeros; dense fp32 bits
    over nonzeros x bits), never a bare "compression"."""
    nominal = f"{totals['compression']:.1f}x fewer weights (nominal: weights / nonzeros, no index bits)"
    st = totals.get("storage")
    if not st:
        return nominal
    formats = sorted(set(st["cheapest"]["per_layer"].values()))
    return (f"storage {st['cheapest']['reduction']:.1f}x with index/pointer bits (sparsesim formats, cheapest per "
            f"layer: {', '.join(formats)}); {nominal}, {st['nominal_reduction']:.0f}x in value bits (nominal)")


def save_artifact(out_dir: str | Path, model: nn.Module, *, model_name: str | None,
                  constraints: dict[str, Constraint], example: torch.Tensor, extra: dict,
                  log_rows: list[dict], storage=None) -> Path:
    """Write weights, manifest and log atomically; returns the directory.

    ``storage``: a pricer of the weights' storage in real formats (``sparsesim.storage.price_storage``: takes
    ``{layer: (GEMM matrix M x K as numpy, value bits)}``, returns a JSON-ready dict), kept as ``totals.storage``;
    ``pruning`` imports no simulator, so the caller passes it (``sparsecodesign.prune`` does)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    layers = layer_entries(model, example, constraints)
    total = sum(e["weight_shape"][0] * e["gemm"]["K"] for e in layers)
    nnz = sum(e["nonzeros"] for e in layers)
    totals = {"weights": total, "nonzeros": nnz, "compression": total / max(nnz, 1),
              "weight_bits_dense_fp32": 32 * total}
    if storage is not None:
        modules = dict(model.named_modules())
        totals["storage"] = storage({e["name"]: (modules[e["name"]].weight.detach().cpu().reshape(
            e["weight_shape"][0], -1).numpy(), e["bits"]) for e in layers})
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {**model_reference(model, model_name), "input_shape": list(example.shape[1:]),
                  "num_classes": getattr(model, "num_classes", None)},
        "layers": layers,
        "totals": totals,
        "environment": {"torch": torch.__version__, "python": platform.python_version()},
        **extra,
    }
    atomic_write_bytes(out / "weights.safetensors", st_save(state))
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_text(out / "training_log.csv", log_csv(log_rows))
    return out


def log_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in LOG_COLUMNS})
    return buf.getvalue()


# ------------------------------------------------------------------ loading (reading: pruning.artifact_read)
def _torch(data: bytearray, t: _Tensor) -> torch.Tensor:
    dtype = getattr(torch, _ST_DTYPES[t.dtype][0].removeprefix("torch."))
    if t.nbytes == 0:
        return torch.empty(t.shape, dtype=dtype)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the buffer is writable and ours; no copy needed
        return torch.frombuffer(data, dtype=dtype, count=math.prod(t.shape), offset=t.offset).reshape(t.shape)


def _build(ref: dict, mpath: Path, trust_module: str | None) -> nn.Module:
    """The model a manifest names: a zoo model, or a factory whose module the caller trusts by name."""
    factory = ref.get("factory")
    if _is_zoo(ref):
        if trust_module is not None:   # it would be ignored: refused, naming both
            raise ArtifactError(f"{mpath}: --trust-module {trust_module} (trust_module=) has no effect with the zoo "
                                f"model {_show(ref['name'])} (built from its name, no code imported); allowed: leave "
                                "--trust-module out")
        return build_model(ref["name"], ref.get("num_classes"))
    by_spec = f"--model {_show(ref['spec'])}" if ref.get("spec") else ""
    if not factory:
        raise ArtifactError(f"{mpath}: the model is user code ({_show(ref['spec'])}); it is not imported from an "
                            f"artifact: pass {by_spec} (load_artifact(path, model) in Python)")
    mod, _, attr = factory.partition(":")
    if trust_module != mod:
        raise ArtifactError(f"{mpath}: model.factory {_show(factory)} is code; it is not imported unless you pass "
                            f"--trust-module {mod} (trust_module={mod!r})" + (f" or {by_spec}" if by_spec else
                                                                              " (or use a zoo model name)"))
    try:
        obj = _trusted_callable(mod, attr, factory, mpath)
        model = obj()
    except ArtifactError:
        raise
    except (Exception, SystemExit) as e:  # noqa: BLE001 - trusted code, but its failure is still one line
        hint = (f" (not on the Python path: run from its directory, or pass --model "
                f"{_show(ref['spec'])})" if isinstance(e, ModuleNotFoundError) and ref.get("spec") else "")
        raise ArtifactError(f"{mpath}: model.factory {factory!r} failed: {code_failure(e)}{hint}") from e
    if not isinstance(model, nn.Module):
        raise ArtifactError(f"{mpath}: model.factory {factory!r} returned {type(model).__name__}, not a torch "
                            "nn.Module")
    return model


def _trusted_callable(mod: str, attr: str, factory: str, mpath: Path):
    """``mod:attr`` resolved under exact trust: every step stays inside module ``mod`` (or a submodule of its
    package) and the callable is a function or class *defined* there (``__module__``), never something ``mod``
    merely imported (``os.abort``, ``sys.exit``, a helper from another package)."""
    def refuse(why: str) -> ArtifactError:
        return ArtifactError(f"{mpath}: model.factory {factory!r} is not defined in the trusted module {mod} "
                             f"({why}); allowed: a function or class defined in {mod} (trust is per module: "
                             "what it imports from elsewhere is not trusted)")

    def inside(name) -> bool:
        return isinstance(name, str) and (name == mod or name.startswith(mod + "."))

    obj = importlib.import_module(mod)
    for i, part in enumerate(attr.split(".")):
        if not hasattr(obj, part):
            raise ArtifactError(f"{mpath}: model.factory {factory!r}: {'.'.join([mod, *attr.split('.')[:i]])} has "
                                f"no attribute {part!r}")
        obj = getattr(obj, part)
        if inspect.ismodule(obj) and not inside(obj.__name__):
            raise refuse(f"it is reached through module {obj.__name__}")
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        raise refuse(f"a {type(obj).__name__}, not a function or class defined there")
    if not inside(getattr(obj, "__module__", None)):
        raise refuse(f"defined in {getattr(obj, '__module__', None)}")
    return obj


def load_artifact(path: str | Path, model: nn.Module | None = None, *, trust_module: str | None = None) -> Artifact:
    """Model and manifest, validated; pass ``model`` to load into your own (same-architecture) instance.

    A zoo model is built from its name.  A manifest's ``module:Callable`` factory is imported and called only
    when ``trust_module`` names exactly that module; otherwise ArtifactError, and nothing is imported."""
    path, manifest, data, index, _ = read_checked(path)
    if model is not None and trust_module is not None:   # it would be ignored: refused, naming both
        raise ArtifactError(f"{path}: --trust-module {trust_module} (trust_module=) has no effect with a model given "
                            "(--model, or model=): that model is the one loaded, no factory is imported; allowed: "
                            "leave --trust-module out")
    if model is None:
        model = _build(manifest["model"], path / "manifest.json", trust_module)
    wpath = path / "weights.safetensors"
    check_state_dict({k: (tuple(t.shape), str(t.dtype)) for k, t in model.state_dict().items()}, index, wpath,
                     f"the model ({type(model).__name__})")
    state = {k: _torch(data, t) for k, t in index.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ArtifactError(f"{path}: weights do not fit the model: {str(e).splitlines()[0][:160]}") from e
    return Artifact(model, manifest, path)
