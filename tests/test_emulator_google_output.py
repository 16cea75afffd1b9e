"""The Gemini and Vertex dialects check structured output and media parts as Google does.

Raw HTTP, so each assertion is about the wire: the 400 wordings quoted in
``llmorch.testing._google_output`` / ``_google_media`` and the recorded error bodies under
``tests/fixtures/google``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from llmorch.testing import ProviderEmulator
from tests.test_emulator_google_tools import DIALECTS, MODEL, emu, events, post, refusal, stream

__all__ = ["emu"]  # the fixture, shared with the tool tests

FIXTURES = Path(__file__).parent / "fixtures" / "google"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF").decode()
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}
TOOLS = [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": SCHEMA}]}]


def ask(*parts: dict[str, Any], **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}, *parts]}]}
    if config:
        body["generationConfig"] = config
    return body


def recorded(name: str) -> str:
    return str(json.loads((FIXTURES / name).read_text())["error"]["message"])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_json_schema_and_mime_type_are_accepted(emu: ProviderEmulator, dialect: str) -> None:
    """responseMimeType + responseJsonSchema (additionalProperties and all) is a 200."""
    status, _ = post(
        emu, ask(responseMimeType="application/json", responseJsonSchema=SCHEMA), dialect=dialect
    )
    assert 200 == status


STRUCTURED_REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    (
        "an unknown response mime type",
        {"responseMimeType": "application/x-json"},
        "response_mime_type: allowed mimetypes are `text/plain`, `application/json`",
    ),
    (
        "both schema fields",
        {
            "responseMimeType": "application/json",
            "responseJsonSchema": SCHEMA,
            "responseSchema": {"type": "OBJECT"},
        },
        "response_schema must be omitted when response_json_schema is set",
    ),
    (
        "a JSON schema without the mime type",
        {"responseJsonSchema": SCHEMA},
        "response_mime_type must be application/json when response_json_schema is set",
    ),
    (
        "a schema with a text mime type",
        {"responseMimeType": "text/plain", "responseSchema": {"type": "STRING"}},
        "response_mime_type must be application/json or text/x.enum",
    ),
    (
        "a lower-case Schema type",
        {"responseMimeType": "application/json", "responseSchema": {"type": "object"}},
        (
            "Invalid value at 'generation_config.response_schema.type' "
            '(type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "object"'
        ),
    ),
    (
        "a JSON schema that is no object",
        {"responseMimeType": "application/json", "responseJsonSchema": ["string"]},
        "response_json_schema: must be a JSON Schema object",
    ),
    (
        "a $ref with a sibling",
        {
            "responseMimeType": "application/json",
            "responseJsonSchema": {
                "$defs": {"D": {"type": "string"}},
                "type": "object",
                "properties": {"draft": {"$ref": "#/$defs/D", "description": "the draft"}},
            },
        },
        (
            "schema at properties.draft can only contain properties starting with '$' when "
            "$ref is present"
        ),
    ),
]


@pytest.mark.parametrize(
    ("what", "config", "message"), STRUCTURED_REFUSALS, ids=[w for w, _, _ in STRUCTURED_REFUSALS]
)
def test_structured_output_refusals(
    emu: ProviderEmulator, what: str, config: dict[str, Any], message: str
) -> None:
    status, answer = post(emu, ask(**config))
    assert 400 == status, what
    assert message in refusal(answer)


def test_additional_properties_in_response_schema_is_refused_on_gemini_only(
    emu: ProviderEmulator,
) -> None:
    """The Gemini API's OpenAPI Schema has no additionalProperties; Vertex AI's has."""
    schema = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}
    config = {"responseMimeType": "application/json", "responseSchema": {**schema}}
    config["responseSchema"]["additionalProperties"] = False
    status, answer = post(emu, ask(**config))
    assert 400 == status
    assert refusal(answer) == (
        'Invalid JSON payload received. Unknown name "additionalProperties" at '
        "'generation_config.response_schema': Cannot find field."
    )
    assert [{"field": "generation_config.response_schema"}] == [
        {"field": v["field"]} for v in answer["error"]["details"][0]["fieldViolations"]
    ]
    assert 200 == post(emu, ask(**config), dialect="vertex")[0]


@pytest.mark.parametrize(
    ("mode", "fixture"),
    [
        ("AUTO", "error_400_function_calling_json_mime.json"),
        ("ANY", "error_400_forced_calling_json_mime.json"),
    ],
)
def test_gemini_2_refuses_json_answers_with_function_calling(
    emu: ProviderEmulator, mode: str, fixture: str
) -> None:
    """The recorded 400s on Gemini 2.5; Gemini 3 combines the two."""
    body = ask(responseMimeType="application/json", responseJsonSchema=SCHEMA)
    body |= {"tools": TOOLS, "toolConfig": {"functionCallingConfig": {"mode": mode}}}
    emu.script("gemini", "gemini-2.5-flash-lite", "{}")
    status, answer = post(emu, body, model="gemini-2.5-flash-lite")
    assert (400, recorded(fixture)) == (status, refusal(answer))
    assert 200 == post(emu, body)[0]


# -- media -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_images_and_documents_inline_and_by_url_are_accepted(
    emu: ProviderEmulator, dialect: str
) -> None:
    body = ask(
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"inline_data": {"mime_type": "application/pdf", "data": PDF}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/doc.pdf"}},
    )
    assert 200 == post(emu, body, dialect=dialect)[0]


def test_bad_base64_is_a_type_bytes_refusal(emu: ProviderEmulator) -> None:
    """LibreChat#6593's live wording, with the field violation."""
    url = "https://example.com/cat.png"
    status, answer = post(emu, ask({"inlineData": {"mimeType": "image/png", "data": url}}))
    where = "contents[0].parts[1].inline_data.data"
    message = f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for \"{url}\""
    assert (400, message) == (status, refusal(answer))
    assert where == answer["error"]["details"][0]["fieldViolations"][0]["field"]


