"""Tool definitions, tool choice and the call arguments around them (SPEC §2.9)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
import respx
from pydantic import BaseModel, Field

from llmorch import AsyncLLMOrchestrator, InvalidRequestError, Tool
from llmorch._call import full_request
from llmorch.messages import validate_messages
from llmorch.request import Reasoning, validate_reasoning
from llmorch.tools import (
    ToolChoice,
    generated_id,
    is_generated_id,
    parse_arguments,
    validate_tool_choice,
    validate_tools,
)
from tests.conftest import base_config

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Look up the weather.

    Args:
        city: The city's name,
            as people write it.
        unit: Celsius or Fahrenheit.
    """
    return f"sunny in {city}"


class Lookup(BaseModel):
    """Find a record by id."""

    id: int = Field(description="The record id")


def test_every_kind_of_tool_becomes_a_tool() -> None:
    """OpenAI dicts, Tool, functions and pydantic models all normalise to Tool."""
    tools = validate_tools(
        [WEATHER, Tool("noop"), Tool.from_function(get_weather, name="w2"), Lookup]
    )
    assert [t.name for t in tools] == ["get_weather", "noop", "w2", "Lookup"]
    assert tools[2].function is get_weather
    assert tools[0].parameters == WEATHER["function"]["parameters"]  # type: ignore[index]
    assert tools[1].parameters == {"type": "object", "properties": {}}
    schema = tools[3].parameters
    assert schema["properties"]["id"] == {"description": "The record id", "type": "integer"}
    assert tools[3].description == "Find a record by id."


def test_from_function_reads_the_signature_and_the_docstring() -> None:
    """Schema from the annotations, descriptions from the Google-style Args section."""
    tool = Tool.from_function(get_weather)
    assert (tool.name, tool.description, tool.function) == (
        "get_weather",
        "Look up the weather.",
        get_weather,
    )
    props = tool.parameters["properties"]
    assert props["city"] == {
        "type": "string",
        "description": "The city's name, as people write it.",
    }
    assert props["unit"]["enum"] == ["c", "f"] and props["unit"]["default"] == "c"
    assert tool.parameters["required"] == ["city"]
    assert tool.to_openai()["function"]["name"] == "get_weather"


@pytest.mark.parametrize(
    ("tools", "error"),
    [
        ([WEATHER, WEATHER], "tools[1].name: duplicate tool name 'get_weather'"),
        ([Tool("auto")], "tools[0].name: 'auto' is reserved"),
        ([Tool("has space")], "is not a valid tool name"),
        ([Tool("t", parameters=[1, 2])], "tools[0].parameters: the schema must be a JSON object"),  # type: ignore[arg-type]
        ([Tool("t", parameters={"type": "array"})], "must describe an object"),
        (
            [{"type": "function", "function": {"name": "x", "strict": "yes"}}],
            "strict must be a bool",
        ),
        ([{"type": "retrieval"}], "tools[0]: a tool dict must be"),
        (
            [{"type": "function", "function": {"name": "x", "params": {}}}],
            "unexpected keys: ['params']",
        ),
        ([42], "tools[0]: expected a tool dict"),
        ("get_weather", "tools must be a list"),
    ],
)
def test_bad_tools_name_their_path(tools: Any, error: str) -> None:
    """Each bad definition raises InvalidRequestError naming the tool and the problem."""
    with pytest.raises(InvalidRequestError) as info:
        validate_tools(tools)
    assert error in str(info.value)


def test_tool_choice_forms() -> None:
    """auto/none/required, a tool name and OpenAI's dict; unknown names and no tools refused."""
    tools = validate_tools([WEATHER])
    assert validate_tool_choice("required", tools) == ToolChoice("required")
    assert validate_tool_choice("get_weather", tools) == ToolChoice("tool", "get_weather")
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert validate_tool_choice(named, tools) == ToolChoice("tool", "get_weather")
    assert ToolChoice("tool", "x").forced and not ToolChoice("auto").forced
    with pytest.raises(InvalidRequestError, match="names 'other', which is not in tools"):
        validate_tool_choice("other", tools)
    with pytest.raises(InvalidRequestError, match="tools= is empty"):
        validate_tool_choice("auto", ())


def test_parsed_arguments_keep_what_is_not_json() -> None:
    """Nothing is dropped: malformed or non-object arguments stay raw with an error."""
    assert parse_arguments("c", "t", '{"a": [1]}').arguments == {"a": [1]}
    assert parse_arguments("c", "t", "").arguments == {}
    broken = parse_arguments("c", "t", '{"a": ')
    assert (broken.arguments, broken.arguments_json) == ({}, '{"a": ')
    assert broken.error and "not valid JSON" in broken.error
    assert "a list, not an object" in (parse_arguments("c", "t", "[1]").error or "")


def test_generated_ids_are_recognised_and_unique() -> None:
    """Generated ids are call_<uuid4>; vendor ids are never taken for generated ones."""
    ids = {generated_id() for _ in range(100)}
    assert len(ids) == 100 and all(is_generated_id(i) for i in ids)
    assert not is_generated_id("call_abc123XYZ") and not is_generated_id("toolu_01A")


def test_reasoning_forms() -> None:
    """An effort string or a dict; bad values refused."""
    assert validate_reasoning("high") == Reasoning("high")
    assert validate_reasoning({"budget_tokens": 2048}) == Reasoning(None, 2048)
    assert not Reasoning("none").enabled and Reasoning(None, 1024).enabled
    for bad, error in [
        ("max", "reasoning must be one of"),
        ({"effort": "x"}, "reasoning.effort"),
        ({"budget_tokens": -1}, "budget_tokens must be an int >= 0"),
        ({"depth": 1}, "unexpected keys"),
        ({}, "needs 'effort' or 'budget_tokens'"),
        (3, "must be a str or a dict"),
    ]:
        with pytest.raises(InvalidRequestError, match=error):
            validate_reasoning(bad)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ({"parallel_tool_calls": True}, "parallel_tool_calls is set but tools= is empty"),
        ({"tools": [WEATHER], "parallel_tool_calls": "yes"}, "parallel_tool_calls must be a bool"),
        ({"temperature": "hot"}, "temperature must be a finite number"),
        ({"max_tokens": 0}, "max_tokens must be >= 1"),
        ({"top_k": 1.5}, "top_k must be an int"),
        ({"stop": [1]}, "stop must be a str or a list of str"),
        ({"extra_body": {"model": "x"}}, "extra_body: 'model' is set by llmorch"),
    ],
)
def test_call_arguments_are_checked(call: dict[str, Any], error: str) -> None:
    """The typed request refuses malformed arguments with a specific message."""
    owned = frozenset({"model", "messages", "stream"})
    with pytest.raises(InvalidRequestError, match=error):
        full_request(validate_messages([{"role": "user", "content": "x"}]), owned, call)


@pytest.mark.parametrize("field", ["model", "messages", "stream"])
async def test_extra_body_cannot_set_owned_fields_on_any_call(field: str) -> None:
    """extra_body setting model/messages/stream is refused before any network call."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post("https://api.openai.com/v1/chat/completions").respond(200, json={})
        async with AsyncLLMOrchestrator(base_config()) as orch:
            with pytest.raises(InvalidRequestError, match=f"'{field}' is set by llmorch"):
                await orch.send_request([{"role": "user", "content": "x"}], extra_body={field: 1})
            with pytest.raises(InvalidRequestError, match=f"'{field}' is set by llmorch"):
                orch.send_streaming_request(
                    [{"role": "user", "content": "x"}], extra_body={field: 1}
                )
    assert route.calls == []
