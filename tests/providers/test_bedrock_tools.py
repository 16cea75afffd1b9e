"""Bedrock tools and reasoning: the recorded fixtures, the codec's mappings and the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmorch import events as ev
from llmorch.config import BedrockConfig
from llmorch.exceptions import ProviderUnavailableError
from llmorch.providers._converse import decode_response, reasoning_text
from llmorch.providers.bedrock import BedrockProvider, decode_event_stream
from llmorch.streaming import StreamAccumulator
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
    assert 19 == len(names)
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
