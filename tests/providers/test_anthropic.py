from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from llmorch._sse import ServerSentEvent, SSEDecoder
from llmorch.config import AnthropicConfig
from llmorch.exceptions import (
    AuthenticationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers.anthropic import (
    DEFAULT_MAX_TOKENS,
    AnthropicProvider,
    MessageStreamParser,
)
from llmorch.streaming import StreamAccumulator
from tests.adapters import send, stream
from tests.conftest import chunks, fixture_bytes

URL = "https://api.anthropic.com/v1/messages"
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def adapter() -> AsyncIterator[AnthropicProvider]:
    async with httpx.AsyncClient() as http:
        yield AnthropicProvider("anthropic", AnthropicConfig(api_key="sk-ant-secret"), http)


async def fold(adapter: AnthropicProvider, events: list[ServerSentEvent]) -> StreamAccumulator:
    acc = StreamAccumulator()
    parse = MessageStreamParser(adapter, "claude-x", "req-1")
    for sse in events:
        for event in parse(sse):
            acc.add(event)
    return acc


def parse(data: bytes, cut: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.flush()


async def test_message_fixture_parses_exactly(adapter: AnthropicProvider) -> None:
    """The recorded message gives its text, finish reason and every token count incl. cache."""
    body = json.loads(fixture_bytes("anthropic_message_response.json"))
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=body, headers={"request-id": "req_018"})
        response = await send(adapter, MESSAGES, "claude-sonnet-4-5")
    assert body["content"][0]["text"] == response.content
    assert "stop" == response.finish_reason
    assert {
        "prompt": 406,
        "completion": 50,
        "total": 456,
        "cache_read": 0,
        "cache_write": 0,
    } == response.tokens_used
    assert "req_018" == response.request_id
    assert "claude-sonnet-4-5-20250929" == response.model_answered
    request = route.calls[0].request
    assert "sk-ant-secret" == request.headers["x-api-key"]
    assert "2023-06-01" == request.headers["anthropic-version"]
    sent = json.loads(request.content)
    assert {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": MESSAGES,
    } == sent


async def test_system_lifted_and_same_role_turns_merged(adapter: AnthropicProvider) -> None:
    """System messages go to top-level `system`; consecutive same-role turns are merged."""
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "system", "content": "Use English."},
        {"role": "user", "content": "d"},
    ]
    body = json.loads(fixture_bytes("anthropic_message_response.json"))
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=body)
        await send(adapter, messages, "m", 0.3, 100, stop="END", top_p=0.5, metadata={})
    sent = json.loads(route.calls[0].request.content)
    assert "Be terse.\n\nUse English." == sent["system"]
    assert [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ] == sent["messages"]
    assert (0.3, 100, ["END"], 0.5, {}) == (
        sent["temperature"],
        sent["max_tokens"],
        sent["stop_sequences"],
        sent["top_p"],
        sent["metadata"],
    )


async def test_only_system_messages_are_rejected_before_sending(adapter: AnthropicProvider) -> None:
    """A request with no user/assistant turn fails locally with InvalidRequestError."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(URL)
        with pytest.raises(InvalidRequestError, match="at least one user"):
            await send(adapter, [{"role": "system", "content": "x"}], "m")
    assert not route.called


async def test_cache_usage_counts_into_prompt(adapter: AnthropicProvider) -> None:
    """input_tokens excludes cache reads/writes: prompt is their sum; 1h writes are kept apart."""
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 500,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 300},
        "output_tokens": 20,
    }
    body = {"content": [{"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "ok"}]}
    body |= {"stop_reason": "max_tokens", "usage": usage}
    with respx.mock() as mock:
        mock.post(URL).respond(200, json=body)
        response = await send(adapter, MESSAGES, "m")
    assert {
        "prompt": 1510,
        "completion": 20,
        "total": 1530,
        "cache_read": 1000,
        "cache_write": 500,
        "cache_write_1h": 300,
    } == response.tokens_used
    assert ("ok", "length") == (response.content, response.finish_reason)


async def test_refusal_without_text_raises_content_filtered(adapter: AnthropicProvider) -> None:
    """stop_reason refusal with no text is ContentFilteredError."""
    body = {"content": [], "stop_reason": "refusal", "usage": {"input_tokens": 1}}
    with respx.mock() as mock:
        mock.post(URL).respond(200, json=body)
        with pytest.raises(ContentFilteredError):
            await send(adapter, MESSAGES, "m")


async def test_stream_fixture_resplit_at_every_offset(adapter: AnthropicProvider) -> None:
    """The recorded stream gives "Hello there!", stop and usage merged from start and delta."""
    data = fixture_bytes("anthropic_messages_stream_basic.sse")
    for cut in range(len(data) + 1):
        acc = await fold(adapter, parse(data, cut))
        assert "Hello there!" == acc.text, cut
        assert "stop" == acc.finish_reason
        assert {"prompt": 11, "completion": 6, "total": 17} == acc.tokens
        assert "claude-3-opus-latest" == acc.model_answered


async def test_in_stream_error_event_fixture_is_mapped(adapter: AnthropicProvider) -> None:
    """The recorded `event: error` (overloaded_error) is a retryable ProviderUnavailableError."""
    data = fixture_bytes("anthropic_stream_error_event.sse")
    for cut in range(len(data) + 1):
        with pytest.raises(ProviderUnavailableError) as info:
            await fold(adapter, parse(data, cut))
        assert "Overloaded" == info.value.message
        assert info.value.is_retryable
        assert info.value.status_code is None


async def test_stream_over_http(adapter: AnthropicProvider) -> None:
    """A streamed call sends stream: true and yields start (with request-id), text and usage."""
    data = fixture_bytes("anthropic_messages_stream_basic.sse")
    with respx.mock() as mock:
        route = mock.post(URL).respond(
            200, stream=chunks(data, 7, 300), headers={"request-id": "req_st"}
        )
        events = [e async for e in stream(adapter, MESSAGES, "m")]
    assert json.loads(route.calls[0].request.content)["stream"] is True
    assert "req_st" == events[0].request_id
    assert "Hello there!" == "".join(e.text for e in events)
    assert "finish" in [e.kind for e in events]


async def test_in_stream_rate_limit_and_malformed_events(adapter: AnthropicProvider) -> None:
    """An in-stream rate_limit_error maps to RateLimitError; bad JSON to a ProviderError."""
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    with pytest.raises(RateLimitError):
        await fold(adapter, [ServerSentEvent(data=json.dumps(error), event="error")])
    with pytest.raises(ProviderUnavailableError, match="malformed"):
        await fold(adapter, [ServerSentEvent(data="{", event="content_block_delta")])


async def test_429_fixture_is_rate_limit_with_body_request_id(adapter: AnthropicProvider) -> None:
    """The recorded 429 maps to a retryable RateLimitError with the body's request_id."""
    recorded = json.loads(fixture_bytes("anthropic_error_429_rate_limit.json"))
    headers = {k: v for k, v in recorded["headers"].items() if k != "content-length"}
    with respx.mock() as mock:
        mock.post(URL).respond(recorded["status_code"], json=recorded["body"], headers=headers)
        with pytest.raises(RateLimitError) as info:
            await send(adapter, MESSAGES, "claude-sonnet-4-5")
    assert "req_011CYK5n67SytMUxm8WMZUWY" == info.value.request_id
    assert info.value.is_retryable
    assert info.value.message.startswith("This request would exceed your organization's")


