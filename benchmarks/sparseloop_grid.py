"""Sparseloop itself (Timeloop built from source, never a project dependency) on a generated grid of sparse GEMM
designs, written to tests/fixtures/sparseloop/grid.json for sparsesim.loopnest to be checked against.

Each point draws, from a seed: the GEMM's sizes, both operands' densities and distribution, the loop split and order
over a three-level hierarchy (backing store, buffer, register), which tensors the buffer keeps, per-level formats
(UOP/CP/B/RLE ranks), gating or skipping at the buffer and register, and the buffer's bandwidths.  Energies are one
fixed table (any table serves: both tools read the same one).  Points Timeloop refuses are listed and skipped.

    bash benchmarks/timeloop_build.sh                      # Timeloop with Sparseloop into /tmp/timeloop
    python benchmarks/sparseloop_grid.py --points 60 --seed 0 --timeloop /tmp/timeloop/bin/timeloop-model
    python benchmarks/sparseloop_validation.py             # ours against every fixture, the grid included
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import yaml

from sparsesim.loopnest.schema import design_to_dict, workload_to_dict
from sparsesim.loopnest.spec import CONVENTIONS
from sparsesim.loopnest.timeloop_inputs import read_case
from sparsesim.loopnest.timeloop_spatial import read_aggregated

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sparseloop_fixtures import parse_stats  # noqa: E402
from sparseloop_sgrid import aggregated, draw_spatial_point, spatial_files  # noqa: E402

ERT = {"BackingStorage": {"read": 32.3, "write": 26.1, "gated_read": 0.0055, "gated_write": 0.0055,
                          "metadata_read": 14.0, "metadata_write": 10.3, "gated_metadata_read": 0.002,
                          "gated_metadata_write": 0.002},
       "Buffer": {"read": 0.43, "write": 0.58, "gated_read": 0.00001, "gated_write": 0.00001, "metadata_read": 0.74,
                  "metadata_write": 1.42, "gated_metadata_read": 0.00002, "gated_metadata_write": 0.00002},
       "Reg": {"read": 0.49, "write": 0.49, "gated_read": 0.001, "gated_write": 0.001},
       "MAC": {"mac_random": 0.56, "mac_gated": 0.036, "mac_skipped": 0.0, "mac_reused": 0.48}}
PATHS = {"BackingStorage": "system.BackingStorage", "Buffer": "system.PE.Buffer", "Reg": "system.PE.Reg",
         "MAC": "system.PE.MAC"}
SIZES = (8, 16, 32)
DENSITIES = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)
FORMATS = ("none", "B", "CP", "RLE")
OPTS = ("none", "gating", "skipping")


def _arch(read_bw: int, write_bw: int) -> dict:
    md = {"metadata_storage_depth": 4096, "metadata_storage_width": 28}
    return {"architecture": {"version": 0.3, "subtree": [{
        "name": "system", "attributes": {"technology": "45nm"},
        "local": [{"name": "BackingStorage", "class": "storage", "subclass": "SRAM_MD",
                   "attributes": {"data_storage_depth": 65536, "data_storage_width": 64, "datawidth": 8,
                                  "read_bandwidth": 8, **md}}],
        "subtree": [{"name": "PE", "local": [
            {"name": "Buffer", "class": "storage", "subclass": "SRAM_MD",
             "attributes": {"data_storage_depth": 65536, "data_storage_width": 8, "datawidth": 8, "block_size": 1,
                            "read_bandwidth": read_bw, "write_bandwidth": write_bw, **md}},
            {"name": "Reg", "class": "storage", "subclass": "reg",
             "attributes": {"data_storage_depth": 64, "data_storage_width": 8, "datawidth": 8,
                            "read_bandwidth": 1, "write_bandwidth": 1}},
            {"name": "MAC", "class": "compute", "subclass": "intmac", "attributes": {"datawidth": 8}}]}]}]}}


def _ert() -> dict:
    return {"ERT": {"version": 0.3, "tables": [
        {"name": PATHS[lvl], "actions": [{"name": a, "arguments": None, "energy": e} for a, e in acts.items()]}
        for lvl, acts in ERT.items()]}}


def _art() -> dict:
    return {"ART": {"version": 0.3, "tables": [{"name": p, "area": 1.0} for p in PATHS.values()]}}


def _split(rng, size: int, parts: int) -> list[int]:
    """``size`` (a power of two) as a product of ``parts`` powers of two."""
    bits = int(np.log2(size))
    cuts = np.sort(rng.integers(0, bits + 1, parts - 1))
    edges = np.concatenate([[0], cuts, [bits]])
    return [2 ** int(b) for b in np.diff(edges)]


def _n_ranks(p: dict, tensor: str, level: int) -> int:
    """Ranks a tile needs: one per loop over the tensor's dimensions with a factor above one, at the level and
    below (levels: 0 register, 1 buffer, 2 backing store)."""
    dims = {"A": "MK", "B": "NK"}[tensor]
    return max(1, sum(1 for d in dims for lv in range(level + 1) if p["splits"][d][2 - lv] > 1))


def _ranks(fmt: str, n_ranks: int) -> list[dict]:
    if fmt == "none":
        return []
    inner = {"format": fmt}
    if fmt in ("CP", "RLE"):
        inner["metadata-word-bits"] = 6
    return [{"format": "UOP", "payload-word-bits": 0}] * (n_ranks - 1) + [inner]


def draw_point(rng) -> dict:
    sizes = {d: int(rng.choice(SIZES)) for d in "MNK"}
    splits = {d: _split(rng, sizes[d], 3) for d in "MNK"}        # backing, buffer, register factors
    orders = ["".join(rng.permutation(list("MNK"))) for _ in range(3)]
    buffer_keeps = ["A", "B"] if rng.random() < 0.7 else [str(rng.choice(["A", "B"]))]
    dens = {t: float(rng.choice(DENSITIES)) for t in "AB"}
    dist = str(rng.choice(["fixed-structured", "hypergeometric"]))
    per_tensor = {t: str(rng.choice(FORMATS)) for t in "AB"}     # Timeloop neither compresses nor decompresses
    fmts = {lvl: dict(per_tensor) for lvl in ("BackingStorage", "Buffer")}   # between levels, and pre-tiles alike
    opt = str(rng.choice(OPTS))
    return {"sizes": sizes, "splits": splits, "orders": orders, "buffer_keeps": buffer_keeps, "densities": dens,
            "distribution": dist, "formats": fmts, "opt": opt,
            "bandwidth": [int(rng.choice([1, 2, 4])), int(rng.choice([1, 2, 4]))]}


def _files(p: dict) -> dict[str, dict]:
    levels = ("BackingStorage", "Buffer", "Reg")
    mapping = [{"target": "Reg", "type": "datatype", "keep": ["Z"], "bypass": ["A", "B"]},
               {"target": "Buffer", "type": "datatype", "keep": p["buffer_keeps"],
                "bypass": [t for t in "ABZ" if t not in p["buffer_keeps"]]},
               {"target": "BackingStorage", "type": "datatype", "keep": ["A", "B", "Z"], "bypass": []}]
    for i, lvl in enumerate(levels):
        mapping.append({"target": lvl, "type": "temporal", "permutation": p["orders"][i],
                        "factors": " ".join(f"{d}={p['splits'][d][i]}" for d in "MNK")})
    targets = []
    for lvl in ("BackingStorage", "Buffer"):
        spaces = [{"name": t, "ranks": _ranks(p["formats"][lvl][t], _n_ranks(p, t, 2 if lvl == "BackingStorage" else 1)),
                   "rank-application-order": "inner-to-outer"}
                  for t in "AB" if p["formats"][lvl][t] != "none" and (lvl == "BackingStorage" or t in p["buffer_keeps"])]
        tgt = {"name": lvl}
        if spaces:
            tgt["representation-format"] = {"data-spaces": spaces}
        if lvl == "Buffer" and p["opt"] != "none":
            tgt["action-optimization"] = [{"type": p["opt"], "options": [{"target": t, "condition-on": [o]}]}
                                          for t, o in (("A", "B"), ("B", "A")) if t in p["buffer_keeps"]]
        targets.append(tgt)
    if p["opt"] != "none":
        targets.append({"name": "Reg", "action-optimization": [
            {"type": p["opt"], "options": [{"target": "Z", "condition-on": ["A", "B"]}]}]})
    prob = {"problem": {"shape": {"name": "MatrixMultiply", "dimensions": ["M", "N", "K"], "data-spaces": [
        {"name": "A", "projection": [[["M"]], [["K"]]]}, {"name": "B", "projection": [[["N"]], [["K"]]]},
        {"name": "Z", "projection": [[["M"]], [["N"]]], "read-write": True}]},
        "instance": {**p["sizes"], "densities": {t: {"distribution": p["distribution"], "density": d}
                                                 for t, d in p["densities"].items()}}}}
    return {"arch.yaml": _arch(*p["bandwidth"]), "map.yaml": {"mapping": mapping},
            "sparse.yaml": {"sparse_optimizations": {"targets": targets}}, "prob.yaml": prob, "ERT.yaml": _ert(),
            "ART.yaml": _art()}


def full_precision(reference: dict, xml: Path, tensors: list[str]) -> dict:
    """The stats file's energies (printed to 0.01 pJ) replaced by the full-precision ones Timeloop serialises
    beside it (per level and data space: energy per instance x utilized instances; the compute's total), and
    counts that are zero left out."""
    levels = {}
    for item in ET.parse(xml).getroot().find("engine/topology_/levels_").iter("px"):
        name = item.find("specs_/LevelSpecs/level_name")
        if name is None:
            continue
        if item.find("energy_") is not None:
            compute_pj = float(item.find("energy_").text)
            continue
        per = [[float(x.text) for x in item.find(f"stats_/{f}/PerDataSpace").iter("item")]
               for f in ("energy", "utilized_instances")]
        levels[name.text] = {t: e * u for t, e, u in zip(tensors, *per)}
    out = {**reference, "compute_energy_pj": compute_pj, "levels": {}}
    for lvl, ref in reference["levels"].items():
        out["levels"][lvl] = {**ref, "tensors": {
            t: {**{k: v for k, v in counts.items() if v and k != "energy_pj"}, "energy_pj": levels[lvl][t]}
            for t, counts in ref["tensors"].items()}}
    out["energy_pj"] = compute_pj + sum(tc["energy_pj"] for lv in out["levels"].values() for tc in lv["tensors"].values())
    return out


def _read_temporal(d: Path, files: dict, convention: str):
    return read_case(d, "arch.yaml", "map.yaml", "ERT.yaml", "sparse.yaml", "prob.yaml",
                     convention=CONVENTIONS[convention])


def _read_spatial(d: Path, files: dict, convention: str):
    """Through the spatial reader, from the aggregated input the separate files make up."""
    (d / "aggregated_input.yaml").write_text(yaml.safe_dump(aggregated(files), sort_keys=False))
    return read_aggregated(d / "aggregated_input.yaml", d / "ERT.yaml", convention=CONVENTIONS[convention])


def run_point(timeloop: str, p: dict, keep: Path | None, convention: str, spatial: bool = False) -> dict:
    files = spatial_files(p) if spatial else _files(p)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, doc in files.items():
            (d / name).write_text(yaml.safe_dump(doc, sort_keys=False))
        args = [timeloop, *(str(d / n) for n in ("arch.yaml", "map.yaml", "sparse.yaml", "prob.yaml", "ERT.yaml",
                                                 "ART.yaml")), "-o", str(d)]
        env = {**os.environ, "LD_LIBRARY_PATH": f"{Path(timeloop).resolve().parents[1] / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        stats = d / "timeloop-model.stats.txt"
        if proc.returncode != 0 or not stats.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"refused": tail[0][:200]}
        if keep:
            shutil.copytree(d, keep, dirs_exist_ok=True)
        design, workload = (_read_spatial if spatial else _read_temporal)(d, files, convention)
        return {"design": design_to_dict(design), "workload": workload_to_dict(workload),
                "reference": full_precision(parse_stats(stats), d / "timeloop-model.map+stats.xml",
                                            [ds["name"] for ds in
                                             files["prob.yaml"]["problem"]["shape"]["data-spaces"]])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeloop", default="/tmp/timeloop/bin/timeloop-model")
    ap.add_argument("--convention", default="timeloop-a9c5115-counts", choices=sorted(CONVENTIONS),
                    help="the counting convention of the Timeloop build (benchmarks/timeloop_build.sh's commit)")
    ap.add_argument("--spatial", action="store_true",
                    help="spatial points: a PE array under a shared buffer, GEMMs and convolutions "
                         "(sparseloop_sgrid.py)")
    ap.add_argument("--keep", type=Path, help="copy each point's inputs and outputs under this folder")
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/sparseloop/grid.json"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    cases, refused = [], []
    for i in range(args.points):
        p = draw_spatial_point(rng) if args.spatial else draw_point(rng)
        r = run_point(args.timeloop, p, args.keep / f"p{i:03d}" if args.keep else None, args.convention, args.spatial)
        if "refused" in r:
            refused.append((i, r["refused"]))
            print(f"p{i:03d} refused by Timeloop: {r['refused']}", file=sys.stderr)
            continue
        # the point is the seed's: design and workload hold it
        cases.append({"name": f"{'sgrid' if args.spatial else 'grid'} p{i:03d}", **r})
        print(f"p{i:03d} {p['sizes']} d={p['densities']} {p['distribution']} {p['opt']} -> "
              f"{r['reference']['cycles']:.0f} cycles", flush=True)
    args.out.write_text(json.dumps({"source": f"Timeloop/Sparseloop built from source ({args.timeloop}), "
                                              f"benchmarks/sparseloop_grid.py {'--spatial ' if args.spatial else ''}"
                                              f"--seed {args.seed} "
                                              f"--points {args.points}",
                                    "refused": refused, "cases": cases}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {len(cases)} points, {len(refused)} refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
