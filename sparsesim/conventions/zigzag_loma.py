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

Everything below is a search over at most a few hundred orderings per layer and hierarchy (a loop over
orderings, not over data); results are cached per (layer, hierarchy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

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
    def __init__(self, layer: Layer, spatial: tuple, levels: dict):
        self.layer, self.spatial, self.levels = layer, spatial, levels
        self.t = _Tensor(layer)
        # spatial loops per arch level: below the lowest memory if it serves the whole array, else above it
        self.su = {op: ([list(spatial)] + [[] for _ in lv]) if not lv[0].per_pe
                   else ([[]] + [list(spatial)] + [[] for _ in lv[1:]]) for op, lv in levels.items()}
        self.o_size = layer.K * layer.OX * layer.OY
        # unit counts, unique units and bandwidth boost per arch level (spatial_mapping_internal.py)
        self.unit_count, self.boost = {}, {}
        for op, su in self.su.items():
            tot = [math.prod(s for _, s in lv) for lv in su]
            r = [self._r_size(op, _product(lv)) for lv in su]
            a = len(su)
            self.unit_count[op] = [round(round(math.prod(tot[i:]), 3)) for i in range(a)]
            uu = [math.prod(r[i:]) for i in range(a)]
            self.boost[op] = [round(uu[i] / uu[i + 1]) for i in range(a - 1)] + [1]
        # memory nodes bottom-up and the operands each holds
        nodes: dict = {}
        for op, lv in levels.items():
            for m in lv:
                nodes.setdefault(m.name, []).append(op)
        order = {"I": 0, "W": 1, "O": 2}
        rank = {name: max(i for op in ops for i, m in enumerate(levels[op]) if m.name == name)
                for name, ops in nodes.items()}
        self.nodes = sorted(((n, sorted(ops, key=order.get)) for n, ops in nodes.items()),
                            key=lambda x: (rank[x[0]], x[0] == "dram"))
        self.top = {op: lv[-1].name for op, lv in levels.items()}

    def _r_size(self, op: str, d: dict) -> float:
        """The relevant (data) size of loops ``d`` for ``op``, partly relevant loops decoupled as ZigZag does."""
        return self.t.size(op, d)

    # ---------------------------------------------------------------- allocation (memory_allocator.py)
    def allocate(self, ordering: tuple):
        lay = self.layer
        unalloc = {op: list(ordering) for op in self.levels}
        alloc = {op: list(self.su[op][0]) for op in self.levels}
        level_of = {op: 1 for op in self.levels}
        tm = {op: [] for op in self.levels}
        for name, ops in self.nodes:
            mem = {op: next(m for m in self.levels[op] if m.name == name) for op in ops}
            cap = mem[ops[0]].bits
            sizes = {}
            for op in ops:
                if op == "O":
                    spatial_left = [d for lv in self.su[op][level_of[op]:] for d, _ in lv]
                    dims_left = spatial_left + [d for d, _ in unalloc[op]]
                    prec = lay.psum_bits if any(d in IRRELEVANT["O"] for d in dims_left) else lay.out_bits
                else:
                    prec = lay.w_bits if op == "W" else lay.i_bits
                s = []
                for i in range(len(unalloc[op]) + 1):
                    size = self.t.size(op, _product(alloc[op] + unalloc[op][:i])) * prec
                    if size <= cap:
                        s.append(size)
                    else:
                        if i == 0:
                            return None
                        break
                sizes[op] = s
            offsets = {op: 0 for op in ops}
            acc = {}
            for op in ops:
                if name == self.top[op]:
                    offsets[op] = len(sizes[op]) - 1
                    sizes[op] = [sizes[op][-1]]
                acc[op] = [0 if name == self.top[op] else
                           math.prod(s for _, s in unalloc[op][i + offsets[op]:]) * size
                           for i, size in enumerate(sizes[op])]
            best, best_acc = None, math.inf
            counts = [len(sizes[op]) for op in ops]
            for n in range(math.prod(counts)):
                idx, used, a = [], 0.0, 0.0
                for j, op in enumerate(ops):
                    k = (n // math.prod(counts[j + 1:])) % counts[j]
                    idx.append(k + offsets[op])
                    used += sizes[op][k]
                    a += acc[op][k]
                if used > cap:
                    if n == 0:
                        return None
                    continue
                if a <= best_acc:
                    best, best_acc = idx, a
            for op, k in zip(ops, best):
                tm[op].append(unalloc[op][:k])
                alloc[op] += unalloc[op][:k] + list(self.su[op][level_of[op]])
                del unalloc[op][:k]
                if name == self.top[op] and unalloc[op]:
                    return None
                level_of[op] += 1
        return tm

    # ---------------------------------------------------------------- access counting (mapping.py, cost_model.py)
    @staticmethod
    def _stationary(op: str, tm: list) -> list:
        """Merge irrelevant loops at the bottom of each level (above the lowest) into the level below."""
        cur = [list(lv) for lv in tm]
        while True:
            new = [[] for _ in cur]
            for lv, loops in enumerate(cur):
                for i, (d, s) in enumerate(loops):
                    if d in IRRELEVANT[op]:
                        new[max(lv - 1, 0)].append((d, s))
                    else:
                        new[lv].extend(loops[i:])
                        break
            if new == cur:
                return cur
            cur = new

    def accesses(self, tm: dict) -> tuple:
        lay = self.layer
        energy = lay.macs * 0.0
        words = []
        total_cycles = None
        for op, levels in self.levels.items():
            st = self._stationary(op, tm[op])
            su = self.su[op]
            m_count = len(levels)
            seed = [[]] + st + [[]]
            one_s_two_t = [[]] + [seed[a] + su[a - 1] for a in range(1, m_count + 1)]
            d_unrolled, cum = [], []
            for a in range(m_count + 1):
                cum = cum + (one_s_two_t[a] if a < len(one_s_two_t) else [])
                d_unrolled.append(round(self._r_size(op, _product(cum))))
            cycles = [1]
            if op != "O":       # access_same_data_considered_as_no_access: a MAC keeps its operand while it stays
                for d, size in st[0]:
                    if d not in IRRELEVANT[op]:
                        break
                    cycles[0] *= size
            for lv in st:
                cycles.append((cycles[-1] if len(cycles) > 1 else 1) * math.prod(s for _, s in lv))
            total = cycles[-1]
            total_cycles = total
            uc, boost = self.unit_count[op], self.boost[op]
            if op == "O":
                one_s_one_t = [su[0]] + [st[a - 1] + su[a] for a in range(1, m_count + 1)]
                ir_flag = [any(d in IRRELEVANT["O"] and s > 1 for d, s in lv) for lv in one_s_one_t]
                psum = [any(ir_flag[m + 1:]) for m in range(m_count)] + [False]
                ir_caal = [math.prod(s for lv in one_s_one_t[a:] for d, s in lv if d in IRRELEVANT["O"])
                           for a in range(m_count + 1)] + [1, 1]

            def word(amount, prec, lo, hi, period, units):
                if amount == 0 or prec == 0:
                    return 0
                return int(math.ceil(amount * prec / lo) * (lo / hi) * (total // period) * units)

            for m, mem in enumerate(levels):
                top = m == m_count - 1
                if op != "O":
                    prec = lay.w_bits if op == "W" else lay.i_bits
                    rd = word(d_unrolled[m] * boost[m], prec, mem.rd_min, mem.rd_max, cycles[m], uc[m + 1])
                    wr = 0 if top else word(d_unrolled[m + 1], prec, mem.wr_min, mem.wr_max, cycles[m + 1], uc[m + 1])
                else:
                    low_partial = int(self.o_size * (ir_caal[m + 1] - 1)) != 0
                    high_partial = int(self.o_size * (ir_caal[m + 2] - 1)) != 0
                    p_low = lay.psum_bits if low_partial else lay.out_bits
                    p_high = lay.psum_bits if high_partial else lay.out_bits
                    amount_low = int(d_unrolled[m] * boost[m])
                    wr = word(amount_low, p_low, mem.wr_min, mem.wr_max, cycles[m], uc[m + 1])
                    rd = word(amount_low, p_low, mem.rd_min, mem.rd_max, cycles[m], uc[m + 1]) \
                        if psum[m] and low_partial else 0
                    if not top:
                        rd += word(d_unrolled[m + 1], p_high, mem.rd_min, mem.rd_max, cycles[m + 1], uc[m + 1])
                        if psum[m + 1] and high_partial:
                            wr += word(d_unrolled[m + 1], p_high, mem.wr_min, mem.wr_max, cycles[m + 1], uc[m + 1])
                energy += rd * mem.rd_pj + wr * mem.wr_pj
                words.append((op, mem.name, rd, wr))
        return energy, tuple(words), total_cycles


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
    lpfs = loop_prime_factors(temporal)
    best = None
    for ordering in set(permutations(lpfs)):
        tm = prob.allocate(ordering)
        if tm is None:
            continue
        energy, words, _ = prob.accesses(tm)
        if best is None or energy < best.energy_pj or (energy == best.energy_pj and ordering < best.ordering):
            best = Counts(energy, words, ordering)
    if best is None:
        raise ValueError(f"zigzag convention: no loop ordering of layer {layer} fits the memories "
                         f"(rows={rows}, cols={cols}); allowed: a hierarchy whose lowest memories hold the unrolled tile")
    return Counts(best.energy_pj + layer.macs * mac_pj, best.words, best.ordering)
