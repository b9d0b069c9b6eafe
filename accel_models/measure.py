"""Real CPU/GPU runs: time each layer (and the whole model) as dense, sparse and compacted.

The "real hardware" models beside the simulated accelerators.  For every
Conv2d/Linear of a pruned model, at batch 1 and a user batch:

* ``dense``    the layer as the model runs it (``conv2d``/``linear``, unpruned shapes)
* ``csr``      torch sparse CSR x the im2col'ed input (cuSPARSE on GPU, MKL/native on CPU)
* ``coo``      torch sparse COO, where it differs from CSR
* ``compact``  the physically smaller dense layer: all-zero filters and input
               channels removed (a smaller ``conv2d``), or for column/shape
               pruning the kept GEMM columns gathered then one smaller ``mm``
* ``semi24``   (CUDA, fp16, 2:4-sparse layers) ``to_sparse_semi_structured``

Method: warm-up runs, then repeated runs; the median and quartiles are
reported with the thread count; CUDA runs are timed with CUDA events after a
synchronize.  Every ``Timing`` carries a ``TimingQuality`` (the load before
and after it, its dispersion, ``trusted`` and the reason; ``machine_load``).
Every variant's output is checked against dense (``allclose``) before it is
timed.  A roofline (peak dense GEMM rate, memory bandwidth) is
measured once per device so each run also reports achieved GFLOP/s, its
fraction of the peak, and its fraction of the roofline limit
``min(peak, intensity x bandwidth)`` for the least data the layer must move.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .machine_load import DEFAULT_POLICY, LoadMonitor, TimingQuality, TrustPolicy, judge


class MeasureError(RuntimeError):
    pass


@dataclass(frozen=True)
class Timing:
    median_s: float
    p25_s: float
    p75_s: float
    min_s: float
    repeats: int
    warmup: int
    quality: TimingQuality

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.p75_s - self.p25_s) / self.median_s if self.median_s else 0.0


def summarize(samples: list[float], warmup: int, threads: int = 1, load_start: float = math.nan,
              load_end: float = math.nan, cores: int = 0, policy: TrustPolicy = DEFAULT_POLICY,
              cpu_share: float = math.nan) -> Timing:
    """Median, quartiles and minimum of ``samples`` (in the order taken), with their quality (``judge``)."""
    if not samples:
        raise MeasureError("no timed repetitions")
    s = sorted(samples)
    q = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else [s[0]] * 3
    med = statistics.median(s)
    return Timing(med, q[0], q[2], s[0], len(s), warmup,
                  judge(samples, q[0], med, q[2], threads, load_start, load_end, cores, policy, cpu_share))


class WallTimer:
    """``perf_counter`` timing; ``sync`` (e.g. cuda.synchronize) runs before each read."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] | None = None):
        self.clock, self.sync = clock, sync

    def measure(self, fn: Callable[[], object]) -> float:
        if self.sync:
            self.sync()
        t = self.clock()
        fn()
        if self.sync:
            self.sync()
        return self.clock() - t


class CudaEventTimer:
    def measure(self, fn: Callable[[], object]) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3


def time_fn(fn: Callable[[], object], timer=None, repeats: int = 20, warmup: int = 3,
            min_total_s: float = 0.0, monitor: LoadMonitor | None = None, threads: int | None = None) -> Timing:
    """Warm up, then time ``repeats`` calls (more while the total is below ``min_total_s``); the load is read
    from ``monitor`` before and after, and the process CPU time over the runs with its ``cpu_clock`` (none
    given: not checked, NaN); ``threads`` defaults to torch's."""
    timer = timer or WallTimer()
    threads = threads or torch.get_num_threads()
    for _ in range(warmup):
        fn()
    load_start = monitor.source() if monitor else math.nan
    cpu_clock = monitor.cpu_clock if monitor else None
    cpu0 = cpu_clock() if cpu_clock else math.nan
    samples: list[float] = []
    while len(samples) < repeats or (sum(samples) < min_total_s and len(samples) < 50 * repeats):
        samples.append(timer.measure(fn))
    cpu_share = (cpu_clock() - cpu0) / sum(samples) if cpu_clock and sum(samples) > 0 else math.nan
    load_end = monitor.source() if monitor else math.nan
    return summarize(samples, warmup, threads, load_start, load_end, monitor.cores if monitor else 0,
                     monitor.policy if monitor else DEFAULT_POLICY, cpu_share)


