"""Is one pruning method better than another? Paired tests over seeds and per-image tests per seed.

Pure functions and frozen dataclasses, standard library and numpy only (scipy is not a dependency; the tests
check these against ``scipy.stats`` where it is installed).

* ``paired_comparison(a, b)``: the seeds' paired differences ``a - b`` (e.g. test accuracy in percentage
  points of method A and method B, each seed's A and B pruned from the same dense model): mean, 95% Student-t
  interval, two-sided paired t-test p, and Cohen's d_z (mean difference / standard deviation of the
  differences) with an approximate 95% interval (below).
* ``mcnemar(correct_a, correct_b)``: one seed's two models on the same images: b = images A gets right and B
  wrong, c = the reverse; the exact two-sided McNemar test is the binomial test of b against Bin(b + c, 1/2),
  p = min(1, 2 P(X <= min(b, c))); the mid-p variant subtracts P(X = min(b, c)) (Fagerland, Lydersen & Laake
  2013, BMC Med. Res. Methodol. 13:91).
* ``holm(p_values)``: Holm's step-down adjustment (Holm 1979) across the comparisons of one table.

The d_z interval is the large-sample one, d_z +- z_0.975 * sqrt(1/n + d_z^2 / (2 n)) (the standard error of a
standardized mean difference, Hedges & Olkin 1985, ch. 5, applied to the differences); with 5 seeds it is
indicative only (an exact interval would invert the noncentral t distribution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Z975 = 1.959963984540054  # standard normal, 97.5% quantile


# ----------------------------------------------------------------- Student t (regularized incomplete beta)
def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1]."""
    if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
        raise ValueError(f"betainc: a={a}, b={b}, x={x}; allowed: a > 0, b > 0, 0 <= x <= 1")
    if x in (0.0, 1.0):
        return x
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df={df}; allowed: > 0")
    if math.isinf(t):
        return 0.0
    return min(1.0, betainc(df / 2.0, 0.5, df / (df + t * t)))


def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on the distribution function, to 1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q={q}; allowed: 0 < q < 1")
    if q == 0.5:
        return 0.0
    upper = q > 0.5
    tail = 2.0 * ((1.0 - q) if upper else q)  # two-sided tail probability of |t|
    lo, hi = 0.0, 1.0
    while t_sf_two_sided(hi, df) > tail:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_sf_two_sided(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    x = 0.5 * (lo + hi)
    return x if upper else -x


# ------------------------------------------------------------------------------------ paired over seeds
@dataclass(frozen=True)
class PairedComparison:
    """Paired differences ``a - b`` over n seeds (in the units of the inputs)."""

    n: int
    mean_diff: float
    sd_diff: float
    ci95: tuple[float, float]      # Student-t interval of the mean difference
    t: float
    df: int
    p: float                       # two-sided paired t-test
    dz: float                      # Cohen's d_z = mean / sd of the differences
    dz_ci95: tuple[float, float]   # approximate (module docstring)

    @property
    def significant(self) -> bool:
        """The 95% interval excludes 0 (the same as p < 0.05)."""
        return self.ci95[0] > 0 or self.ci95[1] < 0

    def to_dict(self) -> dict:
        return {"n": self.n, "mean_diff": self.mean_diff, "sd_diff": self.sd_diff, "ci95": list(self.ci95),
                "t": self.t, "df": self.df, "p": self.p, "dz": self.dz, "dz_ci95": list(self.dz_ci95)}


def paired_comparison(a: Sequence[float], b: Sequence[float]) -> PairedComparison:
    """Paired t analysis of ``a[i] - b[i]`` (at least 2 pairs, all finite)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a has shape {x.shape}, b {y.shape}; allowed: two 1-D sequences of the same length")
    if len(x) < 2:
        raise ValueError(f"pairs={len(x)}; allowed: >= 2")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("a, b: a value is not finite; allowed: finite numbers")
    d = x - y
    n, df = len(d), len(d) - 1
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(mean)):   # every pair differs by the same amount
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
        dz = t
        return PairedComparison(n, mean, 0.0, (mean, mean), t, df, p, dz, (dz, dz))
    se = sd / math.sqrt(n)
    half = t_quantile(0.975, df) * se
    t = mean / se
    dz = mean / sd
    dz_half = Z975 * math.sqrt(1.0 / n + dz * dz / (2.0 * n))
    return PairedComparison(n, mean, sd, (mean - half, mean + half), t, df, t_sf_two_sided(t, df), dz,
                            (dz - dz_half, dz + dz_half))


# ---------------------------------------------------------------------------------- McNemar per seed
def binomial_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Bin(n, 1/2), exact (integer arithmetic, one rounding at the end)."""
    if n < 0 or k < 0:
        raise ValueError(f"k={k}, n={n}; allowed: n >= 0, k >= 0")
    k = min(k, n)
    term, total = 1, 1
    for i in range(1, k + 1):
        term = term * (n - i + 1) // i
        total += term
    return total / (1 << n)


@dataclass(frozen=True)
class McNemar:
    """Two models on the same n images: b = A right and B wrong, c = A wrong and B right."""

    n: int
    b: int
    c: int
    p: float        # exact two-sided
    p_mid: float    # mid-p two-sided

    @property
    def diff(self) -> float:
        """Accuracy of A minus accuracy of B (fraction)."""
        return (self.b - self.c) / self.n

    def to_dict(self) -> dict:
        return {"n": self.n, "b": self.b, "c": self.c, "p": self.p, "p_mid": self.p_mid, "diff": self.diff}


def mcnemar_counts(b: int, c: int, n: int | None = None) -> McNemar:
    """Exact McNemar test from the discordant counts (``n`` images in all; default b + c, at least 1)."""
    n = max(b + c, 1) if n is None else n
    if b < 0 or c < 0 or n < b + c or n < 1:
        raise ValueError(f"b={b}, c={c}, n={n}; allowed: b, c >= 0 and n >= max(1, b + c)")
    m, k = b + c, min(b, c)
    if m == 0:
        return McNemar(n, b, c, 1.0, 1.0)
    cdf = binomial_cdf_half(k, m)
    point = binomial_cdf_half(k, m) - (binomial_cdf_half(k - 1, m) if k > 0 else 0.0)
    return McNemar(n, b, c, min(1.0, 2.0 * cdf), min(1.0, 2.0 * cdf - point))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact McNemar test of two per-image correctness vectors (booleans, same images in the same order)."""
    a, b = np.asarray(correct_a), np.asarray(correct_b)
    if a.ndim != 1 or a.shape != b.shape or a.dtype != bool or b.dtype != bool:
        raise ValueError(f"correct_a {a.dtype}{a.shape}, correct_b {b.dtype}{b.shape}; allowed: two 1-D boolean "
                         "arrays of the same length")
    return mcnemar_counts(int((a & ~b).sum()), int((~a & b).sum()), len(a))


# ------------------------------------------------------------------------------------------------- Holm
def holm(p_values: Sequence[float]) -> tuple[float, ...]:
    """Holm-adjusted p-values, in the order given: sorted ascending, p_(i) * (m - i), running maximum, cap 1."""
    p = [float(v) for v in p_values]
    bad = [v for v in p if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"p_values: {bad[0]!r}; allowed: numbers in [0, 1]")
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, p[i] * (m - rank)))
        out[i] = running
    return tuple(out)
