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
  joint      LeNet-5, global budget + uniform levels (joint pruning + quantization): a ladder of
             compression:bits settings (--joint-ladder); the highest weight-storage reduction within
             --push-tolerance-pp on validation (seed 0 decides), then every seed at it
  authors_e30  the authors' targets with 30 retraining epochs (the config has 50): the recipe the 50 epochs
             were compared with on validation
  authors_r10  authors_e30 with up to 10 ADMM rounds per step (eps decides when a step ends): a variant
             compared with authors_e30 on validation
  magnitude  LeNet-5, magnitude pruning with the authors' targets and the same epochs
  magnitude_e30  the same with 30 retraining epochs (compared with authors_e30)
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
from pruning.artifact import load_artifact, read_artifact, read_manifest  # noqa: E402
from pruning.config import PruneConfig, changed_fields  # noqa: E402
from pruning.data import Dataset, DataError, load_mnist  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.pipeline import run_prune  # noqa: E402
from pruning.train import evaluate  # noqa: E402
from sparsesim.storage import price_storage  # noqa: E402

CONFIGS = resources.files("pruning") / "configs"
VAL_IMAGES, SPLIT_SEED = 5000, 1234
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # Student t, 97.5% quantile, by degrees of freedom
PUSH_COMPRESSIONS = (100, 150, 200)   # default --push-ladder
# default --joint-ladder, (compression, bits): the ladder docs/results.md reports
JOINT_SETTINGS = ((71.2, 3), (71.2, 4), (50, 3), (50, 4), (35, 3), (35, 4))


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


def with_bits(d: dict, bits: int) -> dict:
    """Every layer at ``bits`` (``to_dict`` writes the defaults into each layer, so both are set)."""
    return {**d, "defaults": {**d["defaults"], "bits": bits},
            "layers": {name: {**layer, "bits": bits} for name, layer in d["layers"].items()}}


def with_rounds(d: dict, rounds: int) -> dict:
    return {**d, "admm": {**d["admm"], "rounds": rounds}}


def with_retrain_epochs(d: dict, epochs: int) -> dict:
    return {**d, "retrain_epochs": epochs}


def with_magnitude(d: dict) -> dict:
    return {**d, "method": "magnitude"}


# experiment -> (run directory prefix, model, config, change to the config): one run per seed from that
# seed's dense model
SINGLE_RUNS = {"authors": ("authors", "lenet5", "lenet5_mnist_authors.yaml", None),
               "authors_e30": ("authors_e30", "lenet5", "lenet5_mnist_authors.yaml",
                               lambda d: with_retrain_epochs(d, 30)),
               "authors_r10": ("authors_r10", "lenet5", "lenet5_mnist_authors.yaml",
                               lambda d: with_retrain_epochs(with_rounds(d, 10), 30)),
               "repeat": ("repeat_authors", "lenet5", "lenet5_mnist_authors.yaml", None),
               "global": ("global71", "lenet5", "lenet5_mnist_global.yaml", None),
               "lenet300": ("lenet300_global22.9", "lenet300", "lenet300_mnist_global.yaml", None),
               "binary": ("binary", "lenet5", "lenet5_mnist_binary.yaml", None),
               "magnitude": ("magnitude_authors", "lenet5", "lenet5_mnist_authors.yaml", with_magnitude),
               "magnitude_e30": ("magnitude30_authors", "lenet5", "lenet5_mnist_authors.yaml",
                                 lambda d: with_retrain_epochs(with_magnitude(d), 30))}
LADDERS = ("push", "joint")   # experiments whose first seed climbs a ladder that validation decides
EXPERIMENTS = (*SINGLE_RUNS, *LADDERS)


def parse_experiments(text: str) -> list[str]:
    """The --experiments list, checked before anything trains."""
    exps = [e.strip() for e in text.split(",") if e.strip()]
    unknown = [e for e in exps if e not in EXPERIMENTS]
    if unknown or not exps:
        raise SystemExit(f"--experiments {text!r}: unknown {', '.join(unknown) or '(empty)'}; allowed: "
                         f"{', '.join(EXPERIMENTS)}")
    return exps


def joint_run(seed: int, compression: float, bits: int) -> Run:
    d = with_bits(with_budget(config("lenet5_mnist_joint.yaml", seed), compression), bits)
    return Run(f"joint{compression:g}_{bits}bit_s{seed}".replace("71.2_", "71_"), "lenet5", d,
               f"dense_lenet5_s{seed}")


def joint_storage(setting: tuple[float, int]) -> float:
    """Nominal weight-storage reduction of a (compression, bits) setting: compression x 32 / bits."""
    return setting[0] * 32 / setting[1]


