"""Every scripted fault, over real sockets, against llmorch's own clients."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    AuthenticationError,
    ContextLengthExceededError,
    OrchestratorConfig,
    ProviderConnectionError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from llmorch.testing import Fault, ProviderEmulator, Reply

DIALECTS = ["openai", "anthropic"]
# The emulator's default chain: its first chat model, then its first fallback.
FIRST = {"openai": "gpt-5.4-mini", "anthropic": "claude-haiku-5-5"}
SECOND = {"openai": "gpt-5.6-luna", "anthropic": "claude-sonnet-5-5"}
MESSAGES = [{"role": "user", "content": "one two three"}]


TRANSPORT = {"name": "aiohttp"}


@pytest.fixture(autouse=True, params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs on both transports behind httpx."""
    TRANSPORT["name"] = request.param
    yield request.param
    TRANSPORT["name"] = "aiohttp"


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    # pytest-asyncio sets up and tears down async fixtures in different tasks, so a fixture
    # uses the sync form, which serves from its own thread.
    with ProviderEmulator() as emulator:
        yield emulator


def orch_for(emu: ProviderEmulator, dialect: str, **provider: Any) -> AsyncLLMOrchestrator:
    config = emu.config_for(dialect) | provider
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": FIRST[dialect],
                "providers": {dialect: config},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
                "http_transport": TRANSPORT["name"],
            }
        )
    )


