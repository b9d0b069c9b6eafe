"""ZigZag's mapping search and access counting (zigzag-dse 3.9.1), for the hierarchies the ``zigzag`` convention
describes: the rules of its LOMA temporal-mapping engine and of its cost model, written out for one layer.

A hierarchy here is a spatial unrolling (D1 = output channels K on the rows; D2 = input channels C for ``ws`` or
output columns OX for ``os``) and, per operand, a list of memory levels, bottom-up:

* three levels (the PEs have registers): W: [register per PE, DRAM], I: [SRAM, DRAM], O: [accumulator per PE,
  SRAM, DRAM] (ZigZag's tpu_like shape);
* two levels (no registers): W, I and O: [SRAM, DRAM].

The rules, as ZigZag applies them (file names are zigzag-dse's):

* Spatial unrolling (``spatial_mapping``): a dimension of size L on an array side of n is unrolled
  L / ceil(L / n) wide (fractional), leaving a temporal loop of ceil(L / n).
* Loop prime factors (``opt/loma/engine.py``): every temporal loop is split into its prime factors; while there are
  more than ``lpf_limit`` = 6 (or the number of loops, if larger), the two smallest factors of the dimension with
  the most factors are merged.  Every distinct permutation of the factors is one loop ordering (innermost first).
* Allocation (``opt/loma/memory_allocator.py``): memories are filled bottom-up; at each memory the operands it
  holds take the innermost unallocated loops that fit its capacity (the operand's tile, spatial loops below
  included, at 8 bits, or at the partial-sum width while a reduction loop is still unallocated), choosing the
  combination that fits together and minimises the accesses to the level above (tile size x the iterations left;
  ties: the most loops); the top level takes everything left.  An ordering whose tiles cannot fit is skipped.
* Stationarity (``mapping/temporal_mapping.py``): irrelevant loops at the bottom of a level are merged down into
  the level below (repeatedly).
* Accesses (``mapping/mapping.py``, ``cost_model/cost_model.py``): per memory level and direction, the data moved per
  period (the tile of the level below, times the unique units served) in ``ceil(bits / bw_min)`` granules of
  ``bw_min / bw_max`` words, once per period (the cycles of the loops below), per memory instance; partial sums
  travel at the accumulator width, final outputs at 8 bits; a level holding partial sums is read back as often as
  it is written; the top level's own fill and drain are not counted.  Energy: words x the per-word cost.
* Choice: the ordering with the least energy (``opt="energy"``).

Every ordering of a layer is allocated and priced at once (arrays over orderings, at most 720 of them);
results are cached per (layer, hierarchy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

import numpy as np

DIMS = ("K", "C", "OY", "OX", "FY", "FX")
RELEVANT = {"W": frozenset({"K", "C", "FX", "FY"}), "I": frozenset({"C"}), "O": frozenset({"K", "OX", "OY"})}
PARTLY = {"W": frozenset(), "I": frozenset({"OX", "FX", "OY", "FY"}), "O": frozenset()}
IRRELEVANT = {op: frozenset(DIMS) - RELEVANT[op] - PARTLY[op] for op in RELEVANT}
LPF_LIMIT = 6


@dataclass(frozen=True)
class Level:
    """One memory level of one operand: capacity (bits, per instance), port granules, per-word energies."""

    name: str
    bits: float
    rd_min: float
    rd_max: float
    wr_min: float
    wr_max: float
    rd_pj: float
    wr_pj: float
    per_pe: bool              # one instance per PE (served_dimensions []); else one serving the whole array


@dataclass(frozen=True)
class Layer:
    K: int
    C: int
    OX: int
    OY: int
    FX: int
    FY: int
    stride: int
    padding: int
    w_bits: int
    i_bits: int
    psum_bits: int
    out_bits: int

    @property
    def macs(self) -> int:
        return self.K * self.C * self.OX * self.OY * self.FX * self.FY


@dataclass(frozen=True)
class Counts:
    """ZigZag's words per operand and level (read/write) and the energy of the chosen ordering."""

    energy_pj: float
    words: tuple              # ((operand, level name, reads, writes), ...)
    ordering: tuple


