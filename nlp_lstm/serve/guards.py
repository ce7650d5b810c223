"""What the server refuses before the application reads a request, as pure ASGI around it.

A Host the server was not told about (DNS rebinding: a page of a name the attacker controls, resolved to this
address, would otherwise drive a key-less server from the victim's browser), a missing API key, and a body over
``max_body_bytes``, counted as it arrives whatever its transfer encoding, so a chunked body is refused at the
limit instead of being read whole. It also bounds how long a body may take to arrive (408) and a response to
start (504). Every refusal is ``{"error": ...}``, as the application's own errors are.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from nlp_lstm.serve.settings import ServeSettings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _is_address(name: str) -> bool:
    with contextlib.suppress(ValueError):
        return bool(ipaddress.ip_address(name))
    return False


def host_name(value: str) -> str:
    """The name in a Host header or an option: ``[::1]:8000`` is ``::1``, ``Example.COM.:80`` is ``example.com``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") > 1:  # a bare IPv6 address, as --host and --allowed-host take it
        return value
    return value.split(":", 1)[0].rstrip(".")


class HostCheck:
    """The Host names a server answers: those of the address it listens on, and ``--allowed-host`` ones.

    Loopback addresses answer the loopback names. Every interface (0.0.0.0) answers this machine's names and
    any IP address: only a name can be rebound to another address, and a page served from an address is of
    that address's origin already.
    """

    def __init__(self, bound: str, allowed: tuple[str, ...]):
        bound = host_name(bound)
        self.anything = "*" in allowed
        self.any_address = bound in EVERY_INTERFACE
        names = {bound, *map(host_name, allowed)}
        if is_loopback(bound) or self.any_address:
            names |= LOOPBACK_NAMES
        if self.any_address:
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        self.names = frozenset(names - {""})

    def allows(self, header: bytes | None) -> bool:
        if self.anything or header is None:  # no Host at all: HTTP/1.0, never a browser, which rebinding needs
            return True
        name = host_name(header.decode("latin-1"))
        return name in self.names or (self.any_address and _is_address(name))


class BodyTooLarge(Exception):
    pass


class ClientLeft(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refused (:class:`BodyTooLarge`) as soon as more than ``limit`` bytes have come."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then what the connection says (a disconnect)."""
    given = False

    async def receive_again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


async def send_error(send: Send, status: int, message: str, close: bool = False) -> None:
    """``{"error": message}`` with ``status``; ``close`` ends the connection, whose request may not have been read."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(b"connection", b"close")] if close else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Guard:
    """The ASGI middleware: refuses what must not reach the application, and bounds the time a request takes."""

    def __init__(self, app: Callable[..., Awaitable[None]], settings: ServeSettings):
        self.app, self.settings = app, settings
        self.hosts = HostCheck(settings.host, settings.allowed_hosts)
        self.key = None if settings.api_key is None else f"Bearer {settings.api_key}".encode()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await send_error(send, *refusal, close=True)
            return
        limit, timeout = self.settings.max_body_bytes, self.settings.timeout_s
        try:
            body = await asyncio.wait_for(read_body(receive, limit), timeout)
        except BodyTooLarge:
            await send_error(send, 413, f"request body over {limit:,} bytes", close=True)
            return
        except asyncio.TimeoutError:
            await send_error(send, 408, f"the request body took more than {timeout:g} s to arrive", close=True)
            return
        except ClientLeft:
            return
        await self.respond_in_time(scope, replay(body, receive), send)

    def refusal(self, scope: Message) -> tuple[int, str] | None:
        """The status and message of a request refused on its head alone, or None."""
        headers = dict(scope["headers"])
        if not self.hosts.allows(headers.get(b"host")):
            name = host_name(headers[b"host"].decode("latin-1"))
            return 400, f"Host {name!r} is not a name this server answers to; start it with --allowed-host {name}"
        keyed = self.key is not None and scope["path"].startswith("/v1/")
        if keyed and not hmac.compare_digest(headers.get(b"authorization", b""), self.key):  # constant time: no hints
            return 401, "missing or wrong API key; send the header Authorization: Bearer KEY"
        size = headers.get(b"content-length", b"")
        if size.isdigit() and int(size) > self.settings.max_body_bytes:
            return 413, f"request body over {self.settings.max_body_bytes:,} bytes"
        return None

    async def respond_in_time(self, scope: Message, receive: Receive, send: Send) -> None:
        """The application's response, or 504 when it has not started within ``timeout_s`` (a started stream runs on)."""
        started = asyncio.Event()

        async def send_noting_start(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        answer = asyncio.ensure_future(self.app(scope, receive, send_noting_start))
        start = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({answer, start}, timeout=self.settings.timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if not started.is_set() and not answer.done():
                answer.cancel()  # the endpoint hears it as a cancellation, and stops its work (a generation, say)
                with contextlib.suppress(asyncio.CancelledError):
                    await answer
                timeout = self.settings.timeout_s
                await send_error(send, 504, f"the request took more than {timeout:g} s; send less at once")
                return
            await answer
        finally:
            start.cancel()
            answer.cancel()  # when this request itself is cancelled (shutdown), its endpoint is too
