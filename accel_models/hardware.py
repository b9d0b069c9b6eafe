"""Hardware descriptions: frozen, validated dataclasses built from YAML.

Descriptions only: sizes, widths, clocks, bandwidths, energies per action, FPGA
budgets.  How a layer runs on them is ``sparsesim``'s business.  Units are in
the field names (``_bytes``, ``_bits``, ``_hz``, ``_pj``, ``_cycles``,
``_words``).

Engines (``pe.engine``; one module each in ``sparsesim/engines``):

* ``systolic``  dense R x C array, dataflow ``ws``/``os``/``is``.  All-zero GEMM
  rows/columns are compacted away (structured sparsity runs as the smaller dense
  GEMM); zeros left inside are computed (``zero_handling: gating`` saves the
  multiplier's energy on them, never cycles).
* ``nm``        N:M engine (sparse tensor core style): a systolic array whose K is
  padded to a multiple of M and compressed by N/M, with ceil(log2 M)-bit
  metadata per kept slot; a layer that is not N:M-sparse runs dense.
* ``eie``       EIE-style (Han et al. ISCA 2016): ``rows*cols`` PEs, GEMM rows
  interleaved over PEs, CSC weights with ``index_bits``-bit relative indices,
  nonzero activations broadcast (``act_broadcast_per_cycle``) into per-PE
  queues of ``fifo_depth`` entries.  (``sparse`` is accepted as an alias.)
* ``sigma``     flexible sparse GEMM (SIGMA, Qin et al. HPCA 2020): the nonzero
  weights of several output rows are packed onto the ``rows*cols`` multipliers,
  the dense input streams through a distribution network of
  ``distribution_bw_words`` words/cycle, a reduction network of
  ``reduction_bw_words`` outputs/cycle adds each row's products.
* ``scnn``      sparse CNN (SCNN, Parashar et al. ISCA 2017): ``rows*cols`` PEs,
  each multiplying ``cartesian[0]`` nonzero weights by ``cartesian[1]`` nonzero
  activations per cycle (Cartesian product); the input plane is tiled over
  the PEs, output channels are processed ``channel_group`` at a time with a
  barrier between groups.

Memory (``memory`` section): one shared global buffer (``glb``) or per-operand
buffers (``ifmap_sram``, ``filter_sram``, ``ofmap_sram``, as SCALE-Sim and most
papers describe designs); double buffering; weights streamed per inference,
resident on chip, or ``auto`` (resident when the whole model fits); a
``convention`` naming whose traffic rules to follow (``native``, ``scalesim``,
``zigzag``; docs/cost_model.md).  DRAM bandwidth is one shared channel or one
interface per operand.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

from pruning.yamlio import YamlError, load_unique_yaml, short

from .tech import DRAM_PJ_PER_BIT, NODE_ENERGY_FACTOR, add_pj, dram_pj_per_bit, mac_pj, sram_access_pj

ENGINES = ("systolic", "nm", "eie", "sigma", "scnn")
ENGINE_ALIASES = {"sparse": "eie"}
SPARSE_ENGINES = ("eie", "sigma", "scnn")
DATAFLOWS = ("ws", "os", "is")
ZERO_HANDLING = ("none", "gating", "skipping")
PLATFORMS = ("asic", "fpga")
ORGANIZATIONS = ("shared", "per_operand")
WEIGHT_RESIDENCY = ("streamed", "resident", "auto")
CONVENTIONS = ("native", "scalesim", "zigzag")
DRAM_INTERFACES = ("shared", "per_operand")
OPERANDS = ("ifmap", "filter", "ofmap")
# Bounds that keep every model's memory and time finite (docs/cost_model.md, "Allowed ranges").
MAX_ARRAY_SIDE = 65_536
MAX_PES = 1 << 24
MAX_EIE_QUEUE_SLOTS = 1 << 24     # fifo_depth x PEs: the EIE queue model keeps one start time per slot
MIN_RATE = 1e-3                   # bits or entries per cycle: below this a layer takes > 1e12 cycles
MAX_RATE = 1e9
MAX_PJ = 1e9                      # any one energy per action or per bit
MIN_CLOCK_HZ, MAX_CLOCK_HZ = 1e3, 1e13
MIN_ENERGY_SCALE, MAX_ENERGY_SCALE = 1e-6, 1e6
MAX_NAME_CHARS = 80


class HardwareError(ValueError):
    """An invalid hardware description; names the field, the value and what is allowed."""


class FPGAFitError(HardwareError):
    """A design that exceeds its FPGA part; names the resource and the overflow."""


def _pos(where: str, name: str, value, integer: bool = False, zero_ok: bool = False, upper=None, lower=None):
    """A finite number (an int when ``integer``; never a bool) > 0 (>= 0 with ``zero_ok``; >= ``lower`` when
    given) and <= ``upper``."""
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    bad = isinstance(value, bool) or not ok or (
        isinstance(value, float) and not math.isfinite(value)) or (value < 0 if zero_ok else value <= 0) or (
        lower is not None and value < lower) or (upper is not None and value > upper)
    if bad:
        kind = "an integer" if integer else "a number"
        bound = f">= {lower:g}" if lower is not None else (">= 0" if zero_ok else "> 0")
        bound += f" and <= {upper:g}" if upper is not None else ""
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: {kind} {bound}")
    return value


def _opt_pos(where: str, name: str, value, zero_ok: bool = False, upper=None, lower=None):
    if value is not None:
        _pos(where, name, value, zero_ok=zero_ok, upper=upper, lower=lower)


def _choice(where: str, name: str, value, allowed) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value not in allowed:
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: {', '.join(map(str, allowed))}")
    return value


def _flag(where: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        hint = " (a string is not a bool: write true or false unquoted)" if isinstance(value, str) else ""
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: true, false{hint}")
    return value


def _int_in(where: str, name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: an integer in {lo}..{hi}")
    return value


def _pair(where: str, name: str, value, check) -> tuple[int, int]:
    v = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in v) or not check(v):
        raise HardwareError(f"{where}: field {name!r}={short(value)}; allowed: two positive integers"
                            + (" [N, M] with 0 < N <= M <= 1024" if name == "nm" else " <= 1024"))
    return v


@dataclass(frozen=True)
class DRAM:
    kind: str = "lpddr4"
    bandwidth_bits_per_cycle: float = 128.0     # the shared channel, or each interface's default
    latency_cycles: int = 100                   # exposed once per layer (the first request)
    energy_pj_per_bit: float | None = None      # reads; None: from the technology table for ``kind``
    write_energy_pj_per_bit: float | None = None  # writes; None: same as reads
    interfaces: str = "shared"                  # shared: one channel for all operands; per_operand: one each
    ifmap_bits_per_cycle: float | None = None   # per_operand interfaces (None: bandwidth_bits_per_cycle)
    filter_bits_per_cycle: float | None = None
    ofmap_bits_per_cycle: float | None = None
    stall_free: bool = False                    # bandwidth never limits (SCALE-Sim CALC); traffic still counted

    def __post_init__(self):
        if self.energy_pj_per_bit is None:
            _choice("dram", "kind", self.kind, tuple(DRAM_PJ_PER_BIT))
        else:
            if not isinstance(self.kind, str) or len(self.kind) > MAX_NAME_CHARS:
                raise HardwareError(f"dram: field 'kind'={short(self.kind)}; allowed: a name (text of at most "
                                    f"{MAX_NAME_CHARS} characters)")
            _pos("dram", "energy_pj_per_bit", self.energy_pj_per_bit, upper=MAX_PJ)
        _opt_pos("dram", "write_energy_pj_per_bit", self.write_energy_pj_per_bit, upper=MAX_PJ)
        _pos("dram", "bandwidth_bits_per_cycle", self.bandwidth_bits_per_cycle, lower=MIN_RATE, upper=MAX_RATE)
        _pos("dram", "latency_cycles", self.latency_cycles, integer=True, zero_ok=True, upper=10**9)
        _choice("dram", "interfaces", self.interfaces, DRAM_INTERFACES)
        for op in OPERANDS:
            _opt_pos("dram", f"{op}_bits_per_cycle", getattr(self, f"{op}_bits_per_cycle"), lower=MIN_RATE,
                     upper=MAX_RATE)
        _flag("dram", "stall_free", self.stall_free)

    @property
    def pj_per_bit(self) -> float:
        return self.energy_pj_per_bit if self.energy_pj_per_bit is not None else dram_pj_per_bit(self.kind)

    @property
    def write_pj_per_bit(self) -> float:
        return self.write_energy_pj_per_bit if self.write_energy_pj_per_bit is not None else self.pj_per_bit

    def operand_bandwidth(self, operand: str) -> float:
        """Bits/cycle of ``operand``'s interface (the shared channel's bandwidth when shared)."""
        own = getattr(self, f"{operand}_bits_per_cycle")
        return own if (self.interfaces == "per_operand" and own is not None) else self.bandwidth_bits_per_cycle


@dataclass(frozen=True)
class Buffer:
    """An on-chip SRAM: the shared global buffer or one operand's buffer."""

    capacity_bytes: int = 128 * 1024
    banks: int = 1
    width_bits: int = 64                  # bits per access (per bank)
    read_pj: float | None = None          # energy of one width_bits read; None: CACTI fit (accel_models.tech)
    write_pj: float | None = None         # energy of one width_bits write; None: CACTI fit
    min_access_bits: int | None = None    # smallest transfer a port moves (zigzag convention; None: width_bits)

    def __post_init__(self):
        _pos("buffer", "capacity_bytes", self.capacity_bytes, integer=True, upper=2**40)
        _pos("buffer", "banks", self.banks, integer=True, upper=2**20)
        _pos("buffer", "width_bits", self.width_bits, integer=True, upper=2**16)
        _opt_pos("buffer", "read_pj", self.read_pj, zero_ok=True, upper=MAX_PJ)
        _opt_pos("buffer", "write_pj", self.write_pj, zero_ok=True, upper=MAX_PJ)
        if self.min_access_bits is not None:
            _int_in("buffer", "min_access_bits", self.min_access_bits, 1, self.width_bits)

    def access_pj(self, write: bool, node_factor: float) -> float:
        """Energy of one width_bits access (read or write) of one bank."""
        given = self.write_pj if write else self.read_pj
        if given is not None:
            return given
        return sram_access_pj(self.capacity_bytes / self.banks, self.width_bits, write=write) * node_factor


