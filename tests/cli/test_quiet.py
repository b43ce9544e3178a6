"""nmt.cli.quiet: the C++ log lines of TensorFlow and SentencePiece stay off stderr unless asked."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from nmt.cli import build_parser
from nmt.cli.quiet import NATIVE_LOG_LINE, NativeLogFilter

# What TensorFlow 2.21 and tensorflow-text wrote at the start of `nmt translate` on a
# CPU, and the formats of other absl builds and of TensorFlow's older logger.
NATIVE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796229718.514794    9652 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796229718.515167    9652 cudart_stub.cc:31] Could not find cuda drivers",
    "E0000 00:00:1796229721.956680    9652 cuda_platform.cc:52] failed call to cuInit: ...",
    "E0000 00:00:1796229722.868672    9652 util.cc:131] oneDNN supports DT_INT64 only on ...",
    "normalizer.cc(51) LOG(INFO) precompiled_charsmap is empty. use identity normalization.",
    "W1203 14:05:09.123456   12345 computation_placer.cc:177] computation placer already ...",
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] ...",
]
# What nmt prints, and a crash's last words: none of it may be dropped.
KEPT = [
    "nmt: error: no such model directory: m",
    "nmt: warning: input longer than 50 tokens was truncated: 'a b c'...",
    "epoch 1/2: train loss 6.4707, dev loss 5.6821, 5,104 tgt tokens/s, 5.3 s",
    "Traceback (most recent call last):",
    "F0000 00:00:1796229722.868672    9652 util.cc:12] Check failed: x != nullptr",
    "terminate called after throwing an instance of 'std::bad_alloc'",
    "a sentence that mentions port.cc:153] in passing",
]


def test_native_log_lines_are_told_from_everything_else():
    assert all(NATIVE_LOG_LINE.match(line.encode()) for line in NATIVE)
    assert not any(NATIVE_LOG_LINE.match(line.encode()) for line in KEPT)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_filter_keeps_the_other_lines_in_order_with_an_unfinished_last_one(chunk):
    mixed = [line for pair in zip(NATIVE[: len(KEPT)], KEPT, strict=True) for line in pair]
    stream, lines = "\n".join(mixed).encode(), NativeLogFilter()
    kept = b"".join(lines.feed(stream[i : i + chunk]) for i in range(0, len(stream), chunk))
    assert (kept + lines.cut()).decode() == "\n".join(KEPT)


def test_a_line_shown_unfinished_keeps_its_judgement_when_it_goes_on():
    """When nmt exits, its unfinished last line is shown; a child may finish it later."""
    lines = NativeLogFilter()
    assert lines.feed(b"nmt's last") + lines.cut() == b"nmt's last"
    assert lines.feed(f" words\n{NATIVE[1]}\nchild\n".encode()) == b" words\nchild\n"
    assert lines.feed(NATIVE[1].encode()) + lines.cut() == b""
    assert lines.feed(b" and more\nchild\n") + lines.cut() == b"child\n"


@pytest.mark.parametrize(
    "argv",
    [["-v", "export", "--model", "m"], ["export", "--model", "m", "--verbose"]],
)
def test_verbose_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).verbose
    assert not build_parser().parse_args(["export", "--model", "m"]).verbose


def run(*args, env=None, code=None) -> subprocess.CompletedProcess:
    """``nmt ARGS`` (or python -c CODE) as a user starts it: no TF_CPP_MIN_LOG_LEVEL."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = ["-c", code] if code else ["-m", "nmt", *map(str, args)]
    return subprocess.run(
        [sys.executable, *command], capture_output=True, text=True,
        env={**environ, **(env or {})}, timeout=300,
    )  # fmt: skip


def native_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if NATIVE_LOG_LINE.match(line.encode())]


@pytest.mark.slow
def test_a_crash_still_shows_its_last_words():
    """The filter outlives nmt, so what C++ wrote just before an abort reaches the user."""
    written = "".join(line + "\n" for line in (NATIVE[1], KEPT[4], KEPT[5])).encode()
    code = (
        "import os, sys; from nmt.cli.quiet import silence_native_logs; silence_native_logs(); "
        f"print('python', file=sys.stderr); os.write(2, {written!r}); os.abort()"
    )
    result = run(code=code)
    assert result.returncode != 0
    assert result.stderr.splitlines() == ["python", KEPT[4], KEPT[5]]


