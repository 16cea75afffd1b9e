"""Anthropic tools and thinking: recorded payloads, the request mapping, and tool loops."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, Tool
from llmorch._sse import SSEDecoder
from llmorch.config import AnthropicConfig
from llmorch.events import (
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStarted,
    Usage,
)
from llmorch.exceptions import InvalidRequestError, StreamInterruptedError
from llmorch.providers.anthropic import AnthropicProvider, MessageStreamParser
from llmorch.streaming import StreamAccumulator
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from tests.adapters import send

FIXTURES = Path(__file__).parent.parent / "fixtures" / "anthropic"
URL = "https://api.anthropic.com/v1/messages"
ASK = [{"role": "user", "content": "weather in Paris and Lyon?"}]
STREAMS = sorted(p.name for p in FIXTURES.glob("*.sse"))
MESSAGES = ["message_text_and_tool_no_args.json", "message_thinking_tokens.json"]
MESSAGES += ["message_tool_use_live.json", "message_structured_output.json"]
MESSAGES.append("message_structured_output_nested.json")
WEATHER = Tool(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


@pytest.fixture
async def adapter() -> AsyncIterator[AnthropicProvider]:
    async with httpx.AsyncClient() as http:
        yield AnthropicProvider("anthropic", AnthropicConfig(api_key="sk-ant-secret"), http)


def expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def public(event: Event) -> list[Any]:
    """A public event as the ``[type, fields]`` pair the ``.expected.json`` files list."""
    if isinstance(event, (TextDelta, ReasoningDelta)):
        fields: dict[str, Any] = {"text": event.text}
    elif isinstance(event, ToolCallStarted):
        fields = {"index": event.index, "id": event.id, "name": event.name}
    elif isinstance(event, ToolCallDelta):
        fields = {"index": event.index, "id": event.id, "arguments_delta": event.arguments_delta}
    elif isinstance(event, ToolCallDone):
        fields = {"id": event.call.id, "name": event.call.name, "arguments": event.call.arguments}
    elif isinstance(event, Usage):
        fields = {"tokens": event.tokens}
    else:
        assert isinstance(event, Finish)
        fields = {"reason": event.reason}
    return [type(event).__name__, fields]


def calls(tool_calls: list[Any]) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in tool_calls]


def replay(
    adapter: AnthropicProvider, data: bytes, cut: int
) -> tuple[StreamAccumulator, list[Any]]:
    """Decode a recorded stream split at ``cut`` and fold it as ``stream.events()`` does."""
    decoder = SSEDecoder()
    parse = MessageStreamParser(adapter, "claude-x", "req-1")
    acc = StreamAccumulator()
    out: list[Any] = []
    for sse in decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.flush():
        for event in parse(sse):
            out += [public(e) for e in acc.translate(event)]
    assert parse.complete
    return acc, out


@pytest.mark.parametrize("name", STREAMS)
async def test_recorded_streams_parse_at_every_split(adapter: AnthropicProvider, name: str) -> None:
    """Each recorded stream gives its expected calls, reasoning and events, however split."""
    data = (FIXTURES / name).read_bytes()
    want = expected(name)
    for cut in range(len(data) + 1):
        acc, events = replay(adapter, data, cut)
        assert want["events"] == events, cut
    assert (want["text"], want["reasoning"], want["finish_reason"], want["tokens_used"]) == (
        acc.text,
        acc.reasoning,
        acc.finish_reason,
        acc.tokens,
    )
    assert want["tool_calls"] == calls(acc.tool_calls)
    items = [{"text": i.text, "signature": i.signature} for i in acc.reasoning_items]
    assert want.get("reasoning_items", []) == items


@pytest.mark.parametrize("name", MESSAGES)
async def test_recorded_answers_parse(adapter: AnthropicProvider, name: str) -> None:
    """Each recorded answer gives its text, calls, thinking, finish reason and tokens."""
    want = expected(name)
    with respx.mock() as mock:
        mock.post(URL).respond(200, json=json.loads((FIXTURES / name).read_text()))
        response = await send(adapter, ASK, "claude-x")
    assert (want["text"], want["reasoning"], want["finish_reason"], want["tokens_used"]) == (
        response.content,
        response.reasoning,
        response.finish_reason,
        response.tokens_used,
    )
    assert want["tool_calls"] == calls(response.tool_calls)
    items = [{"text": i.text, "signature": i.signature} for i in response.reasoning_items]
    assert want.get("reasoning_items", []) == items


async def test_recorded_400_for_an_orphan_tool_result(adapter: AnthropicProvider) -> None:
    """The live 400 is an InvalidRequestError with Anthropic's message and request id."""
    name = "error_400_tool_result_without_tool_use.json"
    want = expected(name)
    with respx.mock() as mock:
        mock.post(URL).respond(400, json=json.loads((FIXTURES / name).read_text()))
        with pytest.raises(InvalidRequestError) as info:
            await send(adapter, ASK, "claude-x")
    assert want["message"] in str(info.value)
    assert (400, want["request_id"]) == (info.value.status_code, info.value.request_id)


