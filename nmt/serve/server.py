"""One ``nmt serve`` process: load, compile and warm up the model, then open the port.

The socket is bound here, after the warm-up, and handed to uvicorn: a client that can
connect is answered at full speed, the startup line can name the port the system chose
for ``--port 0``, and a port already taken is a one-line error before uvicorn starts.
"""

from __future__ import annotations

import gc
import signal
import socket
import sys
import time

from nmt.errors import NmtError
from nmt.serve.settings import Settings

WARM_UP_TEXT = "Thank you."
# What uvicorn waits for in-flight requests after SIGTERM, beyond the request time limit.
GRACE_SECONDS = 5.0


def warm_up(translator, settings: Settings) -> None:
    """Translates one sentence with each search the server defaults to, so the graphs
    are traced and compiled before the first client waits on them."""
    translator.translate([WARM_UP_TEXT], 1, 1, settings.length_penalty)
    if settings.beam > 1:
        translator.translate(
            [WARM_UP_TEXT], settings.beam, settings.n_best, settings.length_penalty
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: one the system picks)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise NmtError(f"--host {host!r} cannot be resolved: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise NmtError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    model_dirs: list[str], settings: Settings, host: str, port: int, verbose: bool = False
) -> int:
    """Serves until SIGTERM or SIGINT; returns 0 after SIGTERM, once in-flight requests
    are answered (SIGINT ends as Ctrl-C does: ``KeyboardInterrupt``).

    Args:
        model_dirs: One model directory, or several decoded as an ensemble.
        settings: Decoding defaults, limits and batching.
        host: The address to listen on.
        port: The port; 0 picks a free one (the startup line names it).
        verbose: Show uvicorn's log (its info lines, access log excepted).
    """
    import uvicorn

    from nmt.decoding.export import load_translator
    from nmt.decoding.texts import check_decoding
    from nmt.serve.app import create_app

    start = time.monotonic()
    dirs = model_dirs if len(model_dirs) > 1 else model_dirs[0]
    translator = load_translator(dirs, settings.no_repeat_ngram)
    settings = settings.resolved(translator.config.decode)
    vocab = translator.config.model.tgt_vocab_size
    check_decoding(settings.beam, settings.n_best, settings.length_penalty, vocab)
    if settings.beam > settings.max_beam:
        raise NmtError(f"--beam {settings.beam} exceeds --max-beam {settings.max_beam}")
    warm_up(translator, settings)
    # The model, TensorFlow and their caches are hundreds of thousands of objects that
    # live as long as the server; a full collection would scan them all and stall every
    # request meanwhile (docs/serve.md, Overload). Frozen now, collections skip them.
    gc.collect()
    gc.freeze()
    app = create_app(translator, model_dirs, settings)
    sock = bind(host, port)
    config = uvicorn.Config(
        app,
        log_level="info" if verbose else "warning",
        access_log=False,  # uvicorn's access log goes to stdout, which stays quiet
        timeout_graceful_shutdown=settings.timeout + GRACE_SECONDS if settings.timeout else None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the
    # handler it found: this one, so that a requested stop ends with status 0. Set
    # before the startup line, since a client may stop the server once it knows the
    # port: a SIGTERM before uvicorn's own handler is in place asks it to stop as soon
    # as it has started.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: _stop(server))
    print(
        f"nmt: serving {', '.join(model_dirs)} at {url_of(sock)} (API docs: {url_of(sock)}docs; "
        f"ready in {time.monotonic() - start:.1f} s; SIGTERM or Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    if not server.started:
        raise NmtError("the server did not start; run with -v for uvicorn's log")
    print("nmt: stopped", file=sys.stderr)
    return 0


def _stop(server) -> None:
    server.should_exit = True
