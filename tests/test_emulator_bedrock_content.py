"""The Bedrock dialect checks sampling, images, documents, output formats and cache points the
way Bedrock does, and refuses with Bedrock's own 400 bodies (raw signed requests)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmorch.testing import ProviderEmulator, Reply
from tests.test_emulator_bedrock_tools import events, post

pytest.importorskip("botocore")

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
OPUS_5 = "global.anthropic.claude-opus-5"
OPUS_4_7 = "us.anthropic.claude-opus-4-7"
HAIKU_5 = "us.anthropic.claude-haiku-5-5"
SONNET_4_5 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-lite-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
GPT_OSS = "openai.gpt-oss-120b-1:0"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
ASK = {"text": "what is this?"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image(data: bytes = PNG, kind: str = "png") -> dict[str, Any]:
    return {"image": {"format": kind, "source": {"bytes": b64(data)}}}


def document(name: str = "report", data: bytes = PDF, kind: str = "pdf") -> dict[str, Any]:
    return {"document": {"format": kind, "name": name, "source": {"bytes": b64(data)}}}


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def text_format(schema: Any) -> dict[str, Any]:
    raw = schema if isinstance(schema, str) else json.dumps(schema)
    definition = {"schema": raw, "name": "answer", "description": "The answer"}
    structure = {"jsonSchema": definition}
    return {"outputConfig": {"textFormat": {"type": "json_schema", "structure": structure}}}


CLOSED = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
    "additionalProperties": False,
}


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


async def refusal(emu: ProviderEmulator, model: str, body: dict[str, Any]) -> str:
    """The ValidationException message of a refused request (checked streamed too)."""
    emu.script("bedrock", model, "never sent")
    messages: list[str] = []
    for stream in (False, True):
        response = await post(emu, model, body, stream=stream)
        assert 400 == response.status_code, response.text
        assert "ValidationException" == response.headers["x-amzn-errortype"].split(":")[0]
        messages.append(response.json()["message"])
    assert messages[0] == messages[1]
    return messages[0]


# -- sampling ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [OPUS_5, OPUS_4_7, HAIKU_5])
@pytest.mark.parametrize(
    ("inference", "name"),
    [
        ({"temperature": 0}, "error_temperature_deprecated.json"),
        ({"topP": 0.9}, "error_top_p_deprecated.json"),
    ],
)
async def test_claude_5_and_opus_4_7_refuse_temperature_and_top_p(
    emu: ProviderEmulator, model: str, inference: dict[str, Any], name: str
) -> None:
    """Claude 5 and Opus 4.7+ get exactly the recorded body for temperature or topP."""
    body = {"messages": [user({"text": "Say OK"})], "inferenceConfig": inference}
    assert fixture(name)["message"] == await refusal(emu, model, body)


@pytest.mark.parametrize(
    ("inference", "name"),
    [
        ({"temperature": 0.2}, "error_openai_temperature.json"),
        ({"topP": 0.5}, "error_openai_top_p.json"),
        ({"stopSequences": []}, "error_openai_stop_sequences.json"),
    ],
)
async def test_gpt_5_refuses_temperature_top_p_and_stop_sequences(
    emu: ProviderEmulator, inference: dict[str, Any], name: str
) -> None:
    """OpenAI's GPT-5.6 on Converse gets Bedrock's own recorded body for each field (even an
    empty stopSequences)."""
    body = {"messages": [user({"text": "Say ok."})], "inferenceConfig": inference}
    assert fixture(name)["message"] == await refusal(emu, "us.openai.gpt-5.6-sol", body)


@pytest.mark.parametrize("model", [OPUS_5, SONNET_4_5, NOVA, GPT_OSS])
async def test_top_k_is_still_accepted_and_older_models_take_temperature(
    emu: ProviderEmulator, model: str
) -> None:
    """top_k (a model field) is accepted on Opus 5; Sonnet 4.5 and Nova take temperature."""
    extra = {"additionalModelRequestFields": {"top_k": 5}}
    if model != OPUS_5:
        extra = {"inferenceConfig": {"temperature": 0.2, "topP": 0.9}}
    emu.script("bedrock", model, Reply("OK"))
    response = await post(emu, model, {"messages": [user({"text": "Say OK"})]} | extra)
    assert 200 == response.status_code, response.text


# -- images and documents ------------------------------------------------------------------


async def test_image_and_document_bytes_are_accepted(emu: ProviderEmulator) -> None:
    """PNG bytes and a named PDF beside a text block are answered, streamed and not."""
    body = {"messages": [user(image(), document("Q3 report (final) [v2]"), ASK)]}
    for stream in (False, True):
        emu.script("bedrock", SONNET_4_5, Reply("A chart."))
        response = await post(emu, SONNET_4_5, body, stream=stream)
        assert 200 == response.status_code, response.text


MEDIA_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    (
        NOVA_MICRO,
        {"messages": [user(image(), ASK)]},
        fixture("error_image_unsupported.json")["message"],
    ),
    (
        SONNET_4_5,
        {"messages": [user({"image": {"format": "bmp", "source": {"bytes": b64(PNG)}}}, ASK)]},
        (
            "1 validation error detected: Value at "
            "'messages.1.member.content.1.member.image.format' failed to satisfy constraint: "
            "Member must satisfy enum value set: [png, jpeg, gif, webp]"
        ),
    ),
    (
        SONNET_4_5,
        {"messages": [user({"image": {"format": "png", "source": {}}}, ASK)]},
        (
            "Malformed input request: #/messages/0/content/0/image/source: exactly one member of "
            "ImageSource must be set, please reformat your input and try again."
        ),
    ),
    (
        SONNET_4_5,
        {
            "messages": [
                user(
                    {"image": {"format": "png", "source": {"url": "https://example.com/a.png"}}},
                    ASK,
                )
            ]
        },
        (
            "Malformed input request: #/messages/0/content/0/image/source: extraneous key [url] is "
            "not permitted, please reformat your input and try again."
        ),
    ),
    (
        SONNET_4_5,
        {"messages": [user(image(PNG, "jpeg"), ASK)]},
        (
            "The model returned the following errors: The provided image does not match the "
            "specified image format."
        ),
    ),
    (
        SONNET_4_5,
        {"messages": [user(image(PNG + b"\x00" * 3_932_160), ASK)]},
        "The image at messages.0.content.0.image exceeds the maximum image size of 3.75 MB.",
    ),
    (
        SONNET_4_5,
        {"messages": [user(document())]},
        "A text block must be included when using documents.",
    ),
    (
        SONNET_4_5,
        {
            "messages": [
                user(
                    {"document": {"format": "txt", "name": "notes", "source": {"text": "hi"}}}, ASK
                )
            ]
        },
        (
            "DocumentSource object at messages.0.content.0.document.source must set one of the "
            "following keys: bytes, s3Location."
        ),
    ),
]


@pytest.mark.parametrize(("model", "body", "message"), MEDIA_REFUSALS)
async def test_bad_media_gets_bedrocks_400(
    emu: ProviderEmulator, model: str, body: dict[str, Any], message: str
) -> None:
    """Images a model cannot take, unknown formats, URL or empty sources, bytes of another
    format, oversize images, a document without text or with a text source: Bedrock's 400."""
    assert message == await refusal(emu, model, body)


