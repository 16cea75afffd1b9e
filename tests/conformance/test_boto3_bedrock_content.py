"""boto3's bedrock-runtime client against the emulator with images, documents, cache points and
structured output; botocore's ParamValidator (the SDK's own request types) as the judge of the
bodies llmorch builds for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmorch.testing import ProviderEmulator, Reply

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402 - after the importorskip
from botocore.exceptions import ClientError, ParamValidationError  # noqa: E402

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-lite-v1:0"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def runtime(emu: ProviderEmulator) -> Iterator[Any]:
    config = emu.config_for("bedrock")
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key=config["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    yield client
    client.close()


def test_converse_takes_image_and_document_bytes(emu: ProviderEmulator, runtime: Any) -> None:
    """boto3 sends raw bytes (base64 on the wire); the emulator decodes, checks and answers."""
    emu.script("bedrock", SONNET, Reply("A chart and a report."))
    content = [
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"document": {"format": "pdf", "name": "Q3 report", "source": {"bytes": PDF}}},
        {"text": "what are these?"},
    ]
    response = runtime.converse(modelId=SONNET, messages=[{"role": "user", "content": content}])
    assert "A chart and a report." == response["output"]["message"]["content"][0]["text"]


def test_converse_refuses_an_image_of_another_format(emu: ProviderEmulator, runtime: Any) -> None:
    """PNG bytes declared as jpeg: boto3 raises the modelled ValidationException."""
    emu.script("bedrock", SONNET, "never sent")
    content = [{"image": {"format": "jpeg", "source": {"bytes": PNG}}}, {"text": "what?"}]
    with pytest.raises(ClientError) as caught:
        runtime.converse(modelId=SONNET, messages=[{"role": "user", "content": content}])
    assert "ValidationException" == caught.value.response["Error"]["Code"]
    assert "does not match the specified image format" in str(caught.value)


def test_boto3_itself_refuses_an_image_url(runtime: Any) -> None:
    """An ImageSource has no URL member: botocore refuses it before sending (as the emulator
    and llmorch do)."""
    content = [{"image": {"format": "png", "source": {"url": "https://example.com/a.png"}}}]
    with pytest.raises(ParamValidationError, match='image.source: "url", must be one of: bytes'):
        runtime.converse(modelId=SONNET, messages=[{"role": "user", "content": content}])


def test_converse_stream_reports_cache_writes_then_reads(
    emu: ProviderEmulator, runtime: Any
) -> None:
    """A system cache point: the first stream's metadata writes the prefix, the second reads it."""
    system = [{"text": "you are terse and exact"}, {"cachePoint": {"type": "default"}}]
    usages = []
    for _ in range(2):
        emu.script("bedrock", NOVA, Reply("ok"))
        response = runtime.converse_stream(
            modelId=NOVA, system=system, messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
        usages += [e["metadata"]["usage"] for e in response["stream"] if "metadata" in e]
    assert [(5, 0), (0, 5)] == [
        (u["cacheWriteInputTokens"], u["cacheReadInputTokens"]) for u in usages
    ]
