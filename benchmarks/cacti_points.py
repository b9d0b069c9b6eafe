"""CACTI 7 at chosen (capacity, width, node) points: the EIE PE's SRAMs and the presets' buffers at CACTI's nodes.

Same CACTI configuration as benchmarks/cacti_grid.py (the binary bundled with zigzag-dse; "ram", one read/write
port, one bank, itrs-hp cells, 360 K); only the points differ.  Writes a CSV of read/write energy per access.
Run with the venv that has zigzag-dse:

    /tmp/zzvenv/bin/python benchmarks/cacti_points.py --out tests/fixtures/cacti/points.csv

Points: the EIE PE (Han et al. ISCA 2016, Sec. IV/VI): 128 KB sparse-matrix SRAM read 64 bits at a time, the
32 KB pointer SRAM as two 16 KB banks of 16-bit pointers, the 2 KB activation SRAM; and each preset's buffer
banks (capacity / banks x width_bits) at CACTI's nodes 22, 32, 45, 65 and 90 nm.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cacti_grid import run_point, write_points  # noqa: E402

EIE_POINTS = [(131072, 64), (16384, 16), (2048, 64), (2048, 16)]
# (capacity per bank in bytes, width in bits) of every preset buffer (accel_models/presets/*.yaml)
PRESET_POINTS = [(4096, 64), (786432, 256), (65536, 256), (131072, 256), (65536, 128), (32768, 128),
                 (16384, 128), (10240, 64), (512, 64), (16384, 64), (65536, 512), (65536, 64), (131072, 64)]
NODES_NM = [22, 32, 45, 65, 90]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    source = Path(str(resources.files("zigzag") / "cacti" / "cacti_master"))
    todo = [(c, w, 45) for c, w in EIE_POINTS] + [(c, w, n) for c, w in PRESET_POINTS for n in NODES_NM]
    todo = list(dict.fromkeys(todo))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        master = Path(tmp) / "cacti_master"
        shutil.copytree(source, master)
        for cap, width, node in todo:
            p = run_point(master, cap, width, node / 1000)
            print(f"{node:>3} nm {cap:>8} B x {width:>4} b: " + (f"{p['read_pj']:.4g} pJ" if p else "no organisation"),
                  flush=True)
            if p:
                rows.append({"node_nm": node, **p})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        f.write("# CACTI 7.0.3DD (zigzag-dse 3.9.1), 'ram', 1 rw port, 1 bank, itrs-hp, 360 K; pJ per access.\n"
                "# Written by benchmarks/cacti_points.py (docs/validation.md).\n")
        write_points(f, rows)


if __name__ == "__main__":
    main()
