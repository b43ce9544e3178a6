"""The ASGI app of ``nmt serve``: the JSON API, its OpenAPI docs and the page.

Every route answers a client's mistake with a 4xx status and ``{"error": "..."}`` in
words a person can act on; only a fault of the server itself is a 5xx, and no request,
however malformed, stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import mimetypes
import sys
import traceback
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from nmt import __version__
from nmt.serve.batcher import Batcher, Busy
from nmt.serve.fastpath import FastPaths, health
from nmt.serve.limits import BodyLimit, validation_message
from nmt.serve.schema import (
    ErrorOut,
    OnmtItem,
    OnmtResult,
    RequestError,
    Settings,
    TranslateRequest,
    TranslateResponse,
    check_attention_work,
    check_texts,
    onmt_json,
    request_prefixes,
    request_texts,
    search_options,
    translation_json,
)

PAGE_DIR = Path(__file__).parent / "page"
_ERRORS = {
    400: {"model": ErrorOut, "description": "malformed JSON"},
    413: {"model": ErrorOut, "description": "body too large"},
    422: {"model": ErrorOut, "description": "invalid request, or outside the limits"},
    503: {"model": ErrorOut, "description": "busy, or the time limit passed"},
}


def create_app(translator, model_dirs: list[str], settings: Settings) -> FastAPI:
    """The app serving ``translator``, a loaded (and warmed up) ``Translator``.

    Args:
        translator: What ``nmt.decoding.export.load_translator`` returned.
        model_dirs: The directories it was loaded from, as ``/models`` reports them.
        settings: Decoding defaults, limits and batching.
    """
    config = translator.config
    settings = settings.resolved(config.decode)
    batcher = Batcher(
        functools.partial(_translate, translator, settings.length_penalty),
        settings.max_batch,
        settings.batch_window_ms / 1000,
        settings.max_pending,
        settings.timeout,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    # /docs (Swagger UI) and /redoc with their scripts served from the fastapi-offline
    # package, since the server may have no internet (and the page uses none).
    app = FastAPIOffline(
        title="nmt",
        version=__version__,
        description="English to Korean translation with an LSTM-attention model; "
        "see docs/serve.md.",
        lifespan=lifespan,
        favicon_url="/favicon.ico",
        static_url="/docs-assets",
    )
    app.state.batcher = batcher
    app.add_middleware(BodyLimit, max_bytes=settings.max_body)
    # Added last, so outermost: its answers skip the size check and FastAPI altogether.
    app.add_middleware(FastPaths, batcher=batcher)
    _add_error_handlers(app)

    async def decode(texts: list[str], beam: int, n_best: int, http: Request, prefixes=None):
        job = asyncio.ensure_future(batcher.translate(texts, beam, n_best, prefixes))
        # A client that closes its connection no longer wants the translation: its
        # sentences leave the queue instead of taking the search's time.
        gone = asyncio.ensure_future(_client_gone(http))
        try:
            limit = settings.timeout or None  # 0: no limit
            done, _ = await asyncio.wait({job, gone}, timeout=limit, return_when="FIRST_COMPLETED")
        finally:
            gone.cancel()
        if job in done:
            try:
                return job.result()
            except Busy as exc:
                retry = {"Retry-After": str(exc.retry_after)}
                raise RequestError(f"the server is busy: {exc}", 503, retry) from None
        job.cancel()
        if gone in done:
            raise RequestError("the client closed the connection", 499)  # read by nobody
        raise RequestError(
            f"no translation within the time limit ({settings.timeout:g} s); retry later",
            503,
            {"Retry-After": "1"},
        )

    @app.post("/translate", response_model=TranslateResponse, responses=_ERRORS)
    async def translate(request: TranslateRequest, http: Request):
        """Translates ``text`` or ``texts`` (continuing ``prefix`` if given); tokens, scores,
        source coverage and, when asked, attention and word alignments."""
        texts = request_texts(request, settings)
        prefixes = request_prefixes(request, texts, settings)
        vocab = config.model.tgt_vocab_size
        beam, n_best = search_options(request.beam, request.n_best, settings, vocab)
        if request.attention:
            check_attention_work(texts, n_best, config, settings, prefixes)
        results = await decode(texts, beam, n_best, http, prefixes)
        options = request.attention, request.words, request.alignments

        def body() -> bytes:
            translations = [
                translation_json(r, *options, prefixes[i] if prefixes else "")
                for i, r in enumerate(results)
            ]
            out = {"translations": translations, "beam": beam, "n_best": n_best}
            return _json({**out, "words": request.words})

        # Built in a thread, not on the event loop: a response of large attention
        # matrices takes a while to turn into JSON, and /health must answer meanwhile.
        # Built by hand: validating big matrices against the schema costs time too.
        return Response(await asyncio.to_thread(body), media_type="application/json")

    @app.post("/translator/translate", response_model=list[list[OnmtResult]], responses=_ERRORS)
    async def translate_onmt(items: list[OnmtItem], http: Request):
        """OpenNMT-py's REST format: ``[{"src": ..., "id": ...}]`` in, ``n_best`` lists out."""
        check_texts([item.src for item in items], settings)
        beam, n_best = search_options(None, None, settings, config.model.tgt_vocab_size)
        results = await decode([item.src for item in items], beam, n_best, http)
        return JSONResponse(onmt_json(items, results, n_best))

    @app.get("/health", responses={503: {"description": "the server cannot translate"}})
    async def health_route():
        """Whether the server can translate (503 if not), the sentences waiting, the
        version, and what the batcher has done. (``FastPaths`` answers it ahead of the
        app, with the same ``health``; this route puts it in the OpenAPI docs.)"""
        status, body = health(batcher)
        return JSONResponse(body, status)

    @app.get("/models")
    async def models():
        """The model directories, vocabularies, decode defaults and server settings."""
        decode_config = config.decode
        return {
            # Directory names: where a model sits on the server is the operator's
            # business, unless they ask for it (--model-paths).
            "models": [str(d) if settings.model_paths else Path(d).name for d in model_dirs],
            "ensemble_size": len(model_dirs),
            "src_vocab_size": config.model.src_vocab_size,
            "tgt_vocab_size": config.model.tgt_vocab_size,
            "max_src_len": config.data.max_src_len,
            "decode": {
                "beam_size": decode_config.beam_size,
                "n_best": decode_config.n_best,
                "length_penalty": decode_config.length_penalty,
            },
            "server": settings.to_json(),
        }

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(PAGE_DIR / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        # Asked for by browsers whatever the page's <link rel="icon"> says.
        return FileResponse(PAGE_DIR / "icon.svg", media_type="image/svg+xml")

    @app.get("/page/cjk-font", include_in_schema=False)
    async def cjk_font():
        return _font_response()

    app.mount("/page", StaticFiles(directory=PAGE_DIR), name="page")
    return app


async def _client_gone(http: Request) -> None:
    """Returns once the client has closed its connection (its body is read by then)."""
    while (await http.receive())["type"] != "http.disconnect":
        pass


def _json(content) -> bytes:
    """What ``JSONResponse`` would send for ``content``."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _translate(translator, length_penalty: float, texts, beam: int, n_best: int, prefixes):
    return translator.translate(texts, beam, n_best, length_penalty, prefixes=prefixes)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError):
        return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        status, message = validation_message(exc.errors())
        return JSONResponse({"error": message}, status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception):
        # The detail (TensorFlow's messages name files on the server) goes to the
        # server's log only; the client gets an id to quote.
        request_id = uuid.uuid4().hex[:12]
        detail = "".join(traceback.format_exception(exc)).rstrip()
        print(f"nmt serve: request {request_id} failed:\n{detail}", file=sys.stderr, flush=True)
        message = f"internal error; the server's log has the details under request id {request_id}"
        return JSONResponse({"error": message, "request_id": request_id}, 500)


@functools.cache
def _font_file() -> str | None:
    # The packaged Noto Sans CJK of the plots: browsers without a Hangul font get it
    # from here, since the page may use nothing from the internet.
    from nmt.viz.fonts import cjk_font

    font = cjk_font()
    return font.get_file() if font is not None else None


def _font_response():
    path = _font_file()
    if path is None:
        return JSONResponse({"error": "no font with Hangul glyphs is installed"}, 404)
    media = mimetypes.guess_type(path)[0] or "font/otf"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=86400"})
