"""The eie_like preset's energy against EIE's silicon: the paper's power x its measured time per layer.

Reference (S. Han et al., ISCA 2016): the chip draws 0.59 W (Table V: 64 PEs, 45 nm, 800 MHz) and one PE's
9.157 mW splits by component type and by module as Table II gives (tests/fixtures/eie/power_table2.csv).  A
layer's reference energy is that power x the layer's measured time (Table IV 'actual', in
tests/fixtures/eie/published.csv), as the paper itself turns power into energy; each component's share is its
Table II share.  EIE keeps weights and activations on chip: there is no DRAM term on either side.

Ours: benchmarks/eie_validation.py's layers (a random mask of the published weight density per seed, the
published activation density) priced by the eie_like preset; on-chip energy split as SRAM (CACTI-priced
buffers: the sparse-matrix SRAM incl. pointer reads, the activation register files' ifmap/ofmap reads/writes),
register files (per-MAC weight/activation/partial-sum registers), MACs, index decodes and the clock network
(per cycle: the preset's ``pe.clock_pj_per_pe_cycle``, Table II's 1.874 mW per PE / 800 MHz, x 64 PEs x our
cycles; a number of the chip's own breakdown, so what the total checks is the rest of the energy and the cycles).

Writes the reference energies (--write-fixture) and prints the comparison tables (docs/validation.md):

    python benchmarks/eie_energy.py --seeds 3 --write-fixture tests/fixtures/eie/energy_reference.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from accel_models.hardware import load_accelerator  # noqa: E402
from sparsesim.analytical import evaluate  # noqa: E402
from test_validation import EIE_ENERGY as EIE, eie_layer  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "eie"
CHIP_POWER_W = 0.59            # Table V, EIE (64 PEs, 45 nm, 800 MHz)
# our cost columns that correspond to each Table II line
OURS_FOR = {"memory": ("energy_sram_pj",), "register+combinational": ("energy_rf_pj", "energy_mac_pj",
                                                                      "energy_index_pj"),
            "clock_network": ("energy_clock_pj",), "spmat_read+ptr_read": ("energy_sram_pj", "energy_index_pj"),
            "arithm_unit": ("energy_mac_pj",), "act_rw+act_queue": ("energy_rf_pj",)}


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def shares() -> dict[str, float]:
    """Fraction of the PE's power per compared component (Table II lines, merged where ours has one term)."""
    t = {r["component"]: float(r["power_mw"]) for r in read_csv(FIXTURES / "power_table2.csv")}
    total = t["total"]
    return {"memory": t["memory"] / total, "register+combinational": (t["register"] + t["combinational"]) / total,
            "clock_network": t["clock_network"] / total,
            "spmat_read+ptr_read": (t["spmat_read"] + t["ptr_read"]) / total,
            "arithm_unit": t["arithm_unit"] / total, "act_rw+act_queue": (t["act_rw"] + t["act_queue"]) / total}


def reference_rows() -> list[dict]:
    """Per layer: measured time, total reference energy (uJ) and each component's share of it."""
    out = []
    for row in EIE:
        total_uj = CHIP_POWER_W * float(row["actual_us"])
        out.append({"layer": row["layer"], "actual_us": float(row["actual_us"]), "total_uj": total_uj,
                    **{f"{c}_uj": total_uj * f for c, f in shares().items()}})
    return out


def ours(row: dict, seeds: int) -> dict[str, float]:
    """Our energy components (uJ) and latency (us), mean over seeds."""
    hw = load_accelerator("eie_like")
    cols = ["energy_pj", "energy_sram_pj", "energy_rf_pj", "energy_mac_pj", "energy_index_pj", "energy_clock_pj",
            "energy_dram_pj"]
    runs = [evaluate([eie_layer(row, seed)], [hw]).rows()[0] for seed in range(seeds)]
    return {**{c: float(np.mean([r[c] for r in runs])) * 1e-6 for c in cols},
            "latency_us": float(np.mean([r["latency_s"] for r in runs])) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--write-fixture", type=Path, default=None)
    args = ap.parse_args()
    refs = reference_rows()
    if args.write_fixture:
        with args.write_fixture.open("w", newline="") as f:
            f.write("# Reference energy per EIE benchmark layer (uJ) = 0.59 W (Han et al. ISCA 2016, Table V) x the\n"
                    "# measured time (Table IV 'actual'); components = that x their Table II share of one PE's\n"
                    "# power (tests/fixtures/eie/power_table2.csv).  Written by benchmarks/eie_energy.py.\n")
            w = csv.DictWriter(f, fieldnames=list(refs[0]))
            w.writeheader()
            for r in refs:
                w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    by_layer = {row["layer"]: ours(row, args.seeds) for row in EIE}
    print("| layer | paper actual us | ours us | reference uJ (0.59 W x time) | ours uJ | error | ours: clock "
          "network uJ | reference without the clock network uJ | ours without it uJ | error | ours: DRAM uJ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in refs:
        o = by_layer[r["layer"]]
        no_clock = r["total_uj"] - r["clock_network_uj"]
        mine = o["energy_pj"] - o["energy_clock_pj"]
        print(f"| {r['layer']} | {r['actual_us']} | {o['latency_us']:.2f} | {r['total_uj']:.2f} | "
              f"{o['energy_pj']:.2f} | {(o['energy_pj'] / r['total_uj'] - 1) * 100:+.1f}% | {o['energy_clock_pj']:.2f} | {no_clock:.2f} | "
              f"{mine:.2f} | {(mine / no_clock - 1) * 100:+.1f}% | {o['energy_dram_pj']:.2f} |")
    print()
    print("| layer | component (Table II) | share | reference uJ | ours uJ (our terms) | error |")
    print("|---|---|---|---|---|---|")
    for r in refs:
        o = by_layer[r["layer"]]
        for comp, terms in OURS_FOR.items():
            mine = sum(o[t] for t in terms)
            err = f"{(mine / r[comp + '_uj'] - 1) * 100:+.1f}%" if terms else "not modelled"
            print(f"| {r['layer']} | {comp} | {shares()[comp] * 100:.1f}% | {r[comp + '_uj']:.2f} | {mine:.2f} "
                  f"({' + '.join(t.removeprefix('energy_').removesuffix('_pj') for t in terms) or '-'}) | {err} |")


if __name__ == "__main__":
    main()
