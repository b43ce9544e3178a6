"""Score trained models under several decoding settings: how decoding defaults are chosen.

Takes the model directories a quality-suite run wrote (``OUT/NAME/CORPUS-SEED``) and
scores each on its corpus's test split (and JHE for news models) with greedy search
and beam search under every length penalty and repetition guard given; prints the
table of means over seeds per corpus and setting and appends the raw scores to
``OUT/sweep.jsonl``. Decoding only: nothing is trained.

    python scripts/decode_sweep.py --out runs/quality --name new \\
        --alpha 0.6 1.0 1.5 2.0 --no-repeat 0 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tensorflow as tf  # noqa: E402
from quality_suite import ROOT, prepare  # noqa: E402

from nmt.constants import BOS_ID, EOS_ID, PAD_ID  # noqa: E402
from nmt.data.corpus import read_corpus  # noqa: E402
from nmt.decoding.evaluate import evaluate  # noqa: E402
from nmt.decoding.translator import Translator  # noqa: E402

METRICS = ("chrf", "exact_match", "length_ratio", "loops", "premature_eos")


def sweep(model: Path, corpus: Path, tests: dict, beam: int, alphas, guards) -> list[dict]:
    rows = []
    for guard in guards:
        translator = Translator.load(model, no_repeat_ngram=guard)
        if guard == guards[0]:
            early = {t: premature_eos(translator, p) for t, p in {"test": corpus, **tests}.items()}
        for test, path in {"test": corpus, **tests}.items():
            settings = [(1, 0.0)] + [(beam, a) for a in alphas]
            for k, alpha in settings:
                scores, hyps = evaluate(translator, path, "test", k, alpha)
                loops = sum(_loops(h) for h in hyps)
                rows.append(
                    dict(test=test, beam=k, alpha=alpha, no_repeat=guard, loops=loops)
                    | {"premature_eos": early[test]}
                    | {m: round(getattr(scores, m), 4) for m in ("chrf", "bleu", "exact_match")}
                    | {"length_ratio": round(scores.length_ratio, 4)}
                )
    return rows


def premature_eos(translator: Translator, corpus: Path) -> float:
    """The share of test sentences whose reference, teacher-forced, has EOS ranked first
    at some position before its end: where the model itself would stop too early."""
    data = read_corpus(corpus, split="test")
    hits = 0
    for start in range(0, len(data), 64):
        src_ids, _ = translator._source_ids(tf.constant(data.src[start : start + 64]))
        tgt = translator.tgt_tok.tokenize(tf.constant(data.tgt[start : start + 64]))
        tgt_out = tgt.to_tensor()
        tgt_in = tf.concat([tf.fill([tf.shape(tgt_out)[0], 1], BOS_ID), tgt_out[:, :-1]], 1)
        tgt_in = tf.where(tgt_out == PAD_ID, PAD_ID, tgt_in)
        logits, _ = translator.model((src_ids, tgt_in), training=False)
        first = tf.argmax(logits, axis=-1, output_type=tf.int32) == EOS_ID
        before_end = tf.sequence_mask(tgt.row_lengths() - 1, tf.shape(tgt_out)[1])
        hits += int(tf.reduce_sum(tf.cast(tf.reduce_any(first & before_end, axis=1), tf.int32)))
    return hits / max(len(data), 1)


def _loops(text: str) -> bool:
    """Whether an output says one word three times in a row (a decoding loop)."""
    words = text.split()
    return any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "quality")
    p.add_argument("--name", required=True, help="the quality-suite setting whose models to use")
    p.add_argument("--models", nargs="+", help="only these model directories (e.g. en-ko-0)")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--alpha", type=float, nargs="+", default=[1.0])
    p.add_argument("--no-repeat", type=int, nargs="+", default=[0])
    args = p.parse_args()
    out = args.out / "sweep.jsonl"
    table: dict[tuple, list[dict]] = {}
    for model in sorted((args.out / args.name).iterdir()):
        if args.models and model.name not in args.models:
            continue
        name = model.name.rsplit("-", 1)[0]
        corpus, tests = prepare(name, args.out / "corpora")
        for row in sweep(model, corpus, tests, args.beam, args.alpha, args.no_repeat):
            row |= {"setting": args.name, "corpus": name, "model": model.name}
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            key = (name, row["test"], row["beam"], row["alpha"], row["no_repeat"])
            table.setdefault(key, []).append(row)
    print(
        "| corpus | test | beam | α | no repeat | models | chrF | exact | length ratio "
        "| loops | EOS first too early |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (corpus, test, beam, alpha, guard), rows in table.items():
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k in METRICS}
        print(
            f"| {corpus} | {test} | {beam} | {alpha if beam > 1 else '–'} | {guard} | "
            f"{len(rows)} | {mean['chrf']:.2f} | {100 * mean['exact_match']:.1f}% | "
            f"{mean['length_ratio']:.3f} | {mean['loops']:.1f} | "
            f"{100 * mean['premature_eos']:.0f}% |"
        )


if __name__ == "__main__":
    main()
