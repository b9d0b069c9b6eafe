"""Reading and validating a pruned-model artifact, without torch (``pruning.artifact`` writes and loads it).

``read_manifest`` parses and validates ``manifest.json`` on its own; ``read_artifact`` reads
``weights.safetensors`` too (its header parsed and bounded here, every tensor a numpy view of the file's bytes,
nothing unpickled; ``safetensors.numpy`` would be torch-free too, but this parser names the offset, gap or tensor
that does not fit before anything is read) and checks the two against each other: shapes, GEMM dims, nonzeros, the quantized layers'
values against their quantizer's levels, unique layers, version.  Neither imports torch nor any model code, so
``sparsesim simulate ARTIFACT`` prices an artifact torch-free (issue 25).

What replaced torch here, and why the guarantee is the same:

* Quantizer levels come from ``pruning.quant_levels`` (numpy), the rules and level sets ``Quantizer`` itself uses;
  tests/test_quant_levels.py holds them equal to ``Quantizer.levels()`` for every scheme and bit-width.
* A zoo model's geometry and state dict used to be compared with the model built on the meta device.  They are
  now compared with ``pruning/zoo_table.py``, generated from the model code by ``python -m pruning.zoo_table_gen``
  (the same ``layer_geometry`` on the same meta build) and tested against it (tests/test_zoo_geometry.py): a
  manifest or state dict that differs from the zoo model is refused as before, with the same message, and a
  zoo model changed without regenerating the table fails that test rather than weakening the check.  Checking
  only when torch happens to be loaded was the alternative; it would have priced a tampered zoo artifact whose
  geometry is merely self-consistent, so it was not taken.
* ``load_artifact`` (torch) still checks the state dict against the model it actually builds or is given.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fileguard import ReadRefused, read_regular

from .quant_levels import levels as quant_levels
from .quant_levels import quantizer_params
from .sparsity_kinds import KINDS
from .weight_bits import ALLOWED_BITS, FLOAT_BITS, QUANT_BITS, is_weight_bits
from .zoo_geometry import zoo_model, zoo_names

FORMAT = "sparsecodesign.pruned-model"
VERSION = 1
MAX_MANIFEST_BYTES = 64 << 20        # manifest.json larger than this is refused unread
MAX_WEIGHTS_BYTES = 4 << 30         # weights.safetensors larger than this is refused unread
MAX_HEADER_BYTES = 100 << 20        # safetensors' own header limit
MAX_SIDE = 1 << 16                  # spatial sizes, kernels, strides, paddings
MAX_CHANNELS = 1 << 24              # channels, features, GEMM M and K
MAX_SAMPLE_VALUES = 1 << 26         # values in one input sample (model.input_shape, a graph's input)
WEIGHT_DTYPES = ("float32",)


class ArtifactError(RuntimeError):
    """A missing, malformed or inconsistent artifact, or one whose model factory is not trusted."""


# ------------------------------------------------------------------ reading
_FACTORY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# safetensors dtype -> (torch dtype's name, numpy dtype or None, bytes per element)
_ST_DTYPES = {"F64": ("torch.float64", "<f8", 8), "F32": ("torch.float32", "<f4", 4),
              "F16": ("torch.float16", "<f2", 2), "BF16": ("torch.bfloat16", None, 2),
              "I64": ("torch.int64", "<i8", 8), "I32": ("torch.int32", "<i4", 4), "I16": ("torch.int16", "<i2", 2),
              "I8": ("torch.int8", "i1", 1), "U8": ("torch.uint8", "u1", 1), "BOOL": ("torch.bool", "?", 1)}


@dataclass(frozen=True)
class _Tensor:
    dtype: str
    shape: tuple[int, ...]
    offset: int          # first byte in the file
    nbytes: int


@dataclass(frozen=True)
class ArtifactData:
    """A validated artifact without a model: the manifest and every layer's weight tensor (numpy)."""

    path: Path
    manifest: dict
    weights: dict        # layer name -> float32 array of the manifest's ``weight_shape``


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _bad(where: str, field: str, value, allowed: str) -> ArtifactError:
    return ArtifactError(f"{where}: field {field!r}={_show(value)}; {allowed}")


