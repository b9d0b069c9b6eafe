"""Timeloop's whole-access counts (``Convention.integer_counts``): the 2022 Sparseloop build's rules, read from
its outputs for Fig. 12 of the MICRO 2022 artifact and from NVlabs/timeloop's source (files named per rule).

Per tensor and level that keeps it (from the dense counts of :mod:`sparsesim.loopnest.tiling`):

* occupancy: the tile's nonzeros are distributed by the density model (:class:`~density.Occupancy`); below
  a level that keeps the tensor with metadata, a tile that may be empty is counted given it is not (the
  level's utilized instances scale by P(nonempty)) (representation-analyzer.cpp CalculateExpectedOccupancy);
* ranks: the level's formats take its loops inner to outer, flattened-rankIDs and pre-tiling included
  (:func:`ranks.assign_loops`), and each rank's expected (metadata, payload) units per tile are summed over
  the occupancy distribution (:func:`ranks.units_given`);
* format accesses: ceil(units x dense count / tile) per rank (CalculateExpectedMetaDataAccesses);
* data with metadata: ``x - floor(x (1 - tile density))`` reads and fills (and an output's updates)
  (storage-optimization-combiner.cpp);
* gating/skipping: p = 1 - prod(1 - P(condition tile empty)) over the tile one access of the target's child
  serves (one element where it has none); the target's reads lose floor (an output's ceil) of p, its
  updates and the format reads of the ranks it sends down floor of p; levels below lose floor(x p) of
  their accesses; a read-only target skipped nowhere below also removes floor of p of the computes
  (storage-gs-analyzer.cpp);
* computes: the 2-operand model of compute-gs-analyzer.cpp CalculateFineGrainedComputeAccesses2Operand;
* energy: ops priced by Timeloop's priority lists (:meth:`spec.StorageLevel.op_energy`), data per vector
  of ``block_words``, metadata as ceil(sum over ranks of bits / metadata width) per op, per instance times
  the utilized instances; cycles: the computes, slowed where a level's bandwidth cannot keep up (buffer.cpp).

Statistical-only: an :class:`~density.ExactMask` has no occupancy distribution to give and is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from sparsesim.loopnest.density import DENSE, ExactMask
from sparsesim.loopnest.ranks import COMPRESSING, Rank, assign_loops, units_given, word_bits
from sparsesim.loopnest.result import LevelCost, LoopnestResult, TensorCounts
from sparsesim.loopnest.spec import Design, SpecError, Tensor, Workload
from sparsesim.loopnest.tiling import DenseCounts, dense_counts, holders, loop_nest, tiles_after

TYPES = ("random", "gated", "skipped")
KINDS = ("read", "fill", "update")
RANDOM, GATED, SKIPPED = range(3)
READ, FILL, UPDATE = range(3)


@dataclass(frozen=True)
class TileStats:
    """One tensor at one level: its ranks (innermost first), the tile's expected density and per-rank
    (metadata, payload) units, the average utilized instances, and the factor on its data vector accesses."""

    ranks: tuple[Rank, ...]
    density: float
    units: np.ndarray
    utilized: float
    vector_ratio: float = 1.0


@dataclass(frozen=True)
class Accesses:
    """Whole accesses: ``data[type, kind]`` words and ``fmt[type, kind, rank, (metadata, payload)]`` units,
    type in (random, gated, skipped), kind in (read, fill, update)."""

    data: np.ndarray
    fmt: np.ndarray


def _model(w: Workload, t: Tensor):
    model = DENSE if t.output else (w.density(t.name) or DENSE)
    if isinstance(model, ExactMask):
        raise SpecError(f"densities.{t.name}: exact masks are not counted in whole accesses (statistical-only "
                        "rules); use the sparseloop-2022 convention")
    return model


def _size(w: Workload, t: Tensor) -> int:
    return math.prod(w.size(d) for d in t.dims)


def _neighbours(design: Design, t: Tensor, level: int) -> tuple[int | None, int | None]:
    held = holders(design, t)
    pos = held.index(level)
    return (held[pos - 1] if pos else None), (held[pos + 1] if pos + 1 < len(held) else None)


def _has_md(design: Design, level: int | None, t: Tensor) -> bool:
    return level is not None and bool(design.levels[level].format_of(t.name))


def _shapes(design: Design, w: Workload, t: Tensor, level: int) -> tuple[list[int], list[int]]:
    """Fibre shapes (one per rank) and the tile under one coordinate of each rank (one more: the top's
    tile), ranks innermost first (representation-analyzer.cpp DefineCompressionFormatModels)."""
    nest = loop_nest(design)
    tiles = tiles_after(nest, t)
    child, _ = _neighbours(design, t, level)
    formats = design.levels[level].format_of(t.name)[::-1]
    inner_to_outer = t.name in design.levels[level].inner_to_outer
    inner = 0 if child is None else child + 1
    child_tile = 1 if child is None else math.prod(
        math.prod(lv.factor(d) for lv in design.levels[:child + 1]) for d in t.dims)
    pretile = any(f.kind in COMPRESSING for f in formats) and child is not None and child_tile > 1
    loops = [(d, f, tiles[j]) for j, (i, d, f) in enumerate(nest) if inner <= i <= level and d in t.dims]
    if not pretile and inner > 0:             # the loops below fold into each dimension's first loop
        below = {d: math.prod(f for i, dd, f in nest if i < inner and dd == d) for d in t.dims}
        loops = [(d, f * below.pop(d, 1), tile) for d, f, tile in loops]
    if pretile:
        if not _has_md(design, child, t):
            raise SpecError(f"{design.levels[level].name}.formats.{t.name}: pre-tiling over a level without "
                            "metadata is not modelled")
        fibers, subtiles = _shapes(design, w, t, child)
        own = assign_loops(formats, loops, len(fibers), inner_to_outer)
        fibers, subtiles = list(fibers), list(subtiles)
    else:
        own = assign_loops(formats, loops, 0, inner_to_outer)
        fibers, subtiles = [], [1]
    fibers += [math.prod(f for _, f in nest_) for nest_, _ in own]
    subtiles += [tile for _, tile in own]
    return fibers, subtiles


def tensor_ranks(design: Design, w: Workload, t: Tensor, level: int) -> tuple[Rank, ...]:
    lvl = design.levels[level]
    formats = lvl.format_of(t.name)[::-1]
    fibers, subtiles = _shapes(design, w, t, level)
    top = len(formats) - 1
    i2o = t.name in lvl.inner_to_outer
    out = []
    for r, fmt in enumerate(formats):
        trivial = fibers[r] == 1 and (r != 0 if i2o else r != top)
        md = 1 if fmt.kind == "B" and fmt.metadata_bits is None else fmt.metadata_bits   # bitmask.cpp: 1 bit
        bits = [0 if trivial else word_bits(b, lvl.metadata_width_bits, lvl.metadata_word_bits)
                for b in (md, fmt.payload_bits)]
        out.append(Rank(fmt.kind, fibers[r], subtiles[r], bits[0], bits[1], trivial))
    return tuple(out)


def tile_stats(design: Design, w: Workload, t: Tensor, level: int, tile: int) -> TileStats:
    model, size = _model(w, t), _size(w, t)
    occ = model.occupancy(tile, size)
    p = list(occ.p)
    utilized = 1.0
    _, parent = _neighbours(design, t, level)
    if _has_md(design, parent, t) and occ.may_be_empty:
        utilized = 1.0 - p[0]                 # Timeloop drops its first nonzero probability (P(0) unless the
        p = [0.0] + [x / utilized for x in p[1:]]   # tile cannot be empty: then all of a dense tile's mass)
    density = math.fsum(pk * k for pk, k in zip(p, occ.nnz)) / tile
    ranks = tensor_ranks(design, w, t, level) if _has_md(design, level, t) else ()
    per_k = [units_given(ranks, tile, lambda b, k=k: model.p_empty_within(b, tile, k), design.convention)
             for k in occ.nnz]
    units = np.array([[math.fsum(pk * u[r][c] for pk, u in zip(p, per_k)) for c in (0, 1)]
                      for r in range(len(ranks))]).reshape(len(ranks), 2)
    ratio = vector_ratio(design.levels[level], t, occ, tile, density) if design.convention.vector_width_correction else 1.0
    return TileStats(ranks, density, units, utilized, ratio)


# Tile shape / vector width above which Timeloop counts a compressed tile's vector accesses naively, per vector
# width and per density tenth from 0.1 (include/model/buffer.hpp VectorWidthCoefficientTable).
VECTOR_WIDTH_THRESHOLDS = {2: (251, 125, 84, 63, 51, 42, 36, 32, 28, 1), 4: (375, 188, 125, 94, 75, 63, 54, 47, 42, 1),
                           8: (438, 219, 146, 110, 88, 73, 63, 55, 49, 1), 16: (469, 235, 157, 118, 94, 79, 67, 59, 52, 1),
                           32: (485, 243, 162, 122, 97, 81, 70, 61, 52, 1)}


def vector_ratio(lvl, t: Tensor, occ, tile: int, density: float) -> float:
    """A compressed tile read in vectors of ``block_words``: its nonzeros fill ceil(k / block) vectors, not
    k / block, when the tile is small against the vector (buffer.cpp ComputeVectorAccesses): the factor
    E[ceil(k / block)] / (tile x density / block) over the tile's (unconditioned) occupancy, else 1."""
    block = lvl.block_words
    if block <= 1 or not tile or density >= 1.0 or not any(f.kind in COMPRESSING for f in lvl.format_of(t.name)):
        return 1.0
    column = math.floor(density / 0.1) - 1 if density >= 0.1 else 0
    if block not in VECTOR_WIDTH_THRESHOLDS:      # Timeloop a9c5115 throws here too (map::at)
        raise SpecError(f"{lvl.name}.block_words: {block} has no vector-width threshold in Timeloop's table "
                        f"(one of {sorted(VECTOR_WIDTH_THRESHOLDS)}); count it under a convention without "
                        f"the vector-width correction")
    if VECTOR_WIDTH_THRESHOLDS[block][column] <= tile // block:
        return 1.0
    total = math.fsum(math.ceil(k / block) * p for k, p in zip(occ.nnz, occ.p) if k >= 1)
    return total / (tile * density / block)


