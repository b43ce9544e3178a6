"""The ``nmt`` command: parses arguments and calls library functions, nothing more.

One module per command family (``train``, ``average``, ``translate`` with ``plot``, ``evaluate``,
``export``, ``serve``, ``synthetic``, ``bench``), each with ``register(subparsers)`` and the
``run`` functions it sets as defaults; ``args`` holds the argument types and options they share.
Commands import TensorFlow only inside ``run``, so ``nmt --help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from nmt import __version__
from nmt.cli import average, bench, evaluate, export, serve, synthetic, train, translate
from nmt.cli.quiet import silence_native_logs
from nmt.errors import Interrupted, NmtError

__all__ = ["build_parser", "main"]

# What a shell reports for a command that SIGPIPE ended (`cat big | head` under pipefail).
CLOSED_PIPE_STATUS = 128 + signal.SIGPIPE


def build_parser() -> argparse.ArgumentParser:
    """The ``nmt`` parser with every subcommand; imports no TensorFlow."""
    parser = argparse.ArgumentParser(
        prog="nmt", description="LSTM sequence-to-sequence translation with additive attention."
    )
    parser.add_argument("--version", action="version", version=f"nmt {__version__}")
    verbose = dict(
        action="store_true",
        help="show the C++ log lines of TensorFlow, XLA and SentencePiece (hidden by default)",
    )
    parser.add_argument("-v", "--verbose", **verbose)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in (train, average, translate, evaluate, export, serve, synthetic, bench):
        family.register(sub)
    for command in sub.choices.values():
        # After the command too; SUPPRESS keeps a -v given before it.
        command.add_argument("-v", "--verbose", default=argparse.SUPPRESS, **verbose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one ``nmt`` command.

    Args:
        argv: The arguments after ``nmt``; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit status: 0 on success, 2 for an ``NmtError`` (printed on one line),
        130 when interrupted, 141 when stdout was closed early (``nmt ... | head``).
    """
    args = build_parser().parse_args(argv)
    if not args.verbose:
        silence_native_logs()
    try:
        _check_model_dirs(getattr(args, "model", None))
        status = args.run(args)
        # Output to a pipe is block-buffered: a reader that left early must be met
        # here, where it is handled, not in the interpreter's flush at exit.
        sys.stdout.flush()
        return status
    except NmtError as exc:
        print(f"nmt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nmt: interrupted", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"nmt: {exc}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _discard_stdout()
        return CLOSED_PIPE_STATUS


def _check_model_dirs(models: str | list[str] | None) -> None:
    """A ``--model`` that is no directory is reported before TensorFlow loads (seconds)."""
    for model in [models] if isinstance(models, str) else models or []:
        if not os.path.isdir(model):
            raise NmtError(f"no such model directory: {model}")


def _discard_stdout() -> None:
    """Points stdout at /dev/null: what is still buffered can no longer reach the reader,
    and the flush at exit must not raise ``BrokenPipeError`` a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
