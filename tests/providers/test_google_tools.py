"""The Gemini codec on recorded payloads, its request mapping, and tool loops through the emulator.

Every fixture under ``tests/fixtures/google`` parses to its hand-written ``.expected.json``:
the text, the thinking, the tool calls (``id: null`` = no vendor id, so a generated one), the
finish reason, the usage, the reasoning items (signatures on the part they came on) and, for
streams, the public event sequence, whatever the byte boundaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from llmorch import (
    AsyncLLMOrchestrator,
    InvalidRequestError,
    OrchestratorConfig,
    StreamInterruptedError,
)
from llmorch._sse import SSEDecoder
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
from llmorch.messages import ReasoningItem
from llmorch.providers._gemini_stream import GeminiStreamParser
from llmorch.providers._gemini_wire import (
    SKIP_SIGNATURE,
    decode_response,
    encode_request,
    same_family,
)
from llmorch.streaming import StreamAccumulator
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.tools import is_generated_id
from llmorch.types import LLMResponse
from tests.adapters import typed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "google"
MODEL = "gemini-3.8-flash"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "description": "now"}},
]


class Adapter:
    """The error factory the codec needs, without an HTTP client."""

    name = "gemini"

    def make_error(self, status: Any, payload: Any, model: Any, *a: Any, **k: Any) -> Exception:
        raise AssertionError(f"unexpected error body {payload}")

    def content_filtered(self, message: str, *a: Any) -> Exception:
        raise AssertionError(message)

    def decode_event(self, data: str, model: str, request_id: str | None) -> Any:
        return json.loads(data)


def expected(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.expected.json").read_text()))


def check_calls(calls: list[Any], want: list[dict[str, Any]]) -> None:
    assert [(c["name"], c["arguments"]) for c in want] == [(c.name, c.arguments) for c in calls]
    for call, spec in zip(calls, want, strict=True):
        assert call.id == spec["id"] if spec["id"] else is_generated_id(call.id)
    assert len({c.id for c in calls}) == len(calls)


def check_items(items: list[ReasoningItem], calls: list[Any], want: list[dict[str, Any]]) -> None:
    assert [(i["text"], i["signature"]) for i in want] == [(i.text, i.signature) for i in items]
    ids = [None if i["tool_call_index"] is None else calls[i["tool_call_index"]].id for i in want]
    assert ids == [item.tool_call_id for item in items]


JSON_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json") if p.name.count(".") == 1)
JSON_FIXTURES = [n for n in JSON_FIXTURES if not n.startswith("error_")]
SSE_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.sse"))


@pytest.mark.parametrize("name", JSON_FIXTURES)
def test_recorded_answers_parse_to_their_expected_values(name: str) -> None:
    """Text, thoughts, calls, finish, usage and signatures of each recorded answer."""
    want = expected(name)
    data = json.loads((FIXTURES / name).read_text())
    response = decode_response(data, "gemini-x", Adapter(), None)  # type: ignore[arg-type]
    assert (want["text"], want["reasoning"], want["finish_reason"]) == (
        response.content,
        response.reasoning,
        response.finish_reason,
    )
    check_calls(response.tool_calls, want["tool_calls"])
    if want["usage"] is not None:
        assert want["usage"] == response.tokens_used
    check_items(response.reasoning_items, response.tool_calls, want["reasoning_items"])


def _public(event: Event) -> list[Any]:
    """An event as the expected files write it (generated ids as ``None``)."""
    if isinstance(event, (TextDelta, ReasoningDelta)):
        return [type(event).__name__, {"text": event.text}]
    if isinstance(event, ToolCallStarted):
        vendor = None if is_generated_id(event.id) else event.id
        return ["ToolCallStarted", {"index": event.index, "id": vendor, "name": event.name}]
    if isinstance(event, ToolCallDelta):
        return ["ToolCallDelta", {"index": event.index, "arguments_delta": event.arguments_delta}]
    if isinstance(event, ToolCallDone):
        call = event.call
        vendor = None if is_generated_id(call.id) else call.id
        index = -1  # the expected files number calls; the done event carries the call
        return [
            "ToolCallDone",
            {"index": index, "id": vendor, "name": call.name, "arguments": call.arguments},
        ]
    if isinstance(event, Usage):
        return ["Usage", dict(event.tokens)]
    assert isinstance(event, Finish)
    return ["Finish", {"reason": event.reason}]


def replay(data: bytes, cuts: tuple[int, ...] = ()) -> tuple[list[list[Any]], StreamAccumulator]:
    """Feed a recorded stream, split at ``cuts``, through the decoder, parser and accumulator."""
    decoder = SSEDecoder(bare_json=True)
    parser = GeminiStreamParser(Adapter(), "gemini-x", None)  # type: ignore[arg-type]
    acc = StreamAccumulator()
    events: list[Event] = []
    start = 0
    for cut in (*cuts, len(data)):
        for sse in decoder.feed(data[start:cut]):
            for event in parser(sse):
                events += acc.translate(event)
        start = cut
    for sse in decoder.flush():
        for event in parser(sse):
            events += acc.translate(event)
    return [_public(e) for e in events], acc


def _numbered(events: list[list[Any]]) -> list[list[Any]]:
    """Give each ToolCallDone the index of the call it closes (in start order)."""
    starts = [e[1]["index"] for e in events if e[0] == "ToolCallStarted"]
    done = iter(starts)
    return [
        ["ToolCallDone", {**e[1], "index": next(done)}] if e[0] == "ToolCallDone" else e
        for e in events
    ]


@pytest.mark.parametrize("name", SSE_FIXTURES)
def test_recorded_streams_give_the_expected_events_at_every_split(name: str) -> None:
    """The public events and the final state, for the stream whole and split at each byte."""
    want = expected(name)
    data = (FIXTURES / name).read_bytes()
    events, acc = replay(data)
    assert want["events"] == _numbered(events)
    assert (want["text"], want["reasoning"]) == (acc.text, acc.reasoning)
    check_calls(acc.tool_calls, want["tool_calls"])
    check_items(acc.reasoning_items, acc.tool_calls, want["reasoning_items"])
    for offset in range(1, len(data)):
        split, _ = replay(data, (offset,))
        assert want["events"] == _numbered(split), offset


# -- encoding ---------------------------------------------------------------------------------


def body(messages: Any, model: str = MODEL, provider_type: str = "gemini", **call: Any) -> Any:
    return encode_request(typed(messages, model, **call), provider_type)


def test_tools_go_as_json_schema_declarations_with_the_choice_as_a_mode() -> None:
    """parametersJsonSchema keeps additionalProperties; required/a name are ANY (+ the name)."""
    sent = body([{"role": "user", "content": "hi"}], tools=TOOLS)
    assert [
        {
            "functionDeclarations": [
                {"name": "get_weather", "parametersJsonSchema": WEATHER},
                {
                    "name": "get_time",
                    "description": "now",
                    "parametersJsonSchema": {"type": "object", "properties": {}},
                },
            ]
        }
    ] == sent["tools"]
    assert "toolConfig" not in sent
    modes = {
        "auto": {"mode": "AUTO"},
        "none": {"mode": "NONE"},
        "required": {"mode": "ANY"},
        "get_time": {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
    }
    for choice, calling in modes.items():
        chosen = body([{"role": "user", "content": "hi"}], tools=TOOLS, tool_choice=choice)
        assert {"functionCallingConfig": calling} == chosen["toolConfig"]


def test_parallel_switch_off_is_refused_before_any_call() -> None:
    """Gemini has no switch for parallel calls: False cannot be honoured; True needs nothing."""
    with pytest.raises(InvalidRequestError, match="no switch for parallel"):
        body([{"role": "user", "content": "hi"}], tools=TOOLS, parallel_tool_calls=False)
    assert "parallelToolCalls" not in body(
        [{"role": "user", "content": "hi"}], tools=TOOLS, parallel_tool_calls=True
    )


def _history(signature_from: str = "gemini", model: str = MODEL) -> list[dict[str, Any]]:
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "call_5f0e8a1c-6b55-4bd8-9c4c-1a5f3f0b9d11",
            "type": "function",
            "function": {"name": "get_time", "arguments": "{}"},
        },
    ]
    reasoning = [
        {"text": "thinking", "provider_type": signature_from, "model": model},
        {
            "text": "",
            "signature": "U0lH",
            "provider_type": signature_from,
            "model": model,
            "tool_call_id": "c1",
        },
    ]
    return [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "weather and time?"},
        {
            "role": "assistant",
            "content": "Let me check",
            "tool_calls": calls,
            "reasoning": reasoning,
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"},
        {"role": "user", "content": "thanks"},
    ]


def test_tool_turns_signatures_and_results() -> None:
    """The model turn keeps its signature on its call; results share one user turn by id.

    A generated call id is never sent (no functionCall.id / functionResponse.id for it).
    """
    sent = body(_history(), tools=TOOLS)
    assert {"parts": [{"text": "be brief"}]} == sent["systemInstruction"]
    user, model, results = sent["contents"]
    assert {"role": "user", "parts": [{"text": "weather and time?"}]} == user
    assert {
        "role": "model",
        "parts": [
            {"text": "Let me check"},
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"},
                "thoughtSignature": "U0lH",
            },
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
    } == model
    assert {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": "c1",
                    "name": "get_weather",
                    "response": {"output": "sunny"},
                }
            },
            {"functionResponse": {"name": "get_time", "response": {"output": "noon"}}},
            {"text": "thanks"},
        ],
    } == results


def test_state_from_another_provider_or_family_is_dropped_for_the_stand_in() -> None:
    """Another provider type's or generation's signature is not sent; Gemini 3 gets the stand-in."""
    for source, model in (("vertex", MODEL), ("gemini", "gemini-2.5-flash")):
        model_turn = body(_history(source, model), tools=TOOLS)["contents"][1]
        assert SKIP_SIGNATURE == model_turn["parts"][1]["thoughtSignature"]
    older = body(_history("anthropic"), model="gemini-2.5-flash", tools=TOOLS)["contents"][1]
    assert not any("thoughtSignature" in p for p in older["parts"])
    assert same_family("gemini-3.1-pro-preview", "gemini-3.8-flash")
    assert not same_family("gemini-2.5-flash", "gemini-3.8-flash")


def test_a_text_signature_goes_back_on_the_text_part() -> None:
    """A bare signature without a call rode on the answer's text part: it goes back there."""
    reasoning = [{"text": "", "signature": "VFhU", "provider_type": "gemini", "model": MODEL}]
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "answer", "reasoning": reasoning},
        {"role": "user", "content": "more"},
    ]
    model_turn = body(messages)["contents"][1]
    assert [{"text": "answer", "thoughtSignature": "VFhU"}] == model_turn["parts"]


