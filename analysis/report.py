"""report.md and a self-contained report.html (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from fileguard import atomic_write_text

from . import plots
from .matrix import cost_matrix
from .matrix_html import matrix_table
from .stats import Accuracy, Resolution
from .markdown import fmt as _fmt
from .markdown import md_table as _md_table
from .report_rules import cost_rule_section, every_rule_section
from .verdict import label


def _acc(d: dict | None) -> str:
    """An accuracy dict of the summary as '98.61% [97.1, 99.3], n=143'."""
    return "-" if d is None else Accuracy.from_dict(d).text()


def _pp(v) -> str:
    """A loss in percentage points with its sign (positive = worse than dense), '-' when unknown."""
    return "-" if v is None else f"{v:+.2f}"


def _ratio(r: dict) -> str:
    """A structure's matched ratio with its compression, e.g. 'filter 0.925 (11.9x)': which belongs to which."""
    comp = f" ({r['compression']:.1f}x)" if r.get("compression") else ""
    return f"{r['ratio']:.3g}{comp}"


def _status(r: dict) -> str:
    if r.get("test_over_tolerance"):
        return f"matched (flag: test loss {_pp(r['test_loss_pp'])} pp, over the tolerance)"
    return r["status"]


LOSS_NOTE = ("Loss = dense accuracy minus the model's, in percentage points (pp); positive = worse than dense (the "
             "same sign in results.csv's `val_loss_pp`/`test_loss_pp` and in summary.json).")


RESOLUTION_RULE = ("(A set resolves the tolerance when one image is worth less than a fifth of it and the paired test "
                   "can pass a model at all: Tango's one-sided 95% bound with no image changed is within it.)")
VERDICT_NOTE = ("Candidates are dense and the matched structures. *Why* compares non-structured with the best "
                "structured model on energy: the cost ratio of the dearer to the cheaper is split exactly into work "
                "x DRAM energy per useful MAC x on-chip energy per useful MAC, and the largest factor in the winner's "
                "favour is named (summary.json holds every factor, cycles split too). Work is useful MACs: kept "
                "weights x output pixels x input-activation density, so it need not follow the pruning ratio. "
                "A *Flag* marks a model whose test loss exceeds the tolerance: reported, not a gate.")
BREAKEVEN_NOTE = ("Ratio above which non-structured sparsity (magnitude masks on the dense weights, all layers) costs "
                  "less than dense (storage: plain dense bits; energy and cycles: the dense model on the platform's "
                  "dense counterpart, same PEs, memories and clock) and less than the best matched structured model; "
                  "`-` = not within 0.99. The non-structured matched ratio says whether that ratio is reachable "
                  "within the tolerance.")
COST_NOTE = ("Costs follow each preset's memory convention (native unless the YAML says otherwise). Each platform's "
             "cycles, traffic and energy are either reproduced by a reference on this very path (the table below, "
             "docs/validation.md) or model assumptions, marked `unvalidated` here, in the verdicts and in "
             "results.csv (`*_validated_by`, `unvalidated`).")


CONFIGS_LINE = "Configs: `configs/compare.json`; per-run pruning configs in each `runs/*/manifest.json`."


def priced_bits(summary: dict) -> str:
    """The weight widths the priced rows carry (each artifact's own, ``results.csv`` ``weight_bits`` and
    ``weight_bits_mixed``), never the config's ``bits`` re-read: ``"8-bit"``; ``"mixed 4..8-bit"``; where the
    models differ, each named (``"dense 32-bit, filter 8-bit"``).  The config's width where no row was priced."""
    held: dict[str, str] = {}
    for r in summary.get("rows", []):
        if r.get("kind") not in ("cpu", "gpu") and r.get("weight_bits") is not None:
            mixed = r.get("weight_bits_mixed") or ""
            held.setdefault(r["structure"], f"mixed {mixed}-bit" if mixed else f"{r['weight_bits']}-bit")
    if not held:
        return f"{summary['config']['bits']}-bit"
    if len(set(held.values())) == 1:
        return next(iter(held.values()))
    return ", ".join(f"{label(s)} {b}" for s, b in held.items())


