"""A hardware description from a SCALE-Sim v3 ``.cfg`` file (and the SCALE-Sim convention it implies).

Read: ``[general] run_name``; ``[architecture_presets]`` ArrayHeight,
ArrayWidth, IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB, Dataflow, Bandwidth;
``[run_presets] InterfaceBandwidth`` (USER or CALC); ``[layout]``
IfmapSRAMBankBandwidth and FilterSRAMBankBandwidth (optional; SCALE-Sim uses
them as the ifmap and filter DRAM bandwidths in USER mode, and ``Bandwidth`` as
the ofmap's).  Offsets, request buffers, bank and port counts, Ramulator and
sparsity options do not change what SCALE-Sim reports for the layers modelled
here and are accepted as written.

The result: a ``systolic`` array (``nm`` when ``SparsitySupport`` is true) of
ArrayHeight x ArrayWidth, one-byte words for every operand (SCALE-Sim's
``word_size = 1``), three double-buffered per-operand SRAMs, one DRAM interface
per operand (USER) or a stall-free DRAM (CALC), ``memory.convention:
scalesim``.  Energies keep this toolkit's defaults (SCALE-Sim reports none).
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from fileguard import ReadRefused, read_regular

from .hardware import Accelerator, HardwareError, accelerator_from_dict

SCALESIM_DATAFLOWS = ("ws", "os", "is")   # SCALE-Sim's three; `ci_co` is this toolkit's own

REQUIRED = {"general": ("run_name",),
            "architecture_presets": ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB",
                                     "OfmapSramSzkB", "Dataflow"),
            "run_presets": ("InterfaceBandwidth",)}
MAX_FILE_BYTES = 1024 * 1024
WORD_BITS = 8


def _line_of(text: str, section: str, key: str) -> int:
    """Line number of ``key`` inside ``[section]`` (of the section header when the key is absent)."""
    lines = text.splitlines()
    sec_line, in_sec = 0, False
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if s.startswith("["):
            in_sec = s.strip("[]").strip().lower() == section.lower()
            sec_line = i if in_sec else sec_line
        elif in_sec and re.match(rf"{re.escape(key)}\s*[:=]", s, re.IGNORECASE):
            return i
    return sec_line or 1


class _Cfg:
    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            raise HardwareError(f"SCALE-Sim config {path} not found")
        try:
            self.text = read_regular(path, MAX_FILE_BYTES, "SCALE-Sim config").decode("utf-8", errors="replace")
        except ReadRefused as e:   # a directory, a FIFO or device, too large: one line naming it
            raise HardwareError(str(e)) from None
        self.cp = configparser.ConfigParser(interpolation=None)
        try:
            self.cp.read_string(self.text, source=str(path))
        except configparser.Error as e:
            first = str(e).splitlines()[0][:200]
            raise HardwareError(f"{path}: not a SCALE-Sim .cfg: {first}") from None

    def where(self, section: str, key: str) -> str:
        return f"{self.path}: line {_line_of(self.text, section, key)}"

    def get(self, section: str, key: str, default: str | None = None) -> str:
        if not self.cp.has_section(section):
            if default is not None:
                return default
            raise HardwareError(f"{self.path}: missing section [{section}] (needs {key})")
        if not self.cp.has_option(section, key):
            if default is not None:
                return default
            raise HardwareError(f"{self.where(section, key)}: missing field {key!r} in [{section}]")
        return self.cp.get(section, key).strip()

    def positive_int(self, section: str, key: str, default: str | None = None) -> int:
        text = self.get(section, key, default)
        try:
            v = int(text.split(",")[0].strip())
        except ValueError:
            v = 0
        if v < 1:
            raise HardwareError(f"{self.where(section, key)}: field {key!r}={text[:40]!r}; allowed: a positive "
                                "integer")
        return v


def accelerator_from_scalesim_cfg(path: str | Path) -> Accelerator:
    cfg = _Cfg(Path(path))
    for section, keys in REQUIRED.items():
        for key in keys:
            cfg.get(section, key)
    arch = "architecture_presets"
    dataflow = cfg.get(arch, "Dataflow").lower()
    if dataflow not in SCALESIM_DATAFLOWS:
        raise HardwareError(f"{cfg.where(arch, 'Dataflow')}: field 'Dataflow'={dataflow[:20]!r}; allowed: "
                            f"{', '.join(SCALESIM_DATAFLOWS)}")
    mode = cfg.get("run_presets", "InterfaceBandwidth").upper()
    if mode not in ("USER", "CALC"):
        raise HardwareError(f"{cfg.where('run_presets', 'InterfaceBandwidth')}: field 'InterfaceBandwidth'="
                            f"{mode[:20]!r}; allowed: USER, CALC")
    sram = {op: {"capacity_bytes": cfg.positive_int(arch, f"{name}SramSzkB") * 1024, "width_bits": WORD_BITS}
            for op, name in (("ifmap", "Ifmap"), ("filter", "Filter"), ("ofmap", "Ofmap"))}
    if mode == "USER":
        bw = cfg.positive_int(arch, "Bandwidth")
        dram = {"interfaces": "per_operand", "bandwidth_bits_per_cycle": bw * WORD_BITS,
                "ifmap_bits_per_cycle": cfg.positive_int("layout", "IfmapSRAMBankBandwidth", str(bw)) * WORD_BITS,
                "filter_bits_per_cycle": cfg.positive_int("layout", "FilterSRAMBankBandwidth", str(bw)) * WORD_BITS,
                "ofmap_bits_per_cycle": bw * WORD_BITS, "latency_cycles": 1}
    else:
        dram = {"stall_free": True, "bandwidth_bits_per_cycle": 10 * WORD_BITS, "latency_cycles": 1}
    sparse = cfg.get("sparsity", "SparsitySupport", "false").lower() == "true"
    return accelerator_from_dict({
        "name": cfg.get("general", "run_name") or Path(path).stem,
        "description": f"from SCALE-Sim config {Path(path).name} ({mode} bandwidth)",
        "pe": {"engine": "nm" if sparse else "systolic", "rows": cfg.positive_int(arch, "ArrayHeight"),
               "cols": cfg.positive_int(arch, "ArrayWidth"), "dataflow": dataflow, "weight_bits": [WORD_BITS],
               "act_bits": WORD_BITS, "compact_zero_rows_cols": False},
        "memory": {"organization": "per_operand", "double_buffered": True, "weights": "streamed",
                   "convention": "scalesim"},
        "ifmap_sram": sram["ifmap"], "filter_sram": sram["filter"], "ofmap_sram": sram["ofmap"], "dram": dram})


# ------------------------------------------------------------------ writing
CFG_TEMPLATE = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {ofmap_bw}
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {ifmap_bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {filter_bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: {sparse}
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: {block}
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def _run_name(name: str) -> str:
    """SCALE-Sim names its output folder after run_name: letters, digits, '_', '-' and '.' only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "run"


