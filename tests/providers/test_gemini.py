from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from llmorch._sse import ServerSentEvent, SSEDecoder
from llmorch.config import GeminiConfig
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
from llmorch.providers._gemini_errors import retry_delay
from llmorch.providers._gemini_stream import GeminiStreamParser
from llmorch.providers._gemini_wire import usage_tokens
from llmorch.providers.gemini import GeminiProvider, model_path
from llmorch.streaming import StreamAccumulator
from tests.adapters import send, stream, typed
from tests.conftest import chunks, fixture_bytes

BASE = "https://generativelanguage.googleapis.com/v1beta"
URL = f"{BASE}/models/gemini-2.0-flash:generateContent"
STREAM_URL = f"{BASE}/models/gemini-2.0-flash:streamGenerateContent"
MESSAGES = [{"role": "user", "content": "Hi"}]
KEY = "AIza-secret-key"

BARE_ERROR = (
    b'{\r\n  "error": {\r\n    "code": 499,\r\n    "message": "The operation was cancelled.",'
    b'\r\n    "status": "CANCELLED"\r\n  }\r\n}\r\n'
)


@pytest.fixture
async def adapter() -> AsyncIterator[GeminiProvider]:
    async with httpx.AsyncClient() as http:
        config = GeminiConfig(api_key=KEY, safety_settings=[{"category": "C", "threshold": "T"}])
        yield GeminiProvider("gemini", config, http)


def parse(data: bytes, cut: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(bare_json=True)
    return decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.flush()


async def fold(adapter: GeminiProvider, events: list[ServerSentEvent]) -> StreamAccumulator:
    acc = StreamAccumulator()
    parse = GeminiStreamParser(adapter, "gemini-2.0-flash", None)
    for sse in events:
        for event in parse(sse):
            acc.add(event)
    return acc


def _err(code: int, status: str, message: str = "x", **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


async def test_unary_fixture_parses_exactly(adapter: GeminiProvider) -> None:
    """The recorded generateContent answer gives its text, stop and exact token counts."""
    body = json.loads(fixture_bytes("gemini_generate_content_response.json"))
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=body)
        response = await send(adapter, MESSAGES, "gemini-2.0-flash")
    assert body["candidates"][0]["content"]["parts"][0]["text"] == response.content
    assert response.content.startswith("Google's headquarters")
    assert "stop" == response.finish_reason
    assert {"prompt": 7, "completion": 22, "total": 29} == response.tokens_used
    assert "gemini-2.0-flash" == response.model_answered
    request = route.calls[0].request
    assert KEY == request.headers["x-goog-api-key"]
    assert KEY not in str(request.url)
    sent = json.loads(request.content)
    assert {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "safetySettings": [{"category": "C", "threshold": "T"}],
    } == sent


@pytest.mark.parametrize(
    ("name", "text", "tokens"),
    [
        (
            "gemini_stream_basic.sse",
            "The capital of Wyoming is **Cheyenne**.\n",
            {"prompt": 7, "completion": 10, "total": 17},
        ),
        ("vertex_gemini_stream_basic.sse", "Cheyenne", {"prompt": 6, "completion": 4, "total": 10}),
    ],
)
async def test_stream_fixtures_resplit_at_every_offset(
    adapter: GeminiProvider, name: str, text: str, tokens: dict[str, int]
) -> None:
    """Each recorded CRLF stream, split at any byte, gives its text, stop and last usage."""
    data = fixture_bytes(name)
    for cut in range(len(data) + 1):
        acc = await fold(adapter, parse(data, cut))
        assert text == acc.text, cut
        assert "stop" == acc.finish_reason
        assert tokens == acc.tokens
    if name.startswith("gemini"):
        assert "gemini-2.0-flash" == acc.model_answered


async def test_bare_json_error_mid_stream_is_mapped_at_every_offset(
    adapter: GeminiProvider,
) -> None:
    """A pretty-printed {"error": …} without data: after a chunk raises its mapped error."""
    data = fixture_bytes("gemini_stream_basic.sse").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    data += BARE_ERROR
    for cut in range(len(data) + 1):
        events = parse(data, cut)
        assert "bare-json" == events[-1].event
        acc = StreamAccumulator()
        parser = GeminiStreamParser(adapter, "m", None)
        with pytest.raises(ProviderUnavailableError) as info:
            for sse in events:
                for event in parser(sse):
                    acc.add(event)
        assert "The" == acc.text
        assert "The operation was cancelled." == info.value.message
        assert info.value.is_retryable


async def test_list_wrapped_and_unterminated_bare_errors(adapter: GeminiProvider) -> None:
    """A list-wrapped error maps by its code; a bare value cut off at EOF is malformed."""
    wrapped = json.dumps([_err(429, "RESOURCE_EXHAUSTED")]).encode() + b"\n"
    with pytest.raises(RateLimitError):
        await fold(adapter, parse(wrapped, 3))
    with pytest.raises(ProviderUnavailableError, match="malformed"):
        await fold(adapter, parse(b'{\n  "error": {', 5))
    with pytest.raises(ProviderUnavailableError, match="malformed"):
        await fold(adapter, parse(b"data: {nope\n\n", 0))
    assert "" == (await fold(adapter, [ServerSentEvent(data=""), ServerSentEvent("3")])).text


async def test_a_401_opening_a_stream_is_raised(adapter: GeminiProvider) -> None:
    """An API key cannot be refreshed: a 401 opening a stream is raised as it is."""
    with respx.mock() as mock:
        route = mock.post(STREAM_URL).respond(401, json=_err(401, "UNAUTHENTICATED"))
        with pytest.raises(AuthenticationError):
            _ = [e async for e in stream(adapter, MESSAGES, "gemini-2.0-flash")]
    assert 1 == route.call_count


async def test_stream_over_http_sends_alt_sse_and_yields_events(adapter: GeminiProvider) -> None:
    """A streamed call posts to :streamGenerateContent?alt=sse and yields start, text, usage."""
    data = fixture_bytes("gemini_stream_basic.sse")
    with respx.mock() as mock:
        route = mock.post(STREAM_URL).respond(200, stream=chunks(data, 5, 301, 302))
        events = [e async for e in stream(adapter, MESSAGES, "gemini-2.0-flash")]
    assert "sse" == route.calls[0].request.url.params["alt"]
    assert KEY not in str(route.calls[0].request.url)
    assert "start" == events[0].kind
    assert "The capital of Wyoming is **Cheyenne**.\n" == "".join(e.text for e in events)
    assert ["stop"] == [e.finish_reason for e in events if e.kind == "finish"]


def test_body_maps_roles_system_and_generation_config() -> None:
    """System → systemInstruction, assistant → model, same-role turns merged, config fields."""
    from llmorch.providers._gemini_wire import encode_request

    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d"},
        {"role": "user", "content": "e"},
    ]
    options = {"stop": "END", "top_p": 0.5, "top_k": 40, "seed": 7}
    body = encode_request(typed(messages, "gemini-2.0-flash", 0.2, 256, **options), "gemini")
    assert {"parts": [{"text": "Be terse."}]} == body["systemInstruction"]
    assert [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
        {"role": "user", "parts": [{"text": "e"}]},
    ] == body["contents"]
    assert {
        "temperature": 0.2,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "topP": 0.5,
        "topK": 40,
        "seed": 7,
    } == body["generationConfig"]
    assert "safetySettings" not in body and "tools" not in body
    with pytest.raises(InvalidRequestError, match="at least one user"):
        encode_request(typed([{"role": "system", "content": "x"}], "gemini-2.0-flash"), "gemini")


