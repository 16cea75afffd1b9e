"""The Anthropic dialect checks images, documents, cache breakpoints and output schemas its way."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest

from llmorch.testing import ProviderEmulator, Reply
from llmorch.testing._anthropic_parts import MAX_IMAGE_BASE64, sniff

CLAUDE = "claude-haiku-5-5"
OLDER = "claude-haiku-4-5-20251001"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
PDF = b"%PDF-1.4\n%%EOF\n"
ASK = "what is in it?"
IMAGES = "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
ORDER = {
    "type": "object",
    "properties": {"item": {"type": "string"}, "count": {"type": "integer"}},
    "required": ["item", "count"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image(data: str, media_type: str = "image/png", **extra: Any) -> dict[str, Any]:
    source = {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "image", "source": source, **extra}


def pdf(data: str, media_type: str = "application/pdf") -> dict[str, Any]:
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }


def user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": ASK}]}]


def post(emu: ProviderEmulator, body: dict[str, Any], version: str = "2023-06-01") -> Any:
    headers = {"x-api-key": "k", "anthropic-version": version}
    full = {"model": CLAUDE, "max_tokens": 100, **body}
    response = httpx.post(emu.url("anthropic") + "/v1/messages", json=full, headers=headers)
    return response.status_code, response.json()


EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
ACCEPTED: list[dict[str, Any]] = [
    {"messages": user(image(b64(PNG)))},
    {"messages": user({"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}})},
    {"messages": user(pdf(b64(PDF)))},
    {
        "messages": user(
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                "title": "notes.txt",
            }
        )
    },
    {
        "system": [{"type": "text", "text": "be brief", "cache_control": HOUR}],
        "tools": [
            {"name": "f", "input_schema": {"type": "object"}, "cache_control": HOUR},
        ],
        "messages": user(image(b64(PNG), cache_control=EPHEMERAL), pdf(b64(PDF))),
        "cache_control": EPHEMERAL,
    },
    {"output_config": {"format": {"type": "json_schema", "schema": ORDER}}},
    {"output_config": {"format": {"type": "json_schema", "schema": {"type": "array"}}}},
    {"model": OLDER, "temperature": 0.5, "top_p": 0.9},
    {"top_k": 5},
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_accepts_what_anthropic_takes(emu: ProviderEmulator, body: dict[str, Any]) -> None:
    """Images (base64, URL), PDFs, plain text, four breakpoints and closed schemas are taken."""
    status, payload = post(emu, {"messages": user(), **body})
    assert 200 == status, payload


FIVE = [{"type": "text", "text": f"part {i}", "cache_control": EPHEMERAL} for i in range(5)]
REFUSALS: list[tuple[dict[str, Any], str]] = [
    (
        {"messages": user(image(b64(PNG), "image/bmp"))},
        f"messages.0.content.0.image.source.base64.media_type: Input should be {IMAGES}",
    ),
    (
        {"messages": user(image("not base64!"))},
        "messages.0.content.0.image.source.base64: invalid base64 data",
    ),
    (
        {"messages": user(image(""))},
        "messages.0.content.0.image.source.base64: image cannot be empty",
    ),
    (
        {"messages": user(image(b64(PNG), "image/jpeg"))},
        (
            "messages.0.content.0.image.source.base64.data: Image does not match the provided "
            "media type image/jpeg"
        ),
    ),
    (
        {"messages": user(image("A" * (MAX_IMAGE_BASE64 + 4)))},
        (
            "messages.0.content.0.image.source.base64: image exceeds 5 MB maximum: "
            f"{MAX_IMAGE_BASE64 + 4} bytes > 5242880 bytes"
        ),
    ),
    (
        {"messages": user(pdf(b64(PDF), "application/msword"))},
        "messages.0.content.0.document.source.base64.media_type: Input should be 'application/pdf'",
    ),
    (
        {"messages": user(pdf(b64(b"plain words")))},
        "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
    ),
    (
        {"messages": user({"type": "image", "source": {"type": "path", "path": "/a.png"}})},
        (
            "messages.0.content.0.image.source: Input tag 'path' found using 'type' does not "
            "match any of the expected tags: 'base64', 'url', 'file'"
        ),
    ),
    (
        {"messages": [{"role": "user", "content": FIVE}]},
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        {"messages": [{"role": "user", "content": FIVE[:4]}], "cache_control": EPHEMERAL},
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        {"messages": user(image(b64(PNG), cache_control={"type": "ephemeral", "ttl": "2h"}))},
        "messages.0.content.0.image.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "", "cache_control": EPHEMERAL}],
                }
            ]
        },
        "messages.0.content.0.text: cache_control cannot be set for empty text blocks",
    ),
    (
        {"system": [{"type": "text", "text": "", "cache_control": EPHEMERAL}]},
        "system.0.text: cache_control cannot be set for empty text blocks",
    ),
    (
        {
            "tools": [
                {"name": "f", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}
            ],
            "system": [{"type": "text", "text": "s", "cache_control": HOUR}],
        },
        (
            "system.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
            "ttl='5m' cache_control block. Note that blocks are processed in the following "
            "order: `tools`, `system`, `messages`."
        ),
    ),
    (
        {"system": [{"type": "text", "text": "s", "cache_control": {"type": "persistent"}}]},
        "system.0.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": ASK},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [image(b64(PNG), "image/tiff")],
                        }
                    ],
                },
            ],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        },
        (
            "messages.2.content.0.tool_result.content.0.image.source.base64.media_type: "
            f"Input should be {IMAGES}"
        ),
    ),
    (
        {"output_config": {"format": {"type": "json_object"}}},
        (
            "output_config.format: Input tag 'json_object' found using 'type' does not match any "
            "of the expected tags: 'json_schema'"
        ),
    ),
    (
        {"output_config": {"format": {"type": "json_schema"}}},
        "output_config.format.schema: Field required",
    ),
    (
        {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
        (
            "output_config.format.schema: For 'object' type, 'additionalProperties' must be "
            "explicitly set to false"
        ),
    ),
    (
        {
            "output_config": {
                "format": {
                    "type": "json_schema",
                    "schema": {
                        **ORDER,
                        "properties": {"count": {"type": "number", "minimum": 0, "maximum": 9}},
                    },
                }
            }
        },
        (
            "output_config.format.schema: For 'number' type, properties maximum, minimum are "
            "not supported"
        ),
    ),
    (
        {
            "output_config": {
                "format": {"type": "json_schema", "schema": {"type": "array", "minItems": 2}}
            }
        },
        "output_config.format.schema: For 'array' type, 'minItems' values other than 0 or 1 are",
    ),
    ({"temperature": 0.2}, "`temperature` is deprecated for this model."),
    ({"model": "claude-opus-4-7", "top_p": 0.5}, "`top_p` is deprecated for this model."),
]


@pytest.mark.parametrize(("body", "message"), REFUSALS)
def test_refuses_what_anthropic_refuses(
    emu: ProviderEmulator, body: dict[str, Any], message: str
) -> None:
    """Each rule gets Anthropic's own 400 body and wording."""
    status, payload = post(emu, {"messages": user(), **body})
    assert 400 == status, payload
    assert ("error", "invalid_request_error") == (payload["type"], payload["error"]["type"])
    assert payload["error"]["message"].startswith(message)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(8), "image/jpeg"),
        (b"GIF89a" + bytes(6), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7", None),
    ],
)
def test_sniff(data: bytes, kind: str | None) -> None:
    """The dialect's own sniffing knows the four image types Anthropic takes."""
    assert kind == sniff(data)


