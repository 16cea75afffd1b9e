"""The official openai SDK's structured output and image/file parts against the emulator."""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Iterator
from typing import Any, Literal

import anyio
import pydantic
import pytest

from llmorch.testing import ProviderEmulator, Reply
from llmorch.testing._openai_schema import CHAT_REQUEST
from llmorch.testing._strict import Arr, Obj, Tagged
from tests.conformance._typed import check_body, missing

openai = pytest.importorskip("openai")
chat_types = pytest.importorskip("openai.types.chat")

MODEL = "gpt-5.4-mini"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the weather like in SF?"}]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.4\n%%EOF\n"


class Location(pydantic.BaseModel):
    """The model of openai-python's own parse() tests (tests/lib/chat/test_completions.py)."""

    city: str
    temperature: float
    units: Literal["c", "f"]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: ProviderEmulator) -> Iterator[Any]:
    with openai.OpenAI(base_url=emu.url("openai"), api_key="sk-emu", max_retries=0) as sdk:
        yield sdk


def _user_parts() -> Obj:
    messages = CHAT_REQUEST.fields["messages"]
    assert isinstance(messages, Arr) and isinstance(messages.items, Tagged)
    content = messages.items.variants["user"].fields["content"]
    parts = content.options[1]  # type: ignore[attr-defined]
    assert isinstance(parts, Arr) and isinstance(parts.items, Tagged)
    return parts.items  # type: ignore[return-value]


def test_emulator_response_format_fields_are_the_sdk_fields() -> None:
    """response_format's variants and json_schema's keys are exactly openai-python's."""
    from openai.types.shared_params import (
        response_format_json_object,
        response_format_json_schema,
        response_format_text,
    )

    spec = CHAT_REQUEST.fields["response_format"]
    assert isinstance(spec, Tagged)
    assert {"text", "json_object", "json_schema"} == set(spec.variants)
    sdk = {
        "text": response_format_text.ResponseFormatText,
        "json_object": response_format_json_object.ResponseFormatJSONObject,
        "json_schema": response_format_json_schema.ResponseFormatJSONSchema,
    }
    for kind, variant in spec.variants.items():
        assert isinstance(variant, Obj)
        assert set(variant.fields) == set(sdk[kind].__annotations__), kind
    inner = spec.variants["json_schema"].fields["json_schema"]  # type: ignore[attr-defined]
    assert set(inner.fields) == set(response_format_json_schema.JSONSchema.__annotations__)


def test_emulator_image_and_file_parts_are_the_sdk_parts() -> None:
    """image_url and file parts (and their inner objects) declare exactly the SDK's keys."""
    from openai.types.chat import chat_completion_content_part_image_param as image_param
    from openai.types.chat import chat_completion_content_part_param as part_param

    parts = _user_parts()
    image = parts.variants["image_url"]
    file = parts.variants["file"]
    assert isinstance(image, Obj) and isinstance(file, Obj)
    assert set(image.fields) == set(image_param.ChatCompletionContentPartImageParam.__annotations__)
    assert set(image.fields["image_url"].fields) == set(  # type: ignore[attr-defined]
        image_param.ImageURL.__annotations__
    )
    assert set(file.fields) == set(part_param.File.__annotations__)
    assert set(file.fields["file"].fields) == set(  # type: ignore[attr-defined]
        part_param.FileFile.__annotations__
    )


def test_sdk_parse_sends_a_strict_schema_the_emulator_accepts(
    emu: ProviderEmulator, client: Any
) -> None:
    """parse(response_format=Location): the SDK's strict schema passes, .parsed is a Location."""
    emu.script("openai", MODEL, Reply('{"city":"San Francisco","temperature":65,"units":"f"}'))
    completion = client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=Location
    )
    message = completion.choices[0].message
    assert Location(city="San Francisco", temperature=65, units="f") == message.parsed
    sent = emu.requests[-1].body["response_format"]
    assert ("json_schema", "Location", True) == (
        sent["type"],
        sent["json_schema"]["name"],
        sent["json_schema"]["strict"],
    )


def test_sdk_parse_reads_a_refusal(emu: ProviderEmulator, client: Any) -> None:
    """A scripted refusal reaches the SDK as message.refusal, with nothing parsed."""
    emu.script("openai", MODEL, Reply("I can't help with that.", finish_reason="content_filter"))
    completion = client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=Location
    )
    message = completion.choices[0].message
    assert ("I can't help with that.", None, None) == (
        message.refusal,
        message.content,
        message.parsed,
    )