def experiment_runs(exp: str, seed: int, push_choice: float | None = None,
                    push_ladder: tuple[float, ...] = PUSH_COMPRESSIONS, push_min_keep: float | None = None,
                    joint_ladder: tuple[tuple[float, int], ...] = JOINT_SETTINGS,
                    joint_choice: tuple[float, int] | None = None) -> list[Run]:
    if exp in SINGLE_RUNS:
        prefix, model, cfg, change = SINGLE_RUNS[exp]
        d = config(cfg, seed)
        return [Run(f"{prefix}_s{seed}", model, change(d) if change else d, f"dense_{model}_s{seed}")]
    if exp == "joint":
        return [joint_run(seed, c, b) for c, b in (joint_ladder if joint_choice is None else (joint_choice,))]
    if exp == "push":
        ladder = push_ladder if push_choice is None else (push_choice,)
        tag = "" if push_min_keep is None else f"_keep{push_min_keep:g}"
        return [Run(f"push{c:g}{tag}_s{seed}", "lenet5",
                    with_budget(config("lenet5_mnist_global.yaml", seed), c, push_min_keep),
                    f"dense_lenet5_s{seed}") for c in ladder]
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
              progress=False, log=lambda s: None, storage=price_storage)
    print(f"[{run.name}] done in {time.perf_counter() - t:.0f} s", flush=True)
    return run.name


def config_changes(made: dict, wanted: dict) -> list[str]:
    """The fields where a run's recorded config differs from the config it should have, as ``key: old -> new``."""
    return [f"{key}: {a!r} -> {b!r}" for key, (a, b) in changed_fields(made, wanted).items()]


def effective(config: dict) -> dict:
    """A run's config without the fields that cannot change its result (ADMM settings when it has no rounds)."""
    return {**config, "admm": {"rounds": 0}} if config["admm"]["rounds"] == 0 else config


def check_reused(runs: list[Run], out: Path) -> None:
    """Stop with one line if a run directory to be reused was made with another config than the run asks for."""
    for r in runs:
        if (out / r.name / "manifest.json").exists():
            changes = config_changes(effective(read_manifest(out / r.name)["config"]),
                                     effective(PruneConfig.from_dict(r.config).to_dict()))
            if changes:
                raise SystemExit(f"{out / r.name}: made with another config than run {r.name!r} now asks for "
                                 f"({'; '.join(changes[:3])}); delete that directory or choose another --out")


def execute_all(runs: list[Run], out: Path, data_dir: str, jobs: int) -> None:
    check_reused(runs, out)
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
            "storage_priced_reduction": priced_storage(out / run.name)["cheapest"]["reduction"],
            "layers": {e["name"]: f"{e['nonzeros']}/{e['weight_shape'][0] * e['gemm']['K']}" for e in m["layers"]},
            "converged": [c["converged"] for c in m.get("admm_convergence", [])],
            "wall_s": sum(v for k, v in m["timings_s"].items() if k != "total_this_process")}


def priced_storage(path: Path) -> dict:
    """The artifact's weight storage in the simulator's formats (index/pointer bits included), priced from its
    weights (runs made before manifests kept ``totals.storage`` included)."""
    art = read_artifact(path)
    return price_storage({e["name"]: (art.weights[e["name"]].reshape(e["weight_shape"][0], -1), e["bits"])
                          for e in art.manifest["layers"]})


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
            "weight_storage_reduction": statistics.mean(r["weight_storage_reduction"] for r in rows),
            "storage_priced_reduction": statistics.mean(r["storage_priced_reduction"] for r in rows)}


def within_tolerance(out: Path, run: Run, tolerance_pp: float) -> bool:
    """Whether ``run`` lost at most ``tolerance_pp`` points of validation accuracy against its dense model."""
    val = read_manifest(out / run.name)["accuracy"]["pruned"]
    dense = read_manifest(out / run.init)["accuracy"]["pruned"]
    return (dense - val) * 100 <= tolerance_pp + 1e-9


def choose_push(out: Path, tolerance_pp: float, seed: int, ladder: tuple[float, ...],
                min_keep: float | None) -> float | None:
    """The highest ladder compression whose validation loss is within the tolerance (seed ``seed`` decides)."""
    runs = experiment_runs("push", seed, push_ladder=ladder, push_min_keep=min_keep)
    ok = [c for r, c in zip(runs, ladder) if within_tolerance(out, r, tolerance_pp)]
    return max(ok) if ok else None


def choose_joint(out: Path, tolerance_pp: float, seed: int,
                 ladder: tuple[tuple[float, int], ...]) -> tuple[float, int] | None:
    """The ladder setting with the highest nominal weight-storage reduction within the tolerance on validation."""
    ok = [c for c in ladder if within_tolerance(out, joint_run(seed, *c), tolerance_pp)]
    return max(ok, key=joint_storage) if ok else None


