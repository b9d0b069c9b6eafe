"""Per-platform verdicts that explain themselves from the numbers.

Candidates: the dense model and every matched structure (``accuracy_status``
'dense' or 'matched'; matched is decided on validation by the paired test).
Test is reported, never a gate: a candidate whose test loss exceeds the
tolerance (``test_over_tolerance``) stays a candidate, and a "Flag:" sentence
names it with its test loss and interval when it wins or is non-structured.

Ties: two costs tie when the larger is at most ``threshold`` (relative) above
the smaller, ``max <= min * (1 + threshold)`` (symmetric by construction).

Why (simulated platforms): for non-structured vs the best structured model,
the log of the cost ratio (loser / winner) is split exactly into three terms,

    ln(E_o / E_w) = ln(W_o / W_w)                      work: useful MACs left after pruning
                  + share of ln(e_o / e_w) from DRAM   memory: DRAM energy per useful MAC
                  + share of ln(e_o / e_w) on chip     compute: SRAM, RF, MAC, index energy per useful MAC

with e = E / W and the per-MAC part split by the logarithmic mean (exact:
the two shares add up to ln(e_o / e_w)).  Cycles split the same way (stall
cycles vs compute cycles per useful MAC).  The sentence names the largest term
in the winner's favour.  Index overhead is named only when the winner is
structured, non-structured stores the larger index/padding/pointer share and
its PE utilization is not higher.

Measured platforms (cpu, gpu): a row whose ``timing_trusted`` is False (a
loaded machine or dispersed runs, ``accel_models.machine_load``) adds a
"Flag:" sentence naming the structures and the first reason.
"""

from __future__ import annotations

import math

TERM_LABELS = {"work": "work", "dram_per_mac": "DRAM per MAC", "on_chip_per_mac": "on-chip per MAC"}
STRUCTURED = ("filter", "channel", "column", "block", "nm", "heads", "neurons")
ELIGIBLE = ("dense", "matched")
TERMS = {"energy": ("energy_pj", "energy_dram_pj", "dram_per_mac", "on_chip_per_mac"),
         "cycles": ("cycles", "stall_cycles", "stall_per_mac", "compute_per_mac")}


def label(structure: str) -> str:
    return "non-structured" if structure == "nonstructured" else structure


def at_ratio(r: dict) -> str:
    """'filter 0.925 (11.9x)': a model's structure, its ratio and its compression, so each number has its owner."""
    return f"{_name(r)} {r['ratio']:.3g} ({r['compression']:.1f}x)"


def is_tie(a: float, b: float, threshold: float) -> bool:
    """Costs ``a`` and ``b`` tie when the larger is within ``threshold`` (relative) of the smaller."""
    lo, hi = sorted((a, b))
    return hi <= lo * (1 + threshold) * (1 + 1e-12)


def log_mean(x: float, y: float) -> float:
    """Logarithmic mean of two positive numbers."""
    return x if math.isclose(x, y, rel_tol=1e-12) else (x - y) / (math.log(x) - math.log(y))


def split_log_ratio(parts_w: dict[str, float], parts_o: dict[str, float]) -> dict[str, float]:
    """Exact additive split of ln(sum(parts_o) / sum(parts_w)) over the parts (positive: the part costs o more)."""
    scale = log_mean(sum(parts_o.values()), sum(parts_w.values()))
    return {k: (parts_o[k] - parts_w[k]) / scale for k in parts_w}


def cost_split(win: dict, other: dict, metric: str = "energy") -> dict[str, float]:
    """ln(cost_other / cost_win) split into work, memory-per-MAC and compute-per-MAC terms (see module doc)."""
    total, memory, memory_term, compute_term = TERMS[metric]
    if min(win["macs_useful"], other["macs_useful"], win[total], other[total]) <= 0:
        return {}

    def per_mac(r: dict) -> dict[str, float]:
        return {memory_term: r[memory] / r["macs_useful"], compute_term: (r[total] - r[memory]) / r["macs_useful"]}
    return {"work": math.log(other["macs_useful"] / win["macs_useful"]),
            **split_log_ratio(per_mac(win), per_mac(other))}


