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
* ``rowstationary``  Eyeriss's row-stationary dataflow (Chen et al., ISCA 2016,
  JSSC 2017): logical PE sets of R filter rows x e output rows folded onto the
  ``rows x cols`` array, processing passes sized by the per-PE scratchpads
  (``filter_spad_words``, ``ifmap_spad_words``, ``psum_spad_words``) and the
  global buffer; activations run-length coded to and from DRAM
  (``rlc_run_bits``, ``rlc_word_bits``).

Memory (``memory`` section): one shared global buffer (``glb``) or per-operand
buffers (``ifmap_sram``, ``filter_sram``, ``ofmap_sram``, as SCALE-Sim and most
papers describe designs); double buffering; weights streamed per inference,
resident on chip, or ``auto`` (resident when the whole model fits); a
``convention`` naming whose traffic rules to follow (``native``, ``scalesim``,
``zigzag``; docs/cost_model.md).  DRAM bandwidth is one shared channel or one
interface per operand.

Every field's unit, default and allowed values are its ``Rule`` in the class's ``RULES``: the validator checks
values against them and ``accel_models.reference`` generates docs/hardware.md from them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from fileguard import YamlError, load_unique_yaml, short, unknown_fields

from . import engines as registry
from .rules import (  # noqa: F401  (re-exported: the hardware module's public names)
    MAX_ARRAY_SIDE, MAX_PES, MAX_EIE_QUEUE_SLOTS, MIN_RATE, MAX_RATE, MAX_PJ, MIN_CLOCK_HZ, MAX_CLOCK_HZ,
    MIN_ENERGY_SCALE, MAX_ENERGY_SCALE, MAX_NAME_CHARS, HardwareError, FPGAFitError, Rule, _pos, _choice, _flag,
    _int_in, _pair, _int_list, check, _check_fields_of, EngineParams, check_registered)
from .tech import (DRAM_PJ_PER_BIT, FPGA_FAMILY_NODE_NM, NODE_ENERGY_FACTOR, add_pj, dram_pj_per_bit,
                   fpga_energy_ratio, mac_pj, sram_access_pj)

ENGINES = ("systolic", "nm", "eie", "sigma", "scnn", "rowstationary")   # the built-ins (registry: accel_models.engines)
ENGINE_ALIASES = {"sparse": "eie"}
SPARSE_ENGINES = ("eie", "sigma", "scnn")
DATAFLOWS = ("ws", "os", "is", "ci_co")
ZERO_HANDLING = ("none", "gating", "skipping")
PLATFORMS = ("asic", "fpga")
ORGANIZATIONS = ("shared", "per_operand")
FPGA_ARITHMETIC = ("fixed", "fp32")
WEIGHT_RESIDENCY = ("streamed", "resident", "auto")
CONVENTIONS = ("native", "scalesim", "zigzag")
DRAM_INTERFACES = ("shared", "per_operand")
OPERANDS = ("ifmap", "filter", "ofmap")


_PJ = {"kind": "number", "zero_ok": True, "hi": MAX_PJ, "optional": True}
_RATE = {"kind": "number", "lo": MIN_RATE, "hi": MAX_RATE}


