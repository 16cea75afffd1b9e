"""A minimal, fast loopback HTTP/1.1 server with canned OpenAI and Anthropic answers.

It is deliberately not the emulator: its per-request cost is a few microseconds, so what the
benchmarks measure is the clients. Run it as ``python -m benchmarks.server PORT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

CHUNKS = 50


def _http(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nx-request-id: req_bench\r\nrequest-id: req_bench\r\n\r\n"
        + body
    )


def _openai_json() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the bench server."},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
        }
    ).encode()


def _openai_sse() -> bytes:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
        for i in range(CHUNKS)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 50, "total_tokens": 59},
        }
    )
    return (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )


def _openai_tool_sse() -> bytes:
    """One tool call whose arguments arrive in ``CHUNKS`` deltas, then the finish and usage."""
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}

    def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    start = {"index": 0, "id": "call_bench", "type": "function"}
    events = [
        chunk(
            {
                "role": "assistant",
                "tool_calls": [{**start, "function": {"name": "f", "arguments": ""}}],
            }
        )
    ]
    pieces = ['{"items": ['] + [f'"w{i}",' for i in range(CHUNKS - 2)] + ['"end"]}']
    events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces]
    events.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 9, "completion_tokens": 50, "total_tokens": 59}
    events.append({**base, "choices": [], "usage": usage})
    return (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )


def _anthropic_json() -> bytes:
    return json.dumps(
        {
            "id": "msg_bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "Hello from the bench server."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 9, "output_tokens": 6},
        }
    ).encode()


def _anthropic_sse() -> bytes:
    def event(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    message: dict[str, object] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-haiku-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }
    parts = [
        event("message_start", {"type": "message_start", "message": message}),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    parts += [
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": f"w{i} "},
            },
        )
        for i in range(CHUNKS)
    ]
    parts += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 50},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(parts)


RESPONSES: dict[tuple[bytes, object], bytes] = {
    (b"/openai/v1/chat/completions", False): _http(_openai_json(), b"application/json"),
    (b"/openai/v1/chat/completions", True): _http(_openai_sse(), b"text/event-stream"),
    (b"/openai/v1/chat/completions", "tools"): _http(_openai_tool_sse(), b"text/event-stream"),
    (b"/anthropic/v1/messages", False): _http(_anthropic_json(), b"application/json"),
    (b"/anthropic/v1/messages", True): _http(_anthropic_sse(), b"text/event-stream"),
}
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, rest = head.partition(b"\r\n")
            length = 0
            for line in rest.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            path = request_line.split(b" ")[1]
            stream: object = b'"stream":true' in body or b'"stream": true' in body
            if stream and b'"tools"' in body:
                stream = "tools"
            writer.write(RESPONSES.get((path, stream), NOT_FOUND))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=1024)
    sys.stdout.write(f"{server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the server on core 0, clients on the others
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
