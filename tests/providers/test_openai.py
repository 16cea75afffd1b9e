from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from llmorch._sse import ServerSentEvent, SSEDecoder
from llmorch.config import OpenAIConfig
from llmorch.exceptions import (
    AuthenticationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers.openai import ChunkParser, OpenAIProvider, is_chat_model
from llmorch.streaming import StreamAccumulator
from tests.adapters import send, stream
from tests.conftest import chunks, fixture_bytes

BASE = "https://api.openai.com/v1"
MESSAGES = [{"role": "user", "content": "Say foo"}]


@pytest.fixture
async def adapter() -> AsyncIterator[OpenAIProvider]:
    async with httpx.AsyncClient() as http:
        config = OpenAIConfig(api_key="sk-test-123", organization="org-1", project="proj-1")
        yield OpenAIProvider("openai", config, http)


async def fold(adapter: OpenAIProvider, events: list[ServerSentEvent]) -> StreamAccumulator:
    acc = StreamAccumulator()
    parse = ChunkParser(adapter, "gpt-4o", "req-1")
    for sse in events:
        for event in parse(sse):
            acc.add(event)
    return acc


async def test_chat_completion_fixture_parses_exactly(adapter: OpenAIProvider) -> None:
    """The recorded completion gives its text, finish reason, every token count and ids."""
    body = json.loads(fixture_bytes("openai_chat_completion.json"))
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").respond(
            200, json=body, headers={"x-request-id": "req_abc"}
        )
        response = await send(adapter, MESSAGES, "gpt-4o")
    assert response.content.startswith("I'm unable to provide real-time weather updates.")
    assert response.content == body["choices"][0]["message"]["content"]
    assert "stop" == response.finish_reason
    assert {"prompt": 14, "completion": 37, "total": 51, "reasoning": 0} == response.tokens_used
    assert "req_abc" == response.request_id
    assert "gpt-4o-2024-08-06" == response.model_answered
    assert "gpt-4o" == response.model
    sent = json.loads(route.calls[0].request.content)
    assert {"model": "gpt-4o", "messages": MESSAGES} == sent
    headers = route.calls[0].request.headers
    assert "Bearer sk-test-123" == headers["authorization"]
    assert "org-1" == headers["openai-organization"]
    assert "proj-1" == headers["openai-project"]


async def test_optional_parameters_are_mapped(adapter: OpenAIProvider) -> None:
    """temperature, max_completion_tokens, stop, top_p and extra kwargs reach the body."""
    body = json.loads(fixture_bytes("openai_chat_completion.json"))
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").respond(200, json=body)
        await send(adapter, MESSAGES, "gpt-4o", 0.2, 64, stop="\n", top_p=0.9, seed=7, user="u1")
    sent = json.loads(route.calls[0].request.content)
    assert 0.2 == sent["temperature"]
    assert 64 == sent["max_completion_tokens"]
    assert "max_tokens" not in sent
    assert (["\n"], 0.9, 7, "u1") == (sent["stop"], sent["top_p"], sent["seed"], sent["user"])


async def test_cached_and_reasoning_tokens_are_parts_of_prompt_and_completion(
    adapter: OpenAIProvider,
) -> None:
    """cached_tokens is a subset of prompt_tokens; reasoning a subset of completion."""
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 300,
        "total_tokens": 2300,
        "prompt_tokens_details": {"cached_tokens": 1500},
        "completion_tokens_details": {"reasoning_tokens": 200},
    }
    body = {"choices": [{"message": {"content": "x"}, "finish_reason": "length"}], "usage": usage}
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").respond(200, json=body)
        response = await send(adapter, MESSAGES, "o3")
    assert {
        "prompt": 2000,
        "completion": 300,
        "total": 2300,
        "cache_read": 1500,
        "reasoning": 200,
    } == response.tokens_used
    assert "length" == response.finish_reason


async def test_content_filter_without_text_raises(adapter: OpenAIProvider) -> None:
    """A filtered answer with no text is ContentFilteredError; tool calls map to tool_calls."""
    blocked = {"choices": [{"message": {"content": None}, "finish_reason": "content_filter"}]}
    tools = {"choices": [{"message": {"content": None}, "finish_reason": "tool_calls"}]}
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[httpx.Response(200, json=blocked), httpx.Response(200, json=tools)]
        )
        with pytest.raises(ContentFilteredError):
            await send(adapter, MESSAGES, "gpt-4o")
        response = await send(adapter, MESSAGES, "gpt-4o")
    assert ("", "tool_calls") == (response.content, response.finish_reason)
    assert {"prompt": 0, "completion": 0, "total": 0} == response.tokens_used


