"""``nmt bench train`` and ``nmt bench decode``: throughput on random tokens (``nmt.bench``)."""

from __future__ import annotations

import argparse

from nmt.cli.args import non_negative_int, positive_int
from nmt.errors import NmtError


def register(sub) -> None:
    """Adds ``bench`` and its two subcommands to the ``nmt`` subcommands."""
    p = sub.add_parser("bench", help="training and decoding throughput on random tokens")
    what = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    train = what.add_parser("train", help="training throughput (target tokens/s, FLOP/s)")
    _add_size(train)
    train.add_argument("--steps", type=positive_int, default=20, help="timed steps")
    train.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    train.add_argument(
        "--cpu-streams", type=non_negative_int, metavar="N",
        help="train.cpu_streams: slices of each batch run side by side on a CPU (0: auto; "
        "default 1 with --threads, else auto)",
    )  # fmt: skip
    train.add_argument(
        "--floor",
        action="store_true",
        help="also time the step's matmuls alone, and with the work besides matmuls that no "
        "implementation can skip: the fastest this step could run here",
    )
    decode = what.add_parser("decode", help="decoding throughput (sentences/s, tokens/s)")
    _add_size(decode)
    decode.add_argument("--beam", type=positive_int, default=4, help="beam size")
    decode.add_argument("--repeats", type=positive_int, default=5, help="timed repeats")
    p.set_defaults(run=run)


def _add_size(p: argparse.ArgumentParser) -> None:
    """The model and batch sizes; the defaults are the reference size of docs/speed.md."""
    p.add_argument("--vocab", type=positive_int, default=8000, help="both vocabularies")
    p.add_argument("--emb", type=positive_int, default=256, help="embedding and readout size")
    p.add_argument("--units", type=positive_int, default=512, help="LSTM and attention size")
    p.add_argument("--batch", type=positive_int, default=64)
    p.add_argument("--src-len", type=positive_int, default=20)
    p.add_argument("--tgt-len", type=positive_int, default=20)
    p.add_argument(
        "--threads", type=non_negative_int, default=0, help="intra-op threads (0: TF's choice)"
    )
    p.add_argument("--json", action="store_true", help="end with one JSON object")


def run(args: argparse.Namespace) -> int:
    """Checks the sizes against each other, then runs the chosen benchmark."""
    from nmt.bench import throughput as bench

    if args.vocab <= bench.FIRST_ID:
        raise NmtError(
            f"--vocab must be above {bench.FIRST_ID} (the special tokens), got {args.vocab}"
        )
    if args.bench == "train" and args.threads and (args.cpu_streams or 0) > 1:
        # The streams set the threads themselves (each its share of the cores).
        raise NmtError(
            f"--threads cannot be combined with --cpu-streams {args.cpu_streams}: the streams "
            "take the cores' threads between them; use --cpu-streams 1 with --threads"
        )
    return bench.run_train(args) if args.bench == "train" else bench.run_decode(args)
