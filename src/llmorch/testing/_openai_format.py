"""What OpenAI checks in structured-output requests and content parts, in its own words.

``response_format`` (past the shape :mod:`._openai_schema` checks): a ``json_schema`` format's
``name`` follows the tool-name pattern; its schema's root must be an object; with
``strict: true`` every object needs ``additionalProperties: false`` and every property in
``required`` (platform.openai.com/docs/guides/structured-outputs#supported-schemas). A
``json_object`` format needs the word "json" somewhere in the messages.

Content parts: an ``image_url`` is an http(s) URL (the emulator fetches nothing) or a base64
data URL of a PNG, JPEG, GIF or WebP image of at most 20 MB; a ``file`` part carries a PDF as a
base64 data URL in ``file_data`` together with a ``filename``, or a ``file_id``. The sources of
each wording are next to the rule and in ``docs/wire/openai.md``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from llmorch.testing._strict import json_kind

__all__ = ["IMAGE_TYPES", "MAX_IMAGE_BYTES", "format_problem", "part_problem", "strict_problem"]

Refusal = tuple[int, str, "str | None", "str | None"]
"""``(status, message, param, code)`` of a refusal."""

IMAGE_TYPES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/gif": b"GIF8",
    "image/webp": b"RIFF",
}
"""The image types the vision guide lists (PNG, JPEG, WEBP, non-animated GIF), by magic bytes."""
MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Per image (the vision guide: "Up to 20MB per image")."""
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,(.*)$", re.DOTALL)
_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_KIND_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
}
"""OpenAI's words for a JSON kind in an ``Invalid type`` refusal (as ``_openai_schema`` uses)."""
_IMAGE_EXAMPLE = "'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='"
_PDF_EXAMPLE = "'data:application/pdf;base64,SGVsbG8sIFdvcmxkIQ=='"


def strict_problem(schema: Any, context: tuple[str, ...]) -> str | None:
    """The first Structured Outputs rule a strict schema breaks (OpenAI's ``In context=…`` text).

    Every object needs ``additionalProperties: false`` and every property in ``required``
    (platform.openai.com/docs/guides/structured-outputs#supported-schemas; wording as the API
    answers, e.g. "In context=(), 'additionalProperties' is required to be supplied and to be
    false.", dottxt-ai/outlines#844; "In context=('properties', 'organizations', 'items'),
    'required' is required to be supplied and to be an array including every key in
    properties. Missing 'roles'.", vercel/ai#6484).

    Args:
        schema: A (sub)schema.
        context: Where it sits, as OpenAI writes it.

    Returns:
        The problem's text, or ``None``.
    """
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return (
                f"In context={context!r}, 'additionalProperties' is required to be supplied "
                "and to be false."
            )
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        missing = [key for key in properties if key not in required]
        if missing:
            return (
                f"In context={context!r}, 'required' is required to be supplied and to be an "
                f"array including every key in properties. Missing '{missing[0]}'."
            )
        for key, sub in properties.items():
            found = strict_problem(sub, (*context, "properties", key))
            if found:
                return found
    if isinstance(schema.get("items"), dict):
        return strict_problem(schema["items"], (*context, "items"))
    for word in ("anyOf", "$defs", "definitions"):
        subs = schema.get(word)
        entries = subs.items() if isinstance(subs, dict) else enumerate(subs or ())
        for key, sub in entries:
            found = strict_problem(sub, (*context, word, str(key)))
            if found:
                return found
    return None


def _invalid(message: str, param: str | None, code: str | None = None) -> Refusal:
    return 400, message, param, code


def _mentions_json(messages: list[Any]) -> bool:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        texts = [content] if isinstance(content, str) else []
        texts += [p.get("text") or "" for p in content or () if isinstance(p, dict)]
        if any("json" in str(text).lower() for text in texts):
            return True
    return False


def format_problem(body: dict[str, Any]) -> Refusal | None:
    """Why OpenAI refuses a (well-shaped) ``response_format``, or ``None``.

    Args:
        body: A body that passed the schema check.

    Returns:
        The refusal.
    """
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt["type"] == "json_object":
        if _mentions_json(body["messages"]):
            return None
        # Quoted verbatim in many projects' notes and code (not a recorded payload).
        return _invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
            "messages",
        )
    if fmt["type"] != "json_schema":
        return None
    spec = fmt["json_schema"]
    name = spec["name"]
    where = "response_format.json_schema.name"
    # The same string rules and wording as a tool's name (Structured Outputs: "a-z, A-Z, 0-9,
    # or contain underscores and dashes, with a maximum length of 64").
    if len(name) > 64:
        return _invalid(
            f"Invalid '{where}': string too long. Expected a string with maximum length 64, "
            f"but got a string with length {len(name)} instead.",
            where,
            "string_above_max_length",
        )
    if not _NAME.match(name):
        return _invalid(
            f"Invalid '{where}': string does not match pattern. Expected a string that matches "
            "the pattern '^[a-zA-Z0-9_-]+$'.",
            where,
            "invalid_value",
        )
    schema = spec.get("schema")
    if schema is None:
        return None
    if not isinstance(schema, dict):
        got = _KIND_WORDS.get(json_kind(schema), "an object")
        return _invalid(
            f"Invalid type for 'response_format.json_schema.schema': expected an object, but got "
            f"{got} instead.",
            "response_format.json_schema.schema",
            "invalid_type",
        )
    if schema.get("type") != "object":
        # "Invalid schema for response_format 'AdSegmentPredictionList': schema must be a JSON
        # Schema of 'type: "object"', got 'type: "array"'." (param response_format, code null:
        # podly-pure-podcasts/podly_pure_podcasts#89).
        return _invalid(
            f"Invalid schema for response_format '{name}': schema must be a JSON Schema of "
            f"'type: \"object\"', got 'type: \"{schema.get('type')}\"'.",
            "response_format",
        )
    if spec.get("strict") is True:
        problem = strict_problem(schema, ())
        if problem is not None:
            return _invalid(
                f"Invalid schema for response_format '{name}': {problem}", "response_format"
            )
    return None


