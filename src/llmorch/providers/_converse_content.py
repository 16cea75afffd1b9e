"""Converse content blocks for parts, cache points and the output format, sans I/O.

What :mod:`llmorch.providers._converse` builds a body from, beyond text, tools and reasoning:

- images and documents as ``bytes`` blocks (base64 in the JSON body) with the service model's
  format enums; Bedrock fetches no URL, so an image URL never reaches here (the fitting step
  refuses it before any I/O: capability ``image_urls: false``);
- document names cut to Bedrock's rule (ASCII letters, digits, single spaces, hyphens,
  parentheses, square brackets; 1-200 characters), unique within a request;
- ``cachePoint`` blocks after each part, system block or tool marked with ``cache_control``
  (``ttl`` ``5m`` / ``1h`` as ``CachePointBlock.ttl``), checked against Bedrock's rule that a
  later cache point's TTL is never longer than an earlier one's (tools, system, messages);
- ``outputConfig.textFormat``: the schema as a JSON *string*, every object closed, and for
  Claude the keywords its structured outputs refuse left out (the answer is still validated
  against the caller's schema).
Wire facts and their sources: ``docs/wire/bedrock.md``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from llmorch._schema import close_objects, strip_keys
from llmorch.exceptions import InvalidRequestError
from llmorch.output import JSON_INSTRUCTION, OutputPlan
from llmorch.parts import CacheControl, DocumentPart, ImagePart, Part, TextPart

__all__ = [
    "DOCUMENT_FORMATS",
    "IMAGE_FORMATS",
    "DocumentNames",
    "cache_point",
    "check_cache_order",
    "json_object_instruction",
    "output_config",
    "part_block",
]

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
"""Media type -> ``ImageFormat`` (the service model's enum)."""
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
"""Media type -> ``DocumentFormat`` (the service model's enum)."""

CLAUDE_UNSUPPORTED_KEYWORDS = frozenset(
    {
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
    }
)
"""Schema keywords Claude's structured outputs refuse (Bedrock relays "For 'array' type,
property 'maxItems' is not supported"); left out of what is sent, kept for validation."""

_NAME_CHARS = re.compile(r"[^A-Za-z0-9 ()\[\]-]+")
_SPACES = re.compile(r"\s+")
_TTL_RANK = {"5m": 0, "1h": 1}
_NO_FIELD = re.compile(
    r"This model doesn't support the (temperature|topP|topK|stopSequences) field"
)


def cache_point(cache: CacheControl) -> dict[str, Any]:
    """The ``cachePoint`` block for a ``cache_control`` mark.

    Args:
        cache: The mark (``ttl`` ``None`` is Bedrock's default, five minutes).

    Returns:
        ``{"cachePoint": {"type": "default", "ttl"?: ...}}``.
    """
    point: dict[str, Any] = {"type": "default"}
    if cache.ttl is not None:
        point["ttl"] = cache.ttl
    return {"cachePoint": point}


class DocumentNames:
    """Bedrock-valid, request-unique document names from file names.

    Bedrock takes ASCII letters and digits, single spaces, hyphens, parentheses and square
    brackets, 1-200 characters; the extension goes (the block's ``format`` carries it), accents
    are dropped, anything else becomes a space, and a name seen before gets `` (2)``, `` (3)``.
    """

    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def name(self, filename: str | None) -> str:
        """A name for the next document.

        Args:
            filename: The part's file name, if any.

        Returns:
            The name to send.
        """
        stem = (filename or "").rsplit(".", 1)[0] if "." in (filename or "")[1:] else filename
        ascii_only = unicodedata.normalize("NFKD", stem or "").encode("ascii", "ignore").decode()
        base = _SPACES.sub(" ", _NAME_CHARS.sub(" ", ascii_only)).strip()[:190].strip()
        base = base or f"document {len(self._taken) + 1}"
        name, n = base, 1
        while name in self._taken:
            n += 1
            name = f"{base} ({n})"
        self._taken.add(name)
        return name


def part_block(part: Part, names: DocumentNames, where: str) -> dict[str, Any]:
    """The content block for one part (message content or a tool result's content).

    Args:
        part: The part.
        names: The request's document names.
        where: The part's path, for errors.

    Returns:
        A ``text``, ``image`` or ``document`` block.

    Raises:
        InvalidRequestError: An image without bytes (a URL: Bedrock fetches none) or a media
            type Converse has no format for.
    """
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        if part.data is None:
            raise InvalidRequestError(
                f"{where}: Bedrock does not fetch image URLs; pass the image as bytes "
                "(llmorch.image(path or bytes))"
            )
        kind = IMAGE_FORMATS.get(part.media_type)
        if kind is None:
            raise InvalidRequestError(
                f"{where}: Bedrock takes {', '.join(IMAGE_FORMATS)} images, not {part.media_type}"
            )
        return {"image": {"format": kind, "source": {"bytes": part.base64}}}
    assert isinstance(part, DocumentPart)
    kind = DOCUMENT_FORMATS.get(part.media_type)
    if kind is None:
        raise InvalidRequestError(
            f"{where}: Bedrock takes documents of types {', '.join(DOCUMENT_FORMATS)}, "
            f"not {part.media_type}"
        )
    name = names.name(part.filename)
    return {"document": {"format": kind, "name": name, "source": {"bytes": part.base64}}}


def check_cache_order(body: dict[str, Any]) -> None:
    """Refuse cache points whose TTL grows along tools -> system -> messages (Bedrock does).

    Args:
        body: The Converse body.

    Raises:
        InvalidRequestError: A ``1h`` cache point after a ``5m`` (or untimed) one.
    """
    sections = [(body.get("toolConfig") or {}).get("tools") or [], body.get("system") or []]
    sections += [m["content"] for m in body["messages"]]
    ttls = [
        str(block["cachePoint"].get("ttl") or "5m")
        for blocks in sections
        for block in blocks
        if "cachePoint" in block
    ]
    for earlier, later in zip(ttls, ttls[1:], strict=False):
        if _TTL_RANK[later] > _TTL_RANK[earlier]:
            raise InvalidRequestError(
                "cache_control: Bedrock reads cache points in the order tools, system, messages "
                f"and refuses a ttl longer than an earlier one's ({earlier!r} then {later!r}); "
                "give the earlier cache_control the longer ttl"
            )


def output_config(plan: OutputPlan, family: str) -> dict[str, Any] | None:
    """``outputConfig.textFormat`` for a native output plan.

    Args:
        plan: This attempt's output plan (mode ``native``; ``json_object`` has no native form on
            Converse and gets :func:`json_object_instruction` instead).
        family: The model family (``claude`` drops the keywords Claude refuses).

    Returns:
        The ``outputConfig`` members, or ``None`` for a plan without a schema.
    """
    if plan.mode != "native" or plan.schema is None:
        return None
    schema = close_objects(plan.schema)
    if family == "claude":
        schema = strip_keys(schema, CLAUDE_UNSUPPORTED_KEYWORDS)
    definition: dict[str, Any] = {
        "schema": json.dumps(schema, separators=(",", ":")),
        "name": plan.name,
    }
    if plan.description:
        definition["description"] = plan.description
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def json_object_instruction() -> dict[str, Any]:
    """The system block that asks for a JSON object (Converse has no JSON mode).

    Returns:
        A ``system`` text block.
    """
    return {"text": JSON_INSTRUCTION}
