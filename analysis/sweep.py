"""Design-space sweeps (``sparsesim sweep sweep.yaml``): hardware parameters x structure x ratio x bits.

A sweep file names a base accelerator, the hardware parameters to vary (dotted
paths into its description, e.g. ``pe.rows``), the workload axes (sparsity
structure, pruning ratio, weight bits) and the artifact whose weights are
re-pruned (by the toolkit's exact projections, no retraining: a cost sweep, not
an accuracy one).  ``mode: grid`` takes the Cartesian product; ``mode: random``
draws ``samples`` points with ``seed``.

Execution runs on Dask: by default a ``LocalCluster`` of worker processes on
this machine; ``--scheduler tcp://host:8786`` sends the same tasks to a remote
cluster.  A task is one workload (structure, ratio, bits) priced on all of its
hardware points in one vectorized call.  ``base_hw`` may name several
accelerators (a list): every hardware point is then taken on each.

Each finished point is cached as ``OUT/cache/<sha256>.json`` (plain JSON) by
the client as results arrive, so a killed sweep restarts without recomputing
anything it finished.  The key cannot go stale: it hashes the resolved
hardware description (the base file's content with the point's overrides
applied, canonical JSON), the workload (structure, ratio, bits, batch, block,
N:M), the artifact's bytes (manifest and weights) and the cost-model version
(a hash of the simulator's source, ``cost_model_version``).  Editing a hardware
YAML recomputes exactly the points whose description changed.  A corrupt cache
entry is named in a log line, recomputed and replaced.  ``OUT`` is locked for
the run (``fileguard.OutputLock``).  Results: ``results.csv`` (and
``results.parquet`` when pyarrow is installed), ``pareto.csv`` and
``pareto.png``.
"""

from __future__ import annotations

import copy
import csv
import functools
import hashlib
import io
import itertools
import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from accel_models.hardware import MAX_NAME_CHARS, HardwareError, accelerator_from_dict, load_accelerator
from analysis.dask_scheduler import SchedulerError, check_scheme, probe_scheduler
from fileguard import (
    OutputLock,
    ReadRefused,
    as_tuple,
    atomic_write_json,
    atomic_write_text,
    check_regular,
    read_bounded_text,
    read_regular,
    short,
    unknown_fields,
    yaml_line,
)
from pruning.config import load_yaml
from pruning.structures import KINDS
from pruning.weight_bits import FLOAT_BITS, bits_refusal, is_weight_bits

CACHE_SCHEMA = "sweep-4"  # the layout of a cache entry and its key
# Source whose every byte enters the cost-model version: the simulator, the hardware models (presets excluded:
# their content enters each point's key), the projections that re-prune the weights, and this module.
COST_MODEL_SOURCES = ("sparsesim", "accel_models", "pruning/structures.py", "pruning/constraint.py",
                      "pruning/quantizers.py", "pruning/topk.py", "pruning/models.py", "pruning/artifact.py",
                      "pruning/artifact_read.py", "pruning/quant_levels.py", "pruning/sparsity_kinds.py",
                      "pruning/zoo_table.py", "analysis/sweep.py")
MAX_POINTS = 1_000_000     # hardware points per sweep (each is validated and keyed before any work)
MAX_SEED = 2**32 - 1
MAX_BATCH = 65_536         # as `sparsesim simulate --batch`
MAX_CACHE_ENTRY_BYTES = 1 << 20  # one point's costs are ~500 bytes of JSON
COST_KEYS = ("energy_pj", "latency_s", "cycles", "stall_cycles", "storage_bits", "dram_bits", "utilization",
             "energy_dram_pj", "energy_sram_pj", "energy_rf_pj", "energy_mac_pj", "energy_index_pj", "energy_clock_pj")
OBJECTIVES = ("energy_pj", "latency_s", "cycles", "storage_bits", "dram_bits")
# What a row's weights are, measured on them: the fraction of the priced weights that are nonzero, and the layers
# whose weights have the row's structure (dense/artifact: every layer; a block or N:M that does not divide a
# layer's matrix leaves that layer as the artifact has it; "none": the row is the artifact's weights unchanged).
ROW_KEYS = ("weight_density", "structure_layers")
# dense: every weight nonzero (the dense reference); artifact: the artifact's weights as pruned; the rest: the
# artifact's weights re-pruned by the structure's exact projection at the row's ratio.
STRUCTURES = (*KINDS, "artifact")
REPRUNED = tuple(k for k in KINDS if k not in ("dense", "nm"))   # structures re-pruned at the row's ratio


def _beside(entry, base_dir: Path):
    """A hardware file named relative to the sweep file (presets and absolute paths as given)."""
    if isinstance(entry, str) and entry.endswith((".yaml", ".yml")) and not Path(entry).is_absolute():
        return str(base_dir / entry)
    return entry