def _decoded(url: str) -> tuple[str, bytes | None]:
    """``(media type, bytes)`` of a base64 data URL (``None`` bytes: not valid base64)."""
    match = _DATA_URL.match(url)
    if match is None:
        return "", None
    try:
        data = base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        return match.group(1) or "", None
    return match.group(1) or "", data


def _image_problem(url: str, where: str) -> Refusal | None:
    if url.startswith(("https://", "http://")):
        return None

    def bad(tail: str) -> Refusal:
        # "Invalid image URL: 'messages[0].content[1].image_url.url'. Expected a base64-encoded
        # data URL with an image MIME type (e.g. …), but got a value without the 'data:'
        # prefix." (code invalid_value: Alibaba-NLP/OmniSearch#3); the "empty" tail as the
        # Responses API words it (anomalyco/opencode#23983).
        return _invalid(
            f"Invalid image URL: '{where}'. Expected a base64-encoded data URL with an image "
            f"MIME type (e.g. {_IMAGE_EXAMPLE}), but got {tail}.",
            where,
            "invalid_value",
        )

    if not url.startswith("data:"):
        return bad("a value without the 'data:' prefix")
    media_type, data = _decoded(url)
    if media_type and not media_type.startswith("image/"):
        return bad(f"unsupported MIME type '{media_type}'")
    if data is None:
        return bad("an invalid base64-encoded value")
    if not data:
        return bad("empty base64-encoded bytes")
    if len(data) > MAX_IMAGE_BYTES:
        # An older wording of the same refusal, which names the limit (quoted in projects' code).
        return _invalid(
            "You uploaded an unsupported image. Please make sure your image is below 20 MB in "
            "size and is of one the following formats: ['png', 'jpeg', 'gif', 'webp']",
            None,
            "invalid_image_format",
        )
    if not any(data.startswith(magic) for magic in IMAGE_TYPES.values()):
        # Quoted with code invalid_image_format in many reports of PDFs sent as images.
        return _invalid(
            "You uploaded an unsupported image. Please make sure your image has of one the "
            "following formats: ['png', 'jpeg', 'gif', 'webp'].",
            None,
            "invalid_image_format",
        )
    return None


def _file_problem(file: dict[str, Any], where: str) -> Refusal | None:
    if "file_id" not in file and ("file_data" not in file or "filename" not in file):
        # file_data without a filename: "Missing required parameter:
        # 'messages[1].content[1].file.file_id'." (openai/openai-agents-python#1513,
        # langchain-ai/langchainjs#9512).
        return _invalid(
            f"Missing required parameter: '{where}.file_id'.",
            f"{where}.file_id",
            "missing_required_parameter",
        )
    if "file_data" not in file:
        return None
    media_type, data = _decoded(file["file_data"])
    if media_type != "application/pdf" or not data:
        # "Invalid file data: 'messages[1].content[1].file.file_data'. Expected a base64-encoded
        # data URL with an application/pdf MIME type (e.g. …), but got an invalid
        # base64-encoded value." (vercel/ai#6575, #7266).
        tail = (
            f"unsupported MIME type '{media_type}'"
            if data and media_type
            else "an invalid base64-encoded value"
        )
        return _invalid(
            f"Invalid file data: '{where}.file_data'. Expected a base64-encoded data URL with an "
            f"application/pdf MIME type (e.g. {_PDF_EXAMPLE}), but got {tail}.",
            f"{where}.file_data",
            "invalid_value",
        )
    return None


def part_problem(messages: list[dict[str, Any]]) -> Refusal | None:
    """The first image or file part OpenAI refuses, or ``None``.

    Args:
        messages: The request's messages (already shaped right: only user turns carry them).

    Returns:
        The refusal.
    """
    for i, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            problem: Refusal | None = None
            if part.get("type") == "image_url":
                problem = _image_problem(part["image_url"]["url"], f"{where}.image_url.url")
            elif part.get("type") == "file":
                problem = _file_problem(part["file"], f"{where}.file")
            if problem is not None:
                return problem
    return None
