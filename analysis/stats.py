"""Accuracies as counts: n images, a 95% Wilson score interval; the paired non-inferiority test that decides
"matched"; and whether n images resolve the tolerance.

Accuracies in manifests are fractions; the number of correct images is ``round(fraction * n)``.  Every function
here is pure.

Paired test (``PairedLoss``).  Dense and pruned are scored on the same n validation images.  Of the four kinds
of image only the discordant ones carry information about the difference: ``lost`` (dense right, pruned wrong)
and ``gained`` (dense wrong, pruned right).  The loss is ``(lost - gained) / n`` and its confidence bounds are
Tango's asymptotic score interval for a difference of paired proportions (Tango 1998, Stat. Med. 17:891-908;
Fagerland, Lydersen & Laake 2017, *Statistical Analysis of Contingency Tables*, ch. 8): the bound is the loss
``d`` at which the score statistic

    T(d) = (lost - gained - n d) / sqrt(n (2 q(d) + d (1 - d)))

reaches -z, where ``q(d)`` is the maximum-likelihood probability of a gained image under the loss ``d``
(the root of a quadratic).  A pruned model is **non-inferior at margin T** (``non_inferior``) when the
one-sided 95% upper bound (z = 1.645) is at most T: with 95% confidence it loses at most T.

Resolution rule (``resolution``).  A set of n images resolves a tolerance of T percentage points when both hold:

* one image is worth less than a fifth of the tolerance (``100 / n < T / 5``, issue 23), so "within T" never
  rests on a few images flipping; and
* the paired test can pass a model at all: one that changes no image has an upper bound
  ``z^2 / (n + z^2)`` of at most T.

``changes_allowed`` says how many images a model that loses nothing net (as many gained as lost) may change
and still pass: the test's room for noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile
Z95_ONE_SIDED = 1.6448536269514722  # one-sided 95% normal quantile (the upper bound of a two-sided 90% interval)


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``correct / n`` (fractions, within [0, 1])."""
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(f"correct={correct}, n={n}; allowed: n >= 1 and 0 <= correct <= n")
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``n`` images right."""

    correct: int
    n: int

    @classmethod
    def from_fraction(cls, fraction: float, n: int) -> Accuracy:
        return cls(round(fraction * n), n)

    @classmethod
    def from_dict(cls, d: dict) -> Accuracy:
        return cls(int(d["correct"]), int(d["n"]))

    @property
    def fraction(self) -> float:
        return self.correct / self.n

    @property
    def ci95(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.n)

    def text(self) -> str:
        """``98.61% [97.1, 99.3], n=143``."""
        lo, hi = self.ci95
        return f"{self.fraction * 100:.2f}% [{lo * 100:.1f}, {hi * 100:.1f}], n={self.n}"

    def to_dict(self) -> dict:
        return {"accuracy": self.fraction, "correct": self.correct, "n": self.n, "ci95": list(self.ci95)}




def _tango_score(lost: int, gained: int, n: int, d: float) -> float:
    """Tango's score statistic T(d) for the paired loss d (fraction); decreasing in d on (-1, 1)."""
    b = -lost - gained + (2 * n - lost + gained) * d
    q = (math.sqrt(max(b * b + 8 * n * gained * d * (1 - d), 0.0)) - b) / (4 * n)   # ML P(gained) given d
    var, num = n * (2 * q + d * (1 - d)), lost - gained - n * d
    if var <= 0:   # only at the ends of (-1, 1) or where nothing is discordant and d = 0
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def _score_root(lost: int, gained: int, n: int, target: float, lo: float, hi: float) -> float:
    """The d in [lo, hi] with T(d) = target (T decreasing): bisection to machine precision."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _tango_score(lost, gained, n, mid) > target else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True)
class PairedLoss:
    """Dense vs a pruned model on the same ``n`` images: ``lost`` (dense right, pruned wrong) and ``gained``
    (dense wrong, pruned right) images.  Losses are fractions, positive = worse than dense."""

    lost: int
    gained: int
    n: int

    def __post_init__(self):
        if self.n <= 0 or self.lost < 0 or self.gained < 0 or self.lost + self.gained > self.n:
            raise ValueError(f"lost={self.lost}, gained={self.gained}, n={self.n}; allowed: n >= 1, lost >= 0, "
                             "gained >= 0, lost + gained <= n")

    @classmethod
    def from_correct(cls, dense, pruned) -> PairedLoss:
        """From per-image correctness (two boolean arrays over the same images, in the same order)."""
        dense, pruned = np.asarray(dense, dtype=bool), np.asarray(pruned, dtype=bool)
        if dense.shape != pruned.shape or dense.ndim != 1:
            raise ValueError(f"per-image correctness of shapes {dense.shape} and {pruned.shape}; allowed: two "
                             "1-D arrays over the same images")
        return cls(int((dense & ~pruned).sum()), int((~dense & pruned).sum()), len(dense))

    @property
    def loss(self) -> float:
        return (self.lost - self.gained) / self.n

    def upper_bound(self, z: float = Z95_ONE_SIDED) -> float:
        """Tango's score upper bound of the loss (one-sided 95% by default)."""
        if self.lost == self.n:
            return 1.0
        return _score_root(self.lost, self.gained, self.n, -z, self.loss, 1.0)

    def lower_bound(self, z: float = Z95_ONE_SIDED) -> float:
        if self.gained == self.n:
            return -1.0
        return _score_root(self.lost, self.gained, self.n, z, -1.0, self.loss)

    def interval(self, z: float = Z95) -> tuple[float, float]:
        """Tango's two-sided score interval of the loss (95% by default)."""
        return self.lower_bound(z), self.upper_bound(z)

    def non_inferior(self, margin: float) -> bool:
        """The one-sided 95% upper bound of the loss is at most ``margin`` (fractions): matched."""
        return self.upper_bound() <= margin + 1e-12

    def to_dict(self) -> dict:
        lo, hi = self.interval()
        return {"lost": self.lost, "gained": self.gained, "n": self.n, "loss_pp": self.loss * 100,
                "loss_upper95_pp": self.upper_bound() * 100, "loss_ci95_pp": [lo * 100, hi * 100]}