@dataclass(frozen=True)
class RegisterFile:
    """Registers inside each PE.  Per-operand access energies may be given (e.g. ZigZag's or Accelergy's
    tables); an operand whose energy is not given is priced by the SRAM fit at this size and width."""

    capacity_bytes: int = 64
    width_bits: int = 16
    access_pj: float | None = None        # one width_bits access, any operand
    weight_access_pj: float | None = None  # one weight read or write
    act_access_pj: float | None = None     # one input-activation read (0: the PEs have no input register)
    psum_access_pj: float | None = None    # one partial-sum read or write

    def __post_init__(self):
        _pos("rf", "capacity_bytes", self.capacity_bytes, integer=True, upper=2**30)
        _pos("rf", "width_bits", self.width_bits, integer=True, upper=2**16)
        for name in ("access_pj", "weight_access_pj", "act_access_pj", "psum_access_pj"):
            _opt_pos("rf", name, getattr(self, name), zero_ok=True, upper=MAX_PJ)

    def pj_per_bit(self, node_factor: float) -> float:
        if self.access_pj is not None:
            return self.access_pj / self.width_bits
        return sram_access_pj(self.capacity_bytes, self.width_bits) * node_factor / self.width_bits

    def operand_access_pj(self, operand: str, bits: int, node_factor: float) -> float:
        """Energy of one access of ``bits`` to ``operand``'s register (weight, act or psum)."""
        given = getattr(self, f"{operand}_access_pj")
        return given if given is not None else self.pj_per_bit(node_factor) * bits


