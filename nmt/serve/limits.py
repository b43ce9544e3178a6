"""The request body's size limit, and validation errors put into words.

The size limit is ASGI middleware rather than a check in the routes: a route sees the
body only after all of it has been read, and a client should not be able to make the
server buffer gigabytes first.
"""

from __future__ import annotations

import json

_TOO_LARGE = 413
# Validation errors of the body as a whole: JSON of another shape, or not JSON at all
# (a body sent without Content-Type: application/json reaches validation as bytes).
_WHOLE_BODY = {
    "model_attributes_type": 'a JSON object such as {"text": "..."}',
    "dict_type": 'a JSON object such as {"text": "..."}',
    "list_type": 'a JSON list such as [{"src": "..."}]',
}


class BodyLimit:
    """Answers 413 to a body over ``max_bytes``, by its Content-Length or as it streams.

    A chunked body that grows past the limit is cut there; the app's answer to what it
    read is then replaced with the 413.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        received = 0
        over = False
        started = False

        async def limited_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def checked_send(message):
            nonlocal started
            if over and not started:
                started = True
                return await self._refuse(send)
            if over:
                return None  # the rest of the app's own answer
            return await send(message)

        await self.app(scope, limited_receive, checked_send)

    async def _refuse(self, send) -> None:
        body = json.dumps(
            {"error": f"request body larger than {self.max_bytes} bytes; send fewer texts"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": _TOO_LARGE,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def validation_message(errors: list[dict]) -> tuple[int, str]:
    """The HTTP status and one readable line for FastAPI's ``RequestValidationError``.

    Malformed JSON is 400; JSON of the wrong shape is 422, with each problem's place in
    the body (``texts[2]: Input should be a valid string``).
    """
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "cannot be parsed")
            loc = error.get("loc", ())
            at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
            return 400, f"the body is not valid JSON: {reason}{at}"
        if tuple(error.get("loc", ())) == ("body",) and error.get("type") in _WHOLE_BODY:
            return 422, (
                f"the body must be {_WHOLE_BODY[error['type']]}, "
                "sent with Content-Type: application/json"
            )
    parts = []
    for error in errors[:5]:
        where = _place(error.get("loc", ()))
        message = error.get("msg", "invalid")
        if error.get("type") == "missing" and not where:
            message = "the request has no JSON body"
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "; ".join(parts) + more


def _place(loc) -> str:
    """``("body", "texts", 2)`` -> ``texts[2]``; the leading "body" says nothing."""
    place = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else str(part))
    return place
