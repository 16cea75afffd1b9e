"""The OpenAI codec on tools and reasoning: recorded payloads, request mapping, the emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, Tool
from llmorch._sse import SSEDecoder
from llmorch.config import OpenAIConfig
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
from llmorch.providers.openai import (
    ChunkParser,
    OpenAIProvider,
    classify_error,
    decode_response,
    encode_request,
    same_family,
    strict_schema,
)
from llmorch.streaming import StreamAccumulator
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.tools import generated_id
from tests.adapters import send, typed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
USER = [{"role": "user", "content": "weather in Paris and the time"}]
ANSWERS = sorted(
    p.name for p in FIXTURES.glob("chat_completion_*.json") if not p.name.endswith(".expected.json")
)
STREAMS = sorted(p.name for p in FIXTURES.glob("*.sse"))
ERRORS = sorted(p.name for p in FIXTURES.glob("error_*.json") if "expected" not in p.name)


def expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def public(event: Event) -> list[Any]:
    """A public event as the ``[type, fields]`` pair the ``.expected.json`` files write."""
    if isinstance(event, (TextDelta, ReasoningDelta)):
        return [type(event).__name__, {"text": event.text}]
    if isinstance(event, ToolCallStarted):
        return ["ToolCallStarted", {"index": event.index, "id": event.id, "name": event.name}]
    if isinstance(event, ToolCallDelta):
        fields = {"index": event.index, "id": event.id, "arguments_delta": event.arguments_delta}
        return ["ToolCallDelta", fields]
    if isinstance(event, ToolCallDone):
        call = event.call
        return ["ToolCallDone", {"id": call.id, "name": call.name, "arguments": call.arguments}]
    if isinstance(event, Usage):
        return ["Usage", {"tokens": event.tokens}]
    assert isinstance(event, Finish)
    return ["Finish", {"reason": event.reason}]


@pytest.fixture
async def adapter() -> AsyncIterator[OpenAIProvider]:
    async with httpx.AsyncClient() as http:
        yield OpenAIProvider("openai", OpenAIConfig(api_key="sk-test"), http)


def replay(adapter: OpenAIProvider, pieces: list[bytes]) -> tuple[list[Any], StreamAccumulator]:
    """Feed the body in pieces through the SSE decoder, the parser and the accumulator."""
    decoder, parse, acc = SSEDecoder(), ChunkParser(adapter, "m", "req"), StreamAccumulator()
    events: list[Any] = []
    for piece in pieces:
        for sse in decoder.feed(piece):
            events += [public(e) for event in parse(sse) for e in acc.translate(event)]
    for sse in decoder.flush():
        events += [public(e) for event in parse(sse) for e in acc.translate(event)]
    assert parse.complete
    return events, acc


@pytest.mark.parametrize("name", ANSWERS)
def test_recorded_answer_parses_to_its_expected(name: str) -> None:
    """Text, reasoning, tool calls, finish reason and tokens, as written by hand for each file."""
    want = expected(name)
    response = decode_response(
        json.loads((FIXTURES / name).read_text()), provider="openai", model="m", request_id="r"
    )
    assert want["text"] == response.content
    assert want["reasoning"] == response.reasoning
    assert want["tool_calls"] == [
        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
    ]
    assert all(c.error is None for c in response.tool_calls)
    assert (want["finish_reason"], want["tokens"]) == (
        response.finish_reason,
        response.tokens_used,
    )


@pytest.mark.parametrize("name", STREAMS)
async def test_recorded_stream_gives_its_expected_events(
    adapter: OpenAIProvider, name: str
) -> None:
    """The public event sequence and the folded answer are the hand-written ones."""
    want = expected(name)
    events, acc = replay(adapter, [(FIXTURES / name).read_bytes()])
    assert want["events"] == events
    assert (want["text"], want["reasoning"], want["finish_reason"], want["tokens"]) == (
        acc.text,
        acc.reasoning,
        acc.finish_reason,
        acc.tokens,
    )
    assert want["tool_calls"] == [
        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in acc.tool_calls
    ]


@pytest.mark.parametrize("name", STREAMS)
async def test_recorded_stream_survives_every_split(adapter: OpenAIProvider, name: str) -> None:
    """Re-split at every byte offset, each stream still gives exactly its events."""
    data = (FIXTURES / name).read_bytes()
    want = expected(name)["events"]
    for cut in range(len(data) + 1):
        events, _ = replay(adapter, [data[:cut], data[cut:]])
        assert want == events, cut


@pytest.mark.parametrize("name", ERRORS)
def test_recorded_error_body_classifies(name: str) -> None:
    """Each recorded 400 becomes the llmorch error class, with OpenAI's message."""
    want = expected(name)
    cls, message, retryable = classify_error(
        want["status"], json.loads((FIXTURES / name).read_text())
    )
    assert (want["error"], want["message"], None) == (cls.__name__, message, retryable)