async def sent(adapter: AnthropicProvider, messages: Any, model: str, **call: Any) -> Any:
    """The body the adapter sends for a call."""
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=ANSWER)
        await send(adapter, messages, model, **call)
    return json.loads(route.calls[0].request.content)


async def test_tools_and_choices_are_mapped(adapter: AnthropicProvider) -> None:
    """Tools become input_schema tools; each tool_choice and the parallel switch map."""
    strict = Tool("lookup", "", {"type": "object", "properties": {"q": {"type": "object"}}}, True)
    body = await sent(adapter, ASK, "claude-x", tools=[WEATHER, strict])
    assert [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": dict(WEATHER.parameters),
        },
        {
            "name": "lookup",
            "input_schema": {
                "type": "object",
                "properties": {"q": {"type": "object", "additionalProperties": False}},
                "additionalProperties": False,
            },
            "strict": True,
        },
    ] == body["tools"]
    assert "tool_choice" not in body
    cases = [
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": "get_weather"}, {"type": "tool", "name": "get_weather"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
    ]
    for call, choice in cases:
        body = await sent(adapter, ASK, "claude-x", tools=[WEATHER], **call)
        assert choice == body["tool_choice"], call
    body = await sent(adapter, ASK, "claude-x", tools=[WEATHER], parallel_tool_calls=True)
    assert "tool_choice" not in body


def history(*reasoning: dict[str, Any]) -> list[dict[str, Any]]:
    """ASK, an assistant turn calling two tools (with ``reasoning``), both results, a follow-up."""
    assistant: dict[str, Any] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"toolu_{n}",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
            }
            for n, city in ((1, "Paris"), (2, "Lyon"))
        ],
    }
    if reasoning:
        assistant["reasoning"] = list(reasoning)
    return [
        *ASK,
        assistant,
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "rain"},
        {"role": "user", "content": "and tomorrow?"},
    ]


async def test_tool_turns_are_mapped(adapter: AnthropicProvider) -> None:
    """Calls become tool_use blocks; consecutive results and the next text form one user turn."""
    body = await sent(adapter, history(), "claude-x", tools=[WEATHER])
    assert [
        ASK[0],
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Lyon"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rain"},
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ] == body["messages"]


