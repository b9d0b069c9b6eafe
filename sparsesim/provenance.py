"""Which reference validates each number a hardware description produces: cycles, traffic, energy.

A cost this toolkit prints is a claim a researcher may publish, so every simulated cost row says, per
quantity, which reference reproduces the path that produced it (``docs/validation.md`` has the table, the
command and the errors), or that it is a model assumption (``UNVALIDATED``).  Two levels:

* the model (engine and memory convention) of any description, a user's YAML included: e.g. the
  ``scalesim`` convention reproduces SCALE-Sim v3's cycles and traffic on every configuration it was run on;
* a shipped preset, exactly as shipped: its own energies and parameters checked against the chip it names
  (e.g. ``eie_like``'s latency against EIE silicon).  A copy that changes any field is no longer that preset
  and keeps only the model-level checks.

A check is ``complete`` when it covers the whole quantity as the rows report it (total cycles, not compute
cycles alone); an incomplete one names what it ``covers`` and still counts as unvalidated in a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter

from accel_models.hardware import Accelerator, HardwareError, load_accelerator, preset_names
from accel_models.tech import CLOCK_NETWORK

QUANTITIES = ("cycles", "traffic", "energy")
UNVALIDATED = "unvalidated"


@dataclass(frozen=True)
class Check:
    """One reference reproducing one quantity: short ``reference`` tag (the CSV value), what it covers."""

    reference: str
    scope: str                 # what was compared, on which inputs, with which error
    doc: str                   # where the table is
    command: str               # what reproduces the comparison
    covers: str = ""           # set when the check covers part of the quantity only: which part

    @property
    def complete(self) -> bool:
        return not self.covers

    @property
    def label(self) -> str:
        return self.reference if self.complete else f"{self.reference} ({self.covers} only)"


@dataclass(frozen=True)
class Provenance:
    """Per quantity, the check that validates it (None: a model assumption)."""

    cycles: Check | None = None
    traffic: Check | None = None
    energy: Check | None = None

    def label(self, quantity: str) -> str:
        """The CSV value: the reference's tag, or ``unvalidated``."""
        c = getattr(self, quantity)
        return UNVALIDATED if c is None else c.label

    def validated(self, quantity: str) -> bool:
        c = getattr(self, quantity)
        return c is not None and c.complete

    def summary(self) -> str:
        """One cell: ``cycles=EIE chip, traffic=EIE chip*`` (``*``: part of the quantity only); ``none``."""
        parts = [f"{q}={c.reference}{'' if c.complete else '*'}" for q in QUANTITIES
                 if (c := getattr(self, q)) is not None]
        return ", ".join(parts) or "none"

    def unvalidated(self) -> tuple[str, ...]:
        """The quantities a verdict must mark as model assumptions."""
        return tuple(q for q in QUANTITIES if not self.validated(q))

    def merged(self, other: "Provenance") -> "Provenance":
        """``other``'s checks where it has one, else this one's."""
        return Provenance(**{q: getattr(other, q) or getattr(self, q) for q in QUANTITIES})


SCALESIM = Check("SCALE-Sim v3", "total cycles incl. prefetch and stalls, SRAM and DRAM words per operand; "
                 "exact on 120 layer runs (LeNet-5, AlexNet conv1-5, WS/OS/IS, USER and CALC bandwidth, dense and "
                 "N:M) and on a generated grid of 32 configurations, 129 layer runs (arrays 4x4-128x128, SRAMs "
                 "2 KB-2 MB, 1-64 words/cycle; 8 configs held out)", "docs/validation.md sections 1 and 8",
                 "python benchmarks/scalesim_grid.py")
SCALESIM_COMPUTE = Check("SCALE-Sim v3", "compute cycles (the fold model); memory stalls and DRAM traffic "
                         "follow the native model, which no reference checks", "docs/validation.md section 1",
                         "python benchmarks/scalesim_validation.py", covers="compute cycles")
