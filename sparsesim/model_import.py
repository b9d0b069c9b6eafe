"""Workloads from the files people already have: a plain checkpoint or an ONNX graph (no artifact needed).

* ``read_state(path)``: the tensors of a ``.pt``/``.pth`` file (``torch.load(weights_only=True)``: a state dict,
  or a dict holding one under ``state_dict`` or ``model``, with a torch.ao.pruning model's masks by tensor fqn
  under ``masks``, or a sparsifier's state as plain dicts under ``sparsifier``) or of a ``.safetensors`` file.
* ``load_model(spec)``: a zoo name, ``module:callable`` or ``path/to/file.py:callable``.  This imports and runs
  the user's code, so the spec only ever comes from the user (a command-line option), never from a file's data.
* ``from_checkpoint``: per-layer workloads; conv geometry from one forward pass of the model on an input of
  ``input_shape`` (hooks, ``pruning.artifact.layer_geometry``); without a model a conv is an error naming it.
* ``from_onnx``: per-layer workloads of an ONNX graph's Conv/Gemm/MatMul nodes; the geometry is the graph's
  (shape inference from its input shape, or ``input_shape`` where the graph leaves H/W symbolic).
* ``load_checkpoint_model``: the model with the checkpoint's (effective) weights loaded, for ``bench``.

torch.nn.utils.prune (``X.weight_orig`` x ``X.weight_mask``) and torch.ao.pruning (``X.parametrizations.weight
.original`` x its mask) states are folded into plain weights by ``sparsesim.workload.effective_state``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fileguard import ReadRefused, check_regular, clip, read_regular, short
from sparsesim.workload import (
    LayerWorkload,
    WorkloadError,
    _entry_workload,
    checked_weight,
    effective_state,
    from_state_dict,
)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
MAX_CHECKPOINT_BYTES = 4 << 30     # a checkpoint file (an artifact's weights.safetensors has the same bound)
MAX_ONNX_BYTES = 2 << 30           # an ONNX protobuf (protobuf's own limit); external data files: 4 GiB each
ONNX_SUFFIXES = (".onnx",)
STATE_KEYS = ("state_dict", "model")
MAX_SIDE = 65_536


def input_kind(path: str | Path) -> str:
    """``checkpoint`` (.pt/.pth/.safetensors), ``onnx`` or ``artifact`` (a directory); another file is a
    WorkloadError."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in CHECKPOINT_SUFFIXES:
        return "checkpoint"
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if p.is_dir() or not p.exists():   # a missing path: the artifact reader's own message names it
        return "artifact"
    raise WorkloadError(f"{short(str(path))}: not an artifact directory nor a model file; allowed: a directory, "
                        f"{', '.join(CHECKPOINT_SUFFIXES + ONNX_SUFFIXES)}")


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``C,H,W`` (or ``F`` for a model that takes vectors) as a tuple of positive integers
    (``pruning.user_model.parse_input_shape``, its error as a WorkloadError)."""
    from pruning.user_model import ModelSpecError
    from pruning.user_model import parse_input_shape as parse

    try:
        return parse(text)
    except ModelSpecError as e:
        raise WorkloadError(str(e)) from None


# ------------------------------------------------------------------ checkpoints
def _read_file(p: Path, cap: int, what: str) -> bytes:
    """The bytes of a model file through the one bounded reader (``read_regular``: a FIFO or device is refused
    unopened, nothing beyond ``cap`` is read); its refusal as a WorkloadError naming the file."""
    try:
        return read_regular(p, cap, what)
    except ReadRefused as e:
        raise WorkloadError(str(e)) from None


def read_state(path: str | Path) -> tuple[dict, dict]:
    """(state dict, torch.ao.pruning masks by tensor fqn) of a ``.pt``/``.pth``/``.safetensors`` file, read through
    the bounded reader (at most ``MAX_CHECKPOINT_BYTES``); any unreadable file is one WorkloadError naming it."""
    import io

    import torch

    p = Path(path)
    raw = _read_file(p, MAX_CHECKPOINT_BYTES, "checkpoint")
    if p.suffix.lower() == ".safetensors":
        from safetensors.torch import load

        try:
            return dict(load(bytes(raw))), {}
        except Exception as e:  # noqa: BLE001 - SafetensorError, or a header safetensors itself cannot parse
            raise WorkloadError(f"{p}: not a readable safetensors file ({clip(e, 120)})") from None
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError for a pickled model, EOFError, a corrupt zip ...
        hint = (" (a torch.ao.pruning sparsifier's state_dict() holds a defaultdict: save its masks as a plain dict "
                "under 'masks')" if "defaultdict" in str(e) else "")
        text = str(e).strip()
        why = clip(text.splitlines()[-1] if text else "empty or truncated", 100)
        raise WorkloadError(f"{p}: cannot be read with torch.load(weights_only=True){hint}; allowed: a state_dict, "
                            f"or a dict of one under 'state_dict'/'model', not a pickled model "
                            f"({type(e).__name__}: {why})") from None
    if not isinstance(data, dict):
        raise WorkloadError(f"{p}: holds a {type(data).__name__}; allowed: a state_dict, or a dict holding one "
                            f"under {' or '.join(map(repr, STATE_KEYS))}")
    masks = data.get("masks")
    sparsifier = data.get("sparsifier")
    if not isinstance(masks, dict):
        masks = dict(sparsifier["state"]) if isinstance(sparsifier, dict) and isinstance(sparsifier.get("state"),
                                                                                         dict) else {}
    held = next((data[k] for k in STATE_KEYS if isinstance(data.get(k), dict)), None)
    state = held if held is not None else data
    bad = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        where = f"'{next(k for k in STATE_KEYS if data.get(k) is held)}' of " if held is not None else ""
        raise WorkloadError(f"{p}: key {short(bad)} of {where}the checkpoint holds a {type(state[bad]).__name__}, "
                            f"not a tensor; allowed: a state_dict, or a dict holding one under "
                            f"{' or '.join(map(repr, STATE_KEYS))} (and torch.ao.pruning masks under 'masks')")
    return state, masks


def load_model(spec: str):
    """A fresh ``nn.Module`` from a zoo name, ``module:callable`` or ``file.py:callable`` (called with no
    arguments; ``pruning.user_model.resolve_model``).  Runs the named code: call it only with a spec the user
    typed."""
    from pruning.user_model import ModelSpecError, resolve_model

    try:
        return resolve_model(spec)
    except ModelSpecError as e:
        raise WorkloadError(str(e)) from None


def example_input(model, input_shape: tuple[int, ...] | None):
    """A zero batch of one sample: ``input_shape``, else the model's own ``input_shape`` attribute."""
    import torch

    shape = input_shape or getattr(model, "input_shape", None)
    if not shape:
        raise WorkloadError(f"model {type(model).__name__} has no input_shape: give --input-shape C,H,W (the conv "
                            "geometry comes from one forward pass)")
    from pruning.artifact import MAX_SAMPLE_VALUES

    if math.prod(shape) > MAX_SAMPLE_VALUES:
        raise WorkloadError(f"input shape {','.join(map(str, shape))}: {math.prod(shape):,} values per sample; "
                            f"allowed: at most {MAX_SAMPLE_VALUES:,} (as an artifact's model.input_shape)")
    return torch.zeros(1, *shape)