async def test_reasoning_items_go_back_only_to_claude_of_the_same_type(
    adapter: AnthropicProvider,
) -> None:
    """Thinking and redacted blocks lead the turn unchanged; others' items are dropped."""
    thought = {
        "text": "plan",
        "signature": "sig==",
        "provider_type": "anthropic",
        "model": "claude-a",
    }
    redacted = {
        "text": "opaque",
        "redacted": True,
        "provider_type": "anthropic",
        "model": "claude-a",
    }
    gemini = {"text": "", "signature": "g", "provider_type": "gemini", "model": "gemini-3"}
    vertex = {"text": "v", "signature": "s", "provider_type": "vertex", "model": "claude-a"}
    body = await sent(adapter, history(thought, redacted, gemini, vertex), "claude-b")
    blocks = body["messages"][1]["content"]
    assert [
        {"type": "thinking", "thinking": "plan", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
    ] == blocks[:2]
    assert ["tool_use", "tool_use"] == [b["type"] for b in blocks[2:]]


@pytest.mark.parametrize(
    ("model", "reasoning", "max_tokens", "thinking", "extra"),
    [
        (
            "claude-sonnet-5-5",
            "high",
            None,
            {"type": "adaptive"},
            {"output_config": {"effort": "high"}},
        ),
        (
            "claude-sonnet-5-5",
            "low",
            900,
            {"type": "adaptive"},
            {"output_config": {"effort": "low"}},
        ),
        ("claude-opus-4-5", "low", None, {"type": "enabled", "budget_tokens": 2048}, {}),
        (
            "claude-opus-4-5",
            {"budget_tokens": 3000},
            None,
            {"type": "enabled", "budget_tokens": 3000},
            {},
        ),
        (
            "claude-opus-4-1",
            {"budget_tokens": 30000},
            None,
            {"type": "enabled", "budget_tokens": 30000},
            {},
        ),
        (
            "claude-sonnet-5-5",
            {"budget_tokens": 2000},
            None,
            {"type": "enabled", "budget_tokens": 2000},
            {},
        ),
        ("claude-sonnet-5-5", "none", None, {"type": "disabled"}, {}),
    ],
)
async def test_reasoning_is_mapped_per_model(
    adapter: AnthropicProvider,
    model: str,
    reasoning: Any,
    max_tokens: int | None,
    thinking: dict[str, Any],
    extra: dict[str, Any],
) -> None:
    """Adaptive thinking + effort, or budget_tokens; max_tokens = budget + 4096 up to a ceiling."""
    body = await sent(adapter, ASK, model, max_tokens=max_tokens, reasoning=reasoning)
    assert thinking == body["thinking"]
    assert extra.get("output_config") == body.get("output_config")
    default = {
        "high": 24576 + 4096,
        "low": 2048 + 4096,
        3000: 3000 + 4096,
        30000: 32000,  # Opus 4.1's ceiling
        2000: 2000 + 4096,
        "none": 4096,
    }
    key = reasoning if isinstance(reasoning, str) else reasoning["budget_tokens"]
    assert (max_tokens or default[key]) == body["max_tokens"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"reasoning": {"budget_tokens": 500}}, "at least 1024"),
        ({"reasoning": {"budget_tokens": 2000}, "max_tokens": 2000}, "below max_tokens"),
        ({"reasoning": "low", "tools": [WEATHER], "tool_choice": "required"}, "forced tool"),
        ({"reasoning": "low", "temperature": 0.5}, "temperature=1"),
        ({"seed": 7}, "no seed"),
        ({"reasoning": {"budget_tokens": 64000}}, "output ceiling of 64000"),
    ],
)
async def test_refused_before_any_request(
    adapter: AnthropicProvider, call: dict[str, Any], message: str
) -> None:
    """What Anthropic would refuse is an InvalidRequestError before any network call."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(URL)
        with pytest.raises(InvalidRequestError, match=message):
            await send(adapter, ASK, "claude-opus-4-5", **call)
    assert not route.called


async def test_top_k_and_stop_are_sent(adapter: AnthropicProvider) -> None:
    """top_k goes as top_k, stop as stop_sequences."""
    body = await sent(adapter, ASK, "claude-x", top_k=5, stop="END")
    assert (5, ["END"]) == (body["top_k"], body["stop_sequences"])


# -- through the emulator -----------------------------------------------------------------------

CLAUDE = "claude-haiku-5-5"
PARALLEL = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_weather", {"city": "Lyon"}))


def orchestrator(emu: ProviderEmulator, dialect: str = "anthropic") -> AsyncLLMOrchestrator:
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": dialect,
            "active_model": CLAUDE,
            "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"enabled": False},
        }
    )
    return AsyncLLMOrchestrator(config)


def results(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}
        for call in message["tool_calls"]
    ]


def thinking_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for turn in body["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
        if block["type"] == "thinking"
    ]


@pytest.mark.parametrize("dialect", ["anthropic", "vertex"])
async def test_tool_loop_keeps_signatures_byte_identical(dialect: str) -> None:
    """Parallel calls with thinking on: the signed blocks go back exactly as they came."""
    with ProviderEmulator() as emu:
        emu.script(
            dialect,
            CLAUDE,
            Reply("", tool_calls=PARALLEL, reasoning="two cities"),
            Reply("Both sunny.", reasoning="done"),
        )
        async with orchestrator(emu, dialect) as orch:
            first = await orch.send_request(ASK, tools=[WEATHER], reasoning="low")
            assert "tool_calls" == first.finish_reason
            assert [{"city": "Paris"}, {"city": "Lyon"}] == [c.arguments for c in first.tool_calls]
            assert "two cities" == first.reasoning
            turns = [*ASK, first.message, *results(first.message)]
            final = await orch.send_request(turns, tools=[WEATHER], reasoning="low")
        assert ("Both sunny.", "stop") == (final.content, final.finish_reason)
        bodies = [r.body for r in emu.requests if r.method == "POST" and r.model == CLAUDE]
    answer = first.raw_response or {}
    assert [answer["content"][0]] == thinking_blocks(bodies[1])


async def test_streamed_tool_loop_events_and_signatures() -> None:
    """stream.events() gives each call's start, deltas and done; its thinking goes back signed."""
    with ProviderEmulator() as emu:
        emu.script(
            "anthropic",
            CLAUDE,
            Reply("Checking.", tool_calls=PARALLEL, reasoning="two cities"),
            Reply("Both sunny."),
        )
        async with orchestrator(emu) as orch:
            stream = orch.send_streaming_request(ASK, tools=[WEATHER], reasoning="high")
            kinds = [type(event).__name__ async for event in stream.events()]
            first = stream.response
            turns = [*ASK, first.message, *results(first.message)]
            final = await orch.send_request(turns, tools=[WEATHER], reasoning="high")
        bodies = [r.body for r in emu.requests if r.method == "POST"]
    assert ["ReasoningDelta", "TextDelta", "ToolCallStarted", "ToolCallDone"] == [
        k for k in dict.fromkeys(kinds) if k not in ("Usage", "ToolCallDelta", "Finish")
    ]
    assert 2 == kinds.count("ToolCallDone") and "Finish" == kinds[-1]
    assert [{"city": "Paris"}, {"city": "Lyon"}] == [c.arguments for c in first.tool_calls]
    item = first.reasoning_items[0]
    assert [{"type": "thinking", "thinking": "two cities", "signature": item.signature}] == (
        thinking_blocks(bodies[1])
    )
    assert "Both sunny." == final.content


