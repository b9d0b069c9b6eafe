"""Weight bit-widths: the one rule every face checks ``bits`` with.

A weight is quantized to 1..16 bits (a ``Quantizer``) or kept as a float, written 32.  The command line's
``--bits`` (``simulate`` and ``compare``), the API's ``bits=``, a compare config's ``bits`` and ``breakeven_bits``,
a sweep's ``workload.bits``, a pruning config layer's ``bits`` and an artifact manifest's layer ``bits`` all go
through ``check_weight_bits`` (or ``is_weight_bits`` plus ``ALLOWED_BITS`` where the caller words the refusal in
its own form, e.g. argparse), so a bad value is refused with the same sentence everywhere:
``bits=40; allowed: 1..16 (quantized) or 32 (float)``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from fileguard import short

QUANT_BITS = range(1, 17)   # quantized weights: a Quantizer's bits
FLOAT_BITS = 32             # float weights (no quantizer)
ALLOWED_BITS = f"{QUANT_BITS[0]}..{QUANT_BITS[-1]} (quantized) or {FLOAT_BITS} (float)"


class BitsError(ValueError):
    """A weight bit-width outside ``ALLOWED_BITS``; the message names the field and the value."""


def is_weight_bits(value) -> bool:
    """An integer (never a bool) in 1..16, or 32."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and (int(value) in QUANT_BITS or int(value) == FLOAT_BITS))


def bits_refusal(value, name: str = "bits") -> str:
    """The one sentence a refused bit-width is reported with: ``bits=40; allowed: 1..16 (quantized) or 32 (float)``."""
    return f"{name}={short(value)}; allowed: {ALLOWED_BITS}"


def check_weight_bits(value, name: str = "bits") -> int:
    """``value`` as an ``int`` if it is a weight bit-width, else ``BitsError(bits_refusal(value, name))``."""
    if not is_weight_bits(value):
        raise BitsError(bits_refusal(value, name))
    return int(value)


@dataclass(frozen=True)
class HeldBits:
    """The weight bit-widths an artifact's layers hold (its manifest's per-layer ``bits``; 32 = float): what a
    priced row carries, never the width a config asked for."""

    widest: int
    narrowest: int

    @property
    def mixed(self) -> bool:
        return self.widest != self.narrowest

    def mixed_text(self) -> str:
        """``"4..8"`` for a mixed-width artifact, ``""`` for one width."""
        return f"{self.narrowest}..{self.widest}" if self.mixed else ""

    def text(self) -> str:
        """``"8-bit"`` or ``"mixed 4..8-bit"``."""
        return f"mixed {self.mixed_text()}-bit" if self.mixed else f"{self.widest}-bit"


def held_bits(manifest_layers) -> HeldBits:
    """The widths ``manifest_layers`` (a manifest's ``layers`` list) hold; a layer without ``bits`` is float."""
    bits = [int(e.get("bits", FLOAT_BITS)) for e in manifest_layers] or [FLOAT_BITS]
    return HeldBits(max(bits), min(bits))