@dataclass(frozen=True)
class DRAM:
    kind: str = "lpddr4"
    bandwidth_bits_per_cycle: float = 128.0
    latency_cycles: int = 100
    energy_pj_per_bit: float | None = None
    write_energy_pj_per_bit: float | None = None
    interfaces: str = "shared"
    ifmap_bits_per_cycle: float | None = None
    filter_bits_per_cycle: float | None = None
    ofmap_bits_per_cycle: float | None = None
    stall_free: bool = False

    RULES = MappingProxyType({
        "kind": Rule("choice", "DRAM type: sets the energy per bit from the technology table (not the bandwidth); "
                     f"with `energy_pj_per_bit` given, any name of at most {MAX_NAME_CHARS} characters",
                     choices=tuple(DRAM_PJ_PER_BIT)),
        "bandwidth_bits_per_cycle": Rule(**_RATE, unit="bits/cycle", doc=(
            "bandwidth of the shared channel, or each per-operand interface's default; `kind` does not set it "
            "(the technology table cites no per-type bandwidth, and bits per cycle depend on the clock): give it")),
        "latency_cycles": Rule("integer", "DRAM latency, exposed once per layer (the first request)",
                               unit="cycles", zero_ok=True, hi=10**9),
        "energy_pj_per_bit": Rule("number", "read energy", unit="pJ/bit", hi=MAX_PJ, optional=True,
                                  null="from the technology table for `kind`"),
        "write_energy_pj_per_bit": Rule("number", "write energy", unit="pJ/bit", hi=MAX_PJ, optional=True,
                                        null="the read energy"),
        "interfaces": Rule("choice", "`shared`: one channel for all operands; `per_operand`: one interface each",
                           choices=DRAM_INTERFACES),
        **{f"{op}_bits_per_cycle": Rule(**_RATE, unit="bits/cycle", optional=True,
                                        doc=f"bandwidth of the {op} interface",
                                        null="`bandwidth_bits_per_cycle`",
                                        used_when=("interfaces", ("per_operand",))) for op in OPERANDS},
        "stall_free": Rule("flag", "bandwidth never limits (SCALE-Sim's CALC mode); traffic is still counted"),
    })

    def __post_init__(self):
        if self.energy_pj_per_bit is None:
            check("dram", "kind", self.kind, self.RULES["kind"])
        else:
            if not isinstance(self.kind, str) or len(self.kind) > MAX_NAME_CHARS:
                raise HardwareError(f"dram: field 'kind'={short(self.kind)}; allowed: a name (text of at most "
                                    f"{MAX_NAME_CHARS} characters)")
            _check_fields_of(self, "dram", ("energy_pj_per_bit",))
        _check_fields_of(self, "dram", ("write_energy_pj_per_bit", "bandwidth_bits_per_cycle", "latency_cycles",
                                        "interfaces", *(f"{op}_bits_per_cycle" for op in OPERANDS), "stall_free"))

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
    width_bits: int = 64
    read_pj: float | None = None
    write_pj: float | None = None
    min_access_bits: int | None = None

    RULES = MappingProxyType({
        "capacity_bytes": Rule("integer", "capacity (all banks)", unit="bytes", hi=2**40),
        "banks": Rule("integer", "banks (capacity is split evenly; each bank is priced as its own SRAM)", hi=2**20),
        "width_bits": Rule("integer", "bits per access of one bank", unit="bits", hi=2**16),
        "read_pj": Rule(**_PJ, unit="pJ/access", doc="energy of one `width_bits` read",
                        null="CACTI grid at this capacity/banks, width and node (tech.sram_access_pj)"),
        "write_pj": Rule(**_PJ, unit="pJ/access", doc="energy of one `width_bits` write",
                         null="CACTI grid at this capacity/banks, width and node (tech.sram_access_pj)"),
        "min_access_bits": Rule("int_in", "smallest transfer a port moves (read by the `zigzag` convention)",
                                unit="bits", lo=1, hi_field="width_bits", optional=True, null="`width_bits`"),
    })

    def __post_init__(self):
        _check_fields_of(self, "buffer", ("capacity_bytes", "banks", "width_bits", "read_pj", "write_pj",
                                          "min_access_bits"))

    def access_pj(self, write: bool, node_nm: int = 45, energy_scale: float = 1.0) -> float:
        """Energy of one width_bits access (read or write) of one bank at ``node_nm``."""
        given = self.write_pj if write else self.read_pj
        if given is not None:
            return given
        return sram_access_pj(self.capacity_bytes / self.banks, self.width_bits, write=write,
                              node_nm=node_nm) * energy_scale


