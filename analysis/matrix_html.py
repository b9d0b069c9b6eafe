"""The report's first picture as an HTML table (issue 25, finding 3: the PNG was shown at 59%, 6-7 px labels).

Rows are structures, columns platforms; a cell is the model's cost relative to THAT platform's dense model, coloured
per column (log scale, each column's own largest deviation from 1 sets its full colour, so one platform's tiny
ratios do not flatten the others); the winner is boxed, unless the platform's timings are untrusted; each platform's
header carries its engine's zero handling (``analysis.matrix.ZERO_MARKS``), explained in the legend under it.
"""

from __future__ import annotations

import html
import math

from .matrix import ZERO_MARKS, CostMatrix

GREEN, RED = (26, 152, 80), (215, 48, 39)   # cheaper / dearer than dense; white = as dense


def _shade(value: float, span: float) -> str:
    """Background for ``value`` (cost / dense) in a column whose largest |log| is ``span``."""
    if span <= 0 or value <= 0:
        return "#ffffff"
    t = min(abs(math.log(value)) / span, 1.0) * 0.75
    rgb = GREEN if value < 1 else RED
    mix = (round(255 + (c - 255) * t) for c in rgb)
    return "#{:02x}{:02x}{:02x}".format(*mix)


def _column_span(m: CostMatrix, p: str) -> float:
    logs = [abs(math.log(c.vs_dense)) for (s, q), c in m.cells.items() if q == p and c.vs_dense > 0]
    return max(logs, default=0.0)


def _header(m: CostMatrix, p: str) -> str:
    zero = (m.zeros or {}).get(p)
    mark = ZERO_MARKS[zero][0] if zero else ""
    metric = m.metrics[p] + ("<br>unvalidated" if p in m.unvalidated else "")   # one short word a line: narrow
    untrusted = any(c.untrusted for (s, q), c in m.cells.items() if q == p)
    note = "<br><small>untrusted timings:<br>no winner</small>" if untrusted else ""
    title = f' title="{html.escape(ZERO_MARKS[zero][1])}"' if zero else ""
    return f"<th class='plat'{title}>{html.escape(p)} {mark}<br><small>{metric}</small>{note}</th>"


def _cell(m: CostMatrix, s: str, p: str, span: float) -> str:
    c = m.cells.get((s, p))
    if c is None:
        return "<td class='none'>-</td>"
    text = f"{c.vs_dense:.3g}" + ("?" if c.untrusted else "") + ("*" if c.winner else "")
    small = "" if c.vs_best_structured is None else f"<br><small>{c.vs_best_structured:.3g}</small>"
    style = [f"background:{_shade(c.vs_dense, span)}"]
    if c.winner:
        style.append("outline:3px " + ("dashed" if c.tied else "solid") + " #000;outline-offset:-3px;font-weight:bold")
    if c.flagged:
        style.append("background-image:repeating-linear-gradient(45deg,transparent 0 6px,#9994 6px 8px)")
    cls = "win" if c.winner else ("untrusted" if c.untrusted else "cell")
    return f"<td class='{cls}' style='{';'.join(style)}'>{text}{small}</td>"


def legend(m: CostMatrix) -> str:
    used = sorted({z for z in (m.zeros or {}).values() if z}, key=list(ZERO_MARKS).index)
    marks = "; ".join(f"{ZERO_MARKS[z][0] or '(no mark)'} {ZERO_MARKS[z][1]}" for z in used)
    return (m.caption + " Colour per column: green cheaper, red dearer than that platform's dense model, full colour "
            "at the column's own largest ratio." + (f" Platform marks: {marks}." if marks else ""))


def matrix_table(m: CostMatrix) -> str:
    """The matrix as one self-contained <table> (inline styles) with its caption and legend."""
    spans = {p: _column_span(m, p) for p in m.platforms}
    head = "<tr><th>structure</th>" + "".join(_header(m, p) for p in m.platforms) + "</tr>"
    body = ["<tr><th class='row'>" + html.escape(m.row_labels[s]).replace("\n", "<br><small>") +
            ("</small>" if "\n" in m.row_labels[s] else "") + "</th>" +
            "".join(_cell(m, s, p, spans[p]) for p in m.platforms) + "</tr>" for s in m.structures]
    return (f"<figure id='matrix' style='overflow-x:auto;margin:1em 0'><table class='matrix'><caption>{html.escape(m.title)}</caption>{head}"
            + "".join(body) + f"</table><figcaption>{html.escape(legend(m))}</figcaption></figure>")
