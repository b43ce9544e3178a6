"""Writes the synthetic English→Korean dates corpus: train.tsv, dev.tsv and test.tsv.

Usage:
    python scripts/make_dates.py [--out data/dates] [--train N --dev N --test N] [--seed S]
"""

import argparse

from nmt.data.dates import write_dates_corpus
from nmt.errors import NmtError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="data/dates", help="output directory (default: %(default)s)"
    )
    parser.add_argument(
        "--train", type=int, default=10_000, help="training pairs (default: %(default)s)"
    )
    parser.add_argument("--dev", type=int, default=500, help="dev pairs (default: %(default)s)")
    parser.add_argument("--test", type=int, default=500, help="test pairs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    counts = {"train": args.train, "dev": args.dev, "test": args.test}
    try:
        paths = write_dates_corpus(args.out, args.train, args.dev, args.test, seed=args.seed)
    except NmtError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    for split, path in paths.items():
        print(f"wrote {counts[split]} pairs to {path}")


if __name__ == "__main__":
    main()