def _read_bounded(path: Path, cap: int, what: str) -> bytearray:
    """The bytes of a regular file of at most ``cap`` bytes (links are followed, devices and FIFOs refused)."""
    if not path.exists() and path.parent.is_dir():
        raise ArtifactError(f"{path}: no {what} (is {path.parent} a pruned-model artifact?)")
    try:
        return read_regular(path, cap, what)
    except ReadRefused as e:
        raise ArtifactError(str(e)) from None


def _json_object(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r} in one object")
        d[k] = v
    return d


def _manifest_path(path: Path) -> Path:
    return path / "manifest.json" if path.is_dir() else path


def read_manifest(path: str | Path) -> dict:
    """The manifest of an artifact directory (or a manifest.json path), parsed and validated on its own."""
    mpath = _manifest_path(Path(path))
    raw = _read_bounded(mpath, MAX_MANIFEST_BYTES, "manifest.json")
    try:
        manifest = json.loads(raw.decode("utf-8"), object_pairs_hook=_json_object)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{mpath}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError as e:
        raise ArtifactError(f"{mpath}: not UTF-8 text (byte {e.start})") from None
    except (ValueError, RecursionError) as e:
        raise ArtifactError(f"{mpath}: not a usable JSON manifest: {str(e)[:80]}") from None
    validate_manifest(manifest, str(mpath))
    return manifest


def _int(where, field, v, lo=1, hi=MAX_CHANNELS, none=False) -> None:
    if v is None and none:
        return
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(where, field, v, f"allowed: an integer in {lo}..{hi}" + (" or null" if none else ""))


def _ints(where, field, v, n, lo=1, hi=MAX_SIDE, none=False) -> None:
    if v is None and none:
        return
    if not (isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool)
                                                        and lo <= x <= hi for x in v)):
        raise _bad(where, field, v, f"allowed: a list of {n} integers in {lo}..{hi}" + (" or null" if none else ""))


