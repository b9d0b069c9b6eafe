#!/usr/bin/env bash
# Build Timeloop with Sparseloop (NVlabs/timeloop, commit a9c5115, 2022-06-30: the stats layout of the MICRO 2022
# artifact's outputs) into /tmp/timeloop, as an oracle for benchmarks/sparseloop_grid.py. Never a project dependency.
# Needs the Debian packages below (root) and a mirror of github.com/NVlabs/timeloop (MIRROR, a git dir).
# Later commits (after 2023-07-20) link barvinok/ISL/NTL unconditionally; barvinok is not in Debian 12.
# About 7 minutes on 2 cores.
set -euo pipefail
MIRROR=${MIRROR:-/work/.mirror/NVlabs+timeloop/repo}
COMMIT=${COMMIT:-a9c5115}
SRC=/tmp/timeloop-src-$COMMIT
PREFIX=${PREFIX:-/tmp/timeloop}
apt-get install -y scons libconfig++-dev libyaml-cpp-dev libboost-dev libboost-iostreams-dev \
    libboost-serialization-dev libboost-thread-dev libncurses-dev libtinfo-dev libgpm-dev g++
mkdir -p "$SRC" "$PREFIX/bin" "$PREFIX/lib"
git --git-dir="$MIRROR" archive "$COMMIT" | tar x -C "$SRC"
cd "$SRC"
[ -e src/pat ] || ln -s ../pat-public/src/pat src/pat
scons -j2                                   # without --with-isl
cp bin/* "$PREFIX/bin/" && cp lib/* "$PREFIX/lib/"
echo "built $COMMIT into $PREFIX; the binaries need LD_LIBRARY_PATH=$PREFIX/lib"
