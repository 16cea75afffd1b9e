"""Bedrock images, documents, cache points and structured output: the codec's mappings, the
recorded 400s it learns from, and llmorch against the emulator."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from llmorch import AsyncLLMOrchestrator, InvalidRequestError, OrchestratorConfig
from llmorch.exceptions import InvalidRequestError as Invalid
from llmorch.fit import fit
from llmorch.output import OutputPlan, validate_response_format
from llmorch.parts import CacheControl, DocumentPart, ImagePart, TextPart
from llmorch.providers._converse import decode_response, encode_request
from llmorch.providers._converse_content import (
    DocumentNames,
    cache_point,
    output_config,
    part_block,
)
from llmorch.providers._converse_errors import unsupported_parameter
from llmorch.testing import ProviderEmulator, Reply
from tests.adapters import typed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bedrock"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-lite-v1:0"
HAIKU_5 = "us.anthropic.claude-haiku-5-5"
ASK = [{"role": "user", "content": "what time is it?"}]


def data_url(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def expected(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8")))


def body(messages: list[dict[str, Any]], model: str = SONNET, **kwargs: Any) -> dict[str, Any]:
    """The Converse body for a call, fitted to the model first (as each attempt is)."""
    fmt = kwargs.pop("response_format", None)
    request = typed(messages, model=model, **kwargs)
    if fmt is not None:
        request = dataclasses.replace(request, response_format=validate_response_format(fmt))
    return encode_request(fit(request, "bedrock"))


# -- unsupported_parameter -------------------------------------------------------------------

ERRORS = sorted(p.name for p in FIXTURES.glob("error_*.json") if ".expected" not in p.name)


@pytest.mark.parametrize("name", ERRORS)
def test_unsupported_parameter_reads_each_recorded_400(name: str) -> None:
    """The deprecated-parameter and field-not-supported bodies name their llmorch parameter;
    every other recorded 400 names none."""
    message = json.loads((FIXTURES / name).read_text(encoding="utf-8")).get("message", "")
    assert expected(name).get("parameter") == unsupported_parameter(message)


def test_adapter_hook_reads_the_error_body() -> None:
    """BedrockProvider.unsupported_parameter reads the mapped error's body."""
    from llmorch.config import BedrockConfig
    from llmorch.providers.bedrock import BedrockProvider

    provider = BedrockProvider("b", BedrockConfig(region_name="us-east-1"), None)  # type: ignore[arg-type]
    body = json.loads((FIXTURES / "error_top_p_deprecated.json").read_text(encoding="utf-8"))
    error = provider.make_error(400, "ValidationException", body, HAIKU_5)
    assert isinstance(error, Invalid)
    assert "top_p" == provider.unsupported_parameter(error)
    other = provider.make_error(400, "ValidationException", {"message": "nope"}, HAIKU_5)
    assert isinstance(other, Invalid)
    assert provider.unsupported_parameter(other) is None


# -- parts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("John's report.pdf", "John s report"),
        ("résumé.docx", "resume"),
        ("invoice #123, final.PDF", "invoice 123 final"),
        ("Q3 report (final) [v2].xlsx", "Q3 report (final) [v2]"),
        ("분기보고서.pdf", "document 1"),
        (None, "document 1"),
        ("a\tb", "a b"),
        (".bashrc", "bashrc"),
        ("x" * 250 + ".pdf", "x" * 190),
    ],
)
def test_document_names_follow_bedrocks_rule(filename: str | None, name: str) -> None:
    """ASCII letters, digits, single spaces, hyphens, parentheses and brackets; no extension;
    at most 200 characters; a stand-in when nothing is left."""
    assert name == DocumentNames().name(filename)


def test_document_names_are_unique_within_a_request() -> None:
    """The same file name twice gets a numbered second name."""
    names = DocumentNames()
    assert ["report", "report (2)", "document 3"] == [
        names.name("report.pdf"),
        names.name("report.txt"),
        names.name(None),
    ]


def test_part_blocks() -> None:
    """Text, image bytes (format from the media type) and documents (format, name, bytes)."""
    names = DocumentNames()
    assert {"text": "hi"} == part_block(TextPart("hi"), names, "p")
    image = part_block(ImagePart("image/png", PNG), names, "p")
    assert {
        "image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}
    } == image
    document = part_block(DocumentPart("text/markdown", b"# hi", "notes.md"), names, "p")
    assert {"format": "md", "name": "notes", "source": {"bytes": "IyBoaQ=="}} == document[
        "document"
    ]


