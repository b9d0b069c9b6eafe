"""The hardware YAML, described from its own classes: the reference page, a resolved YAML, the defaults a file used.

Everything here reads ``accel_models.hardware``'s ``Rule`` tables (the ones the validator checks against), the
dataclass defaults and the cited tables of ``accel_models.tech``; nothing is written twice.

* ``hardware_reference()``: docs/hardware.md (``python -m accel_models.reference > docs/hardware.md``; a test
  fails when the file and the code differ);
* ``resolved_yaml(acc)``: a description with every field written out (``sparsesim presets --show NAME``);
  it loads back to an equal description;
* ``defaults_used(data, acc)`` and ``defaults_line(...)``: which fields a user's YAML left to their defaults
  (``sparsesim simulate`` prints the line).
"""

from __future__ import annotations

import re
import sys
from dataclasses import MISSING, fields

import yaml

from fileguard import loads_unique_yaml

from .engines import ENGINE_REGISTRY
from .hardware import CROSS_FIELD_RULES, ENGINES, FPGA_PARTS, SECTIONS, Accelerator, PEArray, Rule, preset_names
from .tech import CLOCK_NETWORK, DRAM_PJ_PER_BIT, FPGA_ENERGY, FPGA_FAMILY_NODE_NM, NODE_ENERGY_FACTOR

REFERENCE_PAGE = "docs/hardware.md"
REGENERATE = "python -m accel_models.reference > docs/hardware.md"
# (YAML key, heading) of each section, in the order of the page and of a resolved YAML
SECTION_TITLES = {"pe": "PE array", "memory": "memory organization", "dram": "DRAM",
                  "glb": "buffers", "rf": "register file", "fpga": "FPGA implementation"}
BUFFER_KEYS = ("glb", "ifmap_sram", "filter_sram", "ofmap_sram")
MAX_DEFAULTS_LINE = 600   # characters of field=value items in simulate's line (the rest are counted)


