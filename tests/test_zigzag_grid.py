"""The zigzag convention against ZigZag (zigzag-dse 3.9.1) on the generated grid of hierarchies.

tests/fixtures/zigzag/grid.csv holds ZigZag's energy per component and DRAM traffic per layer and hierarchy
(benchmarks/zigzag_grid.py wrote it; docs/validation.md section 9).  Each point's hierarchy is rebuilt as this
toolkit's YAML with the same per-access energies and priced under ``memory.convention: zigzag``.  Acceptance is
10% per layer on energy and DRAM traffic; the model reproduces ZigZag's counting, so the test also holds it to
0.1% (energy, DRAM bits) and to the component energies, so that any drift of either side shows.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import zigzag_grid as grid  # noqa: E402

ROWS = grid.read_fixture()
ACCEPT, DRIFT = 0.10, 1e-3


def test_grid_covers_the_brief():
    hiers = {r["hier"]: r for r in ROWS}
    assert len(hiers) >= 40
    assert {(r["dataflow"], r["levels"]) for r in hiers.values()} == {("ws", "3"), ("os", "3"), ("ws", "2"),
                                                                      ("os", "2")}
    assert {int(r["sram_kb"]) for r in hiers.values()} >= {16, 4096}
    assert {(int(r["rows"]), int(r["cols"])) for r in hiers.values()} >= {(8, 8), (64, 64), (16, 64)}
    assert all(sum(r["hier"] == h for r in ROWS) >= 3 for h in hiers)
    families = {r["layer"].split("_")[0] for r in ROWS}
    assert families == {"lenet", "alexnet", "resnet18"}
    assert any(r["held_out"] == "1" for r in ROWS)


@pytest.mark.parametrize("held_out", ["0", "1"])
def test_zigzag_convention_matches_zigzag_on_the_grid(held_out):
    misses = []
    for row in (r for r in ROWS if r["held_out"] == held_out):
        c = grid.compare(row, ("zigzag",))
        e, d = c["zigzag_energy_err"], c["zigzag_dram_err"]
        if abs(e) > ACCEPT or abs(d) > ACCEPT:
            misses.append(f"{row['hier']} {row['layer']}: energy {e:+.1%}, DRAM {d:+.1%} (acceptance 10%)")
        elif abs(e) > DRIFT or abs(d) > DRIFT:
            misses.append(f"{row['hier']} {row['layer']}: energy {e:+.3%}, DRAM {d:+.3%} (drift > 0.1%)")
        if abs(c["zigzag_sram_err"]) > ACCEPT:
            misses.append(f"{row['hier']} {row['layer']}: SRAM traffic {c['zigzag_sram_err']:+.1%} (acceptance 10%)")
        ref = float(row["zz_energy_pj"])
        for part in ("sram", "rf"):
            if abs(c[f"zigzag_{part}_pj_diff"]) > DRIFT * ref:
                diff = c[f"zigzag_{part}_pj_diff"]
                misses.append(f"{row['hier']} {row['layer']}: {part} energy off by {diff:.4g} pJ")
    assert not misses, "\n".join(misses)


def test_zigzag_convention_refuses_a_dataflow_it_cannot_unroll():
    h = dict(hier="is", rows=8, cols=8, sram_kb=64, dataflow="is", levels=3)
    with pytest.raises(ValueError, match=r"pe.dataflow 'is' under memory.convention 'zigzag'; allowed"):
        grid.ours(h, grid.LAYERS["lenet_conv2"], "zigzag")