def model_geometry(model, input_shape: tuple[int, ...] | None) -> dict[str, dict]:
    """``layer_geometry`` of the model on one zero sample; a failing forward pass is a WorkloadError."""
    from pruning.artifact import layer_geometry

    x = example_input(model, input_shape)
    try:
        return layer_geometry(model, x)
    except RuntimeError as e:
        raise WorkloadError(f"model {type(model).__name__}: the forward pass on an input of shape {tuple(x.shape)} "
                            f"failed ({clip(e, 120)}); allowed: --input-shape the model takes") from None


def from_checkpoint(path: str | Path, model=None, input_shape: tuple[int, ...] | None = None, batch: int = 1,
                    weight_bits: int = 32) -> list[LayerWorkload]:
    """Workloads of a checkpoint's Conv2d/Linear weights (effective, pruning folded in).  With ``model`` (an
    ``nn.Module`` of the checkpoint's architecture) exactly its layers, with their geometry; without one, the
    2-D weights as Linear layers and any conv an error naming it."""
    state, masks = read_state(path)
    geometry = model_geometry(model, input_shape) if model is not None else None
    try:
        return from_state_dict(state, geometry=geometry, batch=batch, weight_bits=weight_bits, masks=masks)
    except WorkloadError as e:
        raise WorkloadError(f"{path}: {e}") from None


