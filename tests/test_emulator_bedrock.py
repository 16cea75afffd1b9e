"""The Bedrock dialect over real sockets: SigV4, Converse, ConverseStream, discovery, faults."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    OrchestratorConfig,
    ProviderConnectionError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from llmorch.providers._aws import encode_label
from llmorch.testing import Fault, ProviderEmulator, Reply
from llmorch.testing._bedrock import encode_frame
from tests.current_models import prices

# The emulator's default chain (two inference profiles), its on-demand model (an id with a ':'
# that SigV4 must encode) and a profile outside the chain.
FIRST = "us.anthropic.claude-haiku-5-5"
SECOND = "us.amazon.nova-2-lite-v1:0"
ON_DEMAND = "amazon.nova-lite-v1:0"
PROFILE = "us.anthropic.claude-sonnet-5-5"
MESSAGES = [{"role": "user", "content": "one two three"}]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def orch_for(emu: ProviderEmulator, **provider: Any) -> AsyncLLMOrchestrator:
    transport = provider.pop("http_transport", "auto")
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": "bedrock",
                "active_model": FIRST,
                "providers": {"bedrock": emu.config_for("bedrock") | provider},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
                "pricing": prices("bedrock"),
                "http_transport": transport,
            }
        )
    )


def ledger() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def models_sent(emu: ProviderEmulator) -> list[str | None]:
    return [r.model for r in emu.requests if r.method == "POST"]


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_chat_and_stream_signed_and_priced(emu: ProviderEmulator, transport: str) -> None:
    """A reply comes back whole and streamed, with word-count usage, a request id and a priced
    ledger line each; both transports send the path exactly as signed."""
    emu.script("bedrock", FIRST, "alpha beta gamma", Reply("delta epsilon"))
    async with orch_for(emu, http_transport=transport) as orch:
        response = await orch.send_request(MESSAGES, max_tokens=50)
        stream = orch.send_streaming_request(MESSAGES)
        chunks = [c async for c in stream]
    assert "alpha beta gamma" == response.content
    assert {"prompt": 3, "completion": 3, "total": 6, "cache_read": 0, "cache_write": 0} == (
        response.tokens_used
    )
    assert ["delta", " epsilon"] == chunks
    assert ("stop", 2) == (stream.response.finish_reason, stream.response.tokens_used["completion"])
    assert uuid.UUID(response.request_id or "")
    assert [pytest.approx(3 * 0.11e-6 + 3 * 0.55e-6), pytest.approx(3 * 0.11e-6 + 2 * 0.55e-6)] == [
        r["cost"] for r in ledger()
    ]
    posts = [r for r in emu.requests if r.method == "POST"]
    assert ["/bedrock/runtime/model/us.anthropic.claude-haiku-5-5/converse"] == [posts[0].path]
    assert posts[1].path.endswith("/converse-stream")
    assert {"maxTokens": 50} == posts[0].body["inferenceConfig"]


async def test_profile_ids_and_arns_are_invoked(emu: ProviderEmulator) -> None:
    """A profile id, a profile ARN and a foundation-model ARN ('/' encoded) all answer."""
    arns = [
        PROFILE,
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{PROFILE}",
        f"arn:aws:bedrock:us-east-1::foundation-model/{ON_DEMAND}",
    ]
    async with orch_for(emu) as orch:
        for model in arns:
            response = await orch.send_request(MESSAGES, model=model)
            assert model in response.content
            assert response.cost > 0
    assert arns == models_sent(emu)


async def test_discovery_lists_text_models_and_profiles(emu: ProviderEmulator) -> None:
    """On-demand text models by id, the profile-only model by its profile id (two pages of
    profiles), the legacy model deprecated; embeddings, images and provisioned-only left out."""
    async with orch_for(emu) as orch:
        listed = await orch.get_available_models()
        infos = orch.registry.get_available_models("bedrock", include_deprecated=True)
    sonnet_4_5 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    expected = [FIRST, SECOND, ON_DEMAND, "amazon.nova-micro-v1:0", PROFILE, sonnet_4_5]
    assert expected == sorted(listed, key=expected.index)
    deprecated = {m.name for m in infos if m.deprecated}
    assert {"anthropic.claude-3-haiku-20240307-v1:0"} == deprecated
    gets = [r.path for r in emu.requests if r.method == "GET"]
    assert ["/bedrock/control/foundation-models"] + ["/bedrock/control/inference-profiles"] * 2 == (
        gets
    )


async def test_signature_checks(emu: ProviderEmulator) -> None:
    """A wrong secret, an unknown key and a wrong region are AuthenticationErrors that stop the
    chain; a request without any auth gets AWS's 403 MissingAuthenticationToken."""
    for change in (
        {"aws_secret_access_key": "not-the-secret"},
        {"aws_access_key_id": "AKIAUNKNOWN000000000"},
        {"region_name": "eu-west-1"},
    ):
        emu.clear()
        async with orch_for(emu, **change) as orch:
            with pytest.raises(AuthenticationError) as info:
                await orch.send_request(MESSAGES)
        assert 403 == info.value.status_code
        assert 1 == len(models_sent(emu))
        assert "not-the-secret" not in str(info.value) + repr(info.value)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{emu.url('bedrock')}/runtime/model/{SECOND}/converse", json={})
        unknown = await http.get(
            emu.url("bedrock") + "/control/nowhere", headers={"authorization": "Bearer k"}
        )
    assert (403, "MissingAuthenticationTokenException") == (
        response.status_code,
        response.headers["x-amzn-errortype"].split(":")[0],
    )
    assert 404 == unknown.status_code


