"""Designs and workloads as plain data (JSON/YAML-safe dicts) and back; nothing in the data runs code."""

from __future__ import annotations

from sparsesim.loopnest.density import FixedStructured, Hypergeometric
from sparsesim.loopnest.spec import (CONVENTIONS, SPARSELOOP_2022, ActionOpt, ComputeLevel, Design, Loop, RankFormat,
                                      SpecError, StorageLevel, Tensor, Workload)

DENSITY_KINDS = {"fixed-structured": FixedStructured, "hypergeometric": Hypergeometric}


def _opts(items) -> list[dict]:
    return [{"kind": o.kind, "target": o.target, "condition_on": list(o.condition_on)} for o in items]


def design_to_dict(d: Design) -> dict:
    levels = [{"name": lv.name, "keep": sorted(lv.keep), "loops": [[lp.dim, lp.factor] + ([lp.spatial] if lp.spatial else []) for lp in lv.loops],
               "word_bits": lv.word_bits, "block_words": lv.block_words,
               "metadata_width_bits": lv.metadata_width_bits, "metadata_word_bits": lv.metadata_word_bits,
               "read_bw_words": lv.read_bw_words,
               "write_bw_words": lv.write_bw_words, "energy_pj": dict(lv.energy_pj),
               "formats": {t: [_format_to_list(f) for f in fs] for t, fs in lv.formats},
               "inner_to_outer": sorted(lv.inner_to_outer), "action_opts": _opts(lv.action_opts)}
              | ({"stream": sorted(lv.stream)} if lv.stream else {})
              for lv in d.levels]
    c = d.compute
    return {"levels": levels, "convention": d.convention.name,
            "compute": {"name": c.name, "compute_pj": c.compute_pj, "gated_compute_pj": c.gated_compute_pj,
                        "skipped_compute_pj": c.skipped_compute_pj, "skip_unaligned": c.skip_unaligned,
                        "action_opts": _opts(c.action_opts)}}


def _format_to_list(f: RankFormat) -> list:
    out = [f.kind, f.metadata_bits, f.payload_bits]
    return out + [[list(g) for g in f.flattened]] if f.flattened else out


def _format_from_list(item: list) -> RankFormat:
    kind, md, pl, *flat = item
    return RankFormat(kind, md, pl, tuple(tuple(g) for g in flat[0]) if flat else ())


def _read_opts(items, where: str) -> tuple[ActionOpt, ...]:
    try:
        return tuple(ActionOpt(o["kind"], o["target"], tuple(o["condition_on"])) for o in items or ())
    except (KeyError, TypeError) as e:
        raise SpecError(f"{where}.action_opts: needs kind, target and condition_on ({e})") from None


def design_from_dict(data: dict) -> Design:
    levels = []
    for i, lv in enumerate(data["levels"]):
        where = f"levels[{i}]"
        try:
            levels.append(StorageLevel(
                lv["name"], frozenset(lv.get("keep", ())), tuple(Loop(lp[0], int(lp[1]), *lp[2:]) for lp in lv.get("loops", ())),
                int(lv.get("word_bits", 8)), int(lv.get("block_words", 1)), int(lv.get("metadata_width_bits", 0)),
                int(lv.get("metadata_word_bits", 0)), lv.get("read_bw_words"), lv.get("write_bw_words"),
                tuple((lv.get("energy_pj") or {}).items()),
                tuple((t, tuple(_format_from_list(f) for f in fs)) for t, fs in (lv.get("formats") or {}).items()),
                frozenset(lv.get("inner_to_outer", ())), _read_opts(lv.get("action_opts"), where),
                frozenset(lv.get("stream", ()))))
        except (KeyError, TypeError, ValueError) as e:
            raise SpecError(f"{where}: {e}") from None
    c = data.get("compute") or {}
    compute = ComputeLevel(c.get("name", "MAC"), float(c.get("compute_pj", 0.0)),
                           float(c.get("gated_compute_pj", 0.0)), _read_opts(c.get("action_opts"), "compute"),
                           float(c.get("skipped_compute_pj", 0.0)), bool(c.get("skip_unaligned", False)))
    name = data.get("convention", SPARSELOOP_2022.name)
    if name not in CONVENTIONS:
        raise SpecError(f"convention: {name!r} is not one of {list(CONVENTIONS)}")
    return Design(tuple(levels), compute, CONVENTIONS[name])


def workload_to_dict(w: Workload) -> dict:
    kinds = {cls: name for name, cls in DENSITY_KINDS.items()}
    return {"sizes": dict(w.sizes), "tensors": [{"name": t.name, "dims": list(t.dims), "output": t.output}
                                                | ({"projection": [[list(term) for term in rank] for rank in t.projection]}
                                                   if t.projection else {}) for t in w.tensors],
            "densities": {n: {"distribution": kinds[type(m)], "density": m.density} for n, m in w.densities}}


def workload_from_dict(data: dict) -> Workload:
    dens = []
    for name, spec in (data.get("densities") or {}).items():
        kind = spec.get("distribution", "fixed-structured")
        if kind not in DENSITY_KINDS:
            raise SpecError(f"densities.{name}.distribution: {kind!r} is not one of {list(DENSITY_KINDS)}")
        dens.append((name, DENSITY_KINDS[kind](float(spec["density"]))))
    tensors = tuple(Tensor(t["name"], tuple(t["dims"]), bool(t.get("output", False)),
                           tuple(tuple((d, int(c)) for d, c in rank) for rank in t.get("projection") or ()))
                    for t in data["tensors"])
    return Workload(tuple((d, int(n)) for d, n in data["sizes"].items()), tensors, tuple(dens))