def represented(dc: DenseCounts, stats: TileStats, has_md: bool, output: bool) -> Accesses:
    """Dense counts as stored: at a level with metadata, the zeros' share (floor) leaves reads and fills."""
    data = np.zeros((3, 3))
    data[RANDOM] = dc.reads, dc.fills, dc.updates
    if has_md:
        sparse = 1.0 - stats.density
        kinds = [READ, FILL, UPDATE] if output else [READ, FILL]
        data[RANDOM, kinds] -= np.floor(data[RANDOM, kinds] * sparse)
    fmt = np.zeros((3, 3, len(stats.ranks), 2))
    for k, dense in enumerate((dc.reads, dc.fills, dc.updates)):
        fmt[RANDOM, k] = np.ceil(stats.units * (dense / dc.tile))
    return Accesses(data, fmt)


def _condition_tile(design: Design, w: Workload, target: Tensor, level: int, cond: Tensor) -> int:
    """Elements of ``cond`` one access of ``target`` at ``level`` is conditioned on: one where the target
    has no level below; else the tile of the first nontrivial target loop above that child, a loop over a
    dimension both index counted once (unexercised by the artifact's cases)."""
    child, _ = _neighbours(design, target, level)
    if child is None:
        return 1
    nest = loop_nest(design)
    j = next(j for j, (i, d, f) in enumerate(nest) if child < i <= level and f > 1 and d in target.dims)
    extents: dict[str, int] = {}
    for _, d, f in nest[:j + 1]:
        extents[d] = extents.get(d, 1) * f
    _, dim, factor = nest[j]
    if dim in cond.dims:
        extents[dim] = math.ceil(extents[dim] / factor)
    return math.prod(extents.get(d, 1) for d in cond.dims)


