"""LeNet-5 and LeNet-300-100 on MNIST: the ADMM papers' headline compressions, over seeds, with a validation split.

Protocol (issue 9):
* 5,000 of the 60,000 training images (a fixed, seeded draw) are held out as the validation split; every run
  trains on the other 55,000; every choice (configs, the push ratio, magnitude's fallback) is made on
  validation; the test set (10,000) is only evaluated at the end and reported.
* each experiment runs over ``--seeds`` (dense model trained per seed); a row per run with Wilson intervals,
  a summary per experiment with the mean and a t-interval over seeds.
* runs are artifact directories under OUT, reused when present (kill and rerun to resume); with ``--jobs 2``
  two runs train at once, one thread each (same seed and thread count -> the same numbers).

Experiments:
  authors    LeNet-5, the authors' released per-layer targets (71.2x), 32-bit non-structured
  global     LeNet-5, one whole-network budget at 71.2x (per-layer targets found by the projection)
  push       LeNet-5, global budgets up a ladder; the highest within --push-tolerance-pp on validation (seed 0
             decides), then every seed at it
  lenet300   LeNet-300-100, global budget at 22.9x
  binary     LeNet-5, every layer binary
  joint      LeNet-5, 71.2x + 3-bit levels (weight storage reduction)
  magnitude  LeNet-5, magnitude pruning with the authors' targets and the same epochs
  repeat     LeNet-5 authors' config, seed 0 again in a fresh directory: must equal the first run

Usage: python benchmarks/lenet5_mnist.py --data-dir ../shared/data/mnist --out runs/bench_lenet5 \
           --experiments authors,global,lenet300 --seeds 0,1,2 --jobs 2 [--first-seed-only binary,joint]
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
from importlib import resources
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.stats import Accuracy  # noqa: E402
from pruning.artifact import load_artifact, read_manifest  # noqa: E402
from pruning.config import PruneConfig  # noqa: E402
from pruning.data import Dataset, load_mnist  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.pipeline import run_prune  # noqa: E402
from pruning.train import evaluate  # noqa: E402

CONFIGS = resources.files("pruning") / "configs"
VAL_IMAGES, SPLIT_SEED = 5000, 1234
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # Student t, 97.5% quantile, by degrees of freedom
PUSH_COMPRESSIONS = (100, 150, 200)   # default --push-ladder


@dataclass(frozen=True)
class Run:
    name: str            # directory under OUT
    model: str
    config: dict         # PruneConfig dict
    init: str | None     # dense artifact directory the run starts from


def split(data: Dataset) -> Dataset:
    """Train on 55,000 images; the job's "test" accuracy is the 5,000-image validation split."""
    perm = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val, tr = perm[:VAL_IMAGES], perm[VAL_IMAGES:]
    return Dataset("mnist", data.train_x[tr], data.train_y[tr], data.train_x[val], data.train_y[val], 10)


def config(name: str, seed: int, **over) -> dict:
    d = PruneConfig.from_yaml(CONFIGS / name).to_dict()
    d.update(seed=seed, pretrain_epochs=0, **over)
    return d


def dense_run(model: str, seed: int) -> Run:
    base = PruneConfig.from_yaml(CONFIGS / ("lenet300_mnist_global.yaml" if model == "lenet300"
                                            else "lenet5_mnist_authors.yaml")).to_dict()
    last = "fc3" if model == "lenet300" else "fc2"
    d = {**base, "seed": seed, "retrain_epochs": 0, "admm": {**base["admm"], "rounds": 0}, "layers":
         {last: {"type": "dense"}}}
    d.pop("budget", None)
    d.pop("distill", None)
    return Run(f"dense_{model}_s{seed}", model, d, None)


def with_budget(d: dict, compression: float, min_keep: float | None = None) -> dict:
    budget = {**d["budget"], "ratio": round(1 - 1 / compression, 6)}
    if min_keep is not None:
        budget["min_keep"] = min_keep
    return {**d, "budget": budget}


# experiment -> (run directory prefix, model, config): one run per seed from that seed's dense model
SINGLE_RUNS = {"authors": ("authors", "lenet5", "lenet5_mnist_authors.yaml"),
               "repeat": ("repeat_authors", "lenet5", "lenet5_mnist_authors.yaml"),
               "global": ("global71", "lenet5", "lenet5_mnist_global.yaml"),
               "lenet300": ("lenet300_global22.9", "lenet300", "lenet300_mnist_global.yaml"),
               "binary": ("binary", "lenet5", "lenet5_mnist_binary.yaml"),
               "joint": ("joint71_3bit", "lenet5", "lenet5_mnist_joint.yaml")}


