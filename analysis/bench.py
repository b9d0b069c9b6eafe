"""Measured CPU/GPU speed of a pruned model beside the simulations (``sparsesim bench``).

* ``bench_artifact``: every Conv2d/Linear of an artifact timed as dense, CSR,
  COO, compacted (and 2:4 on CUDA) at batch 1 and a user batch, plus the whole
  model dense vs compacted (``pruning.purification.compact``) vs all-CSR;
  rows in the simulator's schema (``hardware``, ``format``, ``latency_s``,
  ``utilization`` = achieved / peak GFLOP/s).
* ``sweep_ratio`` / ``break_even``: for one layer shape and structure, the
  measured speedup against the pruning ratio and the ratio where sparse starts
  to beat dense on this machine.

Every timed row carries its dispersion, the load around it, the thread count
and ``timing_trusted`` / ``timing_note`` (``accel_models.machine_load``); a
loaded machine is waited for (``wait_idle_s``) and then warned about.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from accel_models.machine_load import LoadMonitor, default_threads, wait_for_idle
from accel_models.measure import (MeasureError, Roofline, WallTimer, layer_inputs, measure_roofline, run_layer,
                                  time_fn, timer_for)


class CSRLinear(nn.Module):
    """A Linear/Conv2d run as CSR x im2col (whole-model sparse variant)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        import warnings

        self.layer = layer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.csr = layer.weight.detach().reshape(layer.weight.shape[0], -1).to_sparse_csr()

    def forward(self, x):
        from accel_models.measure import fold_gemm_output, unfold_gemm
        lay = self.layer
        b = lay.bias
        if isinstance(lay, nn.Conv2d):
            y = torch.sparse.mm(self.csr, unfold_gemm(lay, x))
            if b is not None:
                y = y + b[:, None]
            h = (x.shape[2] + 2 * lay.padding[0] - lay.dilation[0] * (lay.kernel_size[0] - 1) - 1) // lay.stride[0] + 1
            w = (x.shape[3] + 2 * lay.padding[1] - lay.dilation[1] * (lay.kernel_size[1] - 1) - 1) // lay.stride[1] + 1
            return fold_gemm_output(y, x.shape[0], (h, w))
        y = torch.sparse.mm(self.csr, x.t())
        return (y if b is None else y + b[:, None]).t()


def csr_model(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model)
    for name, mod in list(m.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, (nn.Conv2d, nn.Linear)) and (not isinstance(child, nn.Conv2d) or child.groups == 1):
                setattr(mod, cname, CSRLinear(child))
    return m


def bench_model(model: nn.Module, example_shape, batches=(1, 8), device: str = "cpu", repeats: int = 20,
                roof: Roofline | None = None, log=print, monitor: LoadMonitor | None = None) -> list[dict]:
    """Per-layer and whole-model timings; returns rows (one per layer x variant x batch), each with its
    dispersion and trust flag (the load read from ``monitor`` around every timing; none: not checked)."""
    model = model.eval().to(device)
    timer = timer_for(device)
    rows = []
    for batch in batches:
        x = torch.randn(batch, *example_shape, device=device)
        inputs = layer_inputs(model, x)
        for name, mod in model.named_modules():
            if not isinstance(mod, (nn.Conv2d, nn.Linear)):
                continue
            try:
                runs = run_layer(name, mod, inputs[name], device, repeats=repeats, timer=timer, monitor=monitor)
            except MeasureError as e:
                log(f"  {name}: skipped ({e})")
                continue
            dense = next(r for r in runs if r.variant == "dense").timing.median_s
            for r in runs:
                row = r.to_row(device, roof)
                row["speedup_vs_dense"] = dense / r.timing.median_s
                rows.append(row)
        # whole model: dense vs compacted vs all-CSR
        meas = measure_model(model, example_shape, batch, device, repeats, monitor=monitor)
        hw = f"{device} ({torch.get_num_threads()} threads)" if device == "cpu" else device
        for vname, m in meas.items():
            rows.append({"layer": "MODEL", "hardware": hw, "engine": "measured", "format": vname, "batch": batch,
                         "latency_s": m["latency_s"], "latency_p25_s": m["p25_s"], "latency_p75_s": m["p75_s"],
                         "repeats": repeats, "macs_useful": float("nan"), "achieved_gflops": float("nan"),
                         "utilization": float("nan"), "roofline_gflops": float("nan"),
                         "fraction_of_roofline": float("nan"), "max_abs_err": m["max_abs_err"],
                         **m["quality"].to_row(), "note": f"{m['params']:,} parameters",
                         "speedup_vs_dense": meas["dense"]["latency_s"] / m["latency_s"]})
    return rows


def measure_model(model: nn.Module, input_shape, batch: int, device: str = "cpu", repeats: int = 20,
                  variants=("dense", "compact", "csr"), monitor: LoadMonitor | None = None) -> dict[str, dict]:
    """Whole-model latency of the dense, compacted and all-CSR variants (outputs checked equal); each with
    its ``quality`` (``TimingQuality``: dispersion, load from ``monitor``, threads, trusted)."""
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
    out = {}
    with torch.no_grad():
        ref = model(x)
        for name, vm in built.items():
            err = float((vm(x) - ref).abs().max())
            if err > 1e-3 * max(1.0, float(ref.abs().max())):
                raise MeasureError(f"whole model: variant {name} disagrees with dense (max abs err {err:.3g})")
            t = time_fn(lambda vm=vm: vm(x), timer, repeats, 3, monitor=monitor)
            out[name] = {"latency_s": t.median_s, "p25_s": t.p25_s, "p75_s": t.p75_s, "max_abs_err": err,
                         "quality": t.quality,
                         "params": sum(p.numel() for p in vm.parameters())}
    return out


