"""LeNet-5 on MNIST: dense accuracy, ADMM non-structured compression, and magnitude pruning.

1. Train LeNet-5 dense once (cached in OUT/dense).
2. ADMM with the config (default: pruning/configs/lenet5_mnist_admm.yaml,
   73.6x target) from those weights.
3. Iterative magnitude pruning (Han et al. 2015) with the same targets and the
   same epochs (same budget), then at smaller targets until it is within the
   accuracy tolerance: "what magnitude pruning reaches at the same accuracy".

Every run is an ordinary artifact directory under OUT and is resumable: rerun
the script after a kill and finished runs are reused.
Usage: python benchmarks/lenet5_mnist.py --data-dir ../shared/data/mnist --out runs/bench_lenet5
"""

from __future__ import annotations

import argparse
import csv
import time
from importlib import resources
from pathlib import Path

import torch

from pruning.artifact import load_artifact, read_manifest
from pruning.config import PruneConfig, step_ratio
from pruning.data import load_mnist
from pruning.models import build_model
from pruning.pipeline import run_prune


def run(name: str, cfg: PruneConfig, data, out: Path, init: Path | None, quiet: bool) -> dict:
    target = out / name
    if (target / "manifest.json").exists():
        print(f"[{name}] reusing {target}")
        return read_manifest(target)
    torch.manual_seed(cfg.seed)
    model = build_model("lenet5")
    if init is not None:
        model = load_artifact(init, model).model
    t = time.perf_counter()
    log = (lambda s: None) if quiet else (lambda s: print(f"[{name}] {s}", flush=True))
    run_prune(model, data, cfg, target, model_name="lenet5", resume=True, progress=False, log=log)
    m = read_manifest(target)
    print(f"[{name}] done in {time.perf_counter() - t:.0f} s: acc {m['accuracy']['pruned']:.4f}, "
          f"{m['totals']['compression']:.1f}x", flush=True)
    return m


def scaled(cfg: PruneConfig, fraction: float) -> PruneConfig:
    """Same config with every layer's target at ``fraction`` of its log-compression."""
    d = cfg.to_dict()
    for spec in d["layers"].values():
        spec["ratio"] = step_ratio(spec["ratio"], fraction)
    return PruneConfig.from_dict(d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", default="runs/bench_lenet5")
    ap.add_argument("--config", default=str(resources.files("pruning") / "configs" / "lenet5_mnist_admm.yaml"))
    ap.add_argument("--tolerance-pp", type=float, default=0.2)
    ap.add_argument("--fractions", default="0.85,0.7,0.55", help="smaller targets tried for magnitude pruning")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    data = load_mnist(args.data_dir)
    cfg = PruneConfig.from_yaml(args.config)
    t0 = time.perf_counter()
    # dense: the config's pretraining, nothing pruned (ratio 0 keeps every weight)
    dense_cfg = PruneConfig.from_dict({**cfg.to_dict(), "retrain_epochs": 0,
                                       "admm": {**cfg.to_dict()["admm"], "schedule": [1.0], "rounds": 0},
                                       "layers": {"fc2": {"type": "dense"}}})
    dense = run("dense", dense_cfg, data, out, None, args.quiet)
    dense_acc = dense["accuracy"]["pruned"]
    no_pretrain = cfg.with_overrides(pretrain_epochs=0)
    rows = [("dense", "-", dense_acc, 1.0, dense["timings_s"].get("pretrain", 0.0))]
    admm = run("admm", no_pretrain, data, out, out / "dense", args.quiet)
    rows.append(("ADMM", "full", admm["accuracy"]["pruned"], admm["totals"]["compression"],
                 sum(admm["timings_s"].get(k, 0) for k in ("prune", "hard_prune", "retrain"))))
    mag_cfg = no_pretrain.with_overrides(method="magnitude")
    mag = run("magnitude_same_targets", mag_cfg, data, out, out / "dense", args.quiet)
    rows.append(("magnitude", "full", mag["accuracy"]["pruned"], mag["totals"]["compression"],
                 sum(mag["timings_s"].get(k, 0) for k in ("prune", "hard_prune", "retrain"))))
    within = lambda acc: round((dense_acc - acc) * 100, 6) <= args.tolerance_pp  # noqa: E731 (pp, float-safe)
    if not within(mag["accuracy"]["pruned"]):
        for f in (float(s) for s in args.fractions.split(",")):
            m = run(f"magnitude_{f:g}", scaled(mag_cfg, f), data, out, out / "dense", args.quiet)
            rows.append(("magnitude", f"{f:g} of log-target", m["accuracy"]["pruned"], m["totals"]["compression"],
                         sum(m["timings_s"].get(k, 0) for k in ("prune", "hard_prune", "retrain"))))
            if within(m["accuracy"]["pruned"]):
                break
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "target", "accuracy", "loss_pp", "compression", "wall_s"])
        for r in rows:
            w.writerow([r[0], r[1], f"{r[2]:.4f}", f"{(dense_acc - r[2]) * 100:.2f}", f"{r[3]:.1f}", f"{r[4]:.0f}"])
    print(f"\nLeNet-5 / MNIST (threads={torch.get_num_threads()}; total wall {time.perf_counter() - t0:.0f} s "
          "this invocation)")
    print("| method | target | test accuracy | loss (pp) | compression | wall (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2] * 100:.2f}% | {(dense_acc - r[2]) * 100:+.2f} | {r[3]:.1f}x | {r[4]:.0f} |")
    for name in ("admm",):
        m = read_manifest(out / name)
        print(f"\n{name} per layer: " + ", ".join(
            f"{e['name']} {e['nonzeros']}/{e['weight_shape'][0] * e['gemm']['K']}" for e in m["layers"]))


if __name__ == "__main__":
    main()