def saf_probability(design: Design, w: Workload, target: Tensor, level: int, conditions) -> float:
    keep = 1.0
    for name in conditions:
        cond = w.tensor(name)
        keep *= 1.0 - _model(w, cond).p_empty(_condition_tile(design, w, target, level, cond), _size(w, cond))
    return 1.0 - keep


def _safs(design: Design, w: Workload) -> dict[tuple[int, str], tuple[int, float]]:
    """(target level, tensor) -> (gated or skipped, p) for every storage gating/skipping."""
    out = {}
    for i, lvl in enumerate(design.levels):
        for opt in lvl.action_opts:
            t = w.tensor(opt.target)
            target = i if t.name in lvl.keep else next((j for j in holders(design, t) if j > i), None)
            if target is None:
                raise SpecError(f"{lvl.name}.action_opts: no level at or above keeps {t.name}")
            kind = GATED if opt.kind == "gating" else SKIPPED
            out[(target, t.name)] = (kind, saf_probability(design, w, t, target, opt.condition_on))
    return out


def apply_safs(design: Design, w: Workload, acc: dict, safs: dict) -> tuple[float, dict[str, float]]:
    """Apply each gating/skipping (outermost first per tensor) to ``acc`` in place; returns the computes
    left and, per read-only tensor skipped nowhere below, its p (the compute model's leader)."""
    computes, leaders = float(w.macs), {}
    for t in w.tensors:
        levels = sorted((i for i, name in safs if name == t.name), reverse=True)
        for i in levels:
            kind, p = safs[(i, t.name)]
            for below in (j for j in holders(design, t) if j < i):
                d = acc[(below, t.name)].data
                d[RANDOM] -= np.floor(d[RANDOM] * p)
            a = acc[(i, t.name)]
            moved = math.ceil(a.data[RANDOM, READ] * p) if t.output else math.floor(a.data[RANDOM, READ] * p)
            a.data[RANDOM, READ] -= moved
            a.data[kind, READ] += moved
            moved = math.floor(a.data[RANDOM, UPDATE] * p)
            a.data[RANDOM, UPDATE] -= moved
            a.data[kind, UPDATE] += moved
            child, _ = _neighbours(design, t, i)
            sent = a.fmt.shape[2] if child is None else len(design.levels[child].format_of(t.name))
            moved_fmt = np.floor(a.fmt[RANDOM, [READ, UPDATE], :sent] * p)
            a.fmt[RANDOM, [READ, UPDATE], :sent] -= moved_fmt
            a.fmt[kind, [READ, UPDATE], :sent] += moved_fmt
            if not t.output and i == levels[-1]:
                computes -= math.floor(computes * p)
                leaders[t.name] = p
    return computes, leaders