@pytest.mark.parametrize(
    ("dialect", "mime", "message"),
    [
        ("gemini", "image/jpg", "Unsupported MIME type: image/jpg"),
        ("gemini", "image/gif", "Unsupported MIME type: image/gif"),
        (
            "gemini",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "Unsupported MIME type: application/vnd.openxmlformats",
        ),
        (
            "vertex",
            "text/csv",
            (
                "Unable to submit request because it has a mimeType parameter with value "
                "text/csv, which is not supported. Update the mimeType and try again."
            ),
        ),
    ],
)
def test_unsupported_media_types_get_the_vendor_wording(
    emu: ProviderEmulator, dialect: str, mime: str, message: str
) -> None:
    status, answer = post(
        emu, ask({"inlineData": {"mimeType": mime, "data": PNG}}), dialect=dialect
    )
    assert 400 == status
    assert refusal(answer).startswith(message)


def test_gemini_takes_text_documents_vertex_does_not(emu: ProviderEmulator) -> None:
    body = ask({"inlineData": {"mimeType": "text/csv", "data": base64.b64encode(b"a,b").decode()}})
    assert 200 == post(emu, body)[0]
    assert 400 == post(emu, body, dialect="vertex")[0]


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"inlineData": {"data": PNG}}, "parts[1].inline_data.mime_type: a MIME type is required"),
        (
            {"fileData": {"mimeType": "image/png", "fileUri": "ftp://example.com/a.png"}},
            'parts[1].file_data.file_uri: "ftp://example.com/a.png" is not a supported file URI',
        ),
        (
            {"fileData": {"fileUri": "https://example.com/a.png"}},
            "parts[1].file_data.mime_type: a MIME type is required",
        ),
        (
            {"fileData": {"mimeType": "image/png", "fileUri": "http://example.com/a.png"}},
            "is not a supported file URI",
        ),
    ],
)
def test_malformed_media_parts(emu: ProviderEmulator, part: dict[str, Any], message: str) -> None:
    status, answer = post(emu, ask(part))
    assert 400 == status
    assert message in refusal(answer)


def test_vertex_fetches_plain_http_urls(emu: ProviderEmulator) -> None:
    part = {"fileData": {"mimeType": "image/png", "fileUri": "http://example.com/a.png"}}
    assert 200 == post(emu, ask(part), dialect="vertex")[0]