@pytest.mark.parametrize(
    ("part", "match"),
    [
        (ImagePart("image/png", None, url="https://example.com/a.png"), "pass the image as bytes"),
        (ImagePart("image/heic", b"...."), "not image/heic"),
        (DocumentPart("application/rtf", b"{\\rtf1}"), "not application/rtf"),
    ],
)
def test_what_converse_cannot_carry_is_refused(part: Any, match: str) -> None:
    """A URL image, an image or document type without a Converse format: refused, with the path."""
    with pytest.raises(Invalid, match=f"^messages\\[0\\].content\\[1\\]: .*{match}"):
        part_block(part, DocumentNames(), "messages[0].content[1]")


def test_user_parts_become_blocks_in_order() -> None:
    """A user turn's text, image and document parts become blocks in their order."""
    content = [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}},
        {
            "type": "file",
            "file": {"file_data": data_url("application/pdf", PDF), "filename": "a.pdf"},
        },
    ]
    sent = body([{"role": "user", "content": content}])
    blocks = sent["messages"][0]["content"]
    assert ["text", "image", "document"] == [next(iter(b)) for b in blocks]
    assert "a" == blocks[2]["document"]["name"]


def test_a_document_needs_text_beside_it() -> None:
    """Bedrock refuses a document without a text block in the same turn: refused first; text
    in a following user message of the same turn is enough."""
    content = [{"type": "file", "file": {"file_data": data_url("application/pdf", PDF)}}]
    with pytest.raises(Invalid, match=r"^messages\[0\].content: .*text part beside"):
        body([{"role": "user", "content": content}])
    merged = body([{"role": "user", "content": content}, {"role": "user", "content": "sum up"}])
    assert ["document", "text"] == [next(iter(b)) for b in merged["messages"][0]["content"]]


def test_tool_results_carry_images_and_documents() -> None:
    """A tool turn's parts go inside its toolResult content, in order."""
    call = {"id": "tooluse_a", "type": "function", "function": {"name": "snap", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "take a picture"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": "tooluse_a",
            "content": [
                {"type": "text", "text": "here"},
                {"type": "image_url", "image_url": {"url": data_url("image/png", PNG)}},
            ],
        },
    ]
    result = body(messages)["messages"][2]["content"][0]["toolResult"]
    assert ["text", "image"] == [next(iter(b)) for b in result["content"]]


# -- cache points ----------------------------------------------------------------------------


def test_cache_point_block() -> None:
    """A default point, and one with a TTL."""
    assert {"cachePoint": {"type": "default"}} == cache_point(CacheControl())
    assert {"cachePoint": {"type": "default", "ttl": "1h"}} == cache_point(CacheControl("1h"))


def test_cache_control_on_system_parts_messages_and_tools() -> None:
    """A cache point follows each marked system block, message part, tool result and tool."""
    mark = {"type": "ephemeral"}
    call = {"id": "tooluse_a", "type": "function", "function": {"name": "clock", "arguments": "{}"}}
    tool = {
        "type": "function",
        "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": mark}]},
        {"role": "user", "content": [{"type": "text", "text": "time?", "cache_control": mark}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "tooluse_a", "content": "noon", "cache_control": mark},
    ]
    sent = body(messages, tools=[tool])
    point, hour = (
        {"cachePoint": {"type": "default"}},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
    )
    assert [{"text": "rules"}, point] == sent["system"]
    assert [{"text": "time?"}, point] == sent["messages"][0]["content"]
    assert point == sent["messages"][2]["content"][-1]
    assert "toolResult" in sent["messages"][2]["content"][0]
    assert hour == sent["toolConfig"]["tools"][-1]


def test_a_growing_cache_ttl_is_refused_before_any_call() -> None:
    """5m on the system prompt, then 1h on a message: Bedrock would refuse it."""
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": "r", "cache_control": {"type": "ephemeral"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "q", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ],
        },
    ]
    with pytest.raises(Invalid, match="order tools, system, messages"):
        body(messages)


# -- structured output -----------------------------------------------------------------------


