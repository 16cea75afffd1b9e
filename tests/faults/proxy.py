"""A fault-injecting HTTP/1.1 proxy for the chaos tests: malformed HTTP the emulator never sends.

`FaultProxy` listens on loopback in front of the emulator (run it on its own thread, through a
blocking portal, so that a client which stalls its own event loop cannot stall the proxy). For
every request it forwards the bytes unchanged, reads the emulator's whole answer (keeping its
framing: Content-Length, chunked or close-delimited) and then delivers it as the next queued fault
`Plan` says. POSTs (the chat calls) take the faults, in queue order; everything else passes.

A fault is a plain function from the upstream `Message` to a `Plan`; the builders below (`head`,
`chunked`, `events`, …) are what the fault functions in `chaos.py` are made of.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["TERMINATOR", "FaultProxy", "Message", "Plan", "chunk", "events", "has_text", "head"]

_MAX_HEAD = 65536
_SSE_EVENT = re.compile(rb".*?(?:\r\n\r\n|\n\n|\r\r)", re.DOTALL)
_TEXT = re.compile(rb'"(?:content|text)": ?"[^"]')
TERMINATOR = b"0\r\n\r\n"


@dataclass
class Message:
    """One HTTP message as it crossed the proxy.

    Attributes:
        start: The request or status line, without its CRLF.
        headers: The header lines, raw, without CRLF.
        body: The body with any chunked framing removed.
        raw: The message exactly as received.
    """

    start: bytes
    headers: list[bytes]
    body: bytes
    raw: bytes

    def header(self, name: bytes) -> bytes | None:
        """One header's value (the first, stripped), or ``None``."""
        for line in self.headers:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None

    @property
    def streamed(self) -> bool:
        """Whether the body is a stream of events (SSE or AWS event-stream)."""
        kind = self.header(b"content-type") or b""
        return b"event-stream" in kind or b"eventstream" in kind


@dataclass
class Plan:
    """How to deliver one response.

    Attributes:
        parts: Written in order; a float is a pause of that many seconds between writes.
        drip: Bytes sent one at a time after ``parts``, ``interval`` seconds apart.
        interval: The drip's pause per byte.
        end: ``keep`` the connection, close it with a ``fin``, or reset it (``rst``).
    """

    parts: list[bytes | float]
    drip: bytes = b""
    interval: float = 0.05
    end: str = "keep"


Fault = Callable[[Message], Plan]


def chunk(data: bytes, size: bytes | None = None) -> bytes:
    """One chunk of a chunked body, with its true size line unless ``size`` overrides it."""
    return (size if size is not None else b"%x" % len(data)) + b"\r\n" + data + b"\r\n"


def head(message: Message, *, framing: str = "chunked", start: bytes | None = None) -> bytes:
    """The status line and headers of ``message``, re-framed.

    Args:
        message: The upstream response.
        framing: ``chunked``, ``close`` (no length, no chunking, ``connection: close``) or
            ``length:N`` (a ``content-length: N`` header).
        start: A replacement status line.

    Returns:
        The head, ending with the blank line.
    """
    dropped = (b"content-length", b"transfer-encoding", b"connection")
    lines = [ln for ln in message.headers if ln.partition(b":")[0].strip().lower() not in dropped]
    if framing == "chunked":
        lines.append(b"transfer-encoding: chunked")
    elif framing == "close":
        lines.append(b"connection: close")
    else:
        lines.append(b"content-length: " + framing.removeprefix("length:").encode())
    return b"\r\n".join([start if start is not None else message.start, *lines]) + b"\r\n\r\n"


def events(message: Message) -> list[bytes]:
    """The body split into whole events (SSE blocks or AWS event-stream frames), losslessly."""
    body = message.body
    if b"eventstream" in (message.header(b"content-type") or b""):
        frames, offset = [], 0
        while offset < len(body):
            (length,) = struct.unpack_from(">I", body, offset)
            frames.append(body[offset : offset + length])
            offset += length
        return frames
    blocks = _SSE_EVENT.findall(body)
    tail = body[sum(map(len, blocks)) :]
    return blocks + ([tail] if tail else [])