def row_factors(r: dict) -> dict:
    """The numbers a verdict can point to, for one results row."""
    overhead = r["storage_index_bits"] + r["storage_padding_bits"] + r["storage_pointer_bits"]
    return {"ratio": r["ratio"], "compression": r["compression"], "macs_useful": r["macs_useful"],
            "storage_overhead_share": overhead / r["storage_bits"] if r["storage_bits"] else 0.0,
            "utilization": r["utilization"], "dram_share": r["energy_dram_pj"] / r["energy_pj"],
            "stall_share": r["stall_cycles"] / r["cycles"] if r["cycles"] else 0.0,
            "clock_share": _clock_pj(r) / r["energy_pj"] if r["energy_pj"] else 0.0}


def _clock_pj(r: dict) -> float:
    """The row's clock-network energy (0 where the hardware prices none, or on rows that have no such column)."""
    clock = r.get("energy_clock_pj") or 0.0
    return 0.0 if math.isnan(clock) else clock


def _clock_clause(win: dict, other: dict) -> str:
    """Where a clock network is priced (per cycle, stalls included): its share of each model's energy, since it
    is part of the on-chip term and grows with cycles, not with work."""
    fw, fo = row_factors(win), row_factors(other)
    if not (fo["clock_share"] or fw["clock_share"]):
        return ""
    return f"; the clock network (per cycle) is {fo['clock_share']:.0%} of its energy vs {fw['clock_share']:.0%}"


def _index_clause(win: dict, other: dict) -> str:
    fw, fo = row_factors(win), row_factors(other)
    if other["structure"] != "nonstructured" or win["structure"] not in STRUCTURED \
            or fo["utilization"] > fw["utilization"] or fo["storage_overhead_share"] <= fw["storage_overhead_share"]:
        return ""
    return (f"; {fo['storage_overhead_share']:.0%} of non-structured's stored bits are index/padding/pointers "
            f"vs {fw['storage_overhead_share']:.0%}")


def explain(win: dict, other: dict, split: dict[str, float]) -> tuple[str, str]:
    """(decisive term, 'Why: ...' sentence) for ``win`` beating ``other`` on energy."""
    decisive = max(split, key=split.get)
    fw, fo = row_factors(win), row_factors(other)
    w, o = label(win["structure"]), label(other["structure"])
    reason = {
        "work": (f"work done decides: {w} keeps {other['macs_useful'] / win['macs_useful']:.2f}x fewer useful "
                 f"MACs ({at_ratio(win)} vs {at_ratio(other)})"),
        "dram_per_mac": (f"DRAM energy per useful MAC decides: {o} spends {math.exp(split[decisive]):.2f}x more "
                         f"(it stores {other['storage_bits'] / win['storage_bits']:.2f}x the bits; DRAM is "
                         f"{fo['dram_share']:.0%} of its energy vs {fw['dram_share']:.0%})"
                         + _index_clause(win, other)),
        "on_chip_per_mac": (f"on-chip energy per useful MAC decides: {o} spends {math.exp(split[decisive]):.2f}x "
                            f"more (PE utilization {fo['utilization']:.1%} vs {fw['utilization']:.1%})"
                            + _clock_clause(win, other) + _index_clause(win, other)),
    }[decisive]
    total = math.exp(sum(split.values()))
    parts = " x ".join(f"{math.exp(v):.2f} ({TERM_LABELS[k]})" for k, v in split.items())
    return decisive, f"Why: {reason}; the {total:.2f}x splits as {parts}"


def _test_flags(priced: list[dict], shown: set[str]) -> list[str]:
    """The models in the line (winner, ties, non-structured, the best structured) whose test loss exceeds the
    tolerance: named with the loss and its paired interval, never disqualified (test is not a clean hold-out)."""
    out = []
    for r in priced:
        if r.get("test_over_tolerance") and r["structure"] in shown:
            lo, hi = r.get("test_loss_ci_low_pp"), r.get("test_loss_ci_high_pp")
            ci = f", 95% interval [{lo:+.2f}, {hi:+.2f}]" if lo is not None and hi is not None else ""
            out.append(f"Flag: {label(r['structure'])}'s test loss is {r['test_loss_pp']:+.2f} pp vs dense{ci}, over "
                       "the tolerance (matched on validation; test is reported, not a gate)")
    return out


def _untrusted_clause(untrusted: list[dict]) -> list[str]:
    """A measured latency flagged untrusted (loaded machine or dispersed runs) makes the verdict say so."""
    if not untrusted:
        return []
    names = ", ".join(label(r["structure"]) for r in untrusted)
    why = untrusted[0].get("timing_note") or "see results.csv"
    return [(f"Flag: the measured latency of {names} is untrusted ({why}), so this verdict may not hold on a "
             "quiet machine")]


