"""Read a design written for Timeloop/Sparseloop into the loop-nest model's objects: v0.3 YAML files
(architecture, mapping, sparse optimizations, problem, ERT), or the single input file Timeloop v0.4 dumps
(``parsed-processed-input.yaml``: architecture, problem and sparse optimizations) with a mapping and an ERT.
Keys are read with ``-`` or ``_`` alike.  Only plain projections (one dimension per rank) and temporal
mappings are read; anything else is refused with the field that holds it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from sparsesim.loopnest.density import FixedStructured, Hypergeometric
from sparsesim.loopnest.spec import (ACTIONS, SPARSELOOP_2022, TIMELOOP_04, ActionOpt, ComputeLevel, Convention,
                                      Design, Loop, RankFormat, SpecError, StorageLevel, Tensor, Workload)

DISTRIBUTIONS = {"fixed_structured": FixedStructured, "hypergeometric": Hypergeometric}
COMPUTE_CLASSES = ("compute", "intmac", "fpmac", "mac")


def _keys(obj):
    """Keys with ``_`` for ``-`` (v0.3 spells them with dashes, v0.4 with underscores)."""
    if isinstance(obj, dict):
        return {str(k).replace("-", "_"): _keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_keys(v) for v in obj]
    return obj


def _drop(obj, keys: tuple[str, ...]):
    """``obj`` without the mapping keys ``keys`` (spelt exactly so), at any depth."""
    if isinstance(obj, dict):
        return {k: _drop(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_drop(v, keys) for v in obj]
    return obj


def _yaml(path, ignore: tuple[str, ...] = ()) -> dict:
    """The file's keys with ``_`` for ``-``; ``ignore``: keys (as spelt in the file) a parser never reads."""
    with open(path) as f:
        return _keys(_drop(yaml.safe_load(f) or {}, ignore))


def _base(name: str) -> str:
    """A component's own name: ``system.SM.Sub[0..3].MAC[0..255]`` is ``MAC``."""
    return re.sub(r"\[[^\]]*\]", "", str(name)).split(".")[-1]


def _components(node: dict, out: list) -> list:
    """Architecture components outermost first."""
    for comp in node.get("local") or []:
        out.append(comp)
    for sub in node.get("subtree") or []:
        _components(sub, out)
    return out


def read_workload(prob_path) -> Workload:
    return workload_from_problem(_yaml(prob_path)["problem"], prob_path)


def _plain_index(rank: list, inst: dict, coefs: dict, where: str) -> str:
    """A rank's dimension: a plain index, or a sum (a convolution's R + E) whose other terms run over
    dimensions of size 1 (a 1x1 kernel), with a unit coefficient."""
    terms = [t for t in rank if int(inst.get(t[0], 1)) > 1] or rank[:1]
    if len(terms) != 1 or any(len(t) not in (1, 2) for t in rank):
        raise SpecError(f"{where} is not a plain index")
    dim, *coef = terms[0]
    if coef and inst.get(coef[0], coefs.get(coef[0], 1)) != 1 and len(rank) > 1:
        raise SpecError(f"{where}: coefficient {coef[0]} is not 1 (strided windows are not read)")
    if coef and len(rank) == 1:
        raise SpecError(f"{where} is not a plain index")
    return dim


def workload_from_problem(prob: dict, where) -> Workload:
    shape, inst = prob["shape"], prob["instance"]
    coefs = {c["name"]: c.get("default", 1) for c in shape.get("coefficients") or ()}
    tensors = []
    for ds in shape["data_spaces"]:
        dims = tuple(_plain_index(rank, inst, coefs, f"{where}: data-space {ds['name']} projection {rank}")
                     for rank in ds["projection"])
        tensors.append(Tensor(ds["name"], dims, bool(ds.get("read_write"))))
    densities = []
    for name, spec in (inst.get("densities") or {}).items():
        kind = str(spec.get("distribution", "fixed_structured")).replace("-", "_")
        if kind not in DISTRIBUTIONS:
            raise SpecError(f"{where}: densities.{name}.distribution {kind!r} is not one of {list(DISTRIBUTIONS)}")
        densities.append((name, DISTRIBUTIONS[kind](float(spec["density"]))))
    sizes = tuple((d, int(inst.get(d, 1))) for d in shape["dimensions"])
    return Workload(sizes, tuple(tensors), tuple(densities))