def body(model: str = "gpt-5.4", *, stream: bool = False, **call: Any) -> dict[str, Any]:
    messages = call.pop("messages", USER)
    return encode_request(typed(messages, model, **call), stream=stream)


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_tools_choice_and_parallel_switch_are_sent_as_openai_defines_them() -> None:
    """tools, every tool_choice form and parallel_tool_calls keep OpenAI's shapes."""
    sent = body(tools=[WEATHER], tool_choice="get_weather", parallel_tool_calls=False)
    assert [WEATHER] == sent["tools"]
    assert {"type": "function", "function": {"name": "get_weather"}} == sent["tool_choice"]
    assert sent["parallel_tool_calls"] is False
    for choice in ("auto", "none", "required"):
        assert choice == body(tools=[WEATHER], tool_choice=choice)["tool_choice"]
    assert {"model", "messages", "tools"} == set(body(tools=[WEATHER]))


def test_strict_tools_get_a_strict_schema() -> None:
    """strict=True: additionalProperties false everywhere, every key required, optional nullable."""
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "when": {"type": "object", "properties": {"day": {"type": "integer"}}},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
        },
        "required": ["city"],
        "$defs": {"Tag": {"type": "object", "properties": {"v": {"anyOf": [{"type": "string"}]}}}},
    }
    sent = body(tools=[Tool("f", parameters=schema, strict=True)])["tools"][0]["function"]
    assert sent["strict"] is True
    assert {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "when": {
                "type": ["object", "null"],
                "properties": {"day": {"type": ["integer", "null"]}},
                "additionalProperties": False,
                "required": ["day"],
            },
            "tags": {"type": ["array", "null"], "items": {"$ref": "#/$defs/Tag"}},
        },
        "required": ["city", "when", "tags"],
        "additionalProperties": False,
        "$defs": {
            "Tag": {
                "type": "object",
                "properties": {"v": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                "additionalProperties": False,
                "required": ["v"],
            }
        },
    } == sent["parameters"]
    assert "additionalProperties" not in schema  # the caller's schema is untouched
    assert strict_schema(sent["parameters"]) == sent["parameters"]  # idempotent


def test_tool_turns_are_sent_with_ids_openai_takes() -> None:
    """Assistant calls and tool results pair up; ids over 40 characters are shortened alike."""
    generated, foreign = generated_id(), "x" * 64
    calls = [
        {"id": i, "type": "function", "function": {"name": "get_weather", "arguments": a}}
        for i, a in ((generated, '{"city":"Paris"}'), (foreign, ""), ("call_ok", "{not json"))
    ]
    history = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in calls),
        {
            "role": "developer",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
    ]
    sent = body(messages=history)["messages"]
    assistant, results = sent[1], sent[2:5]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert ids == [r["tool_call_id"] for r in results]
    assert [generated.replace("-", ""), "call_ok"] == [ids[0], ids[2]]
    assert all(len(i) <= 40 for i in ids) and ids[1] != foreign
    assert ['{"city":"Paris"}', "{}", "{not json"] == [
        c["function"]["arguments"] for c in assistant["tool_calls"]
    ]
    assert (None, "sunny") == (assistant["content"], results[0]["content"])
    assert {
        "role": "developer",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
    } == sent[5]