def test_cache_breakpoints_write_then_read(emu: ProviderEmulator) -> None:
    """A marked prefix of 1024+ tokens is written once (its ttl counted), then read."""
    long = " ".join(["word"] * 1200)
    system = [{"type": "text", "text": long, "cache_control": HOUR}]
    body = {"system": system, "messages": [{"role": "user", "content": "one two"}]}
    usages = [post(emu, body)[1]["usage"] for _ in range(2)]
    other = post(emu, {**body, "messages": [{"role": "user", "content": "three"}]})[1]["usage"]
    short = [{"type": "text", "text": "tiny prompt", "cache_control": EPHEMERAL}]
    uncached = post(emu, {**body, "system": short})[1]["usage"]
    assert [
        (2, 1200, 0, 1200),
        (2, 0, 1200, 0),
        (1, 0, 1200, 0),
        (4, 0, 0, 0),
    ] == [
        (
            u["input_tokens"],
            u["cache_creation_input_tokens"],
            u["cache_read_input_tokens"],
            u["cache_creation"]["ephemeral_1h_input_tokens"],
        )
        for u in (*usages, other, uncached)
    ]


class Order(pydantic.BaseModel, extra="forbid"):
    item: str
    count: int


class Orders(pydantic.BaseModel, extra="forbid"):
    orders: list[Order]


def test_output_config_answers_schema_shaped_json(emu: ProviderEmulator) -> None:
    """Asked for a schema, the answer's text is JSON that fits it, streamed as text deltas."""
    nested = {
        "$defs": {"Order": ORDER},
        "type": "object",
        "properties": {"orders": {"type": "array", "items": {"$ref": "#/$defs/Order"}}},
        "required": ["orders"],
        "additionalProperties": False,
    }
    body = {"output_config": {"format": {"type": "json_schema", "schema": nested}}}
    status, message = post(emu, {"messages": user(), **body})
    assert (200, "end_turn") == (status, message["stop_reason"])
    value = json.loads(message["content"][0]["text"])
    assert {"orders"} == set(value) and value["orders"]
    Orders.model_validate(value, strict=True)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    full = {"model": CLAUDE, "max_tokens": 100, "messages": user(), "stream": True, **body}
    text = httpx.post(emu.url("anthropic") + "/v1/messages", json=full, headers=headers).text
    deltas = [
        json.loads(line[6:])["delta"]["text"]
        for line in text.splitlines()
        if line.startswith("data: ") and '"text_delta"' in line
    ]
    assert len(deltas) > 1 and value == json.loads("".join(deltas))


def test_scripted_refusal_carries_stop_details(emu: ProviderEmulator) -> None:
    """A scripted refusal has stop_reason refusal and stop_details of type refusal."""
    emu.script("anthropic", CLAUDE, Reply("", finish_reason="content_filter"))
    status, message = post(emu, {"messages": user()})
    assert (200, "refusal") == (status, message["stop_reason"])
    assert {"type": "refusal", "category": None, "explanation": None} == message["stop_details"]