ZIGZAG = Check("ZigZag", "energy (per component) and DRAM/SRAM traffic of its energy-optimal mapping: exact on its "
               "tpu_like hierarchy (9 layers) and on 48 generated hierarchies x 3 layers (arrays 8x8-64x64, SRAM "
               "16 KB-4 MB, WS/OS unrollings, two and three levels; 36 points held out); per-access energies as "
               "the description gives them", "docs/validation.md sections 2 and 9", "python benchmarks/zigzag_grid.py")
STONNE = Check("STONNE (SIGMA)", "compute cycles within 3.4% on all 43 fixture runs (3 GEMMs, 10 arrays, 0-90% "
               "sparsity) and within 7.8% on 67 new runs (4 GEMM shapes x 3 arrays, truly dense to 90%, 24 held "
               "out; the fixture's pairs truly dense); on the new runs, iterations and collection-bus lines are "
               "exactly STONNE's; rows under 3 nonzeros unchecked (STONNE maps 3); memory stalls follow the native "
               "model",
               "docs/validation.md section 4",
               "python benchmarks/stonne_validation.py && python benchmarks/stonne_new_runs.py --held-out",
               covers="compute cycles")
EIE_SILICON = Check("EIE silicon", "latency of all nine Table IV layers (Table III densities, Table III not confirmed "
                    "from a source): 7 of 9 within 15% (Alex-6 -5.7%, Alex-7 +4.9%, VGG-7 -4.5%, VGG-8 -2.0%, NT-We "
                    "-8.3%, NT-Wd -3.6%, NT-LSTM -11.1%); Alex-8 -17.7% and VGG-6 -27.8% miss (the paper's own "
                    "perfect-balance times are 19% and 22% above the work those densities imply); mean absolute "
                    "error 9.5%; activation patterns drawn with act_seed, spread over 5 seeds under 3%; weights and "
                    "activations stay on chip (no DRAM traffic, as in the chip)", "docs/validation.md section 3",
                    "python benchmarks/eie_validation.py --seeds 5")
EIE_NO_DRAM = Check("EIE silicon", "no DRAM traffic: weights and activations stay on chip, as in the "
                    "chip (Sec. IV); SRAM access counts unchecked", "docs/validation.md section 3",
                    "python benchmarks/eie_validation.py --seeds 5", covers="DRAM traffic")

ZHANG_FPGA15 = Check("Zhang et al. FPGA 2015", "one design (VC707, fp32, Tm x Tn = 64 x 7): AlexNet conv1-5 compute "
                     "cycles equal the paper's cycle model per layer, total latency -6.6%, DSP exact, BRAM +1.4%",
                     "docs/validation.md section 6", "python benchmarks/fpga_validation.py")

EIE_ENERGY = Check("EIE silicon", "on-chip energy of Alex-6/7/8 against the chip's 0.59 W x its measured Table IV time: "
                   "+2.3%, +12.2%, -4.2%, the clock network priced per cycle from the same chip's Table II (20.5% of "
                   "a PE's power: a hardware-description number, so the total checks the per-access energies and "
                   "the cycles); SRAM part within 8.3%, the rest without the clock network within 15%",
                   "docs/validation.md section 10", "python benchmarks/eie_energy.py --seeds 3")
EYERISS_LATENCY = Check("Eyeriss v1 silicon", "processing latency of AlexNet conv1-5 at batch 4 (JSSC 2017 Table V) "
                        "with the paper's Table IV mappings: -7.7% to +6.6% per layer",
                        "docs/validation.md section 7", "python benchmarks/eyeriss_validation.py")
EYERISS_DRAM = Check("Eyeriss v1 silicon", "DRAM accesses of AlexNet conv1-5 within -10.9% to +12.7% per layer; GLB "
                     "accesses within 8% on four layers, +43% on CONV3", "docs/validation.md section 7",
                     "python benchmarks/eyeriss_validation.py", covers="DRAM traffic")