@pytest.mark.parametrize(
    ("model", "reasoning", "effort"),
    [
        ("gpt-5.4", "high", "high"),
        ("gpt-5.4", "none", "none"),
        ("gpt-5", "none", "minimal"),  # gpt-5 always reasons: its least is minimal
        ("o3", "none", "low"),  # the o-series: low
        ("gpt-5.4", {"budget_tokens": 1000}, "low"),
        ("gpt-5.4", {"budget_tokens": 8000}, "medium"),
        ("gpt-5.4", {"budget_tokens": 32000}, "high"),
        ("gpt-5.4", {"budget_tokens": 0}, "none"),
        ("my-local-model", "medium", "medium"),  # unknown is never refused
        ("gpt-4o", "none", None),  # nothing to turn off
    ],
)
def test_reasoning_maps_to_reasoning_effort_per_model(
    model: str, reasoning: Any, effort: str | None
) -> None:
    """reasoning= becomes reasoning_effort, the value each model family takes."""
    assert effort == body(model, reasoning=reasoning).get("reasoning_effort")


@pytest.mark.parametrize(
    ("model", "call", "words"),
    [
        ("gpt-4o", {"reasoning": "high"}, "does not reason"),
        ("gpt-5-chat-latest", {"reasoning": "low"}, "does not reason"),
        ("o3-pro", {}, "Responses API"),
        ("gpt-5-pro-2025-10-06", {}, "Responses API"),
        ("gpt-5.4", {"top_k": 5}, "no top_k"),
        ("gpt-5.4", {"stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
    ],
)
async def test_what_openai_cannot_take_is_refused_before_any_call(
    adapter: OpenAIProvider, model: str, call: dict[str, Any], words: str
) -> None:
    """A specific InvalidRequestError, and nothing sent."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post("https://api.openai.com/v1/chat/completions")
        with pytest.raises(InvalidRequestError, match=words):
            await send(adapter, USER, model, **call)
    assert not route.called


def test_sampling_and_stream_fields() -> None:
    """seed and stops go as OpenAI names them; a stream always asks for usage."""
    sent = body(seed=7, stop=["END"], stream=True, max_tokens=9, top_p=0.5, temperature=1)
    assert (7, ["END"], True, {"include_usage": True}) == (
        sent["seed"],
        sent["stop"],
        sent["stream"],
        sent["stream_options"],
    )
    assert (9, 0.5, 1) == (sent["max_completion_tokens"], sent["top_p"], sent["temperature"])


def test_reasoning_state_goes_back_only_to_its_own_family() -> None:
    """A compatible server's reasoning_content returns to the same provider type and family."""

    def turn(provider_type: str, model: str) -> list[dict[str, Any]]:
        item = {"text": "think", "provider_type": provider_type, "model": model}
        return [*USER, {"role": "assistant", "content": "hi", "reasoning": [item]}, *USER]

    sent = body("deepseek-reasoner", messages=turn("openai", "deepseek-reasoner"))
    assert "think" == sent["messages"][1]["reasoning_content"]
    for provider_type, model in (("openai", "deepseek-chat"), ("anthropic", "deepseek-reasoner")):
        sent = body("deepseek-reasoner", messages=turn(provider_type, model))
        assert {"role": "assistant", "content": "hi"} == sent["messages"][1]
    assert same_family("gpt-5.4-2026-03-05", "gpt-5.4") and not same_family("gpt-5.4", "gpt-5")


def test_plain_text_body_is_unchanged() -> None:
    """The text path sends what it always sent: model and messages only."""
    history = [{"role": "system", "content": "s"}, *USER, {"role": "assistant", "content": "a"}]
    assert {"model": "gpt-5.4", "messages": history} == body(messages=history)


# --- through the emulator -------------------------------------------------------------------

MODEL = "gpt-5.4-mini"
CALLS = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time", {"tz": "CET"}))
TOOLS = [WEATHER, {"type": "function", "function": {"name": "get_time"}}]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def orchestrator(emu: ProviderEmulator, tmp_path: Path) -> AsyncLLMOrchestrator:
    config = {
        "active_provider": "openai",
        "active_model": MODEL,
        "providers": {"openai": emu.config_for("openai") | {"fallback_models": []}},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "cost_tracking": {"log_path": str(tmp_path / "ledger.jsonl")},
    }
    return AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config))


def results(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": c["id"], "content": f"{c['function']['name']} ok"}
        for c in message["tool_calls"]
    ]


