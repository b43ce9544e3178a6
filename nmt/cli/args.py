"""Argument types and options that several ``nmt`` commands share.

The types raise ``argparse.ArgumentTypeError``, so a bad value is a usage error (exit 2
with the usage line) before any command runs.
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text: str, lowest: int, expected: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < lowest:
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A number >= 0 (NaN is rejected too)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def duration(text: str) -> float:
    """Seconds from a duration such as ``90s``, ``10m`` or ``2h``."""
    # Imported on use, like every library module: building the parser stays light.
    from nmt.training.interrupt import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def budget(text: str) -> float:
    """A duration, or ``0``/``none`` for no time limit (0 seconds)."""
    return 0.0 if text.strip().lower() in ("0", "none") else duration(text)


def add_decoding(p: argparse.ArgumentParser, n_best: bool = True) -> None:
    """Search options; each defaults to the model's ``decode`` config.

    Args:
        p: The command's parser.
        n_best: Whether the command can output several hypotheses per input.
    """
    p.add_argument("--beam", type=positive_int, metavar="K", help="beam size (1: greedy search)")
    if n_best:
        p.add_argument(
            "--n-best", type=positive_int, metavar="N", help="output the N best hypotheses (N <= K)"
        )
    p.add_argument(
        "--length-penalty", type=non_negative_float, metavar="ALPHA",
        help="GNMT length penalty: beams rank by log P / ((5 + length) / 6) ** ALPHA",
    )  # fmt: skip
    p.add_argument(
        "--no-repeat-ngram", type=non_negative_int, metavar="N",
        help="N >= 2: no output holds an N-gram of tokens twice; 0: off",
    )  # fmt: skip


def add_models(p: argparse.ArgumentParser) -> None:
    """``--model DIR``, repeatable: several directories decode as one ensemble."""
    p.add_argument(
        "--model", required=True, action="append", metavar="DIR",
        help="model directory written by nmt train; repeat to decode with an ensemble "
        "(members must share tokenizers)",
    )  # fmt: skip