def ledger() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def models_sent(emu: ProviderEmulator) -> list[str | None]:
    return [r.model for r in emu.requests if r.method == "POST"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_chat_and_stream_with_deterministic_usage(
    emu: ProviderEmulator, dialect: str
) -> None:
    """A reply comes back whole and streamed, with word-count usage and one ledger line each."""
    emu.script(dialect, FIRST[dialect], "alpha beta gamma", Reply("delta epsilon"))
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES)
        stream = orch.send_streaming_request(MESSAGES)
        chunks = [c async for c in stream]
    assert "alpha beta gamma" == response.content
    assert (3, 3, 6) == tuple(response.tokens_used[k] for k in ("prompt", "completion", "total"))
    assert ["delta", " epsilon"] == chunks
    assert ("stop", 2) == (stream.response.finish_reason, stream.response.tokens_used["completion"])
    assert response.request_id and response.request_id.startswith("req_")
    assert 2 == len(ledger())


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_max_tokens_truncates_with_length(emu: ProviderEmulator, dialect: str) -> None:
    """max_tokens cuts the reply to that many words and reports finish_reason length."""
    emu.script(dialect, FIRST[dialect], "a b c d e")
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES, max_tokens=2)
    assert ("a b", "length", 2) == (
        response.content,
        response.finish_reason,
        response.tokens_used["completion"],
    )


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_model_listing_over_pages(emu: ProviderEmulator, dialect: str) -> None:
    """Discovery lists every chat model (Anthropic through several small pages)."""
    async with orch_for(emu, dialect) as orch:
        listed = await orch.get_available_models()
    expected = [m for m in emu.models(dialect) if not m.startswith(("text-", "tts", "whisper"))]
    expected = [m for m in expected if not m.startswith(("gpt-image", "omni", "ft:"))]
    assert sorted(expected) == listed
    pages = [r for r in emu.requests if r.method == "GET"]
    assert (3 if dialect == "anthropic" else 1) == len(pages)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "fault", [Fault.http(500), Fault.overloaded(), Fault.reset(), Fault.rate_limit(None)]
)
async def test_retryable_faults_retry_then_fall_back(
    emu: ProviderEmulator, dialect: str, fault: Fault, sleeps: list[float]
) -> None:
    """5xx, overload, connection reset and 429 retry max_retries times, then the next model."""
    emu.script(dialect, FIRST[dialect], fault, fault, fault)
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES)
    assert [FIRST[dialect]] * 3 + [SECOND[dialect]] == models_sent(emu)
    assert SECOND[dialect] == response.model
    error = response.attempts[0][1]
    expected = {"reset": ProviderConnectionError}.get(fault.kind)
    expected = expected or (RateLimitError if fault.status == 429 else ProviderUnavailableError)
    assert isinstance(error, expected)
    assert 2 == len(sleeps)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_retry_after_is_honoured(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """429 with retry-after makes the client wait exactly that long, then the same model answers."""
    emu.script(dialect, FIRST[dialect], Fault.rate_limit(2), "ok")
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES)
    assert [2.0] == sleeps
    assert (FIRST[dialect], "ok") == (response.model, response.content)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_auth_failures_stop_the_chain(dialect: str) -> None:
    """With pinned keys, a wrong key is an AuthenticationError and no other model is tried."""
    async with ProviderEmulator(api_keys={dialect: ["right-key"]}) as emu:  # in-loop form
        async with orch_for(emu, dialect, api_key="wrong-key") as orch:
            with pytest.raises(AuthenticationError):
                await orch.send_request(MESSAGES)
        assert 1 == len(models_sent(emu))
        async with orch_for(emu, dialect) as orch:  # config_for carries the pinned key
            assert (await orch.send_request(MESSAGES)).content


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_missing_key_gets_the_vendor_401(emu: ProviderEmulator, dialect: str) -> None:
    """No key at all gets the vendor's own 401 body."""
    async with orch_for(emu, dialect, api_key=None) as orch:
        with pytest.raises(AuthenticationError) as info:
            await orch.send_request(MESSAGES)
    assert 401 == info.value.status_code


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_non_retryable_errors_move_on_and_unknown_models_404(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """Context overflow moves on at once; an unknown model is a 404; all failing lists both."""
    emu.script(dialect, FIRST[dialect], Fault.http(400, error="context_length"))
    async with orch_for(emu, dialect, fallback_models=["no-such-model"]) as orch:
        with pytest.raises(AllFallbacksFailedError) as info:
            await orch.send_request(MESSAGES)
    (first, error1), (second, error2) = info.value.attempts
    assert isinstance(error1, ContextLengthExceededError)
    assert ("no-such-model", 404) == (second, error2.status_code)  # type: ignore[attr-defined]
    assert [] == sleeps


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_hang_times_out_and_falls_back(emu: ProviderEmulator, dialect: str) -> None:
    """A server that never answers ends in ProviderTimeoutError after `timeout`, then falls back."""
    emu.script(dialect, FIRST[dialect], Fault.hang())
    async with orch_for(emu, dialect, timeout=0.3, max_retries=0) as orch:
        response = await orch.send_request(MESSAGES)
    assert isinstance(response.attempts[0][1], ProviderTimeoutError)
    assert SECOND[dialect] == response.model


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault.cut(after=2, text="one two three four"), ProviderConnectionError),
        (Fault.stream_error(after=2, text="one two three four"), ProviderUnavailableError),
        (Fault.stream_error(after=2, error="rate_limit", text="one two x"), RateLimitError),
        (Fault.malformed(after=2), ProviderUnavailableError),
    ],
)
async def test_stream_faults_after_text_interrupt_without_fallback(
    emu: ProviderEmulator, dialect: str, fault: Fault, cause: type[Exception]
) -> None:
    """Cut, in-stream error and malformed events after text raise StreamInterruptedError."""
    emu.script(dialect, FIRST[dialect], fault)
    got: list[str] = []
    async with orch_for(emu, dialect) as orch:
        with pytest.raises(StreamInterruptedError) as info:
            async with orch.send_streaming_request(MESSAGES) as stream:
                async for chunk in stream:
                    got.append(chunk)  # noqa: PERF401 - the list must survive the raise
    assert 2 == len(got)
    assert "".join(got) == info.value.partial_text
    assert isinstance(info.value.__cause__, cause)
    assert [FIRST[dialect]] == models_sent(emu)
    (record,) = ledger()
    assert record["complete"] is False


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_stream_error_before_text_falls_back(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """An in-stream error before any text is handled like an HTTP error: the next model answers."""
    emu.script(dialect, FIRST[dialect], Fault.stream_error(after=0, error="invalid_request"))
    async with orch_for(emu, dialect) as orch:
        chunks = [c async for c in orch.send_streaming_request(MESSAGES)]
    assert chunks
    assert [FIRST[dialect], SECOND[dialect]] == models_sent(emu)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_non_stream_cut_and_stream_faults_on_plain_requests(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """On non-streaming calls, a cut body is a connection error and a stream error a status."""
    emu.script(dialect, FIRST[dialect], Fault.cut(), Fault.stream_error(), Fault.malformed())
    async with orch_for(emu, dialect, max_retries=3) as orch:
        response = await orch.send_request(MESSAGES)
    kinds = [type(e).__name__ for _, e in response.attempts]
    assert [] == kinds  # all three were retried on the same model, which then answered
    assert 4 == len(models_sent(emu))


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_slow_chunks_within_and_beyond_the_timeout(
    emu: ProviderEmulator, dialect: str
) -> None:
    """Slow chunks arrive when each gap is under `timeout`; a longer gap times the stream out."""
    slow, too_slow = Reply("a b c", chunk_delay=0.05), Reply("a b c", chunk_delay=0.6)
    emu.script(dialect, FIRST[dialect], slow, too_slow)
    async with orch_for(emu, dialect, timeout=0.4, max_retries=0) as orch:
        assert ["a", " b", " c"] == [c async for c in orch.send_streaming_request(MESSAGES)]
        stream = orch.send_streaming_request(MESSAGES)
        assert [c async for c in stream]
    ((model, error),) = stream.response.attempts
    assert (FIRST[dialect], ProviderTimeoutError) == (model, type(error))
    assert SECOND[dialect] == stream.response.model


def test_sync_use_records_requests_and_serves_from_a_thread() -> None:
    """As a sync context manager the emulator runs on its own thread and records requests."""
    before = set(threading.enumerate())
    with ProviderEmulator() as emu:
        emu.script("openai", "custom-model", "scripted answer")
        response = httpx.post(
            emu.url("openai") + "/chat/completions",
            json={"model": "custom-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer k"},
        )
        assert "scripted answer" == response.json()["choices"][0]["message"]["content"]
        assert "custom-model" in emu.models("openai")
        (request,) = emu.requests
        assert ("openai", "custom-model", "/openai/v1/chat/completions") == (
            request.dialect,
            request.model,
            request.path,
        )
        assert "openai" in emu.describe() and emu.base_url in emu.describe()
        emu.clear()
        assert [] == emu.requests
        assert 404 == httpx.get(emu.base_url + "/nowhere").status_code
        with pytest.raises(ValueError, match="unknown dialect"):
            emu.config_for("nope")
    # Its thread is gone (idle AnyIO worker threads, which end on their own, are not its own).
    started = [t for t in threading.enumerate() if t not in before]
    for thread in started:
        thread.join(timeout=2)
    assert [] == [t for t in started if t.is_alive() and not t.name.startswith("AnyIO worker")]
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.base_url


class RawConnection:
    """One keep-alive HTTP/1.1 connection on a plain socket, reading the body's framing as sent."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.prefix = parts.netloc, parts.path
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=2)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(65536)  # a missing terminator times out instead of hanging
        assert data, "connection closed by the emulator"
        self.buffer += data

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes, bytes]:
        """Send one request; return status, headers, the body's wire bytes and its content."""
        payload = json.dumps(body).encode()
        head = [f"POST {self.prefix}{path} HTTP/1.1", f"Host: {self.host}"]
        head += [f"{k}: {v}" for k, v in {**headers, "content-length": len(payload)}.items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        status = int(self._line().split()[1])
        fields: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode().partition(":")
            fields[name.lower()] = value.strip()
        if fields.get("transfer-encoding") != "chunked":
            content = self._take(int(fields["content-length"]))
            return status, fields, content, content
        wire, content = b"", b""
        while True:
            size_line = self._line()
            size = int(size_line, 16)
            chunk = self._take(size + 2)
            wire += size_line + b"\r\n" + chunk
            if size == 0:
                return status, fields, wire, content
            content += chunk[:-2]


CLEAN_CUT = {
    "openai": (
        "/chat/completions",
        {"authorization": "Bearer k"},
        {"stream": True, "stream_options": {"include_usage": True}},
        [b"[DONE]", b'"finish_reason":"stop"', b'"usage":{'],
    ),
    "anthropic": (
        "/v1/messages",
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        {"stream": True, "max_tokens": 50},
        [b"message_stop", b"message_delta", b"content_block_stop"],
    ),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_clean_cut_ends_the_stream_without_its_terminal_event(dialect: str) -> None:
    """Fault.cut(clean=True): chunked body properly terminated, connection kept, no last event."""
    path, headers, extra, terminal = CLEAN_CUT[dialect]
    body = {"model": FIRST[dialect], "messages": MESSAGES, **extra}
    with ProviderEmulator() as emu:
        emu.script(dialect, FIRST[dialect], Fault.cut(after=2, clean=True, text="a b c d"), "ok")
        connection = RawConnection(emu.url(dialect))
        try:
            status, fields, wire, content = connection.post(path, body, headers)
            assert (200, "chunked") == (status, fields["transfer-encoding"])
            assert wire.endswith(b"\r\n0\r\n\r\n")
            assert b'"a"' in content and b'" b"' in content and b'" c"' not in content
            assert [] == [event for event in terminal if event in content]
            again, _, _, finished = connection.post(path, body, headers)  # same connection
            assert 200 == again and terminal[0] in finished
        finally:
            connection.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_clean_cut_of_a_plain_request_is_a_well_framed_half_body(dialect: str) -> None:
    """A non-streamed clean cut: Content-Length matches, the JSON stops midway, keep-alive holds."""
    path, headers, extra, _ = CLEAN_CUT[dialect]
    extra = {k: v for k, v in extra.items() if k == "max_tokens"}
    body = {"model": FIRST[dialect], "messages": MESSAGES, **extra}
    with ProviderEmulator() as emu:
        emu.script(dialect, FIRST[dialect], Fault.cut(clean=True), "ok")
        connection = RawConnection(emu.url(dialect))
        try:
            status, fields, _, content = connection.post(path, body, headers)
            assert (200, str(len(content))) == (status, fields["content-length"])
            with pytest.raises(json.JSONDecodeError):
                json.loads(content)
            assert 200 == connection.post(path, body, headers)[0]
        finally:
            connection.close()
