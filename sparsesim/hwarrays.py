"""A batch of accelerators as parallel numpy arrays, so every cost is one vectorized expression.

Built once per set of configs (a sweep builds it for hundreds); engines and the
memory model read only these arrays, never the YAML objects.  Units follow the
description fields (bits, words, cycles, pJ).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from itertools import chain
from operator import attrgetter

import numpy as np

from accel_models.hardware import OPERANDS, Accelerator, Buffer, RegisterFile


def _buffer_fields(a: Accelerator, op: str) -> tuple:
    b = a.buffer(op)
    n, f = a.tech_node_nm, a.memory_energy_scale
    return (b.capacity_bytes * 8, b.width_bits, b.access_pj(False, n, f), b.access_pj(True, n, f),
            b.min_access_bits or b.width_bits)


@dataclass(frozen=True, eq=False)
class HardwareArrays:
    names: list
    accelerators: list
    engine: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    pes: np.ndarray
    mac_units: np.ndarray         # multipliers working in parallel (PEs x per-PE multipliers)
    dataflow: np.ndarray
    act_bits: np.ndarray
    acc_bits: np.ndarray
    gating: np.ndarray
    skipping: np.ndarray
    gated_fraction: np.ndarray
    compact: np.ndarray
    index_bits: np.ndarray
    clock_hz: np.ndarray
    storage_table: np.ndarray     # [config, bits] -> stored value width (0: unsupported)
    widest_bits: np.ndarray
    # memory
    per_operand: np.ndarray
    double_buffered: np.ndarray
    weights_mode: np.ndarray
    acts_mode: np.ndarray
    convention: np.ndarray
    buf_bits: dict                # operand -> capacity in bits of the buffer holding it
    buf_width: dict               # operand -> access width in bits
    buf_read_pj: dict             # operand -> pJ per read access of buf_width bits
    buf_write_pj: dict
    buf_min_bits: dict            # operand -> smallest transfer of its buffer's port (zigzag convention)
    dram_bw: np.ndarray           # the shared channel, bits/cycle
    dram_op_bw: dict              # operand -> its interface's bits/cycle (== dram_bw when shared)
    dram_shared: np.ndarray
    stall_free: np.ndarray
    dram_latency: np.ndarray
    dram_pj_bit: np.ndarray
    rf_pj_bit: np.ndarray
    rf_operand_pj: dict           # weight/act/psum -> pJ per access given in the YAML (NaN: rf_pj_bit x bits)
    dram_write_pj_bit: np.ndarray
    decode_pj: np.ndarray
    mac_pj_override: np.ndarray   # NaN: from the technology table
    node_factor: np.ndarray
    clock_pj_pe_cycle: np.ndarray  # pe.clock_pj_per_pe_cycle (0: not modelled)

    def __len__(self) -> int:
        return len(self.names)

    # ---------------------------------------------------------- engine plug-ins
    def engine_arrays(self, name: str, builder):
        """What engine ``name``'s ``builder(self)`` makes from these configs (e.g. arrays of its ``pe.params``
        over every config, ``param_array``), built once per HardwareArrays and cached on it; ``take`` starts
        a fresh cache."""
        cache = self.__dict__.setdefault("_engine_cache", {})
        if name not in cache:
            cache[name] = builder(self)
        return cache[name]

    def param_array(self, engine: str, field: str, dtype=float, fill=0) -> np.ndarray:
        """``pe.params.<field>`` of each config of ``engine`` (``fill`` for the other engines' configs)."""
        return self.per_engine(engine, lambda pe: getattr(pe.params, field), dtype, fill)

    def per_engine(self, engine: str, value, dtype=float, fill=0) -> np.ndarray:
        """``value(pe)`` of each config of ``engine`` (``fill`` for the other engines' configs; ``fill`` and the
        values may be sequences of one length: one row per config); only that engine's configs are read."""
        at = np.nonzero(self.engine == engine)[0].tolist()
        fill = np.asarray(fill, dtype=dtype)
        out = np.empty((len(self), *fill.shape), dtype=dtype)
        out[...] = fill
        if at:
            pes = [self.accelerators[i].pe for i in at]
            out[at] = np.array([value(pe) for pe in pes], dtype=dtype).reshape(len(at), *fill.shape)
        return out

    def once(self, key, compute):
        """``compute()`` the first time ``key`` is asked of these configs, the stored value after: groupings of
        the configs that depend on the hardware only, which the engines reuse for every layer."""
        memo = self.__dict__.setdefault("_once", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def take(self, idx: np.ndarray) -> "HardwareArrays":
        """The configs ``idx`` (integer indices) only (every array, dict of arrays and list sliced alike); kept
        on these arrays (``once``), so asking again for the same configs gives the same object."""
        idx = np.asarray(idx)
        return self.once(("take", idx.dtype.str, idx.shape, idx.tobytes()), lambda: self._take(idx))

    def stacked(self, layers: int) -> "HardwareArrays":
        """The configs repeated ``layers`` times, one block per layer (the analytical engine prices layers
        stacked so): ``take(np.tile(np.arange(len(self)), layers))``, built by repetition and kept (``once``);
        these arrays themselves for one layer."""
        def repeat(v):
            if isinstance(v, dict):
                return {k: repeat(x) for k, x in v.items()}
            return v * layers if isinstance(v, list) else np.concatenate([v] * layers) if layers else v[:0]
        if layers == 1:
            return self
        return self.once(("stacked", layers),
                         lambda: HardwareArrays(**{f.name: repeat(getattr(self, f.name)) for f in fields(self)}))

    def _take(self, idx: np.ndarray) -> "HardwareArrays":
        at = idx.tolist()

        def cut(v):
            if isinstance(v, dict):
                return {k: cut(x) for k, x in v.items()}
            if isinstance(v, list):
                return [v[i] for i in at]
            return v[idx]
        return HardwareArrays(**{f.name: cut(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def from_accelerators(cls, accs: list[Accelerator]) -> "HardwareArrays":
        """One pass over the accelerators: each gives one row of numbers (``_numbers``) and one of names; the
        SRAM/register/decode energies and storage widths are computed once per distinct buffer, register file,
        index width and weight-width set (a sweep's configs share a few)."""
        accs = list(accs)
        memo: dict = {}
        nums = np.fromiter(chain.from_iterable(_numbers(x, memo) for x in accs), dtype=float,
                           count=len(accs) * len(_NUMBERS)).reshape(len(accs), len(_NUMBERS)).T.copy()
        col = dict(zip(_NUMBERS, nums))
        kinds = {name: np.array(list(map(attrgetter(f"{part}.{attr}"), accs)), dtype=object)
                 for name, (part, attr) in _NAMES.items()}
        sets = [tuple(x.pe.weight_bits) for x in accs]
        distinct = {k: i for i, k in enumerate(dict.fromkeys(sets))}   # weight-width sets, first seen first
        which = np.array([distinct[k] for k in sets], dtype=np.intp)
        widths = [memo[("storage", k)] for k in distinct]

        def typed(name):
            v = col[name]
            return v.astype(np.int64) if name in _INTS else v.astype(bool) if name in _BOOLS else v

        return cls(
            names=[x.name for x in accs], accelerators=accs,
            engine=kinds["engine"], dataflow=kinds["dataflow"], weights_mode=kinds["weights_mode"],
            acts_mode=kinds["acts_mode"], convention=kinds["convention"],
            storage_table=np.array([r for r, _ in widths], dtype=float).reshape(len(widths), 33)[which],
            widest_bits=np.array([w for _, w in widths], dtype=float)[which],
            buf_bits={op: col[f"{op}_bits"] for op in OPERANDS}, buf_width={op: col[f"{op}_width"] for op in OPERANDS},
            buf_read_pj={op: col[f"{op}_read_pj"] for op in OPERANDS},
            buf_write_pj={op: col[f"{op}_write_pj"] for op in OPERANDS},
            buf_min_bits={op: col[f"{op}_min_bits"] for op in OPERANDS},
            dram_op_bw={op: col[f"{op}_dram_bw"] for op in OPERANDS},
            rf_operand_pj={op: col[f"rf_{op}_pj"] for op in ("weight", "act", "psum")},
            **{name: typed(name) for name in _FIELDS})

    @classmethod
    def of(cls, accelerators) -> "HardwareArrays":
        """The arrays of ``accelerators`` (passed through if they are arrays already).  The arrays of the last
        few lists priced are kept: a list of the very same ``Accelerator`` objects (frozen, so unchanged) gets
        them again, as when ``compare`` prices model after model on one set of platforms."""
        if isinstance(accelerators, HardwareArrays):
            return accelerators
        accs = tuple(accelerators)
        for held, hw in _RECENT:
            if len(held) == len(accs) and all(a is b for a, b in zip(held, accs)):
                return hw
        hw = cls.from_accelerators(list(accs))
        _RECENT.append((accs, hw))
        del _RECENT[:-RECENT_SETS]
        return hw


RECENT_SETS = 4   # accelerator lists whose arrays HardwareArrays.of keeps
_RECENT: list = []   # (the Accelerator objects, their arrays), most recent last


def forget_recent() -> None:
    """Drop the kept arrays (a benchmark timing the hardware setup of new accelerator objects calls this)."""
    _RECENT.clear()


# the numeric fields one accelerator contributes (``_numbers``), in order; typed as HardwareArrays declares them
_FIELDS = ("rows", "cols", "pes", "mac_units", "act_bits", "acc_bits", "gating", "skipping", "gated_fraction",
           "compact", "index_bits", "clock_hz", "per_operand", "double_buffered", "dram_bw", "dram_shared", "stall_free", "dram_latency", "dram_pj_bit",
           "rf_pj_bit", "decode_pj", "dram_write_pj_bit", "mac_pj_override", "node_factor", "clock_pj_pe_cycle")
_INTS = {"rows", "cols", "pes", "mac_units", "index_bits"}
_BOOLS = {"gating", "skipping", "compact", "per_operand", "double_buffered", "dram_shared",
          "stall_free"}
_NUMBERS = _FIELDS + tuple(f"{op}_{k}" for op in OPERANDS for k in ("bits", "width", "read_pj", "write_pj",
                                                                    "min_bits")) \
    + tuple(f"{op}_dram_bw" for op in OPERANDS) + ("rf_weight_pj", "rf_act_pj", "rf_psum_pj")
_NAMES = {"engine": ("pe", "engine"), "dataflow": ("pe", "dataflow"), "weights_mode": ("memory", "weights"),
          "acts_mode": ("memory", "activations"), "convention": ("memory", "convention")}


def _numbers(x: Accelerator, memo: dict) -> tuple:
    """The accelerator's numbers in ``_NUMBERS`` order (NaN for an energy the YAML leaves to the tables).  The
    energies of its buffers, registers and index decoder (and its storage widths) are computed once per distinct
    buffer, (register file, index width) and weight-width set at each node, in ``memo`` (keyed by the objects'
    field values, as their equality compares them)."""
    pe, dram, rf = x.pe, x.dram, x.rf
    f, node, mem_scale = x.node_factor, x.tech_node_nm, x.memory_energy_scale
    derived = ()
    for op in OPERANDS:
        b = x.buffer(op)
        key = (_BUFFER_KEY(b), node, mem_scale)
        got = memo.get(key)
        if got is None:
            got = memo[key] = _buffer_fields(x, op)
        derived += got
    key = (_RF_KEY(rf), pe.index_bits, node, mem_scale, f)
    got = memo.get(key)
    if got is None:
        got = memo[key] = (rf.pj_per_bit(node, mem_scale), x.decode_pj())
    derived += got
    key = ("storage", tuple(pe.weight_bits))
    if key not in memo:
        memo[key] = ([next((w for w in pe.weight_bits if w >= b), 0) for b in range(33)], max(pe.weight_bits))
    mem = x.memory
    nan = float("nan")
    return (pe.rows, pe.cols, pe.num_pes, pe.mac_units, pe.act_bits, pe.acc_bits,
            pe.zero_handling in ("gating", "skipping"), pe.zero_handling == "skipping", pe.gated_mac_fraction,
            pe.compact_zero_rows_cols, pe.index_bits, x.clock_hz, mem.organization == "per_operand", mem.double_buffered,
            dram.bandwidth_bits_per_cycle, dram.interfaces == "shared", dram.stall_free, dram.latency_cycles,
            dram.pj_per_bit, derived[15], derived[16], dram.write_pj_per_bit,
            nan if pe.mac_pj is None else pe.mac_pj, f, pe.clock_pj_per_pe_cycle or 0.0, *derived[:15],
            dram.operand_bandwidth("ifmap"), dram.operand_bandwidth("filter"), dram.operand_bandwidth("ofmap"),
            nan if rf.weight_access_pj is None else rf.weight_access_pj,
            nan if rf.act_access_pj is None else rf.act_access_pj,
            nan if rf.psum_access_pj is None else rf.psum_access_pj)


# a buffer's and a register file's field values (what their dataclass equality compares), as memo keys
_BUFFER_KEY = attrgetter(*(f.name for f in fields(Buffer)))
_RF_KEY = attrgetter(*(f.name for f in fields(RegisterFile)))
assert OPERANDS == ("ifmap", "filter", "ofmap")   # _numbers lists the per-operand bandwidths in this order
