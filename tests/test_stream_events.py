"""stream.events() and the shared accumulator: fragments merged once, for every vendor's shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmorch import (
    AsyncLLMOrchestrator,
    BaseLLMProvider,
    LLMResponse,
    ModelInfo,
    ProviderUnavailableError,
    StreamEvent,
    StreamInterruptedError,
)
from llmorch.events import (
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStarted,
    Usage,
)
from llmorch.messages import ReasoningItem
from llmorch.request import ChatRequest
from llmorch.streaming import StreamAccumulator
from llmorch.tools import ToolCall, is_generated_id
from llmorch.types import normalize_tokens

TOKENS = normalize_tokens(5, 7)


def ev(kind: str, **fields: Any) -> StreamEvent:
    return StreamEvent(kind, **fields)  # type: ignore[arg-type]


class ScriptedProvider(BaseLLMProvider):
    """Streams the events queued for each model; ``Exception`` items are raised there."""

    scripts: ClassVar[dict[str, list[Any]]] = {}

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        raise NotImplementedError

    async def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        for item in self.scripts[request.model]:
            if isinstance(item, Exception):
                raise item
            yield item

    async def get_available_models(self) -> list[ModelInfo]:
        return []


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "active_provider": "fake",
        "active_model": "m1",
        "providers": {
            "fake": {
                "type": "tests.test_stream_events:ScriptedProvider",
                "fallback_models": ["m2"],
                "max_retries": 0,
            }
        },
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "cost_tracking": {"enabled": True, "log_path": str(tmp_path / "ledger.jsonl")},
    }


# OpenAI-style: two parallel calls whose index fragments interleave, closed by the finish.
INTERLEAVED = [
    ev("start", request_id="req_1"),
    ev("tool_start", index=0, tool_id="call_a", name="get"),
    ev("tool_start", index=1, tool_id="call_b", name="put"),
    ev("tool_delta", index=0, text='{"city": '),
    ev("tool_delta", index=1, text='{"x"'),
    ev("tool_delta", index=0, text='"Paris"}'),
    ev("tool_delta", index=1, text=": 1}"),
    ev("finish", finish_reason="tool_calls"),
    ev("usage", tokens=TOKENS),
]
CALL_A = ToolCall("call_a", "get", {"city": "Paris"}, '{"city": "Paris"}')
CALL_B = ToolCall("call_b", "put", {"x": 1}, '{"x": 1}')


def fold(events: list[StreamEvent]) -> tuple[StreamAccumulator, list[Any]]:
    acc = StreamAccumulator()
    out: list[Any] = []
    for event in events:
        out += acc.translate(event)
    return acc, out


def test_interleaved_index_fragments_merge_per_call() -> None:
    """Parallel calls keyed by index merge independently and close at the finish, in order."""
    acc, out = fold(INTERLEAVED)
    assert out == [
        ToolCallStarted(0, "call_a", "get"),
        ToolCallStarted(1, "call_b", "put"),
        ToolCallDelta(0, "call_a", '{"city": '),
        ToolCallDelta(1, "call_b", '{"x"'),
        ToolCallDelta(0, "call_a", '"Paris"}'),
        ToolCallDelta(1, "call_b", ": 1}"),
        ToolCallDone(CALL_A),
        ToolCallDone(CALL_B),
        Finish("tool_calls"),
        Usage(TOKENS),
    ]
    assert acc.tool_calls == [CALL_A, CALL_B]
    assert acc.request_id == "req_1"


def test_block_style_calls_close_at_their_end_and_get_generated_ids() -> None:
    """Anthropic/Bedrock-style blocks close at tool_end; a call without an id gets call_<uuid4>;
    Gemini-style whole calls carry their arguments on the start; a STOP with calls is tool_calls."""
    acc, out = fold(
        [
            ev("text", text="Let me check."),
            ev("tool_start", index=1, tool_id="toolu_1", name="get"),
            ev("tool_delta", index=1, text='{"city":"Oslo"}'),
            ev("tool_end", index=1),
            ev("tool_start", index=2, name="put", text='{"x":2}', signature="sig-g"),
            ev("finish", finish_reason="stop"),
        ]
    )
    first, second = acc.tool_calls
    assert (first.id, first.arguments) == ("toolu_1", {"city": "Oslo"})
    assert is_generated_id(second.id) and second.arguments == {"x": 2}
    assert isinstance(out[3], ToolCallDone) and out[3].call == first
    assert acc.finish_reason == "tool_calls"
    assert acc.text == "Let me check."
    assert acc.reasoning_items == [ReasoningItem("", "sig-g", tool_call_id=second.id)]


def test_malformed_arguments_are_kept_raw() -> None:
    """A call whose joined fragments are not JSON is done with arguments {} and the raw text."""
    acc, _ = fold(
        [
            ev("tool_start", index=0, tool_id="c", name="t"),
            ev("tool_delta", index=0, text='{"a": tru'),
            ev("finish", finish_reason="tool_calls"),
        ]
    )
    (call,) = acc.tool_calls
    assert (call.arguments, call.arguments_json) == ({}, '{"a": tru')
    assert call.error


def test_reasoning_blocks_signatures_and_redactions() -> None:
    """Thinking deltas are ReasoningDelta; signatures attach to their block; redacted data is
    kept opaque and never shown as thinking text."""
    acc, out = fold(
        [
            ev("reasoning", index=0, text="First, "),
            ev("reasoning", index=0, text="think."),
            ev("reasoning", index=0, signature="sig-1"),
            ev("reasoning", index=1, text="opaque==", redacted=True),
            ev("text", text="Answer"),
            ev("finish", finish_reason="stop"),
        ]
    )
    assert out[:2] == [ReasoningDelta("First, "), ReasoningDelta("think.")]
    assert TextDelta("Answer") in out
    assert acc.reasoning == "First, think."
    assert acc.reasoning_items == [
        ReasoningItem("First, think.", "sig-1"),
        ReasoningItem("opaque==", None, True),
    ]


async def test_events_end_to_end_and_the_response(tmp_path: Path) -> None:
    """events() yields the typed sequence; stream.response has the calls; one ledger record."""
    ScriptedProvider.scripts = {"m1": INTERLEAVED}
    async with AsyncLLMOrchestrator(config(tmp_path)) as orch:
        stream = orch.send_streaming_request([{"role": "user", "content": "go"}])
        got = [e async for e in stream.events()]
        response = stream.response
    assert [type(e).__name__ for e in got].count("ToolCallDone") == 2
    assert got[-1] == Usage(TOKENS)
    assert response.tool_calls == [CALL_A, CALL_B]
    assert response.finish_reason == "tool_calls"
    assert response.message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [CALL_A.to_openai(), CALL_B.to_openai()],
    }
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["completion"] == 7


async def test_a_stream_has_one_consumer(tmp_path: Path) -> None:
    """Plain iteration after events() (or the reverse) raises RuntimeError."""
    ScriptedProvider.scripts = {"m1": [ev("text", text="a"), ev("text", text="b"), ev("finish")]}
    async with AsyncLLMOrchestrator(config(tmp_path)) as orch:
        stream = orch.send_streaming_request([{"role": "user", "content": "go"}])
        events = stream.events()
        assert await events.__anext__() == TextDelta("a")
        with pytest.raises(RuntimeError, match="one consumer"):
            await stream.__anext__()
        await stream.aclose()
        other = orch.send_streaming_request([{"role": "user", "content": "go"}])
        assert await other.__anext__() == "a"
        with pytest.raises(RuntimeError, match="one consumer"):
            other.events()
        await other.aclose()


async def test_fallback_happens_before_the_first_content_event(tmp_path: Path) -> None:
    """A model that fails after metadata but before content falls back; the text path too."""
    down = ProviderUnavailableError("down", provider="fake", model="m1")
    ScriptedProvider.scripts = {
        "m1": [ev("start", request_id="r1"), ev("usage", tokens=TOKENS), down],
        "m2": [ev("tool_start", index=0, tool_id="c", name="t"), ev("finish")],
    }
    async with AsyncLLMOrchestrator(config(tmp_path)) as orch:
        stream = orch.send_streaming_request([{"role": "user", "content": "go"}])
        events = [e async for e in stream.events()]
        assert stream.response.model == "m2"
        assert [m for m, _ in stream.response.attempts] == ["m1"]
        assert isinstance(events[0], ToolCallStarted)
        text_stream = orch.send_streaming_request([{"role": "user", "content": "go"}])
        assert [c async for c in text_stream] == []  # a tool-only answer has no text
        assert text_stream.response.tool_calls[0].name == "t"


async def test_a_cut_mid_call_carries_partial_tool_calls(tmp_path: Path) -> None:
    """No ToolCallDone for the unfinished call; the error carries every call begun."""
    cut = ProviderUnavailableError("reset", provider="fake", model="m1")
    ScriptedProvider.scripts = {
        "m1": [
            ev("text", text="Calling"),
            ev("tool_start", index=0, tool_id="c1", name="a"),
            ev("tool_delta", index=0, text="{}"),
            ev("tool_end", index=0),
            ev("tool_start", index=1, tool_id="c2", name="b"),
            ev("tool_delta", index=1, text='{"q": "hal'),
            cut,
        ]
    }
    seen: list[Any] = []
    async with AsyncLLMOrchestrator(config(tmp_path)) as orch:
        stream = orch.send_streaming_request([{"role": "user", "content": "go"}])
        with pytest.raises(StreamInterruptedError) as info:
            async for event in stream.events():
                seen.append(event)  # noqa: PERF401 - what arrived before the error is checked
    done = [e.call.id for e in seen if isinstance(e, ToolCallDone)]
    assert done == ["c1"]
    error = info.value
    assert error.partial_text == "Calling"
    assert [(c.id, c.arguments_json) for c in error.partial_tool_calls] == [
        ("c1", "{}"),
        ("c2", '{"q": "hal'),
    ]
    assert error.partial_tool_calls[1].error and not error.partial_tool_calls[0].error
    assert "1 tool call" not in str(error) and "2 tool calls" in str(error)
    record = json.loads((tmp_path / "ledger.jsonl").read_text().splitlines()[0])
    assert record["complete"] is False
