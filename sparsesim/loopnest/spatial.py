"""Spatial fan-out in the loop nest: per-instance counts, multicast, spatial reduction and bypass, as
Timeloop's nest analysis forms them (loop-analysis/nest-analysis.cpp, tiling.cpp CollapseDataMovementNest;
NVlabs/timeloop a57318c, the MICRO 2022 artifact's era; checked on Sparseloop's Table 7 outputs).

* The nest: per storage level (innermost first) its spatial loops, then its temporal loops; loops of factor
  1 are dropped, a level left with no temporal loop gets a trivial one.  A level's spatial loops fan out to
  the instances of the level below.
* Counts are per instance, of spatial instance 0: the other instances' deltas are instance 0's translated
  by one spatial step of the working set; a temporal loop runs iteration 0 and one iteration standing for
  the other n - 1 (:class:`~sparsesim.loopnest.windows.DeltaState` makes the wrap-around a refetch).
* At a spatial fan-out the children whose deltas are equal share one parent access (multicast); an
  output's children with equal deltas reduce spatially.
* Collapse: a level's fills are its parent's accesses x multicast / fanout (taken before bypass); a
  bypassed level's accesses pass to the level above, rescaled by fanout / multicast; an output's reads are
  its updates less its partition (the first read elided), the outermost keeper has no fills.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sparsesim.loopnest.spec import Design, Tensor, Workload
from sparsesim.loopnest.windows import DeltaState, PointSet, Projection, box_size, c_round


@dataclass(frozen=True)
class NestLoop:
    dim: int
    factor: int
    spatial: str = ""


@dataclass(frozen=True)
class SpatialCounts:
    """One tensor at one level, per instance: dense counts, tile, partition and spatial instances."""

    tile: int
    partition: int
    reads: int
    fills: int
    updates: int
    reductions: int
    instances: int


def is_spatial(design: Design, w: Workload) -> bool:
    return any(lp.spatial for lvl in design.levels for lp in lvl.loops) or any(t.projection for t in w.tensors)


def projection(w: Workload, t: Tensor) -> Projection:
    dims = [d for d, _ in w.sizes]
    ranks = t.projection or tuple(((d, 1),) for d in t.dims)
    return Projection(tuple(tuple((dims.index(d), c) for d, c in rank) for rank in ranks))


def nests(design: Design, w: Workload):
    """(loops, boundaries) of the analysed nest and of the complete nest (trivial loops kept)."""
    dims = [d for d, _ in w.sizes]
    loops, bounds, complete, cbounds = [], [], [], []
    for lvl in design.levels:
        temporal = 0
        for lp in lvl.loops:
            nl = NestLoop(dims.index(lp.dim), lp.factor, lp.spatial)
            complete.append(nl)
            if lp.factor > 1:
                loops.append(nl)
                temporal += not lp.spatial
        if not temporal:
            loops.append(NestLoop(len(dims) - 1, 1))
        bounds.append(len(loops) - 1)
        cbounds.append(len(complete) - 1)
    return loops, bounds, complete, cbounds


class _Analysis:
    """Timeloop's nest analysis over one nest (mutable walk state, private to :func:`working_sets`)."""

    def __init__(self, projs: list[Projection], loops: list[NestLoop], bounds: list[int], ndims: int):
        self.projs, self.loops, self.n, self.ndims = projs, loops, len(loops), ndims
        self.boundary = [i in bounds for i in range(self.n)]
        self.num_spatial, self.master, prod, prev = [1] * self.n, [False] * self.n, 1, False
        for lv in range(self.n - 1, -1, -1):
            self.num_spatial[lv] = prod
            if loops[lv].spatial:
                self.master[lv], prod, prev = not prev, prod * loops[lv].factor, True
            else:
                prev = False
        self.fanout = [1] * self.n
        for lv in range(self.n):
            if loops[lv].spatial:
                f, j = 1, lv
                while j >= 0 and loops[j].spatial:
                    f, j = f * loops[j].factor, j - 1
                self.fanout[lv] = f if self.master[lv] else 0
        cur, self.vstride, self.mold_high = [1] * ndims, [], []
        for lp in loops:
            self.vstride.append(list(cur))
            cur[lp.dim] *= lp.factor
            self.mold_high.append([c - 1 for c in cur])
        self.transform, self.epochs, self.compute_accesses = [0] * ndims, 1, 0
        ntensors = len(projs)
        self.access = [[{} for _ in range(ntensors)] for _ in range(self.n)]
        self.max_size = [[0] * ntensors for _ in range(self.n)]
        self.states = [[DeltaState() for _ in range(ntensors)] for _ in range(self.n)]

    def working_set(self, lv: int) -> list[PointSet]:
        high = [t + m for t, m in zip(self.transform, self.mold_high[lv])]
        return [p.points(self.transform, high) for p in self.projs]

    def translations(self, lv: int):
        d = self.loops[lv].dim
        a = self.working_set(lv)
        self.transform[d] += self.vstride[lv][d]
        b = self.working_set(lv)
        self.transform[d] -= self.vstride[lv][d]
        return [x.translation_to(y, p.order) for x, y, p in zip(a, b, self.projs)]

    def deltas(self, lv: int) -> list[PointSet]:
        (self._spatial if self.loops[lv].spatial else self._temporal)(lv)
        ws = self.working_set(lv)
        if self.boundary[lv] or self.master[lv]:
            self.max_size[lv] = [max(m, x.size) for m, x in zip(self.max_size[lv], ws)]
        return [st.delta(x, p.order) for st, x, p in zip(self.states[lv], ws, self.projs)]

    def _add(self, lv: int, t: int, key, n: float) -> None:
        self.access[lv][t][key] = self.access[lv][t].get(key, 0) + n

    def _temporal(self, lv: int) -> None:
        lp = self.loops[lv]
        if lv == 0:
            self.compute_accesses += lp.factor * self.epochs
            for t in range(len(self.projs)):
                self._add(lv, t, (1, 1), lp.factor * self.epochs)
            return
        scale, saved = self.vstride[lv][lp.dim], self.transform[lp.dim]
        sizes = [(1, [x.size for x in self.deltas(lv - 1)])]
        self.transform[lp.dim] += scale
        if lp.factor >= 2:
            saved_epochs, self.epochs = self.epochs, self.epochs * (lp.factor - 1)
            sizes.append((lp.factor - 1, [x.size for x in self.deltas(lv - 1)]))
            self.epochs = saved_epochs
        self.transform[lp.dim] = saved
        if self.boundary[lv - 1]:
            for t in range(len(self.projs)):
                self._add(lv, t, (1, 1), sum(k * s[t] for k, s in sizes) * self.epochs)

    def _spatial(self, lv: int) -> None:
        deltas: dict[int, list[PointSet]] = {}
        self._fill(lv, deltas, 0, 0, lv)
        for t in range(len(self.projs)):
            groups = {}
            # children with equal deltas share one access: count them by the delta's (unordered) boxes
            for boxes, m in Counter(frozenset(deltas[k][t].boxes) for k in deltas).items():
                size = sum(box_size(b) for b in boxes)
                if size:
                    a, s = groups.get(m, (0, 0))
                    groups[m] = (a + size * self.epochs, s + 1)
            for m, (a, s) in groups.items():
                self._add(lv, t, (m, s), a)

    def _fill(self, lv: int, deltas: dict, base: int, xstride: int, xlevel: int) -> None:
        lp = self.loops[lv]
        base *= lp.factor
        saved, scale = self.transform[lp.dim], self.vstride[lv][lp.dim]
        if lv == 0:                 # a spatial loop over the computes: each child is one operation point
            for i in range(lp.factor):
                deltas[base + i] = [p.points(self.transform, self.transform) for p in self.projs]
                self.transform[lp.dim] += scale
            self.compute_accesses += self.epochs if base == 0 else 0
        elif self.loops[lv - 1].spatial:
            for i in range(lp.factor):
                stride, level = (1, lv) if i else (xstride * lp.factor, xlevel)
                self._fill(lv - 1, deltas, base + i, stride, level)
                self.transform[lp.dim] += scale
        else:
            i = 0
            if xstride == 0:
                deltas[base] = self.deltas(lv - 1)
                self.transform[lp.dim] += scale
                i, xstride, xlevel = 1, 1, lv
            else:
                xstride *= lp.factor
            if i < lp.factor:
                tv = self.translations(xlevel)
            for j in range(i, lp.factor):
                deltas[base + j] = [x.shifted(v) for x, v in zip(deltas[base + j - xstride], tv)]
        self.transform[lp.dim] = saved

    def run(self):
        self.deltas(self.n - 1)
        ws = [[] for _ in self.projs]
        for lv in range(self.n):
            if self.loops[lv].spatial and not self.master[lv]:
                continue
            for t in range(len(self.projs)):
                ws[t].append({"size": self.max_size[lv][t], "access": dict(self.access[lv][t]),
                              "rep": self.num_spatial[lv], "fanout": self.fanout[lv],
                              "boundary": self.boundary[lv], "master": self.master[lv]})
        fanout = self.loops[0].factor if self.loops[0].spatial else 1
        return ws, self.num_spatial[0] * fanout, self.compute_accesses


