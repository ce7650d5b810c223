"""The connection-level limits of the server: uvicorn's h11 protocol with a deadline for a request's head.

uvicorn closes a connection that idles between two requests (``timeout_keep_alive``), but not one that opened
and sent nothing, nor one that sends its head a byte at a time, so such connections held the server's sockets
for ever. Here a request's head must arrive whole within the same time, counted from the connection or from its
first byte. A request h11 cannot parse is answered ``{"error": ...}`` like every other error.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class BoundedH11Protocol(H11Protocol):
    head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # cancels uvicorn's keep-alive timer: a request has begun
        self.await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.drop_deadline()
        super().connection_lost(exc)

    def await_head(self) -> None:
        """Arm the deadline while a request's head is incomplete; drop it once the head is in."""
        incomplete = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not incomplete:
            self.drop_deadline()
        elif self.head_deadline is None and self.timeout_keep_alive_task is None:  # between requests uvicorn's timer runs
            self.head_deadline = self.loop.call_later(self.timeout_keep_alive, self.head_late)

    def drop_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def head_late(self) -> None:
        self.head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": "not a valid HTTP/1.1 request"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body)):
            self.transport.write(self.conn.send(event))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
