"""Stopping training cleanly: on SIGINT/SIGTERM, or when its time budget is spent."""

from __future__ import annotations

import contextlib
import re
import signal
import time


class Interruptible:
    """Turns SIGINT/SIGTERM into a flag the loop checks between steps.

    Stopping between steps, rather than raising inside one, means the checkpoint
    written on the way out is always of a consistent model and optimizer state.
    A second signal exits at once.
    """

    def __init__(self):
        self.signal = 0
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signal:
            raise KeyboardInterrupt
        self.signal = signum

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Outside the main thread signals cannot be caught: leave them alone.
            with contextlib.suppress(ValueError):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class TimeBudget:
    """Training time against ``train.max_time``, counted over every run of a model directory.

    Like ``train.epochs``, the budget is the model's, not one run's: ``spent`` is a
    checkpointed variable, so re-running the same command after Ctrl-C trains only for
    what is left, and a larger budget continues where the last one stopped.

    Args:
        limit: Seconds allowed in all; 0 means no limit.
        spent: A float64 variable holding the seconds used by earlier runs.
    """

    clock = staticmethod(time.monotonic)  # replaceable, so tests need not wait

    def __init__(self, limit: float, spent):
        self.limit = limit
        self.spent = spent
        self._base = float(spent.numpy())
        self._start = self.clock()

    def seconds(self) -> float:
        return self._base + self.clock() - self._start

    def record(self) -> None:
        """Store the time used so far in ``spent``, to be saved with the next checkpoint."""
        self.spent.assign(self.seconds())

    @property
    def exhausted(self) -> bool:
        return bool(self.limit) and self.seconds() >= self.limit


_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """``"90s"``, ``"10m"``, ``"2h"``, ``"1h30m"`` or plain seconds -> seconds.

    Raises:
        ValueError: ``text`` is not such a duration, or is not positive.
    """
    spec = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", spec):
        spec += "s"
    parts = _PART.findall(spec)
    if not parts or "".join(number + unit for number, unit in parts) != spec:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 90s, 10m, 2h, 1h30m)")
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as ``1h 05m``, ``12m 30s`` or ``42s``, for log lines."""
    whole = round(seconds)
    hours, minutes, secs = whole // 3600, whole % 3600 // 60, whole % 60
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
