"""The SIGMA-like engine against STONNE on runs outside the 43-run fixture, truly dense rows included (issue 21).

STONNE (stonne-simulator/stonne 22634b8b) is built by ``benchmarks/stonne_build.sh`` with one patch
(tests/fixtures/stonne/stonne_row_nnz.patch): ``STONNE_MK_ROW_NNZ=<file>`` gives each weight row exactly the
nonzero count we draw, at columns drawn with STONNE's own ``rand()``, and a truly dense K x N operand (STONNE's
``-MK_sparsity=0`` keeps ~1% zeros: ``rand()%100 <= 0``).  The design: four GEMM shapes and three arrays, none in
tests/fixtures/stonne/sigma_runs.json, at weight sparsity 0 (every row full), 25, 50, 75 and 90% (row counts
binomial(K, 1 - s) from a seeded generator, a row of fewer than 3 drawn as 3: STONNE's bitmap generator maps
every row with at least 3 entries, zeros included, ``generateBitMapFromDense`` in src/utility.cpp).  Shape S4
and every 25% point are held out.  Also, each GEMM/array pair of the 43-run fixture run truly dense ("dense
twins").  Besides the cycles, each run keeps what STONNE reports of its mapping: the
weights it read, its reconfigurations (iterations) and the results each collection-bus line carried.

    benchmarks/stonne_build.sh <stonne git dir>                      # prints the binary's path
    python benchmarks/stonne_new_runs.py --stonne <binary> --write   # run STONNE, write the fixture
    python benchmarks/stonne_new_runs.py                             # ours vs the fixture (development runs)
    python benchmarks/stonne_new_runs.py --held-out                  # ... and the held-out runs
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

FIXTURE = ROOT / "tests" / "fixtures" / "stonne" / "sigma_new_runs.json"
SHAPES = {"S1": (96, 48, 200), "S2": (256, 24, 96), "S3": (40, 72, 600), "S4": (160, 40, 48)}   # M x N x K
ARRAYS = {"A1": (32, 32, 32), "A2": (256, 128, 32), "A3": (512, 512, 128)}                        # ms / dn / rn
SPARSITIES_PCT = (0, 25, 50, 75, 90)
HELD_OUT_SHAPES, HELD_OUT_SPARSITIES_PCT = ("S4",), (25,)
TWINS = {"A": (64, 64, 256, 128, 128, 128), "B": (64, 64, 256, 256, 256, 256), "C": (64, 64, 256, 128, 64, 64),
         "D": (64, 64, 256, 64, 64, 64), "E": (128, 32, 512, 128, 128, 128), "F": (32, 128, 64, 128, 128, 128),
         "J": (64, 64, 256, 256, 64, 64)}   # the 43-run fixture's GEMM/array pairs (sets), run truly dense
SEED = 21


def row_counts(m: int, k: int, sparsity_pct: int, rng: np.random.Generator) -> np.ndarray:
    """Per-row nonzeros: K when dense, else binomial(K, 1 - s), at least 3 (what STONNE maps)."""
    if sparsity_pct == 0:
        return np.full(m, k)
    return np.maximum(rng.binomial(k, 1 - sparsity_pct / 100, size=m), 3)


def design() -> list[dict]:
    rng = np.random.default_rng(SEED)
    runs = []
    for shape, (m, n, k) in SHAPES.items():
        for arr, (ms, dn, rn) in ARRAYS.items():
            for sp in SPARSITIES_PCT:
                counts = row_counts(m, k, sp, rng)
                runs.append({"shape": shape, "array": arr, "gemm_m": m, "gemm_n": n, "gemm_k": k, "ms_size": ms,
                             "dn_bw": dn, "rn_bw": rn, "mk_sparsity_pct": sp, "nnz": int(counts.sum()),
                             "held_out": shape in HELD_OUT_SHAPES or sp in HELD_OUT_SPARSITIES_PCT,
                             "row_nnz": counts.tolist()})
    return runs


def dense_twins() -> list[dict]:
    """Each GEMM/array pair of the 43-run fixture with every row full (its "0%" runs keep ~1% zeros)."""
    return [{"set": name, "gemm_m": m, "gemm_n": n, "gemm_k": k, "ms_size": ms, "dn_bw": dn, "rn_bw": rn,
             "mk_sparsity_pct": 0, "nnz": m * k, "row_nnz": [k] * m}
            for name, (m, n, k, ms, dn, rn) in TWINS.items()]


def _stonne_report(folder: Path, lines: int, multipliers: int) -> dict:
    """Weights read, reconfigurations and results per collection-bus line from STONNE's own output files."""
    stats = next(folder.glob("output_stats*.txt")).read_text()
    counters = next(folder.glob("output_stats*.counters")).read_text()
    bus = counters.split("[CollectionBus]")[1].split("[")[0].split()
    wires = [int(x.split("=")[1]) for x in bus if x.startswith("WRITE=")]   # per line: inputs, then the output
    per_line = multipliers // lines + 1                                      # (CollectionBus.cpp)
    return {"weight_reads": int(re.search(r'"N_SRAM_weight_reads" : (\d+)', stats).group(1)),
            "reconfigurations": int(re.search(r'"N_reconfigurations" : (\d+)', stats).group(1)),
            "line_results": [wires[i * (per_line + 1) + per_line] for i in range(lines)]}