def _pair(value, name: str) -> tuple:
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64 for v in value)):
        raise SweepError(f"sweep.workload: field '{name}'={short(value)}; allowed: two integers in 1..64",
                         ("workload", name))
    return tuple(value)


class SweepError(ValueError):
    """A bad sweep; ``field`` (keys, then list indices: ``("workload", "ratios", 1)``) is where it is in a sweep
    file, so that ``SweepSpec.from_yaml`` names the file and the line."""

    def __init__(self, message: str, field: tuple = ()):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SweepSpec:
    artifact: str
    base_hw: str | tuple = "eyeriss_like"                # preset name or YAML file, or a tuple of them
    mode: str = "grid"
    samples: int = 20
    seed: int = 0
    batch: int = 1
    parameters: dict = field(default_factory=dict)      # dotted path -> list of values
    structures: tuple = ("nonstructured",)
    ratios: tuple = (0.5,)
    bits: tuple = (8,)
    objectives: tuple = ("energy_pj", "latency_s")
    block: tuple = (4, 4)
    nm: tuple = (2, 4)

    @classmethod
    def from_dict(cls, d: dict, base_dir: Path | None = None) -> "SweepSpec":
        allowed = {"artifact", "base_hw", "mode", "samples", "seed", "batch", "parameters", "workload",
                   "objectives"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise SweepError(f"sweep: {unknown_fields(unknown, allowed)}; allowed: "
                             f"{', '.join(sorted(allowed))}", (unknown[0],))
        if "artifact" not in d:
            raise SweepError("sweep: field 'artifact' is required (an artifact directory whose weights are re-pruned)")
        if not isinstance(d["artifact"], str) or not d["artifact"]:
            raise SweepError(f"sweep: field 'artifact'={short(d['artifact'])}; allowed: an artifact directory (a path)",
                             ("artifact",))
        art = Path(d["artifact"])
        if not art.is_absolute() and base_dir is not None:
            art = base_dir / art
        work = d.get("workload") or {}
        if not isinstance(work, dict):
            raise SweepError("sweep: field 'workload' must be a mapping (structures, ratios, bits, block, nm)",
                             ("workload",))
        wk_unknown = sorted(set(work) - {"structures", "ratios", "bits", "block", "nm"})
        if wk_unknown:
            wk_allowed = ("structures", "ratios", "bits", "block", "nm")
            raise SweepError(f"sweep.workload: {unknown_fields(wk_unknown, wk_allowed)}; allowed: "
                             "bits, block, nm, ratios, structures", ("workload", wk_unknown[0]))
        params = d.get("parameters") or {}
        if not isinstance(params, dict):
            raise SweepError("sweep: field 'parameters' must map dotted hardware paths (pe.rows) to value lists",
                             ("parameters",))
        base_hw = d.get("base_hw", "eyeriss_like")
        if base_dir is not None:   # hardware files, like the artifact, are relative to the sweep file
            base_hw = [_beside(b, base_dir) for b in base_hw] if isinstance(base_hw, (list, tuple)) \
                else _beside(base_hw, base_dir)
        if isinstance(base_hw, (list, tuple)):
            if not base_hw or len(set(map(str, base_hw))) != len(base_hw):
                raise SweepError(f"sweep: field 'base_hw'={str(base_hw)[:80]}; allowed: a preset name or hardware "
                                 "YAML, or a non-empty list of distinct ones", ("base_hw",))
            base_hw = tuple(str(b) for b in base_hw)
        else:
            base_hw = str(base_hw)
        spec = cls(artifact=str(art), base_hw=base_hw, mode=d.get("mode", "grid"),
                   samples=d.get("samples", 20), seed=d.get("seed", 0), batch=d.get("batch", 1),
                   parameters={str(k): list(v) if isinstance(v, (list, tuple)) else v for k, v in params.items()},
                   structures=as_tuple(work.get("structures", ("nonstructured",))),
                   ratios=as_tuple(work.get("ratios", (0.5,))), bits=as_tuple(work.get("bits", (8,))),
                   objectives=as_tuple(d.get("objectives", ("energy_pj", "latency_s"))),
                   block=_pair(work.get("block", (4, 4)), "block"), nm=_pair(work.get("nm", (2, 4)), "nm"))
        spec.validate()
        return spec

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SweepSpec":
        """The sweep in a YAML file; a bad field is one ``SweepError`` line naming the file, its line and the field."""
        try:
            data = load_yaml(path)
        except (OSError, yaml.YAMLError) as e:
            raise SweepError(f"{path}: cannot read sweep file: {e}") from None
        except ValueError as e:   # the loader's messages name the file already
            raise SweepError(str(e)) from None
        if not isinstance(data, dict):
            raise SweepError(f"{path}: a sweep file is a mapping (artifact, base_hw, parameters, workload, ...), "
                             f"not {type(data).__name__}")
        try:
            return cls.from_dict(data, Path(path).parent)
        except SweepError as e:
            try:
                line = yaml_line(read_bounded_text(path), e.field)
            except (OSError, ValueError):
                line = 1
            raise SweepError(f"{path}: line {line}: {e}", e.field) from None

    def validate(self) -> None:
        where = {"structures": ("workload", "structures"), "ratios": ("workload", "ratios"),
                 "bits": ("workload", "bits"), "objectives": ("objectives",)}
        for name in ("structures", "ratios", "bits", "objectives"):
            if not getattr(self, name):
                raise SweepError(f"sweep: field '{name}' is empty; allowed: a value or a non-empty list", where[name])
            if len(set(map(repr, getattr(self, name)))) != len(getattr(self, name)):
                raise SweepError(f"sweep: field '{name}'={short(list(getattr(self, name)))} repeats a value",
                                 where[name])
        if self.mode not in ("grid", "random"):
            raise SweepError(f"sweep: field 'mode'={self.mode!r}; allowed: grid, random", ("mode",))
        for name, lo, hi in (("samples", 1, MAX_POINTS), ("seed", 0, MAX_SEED), ("batch", 1, MAX_BATCH)):
            v = getattr(self, name)   # bounded like the CLI's options: no bool, no 1e9 samples to draw
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise SweepError(f"sweep: field {name!r}={short(v)}; allowed: an integer in {lo}..{hi:,}", (name,))
        if not (Path(self.artifact) / "manifest.json").exists():
            raise SweepError(f"sweep: field 'artifact'={self.artifact!r} is not an artifact directory", ("artifact",))
        for path, values in self.parameters.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"sweep.parameters: {path!r} must be a non-empty list of values", ("parameters", path))
            why = parameter_refusal(path)
            if why:
                raise SweepError(f"sweep.parameters: {path!r} {why}", ("parameters", path))
        for i, s in enumerate(self.structures):
            if s not in STRUCTURES:
                raise SweepError(f"sweep.workload: structure {s!r} unknown; allowed: {', '.join(STRUCTURES)}",
                                 ("workload", "structures", i))
        for i, r in enumerate(self.ratios):
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1:
                raise SweepError(f"sweep.workload: ratio {r!r}; allowed: numbers in [0, 1)", ("workload", "ratios", i))
        for i, b in enumerate(self.bits):
            if not is_weight_bits(b):
                raise SweepError(f"sweep.workload: {bits_refusal(b)}", ("workload", "bits", i))
        for i, o in enumerate(self.objectives):
            if o not in OBJECTIVES:
                raise SweepError(f"sweep: objective {o!r}; allowed: {', '.join(OBJECTIVES)}", ("objectives", i))
        n_points = len(self.bases()) * (math.prod(len(v) for v in self.parameters.values()) if self.mode == "grid"
                                        else self.samples)
        if n_points > MAX_POINTS:   # counted before any point is built
            raise SweepError(f"sweep: {n_points:,} hardware points ({self.mode}); allowed: at most {MAX_POINTS:,} "
                             "per sweep (fewer values, or mode: random with fewer samples)", ("parameters",))
        bases = self.base_dicts()
        for point in self.hw_points():  # every hardware point must be a valid description that reads every
            shown = point if len(bases) > 1 else overrides(point)   # swept field and takes every bit width
            try:
                acc = build_accelerator(bases[point["base"]], overrides(point))
            except HardwareError as e:
                raise SweepError(f"sweep point {shown}: {e}", self._culprit(bases[point["base"]], point)) from None
            for path in overrides(point):
                why = ignored_by(acc, path)
                if why:
                    raise SweepError(f"sweep.parameters: {path!r} is ignored by base_hw {point['base']!r} at point "
                                     f"{shown} ({why}): every value would price the same point; allowed: fields "
                                     "the design reads (docs/hardware.md says when each is read)", ("parameters", path))
            widest = max(acc.pe.weight_bits)
            for i, b in enumerate(self.bits):
                if b != FLOAT_BITS and b > widest:
                    raise SweepError(f"sweep.workload: bits {b} does not fit base_hw {point['base']!r} at point "
                                     f"{shown} (pe.weight_bits={list(acc.pe.weight_bits)}: weights of at most "
                                     f"{widest} bits); allowed: bits of 1..{widest} or {FLOAT_BITS} (float, priced "
                                     "at the widest width), or a design whose pe.weight_bits reaches it",
                                     ("workload", "bits", i))

    def _culprit(self, base: dict, point: dict) -> tuple:
        """Where a refused hardware point comes from: the first parameter whose value alone is refused, with that
        value's index in its list (``("parameters",)`` when only a combination is refused)."""
        for path, value in overrides(point).items():
            try:
                build_accelerator(base, {path: value})
            except HardwareError:
                values = self.parameters[path]
                return ("parameters", path, next(i for i, v in enumerate(values) if v == value))
        return ("parameters",)

    def manifest(self) -> dict:
        """The artifact's manifest, read now (validated, bounded)."""
        from pruning.artifact import ArtifactError, read_manifest

        try:
            return read_manifest(self.artifact)
        except ArtifactError as e:
            raise SweepError(f"sweep: field 'artifact': {e}", ("artifact",)) from None

    def artifact_layers(self) -> tuple[tuple[str, tuple], ...]:
        """(name, weight shape) of the artifact's layers, from its manifest."""
        return tuple((e["name"], tuple(e["weight_shape"])) for e in self.manifest()["layers"])

    def artifact_ratio(self) -> float:
        """The fraction of the artifact's weights that are zero (its manifest's totals), rounded to 6 digits."""
        t = self.manifest()["totals"]
        return round(1 - t["nonzeros"] / max(t["weights"], 1), 6)

    # ------------------------------------------------------------ points
    def bases(self) -> tuple[str, ...]:
        return self.base_hw if isinstance(self.base_hw, tuple) else (self.base_hw,)

    def base_dicts(self) -> dict[str, dict]:
        """Each base accelerator's description, read now (an edited file is seen on the next run)."""
        out = {}
        for b in self.bases():
            try:
                out[b] = load_accelerator(b).to_dict()
            except HardwareError as e:
                i = self.bases().index(b)
                raise SweepError(f"sweep: field 'base_hw': {e}",
                                 ("base_hw", i) if isinstance(self.base_hw, tuple) else ("base_hw",)) from None
        return out

    def base_dict(self) -> dict:
        return self.base_dicts()[self.bases()[0]]

    def hw_points(self) -> list[dict]:
        """Hardware points: ``{"base": base_hw entry, dotted path: value, ...}``, every base x every point."""
        keys = sorted(self.parameters)
        if self.mode == "grid":
            points = [dict(zip(keys, vals)) for vals in itertools.product(*(self.parameters[k] for k in keys))]
        else:
            rng = random.Random(self.seed)
            points = [{k: rng.choice(self.parameters[k]) for k in keys} for _ in range(self.samples)]
        return [{"base": b, **p} for b in self.bases() for p in points]

    def workloads(self) -> list[tuple[str, float, int]]:
        """(structure, ratio, bits) of every row; ``nm`` at its ratio 1 - N/M, ``dense`` at 0, ``artifact`` at the
        artifact's own pruned fraction (manifest totals)."""
        out = []
        for s, r, b in itertools.product(self.structures, self.ratios, self.bits):
            if s == "nm":
                r = 1 - self.nm[0] / self.nm[1]
            if s == "dense":
                r = 0.0
            if s == "artifact":
                r = self.artifact_ratio()
            out.append((s, float(r), int(b)))
        return list(dict.fromkeys(out))


