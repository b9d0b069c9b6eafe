"""Workloads from SCALE-Sim v3 topology files (conv and GEMM formats).

Conv format (SCALE-Sim's column order; every row may end with a comma)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,

``Sparsity`` (optional) is SCALE-Sim's "N:M": the first N weights of every M
consecutive weights along K are kept, as SCALE-Sim does.  GEMM format::

    Layer, M, N, K, Sparsity,

(SCALE-Sim's naming: M output rows, N output columns = filters, K reduction).
Two optional columns of ours, found by header name: ``Weight density`` (a
random weight mask of that density, drawn from ``seed``) and ``Activation
density`` (the input-activation density that zero-skipping engines use).

Layers of any size: a layer is drawn as an exact (M, K) matrix while the file's exact layers fit
``max_exact_weights`` (M x K summed; ``--max-exact-weights``, default ``DEFAULT_MAX_EXACT_WEIGHTS``;
``sparsesim.size_bounds``); the largest layers go to the statistical mode first
(``sparsesim.pattern``: counts from the mask's law, memory O(M + K)) until the rest fit, equal sizes together.
A file below the bound is priced exactly as before; 0 prices every layer from counts.  A file above
``MAX_TOTAL_WEIGHTS`` weights is refused.

Geometry follows SCALE-Sim's conventions, since the file is SCALE-Sim's: IFMAP
sizes already include any padding, outputs are ``ceil((H - R + S) / S)`` per
side, a layer whose name contains ``DP`` is depthwise (one single-channel
layer per channel).  Each workload keeps that geometry in
``geometry["scalesim_layer"]`` = (H, W, R, S, C, M, stride) for the
``scalesim`` convention.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from fileguard import ReadRefused, read_regular

from .pattern import WeightPattern
from .size_bounds import DEFAULT_MAX_EXACT_WEIGHTS, MAX_EXACT_OPTION, MAX_TOTAL_WEIGHTS
from .workload import LayerWorkload, WorkloadError

CONV_COLUMNS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides")
GEMM_COLUMNS = ("M", "N", "K")
EXTRA_COLUMNS = ("Sparsity", "Weight density", "Activation density")
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DIM = 1 << 20
MAX_LAYERS = 1 << 16                 # layers after depthwise ("DP") layers are split per channel


class TopologyError(WorkloadError):
    """A bad topology file; the message names the file, the line and the field."""


def _cells(row: list[str]) -> list[str]:
    cells = [c.strip() for c in row]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _int(path, line: int, field: str, text: str, lo: int = 1) -> int:
    try:
        v = int(text)
    except ValueError:
        raise TopologyError(f"{path}: line {line}: field {field!r}={text[:40]!r}; allowed: an integer >= {lo}") \
            from None
    if not lo <= v <= MAX_DIM:
        raise TopologyError(f"{path}: line {line}: field {field!r}={v}; allowed: an integer in {lo}..{MAX_DIM}")
    return v


def _density(path, line: int, field: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 < v <= 1:
        raise TopologyError(f"{path}: line {line}: field {field!r}={text[:40]!r}; allowed: a number in (0, 1]")
    return v


def _nm(path, line: int, text: str) -> tuple[int, int]:
    parts = text.split(":")
    ok = len(parts) == 2 and all(p.strip().isascii() and p.strip().isdigit() for p in parts)
    n, m = (int(parts[0]), int(parts[1])) if ok else (0, 0)
    if not (ok and 0 < n <= m <= 1024):
        raise TopologyError(f"{path}: line {line}: field 'Sparsity'={text[:40]!r}; allowed: 'N:M' with 0 < N <= M")
    return n, m


def _header(path, header: list[str]) -> tuple[str, dict]:
    names = [h.lower() for h in header]
    if names[1:3] == ["m", "n"]:
        kind, expected = "gemm", GEMM_COLUMNS
    else:
        kind, expected = "conv", CONV_COLUMNS
    missing = [c for i, c in enumerate(expected) if len(names) <= i + 1 or names[i + 1] != c.lower()]
    if missing:
        position = expected.index(missing[0]) + 2
        raise TopologyError(f"{path}: line 1: missing column {missing[0]!r} (column {position}); a SCALE-Sim "
                            f"{kind} topology has: Layer name, " + ", ".join(expected) + ", [Sparsity]")
    extra = {c: names.index(c.lower()) for c in EXTRA_COLUMNS if c.lower() in names}
    unknown = [h for i, h in enumerate(header) if i > len(expected) and i not in extra.values()]
    if unknown:
        raise TopologyError(f"{path}: line 1: unknown column {unknown[0]!r}; allowed extra columns: "
                            + ", ".join(EXTRA_COLUMNS))
    return kind, extra


def _mask(m: int, k: int, nm, density: float | None, rng) -> np.ndarray:
    if nm is not None:
        keep = (np.arange(k) % nm[1]) < nm[0]
        return np.broadcast_to(keep, (m, k)).copy()
    if density is not None:
        return rng.random((m, k)) < density
    return np.ones((m, k), dtype=bool)


def _pattern(m: int, k: int, nm, density: float | None, seed: int, stream: int, bound: int) -> WeightPattern:
    """The law of ``_mask``'s draw (statistical mode): N:M and dense row-uniform, a density random."""
    if nm is not None:
        return WeightPattern(m, k, keep_k=(np.arange(k) % nm[1]) < nm[0], seed=seed, stream=stream, bound=bound)
    if density is not None:
        return WeightPattern(m, k, density=density, seed=seed, stream=stream, bound=bound)
    return WeightPattern(m, k, keep_k=np.ones(k, dtype=bool), seed=seed, stream=stream, bound=bound)


