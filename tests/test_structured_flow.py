"""The orchestrator's side of structured output and capabilities, on a scripted adapter.

No vendor codec is involved: the scripted adapter (tests/tool_provider.py) answers what it is
told, so these tests pin the shared steps — parsing, re-asking, the forced-tool fallback, the
unsupported-parameter policy and the learned-from-400 retry (SPEC §2.9, §2.10).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    InvalidRequestError,
    OutputValidationError,
    events,
)
from llmorch.capabilities import Capabilities, forget_learned
from llmorch.output import TOOL_NAME
from llmorch.testing import Reply, ToolUse
from tests.tool_provider import ScriptedProvider, config

ASK = [{"role": "user", "content": "Two items please."}]


class Item(BaseModel):
    name: str
    count: int


def records() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def fake(orch: AsyncLLMOrchestrator, *replies: Reply) -> ScriptedProvider:
    adapter = orch._adapter_map()["fake"]
    assert isinstance(adapter, ScriptedProvider)
    adapter.replies.extend(replies)
    return adapter


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> dict[str, Capabilities]:
    """What the capability table says about the scripted provider's models (editable)."""
    facts: dict[str, Capabilities] = {}

    def lookup(provider_type: str, model: str) -> Capabilities:
        return facts.get(model, Capabilities())

    monkeypatch.setattr("llmorch.fit.capabilities", lookup)
    monkeypatch.setattr("llmorch.output.capabilities", lookup)
    forget_learned()
    yield facts
    forget_learned()


def provider(**extra: Any) -> dict[str, Any]:
    cfg = config()
    cfg["providers"]["fake"].update(extra)
    return cfg


async def test_parsed_is_the_validated_model_on_a_request_and_a_stream() -> None:
    answer = '[{"name": "a", "count": 1}, {"name": "b", "count": 2}]'
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, Reply(answer), Reply(answer))
        response = await orch.send_request(ASK, response_format=list[Item])
        assert response.parsed == [Item(name="a", count=1), Item(name="b", count=2)]
        sent = adapter.requests[0]
        assert sent.output is not None and sent.output.mode == "native"
        async with orch.send_streaming_request(ASK, response_format=list[Item]) as stream:
            chunks = [chunk async for chunk in stream]
        assert "".join(chunks).strip() == answer
        assert stream.response.parsed == response.parsed


async def test_output_retries_sends_the_errors_back_and_records_each_attempt() -> None:
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(
            orch, Reply('{"name": "a", "count": "lots"}'), Reply('{"name": "a", "count": 3}')
        )
        response = await orch.send_request(ASK, response_format=Item, output_retries=1)
    assert response.parsed == Item(name="a", count=3)
    assert len(records()) == 2
    second = adapter.requests[1]
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].text == '{"name": "a", "count": "lots"}'
    assert "count: Input should be a valid integer" in second.messages[2].text


async def test_an_answer_that_never_validates_raises_after_being_recorded() -> None:
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply("not json"))
        with pytest.raises(OutputValidationError) as caught:
            await orch.send_request(ASK, response_format=Item)
    assert caught.value.text == "not json"
    assert caught.value.errors[0]["type"] == "json_invalid"
    assert caught.value.response is not None and caught.value.response.content == "not json"
    assert len(records()) == 1


async def test_a_stream_with_an_invalid_answer_raises_at_its_end_and_is_recorded() -> None:
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply("not json at all"))
        stream = orch.send_streaming_request(ASK, response_format=Item)
        seen: list[str] = []
        with pytest.raises(OutputValidationError):
            async for chunk in stream:
                seen.append(chunk)  # noqa: PERF401 - what arrived before the error
    assert "".join(seen).strip() == "not json at all"
    assert len(records()) == 1


async def test_a_refusal_is_never_a_validation_error() -> None:
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply("I can't help with that.", finish_reason="content_filter"))
        response = await orch.send_request(ASK, response_format=Item)
    assert response.finish_reason == "content_filter" and response.parsed is None


async def test_output_retries_with_a_stream_or_without_a_format_is_refused() -> None:
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch)
        with pytest.raises(InvalidRequestError, match="a stream cannot take back"):
            orch.send_streaming_request(ASK, response_format=Item, output_retries=1)
        with pytest.raises(InvalidRequestError, match="output_retries is set but response_format"):
            await orch.send_request(ASK, output_retries=1)
        assert adapter.requests == []


