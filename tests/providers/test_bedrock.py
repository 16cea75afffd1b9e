from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import llmorch
from llmorch import CostTracker
from llmorch.config import BedrockConfig
from llmorch.exceptions import (
    AuthenticationError,
    ConfigurationError,
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
from llmorch.providers._aws import AWSAuth, encode_label
from llmorch.providers.bedrock import BedrockProvider, decode_event_stream
from llmorch.streaming import StreamAccumulator
from tests.adapters import send, stream
from tests.conftest import FIXTURES, chunks, fixture_bytes

RUNTIME = "https://bedrock-runtime.us-west-2.amazonaws.com"
CONTROL = "https://bedrock.us-west-2.amazonaws.com"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
CONVERSE = f"{RUNTIME}/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse"
MESSAGES = [{"role": "user", "content": "Hi"}]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
VECTORS = FIXTURES / "botocore_eventstream_vectors"
VECTOR_INFO: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text())
REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Cheyenne."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
    "metrics": {"latencyMs": 412},
}


def config(**extra: Any) -> BedrockConfig:
    keys = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": SECRET}
    return BedrockConfig(region_name="us-west-2", **(keys | extra))


@pytest.fixture
async def adapter() -> AsyncIterator[BedrockProvider]:
    async with httpx.AsyncClient() as http:
        yield BedrockProvider("bedrock", config(), http)


# The decoder only uses the adapter to name errors: no HTTP client is needed.
DECODER = BedrockProvider("bedrock", config(), None)  # type: ignore[arg-type]


async def fold(data: bytes, *cuts: int) -> StreamAccumulator:
    acc = StreamAccumulator()
    async for event in decode_event_stream(chunks(data, *cuts), DECODER, MODEL, "rid"):
        acc.add(event)
    return acc


def verify_sigv4(request: httpx.Request, secret: str = SECRET) -> bool:
    """Recompute the request's SigV4 signature from what went over the wire."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    auth = request.headers["authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    scope = auth.split("Credential=")[1].split(",")[0].split("/")
    raw = AWSRequest(
        method=request.method,
        url=f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.raw_path.decode()}",
        headers={name: request.headers[name] for name in signed},
        data=request.content,
    )
    raw.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(ReadOnlyCredentials(scope[0], secret, None), scope[3], scope[2])
    expected = signer.signature(signer.string_to_sign(raw, signer.canonical_request(raw)), raw)
    return auth.endswith(f"Signature={expected}")


async def test_converse_body_and_signed_request(adapter: BedrockProvider) -> None:
    """System blocks, merged turns, inferenceConfig and extras; the sent bytes verify as SigV4."""
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "system", "content": "Use English."},
        {"role": "user", "content": "d"},
    ]
    extras = {"top_k": 50, "guardrailConfig": {"guardrailIdentifier": "g"}}
    with respx.mock() as mock:
        route = mock.post(CONVERSE).respond(200, json=REPLY, headers={"x-amzn-RequestId": "r-1"})
        await send(adapter, messages, MODEL, 0.3, 100, stop="END", top_p=0.9, **extras)
    request = route.calls[0].request
    assert {
        "system": [{"text": "Be terse."}, {"text": "Use English."}],
        "messages": [
            {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
            {"role": "assistant", "content": [{"text": "c"}]},
            {"role": "user", "content": [{"text": "d"}]},
        ],
        "inferenceConfig": {
            "maxTokens": 100,
            "temperature": 0.3,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
        "guardrailConfig": {"guardrailIdentifier": "g"},
        "additionalModelRequestFields": {"top_k": 50},
    } == json.loads(request.content)
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/bedrock/aws4_request" in request.headers["authorization"]
    assert verify_sigv4(request)
    assert not verify_sigv4(request, secret="wrong")


async def test_only_what_was_given_is_sent(adapter: BedrockProvider) -> None:
    """No temperature or max_tokens given: no inferenceConfig; explicit blocks are merged."""
    with respx.mock() as mock:
        route = mock.post(CONVERSE).respond(200, json=REPLY)
        await send(adapter, MESSAGES, MODEL)
        await send(
            adapter,
            MESSAGES,
            MODEL,
            max_tokens=5,
            inferenceConfig={"temperature": 0},
            additionalModelRequestFields={"a": 1},
            b=2,
        )
    assert {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]} == json.loads(
        route.calls[0].request.content
    )
    second = json.loads(route.calls[1].request.content)
    assert {"temperature": 0, "maxTokens": 5} == second["inferenceConfig"]
    assert {"a": 1} == second["additionalModelRequestFields"]
    assert 2 == second["b"]  # a vendor field given through extra_body goes to the top level


async def test_only_system_messages_are_rejected_before_sending(adapter: BedrockProvider) -> None:
    """A request with no user/assistant turn fails locally with InvalidRequestError."""
    with pytest.raises(InvalidRequestError, match="at least one user"):
        await send(adapter, [{"role": "system", "content": "x"}], MODEL)


def botocore_path(model: str, operation: str = "Converse") -> str:
    """The path botocore's own REST-JSON serializer builds for a bedrock-runtime operation."""
    import botocore.session
    from botocore.serialize import create_serializer

    service = botocore.session.get_session().get_service_model("bedrock-runtime")
    params = {"modelId": model, "messages": []}
    request = create_serializer("rest-json").serialize_to_request(
        params, service.operation_model(operation)
    )
    return str(request["url_path"])


