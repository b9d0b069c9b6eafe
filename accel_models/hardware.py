"""Hardware descriptions: frozen, validated dataclasses built from YAML.

Descriptions only: sizes, widths, clocks, energies per action, FPGA budgets.
How a layer runs on them is ``sparsesim``'s business.  Units are in the field
names (``_bytes``, ``_bits``, ``_hz``, ``_pj``, ``_cycles``).

Engines (``pe.engine``):

* ``systolic``  dense R x C array, dataflow ``ws``/``os``/``is``.  All-zero
  GEMM rows/columns are compacted away (structured sparsity runs as the smaller
  dense GEMM); zeros left inside are computed (``zero_handling: gating`` saves
  the multiplier's energy on them, never cycles).
* ``sparse``    EIE-style: ``rows*cols`` PEs, GEMM rows interleaved over PEs,
  CSC weights with ``index_bits``-bit relative row indices (padding entries when
  a gap overflows), one decoder per PE, zero activations skipped.
* ``nm``        N:M engine (sparse tensor core style): a systolic array whose K
  dimension is compressed by N/M, with ceil(log2 M)-bit metadata per kept weight;
  layers that are not N:M-sparse run dense.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

from pruning.yamlio import DuplicateKeyError, load_unique_yaml

from .tech import DRAM_PJ_PER_BIT, add_pj, dram_pj_per_bit, mac_pj, sram_access_pj

ENGINES = ("systolic", "sparse", "nm")
DATAFLOWS = ("ws", "os", "is")
ZERO_HANDLING = ("none", "gating", "skipping")
PLATFORMS = ("asic", "fpga")


class HardwareError(ValueError):
    """An invalid hardware description; names the field, the value and what is allowed."""


class FPGAFitError(HardwareError):
    """A design that exceeds its FPGA part; names the resource and the overflow."""


def _pos(where: str, name: str, value, integer: bool = False, zero_ok: bool = False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (value < 0 if zero_ok else value <= 0) or (
            isinstance(value, float) and not math.isfinite(value)):
        kind = "an integer" if integer else "a number"
        bound = ">= 0" if zero_ok else "> 0"
        raise HardwareError(f"{where}: field {name!r}={value!r}; allowed: {kind} {bound}")
    return value


def _choice(where: str, name: str, value, allowed) -> str:
    if value not in allowed:
        raise HardwareError(f"{where}: field {name!r}={value!r}; allowed: {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class DRAM:
    kind: str = "lpddr4"
    bandwidth_bits_per_cycle: float = 128.0
    latency_cycles: int = 100
    energy_pj_per_bit: float | None = None  # None: from the technology table for ``kind``

    def __post_init__(self):
        if self.energy_pj_per_bit is None:
            _choice("dram", "kind", self.kind, tuple(DRAM_PJ_PER_BIT))
        else:
            _pos("dram", "energy_pj_per_bit", self.energy_pj_per_bit)
        _pos("dram", "bandwidth_bits_per_cycle", self.bandwidth_bits_per_cycle)
        _pos("dram", "latency_cycles", self.latency_cycles, integer=True, zero_ok=True)

    @property
    def pj_per_bit(self) -> float:
        return self.energy_pj_per_bit if self.energy_pj_per_bit is not None else dram_pj_per_bit(self.kind)


@dataclass(frozen=True)
class Buffer:
    """An SRAM (global buffer or per-PE scratchpad)."""

    capacity_bytes: int = 128 * 1024
    banks: int = 1
    width_bits: int = 64
    energy_pj_per_access: float | None = None  # None: Horowitz curve at capacity/banks

    def __post_init__(self):
        _pos("buffer", "capacity_bytes", self.capacity_bytes, integer=True)
        _pos("buffer", "banks", self.banks, integer=True)
        _pos("buffer", "width_bits", self.width_bits, integer=True)
        if self.energy_pj_per_access is not None:
            _pos("buffer", "energy_pj_per_access", self.energy_pj_per_access)

    def pj_per_bit(self, energy_scale: float = 1.0) -> float:
        if self.energy_pj_per_access is not None:
            return self.energy_pj_per_access / self.width_bits
        return sram_access_pj(self.capacity_bytes / self.banks, self.width_bits, energy_scale) / self.width_bits


@dataclass(frozen=True)
class RegisterFile:
    capacity_bytes: int = 64
    width_bits: int = 16

    def __post_init__(self):
        _pos("rf", "capacity_bytes", self.capacity_bytes, integer=True)
        _pos("rf", "width_bits", self.width_bits, integer=True)

    def pj_per_bit(self, energy_scale: float = 1.0) -> float:
        return sram_access_pj(self.capacity_bytes, self.width_bits, energy_scale) / self.width_bits


@dataclass(frozen=True)
class PEArray:
    engine: str = "systolic"
    rows: int = 16
    cols: int = 16
    dataflow: str = "ws"
    weight_bits: tuple[int, ...] = (8,)     # bit-widths the PEs accept (narrower weights are zero-extended)
    act_bits: int = 8
    acc_bits: int = 32
    zero_handling: str = "none"             # activations/weights equal to zero: none | gating | skipping
    gated_mac_fraction: float = 0.1         # energy of a zero-gated MAC relative to a full one
    index_bits: int = 4                     # sparse engine: relative row-index width
    decode_entries_per_cycle: float = 1.0   # sparse engine: entries one PE decodes per cycle
    nm: tuple[int, int] = (2, 4)            # nm engine pattern
    compact_zero_rows_cols: bool = True     # systolic/nm: drop all-zero GEMM rows/columns

    def __post_init__(self):
        w = "pe"
        _choice(w, "engine", self.engine, ENGINES)
        _choice(w, "dataflow", self.dataflow, DATAFLOWS)
        _choice(w, "zero_handling", self.zero_handling, ZERO_HANDLING)
        _pos(w, "rows", self.rows, integer=True)
        _pos(w, "cols", self.cols, integer=True)
        bits = self.weight_bits if isinstance(self.weight_bits, (list, tuple)) else (self.weight_bits,)
        if not bits or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 32 for b in bits):
            raise HardwareError(f"pe: field 'weight_bits'={self.weight_bits!r}; allowed: integers in 1..32")
        object.__setattr__(self, "weight_bits", tuple(sorted(bits)))
        for name in ("act_bits", "acc_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
                raise HardwareError(f"pe: field {name!r}={v!r}; allowed: an integer in 1..64")
        if not 0 <= self.gated_mac_fraction <= 1 or isinstance(self.gated_mac_fraction, bool):
            raise HardwareError(f"pe: field 'gated_mac_fraction'={self.gated_mac_fraction!r}; allowed: [0, 1]")
        if isinstance(self.index_bits, bool) or not isinstance(self.index_bits, int) or not 1 <= self.index_bits <= 32:
            raise HardwareError(f"pe: field 'index_bits'={self.index_bits!r}; allowed: an integer in 1..32")
        _pos(w, "decode_entries_per_cycle", self.decode_entries_per_cycle)
        nm = tuple(self.nm)
        if len(nm) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in nm) or not 0 < nm[0] <= nm[1]:
            raise HardwareError(f"pe: field 'nm'={self.nm!r}; allowed: [N, M] with 0 < N <= M")
        object.__setattr__(self, "nm", nm)

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols

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
    lut_per_decoder: int = 120     # sparse engine: one index decoder per PE
    lut_base: int = 5_000          # DMA, control, interconnect

    def __post_init__(self):
        _choice("fpga", "part", self.part, tuple(FPGA_PARTS))
        for n in ("macs_per_dsp", "lut_per_pe", "lut_per_decoder", "lut_base"):
            _pos("fpga", n, getattr(self, n), integer=True, zero_ok=n != "macs_per_dsp")


@dataclass(frozen=True)
class Accelerator:
    name: str
    platform: str = "asic"
    clock_hz: float = 1e9
    pe: PEArray = field(default_factory=PEArray)
    dram: DRAM = field(default_factory=DRAM)
    glb: Buffer = field(default_factory=Buffer)
    rf: RegisterFile = field(default_factory=RegisterFile)
    energy_scale: float = 1.0      # explicit process-node factor on every on-chip energy (1.0 = 45 nm)
    fpga: FPGAImpl | None = None
    description: str = ""

    def __post_init__(self):
        _choice(self.name, "platform", self.platform, PLATFORMS)
        _pos(self.name, "clock_hz", self.clock_hz)
        _pos(self.name, "energy_scale", self.energy_scale)
        if self.platform == "fpga" and self.fpga is None:
            raise HardwareError(f"{self.name}: platform 'fpga' needs an 'fpga' section (part, macs_per_dsp, ...)")
        if self.fpga is not None:
            self.check_fit()

    # ---------------------------------------------------------------- FPGA
    def fpga_resources(self) -> dict[str, int]:
        f = self.fpga
        pes = self.pe.num_pes
        packing = f.macs_per_dsp if max(self.pe.weight_bits) <= 8 and self.pe.act_bits <= 8 else 1
        bank_bits = math.ceil(self.glb.capacity_bytes * 8 / self.glb.banks)
        bram = self.glb.banks * math.ceil(bank_bits / 36_864)
        lut = f.lut_base + pes * f.lut_per_pe + (pes * f.lut_per_decoder if self.pe.engine == "sparse" else 0)
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
        return mac_pj(weight_bits, self.pe.act_bits, self.pe.acc_bits, self.energy_scale)

    def decode_pj(self) -> float:
        """One index decode: an index_bits-wide add (position accumulate)."""
        return add_pj(self.pe.index_bits, self.energy_scale)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pe"]["weight_bits"] = list(self.pe.weight_bits)
        d["pe"]["nm"] = list(self.pe.nm)
        return d


# ------------------------------------------------------------------- loading
def _check_fields(where: str, data: dict, cls) -> None:
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise HardwareError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                            f"allowed: {', '.join(sorted(allowed))}")


def _build(cls, where: str, data):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise HardwareError(f"{where}: expected a mapping, got {data!r}")
    _check_fields(where, data, cls)
    try:
        return cls(**data)
    except TypeError as e:
        raise HardwareError(f"{where}: {e}") from None


def accelerator_from_dict(data: dict, name: str | None = None) -> Accelerator:
    if not isinstance(data, dict):
        raise HardwareError(f"hardware description must be a mapping, got {type(data).__name__}")
    _check_fields("hardware", data, Accelerator)
    d = dict(data)
    d["name"] = str(d.get("name") or name or "unnamed")
    d["pe"] = _build(PEArray, "pe", d.get("pe"))
    d["dram"] = _build(DRAM, "dram", d.get("dram"))
    d["glb"] = _build(Buffer, "glb", d.get("glb"))
    d["rf"] = _build(RegisterFile, "rf", d.get("rf"))
    d["fpga"] = _build(FPGAImpl, "fpga", d["fpga"]) if d.get("fpga") is not None else None
    for key in ("clock_hz", "energy_scale"):
        if key in d and isinstance(d[key], str):
            try:
                d[key] = float(d[key])
            except ValueError:
                raise HardwareError(f"{d['name']}: field {key!r}={d[key]!r}; allowed: a number > 0") from None
    return Accelerator(**d)


def _presets_dir() -> Path:
    return Path(str(resources.files("accel_models") / "presets"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in _presets_dir().glob("*.yaml"))


def load_accelerator(name_or_path: str | Path) -> Accelerator:
    """A shipped preset by name, or a user YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise HardwareError(f"hardware file {p} not found")
    else:
        p = _presets_dir() / f"{name_or_path}.yaml"
        if not p.exists():
            raise HardwareError(f"hardware preset {name_or_path!r} unknown; shipped presets: "
                                f"{', '.join(preset_names())} (or give a .yaml file)")
    try:
        data = load_unique_yaml(p)
    except DuplicateKeyError as e:
        raise HardwareError(f"{p}: {e}") from None
    return accelerator_from_dict(data, name=p.stem)
