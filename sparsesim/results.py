"""Cost results: frozen per-layer records and a columnar table (CSV / JSON / pandas-friendly)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass(frozen=True)
class LayerCost:
    layer: str
    hardware: str
    engine: str
    convention: str             # whose memory/traffic rules priced it: native | scalesim | zigzag
    format: str
    num_pes: int
    mac_units: int              # multipliers working in parallel (PEs x multipliers per PE)
    weight_bits: int            # bit-width of the layer's weights (after quantization)
    weights_resident: bool      # weights kept on chip across inferences (no DRAM weight traffic)
    storage_weight_bits: float  # nonzero values stored
    storage_index_bits: float
    storage_padding_bits: float
    storage_pointer_bits: float
    storage_bits: float
    macs_dense: float
    macs_executed: float
    macs_useful: float
    compute_cycles: float
    memory_cycles: float
    stall_cycles: float
    cycles: float               # incl. the prefetch of the first tile (SCALE-Sim: "Total Cycles (incl. prefetch)")
    ideal_cycles: float         # lower bound: useful MACs / PEs
    utilization: float          # useful MACs / (cycles * MAC units)
    tiles: float
    sram_ifmap_read_words: float     # words: operand elements (stored weight entries for the filter)
    sram_ifmap_write_words: float
    sram_filter_read_words: float
    sram_filter_write_words: float
    sram_ofmap_write_words: float
    sram_ofmap_read_words: float
    dram_ifmap_read_words: float
    dram_filter_read_words: float
    dram_ofmap_write_words: float
    dram_ofmap_read_words: float
    dram_bits: float
    dram_bits_compulsory: float
    sram_bits: float
    rf_bits: float
    index_decodes: float
    energy_dram_pj: float
    energy_sram_pj: float
    energy_rf_pj: float
    energy_mac_pj: float
    energy_index_pj: float
    energy_pj: float
    energy_lower_bound_pj: float  # compulsory DRAM traffic + useful MACs
    latency_s: float

    def __add__(self, other: "LayerCost") -> "LayerCost":
        """Costs add across layers (a model is the sum of its layers)."""
        d = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, str):
                d[f.name] = a if a == b else (f"{a}+{b}" if f.name == "layer" else "mixed")
            elif isinstance(a, (bool, np.bool_)):
                d[f.name] = bool(a and b)
            elif f.name in ("num_pes", "mac_units", "weight_bits"):
                d[f.name] = a if a == b else max(a, b)
            else:
                d[f.name] = a + b
        d["utilization"] = d["macs_useful"] / (d["cycles"] * d["mac_units"]) if d["cycles"] else 0.0
        return LayerCost(**d)


COLUMNS = [f.name for f in fields(LayerCost)]


@dataclass(frozen=True, eq=False)
class CostTable:
    """Columns of equal length, one row per (layer, hardware)."""

    columns: dict

    def __len__(self) -> int:
        return len(self.columns["layer"])

    def rows(self) -> list[dict]:
        n = len(self)
        return [{k: _py(self.columns[k][i]) for k in COLUMNS} for i in range(n)]

    def records(self) -> list[LayerCost]:
        return [LayerCost(**r) for r in self.rows()]

    def select(self, hardware: str) -> "CostTable":
        idx = [i for i, h in enumerate(self.columns["hardware"]) if h == hardware]
        return CostTable({k: [self.columns[k][i] for i in idx] for k in COLUMNS})

    def totals(self) -> dict[str, LayerCost]:
        """Model totals per hardware."""
        out: dict[str, LayerCost] = {}
        for r in self.records():
            out[r.hardware] = r if r.hardware not in out else out[r.hardware] + r
        return {h: LayerCost(**{**asdict(c), "layer": "TOTAL"}) for h, c in out.items()}

    def to_pandas(self):
        """A pandas DataFrame, one row per (layer, hardware) (pandas is optional)."""
        import pandas as pd
        return pd.DataFrame(self.rows(), columns=COLUMNS)

    def to_csv(self, path=None) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS)
        w.writeheader()
        for r in self.rows():
            w.writerow(r)
        text = buf.getvalue()
        if path is not None:
            from sparsecodesign.fileio import atomic_write_text
            atomic_write_text(path, text)
        return text

    def to_json(self, path=None) -> str:
        text = json.dumps(self.rows(), indent=1)
        if path is not None:
            from sparsecodesign.fileio import atomic_write_text
            atomic_write_text(path, text + "\n")
        return text


def _py(v):
    if isinstance(v, np.generic):
        return v.item()
    return v