@dataclass(frozen=True)
class RegisterFile:
    """Registers inside each PE.  Per-operand access energies may be given (e.g. ZigZag's or Accelergy's
    tables); an operand whose energy is not given is priced by the SRAM fit at this size and width."""

    capacity_bytes: int = 64
    width_bits: int = 16
    access_pj: float | None = None
    weight_access_pj: float | None = None
    act_access_pj: float | None = None
    psum_access_pj: float | None = None

    RULES = MappingProxyType({
        "capacity_bytes": Rule("integer", "register capacity per PE", unit="bytes", hi=2**30),
        "width_bits": Rule("integer", "bits per register access", unit="bits", hi=2**16),
        "access_pj": Rule(**_PJ, unit="pJ/access", doc="one `width_bits` access, any operand",
                          null="SRAM grid at this size, width and node"),
        "weight_access_pj": Rule(**_PJ, unit="pJ/access", doc="one weight read or write",
                                 null="`access_pj` per bit x the weight's bits"),
        "act_access_pj": Rule(**_PJ, unit="pJ/access", doc="one input-activation read (0: the PEs have no input "
                              "register)", null="`access_pj` per bit x the activation's bits"),
        "psum_access_pj": Rule(**_PJ, unit="pJ/access", doc="one partial-sum read or write",
                               null="`access_pj` per bit x `pe.acc_bits`"),
    })

    def __post_init__(self):
        _check_fields_of(self, "rf", ("capacity_bytes", "width_bits", "access_pj", "weight_access_pj",
                                      "act_access_pj", "psum_access_pj"))

    def pj_per_bit(self, node_nm: int = 45, energy_scale: float = 1.0) -> float:
        if self.access_pj is not None:
            return self.access_pj / self.width_bits
        return sram_access_pj(self.capacity_bytes, self.width_bits, node_nm=node_nm) * energy_scale / self.width_bits

    def operand_access_pj(self, operand: str, bits: int, node_nm: int = 45, energy_scale: float = 1.0) -> float:
        """Energy of one access of ``bits`` to ``operand``'s register (weight, act or psum)."""
        given = getattr(self, f"{operand}_access_pj")
        return given if given is not None else self.pj_per_bit(node_nm, energy_scale) * bits


@dataclass(frozen=True)
class Memory:
    organization: str = "shared"
    double_buffered: bool = True
    weights: str = "streamed"
    activations: str = "streamed"
    convention: str = "native"

    RULES = MappingProxyType({
        "organization": Rule("choice", "`shared`: `glb` holds every operand; `per_operand`: `ifmap_sram`, "
                             "`filter_sram`, `ofmap_sram`", choices=ORGANIZATIONS),
        "double_buffered": Rule("flag", "half of each buffer is filled while the other half is read"),
        "weights": Rule("choice", "weights `streamed` from DRAM every inference, `resident` on chip, or `auto` "
                        "(resident when the whole model fits)", choices=WEIGHT_RESIDENCY),
        "activations": Rule("choice", "layer inputs/outputs `streamed` via DRAM, `resident` on chip between "
                            "layers, or `auto` (resident when the layer's input and output fit)",
                            choices=WEIGHT_RESIDENCY),
        "convention": Rule("choice", "whose traffic rules price a layer (docs/cost_model.md)", choices=CONVENTIONS),
    })

    def __post_init__(self):
        _check_fields_of(self, "memory", ("organization", "double_buffered", "weights", "activations"))
        check_registered("memory", "convention", self.convention, registry.convention_names())


_SYSTOLIC = ("engine", ("systolic", "nm"))


