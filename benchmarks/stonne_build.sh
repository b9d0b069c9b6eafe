#!/usr/bin/env bash
# Build STONNE (stonne-simulator/stonne, the commit below, MIT licence) with this project's one patch:
# tests/fixtures/stonne/stonne_row_nnz.patch adds STONNE_MK_ROW_NNZ=<file of M per-row counts> to -SparseGEMM
# (row i gets exactly that many nonzeros at rand()-drawn columns, and KN is truly dense); without the variable the
# binary is STONNE's own (it reproduces tests/fixtures/stonne/sigma_runs.json exactly).
# Usage: benchmarks/stonne_build.sh <git dir of a stonne-simulator/stonne clone> [dest, default /tmp/stonne-src]
# Prints the path of the built binary.
set -euo pipefail
GIT_DIR=${1:?git dir of a stonne-simulator/stonne clone}
DEST=${2:-/tmp/stonne-src}
COMMIT=22634b8b7668c2691bc2df8f612232d90839df20
PATCH=$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/stonne/stonne_row_nnz.patch
mkdir -p "$DEST"
git --git-dir="$GIT_DIR" archive "$COMMIT" stonne | tar -x -C "$DEST"
cd "$DEST/stonne"
patch -p1 --forward < "$PATCH" >&2 || grep -q STONNE_MK_ROW_NNZ src/main.cpp   # already applied: fine
make -j2 all >&2
echo "$DEST/stonne/stonne"