@dataclass(frozen=True)
class Memory:
    organization: str = "shared"          # shared: glb holds every operand; per_operand: ifmap/filter/ofmap_sram
    double_buffered: bool = True          # half of each buffer is being filled while the other half is read
    weights: str = "streamed"             # streamed per inference | resident on chip | auto (resident if all fit)
    activations: str = "streamed"         # layer inputs/outputs: streamed via DRAM | resident on chip between
                                          # layers | auto (resident when the layer's input and output fit)
    convention: str = "native"            # whose traffic rules: native | scalesim | zigzag (docs/cost_model.md)

    def __post_init__(self):
        _choice("memory", "organization", self.organization, ORGANIZATIONS)
        _flag("memory", "double_buffered", self.double_buffered)
        _choice("memory", "weights", self.weights, WEIGHT_RESIDENCY)
        _choice("memory", "activations", self.activations, WEIGHT_RESIDENCY)
        _choice("memory", "convention", self.convention, CONVENTIONS)


@dataclass(frozen=True)
class PEArray:
    engine: str = "systolic"
    rows: int = 16
    cols: int = 16
    dataflow: str = "ws"
    weight_bits: tuple[int, ...] = (8,)     # bit-widths the PEs accept (narrower weights are zero-extended)
    act_bits: int = 8
    acc_bits: int = 32
    zero_handling: str = "none"             # operands equal to zero: none | gating | skipping
    gated_mac_fraction: float = 0.1         # energy of a zero-gated MAC relative to a full one
    mac_pj: float | None = None             # energy of one MAC; None: Horowitz 45 nm scaled to the node
    compact_zero_rows_cols: bool = True     # systolic/nm: drop all-zero GEMM rows/columns
    nm: tuple[int, int] = (2, 4)            # nm engine pattern
    index_bits: int = 4                     # eie: relative row-index width
    decode_entries_per_cycle: float = 1.0   # eie: entries one PE decodes per cycle
    macs_per_pe_per_cycle: int = 1          # eie, sigma: MACs one PE / multiplier retires per cycle
    fifo_depth: int = 8                     # eie: activation queue entries per PE
    act_broadcast_per_cycle: float = 1.0    # eie: nonzero activations broadcast per cycle
    skip_empty_columns: bool = False        # eie: activations no PE holds a weight for are never broadcast
    distribution_bw_words: int | None = None  # sigma: input words delivered per cycle (None: one per multiplier)
    reduction_bw_words: int | None = None     # sigma: outputs the reduction network emits per cycle (None: cols)
    iteration_overhead_cycles: int = 4      # sigma: configure + collect stages paid once per stationary iteration
    cartesian: tuple[int, int] = (4, 4)     # scnn: nonzero weights x nonzero activations multiplied per PE-cycle
    channel_group: int = 8                  # scnn: output channels accumulated per pass (Kc)

    def __post_init__(self):
        w = "pe"
        if isinstance(self.engine, str):
            object.__setattr__(self, "engine", ENGINE_ALIASES.get(self.engine, self.engine))
        _choice(w, "engine", self.engine, ENGINES)
        _choice(w, "dataflow", self.dataflow, DATAFLOWS)
        _choice(w, "zero_handling", self.zero_handling, ZERO_HANDLING)
        _pos(w, "rows", self.rows, integer=True, upper=MAX_ARRAY_SIDE)
        _pos(w, "cols", self.cols, integer=True, upper=MAX_ARRAY_SIDE)
        if self.rows * self.cols > MAX_PES:
            raise HardwareError(f"pe: rows*cols={self.rows * self.cols:,} PEs; allowed: at most {MAX_PES:,}")
        bits = self.weight_bits if isinstance(self.weight_bits, (list, tuple)) else (self.weight_bits,)
        if not bits or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 32 for b in bits):
            raise HardwareError(f"pe: field 'weight_bits'={short(self.weight_bits)}; allowed: a non-empty list of "
                                "integers in 1..32")
        object.__setattr__(self, "weight_bits", tuple(sorted(set(bits))))
        _int_in(w, "act_bits", self.act_bits, 1, 64)
        _int_in(w, "acc_bits", self.acc_bits, 1, 64)
        if isinstance(self.gated_mac_fraction, bool) or not isinstance(self.gated_mac_fraction, (int, float)) \
                or not 0 <= self.gated_mac_fraction <= 1:
            raise HardwareError(f"pe: field 'gated_mac_fraction'={short(self.gated_mac_fraction)}; allowed: a "
                                "number in [0, 1]")
        _opt_pos(w, "mac_pj", self.mac_pj, zero_ok=True, upper=MAX_PJ)
        _flag(w, "compact_zero_rows_cols", self.compact_zero_rows_cols)
        object.__setattr__(self, "nm", _pair(w, "nm", self.nm, lambda v: 0 < v[0] <= v[1] <= 1024))
        _int_in(w, "index_bits", self.index_bits, 1, 32)
        _pos(w, "decode_entries_per_cycle", self.decode_entries_per_cycle, lower=MIN_RATE, upper=1e6)
        _int_in(w, "macs_per_pe_per_cycle", self.macs_per_pe_per_cycle, 1, 1024)
        _int_in(w, "fifo_depth", self.fifo_depth, 1, 1 << 16)
        if self.engine == "eie" and self.fifo_depth * self.rows * self.cols > MAX_EIE_QUEUE_SLOTS:
            raise HardwareError(f"pe: fifo_depth x rows x cols={self.fifo_depth * self.rows * self.cols:,} queue "
                                f"slots; allowed: at most {MAX_EIE_QUEUE_SLOTS:,} for engine eie")
        _pos(w, "act_broadcast_per_cycle", self.act_broadcast_per_cycle, lower=MIN_RATE, upper=1e6)
        _flag(w, "skip_empty_columns", self.skip_empty_columns)
        for name in ("distribution_bw_words", "reduction_bw_words"):
            if getattr(self, name) is not None:
                _int_in(w, name, getattr(self, name), 1, MAX_PES)
        _int_in(w, "iteration_overhead_cycles", self.iteration_overhead_cycles, 0, 1 << 20)
        object.__setattr__(self, "cartesian", _pair(w, "cartesian", self.cartesian,
                                                    lambda v: 0 < v[0] <= 1024 and 0 < v[1] <= 1024))
        _int_in(w, "channel_group", self.channel_group, 1, 1 << 16)

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols

    @property
    def mac_units(self) -> int:
        """Multipliers working in parallel: PEs x multipliers per PE."""
        if self.engine == "scnn":
            return self.num_pes * self.cartesian[0] * self.cartesian[1]
        if self.engine == "eie":
            return self.num_pes * self.macs_per_pe_per_cycle
        return self.num_pes

    @property
    def distribution_bw(self) -> int:
        return self.distribution_bw_words if self.distribution_bw_words is not None else self.num_pes

    @property
    def reduction_bw(self) -> int:
        return self.reduction_bw_words if self.reduction_bw_words is not None else self.cols

    def storage_bits(self, weight_bits: int) -> int:
        """Bits a weight occupies in this array: the narrowest supported width that holds it."""
        for b in self.weight_bits:
            if b >= weight_bits:
                return b
        raise HardwareError(f"pe: weights of {weight_bits} bits exceed the widest supported "
                            f"weight_bits={max(self.weight_bits)}")