def _intro(summary: dict) -> list[str]:
    """Title and one short paragraph: what was compared, how matched, how many images decide."""
    cfg, res = summary["config"], summary["resolution"]
    resolved = "resolves" if res["validation"].get("resolved") else "does NOT resolve"
    plats = len(summary["verdicts"])
    return [f"# Sparsity structures compared: {cfg['model']} on {cfg['dataset']}", "",
            f"{priced_bits(summary)} weights, {summary.get('budget', 'uniform')} budget, {plats} platforms. Each "
            f"structure is pruned to the highest ratio that is non-inferior to dense at {cfg['tolerance_pp']} pp on "
            f"{res['validation']['n']} validation images (a paired per-image test; the set {resolved} the tolerance); "
            f"{res['test']['n']} test images are reported, not a gate; costs within {cfg['tie_threshold']:.0%} tie. "
            "The rules, the matched models and every table follow the figures."]


def weak_dense_warning(summary: dict) -> str | None:
    """Issue 25, finding 5: when a pruned model beats dense on validation by more than the tolerance, or most
    matched models beat it at all, the dense reference is weak and "matched accuracy" says little; None otherwise."""
    tol, base = summary["config"]["tolerance_pp"], summary["baseline_val"]["accuracy"]
    found = {s: r for s, r in summary["structures"].items() if r.get("ratio") is not None and r.get("val")}
    above = {s: 100 * (r["val"]["accuracy"] - base) for s, r in found.items() if r["val"]["accuracy"] > base}
    far = [s for s, pp in above.items() if pp > tol]
    if not found or not (far or len(above) > len(found) / 2):
        return None
    beats = ", ".join(f"{label(s)} {100 * found[s]['val']['accuracy']:.2f}% ({pp:+.2f} pp)" for s, pp in above.items())
    why = (f"{', '.join(label(s) for s in far)} beat{'s' if len(far) == 1 else ''} it by more than the {tol} pp "
           "tolerance" if far else f"{len(above)} of {len(found)} models beat it")
    return (f"**Warning: the dense reference looks weaker than the pruned models.** On validation, dense scores "
            f"{100 * base:.2f}% and {beats}: {why}. \"Matched accuracy\" (within {tol} pp of dense) is then "
            "vacuous: a pruned model only has to match an undertrained model. Train dense longer "
            "(`pretrain_epochs`) before reading the verdicts.")


def _rules(summary: dict) -> list[str]:
    cfg, res = summary["config"], summary["resolution"]
    tol = cfg["tolerance_pp"]
    runs_s = summary.get("runs_s")
    spent = (f"; the pruning runs took {runs_s:.0f} s in all (cached ones included; this invocation "
             f"{summary.get('wall_s', 0):.0f} s wall)" if runs_s else f"; wall time {summary.get('wall_s', 0):.0f} s")
    intro = (f"Weights {priced_bits(summary)} (as the priced artifacts hold them); batch {cfg['batch']}{spent}. "
             f"A structure is **matched** at the highest ratio the search found that is non-inferior to dense "
             f"({_acc(summary['baseline_val'])}) at {tol} percentage points (pp) on validation: the one-sided 95% "
             "upper bound of its paired loss (Tango's score bound from the images dense gets right and it gets "
             f"wrong, and the reverse) is at most {tol} pp. Test ({_acc(summary['baseline_test'])}) is reported with "
             f"the paired 95% interval of each loss, never a gate; a test loss over {tol} pp is flagged. Costs "
             f"closer than {cfg['tie_threshold']:.0%} "
             "(relative) tie. Accuracies are shown with their 95% Wilson interval and the number of images n. "
             + LOSS_NOTE)
    calibration = (f"Input-activation density measured on {cfg['calibrate_images']} validation images "
                   "(zero-skipping engines use it)." if cfg.get("calibrate_images")
                   else "Input activations taken as dense (no calibration).")
    return ["## How the comparison was made", "", intro, "",
            Resolution.from_dict(res["validation"]).sentence("validation"),
            Resolution.from_dict(res["test"]).sentence("test"), RESOLUTION_RULE, "", calibration, COST_NOTE,
            ""] + _validation_table(summary["rows"])


