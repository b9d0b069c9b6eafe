"""The inputs of the loop-nest model: workload, storage levels, mapping and sparse features (frozen)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ACTIONS = ("read", "write", "update", "gated_read", "gated_write", "metadata_read", "metadata_write",
           "gated_metadata_read", "gated_metadata_write", "idle", "metadata_idle", "skipped_read", "skipped_write",
           "skipped_metadata_read", "skipped_metadata_write", "decompression_count", "compression_count")
# Timeloop's op -> ERT action priority lists (include/model/topology.hpp storageOperationMappings): an op is
# priced at the first action its table names; a random op the table does not price costs the table's
# largest action, any other op nothing.
STORAGE_OP_ACTIONS = {
    "random_read": ("random_read", "read"), "random_fill": ("random_fill", "write"),
    "random_update": ("random_update", "random_fill", "write"),
    "gated_read": ("gated_read", "idle", "read"),
    "gated_fill": ("gated_fill", "gated_write", "idle", "write"),
    "gated_update": ("gated_update", "gated_write", "idle", "write"),
    "skipped_read": ("skipped_read", "gated_read", "idle", "read"),
    "skipped_fill": ("skipped_fill", "skipped_write", "gated_write", "idle", "write"),
    "skipped_update": ("skipped_update", "skipped_write", "gated_write", "idle", "write"),
    "random_metadata_read": ("random_metadata_read", "metadata_read", "metadata_idle", "idle"),
    "gated_metadata_read": ("gated_metadata_read", "metadata_idle", "metadata_read"),
    "skipped_metadata_read": ("skipped_metadata_read", "metadata_idle", "metadata_read"),
    "random_metadata_fill": ("random_metadata_fill", "metadata_write", "metadata_idle", "idle"),
    "gated_metadata_fill": ("gated_metadata_fill", "gated_metadata_write", "metadata_idle", "metadata_write"),
    "skipped_metadata_fill": ("skipped_metadata_fill", "skipped_metadata_write", "metadata_idle", "metadata_write"),
    "random_metadata_update": ("random_metadata_update", "metadata_write", "metadata_idle", "idle"),
    "gated_metadata_update": ("gated_metadata_update", "gated_metadata_write", "metadata_idle", "metadata_write"),
    "skipped_metadata_update": ("skipped_metadata_update", "skipped_metadata_write", "metadata_idle",
                                "metadata_write"),
    "decompression_count": ("decompression_count",), "compression_count": ("compression_count",),
}
FORMAT_KINDS = ("UOP", "CP", "B", "RLE")
# skipping_spatial: fewer instances work (Sparseloop storage-gs-analyzer.cpp CalculateSpatialOptimizationImpact);
# position_skipping: the 2022 artifact's DSTC SAF (inferred from its outputs, absent from public Timeloop);
# both spatial designs only (:mod:`sparsesim.loopnest.spatial_counts`)
OPT_KINDS = ("gating", "skipping", "skipping_spatial", "position_skipping")


class SpecError(ValueError):
    """A design the model cannot price, named by its field."""


@dataclass(frozen=True)
class Tensor:
    """One operand: the problem dimension of each rank, outermost first (projections are plain indices)."""

    name: str
    dims: tuple[str, ...]
    output: bool = False
    # a rank per entry, each a sum of (dimension, coefficient) terms (a convolution's input row is
    # q * stride + s); empty: one rank per dimension of ``dims`` (:mod:`sparsesim.loopnest.windows`)
    projection: tuple[tuple[tuple[str, int], ...], ...] = ()


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
    spatial: str = ""            # "X" or "Y": fans out to the level below's instances (:mod:`.spatial`)


@dataclass(frozen=True)
class RankFormat:
    """One rank's format: UOP (offsets), CP (a coordinate per nonzero), B (a bit per position), RLE (a run
    length per nonzero).  ``metadata_bits`` and ``payload_bits`` default to Sparseloop's."""

    kind: str
    metadata_bits: int | None = None
    payload_bits: int | None = None
    flattened: tuple[tuple[str, ...], ...] = ()      # Sparseloop's flattened-rankIDs: dimensions one rank takes

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
    metadata_word_bits: int = 0          # a rank's metadata or payload width where its format names none
    read_bw_words: float | None = None
    write_bw_words: float | None = None
    energy_pj: tuple[tuple[str, float], ...] = ()
    formats: tuple[tuple[str, tuple[RankFormat, ...]], ...] = ()
    inner_to_outer: frozenset[str] = frozenset()
    action_opts: tuple[ActionOpt, ...] = ()
    # bypassed but streamed through (the 2022 artifact's ``stream`` directive): charged a read and a fill
    # per word its parent serves through it, no capacity (:mod:`sparsesim.loopnest.spatial_counts`)
    stream: frozenset[str] = frozenset()

    def energy(self, action: str) -> float:
        """pJ per action; an output's ``update`` falls back to ``write`` where the table has none."""
        table = dict(self.energy_pj)
        return table.get(action, table.get("write", 0.0) if action == "update" else 0.0)

    def op_energy(self, op: str) -> float:
        """pJ of one Timeloop op (``random_read``, ``skipped_metadata_read``...) by its priority list."""
        table = dict(self.energy_pj)
        for action in STORAGE_OP_ACTIONS[op]:
            if action in table:
                return table[action]
        return max(table.values(), default=0.0) if op.startswith("random") else 0.0

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
    skipped_compute_pj: float = 0.0
    skip_unaligned: bool = False         # Sparseloop's compute ``skipping``: skip a MAC whose operands miss