@dataclass(frozen=True)
class FPGAPart:
    name: str
    dsp: int
    bram36: int
    lut: int
    ff: int
    uram: int = 0

    def __post_init__(self):
        for n in ("dsp", "bram36", "lut", "ff"):
            _pos(f"fpga.part {self.name}", n, getattr(self, n), integer=True)


FPGA_PARTS = {  # vendor data sheets (AMD/Xilinx DS190 7-series, DS923 UltraScale+)
    "xc7z020": FPGAPart("xc7z020", dsp=220, bram36=140, lut=53_200, ff=106_400),
    "xczu9eg": FPGAPart("xczu9eg", dsp=2_520, bram36=912, lut=274_080, ff=548_160),
    "xcvu9p": FPGAPart("xcvu9p", dsp=6_840, bram36=2_160, lut=1_182_240, ff=2_364_480, uram=960),
}


@dataclass(frozen=True)
class FPGAImpl:
    part: str = "xc7z020"
    macs_per_dsp: int = 2          # DSP packing: two int8 MACs share one DSP48 (Xilinx WP486)
    lut_per_pe: int = 60           # control/muxing around each DSP MAC
    lut_per_decoder: int = 120     # sparse engines: one index decoder per PE
    lut_base: int = 5_000          # DMA, control, interconnect

    def __post_init__(self):
        _choice("fpga", "part", self.part, tuple(FPGA_PARTS))
        _int_in("fpga", "macs_per_dsp", self.macs_per_dsp, 1, 64)
        for n in ("lut_per_pe", "lut_per_decoder", "lut_base"):
            _pos("fpga", n, getattr(self, n), integer=True, zero_ok=True, upper=10**9)