REASONING = [
    (MODEL, "low", {"thinkingLevel": "LOW", "includeThoughts": True}),
    (MODEL, "high", {"thinkingLevel": "HIGH", "includeThoughts": True}),
    (MODEL, "none", {"thinkingLevel": "MINIMAL"}),
    ("gemini-3.1-pro-preview", "none", {"thinkingLevel": "LOW"}),
    ("gemini-2.5-flash", "medium", {"thinkingBudget": 8192, "includeThoughts": True}),
    ("gemini-2.5-flash", {"budget_tokens": 512}, {"thinkingBudget": 512, "includeThoughts": True}),
    ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
]


@pytest.mark.parametrize(("model", "reasoning", "config"), REASONING)
def test_reasoning_maps_to_levels_on_gemini_3_and_budgets_on_2_5(
    model: str, reasoning: Any, config: dict[str, Any]
) -> None:
    """thinkingLevel for Gemini 3, thinkingBudget for 2.5 (capability table), thoughts shown."""
    sent = body([{"role": "user", "content": "q"}], model=model, reasoning=reasoning)
    assert config == sent["generationConfig"]["thinkingConfig"]


def test_reasoning_the_model_cannot_take_is_refused() -> None:
    """A budget to a level model, or reasoning to a model that does not reason."""
    with pytest.raises(InvalidRequestError, match="takes a thinking level"):
        body([{"role": "user", "content": "q"}], reasoning={"budget_tokens": 100})
    with pytest.raises(InvalidRequestError, match="does not reason"):
        body([{"role": "user", "content": "q"}], model="gemini-2.0-flash", reasoning="low")
    plain = body([{"role": "user", "content": "q"}], model="gemini-2.0-flash", reasoning="none")
    assert "generationConfig" not in plain