def _ert(ert_path) -> dict[str, dict[str, float]]:
    tables = {}
    for table in _yaml(ert_path)["ERT"]["tables"]:
        acts = {}
        for a in table["actions"]:       # an action listed per argument value is priced at its largest
            acts[a["name"]] = max(acts.get(a["name"], float("-inf")), float(a["energy"]))
        tables[_base(table["name"])] = acts
    return tables


def _factors(text: str) -> dict[str, int]:
    return {d: int(v) for d, v in re.findall(r"([A-Za-z]+)=?(\d+)", text)}


def _mapping(map_path) -> tuple[dict[str, tuple[Loop, ...]], dict[str, frozenset]]:
    loops, keeps = {}, {}
    for entry in _yaml(map_path)["mapping"]:
        target, kind = _base(entry["target"]), entry["type"]
        if kind == "temporal":
            f = _factors(str(entry.get("factors", "")))
            order = entry.get("permutation", "".join(f))
            loops[target] = tuple(Loop(d, f[d]) for d in order if d in f)
        elif kind in ("datatype", "bypass"):
            keeps[target] = frozenset(entry.get("keep") or ())
        else:
            raise SpecError(f"{map_path}: mapping type {kind!r} for {target} is not read (temporal only)")
    return loops, keeps


def _sparse(block: dict | None) -> dict[str, dict]:
    out = {}
    for tgt in (block or {}).get("targets") or []:
        formats, inner, opts = [], set(), []
        for ds in (tgt.get("representation_format") or {}).get("data_spaces") or []:
            ranks = tuple(RankFormat(r["format"].upper(), r.get("metadata_word_bits"), r.get("payload_word_bits"),
                                     tuple(tuple(f) for f in r.get("flattened_rankIDs") or ()))
                          for r in ds.get("ranks") or ())
            formats.append((ds["name"], ranks))
            if ds.get("rank_application_order") == "inner-to-outer":
                inner.add(ds["name"])
        for ao in tgt.get("action_optimization") or []:
            for o in ao.get("options") or [ao]:      # the 2022 artifact writes one option per entry
                opts.append(ActionOpt(ao["type"].replace("-", "_"), o["target"], tuple(o.get("condition_on") or ())))
        skip = any(o["type"] in ("skipping", "skip_on_not_aligned_operands")
                   for o in tgt.get("compute_optimization") or ())
        out[_base(tgt["name"])] = {"formats": tuple(formats), "inner_to_outer": frozenset(inner),
                                   "action_opts": tuple(opts), "skip_unaligned": skip}
    return out