# float weights (FLOAT_BITS) are priced at the widest width each array accepts (as compare's preflight)
LABEL_FIELDS = ("name", "description")
# Sections that no cost reads: sweeping them would price every value the same (the hardware loader only checks
# that an FPGA design fits fpga.part).
COSTLESS_SECTIONS = {"fpga": "sets only the FPGA resource check (the design must fit fpga.part: DSPs, BRAM, "
                             "LUTs); no cost reads it, so every value would price the same point"}


def sweepable_top_fields() -> tuple[str, ...]:
    """The hardware description's top-level scalar fields a sweep may vary (not a section, not a label)."""
    from dataclasses import fields as dc_fields

    from accel_models.hardware import SECTIONS, Accelerator

    return tuple(f.name for f in dc_fields(Accelerator) if f.name not in SECTIONS and f.name not in LABEL_FIELDS)


def parameter_refusal(path: str) -> str:
    """Why a sweep parameter's dotted path is refused by its form alone ("" when it is accepted; whether the
    field exists and is read by the design is checked on each hardware point: ``ignored_by``)."""
    from accel_models.hardware import SECTIONS

    sec, dot, key = path.partition(".")
    allowed = (f"allowed: <section>.<field> with section {', '.join(s for s in SECTIONS if s not in COSTLESS_SECTIONS)}"
               f", or {', '.join(sweepable_top_fields())}")
    if not dot:
        if path in LABEL_FIELDS:
            return "is a label: no cost reads it (each point is named by its values, in the row's hw.* columns)"
        if path in SECTIONS:
            return f"is a section: sweep its fields ({path}.<field>, docs/hardware.md)"
        return "" if path in sweepable_top_fields() else f"unknown; {allowed}"
    if sec in COSTLESS_SECTIONS:
        return COSTLESS_SECTIONS[sec]
    if sec not in SECTIONS or "." in key or not key:
        return f"unknown; {allowed}"
    return ""


