"""Report sections on the budget rules: the verdict under every rule, and the cost-aware searches.

``every_rule`` (``analysis.verdict``) holds the numbers; this module only writes them as markdown."""

from __future__ import annotations

from .markdown import md_table
from .verdict import RULE_TEXT, RULES, label

EVERY_RULE_NOTE = ("A budget rule decides how a structure's pruning is shared out across layers: *uniform* gives every "
                   "layer the same ratio, *global* one whole-network budget of weights (it lands on the layers with the "
                   "most weights), *cost* one whole-network budget of the platform's own cost (it lands where pruning "
                   "saves the most on that platform: `pruning.cost_budget`). Each structure is searched under each "
                   "rule to the same accuracy tolerance; the table gives, per platform, the cheapest matched model "
                   "and the answer to the question (non-structured vs the best structured model, energy ratio "
                   "below 1: non-structured is cheaper).")


def _cell(c: dict | None) -> str:
    if c is None:
        return "no matched model"
    if c.get("not_searched"):
        return "not searched (cost_presets)"
    ratio = "" if c["ns_over_structured"] is None else f" ({c['ns_over_structured']:.2f}x)"
    return f"{' = '.join(label(w) for w in c['winner'].split('='))}; {c['answer']}{ratio}"


def every_rule_section(summary: dict) -> list[str]:
    """'The verdict under every budget rule': a row per platform, a column per rule, what holds and what flips."""
    rules = summary.get("rules")
    if not rules or not rules["table"]:
        return []
    several = len(rules["rules"]) > 1
    head = ["platform", *[f"{r}: winner; answer (ns / best structured)" for r in rules["rules"]],
            *(["answer holds", "winner holds"] if several else [])]
    body = [[t["platform"], *[_cell(t["cells"].get(r)) for r in rules["rules"]],
             *(["yes" if t["answer_holds"] else "**flips**", "yes" if t["winner_holds"] else "no"] if several else [])]
            for t in rules["table"]]
    lines = ["## The verdict under every budget rule", "", EVERY_RULE_NOTE, "", f"**{rules['summary']}.**", "",
             md_table(head, body)]
    if rules["flips"]:
        lines += ["", "Where the answer flips, and the numbers that flip it:", ""] + [f"- {f}." for f in rules["flips"]]
    if rules["missing"]:
        lines += ["", f"Not searched in this run: {', '.join(rules['missing'])} "
                      f"(`--budget all` searches every rule: {'; '.join(RULE_TEXT[r] for r in RULES)})."]
    return lines


def cost_rule_section(summary: dict) -> list[str]:
    """The cost-aware searches: per platform and structure, the share of the reducible cost removed, the model,
    and where a platform used another's search."""
    cost = summary.get("cost_rule")
    if not cost:
        return []
    rows = {(r["platform"], r["structure"]): r for r in cost["rows"]}
    body = []
    for platform, by_s in cost["platforms"].items():
        for s, r in by_s.items():
            row = rows.get((platform, s))
            shared = r.get("shared_with") or ""
            source = ("global search (" + r["note"] + ")" if shared == "global" else
                      f"the search for {shared[len('cost@'):]}" if shared else "its own search")
            if row is not None and row.get("found_by") not in (None, "cost"):
                source = f"the {row['found_by']} search's model (cheaper here than the cost search's)"
            own = row is None or row.get("found_by") in (None, "cost")
            body.append([platform, label(s), "-" if r.get("ratio") is None or not own else f"{r['ratio']:.3f}",
                         "-" if row is None else f"{row['compression']:.1f}x",
                         "-" if row is None else row["accuracy_status"],
                         "-" if row is None or row.get("energy_vs_dense") is None else f"{row['energy_vs_dense']:.3f}",
                         source])
    return ["## Cost-aware searches (budget rule: cost)", "",
            f"Each platform's budget counts its own {cost['metric']} per layer (cost curves from the analytical engine: "
            "each layer priced with the structure's pattern at 9 densities); the ratio is the share of the reducible "
            "cost removed (0 = dense, 1 = the cheapest the structure allows there). Platforms whose curves lead to "
            "the same per-layer allocations share one search. The cost rule keeps, per platform and structure, the "
            "cheapest matched allocation any search found (column *from*): the projection ranks groups across "
            "layers by weight magnitude, which can miss an allocation the uniform or global search found. A layer's curve is measured with every layer at the "
            "same density (a model assumption where one layer's pruning changes its neighbour's cost); the models "
            "below are priced on their real patterns.", "",
            md_table(["platform", "structure", "cost ratio", "compression", "status", "energy vs dense", "from"], body)]

