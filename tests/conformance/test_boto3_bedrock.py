"""boto3's bedrock-runtime and bedrock clients parse everything the emulator's Bedrock dialect
serves, and their SigV4 signatures verify against it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402 - after the importorskip
from botocore.exceptions import ClientError, EventStreamError  # noqa: E402

MODEL = "amazon.nova-lite-v1:0"  # the emulator's on-demand model (an id with a ':')
PROFILE = "us.anthropic.claude-haiku-5-5"  # its default model, an inference profile
MESSAGES: list[Any] = [{"role": "user", "content": [{"text": "one two three"}]}]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def client(emu: ProviderEmulator, service: str) -> Any:
    config = emu.config_for("bedrock")
    endpoint = config["endpoint_url" if service == "bedrock-runtime" else "control_endpoint_url"]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key=config["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def runtime(emu: ProviderEmulator) -> Iterator[Any]:
    runtime_client = client(emu, "bedrock-runtime")
    yield runtime_client
    runtime_client.close()


@pytest.fixture
def bedrock(emu: ProviderEmulator) -> Iterator[Any]:
    control = client(emu, "bedrock")
    yield control
    control.close()


def test_converse(emu: ProviderEmulator, runtime: Any) -> None:
    """converse parses text, stop reason, usage (cache counters included) and metrics."""
    emu.script("bedrock", MODEL, Reply("alpha beta gamma"))
    response = runtime.converse(
        modelId=MODEL,
        system=[{"text": "be brief"}],
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 100, "temperature": 0.2},
    )
    assert "alpha beta gamma" == response["output"]["message"]["content"][0]["text"]
    assert "end_turn" == response["stopReason"]
    usage = response["usage"]
    assert (5, 3, 8, 0) == (
        usage["inputTokens"],
        usage["outputTokens"],
        usage["totalTokens"],
        usage["cacheReadInputTokens"],
    )
    assert 36 == len(response["ResponseMetadata"]["RequestId"])
    assert "%3A" in emu.requests[-1].path  # botocore's own encoding verifies too


def test_converse_with_profile_and_max_tokens(emu: ProviderEmulator, runtime: Any) -> None:
    """A profile id answers; hitting maxTokens reads as stopReason max_tokens."""
    emu.script("bedrock", PROFILE, "a b c d")
    response = runtime.converse(
        modelId=PROFILE, messages=MESSAGES, inferenceConfig={"maxTokens": 2}
    )
    assert ("a b", "max_tokens") == (
        response["output"]["message"]["content"][0]["text"],
        response["stopReason"],
    )


def test_converse_stream_events(emu: ProviderEmulator, runtime: Any) -> None:
    """converse_stream yields messageStart, deltas, contentBlockStop, messageStop, metadata."""
    emu.script("bedrock", MODEL, "delta epsilon zeta")
    response = runtime.converse_stream(modelId=MODEL, messages=MESSAGES)
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert ["messageStart"] + ["contentBlockDelta"] * 3 == kinds[:4]
    assert ["contentBlockStop", "messageStop", "metadata"] == kinds[4:]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:4])
    assert "delta epsilon zeta" == text
    assert "end_turn" == events[5]["messageStop"]["stopReason"]
    assert (3, 3) == (
        events[6]["metadata"]["usage"]["inputTokens"],
        events[6]["metadata"]["usage"]["outputTokens"],
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [("rate_limit", "throttlingException"), ("overloaded", "serviceUnavailableException")],
)
def test_stream_exception_events(
    emu: ProviderEmulator, runtime: Any, error: Any, code: str
) -> None:
    """An in-stream exception frame is raised by boto3 as EventStreamError with its code."""
    emu.script("bedrock", MODEL, Fault.stream_error(after=1, error=error))
    stream = runtime.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    with pytest.raises(EventStreamError) as info:
        list(stream)
    stream.close()
    assert code == info.value.response["Error"]["Code"]


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        (Fault.rate_limit(None), "ThrottlingException", 429),
        (Fault.http(400, error="context_length"), "ValidationException", 400),
        (Fault.http(403), "AccessDeniedException", 403),
        (Fault.overloaded(), "ServiceUnavailableException", 503),
        (Fault.http(500), "InternalServerException", 500),
        (
            Fault.http(429, headers={"x-amzn-ErrorType": "ModelNotReadyException"}),
            "ModelNotReadyException",
            429,
        ),
    ],
)
def test_http_errors_are_modelled_exceptions(
    emu: ProviderEmulator, runtime: Any, fault: Fault, code: str, status: int
) -> None:
    """Error statuses parse into boto3's modelled exceptions with code, message, request id."""
    emu.script("bedrock", MODEL, fault)
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=MODEL, messages=MESSAGES)
    error = info.value.response
    assert (code, status) == (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"])
    assert error["Error"]["Message"]
    assert error["ResponseMetadata"]["RequestId"]
    assert type(info.value).__name__ == code


def test_wrong_secret_is_an_invalid_signature(emu: ProviderEmulator) -> None:
    """boto3 signing with another secret gets InvalidSignatureException."""
    config = emu.config_for("bedrock")
    bad = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key="wrong",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError, match="InvalidSignatureException"):
        bad.converse(modelId=MODEL, messages=MESSAGES)
    bad.close()