def experiment_runs(exp: str, seed: int, push_choice: float | None = None,
                    push_ladder: tuple[float, ...] = PUSH_COMPRESSIONS, push_min_keep: float | None = None) -> list[Run]:
    dense5 = f"dense_lenet5_s{seed}"
    if exp in SINGLE_RUNS:
        prefix, model, cfg = SINGLE_RUNS[exp]
        return [Run(f"{prefix}_s{seed}", model, config(cfg, seed), f"dense_{model}_s{seed}")]
    if exp == "magnitude":
        return [Run(f"magnitude_authors_s{seed}", "lenet5",
                    config("lenet5_mnist_authors.yaml", seed, method="magnitude"), dense5)]
    if exp == "push":
        ladder = push_ladder if push_choice is None else (push_choice,)
        tag = "" if push_min_keep is None else f"_keep{push_min_keep:g}"
        return [Run(f"push{c:g}{tag}_s{seed}", "lenet5",
                    with_budget(config("lenet5_mnist_global.yaml", seed), c, push_min_keep), dense5) for c in ladder]
    raise SystemExit(f"experiment {exp!r} unknown")


def execute(run: Run, out: str, data_dir: str) -> str:
    """One run in its own process (one thread): prune from the dense artifact, write the artifact."""
    torch.set_num_threads(1)
    target = Path(out) / run.name
    if (target / "manifest.json").exists():
        return run.name
    data = split(load_mnist(data_dir))
    torch.manual_seed(run.config["seed"])
    model = build_model(run.model)
    if run.init is not None:
        model = load_artifact(Path(out) / run.init, model).model
    t = time.perf_counter()
    run_prune(model, data, PruneConfig.from_dict(run.config), target, model_name=run.model, resume=True,
              progress=False, log=lambda s: None)
    print(f"[{run.name}] done in {time.perf_counter() - t:.0f} s", flush=True)
    return run.name


def execute_all(runs: list[Run], out: Path, data_dir: str, jobs: int) -> None:
    todo = [r for r in runs if not (out / r.name / "manifest.json").exists()]
    if not todo:
        return
    print(f"running {len(todo)}: {', '.join(r.name for r in todo)}", flush=True)
    with mp.get_context("spawn").Pool(jobs) as pool:
        pool.starmap(execute, [(r, str(out), data_dir) for r in todo])


def row(run: Run, out: Path, test: Dataset) -> dict:
    m = read_manifest(out / run.name)
    dense = read_manifest(out / run.init)
    test_acc = Accuracy.from_fraction(evaluate(load_artifact(out / run.name).model, test.test_x, test.test_y),
                                      len(test.test_y))
    dense_test = Accuracy.from_fraction(evaluate(load_artifact(out / run.init).model, test.test_x, test.test_y),
                                        len(test.test_y))
    bits = [e["bits"] for e in m["layers"]]
    weight_bits = sum(e["nonzeros"] * e["bits"] for e in m["layers"])
    return {"run": run.name, "model": run.model, "seed": run.config["seed"],
            "val_dense": dense["accuracy"]["pruned"], "val": m["accuracy"]["pruned"],
            "val_loss_pp": (dense["accuracy"]["pruned"] - m["accuracy"]["pruned"]) * 100,
            "test_dense": dense_test.fraction, "test": test_acc.fraction, "test_ci": test_acc.ci95,
            "test_loss_pp": (dense_test.fraction - test_acc.fraction) * 100,
            "compression": m["totals"]["compression"], "bits": max(bits),
            "weight_storage_reduction": m["totals"]["weight_bits_dense_fp32"] / weight_bits,
            "layers": {e["name"]: f"{e['nonzeros']}/{e['weight_shape'][0] * e['gemm']['K']}" for e in m["layers"]},
            "converged": [c["converged"] for c in m.get("admm_convergence", [])],
            "wall_s": sum(v for k, v in m["timings_s"].items() if k != "total_this_process")}