def parse_joint_ladder(text: str) -> tuple[tuple[float, int], ...]:
    try:
        return tuple((float(c), int(b)) for c, b in (item.split(":") for item in text.split(",")))
    except ValueError:
        raise SystemExit(f"--joint-ladder {text!r}: expected compression:bits pairs, e.g. 71.2:3,71.2:4,50:3")


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
    ap.add_argument("--joint-ladder", default=",".join(f"{c:g}:{b}" for c, b in JOINT_SETTINGS),
                    help="compression:bits settings the joint experiment tries on the first seed")
    ap.add_argument("--first-seed-only", default="repeat",
                    help="experiments run on the first seed only (repeat always is; push: the ladder is always "
                         "climbed on the first seed, the other seeds then run at the chosen compression)")
    args = ap.parse_args()
    out, seeds = Path(args.out), [int(s) for s in args.seeds.split(",")]
    exps = parse_experiments(args.experiments)
    single = set(args.first_seed_only.split(",")) | {"repeat"}
    ladder = tuple(float(c) for c in args.push_ladder.split(","))
    jladder = parse_joint_ladder(args.joint_ladder)
    try:   # read (and check) the data once before anything trains; the runs read it again in their processes
        test = load_mnist(args.data_dir)
    except DataError as e:
        raise SystemExit(f"--data-dir {args.data_dir!r}: {e}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    models = {"lenet300" if e == "lenet300" else "lenet5" for e in exps}
    execute_all([dense_run(m, s) for m in sorted(models) for s in seeds], out, args.data_dir, args.jobs)
    first = [r for e in exps if e not in LADDERS for s in (seeds[:1] if e in single else seeds)
             for r in experiment_runs(e, s)]
    first += experiment_runs("push", seeds[0], push_ladder=ladder, push_min_keep=args.push_min_keep) \
        if "push" in exps else []
    first += experiment_runs("joint", seeds[0], joint_ladder=jladder) if "joint" in exps else []
    execute_all(first, out, args.data_dir, args.jobs)
    push_choice = choose_push(out, args.push_tolerance_pp, seeds[0], ladder, args.push_min_keep) \
        if "push" in exps else None
    joint_choice = choose_joint(out, args.push_tolerance_pp, seeds[0], jladder) if "joint" in exps else None
    rest = []
    if push_choice is not None and "push" not in single:
        rest += [r for s in seeds[1:] for r in experiment_runs("push", s, push_choice, push_min_keep=args.push_min_keep)]
    if joint_choice is not None and "joint" not in single:
        rest += [r for s in seeds[1:] for r in experiment_runs("joint", s, joint_choice=joint_choice)]
    execute_all(rest, out, args.data_dir, args.jobs)
    report(out, exps, seeds, single, push_choice, args.push_min_keep, joint_choice, jladder, test,
           time.perf_counter() - t0)


def report(out: Path, exps: list[str], seeds: list[int], single: set[str], push_choice, push_min_keep,
           joint_choice, joint_ladder, test: Dataset, wall_s: float) -> None:
    rows, summaries = [], []
    for e in exps:
        choice = push_choice if e == "push" else joint_choice if e == "joint" else None
        if e == "joint":   # every ladder step of the first seed, then the chosen setting over the seeds
            chosen = None if choice is None else joint_run(seeds[0], *choice).name
            rows += [{**row(r, out, test), "experiment": "joint ladder"}
                     for r in experiment_runs("joint", seeds[0], joint_ladder=joint_ladder) if r.name != chosen]
        if e in LADDERS and choice is None:
            print(f"{e}: no ladder setting within the tolerance on validation")
            continue
        these = [row(r, out, test) for s in (seeds[:1] if e in single else seeds)
                 for r in experiment_runs(e, s, push_choice, push_min_keep=push_min_keep, joint_choice=joint_choice)]
        rows += [{**r, "experiment": e} for r in these]
        label = (f"push ({push_choice:g}x)" if e == "push" else
                 f"joint ({joint_choice[0]:g}x, {joint_choice[1]}-bit)" if e == "joint" else e)
        summaries.append(summarise(label, these))
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
    print("| experiment | seeds | compression (nominal, weights / nonzeros) | weight storage (nominal, values only) "
          "| storage with index bits (cheapest format per layer) | mean test (dense) | test loss pp, mean ± 95% |")
    print("|---|---|---|---|---|---|---|")
    for s in summaries:
        print(f"| {s['experiment']} | {len(s['seeds'])} | {s['compression']:.1f}x | "
              f"{s['weight_storage_reduction']:.0f}x | {s['storage_priced_reduction']:.1f}x | {s['mean_test'] * 100:.2f}% ({s['mean_test_dense'] * 100:.2f}%) | "
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
