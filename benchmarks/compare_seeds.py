"""A compare config over seeds x weight bit-widths, then the verdicts aggregated over seeds (issue 23 item 3).

Runs ``sparsesim compare --config CONFIG --seed K --bits B --out OUT/seed{K}_b{B}`` for every pair (resumable: a pair
whose ``summary.json`` exists is reused, and an interrupted compare resumes its own probes), then reads every
``summary.json`` and writes, per bit-width:

* per structure: matched ratio, compression, validation and test accuracy loss (pp) - mean and 95% t-interval
  over the seeds that matched, and how many seeds matched;
* per structure and platform: energy vs dense (the matched model's energy / the dense model's, same seed);
* per platform: each seed's winner, the most frequent one and how many seeds agree (and how many have it in
  their tie set).

Outputs ``OUT/aggregate.csv`` (one row per quantity) and ``OUT/aggregate.md`` (the tables).  An interval needs two
seeds; with one it is written ``n=1``, never invented.
Usage (docs/results.md "Beyond MNIST"):
    python benchmarks/compare_seeds.py --config benchmarks/compare_fmnist_lenet5.yaml \\
        --data-dir ../shared/data/fashion-mnist --seeds 0,1,2 --bits 8,4 --out runs/fmnist_lenet5_seeds
    python benchmarks/compare_seeds.py --out runs/fmnist_lenet5_seeds --aggregate-only   # just the tables
Arguments after ``--`` go to every compare (e.g. ``-- --no-cpu``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from scipy import stats as sps

RUN_DIR = "seed{seed}_b{bits}"


@dataclass(frozen=True)
class Interval:
    """Mean over seeds and its 95% Student-t interval (``low``/``high`` NaN with fewer than two values)."""

    n: int
    mean: float
    low: float
    high: float
    values: tuple[float, ...]

    def text(self, fmt: str = "{:.3g}") -> str:
        if self.n == 0:
            return "-"
        if self.n < 2:
            return f"{fmt.format(self.mean)} (n=1)"
        return f"{fmt.format(self.mean)} [{fmt.format(self.low)}, {fmt.format(self.high)}]"


def t_interval(values) -> Interval:
    xs = tuple(float(v) for v in values)
    if not xs:
        return Interval(0, math.nan, math.nan, math.nan, xs)
    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return Interval(1, mean, math.nan, math.nan, xs)
    half = sps.t.ppf(0.975, len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return Interval(len(xs), mean, mean - half, mean + half, xs)


def run_dir(out: Path, seed: int, bits: int) -> Path:
    return out / RUN_DIR.format(seed=seed, bits=bits)


def compare_command(config: str, data_dir: str | None, seed: int, bits: int, out: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "sparsecodesign.cli", "compare", "--config", config, "--seed", str(seed),
           "--bits", str(bits), "--out", str(run_dir(out, seed, bits)), "--quiet"]
    return cmd + (["--data-dir", data_dir] if data_dir else []) + extra


def run_all(config: str, data_dir: str | None, seeds: list[int], bits: list[int], out: Path, extra: list[str],
            log=print) -> None:
    """Every (seed, bits) compare whose summary.json is missing, one after another (each compare runs its own
    ``jobs``)."""
    for b in bits:
        for s in seeds:
            if (run_dir(out, s, b) / "summary.json").exists():
                log(f"[seeds] seed {s}, {b}-bit: reused {run_dir(out, s, b)}")
                continue
            cmd = compare_command(config, data_dir, s, b, out, extra)
            log("[seeds] " + " ".join(cmd[1:]))
            subprocess.run(cmd, check=True)


def read_summaries(out: Path) -> dict[tuple[int, int], dict]:
    """{(seed, bits): summary} of every OUT/seed{K}_b{B}/summary.json (the seed and bits read from its config)."""
    found = {}
    for path in sorted(out.glob("seed*_b*/summary.json")):
        s = json.loads(path.read_text())
        found[(int(s["config"]["seed"]), int(s["config"]["bits"]))] = s
    return found


def structure_rows(runs: dict[int, dict]) -> list[dict]:
    """Per structure: how many seeds matched, and the matched ratio, compression and losses over those seeds."""
    names = sorted({name for s in runs.values() for name in s["structures"]})
    rows = []
    for name in names:
        got = [s["structures"][name] for s in runs.values() if name in s["structures"]]
        matched = [g for g in got if g.get("status") == "matched"]
        rows.append({"structure": name, "seeds": len(got), "matched": len(matched),
                     **{q: t_interval([g[q] for g in matched if g.get(q) is not None])
                        for q in ("ratio", "compression", "val_loss_pp", "test_loss_pp")}})
    return rows


def energy_rows(runs: dict[int, dict]) -> list[dict]:
    """Per (structure, platform): the matched model's energy vs dense over the seeds where it matched."""
    values: dict[tuple[str, str], list[float]] = {}
    for s in runs.values():
        for r in s["rows"]:
            if r.get("accuracy_status") == "matched" and r.get("energy_vs_dense") is not None:
                values.setdefault((r["structure"], r["platform"]), []).append(r["energy_vs_dense"])
    return [{"structure": k[0], "platform": k[1], "energy_vs_dense": t_interval(v)} for k, v in sorted(values.items())]


