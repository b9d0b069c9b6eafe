"""The SIGMA-like engine against STONNE's SIGMA model: cycles of 43 sparse GEMM runs.

Reference numbers (tests/fixtures/stonne/sigma_runs.json) come from STONNE (stonne-simulator/stonne, commit
22634b8b), built from its own README instructions and run as
``stonne -SparseGEMM -M=.. -N=.. -K=.. -num_ms=.. -dn_bw=.. -rn_bw=.. -MK_sparsity=.. -KN_sparsity=..
-dataflow=MK_STA_KN_STR -optimize=0`` (docs/validation.md has the parameters and STONNE's matrix generation
rule).  Each run's per-row nonzero counts are in the fixture, so this script rebuilds the exact weight rows and
prints our cycles beside STONNE's.  Usage: python benchmarks/stonne_validation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_validation import STONNE, sigma_cycles  # noqa: E402


def main() -> None:
    print("| set | GEMM M x N x K | multipliers / dn / rn | weight sparsity | nonzeros | rows per iteration | "
          "STONNE cycles | ours | error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in STONNE:
        ours = sigma_cycles(r)
        rows_per_it = len(r["row_nnz"]) / max(1, -(-r["nnz"] // r["ms_size"]))
        print(f"| {r['set']} | {r['gemm_m']} x {r['gemm_n']} x {r['gemm_k']} | {r['ms_size']} / {r['dn_bw']} / "
              f"{r['rn_bw']} | {r['mk_sparsity_pct']}% | {r['nnz']} | {rows_per_it:.1f} | {r['cycles']} | "
              f"{ours:.0f} | {(ours - r['cycles']) / r['cycles'] * 100:+.1f}% |")


if __name__ == "__main__":
    main()