def test_usage_counts_thoughts_as_output_and_tool_prompts_as_input() -> None:
    """thoughts are billed output (reasoning), tool-use prompt tokens input, cache a part."""
    meta = {
        "promptTokenCount": 1000,
        "toolUsePromptTokenCount": 50,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 300,
        "cachedContentTokenCount": 800,
    }
    assert {
        "prompt": 1050,
        "completion": 320,
        "total": 1370,
        "cache_read": 800,
        "reasoning": 300,
    } == usage_tokens(meta)
    zero = usage_tokens({"promptTokenCount": 3, "thoughtsTokenCount": 0})
    assert {"prompt": 3, "completion": 0, "total": 3, "reasoning": 0} == zero


async def test_thought_parts_are_kept_out_of_content(adapter: GeminiProvider) -> None:
    """Parts with thought: true are summaries, not answer text."""
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "thinking…", "thought": True}, {"text": "42"}],
                    "role": "model",
                },
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 4,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 9,
        },
        "responseId": "resp-1",
    }
    with respx.mock() as mock:
        mock.post(URL).respond(200, json=body)
        response = await send(adapter, MESSAGES, "gemini-2.0-flash")
    assert ("42", "length", "resp-1") == (
        response.content,
        response.finish_reason,
        response.request_id,
    )
    assert {"prompt": 4, "completion": 10, "total": 14, "reasoning": 9} == response.tokens_used


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "other"),
        ("SOMETHING_NEW", "other"),
    ],
)
async def test_finish_reasons_map(adapter: GeminiProvider, reason: str, finish: str) -> None:
    """finishReason values map to the normalised set; unknown ones are other."""
    body = {"candidates": [{"content": {"parts": [{"text": "t"}]}, "finishReason": reason}]}
    with respx.mock() as mock:
        mock.post(URL).respond(200, json=body)
        assert finish == (await send(adapter, MESSAGES, "gemini-2.0-flash")).finish_reason