def verdict_rows(runs: dict[int, dict]) -> list[dict]:
    """Per platform: each seed's winner, the most frequent, how many seeds name it and how many tie with it."""
    per: dict[str, dict[int, dict]] = {}
    for seed, s in sorted(runs.items()):
        for v in s.get("verdicts", []):
            per.setdefault(v["platform"], {})[seed] = v
    rows = []
    for platform, by_seed in sorted(per.items()):
        counts = Counter(v["winner"] for v in by_seed.values())
        top = max(counts.values())
        modal = sorted(w for w, c in counts.items() if c == top)   # alphabetical among equals: deterministic
        winner = "/".join(modal)
        tied = sum(any(w in v.get("tied", [v["winner"]]) for w in modal) for v in by_seed.values())
        rows.append({"platform": platform, "winner": winner, "agree": top, "in_tie_set": tied, "seeds": len(by_seed),
                     "per_seed": {seed: v["winner"] for seed, v in by_seed.items()}})
    return rows


def aggregate(summaries: dict[tuple[int, int], dict]) -> dict[int, dict]:
    """{bits: {"seeds": [...], "structures": [...], "energy": [...], "verdicts": [...]}}."""
    out = {}
    for b in sorted({b for _, b in summaries}):
        runs = {seed: s for (seed, bits), s in summaries.items() if bits == b}
        out[b] = {"seeds": sorted(runs), "structures": structure_rows(runs), "energy": energy_rows(runs),
                  "verdicts": verdict_rows(runs),
                  "dense_test": t_interval([s["baseline_test"]["accuracy"] * 100 for s in runs.values()])}
    return out


def csv_rows(agg: dict[int, dict]) -> list[dict]:
    rows = []

    def add(bits, table, structure, platform, quantity, iv: Interval):
        rows.append({"bits": bits, "table": table, "structure": structure, "platform": platform,
                     "quantity": quantity, "n": iv.n, "mean": iv.mean, "ci95_low": iv.low, "ci95_high": iv.high,
                     "values": " ".join(f"{v:.6g}" for v in iv.values)})
    for b, a in agg.items():
        add(b, "dense", "dense", "", "test_accuracy_pct", a["dense_test"])
        for r in a["structures"]:
            for q in ("ratio", "compression", "val_loss_pp", "test_loss_pp"):
                add(b, "structure", r["structure"], "", q, r[q])
        for r in a["energy"]:
            add(b, "energy", r["structure"], r["platform"], "energy_vs_dense", r["energy_vs_dense"])
        for r in a["verdicts"]:
            rows.append({"bits": b, "table": "verdict", "structure": r["winner"], "platform": r["platform"],
                         "quantity": "winner", "n": r["seeds"], "mean": r["agree"] / r["seeds"], "ci95_low": "",
                         "ci95_high": "", "values": " ".join(f"{s}:{w}" for s, w in r["per_seed"].items())})
    return rows