def _unvalidated_clause(row: dict, metric: str) -> list[str]:
    """A simulated verdict whose deciding cost (energy) or cycles no reference reproduces says so."""
    missing = [q for q in (row.get("unvalidated") or "").split(", ") if q]
    if not missing:
        return []
    decides = "energy" if metric == "energy" else "cycles"
    lead = (f"Unvalidated: the {decides} that decides this verdict is a model assumption" if decides in missing
            else "Unvalidated")
    return [f"{lead} (no reference reproduces this platform's {', '.join(missing)}; docs/validation.md)"]


def _opening(platform: str, eligible: list[dict], key: str, metric: str, threshold: float) -> tuple[dict, list, str]:
    best = min(eligible, key=lambda r: r[key])
    tied = [r for r in sorted(eligible, key=lambda r: r[key]) if is_tie(r[key], best[key], threshold)]
    names = [label(r["structure"]) for r in tied]
    dense = next((r for r in eligible if r["structure"] == "dense"), None)
    vs_dense = f"{dense[key] / best[key]:.2f}x less than dense" if dense and best is not dense else ""
    if len(tied) > 1:
        text = (f"On {platform}, {', '.join(names[:-1])} and {names[-1]} tie on {metric} (within {threshold:.0%}"
                + (f"; {vs_dense})" if vs_dense else ")"))
    else:
        text = f"On {platform}, {names[0]} wins on {metric}" + (f" ({vs_dense})" if vs_dense else "")
    return best, tied, text


def _name(r: dict) -> str:
    return label(r["structure"])


def _pair(priced: list[dict], key: str) -> tuple[dict | None, dict | None]:
    """Non-structured and the best structured model among the candidates."""
    eligible = [r for r in priced if r.get("accuracy_status") in ELIGIBLE]
    ns = next((r for r in eligible if r["structure"] == "nonstructured"), None)
    return ns, min((r for r in eligible if r["structure"] in STRUCTURED), key=lambda r: r[key], default=None)


def _pair_clause(ns: dict | None, best_s: dict | None, key: str, threshold: float) -> tuple[str, bool]:
    """'; non-structured costs 2.1x the best structured (...)' and whether they tie."""
    if ns is None:
        return "; non-structured found no ratio within the tolerance", False
    if best_s is None:
        return "; no structured model is matched", False
    n, ratio = _name(ns), ns[key] / best_s[key]
    detail = f"{at_ratio(best_s)} vs {at_ratio(ns)}"
    if is_tie(ns[key], best_s[key], threshold):
        return f"; {n} and the best structured ({detail}) tie (within {threshold:.0%}: {ratio:.2f}x)", True
    if ratio > 1:
        return f"; {n} costs {ratio:.2f}x the best structured ({detail})", False
    return f"; {n} is {1 / ratio:.2f}x cheaper than the best structured ({detail})", False


def platform_verdict(prow: list[dict], threshold: float) -> dict | None:
    """One platform's verdict: winner (or tie), non-structured vs best structured, why, flags."""
    platform, kind = prow[0]["platform"], prow[0]["kind"]
    measured = kind in ("cpu", "gpu")
    key, metric = ("latency_s", "latency") if measured else ("energy_pj", "energy")
    priced = [r for r in prow if r.get(key) is not None]
    eligible = [r for r in priced if r.get("accuracy_status") in ELIGIBLE]
    if not eligible:
        return None
    best, tied, text = _opening(platform, eligible, key, metric, threshold)
    untrusted = [r for r in priced if measured and r.get("timing_trusted") is False]
    declared = not any(r.get("accuracy_status") in ELIGIBLE for r in untrusted)
    if not declared:   # shown, never declared: the order of untrusted timings may not hold on a quiet machine
        text = (f"On {platform}, no winner is declared (untrusted timings; as timed, "
                + text[len(f"On {platform}, "):].replace(" wins on ", " is the cheapest on ") + ")")
    ns, best_s = _pair(priced, key)
    pair_text, pair_tie = _pair_clause(ns, best_s, key, threshold)
    details, why = pair_details(ns, best_s, key, pair_tie) if ns and best_s and not measured else ({}, "")
    if measured and ns and best_s:
        why = ("Measured latency, no hardware factors (non-structured runs as CSR, structured models as "
               "compacted dense layers)")
    shown = {r["structure"] for r in tied} | {r["structure"] for r in (best, ns, best_s) if r is not None}
    flags = _test_flags(eligible, shown)
    flags += _untrusted_clause(untrusted)
    unvalidated = [] if measured else _unvalidated_clause(best, metric)
    versus = [] if measured else _versus_dense(best, eligible)
    sentences = [text + pair_text] + versus + ([why] if why else []) + flags + unvalidated
    return {"platform": platform, "kind": kind, "metric": metric, "winner": best["structure"], "declared": declared,
            "unvalidated": [q for q in (best.get("unvalidated") or "").split(", ") if q],
            "tied": [r["structure"] for r in tied], "tie_threshold": threshold, "flags": flags, **details,
            "text": ". ".join(sentences) + "."}


