"""Priced workloads from a trace (``sparsesim.trace``): every GEMM the model ran, as a ``LayerWorkload``.

``workloads_from_trace(trace, batch=...)`` turns each ``TracedGemm`` into a workload the engines price (their
kinds are ``conv2d`` and ``linear``), keeping ``M x K x N x batch`` = the op's MACs:

* a 2-D convolution stays ``conv2d`` with its geometry; a 1-D one is a ``conv2d`` of height 1 (kernel ``(1, k)``);
  3-D and transposed convolutions are their im2col / scatter GEMM (``linear``, ``N`` = output / input positions;
  the row's note says so);
* a weight GEMM (a Linear over any leading dims, ``F.linear``, a matmul with a parameter) is ``linear`` with ``N``
  = tokens per sample; it carries its parameter's real ``(M, K)`` matrix, so pruning masks and the artifact's zero
  pattern apply.  A packed ``in_proj_weight`` (``nn.MultiheadAttention``'s Q, K and V in one GEMM) is three rows,
  ``.q``, ``.k`` and ``.v``;
* an activation x activation GEMM (attention score ``Q K^T`` and context ``P V``, a ``bmm``/``matmul`` of two
  activations) is ``linear`` whose stationary ``(M, K)`` operand (K, V: the second operand) is dense (all ones: no
  weights to prune) and an activation (``stationary='activations'``: each of the batch's instances has its own,
  priced at activation bits, never stored nor kept resident as weights; ``sparsesim.stationary``), with the KV
  cache it reads from the model's inputs and writes back (``cache_read_elems``, ``cache_write_elems``) and the
  streamed operand's measured nonzero fraction as ``act_density`` where a calibration batch was traced; its note
  says so.  Where the calibration run shows instances with an operand that is zero in every sample (the heads a
  heads-pruned model removed: their Q/K or V rows and biases are zero), those instances are a row of their own,
  ``<name>.zero_heads``, whose stationary matrix is all zeros: each engine prices them by its own rule for zeros
  (a compacting array drops them, a skipping one skips them, a gating one still spends cycles).

Names: a weight GEMM is named by its parameter, the trailing ``.weight`` dropped (``layers.0.linear1``: the module
list's row names, so both paths name a Conv2d/Linear alike); any other GEMM by the module that ran it and what it
computes (``layers.0.self_attn.score``, ``.context``, ``.matmul``); a name met again gets ``#2``, ``#3``, ...

Batch: the trace runs one sample; each workload's batch is the trace's (bmm batch x heads, images) times the
priced ``batch``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .trace import Trace, TraceError, TracedGemm, trace_model
from .workload import LayerWorkload, WorkloadError, measure_activations

FALLBACK = "--workloads modules (API: workloads='modules')"
WORKLOAD_MODES = ("traced", "modules")
ACT_X_ACT_NOTE = "activation x activation: stationary operand an activation (dense, no weights)"
_WHAT = {"attention_score": "score", "attention_context": "context", "matmul": "matmul"}


def check_mode(workloads: str | None, what: str = "workloads") -> str:
    """``traced`` (None: the default) or ``modules``; anything else is a WorkloadError."""
    mode = "traced" if workloads is None else workloads
    if mode not in WORKLOAD_MODES:
        raise WorkloadError(f"{what}={str(workloads)[:60]!r}; allowed: {', '.join(WORKLOAD_MODES)}")
    return mode


def untraceable(model, error: TraceError) -> WorkloadError:
    """The one-line error of a model the trace cannot run: the op that failed and the fallback."""
    return WorkloadError(f"model {type(model).__name__} cannot be traced: {error}; to price its Conv2d/Linear module "
                         f"list instead: {FALLBACK}")


def _base_name(g: TracedGemm) -> str:
    if g.weight is not None:
        return "+".join(n[: -len(".weight")] if n.endswith(".weight") else n for n in g.weight.split(", "))
    what = _WHAT.get(g.kind, g.kind)
    return f"{g.module}.{what}" if g.module else what


def _weights(g: TracedGemm) -> tuple[np.ndarray, int, int]:
    """(weights (M', K), M', batch') of a weight GEMM: a batched weight (one matrix per instance) is stacked."""
    w = g.weight_matrix.detach().float().cpu().numpy()
    if w.ndim == 3:   # bmm with a parameter: instances share it when expanded, else their matrices stack
        if w.shape[0] == 1 or all(np.array_equal(w[0], w[i]) for i in range(1, w.shape[0])):
            return np.ascontiguousarray(w[0]), g.M, g.batch
        return np.ascontiguousarray(w.reshape(-1, w.shape[-1])), g.M * w.shape[0], g.batch // w.shape[0]
    return np.ascontiguousarray(w.reshape(g.M, g.K)), g.M, g.batch


def _act_x_act(g: TracedGemm, name: str, batch: int, common: dict, zero_fraction: float | None
               ) -> list[LayerWorkload]:
    """An activation x activation GEMM: its live instances, and those with an all-zero operand as ``.zero_heads``."""
    dead = 0 if zero_fraction is None else int(round(zero_fraction * g.batch))
    act = common["act_density"]
    # the streamed operand's nonzeros lie in the live instances: exact where it is zero in the dead ones (a pruned
    # head's Q), else an upper bound (capped at 1)
    live_act = min(1.0, act * g.batch / (g.batch - dead)) if dead < g.batch else act
    parts = [(name, np.ones((g.M, g.K), np.float32), g.batch - dead, live_act, ACT_X_ACT_NOTE),
             (f"{name}.zero_heads", np.zeros((g.M, g.K), np.float32), dead, act,
              f"{ACT_X_ACT_NOTE}; instances with an operand zero in every calibration sample (pruned heads)")]
    return [LayerWorkload(n, "linear", g.M, g.K, g.N, w, batch=inst * batch, input_elems=g.K * g.N,
                          note=f"traced {g.op} {g.kind}; {note}", stationary="activations",
                          cache_read_elems=g.cache_read_elems, cache_write_elems=g.cache_write_elems,
                          **{**common, "act_density": a})
            for n, w, inst, a, note in parts if inst > 0]


def _one(g: TracedGemm, name: str, batch: int, bits: int, density: float | None,
         zero_fraction: float | None = None) -> list[LayerWorkload]:
    """The workload(s) of one traced GEMM at ``batch`` samples."""
    act = 1.0 if density is None else float(density)
    common = {"weight_bits": bits, "groups": g.groups, "act_density": act}
    if g.weight is None:
        return _act_x_act(g, name, batch, common, zero_fraction)
    w, m, inst = _weights(g)
    geo = g.geometry
    if g.kind in ("conv2d", "conv1d"):
        flat = g.kind == "conv1d"   # a 1-D conv is a 2-D conv of height 1
        lift = (lambda v, pad=0: [pad, *v]) if flat else (lambda v, pad=0: list(v))
        kernel = lift(geo["kernel"], 1)
        c_in = g.K // int(np.prod(kernel)) * g.groups
        geometry = {"kernel": kernel, "stride": lift(geo["stride"], 1), "padding": lift(geo["padding"], 0),
                    "dilation": lift(geo["dilation"], 1), "input_hw": lift(geo["input_hw"], 1),
                    "output_hw": lift(geo["output_hw"], 1)}
        return [LayerWorkload(name, "conv2d", m, g.K, g.N, w, batch=inst * batch, geometry=geometry,
                              input_elems=c_in * int(np.prod(geo["input_hw"])),
                              note=f"traced {g.kind} as conv2d of height 1" if flat else "", **common)]
    if g.kind.startswith("conv"):   # 3-D or transposed: the im2col / scatter GEMM
        c_in = g.K // int(np.prod(geo["kernel"])) * g.groups
        return [LayerWorkload(name, "linear", m, g.K, g.N, w, batch=inst * batch,
                              input_elems=c_in * int(np.prod(geo["input_hw"])),
                              note=f"traced {g.kind} priced as its GEMM (M x K x N positions)", **common)]
    rows = [(name, w, m)]
    if name.endswith("in_proj_weight") and m == 3 * g.K and g.groups == 1:   # packed Q, K, V: three GEMMs
        e = m // 3
        rows = [(f"{name}.{p}", w[i * e:(i + 1) * e], e) for i, p in enumerate("qkv")]
    return [LayerWorkload(n, "linear", mm, g.K, g.N, ww, batch=inst * batch, input_elems=g.K * g.groups * g.N,
                          note="" if g.kind == "linear" else f"traced {g.op} with a weight operand", **common)
            for n, ww, mm in rows]


def workloads_from_trace(trace: Trace, batch: int = 1, weight_bits: int | dict = 32,
                         densities: Trace | None = None, act_pattern: dict | None = None) -> list[LayerWorkload]:
    """Every priced GEMM of ``trace`` (one sample) as workloads at ``batch`` samples.

    ``weight_bits``: one width, or widths by workload name (others: 32, float).  ``densities``: a trace of the same
    model on a calibration batch (``trace_model(..., densities=True)``), the same ops in the same order; each GEMM's
    streamed-operand nonzero fraction becomes its ``act_density``.  ``act_pattern``: measured nonzero input vectors
    by name (``measure_activations``), kept where their length is the workload's ``K``."""
    measured = zeros = None
    if densities is not None:
        def key(g):   # the op itself may differ with the batch (addmm vs mm); what it computes per sample may not
            return g.kind, g.weight, g.M, g.K, g.N

        if [key(g) for g in densities.gemms] != [key(g) for g in trace.gemms]:
            raise WorkloadError("the calibration run traced other GEMMs than the example run (data-dependent control "
                                "flow); activation densities cannot be matched to the layers")
        measured = [g.stream_density for g in densities.gemms]
        zeros = [g.zero_fraction for g in densities.gemms]
    seen: dict[str, int] = {}
    out: list[LayerWorkload] = []
    for i, g in enumerate(trace.gemms):
        base = _base_name(g)
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"
        bits = weight_bits.get(name, 32) if isinstance(weight_bits, dict) else weight_bits
        if g.weight is None:
            bits = 32 if isinstance(weight_bits, dict) else weight_bits
        for w in _one(g, name, batch, bits, None if measured is None else measured[i],
                      None if zeros is None else zeros[i]):
            pat = (act_pattern or {}).get(w.name)
            out.append(replace(w, act_pattern=pat) if pat is not None and pat.shape[-1] == w.K else w)
    if not out:
        raise WorkloadError("the traced model ran no GEMM or convolution: nothing to price")
    return out


def traced_workloads(model, example, batch: int = 1, weight_bits: int | dict = 32,
                     calibration=None) -> tuple[list[LayerWorkload], Trace]:
    """(workloads, trace) of ``model`` run once on ``example`` (one sample) in eval mode, without gradients;
    ``calibration`` (a batch) measures every GEMM's activation density and the Conv2d/Linear input patterns.  A model
    the trace cannot run is a WorkloadError naming the op and the ``--workloads modules`` fallback."""
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            trace = trace_model(model, example)
            dens = None if calibration is None else trace_model(model, calibration, samples=len(calibration),
                                                                densities=True)
    except TraceError as e:
        raise untraceable(model, e) from None
    finally:
        model.train(was)
    patterns = measure_activations(model, calibration)[1] if calibration is not None else None
    return workloads_from_trace(trace, batch, weight_bits, dens, patterns), trace


def module_share_line(workloads: list[LayerWorkload], model, example) -> str:
    """The module list's priced share of the model's FLOPs (FlopCounterMode on the same one-sample run)."""
    from .trace import flop_counter_macs

    priced = sum(w.M * w.K * w.N for w in workloads)   # one sample (the module list's batch is the priced one)
    try:
        import torch

        with torch.no_grad():
            total = sum(flop_counter_macs(model, example).values())
    except Exception as e:   # noqa: BLE001 - the share is then unknown, and said so
        return (f"priced the Conv2d/Linear module list ({len(workloads)} layers, {2 * priced:,} FLOPs); the model's "
                f"FLOPs are unknown (FlopCounterMode failed: {type(e).__name__})")
    share = f"{priced / total:.1%}" if total else "n/a"
    return (f"priced {share} of the model's FLOPs (module list: {2 * priced:,} of {2 * total:,} FlopCounterMode "
            f"counts; {len(workloads)} Conv2d/Linear layers, a Linear as one token)")
