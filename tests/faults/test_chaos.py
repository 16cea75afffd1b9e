"""The chaos matrix over real sockets: malformed HTTP between llmorch and its emulator.

Every cell: one fresh orchestrator (both transports) pointed at `FaultProxy`, one call whose first
upstream answer is damaged, then one clean call on the same orchestrator (the pool is not
poisoned). Each call runs under a hard deadline, so a hang fails its cell and not the suite; the
ledger is checked line by line through the calls' tags. Findings: `chaos.md` BUG-1..BUG-5.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from llmorch import (
    AsyncLLMOrchestrator,
    LLMResponse,
    OrchestratorError,
    StreamInterruptedError,
)
from llmorch.testing import ProviderEmulator
from tests.faults.chaos import CHAOS, Chaos, cells
from tests.faults.proxy import FaultProxy
from tests.faults.support import chain, config, ledger

MESSAGES = [{"role": "user", "content": "one two three"}]
TIMEOUT = 0.5  # the providers' `timeout`
HARD = 3.0  # a call still running after this is hung
WITHIN = 1.5  # every faulted call ends within this: one timeout, one pause and a retry at most
SLACK = 0.35  # scheduling slack over a timeout on a shared 2-core machine


@pytest.fixture(scope="module")
def proxy(emu: ProviderEmulator) -> Iterator[FaultProxy]:
    """The fault proxy in front of the module's emulator."""
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(FaultProxy((host, int(port)))) as fault_proxy,
    ):
        yield fault_proxy


def _provider(emu: ProviderEmulator, proxy: FaultProxy, dialect: str) -> dict[str, Any]:
    first, second = chain(emu, dialect)
    provider = emu.config_for(dialect)
    for key in ("base_url", "endpoint_url", "control_endpoint_url"):
        if key in provider:  # Vertex's token endpoint stays direct: it is not under test
            provider[key] = provider[key].replace(emu.base_url, proxy.base_url)
    return provider | {
        "fallback_models": [second],
        "timeout": TIMEOUT,
        "max_retries": 1,
        "max_backoff_s": 0.01,
    }


@dataclass
class Call:
    """What one call gave the caller."""

    outcome: LLMResponse | BaseException | None = None
    chunks: list[str] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    ended: float = 0.0


async def _call(orch: AsyncLLMOrchestrator, stream: bool, tag: str, **kwargs: Any) -> Call:
    call = Call()
    start = time.monotonic()
    with anyio.move_on_after(HARD) as deadline:
        try:
            if stream:
                async with orch.send_streaming_request(
                    MESSAGES, tags={"call": tag}, **kwargs
                ) as response_stream:
                    async for text in response_stream:
                        call.chunks.append(text)
                        call.chunk_times.append(time.monotonic())
                call.outcome = response_stream.response
            else:
                call.outcome = await orch.send_request(MESSAGES, tags={"call": tag}, **kwargs)
        except Exception as exc:  # a raw exception is a finding: _answered/_check report it
            call.outcome = exc
    call.ended = time.monotonic()
    call.elapsed = call.ended - start
    if deadline.cancelled_caught:
        pytest.fail(f"{tag} call hung: no result after {HARD} s ({len(call.chunks)} chunks)")
    return call


def _answered(call: Call, stream: bool, *models: str) -> LLMResponse:
    """The call answered in full (not truncated, not empty) from one of ``models``."""
    response = call.outcome
    if isinstance(response, BaseException):
        kind = "llmorch" if isinstance(response, OrchestratorError) else "RAW"
        raise AssertionError(f"{kind} {type(response).__module__}.{type(response).__name__}: "
                             f"{response}") from response  # fmt: skip
    assert isinstance(response, LLMResponse), repr(response)
    assert response.model in models
    assert response.content.endswith("You said: one two three"), repr(response.content)
    assert "stop" == response.finish_reason
    if stream:
        assert "".join(call.chunks) == response.content
    return response


def _records(tag: str) -> list[dict[str, Any]]:
    return [r for r in ledger() if r["tags"] == {"call": tag}]


@dataclass
class Cell:
    """A cell's faulted call, and the model of each upstream chat request it made."""

    call: Call
    requests: list[str]


async def _run_cell(
    emu: ProviderEmulator, proxy: FaultProxy, case: Chaos, mode: str, dialect: str, transport: str
) -> Cell:
    """Run one cell and check its documented outcome, the ledger and a clean follow-up call."""
    first, second = chain(emu, dialect)
    stream = mode == "stream"
    emu.clear()
    proxy.reset()
    proxy.queue(case.plan)
    providers = {dialect: _provider(emu, proxy, dialect)}
    async with AsyncLLMOrchestrator(
        config(dialect, first, providers, http_transport=transport)
    ) as orch:
        call = await _call(orch, stream, "fault")
        requests = [r.model for r in emu.requests if r.method == "POST" and r.model]
        _check(case, getattr(case, mode), call, requests, first, second, stream)
        assert call.elapsed < WITHIN, f"took {call.elapsed:.2f} s"
        clean = await _call(orch, stream, "clean")
        _answered(clean, stream, first)
    assert [True] == [r["complete"] for r in _records("clean")]
    assert len(ledger()) == 2  # one line per answer or partially delivered stream, none otherwise
    return Cell(call, requests)


