"""Write tests/fixtures/sparseloop/*.json from Sparseloop's MICRO 2022 artifact: each case's design and workload
(read from the artifact's Timeloop inputs by sparsesim.loopnest.timeloop_inputs) and Sparseloop's own outputs
(cycles, energy, per-level cycles and counts, parsed from the stats file it wrote).

    git --git-dir=<mirror of github.com/Accelergy-Project/micro22-sparseloop-artifact> archive HEAD workspace \\
        | tar x -C /work/ref/sl
    python benchmarks/sparseloop_fixtures.py --artifact /work/ref/sl/workspace/2022.micro.artifact
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from sparsesim.loopnest.schema import design_to_dict, workload_to_dict
from sparsesim.loopnest.timeloop_inputs import read_case

FIG1 = "evaluation_setups/fig1_format_comparison_setup"
FIG1_DENSITIES = ("0.01", "0.02", "0.04", "0.08", "0.1", "0.2", "0.4", "0.8")
FIG1_FORMATS = ("bitmask", "coordinate_list")
COUNTS = ("reads", "fills", "updates")


def _level_blocks(text: str) -> dict[str, str]:
    """The per-level sections of 'Buffer and Arithmetic Levels' (later sections repeat the names)."""
    text = text.split("Buffer and Arithmetic Levels", 1)[-1].split("\nNetworks", 1)[0]
    parts = re.split(r"^=== (\w+) ===$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _tensor_blocks(block: str) -> dict[str, str]:
    parts = re.split(r"^    (\w+):$", block, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _num(pattern: str, text: str) -> float:
    m = re.search(pattern, text, flags=re.M)
    return float(m.group(1)) if m else 0.0


def parse_stats(path: Path) -> dict:
    """Sparseloop's totals and, per storage level, cycles and per tensor its actual/gated/skipped counts."""
    text = path.read_text()
    levels = {}
    for name, block in _level_blocks(text).items():
        body = block.split("STATS", 1)[-1]
        tensors = {}
        for t, tb in _tensor_blocks(body).items():
            tensors[t] = {f"{kind}_{c}": _num(rf"^\s+{kind.capitalize()} scalar {c} \(per-instance\)\s+: ([\d.]+)$", tb)
                          for kind in ("actual", "gated", "skipped") for c in COUNTS}
            tensors[t]["energy_pj"] = _num(r"^\s+Energy \(total\)\s+: ([\d.]+) pJ", tb)
        levels[name] = {"cycles": _num(r"^\s+Cycles\s+: (\d+)", body), "tensors": tensors}
    mac = levels.pop("MAC", {"cycles": 0})
    energy = sum(t["energy_pj"] for lv in levels.values() for t in lv["tensors"].values())
    compute_pj = _num(r"=== MAC ===[\s\S]*?Energy \(total\)\s+: ([\d.]+) pJ", text)
    return {"cycles": _num(r"^Cycles: (\d+)", text), "energy_pj": energy + compute_pj,
            "computes": _num(r"Actual Computes \(total\)\s+: (\d+)", text), "compute_energy_pj": compute_pj,
            "compute_cycles": mac["cycles"], "levels": levels}


def register_energy_pj(stats: Path, level: str) -> float:
    """Timeloop prices a register its ERT names only 'access' for with its built-in model; the stats print it."""
    block = _level_blocks(stats.read_text())[level]
    return _num(r"Vector read energy\s+: ([\d.]+) pJ", block)


def fig1_cases(artifact: Path) -> list[dict]:
    root = artifact / FIG1
    cases = []
    for fmt in FIG1_FORMATS:
        for d in FIG1_DENSITIES:
            out = root / "ref_outputs" / f"output_{d}_{fmt}"
            stats = out / "timeloop-mapper.stats.txt"
            reg = register_energy_pj(stats, "Reg")
            design, workload = read_case(root, "arch/arch.yaml", out / "timeloop-mapper.map.yaml",
                                         "ert_art/ERT.yaml", f"sparse-opt/{fmt}.yaml",
                                         f"workload/spmspm.prob.{d}.yaml", {"Reg": {"read": reg, "write": reg}})
            cases.append({"name": f"fig1 {fmt} d={d}", "stats": str(stats.relative_to(artifact)),
                          "design": design_to_dict(design), "workload": workload_to_dict(workload),
                          "reference": parse_stats(stats)})
    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=Path("/work/ref/sl/workspace/2022.micro.artifact"))
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/sparseloop"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"source": "github.com/Accelergy-Project/micro22-sparseloop-artifact (commit de0374a), "
                     "workspace/2022.micro.artifact; Sparseloop's outputs as its stats files print them",
           "cases": fig1_cases(args.artifact)}
    path = args.out / "fig1.json"
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(doc['cases'])} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
