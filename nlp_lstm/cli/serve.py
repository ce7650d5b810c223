"""``nlp-lstm serve``: the HTTP API and the web playground, on uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nlp_lstm.cli.app import app, user_errors
from nlp_lstm.cli.onnx_runtime import Runtime
from nlp_lstm.cli.options import DeviceOption, ThreadsOption, default
from nlp_lstm.errors import NlpLstmError, UsageError
from nlp_lstm.serve.settings import ServeSettings

LIMITS = "Limits"


ALLOWED_HOST_HELP = (
    "A Host name to answer besides those of --host (loopback names for 127.0.0.1; for 0.0.0.0 also this machine's "
    "names and any IP address); repeat it for more, '*' for any. Others get 400, which stops DNS rebinding."
)
IDLE_TIMEOUT_HELP = "Seconds a connection may stay idle, or take to send a request's headers, before it is closed."
RUNTIME_HELP = "torch, or onnx to serve exports (--classifier DIR --generator DIR, written by nlp-lstm export) without torch."
BATCH_WAIT_HELP = "How long the first classify request of a batch waits for others (0: only those already waiting join)."


def LimitOption(kind: type, help: str) -> Any:  # noqa: N802 - used where a type goes, as Annotated is
    """An option of the Limits group."""
    return Annotated[kind, typer.Option(help=help, rich_help_panel=LIMITS)]


def limit(name: str) -> Any:
    """A limit's default, read from the settings class where it lives."""
    return default(ServeSettings, name)


@app.command()
@user_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface (then set --api-key).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    classifier: Annotated[Optional[Path], typer.Option(help="Classifier directory; default: the shipped one.")] = None,
    generator: Annotated[Optional[Path], typer.Option(help="Language model directory; default: the shipped one.")] = None,
    runtime: Annotated[Runtime, typer.Option(help=RUNTIME_HELP)] = Runtime.torch,
    api_key: Annotated[
        Optional[str], typer.Option(envvar="NLP_LSTM_API_KEY", help="Require 'Authorization: Bearer KEY' on /v1/*.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes behind the one port (each loads the models).", min=1)] = 1,
    allowed_host: Annotated[Optional[list[str]], typer.Option(help=ALLOWED_HOST_HELP, metavar="NAME")] = None,
    device: DeviceOption = limit("device"),
    threads: ThreadsOption = limit("threads"),
    max_texts: LimitOption(int, "Texts per classify request.") = limit("max_texts"),
    max_chars: LimitOption(int, "Characters per text or prompt.") = limit("max_chars"),
    max_length: LimitOption(int, "Characters generated per request.") = limit("max_length"),
    max_adapt_chars: LimitOption(int, "Characters of a generate request's adapt text.") = limit("max_adapt_chars"),
    max_body_bytes: LimitOption(int, "Bytes per request body.") = limit("max_body_bytes"),
    timeout_s: LimitOption(float, "Seconds a request may take (then 504).") = limit("timeout_s"),
    idle_timeout_s: LimitOption(float, IDLE_TIMEOUT_HELP) = limit("idle_timeout_s"),
    queue_limit: LimitOption(int, "Requests in progress at once; more are answered 503.") = limit("queue_limit"),
    batch_wait_ms: LimitOption(float, BATCH_WAIT_HELP) = limit("batch_wait_ms"),
    max_batch: LimitOption(int, "Texts per merged batch (1: every request alone, no micro-batching).") = limit("max_batch"),
) -> None:
    """Serve the models over HTTP with a web playground at /; the API is described at /openapi.json.

    Routes: GET / (the playground), GET /health, GET /v1/models, POST /v1/classify, POST /v1/generate,
    GET /v1/inspect?text=..., GET /openapi.json.

    Example: nlp-lstm serve --port 8000, then open http://127.0.0.1:8000/

    Without torch, from exports of nlp-lstm export: nlp-lstm serve --runtime onnx --classifier DIR --generator DIR
    """
    options = {k: v for k, v in locals().items() if k not in ("port", "workers", "allowed_host")}  # the settings' fields
    options["allowed_hosts"] = tuple(allowed_host or ())
    options["runtime"] = runtime.value
    settings = ServeSettings(**{k: str(v) if isinstance(v, Path) else v for k, v in options.items()})
    run_server(settings, port, workers)


def run_server(settings: ServeSettings, port: int, workers: int) -> None:
    """uvicorn with the app of ``settings``, in one process or ``workers`` processes behind ``port``."""
    host, api_key, idle_timeout_s, timeout_s = settings.host, settings.api_key, settings.idle_timeout_s, settings.timeout_s
    from nlp_lstm.cli.inference import bound_kernel_cache

    bound_kernel_cache()  # a server classifies texts of every length for days
    try:
        import uvicorn

        from nlp_lstm.serve.app import create_app
        from nlp_lstm.serve.connections import BoundedH11Protocol
    except ImportError as error:
        raise NlpLstmError(
            f"nlp-lstm serve needs the serve extra ({error.name} is missing): pip install 'nlp-lstm[serve]'"
        ) from None
    from nlp_lstm.serve.guards import is_loopback  # lazy: asyncio and ssl stay out of every other command

    if not is_loopback(host) and api_key is None:
        typer.echo(f"warning: serving on {host} without --api-key: anyone who can reach this port can use it", err=True)
    typer.echo(
        f"serving on http://{host}:{port}/ (the playground; the API under /v1/, its schema at /openapi.json). Ctrl-C stops.",
        err=True,
    )
    # The one protocol with a deadline for a request's head, and idle connections closed after the same time.
    connections = {"http": BoundedH11Protocol, "timeout_keep_alive": idle_timeout_s}
    running = {"timeout_graceful_shutdown": int(timeout_s) + 1, **connections}
    if workers == 1:
        application = create_app(settings)  # the models load here: a bad directory fails before the port opens
        uvicorn.run(application, host=host, port=port, log_level="warning", **running)
        return
    if os.name == "nt":
        raise UsageError("--workers needs a POSIX system; run one process per port instead")
    settings.to_environment()  # each worker process reads the settings from there
    uvicorn.run(
        "nlp_lstm.serve.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning", **running
    )
