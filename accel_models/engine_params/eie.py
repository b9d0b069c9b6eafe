"""EIE's own fields (Han et al. ISCA 2016; ``sparsesim.engines.eie``): per-PE decode and MAC rates, the activation
queues and the broadcast."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..rules import MAX_EIE_QUEUE_SLOTS, MIN_RATE, EngineParams, HardwareError, Rule

_EIE = ("engine", ("eie",))


@dataclass(frozen=True)
class EieParams(EngineParams):
    decode_entries_per_cycle: float = 1.0
    macs_per_pe_per_cycle: int = 1
    fifo_depth: int = 8
    act_broadcast_per_cycle: float = 1.0
    skip_empty_columns: bool = False

    RULES = MappingProxyType({
        "decode_entries_per_cycle": Rule("number", "entries one PE decodes per cycle", unit="entries/cycle",
                                         lo=MIN_RATE, hi=1e6, used_when=_EIE),
        "macs_per_pe_per_cycle": Rule("int_in", "MACs one PE retires per cycle", unit="MACs/cycle", lo=1,
                                      hi=1024, used_when=_EIE),
        "fifo_depth": Rule("int_in", "activation queue entries per PE", unit="entries", lo=1, hi=1 << 16,
                           used_when=_EIE),
        "act_broadcast_per_cycle": Rule("number", "nonzero activations broadcast per cycle",
                                        unit="activations/cycle", lo=MIN_RATE, hi=1e6, used_when=_EIE),
        "skip_empty_columns": Rule("flag", "activations no PE holds a weight for are never broadcast",
                                   used_when=_EIE),
    })

    def check_with(self, pe) -> None:
        slots = self.fifo_depth * pe.rows * pe.cols
        if slots > MAX_EIE_QUEUE_SLOTS:
            raise HardwareError(f"pe: fifo_depth x rows x cols={slots:,} queue slots; allowed: at most "
                                f"{MAX_EIE_QUEUE_SLOTS:,} for engine eie")


def mac_units(pe) -> int:
    """MACs each PE retires per cycle x PEs."""
    return pe.num_pes * pe.params.macs_per_pe_per_cycle
