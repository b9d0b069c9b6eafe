"""Per-layer workloads: the GEMM view of each Conv2d/Linear with its real weights.

Sources:

* a pruned-model artifact (``manifest.json`` + ``weights.safetensors``; no torch
  model code needed),
* any torch model and an example input (``torch.nn.utils.prune`` models work:
  their ``weight`` is ``weight_orig * weight_mask``),
* a plain state dict of (possibly sparse) weights, torch.nn.utils.prune and
  torch.ao.pruning forms folded in, with the model's geometry for its convs
  (files: ``sparsesim.model_import``: ``.pt``, ``.safetensors``, ONNX).

A workload holds ``M`` filters x ``K`` inputs per filter x ``N`` output pixels
per sample, the batch, conv geometry, the actual ``M x K`` weight matrix with its
zero pattern and bit-width, and (optionally) the measured density of the
layer's input activations on a calibration batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from fileguard import clip, short

from .pattern import WeightPattern


class WorkloadError(ValueError):
    pass


STATIONARY = ("weights", "activations")   # what a GEMM's stationary (M, K) operand is


@dataclass(frozen=True, eq=False)
class LayerWorkload:
    name: str
    kind: str                      # conv2d | linear
    M: int
    K: int
    N: int                         # output pixels per sample (1 for linear)
    weights: np.ndarray | None = field(repr=False)  # (M, K) float32, real zero pattern; None: ``pattern`` instead
    weight_bits: int = 32
    batch: int = 1
    groups: int = 1
    input_elems: int = 0           # input activations per sample (C*H*W or in_features)
    act_density: float = 1.0       # fraction of nonzero input activations (1.0 = not measured)
    out_density: float | None = None  # fraction of nonzero outputs after the activation (None = not known)
    act_seed: int = 0              # seed of the drawn activation pattern (engines that need which inputs are
                                   # nonzero, not only how many: EIE, SCNN); fixed default, never the layer name
    act_pattern: np.ndarray | None = field(default=None, repr=False)  # measured nonzero inputs, (vectors, K) bool;
                                   # wins over a drawn pattern (``pattern_drawn``)
    sparsity_type: str = "dense"
    geometry: dict = field(default_factory=dict, repr=False)
    cache: dict = field(default_factory=dict, init=False, repr=False)  # derived per-hardware facts (e.g. EIE
                                   # loads); not an init field, so every copy (``dataclasses.replace``) starts empty
    pattern: WeightPattern | None = field(default=None, repr=False)  # statistical mode: the mask's law, no matrix
                                   # (``sparsesim.pattern``; the counts below come from it)
    note: str = ""                 # how the layer was mapped (traced ops: ``sparsesim.traced_workloads``); the rows'
                                   # ``note`` column
    stationary: str = "weights"    # what the (M, K) operand is: ``weights`` (shared by the batch), or ``activations``
                                   # (an activation x activation GEMM: each of the ``batch`` instances has its own,
                                   # e.g. a head's K or V; priced as activations: ``sparsesim.stationary``)
    cache_read_elems: int = 0      # activations: elements of one instance's (M, K) operand that come from the
                                   # model's inputs (a KV cache held in DRAM between steps)
    cache_write_elems: int = 0     # activations: elements of it the model computed and returns (appended to the
                                   # cache: written to DRAM)

    def __post_init__(self):
        if (self.weights is None) == (self.pattern is None):
            raise WorkloadError(f"layer {self.name!r}: give weights (exact mode) or a pattern (statistical mode), "
                                "exactly one")
        if self.pattern is not None and (self.pattern.M, self.pattern.K) != (self.M, self.K):
            raise WorkloadError(f"layer {self.name!r}: pattern ({self.pattern.M}, {self.pattern.K}) != (M={self.M}, "
                                f"K={self.K})")
        if self.weights is not None and self.weights.shape != (self.M, self.K):
            raise WorkloadError(f"layer {self.name!r}: weights {self.weights.shape} != (M={self.M}, K={self.K})")
        for name in ("M", "K", "N", "batch", "groups", "weight_bits"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise WorkloadError(f"layer {self.name!r}: field {name!r}={v!r}; allowed: an integer >= 1")
        if not 0.0 <= self.act_density <= 1.0:
            raise WorkloadError(f"layer {self.name!r}: act_density={self.act_density}; allowed: [0, 1]")
        if self.out_density is not None and not 0.0 <= self.out_density <= 1.0:
            raise WorkloadError(f"layer {self.name!r}: out_density={self.out_density}; allowed: [0, 1] or None")
        if isinstance(self.act_seed, bool) or not isinstance(self.act_seed, (int, np.integer)) or self.act_seed < 0:
            raise WorkloadError(f"layer {self.name!r}: act_seed={self.act_seed!r}; allowed: an integer >= 0")
        if self.act_pattern is not None:
            pat = np.asarray(self.act_pattern, dtype=bool)
            if pat.ndim != 2 or pat.shape[1] != self.K or pat.shape[0] < 1:
                raise WorkloadError(f"layer {self.name!r}: act_pattern shape {pat.shape}; allowed: (vectors >= 1, "
                                    f"K={self.K})")
            object.__setattr__(self, "act_pattern", pat)
        if self.stationary not in STATIONARY:
            raise WorkloadError(f"layer {self.name!r}: stationary={str(self.stationary)[:40]!r}; allowed: "
                                f"{', '.join(STATIONARY)}")
        for name in ("cache_read_elems", "cache_write_elems"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or not 0 <= v <= self.M * self.K \
                    or (v and self.stationary != "activations"):
                raise WorkloadError(f"layer {self.name!r}: {name}={v!r}; allowed: 0 .. M*K={self.M * self.K}, "
                                    "and 0 unless stationary='activations'")
        if self.cache_read_elems + self.cache_write_elems > self.M * self.K:
            raise WorkloadError(f"layer {self.name!r}: cache_read_elems + cache_write_elems > M*K={self.M * self.K}")
        if not self.input_elems:
            object.__setattr__(self, "input_elems", self.K * self.groups if self.kind == "linear" else self.K)

    # ------------------------------------------------------------- stats
    # What the engines read of the zero pattern; the exact mask's counts, or (``pattern``) the same counts
    # computed / drawn from its law (``sparsesim.pattern``): one interface, both modes.
    @property
    def statistical(self) -> bool:
        return self.pattern is not None

    @cached_property
    def mask(self) -> np.ndarray:
        if self.pattern is not None:
            raise WorkloadError(self.pattern.no_mask(self.name))
        return self.weights != 0

    @cached_property
    def row_nnz(self) -> np.ndarray:
        """Nonzeros per row (filter), (M,) int64."""
        return self.pattern.row_nnz() if self.pattern is not None else self.mask.sum(1, dtype=np.int64)

    @cached_property
    def nnz(self) -> int:
        return int(self.row_nnz.sum()) if self.pattern is not None else int(self.mask.sum())

    @cached_property
    def kept_rows(self) -> int:
        return int((self.row_nnz > 0).sum()) if self.pattern is not None else int(self.mask.any(1).sum())

    @cached_property
    def kept_cols(self) -> int:
        return self.pattern.kept_cols() if self.pattern is not None else int(self.mask.any(0).sum())

    def kept_channel_fraction(self, rs: int) -> float:
        """Fraction of the K / rs input channels (rs consecutive positions each) holding any nonzero weight."""
        key = ("kept_channels", rs)
        if key not in self.cache:
            if self.pattern is not None:
                self.cache[key] = self.pattern.kept_channel_fraction(rs)
            else:
                self.cache[key] = float(self.mask.reshape(self.M, self.K // rs, rs).any((0, 2)).mean()) \
                    if self.nnz else 0.0
        return self.cache[key]

    def kept_columns(self) -> np.ndarray:
        """Which of the K columns hold any nonzero, (K,) bool (a random pattern: from its drawn mask; cached)."""
        if self.pattern is None:
            return self.mask.any(0)
        if "kept_columns" not in self.cache:
            self.cache["kept_columns"] = self.pattern.kept_column_vector()
        return self.cache["kept_columns"]

    @property
    def density(self) -> float:
        return self.nnz / (self.M * self.K)

    @property
    def dense_macs(self) -> int:
        return self.M * self.K * self.N * self.batch

    @property
    def pattern_drawn(self) -> bool:
        """True where an engine that needs the activation pattern draws it (from ``act_seed``): no measured
        ``act_pattern`` and some inputs are zero."""
        return self.act_pattern is None and self.act_density < 1.0

    @property
    def instances(self) -> int:
        """Independent GEMMs the row holds: its batch where each instance has its own stationary activations,
        else 1 (the weights are shared by every column)."""
        return self.batch if self.stationary == "activations" else 1

    @property
    def columns(self) -> int:
        """GEMM columns streamed through the array: output pixels x batch."""
        return self.N * self.batch

    def with_batch(self, batch: int) -> "LayerWorkload":
        """The same layer at another batch; it shares this one's cache (nothing cached depends on the batch)."""
        out = replace(self, batch=batch)
        object.__setattr__(out, "cache", self.cache)
        return out

    def max_nonzeros_per_group(self, m: int) -> int:
        """Most nonzeros in any group of m consecutive weights along K (K zero-padded to a multiple of m)."""
        key = ("nm_max", m)
        if key not in self.cache:
            if self.pattern is not None:
                self.cache[key] = self.pattern.max_per_group(m)
            else:
                pad = (-self.K) % m
                mask = np.pad(self.mask, ((0, 0), (0, pad))) if pad else self.mask
                self.cache[key] = int(mask.reshape(self.M, (self.K + pad) // m, m).sum(-1, dtype=np.int32)
                                      .max(initial=0))
        return self.cache[key]


def _entry_workload(entry: dict, w: np.ndarray, batch: int, density: float | None,
                    pattern: np.ndarray | None = None, act_seed: int = 0) -> LayerWorkload:
    gemm = entry["gemm"]
    if entry["kind"] == "conv2d":
        inp = entry["in_channels"] * (entry["input_hw"][0] * entry["input_hw"][1] if entry.get("input_hw") else 1)
    else:
        inp = entry["in_features"]
    return LayerWorkload(
        name=entry["name"], kind=entry["kind"], M=int(gemm["M"]), K=int(gemm["K"]), N=int(gemm["N"] or 1),
        weights=np.ascontiguousarray(w.reshape(gemm["M"], gemm["K"]), dtype=np.float32),
        weight_bits=int(entry.get("bits", 32)), batch=batch, groups=int(gemm.get("groups", 1)), input_elems=int(inp),
        act_density=1.0 if density is None else float(density), act_seed=act_seed,
        act_pattern=pattern if pattern is not None and pattern.shape[-1] == int(gemm["K"]) else None,
        sparsity_type=entry.get("sparsity", {}).get("type", "dense"),
        geometry={**{k: entry[k] for k in ("kernel", "stride", "padding", "padding_end", "dilation", "input_hw",
                                           "output_hw") if k in entry},
                  **({"nm": tuple(entry["sparsity"]["nm"])} if entry.get("sparsity", {}).get("type") == "nm"
                     and entry["sparsity"].get("nm") else {})})


def from_artifact(path: str | Path, batch: int = 1, act_density: dict[str, float] | None = None,
                  layers: list[str] | None = None, *, weight_bits: int | None = None,
                  transform=None, act_pattern: dict[str, np.ndarray] | None = None,
                  act_seed: int = 0) -> list[LayerWorkload]:
    """Workloads of every Conv2d/Linear in an artifact (manifest order).

    Reads only ``manifest.json`` and ``weights.safetensors``, validated against each other
    (``pruning.artifact_read.read_artifact``, torch-free: shapes, GEMM dims, bits vs the levels present, unique layers,
    version); no model code is imported.  ``weight_bits`` prices every layer at that width instead of
    the manifest's; ``transform(name, w)`` returns replacement weights of ``w``'s shape (e.g. a re-pruning),
    applied before the GEMM view is taken.  ``act_pattern``: measured nonzero inputs per layer (``measure_activations``;
    they win over a drawn pattern); ``act_seed``: the seed of the drawn ones (engines that need the pattern)."""
    from pruning.artifact_read import read_artifact

    art = read_artifact(path)
    names = [e["name"] for e in art.manifest["layers"]]
    for what, given in (("layers", layers), ("act_density", act_density), ("act_pattern", act_pattern)):
        unknown = [n for n in (given or ()) if n not in names]
        if unknown:
            raise WorkloadError(f"{path}: {what} names layer {unknown[0]!r}, which the artifact does not have; "
                                f"its layers: {', '.join(names)[:200]}")
    out = []
    for entry in art.manifest["layers"]:
        if layers is not None and entry["name"] not in layers:
            continue
        w = art.weights[entry["name"]]
        if transform is not None:
            new = np.asarray(transform(entry["name"], w))
            if new.shape != w.shape:
                raise WorkloadError(f"layer {entry['name']!r}: transform returned shape {new.shape}, not {w.shape}")
            w = new
        if weight_bits is not None:
            entry = {**entry, "bits": weight_bits}
        out.append(_entry_workload(entry, w, batch, (act_density or {}).get(entry["name"]),
                                   (act_pattern or {}).get(entry["name"]), act_seed))
    return out


def from_model(model, example, batch: int = 1, weight_bits: int | dict = 32,
               calibration=None) -> list[LayerWorkload]:
    """Workloads of a torch model; ``calibration`` (a batch) measures input-activation density."""
    import torch

    from pruning.artifact import layer_geometry

    geo = layer_geometry(model, example)
    density, patterns = measure_activations(model, calibration) if calibration is not None else ({}, {})
    modules = dict(model.named_modules())
    out = []
    for name, g in geo.items():
        w = modules[name].weight.detach()
        if w.is_sparse:
            w = w.to_dense()
        entry = {"name": name, **g, "bits": weight_bits.get(name, 32) if isinstance(weight_bits, dict)
                 else weight_bits}
        out.append(_entry_workload(entry, w.float().cpu().numpy(), batch, density.get(name), patterns.get(name)))
    del torch
    return out


PATTERN_VECTORS = 16   # measured input vectors kept per layer (the EIE engine simulates at most 4)


def measure_activation_density(model, batch) -> dict[str, float]:
    """Fraction of nonzero inputs to each Conv2d/Linear on a calibration batch (ReLU zeros)."""
    return measure_activations(model, batch)[0]


def _spread_rows(rows, vectors: int):
    """``vectors`` rows spread evenly over all of ``rows`` (every row when there are fewer): a sample of the whole
    batch and every output position, not the first image's top-left corner."""
    import torch

    n = rows.shape[0]
    return rows if n <= vectors else rows[torch.linspace(0, n - 1, vectors).round().long()]


def _input_vectors(mod, x, vectors: int):
    """``vectors`` GEMM input columns (K long) a Conv2d/Linear saw, spread evenly over the batch and the output
    positions, as a (vectors, K) bool array, or None where the layer's im2col is not the plain one (grouped or
    string-padded convolutions)."""
    import torch
    from torch import nn

    if isinstance(mod, nn.Linear):
        return (_spread_rows(x.reshape(-1, x.shape[-1]), vectors) != 0).cpu().numpy()
    if mod.groups != 1 or isinstance(mod.padding, str):
        return None
    unfold = lambda imgs: torch.nn.functional.unfold(imgs.float(), mod.kernel_size, dilation=mod.dilation,  # noqa: E731
                                                     padding=mod.padding, stride=mod.stride)   # (B, C*kh*kw, L)
    positions = unfold(x[:1]).shape[2]
    picked = _spread_rows(torch.arange(x.shape[0] * positions), vectors)       # over every (image, position)
    images, at = torch.unique(picked // positions, return_inverse=True)        # unfold only those images
    cols = unfold(x[images])
    return (cols[at, :, picked % positions] != 0).cpu().numpy()


def measure_activations(model, batch, vectors: int = PATTERN_VECTORS) -> tuple[dict[str, float],
                                                                               dict[str, np.ndarray]]:
    """On a calibration batch: the fraction of nonzero inputs to each Conv2d/Linear (ReLU zeros), and which
    inputs were nonzero in ``vectors`` of its GEMM input columns spread over the batch and the output positions
    (``LayerWorkload.act_pattern``: measured activations win over drawn ones)."""
    import torch
    from torch import nn

    stats: dict[str, list[float]] = {}
    patterns: dict[str, np.ndarray] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            def hook(mod, inp, out, name=name):
                x = inp[0].detach()
                stats.setdefault(name, []).extend([float((x != 0).sum()), float(x.numel())])
                if name not in patterns:
                    pat = _input_vectors(mod, x, vectors)
                    if pat is not None and pat.shape[0]:
                        patterns[name] = pat
            hooks.append(m.register_forward_hook(hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(batch)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return {n: v[0] / v[1] for n, v in stats.items()}, patterns


PARAMETRIZED = ".parametrizations."


def _dense(t) -> np.ndarray:
    """A tensor or array (sparse torch tensors densified) as float32 numpy."""
    import torch

    if isinstance(t, torch.Tensor):
        t = (t.to_dense() if t.layout != torch.strided else t).detach().float().cpu().numpy()
    return np.asarray(t, dtype=np.float32)


def effective_state(state: dict, masks: dict | None = None) -> dict[str, np.ndarray]:
    """A state dict with pruning reparametrizations folded into the plain keys, as float32 arrays.

    * torch.nn.utils.prune: ``X.T_orig`` and ``X.T_mask`` become ``X.T = orig * mask``;
    * torch.ao.pruning (parametrize): ``X.parametrizations.T.original`` becomes ``X.T = original * mask``, the mask
      from a saved ``X.parametrizations.T.0.mask`` buffer or from ``masks["X.T"]`` (a sparsifier's
      ``state_dict()["state"]``, whose entries hold the mask under ``"mask"``).  FakeSparsity does not save its
      mask in the model's state dict, so a parametrized weight with no mask anywhere is an error, not a dense layer.
    """
    masks = masks or {}
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key.endswith(("weight", "weight_orig", ".original")):   # what becomes a weight: never cast from
            _check_weight_dtype(key, value)                        # bool or complex (float() would drop parts)
        if PARAMETRIZED in key:
            prefix, _, rest = key.partition(PARAMETRIZED)
            tensor, _, leaf = rest.partition(".")
            if leaf == "original":
                name = f"{prefix}.{tensor}"
                mask = state.get(f"{key[: -len('original')]}0.mask")
                if mask is None:
                    held = masks.get(name)
                    mask = held.get("mask") if isinstance(held, dict) else held
                if mask is None:
                    raise WorkloadError(
                        f"layer {prefix!r}: torch.ao.pruning weight {key!r} without its mask (FakeSparsity does not "
                        "save it in the model's state_dict); save {fqn: mask} under 'masks' beside the model's "
                        "state (docs/cost_model.md), or call sparsifier.squash_mask() before saving")
                out[name] = _dense(value) * _dense(mask)
            elif not (leaf.startswith("0.") or leaf.endswith("mask")):
                raise WorkloadError(f"{key!r}: a parametrization this reader does not know ({short(leaf)}); "
                                    "allowed: torch.ao.pruning's 'original' with a FakeSparsity mask")
        elif key.endswith("_orig") and f"{key[:-5]}_mask" in state:
            out[key[:-5]] = _dense(value) * _dense(state[f"{key[:-5]}_mask"])
        elif key.endswith("_mask") and f"{key[:-5]}_orig" in state:
            continue
        elif key.endswith("_orig"):
            raise WorkloadError(f"{key!r}: a torch.nn.utils.prune weight without {key[:-5] + '_mask'!r}; "
                                "save the whole module state (or call prune.remove() first)")
        else:
            out[key] = value
    return out


def _check_weight_dtype(key: str, value) -> None:
    from pruning.artifact import weight_dtype_problem

    problem = weight_dtype_problem(getattr(value, "dtype", type(value).__name__))
    if problem:
        raise WorkloadError(f"weight {key!r} {problem}")


def checked_weight(key: str, value) -> np.ndarray:
    """A weight as priced (float32 numpy), held to the artifact reader's rules (``pruning.artifact``: real dtype,
    bounded shape, finite values); a WorkloadError naming ``key`` otherwise."""
    from pruning.artifact import weight_values_problem

    _check_weight_dtype(key, value)
    w = _dense(value)
    problem = weight_values_problem(w)
    if problem:
        raise WorkloadError(f"weight {key!r} {problem + (' (as float32)' if 'NaN' in problem else '')}")
    return w


def _geometry_workload(name: str, geo: dict, weights: dict, batch: int, weight_bits: int) -> LayerWorkload:
    """The workload of one layer of a model's geometry with its weights from a state dict (shapes checked)."""
    w = weights.get(name)
    if w is None:
        raise WorkloadError(f"layer {name!r}: the model has this {geo['kind']} but the state dict holds no "
                            f"'{name}.weight' (nor its pruned forms); its layers: "
                            f"{clip(', '.join(weights), 200)}")
    w = checked_weight(f"{name}.weight", w)
    if list(w.shape) != list(geo["weight_shape"]):
        raise WorkloadError(f"layer {name!r}: state dict weight {tuple(w.shape)}, the model's "
                            f"{tuple(geo['weight_shape'])}; allowed: the model the state dict was saved from")
    if geo["kind"] == "conv2d" and not geo.get("output_hw"):
        raise WorkloadError(f"layer {name!r}: did not run in the forward pass on the example input, so its output "
                            "size is unknown; give an input shape the model runs every conv on")
    return _entry_workload({"name": name, **geo, "bits": weight_bits}, w, batch, None)


def from_state_dict(state: dict, geometry: dict[str, dict] | None = None, batch: int = 1, weight_bits: int = 32,
                    masks: dict | None = None) -> list[LayerWorkload]:
    """Workloads from a state dict (reparametrized pruning folded in: ``effective_state``).

    ``geometry`` (``pruning.artifact.layer_geometry`` of the model on an example input) names the Conv2d/Linear
    layers and their conv geometry; every one must be in ``state`` with the model's shape.  Without it a 2-D
    ``X.weight`` is a Linear, a 1-D one is skipped (norms), and a conv (4-D) is an error naming the layer: its
    output size, stride and padding are unknown, and are never guessed."""
    weights = {k[: -len(".weight")]: v for k, v in effective_state(state, masks).items() if k.endswith(".weight")}
    if geometry is not None:
        return [_geometry_workload(name, geo, weights, batch, weight_bits) for name, geo in geometry.items()]
    out = []
    for name, value in weights.items():
        shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
        if len(shape) == 4:
            raise WorkloadError(f"layer {name!r}: a conv weight {shape} with no geometry (input size, "
                                "stride, padding); give the model (--model MODULE:CALLABLE or a zoo name, with "
                                "--input-shape C,H,W) or an ONNX file")
        if len(shape) not in (1, 2):
            raise WorkloadError(f"layer {name!r}: a {len(shape)}-D weight {shape}; allowed: Conv2d (4-D, with "
                                "the model for its geometry) and Linear (2-D)")
        if len(shape) == 2:
            w = checked_weight(f"{name}.weight", value)
            entry = {"name": name, "kind": "linear", "bits": weight_bits, "in_features": w.shape[1],
                     "out_features": w.shape[0], "gemm": {"M": w.shape[0], "K": w.shape[1], "N": 1, "groups": 1}}
            out.append(_entry_workload(entry, w, batch, None))
    if not out:
        raise WorkloadError("state dict holds no 2-D or 4-D weight tensors")
    return out
