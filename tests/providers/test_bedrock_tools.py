"""Bedrock tools and reasoning: the recorded fixtures, the codec's mappings and the loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, StreamInterruptedError
from llmorch import events as ev
from llmorch.config import BedrockConfig
from llmorch.exceptions import InvalidRequestError, ProviderUnavailableError
from llmorch.providers._converse import (
    decode_response,
    encode_request,
    reasoning_text,
    same_family,
)
from llmorch.providers.bedrock import BedrockProvider, decode_event_stream
from llmorch.streaming import StreamAccumulator
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.tools import Tool
from tests.adapters import typed
from tests.conftest import chunks

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bedrock"
STREAMS = sorted(p.name for p in FIXTURES.glob("*.bin"))
ANSWERS = sorted(p.name for p in FIXTURES.glob("converse_*.json") if ".expected" not in p.name)
ERRORS = sorted(p.name for p in FIXTURES.glob("error_*.json") if ".expected" not in p.name)


def expected(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8")))


def test_every_fixture_has_its_source_and_expected_parse() -> None:
    """Each payload has a .source sidecar and a hand-written .expected.json."""
    names = [*STREAMS, *ANSWERS, *ERRORS]
    assert 30 == len(names)
    for name in names:
        assert (FIXTURES / f"{name}.source").read_text(encoding="utf-8").startswith("Repo: ")
        assert expected(name)


@pytest.mark.parametrize("name", STREAMS)
def test_botocore_reads_every_stream_fixture(name: str) -> None:
    """botocore's own EventStream parser, with the bedrock-runtime ConverseStream output shape,
    reads every frame of each fixture; what it yields agrees with the hand-written parse
    (text, tool inputs, stop reason), an independent check of both. The one hand-made stream
    with an empty ``contentBlockStart.start`` is refused by botocore's parser (a union needs one
    member), so Bedrock never sends it; llmorch tolerates it."""
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.exceptions import EventStreamError
    from botocore.parsers import EventStreamJSONParser, ResponseParserError

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("ConverseStream").output_shape.members["stream"]
    want = expected(name)
    body = (FIXTURES / name).read_bytes()

    class Raw:  # what EventStream reads: an object whose stream() yields the body's chunks
        def stream(self) -> list[bytes]:
            return [body]

    stream = EventStream(Raw(), shape, EventStreamJSONParser(), "ConverseStream")
    if name == "converse_stream_tool_no_args.bin":  # hand-made: an empty ``start`` union
        with pytest.raises(ResponseParserError, match="ContentBlockStart must have one"):
            list(stream)
        return
    if "error" in want:
        with pytest.raises(EventStreamError, match=want["error"]["code"]):
            list(stream)
        return
    events = list(stream)
    text = "".join(
        e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e
    )
    inputs: dict[int, str] = {}
    for event in events:
        delta = event.get("contentBlockDelta", {})
        if "toolUse" in delta.get("delta", {}):
            index = delta["contentBlockIndex"]
            inputs[index] = inputs.get(index, "") + delta["delta"]["toolUse"]["input"]
    stop = next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e)
    assert want["text"] == text
    assert [c["arguments"] for c in want["tool_calls"]] == [
        json.loads(v) if v else {} for _, v in sorted(inputs.items())
    ]
    assert want["finish_reason"] == {"end_turn": "stop", "tool_use": "tool_calls"}[stop]


# -- the codec on the recorded payloads ------------------------------------------------------


MODEL = "us.anthropic.claude-sonnet-4-6"
DECODER = BedrockProvider(
    "bedrock",
    BedrockConfig(region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s"),
    None,  # type: ignore[arg-type]
)


def public(event: ev.Event) -> list[Any]:
    """A public event as the expected files write it: ``[type, fields]``."""
    if isinstance(event, ev.ToolCallDone):
        call = event.call
        return ["ToolCallDone", {"id": call.id, "name": call.name, "arguments": call.arguments}]
    if isinstance(event, ev.ToolCallDelta):
        fields = {"index": event.index, "id": event.id, "arguments_delta": event.arguments_delta}
        return ["ToolCallDelta", fields]
    if isinstance(event, ev.ToolCallStarted):
        return ["ToolCallStarted", {"index": event.index, "id": event.id, "name": event.name}]
    if isinstance(event, ev.Usage):
        return ["Usage", {"tokens": event.tokens}]
    if isinstance(event, ev.Finish):
        return ["Finish", {"reason": event.reason}]
    return [type(event).__name__, {"text": event.text}]


async def fold(data: bytes, *cuts: int) -> tuple[StreamAccumulator, list[list[Any]]]:
    acc = StreamAccumulator()
    out: list[list[Any]] = []
    async for event in decode_event_stream(chunks(data, *cuts), DECODER, MODEL, "rid"):
        out += [public(e) for e in acc.translate(event)]
    return acc, out


def check(acc: StreamAccumulator, events: list[list[Any]], want: dict[str, Any]) -> None:
    assert want["events"] == events
    assert want["text"] == acc.text
    assert want["reasoning"] == acc.reasoning
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in acc.tool_calls]
    assert want["tool_calls"] == calls
    assert all(c.error is None for c in acc.tool_calls)
    items = [
        {k: v for k, v in i.to_dict().items() if k in ("text", "signature", "redacted")}
        for i in acc.reasoning_items
    ]
    assert want["reasoning_items"] == items
    assert (want["finish_reason"], want["tokens"]) == (acc.finish_reason, acc.tokens)


@pytest.mark.parametrize("name", [n for n in STREAMS if "error" not in expected(n)])
async def test_stream_fixture_parses_to_its_expected_events(name: str) -> None:
    """Each recorded stream gives exactly the hand-written public events, text, reasoning
    (signatures and redacted data kept), tool calls, finish and usage, split at every byte."""
    data = (FIXTURES / name).read_bytes()
    want = expected(name)
    for cut in range(len(data) + 1):
        acc, events = await fold(data, cut)
        check(acc, events, want)
    acc, events = await fold(data, *range(1, len(data)))
    check(acc, events, want)


async def test_stream_exception_frame_is_mapped() -> None:
    """The recorded modelStreamErrorException frame raises its mapped error at every split."""
    data = (FIXTURES / "converse_stream_model_error.bin").read_bytes()
    want = expected("converse_stream_model_error.bin")["error"]
    for cut in range(len(data) + 1):
        with pytest.raises(ProviderUnavailableError) as info:
            await fold(data, cut)
        assert f"{want['code']}: {want['message']}" == info.value.message
        assert info.value.is_retryable


@pytest.mark.parametrize("name", ANSWERS)
def test_answer_fixture_parses_to_its_expected_calls(name: str) -> None:
    """Each recorded Converse answer gives the hand-written text, calls, reasoning and usage."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    want = expected(name)
    text, finish, tokens, calls, items = decode_response(data)
    assert (want["text"], want["finish_reason"], want["tokens"]) == (text, finish, tokens)
    assert want["tool_calls"] == [
        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls
    ]
    assert all(c.error is None for c in calls)
    assert want["reasoning"] == reasoning_text(items)
    assert want["reasoning_items"] == [
        {k: v for k, v in i.to_dict().items() if k in ("text", "signature", "redacted")}
        for i in items
    ]