@dataclass(frozen=True)
class PEArray:
    engine: str = "systolic"
    rows: int = 16
    cols: int = 16
    dataflow: str = "ws"
    weight_bits: tuple[int, ...] = (8,)
    act_bits: int = 8
    acc_bits: int = 32
    zero_handling: str = "none"
    gated_mac_fraction: float = 0.1
    mac_pj: float | None = None
    clock_pj_per_pe_cycle: float | None = None
    compact_zero_rows_cols: bool = True
    index_bits: int = 4
    params: object = None     # the engine's own parameters (accel_models.engines; None: it owns no field)

    RULES = MappingProxyType({
        "engine": Rule("choice", "how a layer runs (cost_model.md, Engines; `sparse` is an alias of `eie`)",
                       choices=ENGINES),
        "rows": Rule("integer", "PE rows", unit="PEs", hi=MAX_ARRAY_SIDE),
        "cols": Rule("integer", "PE columns", unit="PEs", hi=MAX_ARRAY_SIDE),
        "dataflow": Rule("choice", "weight-, output- or input-stationary, or `ci_co`: `rows` input channels x "
                         "`cols` output channels unrolled, kernel window and output pixels in time (Zhang et al., "
                         "FPGA 2015; engine `systolic` only)", choices=DATAFLOWS, used_when=_SYSTOLIC),
        "weight_bits": Rule("int_list", "weight widths the PEs accept (narrower weights are zero-extended)",
                            unit="bits", lo=1, hi=32),
        "act_bits": Rule("int_in", "activation width", unit="bits", lo=1, hi=64),
        "acc_bits": Rule("int_in", "accumulator (partial-sum) width", unit="bits", lo=1, hi=64),
        "zero_handling": Rule("choice", "MACs with a zero operand: `none` computed, `gating` energy saved, "
                              "`skipping` zero activations skipped (eie, scnn)", choices=ZERO_HANDLING),
        "gated_mac_fraction": Rule("number_in", "energy of a zero-gated MAC relative to a full one",
                                   unit="x MAC", lo=0, hi=1,
                                   used_when=("zero_handling", ("gating", "skipping"))),
        "mac_pj": Rule(**_PJ, unit="pJ/MAC", doc="energy of one MAC",
                       null="Horowitz 45 nm at these widths, scaled to the node"),
        "clock_pj_per_pe_cycle": Rule(**_PJ, unit="pJ/(PE x cycle)",
                                      doc="the clock network's energy per clock cycle, per PE (the chip's clock "
                                      "power / clock_hz / PEs, from that chip's own power breakdown; "
                                      "accel_models.tech.CLOCK_NETWORK): every cycle of a layer, stalls "
                                      "included, costs PEs x this; priced as given (no node or FPGA scaling)",
                                      null="not modelled (0): the energy has no per-cycle term"),
        "compact_zero_rows_cols": Rule("flag", "drop all-zero GEMM rows/columns (structured sparsity runs as the "
                                       "smaller dense GEMM; rowstationary: all-zero filters and input channels)",
                                       used_when=("engine", ("systolic", "nm", "rowstationary"))),
        "index_bits": Rule("int_in", "relative row-index (eie) / zero-run index (scnn) width", unit="bits",
                           lo=1, hi=32, used_when=("engine", ("eie", "scnn"))),
    })

    def __post_init__(self):
        w = "pe"
        if isinstance(self.engine, str):
            object.__setattr__(self, "engine", ENGINE_ALIASES.get(self.engine, self.engine))
        check_registered(w, "engine", self.engine, registry.engine_names())
        _check_fields_of(self, w, ("dataflow", "zero_handling", "rows", "cols"))
        pcls = registry.engine_spec(self.engine).params
        if pcls is None and self.params is not None:
            raise HardwareError(f"pe: engine {self.engine!r} takes no params; got {type(self.params).__name__}")
        if pcls is not None:
            if self.params is None:
                object.__setattr__(self, "params", pcls())
            elif not isinstance(self.params, pcls):
                raise HardwareError(f"pe: params {type(self.params).__name__} do not belong to engine "
                                    f"{self.engine!r}; allowed: {pcls.__name__} (or null: its defaults)")
        if self.rows * self.cols > MAX_PES:
            raise HardwareError(f"pe: rows*cols={self.rows * self.cols:,} PEs; allowed: at most {MAX_PES:,}")
        _check_fields_of(self, w, ("weight_bits", "act_bits", "acc_bits", "gated_mac_fraction", "mac_pj",
                                   "clock_pj_per_pe_cycle", "compact_zero_rows_cols", "index_bits"))
        if self.params is not None:
            self.params.check_with(self)

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols

    @property
    def mac_units(self) -> int:
        """Multipliers working in parallel: PEs x multipliers per PE (the engine's ``mac_units``)."""
        count = self.spec.mac_units
        return int(count(self)) if count is not None else self.num_pes

    @property
    def spec(self) -> registry.EngineSpec:
        """The engine's registration (``accel_models.engines``)."""
        spec = registry.ENGINE_REGISTRY.get(self.engine)
        if spec is None:
            raise HardwareError(f"pe: field 'engine'={short(self.engine)} is not registered (any more); "
                                f"registered: {', '.join(registry.engine_names())}")
        return spec

    @property
    def sparse(self) -> bool:
        """A sparse engine (one index decoder per PE)."""
        return self.spec.sparse

    def all_rules(self) -> MappingProxyType:
        """The Rules of this PE's YAML keys: PEArray's own and its engine's parameter class's."""
        own = {k: r for k, r in self.RULES.items()}
        return MappingProxyType({**own, **(type(self.params).RULES if self.params is not None else {})})

    def flat_dict(self) -> dict:
        """The ``pe:`` mapping as the YAML writes it: own fields and the engine's parameters side by side."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "params"}
        if self.params is not None:
            d.update({f.name: getattr(self.params, f.name) for f in fields(self.params)})
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

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
    family: str
    uram: int = 0

    def __post_init__(self):
        for n in ("dsp", "bram36", "lut", "ff"):
            _pos(f"fpga.part {self.name}", n, getattr(self, n), integer=True)
        if self.family not in FPGA_FAMILY_NODE_NM:
            raise HardwareError(f"fpga.part {self.name}: family {self.family!r}; allowed: "
                                f"{', '.join(FPGA_FAMILY_NODE_NM)}")

    @property
    def node_nm(self) -> int:
        """Process node of the part's family (accel_models.tech.FPGA_FAMILY_NODE_NM)."""
        return int(FPGA_FAMILY_NODE_NM[self.family].value)


