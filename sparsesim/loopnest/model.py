"""Sparse access counts, cycles and energy of a loop nest (Sparseloop's conventions).

Per level and tensor, from the dense counts (:mod:`sparsesim.loopnest.tiling`):

* a tensor stored compressed at a level (:mod:`sparsesim.loopnest.ranks`) is filled and read at its nonzeros
  only (density x the dense count); its zeros are neither read nor gated;
* gating or skipping ``target`` conditioned on tensors C splits the remaining reads (and an output's
  updates) by the probability that every tensor of C is nonzero over the tile that one access serves: that
  share is actual, the rest gated or skipped; the target's metadata reads split the same way;
* metadata moves with the data: per access, the tile's metadata bits over its elements;
* energy: data actions in vectors of ``block_words`` words, metadata actions in vectors of
  ``metadata_width_bits`` bits (or one per entry, by the design's convention); gated accesses at the gated
  energies; skipped data reads cost nothing; skipped metadata reads are charged where the convention says
  so (the 2022 artifact: the intersection reads the coordinates it skips on);
* cycles of a level: the larger of its read and write words over their bandwidths, actual and gated
  accesses counted and metadata as bits over the word width, and never fewer than the compute unit's (a
  cycle per actual or gated compute), as Timeloop reports them; the design's cycles are the largest.
"""

from __future__ import annotations

import math

from sparsesim.loopnest.counts import evaluate_counts
from sparsesim.loopnest.density import DENSE
from sparsesim.loopnest.joint import joint_fraction
from sparsesim.loopnest.ranks import tile_metadata
from sparsesim.loopnest.result import LevelCost, LoopnestResult, TensorCounts
from sparsesim.loopnest.spatial import is_spatial
from sparsesim.loopnest.spatial_counts import evaluate_spatial
from sparsesim.loopnest.spec import Design, StorageLevel, Tensor, Workload
from sparsesim.loopnest.tiling import DenseCounts, dense_counts


def _density(w: Workload, name: str):
    t = w.tensor(name)
    return DENSE if t.output else (w.density(name) or DENSE)


def _shape(w: Workload, t: Tensor) -> tuple[int, ...]:
    return tuple(w.size(d) for d in t.dims)


def _access_block(design: Design, w: Workload, level: int | None) -> dict[str, int]:
    """Extent per dimension of what one access from ``level`` moves (``None``: one compute, one element)."""
    if level is None:
        return {}
    return {d: math.prod(lvl.factor(d) for lvl in design.levels[:level + 1]) for d, _ in w.sizes}


def _share(design: Design, w: Workload, weighted: tuple[str, ...], conditions, level: int | None) -> float:
    terms = [(w.tensor(n), _density(w, n), True) for n in weighted]
    terms += [(w.tensor(n), _density(w, n), False) for n in conditions if not w.tensor(n).output]
    return joint_fraction(terms, _access_block(design, w, level), dict(w.sizes))


def _split(total: float, actual: float, kind: str | None):
    """(actual, gated, skipped) of ``total`` accesses, ``actual`` of them effectual."""
    rest = total - actual
    if kind is None:
        return total, 0.0, 0.0
    return actual, (rest if kind == "gating" else 0.0), (rest if kind == "skipping" else 0.0)


def _opt_for(design: Design, i: int, tensor: str):
    """The gating/skipping of ``tensor``'s reads at level ``i``: its own, or one a level below that does not
    keep the tensor declares (it applies where the tensor is read from: here)."""
    for lvl in reversed(design.levels[:i + 1]):
        opt = next((o for o in lvl.action_opts if o.target == tensor), None)
        if opt or (lvl is not design.levels[i] and tensor in lvl.keep):
            return opt
    return None


def _child_level(counts: dict[int, DenseCounts], i: int) -> int | None:
    below = [j for j in counts if j < i]
    return max(below) if below else None


