"""A small HTTP/1.1 server on anyio sockets and h11, with the faults the emulator needs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import h11

__all__ = [
    "Drop",
    "Hang",
    "JSONResponse",
    "RawResponse",
    "Request",
    "StreamResponse",
    "serve_connection",
]

logger = logging.getLogger("llmorch.testing")

_MAX_BODY = 32 * 1024 * 1024


@dataclass
class Request:
    """One parsed request.

    Attributes:
        method: ``GET``, ``POST``, …
        path: The path without the query string.
        query: Query parameters (last value wins).
        headers: Lower-cased header names to values.
        body: The raw body.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON, or ``None`` when empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class JSONResponse:
    """A complete response with a JSON body."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False
    delay: float = 0.0


@dataclass
class RawResponse:
    """A complete response with a body sent as is."""

    status: int
    content_type: str
    body: bytes


@dataclass
class StreamResponse:
    """A chunked response whose body comes from an async iterator of bytes.

    Attributes:
        chunks: The body parts, sent as they come.
        content_type: The media type.
        headers: Extra headers.
        cut: Close the connection after the last chunk instead of ending the body.
    """

    chunks: AsyncIterator[bytes]
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False


@dataclass
class Drop:
    """Close the connection without answering."""


@dataclass
class Hang:
    """Never answer; the connection stays open until the client gives up."""


Response = JSONResponse | RawResponse | StreamResponse | Drop | Hang
Handler = Callable[[Request], Awaitable[Response]]


async def _read_request(conn: h11.Connection, stream: anyio.abc.ByteStream) -> Request | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return None
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage) and head is not None:
            target = urlsplit(head.target.decode("latin-1"))
            query = {k: v[-1] for k, v in parse_qs(target.query).items()}
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
            return Request(head.method.decode(), target.path, query, headers, bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


async def _send(conn: h11.Connection, stream: anyio.abc.ByteStream, event: Any) -> None:
    data = conn.send(event)
    if data:
        await stream.send(data)


async def _respond(conn: h11.Connection, stream: anyio.abc.ByteStream, response: Response) -> bool:
    """Send a response; return False when the connection must close."""
    if isinstance(response, Drop):
        return False
    if isinstance(response, Hang):
        await anyio.sleep_forever()
    if isinstance(response, RawResponse):
        headers = {"content-type": response.content_type, "content-length": str(len(response.body))}
        await _send(
            conn, stream, h11.Response(status_code=response.status, headers=list(headers.items()))
        )
        await _send(conn, stream, h11.Data(data=response.body))
        await _send(conn, stream, h11.EndOfMessage())
        return True
    if isinstance(response, JSONResponse):
        if response.delay:
            await anyio.sleep(response.delay)
        body = json.dumps(response.payload).encode()
        headers = {"content-type": "application/json", **response.headers}
        headers["content-length"] = str(len(body))
        await _send(
            conn, stream, h11.Response(status_code=response.status, headers=list(headers.items()))
        )
        if response.cut:
            await _send(conn, stream, h11.Data(data=body[: len(body) // 2]))
            return False
        await _send(conn, stream, h11.Data(data=body))
        await _send(conn, stream, h11.EndOfMessage())
        return True
    assert isinstance(response, StreamResponse)
    headers = {"content-type": response.content_type, **response.headers}
    await _send(conn, stream, h11.Response(status_code=200, headers=list(headers.items())))
    async for chunk in response.chunks:
        await _send(conn, stream, h11.Data(data=chunk))
    if response.cut:
        return False
    await _send(conn, stream, h11.EndOfMessage())
    return True


async def serve_connection(stream: anyio.abc.ByteStream, handler: Handler) -> None:
    """Serve requests on one connection (keep-alive) until it closes.

    Args:
        stream: The accepted connection.
        handler: Turns a request into a response.
    """
    conn = h11.Connection(h11.SERVER)
    async with stream:
        try:
            while True:
                request = await _read_request(conn, stream)
                if request is None:
                    return
                response = await handler(request)
                if not await _respond(conn, stream, response):
                    return
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, h11.ProtocolError) as exc:
            logger.debug("emulator connection ended: %s", exc)