def load_checkpoint_model(path: str | Path, model):
    """``model`` with the checkpoint's effective weights loaded (every key matched, shapes checked)."""
    import torch

    state, masks = read_state(path)
    try:
        plain = {k: torch.as_tensor(checked_weight(k, v) if k.endswith(".weight") else v)
                 for k, v in effective_state(state, masks).items()}
    except WorkloadError as e:
        raise WorkloadError(f"{path}: {e}") from None
    try:
        res = model.load_state_dict(plain, strict=False)
    except RuntimeError as e:
        raise WorkloadError(f"{path}: does not fit model {type(model).__name__} ({clip(e, 160)})") from None
    for what, keys in (("lacks", res.missing_keys), ("has keys the model does not:", res.unexpected_keys)):
        if keys:
            raise WorkloadError(f"{path}: the checkpoint {what} {short(keys[0])} (model {type(model).__name__}"
                                f"{', ' + str(len(keys)) + ' keys' if len(keys) > 1 else ''}); allowed: the "
                                "state of the model named by --model")
    return model


# ------------------------------------------------------------------ ONNX
def _onnx():
    try:
        import onnx
    except ImportError:
        raise WorkloadError("reading ONNX files needs the onnx package: pip install 'sparsecodesign[onnx]' "
                            "(or pip install onnx)") from None
    return onnx


def _read_onnx(onnx, path: Path):
    """The ModelProto of ``path``, read through the bounded reader; external data files (a model over 2 GB) are
    checked as regular files of at most ``MAX_CHECKPOINT_BYTES`` before onnx opens them by name."""
    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

    raw = _read_file(path, MAX_ONNX_BYTES, "ONNX model")
    try:
        model = onnx.load_model_from_string(bytes(raw))
    except Exception as e:  # noqa: BLE001 - DecodeError and friends: not an ONNX protobuf
        raise WorkloadError(f"{path}: not a readable ONNX model ({type(e).__name__}: {clip(e, 120)})") from None
    external = [t for t in model.graph.initializer if uses_external_data(t)]
    if external:
        try:
            for t in external:
                check_regular(path.parent / ExternalDataInfo(t).location, MAX_CHECKPOINT_BYTES, "ONNX external data")
            load_external_data_for_model(model, str(path.parent))
        except ReadRefused as e:
            raise WorkloadError(f"{path}: {e}") from None
        except Exception as e:  # noqa: BLE001 - a location outside the directory, a short file ...
            raise WorkloadError(f"{path}: its external data cannot be read ({type(e).__name__}: {clip(e, 120)})") \
                from None
    return model


def _check_graph_inputs(path, inputs) -> None:
    """Each graph input holds at most ``MAX_SAMPLE_VALUES`` values per sample (the batch dim left out), as an
    artifact's ``model.input_shape``; symbolic dims are left to ``--input-shape``."""
    from pruning.artifact import MAX_SAMPLE_VALUES

    for i in inputs:
        dims = _onnx_dims(i) or []
        known = [d for d in dims[1:] if d]
        if known and (math.prod(known) > MAX_SAMPLE_VALUES or any(d < 0 for d in known)):
            raise WorkloadError(f"{path}: graph input {short(i.name)} has shape {dims} ({math.prod(known):,} values "
                                f"per sample); allowed: at most {MAX_SAMPLE_VALUES:,} values per sample (as an "
                                "artifact's model.input_shape)")


