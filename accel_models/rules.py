"""What a hardware field accepts: the ``Rule`` of one YAML field, the checks that enforce it, the bounds, and the
base of an engine's parameter class (``EngineParams``).

Split out of ``accel_models.hardware`` (which re-exports every name) so that an engine's parameter class
(``accel_models/engine_params/``, or a plug-in's) and the engine registry (``accel_models.engines``) can use them
without importing the hardware descriptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from fileguard import short

# Bounds that keep every model's memory and time finite; each field's range is its Rule (docs/hardware.md).
MAX_ARRAY_SIDE = 65_536
MAX_PES = 1 << 24
MAX_EIE_QUEUE_SLOTS = 1 << 24     # fifo_depth x PEs: the EIE queue model keeps one start time per slot
MIN_RATE = 1e-3                   # bits or entries per cycle: below this a layer takes > 1e12 cycles
MAX_RATE = 1e9
MAX_PJ = 1e9                      # any one energy per action or per bit
MIN_CLOCK_HZ, MAX_CLOCK_HZ = 1e3, 1e13
MIN_ENERGY_SCALE, MAX_ENERGY_SCALE = 1e-6, 1e6
MAX_NAME_CHARS = 80


class HardwareError(ValueError):
    """An invalid hardware description; names the field, the value and what is allowed."""


class FPGAFitError(HardwareError):
    """A design that exceeds its FPGA part; names the resource and the overflow."""


@dataclass(frozen=True)
class Rule:
    """What one YAML field accepts, its unit and what it means.

    The one source of both the validation (``check``) and the reference page (``accel_models.reference``
    writes docs/hardware.md from these).  ``kind``: ``number`` (> 0; >= 0 with ``zero_ok``; >= ``lo`` when
    given; <= ``hi``), ``integer`` (the same, integers only), ``int_in`` (an integer in ``lo``..``hi``, or
    ..the section's ``hi_field``), ``number_in`` (a number in [``lo``, ``hi``]), ``choice`` (one of
    ``choices``), ``flag`` (true/false), ``pair`` (two integers in 1..``hi``; N <= M when ``ordered``),
    ``int_list`` (a non-empty list of integers in ``lo``..``hi``), ``text`` (``lo``..``hi`` characters when
    given), ``section`` (a mapping of the section's own fields).  Each description class holds its read-only
    ``RULES`` (field -> Rule) as a plain class attribute (unannotated: not a dataclass field)."""

    kind: str
    doc: str                                   # what the field means (one sentence, no trailing period)
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    zero_ok: bool = False
    optional: bool = False                     # null is accepted (and is the default)
    null: str = ""                             # what null means
    choices: tuple = ()
    ordered: bool = False
    hi_field: str = ""
    used_when: tuple[str, tuple] | None = None  # (field of the same section, values): read only then
    required_when: str = ""                    # the field or section must be given when this holds


def _pos(where: str, name: str, value, integer: bool = False, zero_ok: bool = False, upper=None, lower=None):
    """A finite number (an int when ``integer``; never a bool) > 0 (>= 0 with ``zero_ok``; >= ``lower`` when
    given) and <= ``upper``."""
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    bad = isinstance(value, bool) or not ok or (
        isinstance(value, float) and not math.isfinite(value)) or (value < 0 if zero_ok else value <= 0) or (
        lower is not None and value < lower) or (upper is not None and value > upper)
    if bad:
        kind = "an integer" if integer else "a number"
        bound = f">= {lower:g}" if lower is not None else (">= 0" if zero_ok else "> 0")
        bound += f" and <= {upper:g}" if upper is not None else ""
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: {kind} {bound}")
    return value


def _choice(where: str, name: str, value, allowed) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value not in allowed:
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: {', '.join(map(str, allowed))}")
    return value


def _flag(where: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        hint = " (a string is not a bool: write true or false unquoted)" if isinstance(value, str) else ""
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: true, false{hint}")
    return value


def _int_in(where: str, name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: an integer in {lo}..{hi}")
    return value


def _pair(where: str, name: str, value, rule: Rule) -> tuple[int, int]:
    v = tuple(value) if isinstance(value, (list, tuple)) else ()
    hi = rule.hi
    ok = (lambda v: 0 < v[0] <= v[1] <= hi) if rule.ordered else (lambda v: 0 < v[0] <= hi and 0 < v[1] <= hi)
    if len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in v) or not ok(v):
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: two positive integers"
                            + (f" [N, M] with 0 < N <= M <= {hi}" if rule.ordered else f" <= {hi}"))
    return v


def _int_list(where: str, name: str, value, rule: Rule) -> tuple[int, ...]:
    """A non-empty list of integers in lo..hi (one integer: a one-element list), sorted, each once."""
    items = value if isinstance(value, (list, tuple)) else (value,)
    if not items or any(isinstance(b, bool) or not isinstance(b, int) or not rule.lo <= b <= rule.hi
                        for b in items):
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: a non-empty list of integers in "
                            f"{rule.lo}..{rule.hi}")
    return tuple(sorted(set(items)))


def check(where: str, name: str, value, rule: Rule, section=None):
    """``value`` of field ``name`` if ``rule`` allows it (normalized: pairs and lists as tuples), else a
    ``HardwareError`` naming ``where``, the field, the value and what is allowed.  ``section``: the object
    holding the field (for a bound that is another of its fields)."""
    if rule.optional and value is None:
        return value
    kind = rule.kind
    if kind in ("number", "integer"):
        return _pos(where, name, value, integer=kind == "integer", zero_ok=rule.zero_ok, upper=rule.hi,
                    lower=rule.lo)
    if kind == "int_in":
        return _int_in(where, name, value, rule.lo, getattr(section, rule.hi_field) if rule.hi_field else rule.hi)
    if kind == "number_in":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not rule.lo <= value <= rule.hi:
            raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: a number in "
                                f"[{rule.lo:g}, {rule.hi:g}]")
        return value
    if kind == "choice":
        return _choice(where, name, value, rule.choices)
    if kind == "flag":
        return _flag(where, name, value)
    if kind == "pair":
        return _pair(where, name, value, rule)
    if kind == "int_list":
        return _int_list(where, name, value, rule)
    if kind == "text":
        if not isinstance(value, str) or (rule.hi is not None and not rule.lo <= len(value) <= rule.hi):
            bound = f" of {rule.lo}..{rule.hi} characters" if rule.hi is not None else ""
            raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: text{bound}")
        return value
    raise ValueError(f"rule kind {kind!r} unknown")  # a programming error, not bad input


def _check_fields_of(obj, where: str, names) -> None:
    """Check ``names`` of ``obj`` (in this order: the first bad one is reported) against ``obj.RULES``,
    storing normalized values back."""
    for name in names:
        value = getattr(obj, name)
        got = check(where, name, value, obj.RULES[name], section=obj)
        if got is not value:
            object.__setattr__(obj, name, got)


class EngineParams:
    """Base of an engine's parameter dataclass (``pe.params``): subclass it as a frozen dataclass with a
    ``RULES`` mapping (field -> ``Rule``) covering every field; ``__post_init__`` checks them in ``RULES``
    order (override it for rules across fields, calling ``super().__post_init__()``)."""

    RULES = MappingProxyType({})

    def __post_init__(self):
        _check_fields_of(self, "pe", tuple(self.RULES))

    def check_with(self, pe) -> None:
        """Rules across this engine's fields and the PE array's (``pe``: the PEArray); none by default."""


def check_registered(where: str, name: str, value, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of the registered names ``allowed``, else the one-line error."""
    if not isinstance(value, str) or value not in allowed:
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: {', '.join(allowed)}")
    return value
