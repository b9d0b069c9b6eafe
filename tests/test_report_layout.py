"""The report's first picture: the structure x platform matrix, as data (winner, ties, flags) and as the lead
figure of report.md / report.html."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.matrix import cost_matrix
from analysis.plots import log_ticks
from analysis.matrix import ZERO_MARKS
from analysis.matrix_html import matrix_table
from analysis.report import _html, compression_note, weak_dense_warning, write_report

# a real `compare` summary (digits, nonstructured + filter, eie_like + fpga_small + cpu, both budgets; the CPU
# timed on a loaded machine), written by run_compare with the settings of test_compare_end_to_end_small
SMALL = Path(__file__).parent / "fixtures/compare/summary_small.json"


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


def _verdict_winners(summary: dict) -> dict[str, set[str]]:
    return {v["platform"]: set(v["tied"]) | {v["winner"]} for v in summary["verdicts"]}


def _matrix_winners(m) -> dict[str, set[str]]:
    return {p: {s for s in m.structures if (s, p) in m.cells and m.cells[(s, p)].winner} for p in m.platforms}


@pytest.mark.parametrize("make", [_summary, lambda: json.loads(SMALL.read_text())], ids=["synthetic", "real"])
def test_the_matrix_winners_and_ties_are_the_verdicts(make):
    summary = make()
    m = cost_matrix(summary)
    untrusted = {p for (s, p), c in m.cells.items() if c.untrusted}
    assert _matrix_winners(m) == {p: set() if p in untrusted else w for p, w in _verdict_winners(summary).items()}
    for p, winners in _verdict_winners(summary).items():
        if p in untrusted:
            continue
        assert all(m.cells[(s, p)].tied == (len(winners) > 1) for s in winners)
        dense = next(r for r in summary["rows"] if r["platform"] == p and r["structure"] == "dense")
        key = "energy_pj" if m.metrics[p] == "energy" else "latency_s"
        for r in (r for r in summary["rows"] if r["platform"] == p and (r["structure"], p) in m.cells):
            assert m.cells[(r["structure"], p)].vs_dense == pytest.approx(r[key] / dense[key])


def test_untrusted_cpu_timings_are_marked_in_the_matrix():
    m = cost_matrix(json.loads(SMALL.read_text()))
    cpu = next(p for p in m.platforms if p.startswith("cpu"))
    assert all(c.untrusted for (s, p), c in m.cells.items() if p == cpu)
    assert not any(c.untrusted for (s, p), c in m.cells.items() if p != cpu)
    assert "?: a measured latency" in m.caption
    assert "?:" not in cost_matrix(_summary()).caption


def test_the_report_reads_matrix_verdicts_figures_then_rules_and_tables(tmp_path):
    summary = json.loads(SMALL.read_text())
    write_report(tmp_path, summary, log=lambda s: None)
    md = (tmp_path / "report.md").read_text()
    order = ["](structure_matrix.png)", "## Verdict per platform", "## Figures", "](energy_breakdown.png)",
             "](sim_vs_measured.png)", "## How the comparison was made", "Configs: `configs/compare.json`",
             "## Matched accuracy", "## Results (results.csv)", "## Break-even pruning ratios",
             "## Beside it: uniform ratios", "## Hardware in the loop"]
    at = [md.index(s) for s in order]
    assert at == sorted(at)
    assert md.index("](structure_matrix.png)") < md.index("|")        # no table before the picture
    intro = md[:md.index("![")]
    assert len(intro) < 600 and "Newcombe" not in intro               # the rules come after the figures
    html = (tmp_path / "report.html").read_text()
    first = html.index("<figure id='matrix'")                        # the matrix, drawn as a table, leads
    assert first < html.index("<img") and first < html.index("<table>")
    assert html.index("<caption>Which structure wins where") > first
    assert "structure_matrix" not in html and html.count("<img") == 5   # the PNG is in report.md only
    assert html.rindex("<img") < html.index("<table>")               # every table after every figure
    # each section holding a table is folded; the verdicts are not
    folded = re.findall(r"<details>\n<summary><h2>([^<]*)</h2></summary>", html)
    assert folded == ["Matched accuracy", "Results (results.csv)",
                      "Break-even pruning ratios of non-structured sparsity", "Beside it: uniform ratios",
                      "Hardware in the loop (eie_like)"]
    assert html.count("<table>") == md.count("\n\n|") and "<ul>\n<li>On eie_like" in html


@given(st.floats(1e-6, 1e6), st.floats(1.02, 1e6))
def test_log_ticks_are_few_plain_and_inside_the_range(lo, span):
    hi = lo * span
    ticks = log_ticks(lo, hi)
    assert 2 <= len(ticks) <= 7
    assert ticks == sorted(ticks) and all(lo <= t <= hi for t in ticks)


def test_untrusted_timings_are_shown_but_never_boxed_as_a_winner(tmp_path):
    """Issue 25, finding 4: a boxed '0.76*?' on a loaded CPU; the values stay, the box goes, the mark is explained."""
    m = cost_matrix(json.loads(SMALL.read_text()))
    cpu = next(p for p in m.platforms if p.startswith("cpu"))
    assert not any(c.winner for (s, p), c in m.cells.items() if p == cpu)
    assert any(c.winner for (s, p), c in m.cells.items() if p != cpu)
    table = matrix_table(m)
    cells = re.findall(r"<td class='(\w+)'[^>]*>([^<]*)<", table)
    assert any(cls == "untrusted" and text.endswith("?") for cls, text in cells)
    assert not any(text.endswith("?*") or text.endswith("*?") for _, text in cells)
    assert "untrusted timings:<br>no winner" in table and "no winner is declared there" in table


def _two_platforms():
    """Platform tiny: every ratio tiny (0.01-0.04, as scnn_like); platform big: ratios near 1."""
    s = _summary()
    s["rows"] = [_row("dense", "tiny", 100.0), _row("nonstructured", "tiny", 1.0), _row("filter", "tiny", 4.0),
                 _row("dense", "big", 100.0), _row("nonstructured", "big", 80.0), _row("filter", "big", 90.0)]
    s["rows"][0]["zero_handling"], s["rows"][3]["zero_handling"] = "skips", "gates"
    s["structures"] = {k: v for k, v in s["structures"].items() if k in ("nonstructured", "filter")}
    s["verdicts"] = [{"platform": "tiny", "metric": "energy", "winner": "nonstructured", "tied": []},
                     {"platform": "big", "metric": "energy", "winner": "nonstructured", "tied": []}]
    return s


def test_the_html_matrix_colours_each_column_against_its_own_dense_and_marks_zero_skipping():
    """Issue 25, finding 3: one colour scale saturated by scnn_like flattened the others; nothing marked which
    engines skip zeros."""
    m = cost_matrix(_two_platforms())
    assert m.zeros == {"tiny": "skips", "big": "gates"}
    table = matrix_table(m)
    colours = dict(re.findall(r"<td class='\w+' style='background:(#[0-9a-f]{6})[^>]*>([^<]*)<", table)[i][::-1]
                   for i in range(6))
    # each column's cheapest model gets the column's full green, however far apart the two columns' ratios are
    assert colours["0.01*"] == colours["0.8*"] != "#ffffff" and colours["1"] == "#ffffff"
    heads = re.findall(r"<th class='plat'[^>]*>([^<]*)<", table)
    assert heads == [f"tiny {ZERO_MARKS['skips'][0]}", f"big {ZERO_MARKS['gates'][0]}"]
    legend = html.unescape(table.split("<figcaption>")[1])                       # the legend says what each means
    assert ZERO_MARKS["skips"][1] in legend and ZERO_MARKS["gates"][1] in legend


def test_the_report_html_draws_the_matrix_as_a_table(tmp_path):
    write_report(tmp_path, json.loads(SMALL.read_text()), log=lambda s: None)
    html = (tmp_path / "report.html").read_text()
    assert "<table class='matrix'>" in html and "](structure_matrix.png)" in (tmp_path / "report.md").read_text()


def test_a_dense_reference_weaker_than_the_pruned_models_is_warned_about(tmp_path):
    """Issue 25, finding 5: an undertrained dense model makes every pruned model 'matched'."""
    s = json.loads(SMALL.read_text())
    assert weak_dense_warning(s) is None
    s["baseline_val"] = {**s["baseline_val"], "accuracy": 0.95}   # both pruned models (99.30%, 96.50%) beat it
    text = weak_dense_warning(s)
    assert "dense scores 95.00% and non-structured 99.30% (+4.30 pp), filter 96.50% (+1.50 pp)" in text
    assert "2 of 2 models beat it" in text and "vacuous" in text
    s["config"] = {**s["config"], "tolerance_pp": 2.0}
    assert "non-structured beats it by more than the 2.0 pp tolerance" in weak_dense_warning(s)
    s["structures"]["filter"]["val"] = {**s["structures"]["filter"]["val"], "accuracy": 0.9}
    assert weak_dense_warning(s) is not None                   # one far above is enough
    s["structures"]["nonstructured"]["val"] = {**s["structures"]["nonstructured"]["val"], "accuracy": 0.96}
    assert weak_dense_warning(s) is None                       # 1 of 2 above, by 1 pp < 2 pp: no warning
    s["config"] = {**s["config"], "tolerance_pp": 0.5}
    logged = []
    write_report(tmp_path, s, log=logged.append)
    assert "looks weaker" in (tmp_path / "report.md").read_text().split("![")[0]    # before the first figure
    assert "looks weaker" in (tmp_path / "report.html").read_text()
    assert any("looks weaker" in line for line in logged)


def test_no_empty_sim_vs_measured_figure_without_a_cpu_run(tmp_path):
    """Issue 25, finding 7: with --no-cpu an empty sim_vs_measured.png was embedded."""
    s = json.loads(SMALL.read_text())
    s["rows"] = [r for r in s["rows"] if r["kind"] not in ("cpu", "gpu")]
    s["verdicts"] = [v for v in s["verdicts"] if v["kind"] not in ("cpu", "gpu")]
    write_report(tmp_path, s, log=lambda s: None)
    md = (tmp_path / "report.md").read_text()
    assert "sim_vs_measured" not in md and "no simulated-vs-measured figure" in md
    assert "Simulated vs measured" not in (tmp_path / "report.html").read_text()


@pytest.fixture
def drawn(monkeypatch):
    """The figures each plot function saves, by file name (``_save`` still writes them)."""
    import analysis.plots as plots

    figs, save = {}, plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, *a: (figs.__setitem__(path.name, fig), save(fig, path, *a))[1])
    return figs


def test_untrusted_cpu_timings_do_not_set_the_speed_up_axes(tmp_path, drawn):
    """Issue 25, finding 7: untrusted CPU points (up to 4,000x) set the speed-up axis."""
    from analysis.plots import breakeven, sim_vs_measured

    s = json.loads(SMALL.read_text())
    for m in s["breakeven"]["cpu_sweep"]:
        m["timing_trusted"] = False
    s["breakeven"]["cpu_sweep"][-1]["csr_speedup"] = 4000.0
    breakeven(s["breakeven"], tmp_path)
    lo, hi = drawn["speedup_vs_ratio.png"].axes[1].get_ylim()
    assert hi < 100 and "beyond the axis drawn at its edge" in drawn["speedup_vs_ratio.png"]._suptitle.get_text().replace("\n", " ")
    rows = s["rows"]
    cpu = [r for r in rows if r["kind"] == "cpu" and r["structure"] != "dense"]
    cpu[0]["speedup_vs_dense"], cpu[0]["timing_trusted"] = 4000.0, False
    sim_vs_measured(rows, tmp_path)
    assert drawn["sim_vs_measured.png"].axes[0].get_xlim()[1] < 100


def test_a_failed_probe_does_not_set_the_accuracy_axis(tmp_path, drawn):
    """Issue 25, finding 7: one failed probe (22%) set the accuracy axis of the Pareto figure."""
    from analysis.plots import accuracy_floor_pct, pareto

    pts = json.loads(SMALL.read_text())["pareto"]   # two probes failed there: filter 0.75 (20%), non-str. 0.99 (21%)
    floor = accuracy_floor_pct(pts, 0.5)
    assert floor > 90
    pareto(pts, tmp_path, 0.5)
    fig = drawn["pareto.png"]
    assert all(ax.get_ylim()[0] > 90 for ax in fig.axes if ax.get_title())
    assert "2 probe(s) below" in fig._suptitle.get_text().replace("\n", " ")


def test_colours_mean_one_thing_across_adjacent_figures():
    """Issue 25, finding 7: 'index' was red in storage and green in energy; platforms took structures' blues."""
    from analysis.plots import COLORS, ENERGY_PARTS, PLATFORM_PALETTE, STORAGE_PARTS, platform_colors

    meaning: dict[str, set] = {}
    for _, name, colour in ENERGY_PARTS + STORAGE_PARTS:
        meaning.setdefault(colour, set()).add(name)
    assert all(len(names) == 1 for names in meaning.values()), meaning
    assert not set(PLATFORM_PALETTE) & set(COLORS.values())
    assert platform_colors(["a", "b", "a"]) == {"a": PLATFORM_PALETTE[0], "b": PLATFORM_PALETTE[1]}