def _check_geometry(path, name: str, entry: dict, weight_shape: list[int]) -> None:
    """A layer built from the graph held to the artifact's geometry rules (``pruning.artifact.validate_geometry``:
    sizes within bounds, output size and GEMM view consistent with the conv parameters)."""
    from pruning.artifact import ArtifactError, validate_geometry

    try:
        validate_geometry({**entry, "weight_shape": weight_shape, "executed": True}, str(path), f"layer {name!r}")
    except ArtifactError as e:
        raise WorkloadError(str(e)) from None


def _onnx_dims(value_info) -> list | None:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _onnx_layer_name(node, weight_name: str, index: int) -> str:
    """The torch module name: from the weight's name where the exporter kept it (``conv1.weight``), else from the
    node's scope (BatchNorm folded into a conv renames its weight)."""
    if weight_name.endswith(".weight"):
        return weight_name[: -len(".weight")]
    names: list[str] = []   # torch scopes: /layer2/layer2.0/shortcut/shortcut.0/Conv -> layer2.0.shortcut.0
    for part in [p for p in node.name.split("/") if p][:-1]:
        if names and part.startswith(names[-1] + "."):   # a container's child is written "parent.child"
            names[-1] = part
        else:
            names.append(part)
    return ".".join(names) or node.name or f"{node.op_type.lower()}_{index}"


