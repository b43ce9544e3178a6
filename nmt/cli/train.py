"""``nmt train``: a config from file and flags, then ``nmt.training.run.train_translator``."""

from __future__ import annotations

import argparse
import sys

from nmt.cli.args import budget, positive_int
from nmt.errors import NmtError


def register(sub) -> None:
    """Adds ``train`` to the ``nmt`` subcommands."""
    p = sub.add_parser("train", help="train a translator on a parallel corpus")
    src = p.add_argument_group("corpus (a TSV file or directory, or Moses files)")
    src.add_argument(
        "--corpus", help="TSV file (en<TAB>ko per line) or directory with train/dev/test.tsv"
    )
    src.add_argument("--src", help="Moses-style source file (line i translates --tgt line i)")
    src.add_argument("--tgt", help="Moses-style target file")
    p.add_argument("--out", required=True, help="model directory to create or resume")
    p.add_argument("--config", help="JSON config file (any subset of the sections)")
    p.add_argument("--epochs", type=positive_int, help="shortcut for --set train.epochs=N")
    p.add_argument(
        "--max-time", type=budget, metavar="DURATION",
        help="stop cleanly once training has taken this long over every run of --out, "
        "e.g. 90s, 10m, 2h, or none (train.max_time, in seconds; default 12m); re-run "
        "with more to go on",
    )  # fmt: skip
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override one config field, e.g. --set model.units=512 (repeatable)",
    )
    p.add_argument("--skip-bad-lines", action="store_true", help="skip malformed corpus lines")
    p.add_argument("--jit", action="store_true", help="XLA-compile the train and eval steps")
    p.add_argument(
        "--early-stop", choices=("loss", "chrf", "bleu"),
        help="dev measure that picks best/ and stops training (train.early_stop_metric); "
        "chrf and bleu decode the dev set greedily after every epoch",
    )  # fmt: skip
    p.add_argument(
        "--strategy", choices=("default", "mirrored", "multiworker"),
        help="train.strategy: one device, every local GPU (mirrored), or the workers "
        "in TF_CONFIG (multiworker; see README)",
    )  # fmt: skip
    p.add_argument(
        "--precision", choices=("float32", "mixed_float16", "mixed_bfloat16"),
        help="train.precision: mixed_float16 for GPUs (with loss scaling), mixed_bfloat16 "
        "for TPUs and recent CPUs/GPUs; variables stay float32",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace a different model in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Trains into ``args.out``, logging to stderr; returns the exit status."""
    from pathlib import Path

    from nmt.config import CONFIG_FILE, Config, load_config
    from nmt.modeldir import load_model_config
    from nmt.training.run import train_translator

    if args.corpus is None and (args.src is None or args.tgt is None):
        raise NmtError("give --corpus PATH, or both --src and --tgt")
    if args.corpus is not None and (args.src or args.tgt):
        raise NmtError("give either --corpus or --src/--tgt, not both")
    # Going on with a model directory starts from its snapshot, so settings not given
    # keep the values it was trained with, whatever today's defaults are.
    base = None
    if not args.overwrite and (Path(args.out) / CONFIG_FILE).is_file():
        base = load_model_config(args.out)
    config = load_config(args.config, base) if args.config else (base or Config())
    config.override(args.set)
    if args.epochs:
        config.train.epochs = args.epochs
    if args.max_time is not None:
        config.train.max_time = args.max_time
    if args.skip_bad_lines:
        config.data.skip_bad_lines = True
    if args.jit:
        config.train.jit_compile = True
    if args.early_stop:
        config.train.early_stop_metric = args.early_stop
    if args.strategy:
        config.train.strategy = args.strategy
    if args.precision:
        config.train.precision = args.precision
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    result = train_translator(
        config,
        args.out,
        corpus=args.corpus,
        src=args.src,
        tgt=args.tgt,
        overwrite=args.overwrite,
        log=log,
    )
    best = f"dev loss {result.best_dev_loss:.4f}"
    if result.best_dev_metric is not None:
        best = f"dev {config.train.early_stop_metric} {result.best_dev_metric:.2f}"
    log(f"done: {result.steps} steps, best {best}, model in {args.out}")
    return 0
