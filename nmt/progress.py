"""Progress bars for long work: on stderr, and only when a person watches it.

Training epochs, ``nmt evaluate`` and ``nmt translate`` over many lines draw a tqdm
bar that redraws in place and is cleared when the work ends, so the lines printed
after it (one per epoch, the scores) read as they do without it. Logs and pipes
get no bar at all: stdout carries results only, and a redirected stderr keeps the
one-line-per-epoch output.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

# Seconds between redraws: a few a second is smooth, and next to a training step
# or a batch of translations the update costs nothing measurable.
MININTERVAL = 0.25


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: the one place that decides whether bars are drawn."""
    # nmt.cli.quiet points sys.stderr at a copy of the original descriptor 2, so this is
    # still the terminal's answer while fd 2 itself feeds its log filter.
    return sys.stderr.isatty()


def progress_bar(
    total: int | None,
    desc: str,
    *,
    unit: str = "it",
    initial: int = 0,
    enabled: bool = True,
    force: bool = False,
    file: TextIO | None = None,
) -> tqdm:
    """A tqdm bar over ``total`` units (None: no ETA), cleared when it is closed.

    Args:
        total: units in the whole task, counting the ``initial`` ones already done.
        desc: what the bar is for, e.g. "epoch 3/10".
        unit: the name of one unit in the rate, e.g. "step" or "sentence".
        initial: units done before this bar started (a resumed epoch).
        enabled: False gives a bar that draws nothing, for callers that want
            progress only sometimes.
        force: draw even when stderr is not a terminal (tests).
        file: where to draw; stderr by default.

    The bar is a no-op unless ``enabled`` and (``force`` or ``stderr_is_terminal()``);
    close it (or use it as a context manager) so the line it drew is cleared.
    """
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        file=file,  # None: sys.stderr, looked up now
        disable=not (enabled and (force or stderr_is_terminal())),
        leave=False,
        mininterval=MININTERVAL,
        dynamic_ncols=True,
    )
