"""Run the attention experiment without the ``nmt`` CLI: ``python scripts/synthetic.py -h``."""

import argparse
import sys
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nmt.cli import synthetic as synthetic_cli  # noqa: E402
from nmt.errors import NmtError  # noqa: E402


def cli() -> int:
    parser = argparse.ArgumentParser(
        prog="synthetic", description="The LSTM-attention experiment on random sequences"
    )
    synthetic_cli.add_arguments(parser)
    args = parser.parse_args()
    try:
        return synthetic_cli.run(args)
    except NmtError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
