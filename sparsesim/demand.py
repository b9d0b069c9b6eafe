"""What a layer demands from an accelerator's compute side: one typed object per (layer, configs).

Each engine (``sparsesim/engines``) turns the real weight matrix and the
hardware arrays into a ``ComputeDemand``: the weight format and its exact
storage bits, executed and useful MACs, compute cycles and tiles, the words the
array reads from and writes to its on-chip buffers, and the reuse structure the
memory model needs (how many passes over each operand, which output tile must
stay on chip to avoid spilling partial sums).  The memory model
(``sparsesim.memory``) turns that into buffer and DRAM traffic; the analytical
and event engines turn both into cycles and energy.

All fields are numpy arrays with one entry per hardware config.  Words are
operand elements: input activations, stored weight entries (values, padding
slots and padding entries; their index/pointer bits are carried by
``filter_word_bits``), outputs or partial sums.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from accel_models.hardware import HardwareError
from accel_models.tech import mac_pj

from .hwarrays import HardwareArrays
from .workload import LayerWorkload


@dataclass(frozen=True, eq=False)
class ComputeDemand:
    format: np.ndarray                 # weight format name (object array)
    value_width: np.ndarray            # bits per stored weight value
    storage_weight_bits: np.ndarray    # nonzero values
    storage_index_bits: np.ndarray
    storage_padding_bits: np.ndarray
    storage_pointer_bits: np.ndarray
    macs_executed: np.ndarray
    macs_useful: np.ndarray
    mac_energy_weight: np.ndarray      # average MAC energy as a fraction of a full MAC (zero gating)
    index_decodes: np.ndarray
    compute_cycles: np.ndarray
    tiles: np.ndarray                  # units the array processes in sequence (folds, input vectors, ...)
    gemm_m: np.ndarray                 # GEMM dims the array really runs (after compaction/compression)
    gemm_k: np.ndarray
    sram_ifmap_read_words: np.ndarray  # array <- buffer
    sram_filter_read_words: np.ndarray
    sram_ofmap_write_words: np.ndarray  # array -> buffer (outputs and partial sums)
    sram_ofmap_read_words: np.ndarray   # partial sums read back by the array
    rf_weight_accesses: np.ndarray     # register accesses inside the PEs, per operand
    rf_act_accesses: np.ndarray
    rf_psum_accesses: np.ndarray
    filter_word_bits: np.ndarray       # bits per stored weight entry incl. its share of index/pointer bits
    ifmap_words: np.ndarray            # input activations the layer consumes (raw, incl. batch)
    ofmap_words: np.ndarray            # outputs the layer produces (incl. batch)
    ifmap_passes: np.ndarray           # times the array consumes the whole input (refetched if it does not fit)
    filter_passes: np.ndarray          # times the array consumes all weights
    psum_passes: np.ndarray            # accumulation passes per output (> 1: partial sums)
    ofmap_tile_words: np.ndarray       # outputs accumulated at once; they spill if they do not fit
    restream_filter: np.ndarray        # 1 where splitting the outputs into chunks re-reads the weights (WS)
    restream_ifmap: np.ndarray         # 1 where it re-reads the inputs instead (IS)

    @property
    def storage_bits(self) -> np.ndarray:
        return self.storage_weight_bits + self.storage_index_bits + self.storage_padding_bits \
            + self.storage_pointer_bits

    @classmethod
    def build(cls, n: int, **given) -> "ComputeDemand":
        """A demand for ``n`` configs from the fields an engine computes (arrays of length ``n`` or scalars);
        every other field takes its neutral value (``NEUTRAL``: 1 for passes, tiles and the MAC energy factor,
        ``"dense"`` for the format, 0 otherwise), so an engine states only what it computes."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - names)
        if unknown:
            raise TypeError(f"ComputeDemand: unknown field(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(sorted(names))}")
        kw = {}
        for name in names:
            v = given.get(name, NEUTRAL.get(name, 0.0))
            if name == "format":
                kw[name] = np.array(np.broadcast_to(np.asarray(v, dtype=object), (n,)), dtype=object)
            else:
                kw[name] = np.array(np.broadcast_to(np.asarray(v, dtype=float), (n,)), dtype=float)
        return cls(**kw)

    @classmethod
    def empty(cls, n: int) -> "ComputeDemand":
        kw = {f.name: np.zeros(n) for f in fields(cls)}
        kw["format"] = np.empty(n, dtype=object)
        return cls(**kw)

    def take(self, idx: np.ndarray) -> "ComputeDemand":
        return ComputeDemand(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def scatter(self, idx: np.ndarray, part: "ComputeDemand") -> None:
        """Write ``part`` (computed for configs ``idx``) into this full-length demand, in place."""
        for f in fields(self):
            getattr(self, f.name)[idx] = getattr(part, f.name)


# The value of a field an engine does not give (ComputeDemand.build): nothing counted, one pass, one tile.
NEUTRAL = MappingProxyType({"format": "dense", "mac_energy_weight": 1.0, "tiles": 1.0, "ifmap_passes": 1.0,
                            "filter_passes": 1.0, "psum_passes": 1.0})


# ------------------------------------------------------------ shared helpers
def ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class LayerStats:
    """Hardware-independent facts about one layer's weights (computed once per workload)."""

    M: int
    K: int
    nnz: int
    kept_rows: int
    kept_cols: int
    kept_input_fraction: float


def layer_stats(w: LayerWorkload) -> LayerStats:
    if "stats" not in w.cache:
        kept_in = 1.0
        if w.kind == "conv2d" and w.geometry.get("kernel"):
            rs = int(np.prod(w.geometry["kernel"]))
            if w.K % rs == 0:
                kept_in = w.kept_channel_fraction(rs)
        elif w.kind == "linear":
            kept_in = w.kept_cols / w.K
        w.cache["stats"] = LayerStats(w.M, w.K, w.nnz, w.kept_rows, w.kept_cols, kept_in)
    return w.cache["stats"]


def storage_width(hw: HardwareArrays, weight_bits: int, idx: np.ndarray, layer: str = "") -> np.ndarray:
    """Value width per config.  Unquantized float32 layers are taken as post-training quantized to
    the PE's widest weight width; a quantized layer wider than the PE accepts is an error naming ``layer``."""
    widest = hw.widest_bits[idx]
    want = np.minimum(weight_bits, widest) if weight_bits == 32 else np.full(idx.size, weight_bits)
    b = hw.storage_table[idx, want.astype(int)]
    if (b == 0).any():
        i = int(idx[np.nonzero(b == 0)[0][0]])
        at = f"layer {layer!r}: " if layer else ""
        raise HardwareError(f"{hw.names[i]}: {at}pe: weights of {weight_bits} bits exceed the widest supported "
                            f"weight_bits={int(hw.widest_bits[i])}; allowed: weights of at most "
                            f"{int(hw.widest_bits[i])} bits (price them narrower: simulate --bits, sweep "
                            "workload.bits), or a design whose pe.weight_bits reaches "
                            f"{weight_bits}")
    return b


def unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, index of each row's distinct row) of a 2-D array, as ``np.unique(axis=0)`` groups them
    (in the same order): each column's values are numbered with a 1-D sort and the numbers combined into
    one code per row, much cheaper than sorting whole rows."""
    code = np.zeros(len(keys), dtype=np.int64)
    for col in keys.T:
        values, number = np.unique(col, return_inverse=True)
        code = code * max(len(values), 1) + number.reshape(-1)
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return keys[first], inv.reshape(-1)


def int_groups(keys: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """``unique_rows`` of integer keys (cast to int64), the distinct rows as tuples of Python ints."""
    uniq, inv = unique_rows(keys.astype(np.int64))
    return [tuple(int(v) for v in row) for row in uniq], inv


def mac_energy(hw: HardwareArrays, weight_bits: np.ndarray) -> np.ndarray:
    """pJ of one MAC per config: the YAML's ``pe.mac_pj`` if given, else ``accel_models.tech.mac_pj``
    scaled to the config's node; computed once per distinct (bits, act, acc, node) tuple."""
    keys = np.stack([weight_bits, hw.act_bits, hw.acc_bits, hw.node_factor], 1)
    uniq, inv = unique_rows(keys)
    vals = np.array([mac_pj(int(b), int(a), int(c)) * f for b, a, c, f in uniq])[inv]
    return np.where(np.isnan(hw.mac_pj_override), vals, hw.mac_pj_override)


def gating_weight(hw: HardwareArrays, idx: np.ndarray, useful, executed) -> np.ndarray:
    """Average MAC energy factor: MACs with a zero operand cost ``gated_fraction`` when gated."""
    nz = np.minimum(1.0, useful / np.maximum(executed, 1))
    return np.where(hw.gating[idx], nz + (1 - nz) * hw.gated_fraction[idx], 1.0)