FPGA_PARTS = {  # vendor data sheets (AMD/Xilinx DS190 Zynq-7000, DS180 7-series, DS923 UltraScale+)
    "xc7z020": FPGAPart("xc7z020", dsp=220, bram36=140, lut=53_200, ff=106_400, family="7-series"),
    "xc7vx485t": FPGAPart("xc7vx485t", dsp=2_800, bram36=1_030, lut=303_600, ff=607_200,  # DS180 (VC707 board)
                          family="7-series"),
    "xczu9eg": FPGAPart("xczu9eg", dsp=2_520, bram36=912, lut=274_080, ff=548_160, family="ultrascale+"),
    "xcvu9p": FPGAPart("xcvu9p", dsp=6_840, bram36=2_160, lut=1_182_240, ff=2_364_480, uram=960,
                       family="ultrascale+"),
}


# DSP48 slices one fp32 multiply-add lane takes: a single-precision multiplier (3 DSP48E1, "full usage") plus a
# single-precision adder (2 DSP48E1, "full usage"), Xilinx LogiCORE Floating-Point Operator v7 product guide (PG060),
# resource tables for 7-series. Zhang et al. (FPGA 2015, Table 4) report 2,240 DSPs for 64 x 7 = 448 such lanes.
FP32_MAC_DSPS = 5
BRAM18_BITS = 18_432   # one BRAM36 is two independent 18 Kb halves (7-series UG473, UltraScale UG573)


