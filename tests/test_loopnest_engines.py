"""The loop-nest model's two whole-access engines checked against each other: the temporal one
(sparsesim/loopnest/counts.py) and the spatial one (spatial_counts.py, written independently from Table 7's
rules), on the temporal designs both can count: Sparseloop's generated grids (docs/validation.md 14c)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sparsesim.loopnest.counts import evaluate_counts
from sparsesim.loopnest.schema import design_from_dict, workload_from_dict
from sparsesim.loopnest.spatial_counts import evaluate_spatial

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import sparseloop_validation as validation  # noqa: E402

GRIDS = validation.load_cases(("grid", "grid_heldout"))


def _levels(r):
    return {lv.name: (lv.cycles, lv.energy_pj) for lv in r.levels}


@pytest.mark.parametrize("fixture", ["grid", "grid_heldout"])
def test_the_temporal_and_spatial_engines_agree_on_temporal_designs(fixture):
    for case in (c for c in GRIDS if c["fixture"] == fixture):
        design, w = design_from_dict(case["design"]), workload_from_dict(case["workload"])
        a, b = evaluate_counts(design, w), evaluate_spatial(design, w)
        assert (a.cycles, a.computes) == (b.cycles, b.computes), case["name"]
        assert b.energy_pj == pytest.approx(a.energy_pj, rel=1e-12), case["name"]
        for name, (cycles, energy) in _levels(a).items():
            assert _levels(b)[name][0] == cycles and _levels(b)[name][1] == pytest.approx(energy, rel=1e-12, abs=1e-9)


def test_the_spatial_engine_refuses_fig12s_flattened_ranks_rather_than_miscount():
    """Fig. 12 uses the 2022 artifact's flattened ranks applied inner to outer, which only counts.py carries:
    the spatial engine refuses them by name (it was 0.26-0.74% high in energy before it learned to refuse)."""
    from sparsesim.loopnest.spec import SpecError
    for case in validation.load_cases(("fig12",)):
        design, w = design_from_dict(case["design"]), workload_from_dict(case["workload"])
        evaluate_counts(design, w)
        with pytest.raises(SpecError, match="flattened ranks with inner-to-outer"):
            evaluate_spatial(design, w)


def test_a_vector_width_outside_timeloops_table_is_refused_where_the_correction_applies():
    """Timeloop a9c5115 has vector-width thresholds for 2-32 words only (buffer.hpp), and throws on others."""
    import dataclasses

    from sparsesim.loopnest.spec import SpecError
    case = next(c for c in GRIDS if c["fixture"] == "grid" and any(
        lv.get("formats") for lv in c["design"]["levels"]))
    design, w = design_from_dict(case["design"]), workload_from_dict(case["workload"])
    wide = tuple(dataclasses.replace(lv, block_words=64) if lv.formats else lv for lv in design.levels)
    with pytest.raises(SpecError, match="block_words: 64 has no vector-width threshold"):
        evaluate_counts(dataclasses.replace(design, levels=wide), w)