def _validation_table(rows: list[dict]) -> list[str]:
    """Per simulated platform, the reference that reproduces its cycles, traffic and energy (or unvalidated)."""
    seen = {}
    for r in rows:
        if r.get("energy_validated_by") and r["platform"] not in seen:
            seen[r["platform"]] = [r["platform"]] + [r[f"{q}_validated_by"] for q in ("cycles", "traffic", "energy")]
    if not seen:
        return []
    return [_md_table(["platform", "cycles validated by", "traffic validated by", "energy validated by"],
                      list(seen.values())),
            "", "(`... only`: the reference covers that part of the quantity; the rest is a model assumption.)"]


def matched_line(structures: dict) -> str:
    """'Matched ratios (compression): non-structured 0.97 (33.3x), filter 0.925 (11.9x), ...' (none: said so)."""
    found = [f"{label(s)} {_ratio(r)}" for s, r in structures.items() if r.get("ratio") is not None]
    missing = [label(s) for s, r in structures.items() if r.get("ratio") is None]
    text = "Matched ratios (compression): " + (", ".join(found) if found else "none")
    return text + (f"; no ratio within the tolerance: {', '.join(missing)}" if missing else "") + "."


def compression_note(summary: dict) -> str | None:
    """The matched line's 'Nx' explained by its parts: compression counts weights (all / nonzero); the bits each
    platform stores add its format's index, padding and pointers, so per structure the range of dense's stored
    bits / the model's over the simulated platforms (None: no simulated storage)."""
    sim = [r for r in summary["rows"] if r.get("kind") not in ("cpu", "gpu") and r.get("storage_bits")]
    dense = {r["platform"]: r["storage_bits"] for r in sim if r["structure"] == "dense"}
    parts = []
    for s, info in summary["structures"].items():
        vs = {r["platform"]: dense[r["platform"]] / r["storage_bits"] for r in sim
              if r["structure"] == s and r["platform"] in dense}
        if not vs or not info.get("compression"):
            continue
        lo, hi = min(vs, key=vs.get), max(vs, key=vs.get)
        span = (f"{vs[lo]:.3g}x ({lo})" if lo == hi or f"{vs[lo]:.3g}" == f"{vs[hi]:.3g}"
                else f"{vs[lo]:.3g}x ({lo}) to {vs[hi]:.3g}x ({hi})")
        parts.append(f"{label(s)} {info['compression']:.3g}x in weights, {span} in stored bits")
    if not parts:
        return None
    return ("Compression counts weights (all / nonzero); the bits a platform stores add its format's index, "
            "padding and pointers, so against the dense model's stored bits on the same platform: "
            + "; ".join(parts) + ".")


def _verdicts(summary: dict) -> list[str]:
    note = compression_note(summary)
    return ["## Verdict per platform", "", matched_line(summary["structures"])
            + (" " + note if note else ""), ""] + \
        [f"- {v['text']}" for v in summary["verdicts"]] + ["", VERDICT_NOTE] + _across(summary)


def _across(summary: dict) -> list[str]:
    """Where the other budget's search found a cheaper matched model than the deciding budget's winner."""
    rows = summary.get("across_budgets") or []
    better = [r for r in rows if r["cheapest_budget"] != r["deciding_budget"] and not r["tie"]]
    if not rows:
        return []
    if not better:
        return ["", f"**Across the budget rules**: on every platform the {rows[0]['deciding_budget']}-budget winner "
                    "is also the cheapest matched model (or ties it)."]
    lines = [f"- {r['platform']}: {label(r['cheapest_structure'])} {r['cheapest_ratio']:.3g} "
             f"({r['cheapest_compression']:.1f}x) from the {r['cheapest_budget']} search costs "
             f"{r['cheapest_energy_pj'] / 1e6:.3g} uJ, {r['factor']:.2f}x less than the {r['deciding_budget']} "
             f"winner ({label(r['deciding_winner'])}, {r['deciding_energy_pj'] / 1e6:.3g} uJ)" for r in better]
    return ["", f"**Across the budget rules, a cheaper matched model** on {len(better)} of {len(rows)} simulated "
                f"platforms: the {rows[0]['deciding_budget']} rule does not count the cost each layer has on the "
                "platform, so another rule's search can find a cheaper model (summary.json `across_budgets`):",
            ""] + lines