async def test_stream_cut_mid_call_keeps_partial_calls() -> None:
    """A stream cut inside the second call raises with the first whole and the second partial."""
    with ProviderEmulator() as emu:
        emu.script("anthropic", CLAUDE, Fault.cut(after=1, tool_calls=PARALLEL))
        async with orchestrator(emu) as orch:
            stream = orch.send_streaming_request(ASK, tools=[WEATHER])
            with pytest.raises(StreamInterruptedError) as info:
                async for _ in stream.events():
                    pass
    whole, partial = info.value.partial_tool_calls
    assert ({"city": "Paris"}, None) == (whole.arguments, whole.error)
    assert partial.error and partial.arguments_json and not partial.arguments_json.endswith("}")


async def test_redacted_thinking_is_kept_opaque(adapter: AnthropicProvider) -> None:
    """A redacted block is a redacted item (no reasoning text), in answers and in streams."""
    content = [
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "thinking", "thinking": "visible", "signature": "s1"},
        {"type": "text", "text": "ok"},
    ]
    with respx.mock() as mock:
        mock.post(URL).respond(200, json={**ANSWER, "content": content})
        response = await send(adapter, ASK, "claude-x")
    assert "visible" == response.reasoning
    assert [("EmwKAhgB", None, True), ("visible", "s1", False)] == [
        (i.text, i.signature, i.redacted) for i in response.reasoning_items
    ]
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": content[0]},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    data = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
    acc, public_events = replay(adapter, data, len(data))
    assert [("EmwKAhgB", True)] == [(i.text, i.redacted) for i in acc.reasoning_items]
    assert (None, ["Usage", "Usage", "Finish"]) == (acc.reasoning, [e[0] for e in public_events])


async def test_manual_thinking_needs_the_last_tool_turn_thinking(
    adapter: AnthropicProvider,
) -> None:
    """With budget_tokens, a tool loop whose thinking was dropped fails before any request."""
    other = {"text": "t", "signature": "s", "provider_type": "vertex", "model": "claude-a"}
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(URL).respond(200, json=ANSWER)
        with pytest.raises(InvalidRequestError, match="thinking blocks of the last assistant"):
            await send(adapter, history(other)[:-1], "claude-opus-4-5", reasoning="low")
        assert not route.called
        mine = {**other, "provider_type": "anthropic"}
        await send(adapter, history(mine)[:-1], "claude-opus-4-5", reasoning="low")
        await send(adapter, history(other)[:-1], "claude-sonnet-5-5", reasoning="low")
    assert 2 == route.call_count  # adaptive thinking has no such rule