async def test_stream_fixture_resplit_at_every_offset(adapter: OpenAIProvider) -> None:
    """The recorded stream, split at any byte, gives "Foo!", stop and the usage chunk's counts."""
    data = fixture_bytes("openai_chat_stream_with_usage.sse")
    for cut in range(len(data) + 1):
        decoder = SSEDecoder()
        events = decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.flush()
        acc = await fold(adapter, events)
        assert "Foo!" == acc.text, cut
        assert "stop" == acc.finish_reason
        assert {"prompt": 9, "completion": 2, "total": 11, "reasoning": 0} == acc.tokens
        assert "gpt-4o-2024-08-06" == acc.model_answered


async def test_stream_over_http_always_asks_for_usage(adapter: OpenAIProvider) -> None:
    """A streamed call sends stream + include_usage and yields start, text, finish, usage."""
    data = fixture_bytes("openai_chat_stream_with_usage.sse")
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").respond(
            200,
            stream=chunks(data, 10, 500, 501, 1200),
            headers={"content-type": "text/event-stream", "x-request-id": "req_s"},
        )
        events = [e async for e in stream(adapter, MESSAGES, "gpt-4o")]
    sent = json.loads(route.calls[0].request.content)
    assert sent["stream"] is True
    assert {"include_usage": True} == sent["stream_options"]
    assert ["start", "text", "text", "usage", "finish"] == [e.kind for e in events]
    assert "req_s" == events[0].request_id


async def test_in_stream_error_object_is_mapped(adapter: OpenAIProvider) -> None:
    """A `data: {"error": …}` chunk inside a 200 stream raises the mapped error."""
    error = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
    events = [ServerSentEvent(data=json.dumps(error))]
    with pytest.raises(ProviderUnavailableError) as info:
        await fold(adapter, events)
    assert info.value.status_code is None
    assert "req-1" == info.value.request_id
    assert info.value.is_retryable


async def test_malformed_stream_chunk_raises_provider_error(adapter: OpenAIProvider) -> None:
    """A data line that is not JSON raises a ProviderError, not a JSON exception."""
    with pytest.raises(ProviderUnavailableError, match="malformed"):
        await fold(adapter, [ServerSentEvent(data="{not json")])


def _err(message: str, code: str | None = None, kind: str = "invalid_request_error") -> Any:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (400, _err("bad"), InvalidRequestError, False),
        (
            400,
            _err(
                "This model's maximum context length is 128000 tokens.", "context_length_exceeded"
            ),
            ContextLengthExceededError,
            False,
        ),
        (
            400,
            _err("This model's maximum context length is 8192"),
            ContextLengthExceededError,
            False,
        ),
        (401, _err("Incorrect API key", "invalid_api_key"), AuthenticationError, False),
        (403, _err("Country not supported"), PermissionDeniedError, False),
        (404, _err("The model does not exist", "model_not_found"), ModelNotFoundError, False),
        (408, _err("timeout"), ProviderTimeoutError, True),
        (409, _err("conflict"), ProviderUnavailableError, True),
        (422, _err("unprocessable"), InvalidRequestError, False),
        (424, _err("failed dependency"), ProviderUnavailableError, True),
        (499, _err("client closed"), ProviderUnavailableError, True),
        (429, _err("Rate limit reached", "rate_limit_exceeded"), RateLimitError, True),
        (429, _err("You exceeded your current quota", "insufficient_quota"), RateLimitError, False),
        (500, _err("server", kind="server_error"), ProviderUnavailableError, True),
        (503, "<html>overloaded</html>", ProviderUnavailableError, True),
        (504, _err("gateway"), ProviderTimeoutError, True),
    ],
)
async def test_http_errors_map_to_the_spec_classes(
    adapter: OpenAIProvider, status: int, body: Any, cls: type[ProviderError], retryable: bool
) -> None:
    """Every status row of SPEC §2.4 maps to its class with the vendor's fields kept."""
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"text": body}
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").respond(
            status, headers={"x-request-id": "req_e", "retry-after": "3"}, **kwargs
        )
        with pytest.raises(cls) as info:
            await send(adapter, MESSAGES, "gpt-4o")
    error = info.value
    assert type(error) is cls
    assert (status, "req_e", "openai", "gpt-4o") == (
        error.status_code,
        error.request_id,
        error.provider,
        error.model,
    )
    assert retryable == error.is_retryable
    assert 3.0 == error.retry_after
    assert "sk-test-123" not in str(error) + repr(error)


async def test_x_should_retry_header_overrides_status(adapter: OpenAIProvider) -> None:
    """x-should-retry: false makes a 500 non-retryable, true makes a 400 retryable."""
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[
                httpx.Response(500, json=_err("x"), headers={"x-should-retry": "false"}),
                httpx.Response(400, json=_err("x"), headers={"x-should-retry": "true"}),
            ]
        )
        with pytest.raises(ProviderUnavailableError) as first:
            await send(adapter, MESSAGES, "gpt-4o")
        with pytest.raises(InvalidRequestError) as second:
            await send(adapter, MESSAGES, "gpt-4o")
    assert (False, True) == (first.value.is_retryable, second.value.is_retryable)


