"""SCNN's own fields (Parashar et al. ISCA 2017; ``sparsesim.engines.scnn``): the Cartesian-product multiplier
array of each PE and the output-channel group."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..rules import EngineParams, Rule

_SCNN = ("engine", ("scnn",))


@dataclass(frozen=True)
class ScnnParams(EngineParams):
    cartesian: tuple[int, int] = (4, 4)
    channel_group: int = 8

    RULES = MappingProxyType({
        "cartesian": Rule("pair", "[F, I]: nonzero weights x nonzero activations multiplied per PE-cycle",
                          hi=1024, used_when=_SCNN),
        "channel_group": Rule("int_in", "output channels accumulated per pass (Kc)", unit="channels", lo=1,
                              hi=1 << 16, used_when=_SCNN),
    })


def mac_units(pe) -> int:
    """F x I multipliers per PE."""
    return pe.num_pes * pe.params.cartesian[0] * pe.params.cartesian[1]