# Model level: any description with this engine (and dataflow) and memory convention; (engine, dataflow,
# convention) entries take precedence over (engine, convention) ones.
_MODEL: dict[tuple, Provenance] = {
    ("systolic", "ci_co", "native"): Provenance(cycles=ZHANG_FPGA15),
    ("systolic", "scalesim"): Provenance(cycles=SCALESIM, traffic=SCALESIM),
    ("nm", "scalesim"): Provenance(cycles=SCALESIM, traffic=SCALESIM),
    ("systolic", "zigzag"): Provenance(traffic=ZIGZAG, energy=ZIGZAG),
    ("systolic", "native"): Provenance(cycles=SCALESIM_COMPUTE),
    ("nm", "native"): Provenance(cycles=SCALESIM_COMPUTE),
    ("sigma", "native"): Provenance(cycles=STONNE),
}

# Preset level: the shipped description exactly as shipped (its energies and parameters are the checked ones).
_PRESET: dict[str, Provenance] = {
    "eie_like": Provenance(cycles=EIE_SILICON, traffic=EIE_NO_DRAM, energy=EIE_ENERGY),
    "eyeriss_like": Provenance(cycles=EYERISS_LATENCY, traffic=EYERISS_DRAM),
}


# Preset level, compared and MISSED: a reference the shipped description was held to and does not reproduce.  It
# validates nothing (the quantity keeps its other checks, or stays unvalidated); the per-preset tables say so.
_MISSED: dict[str, Check] = {
    "sparse_tc_like": Check("published A100 2:4 speedups", "dense / 2:4 latency ratio of 15 published fp16 GEMMs "
                            "(cuSPARSELt and CUTLASS through torch.sparse.to_sparse_semi_structured and the libraries' "
                            "samples, 9 shapes): 2 of 15 within 15%, ours / published 0.60-1.74 (median 0.80); the "
                            "model is memory-bound on every shape (the L2 as a capacity, operands re-read per pass) "
                            "where the published dense runs reach 61-97% of the 312 TFLOPS peak",
                            "docs/validation.md section 15", "python benchmarks/sparse_tc_validation.py",
                            covers="the dense/2:4 speedup"),
}


@lru_cache(maxsize=None)
def _shipped(name: str) -> Accelerator | None:
    """The shipped preset of this name (None: no such preset); presets are files of the package."""
    if name not in preset_names():
        return None
    try:
        return load_accelerator(name)
    except HardwareError:
        return None


def is_shipped_preset(acc: Accelerator) -> bool:
    """The description is a shipped preset, field for field."""
    return _shipped(acc.name) == acc


def _outside_the_checked_hierarchies(acc: Accelerator) -> bool:
    """The zigzag convention was checked on one shared on-chip buffer (two and three levels), single-buffered;
    per-operand buffers or double buffering are hierarchies ZigZag was never run on."""
    return acc.memory.convention == "zigzag" and (acc.memory.organization != "shared" or acc.memory.double_buffered)


def provenance(acc: Accelerator) -> Provenance:
    """Which reference validates each quantity ``acc``'s rows report."""
    if _outside_the_checked_hierarchies(acc):
        return Provenance()
    model = _MODEL.get((acc.pe.engine, acc.pe.dataflow, acc.memory.convention)) \
        or _MODEL.get((acc.pe.engine, acc.memory.convention), Provenance())
    if acc.name in _PRESET and is_shipped_preset(acc):
        return model.merged(_PRESET[acc.name])
    return model


def labels(accelerators) -> dict[str, list[str]]:
    """Per quantity, one CSV label per accelerator (the ``*_validated_by`` columns).  Worked out once per kind
    of description (engine, dataflow, convention, buffers; a preset's name), as a sweep's configs share a few."""
    memo: dict = {}
    out: dict[str, list[str]] = {q: [] for q in QUANTITIES}
    for a in accelerators:
        key = _KIND(a)
        if a.name in _PRESET:     # a preset's own checks hold only for the shipped file: compare it
            key += (a.name, is_shipped_preset(a))
        if key not in memo:
            prov = provenance(a)
            memo[key] = [prov.label(q) for q in QUANTITIES]
        for q, label in zip(QUANTITIES, memo[key]):
            out[q].append(label)
    return out


