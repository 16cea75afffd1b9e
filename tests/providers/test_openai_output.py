"""The OpenAI codec on structured output, image and file parts, and the 400s about parameters."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from pathlib import Path
from typing import Any, Literal

import httpx
import pydantic
import pydantic.dataclasses
import pytest

from llmorch._sse import SSEDecoder
from llmorch.config import OpenAIConfig
from llmorch.exceptions import InvalidRequestError, OutputValidationError
from llmorch.fit import fit
from llmorch.output import parse_answer, validate_response_format
from llmorch.providers._openai_wire import unsupported_parameter
from llmorch.providers.openai import ChunkParser, OpenAIProvider, decode_response, encode_request
from llmorch.request import ChatRequest
from llmorch.streaming import StreamAccumulator
from llmorch.testing._openai_format import strict_problem
from llmorch.types import LLMResponse
from tests.adapters import typed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def openai_400(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return {"error": error}


@pytest.mark.parametrize(
    ("payload", "parameter"),
    [
        pytest.param(
            fixture("error_400_temperature_reasoning_model.json"), "temperature", id="rec"
        ),
        pytest.param(
            openai_400(
                "Unsupported parameter: 'top_p' is not supported with this model.",
                "top_p",
                "unsupported_parameter",
            ),
            "top_p",
            id="top-p",
        ),
        pytest.param(fixture("error_400_top_p_reasoning_model.json"), "top_p", id="rec-top-p"),
        pytest.param(fixture("error_400_stop_reasoning_model.json"), "stop", id="rec-stop"),
        pytest.param(
            {
                "error": {
                    "message": "Unsupported parameter: 'seed' is not supported with this model."
                }
            },
            "seed",
            id="compatible-server-without-param",
        ),
        pytest.param(
            fixture("error_400_max_tokens_reasoning_model.json"), None, id="not-a-sampling-param"
        ),
        pytest.param(
            openai_400(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
                "unsupported_parameter",
            ),
            None,
            id="reasoning-effort",
        ),
        pytest.param(fixture("error_400_tool_calls_without_results.json"), None, id="other-400"),
        pytest.param("Bad Request", None, id="not-json"),
    ],
)
def test_unsupported_parameter_reads_openai_400(payload: Any, parameter: str | None) -> None:
    """temperature/top_p/seed/stop from param+code (or the message's opening), else None."""
    assert parameter == unsupported_parameter(payload)


async def test_the_adapter_hook_reads_the_error_body() -> None:
    """OpenAIProvider.unsupported_parameter reads InvalidRequestError.body."""
    async with httpx.AsyncClient() as http:
        adapter = OpenAIProvider("openai", OpenAIConfig(api_key="sk-test"), http)
        error = InvalidRequestError(
            "x", status_code=400, body=fixture("error_400_temperature_reasoning_model.json")
        )
        assert "temperature" == adapter.unsupported_parameter(error)
        assert adapter.unsupported_parameter(InvalidRequestError("x", body=None)) is None


# --- structured output: the recorded parse() answers give the right .parsed -----------------


class Location(pydantic.BaseModel):
    city: str
    temperature: float
    units: Literal["c", "f"]


class LocationOptional(pydantic.BaseModel):
    city: str
    temperature: float
    units: Literal["c", "f"] | None = None


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"
    GREEN = "green"


class ColorDetection(pydantic.BaseModel):
    color: Color
    hex_color_code: str = pydantic.Field(description="The hex color code of the detected color")


@pydantic.dataclasses.dataclass
class CalendarEvent:
    name: str
    date: str
    participants: list[str]


# The response_format each recording was made with (its .source file names it).
RECORDED_TYPES: dict[str, Any] = {
    "chat_completion_parsed_location.json": Location,
    "chat_completion_parsed_optional_default.json": LocationOptional,
    "chat_completion_parsed_enum.json": ColorDetection,
    "chat_completion_parsed_dataclass.json": CalendarEvent,
    "chat_completion_parsed_max_tokens.json": Location,
    "chat_stream_parsed_location.sse": Location,
    "chat_stream_parsed_max_tokens.sse": Location,
}
USER = [{"role": "user", "content": "What's the weather like in SF?"}]


def formatted(python_type: Any, model: str = "gpt-5.4", **call: Any) -> ChatRequest:
    """The fitted request of a call with response_format=python_type (as the orchestrator fits)."""
    request = typed(call.pop("messages", USER), model, **call)
    request = dataclasses.replace(request, response_format=validate_response_format(python_type))
    return fit(request, "openai")


def parse(response: LLMResponse[Any], request: ChatRequest) -> Any:
    parse_answer(response, request)
    return response.parsed


async def answer_of(name: str) -> LLMResponse[Any]:
    if name.endswith(".json"):
        return decode_response(fixture(name), provider="openai", model="m", request_id="r")
    async with httpx.AsyncClient() as http:
        adapter = OpenAIProvider("openai", OpenAIConfig(api_key="sk-test"), http)
        decoder, parser, acc = SSEDecoder(), ChunkParser(adapter, "m", "r"), StreamAccumulator()
        for sse in [*decoder.feed((FIXTURES / name).read_bytes()), *decoder.flush()]:
            for event in parser(sse):
                acc.translate(event)
        return LLMResponse(
            content=acc.text,
            model="m",
            provider="openai",
            tokens_used=acc.tokens,
            finish_reason=acc.finish_reason,
        )


@pytest.mark.parametrize("name", [n for n, _ in RECORDED_TYPES.items() if "max_tokens" not in n])
async def test_recorded_parse_answer_gives_its_parsed_value(name: str) -> None:
    """The shared parse step turns each recorded answer into the instance the SDK got."""
    python_type = RECORDED_TYPES[name]
    want = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    response = await answer_of(name)
    parsed = parse(response, formatted(python_type))
    assert isinstance(parsed, python_type)
    assert want["parsed"] == pydantic.TypeAdapter(python_type).dump_python(parsed, mode="json")
    assert (want["text"], want["finish_reason"]) == (response.content, response.finish_reason)


@pytest.mark.parametrize("name", [n for n in RECORDED_TYPES if "max_tokens" in n])
async def test_recorded_cut_answer_is_an_output_error_that_says_so(name: str) -> None:
    """finish_reason length with '{"': OutputValidationError naming the cut, parsed None."""
    response = await answer_of(name)
    assert ('{"', "length") == (response.content, response.finish_reason)
    with pytest.raises(OutputValidationError) as info:
        parse(response, formatted(Location))
    assert {"json_invalid", "truncated"} == {e["type"] for e in info.value.errors}
    assert response.parsed is None


def test_recorded_refusal_is_content_filter_and_nothing_parsed() -> None:
    """message.refusal: content_filter with the explanation; never an OutputValidationError."""
    response = decode_response(
        fixture("chat_completion_refusal.json"), provider="openai", model="m", request_id="r"
    )
    assert ("content_filter", "I'm very sorry, but I can't assist with that.") == (
        response.finish_reason,
        response.content,
    )
    assert parse(response, formatted(Location)) is None


# --- structured output: the request ----------------------------------------------------------


def sent_format(python_type: Any, model: str = "gpt-5.4", **call: Any) -> dict[str, Any]:
    body = encode_request(formatted(python_type, model, **call), stream=False)
    return body["response_format"]


def test_a_schema_dict_with_name_description_and_strict_false_goes_as_given() -> None:
    """strict false: the caller's schema untouched; the description travels."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": False, "description": "d"},
    }
    assert {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": False, "description": "d"},
    } == sent_format(fmt)


def test_an_open_map_without_strict_goes_non_strict() -> None:
    """dict[str, int] cannot be strict: unset strict sends the schema as given, strict false."""
    schema = {
        "type": "object",
        "properties": {"counts": {"type": "object", "additionalProperties": {"type": "integer"}}},
    }
    sent = sent_format({"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert (schema, False) == (sent["json_schema"]["schema"], sent["json_schema"]["strict"])


def test_strict_true_closes_every_object() -> None:
    """strict true: every object closed and every property required, nested too."""
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"b": {"type": "integer"}}},
            "c": {"type": "array", "items": {"type": "object", "properties": {"d": {}}}},
        },
        "required": ["a"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema, "strict": True}}
    sent = sent_format(fmt)["json_schema"]["schema"]
    assert [] == [problem for problem in [strict_problem(sent, ())] if problem]
    assert ["a", "c"] == sent["required"]
    assert {"type": "integer"} == sent["properties"]["a"]["properties"]["b"]


def test_a_list_root_is_wrapped_in_value() -> None:
    """list[Location]: OpenAI takes only an object root, so it travels as {"value": [...]}."""
    sent = sent_format(list[Location])["json_schema"]
    assert ["value"] == sent["schema"]["required"]
    assert "array" == sent["schema"]["properties"]["value"]["type"]
    assert strict_problem(sent["schema"], ()) is None


def test_json_object_mode() -> None:
    """{"type": "json_object"} is sent as is."""
    assert {"type": "json_object"} == sent_format({"type": "json_object"})


def test_response_format_is_owned() -> None:
    """extra_body cannot set response_format: llmorch builds it."""
    assert "response_format" in OpenAIProvider.owned_fields


def test_temperature_to_an_always_reasoning_model_is_fitted_away() -> None:
    """gpt-5-mini takes temperature only at 1 and no top_p: both removed, with warnings."""
    request = fit(typed(USER, "gpt-5-mini", temperature=0.5, top_p=0.9), "openai")
    body = encode_request(request, stream=False)
    assert not {"temperature", "top_p"} & set(body)
    assert 2 == len(request.warnings)
    kept = fit(typed(USER, "gpt-5-mini", temperature=1), "openai")
    assert 1 == encode_request(kept, stream=False)["temperature"]


# --- images and files --------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.7\n%%EOF\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_image_and_file_parts_go_as_openai_defines_them() -> None:
    """URL image with detail, bytes as a data URL, PDF with its filename; text stays text."""
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "compare", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}},
                {
                    "type": "file",
                    "file": {
                        "file_data": f"data:application/pdf;base64,{b64(PDF)}",
                        "filename": "r.pdf",
                    },
                },
            ],
        }
    ]
    content = encode_request(typed(messages, "gpt-5.4"), stream=False)["messages"][0]["content"]
    assert [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}},
        {
            "type": "file",
            "file": {"file_data": f"data:application/pdf;base64,{b64(PDF)}", "filename": "r.pdf"},
        },
    ] == content


def test_a_document_without_filename_gets_one() -> None:
    """OpenAI refuses file_data without a filename: llmorch makes one up from the type."""
    part = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{b64(PDF)}"}}
    messages = [{"role": "user", "content": [part]}]
    content = encode_request(typed(messages, "gpt-5.4"), stream=False)["messages"][0]["content"]
    assert "document.pdf" == content[0]["file"]["filename"]


def test_cache_control_is_never_sent() -> None:
    """Message- and part-level cache_control: not in the body (OpenAI caches by itself)."""
    messages = [
        {"role": "system", "content": "rules", "cache_control": {"type": "ephemeral"}},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "b"},
            ],
        },
    ]
    body = encode_request(fit(typed(messages, "gpt-5.4"), "openai"), stream=False)
    assert "cache_control" not in json.dumps(body)


def test_media_in_a_tool_result_is_refused_before_any_call() -> None:
    """Tool results are text only on Chat Completions: the fitting step refuses, with the path."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": [image]},
    ]
    request = typed(messages, "gpt-5.4", tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(InvalidRequestError, match=r"messages\[2\]\.content\[0\]"):
        encode_request(fit(request, "openai"), stream=False)
    with pytest.raises(InvalidRequestError, match=r"messages\[2\]\.content\[0\]"):
        encode_request(request, stream=False)  # the codec refuses it too
