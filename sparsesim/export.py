"""Workloads out to the tools accelerator architects use: SCALE-Sim v3 and Timeloop/Accelergy (timeloopfe v4).

Pure functions from workloads (``sparsesim.workload.from_artifact``, or any other source) and a hardware
description (``accel_models``) to file texts; ``export_scalesim`` / ``export_timeloop`` write them.  docs/export.md
says what every field means.

SCALE-Sim (``topology.csv`` + ``layout.csv`` + ``scalesim.cfg``):

* conv format (default): one row per conv layer, ``IFMAP Height/Width`` = input + padding before and after (SCALE-Sim
  does not pad) less trailing rows/columns no window reads (``scalesim_ifmap_hw``), one ``Strides`` (square
  strides only), ``Sparsity`` "N:M" when a layer is N:M-pruned ("1:1" for the others, written only when some layer
  is N:M).  A linear layer is a 1x1 convolution over a 1 x 1 ifmap of
  ``in_features`` channels (batch B: a B x 1 ifmap), SCALE-Sim's own way of writing fully connected layers.  A
  grouped conv becomes one row per group (``NAME.gI``).  Batch > 1 on a conv, dilation and non-square strides have
  no conv-format row: use the GEMM format;
* GEMM format: ``Layer, M, N, K`` with SCALE-Sim's naming (M = output pixels x batch, N = filters, K = inputs per
  filter), any layer;
* SCALE-Sim reads ``Sparsity`` as the last column of a row and splits names containing ``DP`` into depthwise
  layers, so nothing else is written and such names (and commas) are refused.

Timeloop (``arch.yaml``, ``mapper.yaml``, one ``problem_<layer>.yaml`` per layer): the v4 ``conv2D`` problem
(a linear layer is the 1x1 case, a grouped conv adds a ``G`` dimension), instance dims, strides and dilations as
coefficients, and ``densities`` for ``Weights`` (the nonzero fraction of the real weight mask; ``fixed_structured``
for N:M, ``hypergeometric`` otherwise) and ``Inputs`` (the measured activation density, 1.0 when not measured).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from accel_models.hardware import Accelerator
from accel_models.scalesim_cfg import scalesim_cfg_text

from .conventions.scalesim import scalesim_ifmap_hw
from .workload import LayerWorkload, WorkloadError

FORMATS = ("conv", "gemm")
TIMELOOP_VERSION = 0.4
LAYOUT_HEADER = ("Layer name", "IFMAP Height Intraline Factor", "IFMAP Width Intraline Factor",
                 "Filter Height Intraline Factor", "Filter Width Intraline Factor", "Channel Intraline Factor",
                 "Num Filter Intraline Factor", "IFMAP Height Intraline Order", "IFMAP Width Intraline Order",
                 "Channel Intraline Order", "IFMAP Height Interline Order", "IFMAP Width Interline Order",
                 "Channel Interline Order", "Num Filter Intraline Order", "Channel Intraline Order",
                 "Filter Height Intraline Order", "Filter Width Intraline Order", "Num Filter Interline Order",
                 "Channel Interline Order", "Filter Height Interline Order", "Filter Width Interline Order")
LAYOUT_ROW = ("1",) * 6 + ("0", "1", "2") * 3 + ("0", "1", "2", "3") * 2   # unused with custom layouts off


class ExportError(WorkloadError):
    """A layer the target format cannot express; the message names the layer and what to do."""


# ------------------------------------------------------------------ per-layer facts
def nm_of(w: LayerWorkload) -> tuple[int, int] | None:
    """The layer's N:M pattern (an artifact's ``sparsity.nm``, or a SCALE-Sim topology's ``Sparsity``)."""
    nm = w.geometry.get("nm") or w.geometry.get("scalesim_nm")
    return (int(nm[0]), int(nm[1])) if nm else None


def weight_density(w: LayerWorkload) -> float:
    """Nonzero fraction of the layer's real weight matrix."""
    return w.nnz / (w.M * w.K)


def _conv_dims(w: LayerWorkload) -> tuple[int, int, int, int]:
    """(kernel h, kernel w, channels per group, groups) of a conv workload; an error when geometry is missing."""
    kernel = w.geometry.get("kernel")
    if not kernel or not w.geometry.get("input_hw") or not w.geometry.get("output_hw"):
        raise ExportError(f"layer {w.name!r}: conv geometry unknown (kernel, input_hw, output_hw); export needs a "
                          "workload from an artifact, a model and an example input, or a topology")
    r, s = int(kernel[0]), int(kernel[1])
    if w.K % (r * s):
        raise ExportError(f"layer {w.name!r}: K={w.K} is not a multiple of the kernel {r}x{s}")
    return r, s, w.K // (r * s), w.groups