def has_text(event: bytes) -> bool:
    """Whether an event carries output text (any dialect's text delta, non-empty)."""
    return _TEXT.search(event) is not None


async def _read_message(reader: BufferedByteReceiveStream, *, response: bool) -> Message:
    head_bytes = await reader.receive_until(b"\r\n\r\n", _MAX_HEAD)
    start, *headers = head_bytes.split(b"\r\n")
    message = Message(start, headers, b"", b"")
    raw = bytearray(head_bytes + b"\r\n\r\n")
    length = message.header(b"content-length")
    if (message.header(b"transfer-encoding") or b"").lower() == b"chunked":
        body = bytearray()
        while True:
            size_line = await reader.receive_until(b"\r\n", _MAX_HEAD)
            size = int(size_line.split(b";")[0], 16)
            raw += size_line + b"\r\n"
            if size == 0:
                while trailer := await reader.receive_until(b"\r\n", _MAX_HEAD):
                    raw += trailer + b"\r\n"
                raw += b"\r\n"
                break
            data = await reader.receive_exactly(size + 2)
            body += data[:-2]
            raw += data
        message.body = bytes(body)
    elif length is not None:
        message.body = await reader.receive_exactly(int(length)) if int(length) else b""
        raw += message.body
    elif response:
        body = bytearray()
        try:
            while True:
                body += await reader.receive()
        except anyio.EndOfStream:
            pass
        message.body = bytes(body)
        raw += body
    message.raw = bytes(raw)
    return message


class FaultProxy:
    """A loopback HTTP/1.1 proxy that delivers each chat answer with one queued fault.

    Args:
        upstream: ``(host, port)`` of the emulator.

    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self.port = 0
        self._task_group: anyio.abc.TaskGroup | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *faults: Fault) -> None:
        """Apply these faults to the next chat requests, one each, in order."""
        with self._lock:
            self._queue.extend(faults)

    def reset(self) -> None:
        """Forget the queued faults."""
        with self._lock:
            self._queue.clear()

    def _take(self, request: Message) -> Fault | None:
        with self._lock:
            chat = request.start.startswith(b"POST ")
            return self._queue.popleft() if chat and self._queue else None

    async def _deliver(self, client: anyio.abc.SocketStream, plan: Plan) -> bool:
        for part in plan.parts:
            if isinstance(part, float):
                await anyio.sleep(part)
            elif part:
                await client.send(part)
        for i in range(len(plan.drip)):
            await client.send(plan.drip[i : i + 1])
            await anyio.sleep(plan.interval)
        if plan.end == "rst":
            raw = client.extra(SocketAttribute.raw_socket)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return plan.end == "keep"

    async def _serve(self, client: anyio.abc.SocketStream) -> None:
        upstream: anyio.abc.SocketStream | None = None
        try:
            async with client:
                reader = BufferedByteReceiveStream(client)
                up_reader: BufferedByteReceiveStream | None = None
                while True:
                    try:
                        request = await _read_message(reader, response=False)
                    except (anyio.EndOfStream, anyio.IncompleteRead):
                        return
                    if upstream is None or up_reader is None:
                        upstream = await anyio.connect_tcp(*self._upstream)
                        up_reader = BufferedByteReceiveStream(upstream)
                    await upstream.send(request.raw)
                    response = await _read_message(up_reader, response=True)
                    fault = self._take(request)
                    plan = fault(response) if fault else Plan([response.raw])
                    if not await self._deliver(client, plan):
                        return
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return
        finally:
            if upstream is not None:
                await upstream.aclose()

    async def __aenter__(self) -> FaultProxy:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(SocketAttribute.local_port)
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()

        async def serve() -> None:
            async with listener:
                await listener.serve(self._serve)

        self._task_group.start_soon(serve)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task_group, self._task_group = self._task_group, None
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
