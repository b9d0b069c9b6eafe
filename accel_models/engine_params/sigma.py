"""SIGMA's own fields (Qin et al. HPCA 2020; ``sparsesim.engines.sigma``): the distribution and reduction
networks' bandwidths and the per-iteration overhead."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..rules import MAX_PES, EngineParams, Rule

_SIGMA = ("engine", ("sigma",))


@dataclass(frozen=True)
class SigmaParams(EngineParams):
    distribution_bw_words: int | None = None
    reduction_bw_words: int | None = None
    iteration_overhead_cycles: int = 4

    RULES = MappingProxyType({
        "distribution_bw_words": Rule("int_in", "input words the distribution network delivers per cycle",
                                      unit="words/cycle", lo=1, hi=MAX_PES, optional=True,
                                      null="one per multiplier (rows x cols)", used_when=_SIGMA),
        "reduction_bw_words": Rule("int_in", "outputs the reduction network emits per cycle", unit="words/cycle",
                                   lo=1, hi=MAX_PES, optional=True, null="`cols`", used_when=_SIGMA),
        "iteration_overhead_cycles": Rule("int_in", "configure + collect stages paid once per stationary "
                                          "iteration", unit="cycles", lo=0, hi=1 << 20, used_when=_SIGMA),
    })

    def distribution_bw(self, pe) -> int:
        return self.distribution_bw_words if self.distribution_bw_words is not None else pe.num_pes

    def reduction_bw(self, pe) -> int:
        return self.reduction_bw_words if self.reduction_bw_words is not None else pe.cols
