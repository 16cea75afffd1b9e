"""What Anthropic takes of JSON Schema in ``output_config.format`` (structured output).

The subset is the structured-outputs guide's (platform.claude.com/docs/en/build-with-claude/
structured-outputs, "JSON Schema limitations"): every object closed with
``additionalProperties: false``; ``minItems`` only 0 or 1; no numeric bounds (``minimum``,
``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf``) and no string lengths.
anthropic-sdk-python's ``lib/_parse/_transform.py`` moves the same keywords into the
description before sending. The wording of each refusal is quoted from a live 400 (source next
to it); the string and array variants follow the recorded number wording.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["problem", "schema_of"]

_WHERE = "output_config.format.schema"
_UNSUPPORTED = {
    "number": ("exclusiveMaximum", "exclusiveMinimum", "maximum", "minimum", "multipleOf"),
    "string": ("maxLength", "minLength"),
    "array": ("maxItems", "uniqueItems"),
}
_UNSUPPORTED["integer"] = _UNSUPPORTED["number"]
_CHILDREN = ("properties", "$defs", "definitions", "patternProperties")
_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


def schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a request asks the answer to follow, if any.

    Args:
        body: A valid request body.

    Returns:
        ``output_config.format.schema``, or ``None``.
    """
    config = body.get("output_config") or {}
    fmt = config.get("format") or {}
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else None


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every subschema, depth first."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in _CHILDREN:
        children = schema.get(key)
        for child in children.values() if isinstance(children, dict) else ():
            yield from _nodes(child)
    for key in _LISTS:
        children = schema.get(key)
        for child in children if isinstance(children, list) else ():
            yield from _nodes(child)
    for key in ("items", "additionalProperties", "not"):
        yield from _nodes(schema.get(key))


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    return [kind] if isinstance(kind, str) else [k for k in kind or () if isinstance(k, str)]


def _node_problem(node: dict[str, Any]) -> str | None:
    for kind in _types(node):
        if kind == "object" and node.get("additionalProperties") is not False:
            # Live 400 quoted in future-agi/future-agi#411 (Claude behind Bedrock's Converse).
            return (
                f"{_WHERE}: For 'object' type, 'additionalProperties' must be explicitly set "
                "to false"
            )
        if kind == "array" and node.get("minItems", 0) not in (0, 1):
            # Live 400 quoted in ghostlobster/memorize-everything#93.
            return (
                f"{_WHERE}: For 'array' type, 'minItems' values other than 0 or 1 are not supported"
            )
        found = [key for key in _UNSUPPORTED.get(kind, ()) if key in node]
        if found:
            # Live 400 quoted in sherifkozman/the-llm-council#55 ("properties maximum, minimum").
            return f"{_WHERE}: For '{kind}' type, properties {', '.join(found)} are not supported"
    return None


def problem(body: dict[str, Any]) -> str | None:
    """The first rule the request's output schema breaks, in Anthropic's wording.

    Args:
        body: A valid request body.

    Returns:
        The ``error.message`` of the 400, or ``None`` (also when no format is asked for).
    """
    config = body.get("output_config") or {}
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt["schema"], dict):
        return f"{_WHERE}: Input should be a valid dictionary"
    return next(filter(None, map(_node_problem, _nodes(fmt["schema"]))), None)