def _versus_dense(best: dict, eligible: list[dict]) -> list[str]:
    """The headline 'Nx less than dense' explained by its parts: the same exact split as *Why*, winner vs dense."""
    dense = next((r for r in eligible if r["structure"] == "dense"), None)
    needed = ("macs_useful", "energy_pj", "energy_dram_pj")
    if dense is None or best is dense or not all(r.get(k) is not None for r in (best, dense) for k in needed):
        return []
    split = cost_split(best, dense, "energy")
    if not split:
        return []
    parts = " x ".join(f"{math.exp(v):.2f} ({TERM_LABELS[k]})" for k, v in split.items())
    return [f"Versus dense: the {dense['energy_pj'] / best['energy_pj']:.2f}x splits as {parts} "
            f"(dense {dense['energy_pj'] / 1e6:.3g} uJ, {dense['macs_useful']:.3g} useful MACs; "
            f"{label(best['structure'])} {best['energy_pj'] / 1e6:.3g} uJ, {best['macs_useful']:.3g})"]


def short_verdict(v: dict) -> str:
    """'eie_like non-structured' (ties joined by '='); a measured platform whose timings are untrusted keeps its
    mark: 'cpu (2 threads) channel? (untrusted, no winner)' (the one line of ``compare --quiet``)."""
    names = "=".join(label(s) for s in v.get("tied") or [v["winner"]])
    return f"{v['platform']} {names}" + ("" if v.get("declared", True) else "? (untrusted, no winner)")


def pair_details(ns: dict, best_s: dict, key: str, tie: bool) -> tuple[dict, str]:
    """Factors and cost split of non-structured vs the best structured; the 'Why: ...' text ('' on a tie)."""
    win, other = (ns, best_s) if ns[key] <= best_s[key] else (best_s, ns)
    split = cost_split(win, other, "energy")
    details = {"pair": {"winner": win["structure"], "other": other["structure"], "tie": tie,
                        "cost_ratio": other[key] / win[key]},
               "factors": {win["structure"]: row_factors(win), other["structure"]: row_factors(other)},
               "split_log": split, "split_cycles_log": cost_split(win, other, "cycles")}
    if tie or not split:
        return details, ""
    details["decisive"], why = explain(win, other, split)
    return details, why


def make_verdicts(rows: list[dict], threshold: float) -> list[dict]:
    """Per platform (in row order), the verdict dict; platforms without a matched candidate are left out."""
    out = []
    for platform in dict.fromkeys(r["platform"] for r in rows):
        v = platform_verdict([r for r in rows if r["platform"] == platform], threshold)
        if v:
            out.append(v)
    return out


def across_budgets(budget_rows: dict[str, list[dict]], threshold: float) -> list[dict]:
    """Per simulated platform, the cheapest model (energy) among every budget's eligible rows, beside the deciding
    budget's winner (the first key of ``budget_rows``).  A whole-network budget counts weights, not MACs, so the
    cheapest model on a platform can come from the other search; this says when it does and by how much
    (``factor`` = deciding winner's energy / the cheapest; within ``threshold`` it is a tie)."""
    deciding = next(iter(budget_rows))
    best: dict[str, dict[str, dict]] = {}
    for budget, rows in budget_rows.items():
        for r in rows:
            if r.get("kind") in ("cpu", "gpu") or r.get("accuracy_status") not in ELIGIBLE or not r.get("energy_pj"):
                continue
            if r["structure"] == "dense" and budget != deciding:
                continue   # the same dense model in every budget
            here = best.setdefault(r["platform"], {})
            if budget not in here or r["energy_pj"] < here[budget]["energy_pj"]:
                here[budget] = {**r, "budget": budget}
    out = []
    for platform, by_budget in best.items():
        if deciding not in by_budget:
            continue
        win = by_budget[deciding]
        low = min(by_budget.values(), key=lambda r: r["energy_pj"])
        factor = win["energy_pj"] / low["energy_pj"]
        out.append({"platform": platform, "deciding_budget": deciding, "deciding_winner": win["structure"],
                    "deciding_energy_pj": win["energy_pj"], "cheapest_budget": low["budget"],
                    "cheapest_structure": low["structure"], "cheapest_energy_pj": low["energy_pj"],
                    "cheapest_ratio": low.get("ratio"), "cheapest_compression": low.get("compression"),
                    "factor": factor, "tie": is_tie(win["energy_pj"], low["energy_pj"], threshold)})
    return out