def timer_for(device: str):
    return CudaEventTimer() if device.startswith("cuda") else WallTimer()


# ------------------------------------------------------------------ roofline
@dataclass(frozen=True)
class Roofline:
    device: str
    threads: int
    peak_gflops: float       # dense fp32 GEMM
    bandwidth_gbs: float     # large-tensor copy (read + write)


def measure_roofline(device: str = "cpu", size: int = 2048, mem_mb: int = 256, repeats: int = 5) -> Roofline:
    timer = timer_for(device)
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    t = time_fn(lambda: torch.mm(a, b), timer, repeats=repeats, warmup=2)
    x = torch.empty(mem_mb * 2**20 // 4, device=device)
    y = torch.empty_like(x)
    tm = time_fn(lambda: y.copy_(x), timer, repeats=repeats, warmup=2)
    return Roofline(device, torch.get_num_threads(), 2 * size**3 / t.median_s / 1e9,
                    2 * x.numel() * 4 / tm.median_s / 1e9)


# ------------------------------------------------------------------- layers
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

    def to_row(self, device: str, roof: Roofline | None) -> dict:
        gflops = self.flops_useful / self.timing.median_s / 1e9
        attainable = float("nan")
        if roof and self.bytes_min:  # roofline: min(peak compute, arithmetic intensity x bandwidth)
            attainable = min(roof.peak_gflops, self.flops_useful / self.bytes_min * roof.bandwidth_gbs)
        return {"layer": self.layer, "hardware": f"{device} ({torch.get_num_threads()} threads)"
                if device == "cpu" else device, "engine": "measured", "format": self.variant, "batch": self.batch,
                "latency_s": self.timing.median_s, "latency_p25_s": self.timing.p25_s,
                "latency_p75_s": self.timing.p75_s, "repeats": self.timing.repeats,
                **self.timing.quality.to_row(),
                "macs_useful": self.flops_useful / 2, "achieved_gflops": gflops,
                "utilization": gflops / roof.peak_gflops if roof else float("nan"),
                "roofline_gflops": attainable, "fraction_of_roofline": gflops / attainable,
                "max_abs_err": self.max_abs_err, "note": self.note}


def unfold_gemm(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """im2col: (K, N*batch) with K in PyTorch's (C, R, S) order."""
    cols = F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride)
    return cols.permute(1, 0, 2).reshape(cols.shape[1], -1)


def fold_gemm_output(y: torch.Tensor, batch: int, out_hw) -> torch.Tensor:
    m = y.shape[0]
    return y.reshape(m, batch, -1).permute(1, 0, 2).reshape(batch, m, *out_hw)


def layer_variants(layer: nn.Module, x: torch.Tensor, device: str) -> dict[str, tuple[Callable, Callable, str]]:
    """name -> (run, output-as-dense-layer-output, note).  Only variants that apply to this layer."""
    w = layer.weight.detach()
    m = w.shape[0]
    w2 = w.reshape(m, -1)
    bias = layer.bias.detach() if layer.bias is not None else None
    is_conv = isinstance(layer, nn.Conv2d)
    if is_conv and layer.groups != 1:
        raise MeasureError("grouped convolutions are timed dense only")
    out: dict[str, tuple[Callable, Callable, str]] = {}
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
    out["dense"] = (dense, lambda r: r, "")
    if is_conv:  # the same GEMM formulation the sparse variants use, for a like-for-like ratio
        out["dense_gemm"] = (lambda: torch.mm(w2, unfold_gemm(layer, x)), post, "unfold + dense mm")
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        csr = w2.to_sparse_csr()
    if is_conv:
        out["csr"] = (lambda: torch.sparse.mm(csr, unfold_gemm(layer, x)), post, "unfold + CSR spmm")
    else:
        out["csr"] = (lambda: torch.sparse.mm(csr, xcols), post, "CSR spmm")
    if device == "cpu":  # on CUDA both go through cuSPARSE's CSR path
        coo = w2.to_sparse_coo()
        out["coo"] = ((lambda: torch.sparse.mm(coo, unfold_gemm(layer, x))) if is_conv
                      else (lambda: torch.sparse.mm(coo, xcols)), post, "COO spmm")
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
            out["compact"] = (lambda: F.conv2d(x_small, w_small, None, layer.stride, layer.padding, layer.dilation),
                              lambda y: scatter(y.permute(1, 0, 2, 3).reshape(rows.numel(), -1)),
                              f"conv {rows.numel()}x{chans.numel()} of {m}x{c}")
        else:  # column (shape) pruning: gather kept GEMM columns, one smaller mm
            w_small = w2[rows][:, cols].contiguous()
            out["compact"] = (lambda: torch.mm(w_small, unfold_gemm(layer, x).index_select(0, cols)), scatter,
                              f"unfold + gather + mm {rows.numel()}x{cols.numel()} of {m}x{w2.shape[1]}")
    else:
        w_small = w2[rows][:, cols].contiguous()
        x_small = xcols.index_select(0, cols).contiguous()
        out["compact"] = (lambda: torch.mm(w_small, x_small), scatter,
                          f"mm {rows.numel()}x{cols.numel()} of {m}x{w2.shape[1]}")
    if device.startswith("cuda") and _is_24(w2):
        semi = _semi_structured(w2, xcols, post)
        if semi is not None:
            out["semi24"] = semi
    return out


def _is_24(w2: torch.Tensor) -> bool:
    if w2.shape[1] % 4:
        return False
    return bool(((w2.reshape(w2.shape[0], -1, 4) != 0).sum(-1) <= 2).all())


def _semi_structured(w2, xcols, post):
    try:
        from torch.sparse import to_sparse_semi_structured
        w16 = w2.half().contiguous()
        x16 = xcols.half().contiguous()
        ws = to_sparse_semi_structured(w16)
        return (lambda: torch.mm(ws, x16), lambda y: post(y.float()), "fp16 2:4 semi-structured")
    except Exception:  # noqa: BLE001 - unsupported shape/arch: the variant is skipped
        return None


def run_layer(name: str, layer: nn.Module, x: torch.Tensor, device: str, repeats: int = 20, warmup: int = 3,
              timer=None, rtol: float = 1e-3, atol: float = 1e-3,
              monitor: LoadMonitor | None = None) -> list[LayerRun]:
    """Time every applicable variant of one layer on input ``x``; outputs checked against dense."""
    timer = timer or timer_for(device)
    w = layer.weight.detach()
    nnz = int((w != 0).sum())
    with torch.no_grad():
        ref = layer(x)
        variants = layer_variants(layer, x, device)
        pixels = ref[0, 0].numel() if ref.dim() == 4 else 1
        flops = 2.0 * nnz * pixels * x.shape[0]
        runs = []
        for vname, (fn, to_out, note) in variants.items():
            y = to_out(fn())
            tol = 0.05 if vname == "semi24" else rtol
            err = float((y.float() - ref).abs().max()) if y.numel() else 0.0
            if not torch.allclose(y.float(), ref, rtol=tol, atol=max(atol, tol * float(ref.abs().max()))):
                raise MeasureError(f"{name}: variant {vname} disagrees with dense (max abs err {err:.3g})")
            timing = time_fn(fn, timer, repeats, warmup, monitor=monitor)
            runs.append(LayerRun(name, vname, x.shape[0], timing, flops, err, note,
                                 4.0 * (nnz + x.numel() + ref.numel())))
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
