"""What the loop-nest model returns: per level and tensor its counts, per level cycles and energy, totals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorCounts:
    """One tensor at one level: counts in words (data) and bits (metadata)."""

    tensor: str
    reads: float
    gated_reads: float
    skipped_reads: float
    fills: float
    updates: float
    gated_updates: float
    skipped_updates: float
    metadata_read_bits: float
    gated_metadata_read_bits: float
    skipped_metadata_read_bits: float
    metadata_fill_bits: float


@dataclass(frozen=True)
class LevelCost:
    name: str
    cycles: float
    energy_pj: float
    tensors: tuple[TensorCounts, ...]


@dataclass(frozen=True)
class LoopnestResult:
    cycles: float
    energy_pj: float
    computes: float
    gated_computes: float
    compute_energy_pj: float
    levels: tuple[LevelCost, ...]

    def level(self, name: str) -> LevelCost:
        return next(lv for lv in self.levels if lv.name == name)