def _pr_size(sa: int, a: int, sb: int, b: int) -> int:
    g = math.gcd(sa, sb)
    return a * b - max(0, b - sa // g) * (a - sb // g)


class _Tensor:
    """Tensor sizes of an operand for given loop-dimension sizes (ZigZag's calc_tensor_size / calc_tensor_dim)."""

    def __init__(self, layer: Layer):
        s, p = layer.stride, layer.padding
        self.s = s
        self.ix_total = _pr_size(s, layer.OX, 1, layer.FX) - 2 * p
        self.iy_total = _pr_size(s, layer.OY, 1, layer.FY) - 2 * p

    def ix(self, ox, fx):
        return min(self.ix_total, _pr_size(self.s, int(ox), 1, int(fx)))

    def iy(self, oy, fy):
        return min(self.iy_total, _pr_size(self.s, int(oy), 1, int(fy)))

    def size(self, op: str, d: dict) -> float:
        g = d.get
        if op == "W":
            return g("K", 1) * g("C", 1) * g("FX", 1) * g("FY", 1)
        if op == "O":
            return g("K", 1) * g("OX", 1) * g("OY", 1)
        return g("C", 1) * self.ix(g("OX", 1), g("FX", 1)) * self.iy(g("OY", 1), g("FY", 1))


def _product(loops) -> dict:
    d: dict = {}
    for dim, size in loops:
        d[dim] = d.get(dim, 1) * size
    return d


def spatial_unrolling(layer: Layer, rows: int, cols: int, dataflow: str) -> tuple:
    """((dim, unrolled size), ...) on D1 and D2, reduced to the layer and split evenly (fractional)."""
    out = []
    for dim, n in (("K", rows), ("C" if dataflow == "ws" else "OX", cols)):
        size = getattr(layer, dim)
        out.append((dim, size / math.ceil(size / n) if size > n else float(size)))
    return tuple(out)


def loop_prime_factors(temporal: dict) -> list:
    """LOMA's loop prime factors of the temporal loops, limited to LPF_LIMIT as its engine does."""
    pfs = {}
    for dim, size in temporal.items():
        factors, n, p = {}, size, 2
        while p * p <= n:
            while n % p == 0:
                factors[p] = factors.get(p, 0) + 1
                n //= p
            p += 1
        if n > 1:
            factors[n] = factors.get(n, 0) + 1
        pfs[dim] = [[f, c] for f, c in sorted(factors.items())]
    limit = max(LPF_LIMIT, len(temporal))
    total = sum(c for v in pfs.values() for _, c in v)
    while total > limit:
        dim = max(pfs, key=lambda k: sum(c for _, c in pfs[k]))   # first of the dimensions with the most factors
        fl = pfs[dim]
        first = 0 if fl[0][1] > 1 else None
        i, j = (0, 0) if first == 0 else (0, 1)
        new = fl[i][0] * fl[j][0]
        fl[i][1] -= 1
        fl[j][1] -= 1
        hit = next((e for e in fl if e[0] == new), None)
        if hit is not None:
            hit[1] += 1
        else:
            fl.append([new, 1])
            fl.sort()
        pfs[dim] = [e for e in fl if e[1] > 0]
        total -= 1
    lpfs = [(dim, f) for dim, v in pfs.items() for f, c in v for _ in range(c)]
    return lpfs or [("K", 1)]


class _Problem:
    """One layer on one hierarchy: every loop ordering allocated and priced at once (arrays over orderings)."""

    def __init__(self, layer: Layer, spatial: tuple, levels: dict):
        self.layer, self.levels = layer, levels
        self.t = _Tensor(layer)
        # spatial loops per arch level: below the lowest memory if it serves the whole array, else above it
        self.su = {op: ([list(spatial)] + [[] for _ in lv]) if not lv[0].per_pe
                   else ([[]] + [list(spatial)] + [[] for _ in lv[1:]]) for op, lv in levels.items()}
        self.o_size = layer.K * layer.OX * layer.OY
        self.unit_count, self.boost, self.sp_cum, self.su_ir = {}, {}, {}, {}
        for op, su in self.su.items():
            tot = [math.prod(s for _, s in lv) for lv in su]
            r = [self.t.size(op, _product(lv)) for lv in su]
            a = len(su)
            self.unit_count[op] = [round(round(math.prod(tot[i:]), 3)) for i in range(a)]
            uu = [math.prod(r[i:]) for i in range(a)]
            self.boost[op] = [round(uu[i] / uu[i + 1]) for i in range(a - 1)] + [1]
            cum, acc = [], np.ones(len(DIMS))
            for lv in su:
                for d, s in lv:
                    acc = acc.copy()
                    acc[DIMS.index(d)] *= s
                cum.append(acc)
            self.sp_cum[op] = cum                       # dim products of the spatial loops at arch levels <= a
            self.su_ir[op] = [math.prod(s for lv in su[i:] for d, s in lv if d in IRRELEVANT[op]) for i in range(a)]
        nodes: dict = {}
        for op, lv in levels.items():
            for m in lv:
                nodes.setdefault(m.name, []).append(op)
        order = {"I": 0, "W": 1, "O": 2}
        rank = {name: max(i for op in ops for i, m in enumerate(levels[op]) if m.name == name)
                for name, ops in nodes.items()}
        self.nodes = sorted(((n, sorted(ops, key=order.get)) for n, ops in nodes.items()),
                            key=lambda x: (rank[x[0]], x[0] == "dram"))

    def _size(self, op: str, p: np.ndarray) -> np.ndarray:
        """Tensor size (elements) of ``op`` for dim products ``p`` (..., 6), partly relevant dims as ZigZag sizes
        them (integer parts of the loop sizes, clipped to the padded input)."""
        k, c, oy, ox, fy, fx = (p[..., i] for i in range(len(DIMS)))
        if op == "W":
            return k * c * fx * fy
        if op == "O":
            return k * ox * oy
        s = self.t.s

        def pr(a, b):
            a, b = np.floor(a + 1e-9), np.floor(b + 1e-9)
            return a * b - np.maximum(0.0, b - s) * (a - 1)
        return c * np.minimum(self.t.ix_total, pr(ox, fx)) * np.minimum(self.t.iy_total, pr(oy, fy))

    def evaluate(self, lpfs: list) -> tuple:
        """(energy per ordering, words per ordering {(op, level): (reads, writes)}, orderings, valid)."""
        lay = self.layer
        distinct = {tuple(lpfs[i] for i in o): o for o in permutations(range(len(lpfs)))}
        orderings = [distinct[k] for k in sorted(distinct)]
        perm = np.array(orderings, dtype=np.int64).reshape(len(orderings), len(lpfs))
        n, nl = perm.shape
        dim_of = np.array([DIMS.index(d) for d, _ in lpfs])[perm]
        size_of = np.array([s for _, s in lpfs], dtype=np.int64)[perm]
        rows = np.arange(n)
        cum = np.ones((n, nl + 1, len(DIMS)))
        tot = np.ones((n, nl + 1), dtype=np.int64)
        for j in range(nl):
            cum[:, j + 1] = cum[:, j]
            cum[rows, j + 1, dim_of[:, j]] *= size_of[:, j]
            tot[:, j + 1] = tot[:, j] * size_of[:, j]
        total = tot[:, nl]
        valid = np.ones(n, dtype=bool)
        off = {op: np.zeros(n, dtype=np.int64) for op in self.levels}
        ends = {op: [] for op in self.levels}
        ir_dim = {op: np.array([d in IRRELEVANT[op] for d in DIMS]) for op in self.levels}
        steps = np.arange(nl + 1)
        for name, ops in self.nodes:
            level = {op: next(i for i, m in enumerate(self.levels[op]) if m.name == name) for op in ops}
            if name == "dram":
                for op in ops:
                    ends[op].append(np.full(n, nl))
                continue
            cap = self.levels[ops[0]][level[ops[0]]].bits
            sizes, accs, oks = [], [], []
            for op in ops:
                m = level[op]
                j = off[op][:, None] + steps[None, :]                       # (n, nl + 1) prefix ends
                inside = j <= nl
                jc = np.minimum(j, nl)
                if op == "O":
                    spatial_left = any(d in IRRELEVANT["O"] for lv in self.su[op][m + 1:] for d, _ in lv)
                    temporal_left = (ir_dim["O"][dim_of] & (np.arange(nl)[None, :] >= off[op][:, None])).any(1)
                    prec = np.where(spatial_left | temporal_left, lay.psum_bits, lay.out_bits)[:, None]
                else:
                    prec = lay.w_bits if op == "W" else lay.i_bits
                size = self._size(op, cum[rows[:, None], jc] * self.sp_cum[op][m]) * prec
                ok = np.logical_and.accumulate(inside & (size <= cap), axis=1)
                sizes.append(np.where(ok, size, np.inf))
                accs.append(np.where(ok, (total[:, None] // tot[rows[:, None], jc]) * size, np.inf))
                oks.append(ok)
            k = len(ops)
            size_sum, acc_sum = sizes[0], accs[0]
            for s, a in zip(sizes[1:], accs[1:]):
                size_sum = size_sum[..., None] + s.reshape((n,) + (1,) * (size_sum.ndim - 1) + (nl + 1,))
                acc_sum = acc_sum[..., None] + a.reshape((n,) + (1,) * (acc_sum.ndim - 1) + (nl + 1,))
            size_sum, acc_sum = size_sum.reshape(n, -1), acc_sum.reshape(n, -1)
            fits = size_sum <= cap
            valid &= fits[:, 0]
            masked = np.where(fits, acc_sum, np.inf)
            last = masked.shape[1] - 1 - np.argmin(masked[:, ::-1], axis=1)   # ties: the most loops
            picks = np.unravel_index(last, (nl + 1,) * k)
            for op, pick in zip(ops, picks):
                off[op] = off[op] + pick
                ends[op].append(off[op].copy())
        words = {}
        energy = np.full(n, lay.macs * 0.0)
        for op, levels in self.levels.items():
            irr = ir_dim[op][dim_of]                                        # (n, nl)
            nni = np.full((n, nl + 1), nl)
            for j in range(nl - 1, -1, -1):
                nni[:, j] = np.where(irr[:, j], nni[:, j + 1], j)
            mc = len(levels)
            e = [nni[rows, np.minimum(x, nl)] for x in ends[op][:-1]] + [np.full(n, nl)]
            cycles = [np.ones(n, dtype=np.int64)]
            if op != "O":
                cycles[0] = tot[rows, np.minimum(nni[:, 0], e[0])]
            cycles += [tot[rows, e[m]] for m in range(mc)]
            d_unrolled = [np.ones(n)] + [np.round(self._size(op, cum[rows, e[a - 1]] * self.sp_cum[op][a - 1]))
                                         for a in range(1, mc + 1)]
            uc, boost = self.unit_count[op], self.boost[op]
            if op == "O":
                irtot = np.ones((n, nl + 1))
                for j in range(nl):
                    irtot[:, j + 1] = irtot[:, j] * np.where(irr[:, j], size_of[:, j], 1)
                starts = [np.zeros(n, dtype=np.int64)] + e[:-1]
                ir_caal = [irtot[:, nl] * self.su_ir[op][0]]
                ir_caal += [irtot[:, nl] / irtot[rows, starts[a - 1]] * self.su_ir[op][a] for a in range(1, mc + 1)]
                ir_caal += [np.ones(n), np.ones(n)]

            def word(amount, prec, lo, hi, period, units):
                w = np.floor(np.ceil(amount * prec / lo) * (lo / hi) * (total // period) * units)
                return np.where((amount == 0) | (prec == 0), 0.0, w)

            for m, mem in enumerate(levels):
                top = m == mc - 1
                if op != "O":
                    prec = lay.w_bits if op == "W" else lay.i_bits
                    rd = word(d_unrolled[m] * boost[m], prec, mem.rd_min, mem.rd_max, cycles[m], uc[m + 1])
                    wr = 0.0 if top else word(d_unrolled[m + 1], prec, mem.wr_min, mem.wr_max, cycles[m + 1],
                                              uc[m + 1])
                else:
                    low_partial = np.floor(self.o_size * (ir_caal[m + 1] - 1)) != 0
                    high_partial = np.floor(self.o_size * (ir_caal[m + 2] - 1)) != 0
                    psum_low, psum_high = ir_caal[m + 1] > 1, ir_caal[m + 2] > 1
                    p_low = np.where(low_partial, lay.psum_bits, lay.out_bits)
                    p_high = np.where(high_partial, lay.psum_bits, lay.out_bits)
                    amount_low = np.floor(d_unrolled[m] * boost[m])
                    wr = word(amount_low, p_low, mem.wr_min, mem.wr_max, cycles[m], uc[m + 1])
                    rd = np.where(psum_low & low_partial,
                                  word(amount_low, p_low, mem.rd_min, mem.rd_max, cycles[m], uc[m + 1]), 0.0)
                    if not top:
                        rd = rd + word(d_unrolled[m + 1], p_high, mem.rd_min, mem.rd_max, cycles[m + 1], uc[m + 1])
                        wr = wr + np.where(psum_high & high_partial, word(d_unrolled[m + 1], p_high, mem.wr_min,
                                                                          mem.wr_max, cycles[m + 1], uc[m + 1]), 0.0)
                rd, wr = rd + np.zeros(n), wr + np.zeros(n)
                energy = energy + rd * mem.rd_pj + wr * mem.wr_pj
                words[(op, mem.name)] = (rd, wr)
        return energy, words, [tuple(lpfs[i] for i in o) for o in orderings], valid


@lru_cache(maxsize=4096)
def best_mapping(layer: Layer, rows: int, cols: int, dataflow: str, levels: tuple, mac_pj: float) -> Counts:
    """The energy-optimal LOMA mapping of ``layer`` and ZigZag's access counts for it.  ``levels``: ((operand,
    (Level, ...)), ...) bottom-up per operand."""
    spatial = spatial_unrolling(layer, rows, cols, dataflow)
    prob = _Problem(layer, spatial, dict(levels))
    temporal = {}
    for dim in DIMS:
        size = getattr(layer, dim)
        su = dict(spatial).get(dim)
        q = math.ceil(size / su) if su else size
        if q > 1:
            temporal[dim] = q
    energy, words, orderings, valid = prob.evaluate(loop_prime_factors(temporal))
    if not valid.any():
        raise ValueError(f"memory.convention 'zigzag': no loop ordering of {layer} fits the memories (rows={rows}, "
                         f"cols={cols}); allowed: memories that hold the array's unrolled tile")
    best = int(np.argmin(np.where(valid, energy, np.inf)))
    counts = tuple((op, name, float(rd[best]), float(wr[best])) for (op, name), (rd, wr) in words.items())
    return Counts(float(energy[best]) + layer.macs * mac_pj, counts, orderings[best])
