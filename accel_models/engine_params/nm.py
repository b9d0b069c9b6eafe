"""The N:M engine's own field (sparse tensor core style; ``sparsesim.engines.systolic`` with N:M compression):
the pattern [N, M]."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..rules import EngineParams, Rule


@dataclass(frozen=True)
class NmParams(EngineParams):
    nm: tuple[int, int] = (2, 4)

    RULES = MappingProxyType({
        "nm": Rule("pair", "the N:M pattern [N, M]: N kept of every M weights along K", hi=1024, ordered=True,
                   used_when=("engine", ("nm",))),
    })
