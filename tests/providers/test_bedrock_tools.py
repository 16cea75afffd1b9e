"""Bedrock tools and reasoning: the recorded fixtures, the codec's mappings and the loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