def test_sdk_stream_helper_parses_streamed_json(emu: ProviderEmulator, client: Any) -> None:
    """chat.completions.stream(response_format=...) folds the deltas into a parsed Location."""
    emu.script("openai", MODEL, Reply('{"city": "Oslo", "temperature": 3, "units": "c"}'))
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, response_format=Location
    ) as stream:
        done = [e for e in stream if e.type == "content.done"]
        final = stream.get_final_completion()
    assert Location(city="Oslo", temperature=3, units="c") == final.choices[0].message.parsed
    assert 1 == len(done)


def test_sdk_image_and_file_parts_are_accepted(emu: ProviderEmulator, client: Any) -> None:
    """A URL image, a data-URL image with detail and a PDF file part are all answered."""
    pdf = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    png = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
        {"type": "file", "file": {"file_data": pdf, "filename": "report.pdf"}},
    ]
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}]
    )
    assert "stop" == completion.choices[0].finish_reason
    assert content == emu.requests[-1].body["messages"][0]["content"]


def test_sdk_gets_openai_400_for_an_open_strict_schema(client: Any) -> None:
    """A hand-written strict schema without additionalProperties: false is OpenAI's 400."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "A", "schema": schema, "strict": True},
            },
        )
    assert ("response_format", None) == (info.value.param, info.value.code)
    assert info.value.message.endswith(
        "'additionalProperties' is required to be supplied and to be false."
    )


class Table(str, enum.Enum):
    orders = "orders"
    customers = "customers"


class Operator(str, enum.Enum):
    eq = "="
    gt = ">"


class DynamicValue(pydantic.BaseModel):
    column_name: str


class Condition(pydantic.BaseModel):
    column: str
    operator: Operator
    value: str | int | DynamicValue


class Query(pydantic.BaseModel):
    """After openai-python's tests/lib/schema_types/query.py (enums, $defs, a union, lists)."""

    name: str | None = None
    table_name: Table
    columns: list[str]
    conditions: list[Condition]


@pytest.mark.parametrize("python_type", [Location, Query])
def test_sdk_parse_with_nothing_scripted_gets_schema_valid_output(
    emu: ProviderEmulator, client: Any, python_type: Any
) -> None:
    """Unscripted, the emulator answers JSON the SDK's own strict schema accepts: .parsed is set."""
    completion = client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=python_type
    )
    assert isinstance(completion.choices[0].message.parsed, python_type)
    assert "stop" == completion.choices[0].finish_reason


def test_sdk_json_object_mode_gets_a_json_object(client: Any) -> None:
    """json_object (with the word json in the prompt): the content is a JSON object."""
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply in JSON."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_sdk_types_accept_llmorch_structured_output_and_media_bodies(emu: ProviderEmulator) -> None:
    """Bodies llmorch builds with response_format (pydantic, list root, dict, json_object) and
    image/file parts validate against openai-python's request TypedDicts, nothing undeclared
    or missing, plain and streamed."""
    from openai.types.chat import completion_create_params as params_types

    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, document, image

    png = "data:image/png;base64," + base64.b64encode(PNG).decode()
    user = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this? Answer in JSON."},
                image("https://example.com/cat.png", detail="high"),
                {"type": "image_url", "image_url": {"url": png}},
                document(PDF, filename="r.pdf"),
            ],
        }
    ]
    formats: list[Any] = [
        Location,
        list[Location],
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}},
        {"type": "json_object"},
    ]

    async def calls() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "openai",
                "active_model": MODEL,
                "providers": {"openai": emu.config_for("openai") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            for fmt in formats:
                response = await orch.send_request(user, response_format=fmt)
                assert response.parsed is not None
                stream = orch.send_streaming_request(user, response_format=fmt)
                async for _ in stream:
                    pass
                assert stream.response.parsed is not None

    start = len(emu.requests)
    anyio.run(calls)
    bodies = [r.body for r in emu.requests[start:] if r.method == "POST"]
    assert 8 == len(bodies)
    assert {"json_schema", "json_object"} == {b["response_format"]["type"] for b in bodies}
    for body in bodies:
        params = params_types.CompletionCreateParamsNonStreaming
        if body.get("stream"):
            params = params_types.CompletionCreateParamsStreaming
        check_body(body, params)
        assert [] == missing(body, params)