@pytest.mark.parametrize("streamed", [False, True])
async def test_tool_loop_with_parallel_calls_and_reasoning(
    emu: ProviderEmulator, tmp_path: Path, streamed: bool
) -> None:
    """Two turns: parallel calls (reasoning counted, never text), results back, the answer.

    OpenAI's Chat Completions carries no reasoning state, so nothing of it goes back: the
    second request is the history exactly as llmorch's messages hold it.
    """
    emu.script(
        "openai",
        MODEL,
        Reply(tool_calls=CALLS, reasoning="compare the two tools"),
        Reply("Sunny at noon.", reasoning="done"),
    )
    async with orchestrator(emu, tmp_path) as orch:
        history: list[dict[str, Any]] = list(USER)
        for turn in range(2):
            call = {"tools": TOOLS, "reasoning": "high", "parallel_tool_calls": True}
            if streamed:
                stream = orch.send_streaming_request(history, **call)
                events = [e async for e in stream.events()]
                response = stream.response
                assert isinstance(events[-1], Finish)
            else:
                response = await orch.send_request(history, **call)
            if turn == 0:
                assert ["get_weather", "get_time"] == [c.name for c in response.tool_calls]
                assert {"city": "Paris"} == response.tool_calls[0].arguments
                assert ("tool_calls", 4) == (
                    response.finish_reason,
                    response.tokens_used["reasoning"],
                )
                assert "reasoning" not in response.message
                history += [response.message, *results(response.message)]
    assert ("Sunny at noon.", 1) == (response.content, response.tokens_used["reasoning"])
    first, second = (r.body for r in emu.requests[-2:])
    assert "high" == first["reasoning_effort"] == second["reasoning_effort"]
    assistant = second["messages"][1]
    assert ("assistant", None) == (assistant["role"], assistant["content"])
    assert {"role", "content", "tool_calls"} == set(assistant)
    assert [(c.name, c.arguments_json) for c in CALLS] == [
        (c["function"]["name"], c["function"]["arguments"]) for c in assistant["tool_calls"]
    ]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert ids == [m["tool_call_id"] for m in second["messages"][2:4]]


async def test_stream_cut_mid_call_keeps_the_partial_calls(
    emu: ProviderEmulator, tmp_path: Path
) -> None:
    """StreamInterruptedError carries both calls as received; neither is Done.

    OpenAI ends no call before the finish chunk (compatible servers may interleave indexes),
    so a call whose arguments happen to be whole is still unfinished when the body breaks.
    """
    long_args = {"city": "Reykjavik", "note": "long enough to be cut in half"}
    emu.script(
        "openai",
        MODEL,
        Fault.cut(2, "Let me", tool_calls=(CALLS[1], ToolUse("get_weather", long_args))),
    )
    async with orchestrator(emu, tmp_path) as orch:
        stream = orch.send_streaming_request(USER, tools=TOOLS)
        seen: list[Event] = []
        with pytest.raises(StreamInterruptedError) as info:
            async for event in stream.events():
                seen.append(event)  # noqa: PERF401 - what arrived before the error
    error = info.value
    assert "Let me" == error.partial_text
    whole, cut = error.partial_tool_calls
    assert ("get_time", {"tz": "CET"}) == (whole.name, whole.arguments)
    assert "get_weather" == cut.name and {} == cut.arguments
    assert whole.error and cut.error and "before this call was complete" in cut.error
    assert json.dumps(long_args, separators=(",", ":")).startswith(cut.arguments_json)
    assert 0 < len(cut.arguments_json) < len(json.dumps(long_args, separators=(",", ":")))
    assert [] == [e for e in seen if isinstance(e, ToolCallDone)]
    assert [0, 1] == [e.index for e in seen if isinstance(e, ToolCallStarted)]


async def test_a_finish_without_usage_or_done_still_arrives(adapter: OpenAIProvider) -> None:
    """A compatible server that ends the body after the finish chunk: the finish is not lost."""
    data = (
        b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    )
    with respx.mock() as mock:
        mock.post("https://api.openai.com/v1/chat/completions").respond(
            200, content=data, headers={"content-type": "text/event-stream"}
        )
        kinds = [
            (e.kind, e.finish_reason)
            async for e in adapter.send_streaming_request(typed(USER, "m"))
        ]
    assert [("start", None), ("text", None), ("finish", "stop")] == kinds