def ignored_by(acc, path: str) -> str:
    """Why the design ``acc`` (a point with ``path`` set) does not read ``path`` ("" when it does): its section or
    field is read only under another setting (the ``used_when`` of its ``Rule``, docs/hardware.md), or
    ``dram.kind`` is only a label because ``dram.energy_pj_per_bit`` is given."""
    from accel_models.hardware import Accelerator
    from accel_models.reference import rule_applies

    sec, _, key = path.partition(".")
    if not key:
        return ""
    where = Accelerator.RULES[sec]
    if not rule_applies(where, acc, acc):
        k, values = where.used_when
        return f"section {sec} is read only when {k} is {' or '.join(map(str, values))}; this design has {k}=" \
               f"{_value_at(acc, k)!r}"
    obj = getattr(acc, sec)
    rules = obj.all_rules() if hasattr(obj, "all_rules") else obj.RULES
    rule = rules.get(key)
    if rule is not None and not rule_applies(rule, obj, acc):
        k, values = rule.used_when
        node = acc if "." in k else obj
        shown = k if "." in k else f"{sec}.{k}"
        return f"{path} is read only when {shown} is {' or '.join(map(str, values))}; this design has {shown}=" \
               f"{_value_at(node, k)!r}"
    if path == "dram.kind" and acc.dram.energy_pj_per_bit is not None:
        return f"dram.kind is only a label when dram.energy_pj_per_bit is given ({acc.dram.energy_pj_per_bit})"
    return ""