@dataclass(frozen=True)
class Accelerator:
    name: str
    platform: str = "asic"
    clock_hz: float = 1e9
    tech_node_nm: int = 45          # process node; on-chip energies scaled from 45 nm (accel_models.tech)
    energy_scale: float = 1.0       # extra factor on every on-chip energy (1.0: the node's table as is)
    pe: PEArray = field(default_factory=PEArray)
    memory: Memory = field(default_factory=Memory)
    dram: DRAM = field(default_factory=DRAM)
    glb: Buffer = field(default_factory=Buffer)
    ifmap_sram: Buffer | None = None
    filter_sram: Buffer | None = None
    ofmap_sram: Buffer | None = None
    rf: RegisterFile = field(default_factory=RegisterFile)
    fpga: FPGAImpl | None = None
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not 0 < len(self.name) <= MAX_NAME_CHARS:
            raise HardwareError(f"hardware: field 'name'={short(self.name)}; allowed: text of 1..{MAX_NAME_CHARS} "
                                "characters")
        _choice(self.name, "platform", self.platform, PLATFORMS)
        _pos(self.name, "clock_hz", self.clock_hz, lower=MIN_CLOCK_HZ, upper=MAX_CLOCK_HZ)
        _choice(self.name, "tech_node_nm", self.tech_node_nm, tuple(NODE_ENERGY_FACTOR))
        _pos(self.name, "energy_scale", self.energy_scale, lower=MIN_ENERGY_SCALE, upper=MAX_ENERGY_SCALE)
        for sec, cls in SECTIONS.items():
            v = getattr(self, sec)
            if not (isinstance(v, cls) or (v is None and sec in OPTIONAL_SECTIONS)):
                raise HardwareError(f"{self.name}: section {sec!r} is {type(v).__name__}; allowed: a {cls.__name__}")
        if not isinstance(self.description, str):
            raise HardwareError(f"{self.name}: field 'description'={short(self.description)}; allowed: text")
        per_op = [op for op in OPERANDS if getattr(self, f"{op}_sram") is not None]
        if self.memory.organization == "per_operand" and len(per_op) != 3:
            missing = [f"{op}_sram" for op in OPERANDS if op not in per_op]
            raise HardwareError(f"{self.name}: memory.organization 'per_operand' needs sections "
                                f"{', '.join(missing)} (capacity_bytes, width_bits, ...)")
        if self.memory.organization == "shared" and per_op:
            raise HardwareError(f"{self.name}: sections {', '.join(f'{o}_sram' for o in per_op)} need "
                                "memory.organization 'per_operand' (the shared organization uses 'glb')")
        if self.memory.convention != "native" and self.pe.engine not in ("systolic", "nm"):
            raise HardwareError(f"{self.name}: memory.convention {self.memory.convention!r} models systolic "
                                f"arrays only; pe.engine={self.pe.engine!r}; allowed with it: systolic, nm")
        if self.platform == "fpga" and self.fpga is None:
            raise HardwareError(f"{self.name}: platform 'fpga' needs an 'fpga' section (part, macs_per_dsp, ...)")
        if self.fpga is not None:
            self.check_fit()

    # ------------------------------------------------------------- memory
    def buffer(self, operand: str) -> Buffer:
        """The buffer that holds ``operand`` (its own SRAM, or the shared global buffer)."""
        own = getattr(self, f"{operand}_sram")
        return own if own is not None else self.glb

    def buffers(self) -> list[Buffer]:
        if self.memory.organization == "per_operand":
            return [self.ifmap_sram, self.filter_sram, self.ofmap_sram]
        return [self.glb]

    @property
    def node_factor(self) -> float:
        """On-chip energy factor against the 45 nm tables: the node's cited factor x energy_scale."""
        return NODE_ENERGY_FACTOR[self.tech_node_nm].value * self.energy_scale

    # ---------------------------------------------------------------- FPGA
    def fpga_resources(self) -> dict[str, int]:
        f = self.fpga
        pes = self.pe.num_pes
        packing = f.macs_per_dsp if max(self.pe.weight_bits) <= 8 and self.pe.act_bits <= 8 else 1
        bram = sum(b.banks * math.ceil(math.ceil(b.capacity_bytes * 8 / b.banks) / 36_864) for b in self.buffers())
        lut = f.lut_base + pes * f.lut_per_pe + (pes * f.lut_per_decoder if self.pe.engine in SPARSE_ENGINES else 0)
        return {"dsp": math.ceil(pes / packing), "bram36": bram, "lut": lut}

    def check_fit(self) -> None:
        part = FPGA_PARTS[self.fpga.part]
        need = self.fpga_resources()
        for res, used in need.items():
            have = getattr(part, res)
            if used > have:
                raise FPGAFitError(f"{self.name}: does not fit {part.name}: {res.upper()} needs {used:,}, "
                                   f"the part has {have:,} (over by {used - have:,})")

    # ------------------------------------------------------------ energies
    def mac_pj(self, weight_bits: int) -> float:
        if self.pe.mac_pj is not None:
            return self.pe.mac_pj
        return mac_pj(weight_bits, self.pe.act_bits, self.pe.acc_bits) * self.node_factor

    def decode_pj(self) -> float:
        """One index decode: an index_bits-wide add (position accumulate)."""
        return add_pj(self.pe.index_bits) * self.node_factor

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pe"]["weight_bits"] = list(self.pe.weight_bits)
        d["pe"]["nm"] = list(self.pe.nm)
        d["pe"]["cartesian"] = list(self.pe.cartesian)
        return {k: v for k, v in d.items() if v is not None}