async def test_tampered_body_fails_verification(emu: ProviderEmulator) -> None:
    """The signature covers the body: the emulator rejects a body changed after signing."""
    from llmorch.config import BedrockConfig
    from llmorch.providers._aws import AWSAuth

    config = emu.config_for("bedrock")
    auth = AWSAuth("bedrock", BedrockConfig(**{k: v for k, v in config.items() if k != "type"}))
    url = f"{config['endpoint_url']}/model/{encode_label(SECOND)}/converse"
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    headers = await auth.sign("POST", url, body, {"content-type": "application/json"})
    async with httpx.AsyncClient() as http:
        good = await http.post(url, content=body, headers=headers)
        bad = await http.post(url, content=body.replace(b"hi", b"ho"), headers=headers)
    assert 200 == good.status_code
    assert (403, "InvalidSignatureException") == (
        bad.status_code,
        bad.headers["x-amzn-errortype"].split(":")[0],
    )


async def test_bedrock_api_keys(emu: ProviderEmulator) -> None:
    """A Bedrock API key (bearer) is accepted; with pinned keys a wrong one is rejected."""
    async with orch_for(emu, api_key="any-key", aws_access_key_id=None) as orch:
        assert (await orch.send_request(MESSAGES)).content
    assert emu.requests[-1].headers["authorization"] == "Bearer any-key"
    async with ProviderEmulator(api_keys={"bedrock": ["right"]}) as pinned:
        async with orch_for(pinned, api_key="wrong") as orch:
            with pytest.raises(AuthenticationError):
                await orch.send_request(MESSAGES)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.http(500), ProviderUnavailableError),
        (Fault.overloaded(), ProviderUnavailableError),
        (Fault.reset(), ProviderConnectionError),
        (Fault.rate_limit(None), RateLimitError),
        (Fault.http(408), ProviderTimeoutError),
        (
            Fault.http(429, headers={"x-amzn-ErrorType": "ModelNotReadyException"}),
            ProviderUnavailableError,
        ),
    ],
)
async def test_retryable_faults_retry_then_fall_back(
    emu: ProviderEmulator, fault: Fault, error: type[Exception], sleeps: list[float]
) -> None:
    """5xx, 503, reset, throttling, model timeout and ModelNotReady retry, then the next model."""
    emu.script("bedrock", FIRST, fault, fault, fault)
    async with orch_for(emu) as orch:
        response = await orch.send_request(MESSAGES)
    assert [FIRST] * 3 + [SECOND] == models_sent(emu)
    assert SECOND == response.model
    assert type(response.attempts[0][1]) is error
    assert 2 == len(sleeps)


async def test_non_retryable_errors_move_on(emu: ProviderEmulator, sleeps: list[float]) -> None:
    """Context overflow, an unknown model and a profile-only base id move on at once."""
    emu.script("bedrock", FIRST, Fault.http(400, error="context_length"))
    chain = ["no.such-model-v1:0", "anthropic.claude-sonnet-5-5"]
    async with orch_for(emu, fallback_models=chain) as orch:
        with pytest.raises(AllFallbacksFailedError) as info:
            await orch.send_request(MESSAGES)
    errors = [type(e) for _, e in info.value.attempts]
    assert [ContextLengthExceededError, ModelNotFoundError, InvalidRequestError] == errors
    assert "inference profile" in str(info.value.attempts[2][1])
    assert [] == sleeps


