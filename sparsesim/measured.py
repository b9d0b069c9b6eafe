"""The measured engine: real CPU/GPU runs of a pruned model, as the same ``LayerCost`` rows the simulators write.

For every Conv2d/Linear of a model, at each batch, every variant that applies is timed
(``sparsesim.stopwatch.time_fn``: warm-up, repeated runs, median and quartiles with their ``TimingQuality``):

* ``dense``      the layer as the model runs it (``conv2d``/``linear``, unpruned shapes)
* ``dense_gemm`` (convs) the same im2col GEMM the sparse variants use, for a like-for-like ratio
* ``csr``        torch sparse CSR x the im2col'ed input (cuSPARSE on GPU, MKL/native on CPU)
* ``coo``        (CPU) torch sparse COO
* ``compact``    the physically smaller dense layer: all-zero filters and input channels removed (a smaller
                 ``conv2d``), or for column/shape pruning the kept GEMM columns gathered then one smaller ``mm``
* ``dense_fp16`` (CUDA, 2:4-sparse layers) the same GEMM in fp16 with the zeros stored: the baseline of the
                 published 2:4 speedups (dense fp16 time / 2:4 fp16 time; docs/validation.md section 15)
* ``semi24``     (CUDA, fp16, 2:4-sparse layers) ``torch.sparse.to_sparse_semi_structured`` (cuSPARSELt where
                 torch has it, else CUTLASS); ``semi24`` against ``dense_fp16`` is that speedup

and the whole model as ``dense``, ``compact`` (``pruning.purification.compact``) and all-``csr``: rows with
``layer == "MODEL"``.  Every variant's output is checked against dense (``allclose``) before it is timed.

Row fields (``sparsesim.results.LayerCost``): ``engine`` "measured", ``hardware`` "cpu (N threads)" or
"cuda:0", ``format`` the variant, ``latency_s`` the median, ``macs_dense`` / ``macs_useful`` of the layer at the
batch, ``weight_bits`` the stored value width (32: fp32; 16: semi24), storage bits counted from the tensors the
variant reads (``Storage``: values, indices, row pointers at their torch dtypes; CSR/COO indices are int64),
``utilization`` = achieved GFLOP/s / the device's peak (``Roofline``), and the timing's quartiles, load and trust
flag.  What a run does not give (cycles, SRAM/DRAM words and bits, energy, PEs, executed MACs) is NaN.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from accel_models.machine_load import LoadMonitor

from .results import COLUMNS, RUN_DEFAULTS, CostTable, LayerCost
from .stopwatch import MeasureError, Roofline, Timing, time_fn, timer_for

FORMATS = ("dense", "dense_gemm", "csr", "coo", "compact", "dense_fp16", "semi24")
MODEL_LAYER = "MODEL"     # the ``layer`` of whole-model rows


# ------------------------------------------------------------------ storage
def tensor_bits(t: torch.Tensor | None) -> float:
    """Bits a tensor holds: elements x element size (0 for None)."""
    return 0.0 if t is None else float(t.numel() * t.element_size() * 8)


@dataclass(frozen=True)
class Storage:
    """Bits of what a variant reads at run time: values, indices (column / coordinate / kept-column / 2:4
    metadata) and row pointers, counted from the tensors themselves (their torch dtypes)."""

    value_bits: float
    index_bits: float = 0.0
    pointer_bits: float = 0.0

    @property
    def total_bits(self) -> float:
        return self.value_bits + self.index_bits + self.pointer_bits

    def __add__(self, other: "Storage") -> "Storage":
        return Storage(self.value_bits + other.value_bits, self.index_bits + other.index_bits,
                       self.pointer_bits + other.pointer_bits)


def csr_storage(csr: torch.Tensor) -> Storage:
    """Values + column indices + row pointers (``crow_indices``, rows + 1 entries) of a sparse CSR tensor."""
    return Storage(tensor_bits(csr.values()), tensor_bits(csr.col_indices()), tensor_bits(csr.crow_indices()))


def coo_storage(coo: torch.Tensor) -> Storage:
    """Values + the (ndim x nnz) coordinate indices of a sparse COO tensor."""
    coo = coo.coalesce()
    return Storage(tensor_bits(coo.values()), tensor_bits(coo.indices()))


def semi_structured_storage(ws) -> Storage:
    """Packed values (and their transposed copy, where torch keeps one) + metadata of a 2:4 tensor; NaN where
    this torch version does not expose them."""
    try:
        values = tensor_bits(ws.packed) + tensor_bits(getattr(ws, "packed_t", None))
        meta = (tensor_bits(ws.meta) + tensor_bits(getattr(ws, "meta_t", None))
                + tensor_bits(getattr(ws, "compressed_swizzled_bitmask", None)))
    except AttributeError:
        return Storage(math.nan, math.nan, math.nan)
    return Storage(values, meta)


# ------------------------------------------------------------------- layers
@dataclass(frozen=True)
class Variant:
    """One way to run a layer: ``run()`` gives its raw output, ``to_dense(y)`` the dense layer's output."""

    run: Callable[[], torch.Tensor]
    to_dense: Callable[[torch.Tensor], torch.Tensor]
    note: str
    storage: Storage
    value_bits: int = 32     # width of a stored weight value


