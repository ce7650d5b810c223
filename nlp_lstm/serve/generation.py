"""One generation of the server on a worker thread, which stops at the next character once it is told to.

Its characters arrive on an asyncio queue, for a stream to send or a JSON answer to gather. The endpoint tells
it to stop when its client leaves or its time is up, so no thread computes for a request that is gone; and it
reports its start and its end, so the server's count of requests in progress (its queue) holds a generation
from its admission until its thread has really ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import nlp_lstm


class Stopped(Exception):
    """The request that asked for this work is gone: its adapting ends at the next segment."""


class AdaptationStatistics:
    """The gradient statistics that adapting needs (``nlp_lstm.adapt``), gathered once, on a thread of their own.

    Gathering takes minutes on a CPU the first time for a model (then they are cached on disk), longer than a
    request may wait: the first request that adapts starts it and is answered 503, as are those that come
    before it is done. A server that nobody asks to adapt never spends the time.
    """

    def __init__(self, saved: Any):
        self.saved, self.lock, self.ready = saved, threading.Lock(), threading.Event()
        self.started, self.error = False, None

    def problem(self) -> tuple[int, str] | None:
        """None when a request may adapt; else the status and message to answer it with."""
        if self.ready.is_set():
            return None if self.error is None else (400, f"adapt: {self.error}")
        with self.lock:
            if not self.started:
                self.started = True
                threading.Thread(target=self.gather, daemon=True).start()
        return 503, "adapt: the server is gathering the statistics adapting needs (once per model, minutes); retry soon"

    def gather(self) -> None:
        from nlp_lstm.adaptation import dynamic_statistics, statistics_source
        from nlp_lstm.config import DynamicConfig

        try:
            dynamic_statistics(self.saved, DynamicConfig(), statistics_source(self.saved, None, "text"))
        except nlp_lstm.NlpLstmError as error:  # a model that records no training data, say: every request is told
            self.error = error
        finally:
            self.ready.set()


class Generation:
    def __init__(
        self,
        backend: Any,
        prompt: str,
        config: Any,
        started: Callable[[], None],
        ended: Callable[[bool], None],
        adapt: str = "",
    ):
        """Start generating on a thread; ``started()`` when it begins computing, ``ended(began)`` when it is over.

        ``backend.pieces`` yields the text (``serve.backends``); with ``adapt`` text the torch backend first
        adapts a copy of the model to it, which only this generation uses.
        """
        self.loop = asyncio.get_running_loop()
        self.pieces: asyncio.Queue[str | Exception | None] = asyncio.Queue()
        self.stopping = threading.Event()
        self.adapt = adapt
        self.loop.run_in_executor(None, self.run, backend, prompt, config, started, ended)

    def stop(self) -> None:
        self.stopping.set()

    def run(self, backend: Any, prompt: str, config: Any, started: Callable[[], None], ended: Callable[[bool], None]) -> None:
        began = not self.stopping.is_set()  # one stopped while it waited for a thread never starts
        try:
            if began:
                self.on_loop(started)
                for piece in backend.pieces(prompt, config, self.adapt, self.unless_stopped):
                    if self.stopping.is_set():
                        break
                    self.on_loop(self.pieces.put_nowait, piece)
        except Stopped:
            pass  # nobody is waiting for the answer
        except Exception as error:  # the endpoint reports it: in the stream's error event, or as the answer's 500
            self.on_loop(self.pieces.put_nowait, error)
        finally:
            self.on_loop(self.pieces.put_nowait, None)
            self.on_loop(ended, began)

    def unless_stopped(self, done: int, total: int) -> None:
        """Adapting's progress: the point where a generation whose request is gone stops."""
        if self.stopping.is_set():
            raise Stopped

    def on_loop(self, function: Callable[..., None], *args: Any) -> None:
        """Run ``function`` on the event loop, which owns the queue and the counters."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is gone, and nobody is waiting
            self.loop.call_soon_threadsafe(function, *args)

    async def stream(self) -> AsyncIterator[str]:
        """The pieces as they come; the generation's own error, if it fails."""
        while (piece := await self.pieces.get()) is not None:
            if isinstance(piece, Exception):
                raise piece
            yield piece

    async def text(self) -> str:
        return "".join([piece async for piece in self.stream()])
