"""LeNet-5: ADMM vs magnitude vs group lasso at the same targets and the same training budget, with significance
(issue 23 item 4).

Protocol (as benchmarks/lenet5_mnist.py): 5,000 of the 60,000 training images (fixed draw, seed 1234) are the
validation split, every run trains on the other 55,000; the 10,000 test images are only evaluated at the end.
Each seed trains one dense model; every method and target of that seed starts from it.

Reduced recipe (declared; a full authors' run is ~100 epochs, too slow for 5 seeds x 3 methods x 2 targets x
2 data sets on the shared 2 cores).  Sized from benchmarks/epoch_time.py on this machine under load (one
thread, nice 19): 21.1 s per plain epoch of 60,000 images, 21.8 s with the ADMM penalty, 27.8 s distilled; so
~19 s / ~25 s on the 55,000 training images, ~650 s of one core per seed (dense + 6 pruned runs), ~55 min of
one core for 5 seeds of one data set (measured later under a heavier load, load average 6-13: 8,157 s of run
time for the MNIST table, 4,356 s wall with --jobs 2; docs/results.md):
* dense: 4 epochs, Adam lr 1e-3, batch 256, cosine schedule (per seed; fc2 kept dense).
* pruning phase: one step (schedule [1.0]) x 2 rounds x 1 epoch = 2 training epochs, Adam lr 1e-3 reset every
  round.
* hard prune to the target, then 2 masked retraining epochs, Adam lr 1e-3 cosine, distillation from the
  seed's dense model (weight 0.5, T 4), for every method.
This is far shorter than the authors' recipe (100 epochs) and the validated one (pruning/configs/
lenet5_mnist_authors.yaml): it compares the methods under a small, equal budget, not at their best.

"Same budget": every method gets the same dense model, 2 pruning-phase epochs and 2 retraining epochs (4 epochs
of 55,000 images after the dense model), the same optimizer, batch, learning rates, data order seed and
distillation. What the 2 pruning-phase epochs do differs by method:
* admm: ADMM (rho 0.005, x1.8 after round 1), the augmented-Lagrangian penalty towards the target's
  projection; no early stop (no ``eps``): both rounds always run; hard prune at the end.
* magnitude: prune by magnitude to the target at the start, then 2 masked epochs (one-shot magnitude pruning
  with fine-tuning, Han et al. 2015, with a single step); the set re-projected at the hard prune.
* group_lasso: 2 epochs with the SSL penalty lambda * sum of group L2 norms (L1 for non-structured layers),
  lambda = 1e-4 (the config default: not tuned here), then the hard prune keeps the groups of largest norm at
  the target ratio (the same projection as the others' hard prune).

Targets:
* authors71: non-structured at the ADMM authors' per-layer targets, conv1 80%, conv2 92%, fc1 99.1%, fc2 93%
  (71.2x of the weights).
* filter75: structured, filter pruning at a fixed 75% of the filters of conv1, conv2 and fc1 (fc2 dense): group
  lasso reaches it too, since its mask is the top-25% groups by L2 norm.

Outputs under OUT/<dataset>/: the run directories (artifacts), correct/<run>.npy (per-image test correctness,
booleans, saved with allow_pickle=False), runs.csv (a row per run), summary.json and summary.md (per-method mean
test accuracy with a 95% t-interval over seeds; paired differences ADMM - method with a t-interval, t-test p,
Holm-adjusted p across the table's comparisons, Cohen's d_z with an approximate interval; exact McNemar per seed
on the 10,000 test images). A run directory is reused only when its recorded config is the one asked (else the
script stops naming the fields). ``--report-only`` writes the tables from the runs that exist (seeds with all
three methods done for a target).

Usage: python benchmarks/methods_significance.py --dataset mnist --data-dir ../shared/data/mnist \
           --out runs/methods_sig --seeds 0,1,2,3,4 --jobs 2 [--targets authors71,filter75] [--report-only]
       (--dataset fashion-mnist --data-dir ../shared/data/fashion-mnist: the same IDX format, checked against
       the data directory's SHA256SUMS)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.significance import holm, mcnemar, paired_comparison, t_quantile  # noqa: E402
from benchmarks.lenet5_mnist import check_reused, dense_run, split  # noqa: E402
from pruning.artifact import load_artifact, read_manifest  # noqa: E402
from pruning.config import PruneConfig  # noqa: E402
from pruning.data import Dataset, DataError, load_mnist  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.pipeline import run_prune  # noqa: E402

DATASETS = ("mnist", "fashion-mnist")
METHODS = ("admm", "magnitude", "group_lasso")
DENSE_EPOCHS, RETRAIN_EPOCHS = 4, 2
ADMM = {"schedule": [1.0], "rounds": 2, "epochs_per_round": 1, "rho": 0.005, "rho_multiplier": 1.8,
        "rho_max": 1.0}
GROUP_LASSO = 1e-4
TARGETS = {"authors71": {"defaults": {"type": "nonstructured"},
                         "layers": {"conv1": {"ratio": 0.8}, "conv2": {"ratio": 0.92}, "fc1": {"ratio": 0.991},
                                    "fc2": {"ratio": 0.93}}},
           "filter75": {"defaults": {"type": "filter"},
                        "layers": {"conv1": {"ratio": 0.75}, "conv2": {"ratio": 0.75}, "fc1": {"ratio": 0.75},
                                   "fc2": {"type": "dense"}}}}


@dataclass(frozen=True)
class Run:
    name: str            # directory under OUT/<dataset>
    method: str          # "dense" for the seed's dense model
    target: str          # "" for dense
    seed: int
    config: dict         # PruneConfig dict
    init: str | None     # the dense run it starts from


def dense(seed: int) -> Run:
    d = {**dense_run("lenet5", seed).config, "pretrain_epochs": DENSE_EPOCHS}
    return Run(f"dense_s{seed}", "dense", "", seed, d, None)


def pruned(method: str, target: str, seed: int) -> Run:
    d = {"method": method, "seed": seed, "pretrain_epochs": 0, "retrain_epochs": RETRAIN_EPOCHS,
         "retrain_lr": 0.001, "group_lasso": GROUP_LASSO,
         "train": {"optimizer": "adam", "lr": 0.001, "batch_size": 256}, "admm": dict(ADMM),
         "distill": {"weight": 0.5, "temperature": 4.0}, **TARGETS[target]}
    return Run(f"{method}_{target}_s{seed}", method, target, seed, d, f"dense_s{seed}")


def load(dataset: str, data_dir: str) -> Dataset:
    """MNIST checked against the published SHA-256; Fashion-MNIST against the data directory's SHA256SUMS."""
    if dataset == "mnist":
        return load_mnist(data_dir)
    sums_file = Path(data_dir) / "SHA256SUMS"
    sums = dict(reversed(line.split()) for line in sums_file.read_text().splitlines() if line.strip()) \
        if sums_file.exists() else {}
    return load_mnist(data_dir, verify=bool(sums), sha256=sums)