def _finite(v) -> bool:
    """A JSON number that is a finite float64 (an integer past float64's range, e.g. 10**400, is not)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _number(where, field, v, lo, hi) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v) or not lo <= v <= hi:
        raise _bad(where, field, v, f"allowed: a number in [{lo}, {hi}]")


def _expect(where, field, v, expected, why: str) -> None:
    if v != expected:
        raise _bad(where, field, v, f"expected {_show(expected)} ({why})")


def validate_manifest(m, where: str) -> None:
    """Types, ranges and internal consistency of a manifest (docs/artifact.md); raises ArtifactError."""
    if not isinstance(m, dict):
        raise ArtifactError(f"{where}: a manifest is a JSON object, not {type(m).__name__}")
    for key in ("format", "version", "model", "layers", "totals"):
        if key not in m:
            raise ArtifactError(f"{where}: required field {key!r} is missing")
    if m["format"] != FORMAT:
        raise _bad(where, "format", m["format"], f"expected {FORMAT!r}")
    if isinstance(m["version"], bool) or m["version"] != VERSION or not isinstance(m["version"], int):
        raise _bad(where, "version", m["version"], f"this reader knows version {VERSION} only")
    _validate_model(m["model"], where)
    layers = m["layers"]
    if not isinstance(layers, list) or not layers:
        raise _bad(where, "layers", layers, "allowed: a non-empty list of layer objects")
    seen: dict[str, int] = {}
    for i, e in enumerate(layers):
        name = e.get("name") if isinstance(e, dict) else None
        if not isinstance(name, str) or not name:
            raise _bad(where, f"layers[{i}].name", name, "allowed: a non-empty string")
        if name in seen:
            raise _bad(where, f"layers[{i}].name", name, f"already the name of layers[{seen[name]}]; layer names "
                                                          "must be unique")
        seen[name] = i
        _validate_layer(e, where, f"layers[{i}] ({name})")
    _validate_totals(m["totals"], layers, where)
    for key in ("dataset", "method"):
        if key in m and m[key] is not None and not isinstance(m[key], str):
            raise _bad(where, key, m[key], "allowed: a string")


def _validate_model(model, where) -> None:
    if not isinstance(model, dict):
        raise _bad(where, "model", model, "allowed: an object with name, factory, input_shape, num_classes")
    if not isinstance(model.get("name"), str) or not model["name"]:
        raise _bad(where, "model.name", model.get("name"), "allowed: a non-empty string")
    factory = model.get("factory")
    if factory is not None and not (isinstance(factory, str) and _FACTORY.fullmatch(factory)):
        raise _bad(where, "model.factory", factory, "allowed: null or 'module:Callable'")
    spec = model.get("spec")
    if spec is not None and not (isinstance(spec, str) and spec):
        raise _bad(where, "model.spec", spec, "allowed: the --model text (MODULE:CALLABLE or FILE.py:CALLABLE)")
    if factory is None and spec is None and model["name"] not in zoo_names():
        raise _bad(where, "model.name", model["name"], "not a zoo model and model.factory and model.spec are "
                   "null; zoo models: " + ", ".join(sorted(zoo_names())))
    shape = model.get("input_shape")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3):
        raise _bad(where, "model.input_shape", shape, "allowed: [C, H, W] (1 to 3 integers)")
    _ints(where, "model.input_shape", shape, len(shape), 1, MAX_SIDE)
    if math.prod(shape) > MAX_SAMPLE_VALUES:
        raise _bad(where, "model.input_shape", shape, f"allowed: at most {MAX_SAMPLE_VALUES:,} values per sample")
    _int(where, "model.num_classes", model.get("num_classes"), 1, 1 << 20, none=True)


# ------------------------------------------------------------------ checks shared with other model files
REAL_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint64", "uint32",
               "uint16", "uint8")


def weight_dtype_problem(dtype) -> str | None:
    """Why a weight of ``dtype`` (numpy or torch) cannot be priced, or None: a weight is real numbers (floats or
    integers); bool, complex, strings and objects are refused, never cast.  The checkpoint and ONNX readers use
    this and ``weight_values_problem`` so their weights are held to the artifact's rules."""
    name = str(dtype).removeprefix("torch.")
    return None if name in REAL_DTYPES else f"has dtype {name}; allowed: real numbers ({', '.join(REAL_DTYPES)})"


def weight_values_problem(w: np.ndarray) -> str | None:
    """Why a weight array (as priced: float32) cannot be priced, or None: 1 to 4 dims of 1..MAX_CHANNELS, every
    value finite (the artifact reader's rule for ``weights.safetensors``)."""
    if not 1 <= w.ndim <= 4 or w.size == 0 or max(w.shape) > MAX_CHANNELS:
        return f"has shape {list(w.shape)}; allowed: 1 to 4 dims of 1..{MAX_CHANNELS:,}"
    if not np.isfinite(w).all():
        return "holds NaN or infinite values; allowed: finite numbers"
    return None