def tool_turns(*result: dict[str, Any]) -> list[dict[str, Any]]:
    call = {"toolUse": {"toolUseId": "tooluse_a", "name": "snap", "input": {}}}
    answer = {"toolResult": {"toolUseId": "tooluse_a", "content": list(result)}}
    return [user(ASK), {"role": "assistant", "content": [call]}, user(answer)]


SNAP = {
    "toolConfig": {
        "tools": [{"toolSpec": {"name": "snap", "inputSchema": {"json": {"type": "object"}}}}]
    }
}


@pytest.mark.parametrize(
    ("model", "accepted"), [(SONNET_4_5, True), (NOVA, True), (GPT_OSS, False)]
)
async def test_tool_result_images_only_for_claude_and_nova(
    emu: ProviderEmulator, model: str, accepted: bool
) -> None:
    """An image inside a toolResult is taken by Claude and Nova; gpt-oss refuses it with the
    recorded body (which it does not say for an image in the user turn itself)."""
    body = {"messages": tool_turns(image())} | SNAP
    if not accepted:
        assert fixture("error_image_unsupported.json")["message"] == await refusal(emu, model, body)
        return
    emu.script("bedrock", model, Reply("A photo."))
    assert 200 == (await post(emu, model, body)).status_code


RECORD = fixture("record_document_names.json")
WANT = json.loads((FIXTURES / "record_document_names.json.expected.json").read_text("utf-8"))


