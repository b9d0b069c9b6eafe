"""The ``scalesim`` convention: SCALE-Sim v3.0.0's memory simulation, reproduced from its own rules.

SCALE-Sim prices a systolic layer by generating, for every cycle, the
addresses each operand's SRAM must serve (its *demand*), and running them
through double-buffered read buffers (ifmap, filter) and a write buffer
(ofmap) backed by DRAM.  Its rules, which this module implements from the
documented behaviour of scalesim 3.0.0 (docs/validation.md lists each with the
source line it comes from):

* operands are address matrices: the ifmap is the im2col matrix of raw ifmap
  addresses (HWC layout, a word recurring once per window that covers it), the
  filter K x M, the ofmap N x M; N:M sparsity keeps the first N of every M
  weights along K on both sides;
* folds run column fold outer, row fold inner; each fold's demand is skewed
  and padded with fill/drain rows (WS/IS ``2R + C + T - 2`` rows, OS
  ``R + C + T - 2``); SRAM reads/writes are the non-empty demand entries (WS
  ifmap reads scaled by M/N under N:M);
* USER bandwidth: each read buffer is cut into sets of ceil(words/100)
  consecutive prefetch entries; the active half (50 sets) is filled before
  the layer starts (the prefetch phase, counted as whole bw-wide lines); a
  demanded address outside the active window moves the window 50 sets on and
  issues a prefetch of ceil(half/bw) lines, chained back to back from the
  previous prefetch; a prefetch later than the row's cycle stalls it by twice
  the difference (SCALE-Sim adds it twice), an early one shortens it;
* CALC bandwidth: reads never stall; DRAM reads count first touches in
  windows of 50 sets of floor(words/100) distinct words;
* the ofmap write buffer drains ceil(half/bw) lines whenever more than half
  of it is full and no drain is running, and stalls the array when it is full;
* a row's stall is the largest of the three operands'; "Total Cycles" = rows -
  1 + stalls; "Total Cycles (incl. prefetch)" runs from the first DRAM read of
  the prefetch phase to the end of the last ofmap drain.

Everything works on whole-layer numpy arrays; the loops left in Python run over
prefetch misses and write-buffer drains, not over cycles or addresses.  The
result of a layer on a configuration is cached on the workload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..demand import ComputeDemand
from ..hwarrays import HardwareArrays
from ..memory import Traffic
from ..timing import Timing
from ..workload import LayerWorkload

OFFSETS = (0, 10_000_000, 20_000_000)   # SCALE-Sim's default ifmap / filter / ofmap address offsets
HIT_LATENCY = 1                         # read buffers serve a hit one cycle after the request
CALC_BANDWIDTH_WORDS = 10               # SCALE-Sim's read bandwidth in CALC (estimate) mode


@dataclass(frozen=True)
class ScaleSimLayer:
    """A layer as SCALE-Sim sees it: ifmap H x W x C (padding included), R x S filters, M of them."""

    h: int
    w: int
    r: int
    s: int
    c: int
    m: int
    stride: int
    nm: tuple[int, int] | None = None   # N:M sparsity (SCALE-Sim's first-N-of-every-M pattern)

    @property
    def out_hw(self) -> tuple[int, int]:
        return math.ceil((self.h - self.r + self.stride) / self.stride), \
            math.ceil((self.w - self.s + self.stride) / self.stride)


@dataclass(frozen=True)
class ScaleSimConfig:
    rows: int
    cols: int
    dataflow: str
    words: tuple[int, int, int]         # SRAM words (1-byte words) of ifmap, filter, ofmap
    bandwidth: tuple[int, int, int]     # DRAM words/cycle of ifmap, filter, ofmap
    user: bool                          # USER bandwidth (False: CALC)


@dataclass(frozen=True)
class ScaleSimReport:
    """SCALE-Sim's per-layer report (COMPUTE_REPORT and DETAILED_ACCESS_REPORT), in words and cycles."""

    total_cycles_incl_prefetch: int
    total_cycles: int
    stall_cycles: int
    sram_ifmap_reads: float
    sram_filter_reads: float
    sram_ofmap_writes: float
    dram_ifmap_reads: float
    dram_filter_reads: float
    dram_ofmap_writes: float
    dram_ifmap_start: float
    dram_ifmap_stop: float
    dram_filter_start: float
    dram_filter_stop: float
    dram_ofmap_start: float
    dram_ofmap_stop: float
    demand_rows: int