def validate_geometry(e: dict, where: str, at: str) -> None:
    """The geometry of one layer entry (kind, weight_shape, gemm, conv parameters, input/output sizes) within the
    artifact's bounds and consistent with itself; raises ArtifactError naming ``where`` and ``at``.  The manifest
    check runs it on every layer; the ONNX reader on every layer it builds."""
    kind = e.get("kind")
    if kind not in ("conv2d", "linear"):
        raise _bad(where, f"{at}.kind", kind, "allowed: 'conv2d' or 'linear'")
    shape = e.get("weight_shape")
    _ints(where, f"{at}.weight_shape", shape, 4 if kind == "conv2d" else 2, 1, MAX_CHANNELS)
    if not isinstance(e.get("executed", True), bool):
        raise _bad(where, f"{at}.executed", e.get("executed"), "allowed: true or false")
    executed = e.get("executed", True)
    gemm = e.get("gemm")
    if not isinstance(gemm, dict):
        raise _bad(where, f"{at}.gemm", gemm, "allowed: an object {M, K, N, groups}")
    k = math.prod(shape[1:])
    _expect(where, f"{at}.gemm.M", gemm.get("M"), shape[0], f"weight_shape {shape} has {shape[0]} rows")
    _expect(where, f"{at}.gemm.K", gemm.get("K"), k, f"weight_shape {shape}: K = product of all but the first")
    if kind == "conv2d":
        _validate_conv(e, shape, gemm, executed, where, at)
    else:
        _expect(where, f"{at}.in_features", e.get("in_features"), shape[1], f"weight_shape {shape}")
        _expect(where, f"{at}.out_features", e.get("out_features"), shape[0], f"weight_shape {shape}")
        _expect(where, f"{at}.gemm.N", gemm.get("N"), 1, "a linear layer's N is 1")
        _expect(where, f"{at}.gemm.groups", gemm.get("groups", 1), 1, "a linear layer has no groups")


def _validate_layer(e: dict, where: str, at: str) -> None:
    validate_geometry(e, where, at)
    shape = e["weight_shape"]
    bits = e.get("bits", FLOAT_BITS)
    if not is_weight_bits(bits):
        raise _bad(where, f"{at}.bits", bits, f"allowed: {ALLOWED_BITS}")
    q = e.get("quantizer")
    if q is None and bits != FLOAT_BITS:
        raise _bad(where, f"{at}.bits", bits, f"expected {FLOAT_BITS}: a layer without a quantizer holds float "
                                              "weights")
    if q is not None:
        q_bits = _quantizer(q, where, f"{at}.quantizer")[1]
        if q_bits != bits:
            raise _bad(where, f"{at}.bits", bits, f"expected {q_bits} (quantizer.bits)")
    if e.get("weight_dtype", "float32") not in WEIGHT_DTYPES:
        raise _bad(where, f"{at}.weight_dtype", e.get("weight_dtype"), "allowed: " + ", ".join(WEIGHT_DTYPES))
    sp = e.get("sparsity", {"type": "dense"})
    if not isinstance(sp, dict) or sp.get("type") not in KINDS:
        raise _bad(where, f"{at}.sparsity", sp, "allowed: {type, ratio} with type one of " + ", ".join(KINDS))
    if "ratio" in sp:
        _number(where, f"{at}.sparsity.ratio", sp["ratio"], 0.0, 1.0)
    for key in ("nm", "block"):   # read by the simulator when present (an N:M pattern, a block shape)
        v = sp.get(key)
        if v is not None and not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in v)):
            raise _bad(where, f"{at}.sparsity.{key}", v, "allowed: two positive integers")
    _int(where, f"{at}.nonzeros", e.get("nonzeros"), 0, math.prod(shape))
    levels = e.get("levels")
    if levels is not None and not (isinstance(levels, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and _finite(x) for x in levels)):
        raise _bad(where, f"{at}.levels", levels, "allowed: null or a list of finite numbers")