@dataclass(frozen=True)
class FPGAImpl:
    part: str = "xc7z020"
    macs_per_dsp: int = 2
    lut_per_pe: int = 60
    lut_per_decoder: int = 120
    lut_base: int = 5_000
    arithmetic: str = "fixed"

    RULES = MappingProxyType({
        "part": Rule("choice", "the FPGA part (resources from its data sheet)", choices=tuple(FPGA_PARTS)),
        "macs_per_dsp": Rule("int_in", "MACs packed into one DSP slice when weights and activations are <= 8 bits "
                             "(two int8 MACs per DSP48: Xilinx WP486)", unit="MACs/DSP", lo=1, hi=64),
        "lut_per_pe": Rule("integer", "control/muxing around each DSP MAC", unit="LUTs", zero_ok=True, hi=10**9),
        "lut_per_decoder": Rule("integer", "one index decoder per PE (sparse engines)", unit="LUTs", zero_ok=True,
                                hi=10**9),
        "lut_base": Rule("integer", "DMA, control, interconnect", unit="LUTs", zero_ok=True, hi=10**9),
        "arithmetic": Rule("choice", "`fixed`: one DSP per MAC (`macs_per_dsp` packed when <= 8 bits); `fp32`: "
                           f"{FP32_MAC_DSPS} DSPs per single-precision multiply-add (Xilinx PG060: multiplier 3 + "
                           "adder 2, full DSP usage): the MAC lanes are floating-point operators (give "
                           "`pe.weight_bits` [32] and `pe.act_bits` 32 so that energies and traffic are priced at fp32)",
                           choices=FPGA_ARITHMETIC),
    })

    def __post_init__(self):
        _check_fields_of(self, "fpga", ("part", "macs_per_dsp", "lut_per_pe", "lut_per_decoder", "lut_base",
                                        "arithmetic"))


