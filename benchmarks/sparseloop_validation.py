"""The loop-nest model against Sparseloop's own outputs (tests/fixtures/sparseloop/*.json): per case, cycles
and energy, each level's cycles and every actual/gated/skipped count Sparseloop prints.

    python benchmarks/sparseloop_validation.py            # table; --csv PATH writes it

Figure-only cases (Fig. 13: no stats stored, its plotted normalized latencies) get their own table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from sparsesim.loopnest import evaluate
from sparsesim.loopnest.schema import design_from_dict, workload_from_dict

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sparseloop"
OURS = {"actual_reads": "reads", "gated_reads": "gated_reads", "skipped_reads": "skipped_reads",
        "actual_fills": "fills", "actual_updates": "updates", "gated_updates": "gated_updates",
        "skipped_updates": "skipped_updates"}


FIXTURE_NAMES = ("fig1", "tutorial", "fig12", "grid", "grid_heldout", "table7", "sgrid", "sgrid_heldout", "fig15",
                 "fig13")


def load_cases(names=FIXTURE_NAMES) -> list[dict]:
    return [{**c, "fixture": n} for n in names for c in json.loads((FIXTURES / f"{n}.json").read_text())["cases"]]


def rel(ours: float, ref: float) -> float:
    return 0.0 if ours == ref else (ours - ref) / ref if ref else float("inf")


def is_figure_only(case: dict) -> bool:
    """A case whose reference is a plotted value (Fig. 13's normalized latency), not a stats file."""
    return "normalized_latency" in case["reference"]


def compare_figure(cases: list[dict]) -> list[dict]:
    """Figure-only cases: cycles / the baseline case's cycles, rounded as the figure rounds them."""
    cycles = {c["name"]: evaluate(design_from_dict(c["design"]), workload_from_dict(c["workload"])).cycles
              for c in cases}
    rows = []
    for c in cases:
        ref = c["reference"]
        norm = cycles[c["name"]] / cycles[ref["baseline"]]
        rows.append({"fixture": c.get("fixture", ""), "case": c["name"], "cycles": cycles[c["name"]],
                     "normalized": norm, "rounded": round(norm, ref["decimals"]), "figure": ref["normalized_latency"],
                     "abs_err": abs(round(norm, ref["decimals"]) - ref["normalized_latency"])})
    return rows


def compare(case: dict) -> dict:
    """Relative errors: totals, per-level cycles, and the worst per-tensor count."""
    result = evaluate(design_from_dict(case["design"]), workload_from_dict(case["workload"]))
    ref = case["reference"]
    worst_count, worst_where = 0.0, ""
    level_cycles = {}
    for name, lv in ref["levels"].items():
        ours = result.level(name)
        level_cycles[name] = rel(ours.cycles, lv["cycles"])
        by_tensor = {tc.tensor: tc for tc in ours.tensors}
        for t, counts in lv["tensors"].items():
            if t not in by_tensor:         # a bypassed tensor Sparseloop lists with zero counts
                assert not any(v for k, v in counts.items() if k != "energy_pj"), (name, t)
                continue
            for key, attr in OURS.items():
                ref_count = counts.get(key, 0.0)       # the grids leave zero counts out
                err = abs(getattr(by_tensor[t], attr) - ref_count) / max(ref_count, 1.0)
                if err > worst_count:
                    worst_count, worst_where = err, f"{name}.{t}.{key}"
    return {"fixture": case.get("fixture", ""), "case": case["name"], "cycles": result.cycles, "ref_cycles": ref["cycles"],
            "cycles_err": rel(result.cycles, ref["cycles"]), "energy_pj": result.energy_pj,
            "ref_energy_pj": ref["energy_pj"], "energy_err": rel(result.energy_pj, ref["energy_pj"]),
            "computes_err": rel(result.computes, ref["computes"]),
            "level_cycles_err": max(map(abs, level_cycles.values())), "worst_count_err": worst_count,
            "worst_count": worst_where}


def fig15_totals(rows: list[dict]) -> dict:
    """Fig. 15's 4-layer totals per (design, weight density): [cycles, Sparseloop's, uJ, Sparseloop's]."""
    out = {}
    for r in rows:
        if r["fixture"] == "fig15":
            t = out.setdefault(tuple(r["case"].split()[1:3]), [0.0, 0.0, 0.0, 0.0])
            for i, v in enumerate((r["cycles"], r["ref_cycles"], r["energy_pj"] / 1e6, r["ref_energy_pj"] / 1e6)):
                t[i] += v
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path)
    args = ap.parse_args(argv)
    cases = load_cases()
    rows = [compare(c) for c in cases if not is_figure_only(c)]
    figure_rows = compare_figure([c for c in cases if is_figure_only(c)])
    print(f"{'case':36s} {'cycles':>10s} {'Sparseloop':>10s} {'err':>8s} {'pJ':>10s} {'Sparseloop':>10s} {'err':>9s}"
          f" {'levels':>7s} {'worst count':>11s}")
    for r in rows:
        name = r["case"] if not r["fixture"].endswith("_heldout") else "held-out " + r["case"]
        print(f"{name:36s} {r['cycles']:10.0f} {r['ref_cycles']:10.0f} {r['cycles_err']:+8.4%} "
              f"{r['energy_pj']:10.4g} {r['ref_energy_pj']:10.4g} {r['energy_err']:+9.2e} {r['level_cycles_err']:7.4%}"
              f" {r['worst_count_err']:8.3%} {r['worst_count']}")
    print(f"max |error|: cycles {max(abs(r['cycles_err']) for r in rows):.4%}, "
          f"energy {max(abs(r['energy_err']) for r in rows):.4%}, "
          f"level cycles {max(r['level_cycles_err'] for r in rows):.4%}, "
          f"counts {max(r['worst_count_err'] for r in rows):.3%} ({len(rows)} cases)")
    for group in dict.fromkeys(r["fixture"] for r in rows):
        sub = [r for r in rows if r["fixture"] == group]
        print(f"  {group:12s} ({len(sub):2d} cases): cycles {max(abs(r['cycles_err']) for r in sub):.2e}, "
              f"energy {max(abs(r['energy_err']) for r in sub):.2e}, level cycles {max(r['level_cycles_err'] for r in sub):.2e}, "
              f"counts {max(r['worst_count_err'] for r in sub):.2e}, computes {max(abs(r['computes_err']) for r in sub):.2e}")
    print(f"\n{'Fig. 15 4-layer totals':34s} {'WD':9s} {'cycles':>7s} {'Sparseloop':>10s} {'uJ':>8s} {'Sparseloop':>10s}")
    for (design, wd), (c, rc, e, re) in fig15_totals(rows).items():
        print(f"{design:34s} {wd:9s} {c:7.0f} {rc:10.0f} {e:8.2f} {re:10.2f}")
    print(f"\n{'figure-only case':28s} {'cycles':>11s} {'normalized':>10s} {'rounded':>8s} {'figure':>7s}")
    for r in figure_rows:
        print(f"{r['case']:28s} {r['cycles']:11.0f} {r['normalized']:10.4f} {r['rounded']:8.2f} {r['figure']:7.2f}")
    print(f"max |rounded - figure|: {max(r['abs_err'] for r in figure_rows):.3f} ({len(figure_rows)} cases)")
    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
