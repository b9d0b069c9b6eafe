"""What the price stage hands on besides the priced rows, typed: the accuracy-vs-cost points of every probe
(``ParetoPoint``), the break-even curves (``BreakEven``) and hardware in the loop (``HILResult``).

Each is a frozen dataclass built by ``analysis.report_data``; ``to_json()`` gives the mapping summary.json holds
(and the report renders from, as a resumed run re-reads it), with the same keys in the same order as before
these types existed, so old summary.json files and new ones read alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from .stats import Accuracy

BREAKEVEN_QUANTITIES = ("storage_bits", "energy_pj", "cycles")


@dataclass(frozen=True)
class ParetoPoint:
    """One probe (or the dense model) on one platform: validation accuracy against simulated cost."""

    structure: str
    ratio: float
    val_accuracy: float
    n_val: int
    platform: str
    energy_pj: float
    latency_s: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BreakEvenEntry:
    """One platform at one bit-width: the dense reference's costs and, per quantity, the non-structured ratio
    where magnitude pruning beats dense (``vs_dense``) and beats the best matched structured model
    (``vs_structured``, with that model's structure; absent when no structured model is matched)."""

    dense_reference: Mapping[str, float]
    vs_dense: Mapping[str, float | None]
    vs_structured: Mapping[str, float | None]
    best_structured: Mapping[str, str]
    nonstructured_matched_ratio: float | None

    def to_json(self) -> dict:
        out: dict = {"dense_reference": dict(self.dense_reference)}
        for k in BREAKEVEN_QUANTITIES:
            out[f"{k}_vs_dense"] = self.vs_dense[k]
            if k in self.vs_structured:
                out[f"{k}_vs_structured"] = self.vs_structured[k]
                out[f"best_structured_{k}"] = self.best_structured[k]
        out["nonstructured_matched_ratio"] = self.nonstructured_matched_ratio
        return out


@dataclass(frozen=True)
class BreakEvenAtBits:
    """Per platform: each quantity along the ratios (``curves``), its break-even entry, the dense reference."""

    curves: Mapping[str, Mapping[str, list[float]]]
    breakeven: Mapping[str, BreakEvenEntry]
    reference: Mapping[str, Mapping[str, float]]

    def to_json(self) -> dict:
        return {"curves": {p: {k: list(v) for k, v in c.items()} for p, c in self.curves.items()},
                "breakeven": {p: e.to_json() for p, e in self.breakeven.items()},
                "reference": {p: dict(r) for p, r in self.reference.items()}}


@dataclass(frozen=True)
class BreakEven:
    """Non-structured sparsity's costs against its ratio at every break-even bit-width (``bits``: "8" -> ...)."""

    ratios: tuple[float, ...]
    bits: Mapping[str, BreakEvenAtBits]

    def to_json(self) -> dict:
        return {"ratios": list(self.ratios), "bits": {b: v.to_json() for b, v in self.bits.items()}}


@dataclass(frozen=True)
class HILProbe:
    """One ADMM run of the mix at ``scale`` (each layer's ratio = scale x its structure's matched ratio)."""

    scale: float
    layers: Mapping[str, str]       # layer -> "filter 0.750", "2:4", "dense"
    val: Accuracy
    val_loss_pp: float
    val_loss_upper95_pp: float
    within: bool

    def to_json(self) -> dict:
        return {"scale": self.scale, "layers": dict(self.layers), "val": self.val.to_dict(),
                "val_loss_pp": self.val_loss_pp, "val_loss_upper95_pp": self.val_loss_upper95_pp,
                "within": self.within}


@dataclass(frozen=True)
class HILMix:
    """The chosen mix: its accuracies (status decided on validation; test reported) and its cost on the preset."""

    scale: float
    dir: str
    val: Accuracy
    test: Accuracy
    status: str
    val_loss_pp: float | None
    test_loss_pp: float
    test_loss_ci95_pp: tuple[float, float] | None
    test_over_tolerance: bool
    energy_pj: float
    latency_s: float

    def to_json(self) -> dict:
        return {"scale": self.scale, "dir": self.dir, "val": self.val.to_dict(), "test": self.test.to_dict(),
                "status": self.status, "val_loss_pp": self.val_loss_pp, "test_loss_pp": self.test_loss_pp,
                "test_loss_ci95_pp": self.test_loss_ci95_pp, "test_over_tolerance": self.test_over_tolerance,
                "energy_pj": self.energy_pj, "latency_s": self.latency_s}


@dataclass(frozen=True)
class HILResult:
    """Hardware in the loop on ``preset``: the per-layer structures, every probe, the best single structure and
    the chosen mix (None: no mix within the tolerance, said in ``note``)."""

    preset: str
    per_layer: Mapping[str, str]
    trail: tuple[HILProbe, ...]
    max_probes: int
    best_single: str
    best_single_energy_pj: float
    chosen: HILMix | None
    note: str

    def to_json(self) -> dict:
        return {"preset": self.preset, "per_layer": dict(self.per_layer), "trail": [t.to_json() for t in self.trail],
                "max_probes": self.max_probes, "best_single": self.best_single,
                "best_single_energy_pj": self.best_single_energy_pj,
                "chosen": None if self.chosen is None else self.chosen.to_json(), "note": self.note}