def _quantizer(q, where: str, at: str) -> tuple[str, int, bool, float]:
    """``(scheme, bits, zero_level, scale)`` of the quantizer a manifest describes, held to ``Quantizer``'s rules
    (``pruning.quant_levels.quantizer_params``; types checked here: those rules are lenient about them)."""
    if not isinstance(q, dict) or set(q) - {"scheme", "bits", "zero_level", "scale"}:
        raise _bad(where, at, q, "allowed: null or {scheme, bits, zero_level, scale}")
    if not isinstance(q.get("zero_level"), bool):
        raise _bad(where, f"{at}.zero_level", q.get("zero_level"), "allowed: true or false")
    scale = q.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or isinstance(scale, int) and not _finite(scale):
        raise _bad(where, f"{at}.scale", scale, "allowed: a finite number > 0")
    if isinstance(q.get("bits"), bool) or not isinstance(q.get("bits"), int):
        raise _bad(where, f"{at}.bits", q.get("bits"), f"allowed: an integer in {QUANT_BITS[0]}..{QUANT_BITS[-1]}")
    try:
        bits, zero_level = quantizer_params(q.get("scheme"), q["bits"], q["zero_level"], float(scale))
    except ValueError as err:
        raise ArtifactError(f"{where}: field {at!r}: {err}") from None
    if bits != q["bits"]:
        raise _bad(where, f"{at}.bits", q["bits"], f"expected {bits} (scheme {q['scheme']!r})")
    return q["scheme"], bits, zero_level, float(scale)


def _validate_conv(e, shape, gemm, executed, where, at) -> None:
    groups = e.get("groups")
    _int(where, f"{at}.groups", groups, 1, MAX_CHANNELS)
    _expect(where, f"{at}.gemm.groups", gemm.get("groups"), groups, f"the layer's groups={groups}")
    _expect(where, f"{at}.out_channels", e.get("out_channels"), shape[0], f"weight_shape {shape}")
    _expect(where, f"{at}.in_channels", e.get("in_channels"), shape[1] * groups,
            f"weight_shape {shape} x groups {groups}")
    _expect(where, f"{at}.kernel", e.get("kernel"), shape[2:], f"weight_shape {shape}")
    _ints(where, f"{at}.stride", e.get("stride"), 2, 1)
    _ints(where, f"{at}.padding", e.get("padding"), 2, 0)
    _ints(where, f"{at}.dilation", e.get("dilation"), 2, 1)
    if not executed:
        _expect(where, f"{at}.gemm.N", gemm.get("N"), None, "a layer that did not run has no N")
        return
    _ints(where, f"{at}.input_hw", e.get("input_hw"), 2, 1)
    _ints(where, f"{at}.output_hw", e.get("output_hw"), 2, 1)
    end = e.get("padding_end", e["padding"])
    _ints(where, f"{at}.padding_end", end, 2, 0)
    out = [(h + p + q - d * (r - 1) - 1) // s + 1 for h, p, q, d, r, s in
           zip(e["input_hw"], e["padding"], end, e["dilation"], shape[2:], e["stride"])]
    _expect(where, f"{at}.output_hw", e["output_hw"], out,
            f"input_hw {e['input_hw']}, kernel, stride, padding and dilation give {out}")
    _expect(where, f"{at}.gemm.N", gemm.get("N"), out[0] * out[1], f"output_hw {out[0]}x{out[1]} pixels")


def _validate_totals(totals, layers, where) -> None:
    if not isinstance(totals, dict):
        raise _bad(where, "totals", totals, "allowed: an object {weights, nonzeros, compression, ...}")
    weights = sum(math.prod(e["weight_shape"]) for e in layers)
    nnz = sum(e["nonzeros"] for e in layers)
    _expect(where, "totals.weights", totals.get("weights"), weights, "the sum of the layers' weights")
    _expect(where, "totals.nonzeros", totals.get("nonzeros"), nnz, "the sum of the layers' nonzeros")
    comp = totals.get("compression")
    if isinstance(comp, bool) or not isinstance(comp, (int, float)) or not _finite(comp) or \
            not math.isclose(comp, weights / max(nnz, 1), rel_tol=1e-9):
        raise _bad(where, "totals.compression", comp, f"expected {weights / max(nnz, 1):.6g} (weights / nonzeros)")
    if "weight_bits_dense_fp32" in totals:
        _expect(where, "totals.weight_bits_dense_fp32", totals["weight_bits_dense_fp32"], 32 * weights,
                "32 x weights")
    if "storage" in totals:
        _validate_storage(totals["storage"], layers, weights, where)