def _weighted(access: dict) -> float:
    return sum(v * k[0] for k, v in access.items())


def _collapse(ws: list[dict], keep: list[bool], output: bool) -> list[SpatialCounts]:
    """Per storage level (innermost first) a tensor's counts (tiling.cpp CollapseDataMovementNest)."""
    sol, i = [], 0
    while i < len(ws):
        b = i
        while not ws[b]["boundary"] and b < len(ws) - 1:
            b += 1
        inner, outer = ws[i], ws[b]
        if sol:
            sol[-1]["pfd"] = inner["size"] if inner["master"] else sol[-1]["size"]
        sol.append({"size": outer["size"], "access": dict(inner["access"]), "content": sum(inner["access"].values()),
                    "rep": outer["rep"], "fanout": inner["fanout"], "pas": 0.0, "pfd": 0})
        i = b + 1
    n = len(sol)
    part = sol[-1]["size"]
    sol[-1]["partition"] = part
    for c in range(n - 2, -1, -1):
        if sol[c]["pfd"]:
            part = part * sol[c]["size"] // sol[c]["pfd"]
        sol[c]["partition"] = part
    for c in range(n - 1):                  # the parent's share, before bypass
        o = c + 1
        sol[c]["pas"] = sum(a * m for (m, _), a in sol[o]["access"].items()) / sol[o]["fanout"]
    for c in range(n):                      # a bypassed level's accesses go to its parent
        if keep[c]:
            continue
        if c == n - 1:
            break
        o = c + 1
        f = sol[c]["content"] * sol[o]["fanout"] / _weighted(sol[o]["access"])
        sol[o]["access"] = {k: v * f if v else v for k, v in sol[o]["access"].items()}
        sol[o]["content"] = sum(sol[o]["access"].values())
        for k in ("size", "partition", "content", "pas"):
            sol[c][k] = 0
    outermost = max(c for c in range(n) if keep[c])
    out = []
    for c, s in enumerate(sol):
        if not keep[c] or not s["size"]:
            out.append(SpatialCounts(0, 0, 0, 0, 0, 0, 0))
            continue
        fills = 0 if c == outermost else int(s["pas"])
        if output:
            reads = c_round(s["content"] - s["partition"])
            out.append(SpatialCounts(s["size"], s["partition"], reads, fills, c_round(s["content"]), reads, s["rep"]))
        else:
            out.append(SpatialCounts(s["size"], s["partition"], c_round(s["content"]), fills, 0, 0, s["rep"]))
    return out


def spatial_counts(design: Design, w: Workload):
    """({(level, tensor): SpatialCounts} for the levels keeping each tensor, compute instances, computes
    per instance)."""
    loops, bounds, _, _ = nests(design, w)
    projs = [projection(w, t) for t in w.tensors]
    ws, compute_instances, per_instance = _Analysis(projs, loops, bounds, len(w.sizes)).run()
    out = {}
    for t, tws in zip(w.tensors, ws):
        keep = [t.name in lvl.keep for lvl in design.levels]
        for i, sc in enumerate(_collapse(tws, keep, t.output)):
            if keep[i]:
                out[(i, t.name)] = sc
    return out, compute_instances, per_instance
