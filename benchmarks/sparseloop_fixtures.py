"""Write tests/fixtures/sparseloop/*.json from Sparseloop's MICRO 2022 artifact: each case's design and workload
(read from the artifact's Timeloop inputs by sparsesim.loopnest.timeloop_inputs) and Sparseloop's own outputs
(cycles, energy, per-level cycles and counts, parsed from the stats file it wrote).

    git --git-dir=<mirror of github.com/Accelergy-Project/micro22-sparseloop-artifact> archive HEAD workspace \\
        | tar x -C /work/ref/sl
    git --git-dir=<mirror of github.com/Accelergy-Project/timeloop-accelergy-exercises> archive HEAD \
        workspace/example_designs/example_designs/sparseloop | tar x -C /work/ref/tle
    python benchmarks/sparseloop_fixtures.py --artifact /work/ref/sl/workspace/2022.micro.artifact \
        --exercises /work/ref/tle
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from sparsesim.loopnest.schema import design_to_dict, workload_to_dict
from sparsesim.loopnest.spec import SPARSELOOP_2022_COUNTS
from sparsesim.loopnest.timeloop_inputs import read_case, read_dumped
from sparsesim.loopnest.timeloop_spatial import read_aggregated_run

FIG1 = "evaluation_setups/fig1_format_comparison_setup"
FIG1_DENSITIES = ("0.01", "0.02", "0.04", "0.08", "0.1", "0.2", "0.4", "0.8")
FIG1_FORMATS = ("bitmask", "coordinate_list")
FIG12 = "evaluation_setups/fig12_eyerissv2_pe_setup"
TABLE7 = "evaluation_setups/table7_eyeriss_setup"
FIG12_LAYERS = ("L07", "L09", "L13", "L19", "L21", "L23", "L25", "L27")
FIG15 = "evaluation_setups/fig15_stc_related_setup/ref_outputs/resnet50_selected"
FIG15_DENSITIES = ("1.0", "0.5", "0.3333", "0.25")
# accelforge's layers 1-4 (tests/test_sparseloop_reproduction.py): M x K x N, input density
FIG15_LAYERS = ("M512-K256-N1024-IAD0.82", "M512-K128-N1024-IAD0.56", "M128-K1152-N1024-IAD0.44",
                "M512-K1024-N256-IAD0.27")
FIG15_DESIGNS = ("TC-RF2x-24-bandwidth", "STC-RF2x-24-bandwidth", "STC_flexible-RF2x-24-bandwidth",
                 "STC_flexible-RF2x-24-bandwidth-RLE", "DSTC-RF2x-24-bandwidth",
                 "STC_flexible_dualCompress-RF2x-24-bandwidth-RLE")
FIG13 = "evaluation_setups/fig13_dstc_setup/ref_outputs"
# Fig. 13 (DSTC, 4096^3 GEMM): Sparseloop's normalized latency per (A density, B density), the red bars of the
# artifact's fig13_dstc_setup/ref_outputs/fig.png, plotted by its scripts/parse_and_plot.py as
# round(cycles / cycles(A=1.0, B=1.0), 2); read off that figure (no stats or logs are stored for Fig. 13).
# (1.0, 0.4) is run but not plotted.
FIG13_FIGURE = {(0.9, 1.0): 0.90, (0.9, 0.4): 0.48, (0.7, 1.0): 0.72, (0.7, 0.4): 0.38, (0.5, 1.0): 0.54,
                (0.5, 0.4): 0.29, (0.3, 1.0): 0.36, (0.3, 0.4): 0.19}
FIG13_BASELINE = "fig13 A=1.0 B=1.0"
COUNTS = ("reads", "fills", "updates")
TUTORIAL = "workspace/example_designs/example_designs/sparseloop"
TUTORIAL_CASES = ("01.2.1-DUDU-dot-product", "01.2.2-SUDU-dot-product", "01.2.3-SCDU-dot-product", "02.2.1-spMspM",
                  "02.2.2-spMspM-tiled")


def _level_blocks(text: str) -> dict[str, str]:
    """The per-level sections of 'Buffer and Arithmetic Levels' (later sections repeat the names)."""
    text = text.split("Buffer and Arithmetic Levels", 1)[-1].split("\nNetworks", 1)[0]
    parts = re.split(r"^=== (\w+) ===$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _tensor_blocks(block: str) -> dict[str, str]:
    parts = re.split(r"^    (\w+)(?: \(Streamed\))?:$", block, flags=re.M)     # the 2022 artifact's ``stream``
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
            if "Actual scalar" not in tb:      # a dense level prints plain counts
                tensors[t].update({f"actual_{c}": _num(rf"^\s+Scalar {c} \(per-instance\)\s+: ([\d.]+)$", tb)
                                   for c in COUNTS})
            tensors[t]["energy_pj"] = _num(r"^\s+Energy \(total\)\s+: ([\d.]+) pJ", tb)
        levels[name] = {"cycles": _num(r"^\s+Cycles\s+: (\d+)", body), "tensors": tensors}
    blocks = _level_blocks(text)
    compute = next(n for n, b in blocks.items() if "Compute energy" in b)
    mac = levels.pop(compute)
    energy = sum(t["energy_pj"] for lv in levels.values() for t in lv["tensors"].values())
    compute_pj = _num(r"^\s+Energy \(total\)\s+: ([\d.]+) pJ", blocks[compute])
    return {"cycles": _num(r"^Cycles: (\d+)", text), "energy_pj": energy + compute_pj,
            "computes": _num(r"^\s+(?:Actual )?Computes \(total\)\s+: (\d+)", blocks[compute]), "compute_energy_pj": compute_pj,
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
            # The register's ERT names only 'access', which no op's priority list holds: Timeloop prices its
            # random ops at the built-in vector energy the stats print, and its gated ones at 0 (buffer.cpp).
            design, workload = read_case(root, "arch/arch.yaml", out / "timeloop-mapper.map.yaml",
                                         "ert_art/ERT.yaml", f"sparse-opt/{fmt}.yaml", f"workload/spmspm.prob.{d}.yaml",
                                         {"Reg": {"read": reg, "write": reg, "gated_read": 0.0, "gated_write": 0.0}})
            cases.append({"name": f"fig1 {fmt} d={d}", "stats": str(stats.relative_to(artifact)),
                          "design": design_to_dict(design), "workload": workload_to_dict(workload),
                          "reference": parse_stats(stats)})
    return cases


def fig12_cases(artifact: Path) -> list[dict]:
    """Fig. 12: Eyeriss v2's PE on eight MobileNet-0.5 layers, uniformly random (hypergeometric) zeros, its
    ``uniform_only`` outputs.  Counted in whole accesses (``SPARSELOOP_2022_COUNTS``).  The stats file prints
    energies to 0.01 pJ (of millions) and every count whole; its .map+stats.xml twin agrees with it."""
    root = artifact / FIG12
    cases = []
    for layer in FIG12_LAYERS:
        stats = root / "ref_outputs" / "uniform_only" / layer / "uniform" / "output" / "timeloop-model.stats.txt"
        design, workload = read_case(root, "hardware-specs/designs/arch.yaml",
                                     f"mappings/mobilenet0.5-sparse/{layer}-perfect_factor.yaml", "ert_art/ERT.yaml",
                                     "hardware-specs/configurations/SI-SW.yaml",
                                     f"workload/mobilenet0.5-sparse/uniform/{layer}.yaml",
                                     convention=SPARSELOOP_2022_COUNTS)
        cases.append({"name": f"fig12 {layer}", "stats": str(stats.relative_to(artifact)),
                      "design": design_to_dict(design), "workload": workload_to_dict(workload),
                      "reference": parse_stats(stats)})
    return cases


def table7_cases(artifact: Path) -> list[dict]:
    """Table 7: Eyeriss v1 (168 PEs: a 14-wide glb fan-out, 12 PEs each) on AlexNet conv1-5, each sparse
    (``ref_outputs``) and dense (``dense_outputs``: no sparse optimizations).  Read from the aggregated input
    Sparseloop consumed (sliding-window projections, spatial mapping); counted in whole accesses."""
    root = artifact / TABLE7
    cases = []
    for kind, label in (("ref_outputs", "sparse"), ("dense_outputs", "dense")):
        for layer in range(1, 6):
            run = root / kind / f"alexnet_conv{layer}"
            stats = run / "output" / "timeloop-model.stats.txt"
            design, workload = read_aggregated_run(run)
            cases.append({"name": f"table7 conv{layer} {label}", "stats": str(stats.relative_to(artifact)),
                          "design": design_to_dict(design), "workload": workload_to_dict(workload),
                          "reference": parse_stats(stats)})
    return cases


def fig15_cases(artifact: Path, designs=FIG15_DESIGNS) -> list[dict]:
    """Fig. 15: TC, the STC family, DSTC and STC_flexible_dualCompress on four ResNet-50 GEMMs at weight
    densities 1.0, 0.5, 0.3333, 0.25 (STC's 2:4 is the same run at the three lower densities).  Read from
    the aggregated input plus map.yaml each run consumed; counted in whole accesses."""
    root = artifact / FIG15
    cases = []
    for wd in FIG15_DENSITIES:
        for layer in FIG15_LAYERS:
            for design_name in designs:
                run = root / f"WD-{wd}" / f"{layer}-WD{wd}" / design_name
                stats = run / "output" / "timeloop-model.stats.txt"
                design, workload = read_aggregated_run(run)
                cases.append({"name": f"fig15 {design_name.split('-RF2x')[0]}{'-RLE' if design_name.endswith('RLE') else ''}"
                                      f" WD-{wd} {layer.split('-IAD')[0]}",
                              "stats": str(stats.relative_to(artifact)), "design": design_to_dict(design),
                              "workload": workload_to_dict(workload), "reference": parse_stats(stats)})
    return cases


def fig13_cases(artifact: Path) -> list[dict]:
    """Fig. 13: DSTC on a 4096^3 GEMM (hypergeometric A and B), the dense baseline and the 8 plotted density
    points, read from the aggregated input each run consumed (mapping included); counted in whole accesses.
    The reference is the figure's normalized latency (2 decimals), against the baseline case's cycles."""
    cases = []
    for (a, b), bar in [((1.0, 1.0), 1.0)] + list(FIG13_FIGURE.items()):
        run = artifact / FIG13 / f"B_{b}-A_{a}"
        design, workload = read_aggregated_run(run)
        cases.append({"name": f"fig13 A={a} B={b}", "stats": str(run.relative_to(artifact)),
                      "design": design_to_dict(design), "workload": workload_to_dict(workload),
                      "reference": {"normalized_latency": bar, "decimals": 2, "baseline": FIG13_BASELINE}})
    return cases


def tutorial_cases(exercises: Path) -> list[dict]:
    """Timeloop v0.4's Sparseloop tutorial designs with their reference outputs (plain projections, temporal
    mappings: the five that need no sliding window or spatial fan-out)."""
    cases = []
    for name in TUTORIAL_CASES:
        out = exercises / TUTORIAL / name / "ref_outputs" / "default_problem"
        stats = out / "timeloop-mapper.stats.txt"
        design, workload = read_dumped(out / "parsed-processed-input.yaml", out / "timeloop-mapper.map.yaml",
                                       out / "timeloop-mapper.ERT.yaml")
        cases.append({"name": f"tutorial {name}", "stats": str(stats.relative_to(exercises)),
                      "design": design_to_dict(design), "workload": workload_to_dict(workload),
                      "reference": parse_stats(stats)})
    return cases


def _write(path: Path, source: str, cases: list[dict]) -> None:
    path.write_text(json.dumps({"source": source, "cases": cases}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(cases)} cases")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=Path("/work/ref/sl/workspace/2022.micro.artifact"))
    ap.add_argument("--exercises", type=Path, default=Path("/work/ref/tle"),
                    help="an archive of github.com/Accelergy-Project/timeloop-accelergy-exercises")
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/sparseloop"))
    ap.add_argument("--only", nargs="*", help="write only these fixtures (table7, fig13, fig15)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only:
        if "table7" in args.only:
            _write(args.out / "table7.json", "github.com/Accelergy-Project/micro22-sparseloop-artifact (commit "
                   f"de0374a), workspace/2022.micro.artifact/{TABLE7}; Sparseloop's outputs as its stats files print "
                   "them", table7_cases(args.artifact))
        if "fig13" in args.only:
            _write(args.out / "fig13.json", "github.com/Accelergy-Project/micro22-sparseloop-artifact (commit "
                   f"de0374a), workspace/2022.micro.artifact/{FIG13}; reference: the normalized latencies of its "
                   "fig.png (round(cycles / dense cycles, 2), scripts/parse_and_plot.py), read off the figure",
                   fig13_cases(args.artifact))
        if "fig15" in args.only:
            _write(args.out / "fig15.json", "github.com/Accelergy-Project/micro22-sparseloop-artifact (commit "
                   f"de0374a), workspace/2022.micro.artifact/{FIG15}; Sparseloop's outputs as its stats files print "
                   "them", fig15_cases(args.artifact))
        return 0
    _write(args.out / "fig1.json", "github.com/Accelergy-Project/micro22-sparseloop-artifact (commit de0374a), "
           "workspace/2022.micro.artifact; Sparseloop's outputs as its stats files print them", fig1_cases(args.artifact))
    _write(args.out / "fig12.json", "github.com/Accelergy-Project/micro22-sparseloop-artifact (commit de0374a), "
           f"workspace/2022.micro.artifact/{FIG12}; Sparseloop's uniform_only outputs as its stats files print them",
           fig12_cases(args.artifact))
    _write(args.out / "tutorial.json", "github.com/Accelergy-Project/timeloop-accelergy-exercises (commit 2d55108), "
           f"{TUTORIAL}/*/ref_outputs; Timeloop v0.4's outputs as its stats files print them",
           tutorial_cases(args.exercises))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
