"""Read a Sparseloop v0.3 aggregated input (``aggregated_input.yaml``: architecture with instance counts,
problem with sliding-window projections, spatial and temporal mapping, sparse optimizations) and its ERT
into the loop-nest model's objects, for :mod:`sparsesim.loopnest.spatial_counts`.

A rank's ``flattened_rankIDs`` (spelt with underscores, as the artifact's Fig. 13 and Fig. 15 inputs spell
it) is ignored: the 2022 parser looks up ``flattened-rankIDs`` only (sparse-optimization-parser.cpp; later
Timeloop maps hyphens to underscores), and the DSTC outputs agree only without flattening.

Timeloop's defaults are kept: a level's word is 16 bits where the architecture names none, its block is
``block_size`` or width / word; a level's loops are its spatial loops (where it fans out: the level below
has more instances) then its temporal loops, each in its permutation's order with the dimensions it does not
name appended (mapping/parser.cpp ParseAndConstruct); ``split`` puts the first loops on X, the rest on Y.
"""

from __future__ import annotations

import re
from pathlib import Path

from sparsesim.loopnest.density import FixedStructured, Hypergeometric
from sparsesim.loopnest.spec import (SPARSELOOP_2022_COUNTS, ComputeLevel, Convention, Design, Loop, SpecError,
                                      StorageLevel, Tensor, Workload, ACTIONS)
from sparsesim.loopnest.timeloop_inputs import COMPUTE_CLASSES, _base, _ert, _first, _sparse, _yaml


def _flatten(node: dict, mult: int, out: list) -> list:
    """(name, instances, component) outermost first."""
    for comp in node.get("local") or []:
        out.append((_base(comp["name"]), mult * _count(comp["name"]), comp))
    for sub in node.get("subtree") or []:
        _flatten(sub, mult * _count(sub["name"]), out)
    return out


def _count(name: str) -> int:
    m = re.match(r"^.*\[(\d+)\.\.(\d+)\]$", str(name))
    return int(m.group(2)) - int(m.group(1)) + 1 if m else 1


def read_workload_spatial(problem: dict) -> Workload:
    shape, inst = problem["shape"], problem["instance"]
    coefs = {c["name"]: inst.get(c["name"], c.get("default", 1)) for c in shape.get("coefficients") or ()}
    dims = list(shape["dimensions"])
    tensors = []
    for ds in shape["data_spaces"]:
        proj = tuple(tuple((term[0], int(coefs[term[1]]) if len(term) > 1 else 1) for term in rank)
                     for rank in ds["projection"])
        used = tuple(d for d in dims if any(d == x for rank in proj for x, _ in rank))
        tensors.append(Tensor(ds["name"], used, bool(ds.get("read_write")), proj))
    dens = []
    for name, spec in (inst.get("densities") or {}).items():
        if isinstance(spec, dict):
            kind = str(spec.get("distribution", "fixed_structured")).replace("-", "_")
            cls = Hypergeometric if kind == "hypergeometric" else FixedStructured
            dens.append((name, cls(float(spec["density"]))))
        else:
            dens.append((name, FixedStructured(float(spec))))
    return Workload(tuple((d, int(inst.get(d, 1))) for d in dims), tuple(tensors), tuple(dens))


def _level_loops(mapping: list, w: Workload, name: str, fans_out: bool) -> tuple[Loop, ...]:
    dims = [d for d, _ in w.sizes]
    loops = []
    for kind in ("spatial", "temporal"):
        entry = next((m for m in mapping if _base(m["target"]) == name and m["type"] == kind), None)
        if kind == "spatial" and not fans_out:
            if entry is not None and any(int(v) > 1 for v in re.findall(r"\d+", str(entry.get("factors", "")))):
                raise SpecError(f"mapping: spatial factors at {name}, which does not fan out")
            continue
        factors = {d: int(v) for d, v in re.findall(r"([A-Za-z]+)\s*=?\s*(\d+)", str((entry or {}).get("factors", "")))}
        perm = [c for c in str((entry or {}).get("permutation", "")) if not c.isspace()]
        perm += [d for d in dims if d not in perm]
        split = int((entry or {}).get("split", len(dims)))
        for idx, d in enumerate(perm):
            f = factors.get(d, 1) or w.size(d)
            loops.append(Loop(d, f, ("X" if idx < split else "Y") if kind == "spatial" else ""))
    return tuple(loops)