BUDGET_TEXT = {
    "global": "**Budget: global.** Each structure's ratio is one whole-network budget: the fraction of all pooled "
              "weights pruned, shared out across layers by the exact ADMM projection onto the whole-network set "
              "(ECCV'18; docs/config.md), so each layer gets its own ratio (table below).",
    "uniform": "**Budget: uniform.** Each structure's ratio is applied to every layer alike (groups pruned per layer).",
    "cost": "**Budget: cost.** The verdicts on simulated platforms come from each platform's cost-aware search "
            "(section *Cost-aware searches*); the tables below are the global search's, whose models the CPU, "
            "break-even curves and hardware in the loop use.",
}


def _matched_table(structures: dict, summary: dict) -> str:
    body = [["dense", 0.0, 1.0, _acc(summary["baseline_val"]), _pp(0.0), _acc(summary["baseline_test"]), _pp(0.0),
             "reference"]]
    for s, r in structures.items():
        ci = r.get("test_loss_ci95_pp")
        body.append([s, r["ratio"], r.get("compression"), _acc(r["val"]), _pp(r.get("val_loss_pp")), _acc(r["test"]),
                     _pp(r.get("test_loss_pp")) + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""),
                     _status(r) if r["ratio"] is not None else "no ratio within the tolerance"])
    return _md_table(["structure", "matched ratio", "compression", "validation accuracy", "validation loss (pp)",
                      "test accuracy", "test loss (pp) [paired 95%]", "status"], body)


def _layer_ratios(structures: dict) -> str:
    chosen = {s: r["layer_ratios"] for s, r in structures.items() if r.get("layer_ratios")}
    if not chosen:
        return ""
    layers = list(next(iter(chosen.values())))
    return _md_table(["structure", *layers], [[s, *(f"{lr[layer]:.3f}" for layer in layers)]
                                             for s, lr in chosen.items()])


def _matched(summary: dict) -> list[str]:
    base = summary["baseline_val"]["accuracy"]
    probes = [[s, f"{p['ratio']:.4f}", _acc(p["val"]), _pp(p.get("val_loss_pp", (base - p["val"]["accuracy"]) * 100)),
               _pp(p.get("val_loss_upper95_pp")), "yes" if p["within"] else "no"]
              for s, r in summary["structures"].items() for p in r["points"]]
    return ["## Matched accuracy", "", BUDGET_TEXT[summary.get("budget", "uniform")], "",
            _matched_table(summary["structures"], summary), "",
            "Per-layer pruning ratios of the matched models (groups pruned in each layer):", "",
            _layer_ratios(summary["structures"]), "",
            "### Search probes (every ADMM run of the matched-ratio search)", "",
            _md_table(["structure", "ratio", "validation accuracy", "validation loss (pp)", "upper 95% bound (pp)",
                       "non-inferior"], probes)]


def _beside(summary: dict, other: dict) -> list[str]:
    """The other budget's result next to the deciding one: matched models, verdicts, compression side by side."""
    main, alt = summary["structures"], other["structures"]
    def at(r: dict) -> str:
        return "-" if r.get("ratio") is None else _ratio(r)

    both = [[s, at(main[s]), at(alt[s]), main[s]["status"], alt[s]["status"]] for s in main if s in alt]
    shared = [label(s) for s, r in alt.items() if r.get("shared_with")]
    once = ([f"Searched once for both budgets (the same runs: a fixed pattern, or a structure that fits one layer "
             f"only): {', '.join(shared)}.", ""] if shared else [])
    return [f"## Beside it: {other['budget']} ratios", "", BUDGET_TEXT[other["budget"]], "", *once,
            _md_table(["structure", f"ratio (compression), {summary['budget']}",
                       f"ratio (compression), {other['budget']}",
                       f"status ({summary['budget']})", f"status ({other['budget']})"], both), "",
            _matched_table(alt, summary), "", _layer_ratios(alt), "",
            f"Verdicts with {other['budget']} ratios (simulated platforms):", ""] + \
        [f"- {v['text']}" for v in other["verdicts"]]


