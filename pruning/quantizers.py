"""Quantization level sets and their Euclidean projections.

A ``Quantizer`` is a frozen description of a level set ``scale * codes``:

* ``uniform``: symmetric integer codes.  With a zero level the codes are
  ``{-M..M}``, ``M = 2**(bits-1) - 1``; without one they are
  ``{+-1, ..., +-2**(bits-1)}`` (ADMM-NN's layout).
* ``pow2``: codes ``{0, +-2**-j : j = 0..L-1}`` (``L = 2**(bits-1) - 1``), or
  without zero ``L = 2**(bits-1)``.
* ``binary``: ``{+-alpha}`` (uniform, 1 bit, no zero); the optimal alpha is
  ``mean|w|``.
* ``ternary``: ``{0, +-alpha}`` (uniform, 2 bits, with zero).

``quantize(w)`` is the exact projection onto the level set for the fixed
``scale``: each entry goes to its nearest level.  ``fit(w)`` chooses the scale
that minimises ``||w - q(w)||^2``:

* uniform/binary/ternary: exactly, by sweeping the breakpoints where an entry
  changes level (``O(n L log(n L))``) when ``n * L <= EXACT_FIT_EVENTS``; for
  larger tensors the sweep runs on a strided sample and Lloyd iterations on the
  full tensor refine it (documented, not exact).
* pow2: a log-spaced grid of candidate scales plus Lloyd refinement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .quant_levels import SCHEMES, quantizer_params  # noqa: F401 (SCHEMES: re-exported)
from .quant_levels import levels as numpy_levels

EXACT_FIT_EVENTS = 1 << 22
_LLOYD_ITERS = 20


@dataclass(frozen=True)
class Quantizer:
    scheme: str = "uniform"
    bits: int = 8
    zero_level: bool = True
    scale: float | None = None

    def __post_init__(self) -> None:
        bits, zero_level = quantizer_params(self.scheme, self.bits, self.zero_level, self.scale)
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "zero_level", zero_level)

    # ------------------------------------------------------------------ levels
    @property
    def max_code(self) -> int:
        """Largest integer code (uniform) or number of magnitudes (pow2)."""
        half = 2 ** (self.bits - 1)
        return half - 1 if self.zero_level else half

    @property
    def is_pow2(self) -> bool:
        return self.scheme == "pow2"

    def unit_levels(self) -> torch.Tensor:
        """The level set for scale 1, ascending (float64)."""
        m = self.max_code
        if self.is_pow2:
            mags = 2.0 ** -torch.arange(m - 1, -1, -1, dtype=torch.float64)
        else:
            mags = torch.arange(1, m + 1, dtype=torch.float64)
        parts = [-mags.flip(0), mags]
        if self.zero_level:
            parts.insert(1, torch.zeros(1, dtype=torch.float64))
        return torch.cat(parts)

    def levels(self) -> torch.Tensor:
        return self.unit_levels() * self._require_scale()

    def levels_numpy(self) -> np.ndarray:
        """``levels()`` in numpy, computed without torch (``pruning.quant_levels``, what the artifact reader checks
        weights against); equal to ``levels()`` value for value (tests/test_quant_levels.py)."""
        return numpy_levels(self.scheme, self.bits, self.zero_level, self._require_scale())

    def _require_scale(self) -> float:
        if self.scale is None:
            raise ValueError("quantizer has no scale yet: call fit(w) first")
        return self.scale

    # -------------------------------------------------------------- projection
    def unit_codes(self, a: torch.Tensor) -> torch.Tensor:
        """Nearest unit level magnitude for magnitudes ``a >= 0`` (scale 1)."""
        m = self.max_code
        if not self.is_pow2:
            lo = 0 if self.zero_level else 1
            return torch.clamp(torch.round(a), lo, m)
        smallest = 2.0 ** -(m - 1)
        e = torch.clamp(torch.floor(torch.log2(torch.clamp(a, min=smallest))), -(m - 1), 0)
        low = torch.exp2(e)
        high = torch.exp2(torch.clamp(e + 1, max=0))
        mag = torch.where(a - low <= high - a, low, high)
        if self.zero_level:
            mag = torch.where(a < smallest / 2, torch.zeros_like(mag), mag)
        return mag

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        """Exact projection of ``w`` onto the level set (fixed scale)."""
        s = self._require_scale()
        if not self.is_pow2 and self.zero_level:  # symmetric levels: no sign bookkeeping
            return torch.round(w / s).clamp_(-self.max_code, self.max_code).mul_(s)
        sign = torch.where(w < 0, -1.0, 1.0).to(w.dtype)
        return self.unit_codes(w.abs() / s).mul_(sign).mul_(s)

    # ------------------------------------------------------------------- fit
    def fit(self, w: torch.Tensor) -> "Quantizer":
        """Same quantizer with the scale minimising ``||w - quantize(w)||^2``."""
        a = w.detach().reshape(-1).abs().to(torch.float64)
        if a.numel() == 0 or float(a.max()) == 0.0:
            return replace(self, scale=1.0)
        if self.is_pow2:
            scale = self._fit_grid(a)
        elif a.numel() * max(self.max_code, 1) <= EXACT_FIT_EVENTS:
            scale = _sweep_uniform_scale(a, self.max_code, self.zero_level)
        else:
            step = -(-a.numel() * self.max_code // EXACT_FIT_EVENTS)
            scale = _sweep_uniform_scale(a[::step], self.max_code, self.zero_level)
        scale = self._lloyd(a, scale)
        return replace(self, scale=float(scale))

    def sq_error(self, a: torch.Tensor, scale: float) -> float:
        """``||a - q(a)||^2`` for magnitudes ``a`` at a given scale."""
        return float(((a - self.unit_codes(a / scale) * scale) ** 2).sum())

    def _fit_grid(self, a: torch.Tensor) -> float:
        top = float(a.max())
        cands = [top * 2.0 ** (t / 16.0) for t in range(-48, 9)]
        errs = [self.sq_error(a, c) for c in cands]
        return cands[min(range(len(cands)), key=errs.__getitem__)]

    def _lloyd(self, a: torch.Tensor, scale: float) -> float:
        """Alternate nearest-level assignment and least-squares scale; never worse."""
        best, best_err = scale, self.sq_error(a, scale)
        for _ in range(_LLOYD_ITERS):
            n = self.unit_codes(a / best)
            nn = float((n * n).sum())
            if nn == 0.0:
                break
            cand = float((a * n).sum()) / nn
            err = self.sq_error(a, cand)
            if not err < best_err * (1 - 1e-12):
                break
            best, best_err = cand, err
        return best

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "bits": self.bits, "zero_level": self.zero_level, "scale": self.scale}


def _sweep_uniform_scale(a: torch.Tensor, max_code: int, zero_level: bool) -> float:
    """Exact optimal scale for integer codes by sweeping all breakpoints.

    As the scale q falls from infinity, entry i moves from code j to j+1 at
    ``q = a_i / (j + 0.5)``.  Between breakpoints the assignment n is fixed and
    the best scale for it is ``<a,n>/<n,n>`` with error ``|a|^2 - <a,n>^2/<n,n>``.
    Every optimum is one of these assignments, so the minimum over the sweep is
    the global optimum.
    """
    start = 0 if zero_level else 1
    j = torch.arange(start, max_code, dtype=torch.float64)  # codes that can grow
    sum_aa = float((a * a).sum())
    s_an0 = float(a.sum()) * start
    s_nn0 = float(a.numel()) * start * start
    if j.numel() == 0:  # a single magnitude level: scale = <a,n>/<n,n>
        return s_an0 / s_nn0
    q = (a[:, None] / (j[None, :] + 0.5)).reshape(-1)
    inc_an = a[:, None].expand(-1, j.numel()).reshape(-1)
    inc_nn = (2 * j + 1)[None, :].expand(a.numel(), -1).reshape(-1)
    order = torch.argsort(q, descending=True, stable=True)
    s_an = s_an0 + torch.cumsum(inc_an[order], 0)
    s_nn = s_nn0 + torch.cumsum(inc_nn[order], 0)
    err = sum_aa - s_an * s_an / s_nn
    i = int(torch.argmin(err))
    if s_nn0 > 0 and sum_aa - s_an0 * s_an0 / s_nn0 <= float(err[i]):
        return s_an0 / s_nn0
    return float(s_an[i] / s_nn[i])
