"""google-genai's structured output and media parts against the emulator, and llmorch's bodies
for ``response_format`` and image/document parts typed by google-genai's own models.

``response_schema`` (a pydantic class, sent as the OpenAPI ``Schema``) and
``response_json_schema`` (a JSON Schema) each get JSON the SDK parses into ``response.parsed``
and that validates against the schema; ``Part.from_bytes`` / ``Part.from_uri`` images and PDFs
are accepted, and what Google refuses the SDK sees refused.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pydantic import BaseModel, TypeAdapter

from llmorch.testing import ProviderEmulator
from tests.conformance.test_google_genai_sdk import (
    MODEL,
    _chat_bodies,
    _validate_with_sdk_types,
    client,
    dialect,
    emu,
)

genai = pytest.importorskip("google.genai")
errors = pytest.importorskip("google.genai.errors")
types = pytest.importorskip("google.genai.types")

__all__ = ["client", "dialect", "emu"]  # fixtures shared with the SDK tests

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


class Ingredient(BaseModel):
    name: str
    grams: int


class Recipe(BaseModel):
    title: str
    vegetarian: bool
    ingredients: list[Ingredient]


RECIPE_JSON_SCHEMA = Recipe.model_json_schema()


def test_response_schema_gets_a_parsed_instance(client: Any) -> None:
    """A pydantic class as response_schema: the SDK sends a Schema and parses the JSON answer."""
    response = client.models.generate_content(
        model=MODEL,
        contents="a recipe",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Recipe
        ),
    )
    assert isinstance(response.parsed, Recipe)


def test_response_json_schema_gets_schema_valid_json(client: Any) -> None:
    """A JSON Schema with $defs and $ref as response_json_schema."""
    response = client.models.generate_content(
        model=MODEL,
        contents="a recipe",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=RECIPE_JSON_SCHEMA
        ),
    )
    assert isinstance(response.parsed, dict)
    Recipe.model_validate(response.parsed)


def test_an_array_root_is_taken_natively(client: Any) -> None:
    schema = {"type": "array", "items": RECIPE_JSON_SCHEMA["$defs"]["Ingredient"], "minItems": 2}
    response = client.models.generate_content(
        model=MODEL,
        contents="ingredients",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        ),
    )
    assert len(TypeAdapter(list[Ingredient]).validate_python(response.parsed)) >= 2


def test_streamed_json_joins_to_a_valid_answer(client: Any) -> None:
    chunks = client.models.generate_content_stream(
        model=MODEL,
        contents="a recipe",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=RECIPE_JSON_SCHEMA
        ),
    )
    text = "".join(chunk.text or "" for chunk in chunks)
    Recipe.model_validate_json(text)


def test_image_and_document_parts_are_accepted(client: Any) -> None:
    response = client.models.generate_content(
        model=MODEL,
        contents=[
            types.Part.from_bytes(data=PNG, mime_type="image/png"),
            types.Part.from_bytes(data=PDF, mime_type="application/pdf"),
            types.Part.from_uri(file_uri="https://example.com/cat.jpg", mime_type="image/jpeg"),
            "what is in these?",
        ],
    )
    assert response.text


def test_an_unsupported_image_type_is_the_sdks_client_error(client: Any, dialect: str) -> None:
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(
            model=MODEL, contents=[types.Part.from_bytes(data=PNG, mime_type="image/gif"), "?"]
        )
    assert 400 == raised.value.code
    assert "image/gif" in str(raised.value.message)


def test_sdk_types_accept_llmorch_structured_and_media_bodies(
    emu: ProviderEmulator, dialect: str
) -> None:
    """llmorch's bodies for response_format, array roots, json_object and image/document/URL
    parts type with google-genai's own models (extra=forbid), part by part."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, document, image

    question: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                image(PNG),
                image("https://example.com/cat.png"),
                document(PDF, filename="a.pdf"),
            ],
        }
    ]
    array = {"type": "array", "items": {"type": "string"}}

    async def run() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": MODEL,
                "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            first = await orch.send_request(question, response_format=Recipe)
            assert isinstance(first.parsed, Recipe)
            listed = await orch.send_request(
                [{"role": "user", "content": "list"}],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "l", "schema": array},
                },
            )
            assert isinstance(listed.parsed, list)
            await orch.send_request(
                [{"role": "user", "content": "json"}], response_format={"type": "json_object"}
            )
            stream = orch.send_streaming_request(
                [{"role": "user", "content": "stream"}], response_format=Recipe
            )
            async for _ in stream:
                pass
            assert isinstance(stream.response.parsed, Recipe)

    anyio.run(run)
    bodies = _chat_bodies(emu)
    assert 4 == len(bodies)
    for body in bodies:
        _validate_with_sdk_types(body)
    parts = bodies[0]["contents"][0]["parts"]
    assert {"inlineData", "fileData"} <= {key for part in parts for key in part}
    assert {"responseMimeType": "application/json"} == bodies[2]["generationConfig"]


def test_sdk_types_accept_llmorch_tool_result_media(emu: ProviderEmulator, dialect: str) -> None:
    """A tool result carrying an image and a PDF: functionResponse.parts types with the SDK's
    FunctionResponsePart, and the emulator answers the turn."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, document, image
    from llmorch.testing import Reply, ToolUse

    tools = [{"type": "function", "function": {"name": "shot", "parameters": {"type": "object"}}}]
    emu.script(dialect, MODEL, Reply(tool_calls=(ToolUse("shot"),)), "a cat")

    async def run() -> str:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": MODEL,
                "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        question: list[dict[str, Any]] = [{"role": "user", "content": "take a screenshot"}]
        async with AsyncLLMOrchestrator(config) as orch:
            first = await orch.send_request(question, tools=tools)
            result = {
                "role": "tool",
                "tool_call_id": first.tool_calls[0].id,
                "content": [{"type": "text", "text": "here"}, image(PNG), document(PDF)],
            }
            second = await orch.send_request([*question, first.message, result], tools=tools)
            return second.content

    assert "a cat" == anyio.run(run)
    last = _chat_bodies(emu)[-1]
    _validate_with_sdk_types(last)
    response = last["contents"][-1]["parts"][0]["functionResponse"]
    assert ["image/png", "application/pdf"] == [
        types.FunctionResponsePart.model_validate(p).inline_data.mime_type
        for p in response["parts"]
    ]