def _latency_cell(r: dict):
    """Latency in us; a measured one with its IQR relative to the median, and 'UNTRUSTED' when flagged."""
    if not r.get("latency_s"):
        return None
    us = r["latency_s"] * 1e6
    if r.get("latency_iqr_rel") is None:
        return us
    return f"{us:.3g} (IQR {r['latency_iqr_rel']:.0%}{'' if r.get('timing_trusted') else ', UNTRUSTED'})"


def _untrusted_note(rows: list[dict]) -> list[str]:
    bad = [r for r in rows if r.get("timing_trusted") is False]
    if not bad:
        return []
    return ["", f"**UNTRUSTED measured latency** ({len(bad)} row(s); loaded machine or dispersed runs, see "
            "docs/results.md): " + "; ".join(f"{r['structure']} on {r['platform']}: {r.get('timing_note')}"
                                            for r in bad) + ". Rerun on a quiet machine before relying on them."]


def _results(rows: list[dict], structures: dict) -> list[str]:
    flagged = {s for s, r in structures.items() if r.get("test_over_tolerance")}
    body = [[r["structure"] + (" (flag: test)" if r["structure"] in flagged else ""), r["platform"], r["ratio"],
             r["compression"], None if r.get("energy_pj") is None else r["energy_pj"] / 1e6,
             _latency_cell(r), r.get("energy_vs_dense"), r.get("speedup_vs_dense")]
            for r in rows]
    note = ("Accuracies of these models: the matched-accuracy table above (results.csv repeats them with n and the "
            "95% interval). Measured latencies carry their interquartile range relative to the median (results.csv: "
            "quartiles, threads, trusted flag).")
    return ["## Results (results.csv)", "", note, "",
            _md_table(["structure", "platform", "ratio", "compression", "energy (uJ)", "latency (us)",
                       "energy / dense", "speedup vs dense"], body)] + _untrusted_note(rows)


def _breakeven(summary: dict) -> list[str]:
    md = ["## Break-even pruning ratios of non-structured sparsity", "", BREAKEVEN_NOTE, ""]
    if summary["breakeven"].get("cpu_sweep"):
        be = summary["breakeven"].get("cpu_breakeven")
        layer = summary["breakeven"]["cpu_sweep"][0]["layer"]
        at = "not reached" if be is None else f"{be:.2f}"
        bad = [r for r in summary["breakeven"]["cpu_sweep"] if r.get("timing_trusted") is False]
        flag = (f" **UNTRUSTED**: {len(bad)} of {len(summary['breakeven']['cpu_sweep'])} ratios timed on a loaded "
                f"machine or with dispersed runs ({bad[0].get('timing_note')})." if bad else "")
        md += [f"Measured on this CPU (largest layer, {layer}, CSR vs dense): break-even ratio {at}.{flag}", ""]
    for bits, data in summary["breakeven"]["bits"].items():
        body = [[bits, plat, e.get("storage_bits_vs_dense"), e.get("energy_pj_vs_dense"), e.get("cycles_vs_dense"),
                 e.get("energy_pj_vs_structured"), e.get("best_structured_energy_pj"),
                 e.get("nonstructured_matched_ratio")] for plat, e in data["breakeven"].items()]
        md.append(_md_table(["bits", "platform", "storage vs dense", "energy vs dense", "cycles vs dense",
                             "energy vs best structured", "best structured", "non-structured matched ratio"], body))
        md.append("")   # one table per bit width
    return md[:-1]


