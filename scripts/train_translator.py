"""Train a translator, then translate sentences and plot their alignments.

The README's main job as one script: ``nmt train`` followed by ``nmt translate --plot``.
Options it does not know are passed to ``nmt train``.

usage: python scripts/train_translator.py --corpus data/en-ko --out runs/en-ko \
           --translate "Artificial Intelligence" --plot runs/en-ko/alignment.png
"""

import argparse
import sys

from nmt.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="model directory")
    parser.add_argument("--translate", action="append", default=[], metavar="SENTENCE")
    parser.add_argument("--plot", help="alignment plot file for the translated sentences")
    args, train_args = parser.parse_known_args()
    status = main(["train", "--out", args.out, *train_args])
    if status == 0 and args.translate:
        plot = ["--plot", args.plot] if args.plot else []
        status = main(["translate", "--model", args.out, *plot, *args.translate])
    sys.exit(status)