def unfold_gemm(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """im2col: (K, N*batch) with K in PyTorch's (C, R, S) order."""
    cols = F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride)
    return cols.permute(1, 0, 2).reshape(cols.shape[1], -1)


def fold_gemm_output(y: torch.Tensor, batch: int, out_hw) -> torch.Tensor:
    m = y.shape[0]
    return y.reshape(m, batch, -1).permute(1, 0, 2).reshape(batch, m, *out_hw)


def _to_csr(w2: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return w2.to_sparse_csr()


def layer_variants(layer: nn.Module, x: torch.Tensor, device: str) -> dict[str, Variant]:
    """Every variant that applies to this layer, by name (``FORMATS``); a Linear's ``x`` is 2-D (``run_layer``
    flattens a Linear over tokens to its one GEMM over every row)."""
    w = layer.weight.detach()
    m = w.shape[0]
    w2 = w.reshape(m, -1)
    bias = layer.bias.detach() if layer.bias is not None else None
    is_conv = isinstance(layer, nn.Conv2d)
    if is_conv and layer.groups != 1:
        raise MeasureError("grouped convolutions are timed dense only")
    out: dict[str, Variant] = {}
    if is_conv:
        with torch.no_grad():
            y_dense = layer(x)
        out_hw = y_dense.shape[2:]
        batch = x.shape[0]
        dense = lambda: F.conv2d(x, w, bias, layer.stride, layer.padding, layer.dilation)  # noqa: E731
        xcols = unfold_gemm(layer, x)
        post = lambda y: fold_gemm_output(y if bias is None else y + bias[:, None], batch, out_hw)  # noqa: E731
    else:
        dense = lambda: F.linear(x, w, bias)  # noqa: E731
        xcols = x.t().contiguous()
        post = lambda y: (y if bias is None else y + bias[:, None]).t()  # noqa: E731
    dense_storage = Storage(tensor_bits(w))
    out["dense"] = Variant(dense, lambda r: r, "", dense_storage)
    if is_conv:  # the same GEMM formulation the sparse variants use, for a like-for-like ratio
        out["dense_gemm"] = Variant(lambda: torch.mm(w2, unfold_gemm(layer, x)), post, "unfold + dense mm",
                                    dense_storage)
    csr = _to_csr(w2)
    if is_conv:
        out["csr"] = Variant(lambda: torch.sparse.mm(csr, unfold_gemm(layer, x)), post, "unfold + CSR spmm",
                             csr_storage(csr))
    else:
        out["csr"] = Variant(lambda: torch.sparse.mm(csr, xcols), post, "CSR spmm", csr_storage(csr))
    if device == "cpu":  # on CUDA both go through cuSPARSE's CSR path
        coo = w2.to_sparse_coo()
        out["coo"] = Variant((lambda: torch.sparse.mm(coo, unfold_gemm(layer, x))) if is_conv
                             else (lambda: torch.sparse.mm(coo, xcols)), post, "COO spmm", coo_storage(coo))
    rows = torch.nonzero(w2.abs().sum(1)).reshape(-1)
    cols = torch.nonzero(w2.abs().sum(0)).reshape(-1)

    def scatter(y_small):  # kept outputs back into the full output (for checking only)
        y = torch.zeros(m, y_small.shape[1], device=y_small.device, dtype=y_small.dtype)
        y[rows] = y_small
        if bias is not None:
            y += bias[:, None]
        return fold_gemm_output(y, x.shape[0], out_hw) if is_conv else y.t()

    if is_conv:
        c = w.shape[1]
        chans = torch.nonzero(w.abs().sum((0, 2, 3))).reshape(-1)
        kernel_cols = torch.arange(w2.shape[1], device=w.device).reshape(c, -1)[chans].reshape(-1)
        if cols.numel() == kernel_cols.numel():  # only whole channels pruned: a smaller dense conv
            w_small = w[rows][:, chans].contiguous()
            x_small = x[:, chans].contiguous()
            out["compact"] = Variant(
                lambda: F.conv2d(x_small, w_small, None, layer.stride, layer.padding, layer.dilation),
                lambda y: scatter(y.permute(1, 0, 2, 3).reshape(rows.numel(), -1)),
                f"conv {rows.numel()}x{chans.numel()} of {m}x{c}", Storage(tensor_bits(w_small)))
        else:  # column (shape) pruning: gather kept GEMM columns, one smaller mm
            w_small = w2[rows][:, cols].contiguous()
            out["compact"] = Variant(lambda: torch.mm(w_small, unfold_gemm(layer, x).index_select(0, cols)),
                                     scatter, f"unfold + gather + mm {rows.numel()}x{cols.numel()} of "
                                     f"{m}x{w2.shape[1]}", Storage(tensor_bits(w_small), tensor_bits(cols)))
    else:
        w_small = w2[rows][:, cols].contiguous()
        x_small = xcols.index_select(0, cols).contiguous()
        out["compact"] = Variant(lambda: torch.mm(w_small, x_small), scatter,
                                 f"mm {rows.numel()}x{cols.numel()} of {m}x{w2.shape[1]}",
                                 Storage(tensor_bits(w_small)))
    if device.startswith("cuda") and _is_24(w2):
        out.update(semi_structured_variants(w2, xcols, post))
    return out


def _is_24(w2: torch.Tensor) -> bool:
    if w2.shape[1] % 4:
        return False
    return bool(((w2.reshape(w2.shape[0], -1, 4) != 0).sum(-1) <= 2).all())


def semi_structured_variants(w2: torch.Tensor, xcols: torch.Tensor, post) -> dict[str, Variant]:
    """The CUDA 2:4 path of a 2:4-sparse GEMM ``w2 @ xcols``: ``dense_fp16`` (the zeros stored) and ``semi24``
    (``to_sparse_semi_structured``), both fp16 on ``w2``'s device; ``semi24`` is left out where torch refuses
    the shape or the GPU (compute capability below 8.0, no cuSPARSELt/CUTLASS kernel): no row, not an error."""
    w16, x16 = w2.half().contiguous(), xcols.half().contiguous()
    to_dense = lambda y: post(y.float())  # noqa: E731
    out = {"dense_fp16": Variant(lambda: torch.mm(w16, x16), to_dense, "fp16 dense GEMM (zeros stored)",
                                 Storage(tensor_bits(w16)), 16)}
    try:
        from torch.sparse import to_sparse_semi_structured
        ws = to_sparse_semi_structured(w16)
    except Exception:  # noqa: BLE001 - unsupported shape/arch: the variant is skipped
        return out
    out["semi24"] = Variant(lambda: torch.mm(ws, x16), to_dense, "fp16 2:4 semi-structured",
                            semi_structured_storage(ws), 16)
    return out


@dataclass(frozen=True)
class LayerRun:
    layer: str
    variant: str
    batch: int
    timing: Timing
    flops_useful: float      # 2 x nonzero weights x output pixels x batch
    max_abs_err: float
    note: str = ""
    bytes_min: float = 0.0   # least data any variant must move: nonzero weights, input, output (fp32)
    flops_dense: float = math.nan   # 2 x all weights x output pixels x batch
    storage: Storage = Storage(math.nan, math.nan, math.nan)
    value_bits: int = 32

    @property
    def gflops(self) -> float:
        return self.flops_useful / self.timing.median_s / 1e9

    def roofline_gflops(self, roof: Roofline | None) -> float:
        """min(peak compute, arithmetic intensity x bandwidth) for the least data the layer must move."""
        if not roof or not self.bytes_min:
            return math.nan
        return min(roof.peak_gflops, self.flops_useful / self.bytes_min * roof.bandwidth_gbs)

    def to_cost(self, hardware: str, roof: Roofline | None, dense_s: float = math.nan) -> LayerCost:
        """This run as a cost row (``speedup_vs_dense`` from the dense variant's median ``dense_s``)."""
        attainable = self.roofline_gflops(roof)
        return measured_cost(
            self.layer, hardware, self.variant, self.timing, batch=self.batch, weight_bits=self.value_bits,
            storage=self.storage, macs_dense=self.flops_dense / 2, macs_useful=self.flops_useful / 2,
            peak_gflops=roof.peak_gflops if roof else math.nan, roofline_gflops=attainable,
            max_abs_err=self.max_abs_err, speedup_vs_dense=dense_s / self.timing.median_s, note=self.note)


def run_layer(name: str, layer: nn.Module, x: torch.Tensor, device: str, repeats: int = 20, warmup: int = 3,
              timer=None, rtol: float = 1e-3, atol: float = 1e-3,
              monitor: LoadMonitor | None = None) -> list[LayerRun]:
    """Time every applicable variant of one layer on input ``x``; outputs checked against dense."""
    timer = timer or timer_for(device)
    w = layer.weight.detach()
    nnz = int((w != 0).sum())
    if not isinstance(layer, nn.Conv2d) and x.dim() != 2:   # a Linear over tokens: its GEMM over every row
        x = x.reshape(-1, x.shape[-1])
    with torch.no_grad():
        ref = layer(x)
        variants = layer_variants(layer, x, device)
        pixels = ref[0, 0].numel() if ref.dim() == 4 else 1
        flops = 2.0 * nnz * pixels * x.shape[0]
        flops_dense = 2.0 * w.numel() * pixels * x.shape[0]
        runs = []
        for vname, v in variants.items():
            y = v.to_dense(v.run())
            tol = 0.05 if vname in ("semi24", "dense_fp16") else rtol
            err = float((y.float() - ref).abs().max()) if y.numel() else 0.0
            if not torch.allclose(y.float(), ref, rtol=tol, atol=max(atol, tol * float(ref.abs().max()))):
                raise MeasureError(f"{name}: variant {vname} disagrees with dense (max abs err {err:.3g})")
            timing = time_fn(v.run, timer, repeats, warmup, monitor=monitor)
            runs.append(LayerRun(name, vname, x.shape[0], timing, flops, err, v.note,
                                 4.0 * (nnz + x.numel() + ref.numel()), flops_dense, v.storage, v.value_bits))
    return runs


def layer_inputs(model: nn.Module, example: torch.Tensor) -> dict[str, torch.Tensor]:
    """The actual input tensor of every Conv2d/Linear in one forward pass."""
    seen: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(mod, inp, out):  # returns None: the layer's output is left alone
            seen.setdefault(name, inp[0].detach())
        return hook

    hooks = [m.register_forward_hook(keep(n)) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return seen


# -------------------------------------------------------------- whole model
class CSRLinear(nn.Module):
    """A Linear/Conv2d run as CSR x im2col (whole-model sparse variant)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer
        self.csr = _to_csr(layer.weight.detach().reshape(layer.weight.shape[0], -1))

    def forward(self, x):
        lay = self.layer
        b = lay.bias
        if isinstance(lay, nn.Conv2d):
            y = torch.sparse.mm(self.csr, unfold_gemm(lay, x))
            if b is not None:
                y = y + b[:, None]
            h = (x.shape[2] + 2 * lay.padding[0] - lay.dilation[0] * (lay.kernel_size[0] - 1) - 1) // lay.stride[0] + 1
            w = (x.shape[3] + 2 * lay.padding[1] - lay.dilation[1] * (lay.kernel_size[1] - 1) - 1) // lay.stride[1] + 1
            return fold_gemm_output(y, x.shape[0], (h, w))
        lead = x.shape[:-1]   # a Linear over tokens: one spmm over every row
        y = torch.sparse.mm(self.csr, x.reshape(-1, x.shape[-1]).t())
        return (y if b is None else y + b[:, None]).t().reshape(*lead, -1)


def csr_model(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model)
    for name, mod in list(m.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, (nn.Conv2d, nn.Linear)) and (not isinstance(child, nn.Conv2d) or child.groups == 1):
                setattr(mod, cname, CSRLinear(child))
    return m


def weight_storage(model: nn.Module) -> Storage:
    """What a model's Conv2d/Linear weights take as it runs them: dense tensors, or a ``CSRLinear``'s CSR parts."""
    total, inside_csr = Storage(0.0), set()
    for m in model.modules():   # a parent comes before its children
        if isinstance(m, CSRLinear):
            total += csr_storage(m.csr)
            inside_csr.add(id(m.layer))
        elif isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in inside_csr:
            total += Storage(tensor_bits(m.weight))
    return total


def model_macs(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(dense, useful) MACs of every Conv2d/Linear of ``model`` on input ``x`` (useful: nonzero weights)."""
    dense = useful = 0.0

    def count(mod, inp, out):
        nonlocal dense, useful
        per_weight = out[0, 0].numel() * out.shape[0] if out.dim() == 4 else out.shape[0]
        dense += mod.weight.numel() * per_weight
        useful += int((mod.weight != 0).sum()) * per_weight

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return dense, useful


@dataclass(frozen=True)
class ModelRun:
    """One whole-model variant's timing (``measure_model``)."""

    variant: str
    batch: int
    timing: Timing
    max_abs_err: float
    params: int              # parameters the variant's module holds
    storage: Storage         # its Conv2d/Linear weights as it runs them
    macs_dense: float
    macs_useful: float


def measure_model(model: nn.Module, input_shape, batch: int, device: str = "cpu", repeats: int = 20,
                  variants=("dense", "compact", "csr"), monitor: LoadMonitor | None = None) -> dict[str, ModelRun]:
    """Whole-model latency of the dense, compacted and all-CSR variants (outputs checked equal), each with its
    quality (``timing.quality``: dispersion, load from ``monitor``, threads, trusted)."""
    from pruning.purification import PurificationError, compact

    model = model.eval().to(device)
    x = torch.randn(batch, *input_shape, device=device)
    timer = timer_for(device)
    built = {"dense": model}
    if "compact" in variants:
        try:
            built["compact"] = compact(model, x[:1]).eval()
        except PurificationError:
            pass
    if "csr" in variants:
        built["csr"] = csr_model(model)
    macs_dense, macs_useful = model_macs(model, x)
    out = {}
    with torch.no_grad():
        ref = model(x)
        for name, vm in built.items():
            err = float((vm(x) - ref).abs().max())
            if err > 1e-3 * max(1.0, float(ref.abs().max())):
                raise MeasureError(f"whole model: variant {name} disagrees with dense (max abs err {err:.3g})")
            t = time_fn(lambda vm=vm: vm(x), timer, repeats, 3, monitor=monitor)
            out[name] = ModelRun(name, batch, t, err, sum(p.numel() for p in vm.parameters()), weight_storage(vm),
                                 macs_dense, macs_useful)
    return out


# -------------------------------------------------------------------- rows
def hardware_name(device: str) -> str:
    """A measured row's ``hardware``: ``cpu (N threads)`` (torch's thread count now) or ``cuda:I``."""
    if device == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    d = torch.device(device)
    if d.type == "cuda":
        return f"cuda:{d.index if d.index is not None else torch.cuda.current_device()}"
    return str(d)


def measured_cost(layer: str, hardware: str, variant: str, timing: Timing, *, batch: int, weight_bits: int,
                  storage: Storage, macs_dense: float, macs_useful: float, peak_gflops: float = math.nan,
                  roofline_gflops: float = math.nan, max_abs_err: float = math.nan,
                  speedup_vs_dense: float = math.nan, note: str = "") -> LayerCost:
    """A measured run as a ``LayerCost``: what the run gives, NaN for what only a simulator gives."""
    gflops = 2 * macs_useful / timing.median_s / 1e9
    q = timing.quality
    given = {
        "layer": layer, "hardware": hardware, "engine": "measured", "convention": "measured", "format": variant,
        "weight_bits": weight_bits, "storage_weight_bits": storage.value_bits,
        "storage_index_bits": storage.index_bits,
        "storage_padding_bits": math.nan if math.isnan(storage.total_bits) else 0.0,
        "storage_pointer_bits": storage.pointer_bits, "storage_bits": storage.total_bits,
        "macs_dense": macs_dense, "macs_useful": macs_useful, "latency_s": timing.median_s,
        "utilization": gflops / peak_gflops, "batch": batch, "latency_p25_s": timing.p25_s,
        "latency_p75_s": timing.p75_s, "repeats": timing.repeats, "threads": q.threads, "load_start": q.load_start,
        "load_end": q.load_end, "cores": q.cores, "latency_iqr_rel": q.iqr_rel,
        "latency_max_over_min": q.max_over_min, "latency_drift": q.drift, "cpu_share": q.cpu_share,
        "timing_trusted": q.trusted, "timing_note": q.reason, "achieved_gflops": gflops,
        "roofline_gflops": roofline_gflops, "fraction_of_roofline": gflops / roofline_gflops,
        "max_abs_err": max_abs_err, "speedup_vs_dense": speedup_vs_dense, "note": note,
        "cycles_validated_by": "measured", "traffic_validated_by": "", "energy_validated_by": "",
    }
    not_measured = {k: math.nan for k in COLUMNS if k not in given and k not in RUN_DEFAULTS}
    return LayerCost(**{**not_measured, **given})


def model_costs(runs: dict[str, ModelRun], hardware: str, roof: Roofline | None) -> list[LayerCost]:
    """Whole-model rows (``layer == "MODEL"``) of ``measure_model``'s runs."""
    dense_s = runs["dense"].timing.median_s
    return [measured_cost(MODEL_LAYER, hardware, name, r.timing, batch=r.batch, weight_bits=32, storage=r.storage,
                          macs_dense=r.macs_dense, macs_useful=r.macs_useful,
                          peak_gflops=roof.peak_gflops if roof else math.nan, max_abs_err=r.max_abs_err,
                          speedup_vs_dense=dense_s / r.timing.median_s, note=f"{r.params:,} parameters")
            for name, r in runs.items()]


def evaluate_measured(model: nn.Module, input_shape, batches: Iterable[int] = (1, 8), device: str = "cpu",
                      repeats: int = 20, monitor: LoadMonitor | None = None, roof: Roofline | None = None,
                      log: Callable[[str], None] = print) -> CostTable:
    """Per-layer and whole-model timings of ``model`` on ``device`` as a ``CostTable``: one row per (layer,
    variant, batch), then the MODEL rows of each batch; each with its dispersion and trust flag (the load read
    from ``monitor`` around every timing; none: not checked).  ``roof`` gives ``utilization`` and the roofline
    columns (None: NaN).  A layer no variant can time (a grouped conv) is skipped with one ``log`` line."""
    model = model.eval().to(device)
    timer = timer_for(device)
    hardware = hardware_name(device)
    rows: list[LayerCost] = []
    for batch in batches:
        x = torch.randn(batch, *input_shape, device=device)
        inputs = layer_inputs(model, x)
        for name, mod in model.named_modules():
            if not isinstance(mod, (nn.Conv2d, nn.Linear)):
                continue
            try:
                runs = run_layer(name, mod, inputs[name], device, repeats=repeats, timer=timer, monitor=monitor)
            except MeasureError as e:
                log(f"  {name}: skipped ({e})")
                continue
            dense_s = next(r for r in runs if r.variant == "dense").timing.median_s
            rows += [r.to_cost(hardware, roof, dense_s) for r in runs]
        rows += model_costs(measure_model(model, input_shape, batch, device, repeats, monitor=monitor), hardware,
                            roof)
    return CostTable.from_records(rows)


__all__ = ["FORMATS", "MODEL_LAYER", "Storage", "Variant", "LayerRun", "ModelRun", "CSRLinear", "csr_model",
           "csr_storage", "coo_storage", "evaluate_measured", "hardware_name", "layer_inputs", "layer_variants",
           "measure_model", "measured_cost", "model_costs", "run_layer", "semi_structured_variants", "unfold_gemm",
           "fold_gemm_output", "weight_storage"]
