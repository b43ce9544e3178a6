"""Stopping training cleanly: SIGINT and SIGTERM become a flag checked between steps."""

from __future__ import annotations

import contextlib
import signal


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
