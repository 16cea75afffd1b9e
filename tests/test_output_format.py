"""response_format: validation, per-model plans, parsing and the shared JSON-Schema rewrites."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from llmorch import InvalidRequestError, OutputValidationError
from llmorch._schema import close_objects, inline_refs, require_all, strip_keys, wrap_root
from llmorch.output import (
    ResponseFormat,
    parse_output,
    plan_output,
    validate_response_format,
)
from llmorch.testing._script import schema_instance


class Item(BaseModel):
    """One thing."""

    name: str
    count: int


class Order(BaseModel):
    items: list[Item]
    note: str | None = None


ITEMS = {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}}


def test_a_pydantic_class_becomes_a_named_schema_with_its_type_kept() -> None:
    fmt = validate_response_format(Order)
    assert fmt is not None and fmt.kind == "json_schema" and fmt.name == "Order"
    assert fmt.python_type is Order
    assert fmt.schema is not None and "$defs" in fmt.schema


def test_a_type_pydantic_describes_works_too() -> None:
    fmt = validate_response_format(list[Item])
    assert fmt is not None and fmt.schema is not None and fmt.schema["type"] == "array"
    assert fmt.name == "list"


def test_openai_shaped_dicts() -> None:
    fmt = validate_response_format(
        {"type": "json_schema", "json_schema": {"name": "n", "schema": ITEMS, "strict": True}}
    )
    assert fmt == ResponseFormat("json_schema", "n", ITEMS, True, None, None)
    assert validate_response_format({"type": "json_object"}) == ResponseFormat("json_object")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("json", "response_format must be a pydantic model class"),
        ({"type": "xml"}, "response_format.type: must be 'json_schema' or 'json_object'"),
        ({"type": "text"}, "{'type': 'text'} is the default"),
        ({"type": "json_schema"}, "response_format.json_schema: must be {'name', 'schema'"),
        (
            {"type": "json_schema", "json_schema": {"name": "a b", "schema": ITEMS}},
            "response_format.json_schema.name: must match",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a"}},
            "response_format.json_schema.schema: missing",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "a", "schema": {"title": "x"}}},
            "response_format.json_schema.schema: not a JSON Schema",
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "a",
                    "schema": {"type": "object", "properties": {"age": {"type": "integr"}}},
                },
            },
            (
                "response_format.json_schema.schema.properties.age.type: 'integr' is not a "
                "JSON Schema type"
            ),
        ),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": "object", "required": "x"}},
            },
            "response_format.json_schema.schema.required: must be a list",
        ),
        ({"type": "json_object", "strict": True}, "response_format has unexpected keys"),
    ],
)
def test_a_format_that_is_not_one_fails_with_its_path(value: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_response_format(value)
    assert message in str(caught.value)


def test_plans_wrap_a_non_object_root_only_where_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = validate_response_format(list[Item])
    assert fmt is not None
    from llmorch import capabilities as caps_module
    from llmorch.capabilities import Capabilities

    table = {
        "objects": Capabilities(json_schema_root="object"),
        "any": Capabilities(json_schema_root="any"),
        "tool": Capabilities(structured_output="tool"),
    }
    monkeypatch.setattr("llmorch.output.capabilities", lambda kind, model: table[kind])
    assert caps_module.capabilities is not None
    wrapped = plan_output(fmt, "objects", "m")
    assert wrapped.mode == "native" and wrapped.wrapped
    assert wrapped.schema is not None and wrapped.schema["required"] == ["value"]
    assert "$defs" in wrapped.schema  # references still resolve from the new root
    native = plan_output(fmt, "any", "m")
    assert native.mode == "native" and not native.wrapped and native.schema == fmt.schema
    tool = plan_output(fmt, "tool", "m")
    assert tool.mode == "tool" and tool.wrapped
    obj = plan_output(validate_response_format(Item), "objects", "m")  # type: ignore[arg-type]
    assert not obj.wrapped


def test_parsing_validates_into_the_type_and_unwraps() -> None:
    fmt = validate_response_format(list[Item])
    assert fmt is not None
    plan = plan_output(fmt, "openai", "gpt-4o")
    text = '{"value": [{"name": "a", "count": 2}]}' if plan.wrapped else '[{"name":"a","count":2}]'
    assert parse_output(text, fmt, plan) == [Item(name="a", count=2)]
    fenced = "```json\n" + text + "\n```"
    assert parse_output(fenced, fmt, plan) == [Item(name="a", count=2)]


def test_invalid_answers_raise_with_the_text_and_the_errors() -> None:
    fmt = validate_response_format(Item)
    assert fmt is not None
    with pytest.raises(OutputValidationError) as caught:
        parse_output('{"name": "a", "count": "many"}', fmt, None)
    assert caught.value.text == '{"name": "a", "count": "many"}'
    assert caught.value.errors[0]["loc"] == ["count"]
    assert caught.value.errors[0]["type"] == "int_parsing"
    assert "count" in str(caught.value)
    with pytest.raises(OutputValidationError) as not_json:
        parse_output("Sure! Here it is", fmt, None)
    assert not_json.value.errors[0]["type"] == "json_invalid"


def test_a_schema_dict_gives_the_parsed_json() -> None:
    fmt = validate_response_format(
        {"type": "json_schema", "json_schema": {"name": "n", "schema": ITEMS}}
    )
    assert fmt is not None
    assert parse_output('[{"n": 1}]', fmt, None) == [{"n": 1}]


def test_schema_rewrites_copy_and_compose() -> None:
    schema = Order.model_json_schema()
    inlined = inline_refs(schema)
    assert "$defs" not in inlined
    assert inlined["properties"]["items"]["items"]["properties"]["name"] == {
        "title": "Name",
        "type": "string",
    }
    closed = close_objects(inlined)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["items"]["items"]["additionalProperties"] is False
    strict = require_all(closed)
    assert strict["required"] == ["items", "note"]
    bare = strip_keys(strict, frozenset({"title"}))
    assert "title" not in bare and "title" not in bare["properties"]["note"]
    assert "additionalProperties" not in schema  # the original is untouched
    assert wrap_root(ITEMS)["properties"]["value"] == ITEMS
    with pytest.raises(ValueError, match="recursive"):
        inline_refs(
            {"$ref": "#/$defs/A", "$defs": {"A": {"properties": {"a": {"$ref": "#/$defs/A"}}}}}
        )


def test_the_emulator_instance_validates_against_the_schema() -> None:
    assert Order.model_validate(schema_instance(Order.model_json_schema()))
    assert schema_instance(ITEMS) == [{"n": 1}]
    assert schema_instance({"type": "STRING", "enum": ["a", "b"]}) == "a"
