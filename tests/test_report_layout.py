"""The report's first picture: the structure x platform matrix, as data (winner, ties, flags) and as the lead
figure of report.md / report.html."""

from __future__ import annotations

import pytest

from analysis.matrix import cost_matrix
from analysis.report import _html


def _row(structure, platform, energy, latency=1e-3):
    return {"structure": structure, "platform": platform, "energy_pj": energy, "latency_s": latency}


def _summary():
    acc = {"accuracy": 0.99, "correct": 990, "n": 1000, "ci95": [0.98, 0.995]}
    structures = {"nonstructured": {"ratio": 0.9, "compression": 10.0, "status": "matched", "test": acc},
                  "filter": {"ratio": 0.5, "compression": 2.0, "status": "matched", "test": acc},
                  "block": {"ratio": 0.7, "compression": 3.0, "status": "validation only", "test": acc},
                  "column": {"ratio": None, "status": "not matched"}}
    rows = [_row("dense", "a", 100.0), _row("nonstructured", "a", 40.0), _row("filter", "a", 50.0),
            _row("block", "a", 10.0),
            _row("dense", "b", 100.0), _row("nonstructured", "b", 80.0), _row("filter", "b", 78.0),
            _row("block", "b", 90.0),
            _row("dense", "cpu", None, 2e-3), _row("nonstructured", "cpu", None, 3e-3), _row("filter", "cpu", None, 1e-3),
            _row("block", "cpu", None, 1e-3)]
    verdicts = [{"platform": "a", "metric": "energy", "winner": "nonstructured", "tied": ["nonstructured"]},
                {"platform": "b", "metric": "energy", "winner": "filter", "tied": ["filter", "nonstructured"]},
                {"platform": "cpu", "metric": "latency", "winner": "filter", "tied": ["filter"]}]
    return {"structures": structures, "rows": rows, "verdicts": verdicts, "budget": "global",
            "config": {"tie_threshold": 0.05}}


def test_the_matrix_holds_costs_relative_to_dense_and_to_the_best_structured_model():
    m = cost_matrix(_summary())
    assert m.structures == ("dense", "nonstructured", "filter", "block", "column")
    assert m.platforms == ("a", "b", "cpu") and m.metrics["cpu"] == "latency"
    a_ns = m.cells[("nonstructured", "a")]
    assert a_ns.vs_dense == pytest.approx(0.4)
    # the best *matched* structured model is filter (block is validation only, however cheap)
    assert a_ns.vs_best_structured == pytest.approx(40 / 50)
    assert m.cells[("dense", "a")].vs_best_structured is None
    assert m.cells[("filter", "cpu")].vs_dense == pytest.approx(0.5)   # measured latency on the CPU


def test_the_matrix_marks_the_verdicts_winner_ties_and_flags():
    m = cost_matrix(_summary())
    assert [s for s in m.structures if (s, "a") in m.cells and m.cells[(s, "a")].winner] == ["nonstructured"]
    assert not m.cells[("nonstructured", "a")].tied
    b_winners = {s for s in m.structures if (s, "b") in m.cells and m.cells[(s, "b")].winner}
    assert b_winners == {"filter", "nonstructured"} and m.cells[("filter", "b")].tied
    assert m.cells[("block", "a")].flagged and not m.cells[("block", "a")].winner   # cheapest, but flagged
    assert all((("column", p) not in m.cells) for p in m.platforms)                 # no matched ratio: '-'
    assert "validation only" in m.row_labels["block"] and "no ratio" in m.row_labels["column"]
    assert "[98.0, 99.5], n=1000" in m.row_labels["filter"]                           # the interval beside it


def test_the_matrix_figure_is_drawn(tmp_path):
    from analysis.plots import structure_matrix

    path = structure_matrix(cost_matrix(_summary()), tmp_path)
    assert path.name == "structure_matrix.png" and path.stat().st_size > 10_000


def test_the_html_leads_with_the_first_figure(tmp_path):
    (tmp_path / "m.png").write_bytes(b"\x89PNG")
    html = _html("# T\n\nintro\n\n![matrix](m.png)\n\n## Verdict\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                 {"matrix": tmp_path / "m.png"})
    assert html.index("<img") < html.index("<table>") and html.index("<img") < html.index("Verdict")


def test_importing_and_plotting_leave_the_matplotlib_backend_alone(tmp_path):
    """A notebook's backend survives ``import analysis.plots`` and a drawn figure (no pyplot, no matplotlib.use)."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import analysis.plots, analysis.report, analysis.sweep; "
            "from analysis.matrix import cost_matrix; import tests.test_report_layout as t; from pathlib import Path; "
            f"analysis.plots.structure_matrix(cost_matrix(t._summary()), Path({str(tmp_path)!r})); "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "svg"