def _validate_storage(st, layers, weights: int, where: str) -> None:
    """``totals.storage`` (``save_artifact``'s ``storage``): its counts agree with the layers; each reduction is the
    fp32 reference over its bits (the format bits themselves need the simulator's encoders to check)."""
    if not isinstance(st, dict) or not isinstance(st.get("cheapest"), dict) or not isinstance(st.get("formats"), dict):
        raise _bad(where, "totals.storage", st, "allowed: an object {reference_bits, value_bits, nominal_reduction, "
                                                "formats, cheapest}")
    _expect(where, "totals.storage.reference_bits", st.get("reference_bits"), 32 * weights, "32 x weights")
    values = sum(e["nonzeros"] * e.get("bits", FLOAT_BITS) for e in layers)
    _expect(where, "totals.storage.value_bits", st.get("value_bits"), values, "the layers' nonzeros x bits")
    for at, entry in [("cheapest", st["cheapest"]), *((f"formats.{f}", v) for f, v in st["formats"].items()),
                      ("nominal", {"bits": values, "reduction": st.get("nominal_reduction")})]:
        bits, red = (entry.get("bits"), entry.get("reduction")) if isinstance(entry, dict) else (None, None)
        _int(where, f"totals.storage.{at}.bits", bits, 0, 1 << 62)
        _number(where, f"totals.storage.{at}.reduction", red, 0, 1e300)
        if not math.isclose(red, 32 * weights / max(bits, 1), rel_tol=1e-9):
            raise _bad(where, f"totals.storage.{at}.reduction", red, f"expected {32 * weights / max(bits, 1):.6g} "
                       "(32 x weights / bits)")


def _safetensors_index(wpath: Path, data: bytearray) -> dict[str, _Tensor]:
    """Parse and check a safetensors header: every tensor inside the file, the data exactly covered."""
    if len(data) < 8:
        raise ArtifactError(f"{wpath}: {len(data)} bytes: truncated (no safetensors header)")
    n = int.from_bytes(data[:8], "little")
    if n > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ArtifactError(f"{wpath}: header of {n:,} bytes but the file has {len(data):,}: truncated or not a "
                            "safetensors file")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"), object_pairs_hook=_json_object)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ArtifactError(f"{wpath}: unreadable safetensors header ({str(e)[:80]})") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{wpath}: safetensors header is not a JSON object")
    base, size = 8 + n, len(data) - 8 - n
    index, spans = {}, []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(t, dict) and t.get("dtype") in _ST_DTYPES and isinstance(t.get("shape"), list) \
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in t["shape"]) \
            and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2 \
            and all(isinstance(x, int) and not isinstance(x, bool) for x in t["data_offsets"])
        if not ok:
            raise ArtifactError(f"{wpath}: tensor {_show(name)}: malformed header entry {_show(t)}")
        b, e = t["data_offsets"]
        nbytes = math.prod(t["shape"]) * _ST_DTYPES[t["dtype"]][2]
        if not 0 <= b <= e or e - b != nbytes:
            raise ArtifactError(f"{wpath}: tensor {_show(name)}: data_offsets {[b, e]} do not hold {t['shape']} "
                                f"{t['dtype']}")
        if e > size:
            raise ArtifactError(f"{wpath}: truncated: tensor {_show(name)} ends at data byte {e:,}, the file has "
                                f"{size:,}")
        index[name] = _Tensor(t["dtype"], tuple(t["shape"]), base + b, nbytes)
        spans.append((b, e))
    end = 0
    for b, e in sorted(spans):
        if b != end:
            raise ArtifactError(f"{wpath}: tensor data overlaps or leaves a gap at byte {min(b, end):,}")
        end = e
    if end != size:
        raise ArtifactError(f"{wpath}: {size - end:,} bytes after the last tensor; not a safetensors file")
    return index