def tensor_counts(design: Design, w: Workload, t: Tensor, i: int, dc: DenseCounts, child: int | None):
    lvl = design.levels[i]
    dens, shape = _density(w, t.name), _shape(w, t)
    per_entry = lvl.metadata_width_bits if design.convention.metadata_per_entry else None
    md = tile_metadata(lvl.format_of(t.name), dc.ranks, t.dims, lambda block: dens.p_nonempty(block, shape),
                       t.name in lvl.inner_to_outer, per_entry)
    d = dens.density if md.compressed else 1.0
    opt = _opt_for(design, i, t.name)
    kind, conds = (opt.kind, opt.condition_on) if opt else (None, ())
    cond_share = _share(design, w, (), conds, child) if opt else 1.0
    data_share = _share(design, w, (t.name,) if md.compressed else (), conds, child) if opt else d
    effectual_reads = dc.reads * data_share
    if t.output:                    # Sparseloop rounds an output's effectual read-modify-writes down
        effectual_reads = math.floor(effectual_reads + 1e-9)
    reads = _split(dc.reads * d, effectual_reads, kind)
    updates = _split(dc.updates, dc.updates * cond_share, kind)
    md_total = dc.reads * md.metadata_bits / dc.tile
    md_share = cond_share if md.bitmask else (data_share / d if d else 0.0)
    md_reads = _split(md_total, md_total * md_share, kind)
    return TensorCounts(t.name, *reads, dc.fills * d, *updates, *md_reads, dc.fills * md.metadata_bits / dc.tile)


def _level_energy(lvl: StorageLevel, tc: TensorCounts, charge_skipped: bool) -> float:
    per_md = 1.0 / lvl.metadata_width_bits if lvl.metadata_width_bits else 0.0
    e = lvl.energy
    skipped_md = tc.skipped_metadata_read_bits if charge_skipped else 0.0
    data = (tc.reads * e("read") + tc.gated_reads * e("gated_read") + tc.fills * e("write")
            + tc.updates * e("update") + tc.gated_updates * e("gated_write")) / lvl.block_words
    meta = ((tc.metadata_read_bits + skipped_md) * e("metadata_read")
            + tc.gated_metadata_read_bits * e("gated_metadata_read") + tc.metadata_fill_bits * e("metadata_write"))
    return data + meta * per_md


def _level_cycles(lvl: StorageLevel, tcs) -> float:
    reads = sum(tc.reads + tc.gated_reads + (tc.metadata_read_bits + tc.gated_metadata_read_bits) / lvl.word_bits
                for tc in tcs)
    writes = sum(tc.fills + tc.updates + tc.gated_updates + tc.metadata_fill_bits / lvl.word_bits for tc in tcs)
    return max(reads / lvl.read_bw_words if lvl.read_bw_words else 0.0,
               writes / lvl.write_bw_words if lvl.write_bw_words else 0.0)


def _filtered(design: Design, w: Workload) -> tuple[str, ...]:
    """Inputs whose zeros never reach the compute unit: stored compressed somewhere, or the target or a
    condition of an input's gating or skipping (its partner is withheld where it is zero)."""
    names = []
    for lvl in design.levels:
        names += [t for t, fs in lvl.formats if any(f.kind != "UOP" for f in fs)]
        for o in lvl.action_opts:
            if not w.tensor(o.target).output:
                names += [o.target, *o.condition_on]
    inputs = {t.name for t in w.inputs}
    return tuple(n for n in dict.fromkeys(names) if n in inputs)


def _computes(design: Design, w: Workload) -> tuple[float, float, float]:
    filtered = _filtered(design, w)
    effectual = w.macs * _share(design, w, (), filtered, None)
    opt = design.compute.action_opts[0] if design.compute.action_opts else None
    if opt is None:
        return effectual, 0.0, 0.0
    conds = tuple(dict.fromkeys(filtered + tuple(opt.condition_on)))
    return _split(effectual, w.macs * _share(design, w, (), conds, None), opt.kind)


def evaluate(design: Design, w: Workload) -> LoopnestResult:
    design.check(w)
    if design.convention.integer_counts and is_spatial(design, w):
        return evaluate_spatial(design, w)
    if design.convention.integer_counts:
        return evaluate_counts(design, w)
    per_level: dict[int, list[TensorCounts]] = {i: [] for i in range(len(design.levels))}
    for t in w.tensors:
        counts = dense_counts(design, w, t)
        for i, dc in counts.items():
            per_level[i].append(tensor_counts(design, w, t, i, dc, _child_level(counts, i)))
    actual, gated, _ = _computes(design, w)
    compute_cycles = actual + gated
    levels = tuple(LevelCost(lvl.name, max(compute_cycles, _level_cycles(lvl, per_level[i])),
                             sum(_level_energy(lvl, tc, design.convention.charge_skipped_metadata)
                                 for tc in per_level[i]), tuple(per_level[i]))
                   for i, lvl in enumerate(design.levels))
    compute_pj = actual * design.compute.compute_pj + gated * design.compute.gated_compute_pj
    cycles = max([compute_cycles] + [lv.cycles for lv in levels])
    return LoopnestResult(cycles, compute_pj + sum(lv.energy_pj for lv in levels), actual, gated, compute_pj,
                          levels)
