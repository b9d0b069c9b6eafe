"""The inputs of the loop-nest model: workload, storage levels, mapping and sparse features (frozen)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ACTIONS = ("read", "write", "update", "gated_read", "gated_write", "metadata_read", "metadata_write",
           "gated_metadata_read", "gated_metadata_write")
FORMAT_KINDS = ("UOP", "CP", "B", "RLE")
OPT_KINDS = ("gating", "skipping")


class SpecError(ValueError):
    """A design the model cannot price, named by its field."""


@dataclass(frozen=True)
class Tensor:
    """One operand: the problem dimension of each rank, outermost first (projections are plain indices)."""

    name: str
    dims: tuple[str, ...]
    output: bool = False


@dataclass(frozen=True)
class Workload:
    """An einsum: dimension sizes, its tensors and a density model per input tensor (outputs are dense)."""

    sizes: tuple[tuple[str, int], ...]
    tensors: tuple[Tensor, ...]
    densities: tuple[tuple[str, object], ...] = ()

    def size(self, dim: str) -> int:
        return dict(self.sizes)[dim]

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise SpecError(f"tensor: {name!r} is not one of {[t.name for t in self.tensors]}")

    def density(self, name: str):
        return dict(self.densities).get(name)

    @property
    def macs(self) -> int:
        return math.prod(s for _, s in self.sizes)

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return tuple(t for t in self.tensors if not t.output)


@dataclass(frozen=True)
class Loop:
    dim: str
    factor: int


@dataclass(frozen=True)
class RankFormat:
    """One rank's format: UOP (offsets), CP (a coordinate per nonzero), B (a bit per position), RLE (a run
    length per nonzero).  ``metadata_bits`` and ``payload_bits`` default to Sparseloop's."""

    kind: str
    metadata_bits: int | None = None
    payload_bits: int | None = None

    def __post_init__(self):
        if self.kind not in FORMAT_KINDS:
            raise SpecError(f"format: {self.kind!r} is not one of {', '.join(FORMAT_KINDS)}")


@dataclass(frozen=True)
class ActionOpt:
    """Gate (keep the access's cycle, spend the gated energy) or skip (spend neither) ``target``'s accesses
    at a level when any tensor of ``condition_on`` is zero there."""

    kind: str
    target: str
    condition_on: tuple[str, ...]

    def __post_init__(self):
        if self.kind not in OPT_KINDS:
            raise SpecError(f"action optimization: {self.kind!r} is not one of {', '.join(OPT_KINDS)}")


@dataclass(frozen=True)
class StorageLevel:
    """A buffer: what it keeps, its loops (innermost first), its widths, bandwidth (words/cycle, None for
    unbounded), energy per action (pJ per vector of ``block_words`` words, or of ``metadata_width_bits``
    metadata bits) and its sparse features."""

    name: str
    keep: frozenset[str]
    loops: tuple[Loop, ...] = ()
    word_bits: int = 8
    block_words: int = 1
    metadata_width_bits: int = 0
    read_bw_words: float | None = None
    write_bw_words: float | None = None
    energy_pj: tuple[tuple[str, float], ...] = ()
    formats: tuple[tuple[str, tuple[RankFormat, ...]], ...] = ()
    inner_to_outer: frozenset[str] = frozenset()
    action_opts: tuple[ActionOpt, ...] = ()

    def energy(self, action: str) -> float:
        """pJ per action; an output's ``update`` falls back to ``write`` where the table has none."""
        table = dict(self.energy_pj)
        return table.get(action, table.get("write", 0.0) if action == "update" else 0.0)

    def format_of(self, tensor: str) -> tuple[RankFormat, ...]:
        return dict(self.formats).get(tensor, ())

    def factor(self, dim: str) -> int:
        return math.prod(lp.factor for lp in self.loops if lp.dim == dim)


@dataclass(frozen=True)
class ComputeLevel:
    name: str = "MAC"
    compute_pj: float = 0.0
    gated_compute_pj: float = 0.0
    action_opts: tuple[ActionOpt, ...] = ()


@dataclass(frozen=True)
class Convention:
    """Where Timeloop's versions count differently (each checked against that version's own outputs).

    * ``first_fill_elision``: an output's first touch at a level below the outermost is not a fill;
    * ``metadata_per_entry``: each metadata or payload entry (a coordinate, an offset) is one metadata
      access of the level's metadata width; otherwise metadata is charged by its bits over that width;
    * ``charge_skipped_metadata``: metadata reads of skipped accesses are still charged.
    """

    name: str
    first_fill_elision: bool
    metadata_per_entry: bool
    charge_skipped_metadata: bool


SPARSELOOP_2022 = Convention("sparseloop-2022", False, False, True)   # the MICRO 2022 artifact's Timeloop
TIMELOOP_04 = Convention("timeloop-0.4", True, True, False)           # Timeloop v0.4 (its tutorials' outputs)
CONVENTIONS = {c.name: c for c in (SPARSELOOP_2022, TIMELOOP_04)}


@dataclass(frozen=True)
class Design:
    """Storage levels innermost first, over one compute unit, counted under ``convention``."""

    levels: tuple[StorageLevel, ...]
    compute: ComputeLevel = field(default_factory=ComputeLevel)
    convention: Convention = SPARSELOOP_2022

    def check(self, w: Workload) -> None:
        for lvl in self.levels:
            for lp in lvl.loops:
                if lp.dim not in dict(w.sizes):
                    raise SpecError(f"{lvl.name}.loops: dimension {lp.dim!r} is not one of {list(dict(w.sizes))}")
        for dim, size in w.sizes:
            mapped = math.prod(lvl.factor(dim) for lvl in self.levels)
            if mapped != size:
                raise SpecError(f"mapping: the loops over {dim} multiply to {mapped}, the workload has {size}")
        for t in w.tensors:
            if not any(t.name in lvl.keep for lvl in self.levels):
                raise SpecError(f"mapping: no level keeps tensor {t.name!r}")
