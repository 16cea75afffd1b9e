"""Adapters hand a network read's events over at once (EventStream); nothing else changes.

Events that came before a failing one in the same read still reach the caller first, a stream
closed halfway through a read is released, and every split of the body gives the same events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import pytest
import respx

from llmorch import StreamEvent, StreamInterruptedError
from llmorch.config import OpenAIConfig
from llmorch.providers._common import EventStream
from llmorch.providers.openai import OpenAIProvider
from tests.adapters import stream
from tests.conftest import chunks
from tests.test_stream_ends import ANTHROPIC, MESSAGES, OPENAI, event, ledger, orch


def openai_chunk(delta: dict[str, Any]) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}) + "\n\n"


OPENAI_BROKEN = (
    openai_chunk({"role": "assistant", "content": ""})
    + openai_chunk({"content": "Hel"})
    + openai_chunk({"content": "lo"})
    + "data: "
    + json.dumps({"error": {"message": "overloaded", "type": "server_error"}})
    + "\n\n"
)
ANTHROPIC_BROKEN = (
    event("message_start", {"type": "message_start", "message": {"id": "m", "usage": {}}})
    + event("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}})
    + event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "text_delta", "text": "Hello"}})
    + event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
)  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "url", "body"),
    [
        ("openai", OPENAI, OPENAI_BROKEN),
        ("openai", OPENAI, OPENAI_BROKEN.rstrip()),  # the error is the event flushed at the end
        ("anthropic", ANTHROPIC, ANTHROPIC_BROKEN),
    ],
)
async def test_text_before_an_error_in_the_same_read_is_delivered_first(
    provider: str, url: str, body: str
) -> None:
    """Text and an in-stream error arrive in one read: the text is the caller's, then the
    stream is interrupted (not silently failed over as if nothing had been said)."""
    got: list[str] = []
    with respx.mock() as mock:
        mock.post(url).mock(
            return_value=httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=body.encode()
            )
        )
        async with orch() as o:
            with pytest.raises(StreamInterruptedError) as info:
                async for text in o.send_streaming_request(MESSAGES, provider=provider):
                    got += [text]
    assert "Hello" == "".join(got) == info.value.partial_text
    [record] = ledger()
    assert record["complete"] is False


async def test_event_stream_hands_events_in_order_and_closes_its_generator() -> None:
    """Iteration flattens the batches in order; aclose() mid-batch closes the generator."""
    closed: list[bool] = []

    async def batches() -> AsyncGenerator[list[StreamEvent], None]:
        try:
            yield [StreamEvent("text", "a"), StreamEvent("text", "b")]
            yield [StreamEvent("text", "c")]
            yield [StreamEvent("text", "d"), StreamEvent("text", "e")]
        finally:
            closed.append(True)

    assert ["a", "b", "c", "d", "e"] == [e.text async for e in EventStream(batches())]
    assert [True] == closed
    stream = EventStream(batches())
    assert "a" == (await stream.__anext__()).text
    await stream.aclose()
    assert [True, True] == closed
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_every_split_of_a_stream_gives_the_same_events() -> None:
    """The OpenAI stream, cut into two reads at every offset, gives the same events."""
    body = (
        openai_chunk({"role": "assistant", "content": ""})
        + "".join(openai_chunk({"content": f"é{i} "}) for i in range(5))
        + "data: "
        + json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        + "\n\ndata: [DONE]\n\n"
    ).encode()
    expected = [("start", "")] + [("text", f"é{i} ") for i in range(5)] + [("finish", "")]
    async with httpx.AsyncClient() as http:
        adapter = OpenAIProvider("openai", OpenAIConfig(api_key="k"), http)
        for cut in range(len(body) + 1):
            with respx.mock() as mock:
                headers = {"content-type": "text/event-stream"}
                mock.post(OPENAI).respond(200, stream=chunks(body, cut), headers=headers)
                got = [(e.kind, e.text) async for e in stream(adapter, MESSAGES, "gpt-4o")]
            assert expected == got, cut