# ------------------------------------------------------------------ layers
def scalesim_ifmap_hw(geometry: dict) -> tuple[int, int]:
    """The ifmap SCALE-Sim is given for a torch conv: the input with its padding (before and after), less the
    trailing rows/columns no window reads.  SCALE-Sim counts ceil((H - R + S) / S) outputs, torch
    floor((H - R) / S) + 1; they differ when the stride does not divide H - R (ResNet's stride-2 layers)."""
    (h, wd), (pr, pc) = geometry["input_hw"], geometry.get("padding", (0, 0))
    er, ec = geometry.get("padding_end", (pr, pc))      # torch's 'same' pads one more after, on even kernels
    h, wd = h + pr + er, wd + pc + ec
    if geometry.get("output_hw"):
        (oh, ow), (kh, kw) = geometry["output_hw"], geometry["kernel"]
        sh, sw = geometry.get("stride", (1, 1))
        dh, dw = geometry.get("dilation", (1, 1))
        h, wd = min(h, (oh - 1) * sh + dh * (kh - 1) + 1), min(wd, (ow - 1) * sw + dw * (kw - 1) + 1)
    return int(h), int(wd)


def layer_of(w: LayerWorkload) -> ScaleSimLayer:
    """SCALE-Sim's view of a workload: its own topology geometry, or the torch geometry with padding added."""
    nm = w.geometry.get("scalesim_nm") or w.geometry.get("nm")    # a topology's Sparsity, or an artifact's N:M
    nm = tuple(nm) if nm else None
    if "scalesim_layer" in w.geometry:
        return ScaleSimLayer(*w.geometry["scalesim_layer"], nm=nm)
    kernel = w.geometry.get("kernel")
    if w.kind == "conv2d" and kernel and w.geometry.get("input_hw") and w.K % (kernel[0] * kernel[1]) == 0:
        return ScaleSimLayer(*scalesim_ifmap_hw(w.geometry), kernel[0], kernel[1], w.K // (kernel[0] * kernel[1]),
                             w.M, w.geometry.get("stride", (1, 1))[0], nm)
    return ScaleSimLayer(w.columns, w.K, 1, w.K, 1, w.M, 1, nm)   # a GEMM: rows x K times K x M


