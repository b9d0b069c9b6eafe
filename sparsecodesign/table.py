"""``CostTable``: the per-layer costs ``simulate`` returns, one row per (layer, hardware), that plots itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparsesim.results import ADDITIVE, COLUMNS, LayerCost
from sparsesim.results import CostTable as _Columns

from .checks import InputError, validated

# columns that add up over layers (LayerCost.__add__); utilization is recomputed from them
NUMERIC = ADDITIVE


@dataclass(frozen=True)
class CostTable:
    """Per-layer costs on one or more accelerators (``sparsesim.results.CostTable`` underneath, as ``columns``).

    Units are in the column names (``cycles``, ``energy_pj``, ``storage_bits``, ``latency_s``); ``layer`` is the
    module name (``conv1``), ``hardware`` the description's name.  Simulated (``simulate``) and measured
    (``bench``: one row per layer, variant ``format`` and ``batch``, plus ``layer == "MODEL"`` rows) tables share
    the columns; ``concat`` puts them in one table."""

    columns: _Columns
    roofline: object = None   # a measured table: the sparsesim.stopwatch.Roofline its utilization refers to

    @classmethod
    @validated
    def concat(cls, *tables: "CostTable") -> "CostTable":
        """One table of the rows of every table, in order (e.g. ``simulate(...)`` and ``bench(...)``)."""
        return cls(_Columns.concat(*(t.columns for t in tables)))

    def __len__(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return (f"CostTable({len(self.layers)} layers x {len(self.hardware)} hardware: {', '.join(self.hardware)}; "
                f"columns {', '.join(COLUMNS[:3])}, ... {COLUMNS[-1]})")

    @property
    def hardware(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.columns.columns["hardware"]))

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.columns.columns["layer"]))

    def rows(self) -> list[dict]:
        """One dict per (layer, hardware), keys ``sparsesim.results.COLUMNS``."""
        return self.columns.rows()

    @validated
    def select(self, hardware: str) -> "CostTable":
        """The rows of one accelerator."""
        if hardware not in self.hardware:
            raise InputError(f"CostTable.select: hardware={hardware!r} is not in this table; allowed: "
                             f"{', '.join(self.hardware)}")
        return CostTable(self.columns.select(hardware))

    @validated
    def where(self, **equal) -> "CostTable":
        """The rows whose columns equal the given values: ``where(engine="measured", format="csr", batch=8)``."""
        return CostTable(self.columns.where(**equal))

    def totals(self) -> dict[str, LayerCost]:
        """The model's cost per accelerator (layers added; utilization recomputed; measured "MODEL" rows left
        out: filter a measured table to one ``format`` and ``batch`` first, ``sparsesim.results.CostTable.totals``)."""
        return self.columns.totals()

    @validated
    def total(self, column: str, hardware: str | None = None) -> float:
        """The model's total of one additive column (``cycles``, ``energy_pj``, ``latency_s``, ...) on one
        accelerator; ``hardware`` may be left out when the table holds one."""
        if hardware is None:
            if len(self.hardware) != 1:
                raise InputError(f"CostTable.total: hardware=None but this table holds {len(self.hardware)} "
                                 f"accelerators; allowed: one of {', '.join(self.hardware)}")
            hardware = self.hardware[0]
        return float(getattr(self.select(hardware).totals()[hardware], column))

    @validated
    def to_csv(self, path: str | Path | None = None) -> str:
        """The CSV text (the columns of ``sparsesim simulate``'s layers.csv); written atomically to ``path``."""
        return self.columns.to_csv(path)

    @validated
    def to_json(self, path: str | Path | None = None) -> str:
        return self.columns.to_json(path)

    def to_pandas(self):
        """A pandas DataFrame, one row per (layer, hardware); pandas is not a dependency of this package."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError("CostTable.to_pandas needs pandas, which is not installed; allowed: "
                              "`pip install pandas`, or use .rows() / .to_csv(path) that need nothing") from None
        return self.columns.to_pandas()

    @validated
    def plot(self, path: str | Path | None = None):
        """Per-layer latency (us) and energy (uJ) bars, one bar per accelerator; returns the matplotlib Figure,
        saved as PNG to ``path`` when given.  Uses no pyplot state (notebooks display the returned figure)."""
        from matplotlib.figure import Figure

        layers, hws = self.layers, self.hardware
        by = {(r["layer"], r["hardware"]): r for r in self.rows()}
        width = 0.8 / len(hws)
        fig = Figure(figsize=(max(6.0, 0.9 * len(layers) * max(1, len(hws) / 2) + 2.5), 6.2))
        axes = fig.subplots(2, 1, sharex=True)
        for ax, key, factor, label in ((axes[0], "latency_s", 1e6, "latency (us)"),
                                       (axes[1], "energy_pj", 1e-6, "energy (uJ)")):
            for j, hw in enumerate(hws):
                xs = [i + (j - (len(hws) - 1) / 2) * width for i in range(len(layers))]
                ax.bar(xs, [by[(lay, hw)][key] * factor if (lay, hw) in by else 0.0 for lay in layers], width,
                       label=f"{hw} (total {self.total(key, hw) * factor:.3g})")
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        axes[1].set_xticks(range(len(layers)))
        axes[1].set_xticklabels(layers, rotation=45 if len(layers) > 6 else 0, ha="right" if len(layers) > 6
                                else "center")
        axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        measured = {e == "measured" for e in self.columns.columns["engine"]}
        source = {frozenset({False}): "analytical engine", frozenset({True}): "measured"}.get(
            frozenset(measured), "analytical engine and measured")
        axes[0].set_title(f"Per-layer cost ({source})")
        fig.tight_layout()
        if path is not None:
            import io

            from fileguard import atomic_write_bytes

            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            atomic_write_bytes(path, buf.getvalue())
        return fig