def mean_interval(xs: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval over seeds (0 for one seed)."""
    if len(xs) < 2:
        return xs[0], float("nan")
    return statistics.mean(xs), T975.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def summarise(name: str, rows: list[dict]) -> dict:
    loss, half = mean_interval([r["test_loss_pp"] for r in rows])
    test, _ = mean_interval([r["test"] for r in rows])
    dense, _ = mean_interval([r["test_dense"] for r in rows])
    return {"experiment": name, "seeds": [r["seed"] for r in rows], "mean_test": test, "mean_test_dense": dense,
            "mean_test_loss_pp": loss, "loss_ci95_halfwidth_pp": half,
            "compression": statistics.mean(r["compression"] for r in rows),
            "weight_storage_reduction": statistics.mean(r["weight_storage_reduction"] for r in rows)}


def choose_push(out: Path, tolerance_pp: float, seed: int, ladder: tuple[float, ...],
                min_keep: float | None) -> float | None:
    """The highest ladder compression whose validation loss is within the tolerance (seed ``seed`` decides)."""
    runs = {r.name: c for r, c in zip(experiment_runs("push", seed, push_ladder=ladder, push_min_keep=min_keep), ladder)}
    ok = [c for name, c in runs.items()
          if (lambda m, d: (d - m) * 100 <= tolerance_pp + 1e-9)(
              read_manifest(out / name)["accuracy"]["pruned"],
              read_manifest(out / f"dense_lenet5_s{seed}")["accuracy"]["pruned"])]
    return max(ok) if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", default="runs/bench_lenet5")
    ap.add_argument("--experiments", default="authors,global,push,lenet300,binary,joint,magnitude,repeat")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--push-tolerance-pp", type=float, default=0.2)
    ap.add_argument("--push-min-keep", type=float, default=None,
                    help="per-layer floor of the push budgets (default: the config's 0.01, which caps them at 100x)")
    ap.add_argument("--push-ladder", default=",".join(f"{c:g}" for c in PUSH_COMPRESSIONS),
                    help="compressions the push experiment tries on the first seed")
    ap.add_argument("--first-seed-only", default="repeat",
                    help="experiments run on the first seed only (repeat always is; push: the ladder is always "
                         "climbed on the first seed, the other seeds then run at the chosen compression)")
    args = ap.parse_args()
    out, seeds = Path(args.out), [int(s) for s in args.seeds.split(",")]
    exps = args.experiments.split(",")
    single = set(args.first_seed_only.split(",")) | {"repeat"}
    ladder = tuple(float(c) for c in args.push_ladder.split(","))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    models = {"lenet300" if e == "lenet300" else "lenet5" for e in exps}
    execute_all([dense_run(m, s) for m in sorted(models) for s in seeds], out, args.data_dir, args.jobs)
    first = [r for e in exps for s in (seeds[:1] if e in single else seeds) for r in experiment_runs(e, s)
             if e != "push"]
    first += experiment_runs("push", seeds[0], push_ladder=ladder, push_min_keep=args.push_min_keep) \
        if "push" in exps else []
    execute_all(first, out, args.data_dir, args.jobs)
    push_choice = choose_push(out, args.push_tolerance_pp, seeds[0], ladder, args.push_min_keep) \
        if "push" in exps else None
    if push_choice is not None and "push" not in single:
        execute_all([r for s in seeds[1:] for r in experiment_runs("push", s, push_choice,
                                                                     push_min_keep=args.push_min_keep)], out, args.data_dir,
                    args.jobs)
    test = load_mnist(args.data_dir)
    report(out, exps, seeds, single, push_choice, args.push_min_keep, test, time.perf_counter() - t0)


def report(out: Path, exps: list[str], seeds: list[int], single: set[str], push_choice, push_min_keep,
           test: Dataset, wall_s: float) -> None:
    rows, summaries = [], []
    for e in exps:
        if e == "push" and push_choice is None:
            print("push: no ladder compression within the tolerance on validation")
            continue
        these = [row(r, out, test) for s in (seeds[:1] if e in single else seeds)
                 for r in experiment_runs(e, s, push_choice, push_min_keep=push_min_keep)]
        rows += [{**r, "experiment": e} for r in these]
        summaries.append(summarise(e if e != "push" else f"push ({push_choice:g}x)", these))
    if not rows:
        print("no experiment has results to report")
        return
    (out / "runs.json").write_text(json.dumps(rows, indent=1))
    (out / "summary.json").write_text(json.dumps(summaries, indent=1))
    with open(out / "runs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k not in ("layers", "test_ci")], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    print(f"\nthreads per run 1; wall this invocation {wall_s:.0f} s; n_val={VAL_IMAGES}, n_test={len(test.test_y)}")
    print("| experiment | seeds | compression | weight storage | mean test (dense) | test loss pp, mean ± 95% |")
    print("|---|---|---|---|---|---|")
    for s in summaries:
        print(f"| {s['experiment']} | {len(s['seeds'])} | {s['compression']:.1f}x | "
              f"{s['weight_storage_reduction']:.0f}x | {s['mean_test'] * 100:.2f}% ({s['mean_test_dense'] * 100:.2f}%) | "
              f"{s['mean_test_loss_pp']:+.2f} ± {s['loss_ci95_halfwidth_pp']:.2f} |")
    print("\n| run | val loss pp | test (95% Wilson) | test loss pp | compression | converged | per layer kept |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["test_ci"]
        print(f"| {r['run']} | {r['val_loss_pp']:+.2f} | {r['test'] * 100:.2f}% [{lo * 100:.2f}, {hi * 100:.2f}] | "
              f"{r['test_loss_pp']:+.2f} | {r['compression']:.1f}x | {r['converged']} | "
              f"{', '.join(f'{k} {v}' for k, v in r['layers'].items())} |")


if __name__ == "__main__":
    main()
