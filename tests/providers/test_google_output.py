"""The Gemini codec's structured output and media parts, on recorded payloads and the emulator.

Bodies are checked field by field (``responseMimeType`` + ``responseJsonSchema``, ``inlineData``,
``fileData``, ``functionResponse.parts``); the recorded JSON-mode answer under
``tests/fixtures/google`` parses to its ``.expected.json`` value; calls through the orchestrator
get ``response.parsed`` from the emulator's schema-shaped answers on both dialects.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, Field

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    ContentFilteredError,
    InvalidRequestError,
    OrchestratorConfig,
    image,
)
from llmorch.exceptions import InvalidRequestError as Invalid
from llmorch.fit import fit
from llmorch.output import parse_output, validate_response_format
from llmorch.providers._gemini_wire import decode_response, encode_request
from llmorch.providers.gemini import GeminiProvider
from llmorch.testing import ProviderEmulator, Reply
from tests.adapters import typed
from tests.providers.test_google_tools import Adapter

FIXTURES = Path(__file__).parent.parent / "fixtures" / "google"
MODEL = "gemini-3.8-flash"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
PDF = b"%PDF-1.4\n%%EOF\n"
QUESTION = [{"role": "user", "content": "hi"}]


class Item(BaseModel):
    name: str
    count: int = Field(description="how many")


class Order(BaseModel):
    item: Item = Field(description="the item ordered")
    note: str | None = None


def body(
    messages: Any = QUESTION, model: str = MODEL, provider_type: str = "gemini", **call: Any
) -> dict[str, Any]:
    """The body the codec builds for a call, after the fitting step (which plans the output)."""
    fmt = call.pop("response_format", None)
    request = typed(messages, model, **call)
    if fmt is not None:
        request = dataclasses.replace(request, response_format=validate_response_format(fmt))
    encoded: dict[str, Any] = encode_request(fit(request, provider_type), provider_type)
    return encoded


def generation(sent: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = sent["generationConfig"]
    return config


# -- structured output --------------------------------------------------------------------------


def test_a_json_schema_goes_as_response_json_schema_with_the_mime_type() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    assert {"responseMimeType": "application/json", "responseJsonSchema": schema} == generation(
        body(response_format=fmt)
    )


def test_an_array_root_is_sent_as_is_and_json_mode_has_no_schema() -> None:
    """Gemini takes any root natively (json_schema_root: any): nothing is wrapped."""
    schema = {"type": "array", "items": {"type": "integer"}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert schema == generation(body(response_format=fmt))["responseJsonSchema"]
    assert {"responseMimeType": "application/json"} == generation(
        body(response_format={"type": "json_object"})
    )


def test_a_ref_with_siblings_is_inlined() -> None:
    """pydantic writes ``{"$ref", "description"}`` for a described model field; Google refuses
    siblings of ``$ref``, so the references are inlined (the description kept)."""
    sent = generation(body(response_format=Order))["responseJsonSchema"]
    assert "$defs" not in sent
    item = sent["properties"]["item"]
    assert ("the item ordered", "object") == (item["description"], item["type"])
    assert {"name", "count"} == set(item["properties"])


def test_recursive_refs_stay_references_without_siblings() -> None:
    node = {
        "type": "object",
        "properties": {"child": {"$ref": "#/$defs/N", "description": "next"}},
        "$defs": {"N": {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": node}}
    sent = generation(body(response_format=fmt))["responseJsonSchema"]
    assert {"$ref": "#/$defs/N"} == sent["properties"]["child"]
    assert node["$defs"] == sent["$defs"]


def test_extra_body_may_not_set_the_output_fields_with_response_format() -> None:
    with pytest.raises(InvalidRequestError, match=r"generationConfig\.responseMimeType"):
        body(
            response_format={"type": "json_object"},
            extra_body={"generationConfig": {"responseMimeType": "text/plain"}},
        )
    request = typed(QUESTION, MODEL, extra_body={"generationConfig": {"responseMimeType": "x"}})
    merged = request.options.apply(encode_request(request, "gemini"))  # no response_format: free
    assert "x" == merged["generationConfig"]["responseMimeType"]


def test_gemini_2_cannot_combine_tools_with_a_json_answer() -> None:
    """Google's 400 (fixture error_400_function_calling_json_mime.json), raised before any I/O."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(InvalidRequestError, match="Function calling with a response mime type"):
        body(model="gemini-2.5-flash", tools=tools, response_format={"type": "json_object"})
    assert "responseMimeType" in generation(
        body(tools=tools, response_format={"type": "json_object"})
    )