def bench_artifact(path: str | Path, batches=(1, 8), device: str = "cpu", repeats: int = 20, log=print,
                   trust_module: str | None = None, threads: int | None = None, wait_idle_s: float = 0.0,
                   monitor: LoadMonitor | None = None) -> tuple[list, Roofline]:
    """Time the artifact's model; a zoo model is built from its name, a ``module:Callable`` factory only when
    ``trust_module`` names its module (``pruning.artifact.load_artifact``), else ArtifactError before any run.

    Runs with ``threads`` torch threads (default: the physical cores this process may use; the caller's
    setting is restored after); first waits up to
    ``wait_idle_s`` for a loaded machine to go quiet, then warns in one line (``wait_for_idle``)."""
    from pruning.artifact import load_artifact

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MeasureError("--device cuda: no CUDA device is available on this machine")
    art = load_artifact(path, trust_module=trust_module)
    return bench_loaded(art.model, art.manifest["model"]["input_shape"], batches, device, repeats, log, threads,
                        wait_idle_s, monitor)


def bench_loaded(model: nn.Module, input_shape, batches=(1, 8), device: str = "cpu", repeats: int = 20, log=print,
                 threads: int | None = None, wait_idle_s: float = 0.0,
                 monitor: LoadMonitor | None = None) -> tuple[list, Roofline]:
    """Roofline + per-layer timings of a loaded model with ``threads`` torch threads (default: physical cores;
    the caller's setting restored after), after waiting up to ``wait_idle_s`` for a quiet machine."""
    before = torch.get_num_threads()
    threads = threads or default_threads()
    monitor = monitor or LoadMonitor.system(threads, cpu=device == "cpu")
    torch.set_num_threads(threads)
    try:
        wait_for_idle(monitor, wait_idle_s, log)
        roof = measure_roofline(device, size=1024 if device == "cpu" else 4096)
        log(f"{device}: {roof.threads} threads, peak dense GEMM {roof.peak_gflops:.1f} GFLOP/s, "
            f"copy bandwidth {roof.bandwidth_gbs:.1f} GB/s")
        rows = bench_model(model, input_shape, batches, device, repeats, roof, log, monitor)
    finally:
        torch.set_num_threads(before)   # the caller's setting, as it was
    return rows, roof


def sweep_ratio(layer: nn.Module, x: torch.Tensor, structure: str, ratios: list[float], device: str = "cpu",
                repeats: int = 10, seed: int = 0, monitor: LoadMonitor | None = None) -> list[dict]:
    """Prune copies of ``layer`` to each ratio and time every variant; speedups against dense, and whether
    every timing of the ratio is trusted (``timing_trusted``, the first reason in ``timing_note``)."""
    from pruning.constraint import Constraint
    from pruning.structures import Structure

    torch.manual_seed(seed)
    out = []
    for r in ratios:
        lay = copy.deepcopy(layer)
        with torch.no_grad():
            lay.weight.copy_(Constraint(Structure(structure, r)).project(lay.weight)[0])
        runs = {run.variant: run for run in run_layer(f"r{r}", lay, x, device, repeats=repeats, monitor=monitor)}
        d = runs["dense"].timing.median_s
        g = runs["dense_gemm"].timing.median_s if "dense_gemm" in runs else d
        bad = [run.timing.quality.reason for run in runs.values() if not run.timing.quality.trusted]
        out.append({"structure": structure, "ratio": r, "dense_s": d, "dense_gemm_s": g,
                    "timing_trusted": not bad, "timing_note": bad[0] if bad else "",
                    "ideal_speedup": 1.0 / (1.0 - r),
                    **{f"{v}_speedup": d / run.timing.median_s for v, run in runs.items() if v != "dense"},
                    **{f"{v}_speedup_vs_gemm": g / run.timing.median_s for v, run in runs.items()
                       if v not in ("dense", "dense_gemm")}})
    return out


def break_even(ratios: list[float], speedups: list[float], strict: bool = False) -> float | None:
    """Smallest pruning ratio where the speedup reaches 1 (``strict``: exceeds 1), linearly
    interpolated between sweep points; None if it never does."""
    pts = sorted(zip(ratios, speedups))
    wins = (lambda s: s > 1.0 + 1e-9) if strict else (lambda s: s >= 1.0)
    if pts and wins(pts[0][1]):
        return pts[0][0]
    for (r0, s0), (r1, s1) in zip(pts, pts[1:]):
        if wins(s1):
            return r0 + (1.0 - s0) * (r1 - r0) / (s1 - s0) if s1 != s0 else r1
    return None


def bench_checkpoint(path: str | Path, model: nn.Module, input_shape: tuple[int, ...] | None = None,
                     batches=(1, 8), device: str = "cpu", repeats: int = 20, log=print, threads: int | None = None,
                     wait_idle_s: float = 0.0, monitor: LoadMonitor | None = None) -> tuple[list, Roofline]:
    """Time ``model`` (the user's, from ``--model``) holding a plain checkpoint's effective weights
    (``sparsesim.model_import.load_checkpoint_model``: every key matched, pruning reparametrizations folded)."""
    from sparsesim.model_import import example_input, load_checkpoint_model

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MeasureError("--device cuda: no CUDA device is available on this machine")
    model = load_checkpoint_model(path, model)
    shape = tuple(example_input(model, input_shape).shape[1:])
    return bench_loaded(model, shape, batches, device, repeats, log, threads, wait_idle_s, monitor)


__all__ = ["bench_artifact", "bench_checkpoint", "bench_loaded", "bench_model", "sweep_ratio", "break_even", "csr_model", "WallTimer"]
