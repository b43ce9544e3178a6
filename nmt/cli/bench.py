"""``nmt bench train`` and ``nmt bench decode``: throughput on random tokens (``nmt.bench``);
``nmt bench serve``: a real ``nmt serve`` under concurrent load; ``nmt bench data``: a
corpus's cost to training."""

from __future__ import annotations

import argparse

from nmt.cli.args import add_models, non_negative_float, non_negative_int, positive_int
from nmt.errors import NmtError
from nmt.serve.settings import Settings

SERVER = Settings()  # nmt serve's defaults, which the benchmark runs it with


def register(sub) -> None:
    """Adds ``bench`` and its subcommands to the ``nmt`` subcommands."""
    p = sub.add_parser("bench", help="training, decoding and serving throughput")
    what = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    train = what.add_parser("train", help="training throughput (target tokens/s, FLOP/s)")
    _add_size(train)
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
    _add_size(decode)
    decode.add_argument("--beam", type=positive_int, default=4, help="beam size")
    decode.add_argument("--repeats", type=positive_int, default=5, help="timed repeats")
    _add_serve(what)
    _add_data(what)
    p.set_defaults(run=run)


def _add_data(what) -> None:
    data = what.add_parser(
        "data", help="a corpus's cost to training: time to the first step, peak memory, tokens/s"
    )
    data.add_argument("--corpus", help="TSV file or split directory (as nmt train)")
    data.add_argument("--src", help="Moses-style source file")
    data.add_argument("--tgt", help="Moses-style target file")
    data.add_argument("--steps", type=positive_int, default=100, help="training steps per run")
    data.add_argument(
        "--resume", action="store_true", help="then resume the run and measure that too"
    )
    data.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override one config field, as nmt train (repeatable)",
    )  # fmt: skip
    data.add_argument("--json", action="store_true", help="end with one JSON object")


def _add_serve(what) -> None:
    serve = what.add_parser(
        "serve", help="nmt serve under load: sentences/s, latency, speed-up over one at a time"
    )
    add_models(serve)
    serve.add_argument("--concurrency", type=positive_int, default=16, help="client threads")
    serve.add_argument("--requests", type=positive_int, default=2000, help="concurrent requests")
    serve.add_argument(
        "--sequential", type=positive_int, default=200, metavar="N",
        help="requests sent one at a time first, the baseline (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument("--beam", type=positive_int, metavar="K", help="the server's --beam")
    serve.add_argument(
        "--max-batch", type=positive_int, default=SERVER.max_batch, help="the server's"
    )
    serve.add_argument(
        "--batch-window-ms", type=non_negative_float, default=SERVER.batch_window_ms,
        help="the server's",
    )  # fmt: skip
    serve.add_argument(
        "--max-time", type=non_negative_float, default=300.0, metavar="SECONDS",
        help="time limit of each run; requests not sent by then are left out",
    )  # fmt: skip
    serve.add_argument(
        "--timeout", type=non_negative_float, default=30.0, metavar="SECONDS",
        help="client time limit per request (a late answer counts as failed)",
    )  # fmt: skip
    serve.add_argument(
        "--overload", action="store_true",
        help="instead: --concurrency clients against a server holding --max-pending "
        "sentences; every request must get 200 or an immediate 503, /health must answer",
    )  # fmt: skip
    serve.add_argument(
        "--max-pending", type=positive_int, default=32, metavar="N",
        help="the server's --max-pending with --overload (default: %(default)s)",
    )  # fmt: skip
    serve.add_argument(
        "--no-backoff", action="store_true",
        help="with --overload, clients ignore Retry-After and retry at once",
    )  # fmt: skip
    serve.add_argument("--json", action="store_true", help="end with one JSON object")


def _add_size(p: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    """Checks the sizes against each other, then runs the chosen benchmark."""
    if args.bench == "serve" and args.overload:
        from nmt.bench.overload import run_overload

        return run_overload(args)
    if args.bench == "serve":
        from nmt.bench.serve import run_serve

        return run_serve(args)
    if args.bench == "data":
        from nmt.bench.data import run_data

        if args.corpus is None and (args.src is None or args.tgt is None):
            raise NmtError("give --corpus PATH, or both --src and --tgt")
        return run_data(args)
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
