"""OpenAI's JSON-schema rules: strict tool parameters and the structured-output format.

Sans-I/O, built on the shared rewrites in :mod:`llmorch._schema`; the facts (and the 400s a
schema that breaks them gets) are in ``docs/wire/openai.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llmorch._schema import close_objects, inline_refs, require_all, transform
from llmorch.output import OutputPlan

__all__ = ["output_schema", "response_format", "strict_schema"]


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A tool's JSON schema made valid for OpenAI's strict mode (a copy; the input is untouched).

    Every object gets ``additionalProperties: false`` and every property becomes required; a
    property that was optional becomes nullable instead, so its meaning is kept (the rules of
    platform.openai.com/docs/guides/structured-outputs#supported-schemas).

    Args:
        schema: An object schema.

    Returns:
        The strict schema.
    """
    result: dict[str, Any] = transform(schema, _strict_node)
    return result


def _strict_node(node: dict[str, Any]) -> dict[str, Any]:
    properties = node.get("properties")
    if node.get("type") == "object" or isinstance(properties, Mapping):
        node["additionalProperties"] = False
        if isinstance(properties, Mapping):
            required = set(node.get("required") or ())
            node["properties"] = {
                key: sub if key in required else _nullable(sub) for key, sub in properties.items()
            }
            node["required"] = list(properties)
    return node


def output_schema(schema: Mapping[str, Any], strict: bool | None) -> tuple[dict[str, Any], bool]:
    """The ``json_schema.schema`` and ``strict`` flag for a structured-output request.

    ``strict`` true or unset: the schema made strict the way openai-python's ``parse()`` does
    (``openai/lib/_pydantic.py``): every object closed, every property required (an optional
    property keeps its type, so any answer still validates against the caller's schema), a
    ``$ref`` with sibling keywords inlined, ``"default": null`` dropped. Unset, and the schema
    has an open object (a free-form map: ``additionalProperties`` a schema or true) that strict
    mode cannot express: sent as given with ``strict: false``. ``strict`` false: as given.

    Args:
        schema: The plan's schema (an object root: the plan wraps any other).
        strict: The caller's ``strict``.

    Returns:
        ``(schema, strict)``.
    """
    if strict is False:
        return dict(schema), False
    if strict is None and _has(schema, _open_object):
        return dict(schema), False
    if _has(schema, _ref_with_siblings):
        try:
            schema = inline_refs(schema)
        except ValueError:  # recursive $defs stay references
            pass
    return require_all(close_objects(transform(schema, _drop_null_default))), True


def _drop_null_default(node: dict[str, Any]) -> dict[str, Any]:
    if "default" in node and node["default"] is None:
        del node["default"]
    return node


def _ref_with_siblings(node: Mapping[str, Any]) -> bool:
    return "$ref" in node and len(node) > 1


def _open_object(node: Mapping[str, Any]) -> bool:
    additional = node.get("additionalProperties", False)
    return additional is True or isinstance(additional, Mapping)


def _has(schema: Any, test: Callable[[dict[str, Any]], bool]) -> bool:
    """Whether any sub-schema passes ``test`` (a read-only walk with :func:`transform`)."""
    found: list[bool] = []

    def visit(node: dict[str, Any]) -> dict[str, Any]:
        found.append(test(node))
        return node

    transform(schema, visit)
    return any(found)


def response_format(plan: OutputPlan) -> dict[str, Any]:
    """The ``response_format`` for a plan of mode ``native`` or ``json_object``.

    Args:
        plan: The attempt's output plan (never mode ``tool``: shared code handles that).

    Returns:
        ``{"type": "json_schema", "json_schema": {name, schema, strict, description?}}`` or
        ``{"type": "json_object"}``.
    """
    if plan.mode == "json_object":
        return {"type": "json_object"}
    schema, strict = output_schema(plan.schema or {}, plan.strict)
    spec: dict[str, Any] = {"name": plan.name, "schema": schema, "strict": strict}
    if plan.description:
        spec["description"] = plan.description
    return {"type": "json_schema", "json_schema": spec}


def _nullable(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if isinstance(kind, str):
        return schema if kind == "null" else {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    if isinstance(schema.get("anyOf"), list):
        if any(isinstance(s, dict) and s.get("type") == "null" for s in schema["anyOf"]):
            return schema
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}
