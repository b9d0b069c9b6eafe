"""Whole-access counts, energy and cycles of a design with spatial fan-out or sliding windows, under the
2022 Sparseloop build's rules (``Convention.integer_counts``); per-instance dense counts come from
:mod:`sparsesim.loopnest.spatial`.  Read in NVlabs/timeloop a57318c's sparse-analysis and model sources
(files named per step) and checked on Sparseloop's Table 7 outputs (Eyeriss v1, AlexNet conv1-5):

* ranks: a compressed level whose child keeps a tile of more than one element is pre-tiled (the child's
  ranks below; an uncompressed child is one rank over its whole tile, halo included); the level's loops,
  and those of the bypassed levels down to the child, over dimensions that project onto the tensor, go
  to the ranks above, outermost first, a rank taking the loops of its flattened group; a rank's fibre is
  the projection of its loops' box (representation-analyzer.cpp DefineCompressionFormatModels);
* occupancy, format units and format accesses, data at a level with metadata, gating/skipping and its
  propagation, the 2-operand compute model: as :mod:`sparsesim.loopnest.counts`, with condition tiles
  formed over spatial loops (storage-gs-analyzer.cpp ComputeIneffectualReadImpact);
* an uncompressed level under a compressed parent decompresses its fills (and compresses the parent's
  updates of an output) (storage-optimization-combiner.cpp CalculateDecompressionCompressionCost);
* energy per instance x utilized instances, a compressed tile's data in whole vectors (buffer.cpp
  ComputeVectorAccesses); compute cycles ceil((actual + gated) / compute instances); a level's read and
  write words (metadata bits as whole words), spread over mapped / utilized instances, per compute cycle
  against its bandwidths (buffer.cpp ComputePerformance);
* operand densities for the compute model: P(one element nonzero) (compute-gs-analyzer.cpp
  GetExpectedOperandDensities).  These three were checked on a generated spatial grid run through
  Timeloop a9c5115 (docs/validation.md section 14e).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sparsesim.loopnest.counts import vector_ratio
from sparsesim.loopnest.density import DENSE
from sparsesim.loopnest.ranks import COMPRESSING, word_bits
from sparsesim.loopnest.result import LevelCost, LoopnestResult, TensorCounts
from sparsesim.loopnest.spatial import NestLoop, nests, projection, spatial_counts
from sparsesim.loopnest.spec import Design, SpecError, StorageLevel, Workload
from sparsesim.loopnest.windows import c_round

OPS = ("random_read", "random_fill", "random_update", "gated_read", "gated_fill", "gated_update",
       "skipped_read", "skipped_fill", "skipped_update", "decompression_count", "compression_count")
MD_OPS = tuple(f"{ty}_metadata_{k}" for ty in ("random", "gated", "skipped") for k in ("read", "fill", "update"))


@dataclass
class _Move:
    """One tensor at one level while the sparse analysis runs (Timeloop's DataMovementInfo)."""

    shape: int
    reads: int
    fills: int
    updates: int
    instances: float
    model: object
    child: int | None
    parent: int | None
    ranks: tuple = ()               # per rank (format kind, metadata bits, payload bits, flattened dims), inner first
    compressed: bool = False
    fg: dict = field(default_factory=dict)
    fmt: dict = field(default_factory=dict)
    density: float = 1.0
    occupancy: float = 0.0
    units: list = field(default_factory=list)
    subnest: list = field(default_factory=list)
    subtile: list = field(default_factory=list)
    fibers: list = field(default_factory=list)
    vector_ratio: float = 1.0
    spatial_instances: float = 1.0  # the instances the mapping uses (utilized ones: ``instances``)
    occupancy_pmf: tuple = ()       # (nonzeros, probabilities) of the tile, as the counts weigh them
    inner_to_outer: bool = False    # ranks take loops from the innermost (Sparseloop's rank-application-order)

    @property
    def has_md(self) -> bool:
        return bool(self.ranks) and (self.compressed or len(self.ranks) > 1)


def _subnests(complete: list[NestLoop], cbounds: list[int], ndims: int):
    subs, molds, sizes, lvl = [[]], [[]], [1] * ndims, 0
    for i, lp in enumerate(complete):
        sizes[lp.dim] *= lp.factor
        molds[lvl].append([s - 1 for s in sizes])
        subs[lvl].append(lp)
        if i == cbounds[lvl]:
            subs.append([])
            molds.append([])
            lvl += 1
    return subs[:-1], molds[:-1]


def _rank_specs(lvl: StorageLevel, tensor: str, dims: list[str]) -> tuple:
    out = []
    for f in lvl.format_of(tensor)[::-1]:
        md = 1 if f.kind == "B" and f.metadata_bits is None else f.metadata_bits
        out.append((f.kind, word_bits(md, lvl.metadata_width_bits, lvl.metadata_word_bits),
                    word_bits(f.payload_bits, lvl.metadata_width_bits, lvl.metadata_word_bits),
                    tuple(frozenset(dims.index(x) for x in g) for g in f.flattened)))
    return tuple(out)


def _assign_ranks(d: _Move, n_ranks: int, first: int, loops: list, subtiles: list) -> None:
    """Sparseloop's outer-to-inner rank application (representation-analyzer.cpp ApplyRanksOuterToInner)."""
    j, r, corr = len(loops) - 1, n_ranks, 1
    while r > first and j >= 0:
        while j >= 0 and loops[j][1] <= 1:
            j -= 1
        if j < 0:
            break
        r -= 1
        lp, flat, rule = loops[j], [], frozenset()
        groups = d.ranks[r][3] if d.has_md else ()
        if groups:
            found = [g for g in groups if lp[0] in g]
            if not found:
                d.subnest.append([])
                d.subtile.append(subtiles[0])
                continue
            rule = found[0]
        in_list = not d.has_md or bool(rule)
        flat.append(tuple(lp))
        corr = subtiles[j]
        j -= 1
        if j >= 0 and in_list:
            lp = loops[j]
            while (not d.has_md) or lp[0] in rule or lp[1] <= 1:
                if lp[1] > 1:
                    flat.append(tuple(lp))
                j -= 1
                if j < 0:
                    break
                lp = loops[j]
        d.subnest.insert(0, flat)
        d.subtile.insert(0, corr)
        corr = 1
    while r > first:
        r -= 1
        d.subnest.insert(0, [])
        d.subtile.insert(0, subtiles[0])
    if any(lp[1] > 1 for lp in loops[:j + 1]):
        raise SpecError("formats: more loops than ranks (Sparseloop needs a rank per loop)")


def _assign_ranks_inner_to_outer(d: _Move, n_ranks: int, first: int, loops: list, subtiles: list) -> None:
    """Sparseloop's inner-to-outer rank application (representation-analyzer.cpp ApplyRanksInnerToOuter): from
    rank ``first`` up, each rank takes the next nontrivial loop from the innermost; ranks left over are
    dummies (fibre 1).  Flattened ranks are not ported here."""
    if d.has_md and any(rk[3] for rk in d.ranks):
        raise SpecError("formats: flattened ranks with inner-to-outer application are not ported (spatial path)")
    j, r = 0, first
    while r < n_ranks:
        while j < len(loops) and loops[j][1] <= 1:
            j += 1
        if j == len(loops):
            break
        d.subnest.append([tuple(loops[j])])
        d.subtile.append(subtiles[j])
        j, r = j + 1, r + 1
    for _ in range(r, n_ranks):
        d.subnest.append([])
        d.subtile.append(subtiles[0])
    if any(lp[1] > 1 for lp in loops[j:]):
        raise SpecError("formats: more loops than ranks (Sparseloop needs a rank per loop)")


def _units(kind: str, max_fibers: float, fiber: int, p_cur_empty: np.ndarray, p_next_empty: np.ndarray,
           bitmask_per_position: bool) -> tuple[np.ndarray, np.ndarray]:
    """(metadata, payload) units of one rank, per tile occupancy (arrays over it)
    (workload/format-models/*.cpp GetOccupancy)."""
    fibers = max_fibers * (1 - p_cur_empty)
    if kind == "UOP":
        return np.zeros_like(fibers), fibers * (fiber + 1)
    if kind == "RLE":
        n = fiber * (1 - p_next_empty) * fibers
        return n, n
    if kind == "CP":
        n = np.ceil(fiber * (1 - p_next_empty)) * fibers
        return n, n
    if kind == "B":     # payload = metadata: inferred, the 2022 artifact (Convention.bitmask_payload_per_position)
        md = fibers * fiber
        return md, (md if bitmask_per_position else fibers * np.ceil(fiber * (1 - p_next_empty)))
    raise SpecError(f"format: {kind!r} is not modelled in spatial designs")


def _units_given(d: _Move, nnz: np.ndarray, bitmask_per_position: bool) -> np.ndarray:
    """Per rank (metadata, payload) units of a tile holding each of ``nnz`` nonzeros: shape (len(nnz),
    ranks, 2) (tiling-tile-info.cpp GetMetaDataTileOccupancyGivenDataTile)."""
    out = np.zeros((len(nnz), len(d.ranks), 2))
    max_fibers, cur = 1, d.shape
    top = len(d.ranks) - 1
    for r in range(top, -1, -1):
        fiber, nxt = d.fibers[r], d.subtile[r]
        if fiber != 1 or r == (0 if d.inner_to_outer else top):
            out[:, r, 0], out[:, r, 1] = _units(d.ranks[r][0], max_fibers, fiber,
                                                d.model.p_empty_within_all(cur, d.shape, nnz),
                                                d.model.p_empty_within_all(nxt, d.shape, nnz), bitmask_per_position)
        max_fibers *= fiber
        cur = nxt
    held = (out[:, :, 0] != 0) | (out[:, :, 1] != 0)        # the innermost rank holding anything: no payload
    inner = np.argmax(held, axis=1)
    rows = np.flatnonzero(held.any(axis=1))
    out[rows, inner[rows], 1] = 0.0
    return out


@dataclass(frozen=True)
class _Context:
    design: Design
    w: Workload
    dims: list
    projs: list
    subs: list
    molds: list
    sizes: list

    def size(self, t: int, high) -> int:
        return self.projs[t].size(high)


def _define_formats(ctx: _Context, moves: dict, t: int, nlevels: int) -> None:
    """Every keeping level's rank loops, subtiles and fibre shapes, inner levels first (a level without
    metadata is one rank: a compressed parent pre-tiles over it)."""
    proj_dims = ctx.projs[t].dims()
    for lvl in range(nlevels):
        d = moves.get((lvl, t))
        if d is None:
            continue
        inner = 0 if d.child is None else d.child + 1
        cd = moves[(d.child, t)] if d.child is not None else None
        pretile = d.compressed and cd is not None and cd.shape > 1
        loops, subtiles = [], []
        for ll in range(lvl, inner - 1, -1):
            for lid in range(len(ctx.subs[ll]) - 1, -1, -1):
                lp = ctx.subs[ll][lid]
                if lp.dim in proj_dims:
                    loops.insert(0, [lp.dim, lp.factor])
                    subtiles.insert(0, ctx.size(t, ctx.molds[ll][lid]))
        if not pretile:
            below = [1] * len(ctx.dims)
            for ll in range(inner):
                for lp in ctx.subs[ll]:
                    below[lp.dim] *= lp.factor
            for x in loops:
                x[1], below[x[0]] = x[1] * below[x[0]], 1
        n_ranks = len(d.ranks) if d.has_md else 1
        assign = _assign_ranks_inner_to_outer if d.inner_to_outer else _assign_ranks
        assign(d, n_ranks, (len(cd.ranks) if cd.has_md else 1) if pretile else 0, loops, subtiles)
        if pretile:
            d.subnest[:0] = cd.subnest
            d.subtile[:0] = cd.subtile[:len(cd.subnest) + 1]
        else:
            d.subtile.insert(0, 1)
        if len(d.subnest) != n_ranks:
            raise SpecError(f"{ctx.design.levels[lvl].name}.formats: {n_ranks} ranks for {len(d.subnest)} loops")
        for nest in d.subnest:
            ext = [1] * len(ctx.dims)
            for dim, f in nest:
                ext[dim] *= f
            d.fibers.append(ctx.size(t, [x - 1 for x in ext]))


def _expect(d: _Move, parent_md: bool, tensor_size: int, lvl: StorageLevel, tensor,
            bitmask_per_position: bool = False, position_skipped: bool = False, vector_width: bool = True) -> None:
    """Expected occupancy, density, per-rank units over the tile's occupancy distribution, and the data
    vectors' ratio of a compressed tile (buffer.cpp ComputeVectorAccesses, :func:`counts.vector_ratio`).

    Below a level with metadata a tile that may be empty is conditioned on holding a nonzero (the utilized
    instances scale by 1 - P(empty)); a tensor the level position-skips is not, for its data and instances,
    but is for its metadata (**inferred** from the 2022 artifact's Fig. 15 DSTC outputs: WD-0.25 L4 LRF B
    fills 141558 on 4.0 instances, its rank-0 metadata fills 520901)."""
    occ = d.model.occupancy(d.shape, tensor_size)
    nnz, p = np.asarray(occ.nnz), np.asarray(occ.p)
    cond = p.copy()
    if occ.may_be_empty:        # Timeloop drops its first nonzero probability (P(0) where the tile may be empty)
        cond[0], cond[1:] = 0.0, p[1:] / (1.0 - p[0])
    if parent_md and occ.may_be_empty and not position_skipped:
        d.instances *= 1.0 - p[0]
        p = cond
    d.occupancy = math.fsum((p * nnz).tolist())
    d.density = d.occupancy / d.shape
    d.occupancy_pmf = (nnz, p)
    d.vector_ratio = vector_ratio(lvl, tensor, occ, d.shape, d.density) if vector_width else 1.0
    if d.has_md:
        per_k = _units_given(d, nnz, bitmask_per_position)
        weights = cond if (parent_md or position_skipped) and occ.may_be_empty else p
        d.units = [[math.fsum((weights * per_k[:, r, c]).tolist()) for c in (0, 1)] for r in range(len(d.ranks))]


def _ineffectual(ctx: _Context, moves: dict, level: int, tgt: int, conds: list[int]) -> tuple[float, int]:
    """(p, target level) of gating/skipping tensor ``tgt`` at ``level`` conditioned on ``conds``
    (storage-gs-analyzer.cpp ComputeIneffectualReadImpact)."""
    tdims = ctx.projs[tgt].dims()
    held = sorted(lv for lv, tt in moves if tt == tgt)
    tl = level if level in held else next((lv for lv in held if lv > level), None)
    if tl is None:
        raise SpecError(f"{ctx.design.levels[level].name}.action_opts: no level at or above keeps the target")
    child = moves[(tl, tgt)].child
    child = -1 if child is None else child
    found = scalar = False
    for ll in range(child + 1, tl + 1):
        for lid, lp in enumerate(ctx.subs[ll]):
            if child != -1:
                found = lp.factor > 1 and lp.dim in tdims
            elif lid + 1 < len(ctx.subs[ll]) and not ctx.subs[ll][lid + 1].spatial:
                found, scalar = True, not lp.spatial
            elif lid + 1 < len(ctx.subs[ll]):
                found = lp.dim in tdims and lp.factor > 1
            if found:
                tloop, tls, tid = lp, ll, lid
                break
        if found:
            break
    if not found:
        tls, tid = tl, len(ctx.subs[tl]) - 1
        tloop = ctx.subs[tl][tid]
    t_high = [0] * len(ctx.dims) if scalar else list(ctx.molds[tls][tid])
    spatial = bool(tloop.spatial)
    relevant, cm, locate = [tloop], [x + 1 for x in t_high], not spatial
    for ll in range(tls, tl + 1):
        for u in ctx.subs[ll][(tid + 1 if ll == tls else 0):]:
            if u.factor == 1:
                continue
            if u.spatial or ((not locate) and child != -1 and u.dim not in tdims):
                cm[u.dim] *= u.factor
                relevant.append(u)
            if spatial and not u.spatial and (child == -1 or u.dim in tdims):
                locate = True
    cm = [x - 1 for x in cm]
    keep = 1.0
    for c in conds:
        cdims = ctx.projs[c].dims()
        co, is_co, factors, agg, ineffective = tdims & cdims, False, {}, 1.0, False
        if not scalar:
            for r in relevant:
                if spatial and is_co and r.dim in cdims:
                    ineffective = True
                    break
                if r.dim in co:
                    factors[r.dim] = factors.get(r.dim, 1) * r.factor
                    agg *= r.factor
                    is_co = True
        if ineffective:
            continue
        c_high = [x + 1 for x in cm]
        need = math.ceil(ctx.design.levels[tl].block_words / (ctx.size(tgt, t_high) / agg))
        for dim, f in factors.items():
            c_high[dim] = math.ceil(c_high[dim] / (f / need))
            need = need / f
        if need > 1:
            c_high[tloop.dim] *= need
        model = ctx.sizes[c][1]
        keep *= 1.0 - model.p_empty(ctx.size(c, [int(x) - 1 for x in c_high]), ctx.sizes[c][0])
    return 1.0 - keep, tl


def _fanout_ratio(ctx: _Context, lvl: int, c: int) -> tuple[float, float]:
    """(average, worst-case) share of level ``lvl``'s spatial fan-out that tensor ``c``'s nonzeros keep busy:
    the innermost nontrivial spatial loop over ``c`` sets the average (1 - P(the tile below it is empty)),
    each such loop shrinks the worst case to the most nonzeros its fibre can hold (storage-gs-analyzer.cpp
    CalculateSpatialOptimizationImpact; 2:4 over a K32 fan-out: 16 of 32)."""
    avg, worst, model, size = None, 1.0, ctx.sizes[c][1], ctx.sizes[c][0]
    cdims = ctx.projs[c].dims()
    for lid, lp in enumerate(ctx.subs[lvl]):
        if not lp.spatial or lp.factor <= 1 or lp.dim not in cdims:
            continue
        below = ctx.molds[lvl][lid - 1] if lid else ctx.molds[lvl - 1][-1] if lvl else [0] * len(ctx.dims)
        sub = ctx.size(c, below)
        if avg is None:
            avg = 1.0 - model.p_empty(sub, size)
        fiber = list(below)
        fiber[lp.dim] = (fiber[lp.dim] + 1) * lp.factor - 1
        whole = ctx.size(c, fiber)
        worst *= min(whole // sub, max(model.occupancy(whole, size).nnz)) / lp.factor
    return (1.0 if avg is None else avg), worst


def _spatial_skips(ctx: _Context, moves: dict, computes: float, leaders: dict) -> tuple[float, float]:
    """``skipping_spatial`` (Sparseloop's skipping-spatial): a level's fan-out skips the instances whose
    condition tensors are empty there.  Returns (computes, share of the compute instances busy on average).

    Read in storage-gs-analyzer.cpp (InitializeSpatialInstances, CalculateSpatialOptimizationImpact,
    SummarizeAndPropagateSpatialCapacityReduction) and storage-optimization-combiner.cpp; ported for the
    case Fig. 15 needs (STC: 2:4 at RF's K32 fan-out), where no inner level holds the target: its counts at
    the level are kept, the computes lose floor(computes p) and the compute's busy share is the largest over
    tensors of the busy shares below the first skipping level (a tensor with metadata there shrinks it too,
    where its fan-out's worst case shrinks)."""
    names = [t.name for t in ctx.w.tensors]
    busy = {}
    for lv, lvl in enumerate(ctx.design.levels):
        for opt in lvl.action_opts:
            if opt.kind != "skipping_spatial":
                continue
            tgt = names.index(opt.target)
            if any(j < lv for j, tt in moves if tt == tgt):
                raise SpecError(f"{lvl.name}.skipping_spatial: an inner level holds {opt.target} (not ported)")
            keep = 1.0
            for c in (names.index(x) for x in opt.condition_on):
                lc = min((j for j, tt in moves if tt == c and j >= lv), default=None)
                if lc is not None and moves[(lc, c)].has_md:
                    keep *= _fanout_ratio(ctx, lv, c)[0]
            busy[tgt] = min(busy.get(tgt, 1.0), keep)
            if not ctx.w.tensors[tgt].output:
                computes -= math.floor(computes * (1.0 - keep))
                leaders[tgt] = c_round((1.0 - keep) * 1e6) / 1e6
    if not busy:
        return computes, 1.0
    for t in range(len(names)):
        share = 1.0
        for lv in range(len(ctx.design.levels) if t not in busy else 0):
            lc = min((j for j, tt in moves if tt == t and j >= lv), default=None)
            if lc is not None and moves[(lc, t)].has_md:
                avg, worst = _fanout_ratio(ctx, lv, t)
                share *= avg if worst != 1.0 else 1.0
        busy.setdefault(t, share)
    return computes, max(busy.values())


def _local_saf(moves: dict, d: _Move, p: float, kind: str, output: bool) -> None:
    """The SAF at its own level (ApplyLocalStorageSAFImpact)."""
    moved = math.ceil(d.fg["random_read"] * p) if output else math.floor(d.fg["random_read"] * p)
    d.fg[f"{kind}_read"] += moved
    d.fg["random_read"] -= moved
    moved = math.floor(d.fg["random_update"] * p)
    d.fg[f"{kind}_update"] += moved
    d.fg["random_update"] -= moved
    sent = len(moves[d.child].ranks) if d.child is not None else len(d.ranks)
    for src, dst in (("random_metadata_read", f"{kind}_metadata_read"),
                     ("random_metadata_update", f"{kind}_metadata_update")):
        for r in range(min(sent, len(d.fmt[src]))):
            for c in (0, 1):
                x = math.floor(d.fmt[src][r][c] * p)
                d.fmt[src][r][c] -= x
                d.fmt[dst][r][c] += x


def _compute_actions(design: Design, w: Workload, moves: dict, total: float, leaders: dict, sizes: list):
    """(random, gated, skipped) computes (compute-gs-analyzer.cpp CalculateFineGrainedComputeAccesses2Operand)."""
    ops = [i for i, t in enumerate(w.tensors) if not t.output]
    if len(ops) != 2:
        raise SpecError(f"workload: {len(ops)} input tensors; Timeloop's 2-operand compute model needs 2")
    states, dens, has_md = {}, {}, {}
    for t in ops:
        first = min(lv for lv, tt in moves if tt == t)
        has_md[t] = moves[(first, t)].has_md
        # P(one element nonzero): a hypergeometric tensor holds round(density x size) nonzeros
        # (compute-gs-analyzer.cpp GetExpectedOperandDensities, counts.compute_actions)
        dens[t] = c_round(1e6 * (1.0 - moves[(first, t)].model.p_empty(1, sizes[t][0]))) / 1e6
        states[t] = {"ENZ": dens[t], "EZ": 0.0 if has_md[t] else 1.0 - dens[t],
                     "NE": 1.0 - dens[t] if has_md[t] else 0.0}
    a, b = ops
    for x, other in ((a, b), (b, a)):
        if other in leaders:
            ratio = 1 - leaders[other]
            states[x] = {"ENZ": dens[x] / ratio, "EZ": 0.0 if has_md[x] else 1 - dens[x] / ratio,
                         "NE": 1 - dens[x] / ratio if has_md[x] else 0.0}
    sa, sb = ({k: min(1.0, max(0.0, v)) for k, v in states[x].items()} for x in (a, b))
    gate = any(o.kind == "gating" for o in design.compute.action_opts)
    skip = design.compute.skip_unaligned
    zero = total * (sa["ENZ"] * sb["EZ"] + sa["EZ"] * sb["ENZ"] + sa["EZ"] * sb["EZ"])
    miss = total * (sa["ENZ"] * sb["NE"] + sa["NE"] * sb["ENZ"] + sa["EZ"] * sb["NE"] + sa["NE"] * sb["EZ"])
    skipped = math.floor(miss) if skip else 0
    gated = math.floor(zero + (0.0 if skip else miss)) if gate else 0
    return total - skipped - gated - math.floor(total * sa["NE"] * sb["NE"]), gated, skipped


def _moves(design: Design, w: Workload, dense: dict, dims: list) -> dict:
    moves = {}
    for t_idx, t in enumerate(w.tensors):
        held = sorted(lv for lv, name in dense if name == t.name)
        for pos, lv in enumerate(held):
            sc = dense[(lv, t.name)]
            lvl = design.levels[lv]
            specs = _rank_specs(lvl, t.name, dims)
            compressed = any(s[0] in COMPRESSING for s in specs)
            model = DENSE if t.output and w.density(t.name) is None else (w.density(t.name) or DENSE)
            d = _Move(sc.tile, sc.reads, sc.fills, sc.updates, float(sc.instances), model,
                      held[pos - 1] if pos else None, held[pos + 1] if pos + 1 < len(held) else None,
                      specs if (compressed or len(specs) > 1) else (), compressed)
            d.spatial_instances = float(sc.instances)
            d.inner_to_outer = t.name in lvl.inner_to_outer
            d.fg = {op: 0 for op in OPS} | {"random_read": sc.reads, "random_fill": sc.fills,
                                           "random_update": sc.updates}
            d.fmt = {op: [] for op in MD_OPS}
            moves[(lv, t_idx)] = d
    return moves


def _sparse(design: Design, w: Workload, moves: dict, ctx: _Context, computes: float):
    """Formats, occupancy, SAFs and the combiner, in place on ``moves``; returns the compute actions."""
    nlevels, nt = len(design.levels), len(w.tensors)
    for t in range(nt):
        _define_formats(ctx, moves, t, nlevels)
    algorithmic, names = computes, [t.name for t in w.tensors]
    skips = {(lv, names.index(o.target)) for lv, lvl in enumerate(design.levels) for o in lvl.action_opts
             if o.kind == "position_skipping"}
    for (lv, t), d in moves.items():
        _expect(d, d.parent is not None and moves[(d.parent, t)].has_md, ctx.sizes[t][0], design.levels[lv],
                w.tensors[t], design.convention.bitmask_payload_per_position, (lv, t) in skips,
                design.convention.vector_width_correction)
        if d.has_md:
            for op, n in (("random_metadata_read", d.reads), ("random_metadata_fill", d.fills),
                          ("random_metadata_update", d.updates)):
                d.fmt[op] = [[math.ceil(u * n / d.shape) for u in pair] for pair in d.units]
            for op in MD_OPS:
                d.fmt[op] = d.fmt[op] or [[0, 0] for _ in d.units]
        if d.has_md:
            sparse = 1 - d.density
            kinds = (("read", d.reads), ("fill", d.fills)) + ((("update", d.updates),) if w.tensors[t].output else ())
            for k, n in kinds:
                d.fg[f"random_{k}"] = n - math.floor(n * sparse)
    names = [t.name for t in w.tensors]
    safs = {}
    for lv, lvl in enumerate(design.levels):
        for opt in lvl.action_opts:
            if opt.kind in ("skipping_spatial", "position_skipping"):
                continue
            tgt = names.index(opt.target)
            p, tl = _ineffectual(ctx, moves, lv, tgt, [names.index(c) for c in opt.condition_on])
            if (tl, tgt) not in safs or safs[(tl, tgt)][1] < p:
                safs[(tl, tgt)] = ("gated" if opt.kind == "gating" else "skipped", p)
    leaders, done = {}, set()
    computes, busy = _spatial_skips(ctx, moves, computes, leaders)
    for t in range(nt):
        for lv in sorted((lv for lv, tt in safs if tt == t), reverse=True):
            kind, p = safs[(lv, t)]
            below = sorted((j for j, tt in moves if tt == t and j < lv), reverse=True)
            stop = None
            for j in below:             # format counts below are not scaled: Timeloop passes the rank
                d = moves[(j, t)]       # bounds of ScalePerTileFormatAccesses reversed (an empty range)
                for k in ("random_fill", "random_read", "random_update"):
                    d.fg[k] -= math.floor(d.fg[k] * p)
                if (j, t) in safs:
                    stop = j
                    break
            if stop is not None and (stop, t) not in done:
                inner_kind, lp = safs[(stop, t)]
                d = moves[(stop, t)]
                d.fmt["random_metadata_read"] = [list(x) for x in d.fmt["random_metadata_update"]]   # (sic, source)
                _local_saf(moves_by_level(moves, t), d, 1 - (1 - lp) / (1 - p), inner_kind, w.tensors[t].output)
                done.add((stop, t))
            if (lv, t) not in done:
                _local_saf(moves_by_level(moves, t), moves[(lv, t)], p, kind, w.tensors[t].output)
                done.add((lv, t))
            if stop is None and not w.tensors[t].output:
                computes -= math.floor(computes * p)
                leaders[t] = c_round(p * 1e6) / 1e6
    for (lv, t), d in moves.items():
        parent = moves.get((d.parent, t)) if d.parent is not None else None
        if not d.compressed and parent is not None and parent.compressed:
            if w.tensors[t].output:
                d.fg["compression_count"] += parent.fg["random_update"]
            d.fg["decompression_count"] += d.fg["random_fill"]
    random, gated, skipped = _compute_actions(design, w, moves, computes, leaders, ctx.sizes)
    if skips:
        random, share = _position_skipping(ctx, moves, skips, algorithmic)
        busy *= share
    return (random, gated, skipped), busy


def _position_skipping(ctx: _Context, moves: dict, skips: set, computes: float) -> tuple[int, float]:
    """``position_skipping`` (Sparseloop's position-skipping, condition-on []: a level walks its operands in
    compressed position space, spread over its spatial fan-out).  **Inferred** from the 2022 artifact's
    Fig. 15 DSTC outputs (absent from every public Timeloop; /work/briefs/out/fig1315_rules.md S3.3), where
    every count it touches matches to one access.

    Per level, each skipped tensor t with a format there: S_t = the level's spatial loops over t; n = its tile's
    nonzeros given n > 0; busy share u_t = E[n / (ceil(n / S_t) S_t)], chunk ratio ec_t = E[ceil(n / S_t)] /
    (tile / S_t).  Every tensor's reads there scale by the other skipped tensors' chunk ratios (ceil); the
    computes are ceil(total x the product of the skipped tiles' expected densities); the compute's busy
    instances scale by the product of the u_t.  Returns (random computes, busy share)."""
    share, density = 1.0, 1.0
    for lv in sorted({lv for lv, _ in skips}):
        ratios = {}
        for t in sorted(t for j, t in skips if j == lv):
            d = moves.get((lv, t))
            if d is None or not d.has_md:
                continue
            spread = math.prod(lp.factor for lp in ctx.subs[lv] if lp.spatial and lp.dim in ctx.projs[t].dims())
            nnz, p = d.occupancy_pmf
            n, pn = nnz[nnz > 0].astype(float), p[nnz > 0]
            pn = pn / pn.sum()
            chunks = np.ceil(n / spread)
            share *= float(np.sum(pn * n / (chunks * spread)))
            ratios[t] = float(np.sum(pn * chunks)) / (d.shape / spread)
            density *= d.density
        for (j, t), d in moves.items():
            factor = math.prod(r for o, r in ratios.items() if o != t)
            if j == lv and factor != 1.0:
                d.fg["random_read"] = math.ceil(d.fg["random_read"] * factor)
    return math.ceil(computes * density), share


def moves_by_level(moves: dict, t: int) -> dict:
    return {lv: d for (lv, tt), d in moves.items() if tt == t}


def _energy_and_words(lvl: StorageLevel, d: _Move) -> tuple[float, float, float, dict]:
    """Per-instance pJ, read words and write words of one tensor (buffer.cpp ComputeBufferEnergy)."""
    e = sum((math.ceil(d.fg[op] / lvl.block_words) * d.vector_ratio if "count" not in op and d.fg[op] else d.fg[op])
            * lvl.op_energy(op) for op in OPS)
    bits = {}
    for op in MD_OPS:
        bits[op] = 0
        if lvl.metadata_width_bits:
            bits[op] = sum(rk[1] * m + rk[2] * q for rk, (m, q) in zip(d.ranks, d.fmt.get(op) or ()))
            e += math.ceil(bits[op] / lvl.metadata_width_bits) * lvl.op_energy(op)
    reads = d.fg["random_read"] + d.fg["gated_read"] + int(bits["random_metadata_read"]
                                                            + bits["gated_metadata_read"]) // lvl.word_bits
    writes = (d.fg["random_fill"] + d.fg["gated_fill"] + d.fg["random_update"] + d.fg["gated_update"]
              + int(sum(bits[f"{ty}_metadata_{k}"] for ty in ("random", "gated") for k in ("fill", "update")))
              // lvl.word_bits)
    return e, reads, writes, bits


def _streams(design: Design, w: Workload, dense: dict, moves: dict) -> None:
    """A tensor a level bypasses but streams (the 2022 artifact's ``stream``, absent from public Timeloop;
    inferred from its Fig. 15 stats, "A (Streamed)"): per instance, a read and a fill of each word its parent
    serves through it; no capacity, no metadata."""
    for lv, lvl in enumerate(design.levels):
        instances = math.prod(lp.factor for up in design.levels[lv + 1:] for lp in up.loops if lp.spatial)
        for t, tensor in enumerate(w.tensors):
            if tensor.name not in lvl.stream:
                continue
            parent = min((j for j, tt in moves if tt == t and j > lv), default=None)
            if parent is None:
                raise SpecError(f"{lvl.name}.stream: no level above keeps {tensor.name}")
            sc = dense[(parent, tensor.name)]
            traffic = sc.reads * sc.instances // instances
            d = _Move(0, traffic, traffic, 0, float(instances), DENSE, None, parent)
            d.fg = {op: 0 for op in OPS} | {"random_read": traffic, "random_fill": traffic}
            d.fmt = {op: [] for op in MD_OPS}
            moves[(lv, t)] = d


def evaluate_spatial(design: Design, w: Workload) -> LoopnestResult:
    dims = [d for d, _ in w.sizes]
    dense, compute_instances, per_instance = spatial_counts(design, w)
    moves = _moves(design, w, dense, dims)
    _, _, complete, cbounds = nests(design, w)
    subs, molds = _subnests(complete, cbounds, len(dims))
    projs = [projection(w, t) for t in w.tensors]
    sizes = [(p.size([s - 1 for _, s in w.sizes]), w.density(t.name) or DENSE) for p, t in zip(projs, w.tensors)]
    ctx = _Context(design, w, dims, projs, subs, molds, sizes)
    total = float(compute_instances * per_instance)
    sparse = any(lvl.formats or lvl.action_opts for lvl in design.levels) or design.compute.action_opts
    (random, gated, skipped), busy = _sparse(design, w, moves, ctx, total) if sparse else ((total, 0, 0), 1.0)
    _streams(design, w, dense, moves)
    compute_cycles = math.ceil((random + gated) / (compute_instances * busy))
    levels = []
    for lv, lvl in enumerate(design.levels):
        energy, reads, writes, counts = 0.0, 0.0, 0.0, []
        for t, tensor in enumerate(w.tensors):
            d = moves.get((lv, t))
            if d is None:
                continue
            e, r, wr, bits = _energy_and_words(lvl, d)
            energy += e * d.instances
            # demand of the instances holding a nonempty tile, spread over the mapped ones (buffer.cpp
            # ComputePerformance: x expansion x y expansion / utilized instances)
            scaling = d.spatial_instances / d.instances if d.instances else math.inf
            reads += math.ceil(r / scaling) / compute_cycles
            writes += math.ceil(wr / scaling) / compute_cycles
            fg = d.fg
            counts.append(TensorCounts(tensor.name, fg["random_read"], fg["gated_read"], fg["skipped_read"],
                                       fg["random_fill"], fg["random_update"], fg["gated_update"],
                                       fg["skipped_update"], bits["random_metadata_read"],
                                       bits["gated_metadata_read"], bits["skipped_metadata_read"],
                                       bits["random_metadata_fill"]))
        slowdown = 1.0
        for demand, bw in ((reads, lvl.read_bw_words), (writes, lvl.write_bw_words)):
            if bw is not None and bw < demand:
                slowdown = min(slowdown, bw / demand)
        levels.append(LevelCost(lvl.name, math.ceil(compute_cycles / slowdown), energy, tuple(counts)))
    c = design.compute
    compute_pj = random * c.compute_pj + gated * c.gated_compute_pj + skipped * c.skipped_compute_pj
    return LoopnestResult(max([compute_cycles] + [lv.cycles for lv in levels]),
                          compute_pj + sum(lv.energy_pj for lv in levels), random, gated, compute_pj, tuple(levels))
