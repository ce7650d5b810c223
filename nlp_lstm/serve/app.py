"""The HTTP API and the playground: FastAPI, served by uvicorn.

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/classify``, ``POST /v1/generate`` (JSON, or
server-sent events with ``"stream": true``), ``GET /v1/inspect`` (the gate page of a text), ``GET /``
(the playground). Every error is JSON, ``{"error": "..."}``, with its status code: 400 a bad value,
401 no or a wrong API key, 413 too large, 422 a malformed body, 503 the queue is full, 504 too slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib.resources
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

import nlp_lstm
from nlp_lstm.catalog import describe_model
from nlp_lstm.serve.batcher import MicroBatcher
from nlp_lstm.serve.settings import ServeSettings


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


class Server:
    """The loaded models, the batcher and the counters the limits and /health use."""

    def __init__(self, settings: ServeSettings):
        from nlp_lstm.devices import select_device, use_threads

        use_threads(settings.threads)
        device = select_device(settings.device)
        self.settings = settings
        self.paths = {
            "classifier": Path(settings.classifier or nlp_lstm.shipped_model("classifier")),
            "lm": Path(settings.generator or nlp_lstm.shipped_model("lm")),
        }
        self.models = {kind: nlp_lstm.load_model(path, device=device, kind=kind) for kind, path in self.paths.items()}
        self.batcher = MicroBatcher(self.classify_now, settings.batch_wait_ms, settings.max_batch)
        self.active = 0  # requests being served (queued or computing)
        self.generating = 0  # generations running, for /health: a client that leaves stops its own
        self.lock = threading.Lock()

    def classify_now(self, texts: list[str]) -> list[Any]:
        return nlp_lstm.classify(self.models["classifier"], texts, batch_size=64)

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


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The application; ``settings`` default to those a parent process put in the environment (``--workers``)."""
    server = Server(settings or ServeSettings.from_environment())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server.batcher.start()
        yield
        await server.batcher.stop()

    app = FastAPI(title="nlp-lstm", version=nlp_lstm.__version__, lifespan=lifespan)
    app.state.server = server
    _add_guards(app, server)
    _add_model_routes(app, server)
    _add_generate_route(app, server)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _authorised(request: Request, key: str | None) -> bool:
    if key is None:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {key}".encode())  # in constant time: no timing hints


def _add_guards(app: FastAPI, server: Server) -> None:
    settings = server.settings

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1/") and not _authorised(request, settings.api_key):
            return _error(401, "missing or wrong API key; send the header Authorization: Bearer KEY")
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > settings.max_body_bytes:
            return _error(413, f"request body over {settings.max_body_bytes:,} bytes")
        try:
            return await asyncio.wait_for(call_next(request), settings.timeout_s)
        except asyncio.TimeoutError:
            return _error(504, f"the request took more than {settings.timeout_s:g} s; send less at once")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "body"
        return _error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(nlp_lstm.NlpLstmError)
    async def bad_value(request: Request, error: Exception) -> JSONResponse:
        return _error(400, str(error))


def _add_model_routes(app: FastAPI, server: Server) -> None:
    settings = server.settings

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "active": server.active, "generating": server.generating, "batches": server.batcher.batches}

    @app.get("/v1/models")
    async def models() -> list[dict[str, Any]]:
        shipped = {"classifier": settings.classifier is None, "lm": settings.generator is None}
        entries = [describe_model(path, path.name, shipped[kind]) for kind, path in server.paths.items()]
        listed = [{**entry.as_dict(), "labels": server.models[entry.kind].labels} for entry in entries if entry is not None]
        return listed

    @app.post("/v1/classify")
    async def classify(body: ClassifyRequest) -> dict[str, Any]:
        if len(body.texts) > settings.max_texts:
            raise ApiError(413, f"{len(body.texts)} texts; at most {settings.max_texts} per request")
        if longest := max((len(t) for t in body.texts if len(t) > settings.max_chars), default=0):
            raise ApiError(413, f"a text of {longest:,} characters; at most {settings.max_chars:,} each")
        with server.slot():
            predictions = await server.batcher.submit(body.texts)
        return {"predictions": [{"label": p.label, "probabilities": p.probabilities} for p in predictions]}

    @app.get("/v1/inspect", response_class=HTMLResponse)
    async def inspect(text: str = "") -> str:
        if len(text) > settings.max_chars:
            raise ApiError(413, f"a text of {len(text):,} characters; at most {settings.max_chars:,}")
        with server.slot():
            saved = server.models["lm"]
            inspection = await asyncio.to_thread(nlp_lstm.inspect_gates, saved, text or None)
            return nlp_lstm.render_gates_html(inspection, title=f"LSTM gates of {server.paths['lm'].name}")

    @app.get("/", response_class=HTMLResponse)
    async def playground() -> str:
        return (importlib.resources.files("nlp_lstm.serve") / "playground.html").read_text(encoding="utf-8")


def _sample_config(body: GenerateRequest, settings: ServeSettings) -> Any:
    if body.length > settings.max_length:
        raise ApiError(413, f"length {body.length:,}; at most {settings.max_length:,} characters per request")
    if len(body.prompt) > settings.max_chars:
        raise ApiError(413, f"a prompt of {len(body.prompt):,} characters; at most {settings.max_chars:,}")
    return nlp_lstm.SampleConfig(
        length=body.length, temperature=body.temperature, top_k=body.top_k, top_p=body.top_p, seed=body.seed
    )


def _add_generate_route(app: FastAPI, server: Server) -> None:
    @app.post("/v1/generate", response_model=None)
    async def generate(body: GenerateRequest, request: Request) -> Any:
        config = _sample_config(body, server.settings)
        if not body.stream:
            with server.slot():
                text = await asyncio.to_thread(nlp_lstm.generate, server.models["lm"], body.prompt, config)
            return {"prompt": body.prompt, "continuation": text}
        server.admit()  # before the stream starts, while a 503 can still be its status
        return StreamingResponse(_events(server, body.prompt, config, request), media_type="text/event-stream")


async def _events(server: Server, prompt: str, config: Any, request: Request) -> AsyncIterator[str]:
    """Server-sent events of one generation; it stops as soon as the client goes away."""
    pieces: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def produce() -> None:
        try:
            for _, piece in nlp_lstm.generate_stream(server.models["lm"], prompt, config):
                if stop.is_set():
                    break
                loop.call_soon_threadsafe(pieces.put_nowait, piece)
        finally:
            with server.lock:
                server.generating -= 1  # the generation itself has stopped, not only its stream
            loop.call_soon_threadsafe(pieces.put_nowait, None)

    server.active += 1
    with server.lock:
        server.generating += 1
    loop.run_in_executor(None, produce)
    try:
        while (piece := await pieces.get()) is not None:
            if await request.is_disconnected():
                break
            yield f"data: {json.dumps({'text': piece})}\n\n"
        else:
            yield "event: done\ndata: {}\n\n"
    finally:  # also when the client left and the stream was cancelled: nothing here may await
        stop.set()
        server.active -= 1