def test_the_recorded_json_mode_answer_parses() -> None:
    """vercel/ai's recorded gemini-3.5-flash-lite answer: pretty-printed JSON, signed."""
    want = json.loads((FIXTURES / "json_mode_schema.json.expected.json").read_text())
    data = json.loads((FIXTURES / "json_mode_schema.json").read_text())
    response = decode_response(data, "gemini-3.5-flash-lite", Adapter(), None)  # type: ignore[arg-type]
    fmt = validate_response_format(
        {"type": "json_schema", "json_schema": {"name": "evaluation", "schema": want["schema"]}}
    )
    assert fmt is not None
    assert want["parsed"] == parse_output(response.content, fmt, None)
    assert "stop" == response.finish_reason


# -- media ---------------------------------------------------------------------------------------


def test_images_and_documents_go_inline_and_urls_as_file_data() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                image(PNG),
                image("https://example.com/a/cat.jpg"),
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQKJSVFT0YK"},
                },
            ],
        }
    ]
    parts = body(messages)["contents"][0]["parts"]
    assert [
        {"text": "look"},
        {
            "inlineData": {
                "mimeType": "image/png",
                "data": image(PNG)["image_url"]["url"].split(",")[1],
            }
        },
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a/cat.jpg"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQKJSVFT0YK"}},
    ] == parts


def test_an_image_url_without_a_media_type_is_refused_with_its_path() -> None:
    messages = [{"role": "user", "content": [image("https://example.com/picture")]}]
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\]\.image_url\.url"):
        body(messages)


def _tool_history(*result: Any) -> list[dict[str, Any]]:
    call = {"id": "c1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}
    return [
        {"role": "user", "content": "take a screenshot"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": [*result]},
    ]


def test_tool_result_media_goes_in_function_response_parts() -> None:
    history = _tool_history({"type": "text", "text": "done"}, image(PNG))
    sent = body(history, tools=[{"type": "function", "function": {"name": "shot"}}])
    response = sent["contents"][2]["parts"][0]["functionResponse"]
    assert {"output": "done"} == response["response"]
    assert "image/png" == response["parts"][0]["inlineData"]["mimeType"]


def test_tool_result_image_urls_only_on_vertex_and_media_only_on_gemini_3() -> None:
    tools = [{"type": "function", "function": {"name": "shot"}}]
    history = _tool_history(image("https://example.com/s.png"))
    with pytest.raises(InvalidRequestError, match=r"messages\[2\]\.content\[0\]\.image_url\.url"):
        body(history, tools=tools)
    sent = body(history, provider_type="vertex", tools=tools)
    file_data = sent["contents"][2]["parts"][0]["functionResponse"]["parts"][0]["fileData"]
    assert "https://example.com/s.png" == file_data["fileUri"]
    with pytest.raises(Invalid, match="takes only text in tool results"):
        body(_tool_history(image(PNG)), model="gemini-2.5-flash", tools=tools)


def test_gemini_2_0_urls_are_refused_before_any_io() -> None:
    """The table: the Gemini API fetches URLs for Gemini 3, not the 2.0 family."""
    messages = [{"role": "user", "content": [image("https://example.com/cat.png")]}]
    with pytest.raises(InvalidRequestError, match="does not fetch image URLs"):
        body(messages, model="gemini-2.0-flash")
    assert (
        "fileData"
        in body(messages, model="gemini-2.0-flash", provider_type="vertex")["contents"][0]["parts"][
            0
        ]
    )


def test_cache_control_is_never_sent() -> None:
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    assert "cache" not in json.dumps(body(messages)).lower()


def test_google_400s_teach_no_unsupported_parameter() -> None:
    """Range errors and penalties are not 'the model does not take it' (docs/wire/google.md)."""
    adapter = GeminiProvider.__new__(GeminiProvider)
    range_error = (
        "Unable to submit request because it has a topK value of 64 but the supported range is "
        "from 1 (inclusive) to 41 (exclusive). Update the value and try again."
    )
    for message in (range_error, "Penalty is not enabled for models/gemini-2.5-flash"):
        error = InvalidRequestError(message)
        assert adapter.unsupported_parameter(error) is None


# -- through the orchestrator ---------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def _config(emu: ProviderEmulator, dialect: str) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        {
            "active_provider": dialect,
            "active_model": MODEL,
            "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": "ledger.jsonl"},
        }
    )


