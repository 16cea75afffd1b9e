"""Structured output as ``generateContent`` takes it, and the sampling settings a model refuses.

``generationConfig.responseJsonSchema`` is a JSON Schema; ``responseSchema`` is the OpenAPI-subset
``Schema`` message (upper-case ``Type`` enum names; on the Gemini API without
``additionalProperties``, which :mod:`llmorch.testing._google_schema` refuses with the other
undeclared keys). The facts and wordings, with their sources:

- ``responseJsonSchema``: "If set, ``response_schema`` must be omitted, but ``response_mime_type``
  is required"; "If ``$ref`` is set on a sub-schema, no other properties, except for those
  starting as a ``$``, may be set" (the REST reference of ``GenerationConfig``, quoted in the
  googleapis Dart packages' docs); the live wording of the latter is ``schema at properties.draft
  can only contain properties starting with '$' when $ref is present`` (google-gemini/gemini-cli
  #4758);
- the response MIME types: ``text/plain``, ``application/json``, ``application/xml``,
  ``application/yaml`` and ``text/x.enum`` (google-genai 3.6 ``GenerationConfig.response_mime_type``
  and the structured-output guide);
- a ``responseSchema`` type outside the enum: ``Invalid value at
  'generation_config.response_schema.properties[4].value.any_of[1].type'
  (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "null"`` (simonw/llm-gemini#49);
  lower-case type names are refused too (iBUHub/AIStudioToAPI#265, probed live);
- Gemini 2.x cannot combine function declarations with a JSON answer: ``Function calling with a
  response mime type: 'application/json' is unsupported`` and, with mode ``ANY``, ``Forced function
  calling (ANY mode) with a response mime type: 'application/json' is unsupported`` (recorded by
  vercel/ai, ``tests/fixtures/google/error_400_*_json_mime.json``); Gemini 3 combines structured
  output with tools (ai.google.dev/gemini-api/docs/gemini-3, "Structured outputs with tools").

- penalties: ``presencePenalty`` / ``frequencyPenalty`` other than 0 are refused from Gemini 2.5 on
  (``Penalty is not enabled for models/gemini-2.5-flash``, BerriAI/litellm#26108; every model
  tested, google-gemini/cookbook#1290, where 0.0 passes; Gemini 3 too, SPEC §2.10); only
  ``gemini-2.0-flash`` took them (a Google reply on discuss.ai.google.dev quoted there).

Where no recorded body was found the wording is the emulator's, in Google's
``* GenerateContentRequest.<field>: <reason>`` form.
"""

from __future__ import annotations

import json
from typing import Any

from llmorch.testing._google_common import Refusal, gemini_version, is_gemini3, pick, refusal

__all__ = ["JSON", "answer_schema", "check_output"]

JSON = "application/json"
_MIME_TYPES = ("text/plain", JSON, "application/xml", "application/yaml", "text/x.enum")
_TYPES = ("TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL")
_WHERE = "generation_config"


def _schema_type(schema: Any, path: str, package: str) -> Refusal | None:
    """The first ``type`` in an OpenAPI ``Schema`` that is no ``Type`` enum name."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind is not None and kind not in _TYPES:
        where = f"{path}.type"
        message = (
            f"Invalid value at '{where}' (type.googleapis.com/{package}.Type), {json.dumps(kind)}"
        )
        return refusal(message, where)
    properties = schema.get("properties")
    subs: list[tuple[Any, str]] = []
    if isinstance(properties, dict):
        subs += [(s, f"{path}.properties[{i}].value") for i, s in enumerate(properties.values())]
    subs.append((schema.get("items"), f"{path}.items"))
    for name in ("anyOf", "any_of"):
        subs += [(s, f"{path}.any_of[{i}]") for i, s in enumerate(schema.get(name) or [])]
    for sub, where in subs:
        found = _schema_type(sub, where, package)
        if found is not None:
            return found
    return None


def _ref_siblings(schema: Any, path: tuple[str, ...]) -> Refusal | None:
    """A JSON Schema node with ``$ref`` and a key that does not start with ``$``."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            found = _ref_siblings(item, (*path, str(i)))
            if found is not None:
                return found
        return None
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema and any(not str(k).startswith("$") for k in schema):
        at = f"schema at {'.'.join(path)}" if path else "schema"
        return refusal(f"{at} can only contain properties starting with '$' when $ref is present")
    for key, value in schema.items():
        if key not in ("enum", "const", "default", "examples", "required"):
            found = _ref_siblings(value, (*path, str(key)))
            if found is not None:
                return found
    return None