def markdown(agg: dict[int, dict]) -> str:
    lines = []
    for b, a in agg.items():
        seeds = ", ".join(map(str, a["seeds"]))
        lines += [f"## {b}-bit weights, seeds {seeds}", "",
                  f"Dense test accuracy: {a['dense_test'].text('{:.2f}')}% (mean [95% t-interval] over seeds).", "",
                  "| structure | matched (seeds) | ratio | compression | validation loss (pp) | test loss (pp) |",
                  "|---|---|---|---|---|---|"]
        for r in a["structures"]:
            lines.append(f"| {r['structure']} | {r['matched']}/{r['seeds']} | {r['ratio'].text('{:.3f}')} | "
                         f"{r['compression'].text('{:.1f}')}x | {r['val_loss_pp'].text('{:+.2f}')} | "
                         f"{r['test_loss_pp'].text('{:+.2f}')} |")
        platforms = sorted({r["platform"] for r in a["energy"]})
        structures = [r["structure"] for r in a["structures"]]
        by = {(r["structure"], r["platform"]): r["energy_vs_dense"] for r in a["energy"]}
        lines += ["", "Energy vs dense (matched model / dense model, same seed; mean [95% t-interval]):", "",
                  "| platform | " + " | ".join(structures) + " |", "|---|" + "---|" * len(structures)]
        for p in platforms:
            lines.append(f"| {p} | " + " | ".join(by[(s, p)].text("{:.3f}") if (s, p) in by else "-"
                                                 for s in structures) + " |")
        lines += ["", "| platform | winner | seeds naming it | seeds with it in the tie set | per seed |",
                  "|---|---|---|---|---|"]
        for r in a["verdicts"]:
            per = ", ".join(f"{s}: {w}" for s, w in r["per_seed"].items())
            lines.append(f"| {r['platform']} | {r['winner']} | {r['agree']}/{r['seeds']} | "
                         f"{r['in_tie_set']}/{r['seeds']} | {per} |")
        lines.append("")
    return "\n".join(lines)


def write_outputs(out: Path, agg: dict[int, dict]) -> tuple[Path, Path]:
    rows = csv_rows(agg)
    csv_path, md_path = out / "aggregate.csv", out / "aggregate.md"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["bits"])
        w.writeheader()
        w.writerows(rows)
    md_path.write_text(markdown(agg))
    return csv_path, md_path


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{flag}={text!r}; allowed: comma-separated integers, e.g. 0,1,2") from None
    if not values:
        raise SystemExit(f"{flag}={text!r}; allowed: at least one integer")
    return values


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="a compare YAML (its seed and bits are replaced per run)")
    ap.add_argument("--data-dir")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--bits", default="8,4")
    ap.add_argument("--out", required=True)
    ap.add_argument("--aggregate-only", action="store_true", help="read the existing runs, run nothing")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.aggregate_only:
        if not args.config:
            raise SystemExit("--config: missing; allowed: a compare YAML (or --aggregate-only)")
        out.mkdir(parents=True, exist_ok=True)
        run_all(args.config, args.data_dir, _ints(args.seeds, "--seeds"), _ints(args.bits, "--bits"), out, extra)
    summaries = read_summaries(out)
    if not summaries:
        raise SystemExit(f"--out={args.out}: no seed*_b*/summary.json in it; allowed: a directory this script ran")
    csv_path, md_path = write_outputs(out, aggregate(summaries))
    print(md_path.read_text())
    print(f"[seeds] wrote {csv_path} and {md_path}")


if __name__ == "__main__":
    main()