# what a description's model-level checks depend on (``labels``)
_KIND = attrgetter("pe.engine", "pe.dataflow", "memory.convention", "memory.organization", "memory.double_buffered")


def preset_checks() -> dict[str, Provenance]:
    """Every shipped preset's provenance (``sparsesim presets``, docs/validation.md)."""
    return {name: provenance(load_accelerator(name)) for name in preset_names()}


def preset_tables() -> str:
    """docs/validation.md's per-preset tables (``python -m sparsesim.provenance``; a test keeps them in step)."""
    out = []
    for name, prov in preset_checks().items():
        a = _shipped(name)
        out += [f"### {name}", "", f"{a.pe.engine} engine, `{a.memory.convention}` convention. {a.description}.", "",
                "| quantity | validated by | what was compared, errors | where | command |", "|---|---|---|---|---|"]
        for q in QUANTITIES:
            c = getattr(prov, q)
            if c is None:
                out.append(f"| {q} | **unvalidated** (a model assumption; marked in every output) | - | - | - |")
            else:
                ref = c.reference + ("" if c.complete else f" ({c.covers} only; the rest is unvalidated)")
                out.append(f"| {q} | {ref} | {c.scope} | {c.doc} | `{c.command}` |")
        if (miss := _MISSED.get(name)) is not None:
            out += ["", f"Compared and **missed** ({miss.covers}; validates nothing): {miss.reference}: {miss.scope} "
                        f"({miss.doc}, `{miss.command}`)."]
        out += ["", clock_network_line(a), ""]
    return "\n".join(out)


def clock_network_line(acc: Accelerator) -> str:
    """One sentence: whether the description prices the clock network per cycle, and from which source."""
    pj = acc.pe.clock_pj_per_pe_cycle
    if not pj:
        return ("Clock network: not modelled (`pe.clock_pj_per_pe_cycle` 0): the energy has no per-cycle term and "
                "leaves out a chip's clock power (20-45% of the power of the two chips that publish it).")
    cited = CLOCK_NETWORK.get(acc.name)
    if cited is None or not is_shipped_preset(acc) or abs(cited.pj_per_pe_cycle / pj - 1) > 1e-3:
        return f"Clock network: {pj:g} pJ per PE-cycle as the description gives it (no cited source)."
    return (f"Clock network: {pj:g} pJ per PE-cycle x {acc.pe.num_pes} PEs on every cycle, from the chip's own power "
            f"breakdown (`accel_models.tech.CLOCK_NETWORK`: {cited.clock_w * 1e3:.4g} mW "
            f"{'per PE' if cited.pes == 1 else f'over {cited.pes} PEs'} at {cited.clock_hz / 1e6:g} MHz; a "
            "hardware-description number, not fitted per layer"
            + ("" if cited.confirmed else "; the share is UNCONFIRMED, see the source") + ").")


START, END = "<!-- preset-tables:start -->", "<!-- preset-tables:end -->"


def with_preset_tables(page: str) -> str:
    """``page`` (docs/validation.md) with the text between its preset-table markers regenerated."""
    head, sep, rest = page.partition(START)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise ValueError(f"the page has no {START} ... {END} markers")
    return f"{head}{START}\n{preset_tables()}{END}{tail}"


if __name__ == "__main__":   # python -m sparsesim.provenance [docs/validation.md]: print, or rewrite that page
    import sys
    from pathlib import Path

    if len(sys.argv) > 1:
        page = Path(sys.argv[1])
        page.write_text(with_preset_tables(page.read_text()))
    else:
        print(preset_tables(), end="")
