"""Read a design written for Timeloop/Sparseloop into the loop-nest model's objects: v0.3 YAML files
(architecture, mapping, sparse optimizations, problem, ERT), or the single input file Timeloop v0.4 dumps
(``parsed-processed-input.yaml``: architecture, problem and sparse optimizations) with a mapping and an ERT.
Keys are read with ``-`` or ``_`` alike.  Only plain projections (one dimension per rank) and temporal
mappings are read; anything else is refused with the field that holds it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sparsesim.loopnest.density import FixedStructured, Hypergeometric
from sparsesim.loopnest.spec import (ACTIONS, SPARSELOOP_2022, TIMELOOP_04, ActionOpt, ComputeLevel, Design, Loop,
                                      RankFormat, SpecError, StorageLevel, Tensor, Workload)

DISTRIBUTIONS = {"fixed_structured": FixedStructured, "hypergeometric": Hypergeometric}
COMPUTE_CLASSES = ("compute", "intmac", "fpmac", "mac")


def _keys(obj):
    """Keys with ``_`` for ``-`` (v0.3 spells them with dashes, v0.4 with underscores)."""
    if isinstance(obj, dict):
        return {str(k).replace("-", "_"): _keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_keys(v) for v in obj]
    return obj


def _yaml(path) -> dict:
    with open(path) as f:
        return _keys(yaml.safe_load(f) or {})


def _base(name: str) -> str:
    return re.sub(r"\[.*\]$", "", str(name)).split(".")[-1]


def _components(node: dict, out: list) -> list:
    """Architecture components outermost first."""
    for comp in node.get("local") or []:
        out.append(comp)
    for sub in node.get("subtree") or []:
        _components(sub, out)
    return out


def read_workload(prob_path) -> Workload:
    return workload_from_problem(_yaml(prob_path)["problem"], prob_path)


def workload_from_problem(prob: dict, where) -> Workload:
    shape, inst = prob["shape"], prob["instance"]
    tensors = []
    for ds in shape["data_spaces"]:
        dims = []
        for rank in ds["projection"]:
            if len(rank) != 1 or len(rank[0]) != 1:
                raise SpecError(f"{where}: data-space {ds['name']} projection {rank} is not a plain index")
            dims.append(rank[0][0])
        tensors.append(Tensor(ds["name"], tuple(dims), bool(ds.get("read_write"))))
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
        tables[_base(table["name"])] = {a["name"]: float(a["energy"]) for a in table["actions"]}
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
            ranks = tuple(RankFormat(r["format"].upper(), r.get("metadata_word_bits"), r.get("payload_word_bits"))
                          for r in ds.get("ranks") or ())
            formats.append((ds["name"], ranks))
            if ds.get("rank_application_order") == "inner-to-outer":
                inner.add(ds["name"])
        for ao in tgt.get("action_optimization") or []:
            for o in ao["options"]:
                opts.append(ActionOpt(ao["type"], o["target"], tuple(o["condition_on"])))
        out[_base(tgt["name"])] = {"formats": tuple(formats), "inner_to_outer": frozenset(inner),
                                   "action_opts": tuple(opts)}
    return out


def _storage(comp: dict, loops, keeps, sparse, energies) -> StorageLevel:
    name, a = _base(comp["name"]), comp.get("attributes") or {}
    word = int(a.get("datawidth", a.get("word_bits", 8)))
    width = int(a.get("data_storage_width", a.get("width", word)))
    bw = {k: (float(a[k]) if k in a else None) for k in ("read_bandwidth", "write_bandwidth")}
    return StorageLevel(name, keeps.get(name, frozenset()), loops.get(name, ()), word, max(1, width // word),
                        int(a.get("metadata_storage_width", 0)), bw["read_bandwidth"], bw["write_bandwidth"],
                        tuple((k, v) for k, v in energies.get(name, {}).items() if k in ACTIONS),
                        **sparse.get(name, {}))


def _is_compute(comp: dict) -> bool:
    return str(comp.get("class", "")).lower() in COMPUTE_CLASSES


def design_from_parts(arch: dict, loops, keeps, sparse: dict, energies: dict, where, convention=None) -> Design:
    comps = _components(arch, [])
    storages = [c for c in comps if not _is_compute(c)]
    computes = [c for c in comps if _is_compute(c)]
    if len(computes) != 1:
        raise SpecError(f"{where}: {len(computes)} compute components; one is read")
    levels = tuple(_storage(c, loops, keeps, sparse, energies) for c in reversed(storages))
    mac = _base(computes[0]["name"])
    table = energies.get(mac, {})
    compute = ComputeLevel(mac, table.get("mac_random", table.get("compute", 0.0)), table.get("mac_gated", 0.0),
                           sparse.get(mac, {}).get("action_opts", ()))
    if convention is None:
        convention = TIMELOOP_04 if str(arch.get("version", "0.3")) >= "0.4" else SPARSELOOP_2022
    return Design(levels, compute, convention)


def read_design(arch_path, map_path, ert_path, sparse_path=None, energy_overrides=None, convention=None) -> Design:
    """``energy_overrides``: {level: {action: pJ}} for actions the ERT does not name (e.g. Timeloop's
    built-in register model, printed in its stats as 'Vector read energy').  ``convention``: the Timeloop
    version's counting rules (default: from the architecture's ``version``)."""
    loops, keeps = _mapping(map_path)
    sparse = _sparse(_yaml(sparse_path).get("sparse_optimizations")) if sparse_path else {}
    return design_from_parts(_yaml(arch_path)["architecture"], loops, keeps, sparse,
                             _energies(ert_path, energy_overrides), arch_path, convention)


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


def read_case(folder: Path, arch, mapping, ert, sparse=None, prob=None, energy_overrides=None, convention=None):
    folder = Path(folder)
    design = read_design(folder / arch, folder / mapping, folder / ert, folder / sparse if sparse else None,
                         energy_overrides, convention)
    return design, read_workload(folder / prob)