def _check(
    case: Chaos,
    expect: str,
    call: Call,
    requests: list[str],
    first: str,
    second: str,
    stream: bool,
) -> None:
    records = _records("fault")
    tried = requests.count(first)
    if expect == "interrupted":
        error = call.outcome
        assert isinstance(error, StreamInterruptedError), repr(error)
        assert type(error.__cause__).__name__ in case.causes, repr(error.__cause__)
        assert call.chunks, "interrupted before the first chunk"
        assert "".join(call.chunks) == error.partial_text
        assert [first] == requests  # no retry after text, never spliced with another model
        assert [(first, False)] == [(r["model"], r["complete"]) for r in records]
        return
    response = _answered(call, stream, *((first, second) if expect == "recover" else (first,)))
    expected_tries = {"ok": {1}, "answer": {1, 2}, "retry": {2}, "recover": {2}}[expect]
    if response.model == first:
        assert tried in expected_tries, requests
        assert second not in requests, requests
    assert [(response.model, True)] == [(r["model"], r["complete"]) for r in records]


def _ids(cell: tuple[Chaos, str, str, str]) -> str:
    case, mode, dialect, transport = cell
    return f"{case.name}-{mode}-{dialect}-{transport}"


def _params(finding: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("cell", cells(finding), ids=_ids)


@_params("bug1")
async def test_chaos_bug1_framing_error_after_the_headers_ends_the_call(
    emu: ProviderEmulator, proxy: FaultProxy, cell: tuple[Chaos, str, str, str]
) -> None:
    """A broken chunk arriving in a later write: retried before text, interrupted after."""
    result = await _run_cell(emu, proxy, *cell)
    if cell[1] == "stream":
        assert result.call.ended - result.call.chunk_times[-1] < TIMEOUT + SLACK


@_params("bug2")
async def test_chaos_bug2_malformed_http_is_an_llmorch_error_and_retried(
    emu: ProviderEmulator, proxy: FaultProxy, cell: tuple[Chaos, str, str, str]
) -> None:
    """Garbage, a bad status line, damaged headers or framing: a retry answers, nothing raw."""
    await _run_cell(emu, proxy, *cell)


@_params("bug3")
async def test_chaos_bug3_stream_without_its_terminal_event_is_never_a_success(
    emu: ProviderEmulator, proxy: FaultProxy, cell: tuple[Chaos, str, str, str]
) -> None:
    """A body cut at an event boundary or an HTML page: a retry before text, a cut stream after."""
    await _run_cell(emu, proxy, *cell)


@_params("bug4")
async def test_chaos_bug4_junk_without_newlines_fails_and_is_retried(
    emu: ProviderEmulator, proxy: FaultProxy, cell: tuple[Chaos, str, str, str]
) -> None:
    """Megabytes of junk with no line end: a failed attempt (retried), not an empty success."""
    await _run_cell(emu, proxy, *cell)


@_params("bug5")
async def test_chaos_bug5_drip_ends_within_the_timeout(
    emu: ProviderEmulator, proxy: FaultProxy, cell: tuple[Chaos, str, str, str]
) -> None:
    """1 byte / 50 ms: a request ends within `timeout`, a stream `timeout` after its last event."""
    result = await _run_cell(emu, proxy, *cell)
    if cell[1] == "stream":
        assert result.call.ended - result.call.chunk_times[-1] < TIMEOUT + SLACK
    else:  # the first attempt ends at `timeout` (connect to last byte), the retry is quick
        assert result.call.elapsed < TIMEOUT + SLACK


@_params("guard")
async def test_chaos_resets_and_closes_still_retry_or_interrupt(
    emu: ProviderEmulator, proxy: FaultProxy, cell: tuple[Chaos, str, str, str]
) -> None:
    """RST and FIN in the headers, body or between events (they hold today: regression guards)."""
    await _run_cell(emu, proxy, *cell)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini", "vertex", "bedrock"])
async def test_chaos_bug4_junk_stream_does_not_stall_other_calls(
    emu: ProviderEmulator, proxy: FaultProxy, dialect: str, transport: str
) -> None:
    """While a junk stream is read, other calls on the same orchestrator stay fast."""
    (junk,) = [case for case in CHAOS if case.name == "junk"]
    first, second = chain(emu, dialect)
    emu.clear()
    proxy.reset()
    proxy.queue(junk.plan)
    bystander = emu.config_for("openai")  # straight to the emulator, not through the proxy
    other = emu.chat_models("openai")[2]
    providers = {dialect: _provider(emu, proxy, dialect), "bystander": bystander}
    latencies: list[float] = []
    done = anyio.Event()
    calls: list[Call] = []

    async def junk_call() -> None:
        calls.append(await _call(orch, True, "fault"))
        done.set()

    async with AsyncLLMOrchestrator(
        config(dialect, first, providers, http_transport=transport)
    ) as orch:
        async with anyio.create_task_group() as tg:
            tg.start_soon(junk_call)
            while not done.is_set() or len(latencies) < 3:
                call = await _call(orch, False, "bystander", provider="bystander", model=other)
                _answered(call, False, other)
                latencies.append(call.elapsed)
    assert max(latencies) < 0.2, f"bystander latencies {[round(x, 3) for x in latencies]}"
    assert calls[0].elapsed < 1.0, f"the junk stream took {calls[0].elapsed:.2f} s"
    requests = [
        r.model for r in emu.requests if r.method == "POST" and r.model not in (None, other)
    ]
    _check(junk, "retry", calls[0], requests, first, second, True)
    assert len(_records("bystander")) == len(latencies)


def test_the_reliability_page_shows_the_chaos_matrix() -> None:
    """docs/reliability.md carries exactly the chaos faults these tests run, with the count."""
    from pathlib import Path

    from tests.faults.chaos import render

    page = Path(__file__).parent.parent.parent / "docs" / "reliability.md"
    assert render() in page.read_text()