async def test_a_model_without_native_output_gets_a_forced_tool(
    table: dict[str, Capabilities],
) -> None:
    table["fake-1"] = Capabilities(structured_output="tool")
    call = ToolUse(TOOL_NAME, {"value": [{"name": "a", "count": 1}]})
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, Reply("", tool_calls=[call]), Reply("", tool_calls=[call]))
        response = await orch.send_request(ASK, response_format=list[Item])
        sent = adapter.requests[0]
        assert [t.name for t in sent.tools] == [TOOL_NAME]
        assert sent.tool_choice is not None and sent.tool_choice.name == TOOL_NAME
        assert sent.tools[0].parameters["required"] == ["value"]  # the array root, wrapped
        assert response.parsed == [Item(name="a", count=1)]
        assert response.tool_calls == [] and response.finish_reason == "stop"
        stream = orch.send_streaming_request(ASK, response_format=list[Item])
        kinds = [type(event) async for event in stream.events()]
    assert events.ToolCallStarted not in kinds and events.TextDelta in kinds
    assert stream.response.parsed == [Item(name="a", count=1)]
    assert stream.response.finish_reason == "stop"


async def test_unsupported_warn_removes_lists_and_logs_once(
    table: dict[str, Capabilities], caplog: pytest.LogCaptureFixture
) -> None:
    table["fake-1"] = Capabilities(rejects=frozenset({"temperature"}), only_default={"top_p": 1})
    caplog.set_level(logging.WARNING, logger="llmorch")
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch)
        first = await orch.send_request(ASK, temperature=0.2, top_p=0.5)
        second = await orch.send_request(ASK, temperature=0.2, top_p=1)
    assert adapter.requests[0].temperature is None and adapter.requests[0].top_p is None
    assert adapter.requests[1].top_p == 1
    assert len(first.warnings) == 2 and "temperature removed" in first.warnings[0]
    assert "top_p removed" in first.warnings[1] and "only top_p=1" in first.warnings[1]
    assert second.warnings == [first.warnings[0]]
    logged = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert len(logged) == 2  # one per (model, parameter), not per call


async def test_unsupported_drop_removes_without_logging(
    table: dict[str, Capabilities], caplog: pytest.LogCaptureFixture
) -> None:
    table["fake-1"] = Capabilities(rejects=frozenset({"seed"}))
    caplog.set_level(logging.WARNING, logger="llmorch")
    async with AsyncLLMOrchestrator(provider(unsupported="drop")) as orch:
        adapter = fake(orch)
        response = await orch.send_request(ASK, seed=7)
    assert adapter.requests[0].seed is None
    assert response.warnings and "seed removed" in response.warnings[0]
    assert not [r for r in caplog.records if "removed" in r.getMessage()]


async def test_unsupported_error_raises_before_any_call(table: dict[str, Capabilities]) -> None:
    table["fake-1"] = Capabilities(rejects=frozenset({"temperature"}))
    async with AsyncLLMOrchestrator(provider(unsupported="error")) as orch:
        adapter = fake(orch)
        with pytest.raises(InvalidRequestError, match="temperature: .*'fake-1' does not accept"):
            await orch.send_request(ASK, temperature=0.2)
        with pytest.raises(InvalidRequestError, match="temperature"):
            orch.send_streaming_request(ASK, temperature=0.2)
    assert adapter.requests == []


async def test_a_refusal_learned_from_a_400_retries_once_then_is_remembered(
    table: dict[str, Capabilities],
) -> None:
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch)
        adapter.refuse.add("temperature")
        first = await orch.send_request(ASK, temperature=0.3)
        assert adapter.calls == 2
        assert "the vendor refused it earlier in this process" in first.warnings[0]
        await orch.send_request(ASK, temperature=0.3)
        assert adapter.calls == 3  # one request: the fact is known now
        async with orch.send_streaming_request(ASK, temperature=0.3) as stream:
            [chunk async for chunk in stream]
        assert adapter.calls == 4
    assert len(records()) == 3


async def test_policy_error_does_not_learn(table: dict[str, Capabilities]) -> None:
    async with AsyncLLMOrchestrator(provider(unsupported="error")) as orch:
        adapter = fake(orch)
        adapter.refuse.add("temperature")
        with pytest.raises(AllFallbacksFailedError):
            await orch.send_request(ASK, temperature=0.3)
    assert adapter.calls == 1


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def picture(url: str | None = None) -> list[dict[str, Any]]:
    import llmorch

    part = {"type": "image_url", "image_url": {"url": url}} if url else llmorch.image(PNG)
    return [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, part]}]


