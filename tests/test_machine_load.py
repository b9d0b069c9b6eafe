"""Trustworthy timing on a shared machine: load probe, dispersion, wait-idle, physical cores, report flags.

Every load source and clock is injected: no real load and no sleeping."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accel_models.machine_load import CpuShare, LoadMonitor, TrustPolicy, judge, physical_cores, wait_for_idle
from analysis.report import _results, _untrusted_note
from analysis.verdict import make_verdicts
from sparsesim.stopwatch import WallTimer, summarize, time_fn


class Scripted:
    """A load source returning scripted values (the last one repeats)."""

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def __call__(self):
        self.calls += 1
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


class FakeTime:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def clock(self):
        return self.now

    def sleep(self, s):
        self.slept.append(s)
        self.now += s


TIGHT = [1.00, 1.01, 0.99, 1.02, 1.00, 0.98, 1.01, 1.00, 0.99, 1.00]


def test_loaded_machine_is_flagged_and_the_warning_names_load_and_cores():
    lines = []
    mon = LoadMonitor(Scripted([3.4]), cores=2)
    t = FakeTime()
    load = wait_for_idle(mon, 0.0, lines.append, t.clock, t.sleep)
    assert load == 3.4 and t.slept == []
    assert len(lines) == 1 and "load 3.40" in lines[0] and "2 usable cores" in lines[0]
    timing = time_fn(lambda: None, WallTimer(iter(range(100)).__next__), repeats=10, warmup=0, monitor=mon,
                     threads=2)
    q = timing.quality
    assert not q.trusted and "load 3.40 before on 2 usable cores" in q.reason
    assert (q.load_start, q.load_end, q.cores, q.threads) == (3.4, 3.4, 2, 2)


def test_quiet_machine_no_warning():
    lines = []
    assert wait_for_idle(LoadMonitor(Scripted([0.3]), cores=2), 5.0, lines.append, FakeTime().clock) == 0.3
    assert lines == []


def test_wait_idle_polls_with_a_fake_clock_then_proceeds():
    lines, t = [], FakeTime()
    src = Scripted([1.9, 1.8, 1.7, 0.2])
    load = wait_for_idle(LoadMonitor(src, cores=2), 30.0, lines.append, t.clock, t.sleep, poll_s=2.0)
    assert load == 0.2 and t.slept == [2.0, 2.0, 2.0] and lines == []


def test_wait_idle_gives_up_after_the_limit_and_warns():
    lines, t = [], FakeTime()
    load = wait_for_idle(LoadMonitor(Scripted([1.9]), cores=2), 5.0, lines.append, t.clock, t.sleep, poll_s=2.0)
    assert load == 1.9 and sum(t.slept) == pytest.approx(5.0)
    assert len(lines) == 1 and "after waiting 5 s" in lines[0] and "load 1.90 on 2 usable cores" in lines[0]


def test_tight_samples_trusted_dispersed_untrusted():
    s = sorted(TIGHT)
    q = summarize(TIGHT, 0, threads=2, load_start=0.1, load_end=0.2, cores=2).quality
    assert q.trusted and q.reason == "" and q.iqr_rel < 0.05
    wide = [1.0, 2.0, 1.0, 2.5, 1.2, 3.0, 1.0, 2.2]
    q = summarize(wide, 0, cores=2, load_start=0.1, load_end=0.1).quality
    assert not q.trusted and "IQR" in q.reason
    assert s[0] == min(TIGHT)


def test_outlier_and_drift_untrusted_with_tight_quartiles():
    # tight quartiles, one run descheduled for a time slice: the 1000x pathology's signature
    q = summarize(TIGHT[:-1] + [50.0], 0).quality
    assert not q.trusted and "slowest run" in q.reason and q.iqr_rel < 0.25
    # every run slow alike after the first half: the load changed mid-timing
    q = summarize([1.0] * 10 + [1.6] * 10, 0).quality
    assert not q.trusted and "first half" in q.reason


def test_few_runs_are_not_judged_on_dispersion():
    assert summarize([1.0, 5.0], 0).quality.trusted


@given(st.lists(st.floats(1e-6, 1e3), min_size=4, max_size=40), st.floats(1.0, 100.0))
def test_scaling_all_runs_leaves_the_verdict_alone(samples, k):
    a = summarize(samples, 0).quality
    b = summarize([x * k for x in samples], 0).quality
    assert a.iqr_rel == pytest.approx(b.iqr_rel, rel=1e-6, abs=1e-9)
    assert math.isclose(a.max_over_min, b.max_over_min, rel_tol=1e-6)


def test_policy_is_configurable_and_checked():
    q = judge(TIGHT, 0.99, 1.0, 1.01, 1, load_start=2.2, load_end=0.0, cores=2, policy=TrustPolicy(load_margin=1.0))
    assert not q.trusted and "loaded above 2.0" in q.reason
    assert judge(TIGHT, 0.99, 1.0, 1.01, 1, load_start=1.2, load_end=0.0, cores=2).trusted


def test_the_timing_threads_need_their_cores():
    # one other core busy: fine for a 1-thread timing on 2 cores, loaded for a 2-thread one
    assert judge(TIGHT, 0.99, 1.0, 1.01, 1, load_start=1.0, load_end=1.0, cores=2).trusted
    q = judge(TIGHT, 0.99, 1.0, 1.01, 2, load_start=1.0, load_end=1.0, cores=2)
    assert not q.trusted and "loaded above 0.5" in q.reason
    lines = []
    wait_for_idle(LoadMonitor(Scripted([1.0]), cores=2, threads=2), 0.0, lines.append, FakeTime().clock)
    assert "2 threads timed" in lines[0]


def test_starved_cpu_share_is_untrusted_even_when_every_run_is_slow_alike():
    # tight quartiles, every run equally slow, load probe quiet: the process got 0.05 s of CPU per second
    cpu = Scripted([0.0, 0.5])
    mon = LoadMonitor(Scripted([0.1]), cores=2, cpu_clock=cpu)
    q = time_fn(lambda: None, WallTimer(iter(range(100)).__next__), repeats=10, warmup=0, monitor=mon,
                threads=1).quality
    assert q.cpu_share == pytest.approx(0.05) and not q.trusted and "CPU share 0.05" in q.reason
    cpu = Scripted([0.0, 9.5])
    mon = LoadMonitor(Scripted([0.1]), cores=2, cpu_clock=cpu)
    assert time_fn(lambda: None, WallTimer(iter(range(100)).__next__), repeats=10, warmup=0, monitor=mon,
                   threads=1).quality.trusted
    with pytest.raises(ValueError, match="max_over_min"):
        TrustPolicy(max_over_min=0.5)


HT = "\n\n".join(f"processor\t: {i}\nphysical id\t: 0\ncore id\t\t: {i % 4}\nsiblings\t: 8" for i in range(8))
TWO_SOCKETS = "\n\n".join(f"processor\t: {i}\nphysical id\t: {i // 4}\ncore id\t\t: {i % 4}" for i in range(8))
NO_CORE_ID = "\n\n".join(f"processor\t: {i}\nmodel name\t: ARMv8" for i in range(6))


@pytest.mark.parametrize("text,logical,expected", [(HT, 8, 4), (TWO_SOCKETS, 8, 8), (NO_CORE_ID, 6, 6),
                                                   ("processor : 0\ncore id : 0\n", 1, 1), ("", 3, 3)])
def test_physical_core_parsing(text, logical, expected):
    assert physical_cores(text, logical) == expected


def test_cpu_share_excludes_this_process():
    files = {"/proc/stat": ["cpu 100 0 50 900 0 0 0 0 0 0", "cpu 260 0 90 940 0 0 0 0 0 0"],
             "/proc/self/stat": ["1 (py thon) R " + " ".join(["0"] * 10) + " 40 10 0", "1 (py thon) R "
                                 + " ".join(["0"] * 10) + " 120 30 0"]}
    t = FakeTime()
    src = CpuShare(min_window_s=1.0, clock=t.clock, sleep=t.sleep, read=lambda p: files[p].pop(0))
    src.hz = 100
    # 200 busy jiffies in 1 s, 100 of them this process's: others kept 1.0 core busy
    assert src() == pytest.approx(1.0)
    assert src() == pytest.approx(1.0)     # within the window: the last value, no new reading


def _row(structure, latency, trusted, note=""):
    return {"model": "m", "structure": structure, "platform": "cpu (2 threads)", "kind": "cpu",
            "engine": "measured:x", "ratio": 0.5, "compression": 2.0, "accuracy_status": "matched"
            if structure != "dense" else "dense", "latency_s": latency, "latency_iqr_rel": 0.4 if not trusted
            else 0.02, "timing_trusted": trusted, "timing_note": note, "energy_pj": None, "test_loss_pp": 0.0}


def test_report_and_verdict_flag_an_untrusted_measured_figure():
    rows = [_row("dense", 2e-3, True), _row("filter", 1e-3, False, "load 3.40 before on 2 usable cores"),
            _row("nonstructured", 3e-3, True)]
    v = make_verdicts(rows, 0.05)[0]
    assert any("untrusted" in f and "filter" in f and "load 3.40" in f for f in v["flags"])
    assert "untrusted" in v["text"]
    md = "\n".join(_results(rows, {"filter": {"status": "matched"}, "nonstructured": {"status": "matched"}}))
    assert "UNTRUSTED" in md and "(IQR 40%, UNTRUSTED)" in md and "load 3.40" in md
    assert _untrusted_note([_row("dense", 2e-3, True)]) == []
    assert "untrusted" not in make_verdicts([_row("dense", 2e-3, True), _row("filter", 1e-3, True)], 0.05)[0]["text"]
