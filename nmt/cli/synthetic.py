"""``nmt synthetic``: the flags of the attention experiment, and its rows of results.

The experiment itself (``nmt.synthetic.experiment``, which loads Keras) is imported only
when the command runs, so that building the ``nmt`` parser (and ``nmt --help``) stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from nmt.errors import NmtError
from nmt.synthetic.config import PLOT_FORMATS, VARIANTS, SyntheticConfig, check

if TYPE_CHECKING:
    from nmt.synthetic.experiment import SyntheticResult


def register(sub) -> None:
    """Adds ``synthetic`` to the ``nmt`` subcommands."""
    p = sub.add_parser(
        "synthetic",
        help="the LSTM-attention experiment on random sequences (one step carries the label)",
    )
    add_arguments(p)
    p.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``nmt synthetic``; defaults come from ``SyntheticConfig``."""
    d = SyntheticConfig()
    add = parser.add_argument
    add("--variant", choices=(*VARIANTS, "all"), default="all", help="model to train (all: each)")
    add("--samples", type=_at_least(10), default=d.samples, help="training + validation samples")
    add("--epochs", type=_at_least(1), default=d.epochs)
    add("--batch-size", type=_at_least(1), default=d.batch_size)
    add("--validation-split", type=_fraction, default=d.validation_split)
    add("--column", type=_at_least(0), default=d.column, help="index holding the label")
    add("--seed", type=int, default=d.seed)
    add("--time-steps", type=_at_least(1), default=d.time_steps)
    add("--input-dims", type=_at_least(1), default=d.input_dims, help="features of 'dense'")
    add("--readout-samples", type=_at_least(1), default=d.readout_samples)
    add("--learning-rate", type=_at_least(0.0, float), default=d.learning_rate)
    add("--jit", action=argparse.BooleanOptionalAction, default=d.jit, help="XLA train steps")
    add("--steps-per-execution", type=_at_least(1), default=d.steps_per_execution)
    add("--plot", type=Path, metavar="FILE", help="write the attention bar charts (.png/.svg/.pdf)")
    add("--json", action="store_true", help="print one JSON object per line, one per variant")
    add("--compare-keras", action="store_true", help="also time Keras' compile defaults")


def run(args: argparse.Namespace) -> int:
    """Train the chosen variants, print a row (or a JSON line) as each finishes, then plot."""
    from nmt.synthetic import experiment as synthetic
    from nmt.synthetic.figure import attention_figure

    config = SyntheticConfig(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticConfig)}
    )
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    for variant in variants:
        check(variant, config)
    if args.plot is not None:
        check_plot_path(args.plot)
    if not args.json:
        header = f"{'variant':<14}{'acc':>9}{'val_acc':>9}{'argmax':>7}{'mass':>9}{'seconds':>9}"
        print(header + (f"{'keras_s':>9}{'ratio':>7}" if args.compare_keras else ""), flush=True)
    results = []
    for variant in variants:
        results.append(synthetic.run(variant, config, compare_keras=args.compare_keras))
        row = json.dumps(results[-1].to_json()) if args.json else format_result(results[-1])
        print(row, flush=True)  # a full run takes minutes: show each variant as it ends
    if args.plot is not None:
        attention_figure(results).savefig(args.plot)
    return 0


def check_plot_path(path: Path) -> None:
    """Raise ``NmtError`` before training if the figure could not be written to ``path``."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise NmtError(f"cannot write plot {path}: use a .png, .svg or .pdf file name")
    if not path.parent.is_dir():
        raise NmtError(f"cannot write plot {path}: directory {path.parent} does not exist")


def format_result(result: SyntheticResult) -> str:
    """One row of the text table that ``run`` prints."""
    row = (
        f"{result.variant:<14}{result.accuracy:>9.4f}{result.val_accuracy:>9.4f}"
        f"{result.argmax:>7d}{result.mass_at_column:>9.3f}{result.seconds:>9.1f}"
    )
    if result.reference_seconds is not None:
        ratio = result.seconds / result.reference_seconds
        row += f"{result.reference_seconds:>9.1f}{ratio:>7.2f}"
    return row


def _at_least(low, kind=int):
    """An argparse ``type=`` that rejects values below ``low`` (exclusive for floats)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if value < low or (kind is float and value == low):
            raise argparse.ArgumentTypeError(
                f"{text} must be {'>' if kind is float else '>='} {low}"
            )
        return value

    return parse


def _fraction(text: str) -> float:
    value = _at_least(0.0, float)(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be below 1")
    return value
