"""Keeps the C++ logging of TensorFlow, XLA, absl and SentencePiece off the terminal.

Every command that loads TensorFlow used to open with lines like these on stderr,
which users read as something broken::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796229718.514794    9652 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1796229718.515167    9652 cudart_stub.cc:31] Could not find cuda drivers ...
    E0000 00:00:1796229721.956680    9652 cuda_platform.cc:52] failed call to cuInit: ...
    normalizer.cc(51) LOG(INFO) precompiled_charsmap is empty. use identity normalization.
    E0000 00:00:1796229722.868672    9652 util.cc:131] oneDNN supports DT_INT64 only on ...

``TF_CPP_MIN_LOG_LEVEL`` hides only some of them. TensorFlow 2.21 logs through absl,
and the first lines are written while its libraries load, before TensorFlow reads the
variable (tensorflow/tensorflow#100442: even ``3`` leaves them). The ``normalizer.cc``
lines come from the SentencePiece copy inside tensorflow-text's op library, whose log
level no variable or API reaches. So two things are done, before TensorFlow loads:

* ``TF_CPP_MIN_LOG_LEVEL=3`` silences what TensorFlow logs once it has read it. ERROR
  goes too: on a CPU those are the cuInit and DT_INT64 lines above, and an error that
  stops a command reaches the user as a Python exception, which ``nmt`` prints.
* File descriptor 2, where C++ code writes, becomes a pipe to a small filter process
  that drops lines in the C++ log formats and passes everything else to the real
  stderr: a crash's last words (``F`` lines, ``terminate called ...``) still show.
  A process rather than a thread, so that those last words are forwarded even when
  the crash takes ``nmt`` down before it could read them; in a session of its own, so
  that a SIGTERM to nmt's whole process group leaves it to forward what nmt writes
  while it shuts down.

``sys.stderr`` moves to a copy of the original descriptor, so what nmt prints itself
(errors, epoch lines, progress bars, tracebacks) skips the filter: it keeps its order
and its ``isatty()``. ``nmt -v`` and a ``TF_CPP_MIN_LOG_LEVEL`` set by the user turn
all of this off.

The processes nmt starts inherit descriptor 2, so the pipe ends only when the last of
them has exited, which may be long after nmt. nmt's exit must not wait for that, yet
must not return before the filter has shown what nmt wrote (else the shell prompt, or
the next command's output, comes first). Hence a lifeline: a socket pair whose nmt end
no child inherits. At exit nmt lets go of the pipe, then shuts its end; a crash closes
it too. Everything nmt wrote is then in the pipe already (a write to a pipe is in the
kernel's buffer when it returns), so the filter reads what the pipe holds without
waiting for more, shows it, unfinished last line included, and exits, which is all nmt
waits for. If children still hold the pipe, it forks first and the copy goes on until
the pipe's end, so their later lines are filtered and shown too; nmt's own child has
exited, and nothing is left for nmt to reap or to wait on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
from typing import BinaryIO

# Lines in the formats of absl and TensorFlow's older logger (INFO, WARNING and ERROR;
# FATAL is kept, it explains a crash), absl's banner, and SentencePiece's logger.
# absl prints the seconds since 1970 as the time of day before absl::InitializeLog().
NATIVE_LOG_LINE = re.compile(
    rb"[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|\S+\.cc\(\d+\) LOG\((INFO|WARNING|ERROR)\) "
)


def silence_native_logs() -> None:
    """Keeps the C++ log lines of the libraries nmt loads off stderr, unless asked for.

    Call it before TensorFlow is imported; once it is loaded, the start-up lines are
    out and stderr belongs to whoever loaded it (a test, a notebook), so nothing is
    done. A ``TF_CPP_MIN_LOG_LEVEL`` already in the environment is the user's choice
    (or a parent nmt's, whose filter its children share): it is kept and nothing is
    filtered. The variable set here makes later calls do nothing.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # Without a stderr (`nmt ... 2>&-`) there is nothing to keep clean; without the
    # file (a zip), no filter to start.
    if sys.stderr is None or not os.path.isfile(__file__):
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    # Python makes both ends non-inheritable: the filter gets its own through pass_fds,
    # and no process nmt starts ever holds nmt's.
    lifeline, filters_end = socket.socketpair()
    try:
        # -I -S: the filter needs only the standard library, and starts in milliseconds.
        # A session of its own: the signals sent to nmt's process group (Ctrl-C, and
        # the SIGTERM of systemd, `timeout` or `kill -- -PGID`) must not end the filter
        # while nmt, shutting down, may still write; it ends when nmt is done.
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, str(filters_end.fileno())],
            stdin=subprocess.PIPE,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
            pass_fds=(filters_end.fileno(),),
        )
    except OSError:
        os.close(terminal)
        lifeline.close()
        return
    finally:
        filters_end.close()
    os.dup2(process.stdin.fileno(), 2)
    process.stdin.close()
    sys.stderr = os.fdopen(
        terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors
    )
    atexit.register(_stop_filter, process, terminal, lifeline, os.getpid())


