"""The eyeriss_like preset (engine rowstationary) against Eyeriss v1 silicon: AlexNet CONV1-5 at batch 4.

Reference: Chen et al., JSSC 52(1) 2017, Table V (per layer: power, processing latency, GLB and DRAM
accesses, active PEs) with the mapping of its Table IV (tests/fixtures/eyeriss/published.csv).  Workloads:
the project's AlexNet (pruning/models.py: 227x227 input, conv2/4/5 in 2 groups), dense 16-bit weights,
batch 4; each layer's input density is 1 - Table V's ifmap zeros, its output density the next layer's
input density (CONV5's: the fc6 input density EIE measured on AlexNet, Han et al. ISCA 2016 Table III,
Alex-6: 35.1%, tests/fixtures/eie/published.csv).  MB are 10^6 bytes: the paper's abstract gives 0.0029
DRAM accesses (16-bit words) per MAC for these layers, i.e. 15.4 MB / 2 bytes / 2.66 G MACs with decimal MB
(binary MB would give 0.0030).  Power = on-chip energy (all but DRAM) / latency, as the chip's measured
power excludes DRAM; it includes the clock network, priced per cycle (the preset's ``pe.clock_pj_per_pe_cycle``:
32.9% of CONV1's 332 mW over 168 PEs at 200 MHz, accel_models.tech.CLOCK_NETWORK, a share that is unconfirmed),
printed apart in a second table.

Usage: python benchmarks/eyeriss_validation.py [--own-mapping]
  --own-mapping   the engine's own mapping search instead of Table IV's mapping
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accel_models.hardware import load_accelerator  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from sparsesim.engines.rowstationary import MAPPING_FIELDS, layer_plan  # noqa: E402
from sparsesim.hwarrays import HardwareArrays  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "eyeriss" / "published.csv"
EIE_FIXTURE = ROOT / "tests" / "fixtures" / "eie" / "published.csv"
MB = 1e6
METRICS = ("latency_ms", "dram_mb", "glb_mb", "power_mw", "active_pes")
PUBLISHED = {"latency_ms": "processing_latency_ms", "dram_mb": "dram_mb", "glb_mb": "glb_mb",
             "power_mw": "power_mw", "active_pes": "active_pes"}


def _rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def published() -> list[dict]:
    return _rows(FIXTURE)


def fc6_input_density() -> float:
    """AlexNet's fc6 input density (CONV5's output after ReLU and pooling): EIE Table III, Alex-6."""
    return float(next(r for r in _rows(EIE_FIXTURE) if r["layer"] == "Alex-6")["act_density"])


@lru_cache(maxsize=1)
def _alexnet_convs() -> dict:
    """The project's AlexNet as workloads (batch 4, 16-bit), by layer name; built once."""
    import torch

    from pruning.models import AlexNet
    from sparsesim.workload import from_model

    torch.manual_seed(0)
    model = AlexNet()
    return {w.name: w for w in from_model(model, torch.zeros(1, *model.input_shape), batch=4, weight_bits=16)}


def alexnet_workloads(rows: list[dict], own_mapping: bool = False) -> list:
    """AlexNet CONV1-5 at batch 4 with Table V's activation densities and (unless ``own_mapping``) Table IV's
    mapping (fresh copies: no cached costs are shared)."""
    convs = _alexnet_convs()
    density = [1.0 - float(r["ifmap_zeros_pct"]) / 100.0 for r in rows] + [fc6_input_density()]
    out = []
    for i, r in enumerate(rows):
        w = convs[r["layer"]]
        geometry = dict(w.geometry)
        if not own_mapping:
            geometry["rs_mapping"] = {f: int(r[f]) for f in MAPPING_FIELDS}
        out.append(dataclasses.replace(w, act_density=density[i],
                                       out_density=density[i + 1],
                                       geometry=geometry))
    return out


def measure(own_mapping: bool = False) -> list[dict]:
    """Ours per layer: the METRICS, the mapping used and the GLB allocation in KiB."""
    rows = published()
    hw = load_accelerator("eyeriss_like")
    arrays = HardwareArrays.of([hw])
    workloads = alexnet_workloads(rows, own_mapping)
    out = []
    for w, r in zip(workloads, evaluate(workloads, arrays).rows()):
        plan = layer_plan(w, arrays, 0)
        glb_words = (r["sram_ifmap_read_words"] + r["sram_ifmap_write_words"] + r["sram_ofmap_write_words"]
                     + r["sram_ofmap_read_words"])
        out.append({"layer": w.name, "latency_ms": r["latency_s"] * 1e3, "dram_mb": r["dram_bits"] / 8 / MB,
                    "glb_mb": glb_words * hw.pe.act_bits / 8 / MB,
                    "power_mw": (r["energy_pj"] - r["energy_dram_pj"]) / r["latency_s"] * 1e-9,
                    "clock_mw": r["energy_clock_pj"] / r["latency_s"] * 1e-9,
                    "active_pes": plan["active"], "mapping": plan["mapping"]})
    return out


def errors(ours: list[dict], rows: list[dict]) -> list[dict]:
    """Relative error (ours / published - 1) per layer and metric."""
    return [{m: o[m] / float(r[PUBLISHED[m]]) - 1.0 for m in METRICS} | {"layer": o["layer"]}
            for o, r in zip(ours, rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--own-mapping", action="store_true", help="the engine's mapping search, not Table IV's")
    args = ap.parse_args()
    rows = published()
    ours = measure(args.own_mapping)
    print("| layer | mapping e n p q r t m | latency ms: paper / ours / error | DRAM MB | GLB MB | power mW "
          "(no DRAM) | active PEs |")
    print("|---|---|---|---|---|---|---|")
    for o, r, err in zip(ours, rows, errors(ours, rows)):
        cells = [f"{float(r[PUBLISHED[m]]):g} / {o[m]:.{0 if m in ('power_mw', 'active_pes') else 2}f} / "
                 f"{err[m]:+.1%}" for m in METRICS]
        mp = " ".join(str(o["mapping"][f]) for f in MAPPING_FIELDS)
        print(f"| {o['layer']} | {mp} | " + " | ".join(cells) + " |")
    print()
    print("| layer | power mW: paper / ours / error | ours: clock network mW | ours without it mW |")
    print("|---|---|---|---|")
    for o, r, err in zip(ours, rows, errors(ours, rows)):
        print(f"| {o['layer']} | {float(r['power_mw']):g} / {o['power_mw']:.0f} / {err['power_mw']:+.1%} | "
              f"{o['clock_mw']:.1f} | {o['power_mw'] - o['clock_mw']:.0f} |")


if __name__ == "__main__":
    main()