def config_of(hw: HardwareArrays, i: int) -> ScaleSimConfig:
    words = tuple(int(hw.buf_bits[op][i] // 8) for op in ("ifmap", "filter", "ofmap"))
    bw = tuple(max(1, int(round(hw.dram_op_bw[op][i] / 8))) for op in ("ifmap", "filter", "ofmap"))
    return ScaleSimConfig(int(hw.rows[i]), int(hw.cols[i]), str(hw.dataflow[i]), words, bw,
                          not bool(hw.stall_free[i]))


def operands(layer: ScaleSimLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ifmap N x K, filter K x M, ofmap N x M) address matrices; -1 marks a window off the ifmap."""
    e, f = layer.out_hw
    n, k = e * f, layer.r * layer.s * layer.c
    orow, ocol = np.divmod(np.arange(n)[:, None], f)
    irow, icol = orow * layer.stride, ocol * layer.stride
    crow, rest = np.divmod(np.arange(k)[None, :], layer.s * layer.c)
    ccol, cch = np.divmod(rest, layer.c)
    valid = (crow + irow < layer.h) & (ccol + icol < layer.w)
    ifm = np.where(valid, ((irow + crow) * layer.w + icol + ccol) * layer.c + cch + OFFSETS[0], -1)
    flt = np.arange(layer.m)[None, :] * k + np.arange(k)[:, None] + OFFSETS[1]
    ofm = np.arange(n)[:, None] * layer.m + np.arange(layer.m)[None, :] + OFFSETS[2]
    if layer.nm is not None:
        keep = (np.arange(k) % layer.nm[1]) < layer.nm[0]
        flt = flt[keep]
        ifm = ifm * keep[None, :]
        live = np.any(ifm != 0, axis=0)
        if n == 1 and OFFSETS[0] == 0:
            live[0] = True
        ifm = ifm[:, live]
    return ifm.astype(np.int64), flt.astype(np.int64), ofm.astype(np.int64)


# ----------------------------------------------------------- fold demands
def _pad(a: np.ndarray, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    out = np.full((a.shape[0] if rows is None else rows, a.shape[1] if cols is None else cols), -1, np.int64)
    out[:a.shape[0], :a.shape[1]] = a
    return out


def _gap(rows: int, cols: int) -> np.ndarray:
    return np.full((rows, cols), -1, np.int64)


def _skew(x: np.ndarray) -> np.ndarray:
    """Column c delayed by c rows (the systolic skew)."""
    rows, cols = x.shape
    out = np.full((rows + cols - 1, cols), -1, np.int64)
    c = np.arange(cols)[None, :]
    out[np.arange(rows)[:, None] + c, c] = x
    return out


def _diagonal(x: np.ndarray) -> np.ndarray:
    """Entries along anti-diagonals, bottom row first (SCALE-Sim's prefetch order)."""
    r, c = np.indices(x.shape)
    return x.ravel()[np.lexsort((-r.ravel(), (r + c).ravel()))]


@dataclass(frozen=True, eq=False)
class FoldDemand:
    ifmap_prefetch: np.ndarray     # fetch order of the ifmap buffer (-1: empty slot)
    filter_prefetch: np.ndarray
    ifmap: np.ndarray              # demand matrices, one row per cycle
    filter: np.ndarray
    ofmap: np.ndarray
    ifmap_reads: float
    filter_reads: float
    ofmap_writes: float


def _ws(ifm, flt, ofm, ar, ac) -> FoldDemand:
    n, k = ifm.shape
    kf, m = flt.shape
    rf, cf, rfd = -(-k // ar), -(-m // ac), -(-kf // ar)
    pre_i = _diagonal(np.concatenate([_pad(ifm[:, f * ar:(f + 1) * ar], cols=ar) for f in range(rf)]))
    pre_f = np.concatenate([_pad(flt[:, f * ac:(f + 1) * ac], cols=ac) for f in range(cf)]).ravel()
    di, dfl, do = [], [], []
    reads_i = reads_f = writes_o = 0
    for fc in range(cf):
        c0, c1 = fc * ac, min(fc * ac + ac, m)
        for fr in range(rfd):
            t = ifm[:, fr * ar:fr * ar + ar]
            reads_i += t.size
            di.append(_skew(np.concatenate((_gap(ar, ar), _pad(t, cols=ar), _gap(ac - 1, ar)))))
            t = flt[fr * ar:fr * ar + ar, c0:c1]
            reads_f += t.size
            dfl.append(np.concatenate((np.flip(_pad(t, ar, ac), 0), _gap(ar + ac + n - 2, ac))))
            t = ofm[:, c0:c1]
            writes_o += t.size
            do.append(_skew(np.concatenate((_gap(2 * ar - 1, ac), _pad(t, cols=ac)))))
    return FoldDemand(pre_i, pre_f, np.concatenate(di), np.concatenate(dfl), np.concatenate(do),
                      reads_i, reads_f, writes_o)


def _os(ifm, flt, ofm, ar, ac) -> FoldDemand:
    n, k = ifm.shape
    m = flt.shape[1]
    rf, cf = -(-n // ar), -(-m // ac)
    it = ifm.T
    pre_i = _diagonal(np.concatenate([_pad(it[:, f * ar:(f + 1) * ar], cols=ar) for f in range(rf)]))
    pre_f = _diagonal(np.concatenate([_pad(flt[:, f * ac:(f + 1) * ac], cols=ac) for f in range(cf)]))
    di, dfl, do = [], [], []
    reads_i = reads_f = writes_o = 0
    for fc in range(cf):
        c0, c1 = fc * ac, min(fc * ac + ac, m)
        for fr in range(rf):
            a0, a1 = fr * ar, min(fr * ar + ar, n)
            t = it[:, a0:a1]
            reads_i += t.size
            di.append(_skew(np.concatenate((_pad(t, cols=ar), _gap(ac - 1, ar)))))
            t = flt[:, c0:c1]
            reads_f += t.size
            dfl.append(_skew(np.concatenate((_pad(t, cols=ac), _gap(ar - 1, ac)))))
            t = ofm[a0:a1, c0:c1]
            writes_o += t.size + ar + ac                   # SCALE-Sim also adds the padded fold's sides
            do.append(_skew(np.concatenate((_gap(k - 1, ac), np.flip(_pad(t, ar, ac), 0)))))
    return FoldDemand(pre_i, pre_f, np.concatenate(di), np.concatenate(dfl), np.concatenate(do),
                      reads_i, reads_f, writes_o)


def _is(ifm, flt, ofm, ar, ac) -> FoldDemand:
    n, k = ifm.shape
    m = flt.shape[1]
    rf, cf = -(-k // ar), -(-n // ac)
    it = ifm.T
    pre_i = np.concatenate([_pad(it[:, f * ac:(f + 1) * ac], cols=ac) for f in range(cf)]).ravel()
    pre_f = _diagonal(np.concatenate([_pad(flt[f * ar:(f + 1) * ar, :].T, cols=ar) for f in range(rf)]))
    di, dfl, do = [], [], []
    reads_i = reads_f = writes_o = 0
    for fc in range(cf):
        c0, c1 = fc * ac, min(fc * ac + ac, n)
        for fr in range(rf):
            a0, a1 = fr * ar, min(fr * ar + ar, k)
            t = it[a0:a1, c0:c1]
            reads_i += t.size
            di.append(np.concatenate((np.flip(_pad(t, ar, ac), 0), _gap(ar + ac + m - 2, ac))))
            t = flt[a0:a1, :].T
            reads_f += t.size
            dfl.append(_skew(np.concatenate((_gap(ar, ar), _pad(t, cols=ar), _gap(ac - 1, ar)))))
            t = ofm[c0:c1, :].T
            writes_o += t.size
            do.append(_skew(np.concatenate((_gap(2 * ar - 1, ac), _pad(t, cols=ac)))))
    return FoldDemand(pre_i, pre_f, np.concatenate(di), np.concatenate(dfl), np.concatenate(do),
                      reads_i, reads_f, writes_o)


FOLD_DEMANDS = {"ws": _ws, "os": _os, "is": _is}


# ------------------------------------------------------------ read buffers
@dataclass(frozen=True, eq=False)
class ReadBufferRun:
    reads: float
    start: float
    stop: float
    misses: dict             # demand row -> [window moves for each missed address in that row]
    line_cycles: int         # cycles one prefetch adds to the chain (its lines + the read latency)


def user_read_buffer(prefetch: np.ndarray, demand: np.ndarray, words: int, bw: int) -> ReadBufferRun:
    """SCALE-Sim's USER-mode read buffer: DRAM words, DRAM start/stop and the window moves per row."""
    per_set = math.ceil(words / 100)
    active = int(math.ceil(words * 0.5))
    half = words - active
    addrs = prefetch[prefetch != -1]
    sets = addrs.size // per_set + 1                       # the last set may be empty
    a_sets = min(math.ceil(active / per_set), sets)
    p_sets = min(math.ceil(half / per_set), sets - a_sets)
    n0 = min(math.ceil(active / bw), -(-prefetch.size // bw))
    n_pf = math.ceil(half / bw)
    rows, cols = np.nonzero(demand != -1)
    fetch_uid, uid = _address_ids(addrs, demand[rows, cols])
    misses, moves = _window_moves(uid, rows, fetch_uid, per_set, sets, a_sets, p_sets)
    return ReadBufferRun(n0 * bw + moves * n_pf * bw, -n0, -1 + moves * (n_pf + 1), misses, n_pf + 1)


def _address_ids(addrs: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of ``addrs`` and ``wanted`` in the sorted distinct ``addrs`` (``searchsorted`` of ``np.unique``), from a
    presence table over the address range (addresses are dense offsets; ``np.unique`` is several times slower)."""
    if addrs.size == 0:
        return addrs.astype(np.int64), np.zeros(wanted.size, dtype=np.int64)
    lo, hi = int(addrs.min()), int(addrs.max())
    if hi - lo > 64 * addrs.size + (1 << 20):         # sparse addresses: the table would be too large
        uaddr = np.unique(addrs)
        return np.searchsorted(uaddr, addrs), np.searchsorted(uaddr, wanted)
    present = np.zeros(hi - lo + 2, dtype=np.int64)
    present[addrs - lo + 1] = 1
    below = np.cumsum(present)                       # below[v - lo]: distinct addresses < v
    return below[addrs - lo], below[np.clip(wanted - lo, 0, hi - lo + 1)]


def _window_moves(uid, rows, fetch_uid, per_set, sets, a_sets, p_sets) -> tuple[dict, int]:
    """Walk the demand stream; each address outside the active window moves it on until it is inside.

    The window holds sets [start, start + a_sets) (circular); set j holds the prefetch entries
    [j * per_set, (j + 1) * per_set), so membership is marked from those entries' addresses.
    """
    n_u, n_fetch = int(fetch_uid.max(initial=-1)) + 1, fetch_uid.size
    everything = np.ones(n_u, dtype=bool)

    out = np.zeros(n_u, dtype=bool)              # one table, re-marked per window (cleared where last marked)
    marked: list = []

    def inside(start):
        if a_sets >= sets:
            return everything
        for idx in marked:
            out[idx] = False
        lo, hi = start * per_set, (start + a_sets) * per_set
        marked[:] = [fetch_uid[lo:min(hi, n_fetch)]]
        if start + a_sets > sets:                        # the window wraps round to set 0
            marked.append(fetch_uid[:(start + a_sets - sets) * per_set])
        for idx in marked:
            out[idx] = True
        return out

    start = pos = moves = 0
    misses: dict = {}
    chunk = 1 << 14
    hit_now = inside(start)
    while pos < uid.size:
        miss = np.flatnonzero(~hit_now[uid[pos:pos + chunk]])
        if miss.size == 0:
            pos, chunk = pos + chunk, min(chunk * 2, 1 << 22)
            continue
        pos, chunk = pos + int(miss[0]), 1 << 14
        k = 0
        while True:
            start, k = (start + p_sets) % sets, k + 1
            hit_now = inside(start)
            if hit_now[uid[pos]]:
                break
            if k > 2 * sets + 2:
                raise RuntimeError("scalesim convention: an address is in no prefetch set (internal error)")
        misses.setdefault(int(rows[pos]), []).append(k)
        moves += k
        pos += 1
    return misses, moves


def calc_read_buffer(demand: np.ndarray, words: int, bw: int, row_cycle) -> tuple[float, float, float]:
    """SCALE-Sim's CALC-mode (bandwidth estimate) read buffer: (DRAM words, start, stop)."""
    per_set = words // 100
    n_active = n_pre = 50
    rows, cols = np.nonzero(demand != -1)
    addrs, rows = demand[rows, cols].tolist(), rows.tolist()
    state = {"count": 0, "trace": []}
    sets: list = []
    current: set = set()
    where: dict = {}
    cur_id, win_start, win_end = 0, 0, n_active - 1
    pre_start = pre_end = -1
    last_start, last_end = -2, -1
    first_cycle, started = None, False

    def prefetch(s0, s1, ls, le):
        state["count"] += sum(len(sets[x]) for x in range(s0, s1 + 1))
        state["trace"].append((ls + 1, le + 1))

    for a, row in zip(addrs, rows):
        if first_cycle is None:
            first_cycle = row_cycle(row)
        sid = where.get(a)
        if sid is not None and (win_start <= sid < cur_id or sid == cur_id):
            continue
        current.add(a)
        where[a] = cur_id
        if len(current) < per_set:
            continue
        sets.append(current)
        current, cur_id = set(), cur_id + 1
        if cur_id != win_end + 1:
            continue
        now = row_cycle(row)
        if not started:
            last_end = first_cycle - 2
            last_start = last_end - math.ceil(n_pre * per_set / bw) + 1
            prefetch(0, n_active - 1, last_start, last_end)
            pre_start, pre_end, started = win_end + 1, win_end + n_pre, True
        else:
            prefetch(pre_start, pre_end, last_start, last_end)
            pre_start, pre_end = pre_start + n_pre, pre_end + n_pre
        win_start, win_end = win_start + n_pre, win_end + n_pre
        last_start, last_end = last_end + 1, now
    if current:
        sets.append(current)
    else:
        cur_id -= 1
    if not started:
        last_end = -2
        last_start = last_end - math.ceil((cur_id + 1) * per_set / bw) + 1
        prefetch(0, cur_id, last_start, last_end)
    else:
        prefetch(pre_start, cur_id, last_start, last_end)
    trace = state["trace"]
    return state["count"], trace[0][0], trace[-1][1]


# ------------------------------------------------------ memory timeline
@dataclass
class _WriteBuffer:
    """SCALE-Sim's ofmap write buffer: drains ceil(half/bw) lines when over half full."""

    words: int
    bw: int
    free: int = 0
    drain_end: float = 0.0
    lines: list = None
    fill: int = 0
    drained_lines: int = 0
    written: float = 0.0
    drains: list = None

    def __post_init__(self):
        self.free, self.lines, self.drains = self.words, [], []
        self.half = self.words - int(math.ceil(self.words * 0.5))
        self.threshold = self.words - self.half
        self.drain_lines = math.ceil(self.half / self.bw)

    def drain(self, start: float) -> float:
        n = min(self.drain_lines, len(self.lines) - self.drained_lines)
        chunk = self.lines[self.drained_lines:self.drained_lines + n]
        data = n * self.bw - (self.bw - chunk[-1])
        self.written += data
        self.drains.append((start, start + n - 1))
        self.free += data
        self.drained_lines += n
        return start + n - 1

    def flush_line(self):
        if self.fill:
            self.lines.append(self.fill)
            self.fill = 0

    def write(self, count: int, cycle: float) -> float:
        """Store ``count`` words arriving at ``cycle``; returns the cycle the row is done (stalls included)."""
        cur = cycle
        if (cur >= self.drain_end and self.free - count >= self.threshold) or \
                (cur < self.drain_end and self.free - count > 0):
            self.free -= count
            total = self.fill + count
            self.lines.extend([self.bw] * (total // self.bw))
            self.fill = total % self.bw
            return cur
        for _ in range(count):
            self.fill += 1
            self.free -= 1
            if self.fill == self.bw:
                self.lines.append(self.bw)
                self.fill = 0
            if cur < self.drain_end:
                if self.free <= 0:
                    cur = self.drain_end
            elif self.free < self.threshold:
                self.flush_line()
                self.drain_end = self.drain(cur)
        return cur


def _read_offset(chain: dict, key: str, cycle: float, moves: list) -> float:
    """The row's service offset after its window moves (SCALE-Sim adds a late prefetch's delay twice)."""
    offset = float(HIT_LATENCY)
    for k in moves:
        for _ in range(k):
            chain[key] += chain[key + "_step"]
            late = chain[key] - (cycle + offset)
            offset += late + max(late, 0.0)
    return offset


def simulate(layer: ScaleSimLayer, cfg: ScaleSimConfig) -> ScaleSimReport:
    ifm, flt, ofm = operands(layer)
    fd = FOLD_DEMANDS[cfg.dataflow](ifm, flt, ofm, cfg.rows, cfg.cols)
    n_rows = fd.ofmap.shape[0]
    if cfg.user:
        rb_i = user_read_buffer(fd.ifmap_prefetch, fd.ifmap, cfg.words[0], cfg.bandwidth[0])
        rb_f = user_read_buffer(fd.filter_prefetch, fd.filter, cfg.words[1], cfg.bandwidth[1])
        wb = _WriteBuffer(cfg.words[2], cfg.bandwidth[2])
        chain = {"i": -1.0, "i_step": rb_i.line_cycles, "f": -1.0, "f_step": rb_f.line_cycles}
        miss_i, miss_f = rb_i.misses, rb_f.misses
    else:
        wb = _WriteBuffer(cfg.words[2], cfg.cols)
        chain, miss_i, miss_f = {}, {}, {}
    writes = (fd.ofmap != -1).sum(axis=1)
    stall = 0
    stall_rows, stall_vals = [0], [0]
    last_offset = 0.0
    for row in range(n_rows):
        cyc = row + stall
        oi = _read_offset(chain, "i", cyc, miss_i[row]) if row in miss_i else 1.0
        of = _read_offset(chain, "f", cyc, miss_f[row]) if row in miss_f else 1.0
        oo = wb.write(int(writes[row]), cyc) - cyc if writes[row] else 0.0
        if oi != 1.0 or of != 1.0 or oo != 0:
            stall += int(max(oi - 1, of - 1, oo))
            stall_rows.append(row + 1)
            stall_vals.append(stall)
        last_offset = oo
    last = (n_rows - 1) + stall_vals[-1 if stall_rows[-1] <= n_rows - 1 else -2] + last_offset
    wb.flush_line()
    cycle = last
    while wb.drained_lines < len(wb.lines):
        cycle = wb.drain(cycle) + 1
    if not cfg.user:
        at = np.array(stall_rows)
        vals = np.array(stall_vals)

        def row_cycle(r: int) -> float:
            return r + vals[np.searchsorted(at, r, side="right") - 1]
        i_reads, i_start, i_stop = calc_read_buffer(fd.ifmap, cfg.words[0], CALC_BANDWIDTH_WORDS, row_cycle)
        f_reads, f_start, f_stop = calc_read_buffer(fd.filter, cfg.words[1], CALC_BANDWIDTH_WORDS, row_cycle)
    else:
        i_reads, i_start, i_stop = rb_i.reads, rb_i.start, rb_i.stop
        f_reads, f_start, f_stop = rb_f.reads, rb_f.start, rb_f.stop
    o_start, o_stop = min(d[0] for d in wb.drains), max(d[1] for d in wb.drains)
    scale = layer.nm[1] / layer.nm[0] if (layer.nm is not None and cfg.dataflow == "ws") else 1.0
    return ScaleSimReport(
        total_cycles_incl_prefetch=int(o_stop - min(i_start, f_start)), total_cycles=int(last),
        stall_cycles=int(stall), sram_ifmap_reads=fd.ifmap_reads * scale, sram_filter_reads=fd.filter_reads,
        sram_ofmap_writes=fd.ofmap_writes, dram_ifmap_reads=i_reads, dram_filter_reads=f_reads,
        dram_ofmap_writes=wb.written, dram_ifmap_start=i_start, dram_ifmap_stop=i_stop, dram_filter_start=f_start,
        dram_filter_stop=f_stop, dram_ofmap_start=o_start, dram_ofmap_stop=o_stop, demand_rows=n_rows)


def report(w: LayerWorkload, hw: HardwareArrays, i: int) -> ScaleSimReport:
    """SCALE-Sim's report for workload ``w`` on config ``i`` (cached on the workload)."""
    layer, cfg = layer_of(w), config_of(hw, i)
    if hw.engine[i] != "nm":            # SCALE-Sim ignores the Sparsity column unless SparsitySupport is on
        layer = replace(layer, nm=None)
    key = ("scalesim", layer, cfg)
    if key not in w.cache:
        w.cache[key] = simulate(layer, cfg)
    return w.cache[key]


# ------------------------------------------------------------- convention
def costs(w: LayerWorkload, d: ComputeDemand, hw: HardwareArrays, idx: np.ndarray, resident: np.ndarray):
    """(Traffic, Timing) for configs ``idx``: SCALE-Sim's counts and cycles, priced per word."""
    reps = [report(w, hw, int(i)) for i in idx]
    col = {f: np.array([getattr(r, f) for r in reps], dtype=float) for f in ScaleSimReport.__dataclass_fields__}
    act, b = hw.act_bits[idx], d.value_width[idx]
    reads_i, reads_f, writes_o = col["dram_ifmap_reads"], col["dram_filter_reads"], col["dram_ofmap_writes"]
    zeros = np.zeros(idx.size)
    t = Traffic(
        sram_ifmap_read_words=col["sram_ifmap_reads"], sram_ifmap_write_words=reads_i,
        sram_filter_read_words=col["sram_filter_reads"], sram_filter_write_words=reads_f,
        sram_ofmap_write_words=col["sram_ofmap_writes"], sram_ofmap_read_words=writes_o,
        dram_ifmap_read_words=reads_i, dram_filter_read_words=reads_f, dram_ofmap_write_words=writes_o,
        dram_ofmap_read_words=zeros, dram_ifmap_bits=reads_i * act, dram_filter_bits=reads_f * b,
        dram_ofmap_bits=writes_o * act, dram_write_bits=writes_o * act,
        dram_bits_compulsory=np.minimum(d.storage_weight_bits[idx] + (d.ifmap_words[idx] + d.ofmap_words[idx]) * act,
                                        (reads_i + writes_o) * act + reads_f * b),
        rf_weight_accesses=d.rf_weight_accesses[idx], rf_act_accesses=d.rf_act_accesses[idx],
        rf_psum_accesses=d.rf_psum_accesses[idx],
        sram_read_bits={"ifmap": col["sram_ifmap_reads"] * act, "filter": col["sram_filter_reads"] * b,
                        "ofmap": writes_o * act},
        sram_write_bits={"ifmap": reads_i * act, "filter": reads_f * b, "ofmap": col["sram_ofmap_writes"] * act},
        weights_resident=np.zeros(idx.size, dtype=bool))
    dram_span = np.maximum.reduce([col["dram_ifmap_stop"] - col["dram_ifmap_start"] + 1,
                                   col["dram_filter_stop"] - col["dram_filter_start"] + 1,
                                   col["dram_ofmap_stop"] - col["dram_ofmap_start"] + 1])
    compute = col["demand_rows"]
    return t, Timing(compute, dram_span, col["total_cycles_incl_prefetch"], col["stall_cycles"])