async def test_hang_times_out_and_falls_back(emu: ProviderEmulator) -> None:
    """A server that never answers ends in ProviderTimeoutError, then the next model answers."""
    emu.script("bedrock", FIRST, Fault.hang())
    async with orch_for(emu, timeout=0.3, max_retries=0) as orch:
        response = await orch.send_request(MESSAGES)
    assert isinstance(response.attempts[0][1], ProviderTimeoutError)
    assert SECOND == response.model


@pytest.mark.parametrize(
    ("fault", "cause", "text"),
    [
        (Fault.cut(after=2, text="one two three four"), ProviderConnectionError, ""),
        (Fault.stream_error(after=2, text="one two x"), ProviderUnavailableError, "serviceUnav"),
        (
            Fault.stream_error(after=2, error="rate_limit", text="one two x"),
            RateLimitError,
            "throttlingException",
        ),
        (
            Fault.stream_error(after=2, error="timeout", text="one two x"),
            ProviderUnavailableError,
            "modelStreamErrorException",
        ),
        (Fault.malformed(after=2), ProviderUnavailableError, "malformed"),
        (Fault.bad_crc(after=2), ProviderUnavailableError, "ChecksumMismatch"),
    ],
)
async def test_stream_faults_after_text_interrupt_without_fallback(
    emu: ProviderEmulator, fault: Fault, cause: type[Exception], text: str
) -> None:
    """Cut, exception events, bad JSON and a bad CRC after text raise StreamInterruptedError."""
    emu.script("bedrock", FIRST, fault)
    got: list[str] = []
    async with orch_for(emu) as orch:
        with pytest.raises(StreamInterruptedError) as info:
            async with orch.send_streaming_request(MESSAGES) as stream:
                async for chunk in stream:
                    got.append(chunk)  # noqa: PERF401 - the list must survive the raise
    assert 2 == len(got)
    assert "".join(got) == info.value.partial_text
    assert isinstance(info.value.__cause__, cause)
    assert text in str(info.value.__cause__)
    assert [FIRST] == models_sent(emu)
    (record,) = ledger()
    assert record["complete"] is False


@pytest.mark.parametrize(
    "fault", [Fault.stream_error(after=0, error="invalid_request"), Fault.bad_crc(after=0)]
)
async def test_stream_errors_before_text_fall_back(
    emu: ProviderEmulator, fault: Fault, sleeps: list[float]
) -> None:
    """An exception event or corrupt frame before any text is handled like an HTTP error."""
    emu.script("bedrock", FIRST, fault, fault, fault)
    async with orch_for(emu) as orch:
        chunks = [c async for c in orch.send_streaming_request(MESSAGES)]
    assert chunks
    assert SECOND == models_sent(emu)[-1]


async def test_non_stream_faults_on_plain_requests(
    emu: ProviderEmulator, sleeps: list[float]
) -> None:
    """On Converse, a cut body, a stream error and a malformed body are retried."""
    emu.script("bedrock", FIRST, Fault.cut(), Fault.stream_error(), Fault.bad_crc())
    async with orch_for(emu, max_retries=3) as orch:
        response = await orch.send_request(MESSAGES)
    assert ([], 4) == (response.attempts, len(models_sent(emu)))


async def test_max_tokens_and_filtered_replies(emu: ProviderEmulator) -> None:
    """maxTokens truncates with finish length; a content-filtered reply maps to content_filter."""
    emu.script("bedrock", FIRST, "a b c d e", Reply("partial", finish_reason="content_filter"))
    async with orch_for(emu) as orch:
        cut = await orch.send_request(MESSAGES, max_tokens=2)
        filtered = await orch.send_request(MESSAGES)
    assert ("a b", "length") == (cut.content, cut.finish_reason)
    assert ("partial", "content_filter") == (filtered.content, filtered.finish_reason)