@pytest.mark.parametrize("dialect", ["gemini", "vertex"])
def test_parsed_answers_plain_streamed_and_array_rooted(
    emu: ProviderEmulator, dialect: str
) -> None:
    array = {"type": "array", "items": {"type": "string"}, "minItems": 2}
    fmt = {"type": "json_schema", "json_schema": {"name": "names", "schema": array}}

    async def run() -> tuple[Any, Any, Any, list[str]]:
        async with AsyncLLMOrchestrator(_config(emu, dialect)) as orch:
            order = await orch.send_request(QUESTION, response_format=Order)
            names = await orch.send_request(QUESTION, response_format=fmt)
            stream = orch.send_streaming_request(QUESTION, response_format=Order)
            async for _ in stream:
                pass
            cached = [{"role": "user", "content": "x", "cache_control": {"type": "ephemeral"}}]
            warned = await orch.send_request(cached, response_format={"type": "json_object"})
            return order.parsed, names.parsed, stream.response.parsed, warned.warnings

    order, names, streamed, warnings = anyio.run(run)
    assert isinstance(order, Order) and isinstance(streamed, Order)
    assert isinstance(names, list) and len(names) >= 2
    assert any("cache_control" in w for w in warnings)


def test_a_blocked_answer_is_content_filtered_not_an_output_error(emu: ProviderEmulator) -> None:
    emu.script("gemini", MODEL, Reply("", finish_reason="content_filter"))

    async def run() -> None:
        async with AsyncLLMOrchestrator(_config(emu, "gemini")) as orch:
            await orch.send_request(QUESTION, response_format=Order)

    with pytest.raises(AllFallbacksFailedError) as raised:
        anyio.run(run)
    assert [ContentFilteredError] == [type(error) for _, error in raised.value.attempts]


def test_thought_summaries_stay_out_of_the_parsed_answer(emu: ProviderEmulator) -> None:
    """With reasoning on, the thought parts are reasoning; only the answer's text is parsed."""
    answer = '{"item": {"name": "tea", "count": 2}, "note": null}'
    emu.script("gemini", MODEL, Reply(answer, reasoning="The user wants tea. Two cups."))

    async def run() -> Any:
        async with AsyncLLMOrchestrator(_config(emu, "gemini")) as orch:
            return await orch.send_request(QUESTION, response_format=Order, reasoning="low")

    response = anyio.run(run)
    assert Order(item=Item(name="tea", count=2)) == response.parsed
    assert "The user wants tea. Two cups." == response.reasoning
    sent = [r.body for r in emu.requests if r.method == "POST"][-1]["generationConfig"]
    assert {"includeThoughts": True, "thinkingLevel": "LOW"} == sent["thinkingConfig"]
    assert "application/json" == sent["responseMimeType"]
