"""The ``nmt`` command: parses arguments and calls library functions, nothing more."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nmt import __version__
from nmt.cli.quiet import silence_native_logs
from nmt.errors import Interrupted, NmtError


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text: str, lowest: int, expected: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or value < lowest:
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def duration(text: str) -> float:
    from nmt.training.interrupt import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_decoding(p, n_best: bool = True) -> None:
    """Search options; each defaults to the model's ``decode`` config."""
    p.add_argument("--beam", type=positive_int, metavar="K", help="beam size (1: greedy search)")
    if n_best:
        p.add_argument(
            "--n-best", type=positive_int, metavar="N", help="output the N best hypotheses (N <= K)"
        )
    p.add_argument(
        "--length-penalty", type=non_negative_float, metavar="ALPHA",
        help="GNMT length penalty: beams rank by log P / ((5 + length) / 6) ** ALPHA",
    )  # fmt: skip


def _add_train(sub) -> None:
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
        "--max-time", type=duration, metavar="DURATION",
        help="stop cleanly once training has taken this long over every run of --out, "
        "e.g. 90s, 10m, 2h (train.max_time, in seconds); re-run with more to go on",
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
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from nmt.config import Config, load_config
    from nmt.training.run import train_translator

    if args.corpus is None and (args.src is None or args.tgt is None):
        raise NmtError("give --corpus PATH, or both --src and --tgt")
    if args.corpus is not None and (args.src or args.tgt):
        raise NmtError("give either --corpus or --src/--tgt, not both")
    config = load_config(args.config) if args.config else Config()
    config.override(args.set)
    if args.epochs:
        config.train.epochs = args.epochs
    if args.max_time:
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


def _add_translate(sub) -> None:
    p = sub.add_parser("translate", help="translate sentences with a trained model")
    p.add_argument("--model", required=True, help="model directory written by nmt train")
    p.add_argument("text", nargs="*", help="sentences to translate (default: lines of stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per input")
    p.add_argument("--plot", metavar="FILE_OR_DIR", help="write alignment plots (.png/.svg/.pdf)")
    _add_decoding(p)
    p.epilog = (
        "With --n-best N > 1, each hypothesis is one line, best first: "
        "INPUT_LINE<TAB>SCORE<TAB>TRANSLATION (input lines counted from 0; SCORE is the "
        "length-penalized log-probability the beam ranks by). MODEL_DIR/export, when newer "
        "than the checkpoints (see nmt export), is used instead of rebuilding the model."
    )
    p.set_defaults(run=_run_translate)


def _run_translate(args) -> int:
    from nmt.decoding.export import load_translator
    from nmt.progress import progress_bar

    if args.beam and args.n_best and args.n_best > args.beam:
        raise NmtError(f"--n-best {args.n_best} exceeds --beam {args.beam}; raise --beam")
    texts = args.text if args.text else [line.rstrip("\r\n") for line in sys.stdin]
    translator = load_translator(args.model)
    # Lines of stdin can be a whole file: show how far along it is (on a terminal).
    bar = progress_bar(len(texts), "translate", unit="sentence", enabled=not args.text)
    with bar:
        results = translator.translate(
            texts, args.beam, args.n_best, args.length_penalty, progress=bar.update
        )
    for i, result in enumerate(results):
        if result.truncated:
            print(
                f"nmt: warning: input longer than {translator.config.data.max_src_len} tokens "
                f"was truncated: {result.source[:40]!r}...",
                file=sys.stderr,
            )
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        elif (args.n_best or translator.config.decode.n_best) > 1:
            for h in result.hypotheses:
                print(f"{i}\t{h.score:.4f}\t{_one_line(h.text)}")
        else:
            print(_one_line(result.text))
    if args.plot:
        _save_plots(results, args.plot)
    return 0


def _save_plots(results, path, hypothesis: int = 0, words: bool = False) -> None:
    from nmt.viz.alignment import save_figures, translation_figure

    figures = [
        translation_figure(r, hypothesis=hypothesis, words=words) for r in results if r.tgt_tokens
    ]
    if not figures:
        raise NmtError("nothing to plot: every input was empty")
    for written in save_figures(figures, path):
        print(f"nmt: wrote {written}", file=sys.stderr)


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="plot source-target alignments of translations")
    p.add_argument("--model", required=True, help="model directory written by nmt train")
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
    _add_decoding(p)
    p.set_defaults(run=_run_plot)


def _run_plot(args) -> int:
    from nmt.decoding.export import load_translator

    n_best = max(args.n_best or 1, args.hypothesis)
    beam = max(args.beam or 1, n_best)
    translator = load_translator(args.model)
    results = translator.translate(args.text, beam, n_best, args.length_penalty)
    _save_plots(results, args.out, args.hypothesis - 1, args.words)
    return 0


def _one_line(text: str) -> str:
    """Line-oriented output keeps one line per hypothesis, whatever bytes a model emits."""
    return " ".join(text.replace("\t", " ").splitlines())


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model on a corpus split (BLEU, chrF, exact match)")
    p.add_argument("--model", required=True, help="model directory written by nmt train")
    p.add_argument("--corpus", required=True, help="TSV file or directory with train/dev/test.tsv")
    p.add_argument("--split", default="test", choices=("train", "dev", "test"))
    p.add_argument("--out", help="write the hypotheses here, one per line")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    _add_decoding(p, n_best=False)
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from nmt.decoding.evaluate import evaluate
    from nmt.decoding.export import load_translator
    from nmt.files import atomic_write

    translator = load_translator(args.model)
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


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="write a SavedModel that translates raw strings (needs only TF + TF Text)"
    )
    p.add_argument("--model", required=True, help="model directory written by nmt train")
    p.add_argument("--out", help="SavedModel directory to write (default: MODEL_DIR/export)")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from nmt.decoding.export import export_model

    print(f"nmt: wrote {export_model(args.model, args.out)}", file=sys.stderr)
    return 0


def _add_synthetic(sub) -> None:
    from nmt.cli import synthetic as synthetic_cli

    p = sub.add_parser(
        "synthetic",
        help="the LSTM-attention experiment on random sequences (one step carries the label)",
    )
    synthetic_cli.add_arguments(p)
    p.set_defaults(run=synthetic_cli.main)


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="training and decoding throughput on random tokens")
    what = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    train = what.add_parser("train", help="training throughput (target tokens/s, FLOP/s)")
    _add_bench_size(train)
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
    _add_bench_size(decode)
    decode.add_argument("--beam", type=positive_int, default=4, help="beam size")
    decode.add_argument("--repeats", type=positive_int, default=5, help="timed repeats")
    p.set_defaults(run=_run_bench)


def _add_bench_size(p) -> None:
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


def _run_bench(args) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nmt", description="LSTM sequence-to-sequence translation with additive attention."
    )
    parser.add_argument("--version", action="version", version=f"nmt {__version__}")
    verbose = dict(
        action="store_true",
        help="show the C++ log lines of TensorFlow, XLA and SentencePiece (hidden by default)",
    )
    parser.add_argument("-v", "--verbose", **verbose)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_translate(sub)
    _add_plot(sub)
    _add_evaluate(sub)
    _add_export(sub)
    _add_synthetic(sub)
    _add_bench(sub)
    for command in sub.choices.values():
        # After the command too; SUPPRESS keeps a -v given before it.
        command.add_argument("-v", "--verbose", default=argparse.SUPPRESS, **verbose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        silence_native_logs()
    try:
        return args.run(args)
    except NmtError as exc:
        print(f"nmt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nmt: interrupted", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"nmt: {exc}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
