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


class Generation:
    def __init__(self, saved: Any, prompt: str, config: Any, started: Callable[[], None], ended: Callable[[bool], None]):
        """Start generating on a thread; ``started()`` when it begins computing, ``ended(began)`` when it is over."""
        self.loop = asyncio.get_running_loop()
        self.pieces: asyncio.Queue[str | Exception | None] = asyncio.Queue()
        self.stopping = threading.Event()
        self.loop.run_in_executor(None, self.run, saved, prompt, config, started, ended)

    def stop(self) -> None:
        self.stopping.set()

    def run(self, saved: Any, prompt: str, config: Any, started: Callable[[], None], ended: Callable[[bool], None]) -> None:
        began = not self.stopping.is_set()  # one stopped while it waited for a thread never starts
        try:
            if began:
                self.on_loop(started)
                for _, piece in nlp_lstm.generate_stream(saved, prompt, config):
                    if self.stopping.is_set():
                        break
                    self.on_loop(self.pieces.put_nowait, piece)
        except Exception as error:  # the endpoint reports it: in the stream's error event, or as the answer's 500
            self.on_loop(self.pieces.put_nowait, error)
        finally:
            self.on_loop(self.pieces.put_nowait, None)
            self.on_loop(ended, began)

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
