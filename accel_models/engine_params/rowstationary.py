"""The row-stationary engine's own fields (Eyeriss, Chen et al. ISCA 2016, JSSC 2017;
``sparsesim.engines.rowstationary``): the per-PE scratchpads and the run-length code of activations to and
from DRAM."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..rules import EngineParams, Rule

_RS = ("engine", ("rowstationary",))


@dataclass(frozen=True)
class RowStationaryParams(EngineParams):
    filter_spad_words: int = 224
    ifmap_spad_words: int = 12
    psum_spad_words: int = 24
    rlc_run_bits: int = 5
    rlc_word_bits: int = 64

    RULES = MappingProxyType({
        "filter_spad_words": Rule("int_in", "filter scratchpad per PE (p filters x q channels x S taps)",
                                  unit="words", lo=1, hi=1 << 20, used_when=_RS),
        "ifmap_spad_words": Rule("int_in", "input scratchpad per PE (the sliding window: q channels x S taps)",
                                 unit="words", lo=1, hi=1 << 20, used_when=_RS),
        "psum_spad_words": Rule("int_in", "partial-sum scratchpad per PE (p filters)", unit="words", lo=1,
                                hi=1 << 20, used_when=_RS),
        "rlc_run_bits": Rule("int_in", "zero-run field of the run-length code of activations to/from DRAM "
                             "(0: activations stored raw)", unit="bits", lo=0, hi=16, used_when=_RS),
        "rlc_word_bits": Rule("int_in", "word the run-length pairs are packed into (one flag bit besides)",
                              unit="bits", lo=2, hi=4096, used_when=_RS),
    })
