"""report.md and a self-contained report.html (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from pruning.checkpoint import atomic_write_text

from . import plots


def _fmt(v, spec=".3g"):
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _md_table(head: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def write_report(out: Path, summary: dict, log=print) -> None:
    cfg = summary["config"]
    rows = summary["rows"]
    figs = {
        "energy": plots.energy_breakdown(rows, out),
        "storage": plots.storage(rows, out),
        "breakeven": plots.breakeven(summary["breakeven"], out),
        "pareto": plots.pareto(summary["pareto"], out),
        "simmeas": plots.sim_vs_measured(rows, out),
    }
    md = [f"# Sparsity structures compared: {cfg['model']} on {cfg['dataset']}", "",
          f"Weights {cfg['bits']}-bit; accuracy tolerance {cfg['tolerance_pp']} percentage points of validation "
          f"accuracy (dense: {summary['baseline_val_accuracy'] * 100:.2f}%); batch {cfg['batch']}; "
          f"wall time {summary.get('wall_s', 0):.0f} s.",
          "", (f"Input-activation density measured on {cfg['calibrate_images']} validation images (zero-skipping "
               "engines use it)." if cfg.get("calibrate_images") else "Input activations taken as dense (no "
                                                                        "calibration)."),
          "Costs follow each preset's memory convention (native unless the YAML says otherwise); numbers are "
          "model estimates, validated as docs/validation.md describes.", "", "## Verdict per platform", ""]
    md += [f"- {v['text']}" for v in summary["verdicts"]]
    md += ["", "## Matched accuracy", ""]
    body = []
    for s, r in summary["structures"].items():
        probes = ", ".join(f"{p[0]:.3f}: {p[1] * 100:.2f}%{'' if p[2] else ' (x)'}" for p in r["points"])
        body.append([s, r["ratio"], None if r["val_accuracy"] is None else f"{r['val_accuracy'] * 100:.2f}%", probes])
    md.append(_md_table(["structure", "matched ratio", "val. accuracy", "probes (ratio: accuracy; x = over tolerance)"],
                        body))
    md += ["", "## Results (results.csv)", ""]
    body = [[r["structure"], r["platform"], r["ratio"], r["compression"],
             None if r["test_accuracy"] is None else f"{r['test_accuracy'] * 100:.2f}%",
             None if r.get("energy_pj") is None else r["energy_pj"] / 1e6,
             r.get("latency_s") and r["latency_s"] * 1e6, r.get("energy_vs_dense"), r.get("speedup_vs_dense")]
            for r in rows]
    md.append(_md_table(["structure", "platform", "ratio", "compression", "test acc.", "energy (uJ)", "latency (us)",
                         "energy / dense", "speedup vs dense"], body))
    md += ["", "## Break-even pruning ratios of non-structured sparsity", "",
           "Ratio above which non-structured sparsity (magnitude masks on the dense weights, all layers) costs "
           "less than dense (storage: plain dense bits; energy and cycles: the dense model on the platform's "
           "dense counterpart, same PEs, memories and clock) and less than the best structured model at matched "
           "accuracy; `-` = not within 0.99. The non-structured matched ratio says whether that ratio is "
           "reachable within the tolerance.", ""]
    if summary["breakeven"].get("cpu_sweep"):
        be = summary["breakeven"].get("cpu_breakeven")
        md += [f"Measured on this CPU (largest layer, {summary['breakeven']['cpu_sweep'][0]['layer']}, CSR vs "
               f"dense): break-even ratio {'not reached' if be is None else f'{be:.2f}'}.", ""]
    for bits, data in summary["breakeven"]["bits"].items():
        body = []
        for plat, e in data["breakeven"].items():
            body.append([bits, plat, e.get("storage_bits_vs_dense"), e.get("energy_pj_vs_dense"),
                         e.get("cycles_vs_dense"), e.get("energy_pj_vs_structured"),
                         e.get("best_structured_energy_pj"), e.get("nonstructured_matched_ratio")])
        md.append(_md_table(["bits", "platform", "storage vs dense", "energy vs dense", "cycles vs dense",
                             "energy vs best structured", "best structured", "non-structured matched ratio"], body))
    hil = summary.get("hil")
    if hil:
        md += ["", f"## Hardware in the loop ({hil['preset']})", "",
               "Per layer the structure with the least simulated energy, then one ADMM run of that mix:", "",
               _md_table(["layer", "structure"], [[k, v] for k, v in hil["per_layer"].items()]), "",
               f"Mixed model: {hil['energy_pj'] / 1e6:.3f} uJ, validation accuracy {hil['val_accuracy'] * 100:.2f}% "
               f"({'within' if hil['within_tolerance'] else 'outside'} the tolerance), test "
               f"{hil['test_accuracy'] * 100:.2f}%; best single structure {hil['best_single']}: "
               f"{hil['best_single_energy_pj'] / 1e6:.3f} uJ."]
    md += ["", "## Figures", ""]
    captions = {"energy": "Energy breakdown", "storage": "Storage with index and padding overhead",
                "breakeven": "Speedup vs pruning ratio, break-even marked", "pareto": "Accuracy vs energy",
                "simmeas": "Simulated vs measured CPU speedup"}
    md += [f"![{captions[k]}]({p.name})" for k, p in figs.items()]
    md += ["", "Configs: `configs/compare.json`; per-run pruning configs in each `runs/*/manifest.json`."]
    text = "\n".join(md) + "\n"
    atomic_write_text(out / "report.md", text)
    atomic_write_text(out / "report.html", _html(text, figs))
    log(f"[report] {out / 'report.md'}")


def _html(md: str, figs: dict) -> str:
    """Minimal markdown -> HTML (headings, lists, tables, images inlined as data URIs)."""
    out, in_table = [], False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
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
            data = base64.b64encode((Path(figs[next(k for k, p in figs.items() if p.name == name)])).read_bytes())
            out.append(f'<figure><img src="data:image/png;base64,{data.decode()}" style="max-width:100%">'
                       f"<figcaption>{html.escape(line[2:line.index(']')])}</figcaption></figure>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}")
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>" + \
        "\n".join(out) + "</body></html>\n"
