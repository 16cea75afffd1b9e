"""The OpenAI dialect checks response_format and image/file parts as OpenAI does, in its words."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmorch.testing import ProviderEmulator, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "openai"

MODEL = "gpt-5.4-mini"
USER = [{"role": "user", "content": "Answer in JSON, please."}]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.4\n%%EOF\n"
LOCATION = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "units": {"enum": ["c", "f"]}},
    "required": ["city", "units"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def post(emu: ProviderEmulator, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        emu.url("openai") + "/chat/completions",
        json={"model": MODEL, "messages": USER, **body},
        headers={"authorization": "Bearer sk-test"},
    )


def refusal(message: str, param: str | None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def schema_format(schema: Any, *, strict: bool = True, name: str = "Location") -> dict[str, Any]:
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": strict},
        }
    }


def user_parts(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, *parts]}]}


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def image_part(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def file_part(**file: Any) -> dict[str, Any]:
    return {"type": "file", "file": file}


REFUSED: list[Any] = [
    pytest.param(
        schema_format({**LOCATION, "additionalProperties": True}),
        refusal(
            "Invalid schema for response_format 'Location': In context=(), "
            "'additionalProperties' is required to be supplied and to be false.",
            "response_format",
        ),
        id="strict-open-object",
    ),
    pytest.param(
        schema_format(
            {
                "type": "object",
                "properties": {
                    "orgs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}, "roles": {}},
                            "required": ["name"],
                            "additionalProperties": False,
                        },
                    }
                },
                "required": ["orgs"],
                "additionalProperties": False,
            }
        ),
        refusal(
            "Invalid schema for response_format 'Location': In context=('properties', 'orgs', "
            "'items'), 'required' is required to be supplied and to be an array including every "
            "key in properties. Missing 'roles'.",
            "response_format",
        ),
        id="strict-nested-optional",
    ),
    pytest.param(
        schema_format({"type": "array", "items": {"type": "string"}}, strict=False),
        refusal(
            "Invalid schema for response_format 'Location': schema must be a JSON Schema of "
            "'type: \"object\"', got 'type: \"array\"'.",
            "response_format",
        ),
        id="array-root",
    ),
    pytest.param(
        schema_format(LOCATION, name="my location"),
        refusal(
            "Invalid 'response_format.json_schema.name': string does not match pattern. "
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "response_format.json_schema.name",
            "invalid_value",
        ),
        id="name-pattern",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "hello"}],
            "response_format": {"type": "json_object"},
        },
        refusal(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of "
            "type 'json_object'.",
            "messages",
        ),
        id="json-object-without-the-word",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema"}},
        refusal(
            "Missing required parameter: 'response_format.json_schema'.",
            "response_format.json_schema",
            "missing_required_parameter",
        ),
        id="json-schema-missing",
    ),
    pytest.param(
        user_parts(image_part("aGVsbG8=")),
        refusal(
            "Invalid image URL: 'messages[0].content[1].image_url.url'. Expected a base64-encoded "
            "data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='),"
            " but got a value without the 'data:' prefix.",
            "messages[0].content[1].image_url.url",
            "invalid_value",
        ),
        id="image-raw-base64",
    ),
    pytest.param(
        user_parts(image_part(data_url("application/pdf", PDF))),
        refusal(
            "Invalid image URL: 'messages[0].content[1].image_url.url'. Expected a base64-encoded "
            "data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='),"
            " but got unsupported MIME type 'application/pdf'.",
            "messages[0].content[1].image_url.url",
            "invalid_value",
        ),
        id="image-pdf-mime",
    ),
    pytest.param(
        user_parts(image_part(data_url("image/png", PDF))),
        refusal(
            "You uploaded an unsupported image. Please make sure your image has of one the "
            "following formats: ['png', 'jpeg', 'gif', 'webp'].",
            None,
            "invalid_image_format",
        ),
        id="image-bytes-not-an-image",
    ),
    pytest.param(
        user_parts(image_part("data:image/png;base64,%%%")),
        refusal(
            "Invalid image URL: 'messages[0].content[1].image_url.url'. Expected a base64-encoded "
            "data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='),"
            " but got an invalid base64-encoded value.",
            "messages[0].content[1].image_url.url",
            "invalid_value",
        ),
        id="image-bad-base64",
    ),
    pytest.param(
        user_parts(image_part("https://example.com/a.png", detail="ultra")),
        refusal(
            "Invalid value: 'ultra'. Supported values are: 'auto', 'low', and 'high'.",
            "messages[0].content[1].image_url.detail",
            "invalid_value",
        ),
        id="image-detail",
    ),
    pytest.param(
        user_parts(file_part(file_data=data_url("application/pdf", PDF))),
        refusal(
            "Missing required parameter: 'messages[0].content[1].file.file_id'.",
            "messages[0].content[1].file.file_id",
            "missing_required_parameter",
        ),
        id="file-without-filename",
    ),
    pytest.param(
        user_parts(file_part(file_data="JVBERi0=", filename="a.pdf")),
        refusal(
            "Invalid file data: 'messages[0].content[1].file.file_data'. Expected a "
            "base64-encoded data URL with an application/pdf MIME type (e.g. "
            "'data:application/pdf;base64,SGVsbG8sIFdvcmxkIQ=='), but got an invalid "
            "base64-encoded value.",
            "messages[0].content[1].file.file_data",
            "invalid_value",
        ),
        id="file-raw-base64",
    ),
    pytest.param(
        user_parts(
            {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}},
        ),
        refusal(
            "Unknown parameter: 'messages[0].content[1].cache_control'.",
            "messages[0].content[1].cache_control",
            "unknown_parameter",
        ),
        id="cache-control",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": [image_part("https://example.com/a.png")]},
                *USER,
            ]
        },
        refusal(
            "Invalid value: 'image_url'. Supported values are: 'text'.",
            "messages[0].content[0].type",
            "invalid_value",
        ),
        id="image-in-system",
    ),
    pytest.param(
        {"model": "gpt-5-mini", "top_p": 0.9},
        refusal(
            "Unsupported parameter: 'top_p' is not supported with this model.",
            "top_p",
            "unsupported_parameter",
        ),
        id="top-p-on-a-reasoning-model",
    ),
    pytest.param(
        {"model": "o3", "temperature": 0.5},
        refusal(
            "Unsupported value: 'temperature' does not support 0.5 with this model. Only the "
            "default (1) value is supported.",
            "temperature",
            "unsupported_value",
        ),
        id="temperature-on-o3",
    ),
]


@pytest.mark.parametrize(("body", "error"), REFUSED)
def test_refused_the_way_openai_refuses(
    emu: ProviderEmulator, body: dict[str, Any], error: dict[str, Any]
) -> None:
    """Each body gets OpenAI's 400 with its message, param and code."""
    response = post(emu, body)
    assert (400, error) == (response.status_code, response.json())