def _numpy(data: bytearray, t: _Tensor) -> np.ndarray:
    return np.frombuffer(data, dtype=_ST_DTYPES[t.dtype][1], count=math.prod(t.shape), offset=t.offset) \
        .reshape(t.shape)



def _check_layer_weights(m: dict, mpath: Path, wpath: Path, data: bytearray, index: dict) -> dict:
    weights = {}
    for i, e in enumerate(m["layers"]):
        name, at = e["name"], f"layers[{i}] ({e['name']})"
        key = f"{name}.weight"
        t = index.get(key)
        if t is None:
            raise ArtifactError(f"{wpath}: no tensor {key!r} for manifest {at}")
        if list(t.shape) != e["weight_shape"]:
            raise _bad(str(mpath), f"{at}.weight_shape", e["weight_shape"],
                       f"expected {list(t.shape)} (the shape of {key!r} in weights.safetensors)")
        if t.dtype != "F32":
            raise ArtifactError(f"{wpath}: tensor {key!r} is {t.dtype}; manifest {at}.weight_dtype says float32")
        w = _numpy(data, t)
        problem = weight_values_problem(w)
        if problem:
            raise ArtifactError(f"{wpath}: tensor {key!r} {problem}")
        nz = w[w != 0]
        _expect(str(mpath), f"{at}.nonzeros", e["nonzeros"], int(nz.size), f"counted in {key!r}")
        if "achieved_ratio" in e:
            ratio = 1.0 - nz.size / w.size
            r = e["achieved_ratio"]
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not _finite(r) \
                    or not math.isclose(r, ratio, abs_tol=1e-9):
                raise _bad(str(mpath), f"{at}.achieved_ratio", r, f"expected {ratio:.6g} (1 - nonzeros / weights)")
        bits = e.get("bits", FLOAT_BITS)
        if bits != FLOAT_BITS:
            distinct = _check_levels(e, nz, str(mpath), wpath, at, key)   # levels hit, float32 rounding merged
            if distinct > 2 ** bits:
                raise _bad(str(mpath), f"{at}.bits", bits, f"{key!r} holds {distinct} distinct nonzero values, "
                           f"more than the {2 ** bits} that {bits} bits encode")
        weights[name] = w
    return weights


def _check_levels(e: dict, nz: np.ndarray, where: str, wpath: Path, at: str, key: str) -> int:
    """Every nonzero weight is one of the quantizer's levels (to float32 rounding: the same level may be stored
    as neighbouring float32 values); a ``levels`` list, if given, is that level set.  Returns the levels used."""
    levels = np.sort(quant_levels(*_quantizer(e["quantizer"], where, f"{at}.quantizer")))
    if e.get("levels") is not None:
        given = np.sort(np.asarray(e["levels"], dtype=np.float64))   # pow2 levels are stored unsorted
        if given.shape != levels.shape or not np.allclose(given, levels, rtol=1e-9, atol=0):
            raise _bad(where, f"{at}.levels", e["levels"], f"expected the {levels.size} levels of quantizer "
                       f"{e['quantizer']}")
    if not nz.size:
        return 0
    v = nz.astype(np.float64)
    i = np.clip(np.searchsorted(levels, v), 1, levels.size - 1) if levels.size > 1 else np.zeros(v.size, int)
    near = np.where(np.abs(v - levels[i - 1]) < np.abs(v - levels[i]), levels[i - 1], levels[i]) \
        if levels.size > 1 else levels[i]
    off = np.abs(v - near) > 1e-5 * np.abs(near) + 1e-44
    if off.any():
        j = int(np.argmax(off))
        raise ArtifactError(f"{wpath}: tensor {key!r} holds {float(v[j])!r}, not a level of manifest {at}.quantizer "
                            f"{_show(e['quantizer'])} ({int(off.sum())} such values)")
    return int(np.unique(near).size)