def _round6(x: float) -> float:
    """C's round(1e6 x) / 1e6: halves away from zero (Python's round() takes them to even: 0.1015625)."""
    return float(Decimal(1e6 * x).to_integral_value(rounding=ROUND_HALF_UP)) / 1e6


def compute_actions(design: Design, w: Workload, computes: float, leaders: dict[str, float]):
    """(random, gated, skipped) computes: Timeloop's 2-operand model.  An operand is zero, or not there
    (its innermost store has metadata), with P = 1 - density; one led by a skipped partner is conditioned on
    it.  Skipping removes the computes whose operands miss each other, gating gates those with a zero."""
    ops = w.inputs
    if len(ops) != 2:
        raise SpecError(f"workload: {len(ops)} input tensors; Timeloop's 2-operand compute model needs 2")
    clamp = design.convention.compute_clamps_states
    states = {}
    for t in ops:
        d = _round6(1.0 - _model(w, t).p_empty(1, _size(w, t)))
        has_md = _has_md(design, holders(design, t)[0], t)
        partner = next(o.name for o in ops if o is not t)
        if partner in leaders:
            ratio = 1.0 - (_round6(leaders[partner]) if clamp else leaders[partner])
            enz, empty = d / ratio, 1.0 - d / ratio
        else:
            enz, empty = d, 1.0 - d
        s = {"ENZ": enz, "EZ": 0.0 if has_md else empty, "NE": empty if has_md else 0.0}
        states[t.name] = {k: min(1.0, max(0.0, v)) for k, v in s.items()} if clamp else s
    a, b = (states[t.name] for t in ops)
    skip = design.compute.skip_unaligned
    gate = any(o.kind == "gating" for o in design.compute.action_opts)
    zero = computes * (a["ENZ"] * b["EZ"] + a["EZ"] * b["ENZ"] + a["EZ"] * b["EZ"])
    miss = computes * (a["ENZ"] * b["NE"] + a["NE"] * b["ENZ"] + a["EZ"] * b["NE"] + a["NE"] * b["EZ"])
    neither = computes * a["NE"] * b["NE"]
    skipped = math.floor(miss) if skip else 0
    gated = math.floor(zero + (0.0 if skip else miss)) if gate else 0
    return computes - skipped - gated - math.floor(neither), gated, skipped


def _md_bits(ranks: tuple[Rank, ...], fmt: np.ndarray) -> np.ndarray:
    """Metadata bits per (type, kind): summed over ranks before any rounding."""
    bits = np.array([[rk.metadata_bits, rk.payload_bits] for rk in ranks]).reshape(len(ranks), 2)
    return (fmt * bits).sum(axis=(2, 3))


