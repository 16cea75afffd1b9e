"""Answers that are not well-formed HTTP, over real sockets, on both transports (chaos.md).

Each test is one scenario of the outside chaos test's ``minrepro.py``: the upstream misbehaves on
the first request only, so a retry answers. Every call ends within a hard deadline with an
llmorch error, a retry or a fallback — never a raw exception, never a hang — and the ledger is
exact.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    LLMResponse,
    OrchestratorConfig,
    ProviderConnectionError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from tests.rawhttp import (
    ANSWER,
    EVENTS,
    SSE_HEAD,
    TEXT,
    Writer,
    chunk,
    good,
    json_response,
    openai_config,
    raw_upstream,
)

TRANSPORTS = pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
HARD_DEADLINE = 5.0
MESSAGES = [{"role": "user", "content": "hi"}]


def ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def call(config: dict[str, Any], *, stream: bool) -> tuple[Any, list[str], float]:
    """One call under a hard deadline: returns (response or exception, chunks, seconds)."""
    chunks: list[str] = []
    started = time.monotonic()
    result: Any = "HUNG: no result within the hard deadline"
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        with anyio.move_on_after(HARD_DEADLINE):
            try:
                if stream:
                    async with orch.send_streaming_request(MESSAGES) as s:
                        async for piece in s:
                            chunks.append(piece)  # noqa: PERF401 - kept as they arrive
                    result = s.response
                else:
                    result = await orch.send_request(MESSAGES)
            except Exception as exc:
                result = exc
    return result, chunks, time.monotonic() - started


async def garbage(w: Writer, stream: bool) -> bool:
    w.write(b"GARBAGE 1234\r\n")
    return await good(w, stream)


async def latin1_503(w: Writer, stream: bool) -> bool:
    body = b'{"error": {"message": "busy", "type": "server_error"}}'
    w.write(json_response(body, b"503 Dienst nicht verf\xfcgbar"))
    await w.drain()
    return True


async def latin1_200(w: Writer, stream: bool) -> bool:
    w.write(json_response(ANSWER, b"200 \xc4rger"))
    await w.drain()
    return True


async def bad_chunk_size(w: Writer, stream: bool) -> bool:
    w.write(SSE_HEAD + b"zz\r\n" + EVENTS[0] + b"\r\n")
    await w.drain()
    return True


async def midchunk(w: Writer, stream: bool) -> bool:
    """Two events, then (later, in another write) a chunk-size line that is not hex."""
    w.write(SSE_HEAD + chunk(EVENTS[0]) + chunk(EVENTS[1]))
    await w.drain()
    await asyncio.sleep(0.2)
    w.write(b"zz\r\n" + EVENTS[2] + b"\r\n")
    await w.drain()
    await asyncio.sleep(10)  # keep the connection open: only a deadline ends the call
    return False


async def midchunk_json(w: Writer, stream: bool) -> bool:
    w.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + chunk(ANSWER[:40])
    )
    await w.drain()
    await asyncio.sleep(0.2)
    w.write(b"zz\r\n" + ANSWER[40:] + b"\r\n0\r\n\r\n")
    await w.drain()
    await asyncio.sleep(10)
    return False


async def close_cut_after_text(w: Writer, stream: bool) -> bool:
    w.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        + EVENTS[0]
        + EVENTS[1]
    )
    await w.drain()
    return False


async def close_cut_before_text(w: Writer, stream: bool) -> bool:
    w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
    await w.drain()
    return False


async def html_as_event_stream(w: Writer, stream: bool) -> bool:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
    w.write(SSE_HEAD + chunk(page) + b"0\r\n\r\n")
    await w.drain()
    return True


async def drip_stream(w: Writer, stream: bool) -> bool:
    """The first event at once, then the rest one byte every 50 ms (events ~15 s apart)."""
    w.write(SSE_HEAD + chunk(EVENTS[0]))
    await w.drain()
    rest = b"".join(chunk(e) for e in EVENTS[1:]) + b"0\r\n\r\n"
    for i in range(len(rest)):
        w.write(rest[i : i + 1])
        await w.drain()
        await asyncio.sleep(0.05)
    return True


async def drip_json(w: Writer, stream: bool) -> bool:
    data = json_response()
    for i in range(len(data)):
        w.write(data[i : i + 1])
        await w.drain()
        await asyncio.sleep(0.05)
    return True


async def long_line(w: Writer, stream: bool) -> bool:
    """One SSE line longer than the decoder holds, then a clean end."""
    w.write(SSE_HEAD + chunk(b"data: "))
    piece = chunk(b"A" * (1 << 20))
    for _ in range(17):  # 17 MiB: past the decoder's 16 MiB bound
        w.write(piece)
        await w.drain()
    w.write(b"0\r\n\r\n")
    await w.drain()
    return True


@TRANSPORTS
@pytest.mark.parametrize(("scene", "requests"), [(garbage, 2), (latin1_503, 2), (latin1_200, 1)])
async def test_chaos_bug2_broken_status_line_is_retried_not_raised(
    transport: str, scene: Any, requests: int, tmp_path: Path
) -> None:
    """Garbage before the status line is retried, a 503 with a Latin-1 reason phrase is
    retried, a 200 with one is an answer (on 4a56482 the aiohttp transport raised
    aiohttp.ClientResponseError / UnicodeEncodeError, with no retry)."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(scene) as up:
        result, _, seconds = await call(
            openai_config(up.base_url, transport, str(log)), stream=False
        )
        served = up.served
    assert isinstance(result, LLMResponse), result
    assert "".join(TEXT) == result.content
    assert (requests, 1) == (served, len(ledger(log)))
    assert seconds < 2


