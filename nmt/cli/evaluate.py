"""``nmt evaluate``: corpus scores of a trained model (``nmt.decoding.evaluate``)."""

from __future__ import annotations

import argparse
import json

from nmt.cli.args import add_decoding, add_models


def register(sub) -> None:
    """Adds ``evaluate`` to the ``nmt`` subcommands."""
    p = sub.add_parser("evaluate", help="score a model on a corpus split (BLEU, chrF, exact match)")
    add_models(p)
    p.add_argument("--corpus", required=True, help="TSV file or directory with train/dev/test.tsv")
    p.add_argument("--split", default="test", choices=("train", "dev", "test"))
    p.add_argument("--out", help="write the hypotheses here, one per line")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    add_decoding(p, n_best=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prints the scores as a table or one JSON object; returns 0."""
    from nmt.decoding.evaluate import evaluate
    from nmt.decoding.export import load_translator
    from nmt.files import atomic_write

    translator = load_translator(args.model, args.no_repeat_ngram)
    scores, hypotheses = evaluate(
        translator, args.corpus, args.split, args.beam, args.length_penalty, progress=True
    )
    if args.out:
        atomic_write(args.out, "".join(h + "\n" for h in hypotheses))
    if args.json:
        print(json.dumps(scores.to_json(), ensure_ascii=False))
    else:
        print(f"sentences    {scores.sentences}")
        print(f"exact match  {scores.exact_match:.4f}")
        print(f"BLEU         {scores.bleu:.2f}  ({scores.bleu_signature})")
        print(f"chrF         {scores.chrf:.2f}  ({scores.chrf_signature})")
        print(f"length ratio {scores.length_ratio:.3f}")
    return 0