def _err(kind: str, message: str = "x") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_b"}


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, _err("invalid_request_error"), InvalidRequestError),
        (
            400,
            _err("invalid_request_error", "prompt is too long: 250000 tokens"),
            ContextLengthExceededError,
        ),
        (401, _err("authentication_error"), AuthenticationError),
        (403, _err("permission_error"), PermissionDeniedError),
        (402, _err("billing_error"), PermissionDeniedError),
        (404, _err("not_found_error", "model: claude-nope"), ModelNotFoundError),
        (413, _err("request_too_large"), InvalidRequestError),
        (429, _err("rate_limit_error"), RateLimitError),
        (409, _err("api_error"), ProviderUnavailableError),
        (424, _err("api_error"), ProviderUnavailableError),
        (499, _err("api_error"), ProviderUnavailableError),
        (500, _err("api_error"), ProviderUnavailableError),
        (504, _err("timeout_error"), ProviderTimeoutError),
        (529, _err("overloaded_error"), ProviderUnavailableError),
    ],
)
async def test_http_errors_map_to_the_spec_classes(
    adapter: AnthropicProvider, status: int, body: dict[str, Any], cls: type[ProviderError]
) -> None:
    """Every Anthropic status/error.type maps to its class; the key never leaks."""
    with respx.mock() as mock:
        mock.post(URL).respond(status, json=body)
        with pytest.raises(cls) as info:
            await send(adapter, MESSAGES, "m")
    assert type(info.value) is cls
    assert (status, "req_b") == (info.value.status_code, info.value.request_id)
    assert "sk-ant-secret" not in str(info.value) + repr(info.value) + str(info.value.body)


async def test_model_listing_follows_pages(adapter: AnthropicProvider) -> None:
    """GET /v1/models is paged with after_id until has_more is false."""
    pages = [
        {"data": [{"id": "a"}, {"id": "b"}], "has_more": True, "first_id": "a", "last_id": "b"},
        {"data": [{"id": "c"}], "has_more": False, "first_id": "c", "last_id": "c"},
    ]
    with respx.mock() as mock:
        route = mock.get("https://api.anthropic.com/v1/models").mock(
            side_effect=[httpx.Response(200, json=p) for p in pages]
        )
        models = await adapter.get_available_models()
    assert ["a", "b", "c"] == [m.name for m in models]
    assert "b" == route.calls[1].request.url.params["after_id"]
    assert "after_id" not in route.calls[0].request.url.params


async def test_issue11_item9_thinking_tokens_are_reasoning(adapter: AnthropicProvider) -> None:
    """`usage.output_tokens_details.thinking_tokens` becomes tokens_used["reasoning"] (a part of
    completion, as SPEC §2.2 says); 4a56482 dropped it."""
    usage = {
        "input_tokens": 12,
        "output_tokens": 900,
        "output_tokens_details": {"thinking_tokens": 850},
    }
    body = {"content": [{"type": "text", "text": "42"}], "stop_reason": "end_turn", "usage": usage}
    with respx.mock() as mock:
        mock.post(URL).respond(200, json=body)
        response = await send(adapter, MESSAGES, "m")
    assert {"prompt": 12, "completion": 900, "total": 912, "reasoning": 850} == response.tokens_used