def test_list_foundation_models(bedrock: Any) -> None:
    """list_foundation_models parses every summary, lifecycle and filter."""
    summaries = bedrock.list_foundation_models()["modelSummaries"]
    assert MODEL in {s["modelId"] for s in summaries}
    assert all(s["modelArn"].endswith(s["modelId"]) for s in summaries)
    legacy = [s["modelId"] for s in summaries if s["modelLifecycle"]["status"] == "LEGACY"]
    assert ["anthropic.claude-3-haiku-20240307-v1:0"] == legacy
    text = bedrock.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    assert {"TEXT"} == {m for s in text for m in s["outputModalities"]}
    assert len(text) < len(summaries)


def test_list_inference_profiles_pages(bedrock: Any) -> None:
    """boto3's paginator walks the inference profiles with nextToken."""
    pages = list(
        bedrock.get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED")
    )
    ids = [p["inferenceProfileId"] for page in pages for p in page["inferenceProfileSummaries"]]
    assert PROFILE in ids
    assert 2 == len(pages)
    assert all(
        p["models"] and p["createdAt"] for page in pages for p in page["inferenceProfileSummaries"]
    )


PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-5-5"
)


@pytest.mark.parametrize("model", [MODEL, "us.amazon.nova-2-lite-v1:0", PROFILE_ARN])
def test_boto3_requests_verify_as_aws_does(emu: ProviderEmulator, model: str) -> None:
    """boto3's own Converse and ConverseStream requests (temporary credentials) verify against
    the emulator's AWS-style check; the wire carries botocore's encoding of the label."""
    config = emu.config_for("bedrock")
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key=config["aws_secret_access_key"],
        aws_session_token="IQoJb3JpZ2luX2VjEXAMPLEtoken",
        config=Config(retries={"total_max_attempts": 1}),
    )
    emu.script("bedrock", model, "one two", "three four")
    reply = runtime.converse(modelId=model, messages=MESSAGES)
    events = list(runtime.converse_stream(modelId=model, messages=MESSAGES)["stream"])
    runtime.close()
    assert "one two" == reply["output"]["message"]["content"][0]["text"]
    assert "three four" == "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    paths = [r.path for r in emu.requests if r.method == "POST"]
    assert all("%3A" in p and ":" not in p for p in paths)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["converse", "converse-stream"]


def test_issue11_item1_boto3_wrong_secret_gets_the_canonical_echo(emu: ProviderEmulator) -> None:
    """A boto3 request signed with another secret gets AWS's message quoting the canonical
    request the service computed: the label encoded twice."""
    config = emu.config_for("bedrock")
    bad = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key="wrong",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        bad.converse(modelId=MODEL, messages=MESSAGES)
    bad.close()
    message = info.value.response["Error"]["Message"]
    assert "InvalidSignatureException" == info.value.response["Error"]["Code"]
    assert "/model/amazon.nova-lite-v1%253A0/converse\n" in message
    assert "The String-to-Sign should have been" in message