def test_encoded_frames_match_botocore() -> None:
    """The emulator's frames decode with botocore; a bad-CRC frame is refused."""
    from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(encode_frame({":message-type": "event", "x": "é"}, b'{"a":1}'))
    (message,) = list(buffer)
    assert ({":message-type": "event", "x": "é"}, b'{"a":1}') == (message.headers, message.payload)
    buffer = EventStreamBuffer()
    buffer.add_data(encode_frame({}, b"x", bad_crc=True))
    with pytest.raises(ChecksumMismatch):
        list(buffer)


# -- issue 11 item 1: SigV4 as AWS verifies it --------------------------------------------------

PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-5-5"
)
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENsecretVALUE"


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
@pytest.mark.parametrize("model", [ON_DEMAND, SECOND, PROFILE_ARN])
async def test_issue11_item1_sigv4_path_on_the_wire_is_botocores_and_verifies(
    emu: ProviderEmulator, transport: str, model: str
) -> None:
    """On both transports the request line carries the path exactly as botocore's serializer
    writes it (``:`` as ``%3A``, ``/`` as ``%2F``; aiohttp's yarl would send ``:``), and the
    emulator, verifying as AWS does, accepts the signature for Converse and ConverseStream."""
    from tests.providers.test_bedrock import botocore_path

    emu.script("bedrock", model, "alpha beta", "gamma delta")
    async with orch_for(emu, http_transport=transport) as orch:
        response = await orch.send_request(MESSAGES, model=model)
        chunks = [c async for c in orch.send_streaming_request(MESSAGES, model=model)]
    posts = [r.path for r in emu.requests if r.method == "POST"]
    assert [
        "/bedrock/runtime" + botocore_path(model),
        "/bedrock/runtime" + botocore_path(model, "ConverseStream"),
    ] == posts
    assert ("alpha beta", "gamma delta") == (response.content, "".join(chunks))


def sign_old_way(emu: ProviderEmulator, signed_path: str) -> tuple[str, dict[str, str], bytes]:
    """A request signed by botocore over ``signed_path`` (with a session token)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    config = emu.config_for("bedrock")
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}).encode()
    root = config["endpoint_url"]
    request = AWSRequest(
        method="POST",
        url=root + signed_path,
        data=body,
        headers={"content-type": "application/json"},
    )
    credentials = ReadOnlyCredentials(
        config["aws_access_key_id"], config["aws_secret_access_key"], SESSION_TOKEN
    )
    SigV4Auth(credentials, "bedrock", config["region_name"]).add_auth(request)
    return root, dict(request.headers.items()), body


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        # llmorch on 4a56482: ':' raw on the wire, signed as botocore reads that URL ('%3A')
        (f"/model/{ON_DEMAND}/converse", f"/model/{ON_DEMAND}/converse"),
        # signed as botocore encodes it, but the transport re-normalised '%3A' to ':' (yarl)
        (f"/model/{encode_label(ON_DEMAND)}/converse", f"/model/{ON_DEMAND}/converse"),
        # '%3A' on the wire, signed over the single-encoded form
        (f"/model/{ON_DEMAND}/converse", f"/model/{encode_label(ON_DEMAND)}/converse"),
    ],
)
async def test_issue11_item1_sigv4_other_canonical_path_gets_aws_403_echo(
    emu: ProviderEmulator, signed: str, sent: str
) -> None:
    """A request signed over another canonical path than AWS computes from the received one is
    refused with AWS's 403 ``InvalidSignatureException``, whose message quotes the canonical
    request (session token included) and the string to sign the service expected."""
    root, headers, body = sign_old_way(emu, signed)
    async with httpx.AsyncClient() as http:
        response = await http.post(root + sent, content=body, headers=headers)
    assert 403 == response.status_code
    assert "InvalidSignatureException" == response.headers["x-amzn-errortype"].split(":")[0]
    message = response.json()["message"]
    expected_path = "/bedrock/runtime/model/amazon.nova-lite-v1%253A0/converse"
    assert message.startswith("The request signature we calculated does not match")
    assert f"The Canonical String for this request should have been\n'POST\n{expected_path}\n" in (
        message
    )
    assert f"\nx-amz-security-token:{SESSION_TOKEN}\n" in message
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in message


async def test_botocore_form_signed_as_sent_verifies(emu: ProviderEmulator) -> None:
    """The control case for the test above: botocore's form, sent as signed, verifies."""
    path = f"/model/{encode_label(ON_DEMAND)}/converse"
    root, headers, body = sign_old_way(emu, path)
    async with httpx.AsyncClient() as http:
        response = await http.post(root + path, content=body, headers=headers)
    assert 200 == response.status_code