@pytest.mark.parametrize(
    "model",
    [
        MODEL,
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
    ],
)
async def test_model_ids_and_arns_are_encoded_and_signed_as_sent(
    adapter: BedrockProvider, model: str
) -> None:
    """Ids with ':' and ARNs with '/' go out exactly as botocore's serializer writes them
    (``%3A``, ``%2F``), and that exact path is signed."""
    with respx.mock() as mock:
        route = mock.post(url__startswith=RUNTIME).respond(200, json=REPLY)
        await send(adapter, MESSAGES, model)
    request = route.calls[0].request
    assert botocore_path(model) == request.url.raw_path.decode()
    assert "%3A" in request.url.raw_path.decode()
    assert verify_sigv4(request)


def test_label_encoding_is_botocores() -> None:
    """Everything but RFC 3986 unreserved characters is escaped, as botocore's percent_encode."""
    from botocore.utils import percent_encode

    for value in ("a:b/c dé~_.-", MODEL, "arn:aws:bedrock:us-east-1:1:inference-profile/x:0"):
        assert percent_encode(value) == encode_label(value)
    assert "a%3Ab%2Fc%20d%C3%A9" == encode_label("a:b/c dé")


async def test_usage_counts_cache_into_prompt_and_request_id(adapter: BedrockProvider) -> None:
    """prompt = inputTokens + cacheRead + cacheWrite; 1-hour writes are kept apart; request id."""
    usage = {
        "inputTokens": 10,
        "outputTokens": 20,
        "totalTokens": 1530,
        "cacheReadInputTokens": 1000,
        "cacheWriteInputTokens": 500,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 300}, {"ttl": "5m", "inputTokens": 200}],
    }
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(
            200, json=REPLY | {"usage": usage}, headers={"x-amzn-RequestId": "abc-123"}
        )
        response = await send(adapter, MESSAGES, MODEL)
    assert {
        "prompt": 1510,
        "completion": 20,
        "total": 1530,
        "cache_read": 1000,
        "cache_write": 500,
        "cache_write_1h": 300,
    } == response.tokens_used
    assert ("Cheyenne.", "stop", "abc-123") == (
        response.content,
        response.finish_reason,
        response.request_id,
    )
    assert REPLY["metrics"] == (response.raw_response or {})["metrics"]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "other"),
    ],
)
async def test_stop_reasons_are_normalised(
    adapter: BedrockProvider, reason: str, finish: str
) -> None:
    """Every documented stopReason maps to a normalised finish reason."""
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(200, json=REPLY | {"stopReason": reason})
        response = await send(adapter, MESSAGES, MODEL)
    assert finish == response.finish_reason