@dataclass(frozen=True)
class Resolution:
    """How finely n images measure a loss against a tolerance (see the module docstring for the rule)."""

    n: int
    tolerance_pp: float
    image_pp: float              # one image, percentage points
    tolerance_images: int        # images the tolerance allows to be lost
    unchanged_bound_pp: float    # the paired upper bound of a model that changes no image, pp
    changes_allowed: int         # images a model that loses nothing net may change (half each way) and pass

    @property
    def fine_enough_grain(self) -> bool:
        return self.image_pp < self.tolerance_pp / 5

    @property
    def test_can_pass(self) -> bool:
        return self.unchanged_bound_pp <= self.tolerance_pp + 1e-12

    @property
    def resolved(self) -> bool:
        return self.fine_enough_grain and self.test_can_pass

    @classmethod
    def from_dict(cls, d: dict) -> Resolution:
        """From a summary's entry (recomputed from its n and tolerance: the rule is pure, older summaries read too)."""
        return resolution(int(d["n"]), float(d["tolerance_pp"]))

    def sentence(self, split: str) -> str:
        """One sentence for the report, ``split`` = 'validation' or 'test'."""
        step = f"one image is {self.image_pp:.2f} pp (" + ("<" if self.fine_enough_grain else "not <") + \
            f" tolerance/5 = {self.tolerance_pp / 5:.2f} pp)"
        paired = (f"the paired test passes a model that loses nothing net with up to {self.changes_allowed} images "
                  f"changed (half each way)" if self.test_can_pass else
                  f"the paired test cannot pass even a model that changes no image (bound "
                  f"{self.unchanged_bound_pp:.2f} pp)")
        if self.resolved:
            return (f"The {split} set resolves the {self.tolerance_pp:g} pp tolerance: {self.n} images, {step}; "
                    f"{paired}.")
        return (f"**The {split} set is too small to resolve the {self.tolerance_pp:g} pp tolerance**: {self.n} images, "
                f"{step}; {paired}; the tolerance comes down to {self.tolerance_images} image(s), so read accuracies "
                "on this set as indicative.")

    def to_dict(self) -> dict:
        return {"n": self.n, "tolerance_pp": self.tolerance_pp, "image_pp": self.image_pp,
                "tolerance_images": self.tolerance_images, "unchanged_bound_pp": self.unchanged_bound_pp,
                "changes_allowed": self.changes_allowed, "resolved": self.resolved}


def changes_allowed(n: int, tolerance_pp: float) -> int:
    """Most images (an even number, half lost and half gained) a model may change on ``n`` images and still be
    non-inferior at ``tolerance_pp``; -1 when even an unchanged model fails.  The bound grows with the changes,
    so a bisection over the half-count finds it."""
    margin = tolerance_pp / 100
    if not PairedLoss(0, 0, n).non_inferior(margin):
        return -1
    lo, hi = 0, n // 2          # PairedLoss(lo, lo) passes; find the last passing half-count
    if PairedLoss(hi, hi, n).non_inferior(margin):
        return 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if PairedLoss(mid, mid, n).non_inferior(margin) else (lo, mid)
    return 2 * lo


def resolution(n: int, tolerance_pp: float) -> Resolution:
    """Resolution of ``n`` images for ``tolerance_pp`` (the paired rule does not depend on the accuracy)."""
    return Resolution(n=n, tolerance_pp=tolerance_pp, image_pp=100 / n,
                      tolerance_images=math.floor(tolerance_pp * n / 100 + 1e-9),
                      unchanged_bound_pp=PairedLoss(0, 0, n).upper_bound() * 100,
                      changes_allowed=changes_allowed(n, tolerance_pp))