def scalesim_cfg_text(acc: Accelerator) -> str:
    """The SCALE-Sim v3 ``.cfg`` of a systolic (or N:M) description; ``accelerator_from_scalesim_cfg`` reads it back.

    SCALE-Sim counts one-byte words: SRAM sizes are written byte for byte (whole KiB, rounded down, at least 1), a
    shared ``glb`` is split into three equal per-operand SRAMs, and DRAM bandwidths become words/cycle
    (bits / 8, rounded, at least 1; a shared channel gives every operand the whole channel).  ``stall_free`` DRAM
    is SCALE-Sim's CALC mode, any other USER.  ``pe.engine: nm`` turns SparsitySupport on (BlockSize = M)."""
    if acc.pe.engine not in ("systolic", "nm"):
        raise HardwareError(f"{acc.name}: pe.engine={acc.pe.engine!r}; SCALE-Sim models systolic arrays; allowed for "
                            "a SCALE-Sim export: systolic, nm")
    if acc.pe.dataflow not in SCALESIM_DATAFLOWS:
        raise HardwareError(f"{acc.name}: pe.dataflow={acc.pe.dataflow!r} has no SCALE-Sim equivalent; allowed for "
                            f"a SCALE-Sim export: {', '.join(SCALESIM_DATAFLOWS)}")
    if acc.memory.organization == "per_operand":
        sizes = [acc.buffer(op).capacity_bytes for op in ("ifmap", "filter", "ofmap")]
    else:
        sizes = [acc.glb.capacity_bytes // 3] * 3
    kb = [max(1, s // 1024) for s in sizes]
    bw = [max(1, round(acc.dram.operand_bandwidth(op) / WORD_BITS)) for op in ("ifmap", "filter", "ofmap")]
    return CFG_TEMPLATE.format(
        run_name=_run_name(acc.name), rows=acc.pe.rows, cols=acc.pe.cols, ifmap_kb=kb[0], filter_kb=kb[1],
        ofmap_kb=kb[2], ifmap_bw=bw[0], filter_bw=bw[1], ofmap_bw=bw[2], dataflow=acc.pe.dataflow,
        sparse="true" if acc.pe.engine == "nm" else "false", block=acc.pe.params.nm[1] if acc.pe.engine == "nm" else 4,
        mode="CALC" if acc.dram.stall_free else "USER")