def read_aggregated(input_path, ert_path, map_path=None,
                    convention: Convention = SPARSELOOP_2022_COUNTS) -> tuple[Design, Workload]:
    """``map_path``: the mapping where the aggregated input has none (the Fig. 15 runs keep it in map.yaml);
    ``convention``: how to count (the Table 7 artifact's by default; the a9c5115 build for its grids)."""
    data = _yaml(input_path, ignore=("flattened_rankIDs",))
    if "mapping" not in data:
        if map_path is None:
            raise SpecError(f"{input_path}: no mapping and no map.yaml given")
        data["mapping"] = _yaml(map_path)["mapping"]
    w = read_workload_spatial(data["problem"])
    comps = _flatten(data["architecture"], 1, [])
    storages = [c for c in comps if str(c[2].get("class", "")).lower() not in COMPUTE_CLASSES]
    computes = [c for c in comps if str(c[2].get("class", "")).lower() in COMPUTE_CLASSES]
    if len(computes) != 1:
        raise SpecError(f"{input_path}: {len(computes)} compute components; one is read")
    mapping = data["mapping"]
    keeps = {_base(m["target"]): (set(m.get("keep") or ()), set(m.get("bypass") or ()), set(m.get("stream") or ()))
             for m in mapping if m["type"] in ("datatype", "bypass")}
    sparse = _sparse(data.get("sparse_optimizations"))
    energies = _ert(ert_path)
    inner_first = storages[::-1]
    levels = []
    for i, (name, count, comp) in enumerate(inner_first):
        a = comp.get("attributes") or {}
        below = inner_first[i - 1][1] if i else computes[0][1]
        keep, bypass, stream = keeps.get(name, (set(), set(), set()))
        top = i == len(inner_first) - 1
        kept = frozenset(t.name for t in w.tensors if t.name in keep or (top and t.name not in bypass))
        word = int(a.get("word_bits", a.get("datawidth", 16)))
        width = a.get("width", a.get("data_storage_width"))
        block = int(a.get("block_size") or max(1, int(width or word) // word))
        bw = {k: (float(a[k]) if k in a else None) for k in ("read_bandwidth", "write_bandwidth")}
        feats = {k: v for k, v in sparse.get(name, {}).items() if k != "skip_unaligned"}
        table = energies.get(name, {})
        levels.append(StorageLevel(name, kept, _level_loops(mapping, w, name, below // count > 1), word, block,
                                   int(a.get("metadata_storage_width", 0) or 0),
                                   int(a.get("metadata_datawidth", 0) or 0), bw["read_bandwidth"],
                                   bw["write_bandwidth"], tuple((k, v) for k, v in table.items() if k in ACTIONS),
                                   stream=frozenset(stream - kept), **feats))
    mac = computes[0][0]
    table, feats = energies.get(mac, {}), sparse.get(mac, {})
    compute = ComputeLevel(mac, _first(table, ("mac_random", "mult_random", "mac", "mult", "compute")),
                           _first(table, ("mac_gated", "mult_gated", "compute_gated")), feats.get("action_opts", ()),
                           _first(table, ("mac_skipped", "mult_skipped", "compute_skipped", "mac_gated",
                                          "mult_gated", "compute_gated")), feats.get("skip_unaligned", False))
    return Design(tuple(levels), compute, convention), w


def read_aggregated_run(run: Path) -> tuple[Design, Workload]:
    run = Path(run)
    return read_aggregated(run / "aggregated_input.yaml", run / "ERT.yaml", run / "map.yaml")