def _storage(comp: dict, loops, keeps, sparse, energies, all_tensors) -> StorageLevel:
    name, a = _base(comp["name"]), comp.get("attributes") or {}
    word = int(a.get("datawidth", a.get("word_bits", 8)))
    width = int(a.get("data_storage_width", a.get("width", word)))
    bw = {k: (float(a[k]) if k in a else None) for k in ("read_bandwidth", "write_bandwidth")}
    feats = {k: v for k, v in sparse.get(name, {}).items() if k != "skip_unaligned"}
    return StorageLevel(name, keeps.get(name, all_tensors), loops.get(name, ()), word, max(1, width // word),
                        int(a.get("metadata_storage_width", 0)), int(a.get("metadata_datawidth", 0)),
                        bw["read_bandwidth"], bw["write_bandwidth"],
                        tuple((k, v) for k, v in energies.get(name, {}).items() if k in ACTIONS), **feats)


def _is_compute(comp: dict) -> bool:
    return str(comp.get("class", "")).lower() in COMPUTE_CLASSES


def _first(table: dict, names: tuple[str, ...]) -> float:
    return next((table[n] for n in names if n in table), 0.0)


def design_from_parts(arch: dict, loops, keeps, sparse: dict, energies: dict, where, all_tensors=frozenset(),
                      convention: Convention | None = None) -> Design:
    """``all_tensors``: what a level the mapping gives no keep list keeps (Timeloop: everything)."""
    comps = _components(arch, [])
    storages = [c for c in comps if not _is_compute(c)]
    computes = [c for c in comps if _is_compute(c)]
    if len(computes) != 1:
        raise SpecError(f"{where}: {len(computes)} compute components; one is read")
    levels = tuple(_storage(c, loops, keeps, sparse, energies, all_tensors) for c in reversed(storages))
    mac = _base(computes[0]["name"])
    table, feats = energies.get(mac, {}), sparse.get(mac, {})
    # Timeloop's arithmeticOperationMappings (include/model/topology.hpp), first action the table names
    compute = ComputeLevel(mac, _first(table, ("mac_random", "mult_random", "mac", "mult", "compute")),
                           _first(table, ("mac_gated", "mult_gated", "compute_gated")), feats.get("action_opts", ()),
                           _first(table, ("mac_skipped", "mult_skipped", "compute_skipped", "mac_gated",
                                          "mult_gated", "compute_gated")), feats.get("skip_unaligned", False))
    version = str(arch.get("version", "0.3"))
    return Design(levels, compute, convention or (TIMELOOP_04 if version >= "0.4" else SPARSELOOP_2022))


def read_design(arch_path, map_path, ert_path, sparse_path=None, energy_overrides=None, workload=None,
                convention: Convention | None = None) -> Design:
    """``energy_overrides``: {level: {action: pJ}} for actions the ERT does not name (e.g. Timeloop's
    built-in register model, printed in its stats as 'Vector read energy').  ``workload``: resolves
    residual factors (``E=0``) and what a level with no keep list keeps.  ``convention``: how to count
    (default: by the architecture's version)."""
    loops, keeps = _mapping(map_path)
    if workload is not None:
        loops = _resolve_residuals(loops, workload, map_path)
    sparse = _sparse(_yaml(sparse_path).get("sparse_optimizations")) if sparse_path else {}
    tensors = frozenset(t.name for t in workload.tensors) if workload is not None else frozenset()
    return design_from_parts(_yaml(arch_path)["architecture"], loops, keeps, sparse,
                             _energies(ert_path, energy_overrides), arch_path, tensors, convention)


def _resolve_residuals(loops: dict, w: Workload, where) -> dict:
    """A factor of 0 is the residual: the dimension's size over its other factors."""
    out = {k: list(v) for k, v in loops.items()}
    for dim, size in w.sizes:
        zeros = [(k, i) for k, lps in out.items() for i, lp in enumerate(lps) if lp.dim == dim and lp.factor == 0]
        if len(zeros) > 1:
            raise SpecError(f"{where}: {len(zeros)} residual (0) factors for {dim}; one is read")
        mapped = math.prod(lp.factor for lps in out.values() for lp in lps if lp.dim == dim and lp.factor)
        for k, i in zeros:
            out[k][i] = Loop(dim, size // mapped)
    return {k: tuple(v) for k, v in out.items()}


def _energies(ert_path, overrides) -> dict:
    energies = _ert(ert_path)
    for level, acts in (overrides or {}).items():
        energies.setdefault(level, {}).update(acts)
    return energies


def read_dumped(input_path, map_path, ert_path, energy_overrides=None):
    """Timeloop v0.4's dumped input (architecture, problem, sparse optimizations in one file), a mapping and
    an ERT: (design, workload)."""
    data = _yaml(input_path)
    loops, keeps = _mapping(map_path)
    design = design_from_parts(data["architecture"], loops, keeps, _sparse(data.get("sparse_optimizations")),
                               _energies(ert_path, energy_overrides), input_path)
    return design, workload_from_problem(data["problem"], input_path)


def read_case(folder: Path, arch, mapping, ert, sparse=None, prob=None, energy_overrides=None,
              convention: Convention | None = None):
    folder = Path(folder)
    workload = read_workload(folder / prob)
    design = read_design(folder / arch, folder / mapping, folder / ert, folder / sparse if sparse else None,
                         energy_overrides, workload, convention)
    return design, workload