def _check_zoo_model(m: dict, mpath: Path, index: dict[str, _Tensor]) -> None:
    """A zoo model's geometry and state dict are known (``pruning.zoo_geometry``'s table, generated from the model
    code): the manifest and the weights must match them exactly."""
    ref = m["model"]
    name = ref["name"]
    model = zoo_model(name, ref.get("num_classes"))
    if list(model.input_shape) != ref["input_shape"]:
        raise _bad(str(mpath), "model.input_shape", ref["input_shape"],
                   f"expected {list(model.input_shape)} (zoo model {name!r})")
    geo = model.layers
    names = [e["name"] for e in m["layers"]]
    if names != list(geo):
        i = next((j for j, (a, b) in enumerate(zip(names, geo)) if a != b), min(len(names), len(geo)))
        raise _bad(str(mpath), "layers", [e for e in names],
                   f"expected the Conv2d/Linear layers of zoo model {name!r}: {list(geo)} (differs at layers[{i}])")
    for i, e in enumerate(m["layers"]):
        for key, want in geo[e["name"]].items():
            have = e.get(key)
            if isinstance(want, dict):
                for sub, w in want.items():
                    _expect(str(mpath), f"layers[{i}] ({e['name']}).{key}.{sub}", (have or {}).get(sub)
                            if isinstance(have, dict) else None, w, f"zoo model {name!r}")
            else:
                _expect(str(mpath), f"layers[{i}] ({e['name']}).{key}", have, want, f"zoo model {name!r}")
    check_state_dict(model.state, index, mpath.parent / "weights.safetensors", f"zoo model {name!r}")


def check_state_dict(state: dict[str, tuple[tuple[int, ...], str]], index: dict[str, _Tensor], wpath: Path,
                     what: str) -> None:
    """The safetensors ``index`` holds exactly the tensors of ``state`` (key -> (shape, torch dtype name), a model's
    state dict as data), each of its shape and dtype."""
    for key, (shape, dtype) in state.items():
        if key not in index:
            raise ArtifactError(f"{wpath}: no tensor {key!r}, which {what} has")
        if tuple(shape) != index[key].shape:
            raise ArtifactError(f"{wpath}: tensor {key!r} has shape {list(index[key].shape)}; {what} has "
                                f"{list(shape)}")
        if _ST_DTYPES[index[key].dtype][0] != dtype:
            raise ArtifactError(f"{wpath}: tensor {key!r} is {index[key].dtype}; {what} has {dtype}")
    extra = sorted(set(index) - set(state))
    if extra:
        raise ArtifactError(f"{wpath}: tensor {_show(extra[0])} is not a parameter or buffer of {what}"
                            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def read_checked(path: str | Path) -> tuple[Path, dict, bytearray, dict[str, _Tensor], dict]:
    """The artifact validated: (directory, manifest, the weights file's bytes, its tensor index, the layer
    weights); ``read_artifact`` keeps the manifest and weights, ``pruning.artifact.load_artifact`` the bytes."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: not an artifact directory (manifest.json + weights.safetensors)")
    mpath, wpath = path / "manifest.json", path / "weights.safetensors"
    manifest = read_manifest(path)
    data = _read_bounded(wpath, MAX_WEIGHTS_BYTES, "weights.safetensors")
    index = _safetensors_index(wpath, data)
    weights = _check_layer_weights(manifest, mpath, wpath, data, index)
    if _is_zoo(manifest["model"]):
        _check_zoo_model(manifest, mpath, index)
    return path, manifest, data, index, weights


def read_artifact(path: str | Path) -> ArtifactData:
    """Manifest and layer weights, validated against each other; imports no model code (docs/artifact.md)."""
    path, manifest, _, _, weights = read_checked(path)
    return ArtifactData(path, manifest, weights)


def _is_zoo(ref: dict) -> bool:
    return ref.get("factory") is None and ref.get("spec") is None