ACCEPTED: list[Any] = [
    pytest.param(schema_format(LOCATION), id="strict-schema"),
    pytest.param(
        schema_format({"type": "object", "properties": {"a": {"type": "string"}}}, strict=False),
        id="loose-schema",
    ),
    pytest.param({"response_format": {"type": "json_object"}}, id="json-object"),
    pytest.param({"response_format": {"type": "text"}}, id="text"),
    pytest.param(
        user_parts(
            image_part("https://example.com/cat.png", detail="low"),
            image_part(data_url("image/png", PNG), detail="high"),
            image_part(data_url("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 8)),
        ),
        id="images",
    ),
    pytest.param(
        user_parts(file_part(file_data=data_url("application/pdf", PDF), filename="a.pdf")),
        id="pdf",
    ),
    pytest.param(user_parts(file_part(file_id="file-abc123")), id="file-id"),
    pytest.param({"top_p": 0.5, "temperature": 0.3}, id="sampling-without-reasoning"),
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_accepted(emu: ProviderEmulator, body: dict[str, Any]) -> None:
    """Well-formed formats and parts get an answer."""
    response = post(emu, body)
    assert 200 == response.status_code, response.text
    assert "stop" == response.json()["choices"][0]["finish_reason"]


def test_scripted_refusal_is_served_as_message_refusal(emu: ProviderEmulator) -> None:
    """content_filter with text: content null, refusal the text, finish stop (as recorded)."""
    emu.script("openai", MODEL, Reply("I can't help with that.", finish_reason="content_filter"))
    choice = post(emu, schema_format(LOCATION)).json()["choices"][0]
    assert (None, "I can't help with that.", "stop") == (
        choice["message"]["content"],
        choice["message"]["refusal"],
        choice["finish_reason"],
    )


def test_streamed_refusal_comes_as_refusal_deltas(emu: ProviderEmulator) -> None:
    """The stream opens with content null and refusal "", then refusal fragments, finish stop."""
    emu.script("openai", MODEL, Reply("I can't help.", finish_reason="content_filter"))
    response = post(emu, {**schema_format(LOCATION), "stream": True})
    frames = [json.loads(e[6:]) for e in response.text.split("\n\n") if e and e != "data: [DONE]"]
    deltas = [f["choices"][0]["delta"] for f in frames]
    assert {"role": "assistant", "content": None, "refusal": ""} == deltas[0]
    assert "I can't help." == "".join(d.get("refusal", "") for d in deltas[1:])
    assert all("content" not in d for d in deltas[1:])
    assert "stop" == frames[-1]["choices"][0]["finish_reason"]


def test_an_image_over_the_size_limit_is_refused(
    emu: ProviderEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over 20 MB (here the limit lowered, to keep the body small): OpenAI's size refusal."""
    monkeypatch.setattr("llmorch.testing._openai_format.MAX_IMAGE_BYTES", len(PNG) - 1)
    response = post(emu, user_parts(image_part(data_url("image/png", PNG))))
    assert (400, "invalid_image_format") == (response.status_code, response.json()["error"]["code"])
    assert "below 20 MB" in response.json()["error"]["message"]


def test_a_schema_that_is_not_an_object_is_an_invalid_type(emu: ProviderEmulator) -> None:
    """json_schema.schema must be an object: OpenAI's "Invalid type" wording."""
    response = post(emu, schema_format("a schema", strict=False))
    assert (
        refusal(
            "Invalid type for 'response_format.json_schema.schema': expected an object, but got a "
            "string instead.",
            "response_format.json_schema.schema",
            "invalid_type",
        )
        == response.json()
    )


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


RECORDED: list[Any] = [
    pytest.param(
        schema_format(
            {"type": "array", "items": {"type": "object"}},
            strict=False,
            name="AdSegmentPredictionList",
        ),
        "error_400_response_format_array_root.json",
        id="array-root",
    ),
    pytest.param(
        schema_format(
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            name="default",
        ),
        "error_400_response_format_additional_properties.json",
        id="additional-properties",
    ),
    pytest.param({"model": "o1", "top_p": 1}, "error_400_top_p_reasoning_model.json", id="top-p"),
    pytest.param(
        {"model": "gpt-5-mini", "stop": ["\n"]}, "error_400_stop_reasoning_model.json", id="stop"
    ),
    pytest.param(
        user_parts(image_part(base64.b64encode(PNG).decode())),
        "error_400_image_url_without_data_prefix.json",
        id="image-without-data-prefix",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Read it and answer in JSON."},
                user_parts(file_part(file_data=data_url("application/pdf", PDF)))["messages"][0],
            ]
        },
        "error_400_file_without_filename.json",
        id="file-without-filename",
    ),
]


@pytest.mark.parametrize(("body", "name"), RECORDED)
def test_recorded_refusals_are_reproduced(emu: ProviderEmulator, body: Any, name: str) -> None:
    """The request each recorded 400 answered gets that body back, field for field."""
    response = post(emu, body)
    assert (400, recorded(name)) == (response.status_code, response.json())