def _conv_pads(attrs: dict, in_hw, kernel, stride, dilation) -> tuple[list[int], list[int]]:
    """(begin, end) zero padding per spatial dim, ``auto_pad`` resolved as ONNX defines it."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
                 for i, k, s, d in zip(in_hw, kernel, stride, dilation)]
        small = [t // 2 for t in total]
        begin = small if auto == "SAME_UPPER" else [t - s for t, s in zip(total, small)]
        return begin, [t - b for t, b in zip(total, begin)]
    if auto == "VALID":
        return [0, 0], [0, 0]
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    return pads[:2], pads[2:]


def from_onnx(path: str | Path, input_shape: tuple[int, ...] | None = None, batch: int = 1,
              weight_bits: int = 32) -> list[LayerWorkload]:
    """Workloads of an ONNX graph's 2-D Conv, Gemm and MatMul-with-a-stored-weight nodes (graph order).

    A conv's input size comes from shape inference on the graph's input shape (``input_shape`` = C,H,W replaces
    it, e.g. where H/W are symbolic); a conv whose input size stays unknown, or whose weight is computed rather
    than stored, is an error naming the layer."""
    onnx = _onnx()
    model = _read_onnx(onnx, Path(path))
    try:   # a protobuf holds anything: names that are bytes, attributes of the wrong type, missing inputs
        return _onnx_workloads(onnx, model, path, input_shape, batch, weight_bits)
    except WorkloadError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, StopIteration, ArithmeticError) as e:
        raise WorkloadError(f"{path}: a malformed graph ({type(e).__name__}: {clip(e, 100)}); allowed: a graph "
                            "onnx.checker.check_model accepts") from None


def _onnx_workloads(onnx, model, path, input_shape, batch: int, weight_bits: int) -> list[LayerWorkload]:
    from onnx import numpy_helper, shape_inference

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consts = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    inputs = [i for i in graph.input if i.name not in inits]
    if input_shape is None:
        _check_graph_inputs(path, inputs)
    if input_shape is not None:
        if len(inputs) != 1:
            raise WorkloadError(f"{path}: --input-shape needs a graph with one input; it has "
                                f"{', '.join(i.name for i in inputs) or 'none'}")
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) != len(input_shape) + 1:
            raise WorkloadError(f"{path}: --input-shape {','.join(map(str, input_shape))} has {len(input_shape)} "
                                f"dims; the graph input {inputs[0].name!r} takes {len(dims) - 1} besides the batch")
        exported = ",".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims[1:])
        for d, v in zip(dims, (1, *input_shape)):
            d.dim_value = v
        # honoured everywhere: shapes stored in the graph for the exported input are dropped and inferred again
        # from the new one, strictly, so a layer that fixes the old size (a Gemm after a Flatten) is an error
        del graph.value_info[:]
        for o in graph.output:
            o.type.tensor_type.ClearField("shape")
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=input_shape is not None)
    except Exception as e:
        if input_shape is not None:
            raise WorkloadError(f"{path}: --input-shape {','.join(map(str, input_shape))} does not fit the graph, "
                                f"exported for {exported} ({clip(e, 160)}); allowed: a shape every layer of the graph "
                                "accepts (its exported one, or any where its sizes are not fixed)") from None
        raise WorkloadError(f"{path}: ONNX shape inference failed ({clip(e, 120)})") from None
    shapes = {v.name: _onnx_dims(v) for v in (*inferred.graph.input, *inferred.graph.value_info,
                                                *inferred.graph.output)}

    def stored(name: str, layer: str):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        if name in consts:
            return numpy_helper.to_array(next(a.t for a in consts[name].attribute if a.name == "value"))
        raise WorkloadError(f"{path}: layer {layer!r}: its weight {short(name)} is computed in the graph (e.g. "
                            "dequantized), not a stored tensor; allowed: a float initializer")

    out, used = [], set()
    for i, node in enumerate(graph.node):
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        if node.op_type == "MatMul" and node.input[1] not in inits and node.input[1] not in consts:
            continue   # activation x activation (attention scores): no weight to price
        name = _onnx_layer_name(node, node.input[1], i)
        name = name if name not in used else f"{name}_{i}"
        used.add(name)
        try:
            w = checked_weight(node.input[1], stored(node.input[1], name))
        except WorkloadError as e:
            raise WorkloadError(f"{path}: layer {name!r}: {e}") from None
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            if w.ndim != 4:
                raise WorkloadError(f"{path}: layer {name!r}: a {w.ndim - 2}-D convolution; allowed: 2-D (Conv2d)")
            in_dims = shapes.get(node.input[0])
            if not in_dims or len(in_dims) != 4 or not all(in_dims[2:]):
                raise WorkloadError(f"{path}: layer {name!r}: the conv's input height/width is unknown in the "
                                    f"graph (shape {in_dims}); give --input-shape C,H,W")
            kernel = list(attrs.get("kernel_shape", w.shape[2:]))
            stride = list(attrs.get("strides", [1, 1]))
            dilation = list(attrs.get("dilations", [1, 1]))
            groups = int(attrs.get("group", 1))
            in_hw = [int(v) for v in in_dims[2:]]
            begin, end = _conv_pads(attrs, in_hw, kernel, stride, dilation)
            out_hw = [(h + b + e - d * (k - 1) - 1) // s + 1
                      for h, b, e, k, s, d in zip(in_hw, begin, end, kernel, stride, dilation)]
            entry = {"kind": "conv2d", "in_channels": int(w.shape[1] * groups), "out_channels": int(w.shape[0]),
                     "kernel": kernel, "stride": stride, "padding": begin, "dilation": dilation, "groups": groups,
                     "input_hw": in_hw, "output_hw": out_hw,
                     "gemm": {"M": int(w.shape[0]), "K": int(np.prod(w.shape[1:])), "N": out_hw[0] * out_hw[1],
                              "groups": groups}}
            if end != begin:
                entry["padding_end"] = end
        else:
            if w.ndim != 2:
                raise WorkloadError(f"{path}: layer {name!r}: a {w.ndim}-D {node.op_type} weight; allowed: 2-D")
            if node.op_type == "MatMul" or not attrs.get("transB", 0):
                w = w.T   # stored (in, out): the GEMM view is (out, in)
            entry = {"kind": "linear", "in_features": int(w.shape[1]), "out_features": int(w.shape[0]),
                     "gemm": {"M": int(w.shape[0]), "K": int(w.shape[1]), "N": 1, "groups": 1}}
        _check_geometry(path, name, entry, list(w.shape))
        out.append(_entry_workload({"name": name, **entry, "bits": weight_bits}, np.ascontiguousarray(w), batch,
                                   None))
    if not out:
        raise WorkloadError(f"{path}: the graph has no Conv, Gemm or MatMul node with a stored weight")
    return out