class City(BaseModel):
    name: str
    population: int
    tags: list[str]


def plan(schema: dict[str, Any], **kwargs: Any) -> OutputPlan:
    return OutputPlan("native", "city", schema, None, kwargs.get("description"), False)


def test_output_config_sends_the_schema_as_a_closed_json_string() -> None:
    """textFormat json_schema with the schema as a JSON string (objects closed), name and
    description."""
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}}
    config = output_config(plan(schema, description="A city"), "nova")
    definition = config["textFormat"]["structure"]["jsonSchema"]  # type: ignore[index]
    assert "json_schema" == config["textFormat"]["type"]  # type: ignore[index]
    assert ("city", "A city") == (definition["name"], definition["description"])
    sent = json.loads(definition["schema"])
    assert {"a": {"type": "string", "maxLength": 3}} == sent["properties"]
    assert sent["additionalProperties"] is False


def test_claude_gets_its_schema_subset() -> None:
    """For Claude the keywords it refuses are left out of what is sent."""
    schema = {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 3}
    sent = json.loads(
        output_config(plan(schema), "claude")["textFormat"]["structure"]["jsonSchema"]["schema"]  # type: ignore[index]
    )
    assert {"type": "array", "items": {"type": "integer"}} == sent


def config(emu: ProviderEmulator, model: str, **provider: Any) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        {
            "active_provider": "bedrock",
            "active_model": model,
            "providers": {
                "bedrock": emu.config_for("bedrock") | {"fallback_models": []} | provider
            },
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": "ledger.jsonl"},
        }
    )


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize("stream", [False, True])
async def test_native_structured_output_parses(emu: ProviderEmulator, stream: bool) -> None:
    """Claude Sonnet 4.5 gets outputConfig; the emulator's schema-shaped answer parses to the
    model class, streamed or not."""
    async with AsyncLLMOrchestrator(config(emu, SONNET)) as orch:
        if stream:
            response_stream = orch.send_streaming_request(
                [{"role": "user", "content": "a city"}], response_format=City
            )
            async for _ in response_stream:
                pass
            response = response_stream.response
        else:
            response = await orch.send_request(
                [{"role": "user", "content": "a city"}], response_format=City
            )
    assert isinstance(response.parsed, City)
    sent = [r.body for r in emu.requests if r.method == "POST"][-1]
    assert "textFormat" in sent["outputConfig"]
    assert "toolConfig" not in sent


async def test_claude_5_uses_the_forced_tool(emu: ProviderEmulator) -> None:
    """Claude Haiku 5.5 refuses outputConfig: the table says tool, so the schema goes as the
    forced structured_output tool and its call is the answer."""
    async with AsyncLLMOrchestrator(config(emu, HAIKU_5)) as orch:
        response = await orch.send_request(
            [{"role": "user", "content": "a city"}], response_format=City
        )
    assert isinstance(response.parsed, City)
    sent = [r.body for r in emu.requests if r.method == "POST"][-1]
    assert "outputConfig" not in sent
    assert "structured_output" == sent["toolConfig"]["tools"][0]["toolSpec"]["name"]