@dataclass(frozen=True)
class Accelerator:
    name: str
    platform: str = "asic"
    clock_hz: float = 1e9
    tech_node_nm: int = 45
    energy_scale: float = 1.0
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

    RULES = MappingProxyType({
        "name": Rule("text", "the design's name in tables and plots", lo=1, hi=MAX_NAME_CHARS,
                     null="the file's name without .yaml"),
        "platform": Rule("choice", "`fpga` adds the resource check against `fpga.part` and prices every on-chip "
                         "energy the YAML does not give at the FPGA/ASIC ratio (table below)", choices=PLATFORMS),
        "clock_hz": Rule("number", "clock frequency (latency_s = cycles / clock_hz)", unit="Hz", lo=MIN_CLOCK_HZ,
                         hi=MAX_CLOCK_HZ),
        "tech_node_nm": Rule("choice", "process node: MAC, adder and decode energies are scaled from 45 nm by "
                             "the node's factor (table below); SRAM and register-file energies come from CACTI's grid "
                             "at the node (22, 32, 45, 65, 90 nm; interpolated between, factor-scaled beyond); on "
                             "`platform: fpga` give the node of `fpga.part`'s family (28 for 7-series, 16 for "
                             "UltraScale+)", unit="nm", choices=tuple(NODE_ENERGY_FACTOR)),
        "energy_scale": Rule("number", "extra factor on every on-chip energy (1.0: the node's table as is)",
                             unit="x", lo=MIN_ENERGY_SCALE, hi=MAX_ENERGY_SCALE),
        "pe": Rule("section", "the PE array"),
        "memory": Rule("section", "buffer organization, residency, traffic convention"),
        "dram": Rule("section", "off-chip memory"),
        "glb": Rule("section", "the shared global buffer",
                    used_when=("memory.organization", ("shared",))),
        **{f"{op}_sram": Rule("section", f"the {op} buffer (`memory.organization: per_operand`)", optional=True,
                              required_when="`memory.organization` is `per_operand`") for op in OPERANDS},
        "rf": Rule("section", "registers inside each PE"),
        "fpga": Rule("section", "FPGA part and resource model", optional=True, required_when="`platform` is `fpga`"),
        "description": Rule("text", "one line shown by `sparsesim presets`"),
    })

    def __post_init__(self):
        _check_fields_of(self, "hardware", ("name",))
        _check_fields_of(self, self.name, ("platform", "clock_hz", "tech_node_nm", "energy_scale"))
        for sec, cls in SECTIONS.items():
            v = getattr(self, sec)
            if not (isinstance(v, cls) or (v is None and sec in OPTIONAL_SECTIONS)):
                raise HardwareError(f"{self.name}: section {sec!r} is {type(v).__name__}; allowed: a {cls.__name__}")
        _check_fields_of(self, self.name, ("description",))
        per_op = [op for op in OPERANDS if getattr(self, f"{op}_sram") is not None]
        if self.memory.organization == "per_operand" and len(per_op) != 3:
            missing = [f"{op}_sram" for op in OPERANDS if op not in per_op]
            raise HardwareError(f"{self.name}: memory.organization 'per_operand' needs sections "
                                f"{', '.join(missing)} (capacity_bytes, width_bits, ...)")
        if self.memory.organization == "shared" and per_op:
            raise HardwareError(f"{self.name}: sections {', '.join(f'{o}_sram' for o in per_op)} need "
                                "memory.organization 'per_operand' (the shared organization uses 'glb')")
        conv_engines = registry.convention_engines(self.memory.convention)
        if conv_engines is not None and self.pe.engine not in conv_engines:
            what = ("systolic arrays" if set(conv_engines) == {"systolic", "nm"} else
                    f"engines {', '.join(conv_engines)}")
            raise HardwareError(f"{self.name}: memory.convention {self.memory.convention!r} models {what} only; "
                                f"pe.engine={self.pe.engine!r}; allowed with it: {', '.join(conv_engines)}")
        if self.pe.dataflow == "ci_co" and (self.pe.engine != "systolic" or self.memory.convention != "native"):
            raise HardwareError(f"{self.name}: pe.dataflow 'ci_co' with pe.engine={self.pe.engine!r}, "
                                f"memory.convention={self.memory.convention!r}; allowed: engine systolic, "
                                "convention native")
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
        """On-chip energy factor against the 45 nm ASIC tables: the node's cited factor x energy_scale, and on
        ``platform: fpga`` x the FPGA/ASIC dynamic energy ratio (accel_models.tech.FPGA_ENERGY).  Energies
        given in the YAML (``pe.mac_pj``, buffer ``read_pj``/``write_pj``, ``rf.*access_pj``) bypass it."""
        return NODE_ENERGY_FACTOR[self.tech_node_nm].value * self.memory_energy_scale

    @property
    def memory_energy_scale(self) -> float:
        """Factor on the CACTI grid's SRAM and register-file energies at ``tech_node_nm``: ``energy_scale``, and
        on ``platform: fpga`` x the FPGA/ASIC dynamic energy ratio (as ``node_factor`` for MACs)."""
        return self.energy_scale * (fpga_energy_ratio() if self.platform == "fpga" else 1.0)

    # ---------------------------------------------------------------- FPGA
    def fpga_resources(self) -> dict[str, int]:
        """DSP slices, BRAM (``bram18`` halves and the ``bram36`` blocks they fill) and LUTs of the design."""
        f = self.fpga
        pes = self.pe.num_pes
        packing = f.macs_per_dsp if max(self.pe.weight_bits) <= 8 and self.pe.act_bits <= 8 else 1
        dsp = pes * FP32_MAC_DSPS if f.arithmetic == "fp32" else math.ceil(pes / packing)
        bram18 = sum(b.banks * math.ceil(math.ceil(b.capacity_bytes * 8 / b.banks) / BRAM18_BITS)
                     for b in self.buffers())
        lut = f.lut_base + pes * f.lut_per_pe + (pes * f.lut_per_decoder if self.pe.sparse else 0)
        return {"dsp": dsp, "bram36": math.ceil(bram18 / 2), "lut": lut, "bram18": bram18}

    def check_fit(self) -> None:
        part = FPGA_PARTS[self.fpga.part]
        need = self.fpga_resources()
        for res in ("dsp", "bram36", "lut"):
            used = need[res]
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
        d["pe"] = self.pe.flat_dict()
        return {k: v for k, v in d.items() if v is not None}


