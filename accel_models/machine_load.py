"""Is this machine quiet enough to time on?  Load probes, physical cores and the trust policy of a timing.

A timing taken while other processes hold the cores can come out orders of
magnitude slow with tight quartiles (every run is slow alike), so the spread
alone cannot tell.  Two independent checks:

* **load** - how many cores other processes keep busy, read before and after
  each timing (``CpuShare``: /proc/stat's busy time minus this process's own,
  over at least ``min_window_s``; elsewhere the 1-minute load average).  This
  process's own threads are left out, so a compare that trained for minutes
  just before measuring does not flag itself, as the 1-minute load average
  would.  Loaded: ``load > max(cores - threads, 0) + load_margin`` (default
  0.5: with one thread on 2 cores, other work above 1.5 cores; with 2 threads,
  above 0.5), ``cores`` = the CPUs this process may run on
  (``os.sched_getaffinity``), ``threads`` = the torch threads timed with.
* **CPU share** of the timing: this process's CPU seconds per wall second over
  the timed runs (``time.process_time``).  A process that holds a core gets
  >= 1; one that shares its cores with busier or higher-priority processes
  gets far less, even when every run is slow alike.
* **dispersion** of the repeated runs: ``iqr_rel`` = (p75 - p25) / median,
  ``max_over_min``, and ``drift`` = the median of the first half of the runs
  over that of the second half (the machine changed during the timing).

Both feed ``judge``, which gives the ``TimingQuality`` every ``Timing``
carries (``trusted`` and a one-line ``reason``).  Thresholds: ``TrustPolicy``.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TrustPolicy:
    """When a timing is untrusted.  Defaults and why:

    * ``max_iqr_rel`` 0.25: on an idle machine the quartiles of 20 runs of one layer sit within ~10% of the
      median (docs/results.md section 3); a box wider than a quarter of the median is larger than the
      differences a verdict calls a win (ties are within 5%), so such a median cannot rank anything.
    * ``max_over_min`` 10: one run 10x slower than the fastest means the process was descheduled for whole
      time slices (~ms) - the signature of sharing the cores - even when the quartiles look tight.
    * ``max_drift`` 1.25: the first half's median 25% off the second half's means the load changed mid-timing.
    * ``load_margin`` 0.5: loaded when other processes keep more than ``max(cores - threads, 0) + 0.5`` cores busy
      (the timing's own threads need their cores; half a core of other work is tolerated).
    * ``min_cpu_share`` 0.5: the timed runs got less than half a core of CPU time per wall second - the process
      waited for the CPU most of the time (a loaded machine, or a lower priority than its neighbours).
    * ``min_runs`` 4: fewer runs have no quartiles to judge; their dispersion is not checked.
    """

    max_iqr_rel: float = 0.25
    max_over_min: float = 10.0
    max_drift: float = 1.25
    load_margin: float = 0.5
    min_cpu_share: float = 0.5
    min_runs: int = 4

    def __post_init__(self):
        for name in ("max_iqr_rel", "load_margin", "min_cpu_share"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"TrustPolicy.{name}={v!r:.80}; allowed: a finite number >= 0")
        for name in ("max_over_min", "max_drift"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 1):
                raise ValueError(f"TrustPolicy.{name}={v!r:.80}; allowed: a finite number >= 1")

    def max_load(self, cores: int, threads: int = 1) -> float:
        return max(cores - threads, 0) + self.load_margin


DEFAULT_POLICY = TrustPolicy()


@dataclass(frozen=True)
class TimingQuality:
    """How far one timing can be trusted; ``load_*`` are NaN when no probe was given."""

    load_start: float        # cores kept busy by other processes before the timing
    load_end: float          # ... and after it
    cores: int               # CPUs this process may run on
    threads: int             # torch intra-op threads the timing ran with
    iqr_rel: float           # (p75 - p25) / median
    max_over_min: float      # slowest run / fastest run
    drift: float             # median of the first half of the runs / median of the second half
    cpu_share: float         # this process's CPU seconds per wall second over the timed runs (NaN: not read)
    trusted: bool
    reason: str              # '' when trusted, else what failed, one line

    def to_row(self) -> dict:
        return {"threads": self.threads, "load_start": self.load_start, "load_end": self.load_end,
                "cores": self.cores, "latency_iqr_rel": self.iqr_rel, "latency_max_over_min": self.max_over_min,
                "latency_drift": self.drift, "cpu_share": self.cpu_share, "timing_trusted": self.trusted,
                "timing_note": self.reason}


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), ``os.cpu_count()`` where there is none."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def physical_cores(cpuinfo_text: str | None = None, logical: int | None = None) -> int:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo (hyperthread siblings count once); when a
    processor entry lacks a core id (or the file is absent) the logical CPU count ``logical``
    (default ``os.cpu_count()``)."""
    logical = logical or os.cpu_count() or 1
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo_text = f.read()
        except OSError:
            return logical
    pairs = set()
    for block in cpuinfo_text.split("\n\n"):
        fields = {k.strip(): v.strip() for k, _, v in
                  (line.partition(":") for line in block.splitlines() if ":" in line)}
        if "processor" not in fields:
            continue
        if "core id" not in fields:
            return logical
        pairs.add((fields.get("physical id", "0"), fields["core id"]))
    return len(pairs) or logical


def default_threads() -> int:
    """Torch threads for timing: the physical cores this process may use (hyperthreads share a core's
    units and add noise, not speed): ``min(physical_cores(), usable_cores())``."""
    return max(1, min(physical_cores(), usable_cores()))


def _busy_jiffies(stat_text: str) -> int:
    """All CPUs' non-idle time in /proc/stat's first line (user nice system irq softirq steal; idle, iowait and
    the guest fields, already inside user/nice, left out)."""
    f = [int(x) for x in stat_text.split("\n", 1)[0].split()[1:]]
    return sum(f[i] for i in (0, 1, 2, 5, 6, 7) if i < len(f))


def _own_jiffies(self_stat_text: str) -> int:
    f = self_stat_text.rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])   # utime, stime (fields 14, 15): every thread of this process