async def test_blocked_without_text_raises_content_filtered(adapter: BedrockProvider) -> None:
    """A guardrail intervention with no text is ContentFilteredError."""
    body = REPLY | {
        "output": {"message": {"role": "assistant", "content": []}},
        "stopReason": "guardrail_intervened",
    }
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(200, json=body)
        with pytest.raises(ContentFilteredError, match="guardrail_intervened"):
            await send(adapter, MESSAGES, MODEL)


async def test_non_object_body_is_unavailable(adapter: BedrockProvider) -> None:
    """A 200 whose body is not a JSON object is a ProviderUnavailableError."""
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(200, content=b"<html>")
        with pytest.raises(ProviderUnavailableError, match="not a JSON object"):
            await send(adapter, MESSAGES, MODEL)


# -- the error table (issue 5): dispatch on x-amzn-ErrorType, then message, then status --

ERROR_TABLE = [
    (429, "ThrottlingException", "Too many requests", RateLimitError, True),
    (429, "ModelNotReadyException", "Model is not ready", ProviderUnavailableError, True),
    (503, "ServiceUnavailableException", "Try later", ProviderUnavailableError, True),
    (408, "ModelTimeoutException", "Model timed out", ProviderTimeoutError, True),
    (500, "InternalServerException", "Internal error", ProviderUnavailableError, True),
    (424, "ModelErrorException", "The model errored", ProviderUnavailableError, True),
    (400, "ValidationException", "Malformed input request", InvalidRequestError, False),
    (
        400,
        "ValidationException",
        "Input is too long for requested model.",
        ContextLengthExceededError,
        False,
    ),
    (
        400,
        "ValidationException",
        "Too many input tokens. Max input tokens: 8192, request input token count: 9000",
        ContextLengthExceededError,
        False,
    ),
    (
        400,
        "ValidationException",
        "The provided model identifier is invalid.",
        ModelNotFoundError,
        False,
    ),
    (400, "ServiceQuotaExceededException", "Quota exceeded", RateLimitError, False),
    (403, "AccessDeniedException", "You don't have access", PermissionDeniedError, False),
    (
        403,
        "UnrecognizedClientException",
        "The security token is invalid",
        AuthenticationError,
        False,
    ),
    (403, "InvalidSignatureException", "Signature mismatch", AuthenticationError, False),
    (403, "ExpiredTokenException", "The security token expired", AuthenticationError, False),
    (404, "ResourceNotFoundException", "Model not found", ModelNotFoundError, False),
    (502, "", "Bad gateway", ProviderUnavailableError, True),
]


@pytest.mark.parametrize(("status", "code", "message", "cls", "retryable"), ERROR_TABLE)
async def test_error_table_by_error_type_header(
    adapter: BedrockProvider,
    status: int,
    code: str,
    message: str,
    cls: type[ProviderError],
    retryable: bool,
) -> None:
    """Each x-amzn-ErrorType maps to its class and retryability; request id; no secret leaks."""
    headers = {"x-amzn-RequestId": "rid-9"}
    if code:
        headers["x-amzn-ErrorType"] = f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(status, json={"message": message}, headers=headers)
        with pytest.raises(cls) as info:
            await send(adapter, MESSAGES, MODEL)
    error = info.value
    assert type(error) is cls
    assert (status, "rid-9", retryable) == (error.status_code, error.request_id, error.is_retryable)
    assert message in error.message
    assert SECRET not in str(error) + repr(error) + str(error.body)


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (
            {"__type": "com.amazon.coral.service#ThrottlingException", "message": "x"},
            RateLimitError,
        ),
        ({"code": "AccessDeniedException", "Message": "no"}, PermissionDeniedError),
    ],
)
async def test_error_code_from_the_body(
    adapter: BedrockProvider, body: dict[str, Any], cls: type[ProviderError]
) -> None:
    """Without the header, the code comes from __type (cut after '#') or code."""
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(400, json=body)
        with pytest.raises(cls):
            await send(adapter, MESSAGES, MODEL)