@TRANSPORTS
async def test_chaos_bug2_bad_chunk_size_is_retried(transport: str, tmp_path: Path) -> None:
    """A chunk size that is not hex before any event: a connection error, retried."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(bad_chunk_size) as up:
        result, chunks, _ = await call(openai_config(up.base_url, transport, str(log)), stream=True)
        served = up.served
    assert list(TEXT) == chunks, result
    assert 2 == served
    assert [True] == [r["complete"] for r in ledger(log)]


@TRANSPORTS
async def test_chaos_bug1_framing_error_after_the_headers_never_hangs_a_stream(
    transport: str, tmp_path: Path
) -> None:
    """A corrupt chunk-size line that arrives after two events ends the stream within its
    timeout (on 4a56482 the aiohttp transport waited forever)."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(midchunk) as up:
        result, chunks, seconds = await call(
            openai_config(up.base_url, transport, str(log)), stream=True
        )
    assert isinstance(result, StreamInterruptedError), result
    assert isinstance(result.__cause__, (ProviderConnectionError, ProviderTimeoutError))
    assert ["Hello", " there"] == chunks
    assert seconds < 0.5 + 0.2 + 1.0
    [record] = ledger(log)
    assert (False, True) == (record["complete"], record["estimated"])


@TRANSPORTS
async def test_chaos_bug1_framing_error_in_a_json_body_never_hangs_a_request(
    transport: str, tmp_path: Path
) -> None:
    """The same fault in a chunked JSON answer: the attempt ends within its timeout and the
    retry answers."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(midchunk_json) as up:
        result, _, seconds = await call(
            openai_config(up.base_url, transport, str(log)), stream=False
        )
        served = up.served
    assert isinstance(result, LLMResponse), result
    assert "".join(TEXT) == result.content
    assert 2 == served
    assert seconds < 0.5 + 1.0


@TRANSPORTS
async def test_chaos_bug3_close_delimited_cut_after_text_is_interrupted(
    transport: str, tmp_path: Path
) -> None:
    """A body that ends cleanly without [DONE] or a finish_reason is a cut stream, not a
    complete answer (4a56482: success, finish_reason None, ledger complete=true)."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(close_cut_after_text) as up:
        result, chunks, _ = await call(openai_config(up.base_url, transport, str(log)), stream=True)
    assert isinstance(result, StreamInterruptedError), result
    assert isinstance(result.__cause__, ProviderConnectionError)
    assert "Hello there" == result.partial_text == "".join(chunks)
    [record] = ledger(log)
    assert (False, True) == (record["complete"], record["estimated"])


