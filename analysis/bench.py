"""Measured CPU/GPU speed of a pruned model beside the simulations (``sparsesim bench``): the orchestration.

The runs themselves are the measured engine (``sparsesim.measured``, timing primitives and the roofline in
``sparsesim.stopwatch``); this module picks the thread count, waits for a quiet machine, logs, and loads the
model:

* ``bench_artifact`` / ``bench_checkpoint`` / ``bench_loaded``: every Conv2d/Linear timed as dense, CSR,
  COO, compacted (and 2:4 on CUDA) at batch 1 and a user batch, plus the whole
  model dense vs compacted (``pruning.purification.compact``) vs all-CSR; a
  ``sparsesim.results.CostTable`` of ``LayerCost`` rows, the simulators' schema
  (``hardware``, ``format``, ``latency_s``, ``utilization`` = achieved / peak GFLOP/s) plus the timing columns.
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
from sparsesim.measured import evaluate_measured, run_layer
from sparsesim.results import CostTable
from sparsesim.stopwatch import MeasureError, Roofline, measure_roofline


def bench_artifact(path: str | Path, batches=(1, 8), device: str = "cpu", repeats: int = 20, log=print,
                   trust_module: str | None = None, threads: int | None = None, wait_idle_s: float = 0.0,
                   monitor: LoadMonitor | None = None) -> tuple[CostTable, Roofline]:
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
                 monitor: LoadMonitor | None = None) -> tuple[CostTable, Roofline]:
    """Roofline + per-layer timings of a loaded model with ``threads`` torch threads (default: physical cores;
    the caller's setting restored after), after waiting up to ``wait_idle_s`` for a quiet machine.  The model
    first runs once on one zero sample (``check_forward``): one that cannot take its input fails before any
    timing, in one line."""
    check_forward(model, input_shape)
    before = torch.get_num_threads()
    threads = threads or default_threads()
    monitor = monitor or LoadMonitor.system(threads, cpu=device == "cpu")
    torch.set_num_threads(threads)
    try:
        wait_for_idle(monitor, wait_idle_s, log)
        roof = measure_roofline(device, size=1024 if device == "cpu" else 4096)
        log(f"{device}: {roof.threads} threads, peak dense GEMM {roof.peak_gflops:.1f} GFLOP/s, "
            f"copy bandwidth {roof.bandwidth_gbs:.1f} GB/s")
        table = evaluate_measured(model, input_shape, batches, device, repeats, monitor, roof, log)
    finally:
        torch.set_num_threads(before)   # the caller's setting, as it was
    return table, roof


def check_forward(model: nn.Module, input_shape) -> None:
    """One forward pass of ``model`` on a zero sample of ``input_shape`` (eval mode, no gradients); a failure,
    ``sys.exit`` included, is a ``MeasureError`` naming the model and the shape."""
    from pruning.model_spec import code_failure

    shape = tuple(int(d) for d in input_shape)
    was_training = model.training
    try:
        params = next(model.parameters(), None)
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *shape, device=params.device if params is not None else "cpu"))
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's forward failed (or exited): one line
        raise MeasureError(f"model {type(model).__name__}: a forward pass on one sample of shape "
                           f"{','.join(map(str, shape))} failed ({code_failure(e, 200)}); allowed: a model that "
                           "takes that input (check --input-shape and its first layer)") from None
    finally:
        model.train(was_training)


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
                     wait_idle_s: float = 0.0, monitor: LoadMonitor | None = None) -> tuple[CostTable, Roofline]:
    """Time ``model`` (the user's, from ``--model``) holding a plain checkpoint's effective weights
    (``sparsesim.model_import.load_checkpoint_model``: every key matched, pruning reparametrizations folded)."""
    from sparsesim.model_import import example_input, load_checkpoint_model

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MeasureError("--device cuda: no CUDA device is available on this machine")
    model = load_checkpoint_model(path, model)
    shape = tuple(example_input(model, input_shape).shape[1:])
    return bench_loaded(model, shape, batches, device, repeats, log, threads, wait_idle_s, monitor)


__all__ = ["bench_artifact", "bench_checkpoint", "bench_loaded", "sweep_ratio", "break_even"]