def _value_at(node, dotted: str):
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def overrides(point: dict) -> dict:
    """A hardware point's overrides (dotted paths), without its base."""
    return {k: v for k, v in point.items() if k != "base"}


def build_accelerator(base: dict, overrides: dict, name: str | None = None):
    d = copy.deepcopy(base)
    for path, value in overrides.items():
        if "." in path:
            sec, key = path.split(".")
            d.setdefault(sec, {})
            if d[sec] is None:
                d[sec] = {}
            d[sec][key] = value
        else:
            d[path] = value
    d["name"] = name or point_name(overrides)
    return accelerator_from_dict(d)


def point_name(overrides: dict) -> str:
    """A hardware point's name: ``hw[k=v,...]`` when it fits the hardware name limit (``MAX_NAME_CHARS``), else
    ``hw#`` and 16 hex digits of the SHA-256 of its overrides (canonical JSON): short and stable for any number of
    parameters.  The full values are the row's ``hw.*`` columns either way."""
    full = "hw[" + ",".join(f"{k}={v}" for k, v in sorted(overrides.items())) + "]"
    if len(full) <= MAX_NAME_CHARS:
        return full
    blob = json.dumps(overrides, sort_keys=True, default=str).encode()
    return "hw#" + hashlib.sha256(blob).hexdigest()[:16]