# ------------------------------------------------------------------- loading
SECTIONS = {"pe": PEArray, "memory": Memory, "dram": DRAM, "glb": Buffer, "ifmap_sram": Buffer,
            "filter_sram": Buffer, "ofmap_sram": Buffer, "rf": RegisterFile, "fpga": FPGAImpl}
OPTIONAL_SECTIONS = ("ifmap_sram", "filter_sram", "ofmap_sram", "fpga")


def _check_fields(where: str, data: dict, cls) -> None:
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise HardwareError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                            f"allowed: {', '.join(sorted(allowed))}")


def _build(cls, where: str, data):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise HardwareError(f"{where}: expected a mapping of fields, got {short(data)}")
    _check_fields(where, data, cls)
    try:
        return cls(**data)
    except TypeError as e:
        raise HardwareError(f"{where}: {e}") from None


def _number(name: str, key: str, value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise HardwareError(f"{name}: field {key!r}={short(value)}; allowed: a number > 0") from None
    return value


def accelerator_from_dict(data: dict, name: str | None = None) -> Accelerator:
    if not isinstance(data, dict):
        raise HardwareError(f"hardware description must be a mapping, got {type(data).__name__}")
    _check_fields("hardware", data, Accelerator)
    d = dict(data)
    given = d.get("name")
    if given is not None and (isinstance(given, bool) or not isinstance(given, (str, int))):
        raise HardwareError(f"hardware: field 'name'={short(given)}; allowed: text")
    d["name"] = str(given) if given not in (None, "") else str(name or "unnamed")[:MAX_NAME_CHARS]
    for sec, cls in SECTIONS.items():
        if sec in OPTIONAL_SECTIONS:
            d[sec] = _build(cls, sec, d[sec]) if d.get(sec) is not None else None
        else:
            d[sec] = _build(cls, sec, d.get(sec))
    for key in ("clock_hz", "energy_scale"):
        if key in d:
            d[key] = _number(d["name"], key, d[key])
    if not isinstance(d.get("description", ""), str):
        raise HardwareError(f"{short(d['name'], 40)}: field 'description' must be text")
    return Accelerator(**d)


def _presets_dir() -> Path:
    return Path(str(resources.files("accel_models") / "presets"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in _presets_dir().glob("*.yaml"))


def load_accelerator(name_or_path: str | Path) -> Accelerator:
    """A shipped preset by name, or a user YAML file."""
    p = Path(name_or_path)
    user_file = p.suffix in (".yaml", ".yml")
    if user_file:
        if not p.exists():
            raise HardwareError(f"hardware file {short(str(p), 200)} not found")
    else:
        known = preset_names()
        if str(name_or_path) not in known:
            raise HardwareError(f"hardware preset {short(str(name_or_path))} unknown; shipped presets: "
                                f"{', '.join(known)} (or give a .yaml file)")
        p = _presets_dir() / f"{name_or_path}.yaml"
    try:
        data = load_unique_yaml(p)
    except YamlError as e:
        raise HardwareError(str(e)) from None
    if not user_file:
        return accelerator_from_dict(data, name=p.stem)
    try:
        return accelerator_from_dict(data, name=p.stem)
    except HardwareError as e:  # name the file the field is in
        raise type(e)(f"{p}: {e}") from None