def tensor_energy_pj(design: Design, i: int, a: Accesses, stats: TileStats) -> float:
    """Per-instance energy of one tensor at one level (buffer.cpp ComputeBufferEnergy)."""
    lvl = design.levels[i]
    e = sum(math.ceil(a.data[ty, k] / lvl.block_words) * stats.vector_ratio * lvl.op_energy(f"{TYPES[ty]}_{KINDS[k]}")
            for ty in range(3) for k in range(3))
    if stats.ranks and lvl.metadata_width_bits:
        bits = _md_bits(stats.ranks, a.fmt)
        e += sum(math.ceil(bits[ty, k] / lvl.metadata_width_bits) * lvl.op_energy(f"{TYPES[ty]}_metadata_{KINDS[k]}")
                 for ty in range(3) for k in range(3))
    return e


def level_cycles(design: Design, i: int, tensors, compute_cycles: float) -> float:
    """The computes' cycles, slowed where the level's read or write bandwidth cannot keep up, in Timeloop's
    own floating-point steps (buffer.cpp ComputePerformance): per tensor, actual and gated accesses plus its
    metadata bits in whole data words (C++ integer division), divided by (1 / utilized instances) and
    rounded up, over the compute cycles; the slowdown is the bandwidth over the summed demand."""
    lvl = design.levels[i]
    read_bw = write_bw = 0.0
    for a, stats in tensors:
        bits = _md_bits(stats.ranks, a.fmt) if stats.ranks else np.zeros((3, 3))
        r = a.data[RANDOM, READ] + a.data[GATED, READ] + int(bits[RANDOM, READ] + bits[GATED, READ]) // lvl.word_bits
        wr = (a.data[[RANDOM, GATED]][:, [FILL, UPDATE]].sum()
              + int(bits[[RANDOM, GATED]][:, [FILL, UPDATE]].sum()) // lvl.word_bits)
        scaling = 1.0 / stats.utilized if stats.utilized else math.inf
        read_bw += math.ceil(r / scaling) / compute_cycles
        write_bw += math.ceil(wr / scaling) / compute_cycles
    slowdown = 1.0
    for demand, bw in ((read_bw, lvl.read_bw_words), (write_bw, lvl.write_bw_words)):
        if bw is not None and bw < demand:
            slowdown = min(slowdown, bw / demand)
    return math.ceil(compute_cycles / slowdown)


def _tensor_counts(t: Tensor, a: Accesses, stats: TileStats) -> TensorCounts:
    bits = _md_bits(stats.ranks, a.fmt) if stats.ranks else np.zeros((3, 3))
    d = a.data
    return TensorCounts(t.name, d[RANDOM, READ], d[GATED, READ], d[SKIPPED, READ], d[RANDOM, FILL],
                        d[RANDOM, UPDATE], d[GATED, UPDATE], d[SKIPPED, UPDATE], bits[RANDOM, READ],
                        bits[GATED, READ], bits[SKIPPED, READ], bits[RANDOM, FILL])


def evaluate_counts(design: Design, w: Workload) -> LoopnestResult:
    stats, acc = {}, {}
    for t in w.tensors:
        for i, dc in dense_counts(design, w, t).items():
            s = tile_stats(design, w, t, i, dc.tile)
            stats[(i, t.name)] = s
            acc[(i, t.name)] = represented(dc, s, _has_md(design, i, t), t.output)
    computes, leaders = apply_safs(design, w, acc, _safs(design, w))
    random, gated, skipped = compute_actions(design, w, computes, leaders)
    compute_cycles = random + gated
    levels = []
    for i, lvl in enumerate(design.levels):
        keys = [(i, t.name) for t in w.tensors if (i, t.name) in acc]
        energy = sum(tensor_energy_pj(design, i, acc[k], stats[k]) * stats[k].utilized for k in keys)
        cycles = level_cycles(design, i, [(acc[k], stats[k]) for k in keys], compute_cycles)
        levels.append(LevelCost(lvl.name, cycles, energy,
                                tuple(_tensor_counts(w.tensor(k[1]), acc[k], stats[k]) for k in keys)))
    c = design.compute
    compute_pj = random * c.compute_pj + gated * c.gated_compute_pj + skipped * c.skipped_compute_pj
    return LoopnestResult(max([compute_cycles] + [lv.cycles for lv in levels]),
                          compute_pj + sum(lv.energy_pj for lv in levels), random, gated, compute_pj, tuple(levels))