async def test_non_json_error_body_uses_the_status(adapter: BedrockProvider) -> None:
    """A text error body without a type maps by status."""
    with respx.mock() as mock:
        mock.post(CONVERSE).respond(504, text="Gateway Timeout")
        with pytest.raises(ProviderTimeoutError, match="Gateway Timeout"):
            await send(adapter, MESSAGES, MODEL)


# -- event streams --


async def test_stream_fixture_resplit_at_every_offset() -> None:
    """The Bedrock-shaped stream gives its text, finish and cache-aware usage at any split."""
    data = fixture_bytes("bedrock_converse_stream_basic.bin")
    for cut in range(len(data) + 1):
        acc = await fold(data, cut)
        assert "Cheyenne — 🤠" == acc.text, cut
        assert "stop" == acc.finish_reason
        assert {
            "prompt": 1512,
            "completion": 4,
            "total": 1516,
            "cache_read": 1000,
            "cache_write": 500,
        } == acc.tokens


async def test_stream_fixture_in_one_byte_chunks() -> None:
    """Feeding the stream one byte at a time changes nothing."""
    data = fixture_bytes("bedrock_converse_stream_basic.bin")
    acc = await fold(data, *range(1, len(data)))
    assert "Cheyenne — 🤠" == acc.text


async def test_in_stream_throttling_exception_is_rate_limit() -> None:
    """The throttlingException frame maps to a retryable RateLimitError after the text."""
    data = fixture_bytes("bedrock_converse_stream_throttling.bin")
    for cut in range(0, len(data) + 1, 7):
        with pytest.raises(RateLimitError) as info:
            await fold(data, cut)
        assert info.value.message.startswith("throttlingException: Too many requests")
        assert (None, "rid", True) == (
            info.value.status_code,
            info.value.request_id,
            info.value.is_retryable,
        )


@pytest.mark.parametrize(
    "name", sorted(n for n, v in VECTOR_INFO.items() if v["expect"] == "decodes")
)
async def test_botocore_positive_vectors_decode(name: str) -> None:
    """botocore's valid frames pass the stream path at every split (the generic `error` frame is
    mapped); a body of frames none of which is a Converse event is not an answer."""
    data = (VECTORS / f"{name}.bin").read_bytes()
    for cut in range(len(data) + 1):
        match = "code: message" if name == "error_event_message" else "carried no answer"
        with pytest.raises(ProviderUnavailableError, match=match):
            await fold(data, cut)


@pytest.mark.parametrize(
    "name", sorted(n for n, v in VECTOR_INFO.items() if v["expect"] != "decodes")
)
async def test_botocore_negative_vectors_raise_a_clear_error(name: str) -> None:
    """Corrupt frames (CRC, lengths, duplicate headers) raise ProviderUnavailableError, never a
    botocore exception, at every split."""
    data = (VECTORS / f"{name}.bin").read_bytes()
    expected = VECTOR_INFO[name]["expect"].removeprefix("raises ")
    for cut in range(len(data) + 1):
        with pytest.raises(ProviderUnavailableError, match="corrupt event stream") as info:
            await fold(data, cut)
        assert expected in info.value.message
        assert info.value.__cause__ is None


async def test_stream_ending_inside_a_frame_and_bad_json_are_errors() -> None:
    """A truncated frame and a non-JSON payload are ProviderUnavailableErrors."""
    data = fixture_bytes("bedrock_converse_stream_basic.bin")
    with pytest.raises(ProviderUnavailableError, match="ended inside a frame"):
        await fold(data[:-3])
    import struct
    import zlib

    headers = b"".join(
        struct.pack(">B", len(k)) + k + struct.pack(">BH", 7, len(v)) + v
        for k, v in ((b":message-type", b"event"), (b":event-type", b"contentBlockDelta"))
    )
    prelude = struct.pack(">II", 16 + len(headers) + 3, len(headers))
    frame = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + b"{no"
    frame += struct.pack(">I", zlib.crc32(frame))
    with pytest.raises(ProviderUnavailableError, match="malformed stream event"):
        await fold(frame)


