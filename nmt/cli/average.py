"""``nmt average``: a model averaged over its last best checkpoints (``nmt.training.average``)."""

from __future__ import annotations

import argparse
import sys

from nmt.cli.args import positive_int


def register(sub) -> None:
    """Adds ``average`` to the ``nmt`` subcommands."""
    p = sub.add_parser(
        "average", help="write a model whose weights average the last best checkpoints"
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model directory to average")
    p.add_argument("--out", required=True, metavar="DIR", help="new model directory to write")
    p.add_argument(
        "--last", type=positive_int, default=5, metavar="N",
        help="average the newest N checkpoints of MODEL/best (default 5; train.keep_best "
        "sets how many a run keeps)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace --out if it holds a model")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Averages, then names the checkpoints used and the directory written on stderr."""
    from pathlib import Path

    from nmt.training.average import average_model

    paths = average_model(args.model, args.out, args.last, args.overwrite)
    names = ", ".join(Path(p).name for p in paths)
    print(f"nmt: averaged {len(paths)} checkpoint(s) ({names}) into {args.out}", file=sys.stderr)
    return 0
