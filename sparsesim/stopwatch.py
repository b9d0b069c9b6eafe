"""Timing primitives of the measured engine: timers, repeated-run statistics, and the device roofline.

(Not ``sparsesim.timing``, the simulators' pipelined cycle model: this module times real runs in seconds.)

* ``time_fn``: warm-up runs, then repeated runs (wall clock, or CUDA events after a synchronize); the median
  and quartiles with their ``TimingQuality`` (the load before and after, the dispersion, ``trusted`` and the
  reason: ``accel_models.machine_load``).
* ``measure_roofline``: the peak dense fp32 GEMM rate and the large-copy memory bandwidth of a device, measured
  once, so each run reports its achieved GFLOP/s as a fraction of the peak and of the roofline limit
  ``min(peak, intensity x bandwidth)``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from accel_models.machine_load import DEFAULT_POLICY, LoadMonitor, TimingQuality, TrustPolicy, judge


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


__all__ = ["MeasureError", "Timing", "summarize", "WallTimer", "CudaEventTimer", "time_fn", "timer_for", "Roofline",
           "measure_roofline"]