async def test_stream_over_http(adapter: BedrockProvider) -> None:
    """converse-stream is signed and posted; start carries the request id; errors before the
    stream map like any other."""
    data = fixture_bytes("bedrock_converse_stream_basic.bin")
    url = f"{RUNTIME}/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse-stream"
    with respx.mock() as mock:
        route = mock.post(url).respond(
            200,
            stream=chunks(data, 5, 300),
            headers={
                "x-amzn-RequestId": "st-1",
                "content-type": "application/vnd.amazon.eventstream",
            },
        )
        events = [e async for e in stream(adapter, MESSAGES, MODEL, max_tokens=9)]
    assert verify_sigv4(route.calls[0].request)
    assert {"maxTokens": 9} == json.loads(route.calls[0].request.content)["inferenceConfig"]
    assert ("start", "st-1") == (events[0].kind, events[0].request_id)
    assert "Cheyenne — 🤠" == "".join(e.text for e in events)
    with respx.mock() as mock:
        mock.post(url).respond(
            429,
            json={"message": "Model not ready"},
            headers={"x-amzn-ErrorType": "ModelNotReadyException"},
        )
        with pytest.raises(ProviderUnavailableError, match="ModelNotReadyException"):
            [e async for e in stream(adapter, MESSAGES, MODEL)]


# -- discovery --


def summary(
    model: str, kinds: list[str], *, modality: str = "TEXT", status: str = "ACTIVE"
) -> dict[str, Any]:
    return {
        "modelArn": f"arn:aws:bedrock:us-west-2::foundation-model/{model}",
        "modelId": model,
        "outputModalities": [modality],
        "inferenceTypesSupported": kinds,
        "modelLifecycle": {"status": status},
    }


def profile(profile_id: str, model: str) -> dict[str, Any]:
    arns = [f"arn:aws:bedrock:{r}::foundation-model/{model}" for r in ("us-east-1", "us-west-2")]
    return {
        "inferenceProfileId": profile_id,
        "status": "ACTIVE",
        "models": [{"modelArn": a} for a in arns],
    }


FOUNDATION = {
    "modelSummaries": [
        summary("amazon.nova-lite-v1:0", ["ON_DEMAND"]),
        summary("anthropic.claude-3-haiku-20240307-v1:0", ["ON_DEMAND"], status="LEGACY"),
        summary("anthropic.claude-sonnet-4-5-20250929-v1:0", ["INFERENCE_PROFILE"]),
        summary("meta.llama3-1-405b-instruct-v1:0", ["INFERENCE_PROFILE"]),
        summary("meta.llama3-70b-instruct-v1:0", ["PROVISIONED"]),
        summary("amazon.titan-embed-text-v2:0", ["ON_DEMAND"], modality="EMBEDDING"),
        {
            **summary("x.custom-v1:0", ["ON_DEMAND"]),
            "modelArn": "arn:aws:bedrock:us-west-2:1:custom-model/x",
        },
    ]
}


async def test_discovery_lists_on_demand_ids_and_profile_only_models_by_profile(
    adapter: BedrockProvider,
) -> None:
    """On-demand models by id, profile-only ones by profile id (pages followed), legacy
    deprecated; provisioned-only, embedding and custom models excluded."""
    token = "AAEC+/x=="
    pages = [
        {
            "inferenceProfileSummaries": [
                profile("us.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0")
            ],
            "nextToken": token,
        },
        {
            "inferenceProfileSummaries": [
                profile(
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "anthropic.claude-sonnet-4-5-20250929-v1:0",
                ),
                {**profile("eu.x", "meta.llama3-1-405b-instruct-v1:0"), "status": "DISABLED"},
            ]
        },
    ]
    with respx.mock() as mock:
        listing = mock.get(f"{CONTROL}/foundation-models").respond(200, json=FOUNDATION)
        profiles = mock.get(f"{CONTROL}/inference-profiles").mock(
            side_effect=[httpx.Response(200, json=p) for p in pages]
        )
        models = await adapter.get_available_models()
    assert [
        ("amazon.nova-lite-v1:0", False),
        ("anthropic.claude-3-haiku-20240307-v1:0", True),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", False),
    ] == [(m.name, m.deprecated) for m in models]
    assert "TEXT" == listing.calls[0].request.url.params["byOutputModality"]
    assert token == profiles.calls[1].request.url.params["nextToken"]
    assert "SYSTEM_DEFINED" == profiles.calls[0].request.url.params["type"]
    assert all(verify_sigv4(call.request) for call in [*listing.calls, *profiles.calls])


