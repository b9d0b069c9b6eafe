"""Progress bars: live on a terminal, throttled in a log (pruning.progress)."""

import io

from pruning.progress import LOG_INTERVAL_S, bar, is_terminal


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_a_bounded_number_of_updates():
    log = io.StringIO()
    b = bar(100_000, "train", "img", True, stream=log)
    for _ in range(100_000):
        b.update(1)
    b.close()
    assert not is_terminal(log) and b.mininterval == LOG_INTERVAL_S
    assert log.getvalue().count("\r") <= 3      # start, (at most one timed redraw), end


def test_a_terminal_gets_a_live_bar_and_disabled_writes_nothing():
    tty = _Tty()
    assert is_terminal(tty)
    b = bar(10, "train", "img", True, stream=tty)
    assert b.mininterval < 1
    b.close()
    quiet = io.StringIO()
    b = bar(10, "train", "img", False, stream=quiet)
    b.update(10)
    b.close()
    assert quiet.getvalue() == ""
