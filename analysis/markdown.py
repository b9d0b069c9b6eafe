"""Markdown tables for the reports: one cell format, one table layout."""

from __future__ import annotations


def fmt(v, spec: str = ".3g") -> str:
    """A cell: '-' for None, a float with ``spec``, anything else as text."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def md_table(head: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in body]
    return "\n".join(lines)
