"""Sparseloop's statistical density model against the real masks our pruner writes (issue 21, item 2).

The designs are Sparseloop's Fig. 1 pair (bitmask + gating, coordinate list + skipping; tests/fixtures/
sparseloop/fig1.json) resized to a pruned layer, plus a variant that compresses both ranks of the weights
(CP over rows, then CP over columns: empty rows cost no metadata).  A = fc1's weight mask (GEMM view,
M x K) from a pruned LeNet-5 artifact; B = fc1's input activations (N x K): with ``--data-dir``, the zeros
that model's own ReLU leaves on the first N MNIST test images (measured), else a uniform draw at
``--act-density`` (seeded).  For each structure the model runs twice: the statistical answer (hypergeometric, at the masks'
densities) and the exact one (counted on the masks).

    sparsesim compare --config benchmarks/compare_lenet5.yaml --budget global \\
        --data-dir ../shared/data/mnist --out runs/compare_lenet5           # writes the pruned artifacts
    python benchmarks/sparseloop_masks.py --runs runs/compare_lenet5/runs --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from sparsesim.loopnest import Loop, RankFormat, Tensor, Workload, evaluate
from sparsesim.loopnest.density import ExactMask, Hypergeometric
from sparsesim.loopnest.schema import design_from_dict

FIG1 = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sparseloop" / "fig1.json"
RUNS = ("nonstructured_g0.9000", "block_g0.9000", "column_g0.9000", "channel_g0.9000", "filter_g0.9000",
        "nm_nm", "dense")


def gemm_mask(weight: np.ndarray) -> np.ndarray:
    return (weight.reshape(weight.shape[0], -1) != 0)


def resized(design, m: int, n: int, k: int):
    """Fig. 1's mapping (backing store: M inside N; register: K) for an M x N x K product."""
    factor = {"BackingStorage": (("M", m), ("N", n), ("K", 1)), "Buffer": (("M", 1), ("N", 1), ("K", 1)),
              "Reg": (("K", k), ("M", 1), ("N", 1))}
    levels = tuple(dataclasses.replace(lv, loops=tuple(Loop(d, f) for d, f in factor[lv.name])) for lv in design.levels)
    return dataclasses.replace(design, levels=levels)


def both_ranks_cp(design):
    """The coordinate-list design with A compressed on both ranks (rows, then columns) at every level."""
    fmt = (RankFormat("CP", 14), RankFormat("CP", 14))
    levels = tuple(dataclasses.replace(lv, formats=tuple((t, fmt if t == "A" else fs) for t, fs in lv.formats),
                                       inner_to_outer=lv.inner_to_outer - {"A"}) for lv in design.levels)
    return dataclasses.replace(design, levels=levels)


def designs() -> dict:
    cases = {c["name"]: c for c in json.loads(FIG1.read_text())["cases"]}
    bm = design_from_dict(cases["fig1 bitmask d=0.1"]["design"])
    cl = design_from_dict(cases["fig1 coordinate_list d=0.1"]["design"])
    return {"bitmask+gating": bm, "coord-list+skipping": cl, "CP-CP+skipping": both_ranks_cp(cl)}


def workload(m, n, k, a, b) -> Workload:
    return Workload((("M", m), ("N", n), ("K", k)),
                    (Tensor("A", ("M", "K")), Tensor("B", ("N", "K")), Tensor("Z", ("M", "N"), output=True)),
                    (("A", a), ("B", b)))


def fc1_inputs(weights: dict, images) -> np.ndarray:
    """LeNet-5's fc1 input (after conv2, pool, ReLU) on ``images``, with the artifact's weights."""
    import torch

    from pruning.models import LeNet5

    model = LeNet5()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    with torch.no_grad():
        x = torch.relu(torch.max_pool2d(model.conv1(images), 2))
        x = torch.relu(torch.max_pool2d(model.conv2(x), 2))
    return torch.flatten(x, 1).numpy()


def rows(runs: Path, layer: str, batch: int, act_density: float, seed: int, images=None) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for run in RUNS:
        path = runs / run / "weights.safetensors"
        if not path.exists():
            print(f"skip {run}: {path} not found", file=sys.stderr)
            continue
        weights = load_file(str(path))
        a = gemm_mask(weights[f"{layer}.weight"])
        m, k = a.shape
        b = fc1_inputs(weights, images) != 0 if images is not None else rng.random((batch, k)) < act_density
        exact_w = workload(m, batch, k, ExactMask(a), ExactMask(b))
        stat_w = workload(m, batch, k, Hypergeometric(a.mean()), Hypergeometric(b.mean()))
        for name, base in designs().items():
            d = resized(base, m, batch, k)
            ex, st = evaluate(d, exact_w), evaluate(d, stat_w)
            out.append({"structure": run, "design": name, "density": a.mean(), "act_density": b.mean(),
                        "cycles_exact": ex.cycles, "cycles_stat": st.cycles, "cycles_diff": st.cycles / ex.cycles - 1,
                        "energy_uj_exact": ex.energy_pj / 1e6, "energy_uj_stat": st.energy_pj / 1e6,
                        "energy_diff": st.energy_pj / ex.energy_pj - 1})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/compare_lenet5/runs"))
    ap.add_argument("--layer", default="fc1")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--act-density", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, help="MNIST IDX files: measure fc1's input activations")
    args = ap.parse_args(argv)
    images = None
    if args.data_dir:
        from pruning.data import load_mnist
        images = load_mnist(args.data_dir).test_x[:args.batch]
    if images is not None and args.layer != "fc1":
        ap.error("--data-dir measures fc1's inputs only; use --layer fc1")
    table = rows(args.runs, args.layer, args.batch, args.act_density, args.seed, images)
    print(f"{'structure':24s} {'design':22s} {'weights':>7s} {'acts':>5s} {'cycles exact':>13s} {'stat-exact':>10s}"
          f" {'uJ exact':>9s} {'stat-exact':>10s}")
    for r in table:
        print(f"{r['structure']:24s} {r['design']:22s} {r['density']:7.3f} {r['act_density']:5.2f} {r['cycles_exact']:13.0f} "
              f"{r['cycles_diff']:+10.2%} {r['energy_uj_exact']:9.2f} {r['energy_diff']:+10.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