@pytest.mark.parametrize(
    ("received", "canonical", "sdk_form"),
    [
        ("/model/a-v1%3A0/converse", "/model/a-v1%253A0/converse", True),
        ("/model/a-v1:0/converse", "/model/a-v1%253A0/converse", False),
        ("/model/a-v1%253A0/converse", "/model/a-v1%25253A0/converse", True),  # higress#2396
        ("/model/arn%3Ax%2Fy/converse", "/model/arn%253Ax%252Fy/converse", True),
        ("/a/./b/../c//d/", "/a/c/d/", True),
        ("", "/", True),
        ("/%7e%41", "/~A", False),
    ],
)
def test_sigv4_verifier_canonical_uri_from_the_received_path(
    received: str, canonical: str, sdk_form: bool
) -> None:
    """The verifier's canonical URI: decoded once, encoded twice, dot segments removed; only
    the SDKs' encoding counts as sent correctly."""
    from llmorch.testing._sigv4 import canonical_uri, sdk_encoded

    assert (canonical, sdk_form) == (canonical_uri(received), sdk_encoded(received))


def test_sigv4_verifier_agrees_with_botocore_on_sdk_requests() -> None:
    """For a request in the SDKs' form, the emulator's own verifier computes botocore's
    canonical request and signature (query, session token and an unsigned header included)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    from llmorch.testing._sigv4 import verify

    path = f"/bedrock/control/x/{encode_label(PROFILE_ARN)}"
    request = AWSRequest(
        method="GET",
        url=f"http://h:1{path}?nextToken=a%2Bb%3D&maxResults=5",
        headers={"x-extra": "  two   spaces "},
    )
    SigV4Auth(
        ReadOnlyCredentials("AKID", "s3cret", SESSION_TOKEN), "bedrock", "us-east-1"
    ).add_auth(request)
    auth = request.headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k.lower(): v for k, v in request.headers.items()} | {"host": "h:1"}
    amz_date = headers["x-amz-date"]
    verdict = verify(
        method="GET",
        raw_path=path,
        query={"nextToken": "a+b=", "maxResults": "5"},
        headers=headers,
        body=b"",
        signed_headers=signed,
        signature=auth.rsplit("Signature=", 1)[1],
        secret_key="s3cret",
        scope=(amz_date[:8], "us-east-1", "bedrock"),
        amz_date=amz_date,
    )
    signer = SigV4Auth(ReadOnlyCredentials("AKID", "s3cret", SESSION_TOKEN), "bedrock", "us-east-1")
    request.context["timestamp"] = amz_date
    del request.headers["Authorization"]
    assert signer.canonical_request(request) == verdict.canonical_request
    assert verdict.ok
    assert f"x-amz-security-token:{SESSION_TOKEN}" in verdict.message()


# -- strict: request fields the bedrock-runtime service model does not define -------------------


def test_declared_shapes_are_the_service_models() -> None:
    """The dialect's own shape table is botocore's bedrock-runtime model for both operations."""
    import botocore.session

    from llmorch.testing._bedrock_shapes import STRUCTURES, UNIONS

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    structures: dict[str, dict[str, str]] = {}
    unions: set[str] = set()

    def ref(shape: Any) -> str:
        if shape.type_name == "list":
            return f"[{ref(shape.member)}]"
        if shape.type_name == "map":
            return f"{{{ref(shape.value)}}}"
        if shape.type_name != "structure":
            return str(shape.type_name)
        if shape.metadata.get("document"):
            return "document"
        if shape.name not in structures:
            structures[shape.name] = {}
            if shape.metadata.get("union"):
                unions.add(shape.name)
            structures[shape.name] = {
                name: ref(member)
                for name, member in shape.members.items()
                if member.serialization.get("location") is None  # modelId is the URI label
            }
        return str(shape.name)

    for operation in ("Converse", "ConverseStream"):
        ref(model.operation_model(operation).input_shape)
    assert structures == STRUCTURES
    assert unions == UNIONS


STRICT_CASES: list[tuple[dict[str, Any], str]] = [
    ({"foo": 1}, "#: extraneous key [foo]"),
    ({"inferenceConfig": {"topK": 5}}, "#/inferenceConfig: extraneous key [topK]"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        "#/messages/0/content/0: extraneous key [type]",
    ),
    ({"system": [{"text": "s", "role": "system"}]}, "#/system/0: extraneous key [role]"),
    (
        {"toolConfig": {"tools": [{"toolSpec": {"name": "f", "parameters": {}}}]}},
        "#/toolConfig/tools/0/toolSpec: extraneous key [parameters]",
    ),
    (
        {"inferenceConfig": {"maxTokens": "5"}},
        "#/inferenceConfig/maxTokens: expected type: Integer",
    ),
    ({"messages": {"role": "user"}}, "#/messages: expected type: JSONArray"),
    (
        {"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]},
        "#/messages/0/content/0: exactly one member of ContentBlock",
    ),
    ({"requestMetadata": {"k": 1}}, "#/requestMetadata/k: expected type: String"),
]
# botocore's client-side validator takes a Python bool for a float (bool is an int); JSON does not.
JSON_ONLY_CASES = [({"inferenceConfig": {"temperature": True}}, "expected type: Number")]
BASE_BODY: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize(("change", "message"), STRICT_CASES + JSON_ONLY_CASES)
@pytest.mark.parametrize("operation", ["converse", "converse-stream"])
async def test_strict_unknown_fields_and_types_get_bedrocks_400(
    emu: ProviderEmulator, change: dict[str, Any], message: str, operation: str
) -> None:
    """Members the service model does not define (top level or nested), wrong JSON types and
    unions with two members get Bedrock's 400 ValidationException (header and body)."""
    from llmorch.config import BedrockConfig
    from llmorch.providers._aws import AWSAuth

    config = emu.config_for("bedrock")
    auth = AWSAuth("bedrock", BedrockConfig(**{k: v for k, v in config.items() if k != "type"}))
    url = f"{config['endpoint_url']}/model/{encode_label(FIRST)}/{operation}"
    body = json.dumps(BASE_BODY | change).encode()
    headers = await auth.sign("POST", url, body, {"content-type": "application/json"})
    async with httpx.AsyncClient() as http:
        response = await http.post(url, content=body, headers=headers)
    assert 400 == response.status_code
    assert "ValidationException" == response.headers["x-amzn-errortype"].split(":")[0]
    assert response.json()["message"].startswith("Malformed input request: ")
    assert message in response.json()["message"]


