"""SRAM energy at the presets' nodes: CACTI's grid per node (22, 32, 45, 65, 90 nm) against CACTI run at each
preset buffer's bank size and width (tests/fixtures/cacti/points.csv; docs/validation.md section 10c)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from accel_models.tech import CACTI_NODES_NM, NODE_ENERGY_FACTOR, sram_access_pj, sram_grid  # noqa: E402
from sram_node_check import comparisons, preset_buffers  # noqa: E402


def test_every_cacti_node_has_a_full_grid():
    for node in CACTI_NODES_NM:
        g = sram_grid(node)
        assert g.log_read.shape == (16, 9) and (g.log_read == g.log_read).all()


def test_per_node_grids_reproduce_cacti_at_the_presets_buffers():
    rows = comparisons()
    assert len(rows) == 13 * 4
    on_grid = [r for r in rows if r["capacity_bytes"] >= 1024]
    # within the grid only interpolation between CACTI's points is left (10 KiB at 65 nm: +11%, CACTI changes
    # its organisation between 8 and 16 KiB); node-factor scaling of the 45 nm grid missed by up to 31%
    assert max(abs(r["grid_err"]) for r in on_grid) < 0.12
    assert max(abs(r["scaled_err"]) for r in on_grid) > 0.25
    # below the grid (register files) the square-root extrapolation from 1 KiB is 12-18% under CACTI at every
    # node (16% at 45 nm too): an error of the extrapolation, not of the node. Pinned so that drift shows.
    for r in rows:
        if r["capacity_bytes"] < 1024:
            assert -0.20 < r["grid_err"] < -0.10


def test_nodes_between_and_beyond_cacti():
    cap, width = 65536, 128
    e22, e32 = (sram_access_pj(cap, width, node_nm=n) for n in (22, 32))
    assert min(e22, e32) < sram_access_pj(cap, width, node_nm=28) < max(e22, e32)
    ratio = NODE_ENERGY_FACTOR[16].value / NODE_ENERGY_FACTOR[22].value
    assert sram_access_pj(cap, width, node_nm=16) == pytest.approx(e22 * ratio)
    with pytest.raises(ValueError, match="node_nm=23"):
        sram_access_pj(cap, width, node_nm=23)


def test_every_preset_buffer_is_priced_at_its_node():
    rows = preset_buffers()
    assert {r["preset"] for r in rows} >= {"tpu_like", "eyeriss_like", "eie_like", "scnn_like"}
    assert all(r["grid_pj"] > 0 for r in rows)