def _hil(hil: dict, summary: dict) -> list[str]:
    tol = summary["config"]["tolerance_pp"]
    ratios = {s: _ratio(r) for s, r in summary["structures"].items() if r.get("ratio") is not None}
    how = (f"Per layer, the matched structure whose model spends the least simulated energy in that layer on "
           f"{hil['preset']}; the mix is then pruned with each layer's ratio = scale x its structure's matched ratio "
           "(N:M layers keep their pattern, layers a structure cannot prune stay dense). The scale starts at 1 and "
           f"is bisected downward, at most {hil['max_probes']} ADMM runs, until the mix is non-inferior to dense at "
           f"{tol} pp on validation (the paired test); only such a mix is reported.")
    trail = [[f"{t['scale']:.4f}", ", ".join(f"{k} {v}" for k, v in t["layers"].items()), _acc(t["val"]),
              _pp(t.get("val_loss_pp")), _pp(t.get("val_loss_upper95_pp")), "yes" if t["within"] else "no"]
             for t in hil["trail"]]
    md = [f"## Hardware in the loop ({hil['preset']})", "", how, "",
          _md_table(["layer", "structure", "its matched ratio, whole network (compression)"],
                    [[k, v, ratios.get(v)] for k, v in hil["per_layer"].items()]), "",
          _md_table(["scale", "per-layer ratios", "validation accuracy", "validation loss (pp)",
                     "upper 95% bound (pp)", "non-inferior"], trail), ""]
    single = f"best single structure {hil['best_single']}: {hil['best_single_energy_pj'] / 1e6:.3f} uJ"
    c = hil["chosen"]
    if c is None:
        none = (f"**No mix within tolerance** in {len(hil['trail'])} ADMM runs, so no mix is reported; the best "
                f"single structure stays {hil['best_single']} ({hil['best_single_energy_pj'] / 1e6:.3f} uJ).")
        return [*md, none]
    flag = f" (flag: test loss {_pp(c['test_loss_pp'])} pp, over the tolerance)" if c.get("test_over_tolerance") else ""
    return md + [f"Mix at scale {c['scale']:.4f}: {c['energy_pj'] / 1e6:.3f} uJ, validation accuracy "
                 f"{_acc(c['val'])}, test accuracy {_acc(c['test'])}{flag}; {single}. " + _mix_vs_single(hil)]


def _mix_vs_single(hil: dict) -> str:
    c, best = hil["chosen"], hil["best_single"]
    rel = c["energy_pj"] / hil["best_single_energy_pj"]
    if rel <= 1:
        return f"The mix costs {rel:.2f}x the best single structure."
    why = (f"it keeps only {c['scale']:.3g} of the matched ratios to stay within the tolerance" if c["scale"] < 1
           else "a layer's cost depends on how its neighbours are pruned, so per-layer choices need not add up")
    return f"The mix costs {rel:.2f}x the best single structure ({why}): prefer {best} on {hil['preset']}."