def _stop_filter(
    process: subprocess.Popen, terminal: int, lifeline: socket.socket, owner: int
) -> None:
    """Lets go of the pipe and waits until the filter has shown what nmt wrote to it, so
    that those lines precede the prompt; not until the pipe ends, which children decide."""
    # A copy made by os.fork() that exits through Python, running this, is not nmt.
    if os.getpid() != owner:
        return
    sys.stderr.flush()
    os.dup2(terminal, 2)
    # shutdown() rather than close() alone: a forked copy of nmt may hold the socket too.
    with contextlib.suppress(OSError):
        lifeline.shutdown(socket.SHUT_WR)
    lifeline.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


class NativeLogFilter:
    """Takes stderr's bytes as they come, gives back its lines less the C++ log lines.

    A line is judged by its start, once, when it is complete or when it must be shown
    unfinished (:meth:`cut`); the rest of a line judged early follows the judgement.
    """

    def __init__(self) -> None:
        self._partial = b""
        self._keep: bool | None = None  # the judgement of a line already cut

    def feed(self, data: bytes) -> bytes:
        *lines, self._partial = (self._partial + data).split(b"\n")
        kept = []
        for line in lines:
            keep = not NATIVE_LOG_LINE.match(line) if self._keep is None else self._keep
            self._keep = None
            if keep:
                kept.append(line + b"\n")
        return b"".join(kept)

    def cut(self) -> bytes:
        """What is kept of the unfinished line so far: at the end, or when nmt is done."""
        if not self._partial:
            return b""
        if self._keep is None:
            self._keep = not NATIVE_LOG_LINE.match(self._partial)
        partial, self._partial = self._partial, b""
        return partial if self._keep else b""


def _forward(pipe: int, lifeline: int, sink: BinaryIO) -> None:
    """The filter: copies the pipe to ``sink`` as it arrives, less the C++ log lines,
    until nmt is done and the pipe empty; forks to go on if children still hold it."""
    lines = NativeLogFilter()
    os.set_blocking(pipe, False)

    def show_what_is_there() -> bool:
        """Whether the pipe has ended."""
        try:
            while data := os.read(pipe, 65536):
                sink.write(lines.feed(data))
        except BlockingIOError:
            return False
        finally:
            sink.flush()
        sink.write(lines.cut())
        sink.flush()
        return True

    selector = selectors.DefaultSelector()
    selector.register(pipe, selectors.EVENT_READ)
    selector.register(lifeline, selectors.EVENT_READ)
    while True:
        ready = {key.fd for key, _ in selector.select()}
        if show_what_is_there():
            return
        if lifeline in ready:
            # nmt has let go of the pipe (or died): all it wrote has been shown now,
            # but for its unfinished last line. The children's lines are the copy's.
            sink.write(lines.cut())
            sink.flush()
            selector.unregister(lifeline)
            os.close(lifeline)
            if os.fork():
                return


if __name__ == "__main__":
    # Signals to nmt's group do not reach this session; any sent here are ignored too,
    # so that only the end of nmt, then of the pipe, ends the filter.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # An OSError means the real stderr went away (e.g. `nmt ... 2>&1 | head`).
    with contextlib.suppress(OSError):
        _forward(sys.stdin.fileno(), int(sys.argv[1]), sys.stdout.buffer)
