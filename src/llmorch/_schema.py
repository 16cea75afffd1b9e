"""JSON Schema rewrites the vendors need (one place for all of them; every function copies).

Vendors take different subsets of JSON Schema: OpenAI's strict mode wants every object closed
and every property required, Anthropic's structured output wants objects closed, Gemini's
``responseSchema`` (the OpenAPI subset) refuses ``additionalProperties`` and ``$ref``. The codecs
compose these functions; none of them changes its argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "close_objects",
    "inline_refs",
    "is_object_schema",
    "require_all",
    "strip_keys",
    "transform",
    "wrap_root",
]

_CHILD_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_CHILD_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_CHILD_ONE = ("items", "additionalProperties", "not", "contains")


def transform(schema: Any, node: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """Rebuild a schema bottom-up, applying ``node`` to every sub-schema (a copy).

    Args:
        schema: A JSON Schema (anything else is returned as is).
        node: Called with each rebuilt sub-schema dict; returns its replacement.

    Returns:
        The rewritten copy.
    """
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _CHILD_MAPS and isinstance(value, Mapping):
            out[key] = {name: transform(sub, node) for name, sub in value.items()}
        elif key in _CHILD_LISTS and isinstance(value, list):
            out[key] = [transform(sub, node) for sub in value]
        elif key in _CHILD_ONE and isinstance(value, Mapping):
            out[key] = transform(value, node)
        else:
            out[key] = value
    return node(out)


def is_object_schema(schema: Mapping[str, Any]) -> bool:
    """Whether a schema's root is an object (what OpenAI strict mode and tools require).

    Args:
        schema: A JSON Schema.

    Returns:
        True for ``"type": "object"`` (or an untyped schema with ``properties``).
    """
    kind = schema.get("type")
    return kind == "object" or (kind is None and "properties" in schema and "$ref" not in schema)


def close_objects(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Set ``additionalProperties: false`` on every object schema that does not set it.

    Args:
        schema: A JSON Schema.

    Returns:
        The closed copy.
    """

    def close(node: dict[str, Any]) -> dict[str, Any]:
        if node.get("type") == "object" or "properties" in node:
            node.setdefault("additionalProperties", False)
        return node

    result: dict[str, Any] = transform(schema, close)
    return result


def require_all(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Make every property of every object required (OpenAI strict mode's rule).

    Args:
        schema: A JSON Schema.

    Returns:
        The copy, with ``required`` listing every property.
    """

    def require(node: dict[str, Any]) -> dict[str, Any]:
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            node["required"] = list(properties)
        return node

    result: dict[str, Any] = transform(schema, require)
    return result


def strip_keys(schema: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """Remove keywords a vendor refuses, everywhere in the schema.

    Args:
        schema: A JSON Schema.
        keys: The keywords to drop (``title``, ``default``, ...). A property *named* like one
            of them is kept: only keywords are removed.

    Returns:
        The copy.
    """

    def strip(node: dict[str, Any]) -> dict[str, Any]:
        for key in keys & node.keys():
            del node[key]
        return node

    result: dict[str, Any] = transform(schema, strip)
    return result


def inline_refs(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Replace local ``$ref``s (``#/$defs/X``, ``#/definitions/X``) by the schemas they name.

    Args:
        schema: A JSON Schema whose ``$defs`` are not recursive.

    Returns:
        The copy without ``$ref``, ``$defs`` or ``definitions``.

    Raises:
        ValueError: A reference that is not local, names nothing, or is recursive.
    """
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            defs[f"#/{key}/{name}"] = sub

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref not in defs:
                raise ValueError(f"$ref {ref!r} names no local definition")
            if ref in seen:
                raise ValueError(f"$ref {ref!r} is recursive")
            target = dict(resolve(defs[ref], (*seen, ref)))
            target.update({k: resolve(v, seen) for k, v in node.items() if k != "$ref"})
            return target
        return {
            key: resolve(value, seen)
            for key, value in node.items()
            if key not in ("$defs", "definitions")
        }

    result: dict[str, Any] = resolve(schema, ())
    return result


def wrap_root(schema: Mapping[str, Any], key: str = "value") -> dict[str, Any]:
    """Put a non-object root under one required property of an object.

    ``$defs`` stay at the new root, so references keep resolving.

    Args:
        schema: A JSON Schema whose root is not an object (an array, a string, ...).
        key: The property name.

    Returns:
        ``{"type": "object", "properties": {key: schema}, "required": [key],
        "additionalProperties": false}``.
    """
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    out: dict[str, Any] = {
        "type": "object",
        "properties": {key: inner},
        "required": [key],
        "additionalProperties": False,
    }
    for defs in ("$defs", "definitions"):
        if defs in schema:
            out[defs] = schema[defs]
    return out
