"""boto3's bedrock-runtime client against the emulator with images, documents, cache points and
structured output; botocore's ParamValidator (the SDK's own request types) as the judge of the
bodies llmorch builds for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel

from llmorch._schema import close_objects
from llmorch.testing import ProviderEmulator, Reply

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402 - after the importorskip
from botocore.exceptions import ClientError, ParamValidationError  # noqa: E402
from botocore.validate import ParamValidator  # noqa: E402

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-lite-v1:0"
HAIKU_5 = "us.anthropic.claude-haiku-5-5"
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


class Day(BaseModel):
    """One day of a forecast."""

    high: float
    sky: Literal["sun", "cloud", "rain"]


class Forecast(BaseModel):
    """A schema with nesting, an enum, an array and $defs, for the structured-output checks."""

    city: str
    days: list[Day]
    unit: Literal["C", "F"]


def text_format(schema: dict[str, Any]) -> dict[str, Any]:
    definition = {"schema": json.dumps(schema), "name": "forecast", "description": "A forecast"}
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


@pytest.mark.parametrize("stream", [False, True])
def test_converse_output_config_answers_schema_valid_json(
    emu: ProviderEmulator, runtime: Any, stream: bool
) -> None:
    """boto3 converse / converse_stream with outputConfig against the emulator: the text (the
    deltas joined) is JSON the schema accepts."""
    schema = close_objects(Forecast.model_json_schema())
    messages = [{"role": "user", "content": [{"text": "the week in Paris"}]}]
    kwargs = {"modelId": SONNET, "messages": messages, "outputConfig": text_format(schema)}
    if stream:
        events = runtime.converse_stream(**kwargs)["stream"]
        text = "".join(
            e["contentBlockDelta"]["delta"].get("text", "")
            for e in events
            if "contentBlockDelta" in e
        )
    else:
        text = runtime.converse(**kwargs)["output"]["message"]["content"][0]["text"]
    forecast = Forecast.model_validate_json(text)
    assert forecast.days and forecast.unit in ("C", "F")


def test_converse_refuses_output_config_for_claude_5(emu: ProviderEmulator, runtime: Any) -> None:
    """Claude Haiku 5.5 refuses outputConfig as Bedrock relays Claude's refusal."""
    schema = close_objects(Forecast.model_json_schema())
    messages = [{"role": "user", "content": [{"text": "the week in Paris"}]}]
    with pytest.raises(ClientError, match="output_config.format: Extra inputs are not permitted"):
        runtime.converse(modelId=HAIKU_5, messages=messages, outputConfig=text_format(schema))


def test_llmorch_content_bodies_validate_against_the_service_model(emu: ProviderEmulator) -> None:
    """What llmorch sends for images, documents, tool-result media, cache points, a native
    response_format (streamed too) and json_object passes botocore's ParamValidator for
    Converse and ConverseStream."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
    from llmorch import document as document_part
    from llmorch import image as image_part

    mark = {"type": "ephemeral", "ttl": "1h"}
    tool = {
        "type": "function",
        "function": {"name": "snap", "parameters": {"type": "object", "properties": {}}},
        "cache_control": mark,
    }
    media = [
        {"type": "text", "text": "compare these", "cache_control": {"type": "ephemeral"}},
        image_part(PNG),
        document_part(PDF, filename="Q3 report.pdf"),
    ]
    system = {
        "role": "system",
        "content": [{"type": "text", "text": "be exact", "cache_control": mark}],
    }
    call = {"id": "tooluse_a", "type": "function", "function": {"name": "snap", "arguments": "{}"}}
    tool_turns = [
        {"role": "user", "content": "take a picture"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "tooluse_a", "content": [image_part(PNG)]},
    ]

    async def run() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "bedrock",
                "active_model": SONNET,
                "providers": {"bedrock": emu.config_for("bedrock") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            await orch.send_request([system, {"role": "user", "content": media}], tools=[tool])
            await orch.send_request(tool_turns, tools=[tool])
            await orch.send_request([{"role": "user", "content": "json"}], response_format=Forecast)
            stream = orch.send_streaming_request(
                [{"role": "user", "content": "json"}], response_format=Forecast
            )
            async for _ in stream:
                pass
            emu.script("bedrock", NOVA, '{"a": 1}')
            await orch.send_request(
                [{"role": "user", "content": "json"}],
                model=NOVA,
                response_format={"type": "json_object"},
            )

    anyio.run(run)
    service = boto3.session.Session().client("bedrock-runtime", region_name="us-east-1")
    model = service.meta.service_model
    bodies = [r for r in emu.requests if r.method == "POST"]
    assert 5 == len(bodies)
    sent = json.dumps([r.body for r in bodies])
    for member in ("image", "document", "cachePoint", "toolResult", "outputConfig"):
        assert f'"{member}"' in sent
    for recorded in bodies:
        operation = "ConverseStream" if recorded.path.endswith("converse-stream") else "Converse"
        shape = model.operation_model(operation).input_shape
        report = ParamValidator().validate({"modelId": recorded.model, **recorded.body}, shape)
        assert not report.has_errors(), (recorded.body, report.generate_report())