# Rules between fields (checked in the classes above and in sparsesim when a layer is priced); listed in
# docs/hardware.md beside each field's own Rule.
CROSS_FIELD_RULES = (
    f"`pe.rows` x `pe.cols` <= {MAX_PES:,} PEs",
    f"engine `eie`: `pe.fifo_depth` x `pe.rows` x `pe.cols` <= {MAX_EIE_QUEUE_SLOTS:,} queue slots",
    ("`memory.organization: per_operand` needs all of `ifmap_sram`, `filter_sram`, `ofmap_sram`; `shared` "
     "refuses them (it uses `glb`)"),
    "`memory.convention` other than `native` needs `pe.engine` `systolic` or `nm`",
    ("`platform: fpga` needs an `fpga` section; with one, the design must fit `fpga.part`: DSPs = PEs / "
     "`macs_per_dsp` (packing only when every `weight_bits` and `act_bits` <= 8), or PEs x "
     f"{FP32_MAC_DSPS} with `fpga.arithmetic: fp32`; BRAM: each buffer bank takes whole 18 Kb halves, two per "
     "BRAM36; LUTs = `lut_base` + PEs x `lut_per_pe` (+ PEs x `lut_per_decoder` for "
     f"{', '.join(SPARSE_ENGINES)})"),
    "`pe.dataflow: ci_co` needs `pe.engine: systolic` and `memory.convention: native`",
    "`dram.kind` may be any name when `dram.energy_pj_per_bit` is given",
    "a layer whose weights are wider than the widest `pe.weight_bits` is refused when it is priced",
)


# ------------------------------------------------------------------- loading
SECTIONS = {"pe": PEArray, "memory": Memory, "dram": DRAM, "glb": Buffer, "ifmap_sram": Buffer,
            "filter_sram": Buffer, "ofmap_sram": Buffer, "rf": RegisterFile, "fpga": FPGAImpl}
OPTIONAL_SECTIONS = ("ifmap_sram", "filter_sram", "ofmap_sram", "fpga")


def _check_fields(where: str, data: dict, cls) -> None:
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise HardwareError(f"{where}: {unknown_fields(unknown, allowed)}; allowed: {', '.join(sorted(allowed))}")


def _build_pe(data) -> PEArray:
    """``pe:``: PEArray's own keys, and the keys of the chosen engine's parameter class built into ``params``;
    a key of another engine is one line naming the field, the engines it belongs to and the allowed fields."""
    own = [f.name for f in fields(PEArray) if f.name != "params"]
    engine = data.get("engine", "systolic")
    engine = ENGINE_ALIASES.get(engine, engine) if isinstance(engine, str) else engine
    check_registered("pe", "engine", engine, registry.engine_names())
    spec = registry.engine_spec(engine)
    mine = spec.param_fields()
    allowed = sorted({*own, *mine})
    for key in sorted(set(data) - set(allowed), key=str):
        owners = registry.engine_of_field(key) if isinstance(key, str) else ()
        if owners:
            raise HardwareError(f"pe: field {key!r} belongs to engine {', '.join(owners)}, not pe.engine="
                                f"{engine!r}; allowed: {', '.join(allowed)}")
    unknown = sorted(set(data) - set(allowed), key=str)
    if unknown:
        raise HardwareError(f"pe: {unknown_fields(unknown, allowed)}; allowed: {', '.join(allowed)}")
    params = None
    if spec.params is not None:
        try:
            params = spec.params(**{k: v for k, v in data.items() if k in mine})
        except TypeError as e:
            raise HardwareError(f"pe: {e}") from None
    try:
        return PEArray(**{k: v for k, v in data.items() if k not in mine}, params=params)
    except TypeError as e:
        raise HardwareError(f"pe: {e}") from None


def _build(cls, where: str, data):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise HardwareError(f"{where}: expected a mapping of fields, got {short(data)}")
    if cls is PEArray:
        return _build_pe(data)
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
    return read_hardware(name_or_path)[0]


def read_hardware(name_or_path: str | Path) -> tuple[Accelerator, dict]:
    """(description, the YAML mapping it was built from) of a shipped preset by name or a user YAML file; the
    mapping tells which fields the file gave (``accel_models.reference.defaults_used``)."""
    p = Path(name_or_path)
    user_file = is_hardware_file(name_or_path)
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
        return accelerator_from_dict(data, name=p.stem), data
    try:
        return accelerator_from_dict(data, name=p.stem), data
    except HardwareError as e:  # name the file the field is in
        raise type(e)(f"{p}: {e}") from None


def is_hardware_file(name_or_path: str | Path) -> bool:
    """A user YAML file (by its suffix), not a preset name."""
    return Path(name_or_path).suffix in (".yaml", ".yml")