class CpuShare:
    """Cores kept busy by other processes (callable; the load source of ``LoadMonitor.system``).

    Each call returns the other processes' busy time per second since the previous reading, refreshed at
    most every ``min_window_s`` (shorter calls return the last value, so it is cheap to call around every
    timing); the first call waits ``min_window_s`` for a baseline.  Without /proc: the 1-minute load average.
    """

    def __init__(self, min_window_s: float = 0.2, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, read: Callable[[str], str] | None = None):
        self.min_window_s, self.clock, self.sleep = min_window_s, clock, sleep
        self.read = read or _read_text
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last: tuple[float, int, int] | None = None
        self._value = float("nan")

    def _sample(self) -> tuple[float, int, int]:
        return self.clock(), _busy_jiffies(self.read("/proc/stat")), _own_jiffies(self.read("/proc/self/stat"))

    def __call__(self) -> float:
        if self._last is not None and self.clock() - self._last[0] < self.min_window_s:
            return self._value
        try:
            if self._last is None:
                self._last = self._sample()
                self.sleep(self.min_window_s)
            now = self._sample()
        except (OSError, ValueError, IndexError):
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        elapsed = now[0] - self._last[0]
        others = (now[1] - self._last[1]) - (now[2] - self._last[2])
        self._value = max(0.0, others / self.hz / elapsed) if elapsed > 0 else 0.0
        self._last = now
        return self._value


