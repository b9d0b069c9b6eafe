"""How a value appears in a one-line error message: ``short`` (a bounded repr), ``clip`` (free text),
``unknown_fields`` (near-miss field names with "did you mean"), ``as_tuple`` (how a list field reads a scalar)."""

from __future__ import annotations

import reprlib

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlong = 40


def short(value, n: int = 80) -> str:
    """``repr(value)`` for a message: one line, at most ``n`` characters, cheap for any size of value."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails must not hide the message it belongs in
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def clip(text: str, n: int = 160) -> str:
    """Free text for a message: one line, at most ``n`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: max(n - 3, 1)] + "..."


def unknown_fields(unknown, allowed, limit: int = 5) -> str:
    """``unknown field(s) 'tolerance' (did you mean 'tolerance_pp'?), ...``: each name with its nearest allowed one."""
    import difflib

    names = sorted(unknown, key=str)
    items = []
    for k in names[:limit]:
        near = difflib.get_close_matches(str(k), [str(a) for a in allowed], n=1, cutoff=0.6)
        items.append(short(k, 40) + (f" (did you mean {near[0]!r}?)" if near else ""))
    return f"unknown field(s) {', '.join(items)}{' ...' if len(names) > limit else ''}"


def as_tuple(value) -> tuple:
    """A list field's value as a tuple: a list or tuple as is, any other value as a one-element list
    (``structures: filter`` means ``[filter]``, never ``[f, i, l, t, e, r]``)."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)