@pytest.mark.parametrize(("change", "message"), STRICT_CASES)
def test_strict_refusals_are_botocores_param_validator_refusals(
    change: dict[str, Any], message: str
) -> None:
    """Every body the dialect refuses, botocore's own ParamValidator refuses too (and the base
    body, with free-form additionalModelRequestFields, passes both)."""
    import botocore.session
    from botocore.validate import ParamValidator

    from llmorch.testing._bedrock_shapes import body_problem

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("Converse").input_shape
    free = BASE_BODY | {"additionalModelRequestFields": {"top_k": 5, "x": [{"y": None}]}}
    assert not ParamValidator().validate({"modelId": FIRST, **free}, shape).has_errors()
    assert body_problem(free, "ConverseRequest") is None
    body = BASE_BODY | change
    assert ParamValidator().validate({"modelId": FIRST, **body}, shape).has_errors()
    assert message in (body_problem(body, "ConverseRequest") or "")


async def test_strict_refusal_reaches_llmorch_as_invalid_request(emu: ProviderEmulator) -> None:
    """Through llmorch: an unknown inferenceConfig member is Bedrock's 400 (InvalidRequestError);
    an extra that goes to additionalModelRequestFields is accepted."""
    async with orch_for(emu, fallback_models=[]) as orch:
        with pytest.raises(AllFallbacksFailedError) as info:
            await orch.send_request(MESSAGES, extra_body={"inferenceConfig": {"topK": 5}})
        extra = {"additionalModelRequestFields": {"top_k": 5}}
        assert (await orch.send_request(MESSAGES, extra_body=extra)).content
    assert {"top_k": 5} == emu.requests[-1].body["additionalModelRequestFields"]
    ((_, error),) = info.value.attempts
    assert isinstance(error, InvalidRequestError)
    assert "#/inferenceConfig: extraneous key [topK]" in str(error)