@dataclass(frozen=True)
class Convention:
    """Where Timeloop's versions count differently (each checked against that version's own outputs).

    * ``first_fill_elision``: an output's first touch at a level below the outermost is not a fill;
    * ``metadata_per_entry``: each metadata or payload entry (a coordinate, an offset) is one metadata
      access of the level's metadata width; otherwise metadata is charged by its bits over that width;
    * ``charge_skipped_metadata``: metadata reads of skipped accesses are still charged;
    * ``integer_counts``: count as Timeloop does, in whole accesses (:mod:`sparsesim.loopnest.counts`):
      per-tile occupancy distributions, tiles conditioned on being nonempty below a level with metadata,
      every count rounded where Timeloop rounds it, ops priced by its op -> action priority lists;
    * ``rle_counts_empty_fibers``: an RLE rank's entries are weighted by the probability that its fibre
      is nonempty (Timeloop's later source); the 2022 artifact counts the tile's expected nonzeros;
    * ``compute_clamps_states``: the operand-state probabilities of the compute's 2-operand model are
      rounded to 1e-6 and clamped into [0, 1] (later source); the 2022 artifact does neither;
    * ``cp_rounds_coordinates``: a CP rank's coordinates per fibre are rounded up (later source,
      coordinate-payload.cpp GetOccupancy); the 2022 artifact's Fig. 1 outputs count 1.5 for 128 x 0.0117.
    * ``bitmask_payload_per_position``: a B rank's payload units equal its metadata units (a unit per
      position of each nonempty fibre).  **Inferred** from the 2022 artifact's Fig. 15 DSTC outputs (131072
      payload units in WD-0.25 L4, where the public source's fibres x ceil(fibre x P(nonempty below)) gives
      131040); public Timeloop (bitmask.cpp GetOccupancy) counts the nonempty positions.  Whole-access
      engine only.
    * ``vector_width_correction``: a compressed tile small against the level's vector is read in whole
      vectors, ceil(k / block) (buffer.cpp ComputeVectorAccesses, public source).  The 2022 artifact's
      build does not apply it: its Fig. 15 DSTC LRF (2-word vectors, 64-element tiles, where the public
      source scales by about 1.016) prices the nonzeros naively (**inferred** from those outputs).
    """

    name: str
    first_fill_elision: bool
    metadata_per_entry: bool
    charge_skipped_metadata: bool
    integer_counts: bool = False
    rle_counts_empty_fibers: bool = False
    compute_clamps_states: bool = False
    cp_rounds_coordinates: bool = False
    bitmask_payload_per_position: bool = False
    vector_width_correction: bool = True


SPARSELOOP_2022 = Convention("sparseloop-2022", False, False, True)   # the MICRO 2022 artifact's Timeloop
TIMELOOP_04 = Convention("timeloop-0.4", True, True, False)           # Timeloop v0.4 (its tutorials' outputs)
# The same 2022 build, counted in whole accesses (its Fig. 12 outputs are reproduced exactly this way; its
# Fig. 1 outputs are reproduced by the expected-value counts of SPARSELOOP_2022).
SPARSELOOP_2022_COUNTS = Convention("sparseloop-2022-counts", False, False, True, integer_counts=True,
                                    bitmask_payload_per_position=True, vector_width_correction=False)
# Timeloop built from source at commit a9c5115 (benchmarks/timeloop_build.sh, the generated grid's oracle): the
# same whole-access counts, with its own source's RLE (run-length-encoding.cpp GetOccupancy weighs by the
# fibre's P(nonempty)), CP (rounds each fibre's coordinates up) and compute model (compute-gs-analyzer.cpp rounds the operand states to 1e-6, clamps).
TIMELOOP_A9C5115_COUNTS = Convention("timeloop-a9c5115-counts", False, False, True, integer_counts=True,
                                     rle_counts_empty_fibers=True, compute_clamps_states=True,
                                     cp_rounds_coordinates=True)
CONVENTIONS = {c.name: c for c in (SPARSELOOP_2022, TIMELOOP_04, SPARSELOOP_2022_COUNTS, TIMELOOP_A9C5115_COUNTS)}


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
