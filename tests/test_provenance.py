"""Every simulated number says which reference validates it, or that it is a model assumption.

The registry (sparsesim/provenance.py) is the one source of the cost rows' ``*_validated_by`` columns, the
`presets` listing's "validated by" column, the compare verdicts' "Unvalidated" clause and docs/validation.md's
per-preset tables; these tests tie each output to it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from accel_models.hardware import accelerator_from_dict, load_accelerator, preset_names
from analysis.matrix import cost_matrix
from analysis.verdict import platform_verdict
from sparsesim.analytical import evaluate
from sparsesim.provenance import (QUANTITIES, UNVALIDATED, is_shipped_preset, preset_checks, preset_tables,
                                  provenance, with_preset_tables)

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "validation.md"


def _fc(m: int, k: int, density: float) -> LayerWorkload:
    import torch

    from sparsesim.workload import from_model
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(k, m))
    with torch.no_grad():
        net[0].weight.mul_((torch.rand(m, k) < density).float())
    return from_model(net, torch.zeros(1, k), weight_bits=8)[0]


def test_every_row_names_the_reference_of_its_preset():
    names = preset_names()
    table = evaluate([_fc(16, 32, 0.5)], [load_accelerator(n) for n in names])
    cols = table.columns
    for i, hw in enumerate(cols["hardware"]):
        prov = provenance(load_accelerator(hw))
        for q in QUANTITIES:
            assert cols[f"{q}_validated_by"][i] == prov.label(q)
    # the CSV carries them
    header = table.to_csv().splitlines()[0].split(",")
    assert {"cycles_validated_by", "traffic_validated_by", "energy_validated_by"} <= set(header)


def test_a_changed_preset_keeps_only_the_model_level_checks():
    eie = load_accelerator("eie_like")
    assert is_shipped_preset(eie) and provenance(eie).validated("cycles")
    faster = replace(eie, clock_hz=eie.clock_hz * 2)
    assert not is_shipped_preset(faster)
    assert provenance(faster).label("cycles") == UNVALIDATED
    renamed = replace(eie, name="my_eie")
    assert provenance(renamed).label("cycles") == UNVALIDATED


def test_the_scalesim_convention_is_validated_on_cycles_and_traffic_for_any_yaml():
    acc = accelerator_from_dict({"name": "mine", "pe": {"engine": "systolic", "rows": 8, "cols": 8, "dataflow": "os"},
                                 "memory": {"convention": "scalesim", "organization": "per_operand"},
                                 **{f"{op}_sram": {"capacity_bytes": 4096} for op in ("ifmap", "filter", "ofmap")}})
    prov = provenance(acc)
    assert prov.validated("cycles") and prov.validated("traffic") and not prov.validated("energy")
    assert prov.unvalidated() == ("energy",)
    native = replace(acc, memory=replace(acc.memory, convention="native"))
    assert provenance(native).unvalidated() == QUANTITIES           # compute cycles only: still unvalidated
    assert "compute cycles only" in provenance(native).label("cycles")


def test_the_channel_unrolled_fpga_mapping_is_validated_by_its_published_design():
    acc = accelerator_from_dict(__import__("yaml").safe_load(
        (ROOT / "tests" / "fixtures" / "fpga" / "zhang2015_vc707.yaml").read_text()))
    assert provenance(acc).label("cycles") == "Zhang et al. FPGA 2015"
    ws = replace(acc, pe=replace(acc.pe, dataflow="ws"))
    assert provenance(ws).validated("cycles") is False


def test_the_zigzag_convention_is_validated_only_on_the_hierarchies_zigzag_was_run_on():
    acc = accelerator_from_dict(__import__("yaml").safe_load(
        (ROOT / "tests" / "fixtures" / "zigzag" / "zigzag_tpu_like.yaml").read_text()))
    prov = provenance(acc)
    assert prov.validated("energy") and prov.validated("traffic") and not prov.validated("cycles")
    double = replace(acc, memory=replace(acc.memory, double_buffered=True))
    assert provenance(double).unvalidated() == QUANTITIES
    tpu = load_accelerator("tpu_like")          # per-operand buffers: outside ZigZag's grid
    assert provenance(replace(tpu, memory=replace(tpu.memory, convention="zigzag"))).unvalidated() == QUANTITIES


def test_every_check_points_at_a_section_and_a_script_that_exist():
    page = PAGE.read_text()
    sections = set(re.findall(r"^## (\d+)\.", page, flags=re.M))
    for prov in preset_checks().values():
        for q in QUANTITIES:
            c = getattr(prov, q)
            if c is None:
                continue
            for number in re.findall(r"\b(\d+)\b", c.doc.split("section")[-1]):
                assert number in sections, c.doc
            script = c.command.split()[1]
            assert (ROOT / script).exists(), c.command


def test_docs_validation_tables_are_the_registry():
    page = PAGE.read_text()
    assert page == with_preset_tables(page), "run `python -m sparsesim.provenance docs/validation.md`"


def test_presets_listing_has_a_validated_by_column():
    out = subprocess.run([sys.executable, "-m", "sparsecodesign.cli", "presets"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    head, *rows = out.splitlines()
    assert "validated by" in head
    eie = next(r for r in rows if r.startswith("eie_like"))
    assert "cycles=EIE silicon" in eie
    scnn = next(r for r in rows if r.startswith("scnn_like"))
    assert re.search(r"\bnone\b", scnn)


def test_simulate_prints_what_validates_each_hardware(tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer name,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,Num Filter,Strides,\n"
                    "conv1,8,8,3,3,2,4,1,\n")
    out = subprocess.run([sys.executable, "-m", "sparsecodesign.cli", "simulate", "--topology", str(topo), "--hw",
                          "eie_like,scnn_like", "--out", str(tmp_path / "o")], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    tail = out.split("validated by")[1]
    assert re.search(r"eie_like +cycles: EIE silicon, traffic: EIE silicon \(DRAM traffic only\), energy: EIE silicon$",
                     tail, re.M)   # the clock network priced per cycle: the whole energy within 20% (section 10a)
    assert re.search(r"scnn_like +cycles: unvalidated, traffic: unvalidated, energy: unvalidated", tail)
    header = (tmp_path / "o" / "layers.csv").read_text().splitlines()[0]
    assert header.endswith("cycles_validated_by,traffic_validated_by,energy_validated_by")


def _row(structure: str, energy: float, unvalidated: str) -> dict:
    return {"platform": "p", "kind": "asic", "structure": structure, "energy_pj": energy, "cycles": 1.0,
            "accuracy_status": "dense" if structure == "dense" else "matched", "unvalidated": unvalidated}


@pytest.mark.parametrize("unvalidated, says", [("energy", True), ("cycles, traffic, energy", True),
                                                ("cycles", True), ("", False)])
def test_a_verdict_on_an_unvalidated_number_says_so(unvalidated, says):
    v = platform_verdict([_row("dense", 2.0, unvalidated), _row("filter", 1.0, unvalidated)], 0.05)
    assert ("Unvalidated" in v["text"]) is says
    assert ("decides this verdict is a model assumption" in v["text"]) is ("energy" in unvalidated)
    summary = {"structures": {"filter": {"status": "matched", "ratio": 0.5}}, "verdicts": [v],
               "rows": [_row("dense", 2.0, unvalidated), _row("filter", 1.0, unvalidated)]}
    assert (("p" in cost_matrix(summary).unvalidated)) is ("energy" in unvalidated)


def test_preset_tables_say_whether_the_clock_network_is_priced():
    """Every preset's table says whether its energy has the per-cycle clock term and from which source; a preset
    without one says it is not modelled; an unconfirmed source says so."""
    tables = preset_tables()
    for name in preset_names():
        part = tables.split(f"### {name}\n", 1)[1].split("### ", 1)[0]
        clock = load_accelerator(name).pe.clock_pj_per_pe_cycle
        assert ("Clock network: not modelled" in part) == (not clock), name
    assert "UNCONFIRMED" in tables.split("### eyeriss_like\n", 1)[1].split("### ", 1)[0]
    assert "UNCONFIRMED" not in tables.split("### eie_like\n", 1)[1].split("### ", 1)[0]