async def test_discovery_survives_missing_profile_permission(
    adapter: BedrockProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """AccessDenied on ListInferenceProfiles lists the on-demand models and warns."""
    with respx.mock() as mock:
        mock.get(f"{CONTROL}/foundation-models").respond(200, json=FOUNDATION)
        mock.get(f"{CONTROL}/inference-profiles").respond(
            403, json={"message": "no"}, headers={"x-amzn-ErrorType": "AccessDeniedException"}
        )
        with caplog.at_level(logging.WARNING, logger="llmorch"):
            models = await adapter.get_available_models()
    assert 2 == len(models)
    assert "cannot list inference profiles" in caplog.text


# -- auth modes, endpoints, credentials --


async def test_bedrock_api_key_is_sent_as_bearer() -> None:
    """api_key replaces SigV4 with Authorization: Bearer; endpoints follow endpoint_url."""
    cfg = BedrockConfig(
        region_name="eu-west-1",
        api_key="bedrock-api-key-secret",
        endpoint_url="http://127.0.0.1:9/rt",
    )
    async with httpx.AsyncClient() as http:
        adapter = BedrockProvider("bedrock", cfg, http)
        with respx.mock() as mock:
            route = mock.post(url__startswith="http://127.0.0.1:9/rt/model/").respond(
                200, json=REPLY
            )
            await send(adapter, MESSAGES, MODEL)
        assert "https://bedrock.eu-west-1.amazonaws.com" == await adapter.control_url()
    request = route.calls[0].request
    assert "Bearer bedrock-api-key-secret" == request.headers["authorization"]
    assert "x-amz-date" not in request.headers
    assert "bedrock-api-key-secret" not in repr(adapter) + repr(adapter.auth)


async def test_session_token_is_sent_and_signed() -> None:
    """Temporary credentials add x-amz-security-token, which is part of the signature."""
    async with httpx.AsyncClient() as http:
        adapter = BedrockProvider("bedrock", config(aws_session_token="session-tok"), http)
        with respx.mock() as mock:
            route = mock.post(CONVERSE).respond(200, json=REPLY)
            await send(adapter, MESSAGES, MODEL)
    request = route.calls[0].request
    assert "session-tok" == request.headers["x-amz-security-token"]
    assert "x-amz-security-token" in request.headers["authorization"]
    assert verify_sigv4(request)


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials or region anywhere botocore looks (metadata is disabled in conftest)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_BEARER_TOKEN_BEDROCK",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_env")
async def test_missing_credentials_and_region_are_clear_errors() -> None:
    """No credentials: AuthenticationError; no region: ConfigurationError naming the key."""
    async with httpx.AsyncClient() as http:
        adapter = BedrockProvider("bedrock", BedrockConfig(region_name="us-west-2"), http)
        with pytest.raises(AuthenticationError, match="no AWS credentials found"):
            await send(adapter, MESSAGES, MODEL)
        adapter = BedrockProvider("bedrock", BedrockConfig(), http)
        with pytest.raises(ConfigurationError, match=r"providers\.bedrock\.region_name"):
            await adapter.runtime_url()