async def test_array_root_is_wrapped_and_unwrapped(emu: ProviderEmulator) -> None:
    """A list[City] root travels as {"value": [...]} and comes back as the list."""
    async with AsyncLLMOrchestrator(config(emu, SONNET)) as orch:
        response = await orch.send_request(
            [{"role": "user", "content": "cities"}], response_format=list[City]
        )
    assert isinstance(response.parsed, list)
    sent = [r.body for r in emu.requests if r.method == "POST"][-1]
    schema = json.loads(sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"])
    assert ["value"] == list(schema["properties"])


async def test_image_url_is_refused_before_any_call(emu: ProviderEmulator) -> None:
    """An https image URL on Bedrock: InvalidRequestError saying to pass bytes, no request."""
    content = [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    async with AsyncLLMOrchestrator(config(emu, SONNET)) as orch:
        with pytest.raises(InvalidRequestError, match="bytes"):
            await orch.send_request([{"role": "user", "content": content}])
    assert not [r for r in emu.requests if r.method == "POST"]


async def test_learned_parameter_retry(emu: ProviderEmulator) -> None:
    """A Claude model newer than the table (Opus 4.9): its 400 for top_p is learned, the call
    is retried without it, and the next call sends no top_p at once; both answers say so."""
    model = "us.anthropic.claude-opus-4-9"
    emu.script("bedrock", model, "first", "second")
    async with AsyncLLMOrchestrator(config(emu, model)) as orch:
        first = await orch.send_request([{"role": "user", "content": "hi"}], top_p=0.5)
        second = await orch.send_request([{"role": "user", "content": "hi"}], top_p=0.5)
    posts = [r.body for r in emu.requests if r.method == "POST"]
    assert 3 == len(posts)
    assert "topP" in posts[0]["inferenceConfig"]
    assert all("topP" not in p.get("inferenceConfig", {}) for p in posts[1:])
    assert all("top_p" in r.warnings[0] for r in (first, second)), (first.warnings, second.warnings)


def test_recorded_native_structured_answer_parses() -> None:
    """The recorded native answer: one text block of schema-shaped JSON, stop end_turn."""
    data = json.loads((FIXTURES / "converse_native_structured_output.json").read_text("utf-8"))
    text, finish, _, calls, _ = decode_response(data)
    assert (expected("converse_native_structured_output.json")["parsed"], "stop", []) == (
        json.loads(text),
        finish,
        calls,
    )


def test_json_object_asks_through_the_system_prompt() -> None:
    """Converse has no JSON mode: a json_object plan adds a system block asking for one JSON
    object, and no outputConfig."""
    sent = body(
        [{"role": "user", "content": "hi"}], model=NOVA, response_format={"type": "json_object"}
    )
    assert "outputConfig" not in sent
    assert "JSON object" in sent["system"][-1]["text"]


def test_output_config_sits_beside_the_reasoning_effort() -> None:
    """Adaptive thinking's outputConfig.effort and the textFormat share outputConfig."""
    sent = body(
        [{"role": "user", "content": "hi"}],
        model="global.anthropic.claude-opus-4-6-v1",
        reasoning="high",
        response_format=City,
    )
    assert {"effort", "textFormat"} == set(sent["outputConfig"])


async def test_a_refusal_is_content_filter_not_a_validation_error(emu: ProviderEmulator) -> None:
    """Bedrock's content_filtered stop with an explanation: finish content_filter, the text
    kept, parsed None, no OutputValidationError."""
    emu.script("bedrock", SONNET, Reply("I can't help with that.", finish_reason="content_filter"))
    async with AsyncLLMOrchestrator(config(emu, SONNET)) as orch:
        response = await orch.send_request(
            [{"role": "user", "content": "a city"}], response_format=City
        )
    assert ("content_filter", "I can't help with that.") == (
        response.finish_reason,
        response.content,
    )
    assert response.parsed is None


async def test_prompt_caching_reports_cache_tokens(emu: ProviderEmulator) -> None:
    """A cached system prompt: the first answer writes the cache, the second reads it, and
    prompt counts the cached tokens too."""
    system = {
        "role": "system",
        "content": [
            {"type": "text", "text": "one two three four", "cache_control": {"type": "ephemeral"}}
        ],
    }
    messages = [system, {"role": "user", "content": "five"}]
    async with AsyncLLMOrchestrator(config(emu, NOVA)) as orch:
        first = await orch.send_request(messages)
        second = await orch.send_request(messages)
    assert (4, 0) == (first.tokens_used["cache_write"], first.tokens_used["cache_read"])
    assert (0, 4) == (second.tokens_used["cache_write"], second.tokens_used["cache_read"])
    assert first.tokens_used["prompt"] == second.tokens_used["prompt"] == 5


async def test_cache_control_is_ignored_with_a_warning_where_bedrock_has_no_caching(
    emu: ProviderEmulator,
) -> None:
    """gpt-oss has no prompt caching on Bedrock: no cachePoint is sent, the answer warns."""
    model = "openai.gpt-oss-120b-1:0"
    emu.script("bedrock", model, "ok")
    part = {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}
    async with AsyncLLMOrchestrator(config(emu, model)) as orch:
        response = await orch.send_request(
            [{"role": "system", "content": [part]}, {"role": "user", "content": "hi"}]
        )
    sent = [r.body for r in emu.requests if r.method == "POST"][-1]
    assert "cachePoint" not in json.dumps(sent)
    assert any("cache_control" in w for w in response.warnings)


async def test_claude_5_streams_the_forced_tool_as_json_text(emu: ProviderEmulator) -> None:
    """Streamed through the forced tool: the tool's input fragments arrive as text deltas and
    the stream's response is parsed."""
    async with AsyncLLMOrchestrator(config(emu, HAIKU_5)) as orch:
        stream = orch.send_streaming_request(
            [{"role": "user", "content": "a city"}], response_format=City
        )
        text = "".join([chunk async for chunk in stream])
    assert isinstance(stream.response.parsed, City)
    assert City.model_validate_json(text) == stream.response.parsed


def test_a_tool_result_document_needs_no_text_beside_it() -> None:
    """The text-beside-documents rule is a user turn's: a tool result may hold a document alone."""
    call = {"id": "tooluse_a", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}
    pdf = {
        "type": "file",
        "file": {"file_data": data_url("application/pdf", PDF), "filename": "r.pdf"},
    }
    messages = [
        {"role": "user", "content": "fetch the report"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "tooluse_a", "content": [pdf]},
    ]
    result = body(messages)["messages"][2]["content"][0]["toolResult"]
    assert [{"format": "pdf", "name": "r"}] == [
        {k: b["document"][k] for k in ("format", "name")} for b in result["content"]
    ]


NOVA_TOOL = {
    "type": "function",
    "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
    "cache_control": {"type": "ephemeral"},
}


def test_nova_gets_a_tool_cache_mark_at_the_end_of_the_system_prompt() -> None:
    """Nova takes no cache point among the tools: the mark goes after the system prompt (which
    caches the tools before it); a later cache point already covers it."""
    system = {"role": "system", "content": "rules"}
    sent = body([system, *ASK], model=NOVA, tools=[NOVA_TOOL])
    assert all("cachePoint" not in t for t in sent["toolConfig"]["tools"])
    assert [{"text": "rules"}, {"cachePoint": {"type": "default"}}] == sent["system"]
    marked = {
        "role": "user",
        "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}],
    }
    covered = body([system, marked], model=NOVA, tools=[NOVA_TOOL])
    assert [{"text": "rules"}] == covered["system"]


def test_nova_tool_cache_mark_without_a_system_prompt_is_refused() -> None:
    """Nowhere to put the mark: refused before any call, with what to do instead."""
    with pytest.raises(Invalid, match="system prompt and messages only"):
        body(ASK, model=NOVA, tools=[NOVA_TOOL])


def test_format_maps_are_the_service_models_enums_and_the_tables_types() -> None:
    """The codec's media-type maps give exactly ImageFormat / DocumentFormat, for exactly the
    types the capability table lets through."""
    import botocore.session

    from llmorch.capabilities import capabilities
    from llmorch.providers._converse_content import DOCUMENT_FORMATS, IMAGE_FORMATS

    shapes = botocore.session.get_session().get_service_model("bedrock-runtime")
    raw = shapes._service_description["shapes"]
    assert raw["ImageFormat"]["enum"] == list(IMAGE_FORMATS.values())
    assert raw["DocumentFormat"]["enum"] == list(DOCUMENT_FORMATS.values())
    caps = capabilities("bedrock", NOVA)
    assert (tuple(IMAGE_FORMATS), tuple(DOCUMENT_FORMATS)) == (
        caps.image_types,
        caps.document_types,
    )


class Tagged(BaseModel):
    """A schema with keywords Claude's subset refuses."""

    label: str = Field(max_length=12)
    tags: list[str] = Field(max_length=3)


async def test_nova_gets_the_whole_schema_natively(emu: ProviderEmulator) -> None:
    """Nova: outputConfig with every keyword kept (no Claude subset), answer parsed."""
    async with AsyncLLMOrchestrator(config(emu, NOVA)) as orch:
        response = await orch.send_request(
            [{"role": "user", "content": "tag it"}], response_format=Tagged
        )
    assert isinstance(response.parsed, Tagged)
    sent = [r.body for r in emu.requests if r.method == "POST"][-1]
    schema = json.loads(sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"])
    assert (12, 3) == (
        schema["properties"]["label"]["maxLength"],
        schema["properties"]["tags"]["maxItems"],
    )
    assert "Tagged" == sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"]
