"""Media parts and structured output on the Gemini wire, sans I/O (used by the request codec).

- images and documents: bytes as ``inlineData`` (``mimeType`` + base64 ``data``), an https image
  URL as ``fileData`` (``mimeType`` + ``fileUri``: both APIs fetch URLs themselves); media in a
  tool result as ``functionResponse.parts`` (Gemini 3; ``fileData`` there only on Vertex AI);
- ``request.output``: ``responseMimeType: application/json`` and, for a schema, the JSON Schema as
  ``responseJsonSchema`` (any root; ``$defs`` kept; a ``$ref`` may carry no other keywords, so
  a schema where one does has its references inlined, or, when they are recursive, those
  keywords dropped); Gemini 2 cannot combine function declarations with a JSON answer.

``cache_control`` marks are never sent: Gemini caches prefixes implicitly (the fitting step
warns). docs/wire/google.md has the facts and their sources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmorch._schema import inline_refs, transform
from llmorch.exceptions import InvalidRequestError
from llmorch.messages import ChatMessage
from llmorch.parts import DocumentPart, ImagePart, TextPart
from llmorch.request import ChatRequest

__all__ = ["JSON", "content_parts", "output_config", "result_media"]

JSON = "application/json"
_MAJOR = re.compile(r"gemini-(\d+)")
_OUTPUT_FIELDS = frozenset(
    {
        "responseMimeType",
        "response_mime_type",
        "responseJsonSchema",
        "response_json_schema",
        "responseSchema",
        "response_schema",
    }
)


def _media(part: ImagePart | DocumentPart, where: str) -> dict[str, Any]:
    if isinstance(part, ImagePart) and part.url is not None:
        if not part.media_type:
            raise InvalidRequestError(
                f"{where}.image_url.url: Gemini needs the media type of an image URL and this "
                "one's path names none: use a URL ending in .png, .jpg, .webp, .heic or .heif, "
                "or pass the image's bytes"
            )
        return {"fileData": {"mimeType": part.media_type, "fileUri": part.url}}
    return {"inlineData": {"mimeType": part.media_type, "data": part.base64}}


def content_parts(message: ChatMessage, where: str) -> list[dict[str, Any]]:
    """A user turn's parts: text, ``inlineData`` bytes and ``fileData`` URLs, in order.

    Args:
        message: A user message.
        where: Its path, for errors (``messages[2]``).

    Returns:
        The ``Part`` objects.

    Raises:
        InvalidRequestError: An image URL whose media type is unknown.
    """
    return [
        {"text": part.text} if isinstance(part, TextPart) else _media(part, f"{where}.content[{j}]")
        for j, part in enumerate(message.parts)
    ]


def result_media(message: ChatMessage, provider_type: str, where: str) -> list[dict[str, Any]]:
    """A tool result's images and documents as ``FunctionResponsePart`` objects.

    Args:
        message: A ``tool`` message.
        provider_type: ``gemini`` or ``vertex``.
        where: Its path, for errors (``messages[3]``).

    Returns:
        The parts (empty for a text-only result).

    Raises:
        InvalidRequestError: An image URL in a tool result on the Gemini API, which takes bytes
            only there (``FunctionResponsePart.fileData`` is Vertex AI's).
    """
    out: list[dict[str, Any]] = []
    for j, part in enumerate(message.parts):
        if isinstance(part, TextPart):
            continue
        here = f"{where}.content[{j}]"
        if isinstance(part, ImagePart) and part.url is not None and provider_type != "vertex":
            raise InvalidRequestError(
                f"{here}.image_url.url: the Gemini API takes images in tool results as bytes "
                "only: pass the image's bytes, e.g. llmorch.image(path_or_bytes)"
            )
        out.append(_media(part, here))
    return out


def _has_ref_siblings(schema: Any) -> bool:
    if isinstance(schema, list):
        return any(_has_ref_siblings(item) for item in schema)
    if not isinstance(schema, Mapping):
        return False
    if "$ref" in schema and any(not str(key).startswith("$") for key in schema):
        return True
    return any(_has_ref_siblings(value) for value in schema.values())


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as ``responseJsonSchema`` takes it: a ``$ref`` node carries only ``$`` keys."""
    if not _has_ref_siblings(schema):
        return schema
    try:
        return inline_refs(schema)
    except ValueError:  # recursive definitions stay references; their siblings go
        return dict(
            transform(
                schema,
                lambda node: (
                    {k: v for k, v in node.items() if k.startswith("$")} if "$ref" in node else node
                ),
            )
        )


def output_config(request: ChatRequest) -> dict[str, Any]:
    """The ``generationConfig`` fields for the request's output plan.

    Args:
        request: The fitted request.

    Returns:
        ``responseMimeType`` (+ ``responseJsonSchema``); nothing without a native or JSON-mode
        plan.

    Raises:
        InvalidRequestError: ``extra_body`` sets the fields this builds, or a Gemini 2 model
            is asked for a JSON answer together with function tools (Google refuses the pair).
    """
    plan = request.output
    if plan is None or plan.mode == "tool":  # the forced output tool is the shared code's
        return {}
    extra = request.options.extra_body or {}
    generation = extra.get("generationConfig") or extra.get("generation_config") or {}
    taken = sorted(_OUTPUT_FIELDS.intersection(generation))
    if taken:
        raise InvalidRequestError(
            f"extra_body: 'generationConfig.{taken[0]}' is set by llmorch when response_format= "
            "is given"
        )
    version = _MAJOR.search(request.model)
    if request.tools and version is not None and int(version.group(1)) < 3:
        raise InvalidRequestError(
            f"{request.model} cannot combine function tools with a JSON answer (Google: "
            "\"Function calling with a response mime type: 'application/json' is unsupported\"): "
            "leave out tools= or response_format=, or use a Gemini 3 model"
        )
    config: dict[str, Any] = {"responseMimeType": JSON}
    if plan.mode == "native" and plan.schema is not None:
        config["responseJsonSchema"] = _json_schema(plan.schema)
    return config