@pytest.mark.parametrize("name", sorted(WANT["refused"]))
async def test_refused_document_names_get_the_recorded_bodies(
    emu: ProviderEmulator, name: str
) -> None:
    """Each name Bedrock refused in the recording gets that recording's body (the document is
    the first message's second block, ``messages.1.member.content.2`` in Coral's 1-based
    paths, as in the recording)."""
    body = {"messages": [user(ASK, document(name))]}
    want = RECORD["responses"][WANT["refused"][name]]["body"]["message"]
    assert want == await refusal(emu, SONNET_4_5, body)


@pytest.mark.parametrize("name", WANT["accepted"])
async def test_plain_document_names_are_accepted(emu: ProviderEmulator, name: str) -> None:
    """Letters, digits, single spaces, hyphens, parentheses and brackets are taken."""
    emu.script("bedrock", SONNET_4_5, Reply("Read it."))
    response = await post(emu, SONNET_4_5, {"messages": [user(document(name), ASK)]})
    assert 200 == response.status_code, response.text


# -- output format -------------------------------------------------------------------------

OUTPUT_REFUSALS: list[tuple[str, Any, str]] = [
    (
        HAIKU_5,
        CLOSED,
        (
            "The model returned the following errors: output_config.format: Extra "
            "inputs are not permitted"
        ),
    ),
    (
        OPUS_4_7,
        CLOSED,
        (
            "The model returned the following errors: output_config.format: Extra "
            "inputs are not permitted"
        ),
    ),
    (
        SONNET_4_5,
        {"type": "object", "properties": {"a": {"type": "string"}}},
        (
            "The model returned the following errors: output_config.format.schema: For 'object' "
            "type, 'additionalProperties' must be explicitly set to false"
        ),
    ),
    (
        SONNET_4_5,
        CLOSED
        | {"properties": {"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}},
        fixture("error_output_schema_max_items.json")["message"],
    ),
    (
        NOVA,
        "{not json",
        (
            "The provided JSON schema at outputConfig.textFormat.structure.jsonSchema.schema is "
            "not a valid JSON Schema object: {not json"
        ),
    ),
]


@pytest.mark.parametrize(("model", "schema", "message"), OUTPUT_REFUSALS)
async def test_bad_output_formats_get_bedrocks_400(
    emu: ProviderEmulator, model: str, schema: Any, message: str
) -> None:
    """Claude 5 / Opus 4.7 refuse outputConfig; Claude 4.5 checks its schema subset; a schema
    string that is not JSON is refused."""
    body = {"messages": [user(ASK)]} | text_format(schema)
    assert message == await refusal(emu, model, body)


async def test_output_format_type_is_an_enum(emu: ProviderEmulator) -> None:
    """textFormat.type must be json_schema (the service model's enum)."""
    body = {"messages": [user(ASK)]} | text_format(CLOSED)
    body["outputConfig"]["textFormat"]["type"] = "json"
    assert (
        "1 validation error detected: Value at 'outputConfig.textFormat.type' failed to satisfy "
        "constraint: Member must satisfy enum value set: [json_schema]"
    ) == await refusal(emu, NOVA, body)


# -- cache points --------------------------------------------------------------------------

POINT = {"cachePoint": {"type": "default"}}
HOUR = {"cachePoint": {"type": "default", "ttl": "1h"}}


async def test_a_cache_point_with_nothing_to_cache_gets_the_recorded_body(
    emu: ProviderEmulator,
) -> None:
    """A turn made only of a cache point: the recorded 400."""
    body = {"messages": [user(ASK), {"role": "assistant", "content": [POINT]}, user(ASK)]}
    want = fixture("error_cache_point_nothing.json")["message"]
    assert want == await refusal(emu, SONNET_4_5, body)


async def test_cache_ttls_may_not_increase(emu: ProviderEmulator) -> None:
    """system 5m then a 1h point in the messages is refused; 1h then 5m is taken."""
    body = {"system": [{"text": "rules"}, POINT], "messages": [user(ASK, HOUR)]}
    assert "ttl cannot be longer" in await refusal(emu, SONNET_4_5, body)
    emu.script("bedrock", SONNET_4_5, Reply("ok"))
    body = {"system": [{"text": "rules"}, HOUR], "messages": [user(ASK, POINT)]}
    assert 200 == (await post(emu, SONNET_4_5, body)).status_code


@pytest.mark.parametrize("stream", [False, True])
async def test_cache_points_write_then_read(emu: ProviderEmulator, stream: bool) -> None:
    """The first request with a cache point writes its prefix, the same prefix again reads it;
    inputTokens excludes both (as Bedrock's does)."""
    system = [{"text": "one two three four five six"}, POINT]
    body = {"system": system, "messages": [user({"text": "seven eight"})]}
    usages = []
    for _ in range(2):
        emu.script("bedrock", SONNET_4_5, Reply("ok"))
        response = await post(emu, SONNET_4_5, body, stream=stream)
        if stream:
            usages.append(events(response)[-1][1]["usage"])
        else:
            usages.append(response.json()["usage"])
    first, second = usages
    assert (6, 0) == (first["cacheWriteInputTokens"], first["cacheReadInputTokens"])
    assert (0, 6) == (second["cacheWriteInputTokens"], second["cacheReadInputTokens"])
    assert first["inputTokens"] == second["inputTokens"] == 2
    assert first["totalTokens"] == 2 + 6 + first["outputTokens"]


@pytest.mark.parametrize("stream", [False, True])
async def test_output_config_gets_schema_shaped_json(emu: ProviderEmulator, stream: bool) -> None:
    """Unscripted, a request with outputConfig is answered with JSON the schema accepts (as one
    text block, or its deltas); a scripted reply still wins."""
    body = {"messages": [user(ASK)]} | text_format(CLOSED)
    response = await post(emu, SONNET_4_5, body, stream=stream)
    if stream:
        text = "".join(
            p["delta"].get("text", "") for k, p in events(response) if k == "contentBlockDelta"
        )
    else:
        text = response.json()["output"]["message"]["content"][0]["text"]
    answer = json.loads(text)
    assert {"city", "days"} == set(answer)
    assert isinstance(answer["city"], str) and isinstance(answer["days"], int)
    emu.script("bedrock", SONNET_4_5, Reply("not json"))
    scripted = (await post(emu, SONNET_4_5, body)).json()
    assert "not json" == scripted["output"]["message"]["content"][0]["text"]


async def test_nova_refuses_cache_points_among_the_tools(emu: ProviderEmulator) -> None:
    """Nova caches system and messages only; Claude takes a tool cache point."""
    spec = {"toolSpec": {"name": "clock", "inputSchema": {"json": {"type": "object"}}}}
    body = {"messages": [user(ASK)], "toolConfig": {"tools": [spec, POINT]}}
    assert "cache points in toolConfig.tools" in await refusal(emu, NOVA, body)
    emu.script("bedrock", SONNET_4_5, Reply("ok"))
    assert 200 == (await post(emu, SONNET_4_5, body)).status_code
