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
  weakly); tests/test_anysize.py checks every cost column against the exact mask within 1 %.

Engines that need more than these counts (where each nonzero sits inside a PE's slice of a column: EIE's
relative indexing with a random mask, SCNN's zero-run padding) refuse a random-density pattern with a message
naming the bound that chose the statistical mode and its option (``StatisticalRefused``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .size_bounds import MAX_EXACT_OPTION


class StatisticalRefused(ValueError):
    """An engine needs the exact mask of a layer priced from counts."""


_TAGS = {"rows": 1, "cols": 2, "channels": 3, "group_max": 4}


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

    # ----------------------------------------------- row-uniform layouts (EIE, SCNN)
    def require_uniform(self, engine: str, layer: str) -> None:
        """Refuse (one line naming the bound and its option) where ``engine`` needs where each nonzero sits."""
        if not self.uniform:
            bound = "" if self.bound is None else f"; the exact-mask bound is {self.bound:,} weights"
            raise StatisticalRefused(
                f"layer {layer!r}: {self.M * self.K:,} weights priced from counts ({self.kind}{bound}); engine "
                f"{engine} needs where each nonzero sits, which counts do not say; allowed: {MAX_EXACT_OPTION} of at "
                f"least {self.M * self.K:,} (about 21 bytes of memory per weight while drawn, 5 held), or another engine")

    def relative_layout(self, pes: int, index_bits: int) -> tuple[np.ndarray, int, int]:
        """EIE's relative layout of a row-uniform pattern (``formats.encode_relative`` of the mask, with rows
        interleaved over ``pes`` PEs): (entries per (column, PE holding rows) int32 (K, min(pes, M)), padding
        entries, pointer bits).  A kept column holds every row: no gaps, so no padding entries."""
        live = min(pes, self.M)
        rows_on = (self.M - np.arange(live) + pes - 1) // pes               # rows of PE p: p, p + pes, ...
        per = np.where(self.keep_k[:, None], rows_on[None, :], 0).astype(np.int32)
        per_pe = rows_on * int(self.keep_k.sum())
        widths = np.maximum(1, np.ceil(np.log2(per_pe + 1.0))).astype(np.int64)
        idle = pes - live                                                   # PEs with no rows: 1-bit pointers
        return per, 0, int((self.K + 1) * (widths.sum() + idle))
