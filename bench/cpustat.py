"""Per-core busy time from /proc/stat, to see whether a core was saturated or shared."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_IDLE_FIELDS = (3, 4)  # idle, iowait (0-based, after the "cpuN" label)


def busy_seconds() -> dict[int, float]:
    """Busy (non-idle) CPU seconds per core since boot."""
    out: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        label, _, rest = line.partition(" ")
        if not label.startswith("cpu") or label == "cpu":
            continue
        values = [int(v) for v in rest.split()]
        # guest time is already counted in user/nice, so only the first 8 fields count.
        total = sum(values[:8])
        idle = sum(values[i] for i in _IDLE_FIELDS)
        out[int(label[3:])] = (total - idle) / CLOCK_TICKS
    return out


def busy_fraction(before: dict[int, float], after: dict[int, float], seconds: float) -> list[float]:
    """Fraction of `seconds` each core was busy between two `busy_seconds()` snapshots."""
    return [round((after[c] - before[c]) / seconds, 3) for c in sorted(after) if c in before]


def wait_quiet(cores: Sequence[int], limit: float, max_wait: float, window: float = 1.0) -> float:
    """Wait until each of `cores` is busy at most `limit` over one `window`; returns seconds waited.

    Called between runs, when our own processes are idle, so any busy time is someone else's.
    Gives up (and returns) after `max_wait` seconds: a busy shared machine must not stall us.
    """
    start = time.monotonic()
    while True:
        before = busy_seconds()
        time.sleep(window)
        busy = busy_fraction(before, busy_seconds(), window)
        waited = time.monotonic() - start
        if all(busy[c] <= limit for c in cores) or waited >= max_wait:
            return waited