def _read_text(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


@dataclass(frozen=True)
class LoadMonitor:
    """A load source (cores busy with other work, see ``CpuShare``), the usable cores, the threads the timings
    run with, the trust policy, and the process CPU clock (None: CPU share not read, e.g. CUDA timings)."""

    source: Callable[[], float]
    cores: int
    policy: TrustPolicy = DEFAULT_POLICY
    threads: int = 1
    cpu_clock: Callable[[], float] | None = None

    @classmethod
    def system(cls, threads: int = 1, policy: TrustPolicy = DEFAULT_POLICY, cpu: bool = True) -> LoadMonitor:
        return cls(CpuShare(), usable_cores(), policy, threads, time.process_time if cpu else None)

    def loaded(self, load: float) -> bool:
        return load > self.policy.max_load(self.cores, self.threads)

    def describe(self, load: float) -> str:
        return (f"load {load:.2f} on {self.cores} usable core{'s' * (self.cores != 1)} with {self.threads} "
                f"thread{'s' * (self.threads != 1)} timed (loaded above "
                f"{self.policy.max_load(self.cores, self.threads):.1f})")


def wait_for_idle(monitor: LoadMonitor, wait_s: float, log: Callable[[str], None] = print,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                  poll_s: float = 1.0) -> float:
    """Poll the load until it is at most ``cores - load_margin`` or ``wait_s`` has passed; return the last load.
    Still loaded at the end: one warning line naming the load and the cores (timings will be flagged)."""
    load = monitor.source()
    deadline = clock() + wait_s
    while monitor.loaded(load) and clock() < deadline:
        sleep(min(poll_s, max(0.0, deadline - clock())))
        load = monitor.source()
    if monitor.loaded(load):
        waited = f" after waiting {wait_s:g} s" if wait_s > 0 else " (--wait-idle SECONDS waits for it)"
        log(f"warning: machine loaded{waited}: {monitor.describe(load)}; CPU timings may be slow and are "
            f"flagged untrusted")
    return load


def _median_ratio(samples: list[float]) -> float:
    half = len(samples) // 2
    a, b = statistics.median(samples[:half]), statistics.median(samples[len(samples) - half:])
    return a / b if b > 0 else (1.0 if a == b else math.inf)


def judge(samples: list[float], p25_s: float, median_s: float, p75_s: float, threads: int,
          load_start: float = math.nan, load_end: float = math.nan, cores: int = 0,
          policy: TrustPolicy = DEFAULT_POLICY, cpu_share: float = math.nan) -> TimingQuality:
    """The quality of a timing from its runs (in the order taken) and the load around it."""
    iqr = (p75_s - p25_s) / median_s if median_s > 0 else 0.0
    lo, hi = min(samples), max(samples)
    spread = hi / lo if lo > 0 else (1.0 if hi == lo else math.inf)
    drift = _median_ratio(samples) if len(samples) >= 2 else 1.0
    why = []
    max_load = policy.max_load(cores, threads)
    for when, load in (("before", load_start), ("after", load_end)):
        if cores and load > max_load:
            why.append(f"load {load:.2f} {when} on {cores} usable cores, {threads} timed (loaded above "
                       f"{max_load:.1f})")
    if cpu_share < policy.min_cpu_share:
        why.append(f"CPU share {cpu_share:.2f} of a core while timed (allowed >= {policy.min_cpu_share:g})")
    if len(samples) >= policy.min_runs:
        if iqr > policy.max_iqr_rel:
            why.append(f"IQR {iqr:.0%} of the median (allowed {policy.max_iqr_rel:.0%})")
        if spread > policy.max_over_min:
            why.append(f"slowest run {spread:.1f}x the fastest (allowed {policy.max_over_min:g}x)")
        if not 1 / policy.max_drift <= drift <= policy.max_drift:
            why.append(f"first half's median {drift:.2f}x the second half's (allowed {1 / policy.max_drift:.2f}-"
                       f"{policy.max_drift:.2f}x)")
    return TimingQuality(load_start, load_end, cores, threads, iqr, spread, drift, cpu_share, not why,
                         "; ".join(why))


__all__ = ["DEFAULT_POLICY", "CpuShare", "LoadMonitor", "TimingQuality", "TrustPolicy", "default_threads", "judge",
           "physical_cores", "usable_cores", "wait_for_idle"]