def test_the_compression_headline_is_explained_by_the_stored_bits():
    """Issue 25, finding 7: a '33.3x' beside a model that stores 1.4x fewer bits than dense on a platform."""
    s = json.loads(SMALL.read_text())
    sim = [r for r in s["rows"] if r["kind"] not in ("cpu", "gpu")]
    dense = {r["platform"]: r["storage_bits"] for r in sim if r["structure"] == "dense"}
    ns = {r["platform"]: dense[r["platform"]] / r["storage_bits"] for r in sim if r["structure"] == "nonstructured"}
    note = compression_note(s)
    lo, hi = min(ns, key=ns.get), max(ns, key=ns.get)
    assert (f"non-structured {s['structures']['nonstructured']['compression']:.3g}x in weights, "
            f"{ns[lo]:.3g}x ({lo}) to {ns[hi]:.3g}x ({hi}) in stored bits") in note
    assert note.startswith("Compression counts weights (all / nonzero)")


def test_breakdowns_name_the_index_share_and_mark_validation_only_models(tmp_path, drawn):
    """Issue 25, finding 7: the index energy segment was never visible; validation-only models were marked only
    in the matrix."""
    from analysis.plots import energy_breakdown

    s = json.loads(SMALL.read_text())
    rows = [dict(r) for r in s["rows"]]
    for r in rows:
        if r["structure"] == "filter":
            r["accuracy_status"] = "validation only"
    energy_breakdown(rows, tmp_path)
    fig = drawn["energy_breakdown.png"]
    eie = next(ax for ax in fig.axes if ax.get_title() == "eie_like")
    ns = next(r for r in rows if r["platform"] == "eie_like" and r["structure"] == "nonstructured")
    share = ns["energy_index_pj"] / sum(ns.get(k) or 0 for k in ("energy_dram_pj", "energy_sram_pj", "energy_rf_pj",
                                                                  "energy_mac_pj", "energy_index_pj",
                                                                  "energy_clock_pj"))
    assert share > 0 and any(t.get_text() in (f"idx {share:.0%}", "idx <1%") for t in eie.texts)
    assert "filter (val. only)" in [t.get_text() for t in eie.get_xticklabels()]
    assert "matched on validation only" in fig._suptitle.get_text().replace("\n", " ")
