"""``nmt translate`` and ``nmt plot``: a trained model's translations, as text or figures."""

from __future__ import annotations

import argparse
import json
import sys

from nmt.cli.args import add_decoding, add_models, positive_int
from nmt.cli.steering import add_steering, alignment_suffix, decode, steering, with_words
from nmt.errors import NmtError


def register(sub) -> None:
    """Adds ``translate`` and ``plot`` to the ``nmt`` subcommands."""
    p = sub.add_parser("translate", help="translate sentences with a trained model")
    add_models(p)
    p.add_argument("text", nargs="*", help="sentences to translate (default: lines of stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per input")
    p.add_argument("--plot", metavar="FILE_OR_DIR", help="write alignment plots (.png/.svg/.pdf)")
    p.add_argument(
        "--alignments", action="store_true",
        help='append " ||| " and the Pharaoh word alignment (src-tgt word indices) to each '
        "output line; with --json, add alignment and tgt_words to each hypothesis",
    )  # fmt: skip
    add_steering(p)
    add_decoding(p)
    p.epilog = (
        "With --n-best N > 1, each hypothesis is one line, best first: "
        "INPUT_LINE<TAB>SCORE<TAB>TRANSLATION (input lines counted from 0; SCORE is the "
        "length-penalized log-probability the beam ranks by). --json adds, per hypothesis, "
        "the attention each source word received (coverage) and the words far below the "
        "others (uncovered: possibly left untranslated). MODEL_DIR/export, when newer "
        "than the checkpoints (see nmt export), is used instead of rebuilding the model."
    )
    p.set_defaults(run=run_translate)

    p = sub.add_parser("plot", help="plot source-target alignments of translations")
    add_models(p)
    p.add_argument(
        "-o", "--out", required=True, metavar="FILE_OR_DIR",
        help=".png/.svg/.pdf file (several sentences: a multi-page PDF, or numbered files), "
        "or a directory for one PNG per sentence",
    )  # fmt: skip
    p.add_argument("text", nargs="+", help="source sentences")
    p.add_argument("--words", action="store_true", help="merge subword pieces into words")
    p.add_argument(
        "--hypothesis", type=positive_int, default=1, metavar="I",
        help="plot the I-th best hypothesis (--beam and --n-best are raised to at least I)",
    )  # fmt: skip
    add_steering(p)
    add_decoding(p)
    p.epilog = (
        "Source words that received far less attention than the others (possibly left "
        "untranslated) are labelled in red."
    )
    p.set_defaults(run=run_plot)


def run_translate(args: argparse.Namespace) -> int:
    """Prints one line (or JSON object) per input, or the n-best table; returns 0."""
    from nmt.decoding.export import load_translator
    from nmt.progress import progress_bar

    if args.beam and args.n_best and args.n_best > args.beam:
        raise NmtError(f"--n-best {args.n_best} exceeds --beam {args.beam}; raise --beam")
    texts = args.text if args.text else [line.rstrip("\r\n") for line in sys.stdin]
    prefixes, targets = steering(args, len(texts))
    translator = load_translator(args.model, args.no_repeat_ngram)
    # Lines of stdin can be a whole file: show how far along it is (on a terminal).
    bar = progress_bar(len(texts), "translate", unit="sentence", enabled=not args.text)
    with bar:
        results = decode(translator, texts, args, prefixes, targets, progress=bar.update)
    for i, result in enumerate(results):
        if result.truncated:
            print(
                f"nmt: warning: input longer than {translator.config.data.max_src_len} tokens "
                f"was truncated: {result.source[:40]!r}...",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(with_words(result, args.alignments), ensure_ascii=False))
        elif (args.n_best or translator.config.decode.n_best) > 1:
            for h in result.hypotheses:
                line = f"{i}\t{h.score:.4f}\t{_one_line(h.text)}"
                print(line + alignment_suffix(result, h, args.alignments))
        else:
            print(_one_line(result.text) + alignment_suffix(result, result.best, args.alignments))
    if args.plot:
        _save_plots(results, args.plot)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    """Writes the alignment figures of the chosen hypothesis; returns 0."""
    from nmt.decoding.export import load_translator

    prefixes, targets = steering(args, len(args.text))
    if targets is not None and args.hypothesis > 1:
        raise NmtError("--target gives one hypothesis: the target; drop --hypothesis")
    translator = load_translator(args.model, args.no_repeat_ngram)
    n_best = max(args.n_best or 1, args.hypothesis)
    args.beam = max(args.beam or translator.config.decode.beam_size, n_best)
    args.n_best = n_best
    results = decode(translator, args.text, args, prefixes, targets)
    _save_plots(results, args.out, args.hypothesis - 1, args.words)
    return 0


def _save_plots(results, path, hypothesis: int = 0, words: bool = False) -> None:
    from nmt.viz.alignment import save_figures, translation_figure

    figures = [
        translation_figure(r, hypothesis=hypothesis, words=words, flag_uncovered=True)
        for r in results
        if r.tgt_tokens
    ]
    if not figures:
        raise NmtError("nothing to plot: every input was empty")
    for written in save_figures(figures, path):
        print(f"nmt: wrote {written}", file=sys.stderr)


def _one_line(text: str) -> str:
    """Line-oriented output keeps one line per hypothesis, whatever bytes a model emits."""
    return " ".join(text.replace("\t", " ").splitlines())
