"""``nmt export``: a SavedModel that serves raw strings (``nmt.decoding.export``)."""

from __future__ import annotations

import argparse
import sys

from nmt.cli.args import add_models


def register(sub) -> None:
    """Adds ``export`` to the ``nmt`` subcommands."""
    p = sub.add_parser(
        "export", help="write a SavedModel that translates raw strings (needs only TF + TF Text)"
    )
    add_models(p)
    p.add_argument("--out", help="SavedModel directory to write (default: MODEL_DIR/export)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exports and names the directory written on stderr; returns 0."""
    from nmt.decoding.export import export_model

    print(f"nmt: wrote {export_model(args.model, args.out)}", file=sys.stderr)
    return 0
