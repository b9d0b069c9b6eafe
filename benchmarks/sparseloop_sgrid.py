"""Spatial points for benchmarks/sparseloop_grid.py (``--spatial``): a PE array under a shared buffer.

Each point draws, from a seed: a GEMM (M, N, K in 8-32) or a convolution (C, M in 4-16, P, Q in 4-8, R, S in
{1, 3}, strides 1-2, so the input rows and columns are sliding windows); a PE array (4-16 PEs, meshX given)
under a shared buffer whose spatial loops fan out over one or two dimensions (GEMM: M, N or K; convolution:
M, C, P or Q; an operand a spatial dimension does not index is multicast, an output over a reduced spatial
dimension is reduced spatially); the temporal split and order over backing store, buffer, a per-PE spad and a
per-PE register; which operands the buffer and the spad keep (the register keeps the output, the buffer
sometimes too); both operands' densities and distribution; per-tensor formats at the backing store and the
buffer (UOP ranks over B, CP or RLE, inner-to-outer); gating or skipping at the buffer and the register; the
buffer's and the spad's bandwidths.  Our side reads each point through the spatial reader
(:func:`sparsesim.loopnest.timeloop_spatial.read_aggregated`) from the aggregated input the files make up.
"""

from __future__ import annotations

import numpy as np

FORMATS = ("none", "B", "CP", "RLE")
OPTS = ("none", "gating", "skipping")
DENSITIES = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)
LEVELS = ("BackingStorage", "Buffer", "Spad", "Reg")     # outermost first; Spad and Reg are per PE
ERT = {"BackingStorage": {"read": 32.3, "write": 26.1, "gated_read": 0.0055, "gated_write": 0.0055,
                          "metadata_read": 14.0, "metadata_write": 10.3, "gated_metadata_read": 0.002,
                          "gated_metadata_write": 0.002},
       "Buffer": {"read": 0.43, "write": 0.58, "gated_read": 0.00001, "gated_write": 0.00001, "metadata_read": 0.74,
                  "metadata_write": 1.42, "gated_metadata_read": 0.00002, "gated_metadata_write": 0.00002,
                  "decompression_count": 0.11, "compression_count": 0.13},
       "Spad": {"read": 0.21, "write": 0.23, "gated_read": 0.0003, "gated_write": 0.0003,
                "decompression_count": 0.07},
       "Reg": {"read": 0.049, "write": 0.049, "gated_read": 0.001, "gated_write": 0.001},
       "MAC": {"mac_random": 0.56, "mac_gated": 0.036, "mac_skipped": 0.0, "mac_reused": 0.48}}
GEMM = {"dims": "MNK", "spatial": "MNK", "operands": ("A", "B"), "output": "Z",
        "tensor_dims": {"A": "MK", "B": "NK", "Z": "MN"}}
CONV = {"dims": "CMRSNPQ", "spatial": "MCPQ", "operands": ("Weights", "Inputs"), "output": "Outputs",
        "tensor_dims": {"Weights": "CMRS", "Inputs": "NCRSPQ", "Outputs": "NMQP"}}


def _paths(pes: int) -> dict[str, str]:
    pe = f"system.PE[0..{pes - 1}]"
    return {"BackingStorage": "system.BackingStorage", "Buffer": "system.Buffer", "Spad": f"{pe}.Spad",
            "Reg": f"{pe}.Reg", "MAC": f"{pe}.MAC"}


def _pow2_split(rng, size: int, parts: int) -> list[int]:
    """``size`` (a power of two) as a product of ``parts`` powers of two."""
    bits = int(np.log2(size))
    cuts = np.sort(rng.integers(0, bits + 1, parts - 1))
    edges = np.concatenate([[0], cuts, [bits]])
    return [2 ** int(b) for b in np.diff(edges)]


