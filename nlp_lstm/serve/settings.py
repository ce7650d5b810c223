"""What the server serves and the limits it keeps, as one frozen dataclass that survives JSON (for worker processes)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

from nlp_lstm.errors import UsageError

SETTINGS_ENV = "NLP_LSTM_SERVE_SETTINGS"  # how `--workers N` hands the settings to each worker process


@dataclass(frozen=True)
class ServeSettings:
    classifier: str | None = None  # model directories (export directories with runtime "onnx"); None: the shipped one
    generator: str | None = None
    runtime: str = "torch"  # or "onnx": exports run by ONNX Runtime, without torch (serve.backends)
    device: str = "auto"
    threads: int = 1
    api_key: str | None = None  # when set, /v1/* needs "Authorization: Bearer KEY"
    host: str = "127.0.0.1"  # the address it listens on, which says the Host names it answers (serve.guards)
    allowed_hosts: tuple[str, ...] = ()  # more Host names it answers; "*": any
    max_texts: int = 256  # texts per classify request
    max_chars: int = 20_000  # characters per text, and per prompt
    max_length: int = 2_000  # characters generated per request
    max_adapt_chars: int = 10_000  # characters of "adapt" text per generate request (about 15 s of adapting on one core)
    max_body_bytes: int = 1 << 20
    timeout_s: float = 60.0  # a request that takes longer is answered 504 (408 when its body is what is slow)
    idle_timeout_s: float = 10.0  # a connection that sends no request, or only part of its head, for this long is closed
    queue_limit: int = 64  # requests waiting or running at once; more are answered 503
    batch_wait_ms: float = 0.0  # how long a batch's first request waits for more; 0: only those already waiting join
    max_batch: int = 256  # texts per merged batch; 1: every request alone

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_length", "max_adapt_chars", "max_body_bytes", "queue_limit", "max_batch"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        if self.timeout_s <= 0 or self.idle_timeout_s <= 0 or self.batch_wait_ms < 0:
            raise UsageError("--timeout-s and --idle-timeout-s must be > 0, and --batch-wait-ms >= 0")
        if self.runtime not in ("torch", "onnx"):
            raise UsageError(f"--runtime must be torch or onnx, got {self.runtime!r}")
        if not all(name.strip() for name in self.allowed_hosts):
            raise UsageError("--allowed-host must name a host (or be '*' for any)")

    def to_environment(self) -> None:
        os.environ[SETTINGS_ENV] = json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_environment(cls) -> ServeSettings:
        settings = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
        return cls(**{**settings, "allowed_hosts": tuple(settings.get("allowed_hosts", ()))})  # JSON has lists only