@pytest.mark.usefixtures("no_aws_env")
async def test_profile_region_and_credentials_come_from_the_aws_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """profile_name reads the AWS config files (region and keys) through botocore's chain."""
    (tmp_path / "cfg").write_text("[profile work]\nregion = ap-south-1\n")
    (tmp_path / "creds").write_text(
        f"[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "cfg"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "creds"))
    async with httpx.AsyncClient() as http:
        adapter = BedrockProvider("bedrock", BedrockConfig(profile_name="work"), http)
        assert "https://bedrock-runtime.ap-south-1.amazonaws.com" == await adapter.runtime_url()
        with respx.mock() as mock:
            route = mock.post(url__startswith="https://bedrock-runtime.ap-south-1").respond(
                200, json=REPLY
            )
            await send(adapter, MESSAGES, MODEL)
        assert "Credential=AKIDWORK/" in route.calls[0].request.headers["authorization"]
        assert verify_sigv4(route.calls[0].request)
        missing = BedrockProvider(
            "bedrock", BedrockConfig(profile_name="nope", region_name="x"), http
        )
        with pytest.raises(AuthenticationError, match="ProfileNotFound"):
            await send(missing, MESSAGES, MODEL)


async def test_unexpected_credential_failures_are_connection_errors() -> None:
    """A failure of the chain that is not a credentials verdict is a retryable connection error."""

    def broken() -> Any:
        raise OSError("container endpoint unreachable")

    auth = AWSAuth("bedrock", BedrockConfig(region_name="us-west-2"), session_factory=broken)
    with pytest.raises(ProviderConnectionError, match="container endpoint unreachable") as info:
        await auth.sign("GET", "https://x/", b"", {})
    assert info.value.is_retryable


def test_the_cost_of_profile_and_arn_ids_is_the_base_price() -> None:
    """us./global. profile ids and ARNs are priced like the base model."""
    tracker = CostTracker(enabled=False)
    tokens = {"prompt": 1_000_000, "completion": 1_000_000, "total": 2_000_000}
    base = tracker.calculate_cost("bedrock", MODEL, tokens)
    assert 4.8 == pytest.approx(base)
    for model in (
        f"us.{MODEL}",
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{MODEL}",
        f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL}",
    ):
        assert base == tracker.calculate_cost("bedrock", model, tokens), model
    nova = tracker.calculate_cost("bedrock", "us.amazon.nova-lite-v1:0", tokens)
    assert 0.30 == pytest.approx(nova)


def test_a_bedrock_config_loads_botocore_only_when_a_request_needs_it() -> None:
    """Building the orchestrator and the Bedrock adapter imports no botocore."""
    code = textwrap.dedent(
        """
        import json, sys
        from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
        config = OrchestratorConfig.from_dict({
            "active_provider": "bedrock", "active_model": "m",
            "providers": {"bedrock": {"region_name": "us-east-1"}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
        })
        orch = AsyncLLMOrchestrator(config)
        orch._adapter_map()["bedrock"]
        print(json.dumps(sorted(sys.modules)))
        """
    )
    src = str(Path(llmorch.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src, "PATH": ""},
    )
    modules = set(json.loads(out.stdout))
    assert "llmorch.providers.bedrock" in modules
    assert not {m for m in modules if m.split(".")[0] in ("botocore", "boto3")}


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_issue11_item1_sigv4_transports_send_the_encoded_path_verbatim(
    transport: str,
) -> None:
    """What reaches the socket (a raw server reading the request line) is the URL exactly as
    httpx encoded it, on both transports: aiohttp's yarl would turn ``%3A`` into ``:``."""
    import asyncio

    from llmorch._http import create_client

    lines: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head.split(b"\r\n", 1)[0])
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx-v1%3A0/c"
    assert (
        path == f"/model/{encode_label('arn:aws:bedrock:us-east-1:1:inference-profile/x-v1:0')}/c"
    )
    query = "?nextToken=a%3Ab%2Bc"
    client = create_client(transport)
    try:
        response = await client.get(f"http://127.0.0.1:{port}{path}{query}")
        plain = await client.get(f"http://127.0.0.1:{port}/v1beta/models/g:generateContent")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert (204, 204) == (response.status_code, plain.status_code)
    assert [
        f"GET {path}{query} HTTP/1.1".encode(),
        b"GET /v1beta/models/g:generateContent HTTP/1.1",
    ] == lines
    assert b"%3A" in lines[0]
