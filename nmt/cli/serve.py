"""``nmt serve``: a trained model behind an HTTP API and a page (``nmt.serve``)."""

from __future__ import annotations

import argparse

from nmt.cli.args import (
    add_decoding,
    add_models,
    non_negative_float,
    non_negative_int,
    positive_int,
)
from nmt.serve.settings import Settings

DEFAULTS = Settings()


def register(sub) -> None:
    """Adds ``serve`` to the ``nmt`` subcommands."""
    p = sub.add_parser("serve", help="serve translations over HTTP: a JSON API and a page")
    add_models(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--port", type=non_negative_int, default=8000,
        help="port (default: %(default)s; 0: a free one, named on the startup line)",
    )  # fmt: skip
    add_decoding(p)
    batching = p.add_argument_group("batching")
    batching.add_argument(
        "--max-batch", type=positive_int, default=DEFAULTS.max_batch, metavar="N",
        help="sentences decoded together at most (default: %(default)s)",
    )  # fmt: skip
    batching.add_argument(
        "--max-pending", type=positive_int, default=DEFAULTS.max_pending, metavar="N",
        help="sentences queued at most; beyond, or beyond what the recent decoding rate "
        "answers within --timeout, a request gets 503 with Retry-After at once "
        "(default: %(default)s)",
    )  # fmt: skip
    batching.add_argument(
        "--batch-window-ms", type=non_negative_float, default=DEFAULTS.batch_window_ms, metavar="M",
        help="how long a request waits for others to share its batch (default: %(default)s)",
    )  # fmt: skip
    limits = p.add_argument_group("limits (a request beyond one gets a 4xx JSON error)")
    limits.add_argument(
        "--max-chars", type=positive_int, default=DEFAULTS.max_chars, metavar="N",
        help="characters per text (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-texts", type=positive_int, default=DEFAULTS.max_texts, metavar="N",
        help="texts per request (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-body", type=positive_int, default=DEFAULTS.max_body, metavar="BYTES",
        help="request body size (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-beam", type=positive_int, default=DEFAULTS.max_beam, metavar="K",
        help="largest beam a request may ask for (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--max-attention", type=positive_int, default=DEFAULTS.max_attention, metavar="N",
        help="attention weights one response may carry, counted from the texts' lengths "
        "(default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--timeout", type=non_negative_float, default=DEFAULTS.timeout, metavar="SECONDS",
        help="time a request may wait for its translation, then 503; 0: no limit "
        "(default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--model-paths", action="store_true",
        help="GET /models names each model by its full path, not its directory's name",
    )  # fmt: skip
    p.epilog = (
        "The model is loaded and its search compiled before the port opens. POST /translate "
        'takes {"text": ...} or {"texts": [...]}; POST /translator/translate speaks '
        "OpenNMT-py's REST format; / is a page that translates as you type and draws the "
        "attention; /docs has the OpenAPI docs. See docs/serve.md."
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serves until SIGTERM (then exits 0) or Ctrl-C."""
    from nmt.serve.server import serve

    settings = Settings(
        beam=args.beam,
        n_best=args.n_best,
        length_penalty=args.length_penalty,
        no_repeat_ngram=args.no_repeat_ngram,
        max_chars=args.max_chars,
        max_texts=args.max_texts,
        max_body=args.max_body,
        max_beam=args.max_beam,
        max_attention=args.max_attention,
        timeout=args.timeout,
        max_batch=args.max_batch,
        batch_window_ms=args.batch_window_ms,
        max_pending=args.max_pending,
        model_paths=args.model_paths,
    )
    return serve(args.model, settings, args.host, args.port, verbose=args.verbose)
