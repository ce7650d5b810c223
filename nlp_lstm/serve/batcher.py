"""Micro-batching: classify requests that arrive together share one call of ``classify``.

Each request puts its texts in a queue and waits. A worker takes the first request, then every
request already waiting, and more that arrive within ``wait_ms``, up to ``max_batch`` texts; runs
one ``classify`` over them all in a thread (which sorts them into length buckets); and hands each
request its share. While a batch computes, the next one gathers, so under load batches grow by
themselves even with ``wait_ms`` 0 (measured: benchmarks/serve.py); ``max_batch`` 1 turns merging off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class MicroBatcher:
    def __init__(self, classify: Callable[[list[str]], list[Any]], wait_ms: float, max_batch: int):
        self.classify, self.wait_s, self.max_batch = classify, wait_ms / 1000, max_batch
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future[list[Any]]]] = asyncio.Queue()
        self.batches = 0  # merged calls of classify so far, for /health
        self.worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    async def submit(self, texts: list[str]) -> list[Any]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def _gather(self) -> list[tuple[list[str], asyncio.Future[list[Any]]]]:
        first = await self.queue.get()
        taken, size = [first], len(first[0])
        deadline = time.perf_counter() + self.wait_s
        while size < self.max_batch:
            left = deadline - time.perf_counter()
            if left <= 0 and self.queue.empty():
                break
            try:
                item = self.queue.get_nowait() if left <= 0 else await asyncio.wait_for(self.queue.get(), left)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            taken.append(item)
            size += len(item[0])
        return taken

    async def _run(self) -> None:
        while True:
            taken = await self._gather()
            live = [(texts, future) for texts, future in taken if not future.done()]  # timed-out requests are dropped
            texts = [text for request, _ in live for text in request]
            try:
                results = await asyncio.to_thread(self.classify, texts) if texts else []
            except Exception as error:  # the model failed: every request of the batch hears it
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            start = 0
            for request, future in live:
                if not future.done():
                    future.set_result(results[start : start + len(request)])
                start += len(request)
