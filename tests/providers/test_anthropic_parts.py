"""Anthropic request mapping of parts, cache breakpoints and structured output (sans I/O)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from llmorch import Tool, document, image
from llmorch.exceptions import InvalidRequestError
from llmorch.fit import fit
from llmorch.output import validate_response_format
from llmorch.parts import CacheControl
from llmorch.providers._anthropic_wire import JSON_INSTRUCTION, encode_request, output_schema
from llmorch.request import ChatRequest, Reasoning
from tests.adapters import typed

MODEL = "claude-opus-4-6"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
PDF = b"%PDF-1.4\n%%EOF\n"
HOUR = {"type": "ephemeral", "ttl": "1h"}


def body(messages: Any, **changes: Any) -> dict[str, Any]:
    """The Messages body for a call, fitted to MODEL as the orchestrator fits it."""
    fmt = validate_response_format(changes.pop("response_format", None))
    request = dataclasses.replace(typed(messages, MODEL), response_format=fmt, **changes)
    return encode_request(fit(request, "anthropic"), "anthropic")


def test_parts_become_image_document_and_text_blocks() -> None:
    """Bytes go as base64, an https URL as a url source, a PDF and a text file as documents."""
    parts = [
        image(PNG),
        image("https://x.test/cat.jpg"),
        document(PDF, filename="report.pdf"),
        document(b"line one\nline two", filename="notes.txt"),
        {"type": "text", "text": "compare them"},
    ]
    blocks = body([{"role": "user", "content": parts}])["messages"][0]["content"]
    assert [
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(PNG).decode(),
            },
        },
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}},
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(PDF).decode(),
            },
            "title": "report.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "line one\nline two"},
            "title": "notes.txt",
        },
        {"type": "text", "text": "compare them"},
    ] == blocks


def test_cache_marks_go_on_system_parts_tools_and_tool_results() -> None:
    """cache_control lands on the block it marks; a marked system becomes a list of blocks."""
    tool = Tool("f", "F", {"type": "object", "properties": {}})
    marked = Tool("g", "G", {"type": "object"}, cache=CacheControl("1h"))  # read before system
    messages = [
        {"role": "system", "content": "rules", "cache_control": HOUR},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                image(PNG),
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": [
                {"type": "text", "text": "done"},
                {**image(PNG), "cache_control": {"type": "ephemeral"}},
            ],
        },
    ]
    sent = body(messages, tools=(tool, marked))
    assert [{"type": "text", "text": "rules", "cache_control": HOUR}] == sent["system"]
    user = sent["messages"][0]["content"]
    assert {"type": "ephemeral"} == user[0]["cache_control"] and "cache_control" not in user[1]
    result = sent["messages"][2]["content"][0]
    assert "tool_result" == result["type"] and ["text", "image"] == [
        b["type"] for b in result["content"]
    ]
    assert {"type": "ephemeral"} == result["content"][1]["cache_control"]
    assert [None, HOUR] == [t.get("cache_control") for t in sent["tools"]]


def test_a_fifth_breakpoint_is_refused_before_any_request() -> None:
    """Anthropic takes 4 cache breakpoints; llmorch names all five marks."""
    marked = [
        {"type": "text", "text": f"p{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)
    ]
    with pytest.raises(
        InvalidRequestError,
        match=r"at most 4 cache breakpoints.*has 5 \(messages\[0\]\.content\[0\]\.cache_control",
    ):
        body([{"role": "user", "content": marked}])


def test_output_config_format_carries_the_closed_subset_schema() -> None:
    """Objects closed (even a dict field), bounds moved into descriptions, $defs kept."""
    schema = {
        "$defs": {
            "Tag": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 9}}}
        },
        "type": "object",
        "properties": {
            "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "How sure"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "minItems": 2},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "required": ["score", "tags", "extra"],
    }
    sent = body(
        [{"role": "user", "content": "rate"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "rating", "schema": schema},
        },
    )
    fmt = sent["output_config"]["format"]
    assert "json_schema" == fmt["type"] and set(fmt) == {"type", "schema"}
    out = fmt["schema"]
    assert (
        out["additionalProperties"] is False
        and out["$defs"]["Tag"]["additionalProperties"] is False
    )
    assert {"type": "number", "description": "How sure\n\n{minimum: 0, maximum: 1}"} == out[
        "properties"
    ]["score"]
    assert {
        "type": "array",
        "items": {"$ref": "#/$defs/Tag"},
        "description": "{minItems: 2}",
    } == out["properties"]["tags"]
    assert {"type": "string", "description": "{maxLength: 9}"} == out["$defs"]["Tag"]["properties"][
        "name"
    ]
    assert {"type": "object", "additionalProperties": False} == out["properties"]["extra"]
    assert schema["properties"]["score"]["minimum"] == 0  # the caller's schema is not changed
    assert output_schema({"type": "array", "items": {"type": "integer"}, "minItems": 1}) == {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 1,
    }


def test_output_config_keeps_the_effort_of_adaptive_reasoning() -> None:
    """format and effort share output_config."""
    sent = body(
        [{"role": "user", "content": "rate"}],
        response_format=list[int],
        reasoning=Reasoning("high"),
    )
    assert {
        "effort": "high",
        "format": {
            "type": "json_schema",
            "schema": {"type": "array", "items": {"type": "integer"}},
        },
    } == sent["output_config"]


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ([], JSON_INSTRUCTION),
        ([{"role": "system", "content": "be brief"}], f"be brief\n\n{JSON_INSTRUCTION}"),
        (
            [{"role": "system", "content": "rules", "cache_control": {"type": "ephemeral"}}],
            [
                {"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": JSON_INSTRUCTION},
            ],
        ),
    ],
)
def test_json_mode_is_a_system_instruction(system: list[Any], expected: Any) -> None:
    """Anthropic has no JSON mode: json_object asks in the system, after any cached prefix."""
    sent = body(
        [*system, {"role": "user", "content": "hi"}], response_format={"type": "json_object"}
    )
    assert expected == sent["system"] and "output_config" not in sent


def test_older_models_never_get_output_config() -> None:
    """Claude Sonnet 4 has no native structured output: the shared forced tool carries it."""
    fmt = validate_response_format(list[int])
    request = dataclasses.replace(
        typed([{"role": "user", "content": "ids"}], "claude-sonnet-4-20250514"), response_format=fmt
    )
    fitted = fit(request, "anthropic")
    sent = encode_request(fitted, "anthropic")
    assert "output_config" not in sent
    assert ["structured_output"] == [t["name"] for t in sent["tools"]]
    assert isinstance(fitted, ChatRequest) and fitted.output is not None and fitted.output.wrapped


def test_a_breakpoint_on_empty_text_is_refused_before_any_request() -> None:
    """Anthropic refuses cache_control on an empty text block: llmorch says so first."""
    empty = {"role": "user", "content": "", "cache_control": {"type": "ephemeral"}}
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\]\.cache_control"):
        body([empty, {"role": "user", "content": "hi"}])


def test_a_1h_breakpoint_after_a_5m_one_is_refused_before_any_request() -> None:
    """Anthropic reads tools, system, messages; a 1h mark may not follow a 5m one."""
    tool = Tool("f", "F", {"type": "object"}, cache=CacheControl())
    system = {"role": "system", "content": "rules", "cache_control": HOUR}
    with pytest.raises(
        InvalidRequestError,
        match=r"messages\[0\]\.content\[0\]\.cache_control\.ttl: .*\(tools\[0\]",
    ):
        body([system, {"role": "user", "content": "hi"}], tools=(tool,))
    later = {"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}
    assert "cache_control" in body([later, system])["system"][0]  # system is read first