# ------------------------------------------------------------ every budget rule
RULES = ("uniform", "global", "cost")
RULE_TEXT = {"uniform": "uniform (the same ratio in every layer)",
             "global": "global (one whole-network budget of weights)",
             "cost": "cost (a whole-network budget of this platform's cost)"}


def _answer(v: dict) -> tuple[str, float | None]:
    """The tool's question on one verdict: ('non-structured' | 'structured' | 'tie' | 'n/a', ns / best structured)."""
    pair = v.get("pair")
    if not pair:
        return "n/a", None
    ns_over = pair["cost_ratio"] if pair["winner"] != "nonstructured" else 1 / pair["cost_ratio"]
    if pair["tie"]:
        return "tie", ns_over
    return ("non-structured" if pair["winner"] == "nonstructured" else "structured"), ns_over


def _cell(v: dict | None) -> dict | None:
    if v is None:
        return None
    answer, ns_over = _answer(v)
    pair = v.get("pair") or {}
    models = {s: f"{label(s)} {f['ratio']:.3g} ({f['compression']:.1f}x)" for s, f in (v.get("factors") or {}).items()}
    return {"winner": "=".join(v.get("tied") or [v["winner"]]), "answer": answer, "ns_over_structured": ns_over,
            "structured": pair.get("other") if pair.get("winner") == "nonstructured" else pair.get("winner"),
            "models": models}


def every_rule(rule_rows: dict[str, list[dict]], threshold: float) -> dict:
    """Per simulated platform, the winner and the non-structured-vs-structured answer under each budget rule that
    was searched (uniform, global, cost), whether each holds under all of them, and a sentence per flip with the
    numbers that flip it.  ``rule_rows``: each rule's priced rows (``results.csv`` rows)."""
    rules = [r for r in RULES if r in rule_rows]
    verdicts = {rule: {v["platform"]: v for v in make_verdicts(
        [r for r in rule_rows[rule] if r.get("kind") not in ("cpu", "gpu")], threshold)} for rule in rules}
    platforms = list(dict.fromkeys(p for rule in rules for p in verdicts[rule]))
    table, flips = [], []
    for p in platforms:
        priced = {rule for rule in rules if any(r["platform"] == p for r in rule_rows[rule])}
        cells = {rule: _cell(verdicts[rule].get(p)) if rule in priced else {"not_searched": True} for rule in rules}
        seen = [c for c in cells.values() if c and not c.get("not_searched")]
        same_winner = len({c["winner"] for c in seen}) == 1
        same_answer = len({c["answer"] for c in seen}) == 1
        table.append({"platform": p, "cells": cells, "winner_holds": same_winner, "answer_holds": same_answer})
        if not same_answer:
            parts = [f"{c['answer']} under {rule} (non-structured / best structured = {c['ns_over_structured']:.2f}x: "
                     f"{c['models'].get('nonstructured', '-')} vs {c['models'].get(c['structured'], '-')})"
                     for rule, c in cells.items() if c in seen and c["ns_over_structured"] is not None]
            flips.append(f"On {p} the answer flips: " + "; ".join(parts))
    n = len(table)
    holds = sum(t["answer_holds"] for t in table)
    summary = (f"Under {', '.join(rules)}: the non-structured-vs-structured answer holds on {holds} of {n} platforms; "
               f"the cheapest structure is the same on {sum(t['winner_holds'] for t in table)} of {n}")
    if len(rules) == 1:   # nothing to hold or flip against
        summary = (f"Only the {rules[0]} rule was searched, so whether these verdicts survive another budget rule "
                   "is not tested in this run")
    missing = [r for r in RULES if r not in rules]
    return {"rules": rules, "missing": missing, "table": table, "flips": flips, "summary": summary}