def hardware_fingerprint(base: dict, point: dict) -> str:
    """SHA-256 of the resolved hardware description (base with the point's overrides, validated, canonical
    JSON); labels (name, description) left out: two files describing the same machine share their points."""
    d = build_accelerator(base, overrides(point)).to_dict()
    d = {k: v for k, v in d.items() if k not in ("name", "description")}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def _file_sha256(path: Path, h) -> None:
    try:
        check_regular(path, None, "artifact file")   # a FIFO or device is refused, never opened
    except ReadRefused as e:
        raise SweepError(f"sweep: field 'artifact': {e}") from None
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def _artifact_digest(path: str) -> str:
    """SHA-256 of the artifact's manifest and weights bytes (every field that can change a cost)."""
    h = hashlib.sha256()
    for name in ("manifest.json", "weights.safetensors"):
        h.update(name.encode() + b"\0")
        _file_sha256(Path(path) / name, h)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def cost_model_version() -> str:
    """SHA-256 over the source of the cost model (``COST_MODEL_SOURCES``), computed once per process: any
    edit of the simulator, the hardware models or the projections gives every point a new key."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(CACHE_SCHEMA.encode())
    for src in COST_MODEL_SOURCES:
        p = root / src
        if not p.exists():
            h.update(f"missing:{src}\0".encode())
            continue
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".py", ".csv", ".json")
                       and "presets" not in f.relative_to(root).parts and "__pycache__" not in f.parts) \
            if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(root)).encode() + b"\0")
            _file_sha256(f, h)
    return h.hexdigest()


def point_key(digest: str, spec: SweepSpec, workload: tuple, hw_fingerprint: str) -> str:
    """The cache key of one point: resolved hardware, workload, artifact bytes and cost-model version."""
    blob = json.dumps({"schema": CACHE_SCHEMA, "cost_model": cost_model_version(), "artifact": digest,
                       "batch": spec.batch, "block": list(spec.block), "nm": list(spec.nm),
                       "workload": list(workload), "hw": hw_fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def point_labels(point: dict, workload: tuple) -> dict:
    structure, ratio, bits = workload
    return {**{f"hw.{k}": v for k, v in point.items()}, "structure": structure, "ratio": ratio, "bits": bits}


def read_cached(path: Path, point: dict, workload: tuple) -> dict:
    """A cached point as a result row (labels from this run's point); ``ValueError`` saying why it is unusable."""
    try:   # bounded, regular files only: a FIFO or a link to /dev/zero in the cache neither hangs nor fills memory
        data = json.loads(read_regular(path, MAX_CACHE_ENTRY_BYTES, "cache entry").decode())
    except ReadRefused as e:
        raise ValueError(str(e).removeprefix(f"{path}: ")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object ({type(data).__name__})")  # noqa: TRY004 - one kind of bad entry
    bad = [k for k in COST_KEYS if isinstance(data.get(k), bool) or not isinstance(data.get(k), (int, float))
           or (isinstance(data.get(k), float) and math.isnan(data[k]))]
    if bad:
        raise ValueError(f"missing or non-numeric {', '.join(bad[:3])}")
    density, layers = data.get("weight_density"), data.get("structure_layers")
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 <= density <= 1 \
            or not isinstance(layers, str):
        raise ValueError("missing weight_density or structure_layers")
    return {**point_labels(point, workload), **{k: data[k] for k in (*COST_KEYS, *ROW_KEYS)}}


def _discard_entry(path: Path) -> None:
    """Make room for a corrupt cache entry's replacement: a file, link or FIFO is unlinked, an empty directory
    removed; anything else is a ``SweepError`` naming it (the atomic rename cannot replace a directory)."""
    try:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
    except OSError as e:
        raise SweepError(f"cache entry {path} cannot be replaced ({e.strerror or type(e).__name__}); allowed: a "
                         "JSON file: remove it and rerun") from None


# ---------------------------------------------------------- structures
def _structure(workload: tuple, block: tuple, nm: tuple):
    from pruning.structures import Structure

    structure, ratio, _ = workload
    return Structure(structure, 0.0 if structure == "nm" else ratio, block=block, n=nm[0], m=nm[1])


def structure_layers(layers, workload: tuple, block: tuple, nm: tuple) -> tuple[str, ...]:
    """The layers (of ``(name, weight shape)`` pairs) whose weights get ``workload``'s structure: every layer for
    ``dense`` and ``artifact``, else those whose shape the structure divides (``Structure.check_shape``)."""
    from pruning.structures import StructureError

    if workload[0] in ("dense", "artifact"):
        return tuple(name for name, _ in layers)
    s = _structure(workload, block, nm)
    out = []
    for name, shape in layers:
        try:
            s.check_shape(tuple(shape), name)
        except StructureError:
            continue
        out.append(name)
    return tuple(out)


def structure_label(workload: tuple, block: tuple, nm: tuple) -> str:
    structure = workload[0]
    if structure == "block":
        return f"block {block[0]}x{block[1]}"
    return f"nm {nm[0]}:{nm[1]}" if structure == "nm" else structure


def structure_warnings(spec: "SweepSpec") -> list[str]:
    """One line per structure that leaves some layer (or every layer) as the artifact has it, before any point
    runs; the rows say the same in their ``structure_layers`` column."""
    layers = spec.artifact_layers()
    out = []
    pruned = {e["name"]: e.get("achieved_ratio") or 0.0 for e in spec.manifest()["layers"]}
    low = [r for s, r, _ in spec.workloads() if s in REPRUNED and r < max(pruned.values()) - 0.01]
    if low:
        shown = ", ".join(f"{n} {v:.2f}" for n, v in pruned.items() if v > min(low) + 0.01)
        out.append(f"sweep: warning: the artifact's weights are pruned already ({shown}); re-pruning them at ratio "
                   f"{', '.join(map(str, sorted(set(low))))} keeps them at least that sparse (a cost sweep on the "
                   "artifact's weights, not on dense ones): column weight_density is the nonzero fraction priced")
    for wl in {w[0]: w for w in reversed(spec.workloads())}.values():   # one workload per structure
        applied = structure_layers(layers, wl, spec.block, spec.nm)
        if len(applied) == len(layers):
            continue
        label = structure_label(wl, spec.block, spec.nm)
        left = [f"{n} {'x'.join(map(str, shape))}" for n, shape in layers if n not in applied]
        if not applied:
            out.append(f"sweep: warning: structure {label!r} fits no layer of {spec.artifact} ({', '.join(left)}): "
                       "its rows are the artifact's weights unchanged (column structure_layers: none)")
        else:
            out.append(f"sweep: warning: structure {label!r} fits {len(applied)} of {len(layers)} layers; "
                       f"{', '.join(left)} keep the artifact's weights (column structure_layers)")
    return out


# ----------------------------------------------------------------- task
def evaluate_group(artifact: str, bases: dict, workload: tuple, hw_points: list[dict], batch: int,
                   block: tuple, nm: tuple) -> list[dict]:
    """One workload priced on many hardware points (one vectorized analytical call). Pure.

    ``bases``: base descriptions by the points' ``base`` entry."""
    import numpy as np
    import torch

    from pruning.constraint import Constraint
    from sparsesim.analytical import evaluate
    from sparsesim.workload import from_artifact

    structure, _, bits = workload
    applied = []

    def project(name, w):   # the artifact's weights re-pruned to this point's structure; no model code runs
        if structure == "artifact" or not structure_layers(((name, w.shape),), workload, block, nm):
            return w        # the artifact's weights as pruned; a layer the structure does not divide stays as is
        applied.append(name)
        if structure == "dense":
            return np.ones(w.shape, dtype=np.float32)   # every weight nonzero: the dense reference
        return Constraint(_structure(workload, block, nm)).project(torch.from_numpy(np.array(w)))[0].numpy()

    ws = from_artifact(artifact, batch=batch, weight_bits=bits, transform=project)
    if structure == "artifact":
        applied = [w.name for w in ws]
    labels = {"weight_density": float(sum(np.count_nonzero(w.weights) for w in ws) / max(sum(w.weights.size
                                                                                        for w in ws), 1)),
              "structure_layers": ",".join(applied) or "none"}
    accs = [build_accelerator(bases[p["base"]], overrides(p), name=f"point{i}") for i, p in enumerate(hw_points)]
    try:
        totals = evaluate(ws, accs).totals()
    except HardwareError as e:   # named by base design and values, not by this task's internal point number
        msg = str(e)
        at = re.match(r"point(\d+): ", msg)
        if at:
            p = hw_points[int(at[1])]
            msg = f"base_hw {p['base']!r} at point {overrides(p)}: {msg[at.end():]}"
        raise SweepError(f"sweep: workload {structure_label(workload, block, nm)!r} ratio {workload[1]} bits "
                         f"{bits}: {msg}") from None
    return [{**point_labels(p, workload), **{k: getattr(totals[a.name], k) for k in COST_KEYS}, **labels}
            for p, a in zip(hw_points, accs)]


# ------------------------------------------------------------------ run
@dataclass(frozen=True)
class SweepResult:
    rows: list
    pareto: list
    computed: int      # points evaluated in this call
    cached: int        # points read from the cache
    out: Path


def pareto_front(rows: list[dict], objectives: tuple) -> list[dict]:
    """Rows not dominated on all objectives (all minimized); vectorized in chunks."""
    import numpy as np

    if not rows:
        return []
    v = np.array([[r[o] for o in objectives] for r in rows], dtype=float)
    keep = np.ones(len(rows), dtype=bool)
    for i in range(0, len(rows), 512):
        c = v[i:i + 512, None, :]
        dominated = ((v[None, :, :] <= c).all(-1) & (v[None, :, :] < c).any(-1)).any(1)
        keep[i:i + 512] = ~dominated
    return [r for r, k in zip(rows, keep) if k]


def run_sweep(spec: SweepSpec, out_dir: str | Path, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True, client=None, log: Callable[[str], None] = print) -> SweepResult:
    """Run (or resume) a sweep.  ``scheduler``: None = LocalCluster here, "sync" = in this process,
    "tcp://..." = a Dask cluster; ``client``: an existing ``distributed.Client``.  ``OUT`` is locked for the
    run: a second sweep into it fails at once (``OutputError``)."""
    check_scheduler(scheduler)
    out = Path(out_dir)
    with OutputLock(out, "sweep", log):
        return _run_locked(spec, out, scheduler, workers, progress, client, log)


SCHEDULER = re.compile(r"(tcp|tls)://[^\s/:]+(:\d{1,5})?/?")
CLIENT_TIMEOUT_S = 10.0    # distributed.Client's own connect, after the probe saw a Dask handshake


def check_scheduler(scheduler: str | None) -> None:
    """None (a LocalCluster), 'sync' or a Dask address tcp://host:port; anything else is a ``SweepError``
    (it would silently start a LocalCluster instead).  ``tls://`` is refused here, up front
    (``analysis.dask_scheduler.check_scheme``: there is no option to give it certificates)."""
    if scheduler is None or scheduler == "sync" or (isinstance(scheduler, str) and SCHEDULER.fullmatch(scheduler)):
        try:
            check_scheme(scheduler or "")
        except SchedulerError as e:
            raise SweepError(str(e)) from None
        return
    raise SweepError(f"--scheduler {short(scheduler)}; allowed: sync, tcp://host:port (a Dask scheduler), or "
                     "leave it out for a LocalCluster on this machine")


def _connect(scheduler: str):
    """A ``distributed.Client`` of the scheduler at ``scheduler``, after ``probe_scheduler`` saw Dask's handshake
    there (a refused port, a silent or foreign service: one SweepError within seconds, never a hang)."""
    from distributed import Client

    try:
        probe_scheduler(scheduler)
    except SchedulerError as e:
        raise SweepError(str(e)) from None
    try:
        return Client(scheduler, timeout=CLIENT_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - a worker's port answers register-client with a remote TypeError
        raise SweepError(f"--scheduler {scheduler}: a Dask service answered, but a client could not register with "
                         f"it ({type(e).__name__}: {short(str(e), 120)}); allowed: the address of a Dask scheduler "
                         "(not a worker's)") from None


def _run_locked(spec: SweepSpec, out: Path, scheduler, workers, progress, client, log) -> SweepResult:
    from pruning.progress import bar as progress_bar

    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for line in structure_warnings(spec):
        log(line)
    digest = _artifact_digest(spec.artifact)
    bases = spec.base_dicts()
    hw = spec.hw_points()
    try:
        fingerprints = [hardware_fingerprint(bases[p["base"]], p) for p in hw]
    except HardwareError as e:  # a base file edited since the spec was validated
        raise SweepError(f"sweep: field 'base_hw': {e}") from None
    keys = {wl: [point_key(digest, spec, wl, fp) for fp in fingerprints] for wl in spec.workloads()}
    groups = []
    cached_rows: dict[str, dict] = {}
    pending: set[str] = set()
    for wl in spec.workloads():
        missing = []
        for p, key in zip(hw, keys[wl]):
            f = cache / f"{key}.json"
            if key in cached_rows or key in pending:
                continue  # two points resolving to the same hardware: one computation
            if f.exists():
                try:
                    cached_rows[key] = read_cached(f, p, wl)
                    continue
                except ValueError as e:
                    log(f"sweep: cache entry {f} is corrupt ({e}); recomputing it")
                    _discard_entry(f)
            pending.add(key)
            missing.append((key, p))
        if missing:
            groups.append((wl, missing))
    n_todo = sum(len(m) for _, m in groups)
    bar = progress_bar(n_todo, "sweep", "pt", progress)

    def store(missing, rows):
        for (key, _), row in zip(missing, rows):
            atomic_write_json(cache / f"{key}.json", row)
            cached_rows[key] = row
        bar.update(len(rows))

    computed = 0
    if groups:
        if scheduler == "sync" and client is None:
            for wl, missing in groups:
                store(missing, evaluate_group(spec.artifact, bases, wl, [p for _, p in missing], spec.batch,
                                              spec.block, spec.nm))
                computed += len(missing)
        else:
            from distributed import Client, LocalCluster, as_completed

            own_cluster = None
            if client is None:
                if scheduler:
                    client = _connect(scheduler)
                else:
                    own_cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
                    client = Client(own_cluster)
                own_client = True
            else:
                own_client = False
            try:
                futures = {client.submit(evaluate_group, spec.artifact, bases, wl, [p for _, p in missing],
                                         spec.batch, spec.block, spec.nm, pure=False): missing
                           for wl, missing in groups}
                for fut in as_completed(futures):
                    store(futures[fut], fut.result())
                    computed += len(futures[fut])
            finally:
                if own_client:
                    client.close()
                if own_cluster is not None:
                    own_cluster.close()
    bar.close()
    # labels from this run's points (a cached entry may have been computed under another base name)
    rows = [{**point_labels(p, wl), **{k: cached_rows[key][k] for k in (*COST_KEYS, *ROW_KEYS)}}
            for wl in spec.workloads() for p, key in zip(hw, keys[wl])]
    front = pareto_front(rows, spec.objectives)
    write_tables(out, rows, front, spec)
    return SweepResult(rows, front, computed, len(rows) - computed, out)


def write_tables(out: Path, rows: list[dict], front: list[dict], spec: SweepSpec) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    for name, data in (("results.csv", rows), ("pareto.csv", front)):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(data)
        atomic_write_text(out / name, buf.getvalue())
    try:
        import pandas as pd
        pd.DataFrame(rows).to_parquet(out / "results.parquet")
    except Exception:  # noqa: BLE001 - parquet needs pyarrow/fastparquet; CSV is always written
        pass
    _plot(out, rows, front, spec)


def _plot(out: Path, rows, front, spec) -> None:
    from matplotlib.figure import Figure   # no pyplot: a notebook's backend is left alone

    from .plots import COLORS

    x, y = spec.objectives[0], spec.objectives[1] if len(spec.objectives) > 1 else "latency_s"
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    for s in dict.fromkeys(r["structure"] for r in rows):
        pts = [r for r in rows if r["structure"] == s]
        ax.scatter([r[x] for r in pts], [r[y] for r in pts], s=12, alpha=0.6, color=COLORS.get(s, "k"), label=s)
    f = sorted(front, key=lambda r: r[x])
    ax.plot([r[x] for r in f], [r[y] for r in f], "k-", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=7)
    ax.set_title(f"{len(rows)} design points")
    fig.tight_layout()
    fig.savefig(out / "pareto.png", dpi=110)
