"""An FPGA design from the literature priced by the toolkit: Zhang et al., FPGA 2015 (AlexNet conv1-5, VC707).

The published design (tests/fixtures/fpga/zhang2015_vc707.yaml: XC7VX485T, 100 MHz, fp32, <Tm, Tn> = <64, 7>
channel unrolling as pe.dataflow ci_co) runs AlexNet conv1-5 through sparsesim.analytical.evaluate.  Printed:
per layer our cycles against the paper's own cycle model, latency and the bound (compute or DRAM); the totals
against the published throughput; DSP/BRAM/LUT against the published utilization; and the power our energy
model implies (energy / latency) against the published 18.61 W, with its breakdown; and the per-resource
energies the FPGA rule implies per part family (accel_models.tech.FPGA_ENERGY: the ASIC rule at the family's
node x Kuon & Rose's FPGA/ASIC ratio), with the DS512 Virtex-5 BRAM cross-check.

Usage: python benchmarks/fpga_validation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_fpga_validation import published, zhang_formula_cycles, zhang_results  # noqa: E402

from accel_models.tech import (FPGA_ENERGY, FPGA_FAMILY_NODE_NM, NODE_ENERGY_FACTOR,  # noqa: E402
                               fpga_energy_ratio, mac_pj, sram_access_pj)

BRAM18_BYTES = 2304   # one 18 Kb block RAM half


def per_resource_table() -> list[str]:
    """Energies the FPGA rule gives per family (pJ): ASIC rule at the family's node x the FPGA/ASIC ratio."""
    r = fpga_energy_ratio()
    out = ["| family (node) | int8 MAC, 32-bit acc | fp32 MAC | BRAM18 36-bit read | BRAM18 36-bit write | "
           "32-bit register access (4 B) |", "|---|---|---|---|---|---|"]
    for fam, node in FPGA_FAMILY_NODE_NM.items():
        f = NODE_ENERGY_FACTOR[int(node.value)].value * r
        cells = [mac_pj(8, 8, 32) * f, mac_pj(32, 32, 32) * f, sram_access_pj(BRAM18_BYTES, 36) * f,
                 sram_access_pj(BRAM18_BYTES, 36, write=True) * f, sram_access_pj(4, 32) * f]
        out.append(f"| {fam} ({int(node.value)} nm) | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    cacti65 = NODE_ENERGY_FACTOR[65].value * (sram_access_pj(BRAM18_BYTES, 36)
                                              + sram_access_pj(BRAM18_BYTES, 36, write=True)) / 2
    ds512 = FPGA_ENERGY["bram_virtex5_36b"].value
    out += ["", f"cross-check: DS512 Virtex-5 BRAM {ds512:.0f} pJ per 36-bit access (50% writes) against CACTI at "
                f"65 nm {cacti65:.2f} pJ: {ds512 / cacti65:.1f}x (the ratio used: {r:.0f}x); if both TDP ports "
                f"were active, {ds512 / 2 / cacti65:.1f}x"]
    return out


def _err(ours: float, ref: float) -> str:
    return f"{(ours - ref) / ref * 100:+.1f}%"


def main() -> None:
    z, pub = zhang_results(), published()
    formula = zhang_formula_cycles()
    print("| layer | paper's cycle model | our compute cycles | our cycles (incl. DRAM) | our ms |")
    print("|---|---|---|---|---|")
    for r in z["rows"]:
        print(f"| {r['layer']} | {formula[r['layer']]:,} | {r['compute_cycles']:,.0f} | {r['cycles']:,.0f} | "
              f"{r['latency_s'] * 1e3:.3f} |")
    print()
    print("| quantity | published | ours | error |")
    print("|---|---|---|---|")
    print(f"| throughput, GFLOPS | {pub['gflops']['value']} | {z['gflops']:.2f} | "
          f"{_err(z['gflops'], float(pub['gflops']['value']))} |")
    print(f"| conv1-5 latency, ms | {pub['latency_ms']['value']} (derived) | {z['latency_ms']:.2f} | "
          f"{_err(z['latency_ms'], float(pub['latency_ms']['value']))} |")
    res = z["resources"]
    for key, name in (("dsp", "DSP48E1"), ("bram18", "BRAM18"), ("lut", "LUT")):
        ref = float(pub[key]["value"])
        print(f"| {name} | {pub[key]['value']} of {pub[key]['of_part']} | {res[key]:,} | {_err(res[key], ref)} |")
    print(f"| FF | {pub['ff']['value']} of {pub['ff']['of_part']} | not modelled | - |")
    print(f"| power, W (ours: energy / latency) | {pub['power_w']['value']} | {z['power_w']:.3f} | "
          f"{_err(z['power_w'], float(pub['power_w']['value']))} |")
    print()
    lat = z["latency_ms"] * 1e-3
    parts = {k: sum(r[f"energy_{k}_pj"] for r in z["rows"]) * 1e-12 / lat for k in ("mac", "sram", "rf", "dram")}
    print("our power by component (W): " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
    onchip = parts["mac"] + parts["sram"] + parts["rf"]
    print(f"on-chip dynamic {onchip:.3f} W (at the ASIC rule alone: {onchip / fpga_energy_ratio():.3f} W), "
          f"DDR3 {parts['dram']:.3f} W")
    print()
    print("\n".join(per_resource_table()))


if __name__ == "__main__":
    main()
