"""The HTTP API and the playground: FastAPI, served by uvicorn.

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/classify``, ``POST /v1/generate`` (JSON, or
server-sent events with ``"stream": true``, which end with ``event: done``, or ``event: error`` when the
generation fails), ``GET /v1/inspect`` (the gate page of a text), ``GET /`` (the playground) and
``GET /openapi.json`` (the API's OpenAPI schema). FastAPI's ``/docs`` and ``/redoc`` pages are off: they load
their scripts from a CDN, so offline they were blank, and no package ships a Swagger UI that reads the OpenAPI
3.1 this schema is (swagger-ui-bundle's 4.15 reads 3.0). Every error is JSON, ``{"error": "..."}``, with its
status code: 400 a bad value (named as its JSON field) or a foreign Host, 401 no or a wrong API key, 404 and
405 no such endpoint or method, 408 a body too slow, 413 too large, 422 a malformed body, 500 a failure of the
server, 503 the queue is full, 504 too slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

import nlp_lstm
from nlp_lstm.config import ConfigError
from nlp_lstm.serve.backends import load_backend
from nlp_lstm.serve.batcher import MicroBatcher
from nlp_lstm.serve.generation import Generation
from nlp_lstm.serve.guards import Guard
from nlp_lstm.serve.settings import ServeSettings

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = ""
    length: int = 300
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    stream: bool = False
    adapt: str = ""  # text the model reads first (dynamic evaluation's rule), for this request alone


class Server:
    """The loaded models (torch or ONNX: ``backends``), the batcher and the counters the limits and /health use."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.backend = load_backend(settings)
        self.batcher = MicroBatcher(self.classify_now, settings.batch_wait_ms, settings.max_batch)
        self.active = 0  # requests being served (queued or computing); only the event loop changes the counters
        self.generating = 0  # generation threads computing, for /health

    def classify_now(self, texts: list[str]) -> list[Any]:
        return self.backend.classify(texts)

    def admit(self) -> None:
        """Refuse a request at once, with 503, when the bounded queue is full."""
        if self.active >= self.settings.queue_limit:
            raise ApiError(503, f"busy: {self.active} requests in progress (the limit is {self.settings.queue_limit}); retry")

    @contextlib.contextmanager
    def slot(self) -> Any:
        """A place in the bounded queue for the request's whole time, or 503 at once when it is full."""
        self.admit()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    def start_generation(self, prompt: str, config: Any, adapt: str = "") -> Generation:
        """A generation with a place in the queue (or 503 at once), which it holds until its thread has ended.

        Admission and the count are one step of the event loop, so concurrent requests cannot all pass the check.
        With ``adapt`` text, the generation's own copy of the model reads it first: no request sees another's.
        """
        problem = self.backend.problem(config, adapt)  # what this runtime cannot do, or statistics still being gathered
        if problem is not None:
            raise ApiError(*problem)
        self.admit()
        self.active += 1
        return Generation(self.backend, prompt, config, self.generation_started, self.generation_ended, adapt)

    def generation_started(self) -> None:
        self.generating += 1

    def generation_ended(self, began: bool) -> None:
        self.active -= 1
        self.generating -= began


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The application; ``settings`` default to those a parent process put in the environment (``--workers``)."""
    server = Server(settings or ServeSettings.from_environment())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.batcher.start()
        yield
        await server.batcher.stop()

    # No /docs or /redoc (see the module docstring); the schema they would show stays at /openapi.json.
    app = FastAPI(title="nlp-lstm", version=nlp_lstm.__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = server
    app.add_middleware(Guard, settings=server.settings)  # Host, API key, body size and deadlines, before any route
    _add_error_handlers(app)
    _add_model_routes(app, server)
    _add_generate_route(app, server)
    return app


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _failure(error: Exception) -> str:
    return f"the server failed ({type(error).__name__}: {error}); its log has the details"


def _validation_message(first: dict[str, Any]) -> str:
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "JSON decode error")
        return f"the body is not valid JSON: {reason} at character {first.get('loc', ('', 0))[-1]}"
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "body"
    if where == "body" and isinstance(first.get("input"), bytes):  # not parsed: no JSON content type
        return "body: send a JSON object, with the header Content-Type: application/json"
    return f"{where}: {first.get('msg', 'invalid')}"


def _add_error_handlers(app: FastAPI) -> None:
    """One shape for every error, ``{"error": ...}``: FastAPI's own (404, 405, bodies) answer ``{"detail": ...}``."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(error.errors()[0]))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400 and error.__cause__ is not None:  # FastAPI could not read the body (not UTF-8, ...)
            return _error(422, f"the body is not JSON text in UTF-8 ({error.__cause__}); send a JSON object")
        return _error(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(nlp_lstm.NlpLstmError)
    async def bad_value(request: Request, error: Exception) -> JSONResponse:
        # A setting is named as the request spells it, its JSON field (top_p), not as the command line does.
        return _error(400, error.naming(lambda name: name) if isinstance(error, ConfigError) else str(error))

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:  # then uvicorn logs the traceback
        return _error(500, _failure(error))


def _check_text(field: str, text: str) -> None:
    """Refuse a lone surrogate (JSON can escape one, \\ud800): no UTF-8 can hold it, so nothing could answer it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise ApiError(400, f"{field} holds a lone surrogate, U+{code:04X}, at index {error.start}; send valid Unicode") from None


def _add_model_routes(app: FastAPI, server: Server) -> None:
    settings = server.settings

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "active": server.active, "generating": server.generating, "batches": server.batcher.batches}

    @app.get("/v1/models")
    async def models() -> list[dict[str, Any]]:
        return server.backend.describe()

    @app.post("/v1/classify")
    async def classify(body: ClassifyRequest) -> dict[str, Any]:
        """One prediction per text, in order; a blank text's has ``"label": null`` and no probabilities (as the API's)."""
        if len(body.texts) > settings.max_texts:
            raise ApiError(413, f"{len(body.texts)} texts; at most {settings.max_texts} per request")
        if longest := max((len(t) for t in body.texts if len(t) > settings.max_chars), default=0):
            raise ApiError(413, f"a text of {longest:,} characters; at most {settings.max_chars:,} each")
        for index, text in enumerate(body.texts):
            _check_text(f"texts[{index}]", text)
        with server.slot():
            predictions = await server.batcher.submit(body.texts)
        # the batcher classified them among other requests' texts: their index here is their place in this request
        return {
            "predictions": [{"index": i, "label": p.label, "probabilities": p.probabilities} for i, p in enumerate(predictions)]
        }

    @app.get("/v1/inspect", response_class=HTMLResponse)
    async def inspect(text: str = "") -> str:
        if len(text) > settings.max_chars:
            raise ApiError(413, f"text has {len(text):,} characters; at most {settings.max_chars:,}")
        _check_text("text", text)
        with server.slot():
            return await asyncio.to_thread(server.backend.gate_page, text)

    @app.get("/", response_class=HTMLResponse)
    async def playground() -> str:
        return (importlib.resources.files("nlp_lstm.serve") / "playground.html").read_text(encoding="utf-8")


def _sample_config(body: GenerateRequest, settings: ServeSettings) -> Any:
    if body.length > settings.max_length:
        raise ApiError(413, f"length {body.length:,}; at most {settings.max_length:,} characters per request")
    if len(body.prompt) > settings.max_chars:
        raise ApiError(413, f"prompt has {len(body.prompt):,} characters; at most {settings.max_chars:,}")
    _check_text("prompt", body.prompt)
    if len(body.adapt) > settings.max_adapt_chars:
        raise ApiError(413, f"adapt has {len(body.adapt):,} characters; at most {settings.max_adapt_chars:,}")
    _check_text("adapt", body.adapt)
    if len(body.adapt) == 1:
        raise ApiError(400, "adapt needs at least two characters of text (or none, not to adapt)")
    return nlp_lstm.SampleConfig(  # its bounds are every front end's: a ConfigError here is a 400 naming the field
        length=body.length, temperature=body.temperature, top_k=body.top_k, top_p=body.top_p, seed=body.seed
    )


def _add_generate_route(app: FastAPI, server: Server) -> None:
    @app.post("/v1/generate", response_model=None)
    async def generate(body: GenerateRequest, request: Request) -> Any:
        config = _sample_config(body, server.settings)
        generation = server.start_generation(body.prompt, config, body.adapt)  # or 503, while it can still be the status
        if body.stream:
            return GenerationStream(generation)
        try:
            text = await _unless_client_leaves(generation.text(), request)
        finally:
            generation.stop()  # the client left, or the guard's deadline cancelled this request
        if text is None:
            return Response(status_code=499)  # nginx's "client closed request": nobody reads it, the log does
        return {"prompt": body.prompt, "continuation": text}


async def _unless_client_leaves(work: Any, request: Request) -> Any:
    """What ``work`` returns, or None as soon as the client has closed its connection (``work`` is then cancelled)."""
    answer, left = asyncio.ensure_future(work), asyncio.ensure_future(_client_left(request))
    try:
        await asyncio.wait({answer, left}, return_when=asyncio.FIRST_COMPLETED)
        return answer.result() if answer.done() else None
    finally:
        answer.cancel()
        left.cancel()


async def _client_left(request: Request) -> None:
    # After the whole body, the server's next message for this request is its disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(1)  # not expected; should another message come, this must not spin


class GenerationStream(StreamingResponse):
    """Server-sent events of one generation, which stops when the response ends for any reason (the client left)."""

    def __init__(self, generation: Generation):
        super().__init__(_events(generation), media_type="text/event-stream")
        self.generation = generation

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when the events were never iterated, where their own finally would not run
            self.generation.stop()


async def _events(generation: Generation) -> AsyncIterator[str]:
    try:
        async for piece in generation.stream():
            yield f"data: {json.dumps({'text': piece})}\n\n"
    except Exception as error:  # the status (200) is sent already: the stream itself must say that it failed
        log.error("a streamed generation failed", exc_info=error)
        yield f"event: error\ndata: {json.dumps({'error': _failure(error)})}\n\n"
    else:
        yield "event: done\ndata: {}\n\n"