def _with_tools(body: dict[str, Any], model: str) -> Refusal | None:
    declared = any(pick(tool, "functionDeclarations") for tool in body.get("tools") or [] if tool)
    if not declared or is_gemini3(model):
        return None
    mode = pick(body, "toolConfig", "functionCallingConfig", "mode")
    if isinstance(mode, str) and mode.upper() == "ANY":
        return refusal(
            "Forced function calling (ANY mode) with a response mime type: 'application/json' "
            "is unsupported"
        )
    return refusal("Function calling with a response mime type: 'application/json' is unsupported")


def _penalties(body: dict[str, Any], model: str) -> Refusal | None:
    version = gemini_version(model)
    if version is None or version < (2, 5):
        return None
    for name in ("presencePenalty", "frequencyPenalty"):
        value = pick(body, "generationConfig", name)
        if value not in (None, 0, "0"):
            return refusal(f"Penalty is not enabled for models/{model}")
    return None


def check_output(body: dict[str, Any], model: str, package: str) -> Refusal | None:
    """Check a request's structured-output and penalty settings the way ``generateContent`` does.

    Args:
        body: A body the field schema accepted.
        model: The model from the path.
        package: The API's proto package, for the enum type quoted.

    Returns:
        ``(message, details)`` of the refusal, or ``None``.
    """
    mime = pick(body, "generationConfig", "responseMimeType")
    schema = pick(body, "generationConfig", "responseSchema")
    json_schema = pick(body, "generationConfig", "responseJsonSchema")
    penalty = _penalties(body, model)
    if penalty is not None:
        return penalty
    if mime is not None and mime not in _MIME_TYPES:
        allowed = ", ".join(f"`{m}`" for m in _MIME_TYPES[:-1])
        return refusal(
            f"* GenerateContentRequest.{_WHERE}.response_mime_type: allowed mimetypes are "
            f"{allowed} and `{_MIME_TYPES[-1]}`.\n"
        )
    if schema is not None and json_schema is not None:
        return refusal(
            f"* GenerateContentRequest.{_WHERE}.response_json_schema: response_schema must be "
            "omitted when response_json_schema is set.\n"
        )
    if json_schema is not None and mime != JSON:
        return refusal(
            f"* GenerateContentRequest.{_WHERE}.response_mime_type: response_mime_type must be "
            f"{JSON} when response_json_schema is set.\n"
        )
    if schema is not None and mime not in (JSON, "text/x.enum"):
        return refusal(
            f"* GenerateContentRequest.{_WHERE}.response_mime_type: response_mime_type must be "
            f"{JSON} or text/x.enum when response_schema is set.\n"
        )
    if json_schema is not None and not isinstance(json_schema, (dict, bool)):
        return refusal(
            f"* GenerateContentRequest.{_WHERE}.response_json_schema: must be a JSON Schema "
            "object.\n"
        )
    found = _schema_type(schema, f"{_WHERE}.response_schema", package) or _ref_siblings(
        json_schema, ()
    )
    if found is None and mime == JSON:
        found = _with_tools(body, model)
    return found


def _json_schema(schema: Any) -> Any:
    """An OpenAPI ``Schema`` as the JSON Schema it stands for (lower-case types)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        name = str({"any_of": "anyOf", "property_ordering": "propertyOrdering"}.get(key, key))
        if name == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif name == "properties" and isinstance(value, dict):
            out["properties"] = {k: _json_schema(v) for k, v in value.items()}
        elif name == "items":
            out[name] = _json_schema(value)
        elif name == "anyOf" and isinstance(value, list):
            out["anyOf"] = [_json_schema(v) for v in value]
        elif name not in ("nullable", "propertyOrdering", "format", "example"):
            out[name] = value
    return out


def answer_schema(body: dict[str, Any]) -> tuple[str, Any] | None:
    """What shape the answer must take: ``(mime type, JSON Schema or None)``.

    Args:
        body: A body :func:`check_output` accepted.

    Returns:
        ``(application/json, schema)`` for a JSON answer (``None``: any JSON object),
        ``(text/x.enum, schema)`` for an enum answer, or ``None`` for free text.
    """
    mime = pick(body, "generationConfig", "responseMimeType")
    if mime not in (JSON, "text/x.enum"):
        return None
    json_schema = pick(body, "generationConfig", "responseJsonSchema")
    if json_schema is not None:
        return mime, json_schema
    return mime, _json_schema(pick(body, "generationConfig", "responseSchema"))
