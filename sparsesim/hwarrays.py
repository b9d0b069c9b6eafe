"""A batch of accelerators as parallel numpy arrays, so every cost is one vectorized expression.

Built once per set of configs (a sweep builds it for hundreds); engines and the
memory model read only these arrays, never the YAML objects.  Units follow the
description fields (bits, words, cycles, pJ).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from accel_models.hardware import OPERANDS, Accelerator


def _buffer_fields(a: Accelerator, op: str) -> tuple:
    b = a.buffer(op)
    f = a.node_factor
    return (b.capacity_bytes * 8, b.width_bits, b.access_pj(False, f), b.access_pj(True, f),
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
        return np.array([getattr(x.pe.params, field) if x.pe.engine == engine else fill
                         for x in self.accelerators], dtype=dtype)

    def take(self, idx: np.ndarray) -> "HardwareArrays":
        """The configs ``idx`` only (every array, dict of arrays and list sliced alike)."""
        def cut(v):
            if isinstance(v, dict):
                return {k: cut(x) for k, x in v.items()}
            if isinstance(v, list):
                return [v[i] for i in idx]
            return v[idx]
        return HardwareArrays(**{f.name: cut(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def from_accelerators(cls, accs: list[Accelerator]) -> "HardwareArrays":
        accs = list(accs)

        def a(f, dt=float):
            return np.array([f(x) for x in accs], dtype=dt)

        bufs = {op: np.array([_buffer_fields(x, op) for x in accs], dtype=float).reshape(len(accs), 5)
                for op in OPERANDS}
        return cls(
            names=[x.name for x in accs], accelerators=accs,
            engine=np.array([x.pe.engine for x in accs], dtype=object),
            rows=a(lambda x: x.pe.rows, np.int64), cols=a(lambda x: x.pe.cols, np.int64),
            pes=a(lambda x: x.pe.num_pes, np.int64), mac_units=a(lambda x: x.pe.mac_units, np.int64),
            dataflow=np.array([x.pe.dataflow for x in accs], dtype=object),
            act_bits=a(lambda x: x.pe.act_bits), acc_bits=a(lambda x: x.pe.acc_bits),
            gating=a(lambda x: x.pe.zero_handling in ("gating", "skipping"), bool),
            skipping=a(lambda x: x.pe.zero_handling == "skipping", bool),
            gated_fraction=a(lambda x: x.pe.gated_mac_fraction),
            compact=a(lambda x: x.pe.compact_zero_rows_cols, bool),
            index_bits=a(lambda x: x.pe.index_bits, np.int64),
            clock_hz=a(lambda x: x.clock_hz),
            storage_table=np.array([[next((w for w in x.pe.weight_bits if w >= b), 0) for b in range(33)]
                                    for x in accs], dtype=float).reshape(len(accs), 33),
            widest_bits=a(lambda x: max(x.pe.weight_bits)),
            per_operand=a(lambda x: x.memory.organization == "per_operand", bool),
            double_buffered=a(lambda x: x.memory.double_buffered, bool),
            weights_mode=np.array([x.memory.weights for x in accs], dtype=object),
            acts_mode=np.array([x.memory.activations for x in accs], dtype=object),
            convention=np.array([x.memory.convention for x in accs], dtype=object),
            buf_bits={op: bufs[op][:, 0] for op in OPERANDS}, buf_width={op: bufs[op][:, 1] for op in OPERANDS},
            buf_read_pj={op: bufs[op][:, 2] for op in OPERANDS}, buf_write_pj={op: bufs[op][:, 3] for op in OPERANDS},
            buf_min_bits={op: bufs[op][:, 4] for op in OPERANDS},
            dram_bw=a(lambda x: x.dram.bandwidth_bits_per_cycle),
            dram_op_bw={op: a(lambda x, op=op: x.dram.operand_bandwidth(op)) for op in OPERANDS},
            dram_shared=a(lambda x: x.dram.interfaces == "shared", bool),
            stall_free=a(lambda x: x.dram.stall_free, bool),
            dram_latency=a(lambda x: x.dram.latency_cycles), dram_pj_bit=a(lambda x: x.dram.pj_per_bit),
            rf_pj_bit=a(lambda x: x.rf.pj_per_bit(x.node_factor)), decode_pj=a(lambda x: x.decode_pj()),
            rf_operand_pj={op: a(lambda x, op=op: np.nan if getattr(x.rf, f"{op}_access_pj") is None
                                 else getattr(x.rf, f"{op}_access_pj")) for op in ("weight", "act", "psum")},
            dram_write_pj_bit=a(lambda x: x.dram.write_pj_per_bit),
            mac_pj_override=a(lambda x: np.nan if x.pe.mac_pj is None else x.pe.mac_pj),
            node_factor=a(lambda x: x.node_factor))

    @classmethod
    def of(cls, accelerators) -> "HardwareArrays":
        return accelerators if isinstance(accelerators, HardwareArrays) else cls.from_accelerators(list(accelerators))