# ------------------------------------------------------------ formatting
def fmt_number(x, grouping: bool = True) -> str:
    """A number as the page writes it: 65,536 (65536 without ``grouping``); 0.001; 1e9; 388.6."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return f"{x:,}" if grouping and abs(x) >= 10_000 else str(x)
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    text = f"{x:g}"
    return re.sub(r"e([+-])0*(\d+)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], text)


def fmt_value(v) -> str:
    """A field value, short, with no comma inside a number: 131072, 1e9, [2, 4], null, text as is."""
    if v is None:
        return "null"
    if v == "":
        return '""'
    if isinstance(v, (bool, int, float)):
        return fmt_number(v, grouping=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return str(v)


def allowed_text(rule: Rule) -> str:
    """What ``rule`` accepts, in words (the bounds the validator checks)."""
    k = rule.kind
    if k in ("number", "integer"):
        if k == "integer" and rule.lo is None:
            text = f"an integer {0 if rule.zero_ok else 1}..{fmt_number(rule.hi)}" if rule.hi is not None else \
                f"an integer >= {0 if rule.zero_ok else 1}"
        else:
            low = f">= {fmt_number(rule.lo)}" if rule.lo is not None else (">= 0" if rule.zero_ok else "> 0")
            text = f"a{'n integer' if k == 'integer' else ' number'} {low}" + (
                f" and <= {fmt_number(rule.hi)}" if rule.hi is not None else "")
    elif k == "int_in":
        hi = f"`{rule.hi_field}`" if rule.hi_field else fmt_number(rule.hi)
        text = f"an integer {fmt_number(rule.lo)}..{hi}"
    elif k == "number_in":
        text = f"a number in [{fmt_number(rule.lo)}, {fmt_number(rule.hi)}]"
    elif k == "choice":
        text = ", ".join(f"`{c}`" for c in rule.choices)
    elif k == "flag":
        text = "`true`, `false`"
    elif k == "pair":
        text = (f"[N, M] with 0 < N <= M <= {fmt_number(rule.hi)}" if rule.ordered
                else f"two integers 1..{fmt_number(rule.hi)}")
    elif k == "int_list":
        text = f"a list of integers {fmt_number(rule.lo)}..{fmt_number(rule.hi)} (one integer: a one-element list)"
    elif k == "text":
        text = f"text of {rule.lo}..{rule.hi} characters" if rule.hi is not None else "text"
    elif k == "section":
        text = "a mapping of the section's fields"
    else:
        raise ValueError(f"rule kind {k!r} unknown")
    return text + (", or null" if rule.optional else "")


def _field_default(cls, name: str):
    return next(f.default for f in fields(cls) if f.name == name)


def _default_text(f, rule: Rule) -> str:
    if f.default is MISSING and f.default_factory is MISSING:
        return rule.null
    if f.default is MISSING:
        return "every field's default"
    if f.default is None:
        return f"null: {rule.null}" if rule.null else "absent"
    return f"`{fmt_value(f.default)}`"


def _used_when_text(rule: Rule) -> str:
    if rule.used_when is None:
        return ""
    key, values = rule.used_when
    return f"*{key} {' / '.join(f'`{v}`' for v in values)} only:* "


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def field_table(cls) -> list[str]:
    """Markdown rows, one per field of dataclass ``cls``, from its ``RULES``."""
    rows = ["| field | unit | default | allowed | required | meaning |", "|---|---|---|---|---|---|"]
    for f in fields(cls):
        if f.name == "params" and f.name not in cls.RULES:   # PEArray.params: the engine's own table
            continue
        rule = cls.RULES[f.name]
        required = f"when {rule.required_when}" if rule.required_when else "no"
        rows.append("| " + " | ".join(_cell(c) for c in (
            f"`{f.name}`", rule.unit, _default_text(f, rule), allowed_text(rule), required,
            _used_when_text(rule) + rule.doc)) + " |")
    return rows


def _sources_table(head: str, rows: list[tuple], sources: list[str]) -> list[str]:
    """A table whose last column is a footnote number into ``sources`` (each cited once below it)."""
    unique = list(dict.fromkeys(sources))
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    out += ["| " + " | ".join(map(str, r)) + f" | [{unique.index(s) + 1}] |" for r, s in zip(rows, sources)]
    out += [""] + [f"[{i}] {_cell(s)}  " for i, s in enumerate(unique, 1)]
    return out


# ------------------------------------------------------------ the page
def hardware_reference() -> str:
    """docs/hardware.md: every field of the hardware YAML with unit, default, allowed values, meaning."""
    out = [
        "# Hardware YAML reference",
        "",
        (f"<!-- Generated from accel_models/hardware.py by `{REGENERATE}`; do not edit by hand: "
         "tests/test_hardware_reference.py fails when this page and the code differ. -->"),
        "",
        ("A hardware description is one YAML file (`sparsesim simulate --hw FILE.yaml`, `sparsesim compare "
         "--presets FILE.yaml`, sweeps). Every field below is optional unless its *required* column says when; "
         "a field left out takes its default, and `sparsesim simulate` prints one line naming the defaults a "
         "file relied on. `sparsesim presets --show NAME` prints a shipped preset with every field written "
         "out, to copy and edit (`sparsesim presets` lists them: "
         + ", ".join(f"`{n}`" for n in preset_names()) + ")."),
        "",
        ("Values are checked when the file is read: unknown fields, duplicate keys and values outside "
         "*allowed* are one error line naming the file, the section, the field, the value and what is allowed. "
         "Numbers are finite (no `.nan`, `.inf`), `1e9` is a number, bools are `true`/`false` unquoted; the "
         "YAML rules shared by every file are in [config.md](config.md). Units are in the field names and in the "
         "*unit* column (cycles are clock cycles; pJ are picojoules; words are operand elements). A null default "
         "means the value is derived as the *default* column says. *engine `x` only* marks a field only that "
         "engine reads. What the model does with the fields (engines, memory conventions, timing, energy) is in "
         "[cost_model.md](cost_model.md)."),
        "",
        "```yaml",
        "name: my_array            # default: the file's name",
        "clock_hz: 500.0e+6",
        "pe: {engine: systolic, rows: 16, cols: 16, dataflow: ws, weight_bits: [4, 8]}",
        "glb: {capacity_bytes: 262144, banks: 8, width_bits: 128}",
        "dram: {kind: lpddr4, bandwidth_bits_per_cycle: 256}   # kind sets pJ/bit, not the bandwidth",
        "```",
        "",
        "## Top level",
        "",
        *field_table(Accelerator),
        "",
    ]
    for key, title in SECTION_TITLES.items():
        cls = SECTIONS[key]
        out += [f"## `{key}`: {title}" if key != "glb" else
                "## `glb`, `ifmap_sram`, `filter_sram`, `ofmap_sram`: buffers", ""]
        if key == "glb":
            out += [("One shared global buffer (`glb`, `memory.organization: shared`) or one buffer per operand "
                     "(`memory.organization: per_operand`); each has these fields. SRAM energies come from a "
                     "CACTI grid (cost_model.md, Energy) unless given."), ""]
        if key == "pe":
            out += ["Engines (`engine`): " + ", ".join(f"`{e}`" for e in PEArray.RULES["engine"].choices)
                    + "; how each runs a layer: cost_model.md, Engines.", ""]
        out += field_table(cls)
        if key == "pe":   # the built-in engines' own fields (pe.params; accel_models/engine_params/)
            out += [row for e in ENGINES if (p := ENGINE_REGISTRY[e].params) is not None for row in field_table(p)[2:]]
        out += [""]
    out += ["## Rules across fields", ""] + [f"* {r}" for r in CROSS_FIELD_RULES] + [""]
    out += ["## Tables the fields name", "", "### `dram.kind`: DRAM energy per bit", ""]
    kinds = list(DRAM_PJ_PER_BIT.items())
    out += _sources_table("| kind | pJ/bit | source |", [(f"`{k}`", fmt_number(c.value)) for k, c in kinds],
                          [c.source for _, c in kinds])
    default_bw = fmt_number(_field_default(SECTIONS["dram"], "bandwidth_bits_per_cycle"))
    out += ["", ("No DRAM type sets `bandwidth_bits_per_cycle`: the technology table cites energies only, and "
                 "bits per cycle depend on the channel count and the clock. Give the bandwidth of your design (the "
                 f"presets cite theirs in their comments); left out, it is {default_bw} bits/cycle and `sparsesim "
                 "simulate` says so."), ""]
    out += ["### `tech_node_nm`: on-chip energy factor against 45 nm", ""]
    nodes = list(NODE_ENERGY_FACTOR.items())
    out += _sources_table("| node (nm) | factor | source |", [(k, fmt_number(c.value)) for k, c in nodes],
                          [c.source for _, c in nodes])
    out += ["", ("### `fpga.part`: resources (vendor data sheets: AMD/Xilinx DS190 Zynq-7000, DS180 7-series, DS923 "
                 "UltraScale+)"), "",
            "| part | family | DSP | BRAM36 | LUT | FF | URAM |", "|---|---|---|---|---|---|---|"]
    out += [f"| `{p.name}` | {p.family} | {p.dsp:,} | {p.bram36:,} | {p.lut:,} | {p.ff:,} | {p.uram:,} |"
            for p in FPGA_PARTS.values()]
    out += ["", "### `fpga.part` family: process node", ""]
    fams = list(FPGA_FAMILY_NODE_NM.items())
    out += _sources_table("| family | node (nm) | source |", [(k, fmt_number(c.value)) for k, c in fams],
                          [c.source for _, c in fams])
    out += ["", "### `platform: fpga`: on-chip energy against the ASIC tables", "",
            ("On `platform: fpga` every on-chip energy the YAML does not give (MAC, buffer, register, index "
             "decode) is the ASIC rule at `tech_node_nm` times `dynamic_ratio` (cost_model.md, Energy)."), ""]
    ents = list(FPGA_ENERGY.items())
    out += _sources_table("| entry | value | unit | source |",
                          [(f"`{k}`", fmt_number(c.value), c.unit) for k, c in ents], [c.source for _, c in ents])
    out += ["", "### `pe.clock_pj_per_pe_cycle`: the clock network of the chips that publish it", "",
            ("A chip's clock-network power from its own power breakdown, divided by its clock and its PEs; the "
             "preset of that chip gives the value (a test ties each to this table). Descriptions without it price "
             "no per-cycle energy."), ""]
    clocks = list(CLOCK_NETWORK.items())
    out += _sources_table("| preset | clock network mW | clock MHz | PEs | pJ per PE-cycle | confirmed | source |",
                          [(f"`{k}`", fmt_number(round(c.clock_w * 1e3, 4)), fmt_number(c.clock_hz / 1e6), c.pes,
                            fmt_number(round(c.pj_per_pe_cycle, 4)), "yes" if c.confirmed else "**no**")
                           for k, c in clocks], [c.source for _, c in clocks])
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ resolved YAML
def _yaml_scalar(v) -> str:
    """``v`` as one YAML flow value that the toolkit's loader reads back as ``v`` (text that would read as a
    number there, like ``1e3``, is quoted)."""
    text = yaml.safe_dump(v, default_flow_style=True, width=10**9, allow_unicode=True).strip()
    text = text.removesuffix("\n...")   # a plain scalar ends with the document-end marker
    if isinstance(v, str) and loads_unique_yaml(f"k: {text}")["k"] != v:
        text = yaml.safe_dump(v, default_style='"', width=10**9, allow_unicode=True).strip()
    return text


def _line(indent: str, key: str, value, rule: Rule) -> str:
    text = f"{indent}{key}: {_yaml_scalar(value)}"
    note = "; ".join(x for x in (rule.unit, _used_when_text(rule).strip(" *:").replace("`", "")) if x)
    return f"{text:<44s} # {note}" if note else text


def resolved_yaml(acc: Accelerator, source: str = "") -> str:
    """``acc`` as YAML with every field written out (defaults filled), a unit comment per field; reading it
    back (``load_accelerator`` on the saved file) gives an equal description."""
    d = acc.to_dict()
    title = "".join(c if c.isprintable() else " " for c in str(source or acc.name))   # a comment is one line
    out = [(f"# {title}: every field resolved (defaults filled); save as FILE.yaml, edit, use with "
            "--hw FILE.yaml"), f"# fields, units, allowed values: {REFERENCE_PAGE}"]
    for f in fields(Accelerator):
        if f.name not in d:
            continue
        rule = Accelerator.RULES[f.name]
        if rule.kind != "section":
            out.append(_line("", f.name, d[f.name], rule))
            continue
        note = _used_when_text(rule).strip(" *:").replace("`", "")
        out.append(f"{f.name + ':':<44s} # {note}" if note else f"{f.name}:")
        sec = getattr(acc, f.name)
        sec_rules = sec.all_rules() if f.name == "pe" else type(sec).RULES
        out += [_line("  ", k, v, sec_rules[k]) for k, v in d[f.name].items()]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------ defaults a file used
def rule_applies(rule: Rule, obj, acc: Accelerator) -> bool:
    """Whether the model reads a field under ``rule`` on ``obj`` (its section; dotted keys from ``acc``)."""
    if rule.used_when is None:
        return True
    key, values = rule.used_when
    node = acc if "." in key else obj
    for part in key.split("."):
        node = getattr(node, part)
    return node in values


def defaults_used(data: dict, acc: Accelerator) -> tuple[tuple[str, object], ...]:
    """Fields the YAML mapping ``data`` left out whose defaults the model reads for ``acc``, as (dotted path,
    value), in the page's order.  Not listed: text fields, optional fields (null means derived: a cited table
    or another field), fields the engine or organization does not read, sections ``acc`` does not have."""
    data = data if isinstance(data, dict) else {}
    out = []
    for name, rule in Accelerator.RULES.items():
        if rule.kind == "text":
            continue
        if rule.kind != "section":
            if name not in data:
                out.append((name, getattr(acc, name)))
            continue
        sec = getattr(acc, name)
        if sec is None or not rule_applies(rule, acc, acc):
            continue
        given = data.get(name) if isinstance(data.get(name), dict) else {}
        out += [(f"{name}.{f}", getattr(sec, f)) for f, r in type(sec).RULES.items()
                if f not in given and not r.optional and rule_applies(r, sec, acc)]
        params = getattr(sec, "params", None)     # pe: the engine's own fields
        if params is not None:
            out += [(f"{name}.{f}", getattr(params, f)) for f, r in type(params).RULES.items()
                    if f not in given and not r.optional and rule_applies(r, sec, acc)]
    return tuple(out)


NOTES = {"dram.bandwidth_bits_per_cycle": " (dram.kind does not set it: give it)"}
LINE_FIRST = ("", "dram", "pe")   # sections named first in the line: top-level fields, then what sets the speed


def defaults_line(source: str, defaults) -> str:
    """One line naming the defaults a hardware file relied on ('' when none), grouped by section, e.g.
    ``hardware my.yaml: defaults used for clock_hz=1e9; dram: bandwidth_bits_per_cycle=128 (...) (docs/hardware.md)``;
    past ``MAX_DEFAULTS_LINE`` characters the rest is counted, not listed."""
    if not defaults:
        return ""
    groups: dict[str, list[str]] = {}
    for path, value in defaults:
        sec, _, name = path.rpartition(".")
        groups.setdefault(sec, []).append(f"{name}={fmt_value(value)}{NOTES.get(path, '')}")
    order = [g for g in LINE_FIRST if g in groups] + [g for g in groups if g not in LINE_FIRST]
    parts, length, left = [], 0, 0
    for sec in order:
        shown = []
        for item in groups[sec]:
            if length + len(item) > MAX_DEFAULTS_LINE:
                left += 1
                continue
            shown.append(item)
            length += len(item) + 2
        if shown:
            parts.append((f"{sec}: " if sec else "") + ", ".join(shown))
    more = f"; and {left} more (`sparsesim presets --show {source}` prints every value)" if left else ""
    return f"hardware {source}: defaults used for {'; '.join(parts)}{more} ({REFERENCE_PAGE})"


if __name__ == "__main__":
    sys.stdout.write(hardware_reference())
