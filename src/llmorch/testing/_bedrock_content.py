"""What Bedrock checks in a well-shaped Converse body: media, output format, cache points, sampling.

Per model, from Bedrock's documentation and its recorded 400 bodies (the comment beside each
refusal says where its wording was recorded; where none was, it says so):

- Images: ``png``/``jpeg``/``gif``/``webp`` bytes of at most 3.75 MB, at most 20 per request;
  documents at most 4.5 MB, at most 5, named with ASCII letters, digits, single spaces, hyphens,
  parentheses and square brackets, beside a text block of the same message (``API_runtime_Message``
  and ``DocumentBlock`` in the ``bedrock-runtime`` service model). Text-only models refuse images;
  inside a ``toolResult`` only Claude, Nova and Llama 4 take them.
- ``outputConfig.textFormat``: its ``schema`` is a JSON *string* holding a JSON Schema. Claude
  models before 4.5 and from Opus 4.7 / Claude 5 on refuse the field; the others check their
  schema subset (Claude: every object closed with ``additionalProperties: false``, no
  ``maxItems``).
- Sampling: Claude Opus 4.7+ and Claude 5 refuse ``temperature`` and ``topP`` (``top_k`` in
  ``additionalModelRequestFields`` is still accepted); OpenAI's GPT-5 models refuse
  ``temperature``, ``topP`` and ``stopSequences``.
- Cache points: a cache point needs something before it to cache; TTLs may not increase in the
  order ``toolConfig`` -> ``system`` -> ``messages`` (an untimed point is ``5m``); Nova takes
  none among the tools.

:class:`CacheBook` keeps the prefixes a request asked to cache, so that the first request
writes them (``cacheWriteInputTokens``) and the next identical one reads them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from llmorch.testing._script import count_tokens

__all__ = [
    "DOCUMENT_FORMATS",
    "IMAGE_FORMATS",
    "MAX_DOCUMENT_BYTES",
    "MAX_IMAGE_BYTES",
    "CacheBook",
    "content_problem",
    "output_schema",
]

IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
"""``ImageFormat`` in the service model."""
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
"""``DocumentFormat`` in the service model."""
MAX_IMAGE_BYTES = 3_932_160
"""3.75 MB per image (``API_runtime_Message``)."""
MAX_DOCUMENT_BYTES = 4_718_592
"""4.5 MB per document (``API_runtime_Message``)."""
_MAX_IMAGES, _MAX_DOCUMENTS = 20, 5

_MODEL_SAYS = "The model returned the following errors: "
_NO_SAMPLING = re.compile(r"anthropic\.claude-(?:opus-4-[7-9]|(?:opus|sonnet|haiku|fable)-5)")
_OPENAI_GPT_5 = re.compile(r"openai\.gpt-5")
_OUTPUT_CONFIG = re.compile(r"anthropic\.claude-(?:(?:haiku|sonnet|opus)-4-5|(?:opus|sonnet)-4-6)")
_TEXT_ONLY = re.compile(
    r"amazon\.nova-micro|amazon\.titan-text|meta\.llama3-(?!2-(?:11|90)b)|anthropic\.claude-3-5-haiku"
)
_TOOL_MEDIA = re.compile(r"anthropic\.|amazon\.nova|meta\.llama4")
_DOCUMENT_NAME = re.compile(r"(?!.*  )[A-Za-z0-9 ()\[\]-]+")
_MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
}
_TTL_RANK = {"5m": 0, "1h": 1}

# vercel/ai amazon-bedrock-validation-error-no-type.json (live); earendil-works/pi#8643 and
# anomalyco/opencode#50272 quote it for an image inside a toolResult.
_NO_IMAGE = (
    "This model doesn't support the image field for user messages. Remove image and try again."
)


def _blob(value: Any) -> bytes | None:
    """The bytes a JSON blob (base64 text) carries, or ``None`` when it is not base64."""
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _image_problem(image: dict[str, Any], where: str) -> str | None:
    source = image.get("source") or {}
    if "bytes" not in source:
        return None  # an S3 location: not looked up
    data = _blob(source["bytes"])
    if data is None:
        # No recorded wording; the Coral front end's style for a value it cannot read.
        return f"Malformed input request: #/{where}/source/bytes: not valid base64"
    if len(data) > MAX_IMAGE_BYTES:
        # No recorded wording; the limit is API_runtime_Message's.
        return f"The image at {where} exceeds the maximum image size of 3.75 MB."
    kind = image.get("format")
    magic = _MAGIC.get(str(kind))
    matches = data[:4] == b"RIFF" and data[8:12] == b"WEBP" if kind == "webp" else None
    if magic is not None:
        matches = data.startswith(magic)
    if matches is False:
        # boto/boto3#4415 (a live 400, Llama 3.2 on Converse).
        return _MODEL_SAYS + "The provided image does not match the specified image format."
    return None


def _document_problem(document: dict[str, Any], where: str) -> str | None:
    name = document.get("name")
    if isinstance(name, str) and not _DOCUMENT_NAME.fullmatch(name):
        # vercel/ai amazon-bedrock-invalid-document-filenames.json (live, 2026-09-04).
        return (
            "The document file name can only contain alphanumeric characters, whitespace "
            "characters, hyphens, parentheses, and square brackets. The name can't contain more "
            "than one consecutive whitespace character. Check that the file name conforms to "
            "these restrictions and retry your request."
        )
    source = document.get("source") or {}
    if "bytes" not in source and "s3Location" not in source:
        # maximhq/bifrost#7072 (a live 400: a text source sent to Claude).
        return (
            f"DocumentSource object at {where}.source must set one of the following keys: "
            "bytes, s3Location."
        )
    data = _blob(source["bytes"]) if "bytes" in source else b""
    if data is None:
        return f"Malformed input request: #/{where}/source/bytes: not valid base64"
    if len(data) > MAX_DOCUMENT_BYTES:
        # No recorded wording; the limit is API_runtime_Message's.
        return f"The document at {where} exceeds the maximum document size of 4.5 MB."
    return None


def _media_problem(messages: list[Any], model: str) -> str | None:
    images = documents = 0
    for i, message in enumerate(messages):
        blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
        has_document = any("document" in b for b in blocks)
        if has_document and not any(str(b.get("text") or "").strip() for b in blocks):
            # maximhq/bifrost#5817, archestra-ai/archestra#4220 (live 400s).
            return "A text block must be included when using documents."
        for j, block in enumerate(blocks):
            nested = (block.get("toolResult") or {}).get("content") or []
            inner = [
                (f"messages.{i}.content.{j}.toolResult.content.{k}", b, True)
                for k, b in enumerate(nested)
                if isinstance(b, dict)
            ]
            for where, item, in_tool in [(f"messages.{i}.content.{j}", block, False), *inner]:
                if isinstance(item.get("image"), dict):
                    images += 1
                    if _TEXT_ONLY.search(model) or (in_tool and not _TOOL_MEDIA.search(model)):
                        return _NO_IMAGE
                    problem = _image_problem(item["image"], f"{where}.image")
                    if problem:
                        return problem
                if isinstance(item.get("document"), dict):
                    documents += 1
                    problem = _document_problem(item["document"], f"{where}.document")
                    if problem:
                        return problem
    if images > _MAX_IMAGES or documents > _MAX_DOCUMENTS:
        # No recorded wording; the limits are API_runtime_Message's.
        return "Too many images or documents: at most 20 images and 5 documents per request."
    return None


def output_schema(body: dict[str, Any]) -> Any:
    """The JSON Schema an ``outputConfig.textFormat`` asks the answer to follow.

    Args:
        body: The request body (its shape already checked).

    Returns:
        The decoded schema, or ``None`` when the request asks for none (or it is not JSON).
    """
    text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
    definition = (text_format.get("structure") or {}).get("jsonSchema") or {}
    try:
        return json.loads(definition["schema"]) if "schema" in definition else None
    except (TypeError, ValueError):
        return None


def _claude_schema_problem(schema: Any, path: str = "output_config.format.schema") -> str | None:
    if isinstance(schema, list):
        return next(filter(None, (_claude_schema_problem(s, path) for s in schema)), None)
    if not isinstance(schema, dict):
        return None
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds and schema.get("additionalProperties") is not False:
        # vercel/ai amazon-bedrock-strict-open-schema-error.json (live, a strict tool's schema;
        # an output schema is named output_config.format.schema, as in the maxItems one).
        return (
            _MODEL_SAYS + f"{path}: For 'object' type, 'additionalProperties' must be explicitly "
            "set to false"
        )
    if "array" in kinds and "maxItems" in schema:
        # vercel/ai issue-17197-max-items-error.json (live).
        return _MODEL_SAYS + f"{path}: For 'array' type, property 'maxItems' is not supported"
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            found = isinstance(value, dict) and next(
                filter(None, (_claude_schema_problem(v, path) for v in value.values())), None
            )
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "not"):
            found = _claude_schema_problem(value, path)
        else:
            found = None
        if found:
            return found
    return None


def _output_problem(body: dict[str, Any], model: str) -> str | None:
    text_format = (body.get("outputConfig") or {}).get("textFormat")
    if not isinstance(text_format, dict):
        return None
    if "anthropic." in model and not _OUTPUT_CONFIG.search(model):
        # anomalyco/models.dev#1765 (Opus 4.7, live), vectorize-io/hindsight#3300 (live): Bedrock
        # hands outputConfig to Claude as output_config.format, which these models refuse.
        return _MODEL_SAYS + "output_config.format: Extra inputs are not permitted"
    definition = (text_format.get("structure") or {}).get("jsonSchema") or {}
    schema = output_schema(body)
    if not isinstance(schema, dict):
        # No recorded wording; Bedrock documents a 400 for a schema it cannot compile.
        return (
            "The provided JSON schema at outputConfig.textFormat.structure.jsonSchema.schema is "
            f"not a valid JSON Schema object: {str(definition.get('schema'))[:80]}"
        )
    return _claude_schema_problem(schema) if "anthropic." in model else None


def _sampling_problem(body: dict[str, Any], model: str) -> str | None:
    inference = body.get("inferenceConfig") or {}
    if _NO_SAMPLING.search(model):
        # vercel/ai amazon-bedrock-opus-5-deprecated-{sampling-parameter,top-p}.json (live).
        for member, name in (("temperature", "temperature"), ("topP", "top_p")):
            if inference.get(member) is not None:
                return _MODEL_SAYS + f"`{name}` is deprecated for this model."
    if _OPENAI_GPT_5.search(model):
        # vercel/ai amazon-bedrock-openai-{temperature,top-p,stop-sequences}-error.json
        # (GPT-5.6 on Converse, vercel/ai#21374): Bedrock's own words, no relay prefix.
        for member in ("temperature", "topP", "stopSequences"):
            if member in inference:
                return (
                    f"This model doesn't support the {member} field. Remove {member} and try again."
                )
    return None


def _points(blocks: list[Any]) -> list[str]:
    """The TTL of each cache point in a block list (an untimed one is ``5m``)."""
    return [
        str(b["cachePoint"].get("ttl") or "5m")
        for b in blocks
        if isinstance(b, dict) and isinstance(b.get("cachePoint"), dict)
    ]


def _sections(body: dict[str, Any]) -> list[list[Any]]:
    """The block lists cache points may sit in, in Converse's order: tools, system, messages."""
    sections = [(body.get("toolConfig") or {}).get("tools"), body.get("system")]
    sections += [m.get("content") for m in body.get("messages") or [] if isinstance(m, dict)]
    return [blocks for blocks in sections if isinstance(blocks, list)]