def _check_name(name: str) -> None:
    if not name or any(c in name for c in ",\n\r\"") or "DP" in name:
        raise ExportError(f"layer name {name[:80]!r}: SCALE-Sim splits rows at commas and treats names containing "
                          "'DP' as depthwise; allowed: a name without ',', quotes, newlines or 'DP'")


# ------------------------------------------------------------------ SCALE-Sim
@dataclass(frozen=True)
class ScaleSimRow:
    """One topology row: conv geometry (IFMAP sizes include padding) or, for the GEMM format, (M, N, K)."""

    name: str
    dims: tuple[int, ...]          # conv: (H, W, R, S, C, filters, stride); gemm: (M, N, K)
    nm: tuple[int, int] | None


def _conv_rows(w: LayerWorkload) -> list[ScaleSimRow]:
    nm = nm_of(w)
    if w.kind == "linear":
        return [ScaleSimRow(w.name, (w.batch, 1, 1, 1, w.K, w.M, 1), nm)]
    r, s, c, g = _conv_dims(w)
    geo = w.geometry
    stride, dilation = tuple(geo.get("stride", (1, 1))), tuple(geo.get("dilation", (1, 1)))
    why = (f"batch {w.batch} > 1" if w.batch != 1 else f"stride {stride} is not square" if stride[0] != stride[1]
           else f"dilation {dilation}" if dilation != (1, 1) else None)
    if why:
        raise ExportError(f"layer {w.name!r}: {why}: no SCALE-Sim conv-format row for it; use the GEMM format "
                          "(--scalesim-format gemm)")
    dims = (*scalesim_ifmap_hw(geo), r, s, c, w.M // g, stride[0])
    out = (math.ceil((dims[0] - r + stride[0]) / stride[0]), math.ceil((dims[1] - s + stride[0]) / stride[0]))
    if out != tuple(geo["output_hw"]):   # cannot happen for a consistent geometry; kept as a guard
        raise ExportError(f"layer {w.name!r}: SCALE-Sim would compute outputs {out}, the layer has "
                          f"{tuple(geo['output_hw'])}; use the GEMM format (--scalesim-format gemm)")
    return [ScaleSimRow(w.name if g == 1 else f"{w.name}.g{i}", dims, nm) for i in range(g)]


def _gemm_rows(w: LayerWorkload) -> list[ScaleSimRow]:
    g = w.groups
    return [ScaleSimRow(w.name if g == 1 else f"{w.name}.g{i}", (w.columns, w.M // g, w.K), nm_of(w))
            for i in range(g)]


def scalesim_rows(workloads: list[LayerWorkload], fmt: str = "conv") -> list[ScaleSimRow]:
    """The topology rows of ``workloads`` in SCALE-Sim's ``conv`` or ``gemm`` format."""
    if fmt not in FORMATS:
        raise ExportError(f"SCALE-Sim format {fmt!r}; allowed: {', '.join(FORMATS)}")
    rows = [row for w in workloads for row in (_conv_rows(w) if fmt == "conv" else _gemm_rows(w))]
    seen: set[str] = set()
    for row in rows:
        _check_name(row.name)
        if row.name in seen:
            raise ExportError(f"layer name {row.name[:80]!r} appears twice; allowed: unique layer names")
        seen.add(row.name)
    return rows


def scalesim_topology_csv(workloads: list[LayerWorkload], fmt: str = "conv") -> str:
    """SCALE-Sim v3 topology text (every row ends with a comma: SCALE-Sim drops the last field of a row)."""
    rows = scalesim_rows(workloads, fmt)
    sparsity = any(r.nm for r in rows)
    head = (["Layer", "M", "N", "K"] if fmt == "gemm" else
            ["Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter",
             "Strides"]) + (["Sparsity"] if sparsity else [])
    lines = [", ".join(head) + ","]
    for r in rows:
        cells = [r.name, *map(str, r.dims)] + ([f"{r.nm[0]}:{r.nm[1]}" if r.nm else "1:1"] if sparsity else [])
        lines.append(", ".join(cells) + ",")
    return "\n".join(lines) + "\n"


def scalesim_layout_csv(workloads: list[LayerWorkload], fmt: str = "conv") -> str:
    """The layout file SCALE-Sim's reader needs (one row per topology row; unused with custom layouts off)."""
    lines = [",".join(LAYOUT_HEADER) + ","]
    lines += [",".join((r.name, *LAYOUT_ROW)) + "," for r in scalesim_rows(workloads, fmt)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ Timeloop
def timeloop_problem(w: LayerWorkload, act_density: float | None = None) -> dict:
    """The timeloopfe v4 ``problem`` of one layer (a ``conv2D`` shape; ``G`` added for a grouped conv)."""
    if w.kind == "linear":
        r = s = p = q = 1
        c, strides, dilations = w.K, (1, 1), (1, 1)
    else:
        kh, kw, c, _ = _conv_dims(w)
        r, s = kw, kh                                        # Timeloop: R, P along the width; S, Q along the height
        q, p = (int(x) for x in w.geometry["output_hw"])
        strides = tuple(int(x) for x in w.geometry.get("stride", (1, 1)))
        dilations = tuple(int(x) for x in w.geometry.get("dilation", (1, 1)))
    g = w.groups
    a = w.act_density if act_density is None else act_density
    if not 0.0 <= a <= 1.0:
        raise ExportError(f"layer {w.name!r}: activation density {a}; allowed: a number in [0, 1]")
    nm = nm_of(w)
    grouped = [[["G"]]] if g > 1 else []
    data_spaces = [
        {"name": "Weights", "projection": grouped + [[["C"]], [["M"]], [["R"]], [["S"]]]},
        {"name": "Inputs", "projection": [[["N"]]] + grouped + [[["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                                                 [["S", "Hdilation"], ["Q", "Hstride"]]]},
        {"name": "Outputs", "projection": [[["N"]]] + grouped + [[["M"]], [["Q"]], [["P"]]], "read_write": True}]
    instance = {**({"G": g} if g > 1 else {}), "C": c, "M": w.M // g, "R": r, "S": s, "N": w.batch, "P": p, "Q": q,
                "Wstride": strides[1], "Hstride": strides[0], "Wdilation": dilations[1], "Hdilation": dilations[0],
                "densities": {
                    "Weights": {"density": weight_density(w),
                                "distribution": "fixed_structured" if nm else "hypergeometric"},
                    "Inputs": {"density": float(a), "distribution": "hypergeometric"}}}
    return {"problem": {
        "version": TIMELOOP_VERSION,
        "instance": instance,
        "shape": {"name": "grouped_conv2D" if g > 1 else "conv2D",
                  "dimensions": (["G"] if g > 1 else []) + ["C", "M", "R", "S", "N", "P", "Q"],
                  "coefficients": [{"name": n, "default": 1} for n in ("Wstride", "Hstride", "Wdilation",
                                                                        "Hdilation")],
                  "data_spaces": data_spaces}}}


# Where each dataflow puts the problem on the PE mesh (dims before ``split`` along X = array columns) and which
# tensor a PE's register keeps, with the temporal factors that keep it there; SCALE-Sim's mapping: WS rows = K
# (C R S), columns = filters; OS rows = output pixels, columns = filters; IS rows = K, columns = output pixels.
DATAFLOW_MAPPING = {
    "ws": {"spatial": {"permutation": ["M", "C", "R", "S"], "split": 1, "factors": ["N=1", "P=1", "Q=1"]},
           "keep": "Weights", "temporal": ["C=1", "M=1", "R=1", "S=1"]},
    "os": {"spatial": {"permutation": ["M", "N", "P", "Q"], "split": 1, "factors": ["C=1", "R=1", "S=1"]},
           "keep": "Outputs", "temporal": ["N=1", "M=1", "P=1", "Q=1"]},
    "is": {"spatial": {"permutation": ["N", "P", "Q", "C", "R", "S"], "split": 3, "factors": ["M=1"]},
           "keep": "Inputs", "temporal": ["N=1", "C=1", "R=1", "S=1", "P=1", "Q=1"]},
}
TENSORS = ("Inputs", "Weights", "Outputs")
OPERAND_TENSOR = {"ifmap": "Inputs", "filter": "Weights", "ofmap": "Outputs"}
CONDITION_ON = {"Weights": ["Inputs"], "Inputs": ["Weights"], "Outputs": ["Inputs", "Weights"]}


class Tagged(dict):
    """A mapping written with a YAML tag (``!Component``, ``!Container``, ``!Parallel``)."""

    def __init__(self, tag: str, data: dict):
        super().__init__(data)
        self.tag = tag


def word_aligned(width_bits: float, datawidth: int) -> tuple[int, int]:
    """(width, block_size) of a Timeloop storage level: ``width`` rounded to a whole number of ``datawidth`` words
    (at least one).  Timeloop's ``BufferLevel::ParseSpecs`` asserts ``width % (datawidth * block_size) == 0`` and,
    with ``cluster_size`` given (timeloopfe writes 1 on every level), ``block_size * datawidth * cluster_size ==
    width``; a 29-bit DRAM of 16-bit words or a 32-bit register of 8-bit words stops it."""
    words = max(1, round(width_bits / datawidth))
    return words * datawidth, words


def _sram(name: str, buf, datawidth: int, keep: list[str] | None, double_buffered: bool) -> Tagged:
    width, block = word_aligned(buf.width_bits, datawidth)
    node = {"name": name, "class": "SRAM",
            "attributes": {"depth": max(1, buf.capacity_bytes * 8 // width), "width": width, "n_banks": buf.banks,
                           "datawidth": datawidth, "block_size": block,
                           "multiple_buffering": 2 if double_buffered else 1}}
    if keep is not None:
        node["constraints"] = {"dataspace": {"keep": keep, "bypass": [t for t in TENSORS if t not in keep]}}
    return Tagged("!Component", node)


def timeloop_architecture(acc: Accelerator) -> dict:
    """The timeloopfe v4 ``architecture`` of a description: DRAM, on-chip buffer(s), a rows x cols PE mesh with a
    register and a MAC per PE; spatial/temporal constraints from the dataflow (systolic and nm engines); the zero
    handling (gating/skipping) as the register's action optimization."""
    word = acc.pe.act_bits
    tech = f"{acc.tech_node_nm}nm"
    nodes: list = [Tagged("!Container", {"name": "system", "attributes": {
        "technology": tech, "global_cycle_seconds": 1.0 / acc.clock_hz}})]
    dram_bits = acc.dram.bandwidth_bits_per_cycle
    dram_width, dram_block = word_aligned(dram_bits, word)
    nodes.append(Tagged("!Component", {"name": "DRAM", "class": "DRAM", "attributes": {
        "type": acc.dram.kind.upper(), "width": dram_width, "datawidth": word, "block_size": dram_block,
        "shared_bandwidth": dram_bits / word}}))
    nodes.append(Tagged("!Container", {"name": "chip", "attributes": {"technology": tech}}))
    double = acc.memory.double_buffered
    if acc.memory.organization == "per_operand":
        nodes.append(Tagged("!Parallel", {"nodes": [
            _sram(f"{op}_sram", acc.buffer(op), word if op != "filter" else max(acc.pe.weight_bits),
                  [OPERAND_TENSOR[op]], double) for op in ("ifmap", "filter", "ofmap")]}))
    else:
        nodes.append(_sram("glb", acc.glb, word, None, double))
    mapping = DATAFLOW_MAPPING.get(acc.pe.dataflow) if acc.pe.engine in ("systolic", "nm") else None
    pe = {"name": "PE", "spatial": {"meshX": acc.pe.cols, "meshY": acc.pe.rows}}
    if mapping:
        pe["constraints"] = {"spatial": dict(mapping["spatial"])}
    nodes.append(Tagged("!Container", pe))
    keep = mapping["keep"] if mapping else "Weights"
    rf_word = max(acc.pe.weight_bits) if keep == "Weights" else word
    rf_width, rf_block = word_aligned(acc.rf.width_bits, rf_word)
    reg = {"name": "pe_rf", "class": "regfile", "attributes": {
        "depth": max(1, acc.rf.capacity_bytes * 8 // rf_width), "width": rf_width, "datawidth": rf_word,
        "block_size": rf_block},
        "constraints": {"dataspace": {"keep": [keep], "bypass": [t for t in TENSORS if t != keep]}}}
    if mapping:
        reg["constraints"]["temporal"] = {"factors": list(mapping["temporal"])}
    if acc.pe.zero_handling in ("gating", "skipping"):
        reg["sparse_optimizations"] = {"action_optimization": [
            {"type": acc.pe.zero_handling, "options": [{"target": keep, "condition_on": CONDITION_ON[keep]}]}]}
    nodes.append(Tagged("!Component", reg))
    nodes.append(Tagged("!Component", {"name": "mac", "class": "intmac", "attributes": {
        "multiplier_width": max(max(acc.pe.weight_bits), word), "adder_width": acc.pe.acc_bits}}))
    return {"architecture": {"version": TIMELOOP_VERSION, "nodes": nodes}}


def timeloop_mapper() -> dict:
    """A mapper section to start from (the v4 exercises' defaults)."""
    return {"mapper": {"version": TIMELOOP_VERSION, "optimization_metrics": ["edp"], "live_status": False,
                       "num_threads": 4, "timeout": 10000, "victory_condition": 100, "algorithm": "random",
                       "diagnostics": False}}


class Quoted(str):
    """A string value written double-quoted: timeloopfe (through Accelergy's ``parse_expression_for_arithmetic``)
    evaluates every unquoted string under ``attributes`` as a Python expression (``65nm`` and ``LPDDR4`` fail) and
    any other unquoted string that fails its type check; a quoted one it keeps as the string."""


def quote_strings(obj):
    """``obj`` with every string value (not mapping keys) made ``Quoted``; ``Tagged`` nodes keep their tag."""
    if isinstance(obj, Tagged):
        return Tagged(obj.tag, {k: quote_strings(v) for k, v in obj.items()})
    if isinstance(obj, dict):
        return {k: quote_strings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [quote_strings(v) for v in obj]
    return Quoted(obj) if isinstance(obj, str) else obj


class _Dumper(yaml.SafeDumper):
    """Flow style for a list or mapping of scalars only (quoted scalars included, which PyYAML's
    ``default_flow_style=None`` would write one per line)."""

    def represent_sequence(self, tag, sequence, flow_style=None):
        node = super().represent_sequence(tag, sequence, flow_style)
        node.flow_style = all(isinstance(n, yaml.ScalarNode) for n in node.value)
        return node

    def represent_mapping(self, tag, mapping, flow_style=None):
        node = super().represent_mapping(tag, mapping, flow_style)
        node.flow_style = all(isinstance(v, yaml.ScalarNode) for _, v in node.value)
        return node


_Dumper.add_representer(Tagged, lambda d, data: d.represent_mapping(data.tag, dict(data)))
_Dumper.add_representer(Quoted, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", str(data), style='"'))


def to_yaml(obj: dict) -> str:
    """YAML text of an export section (keys in insertion order; ``Tagged`` nodes carry their tag; every string value
    double-quoted, so that timeloopfe reads it as a string, not as an expression)."""
    return yaml.dump(quote_strings(obj), Dumper=_Dumper, sort_keys=False, width=120)


def problem_file_name(name: str) -> str:
    """``problem_<layer>.yaml`` with the layer name made file-safe."""
    return "problem_" + (re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "layer") + ".yaml"


# ------------------------------------------------------------------ files
def scalesim_files(workloads: list[LayerWorkload], acc: Accelerator, fmt: str = "conv") -> dict[str, str]:
    """{file name: text} of a SCALE-Sim export."""
    return {"topology.csv": scalesim_topology_csv(workloads, fmt), "layout.csv": scalesim_layout_csv(workloads, fmt),
            "scalesim.cfg": scalesim_cfg_text(acc)}


def timeloop_files(workloads: list[LayerWorkload], acc: Accelerator) -> dict[str, str]:
    """{file name: text} of a Timeloop/Accelergy v4 export: arch.yaml, mapper.yaml, one problem file per layer."""
    files = {"arch.yaml": to_yaml(timeloop_architecture(acc)), "mapper.yaml": to_yaml(timeloop_mapper())}
    for w in workloads:
        name = problem_file_name(w.name)
        if name in files:
            raise ExportError(f"layer {w.name!r}: its problem file {name} collides with another layer's")
        files[name] = to_yaml(timeloop_problem(w))
    return files


def write_files(files: dict[str, str], out: str | Path) -> list[Path]:
    """Write each file atomically into ``out`` (created); the paths written."""
    from fileguard import atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        atomic_write_text(out / name, text)
    return [out / n for n in files]