def draw_spatial_point(rng) -> dict:
    conv = bool(rng.random() < 0.5)
    kind = CONV if conv else GEMM
    if conv:
        sizes = {"C": int(rng.choice([4, 8, 16])), "M": int(rng.choice([4, 8, 16])), "R": int(rng.choice([1, 3])),
                 "S": int(rng.choice([1, 3])), "N": 1, "P": int(rng.choice([4, 8])), "Q": int(rng.choice([4, 8]))}
        strides = [int(rng.choice([1, 2])), int(rng.choice([1, 2]))]
    else:
        sizes = {d: int(rng.choice([8, 16, 32])) for d in "MNK"}
        strides = [1, 1]
    pes = int(rng.choice([4, 8, 16]))
    mesh_x = int(rng.choice([m for m in (2, 4, 8) if m <= pes and pes // m >= 1]))
    mesh_y = pes // mesh_x
    xdim, ydim = (str(d) for d in rng.choice(list(kind["spatial"]), 2, replace=False))
    fx = int(rng.choice([f for f in (2, 4, 8) if f <= min(mesh_x, sizes[xdim])]))
    fy = int(rng.choice([f for f in (1, 2, 4, 8) if f <= min(mesh_y, sizes[ydim])]))
    spatial = {d: 1 for d in kind["dims"]}
    spatial[xdim], spatial[ydim] = fx, fy
    splits = {}                                  # per dimension: backing, buffer, spad, register factors
    for d in kind["dims"]:
        rest = sizes[d] // spatial[d]
        if rest in (1, 3):
            parts = [1, 1, 1, 1]
            parts[int(rng.integers(0, 4))] = rest
        else:
            parts = _pow2_split(rng, rest, 4)
        splits[d] = parts
    orders = ["".join(rng.permutation(list(kind["dims"]))) for _ in LEVELS]
    a, b = kind["operands"]
    buffer_keeps = [a, b] if rng.random() < 0.7 else [str(rng.choice([a, b]))]
    if rng.random() < 0.5:
        buffer_keeps.append(kind["output"])
    spad_keeps = [t for t in (a, b) if rng.random() < 0.5]
    dens = {t: float(rng.choice(DENSITIES)) for t in (a, b)}
    dist = str(rng.choice(["fixed-structured", "hypergeometric"]))
    per_tensor = {t: str(rng.choice(FORMATS)) for t in (a, b)}
    opt = str(rng.choice(OPTS))
    return {"conv": conv, "sizes": sizes, "strides": strides, "pes": pes, "mesh_x": mesh_x,
            "spatial": {"X": [xdim, fx], "Y": [ydim, fy]}, "splits": splits, "orders": orders,
            "buffer_keeps": buffer_keeps, "spad_keeps": spad_keeps, "densities": dens, "distribution": dist,
            "formats": per_tensor, "opt": opt,
            "bandwidth": [int(rng.choice([1, 2, 4])), int(rng.choice([1, 2, 4]))],
            "spad_bandwidth": int(rng.choice([1, 2, 4]))}


def _kind(p: dict) -> dict:
    return CONV if p["conv"] else GEMM


def _n_ranks(p: dict, tensor: str, level: int) -> int:
    """Ranks enough for every loop over the tensor's dimensions with a factor above one, spatial ones
    included, at the level and below (level: index into LEVELS); extra outer ranks are dummies
    (representation-analyzer.cpp ApplyRanksInnerToOuter)."""
    dims = _kind(p)["tensor_dims"][tensor]
    n = sum(1 for d in dims for lv in range(level, len(LEVELS)) if p["splits"][d][lv] > 1)
    n += sum(1 for d, f in p["spatial"].values() if d in dims and f > 1 and level <= 1)
    return max(1, n)


def _ranks(fmt: str, n_ranks: int) -> list[dict]:
    inner = {"format": fmt}
    if fmt in ("CP", "RLE"):
        inner["metadata-word-bits"] = 6
    return [{"format": "UOP", "payload-word-bits": 0}] * (n_ranks - 1) + [inner]


def _arch(p: dict) -> dict:
    md = {"metadata_storage_depth": 4096, "metadata_storage_width": 28}
    read_bw, write_bw = p["bandwidth"]
    mx = {"meshX": p["mesh_x"]}
    return {"architecture": {"version": 0.3, "subtree": [{
        "name": "system", "attributes": {"technology": "45nm"},
        "local": [{"name": "BackingStorage", "class": "storage", "subclass": "SRAM_MD",
                   "attributes": {"data_storage_depth": 65536, "data_storage_width": 64, "datawidth": 8,
                                  "read_bandwidth": 8, **md}},
                  {"name": "Buffer", "class": "storage", "subclass": "SRAM_MD",
                   "attributes": {"data_storage_depth": 65536, "data_storage_width": 8, "datawidth": 8,
                                  "block_size": 1, "read_bandwidth": read_bw, "write_bandwidth": write_bw, **md}}],
        "subtree": [{"name": f"PE[0..{p['pes'] - 1}]", "local": [
            {"name": "Spad", "class": "storage", "subclass": "SRAM",
             "attributes": {"data_storage_depth": 4096, "data_storage_width": 8, "datawidth": 8, "block_size": 1,
                            "read_bandwidth": p["spad_bandwidth"], "write_bandwidth": p["spad_bandwidth"],
                            "decompression_supported": True, **mx}},
            {"name": "Reg", "class": "storage", "subclass": "reg",
             "attributes": {"data_storage_depth": 1024, "data_storage_width": 8, "datawidth": 8,
                            "read_bandwidth": 2, "write_bandwidth": 2, **mx}},
            {"name": "MAC", "class": "compute", "subclass": "intmac", "attributes": {"datawidth": 8, **mx}}]}]}]}}


def _problem(p: dict) -> dict:
    k = _kind(p)
    dens = {t: {"distribution": p["distribution"], "density": d} for t, d in p["densities"].items()}
    if not p["conv"]:
        return {"problem": {"shape": {"name": "MatrixMultiply", "dimensions": ["M", "N", "K"], "data-spaces": [
            {"name": "A", "projection": [[["M"]], [["K"]]]}, {"name": "B", "projection": [[["N"]], [["K"]]]},
            {"name": "Z", "projection": [[["M"]], [["N"]]], "read-write": True}]},
            "instance": {**p["sizes"], "densities": dens}}}
    return {"problem": {"shape": {
        "name": "CNN-Layer", "dimensions": list(k["dims"]),
        "coefficients": [{"name": c, "default": 1} for c in ("Wstride", "Hstride", "Wdilation", "Hdilation")],
        "data-spaces": [
            {"name": "Weights", "projection": [[["C"]], [["M"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["N"]], [["C"]], [["R", "Wdilation"], ["P", "Wstride"]],
                                              [["S", "Hdilation"], ["Q", "Hstride"]]]},
            {"name": "Outputs", "projection": [[["N"]], [["M"]], [["Q"]], [["P"]]], "read-write": True}]},
        "instance": {**p["sizes"], "Wstride": p["strides"][0], "Hstride": p["strides"][1], "Wdilation": 1,
                     "Hdilation": 1, "densities": dens}}}


def spatial_files(p: dict) -> dict[str, dict]:
    """The v0.3 files Timeloop runs: architecture, mapping, sparse optimizations, problem, ERT, ART."""
    k = _kind(p)
    a, b = k["operands"]
    out = k["output"]
    tensors = [a, b, out]
    keeps = {"BackingStorage": tensors, "Buffer": p["buffer_keeps"], "Spad": p["spad_keeps"], "Reg": [out]}
    mapping = [{"target": lvl, "type": "datatype", "keep": keeps[lvl],
                "bypass": [t for t in tensors if t not in keeps[lvl]]} for lvl in reversed(LEVELS)]
    (xdim, fx), (ydim, fy) = p["spatial"]["X"], p["spatial"]["Y"]
    rest = [d for d in k["dims"] if d not in (xdim, ydim)]
    mapping.append({"target": "Buffer", "type": "spatial", "permutation": xdim + ydim + "".join(rest), "split": 1,
                    "factors": " ".join(f"{d}={fx if d == xdim else fy if d == ydim else 1}" for d in k["dims"])})
    for i, lvl in enumerate(LEVELS):
        mapping.append({"target": lvl, "type": "temporal", "permutation": p["orders"][i],
                        "factors": " ".join(f"{d}={p['splits'][d][i]}" for d in k["dims"])})
    targets = []
    for i, lvl in enumerate(("BackingStorage", "Buffer")):
        spaces = [{"name": t, "ranks": _ranks(p["formats"][t], _n_ranks(p, t, i)),
                   "rank-application-order": "inner-to-outer"}
                  for t in (a, b) if p["formats"][t] != "none" and t in keeps[lvl]]
        tgt = {"name": lvl}
        if spaces:
            tgt["representation-format"] = {"data-spaces": spaces}
        if lvl == "Buffer" and p["opt"] != "none":
            tgt["action-optimization"] = [{"type": p["opt"], "options": [{"target": t, "condition-on": [o]}]}
                                          for t, o in ((a, b), (b, a)) if t in keeps[lvl]]
        targets.append(tgt)
    if p["opt"] != "none":
        targets.append({"name": "Reg", "action-optimization": [
            {"type": p["opt"], "options": [{"target": out, "condition-on": [a, b]}]}]})
    paths = _paths(p["pes"])
    ert = {"ERT": {"version": 0.3, "tables": [
        {"name": paths[lvl], "actions": [{"name": n, "arguments": None, "energy": e} for n, e in acts.items()]}
        for lvl, acts in ERT.items()]}}
    art = {"ART": {"version": 0.3, "tables": [{"name": q, "area": 1.0} for q in paths.values()]}}
    return {"arch.yaml": _arch(p), "map.yaml": {"mapping": mapping},
            "sparse.yaml": {"sparse_optimizations": {"targets": targets}}, "prob.yaml": _problem(p),
            "ERT.yaml": ert, "ART.yaml": art}


def aggregated(files: dict[str, dict]) -> dict:
    """The aggregated input the spatial reader takes, from the separate files."""
    return {"architecture": files["arch.yaml"]["architecture"], "mapping": files["map.yaml"]["mapping"],
            "problem": files["prob.yaml"]["problem"],
            "sparse_optimizations": files["sparse.yaml"]["sparse_optimizations"]}
