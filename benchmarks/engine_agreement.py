"""The simpy event engine against the analytical closed form on real pruned layers (issue 21, item 7).

Layers: LeNet-5 and the ResNet-18-shaped model of ``pruning.models`` (random init, torch seed 0, 8-bit
weights), every layer pruned by the project's own structures (``pruning.structures.Structure.keep_mask`` on the
weights' squared magnitude: nonstructured 80%, filter 50%, channel 50%, column 50%, 4x4 blocks 75%, 2:4); a layer
a structure cannot apply to (2:4 on LeNet conv1's K=25) stays dense.  What matters is each structure's real zero
pattern, not accuracy.  Hardware: every preset whose timing is the native pipelined closed form (the
row-stationary ``eyeriss_like`` prices its own timing, which the event engine does not model).

Per (model, structure, layer, preset): both engines' cycles and stall cycles, the relative difference, and the
event engine on equal tiles (``equal_tiles=True``: the same traffic spread evenly over the tiles), which tells a
disagreement caused by the unequal per-tile traffic (first-pass bursts, outputs leaving at the end of their
accumulation) from one between the two schedules themselves.  DRAM traffic is one model's (``sparsesim.memory``)
for both engines, so it agrees by construction.

    PYTHONPATH=. python benchmarks/engine_agreement.py --write tests/fixtures/engine_agreement.csv   # ~1 min
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import load_accelerator  # noqa: E402

STRUCTURES = (("nonstructured", {"ratio": 0.8}), ("filter", {"ratio": 0.5}), ("channel", {"ratio": 0.5}),
              ("column", {"ratio": 0.5}), ("block", {"ratio": 0.75, "block": (4, 4)}), ("nm", {"n": 2, "m": 4}))
# ResNet-18's distinct layer shapes at 32x32 input: the stem, a 3x3 of each stage, a strided 1x1 shortcut, fc
RESNET_LAYERS = ("conv1", "layer1.0.conv1", "layer2.0.shortcut.0", "layer3.1.conv2", "layer4.0.conv1", "fc")
PRESETS = ("eie_like", "fpga_large", "fpga_small", "fpga_sparse", "nm_asic", "scnn_like", "sigma_like",
           "tpu_like")
TOLERANCE = 0.01
FIELDS = ("model", "structure", "layer", "preset", "tiles", "density", "analytical_cycles", "event_cycles",
          "diff_pct", "analytical_stall_cycles", "event_stall_cycles", "event_equal_tiles_cycles",
          "equal_tiles_diff_pct")


def pruned_layers(models=("lenet5", "resnet18")) -> list[tuple[str, str, object]]:
    """(model, structure, LayerWorkload) of every kept layer of every model pruned by every structure."""
    import torch

    from pruning.models import build_model
    from pruning.structures import Structure, StructureError
    from sparsesim.workload import from_model

    out = []
    for name in models:
        torch.manual_seed(0)
        base = build_model(name)
        example = torch.zeros(1, *base.input_shape)
        for kind, kw in STRUCTURES:
            model = build_model(name)
            model.load_state_dict(base.state_dict())
            with torch.no_grad():
                for mod in model.modules():
                    if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                        try:
                            mod.weight.mul_(Structure(kind, **kw).keep_mask(mod.weight ** 2))
                        except StructureError:
                            pass            # the structure does not fit this shape: the layer stays dense
            for w in from_model(model, example, weight_bits=8):
                if name != "resnet18" or w.name in RESNET_LAYERS:
                    out.append((name, kind, w))
    return out


def agreement_row(model: str, kind: str, w, preset: str) -> dict:
    from sparsesim.analytical import evaluate
    from sparsesim.event_sim import simulate

    acc = load_accelerator(preset)
    a = evaluate([w], [acc]).rows()[0]
    e = simulate([w], acc, record_timeline=False)[0]
    even = simulate([w], acc, record_timeline=False, equal_tiles=True)[0]
    rel = (e.cycles - a["cycles"]) / a["cycles"]
    return {"model": model, "structure": kind, "layer": w.name, "preset": preset, "tiles": int(a["tiles"]),
            "density": round(w.density, 4), "analytical_cycles": a["cycles"], "event_cycles": e.cycles,
            "diff_pct": 100 * rel, "analytical_stall_cycles": a["stall_cycles"],
            "event_stall_cycles": e.stall_cycles, "event_equal_tiles_cycles": even.cycles,
            "equal_tiles_diff_pct": 100 * (even.cycles - a["cycles"]) / a["cycles"]}


def rows(presets=PRESETS) -> list[dict]:
    return [agreement_row(m, k, w, p) for p in presets for m, k, w in pruned_layers()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=list(PRESETS))
    ap.add_argument("--write", type=Path, help="write the table as CSV here")
    args = ap.parse_args(argv)
    table = rows(args.presets)
    print(f"{'model':8s} {'structure':13s} {'layer':20s} {'preset':11s} {'tiles':>6s} {'analytical':>11s} "
          f"{'event':>11s} {'diff%':>7s} {'even%':>7s}")
    for r in table:
        print(f"{r['model']:8s} {r['structure']:13s} {r['layer']:20s} {r['preset']:11s} {r['tiles']:6d} "
              f"{r['analytical_cycles']:11.0f} {r['event_cycles']:11.0f} {r['diff_pct']:+7.2f} "
              f"{r['equal_tiles_diff_pct']:+7.2f}")
    diff = np.abs([r["diff_pct"] for r in table])
    print(f"\n{len(table)} (layer, preset) pairs; within {TOLERANCE:.0%}: {(diff <= 100 * TOLERANCE).sum()}; "
          f"max |diff| {diff.max():.2f}%")
    for p in args.presets:
        d = np.abs([r["diff_pct"] for r in table if r["preset"] == p])
        print(f"  {p:11s} {len(d):3d} layers, within 1%: {(d <= 100 * TOLERANCE).sum():3d}, max |diff| {d.max():6.2f}%")
    if args.write:
        with args.write.open("w", newline="") as f:
            wtr = csv.DictWriter(f, fieldnames=FIELDS)
            wtr.writeheader()
            wtr.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in table)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
