"""Weight zero patterns described by their law instead of a mask: the statistical mode for layers too large to draw.

A ``WeightPattern`` stands for the (M, K) mask of a topology layer without holding it: memory O(M + K), not
O(M x K).  It answers exactly the counts the engines read from a mask (``LayerWorkload`` forwards them):

* row-uniform patterns (every row keeps the same positions along K: dense layers, SCALE-Sim's N:M "first N of
  every M") are exact: every count is computed from the K-long keep vector, the same numbers the mask gives;
* a random density ``d`` (each weight kept independently with probability d, as ``topology._mask`` draws it) gives
  counts drawn from the law the mask's counts have: per-row nonzeros ~ Binomial(K, d) (so nnz and the kept rows
  follow from them), kept columns ~ Binomial(K, 1 - (1-d)^M), kept input channels ~ Binomial(C, 1 - (1-d)^(M RS)),
  the most nonzeros in a group of m weights along K = the maximum of M ceil(K/m) Binomial(m, d) draws (sampled from
  its distribution function F^G).  Each count has its own generator, seeded by (``seed``, the count), so the draws
  do not depend on which engine asked first.  Row and column counts are drawn independently (the mask couples them
  weakly); tests/test_anysize.py checks every cost column against the exact mask within 1 % in the mean over
  seeds (SCNN's padding bits, a rare count, within 4 standard errors: docs/validation.md section 13).

Where an engine needs where each nonzero sits (EIE's relative layout, whose padding entries depend on the gaps),
a random pattern's mask is drawn ``CHUNK_WEIGHTS`` at a time from its own generator and reduced to the per-(column,
PE) counts as it goes: time O(M x K), memory O(K x PEs + a block).  SCNN's per-(output group, channel) counts are
binomial draws.  An engine that reads ``LayerWorkload.mask`` itself (a plugged-in one) gets one line naming the
bound and its option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .size_bounds import MAX_EXACT_OPTION


_TAGS = {"rows": 1, "cols": 2, "channels": 3, "group_max": 4, "mask": 5, "groups": 6}
CHUNK_WEIGHTS = 1 << 22   # weights of a random mask drawn at once where an engine needs positions (then dropped)


@dataclass(frozen=True, eq=False)
class WeightPattern:
    M: int
    K: int
    keep_k: np.ndarray | None = field(default=None, repr=False)   # row-uniform: kept positions along K (bool, K)
    density: float | None = None                                  # i.i.d. random mask of this density
    seed: int = 0
    stream: int = 0                                               # e.g. the layer's index in its file
    bound: int | None = None                                      # the exact-mask bound that chose this mode

    def __post_init__(self):
        if (self.keep_k is None) == (self.density is None):
            raise ValueError("WeightPattern: give keep_k (row-uniform) or density (random), exactly one")
        if self.keep_k is not None:
            keep = np.asarray(self.keep_k, dtype=bool)
            if keep.shape != (self.K,):
                raise ValueError(f"WeightPattern: keep_k shape {keep.shape}; allowed: (K={self.K},)")
            object.__setattr__(self, "keep_k", keep)
        elif not 0.0 < self.density <= 1.0:
            raise ValueError(f"WeightPattern: density={self.density}; allowed: (0, 1]")

    @property
    def uniform(self) -> bool:
        """True where every row keeps the same positions (every count exact)."""
        return self.keep_k is not None

    @property
    def kind(self) -> str:
        return "row-uniform" if self.uniform else f"random density {self.density:g}"

    def _rng(self, what: str, *extra: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.stream, _TAGS[what], *extra])

    def row_nnz(self) -> np.ndarray:
        """Nonzeros per row, (M,) int64."""
        if self.uniform:
            return np.full(self.M, int(self.keep_k.sum()), dtype=np.int64)
        return self._rng("rows").binomial(self.K, self.density, size=self.M).astype(np.int64)

    def kept_cols(self) -> int:
        if self.uniform:
            return int(self.keep_k.sum()) if self.M else 0
        p = -math.expm1(self.M * math.log1p(-self.density)) if self.density < 1 else 1.0
        return int(self._rng("cols").binomial(self.K, p))

    def kept_channel_fraction(self, rs: int) -> float:
        """Fraction of the K / rs input channels (windows of rs consecutive positions) holding any nonzero."""
        c = self.K // rs
        if self.uniform:
            return float(self.keep_k.reshape(c, rs).any(1).mean()) if self.keep_k.any() else 0.0
        p = -math.expm1(self.M * rs * math.log1p(-self.density)) if self.density < 1 else 1.0
        return float(self._rng("channels", rs).binomial(c, p)) / c

    def max_per_group(self, m: int) -> int:
        """Most nonzeros in any group of m consecutive weights along K (K zero-padded to a multiple of m)."""
        if self.uniform:
            pad = (-self.K) % m
            return int(np.pad(self.keep_k, (0, pad)).reshape(-1, m).sum(1).max(initial=0)) if self.M else 0
        def log_cdf(size: int) -> np.ndarray:   # log P(Binomial(size, d) <= v), v = 0..m
            k = np.arange(size + 1)
            pmf = np.array([math.comb(size, int(i)) for i in k], dtype=float) * self.density ** k \
                * (1 - self.density) ** (size - k)
            cdf = np.concatenate([np.minimum(np.cumsum(pmf), 1.0), np.ones(m - size)])
            return np.log(np.maximum(cdf, 1e-300))
        full, rest = divmod(self.K, m)
        # P(max <= v) = F_m(v)^(M full) F_rest(v)^M (the last group padded); the draw is the smallest v reaching u
        total = self.M * full * log_cdf(m) + (self.M * log_cdf(rest) if rest else 0.0)
        u = self._rng("group_max", m).random()
        return int(np.argmax(total >= math.log(max(u, 1e-300))))

    # ----------------------------------------------- layouts (EIE, SCNN)
    def no_mask(self, layer: str) -> str:
        """The one line for an engine that reads the mask of a layer priced from counts (a plugged-in engine:
        the built-in ones read the counts)."""
        bound = "" if self.bound is None else f"; the exact-mask bound is {self.bound:,} weights"
        return (f"layer {layer!r}: {self.M * self.K:,} weights priced from counts ({self.kind}{bound}), so it has "
                f"no mask for an engine that reads one; allowed: {MAX_EXACT_OPTION} of at least {self.M * self.K:,} "
                "(about 21 bytes of memory per weight while drawn, 5 held), or an engine that reads the counts")

    def group_counts(self, group: int, rs: int) -> np.ndarray:
        """Nonzeros per (output group of ``group`` filters, input channel of ``rs`` positions), (G, K / rs):
        exact for a row-uniform pattern, Binomial(filters x rs, d) draws for a random one (SCNN)."""
        rows = np.minimum(group, self.M - np.arange(0, self.M, group))          # filters in each output group
        if self.uniform:
            return np.outer(rows, self.keep_k.reshape(self.K // rs, rs).sum(-1))
        return self._rng("groups", group, rs).binomial(rows[:, None] * rs, self.density,
                                                       size=(rows.size, self.K // rs)).astype(np.int64)

    def _mask_chunks(self):
        """A random mask of this law drawn ``CHUNK_WEIGHTS`` at a time, column blocks in order: (first column,
        (M, columns) bool); the same mask for every caller (its own generator), never held whole."""
        rng = self._rng("mask")
        step = max(1, CHUNK_WEIGHTS // max(self.M, 1))
        for c0 in range(0, self.K, step):
            yield c0, rng.random((self.M, min(step, self.K - c0)), dtype=np.float32) < self.density

    def kept_column_vector(self) -> np.ndarray:
        """Which columns hold any nonzero, (K,) bool: the keep vector, or from the drawn random mask."""
        if self.uniform:
            return self.keep_k & (self.M > 0)
        return np.concatenate([block.any(0) for _, block in self._mask_chunks()])

    def relative_layout(self, pes: int, index_bits: int) -> tuple[np.ndarray, int, int]:
        """EIE's relative layout (``formats.encode_relative`` of the mask, rows interleaved over ``pes`` PEs):
        (entries per (column, PE holding rows) int32 (K, min(pes, M)), padding entries, pointer bits).  A
        row-uniform pattern's kept column holds every row: no gaps, no padding entries.  A random one is laid out
        from its mask drawn in column blocks (``_mask_chunks``): time O(M K), memory O(K PEs + a block)."""
        from .formats import pointer_width, relative_entries

        live = min(pes, self.M)
        if self.uniform:
            rows_on = (self.M - np.arange(live) + pes - 1) // pes               # rows of PE p: p, p + pes, ...
            per = np.where(self.keep_k[:, None], rows_on[None, :], 0).astype(np.int32)
            pads = 0
        else:
            per = np.zeros((self.K, live), dtype=np.int32)
            pads = 0
            for c0, block in self._mask_chunks():
                e = relative_entries(block, pes, index_bits)
                cb = block.shape[1]
                per[c0:c0 + cb] = np.bincount(e["col"].astype(np.int64) * live + e["pe"], weights=e["pads"] + 1,
                                              minlength=cb * live).reshape(cb, live)
                pads += int(e["pads"].sum())
        per_pe = np.zeros(pes, dtype=np.int64)
        per_pe[:live] = per.sum(0, dtype=np.int64)
        return per, pads, int((self.K + 1) * sum(pointer_width(int(n)) for n in per_pe))