def _layer(name: str, geo: tuple, gemm: bool, nm, w_density, a_density, rng, weight_bits: int,
           pattern: tuple | None = None, shared: dict | None = None) -> LayerWorkload:
    """One workload; ``pattern`` = (seed, stream, bound) prices it from counts instead of a drawn matrix.
    Row-uniform counted layers of one shape share one cache (``shared``: shape -> cache): their counts are
    the same, so what an engine derives from them (EIE queues, SIGMA packing, mappings) is derived once."""
    h, wd, r, s, c, m, st = geo
    e, f = math.ceil((h - r + st) / st), math.ceil((wd - s + st) / st)
    k = r * s * c
    if pattern is None:
        weights = rng.standard_normal((m, k)).astype(np.float32)
        weights[weights == 0] = 1.0
        weights *= _mask(m, k, nm, w_density, rng)
        law = None
    else:
        weights, law = None, _pattern(m, k, nm, w_density, *pattern)
    cache = {} if law is None or not law.uniform or shared is None \
        else shared.setdefault((geo, gemm, nm, a_density, weight_bits), {})
    sparsity = "nm" if nm is not None else ("nonstructured" if w_density is not None else "dense")
    act = 1.0 if a_density is None else a_density
    if gemm or (h, wd, r, s) == (1, 1, 1, 1):   # a GEMM's rows are the batch of a linear layer
        w = LayerWorkload(name, "linear", m, k, 1, weights, weight_bits=weight_bits, batch=e * f,
                          input_elems=k, act_density=act, sparsity_type=sparsity,
                          geometry={"scalesim_layer": geo, "scalesim_nm": nm}, pattern=law)
    else:
        geometry = {"kernel": (r, s), "stride": (st, st), "padding": (0, 0), "input_hw": (h, wd),
                    "output_hw": (e, f), "scalesim_layer": geo, "scalesim_nm": nm}
        w = LayerWorkload(name, "conv2d", m, k, e * f, weights, weight_bits=weight_bits, input_elems=h * wd * c,
                          act_density=act, sparsity_type=sparsity, geometry=geometry, pattern=law)
    object.__setattr__(w, "cache", cache)      # not an init field: shared only here, between equal count layers
    return w


def exact_threshold(sizes: list[int], bound: int) -> int:
    """The largest layer size (M x K) drawn exactly: layers of at most that size sum to at most ``bound``, the
    largest going to the statistical mode first (equal sizes together); -1 where none fits."""
    values, counts = np.unique(np.asarray(sizes, dtype=np.int64), return_counts=True)
    fits = np.cumsum(values.astype(float) * counts) <= bound
    return int(values[fits][-1]) if fits.any() else -1


