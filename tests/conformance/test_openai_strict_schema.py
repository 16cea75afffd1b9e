"""llmorch's OpenAI request pieces checked against openai-python itself (the SDK is a
conformance-session dependency): strict schemas equal the SDK's ``to_strict_json_schema``, and
tool results take text parts only, as the SDK's types say."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.test_openai_output import (
    ColorDetection,
    Location,
    LocationOptional,
    sent_format,
)


def test_a_pydantic_model_goes_as_a_strict_json_schema() -> None:
    """The same strict schema openai-python's parse() sends for the model."""
    from openai.lib._pydantic import to_strict_json_schema

    fmt = sent_format(Location)
    assert {
        "type": "json_schema",
        "json_schema": {
            "name": "Location",
            "schema": to_strict_json_schema(Location),
            "strict": True,
        },
    } == fmt


@pytest.mark.parametrize("python_type", [LocationOptional, ColorDetection])
def test_optional_fields_and_described_enums_match_the_sdk(python_type: Any) -> None:
    """Optional fields required (not made nullable), $ref with siblings inlined, null defaults
    dropped: what the SDK sends, so OpenAI's strict mode takes it."""
    from openai.lib._pydantic import to_strict_json_schema

    sent = sent_format(python_type)["json_schema"]
    assert to_strict_json_schema(python_type) == sent["schema"]
    assert sent["strict"] is True


def test_tool_message_content_is_text_only_in_the_sdk() -> None:
    """The source of the table's ``tool_result_media: false`` for OpenAI."""
    from openai.types.chat import ChatCompletionToolMessageParam

    assert "Iterable[ChatCompletionContentPartTextParam]" in str(
        ChatCompletionToolMessageParam.__annotations__["content"]
    )