# -- through the emulator ---------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def orch(emu: ProviderEmulator, dialect: str) -> AsyncLLMOrchestrator:
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": MODEL,
                "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
    )


def parallel() -> Reply:
    return Reply(
        tool_calls=(ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time")),
        reasoning="Two tools are needed",
    )


def results(response: LLMResponse) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": c.id, "content": f"{c.name} ok"}
        for c in response.tool_calls
    ]


@pytest.mark.parametrize("dialect", ["gemini", "vertex"])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_tool_loop_keeps_signatures_byte_identical(
    emu: ProviderEmulator, dialect: str, streamed: bool
) -> None:
    """Parallel calls with reasoning on, then results, then the answer: the signature goes back
    exactly as it came, on the call it came on; ids are the vendor's and echo in the results."""
    emu.script(dialect, MODEL, parallel(), "Sunny at noon")
    question = [{"role": "user", "content": "weather and time in Paris?"}]
    async with orch(emu, dialect) as o:
        if streamed:
            stream = o.send_streaming_request(question, tools=TOOLS, reasoning="low")
            kinds = [type(e).__name__ async for e in stream.events()]
            first = stream.response
            assert ["ReasoningDelta", "Usage", "ReasoningDelta", "ReasoningDelta"] == kinds[:4]
            assert 2 == kinds.count("ToolCallDone") and "Finish" == kinds[-1]
        else:
            first = await o.send_request(question, tools=TOOLS, reasoning="low")
        assert ("tool_calls", "Two tools are needed") == (first.finish_reason, first.reasoning)
        assert first.tokens_used["reasoning"] == 4
        history = [*question, first.message, *results(first)]
        final = await o.send_request(history, tools=TOOLS, reasoning="low")
    assert "Sunny at noon" == final.content
    sent = emu.requests[-1].body["contents"]
    signature = next(i for i in first.reasoning_items if i.tool_call_id == first.tool_calls[0].id)
    assert signature.signature == sent[1]["parts"][0]["thoughtSignature"]
    assert [c.id for c in first.tool_calls] == [
        p["functionResponse"]["id"] for p in sent[2]["parts"]
    ]
    assert not any(is_generated_id(c.id) for c in first.tool_calls)


