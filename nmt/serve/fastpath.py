"""Answers that must not wait behind the app: ``GET /health``, and a full server's 503.

Under overload the event loop has hundreds of requests in line, and each one FastAPI
routes, reads and validates costs it about a millisecond. These answers are given before
any of that: ``/health`` from the batcher's state, and a translation request that could
not be admitted whatever it holds (one more sentence would not fit) is refused with 503
and ``Retry-After`` before its body is read.
"""

from __future__ import annotations

import json

from nmt import __version__
from nmt.serve.batcher import Batcher, Busy

TRANSLATE_PATHS = ("/translate", "/translator/translate")


def health(batcher: Batcher) -> tuple[int, dict]:
    """``/health``'s status and body: 503 once the batcher cannot translate."""
    stats = batcher.stats
    alive = batcher.alive
    body = {
        "status": "ok" if alive else "unavailable",
        "batcher_alive": alive,
        "pending": batcher.pending,
        "max_pending": batcher.max_pending,
        "version": __version__,
        "batches": stats.batches,
        "requests": stats.requests,
        "sentences": stats.sentences,
        "largest_batch": stats.largest_batch,
    }
    return (200 if alive else 503), body


class FastPaths:
    """ASGI middleware giving ``health`` and the early 503 ahead of the app."""

    def __init__(self, app, batcher: Batcher):
        self.app = app
        self.batcher = batcher

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "GET" and path == "/health":
                return await _answer(send, *health(self.batcher))
            if method == "POST" and path in TRANSLATE_PATHS:
                try:
                    self.batcher.check_room(1)
                except Busy as exc:
                    headers = [(b"retry-after", str(exc.retry_after).encode())]
                    body = {"error": f"the server is busy: {exc}"}
                    return await _answer(send, 503, body, headers)
        return await self.app(scope, receive, send)


async def _answer(send, status: int, body: dict, headers=()) -> None:
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + list(headers)})
    await send({"type": "http.response.body", "body": data})