def run_stonne(binary: str, r: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        counts = Path(tmp) / "row_nnz.txt"
        counts.write_text(" ".join(map(str, r["row_nnz"])))
        out = subprocess.run(
            [binary, "-SparseGEMM", f"-M={r['gemm_m']}", f"-N={r['gemm_n']}", f"-K={r['gemm_k']}",
             f"-num_ms={r['ms_size']}", f"-dn_bw={r['dn_bw']}", f"-rn_bw={r['rn_bw']}", "-MK_sparsity=0",
             "-KN_sparsity=0", "-dataflow=MK_STA_KN_STR", "-optimize=0"],
            cwd=tmp, env={**os.environ, "STONNE_MK_ROW_NNZ": str(counts)}, capture_output=True, text=True,
            check=True).stdout
        if "Test passed" not in out:
            raise RuntimeError(f"STONNE's own result check failed for {r['shape']} {r['array']}")
        report = _stonne_report(Path(tmp), r["rn_bw"], r["ms_size"])
    return {"cycles": int(re.search(r"Number of cycles running: (\d+)", out).group(1)), **report}


def _run_all(binary: str, runs: list[dict]) -> list[dict]:
    for r in runs:
        r.update(run_stonne(binary, r))
        print(r.get("shape", r.get("set")), r.get("array", ""), f"{r['mk_sparsity_pct']}%", "done", flush=True)
    return [{k: r[k] for k in (*[k for k in r if k != "row_nnz"], "row_nnz")} for r in runs]


def write(binary: str) -> None:
    runs, twins = _run_all(binary, design()), _run_all(binary, dense_twins())
    FIXTURE.write_text(json.dumps({
        "source": "STONNE (stonne-simulator/stonne 22634b8b7668c2691bc2df8f612232d90839df20) with "
                  "tests/fixtures/stonne/stonne_row_nnz.patch, SparseGEMM, dataflow MK_STA_KN_STR, optimize=0, "
                  "STONNE_MK_ROW_NNZ = row_nnz, KN truly dense; written by benchmarks/stonne_new_runs.py --write",
        "runs": runs, "dense_twins": twins}, indent=1) + "\n")


def _row(r: dict, ours: float, label: str) -> str:
    return (f"| {label} | {r['gemm_m']} x {r['gemm_n']} x {r['gemm_k']} | {r['ms_size']} / {r['dn_bw']} / "
            f"{r['rn_bw']} | {r['mk_sparsity_pct']}% | {r['nnz']} | {r['cycles']} | {ours:.0f} | "
            f"{(ours - r['cycles']) / r['cycles'] * 100:+.1f}% |")


def compare(held_out: bool) -> None:
    from test_validation import STONNE, sigma_cycles
    fixture = json.loads(FIXTURE.read_text())
    print("| shape | GEMM M x N x K | multipliers / dn / rn | weight sparsity | nonzeros | STONNE cycles | ours | "
          "error |")
    print("|---|---|---|---|---|---|---|---|")
    for r in fixture["runs"]:
        if held_out or not r["held_out"]:
            print(_row(r, sigma_cycles(r), f"{r['shape']}{' (held out)' if r['held_out'] else ''}"))
    print("\nTruly dense twins of the 43-run fixture's sets (STONNE's \"0%\" run of the set, ~1% zeros, beside):\n")
    print("| set | GEMM M x N x K | multipliers / dn / rn | weight sparsity | nonzeros | STONNE cycles | ours | "
          "error | STONNE \"0%\" cycles |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in fixture["dense_twins"]:
        zero = next(o for o in STONNE if o["set"] == r["set"] and o["mk_sparsity_pct"] == 0)
        print(_row(r, sigma_cycles(r), r["set"]) + f" {zero['cycles']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stonne", help="the patched STONNE binary (benchmarks/stonne_build.sh)")
    ap.add_argument("--write", action="store_true", help="run STONNE and write the fixture")
    ap.add_argument("--held-out", action="store_true", help="also print the held-out runs")
    a = ap.parse_args()
    if a.write:
        write(a.stonne)
    else:
        compare(a.held_out)


if __name__ == "__main__":
    main()