def check_max_exact(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_TOTAL_WEIGHTS:
        raise TopologyError(f"max_exact_weights={value!r}; allowed: an integer in 0..{MAX_TOTAL_WEIGHTS:,} "
                            f"({MAX_EXACT_OPTION}; 0 prices every layer from counts)")
    return int(value)


def _read_text(path: Path) -> str:
    """The text of a regular file of at most MAX_FILE_BYTES (devices, FIFOs and directories refused)."""
    if not path.exists():
        raise TopologyError(f"topology file {path} not found")
    try:
        return read_regular(path, MAX_FILE_BYTES, "topology file").decode("utf-8", errors="replace")
    except ReadRefused as e:
        raise TopologyError(str(e)) from None


def read_topology(path: str | Path, seed: int = 0, weight_bits: int = 8,
                  max_exact_weights: int = DEFAULT_MAX_EXACT_WEIGHTS) -> list[LayerWorkload]:
    """Every layer of a SCALE-Sim topology file as a workload (masks drawn from ``seed``); layers beyond
    ``max_exact_weights`` (module docstring) are priced from counts (``LayerWorkload.pattern``)."""
    bound = check_max_exact(max_exact_weights)
    path = Path(path)
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for r in reader:
            rows.append((reader.line_num, _cells(r)))
    except csv.Error as e:
        raise TopologyError(f"{path}: line {max(reader.line_num, 1)}: not CSV ({e})") from None
    rows = [(i, r) for i, r in rows if r]
    if not rows:
        raise TopologyError(f"{path}: empty topology file")
    kind, extra = _header(path, rows[0][1])
    expected = GEMM_COLUMNS if kind == "gemm" else CONV_COLUMNS
    rng = np.random.default_rng(seed)
    specs: list[tuple] = []
    seen: dict[str, int] = {}
    total = 0
    for line, cells in rows[1:]:
        if len(cells) < len(expected) + 1:
            missing = expected[len(cells) - 1] if len(cells) >= 1 else "Layer name"
            raise TopologyError(f"{path}: line {line}: missing field {missing!r}")
        name = cells[0] or f"layer{len(specs)}"
        vals = [_int(path, line, col, cells[i + 1]) for i, col in enumerate(expected)]
        get = {c: cells[i] if i < len(cells) and cells[i] else None for c, i in extra.items()}
        positional = len(expected) + 1
        if "Sparsity" not in extra and positional not in extra.values() and len(cells) > positional \
                and cells[positional]:
            get["Sparsity"] = cells[positional]             # SCALE-Sim reads it positionally
        nm = _nm(path, line, get["Sparsity"]) if get.get("Sparsity") else None
        if nm == (1, 1):
            nm = None
        w_d = _density(path, line, "Weight density", get["Weight density"]) if get.get("Weight density") else None
        a_d = _density(path, line, "Activation density", get["Activation density"]) \
            if get.get("Activation density") else None
        if nm is not None and w_d is not None:
            raise TopologyError(f"{path}: line {line}: give 'Sparsity' or 'Weight density', not both")
        if kind == "gemm":
            gm, gn, gk = vals
            geo = (gm, gk, 1, gk, 1, gn, 1)
        else:
            h, wd, r, s, c, m, st = vals
            for side, (a, b) in (("Filter Height", (r, h)), ("Filter Width", (s, wd))):
                if a > b:
                    raise TopologyError(f"{path}: line {line}: field {side!r}={a} exceeds the IFMAP side {b}")
            geo = (h, wd, r, s, c, m, st)
        copies = geo[4] if "DP" in name else 1
        if len(specs) + copies > MAX_LAYERS:
            raise TopologyError(f"{path}: line {line}: more than {MAX_LAYERS:,} layers (depthwise layers count "
                                "one per channel)")
        total += copies * geo[5] * geo[2] * geo[3] * (1 if "DP" in name else geo[4])
        if total > MAX_TOTAL_WEIGHTS:
            raise TopologyError(f"{path}: line {line}: the layers up to here hold {total:,} weights; allowed: at "
                                f"most {MAX_TOTAL_WEIGHTS:,} in one file (the ceiling of every mode; {MAX_EXACT_OPTION}, "
                                f"now {bound:,}, bounds only the layers drawn as exact masks)")
        layers = ([(f"{name}Channel_{i}", (*geo[:4], 1, *geo[5:])) for i in range(geo[4])] if "DP" in name
                  else [(name, geo)])
        for n, _ in layers:   # results (tables, the simpy comparison) are keyed by layer name
            if n in seen:
                raise TopologyError(f"{path}: line {line}: layer name {n[:60]!r} is already used on line {seen[n]}; "
                                    "allowed: unique layer names")
            seen[n] = line
        specs += [(n, g, nm, w_d, a_d) for n, g in layers]
    if not specs:
        raise TopologyError(f"{path}: no layers after the header")
    sizes = [g[5] * g[2] * g[3] * g[4] for _, g, *_ in specs]
    top, shared = exact_threshold(sizes, bound), {}
    return [_layer(n, g, kind == "gemm", nm, w_d, a_d, rng, weight_bits,
                   None if size <= top else (seed, i, bound), shared)
            for i, ((n, g, nm, w_d, a_d), size) in enumerate(zip(specs, sizes))]
