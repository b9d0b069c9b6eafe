"""Workloads from the computation a model performs, not from a list of its modules.

``trace_model(model, example)`` runs the model once on its real example input under a ``TorchDispatchMode`` (the
mechanism ``torch.utils.flop_counter.FlopCounterMode`` uses; torch.fx / torch.export break on many models) and
records every aten op that reaches the dispatcher:

* **GEMMs** (``TracedGemm``): ``mm``/``addmm``/``bmm``/``baddbmm`` (``matmul``, ``F.linear``, ``einsum`` and
  ``nn.MultiheadAttention``'s slow path reach these through their decompositions), ``mv``/``addmv``/``dot``,
  ``convolution`` (1-D/2-D/3-D, grouped/depthwise, transposed) and the ``_scaled_dot_product_*`` attention kernels
  (a score GEMM ``Q K^T`` and a context GEMM ``P V`` each).  Each is an ``M x K x N`` GEMM in ``LayerWorkload``'s
  units: ``M`` outputs (filters, out features) x ``K`` reduction x ``N`` columns per instance, times ``batch``
  instances; MACs ``M*K*N*batch``.
* **Vector work** (``VectorOp``): every other op with its output element count (element-wise, norms, softmax,
  copies, gathers), never dropped; views are counted as calls with no elements.
* **Unpriced ops** (``UnpricedOp``): ops holding multiply-accumulates that are not priced here, with the FLOPs
  torch's own flop formula gives them (``None`` where torch has none: their share is unknown, and said so).

Which operand is a weight: every tensor carries where it came from (``_Origin``): the example input is an
activation; a module parameter is itself; an op's output is an activation when any input is one, else derived from
the parameters among its inputs.  So ``W.t()``, a slice of ``in_proj_weight``, ``weight_orig * weight_mask``
(torch.nn.utils.prune) and a torch.ao.pruning parametrization all stay the weight they came from, by identity, and
the GEMM keeps that operand as its ``(M, K)`` weight matrix (real zero pattern, masks applied).  A GEMM with no
parameter-derived operand is activation x activation (``weight is None``).

Conventions (docs/cost_model.md, "Traced workloads"):
* a weight GEMM: ``M`` = the weight's output side, ``K`` = the reduction, ``N x batch`` = the other operand's
  columns (a Linear over leading dims: tokens x batch; ``samples`` splits them into ``N`` per sample x ``batch``);
* a convolution: ``M`` = output channels, ``K`` = input channels per group x kernel positions, ``N`` = output
  positions (a transposed conv: input positions, the scatter form), ``batch`` = images, ``groups`` kept;
* activation x activation ``a @ b``: the second operand is the stationary one (attention's K and V, the operands
  a KV cache holds), so ``M`` = columns of ``b`` (keys for the score ``Q K^T``, value dim for the context ``P V``),
  ``K`` = the reduction, ``N`` = rows of ``a`` (queries: one column per query, as a Linear's tokens), ``batch`` =
  the bmm batch (samples x heads); attention is dense (a causal mask is not a skipped GEMM, as in FlopCounterMode).
  ``cache_read_elems``: elements of one instance's stationary operand copied from the model's inputs (a KV cache
  passed in; followed through views, copies and ``cat``); ``cache_write_elems``: the rest of it, where the model
  returns that operand (the cache it hands to the next step), else 0.

Each GEMM also records the module whose forward ran it (``module``: names the activation x activation rows) and,
with ``densities=True`` (a calibration batch), the nonzero fractions of its activation operands; the priced
workloads are built from a trace by ``sparsesim.traced_workloads``.

The fused CPU fast paths of ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` (one opaque kernel for the
whole block) are switched off while tracing (``torch.backends.mha``), so projections and attention reach the trace
as separate ops; the setting is restored afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from math import prod

from .workload import WorkloadError


class TraceError(WorkloadError):
    pass


@dataclass(frozen=True)
class TracedGemm:
    op: str                        # aten op packet, e.g. "aten.addmm"
    kind: str                      # linear | conv1d.. | conv_transpose2d.. | matmul | attention_score | ..context
    M: int
    K: int
    N: int
    batch: int = 1
    groups: int = 1
    weight: str | None = None      # the parameter the weight operand derives from; None: activation x activation
    weight_matrix: object = field(default=None, repr=False, compare=False)  # (M, K) torch tensor, weight GEMMs
    geometry: dict = field(default_factory=dict, repr=False, compare=False)  # conv: kernel, stride, padding, ..
    module: str = ""               # the innermost module whose forward ran the op ("" = the model itself)
    stream_density: float | None = field(default=None, compare=False)      # nonzero fraction of the streamed
    stationary_density: float | None = field(default=None, compare=False)  # (N side) / activation (M x K) operand;
                                   # None: not measured (``trace_model(densities=False)``) or not an activation
    cache_read_elems: int = 0      # activation x activation, per instance: stationary elements from the model's inputs
    cache_write_elems: int = 0     # ... and those computed here that the model returns (appended to its cache)
    zero_fraction: float | None = field(default=None, compare=False)  # act x act: share of a sample's instances
                                   # with an operand that is zero in every traced sample (a pruned head), so their
                                   # product is zero; None: not measured (``densities`` off)

    @property
    def macs(self) -> int:
        return self.M * self.K * self.N * self.batch

    @property
    def act_x_act(self) -> bool:
        return self.weight is None


@dataclass(frozen=True)
class VectorOp:
    op: str
    calls: int
    elements: int                  # output elements over all calls (0 for views)


@dataclass(frozen=True)
class UnpricedOp:
    op: str
    calls: int
    flops: int | None              # torch's flop formula over all calls; None: torch has none (share unknown)


@dataclass(frozen=True)
class Trace:
    gemms: tuple[TracedGemm, ...]
    vector: tuple[VectorOp, ...]
    unpriced: tuple[UnpricedOp, ...]

    @property
    def macs(self) -> int:
        return sum(g.macs for g in self.gemms)

    def macs_by_op(self) -> dict[str, int]:
        out: Counter = Counter()
        for g in self.gemms:
            out[g.op] += g.macs
        return dict(out)

    def macs_by_kind(self) -> dict[str, int]:
        out: Counter = Counter()
        for g in self.gemms:
            out[g.kind] += g.macs
        return dict(out)

    @property
    def vector_elements(self) -> int:
        return sum(v.elements for v in self.vector)

    @property
    def priced_share(self) -> float:
        """Priced FLOPs (2 per MAC) over priced plus unpriced FLOPs (torch's formulas); an unpriced op without a
        formula makes the share an upper bound (``unknown_unpriced``)."""
        priced = 2 * self.macs
        total = priced + sum(u.flops or 0 for u in self.unpriced)
        return priced / total if total else 1.0

    @property
    def unknown_unpriced(self) -> tuple[str, ...]:
        return tuple(u.op for u in self.unpriced if u.flops is None)

    def share_line(self) -> str:
        """One line: the priced share of the model's FLOPs and what is not priced."""
        line = f"priced {self.priced_share:.1%} of the model's FLOPs ({2 * self.macs:,} of " \
               f"{2 * self.macs + sum(u.flops or 0 for u in self.unpriced):,}; {len(self.gemms)} GEMMs, " \
               f"{self.vector_elements:,} vector elements)"
        if self.unpriced:
            line += "; not priced: " + ", ".join(
                f"{u.op} ({'share unknown' if u.flops is None else f'{u.flops:,} FLOPs'})" for u in self.unpriced)
        return line


# ops that hold multiply-accumulates, not priced here: fused kernels torch may pick (their FLOPs from torch's formula
# where it has one); any op torch's flop registry counts and ``_HANDLERS`` does not price joins them
FUSED_MAC_OPS = ("aten._native_multi_head_attention", "aten._transformer_encoder_layer_fwd",
                 "aten.mkldnn_convolution", "aten.mkldnn_linear", "aten._flash_attention_forward",
                 "aten._efficient_attention_forward", "aten.addr", "aten.addbmm",
                 # sparse and quantized products (FlopCounterMode counts none of them): listed, never vector work
                 "aten._sparse_addmm", "aten._sparse_mm", "aten.sspaddmm", "aten._sparse_sparse_matmul",
                 "aten.smm", "quantized.linear", "quantized.linear_dynamic", "quantized.conv2d",
                 "quantized.conv1d", "quantized.conv3d")


# single-input ops that copy their input's elements (views are recognised by ``is_view``)
_COPIES = frozenset({"aten.clone", "aten._to_copy", "aten._unsafe_view", "aten.contiguous", "aten.alias",
                     "aten.lift_fresh", "aten.detach"})


class _Origin:
    """Where a tensor came from: ``ACT`` (depends on the input) or the parameter names it derives from."""
    ACT = "activation"


def _param_name(name: str) -> str:
    """A parameter's name as the model's state exposes the weight: pruning reparametrizations folded."""
    if ".parametrizations." in name:
        prefix, _, rest = name.partition(".parametrizations.")
        return f"{prefix}.{rest.split('.')[0]}"
    return name[:-5] if name.endswith("_orig") else name


def _split(columns: int, samples: int) -> tuple[int, int]:
    """(N per sample, batch) of ``columns`` streamed columns."""
    return (columns // samples, samples) if samples > 1 and columns % samples == 0 else (columns, 1)


class _Recorder:
    """The state of one trace: origins of live tensors and what was recorded (owned by one ``trace_model`` call)."""

    def __init__(self, model, samples: int, densities: bool = False):
        import torch
        from torch.utils.weak import WeakTensorKeyDictionary

        self.torch = torch
        self.samples = samples
        self.densities = densities
        self.modules: list[str] = [""]   # the stack of running modules' names (forward hooks)
        self.origin = WeakTensorKeyDictionary()
        self.from_input = WeakTensorKeyDictionary()   # tensor -> elements copied from the model's inputs
        self.stationary: list = []                    # (gemm index, stationary operand's storage) of act x act
        self.pending: list = []                       # storages of the act x act GEMMs a handler just returned
        self.by_storage: dict[int, str] = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            self.origin[p] = frozenset({_param_name(name)})
            self.by_storage.setdefault(p.untyped_storage().data_ptr(), _param_name(name))
        self.gemms: list[TracedGemm] = []
        self.vector: Counter = Counter()
        self.vector_calls: Counter = Counter()
        self.unpriced_calls: Counter = Counter()
        self.unpriced_flops: dict[str, int | None] = {}

    def of(self, t):
        o = self.origin.get(t)
        if o is None and t.layout == self.torch.strided and t.device.type != "meta":
            try:
                name = self.by_storage.get(t.untyped_storage().data_ptr())
            except (RuntimeError, NotImplementedError):
                name = None
            o = frozenset({name}) if name else None
        return o

    def combine(self, tensors):
        names: set[str] = set()
        for t in tensors:
            o = self.of(t)
            if o == _Origin.ACT:
                return _Origin.ACT
            if o:
                names |= o
        return frozenset(names) if names else None

    def weight(self, t) -> str | None:
        o = self.of(t)
        return ", ".join(sorted(o)) if o and o != _Origin.ACT else None

    def act_x_act(self, g: TracedGemm, operand) -> TracedGemm:
        """``g`` (activation x activation) with its cache reads: the stationary ``operand``'s elements copied from
        the model's inputs, per instance; the operand's storage is kept (alive, so no later tensor reuses it) to
        see after the run whether the model returns it (``returned``)."""
        per = max(g.batch, 1)
        read = min(int(self.from_input.get(operand) or 0) // per, g.M * g.K)
        try:
            storage = operand.untyped_storage()
        except (RuntimeError, NotImplementedError):
            storage = None
        self.pending.append(storage)
        return replace(g, cache_read_elems=read)

    def returned(self, outputs) -> None:
        """Where the model returns an act x act GEMM's stationary operand (its KV cache for the next step), the
        elements computed in this run are written out: ``cache_write_elems``."""
        ptrs = set()
        for t in _tensors(outputs):
            try:
                ptrs.add(t.untyped_storage().data_ptr())
            except (RuntimeError, NotImplementedError):
                continue
        for i, storage in self.stationary:
            g = self.gemms[i]
            if storage is not None and storage.data_ptr() in ptrs:
                self.gemms[i] = replace(g, cache_write_elems=g.M * g.K - g.cache_read_elems)

    def zero_fraction(self, operands, instances: int) -> float | None:
        """Share of one sample's ``instances`` (leading dims: samples x instances per sample) where any of
        ``operands`` is zero in every traced sample (``densities`` on; else None)."""
        if not self.densities or instances % self.samples:
            return None
        per = instances // self.samples
        dead = None
        for t in operands:
            if t is None or t.numel() % instances:
                continue
            zero = ~(t.reshape(self.samples, per, -1) != 0).any(2).any(0)
            dead = zero if dead is None else dead | zero
        return None if dead is None else float(dead.sum()) / per

    def density(self, t) -> float | None:
        """Nonzero fraction of an activation operand (``densities`` on), else None."""
        if not self.densities or t is None or not t.numel():
            return None
        return float(self.torch.count_nonzero(t)) / t.numel()


def _tensors(tree):
    import torch
    from torch.utils._pytree import tree_flatten

    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


# ------------------------------------------------------------------ GEMM handlers: (recorder, args, kwargs) -> gemms
def _mm(rec, a, b, op: str, batch: int = 1) -> list[TracedGemm]:
    """``a (r, k) @ b (k, c)`` (per batch instance): the weight operand's output side is M."""
    r, k = a.shape[-2:]
    c = b.shape[-1]
    wa, wb = rec.weight(a), rec.weight(b)
    if wb is not None and wa is None:           # x @ W^T (a Linear): M = out features, columns = rows of x
        n, bt = _split(r, rec.samples) if batch == 1 else (r, batch)
        return [TracedGemm(op, "linear" if batch == 1 else "matmul", M=int(c), K=int(k), N=int(n), batch=int(bt),
                           weight=wb, weight_matrix=b.detach().transpose(-1, -2), stream_density=rec.density(a))]
    if wa is not None:                          # W @ x
        n, bt = _split(c, rec.samples) if batch == 1 else (c, batch)
        return [TracedGemm(op, "linear" if batch == 1 else "matmul", M=int(r), K=int(k), N=int(n), batch=int(bt),
                           weight=wa, weight_matrix=a.detach(), stream_density=rec.density(b))]
    return [rec.act_x_act(TracedGemm(op, "matmul", M=int(c), K=int(k), N=int(r), batch=int(batch),
                                     stream_density=rec.density(a), stationary_density=rec.density(b),
                                     zero_fraction=rec.zero_fraction((a, b), int(batch))), b)]


def _gemm_mm(rec, args, kwargs):
    return _mm(rec, args[0], args[1], "aten.mm")


def _gemm_addmm(rec, args, kwargs):
    return _mm(rec, args[1], args[2], "aten.addmm")


def _gemm_bmm(rec, args, kwargs):
    return _mm(rec, args[0], args[1], "aten.bmm", batch=args[0].shape[0])


def _gemm_baddbmm(rec, args, kwargs):
    return _mm(rec, args[1], args[2], "aten.baddbmm", batch=args[1].shape[0])


def _gemm_mv(rec, args, kwargs, op="aten.mv", first=0):
    a, v = args[first], args[first + 1]
    return _mm(rec, a, v.reshape(-1, 1), op)


def _gemm_addmv(rec, args, kwargs):
    return _gemm_mv(rec, args, kwargs, "aten.addmv", first=1)


def _gemm_dot(rec, args, kwargs):
    return _mm(rec, args[0].reshape(1, -1), args[1].reshape(-1, 1), "aten.dot")


def _conv_args(args, kwargs) -> dict:
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "transposed", "output_padding", "groups")
    out = dict(zip(names, args))
    out.update({k: v for k, v in kwargs.items() if k in names})
    return out


def _gemm_conv(rec, args, kwargs, op="aten.convolution"):
    a = _conv_args(args, kwargs)
    x, w, groups, transposed = a["input"], a["weight"], int(a["groups"]), bool(a["transposed"])
    spatial = x.dim() - 2
    kernel = [int(s) for s in w.shape[2:]]
    if transposed:   # weight (C_in, C_out/g, *k): scatter form, one GEMM column per input position
        c_in, c_out_g = int(w.shape[0]), int(w.shape[1])
        m, k, n = c_out_g * groups, (c_in // groups) * prod(kernel), prod(x.shape[2:])
        wm = (w.detach().reshape(groups, c_in // groups, c_out_g, prod(kernel)).permute(0, 2, 1, 3)
              .reshape(m, k))
        geo_out = {}
    else:
        m, k = int(w.shape[0]), int(w[0].numel())
        out_sp = _conv_out(x.shape[2:], kernel, a["stride"], a["padding"], a["dilation"])
        n = prod(out_sp)
        geo_out = {"output_hw": out_sp}
        wm = w.detach().reshape(m, k)
    kind = f"conv_transpose{spatial}d" if transposed else f"conv{spatial}d"
    weight = rec.weight(w)
    geo = {"kernel": kernel, "stride": list(a["stride"]), "padding": list(a["padding"]),
           "dilation": list(a["dilation"]), "input_hw": [int(s) for s in x.shape[2:]], **geo_out}
    return [TracedGemm(op, kind, M=m, K=k, N=int(n), batch=int(x.shape[0]), groups=groups, weight=weight,
                       weight_matrix=wm if weight is not None else None, geometry=geo,
                       stream_density=rec.density(x))]


def _gemm_conv_(rec, args, kwargs):
    return _gemm_conv(rec, args, kwargs, op="aten._convolution")


def _conv_out(size, kernel, stride, padding, dilation) -> list[int]:
    def at(v, i):
        return int(v[i] if len(v) > 1 else v[0])
    return [(int(s) + 2 * at(padding, i) - at(dilation, i) * (kernel[i] - 1) - 1) // at(stride, i) + 1
            for i, s in enumerate(size)]


def _gemm_sdpa(rec, args, kwargs, op: str):
    """Attention (B, H, S, D): score ``Q K^T`` (stationary K: M = keys, K = head dim, N = query rows) and context
    ``P V`` (stationary V: M = value dim, K = keys, N = query rows), batch = B x query heads; dense (a causal mask
    skips nothing).  ``P`` stays inside the kernel: its density is not measured."""
    q, k, v = args[:3]
    b, h, s_q, d = (int(x) for x in q.shape)
    s_k, d_v = int(k.shape[-2]), int(v.shape[-1])
    same_heads = tuple(k.shape[:2]) == (b, h)   # grouped-query K/V (fewer heads): their zeros are not matched
    return [rec.act_x_act(TracedGemm(op, "attention_score", M=s_k, K=d, N=s_q, batch=b * h,
                                     stream_density=rec.density(q), stationary_density=rec.density(k),
                                     zero_fraction=rec.zero_fraction((q, k) if same_heads else (q,), b * h)), k),
            rec.act_x_act(TracedGemm(op, "attention_context", M=d_v, K=s_k, N=s_q, batch=b * h,
                                     stationary_density=rec.density(v),
                                     zero_fraction=rec.zero_fraction((v,), b * h) if same_heads else None), v)]


def _sdpa(op):
    return lambda rec, args, kwargs: _gemm_sdpa(rec, args, kwargs, op)


_HANDLERS = {
    "aten.mm": _gemm_mm, "aten.addmm": _gemm_addmm, "aten.bmm": _gemm_bmm, "aten.baddbmm": _gemm_baddbmm,
    "aten.mv": _gemm_mv, "aten.addmv": _gemm_addmv, "aten.dot": _gemm_dot,
    "aten.convolution": _gemm_conv, "aten._convolution": _gemm_conv_,
    **{f"aten.{n}": _sdpa(f"aten.{n}") for n in (
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention")},
}


def _op_name(func) -> str:
    return f"aten.{func._overloadpacket.__name__}" if func.namespace == "aten" else str(func._overloadpacket)


def _mode(rec: _Recorder):
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    skip = {torch.ops.aten.size.default, torch.ops.aten.stride.default, torch.ops.aten.dim.default,
            torch.ops.aten.numel.default, torch.ops.aten.is_contiguous.default, torch.ops.prim.layout.default,
            torch.ops.aten.sym_size.default, torch.ops.aten.sym_stride.default, torch.ops.aten.sym_numel.default,
            torch.ops.aten.storage_offset.default, torch.ops.aten.sym_storage_offset.default,
            torch.ops.aten.is_contiguous.memory_format, torch.ops.aten.is_strides_like_format.default,
            torch.ops.aten.is_non_overlapping_and_dense.default, torch.ops.aten.sym_is_contiguous.default}

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in skip:
                return NotImplemented
            name = _op_name(func)
            handler = _HANDLERS.get(name)
            if (handler is None and func._overloadpacket not in flop_registry
                    and func is not torch.ops.prim.device.default):
                with self:   # as FlopCounterMode does: an op with a decomposition is traced as its parts
                    r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
            try:
                out = func(*args, **kwargs)
            except Exception as e:
                raise TraceError(f"tracing failed at {name} ({type(e).__name__}: {str(e).splitlines()[0][:160]})") \
                    from e
            try:
                self.record(func, name, handler, args, kwargs, out)
            except Exception as e:   # an op whose arguments a handler cannot read: named, never half-recorded
                raise TraceError(f"tracing failed at {name} (recording it: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:160] if str(e) else ''})") from e
            return out

        def record(self, func, name, handler, args, kwargs, out):
            inputs = _tensors((args, kwargs))
            origin = rec.combine(inputs)
            outs = _tensors(out)
            mutated = [a for a, s in zip(args, func._schema.arguments) if s.alias_info is not None
                       and s.alias_info.is_write and isinstance(a, torch.Tensor)]
            for t in outs + mutated:
                if origin is not None:
                    rec.origin[t] = origin
                elif t in rec.origin:   # a tensor overwritten from neutral data (a fill) forgets its origin
                    del rec.origin[t]
            counts = [int(rec.from_input.get(t) or 0) for t in inputs]
            if any(counts) and outs:   # elements copied from the model's inputs (a KV cache) follow copies and cat
                if name in ("aten.cat", "aten.stack"):
                    rec.from_input[outs[0]] = sum(counts)
                elif len(inputs) == 1 and (func.is_view or name in _COPIES):
                    for t in outs:
                        rec.from_input[t] = min(counts[0], t.numel())
            if handler is not None:
                start = len(rec.gemms)
                rec.gemms.extend(replace(g, module=rec.modules[-1]) for g in handler(rec, args, kwargs))
                rec.stationary += [(start + i, rec.pending.pop(0)) for i, g in enumerate(rec.gemms[start:])
                                   if g.act_x_act]
            elif func._overloadpacket in flop_registry or name in FUSED_MAC_OPS:
                rec.unpriced_calls[name] += 1
                formula = flop_registry.get(func._overloadpacket)
                if formula is None:
                    rec.unpriced_flops[name] = None
                elif rec.unpriced_flops.get(name, 0) is not None:
                    rec.unpriced_flops[name] = rec.unpriced_flops.get(name, 0) + int(
                        formula(*args, **kwargs, out_val=out))
            else:
                rec.vector_calls[name] += 1
                rec.vector[name] += 0 if func.is_view else sum(t.numel() for t in outs)

    return Mode()


def _module_hooks(model, rec: _Recorder) -> list:
    """Forward hooks keeping ``rec.modules`` (the running modules' names), removed by the caller."""
    def enter(mod, inp, name=""):
        rec.modules.append(name)

    def leave(mod, inp, out):   # returns None: the output stays the module's
        if len(rec.modules) > 1:
            rec.modules.pop()

    hooks = []
    for name, m in model.named_modules():
        hooks += [m.register_forward_pre_hook(lambda mod, inp, name=name: enter(mod, inp, name)),
                  m.register_forward_hook(leave)]
    return hooks


def trace_model(model, example, samples: int = 1, densities: bool = False) -> Trace:
    """Run ``model(example)`` once (``example``: a tensor, or a tuple/list of positional inputs) under the trace
    and return what it computed.  ``samples``: how many samples the example holds, to split a Linear's columns into
    tokens per sample x batch (1: all columns are ``N``).  ``densities``: also record each GEMM's activation
    operands' nonzero fractions (meaningful on real data, e.g. a calibration batch).  Raises ``TraceError`` naming
    the op that failed."""
    import torch

    rec = _Recorder(model, samples, densities)
    hooks = _module_hooks(model, rec)
    inputs = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    for t in _tensors(inputs):
        rec.origin[t] = _Origin.ACT
        rec.from_input[t] = t.numel()
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with _mode(rec):
            outputs = model(*inputs)
        rec.returned(outputs)
    except TraceError:
        raise
    except Exception as e:
        raise TraceError(f"tracing failed outside an aten op ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:160] if str(e) else ''})") from e
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        for h in hooks:
            h.remove()
    return Trace(gemms=tuple(rec.gemms),
                 vector=tuple(VectorOp(n, rec.vector_calls[n], rec.vector[n]) for n in rec.vector_calls),
                 unpriced=tuple(UnpricedOp(n, c, rec.unpriced_flops.get(n)) for n, c in rec.unpriced_calls.items()))


def flop_counter_macs(model, example) -> dict[str, int]:
    """The oracle: ``FlopCounterMode``'s FLOPs / 2 per aten op on the same run (fast paths off, as in the trace).

    torch's flop registry has no entry for the CPU attention kernel ``_scaled_dot_product_flash_attention_for_cpu``
    (it counts 0 there); its own formula for ``_scaled_dot_product_flash_attention`` (same arguments, same
    computation) is mapped onto it, nothing else is added."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    aten = torch.ops.aten
    mapping = {aten._scaled_dot_product_flash_attention_for_cpu:
               flop_registry[aten._scaled_dot_product_flash_attention].__wrapped__}   # the formula, unwrapped
    inputs = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            model(*inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    out = {}
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        if flops % 2:
            raise AssertionError(f"{op}: odd FLOP count {flops}")
        out[f"aten.{op.__name__}"] = flops // 2
    return out
