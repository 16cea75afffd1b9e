"""A raw-socket HTTP/1.1 upstream for tests: each request gets scripted bytes, not a framework.

The answers may be anything at all: garbage before the status line, broken chunked framing, a
close-delimited body cut short, bytes dripped one at a time. That is what the emulator (an h11
server, always well-formed) cannot send, and what the chaos findings were made of.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

MODEL = "gpt-4o-mini"

Writer = asyncio.StreamWriter
Scene = Callable[[Writer, bool], Awaitable[bool]]
"""Serve one answer on ``writer`` (``stream`` tells which kind was asked); True keeps the
connection open for the next request."""


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def delta(text: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


TEXT = ("Hello", " there", " friend")
EVENTS = [sse(delta(t)) for t in TEXT] + [
    sse(
        {
            "id": "c1",
            "model": MODEL,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    ),
    sse(
        {
            "id": "c1",
            "model": MODEL,
            "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
        }
    ),
    b"data: [DONE]\n\n",
]
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
ANSWER = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(TEXT)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
    }
).encode()


def json_response(body: bytes = ANSWER, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


async def good(writer: Writer, stream: bool) -> bool:
    """A correct answer of the kind asked for."""
    if stream:
        writer.write(SSE_HEAD + b"".join(chunk(e) for e in EVENTS) + b"0\r\n\r\n")
    else:
        writer.write(json_response())
    await writer.drain()
    return True


@dataclass
class RawUpstream:
    """The server: the first ``len(scenes)`` requests get the scenes, later ones a good answer.

    Attributes:
        port: The loopback port.
        served: How many requests were read.
        paths: The request line path of each request.
        heads: The request line and headers of each request, as sent.
    """

    scenes: list[Scene]
    port: int = 0
    served: int = 0
    paths: list[str] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)
    _writers: list[Writer] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.paths.append(head.split(b" ", 2)[1].decode())
                self.heads.append(head)
                stream = b'"stream":true' in body
                index = self.served
                self.served += 1
                scene = self.scenes[index] if index < len(self.scenes) else good
                if not await scene(writer, stream):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()


@asynccontextmanager
async def raw_upstream(*scenes: Scene) -> AsyncIterator[RawUpstream]:
    """Run a :class:`RawUpstream` on a free loopback port."""
    upstream = RawUpstream(list(scenes))
    server = await asyncio.start_server(upstream._handle, "127.0.0.1", 0)
    upstream.port = server.sockets[0].getsockname()[1]
    async with server:
        try:
            yield upstream
        finally:  # before the server waits for its connections: end the ones still held
            for writer in upstream._writers:
                writer.transport.abort()


def openai_config(base_url: str, transport: str, ledger: str, **provider: Any) -> dict[str, Any]:
    """An OpenAI provider on ``base_url`` with sub-second timeouts and no fallback models."""
    return {
        "active_provider": "openai",
        "active_model": MODEL,
        "providers": {
            "openai": {
                "base_url": base_url,
                "api_key": "k",
                "timeout": 0.5,
                "max_retries": 1,
                "max_backoff_s": 0.01,
                **provider,
            }
        },
        "cost_tracking": {"log_path": ledger},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "http_transport": transport,
    }