@pytest.mark.parametrize(
    ("facts", "messages", "message"),
    [
        (
            Capabilities(image_urls=False),
            picture("https://x.test/a.png"),
            r"messages\[0\].content\[1\].image_url.url: .* does not fetch image URLs .* pass",
        ),
        (
            Capabilities(max_image_bytes=10),
            picture(),
            r"messages\[0\].content\[1\].image_url.url: the image is 72 bytes; .* at most 10 bytes",
        ),
        (
            Capabilities(image_types=("image/jpeg",)),
            picture(),
            r"messages\[0\].content\[1\].image_url.url: .* does not take image/png images",
        ),
        (
            Capabilities(image_input=False),
            picture(),
            r"messages\[0\].content\[1\].image_url: .* takes no images",
        ),
        (
            Capabilities(image_types=("image/png",)),
            picture("https://x.test/a.gif"),
            r"messages\[0\].content\[1\].image_url.url: .* does not take image/gif images",
        ),
    ],
)
async def test_media_the_model_cannot_take_fails_before_any_call(
    table: dict[str, Capabilities], facts: Capabilities, messages: Any, message: str
) -> None:
    table["fake-1"] = facts
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch)
        with pytest.raises(InvalidRequestError, match=message):
            await orch.send_request(messages)
    assert adapter.requests == []


async def test_cache_control_where_the_vendor_caches_by_itself_is_a_warning(
    table: dict[str, Capabilities],
) -> None:
    table["fake-1"] = Capabilities(prompt_caching="implicit")
    cached = [{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}]
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch)
        response = await orch.send_request(cached)
    expected = (
        "cache_control removed: tests.tool_provider:ScriptedProvider model 'fake-1' does not "
        "accept it (tests.tool_provider:ScriptedProvider caches prompts by itself, without "
        "breakpoints)"
    )
    assert response.warnings == [expected]


async def test_cache_control_to_a_model_without_a_cache_is_a_warning(
    table: dict[str, Capabilities],
) -> None:
    table["fake-1"] = Capabilities(prompt_caching="none")
    cached = [{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}]
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch)
        response = await orch.send_request(cached)
    assert len(response.warnings) == 1
    assert response.warnings[0].endswith("(the model has no prompt cache)")


async def test_a_forced_output_tool_sent_whole_in_its_start_event_streams_as_text(
    table: dict[str, Capabilities],
) -> None:
    """Gemini sends a whole call in one part: its arguments ride on the start event."""
    from llmorch.output import tool_events_as_text
    from llmorch.types import StreamEvent

    async def whole() -> Any:
        yield StreamEvent("tool_start", text='{"value": 1}', index=0, name=TOOL_NAME)
        yield StreamEvent("tool_end", index=0)
        yield StreamEvent("finish", finish_reason="tool_calls")

    out = [event async for event in tool_events_as_text(whole())]
    assert [(e.kind, e.text, e.finish_reason) for e in out] == [
        ("text", '{"value": 1}', None),
        ("finish", "", "stop"),
    ]


@pytest.mark.parametrize(
    ("facts", "reasoning"),
    [
        (Capabilities(structured_output="tool", forced_tool_choice=False), None),
        (Capabilities(structured_output="tool", forced_tool_choice_with_reasoning=False), "low"),
    ],
)
async def test_the_output_tool_is_not_forced_where_the_model_refuses_forcing(
    table: dict[str, Capabilities], facts: Capabilities, reasoning: str | None
) -> None:
    table["fake-1"] = facts
    call = ToolUse(TOOL_NAME, {"name": "a", "count": 1})
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, Reply("", tool_calls=[call]))
        response = await orch.send_request(ASK, response_format=Item, reasoning=reasoning)
    choice = adapter.requests[0].tool_choice
    assert choice is not None and choice.kind == "auto"
    assert response.parsed == Item(name="a", count=1)


@pytest.mark.parametrize("provider_type", ["openai", "anthropic", "gemini", "vertex", "bedrock"])
def test_no_codec_sends_a_native_format_for_a_tool_mode_plan(provider_type: str) -> None:
    """Mode ``tool`` is the shared code's: the forced tool carries the schema, nothing else."""
    import json as _json

    from llmorch.messages import validate_messages
    from llmorch.output import OutputPlan, validate_response_format
    from llmorch.providers import _anthropic_wire, _converse, _gemini_wire, _openai_wire
    from llmorch.request import ChatRequest

    encoders = {
        "openai": lambda r: _openai_wire.encode_request(r, False),
        "anthropic": _anthropic_wire.encode_request,
        "gemini": lambda r: _gemini_wire.encode_request(r, "gemini"),
        "vertex": lambda r: _gemini_wire.encode_request(r, "vertex"),
        "bedrock": _converse.encode_request,
    }

    model = {
        "openai": "gpt-5.4-mini",
        "anthropic": "claude-sonnet-4-5",
        "gemini": "gemini-2.5-flash",
        "vertex": "gemini-2.5-flash",
        "bedrock": "amazon.nova-pro-v1:0",
    }[provider_type]
    fmt = validate_response_format(Item)
    plan = OutputPlan("tool", "Item", {"type": "object", "properties": {}}, None, None, False)
    request = ChatRequest(validate_messages(ASK), model, response_format=fmt, output=plan)
    body = _json.dumps(encoders[provider_type](request))
    for native in ("response_format", "output_config", "responseJsonSchema", "outputConfig"):
        assert native not in body
