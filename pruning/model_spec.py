"""A ``--model`` spec read as text: ``module:callable`` or ``path/to/file.py:callable`` (nothing imported here).

``pruning.artifact`` records a user model's spec with ``reference`` and ``pruning.user_model`` builds the model
from it; both read the spec through this module, so neither imports the other back.
"""

from __future__ import annotations

import re
from pathlib import Path

from fileguard import clip, short

from .models import MODELS

IDENT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class ModelSpecError(ValueError):
    """A --model / --input-shape that names no usable model."""


def code_failure(e: BaseException, n: int = 80) -> str:
    """What the user's code did, for a one-line message: ``it called sys.exit(3)`` (a ``SystemExit`` never ends
    the run silently with the user's code) or ``ValueError: ...``."""
    if isinstance(e, SystemExit):
        return f"it called sys.exit({e.code!r})"
    return f"{type(e).__name__}: {clip(e, n)}"


def split_spec(spec: str) -> tuple[str, str]:
    where, _, attr = str(spec).rpartition(":")
    if not where or not attr or not IDENT.fullmatch(attr):
        raise ModelSpecError(f"--model {short(spec)}; allowed: a zoo model ({', '.join(sorted(MODELS))}), "
                             "MODULE:CALLABLE or FILE.py:CALLABLE")
    return where, attr


def spec_form(spec: str) -> bool:
    """Whether ``spec`` is written MODULE:CALLABLE or FILE.py:CALLABLE (nothing imported)."""
    try:
        split_spec(spec)
    except ModelSpecError:
        return False
    return True


def reference(spec: str) -> dict:
    """The manifest's record of a user model: the spec as typed (data, never imported from the file) and an
    importable ``module:callable`` factory where the spec has one (the file form gives its file's stem)."""
    where, attr = split_spec(spec)
    module = Path(where).stem if where.endswith(".py") else where
    factory = f"{module}:{attr}"
    return {"spec": spec, "factory": factory if IDENT.fullmatch(module) else None}
