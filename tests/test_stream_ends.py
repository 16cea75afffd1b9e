"""Streams that end early and 200s that are not answers (review.md 8, chaos.md BUG-3, SPEC §2.2).

A body that ends cleanly without the vendor's terminal event is a cut stream (recorded
``complete=False``, usage estimated where the vendor's count is a placeholder); a 200 that
carries no answer is a retryable ``ProviderUnavailableError``, never an empty success.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llmorch import (
    AsyncLLMOrchestrator,
    OrchestratorConfig,
    ProviderConnectionError,
    ProviderUnavailableError,
    StreamInterruptedError,
)
from llmorch.providers.bedrock import decode_event_stream
from llmorch.streaming import StreamAccumulator
from tests.conftest import base_config, chunks, fixture_bytes

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
MESSAGES = [{"role": "user", "content": "hi"}]


def ledger() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def orch(**overrides: Any) -> AsyncLLMOrchestrator:
    config = base_config(**overrides)
    config["providers"]["gemini"] = {"api_key": "g", "fallback_models": ["gemini-2.5-flash"]}
    for provider in config["providers"].values():
        provider["max_retries"] = 0
    return AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config))


def event(name: str, obj: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n"


def sse_response(text: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode())


async def test_review_8_anthropic_stream_without_message_stop_is_cut_and_estimated() -> None:
    """message_start + 2,000 characters, then the body ends: not complete, and the output is
    estimated instead of message_start's placeholder `output_tokens: 1` (4a56482 billed 1)."""
    usage = {"input_tokens": 1000, "output_tokens": 1}
    body = event("message_start", {"type": "message_start", "message": {"id": "m", "usage": usage}})
    body += event(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "word " * 400},
        },
    )
    with respx.mock() as mock:
        mock.post(ANTHROPIC).mock(return_value=sse_response(body))
        async with orch() as o:
            with pytest.raises(StreamInterruptedError) as info:
                async with o.send_streaming_request(MESSAGES, provider="anthropic") as s:
                    async for _ in s:
                        pass
    assert isinstance(info.value.__cause__, ProviderConnectionError)
    assert 2000 == len(info.value.partial_text)
    [record] = ledger()
    assert (False, True, 500) == (record["complete"], record["estimated"], record["completion"])


async def test_review_8_openai_stream_without_finish_or_done_is_not_complete() -> None:
    """Two deltas and a clean end (no finish_reason, no usage, no [DONE]): a cut stream."""

    def chunk(text: str) -> str:
        return (
            "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}) + "\n\n"
        )

    with respx.mock() as mock:
        mock.post(OPENAI).mock(return_value=sse_response(chunk("The answer is ") + chunk("4")))
        async with orch() as o:
            with pytest.raises(StreamInterruptedError) as info:
                async for _ in o.send_streaming_request(MESSAGES):
                    pass
    assert "The answer is 4" == info.value.partial_text
    assert [False] == [r["complete"] for r in ledger()]


async def test_chaos_bug3_gemini_stream_without_finish_reason_is_not_complete() -> None:
    """Gemini has no [DONE]: a body that ends before a candidate's finishReason is cut, and
    its usage (candidatesTokenCount 0 so far) is replaced by an estimate."""
    part = {
        "candidates": [{"content": {"parts": [{"text": "partial answer " * 20}], "role": "model"}}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 0},
    }
    with respx.mock() as mock:
        mock.post(f"{GEMINI}:streamGenerateContent").mock(
            return_value=sse_response("data: " + json.dumps(part) + "\n\n")
        )
        async with orch() as o:
            with pytest.raises(StreamInterruptedError):
                async for _ in o.send_streaming_request(MESSAGES, provider="gemini"):
                    pass
    [record] = ledger()
    assert (False, True) == (record["complete"], record["estimated"])
    assert record["completion"] > 0