async def test_blocked_prompt_and_blocked_answer_raise_content_filtered(
    adapter: GeminiProvider,
) -> None:
    """promptFeedback.blockReason, or a SAFETY finish with no text, is ContentFilteredError."""
    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {}}
    empty = {"candidates": [{"finishReason": "SAFETY"}]}
    with respx.mock() as mock:
        mock.post(URL).mock(
            side_effect=[httpx.Response(200, json=blocked), httpx.Response(200, json=empty)]
        )
        with pytest.raises(ContentFilteredError, match="PROHIBITED_CONTENT"):
            await send(adapter, MESSAGES, "gemini-2.0-flash")
        with pytest.raises(ContentFilteredError, match="SAFETY"):
            await send(adapter, MESSAGES, "gemini-2.0-flash")
    for chunk in (blocked, empty):
        with pytest.raises(ContentFilteredError):
            await fold(adapter, [ServerSentEvent(data=json.dumps(chunk))])


async def test_stream_answer_filtered_after_text_keeps_text(adapter: GeminiProvider) -> None:
    """A SAFETY finish after some text ends the stream with finish_reason content_filter."""
    first = {"candidates": [{"content": {"parts": [{"text": "partial"}]}}]}
    last = {"candidates": [{"finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 1}}
    acc = await fold(
        adapter, [ServerSentEvent(json.dumps(first)), ServerSentEvent(json.dumps(last))]
    )
    assert ("partial", "content_filter") == (acc.text, acc.finish_reason)


@pytest.mark.parametrize(
    ("fixture", "status", "cls"),
    [
        ("gemini_error_400_api_key_invalid.json", 400, AuthenticationError),
        ("gemini_error_404_model_not_found.json", 404, ModelNotFoundError),
        ("gemini_error_429_quota_exceeded.json", 429, RateLimitError),
        ("vertex_error_403_iam_permission_denied.json", 403, PermissionDeniedError),
    ],
)
async def test_recorded_error_fixtures_map(
    adapter: GeminiProvider, fixture: str, status: int, cls: type[ProviderError]
) -> None:
    """The recorded error bodies map to their classes (the invalid key is a 400 auth error)."""
    body = json.loads(fixture_bytes(fixture))
    with respx.mock() as mock:
        mock.post(URL).respond(status, json=body)
        with pytest.raises(cls) as info:
            await send(adapter, MESSAGES, "gemini-2.0-flash")
    assert type(info.value) is cls
    assert (status, body["error"]["message"]) == (info.value.status_code, info.value.message)
    assert KEY not in str(info.value) + repr(info.value)
    assert info.value.is_retryable is (cls is RateLimitError)


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, _err(400, "INVALID_ARGUMENT"), InvalidRequestError),
        (400, _err(400, "FAILED_PRECONDITION"), InvalidRequestError),
        (
            400,
            _err(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum"),
            ContextLengthExceededError,
        ),
        (
            400,
            _err(400, "INVALID_ARGUMENT", "models/x is not found for API version v1beta"),
            ModelNotFoundError,
        ),
        (401, _err(401, "UNAUTHENTICATED"), AuthenticationError),
        (403, _err(403, "PERMISSION_DENIED"), PermissionDeniedError),
        (404, _err(404, "NOT_FOUND"), ModelNotFoundError),
        (408, _err(408, "DEADLINE_EXCEEDED"), ProviderTimeoutError),
        (409, _err(409, "ABORTED"), ProviderUnavailableError),
        (424, _err(424, "FAILED_DEPENDENCY"), ProviderUnavailableError),
        (429, _err(429, "RESOURCE_EXHAUSTED"), RateLimitError),
        (499, _err(499, "CANCELLED"), ProviderUnavailableError),
        (500, _err(500, "INTERNAL"), ProviderUnavailableError),
        (503, _err(503, "UNAVAILABLE"), ProviderUnavailableError),
        (504, _err(504, "DEADLINE_EXCEEDED"), ProviderTimeoutError),
        (502, "<html>Bad Gateway</html>", ProviderUnavailableError),
        (429, [_err(429, "RESOURCE_EXHAUSTED")], RateLimitError),
    ],
)
async def test_http_errors_map_to_the_spec_classes(
    adapter: GeminiProvider, status: int, body: Any, cls: type[ProviderError]
) -> None:
    """Every SPEC §2.4 status maps to its class; the key never appears in the error."""
    with respx.mock() as mock:
        if isinstance(body, str):
            mock.post(URL).respond(status, text=body)
        else:
            mock.post(URL).respond(status, json=body)
        with pytest.raises(cls) as info:
            await send(adapter, MESSAGES, "gemini-2.0-flash")
    assert type(info.value) is cls
    assert status == info.value.status_code
    assert KEY not in str(info.value) + repr(info.value) + str(info.value.body)


async def test_retry_info_sets_retry_after(adapter: GeminiProvider) -> None:
    """RESOURCE_EXHAUSTED with RetryInfo.retryDelay "12s" is a RateLimitError to retry in 12 s."""
    body = _err(429, "RESOURCE_EXHAUSTED", details=[RETRY_INFO])
    with respx.mock() as mock:
        mock.post(URL).respond(429, json=body)
        with pytest.raises(RateLimitError) as info:
            await send(adapter, MESSAGES, "gemini-2.0-flash")
    assert 12.0 == info.value.retry_after
    nanos = {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": {"seconds": 1, "nanos": 5e8},
    }
    assert 1.5 == retry_delay(_err(429, "RESOURCE_EXHAUSTED", details=[nanos]))
    broken = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon-s"}
    assert retry_delay(_err(429, "RESOURCE_EXHAUSTED", details=[broken])) is None


async def test_in_stream_error_uses_its_code(adapter: GeminiProvider) -> None:
    """An in-stream error is classified by its own code, or its status when the code is absent."""
    cases: list[tuple[dict[str, Any], type[ProviderError]]] = [
        (_err(400, "INVALID_ARGUMENT"), InvalidRequestError),
        ({"error": {"message": "m", "status": "RESOURCE_EXHAUSTED"}}, RateLimitError),
        ({"error": {"message": "m", "status": "WHO_KNOWS"}}, ProviderUnavailableError),
    ]
    for body, cls in cases:
        with pytest.raises(cls) as info:
            await fold(adapter, [ServerSentEvent(json.dumps(body), event="bare-json")])
        assert info.value.status_code is None


async def test_model_listing_follows_pages_and_keeps_chat_base_models(
    adapter: GeminiProvider,
) -> None:
    """GET /v1beta/models is paged with pageToken; only generateContent base models are kept."""
    chat = ["generateContent", "countTokens"]
    pages = [
        {
            "models": [
                {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": chat},
                {
                    "name": "models/text-embedding-004",
                    "supportedGenerationMethods": ["embedContent"],
                },
            ],
            "nextPageToken": "p2",
        },
        {
            "models": [
                {"name": "tunedModels/mine-123", "supportedGenerationMethods": chat},
                {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": chat},
                {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": chat},
                "junk",
            ]
        },
    ]
    with respx.mock() as mock:
        route = mock.get(f"{BASE}/models").mock(
            side_effect=[httpx.Response(200, json=p) for p in pages]
        )
        models = await adapter.get_available_models()
    assert ["gemini-2.5-flash", "gemini-2.5-pro"] == [m.name for m in models]
    assert "p2" == route.calls[1].request.url.params["pageToken"]
    assert "pageToken" not in route.calls[0].request.url.params
    assert KEY == route.calls[0].request.headers["x-goog-api-key"]


def test_model_path_and_missing_key() -> None:
    """Bare ids get models/; tuned and prefixed ids are kept; no key sends no header."""
    assert "models/gemini-2.5-flash" == model_path("gemini-2.5-flash")
    assert "models/x" == model_path("models/x")
    assert "tunedModels/t" == model_path("tunedModels/t")
    assert {} == GeminiProvider("g", GeminiConfig(), httpx.AsyncClient()).auth_headers()


def test_decoder_collects_bare_json_only_when_asked() -> None:
    """Without bare_json a stray JSON line is ignored, as the SSE rules say."""
    assert [] == SSEDecoder().feed(b'{"error": {}}\n\n')
    (event,) = SSEDecoder(bare_json=True).feed(b'{"error": {}}\n\n')
    assert ('{"error": {}}', "bare-json") == (event.data, event.event)


@pytest.mark.parametrize("delay", ["NaNs", "infs", "-infs"])
def test_review_21_non_finite_retry_delay_is_ignored(delay: str) -> None:
    """Gemini's `retryDelay: "NaNs"` is no delay (backoff applies), not "retry now"."""
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    assert retry_delay(_err(429, "RESOURCE_EXHAUSTED", details=[info])) is None