def write_report(out: Path, summary: dict, log=print) -> None:
    """report.md and report.html: the structure x platform matrix first, then the verdicts, the other figures, and
    the rules and long tables last (results.csv holds every number)."""
    rows, matrix = summary["rows"], cost_matrix(summary)
    figs = {
        "matrix": plots.structure_matrix(matrix, out),
        "energy": plots.energy_breakdown(rows, out),
        "storage": plots.storage(rows, out),
        "breakeven": plots.breakeven(summary["breakeven"], out, bits=summary["config"].get("bits")),
        "pareto": plots.pareto(summary["pareto"], out, summary["config"].get("tolerance_pp", 1.0)),
    }
    if any(r["kind"] == "cpu" and r.get("speedup_vs_dense") for r in rows):   # --no-cpu: no empty axes embedded
        figs["simmeas"] = plots.sim_vs_measured(rows, out)
    captions = {"matrix": "Which structure wins where: cost relative to dense and to the best structured model",
                "energy": "Energy breakdown", "storage": "Storage with index and padding overhead",
                "breakeven": "Speedup vs pruning ratio, break-even marked", "pareto": "Accuracy vs energy",
                "simmeas": "Simulated vs measured CPU speedup"}
    image = {k: f"![{captions[k]}]({p.name})" for k, p in figs.items()}
    weak = weak_dense_warning(summary)
    md = _intro(summary) + (["", weak] if weak else []) + ["", image["matrix"], ""] + _verdicts(summary) + \
        [""] + every_rule_section(summary) + ["", "## Figures", ""]
    md += [image[k] for k in figs if k != "matrix"]
    if "simmeas" not in figs:
        md += ["", "(No measured CPU latency in this run, so no simulated-vs-measured figure.)"]
    md += [""] + _rules(summary) + ["", CONFIGS_LINE, ""] + _matched(summary) + [""] + \
        _results(rows, summary["structures"]) + [""] + _breakeven(summary)
    for other in summary.get("beside", []):
        md += [""] + _beside(summary, other)
    md += [""] + cost_rule_section(summary)
    if summary.get("hil"):
        md += [""] + _hil(summary["hil"], summary)
    text = "\n".join(md) + "\n"
    atomic_write_text(out / "report.md", text)
    atomic_write_text(out / "report.html", _html(text, figs, {"matrix": matrix_table(matrix)}))
    if weak:
        log("[report] " + weak.replace("**", "").replace("`", ""))
    log(f"[report] {out / 'report.md'}")


def _inline(text: str) -> str:
    """Escaped text with **bold**, *italic* and `code` turned into tags."""
    t = html.escape(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"(?<![\w*])\*(\S.*?)\*(?![\w*])", r"<em>\1</em>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def _html(md: str, figs: dict, tables: dict | None = None) -> str:
    """Minimal markdown -> HTML (headings, lists, tables, images inlined as data URIs; a figure named in ``tables``
    is replaced by that HTML, drawn at the page's own resolution)."""
    tables = tables or {}
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [_inline(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
            else:
                out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("!["):
            name = line[line.index("(") + 1 : -1]
            key = next(k for k, p in figs.items() if p.name == name)
            if key in tables:
                out.append(tables[key])
                continue
            data = base64.b64encode((Path(figs[next(k for k, p in figs.items() if p.name == name)])).read_bytes())
            out.append(f'<figure><img src="data:image/png;base64,{data.decode()}" style="max-width:100%">'
                       f"<figcaption>{html.escape(line[2:line.index(']')])}</figcaption></figure>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            out.append(f"<li>{_inline(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    style = ("body{font-family:sans-serif;max-width:1240px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
             "details{margin:1em 0}summary h2{display:inline}summary{cursor:pointer}"
             "table.matrix{font-size:14px;width:max-content}table.matrix td{text-align:center;min-width:4em}"
             "table.matrix th.row{text-align:left;font-weight:normal;white-space:nowrap}"
             "table.matrix caption{font-weight:bold;text-align:left}figcaption{font-size:13px}")
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>" + \
        "\n".join(_fold_tables(_lists(out))) + "</body></html>\n"


def _lists(lines: list[str]) -> list[str]:
    """Runs of <li> wrapped in <ul>."""
    out = []
    for i, line in enumerate(lines):
        is_item = line.startswith("<li>")
        if is_item and (i == 0 or not lines[i - 1].startswith("<li>")):
            out.append("<ul>")
        out.append(line)
        if is_item and (i + 1 == len(lines) or not lines[i + 1].startswith("<li>")):
            out.append("</ul>")
    return out


def _fold_tables(lines: list[str]) -> list[str]:
    """Each <h2> section that holds a table becomes a closed <details> with the heading as its summary, so the
    page reads matrix, verdicts, figures and rules first and opens a long table on a click."""
    sections, current = [], []
    for line in lines:
        if line.startswith(("<h1>", "<h2>")):
            sections.append(current)
            current = []
        current.append(line)
    sections.append(current)
    out = []
    for sec in sections:
        if sec and sec[0].startswith("<h2>") and "<table>" in sec:
            out += ["<details>", f"<summary>{sec[0]}</summary>", *sec[1:], "</details>"]
        else:
            out += sec
    return out