def _cache_problem(body: dict[str, Any], model: str) -> str | None:
    tools = (body.get("toolConfig") or {}).get("tools") or []
    if "amazon.nova" in model and _points(tools):
        # Nova caches system and messages only (AWS prompt-caching guide's table; strands-agents/
        # sdk-python#449). No recorded wording.
        return (
            "This model doesn't support cache points in toolConfig.tools. Remove them and try "
            "again."
        )
    ttls: list[str] = []
    for blocks in _sections(body):
        points = _points(blocks)
        if points and len(points) == len(blocks):
            # vercel/ai amazon-bedrock-cache-point-only-assistant-error.json (live).
            return (
                "There is nothing available to cache. Please remove the invalid cache point and "
                "try again."
            )
        ttls += points
    for earlier, later in zip(ttls, ttls[1:], strict=False):
        if _TTL_RANK.get(later, 0) > _TTL_RANK.get(earlier, 0):
            # strands-agents/harness-sdk#3758 and #3858 (live 400s; the wording is not quoted).
            return (
                "A cache point's ttl cannot be longer than the ttl of a cache point before it "
                "(toolConfig, then system, then messages)."
            )
    return None


def content_problem(body: dict[str, Any], model: str) -> str | None:
    """Why Bedrock refuses a well-shaped body's sampling, media, output format or cache points.

    Args:
        body: The request body (its shape and constraints already checked).
        model: The model id (geography prefix allowed, ARN resolved).

    Returns:
        The ``ValidationException`` message, or ``None``.
    """
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    return (
        _sampling_problem(body, model)
        or _media_problem(messages, model)
        or _output_problem(body, model)
        or _cache_problem(body, model)
    )


class CacheBook:
    """The prompt prefixes requests asked Bedrock to cache (one emulator's lifetime)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def usage(self, body: dict[str, Any]) -> tuple[int, int]:
        """Account for a request's cache points: ``(tokens written, tokens read)``.

        The prefix is everything up to the request's last cache point (tools, system, then
        messages, in Converse's order); its tokens are written the first time and read after.

        Args:
            body: The request body.

        Returns:
            ``(cacheWriteInputTokens, cacheReadInputTokens)``; ``(0, 0)`` without cache points.
        """
        prefix: list[Any] = []
        cached: list[Any] | None = None
        for blocks in _sections(body):
            for block in blocks:
                if isinstance(block, dict) and "cachePoint" in block:
                    cached = list(prefix)
                else:
                    prefix.append(block)
        if not cached:
            return 0, 0
        key = hashlib.sha256(json.dumps(cached, sort_keys=True).encode()).hexdigest()
        tokens = sum(count_tokens(str(b.get("text", ""))) for b in cached if isinstance(b, dict))
        tokens = max(tokens, 1)
        if key in self._seen:
            return 0, tokens
        self._seen.add(key)
        return tokens, 0
