"""Progress bars that respect where they are written: a live bar on a terminal, a few lines in a log file.

On a terminal ``bar`` is a plain tqdm bar.  When stderr is not a terminal (a log file, CI, a pipe) tqdm would
write an update every 0.1 s, which floods a log (5,366 updates for one compare); there the bar redraws at most
every ``LOG_INTERVAL_S`` seconds and once at its end, so a log gets a line a minute per running bar.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL_S = 60.0


def is_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # closed or replaced streams
        return False


def bar(total: int, desc: str, unit: str, enabled: bool, leave: bool = True, stream=None) -> tqdm:
    """A tqdm bar (disabled unless ``enabled``), throttled to ``LOG_INTERVAL_S`` where ``stream`` (default
    stderr) is not a terminal."""
    throttle = {} if is_terminal(stream) else {"mininterval": LOG_INTERVAL_S, "maxinterval": LOG_INTERVAL_S}
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=not enabled, file=stream, **throttle)