def _tool_turns(*media: dict[str, Any]) -> dict[str, Any]:
    call = {"name": "get_weather", "args": {"name": "x"}, "id": "c1"}
    response = {"id": "c1", "name": "get_weather", "response": {"output": "ok"}, "parts": [*media]}
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": call, "thoughtSignature": "skip_thought_signature_validator"}
                ],
            },
            {"role": "user", "parts": [{"functionResponse": response}]},
        ],
        "tools": TOOLS,
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_gemini_3_takes_images_in_function_responses(emu: ProviderEmulator, dialect: str) -> None:
    body = _tool_turns({"inlineData": {"mimeType": "image/png", "data": PNG}})
    assert 200 == post(emu, body, dialect=dialect)[0]


def test_function_response_media_refusals(emu: ProviderEmulator) -> None:
    """Gemini 2.x takes none; the Gemini API no fileData; only the documented types."""
    image = {"inlineData": {"mimeType": "image/png", "data": PNG}}
    body = _tool_turns(image)
    body["contents"][1]["parts"][0].pop("thoughtSignature")
    emu.script("gemini", "gemini-2.5-flash", "ok")
    status, answer = post(emu, body, model="gemini-2.5-flash")
    assert 400 == status
    assert "multimodal function responses are not supported for this model" in refusal(answer)
    linked = {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/a.png"}}
    status, answer = post(emu, _tool_turns(linked))
    assert 400 == status
    assert 'Unknown name "fileData" at' in refusal(answer)
    assert 200 == post(emu, _tool_turns(linked), dialect="vertex")[0]
    csv = {"inlineData": {"mimeType": "text/csv", "data": PDF}}
    assert "Unsupported MIME type: text/csv" == refusal(post(emu, _tool_turns(csv))[1])


# -- answers -----------------------------------------------------------------------------------


def _text(answer: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in answer["candidates"][0]["content"]["parts"])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_json_schema_request_gets_schema_shaped_json(emu: ProviderEmulator, dialect: str) -> None:
    config = {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    status, answer = post(emu, ask(**config), dialect=dialect)
    value = json.loads(_text(answer))
    assert 200 == status
    assert isinstance(value["name"], str)
    assert set(value) <= {"name", "tags"}


def test_other_roots_the_openapi_schema_enums_and_plain_json_mode(emu: ProviderEmulator) -> None:
    array = {"type": "array", "items": {"type": "integer"}, "minItems": 2}
    config = {"responseMimeType": "application/json", "responseJsonSchema": array}
    items = json.loads(_text(post(emu, ask(**config))[1]))
    assert len(items) >= 2 and all(isinstance(i, int) for i in items)
    openapi = {
        "type": "OBJECT",
        "properties": {"n": {"type": "NUMBER"}, "ok": {"type": "BOOLEAN"}},
        "required": ["n", "ok"],
    }
    config = {"responseMimeType": "application/json", "responseSchema": openapi}
    value = json.loads(_text(post(emu, ask(**config))[1]))
    assert isinstance(value["n"], (int, float)) and isinstance(value["ok"], bool)
    assert isinstance(
        json.loads(_text(post(emu, ask(responseMimeType="application/json"))[1])), dict
    )
    enum = {"type": "STRING", "enum": ["positive", "negative"]}
    config = {"responseMimeType": "text/x.enum", "responseSchema": enum}
    assert "positive" == _text(post(emu, ask(**config))[1])


def test_streamed_json_joins_and_a_scripted_reply_wins(emu: ProviderEmulator) -> None:
    config = {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    raw = stream(emu, ask(**config))
    chunks = events(raw)
    assert len(chunks) > 1
    assert isinstance(json.loads("".join(_text(c) for c in chunks))["name"], str)
    emu.script("gemini", "gemini-3.8-flash", "not json {")
    assert "not json {" == _text(post(emu, ask(**config))[1])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_penalties_are_refused_from_gemini_2_5_on(emu: ProviderEmulator, dialect: str) -> None:
    """BerriAI/litellm#26108's wording; 0 passes (google-gemini/cookbook#1290)."""
    status, answer = post(emu, ask(frequencyPenalty=0.4), dialect=dialect)
    assert (400, f"Penalty is not enabled for models/{MODEL}") == (status, refusal(answer))
    assert 200 == post(emu, ask(presencePenalty=0), dialect=dialect)[0]
    emu.script(dialect, "gemini-2.0-flash", "ok")
    assert 200 == post(emu, ask(presencePenalty=0.5), dialect=dialect, model="gemini-2.0-flash")[0]