async def test_a_stream_cut_mid_call_keeps_the_calls_received(emu: ProviderEmulator) -> None:
    """The cut comes inside the second call's event: the first call is done, no finish."""
    calls = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time", {"tz": "UTC"}))
    emu.script("gemini", MODEL, Fault.cut(after=1, text="Checking now", tool_calls=calls))
    async with orch(emu, "gemini") as o:
        stream = o.send_streaming_request([{"role": "user", "content": "q"}], tools=TOOLS)
        seen: list[Event] = []
        with pytest.raises(StreamInterruptedError) as info:
            async for event in stream.events():
                seen.append(event)  # noqa: PERF401 - the list must survive the raise
    assert "Checking" == info.value.partial_text
    assert [("get_weather", {"city": "Paris"})] == [
        (c.name, c.arguments) for c in info.value.partial_tool_calls
    ]
    assert not any(isinstance(e, Finish) for e in seen)
    assert 1 == sum(isinstance(e, ToolCallDone) for e in seen)


def test_forced_tool_choice_through_the_emulator(emu: ProviderEmulator) -> None:
    """tool_choice naming a tool: mode ANY + allowedFunctionNames; the model calls it."""

    async def run() -> LLMResponse:
        async with orch(emu, "gemini") as o:
            return await o.send_request(
                [{"role": "user", "content": "q"}], tools=TOOLS, tool_choice="get_weather"
            )

    response = anyio.run(run)
    assert [("get_weather", {"city": "x"})] == [(c.name, c.arguments) for c in response.tool_calls]


def test_thinking_budget_on_gemini_2_5_through_the_emulator(emu: ProviderEmulator) -> None:
    """reasoning='medium' on 2.5 is thinkingBudget 8192 with thoughts shown; they come back."""
    emu.script("gemini", "gemini-2.5-flash", Reply("Paris", reasoning="capital of France"))

    async def run() -> LLMResponse:
        async with orch(emu, "gemini") as o:
            return await o.send_request(
                [{"role": "user", "content": "capital?"}],
                model="gemini-2.5-flash",
                reasoning="medium",
            )

    response = anyio.run(run)
    assert ("Paris", "capital of France") == (response.content, response.reasoning)
    assert {"thinkingBudget": 8192, "includeThoughts": True} == emu.requests[-1].body[
        "generationConfig"
    ]["thinkingConfig"]


def test_a_history_from_another_provider_is_accepted_by_gemini_3(emu: ProviderEmulator) -> None:
    """Calls another vendor made (its ids, its reasoning) go to Gemini 3 with the stand-in."""
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_Xy12",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
            "reasoning": [
                {
                    "text": "hm",
                    "signature": "c2ln",
                    "provider_type": "anthropic",
                    "model": "claude-x",
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_Xy12", "content": "cold"},
    ]
    emu.script("gemini", MODEL, "It is cold in Oslo")

    async def run() -> LLMResponse:
        async with orch(emu, "gemini") as o:
            return await o.send_request(history, tools=TOOLS)

    assert "It is cold in Oslo" == anyio.run(run).content
    model_turn = emu.requests[-1].body["contents"][1]["parts"]
    assert [SKIP_SIGNATURE] == [p["thoughtSignature"] for p in model_turn]