async def test_stream_http_error_is_mapped_before_any_event(adapter: OpenAIProvider) -> None:
    """A non-2xx answer to a streaming request raises the mapped error with its body."""
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").respond(429, json=_err("slow down"))
        with pytest.raises(RateLimitError) as info:
            async for _ in stream(adapter, MESSAGES, "gpt-4o"):
                pass
    assert "slow down" == info.value.message


async def test_transport_failures_are_mapped(adapter: OpenAIProvider) -> None:
    """Connect errors and timeouts become ProviderConnectionError / ProviderTimeoutError."""
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
        )
        with pytest.raises(ProviderConnectionError) as conn:
            await send(adapter, MESSAGES, "gpt-4o")
        with pytest.raises(ProviderTimeoutError):
            await send(adapter, MESSAGES, "gpt-4o")
    assert isinstance(conn.value.__cause__, httpx.ConnectError)


async def test_non_json_success_body_is_a_provider_error(adapter: OpenAIProvider) -> None:
    """A 200 whose body is not a JSON object raises ProviderUnavailableError."""
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[httpx.Response(200, text="<html>"), httpx.Response(200, json=[1])]
        )
        with pytest.raises(ProviderUnavailableError, match="not JSON"):
            await send(adapter, MESSAGES, "gpt-4o")
        with pytest.raises(ProviderUnavailableError, match="not an object"):
            await send(adapter, MESSAGES, "gpt-4o")


async def test_model_listing_excludes_fine_tunes_and_non_chat_families(
    adapter: OpenAIProvider,
) -> None:
    """/models keeps chat models and drops ft:, embeddings, tts, whisper, dall-e and friends."""
    ids = [
        "gpt-4o",
        "gpt-4o-mini",
        "o3",
        "ft:gpt-4o-mini:acme:custom:7p4lURel",
        "text-embedding-3-large",
        "tts-1",
        "whisper-1",
        "gpt-4o-transcribe",
        "dall-e-3",
        "gpt-image-1",
        "omni-moderation-latest",
        "gpt-4o-realtime-preview",
        "gpt-4o-audio-preview",
        "gpt-4o-search-preview",
        "davinci-002",
    ]
    payload = {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}
    with respx.mock() as mock:
        mock.get(f"{BASE}/models").respond(200, json=payload)
        models = await adapter.get_available_models()
    assert ["gpt-4o", "gpt-4o-mini", "o3"] == [m.name for m in models]
    assert {"id": "gpt-4o", "object": "model"} == models[0].raw
    assert not is_chat_model("ft-abc")


async def test_custom_base_url_and_no_key_for_local_servers() -> None:
    """An OpenAI-compatible base_url is used as given and no auth header is sent without a key."""
    async with httpx.AsyncClient() as http:
        config = OpenAIConfig(base_url="http://localhost:11434/v1/", headers={"x-extra": "1"})
        adapter = OpenAIProvider("ollama", config, http)
        with respx.mock() as mock:
            route = mock.post("http://localhost:11434/v1/chat/completions").respond(
                200, json={"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
            )
            response = await send(adapter, MESSAGES, "llama3")
    assert "hi" == response.content
    assert "authorization" not in route.calls[0].request.headers
    assert "1" == route.calls[0].request.headers["x-extra"]


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}, [("text", "Hi")]),
        ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
         [("text", "Hi")]),
        ({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
         [("text", "Hi"), ("usage", ""), ("finish", "")]),
        ({"choices": [{"index": 1, "delta": {"content": "other choice"}}]}, []),
        ({"choices": [{"index": 0, "delta": {"content": ""}}]}, []),
        ({"choices": "Hi"}, []),
        ({"choices": [{"index": 0, "delta": {"refusal": "No."}}]}, [("text", "No.")]),
        ({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c", "function": {"name": "f", "arguments": "{"}}]}}]},
         [("tool_start", ""), ("tool_delta", "{")]),
        ({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": {"a": 1}}}]}}]},
         [("tool_start", ""), ("tool_delta", '{"a": 1}')]),
    ],
)  # fmt: skip
def test_chunks_off_the_usual_shape_parse_in_full(
    adapter: OpenAIProvider, chunk: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    """Only a lone text fragment takes the short path; every other shape is read whole."""
    parse = ChunkParser(adapter, "gpt-4o", None)
    got = parse(ServerSentEvent(json.dumps(chunk))) + parse.end()
    assert expected == [(e.kind, e.text) for e in got]