@TRANSPORTS
@pytest.mark.parametrize("scene", [close_cut_before_text, html_as_event_stream])
async def test_chaos_bug3_stream_without_an_answer_is_retried(
    transport: str, scene: Any, tmp_path: Path
) -> None:
    """A stream cut before any event, or an HTML page labelled text/event-stream, is not an
    empty success: it is retried and the retry answers (one ledger record, complete)."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(scene) as up:
        result, chunks, _ = await call(openai_config(up.base_url, transport, str(log)), stream=True)
        served = up.served
    assert list(TEXT) == chunks, result
    assert 2 == served
    assert [True] == [r["complete"] for r in ledger(log)]


@TRANSPORTS
async def test_chaos_bug5_a_dripping_stream_ends_within_the_timeout_of_its_last_event(
    transport: str, tmp_path: Path
) -> None:
    """Bytes trickling in without completing an event do not keep a stream alive: with
    timeout 0.5 s it breaks about 0.5 s after its last event (4a56482: ran for minutes)."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(drip_stream) as up:
        result, chunks, seconds = await call(
            openai_config(up.base_url, transport, str(log)), stream=True
        )
    assert isinstance(result, StreamInterruptedError), result
    assert isinstance(result.__cause__, ProviderTimeoutError)
    assert ["Hello"] == chunks
    assert seconds < 0.5 + 1.0
    assert [False] == [r["complete"] for r in ledger(log)]


@TRANSPORTS
async def test_chaos_bug5_note_a_dripping_request_ends_within_its_timeout(
    transport: str, tmp_path: Path
) -> None:
    """A non-streamed attempt ends within its timeout in all (connect to last byte), however
    slowly the bytes arrive; the retry then answers."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(drip_json) as up:
        result, _, seconds = await call(
            openai_config(up.base_url, transport, str(log)), stream=False
        )
        served = up.served
    assert isinstance(result, LLMResponse), result
    assert "".join(TEXT) == result.content
    assert 2 == served
    assert seconds < 0.5 + 1.0


@TRANSPORTS
async def test_chaos_bug4_an_endless_line_fails_and_is_retried(
    transport: str, tmp_path: Path
) -> None:
    """A line past the decoder's bound is a malformed stream (retried), decoded in linear time
    (4a56482: 12 s for 20 MiB, the event loop stalled, then an empty success)."""
    log = tmp_path / "l.jsonl"
    async with raw_upstream(long_line) as up:
        result, chunks, seconds = await call(
            openai_config(up.base_url, transport, str(log), timeout=3), stream=True
        )
        served = up.served
    assert list(TEXT) == chunks, result
    assert 2 == served
    assert seconds < HARD_DEADLINE


@TRANSPORTS
async def test_per_call_timeout_overrides_the_providers(transport: str, tmp_path: Path) -> None:
    """`timeout=` bounds this call's attempts (SPEC §2.3): a 0.2 s budget ends a dripping
    answer long before the provider's 30 s."""
    log = tmp_path / "l.jsonl"
    config = openai_config("", transport, str(log), timeout=30, max_retries=0)
    async with raw_upstream(drip_json, drip_json) as up:
        config["providers"]["openai"]["base_url"] = up.base_url
        started = time.monotonic()
        outcome: object = "HUNG"
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
            with anyio.move_on_after(HARD_DEADLINE):
                try:
                    outcome = await orch.send_request(MESSAGES, timeout=0.2)
                except Exception as exc:
                    outcome = exc
        seconds = time.monotonic() - started
    assert isinstance(outcome, AllFallbacksFailedError), outcome
    assert isinstance(outcome.attempts[0][1], ProviderTimeoutError)
    assert seconds < 1.5
