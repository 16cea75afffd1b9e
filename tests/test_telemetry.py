"""Issue 16's acceptance: GenAI spans and metrics on every provider, over the emulator.

With opentelemetry-sdk's in-memory exporter and reader, a request (with a retry), a stream, a
fallback and an error on each of the five providers produce the documented ``chat {model}``
span, one ``attempt {model}`` child per attempt, and the three metrics, with token counts equal
to ``tokens_used`` and the cost equal to ``response.cost``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from llmorch import (
    AsyncLLMOrchestrator,
    OrchestratorConfig,
    PermissionDeniedError,
    StreamInterruptedError,
)
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from tests.emulated import one_provider, orch_for
from tests.otel import Otel, in_memory

DIALECTS = ["openai", "anthropic", "gemini", "vertex", "bedrock"]
PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
}
ASK = [{"role": "user", "content": "Say hello to the whole world"}]


@pytest.fixture
def otel() -> Iterator[Otel]:
    with in_memory() as sdk:
        yield sdk


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def first_model(emu: ProviderEmulator, dialect: str) -> str:
    return emu.chat_models(dialect)[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def check_usage(span: ReadableSpan, tokens: dict[str, int], cost: float) -> None:
    """The span's usage and cost attributes are the response's."""
    a = attrs(span)
    assert a["gen_ai.usage.input_tokens"] == tokens["prompt"]
    assert a["gen_ai.usage.output_tokens"] == tokens["completion"]
    for key, name in (
        ("cache_read", "gen_ai.usage.cache_read.input_tokens"),
        ("cache_write", "gen_ai.usage.cache_creation.input_tokens"),
        ("reasoning", "gen_ai.usage.reasoning.output_tokens"),
    ):
        assert a.get(name) == tokens.get(key)
    assert a["llmorch.cost_usd"] == cost


def check_metrics(
    otel: Otel, dialect: str, model: str, tokens: dict[str, int], cost: float, calls: int = 1
) -> None:
    """Duration, token usage (input and output) and cost, with the conventions' attributes."""
    durations = otel.points("gen_ai.client.operation.duration")
    assert [p.count for p in durations] == [calls]
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAMES[dialect],
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
    }
    point = durations[0]
    assert base.items() <= dict(point.attributes).items()
    assert "error.type" not in point.attributes
    assert point.sum > 0
    usage = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert usage["input"].sum == tokens["prompt"]
    assert usage["output"].sum == tokens["completion"]
    assert base.items() <= dict(usage["input"].attributes).items()
    [spent] = otel.points("llmorch.client.cost")
    assert spent.value == pytest.approx(cost)
    assert cost > 0


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_request_with_a_retry_is_one_call_span_with_two_attempts(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path, dialect: str, sleeps: list[float]
) -> None:
    """`chat {model}` (CLIENT) with the GenAI attributes; a failed and a good attempt below it."""
    model = first_model(emu, dialect)
    emu.script(dialect, model, Fault.http(500), Reply("Hello world, all of you"))
    async with orch_for(emu, dialect, model, tmp_path / "l.jsonl") as orch:
        response = await orch.send_request(ASK, max_tokens=50, temperature=0.5, top_p=0.9)
    [call] = otel.calls()
    assert call.name == f"chat {model}"
    assert call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.UNSET
    a = attrs(call)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == PROVIDER_NAMES[dialect]
    assert a["gen_ai.request.model"] == model
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.response.model"] == (response.model_answered or model)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.id"]
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == int(emu.base_url.rsplit(":", 1)[1])
    assert a["llmorch.provider"] == dialect
    assert a["llmorch.attempts"] == 2
    assert "gen_ai.request.stream" not in a
    assert "gen_ai.input.messages" not in a  # capture_content is off by default
    check_usage(call, response.tokens_used, response.cost)
    failed, good = otel.children(call)
    assert [failed.name, good.name] == [f"attempt {model}"] * 2
    assert failed.kind is SpanKind.INTERNAL
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(failed)["error.type"] == "ProviderUnavailableError"
    assert attrs(failed)["http.response.status_code"] == 500
    assert (attrs(failed)["llmorch.attempt.retry"], attrs(good)["llmorch.attempt.retry"]) == (0, 1)
    assert good.status.status_code is StatusCode.UNSET
    assert "error.type" not in attrs(good)
    check_metrics(otel, dialect, model, response.tokens_used, response.cost)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_stream_span_covers_open_to_end(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path, dialect: str
) -> None:
    """One span from opening to the last chunk, with the stream's usage and cost."""
    model = first_model(emu, dialect)
    emu.script(dialect, model, Reply("One two three four five six", chunk_delay=0.01))
    async with orch_for(emu, dialect, model, tmp_path / "l.jsonl") as orch:
        stream = orch.send_streaming_request(ASK)
        chunks = []
        async for chunk in stream:
            chunks.append(chunk)
            assert not otel.calls()  # still open while the stream is read
    response = stream.response
    assert "".join(chunks) == "One two three four five six"
    [call] = otel.calls()
    a = attrs(call)
    assert a["gen_ai.request.stream"] is True
    assert a["llmorch.stream.outcome"] == "exhausted"
    assert 0 < a["gen_ai.response.time_to_first_chunk"]
    assert call.end_time is not None and call.start_time is not None
    assert (call.end_time - call.start_time) / 1e9 >= 0.05  # the chunks' delays are inside
    assert call.status.status_code is StatusCode.UNSET
    check_usage(call, response.tokens_used, response.cost)
    [attempt] = otel.children(call)
    assert attempt.name == f"attempt {model}"
    check_metrics(otel, dialect, model, response.tokens_used, response.cost)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_fallback_shows_each_model_as_an_attempt(
    emu: ProviderEmulator,
    otel: Otel,
    tmp_path: Path,
    dialect: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first model fails, the second answers: two attempts, the second model's usage."""
    first, second = emu.chat_models(dialect)[:2]
    emu.script(dialect, first, Fault.http(404))
    emu.script(dialect, second, Reply("Fallback answer here"))
    orch = orch_for(emu, dialect, first, tmp_path / "l.jsonl", fallback_models=[second])
    with caplog.at_level(logging.DEBUG, logger="llmorch"):
        async with orch:
            response = await orch.send_request(ASK)
    assert response.model == second
    [call] = otel.calls()
    a = attrs(call)
    assert a["gen_ai.request.model"] == first
    assert a["llmorch.model"] == second
    assert a["gen_ai.response.model"] == (response.model_answered or second)
    assert a["llmorch.attempts"] == 2
    check_usage(call, response.tokens_used, response.cost)
    failed, good = otel.children(call)
    assert attrs(failed)["llmorch.attempt.model"] == first
    assert attrs(failed)["error.type"] == "ModelNotFoundError"
    assert attrs(good)["llmorch.attempt.model"] == second
    assert [attrs(s)["llmorch.attempt.number"] for s in (failed, good)] == [1, 2]
    check_metrics(otel, dialect, first, response.tokens_used, response.cost)
    # The WARNING per fallback carries the call's ids; each DEBUG attempt line its attempt's.
    trace_id = format(call.context.trace_id, "032x")
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert (warning.trace_id, warning.span_id) == (trace_id, format(call.context.span_id, "016x"))
    lines = [r for r in caplog.records if r.getMessage().startswith("attempt ")]
    assert [r.span_id for r in lines] == [format(s.context.span_id, "016x") for s in (failed, good)]
    assert {r.trace_id for r in lines} == {trace_id}


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_an_error_ends_the_span_with_its_type(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path, dialect: str
) -> None:
    """A refusal stops the chain: status ERROR, error.type, a duration with error.type."""
    model = first_model(emu, dialect)
    emu.script(dialect, model, Fault.http(403))
    async with orch_for(emu, dialect, model, tmp_path / "l.jsonl") as orch:
        with pytest.raises(PermissionDeniedError):
            await orch.send_request(ASK)
    [call] = otel.calls()
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description and "PermissionDeniedError" in call.status.description
    assert attrs(call)["error.type"] == "PermissionDeniedError"
    [attempt] = otel.children(call)
    assert attempt.status.status_code is StatusCode.ERROR
    assert attrs(attempt)["http.response.status_code"] == 403
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "PermissionDeniedError"
    assert duration.attributes["gen_ai.provider.name"] == PROVIDER_NAMES[dialect]
    assert otel.points("gen_ai.client.token.usage") == []


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_broken_stream_is_an_error_and_ends_once(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path, dialect: str
) -> None:
    """A cut after content: one span, outcome broken, the partial usage recorded."""
    model = first_model(emu, dialect)
    emu.script(dialect, model, Fault.cut(after=3))
    async with orch_for(emu, dialect, model, tmp_path / "l.jsonl") as orch:
        stream = orch.send_streaming_request(ASK)
        with pytest.raises(StreamInterruptedError):
            async for _ in stream:
                pass
        await stream.aclose()
    [call] = otel.calls()
    a = attrs(call)
    assert a["llmorch.stream.outcome"] == "broken"
    assert call.status.status_code is StatusCode.ERROR
    assert a["error.type"].startswith("Provider")
    check_usage(call, stream.response.tokens_used, stream.response.cost)
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == a["error.type"]


async def test_a_stream_closed_early_or_cancelled_is_not_an_error(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """The consumer stopping is an outcome, not an error; each span still ends exactly once."""
    import anyio

    model = first_model(emu, "openai")
    emu.script(
        "openai",
        model,
        Reply("a b c d e f g h", chunk_delay=0.01),
        Reply("a b c d e f g h", chunk_delay=0.1),
    )
    async with orch_for(emu, "openai", model, tmp_path / "l.jsonl") as orch:
        async with orch.send_streaming_request(ASK) as stream:
            async for _ in stream:
                break
        slow = orch.send_streaming_request(ASK)
        with anyio.move_on_after(0.35):  # after the first chunk, before the last
            async for _ in slow:
                pass
    closed, cancelled = otel.calls()
    assert attrs(closed)["llmorch.stream.outcome"] == "closed"
    assert attrs(cancelled)["llmorch.stream.outcome"] == "cancelled"
    for span in (closed, cancelled):
        assert span.status.status_code is StatusCode.UNSET
    assert len(otel.points("gen_ai.client.token.usage")) == 2  # cut streams are billed


async def test_tool_calls_and_content_capture(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """Tool-call count and names always; messages and answers only with capture_content."""
    model = first_model(emu, "anthropic")
    calls = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time", {"tz": "CET"}))
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time")
    ]
    emu.script("anthropic", model, Reply(tool_calls=calls), Reply("Sunny"))
    config = one_provider(emu, "anthropic", model, tmp_path / "l.jsonl")
    config["observability"] = {"capture_content": True}
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        first = await orch.send_request(ASK, tools=tools)
        history = [*ASK, first.message] + [
            {"role": "tool", "tool_call_id": c.id, "content": "done"} for c in first.tool_calls
        ]
        await orch.send_request(history, tools=tools)
    one, two = otel.calls()
    a = attrs(one)
    assert a["llmorch.response.tool_calls"] == 2
    assert a["llmorch.response.tool_names"] == ("get_weather", "get_time")
    assert a["llmorch.request.tools"] == ("get_weather", "get_time")
    assert [d["name"] for d in json.loads(a["gen_ai.tool.definitions"])] == [
        "get_weather",
        "get_time",
    ]
    [asked] = json.loads(a["gen_ai.input.messages"])
    assert asked == {"role": "user", "parts": [{"type": "text", "content": ASK[0]["content"]}]}
    [answer] = json.loads(a["gen_ai.output.messages"])
    assert answer["finish_reason"] == "tool_call"
    assert [p["name"] for p in answer["parts"] if p["type"] == "tool_call"] == [
        "get_weather",
        "get_time",
    ]
    sent = json.loads(attrs(two)["gen_ai.input.messages"])
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[2]["parts"][0]["type"] == "tool_call_response"
    [final] = json.loads(attrs(two)["gen_ai.output.messages"])
    assert final["parts"] == [{"type": "text", "content": "Sunny"}]


async def test_observability_off_emits_nothing(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """``observability.enabled: false``: no span, no metric, even with an SDK configured."""
    model = first_model(emu, "openai")
    config = one_provider(emu, "openai", model, tmp_path / "l.jsonl")
    config["observability"] = {"enabled": False}
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        await orch.send_request(ASK)
        assert [c async for c in orch.send_streaming_request(ASK)]
    assert otel.spans() == []
    assert otel.metric_names() == set()


async def test_a_call_inside_an_application_span_is_its_child(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """llmorch's span joins the caller's trace (context propagation)."""
    from opentelemetry import trace

    tracer = trace.get_tracer("app", tracer_provider=otel.tracer_provider)
    model = first_model(emu, "gemini")
    async with orch_for(emu, "gemini", model, tmp_path / "l.jsonl") as orch:
        with tracer.start_as_current_span("handle request") as outer:
            await orch.send_request(ASK)
    [call] = otel.calls()
    assert call.parent is not None
    assert call.parent.span_id == outer.get_span_context().span_id
    assert call.context.trace_id == outer.get_span_context().trace_id


def test_the_sync_facade_joins_the_callers_trace(emu: ProviderEmulator, otel: Otel) -> None:
    """``LLMOrchestrator`` runs on its own thread; its spans still join the caller's span."""
    from opentelemetry import trace

    from llmorch import LLMOrchestrator

    tracer = trace.get_tracer("app", tracer_provider=otel.tracer_provider)
    model = first_model(emu, "openai")
    config = one_provider(emu, "openai", model, Path("l.jsonl"))
    with LLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        with tracer.start_as_current_span("script") as outer:
            orch.send_request(ASK)
            assert list(orch.send_streaming_request(ASK))
    calls = otel.calls()
    assert len(calls) == 2
    for call in calls:
        assert call.parent is not None
        assert call.parent.span_id == outer.get_span_context().span_id


async def test_a_stream_cancelled_before_its_first_chunk_is_an_error(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """No answer yet: like a cancelled request, the call ends as an error (its class named)."""
    import anyio

    model = first_model(emu, "openai")
    emu.script("openai", model, Reply("late answer", chunk_delay=0.5))
    async with orch_for(emu, "openai", model, tmp_path / "l.jsonl") as orch:
        with anyio.move_on_after(0.2):
            async for _ in orch.send_streaming_request(ASK):
                pass
    [call] = otel.calls()
    assert call.status.status_code is StatusCode.ERROR
    assert attrs(call)["error.type"] == "CancelledError"
    [attempt] = otel.children(call)
    assert attempt.status.status_code is StatusCode.ERROR


async def test_request_settings_and_reasoning_are_recorded(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """top_k, seed, stop, reasoning effort, JSON output; the answer's reasoning when captured."""
    model = first_model(emu, "gemini")
    emu.script("gemini", model, Reply('{"ok": true}', reasoning="Think first."))
    config = one_provider(emu, "gemini", model, tmp_path / "l.jsonl")
    config["observability"] = {"enabled": True, "capture_content": True}  # explicit: installed
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        response = await orch.send_request(
            ASK,
            top_k=5,
            seed=7,
            stop=["END"],
            reasoning="low",
            response_format={"type": "json_object"},
        )
    [call] = otel.calls()
    a = attrs(call)
    assert (a["gen_ai.request.top_k"], a["gen_ai.request.seed"]) == (5.0, 7)
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.output.type"] == "json"
    assert a["llmorch.request.reasoning.effort"] == "low"
    [answer] = json.loads(a["gen_ai.output.messages"])
    assert answer["parts"][0] == {"type": "reasoning", "content": response.reasoning}
    check_usage(call, response.tokens_used, response.cost)


async def test_a_budget_refusal_is_the_calls_error(
    emu: ProviderEmulator, otel: Otel, tmp_path: Path
) -> None:
    """Refused before any I/O: the attempt and the call end with ``BudgetExceededError``."""
    from llmorch import BudgetExceededError

    model = first_model(emu, "openai")
    config = one_provider(emu, "openai", model, tmp_path / "l.jsonl")
    config["budgets"] = [{"name": "tiny", "limit_usd": 1e-9, "window": "day"}]
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        with pytest.raises(BudgetExceededError):
            await orch.send_request(ASK, max_tokens=100)
    [call] = otel.calls()
    assert attrs(call)["error.type"] == "BudgetExceededError"
    [attempt] = otel.children(call)
    assert attrs(attempt)["error.type"] == "BudgetExceededError"
    assert "http.response.status_code" not in attrs(attempt)


async def test_with_no_sdk_configured_a_call_makes_no_span_at_all(
    emu: ProviderEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenTelemetry imported but only the API's placeholders: nothing is built per call (it
    would all be no-op); once a real global provider appears, calls are traced again."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import llmorch.telemetry as telemetry

    monkeypatch.setattr(telemetry, "_live", False)
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    built: list[object] = []
    real_tools = telemetry._tools
    monkeypatch.setattr(telemetry, "_tools", lambda: built.append(1) or real_tools())
    model = first_model(emu, "openai")
    config = OrchestratorConfig.from_dict(one_provider(emu, "openai", model, tmp_path / "l.jsonl"))
    async with AsyncLLMOrchestrator(config) as orch:
        await orch.send_request(ASK)
        assert [c async for c in orch.send_streaming_request(ASK)]
        assert [] == built
        assert not telemetry._recording()

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
        monkeypatch.setattr(telemetry, "_instruments", None)  # made for the new provider
        monkeypatch.setattr(telemetry, "_tools", real_tools)
        await orch.send_request(ASK)
        provider.shutdown()
    assert telemetry._recording()
    assert [f"chat {model}"] == [s.name for s in exporter.get_finished_spans() if s.parent is None]