@pytest.mark.slow
def test_a_sigterm_to_the_process_group_leaves_the_filter_to_forward_the_last_lines():
    """systemd, ``timeout`` and ``kill -- -PGID`` signal the whole group: the filter must
    outlive nmt's shutdown, which may still write C++ lines, and end at end-of-file."""
    code = (
        "import os, signal, sys, time\n"
        "from nmt.cli.quiet import silence_native_logs\n"
        "silence_native_logs()\n"
        "def stop(signum, frame):\n"
        "    time.sleep(0.5)\n"
        f"    os.write(2, {(KEPT[4] + chr(10)).encode()!r})\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=environ, start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout.readline() == "ready\n"
        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert stderr.splitlines() == [KEPT[4]]


@pytest.mark.slow
def test_exit_shows_nmts_last_lines_without_waiting_for_children_that_hold_stderr(tmp_path):
    """A process nmt starts inherits descriptor 2, the filter's pipe, which then ends only
    when that child does: nmt's exit shows what nmt wrote, unfinished last line included,
    and returns; the child's later lines are still shown, less its C++ log lines."""
    child = (
        "import os, time; time.sleep(2); "
        f"os.write(2, {(chr(10) + NATIVE[1] + chr(10) + 'child' + chr(10)).encode()!r}); "
        "time.sleep(20)"
    )
    code = (
        "import os, subprocess, sys; from nmt.cli.quiet import silence_native_logs; "
        f"silence_native_logs(); child = subprocess.Popen([sys.executable, '-c', {child!r}]); "
        "print(child.pid, flush=True); "
        f"os.write(2, {('nmt' + chr(10) + NATIVE[2] + chr(10) + 'last words').encode()!r})"
    )
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    captured = tmp_path / "stderr"
    child_pid = None
    with captured.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=stderr,
            text=True, env=environ,
        )  # fmt: skip
    try:
        child_pid = int(process.stdout.readline())
        started = time.monotonic()
        assert process.wait(timeout=30) == 0
        exited = time.monotonic() - started
        at_exit = captured.read_text()
        deadline = time.monotonic() + 15
        while "child" not in captured.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        later = captured.read_text()
    finally:
        process.kill()
        process.stdout.close()
        if child_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid, signal.SIGKILL)
    # Waiting for the child's end meant 5 s, its first line coming 2 s in: a hang check.
    assert exited < 3, at_exit
    assert at_exit == "nmt\nlast words"
    assert later == "nmt\nlast words\nchild\n"


@pytest.mark.slow
def test_a_level_the_user_set_is_kept_and_nothing_filtered():
    code = (
        "import os; from nmt.cli.quiet import silence_native_logs; silence_native_logs(); "
        f"os.write(2, {(NATIVE[1] + chr(10)).encode()!r}); "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    result = run(code=code, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("0\n", NATIVE[1] + "\n")


# `nmt train`, which also runs SentencePiece's trainer, is held to the same by the run
# end to end of test_cli.py, which trains as a user does.
@pytest.mark.slow
def test_translate_writes_nothing_on_stderr(tiny_model_dir):
    result = run("translate", "--model", tiny_model_dir, "Thank you.")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == ""


@pytest.mark.slow
def test_verbose_shows_the_native_lines(tiny_model_dir):
    verbose = run("translate", "--model", tiny_model_dir, "Thank you.", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert len(verbose.stdout.splitlines()) == 1
    if not native_lines(verbose.stderr):
        # Right only if TensorFlow logs nothing at start-up here when nothing is hidden.
        env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
        users = run("translate", "--model", tiny_model_dir, "Thank you.", env=env)
        assert users.returncode == 0, users.stderr
        assert not native_lines(users.stderr), verbose.stderr
        pytest.skip("TensorFlow logs nothing at start-up on this machine: nothing to show")


@pytest.mark.slow
def test_errors_still_reach_stderr(tmp_path):
    result = run("translate", "--model", tmp_path / "missing", "Thank you.")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("nmt: error: ") and "missing" in line
