"""The pruned-model artifact: the contract between ``pruning`` and the simulators.

A directory with

* ``weights.safetensors`` - the full state dict (contiguous float32), bit-exact;
* ``manifest.json``       - per layer geometry, sparsity, bits, scale/levels;
                            model accuracy, timings, config, seed (docs/artifact.md);
* ``training_log.csv``    - one row per epoch / ADMM round / layer residual.

Every file is written atomically.  ``load_artifact`` rebuilds the model (from
the zoo, or from a ``module:callable`` factory) and loads the weights strictly.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from .checkpoint import atomic_write_bytes, atomic_write_json, atomic_write_text
from .constraint import Constraint
from .models import MODELS, build_model

FORMAT = "sparsecodesign.pruned-model"
VERSION = 1
LOG_COLUMNS = ("stage", "step", "round", "epoch", "layer", "lr", "rho", "loss", "test_acc",
               "primal_residual", "dual_residual", "seconds")


class ArtifactError(RuntimeError):
    pass


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
            entry.update(in_channels=m.in_channels, out_channels=m.out_channels, kernel=list(m.kernel_size),
                         stride=list(m.stride), padding=list(m.padding), dilation=list(m.dilation),
                         groups=m.groups, input_hw=list(io_shapes["in"][2:]) if io_shapes else None,
                         output_hw=out_hw)
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
    if name in MODELS:
        return {"name": name, "factory": None}
    cls = type(model)
    return {"name": name or cls.__name__, "factory": f"{cls.__module__}:{cls.__qualname__}"}


def save_artifact(out_dir: str | Path, model: nn.Module, *, model_name: str | None,
                  constraints: dict[str, Constraint], example: torch.Tensor, extra: dict,
                  log_rows: list[dict]) -> Path:
    """Write weights, manifest and log atomically; returns the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    layers = layer_entries(model, example, constraints)
    total = sum(e["weight_shape"][0] * e["gemm"]["K"] for e in layers)
    nnz = sum(e["nonzeros"] for e in layers)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {**model_reference(model, model_name), "input_shape": list(example.shape[1:]),
                  "num_classes": getattr(model, "num_classes", None)},
        "layers": layers,
        "totals": {"weights": total, "nonzeros": nnz, "compression": total / max(nnz, 1),
                   "weight_bits_dense_fp32": 32 * total},
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


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    mpath = path / "manifest.json" if path.is_dir() else path
    if not mpath.exists():
        raise ArtifactError(f"{mpath}: no manifest.json (is {path} a pruned-model artifact?)")
    manifest = json.loads(mpath.read_text())
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{mpath}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("version", 0) > VERSION:
        raise ArtifactError(f"{mpath}: version {manifest['version']} is newer than this reader ({VERSION})")
    return manifest


def _build(ref: dict) -> nn.Module:
    if ref.get("factory"):
        mod, _, attr = ref["factory"].partition(":")
        obj = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj()
    return build_model(ref["name"], ref.get("num_classes"))


def load_artifact(path: str | Path, model: nn.Module | None = None) -> Artifact:
    """Model and manifest; pass ``model`` to load into your own (same-architecture) instance."""
    path = Path(path)
    manifest = read_manifest(path)
    model = model if model is not None else _build(manifest["model"])
    state = st_load((path / "weights.safetensors").read_bytes())
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ArtifactError(f"{path}: weights do not fit the model: {e}") from e
    return Artifact(model, manifest, path)