def correctness(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-image top-1 correctness (booleans, in the set's order)."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return (pred == y).numpy()


def correct_path(out: Path, run: Run) -> Path:
    return out / "correct" / f"{run.name}.npy"


def execute(run: Run, out: str, dataset: str, data_dir: str) -> str:
    """One run in its own process, one thread: prune (or train dense), then save its test correctness."""
    torch.set_num_threads(1)
    out_p, target = Path(out), Path(out) / run.name
    data = load(dataset, data_dir)
    if not (target / "manifest.json").exists():
        wait_for(out_p / run.init) if run.init is not None else None
        torch.manual_seed(run.seed)
        model = build_model("lenet5")
        if run.init is not None:
            model = load_artifact(out_p / run.init, model).model
        t = time.perf_counter()
        run_prune(model, split(data), PruneConfig.from_dict(run.config), target, model_name="lenet5",
                  resume=True, progress=False, log=lambda s: None)
        print(f"[{dataset} {run.name}] done in {time.perf_counter() - t:.0f} s", flush=True)
    path = correct_path(out_p, run)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, correctness(load_artifact(target).model, data.test_x, data.test_y), allow_pickle=False)
    return run.name


def wait_for(init: Path, timeout_s: float = 3600.0) -> None:
    """Until the dense run a pruned run starts from has its artifact (one pool runs both; dense runs come first)."""
    t = time.monotonic()
    while not (init / "manifest.json").exists():
        if time.monotonic() - t > timeout_s:
            raise RuntimeError(f"{init}: no manifest.json after {timeout_s:.0f} s")
        time.sleep(5)


def schedule(seeds: list[int], targets: list[str]) -> list[Run]:
    """The runs in the order one pool takes them: seed s's pruned runs come after dense s and dense s + 1, so a
    stopped job leaves whole seeds and a pruned run never waits long for its dense model."""
    order = [dense(seeds[0])]
    for i, s in enumerate(seeds):
        order += [dense(seeds[i + 1])] if i + 1 < len(seeds) else []
        order += [pruned(m, t, s) for t in targets for m in METHODS]
    return order


def execute_all(runs: list[Run], out: Path, dataset: str, data_dir: str, jobs: int) -> None:
    check_reused(runs, out)
    todo = [r for r in runs if not correct_path(out, r).exists()]
    if not todo:
        return
    print(f"running {len(todo)}: {', '.join(r.name for r in todo)}", flush=True)
    with mp.get_context("spawn").Pool(jobs) as pool:
        pool.starmap(execute, [(r, str(out), dataset, data_dir) for r in todo], chunksize=1)


# ------------------------------------------------------------------------------------------------ report
def run_row(dataset: str, run: Run, out: Path) -> dict:
    m = read_manifest(out / run.name)
    correct = np.load(correct_path(out, run), allow_pickle=False)
    conv = m.get("admm_convergence", [])
    return {"dataset": dataset, "run": run.name, "method": run.method, "target": run.target, "seed": run.seed,
            "compression": m["totals"]["compression"], "val_acc": m["accuracy"]["pruned"],
            "test_correct": int(correct.sum()), "test_n": int(correct.size), "test_acc": float(correct.mean()),
            "val_after_hard_prune": hard_prune_accuracy(out / run.name),
            "admm_steps_converged": f"{sum(c['converged'] for c in conv)}/{len(conv)}" if conv else "",
            "admm_worst_primal_rel": m["admm_convergence_summary"]["worst"]["primal_rel"] if conv else "",
            "wall_s": round(sum(v for k, v in m["timings_s"].items() if k != "total_this_process"), 1)}


def hard_prune_accuracy(run_dir: Path) -> float | str:
    """Validation accuracy right after the hard prune, before retraining (the run's training_log.csv)."""
    with open(run_dir / "training_log.csv", newline="") as f:
        acc = [r["test_acc"] for r in csv.DictReader(f) if r["stage"] == "hard_prune"]
    return float(acc[-1]) if acc else ""


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (nan for one value)."""
    if len(xs) < 2:
        return xs[0], math.nan
    return statistics.mean(xs), t_quantile(0.975, len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))


def complete_seeds(out: Path, target: str, seeds: list[int]) -> list[int]:
    """Seeds whose dense model and all three methods at ``target`` have per-image results."""
    return [s for s in seeds if correct_path(out, dense(s)).exists()
            and all(correct_path(out, pruned(m, target, s)).exists() for m in METHODS)]


def summarise(dataset: str, out: Path, seeds: list[int]) -> dict:
    """Per target: the methods' accuracies, the paired comparisons with ADMM, McNemar per seed; Holm across
    every comparison of the data set's table."""
    targets, comparisons = {}, []
    for target in TARGETS:
        done = complete_seeds(out, target, seeds)
        if not done:
            continue
        acc = {m: [run_row(dataset, pruned(m, target, s), out)["test_acc"] * 100 for s in done] for m in METHODS}
        dense_acc = [run_row(dataset, dense(s), out)["test_acc"] * 100 for s in done]
        comp = {m: statistics.mean(run_row(dataset, pruned(m, target, s), out)["compression"] for s in done)
                for m in METHODS}
        targets[target] = {"seeds": done, "dense": mean_ci(dense_acc), "methods": {
            m: {"mean_ci": mean_ci(acc[m]), "compression": comp[m], "per_seed": acc[m]} for m in METHODS}}
        for m in METHODS[1:]:
            paired = paired_comparison(acc["admm"], acc[m]) if len(done) >= 2 else None
            mc = [mcnemar(np.load(correct_path(out, pruned("admm", target, s)), allow_pickle=False),
                          np.load(correct_path(out, pruned(m, target, s)), allow_pickle=False)) for s in done]
            comparisons.append({"target": target, "method": m, "paired": paired, "mcnemar": mc, "seeds": done})
    adjusted = holm([c["paired"].p for c in comparisons if c["paired"] is not None])
    for c, p in zip([c for c in comparisons if c["paired"] is not None], adjusted):
        c["p_holm"] = p
    return {"dataset": dataset, "targets": targets, "comparisons": comparisons}


def verdict(dataset: str, c: dict) -> str:
    p, hp = c["paired"], c.get("p_holm", math.nan)
    sig_seeds = sum(m.p < 0.05 for m in c["mcnemar"])
    what = f"ADMM vs {c['method']} at {c['target']} on {dataset}"
    if p is None:
        return f"{what}: one seed, no paired test."
    nums = (f"ADMM - {c['method']} = {p.mean_diff:+.3f} pp [{p.ci95[0]:+.3f}, {p.ci95[1]:+.3f}], Holm p "
            f"{hp:.3g}; McNemar significant on {sig_seeds} of {len(c['mcnemar'])} seeds")
    if hp < 0.05:
        return f"{what}: ADMM is {'better' if p.mean_diff > 0 else 'worse'}, significantly ({nums})."
    lead = "ADMM's advantage is not significant" if p.mean_diff > 0 else \
        "ADMM is not better (the mean difference is not positive) and the difference is not significant"
    return f"{what}: {lead} ({nums})."


def markdown(s: dict) -> str:
    lines = []
    for target, t in s["targets"].items():
        d, dh = t["dense"]
        lines += [f"**{s['dataset']}, {target}** (seeds {', '.join(map(str, t['seeds']))}; dense test "
                  f"{d:.2f} ± {dh:.2f}%)", "",
                  "| method | compression | test accuracy, mean ± 95% t | ADMM − method, pp [95% t] | p (t) | "
                  "p (Holm) | d_z [≈95%] | McNemar per seed: b/c (p) | seeds p<0.05 |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for m in METHODS:
            mean, half = t["methods"][m]["mean_ci"]
            row = f"| {m} | {t['methods'][m]['compression']:.1f}x | {mean:.2f} ± {half:.2f}% |"
            c = next((c for c in s["comparisons"] if c["target"] == target and c["method"] == m), None)
            if c is None:
                lines.append(row + " (reference) | | | | | |")
                continue
            p = c["paired"]
            mc = "; ".join(f"{x.b}/{x.c} ({x.p:.2g})" for x in c["mcnemar"])
            sig = f"{sum(x.p < 0.05 for x in c['mcnemar'])} of {len(c['mcnemar'])}"
            if p is None:
                lines.append(row + f" | | | | {mc} | {sig} |")
                continue
            lines.append(row + f" {p.mean_diff:+.3f} [{p.ci95[0]:+.3f}, {p.ci95[1]:+.3f}] | {p.p:.3g} | "
                               f"{c['p_holm']:.3g} | {p.dz:+.2f} [{p.dz_ci95[0]:+.2f}, {p.dz_ci95[1]:+.2f}] | "
                               f"{mc} | {sig} |")
        lines.append("")
    lines += [f"- {verdict(s['dataset'], c)}" for c in s["comparisons"]]
    return "\n".join(lines) + "\n"


def report(dataset: str, out: Path, seeds: list[int]) -> str:
    runs = [r for s in seeds for r in [dense(s)] + [pruned(m, t, s) for t in TARGETS for m in METHODS]
            if correct_path(out, r).exists()]
    rows = [run_row(dataset, r, out) for r in runs]
    if rows:
        with open(out / "runs.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    s = summarise(dataset, out, seeds)
    text = markdown(s)
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps({
        "dataset": dataset, "targets": s["targets"],
        "comparisons": [{**c, "paired": None if c["paired"] is None else c["paired"].to_dict(),
                         "mcnemar": [m.to_dict() for m in c["mcnemar"]]} for c in s["comparisons"]]}, indent=1))
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=DATASETS)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", default="runs/methods_sig")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--targets", default=",".join(TARGETS), help=f"of {', '.join(TARGETS)}")
    ap.add_argument("--report-only", action="store_true", help="tables from the runs that exist; trains nothing")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets or any(t not in TARGETS for t in targets):
        raise SystemExit(f"--targets {args.targets!r}: allowed: a comma-separated subset of {', '.join(TARGETS)}")
    out = Path(args.out) / args.dataset
    try:   # read (and check) the data once before anything trains
        load(args.dataset, args.data_dir)
    except (DataError, OSError) as e:
        raise SystemExit(f"--data-dir {args.data_dir!r}: {e}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not args.report_only:
        execute_all(schedule(seeds, targets), out, args.dataset, args.data_dir, args.jobs)
    print(report(args.dataset, out, seeds))
    print(f"wall this invocation {time.perf_counter() - t0:.0f} s; one thread per run, --jobs {args.jobs}")


if __name__ == "__main__":
    main()