@pytest.mark.parametrize("name", ERRORS)
def test_error_fixture_is_classified(name: str) -> None:
    """Each live 400 body maps to its expected class with the vendor's message kept."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    body, headers = data.get("body", data), data.get("headers", {})
    want = expected(name)
    code = headers.get("x-amzn-errortype", "ValidationException").split(":")[0]
    error = DECODER.make_error(want["status"], code, body, MODEL, headers)
    assert want["class"] == type(error).__name__
    assert f"{want['code']}: {want['message']}" == error.message


# -- encode: each mapping --------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather for a city",
        "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLOCK = Tool("clock", parameters={"type": "object", "properties": {}}, strict=True)
ASK = [{"role": "user", "content": "weather in Paris and the time?"}]
CALLS = {
    "role": "assistant",
    "content": "Checking.",
    "tool_calls": [
        {
            "id": "tooluse_a",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "tooluse_b", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
    ],
}
RESULTS = [
    {"role": "tool", "tool_call_id": "tooluse_a", "content": "sunny"},
    {"role": "tool", "tool_call_id": "tooluse_b", "content": "noon"},
]
HISTORY = [*ASK, CALLS, *RESULTS]


def body(messages: Any = ASK, model: str = MODEL, **call: Any) -> dict[str, Any]:
    return encode_request(typed(messages, model, **call))


def test_tools_and_choice() -> None:
    """Tools become toolSpecs (schema under inputSchema.json with type object, strict kept);
    tool_choice auto/required/a name become auto/any/tool."""
    config = body(tools=[WEATHER, CLOCK])["toolConfig"]
    assert [
        {
            "toolSpec": {
                "name": "weather",
                "description": "Weather for a city",
                "inputSchema": {
                    "json": {
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "type": "object",
                    }
                },
            }
        },
        {
            "toolSpec": {
                "name": "clock",
                "inputSchema": {"json": {"type": "object", "properties": {}}},
                "strict": True,
            }
        },
    ] == config["tools"]
    assert "toolChoice" not in config
    choices = [
        body(tools=[WEATHER, CLOCK], tool_choice=c)["toolConfig"]["toolChoice"]
        for c in ("auto", "required", "clock")
    ]
    assert [{"auto": {}}, {"any": {}}, {"tool": {"name": "clock"}}] == choices


def test_choice_none_and_a_tool_history_without_tools() -> None:
    """tool_choice none sends no tools; a history with tool blocks still needs a toolConfig
    (Bedrock refuses one without), so its tools are declared with an empty object schema."""
    assert "toolConfig" not in body(tools=[WEATHER], tool_choice="none")
    stub = {"type": "object", "properties": {}}
    expected_tools = [
        {"toolSpec": {"name": "weather", "inputSchema": {"json": stub}}},
        {"toolSpec": {"name": "clock", "inputSchema": {"json": stub}}},
    ]
    assert expected_tools == body(HISTORY)["toolConfig"]["tools"]
    assert (
        expected_tools == body(HISTORY, tools=[WEATHER], tool_choice="none")["toolConfig"]["tools"]
    )


def test_parallel_switch() -> None:
    """Converse has no parallel switch: False is refused before any call, True sends nothing."""
    with pytest.raises(InvalidRequestError, match="no switch for parallel tool calls"):
        body(tools=[WEATHER], parallel_tool_calls=False)
    assert {"tools"} == set(body(tools=[WEATHER], parallel_tool_calls=True)["toolConfig"])


def test_calls_and_results_in_turns() -> None:
    """The assistant turn carries its text then toolUse blocks (input objects); consecutive tool
    results are one user turn of toolResult blocks in order, a following user text joins it."""
    messages = body([*HISTORY, {"role": "user", "content": "thanks"}], tools=[WEATHER, CLOCK])[
        "messages"
    ]
    assert [
        {"role": "user", "content": [{"text": "weather in Paris and the time?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_a",
                        "name": "weather",
                        "input": {"city": "Paris"},
                    }
                },
                {"toolUse": {"toolUseId": "tooluse_b", "name": "clock", "input": {}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_a", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "noon"}]}},
                {"text": "thanks"},
            ],
        },
    ] == messages


def test_system_and_developer_and_sampling() -> None:
    """system and developer turns are system blocks; stop, top_p and max_tokens go to
    inferenceConfig."""
    messages = [{"role": "developer", "content": "terse"}, *ASK]
    sent = body(messages, max_tokens=50, stop=["END"], top_p=0.5)
    assert [{"text": "terse"}] == sent["system"]
    assert {"maxTokens": 50, "topP": 0.5, "stopSequences": ["END"]} == sent["inferenceConfig"]


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (MODEL, {"top_k": 5}),
        ("amazon.nova-lite-v1:0", {"inferenceConfig": {"topK": 5}}),
        ("mistral.mistral-large-2407-v1:0", {"top_k": 5}),
    ],
)
def test_top_k_per_family(model: str, field: dict[str, Any]) -> None:
    """top_k is a model field: Claude's top_k, Nova's inferenceConfig.topK."""
    assert field == body(model=model, top_k=5)["additionalModelRequestFields"]


@pytest.mark.parametrize(
    ("model", "call", "match"),
    [
        ("openai.gpt-oss-120b-1:0", {"top_k": 5}, "has no top_k"),
        (MODEL, {"seed": 1}, "takes no seed"),
        ("us.amazon.nova-2-lite-v1:0", {"seed": 1}, "takes no seed"),
    ],
)
def test_sampling_a_family_lacks_is_refused(model: str, call: dict[str, Any], match: str) -> None:
    """What the model family has no field for fails before any call."""
    with pytest.raises(InvalidRequestError, match=match):
        body(model=model, **call)


@pytest.mark.parametrize(
    ("model", "reasoning", "fields", "top"),
    [
        (MODEL, "high", {"thinking": {"type": "adaptive"}}, {"outputConfig": {"effort": "high"}}),
        (
            "us.anthropic.claude-sonnet-5-5",
            {"budget_tokens": 3000},
            {"thinking": {"type": "enabled", "budget_tokens": 3000}},
            {},
        ),
        (
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "medium",
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            {},
        ),
        (
            "us.amazon.nova-2-lite-v1:0",
            "low",
            {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}},
            {},
        ),
        ("openai.gpt-oss-120b-1:0", "high", {"reasoning_effort": "high"}, {}),
        (MODEL, "none", None, {}),
    ],
)
def test_reasoning_per_model(model: str, reasoning: Any, fields: Any, top: dict[str, Any]) -> None:
    """reasoning= is each family's own field: Claude adaptive thinking + outputConfig.effort, or
    a budget (from the effort when not given); Nova reasoningConfig; gpt-oss reasoning_effort."""
    sent = body(model=model, reasoning=reasoning)
    assert fields == sent.get("additionalModelRequestFields")
    assert top == {k: v for k, v in sent.items() if k == "outputConfig"}


def test_budget_sets_room_for_the_answer() -> None:
    """A Claude budget without max_tokens leaves 4096 tokens beside it; a max_tokens within the
    budget is refused before any call (Claude needs max_tokens > budget_tokens)."""
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert {"maxTokens": 2048 + 4096} == body(model=model, reasoning="medium")["inferenceConfig"]
    with pytest.raises(InvalidRequestError, match="greater than the thinking budget"):
        body(model=model, reasoning={"budget_tokens": 4000}, max_tokens=4000)


@pytest.mark.parametrize(
    ("model", "call", "match"),
    [
        ("openai.gpt-oss-20b-1:0", {"reasoning": "none"}, "always reasons"),
        ("amazon.nova-lite-v1:0", {"reasoning": "low"}, "does not reason"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", {"reasoning": "low"}, "does not reason"),
        ("meta.llama3-70b-instruct-v1:0", {"reasoning": "low"}, "no known reasoning control"),
        ("us.amazon.nova-2-lite-v1:0", {"reasoning": {"budget_tokens": 100}}, "takes an effort"),
        (MODEL, {"reasoning": "low", "tools": [WEATHER], "tool_choice": "required"}, "forced tool"),
    ],
)
def test_reasoning_a_model_cannot_take_is_refused(
    model: str, call: dict[str, Any], match: str
) -> None:
    """Reasoning the model cannot do, or a forced tool choice with Claude's thinking, fails
    before any call with the reason."""
    with pytest.raises(InvalidRequestError, match=match):
        body(model=model, **call)


def reasoning_turn(*items: dict[str, Any]) -> list[dict[str, Any]]:
    return [*ASK, dict(CALLS, reasoning=list(items)), *RESULTS]


SIGNED = {
    "text": "think",
    "signature": "sig",
    "provider_type": "bedrock",
    "model": "us.anthropic.claude-haiku-5-5",
}


def test_reasoning_state_goes_back_to_its_family_only() -> None:
    """Bedrock reasoning of the same family goes back first in the assistant turn, byte for
    byte (signatures, redacted data); another provider type's, another family's and a bare
    Gemini-style signature on a call are dropped."""
    redacted = {"text": "b3BhcXVl", "redacted": True, "provider_type": "bedrock", "model": MODEL}
    other_type = dict(SIGNED, provider_type="anthropic")
    nova = dict(SIGNED, model="us.amazon.nova-2-lite-v1:0")
    bare = dict(SIGNED, text="", tool_call_id="tooluse_a")
    sent = body(reasoning_turn(SIGNED, redacted, other_type, nova, bare), tools=[WEATHER, CLOCK])
    content = sent["messages"][1]["content"]
    assert {
        "reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}
    } == content[0]
    assert {"reasoningContent": {"redactedContent": "b3BhcXVl"}} == content[1]
    assert {"text": "Checking."} == content[2]
    assert 5 == len(content)
    assert not body(reasoning_turn(nova), model=MODEL, tools=[WEATHER, CLOCK])["messages"][1][
        "content"
    ][0].get("reasoningContent")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("us.anthropic.claude-haiku-5-5", "anthropic.claude-opus-5", True),
        (
            "global.anthropic.claude-sonnet-4-6",
            "arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude-x",
            True,
        ),
        ("us.amazon.nova-2-lite-v1:0", "amazon.nova-premier-v1:0", True),
        ("openai.gpt-oss-20b-1:0", "openai.gpt-oss-120b-1:0", True),
        ("us.anthropic.claude-haiku-5-5", "us.amazon.nova-2-lite-v1:0", False),
        ("openai.gpt-oss-20b-1:0", "amazon.nova-lite-v1:0", False),
        ("moonshot.kimi-k2-thinking", "moonshot.kimi-k3", True),
        ("", MODEL, False),
    ],
)
def test_same_family(a: str, b: str, same: bool) -> None:
    """Claude, Nova and gpt-oss on Bedrock are three families; others group by vendor."""
    assert same == same_family(a, b)


# -- through the emulator ---------------------------------------------------------------------

FIRST = "us.anthropic.claude-haiku-5-5"


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def orch_for(emu: ProviderEmulator) -> AsyncLLMOrchestrator:
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": "bedrock",
                "active_model": FIRST,
                "providers": {"bedrock": emu.config_for("bedrock") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
    )


def results(response: Any) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call.id, "content": f"{call.arguments} is sunny"}
        for call in response.tool_calls
    ]


@pytest.mark.parametrize("streamed", [False, True])
async def test_tool_loop_keeps_signatures_byte_identical(
    emu: ProviderEmulator, streamed: bool
) -> None:
    """Parallel calls with thinking on: the signed reasoning and the calls go back unchanged in
    the next turn (the emulator checks the signature), which gets the final answer."""
    emu.script(
        "bedrock",
        FIRST,
        Reply(
            "Looking.",
            reasoning="two cities, two calls",
            tool_calls=(
                ToolUse("weather", {"city": "Paris"}),
                ToolUse("weather", {"city": "Rome"}),
            ),
        ),
        Reply("Sunny in both.", reasoning="both sunny"),
    )
    history: list[Any] = [{"role": "user", "content": "weather in Paris and Rome?"}]
    call = {"tools": [WEATHER], "reasoning": "high"}
    async with orch_for(emu) as orch:
        if streamed:
            stream = orch.send_streaming_request(history, **call)
            seen = [type(e).__name__ async for e in stream.events()]
            first = stream.response
            assert ["ToolCallStarted", "ToolCallDone"] == [
                s for s in seen if s.startswith("ToolCallS") or s == "ToolCallDone"
            ][:2]
        else:
            first = await orch.send_request(history, **call)
        assert "tool_calls" == first.finish_reason
        assert [{"city": "Paris"}, {"city": "Rome"}] == [c.arguments for c in first.tool_calls]
        assert "two cities, two calls" == first.reasoning
        history += [first.message, *results(first)]
        final = await orch.send_request(history, **call)
    assert "Sunny in both." == final.content
    sent = emu.requests[-1].body["messages"][1]["content"]
    raw = emu.requests[-2]  # the first turn's request; its answer's signature is what came back
    (item,) = first.reasoning_items
    assert {"reasoningText": {"text": item.text, "signature": item.signature}} == sent[0][
        "reasoningContent"
    ]
    assert (
        item.signature
        and raw.body["additionalModelRequestFields"]["thinking"]["type"] == "adaptive"
    )
    assert [c.id for c in first.tool_calls] == [
        b["toolUse"]["toolUseId"] for b in sent if "toolUse" in b
    ]


async def test_stream_cut_mid_call_has_partial_tool_calls(emu: ProviderEmulator) -> None:
    """A stream cut halfway through the second call raises StreamInterruptedError carrying the
    first call whole and the second as far as it came; no ToolCallDone for the unfinished one."""
    calls = (ToolUse("weather", {"city": "Paris"}), ToolUse("weather", {"city": "Rome"}))
    emu.script("bedrock", FIRST, Fault.cut(after=1, text="Looking now", tool_calls=calls))
    done: list[ev.Event] = []
    async with orch_for(emu) as orch:
        stream = orch.send_streaming_request(
            [{"role": "user", "content": "weather?"}], tools=[WEATHER]
        )
        with pytest.raises(StreamInterruptedError) as info:
            async for event in stream.events():
                done.append(event)  # noqa: PERF401 - kept up to the exception
    whole, partial = info.value.partial_tool_calls
    finished = [e.call.arguments_json for e in done if isinstance(e, ev.ToolCallDone)]
    assert ['{"city":"Paris"}'] == finished
    assert ({"city": "Paris"}, None) == (whole.arguments, whole.error)
    assert '{"city":"Rome"}'.startswith(partial.arguments_json) and partial.error
    assert "Looking" == info.value.partial_text