async def test_chaos_bug3_bedrock_stream_cut_before_message_stop_and_metadata() -> None:
    """A ConverseStream whose body ends before messageStop + metadata is a cut stream; one with
    no Converse event at all is not an answer."""
    from tests.providers.test_bedrock import DECODER, MODEL

    data = fixture_bytes("bedrock_converse_stream_basic.bin")
    acc = StreamAccumulator()
    async for item in decode_event_stream(chunks(data), DECODER, MODEL, "rid"):
        acc.add(item)
    assert acc.finish_reason is not None  # the whole recording is a complete answer
    cut = data.index(b"messageStop") - 60  # inside the frames before messageStop
    frames_before = data[:cut]
    # cut at a frame boundary: find the last complete frame start before `cut`
    offset = 0
    while offset < len(frames_before):
        length = int.from_bytes(data[offset : offset + 4], "big")
        if offset + length > cut:
            break
        offset += length
    with pytest.raises(ProviderConnectionError, match="terminal event"):
        async for _ in decode_event_stream(chunks(data[:offset]), DECODER, MODEL, "rid"):
            pass


def test_end_of_stream_tells_a_cut_stream_from_a_non_answer() -> None:
    """Nothing of the protocol: not an answer; events without the terminal one: cut."""
    from llmorch.providers._common import end_of_stream

    end_of_stream(True, True, "p", "m", None)
    with pytest.raises(ProviderUnavailableError, match="no answer"):
        end_of_stream(False, False, "p", "m", "rid")
    with pytest.raises(ProviderConnectionError, match="terminal event"):
        end_of_stream(True, False, "p", "m", "rid")


@pytest.mark.parametrize(
    ("provider", "url", "body"),
    [
        ("openai", OPENAI, {"id": "x", "choices": []}),
        ("openai", OPENAI, {"id": "x"}),
        ("anthropic", ANTHROPIC, {"id": "x", "type": "message", "content": []}),
        ("gemini", f"{GEMINI}:generateContent", {"usageMetadata": {"promptTokenCount": 3}}),
        ("gemini", f"{GEMINI}:generateContent", {"candidates": [{"content": {"parts": []}}]}),
    ],
)
async def test_issue11_item5_a_200_that_is_not_an_answer_is_retried(
    provider: str, url: str, body: dict[str, Any]
) -> None:
    """No output and no finish reason: ProviderUnavailableError, retried (the retry answers);
    4a56482 returned an empty success and recorded it."""
    answers = {
        "openai": {
            "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": {},
        },
        "anthropic": {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"},
        "gemini": {
            "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]
        },
    }
    with respx.mock() as mock:
        route = mock.post(url).mock(
            side_effect=[
                httpx.Response(200, json=body),
                httpx.Response(200, json=answers[provider]),
            ]
        )
        async with orch() as o:
            o.config.providers[provider].max_retries = 1
            o.config.providers[provider].max_backoff_s = 0.0
            response = await o.send_request(MESSAGES, provider=provider)
    assert ("ok", 2) == (response.content, route.call_count)
    assert 1 == len(ledger())


async def test_an_empty_answer_the_vendor_billed_is_still_a_success() -> None:
    """Finish `length` with every token spent on reasoning: empty, billed, recorded."""
    body = {
        "choices": [{"message": {"content": ""}, "finish_reason": "length"}],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 64,
            "completion_tokens_details": {"reasoning_tokens": 64},
        },
    }
    with respx.mock() as mock:
        mock.post(OPENAI).respond(200, json=body)
        async with orch() as o:
            response = await o.send_request(MESSAGES)
    assert ("", "length", 64) == (
        response.content,
        response.finish_reason,
        response.tokens_used["reasoning"],
    )
    assert 1 == len(ledger())


async def test_a_gzip_encoded_stream_is_decoded() -> None:
    """A stream the server gzips (proxies and CDNs do) is decoded before the SSE parser."""
    import gzip

    body = (
        "".join(
            "data: " + json.dumps(chunk) + "\n\n"
            for chunk in (
                {"choices": [{"index": 0, "delta": {"content": "zip"}}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            )
        )
        + "data: [DONE]\n\n"
    )
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
        content=gzip.compress(body.encode()),
    )
    with respx.mock() as mock:
        mock.post(OPENAI).mock(return_value=response)
        async with orch() as o:
            async with o.send_streaming_request(MESSAGES) as s:
                text = "".join([c async for c in s])
    assert ("zip", "stop") == (text, s.response.finish_reason)
