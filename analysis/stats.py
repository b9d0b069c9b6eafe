"""Accuracies as counts: n images, a 95% Wilson score interval, and whether n resolves the tolerance.

Accuracies in manifests are fractions; the number of correct images is
``round(fraction * n)``.  Every function here is pure.

Resolution rule (``resolution``).  A set of n images resolves a tolerance of
T percentage points when both hold:

* one image is worth at most half the tolerance (``100 / n <= T / 2``), so the
  decision "within T" never rests on one or two images flipping; and
* the 95% interval of a dense-vs-pruned accuracy difference, both measured on
  n images at the dense accuracy, has a half-width of at most T, so a loss of
  0 and a loss of T are told apart.

The difference interval is Newcombe's hybrid score interval (method 10, from
two Wilson intervals) for independent samples.  Dense and pruned are scored on
the same images, so the true (paired) interval is narrower; the manifests keep
accuracies, not per-image predictions, so the unpaired width is used: it errs
on the side of warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95% normal quantile


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


def difference_interval(a: Accuracy, b: Accuracy) -> tuple[float, float]:
    """95% interval of ``a - b`` (fractions), Newcombe's hybrid score method for independent samples."""
    la, ua = a.ci95
    lb, ub = b.ci95
    d = a.fraction - b.fraction
    return (d - math.hypot(a.fraction - la, ub - b.fraction), d + math.hypot(ua - a.fraction, b.fraction - lb))


@dataclass(frozen=True)
class Resolution:
    """How finely n images measure a loss against a tolerance (see the module docstring for the rule)."""

    n: int
    tolerance_pp: float
    image_pp: float              # one image, percentage points
    diff_halfwidth_pp: float     # 95% half-width of a dense-vs-pruned difference, percentage points
    tolerance_images: int        # images the tolerance allows to be lost

    @property
    def fine_enough_grain(self) -> bool:
        return self.image_pp <= self.tolerance_pp / 2 + 1e-12

    @property
    def narrow_enough_interval(self) -> bool:
        return self.diff_halfwidth_pp <= self.tolerance_pp + 1e-12

    @property
    def resolved(self) -> bool:
        return self.fine_enough_grain and self.narrow_enough_interval

    def sentence(self, split: str) -> str:
        """One sentence for the report, ``split`` = 'validation' or 'test'."""
        grain = f"one image is {self.image_pp:.2f} pp" + ("" if self.fine_enough_grain else
                                                         " (more than half the tolerance)")
        interval = f"a dense-vs-pruned difference carries a 95% interval of ±{self.diff_halfwidth_pp:.2f} pp" + (
            "" if self.narrow_enough_interval else " (wider than the tolerance)")
        if self.resolved:
            return f"The {split} set resolves the {self.tolerance_pp:g} pp tolerance: {self.n} images, {grain}, " \
                f"{interval}."
        return (f"**The {split} set is too small to resolve the {self.tolerance_pp:g} pp tolerance**: {self.n} images, "
                f"{grain}, {interval}; the tolerance comes down to {self.tolerance_images} image(s), so read decisions "
                "on this set as indicative.")

    def to_dict(self) -> dict:
        return {"n": self.n, "tolerance_pp": self.tolerance_pp, "image_pp": self.image_pp,
                "diff_halfwidth_pp": self.diff_halfwidth_pp, "tolerance_images": self.tolerance_images,
                "resolved": self.resolved}


def resolution(n: int, accuracy: float, tolerance_pp: float) -> Resolution:
    """Resolution of ``n`` images at ``accuracy`` (fraction, e.g. the dense model's) for ``tolerance_pp``."""
    ref = Accuracy.from_fraction(accuracy, n)
    lo, hi = difference_interval(ref, ref)
    return Resolution(n=n, tolerance_pp=tolerance_pp, image_pp=100 / n, diff_halfwidth_pp=max(-lo, hi) * 100,
                      tolerance_images=math.floor(tolerance_pp * n / 100 + 1e-9))
