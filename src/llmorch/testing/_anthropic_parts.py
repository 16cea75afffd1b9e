"""What Anthropic refuses in image and document blocks and in cache breakpoints, in its words.

The checks run after the schema's (:mod:`llmorch.testing._anthropic_schema`), so every block
here is well shaped. Locations are the body's own (``messages.2.content.0``, before same-role
turns merge), with the block type and the source variant named as pydantic names them. Each
wording is quoted from a live 400; the source is named next to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from llmorch.testing._script import count_tokens

__all__ = [
    "MAX_BREAKPOINTS",
    "MAX_IMAGE_BASE64",
    "MIN_CACHED_TOKENS",
    "Breakpoint",
    "breakpoints",
    "problem",
    "sniff",
]

MAX_IMAGE_BASE64 = 5 * 1024 * 1024
"""The most base64 characters one image may take (decoded: 3,932,160 bytes)."""
MAX_BREAKPOINTS = 4
"""The most blocks (tools, system, messages, the top-level switch) that may set cache_control."""
MIN_CACHED_TOKENS = 1024
"""The shortest prefix Anthropic caches (the prompt-caching guide's smallest minimum; shorter
prefixes are silently not cached). The emulator uses it for every model."""

Breakpoint = tuple[str, int, str]
"""``(prefix key, prompt tokens up to and including the marked block, ttl)``."""

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff(data: bytes) -> str | None:
    """The image type the bytes start with (png, jpeg, gif, webp), or ``None``.

    Args:
        data: Decoded image bytes.

    Returns:
        The media type.
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)


def _blocks(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every content block with its location (``messages.1.content.0.image``), results' too."""
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        for j, block in enumerate(content if isinstance(content, list) else ()):
            where = f"messages.{i}.content.{j}.{block['type']}"
            yield where, block
            inner = block.get("content") if block["type"] == "tool_result" else None
            for k, item in enumerate(inner if isinstance(inner, list) else ()):
                yield f"{where}.content.{k}.{item['type']}", item


def _decoded(where: str, data: str) -> bytes | str:
    """The bytes of a base64 source, or the refusal for data that is not base64."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        # Live 400 quoted in felixarntz/ai-services#19 (a data URL sent as the data).
        return f"{where}: invalid base64 data"


def _image(where: str, source: dict[str, Any]) -> str | None:
    if source["type"] != "base64":
        return None
    where += ".source.base64"
    data = source["data"]
    if not data:
        # Live 400 quoted in anthropics/claude-code#12750.
        return f"{where}: image cannot be empty"
    if len(data) > MAX_IMAGE_BASE64:
        # Live 400s quoted in gptme/gptme#185 and lobehub/lobehub#14711 (the base64 length).
        return f"{where}: image exceeds 5 MB maximum: {len(data)} bytes > {MAX_IMAGE_BASE64} bytes"
    decoded = _decoded(where, data)
    if isinstance(decoded, str):
        return decoded
    if sniff(decoded) != source["media_type"]:
        # Live 400s quoted in anthropics/claude-code#15746 and #12015.
        return f"{where}.data: Image does not match the provided media type {source['media_type']}"
    return None


def _document(where: str, source: dict[str, Any]) -> str | None:
    if source["type"] != "base64":
        return None
    decoded = _decoded(f"{where}.source.base64", source["data"])
    if isinstance(decoded, str):
        return decoded
    if not decoded.startswith(b"%PDF-"):
        # Live 400s quoted in anthropics/claude-code#5174 and #6580: the location names the
        # block "pdf" at this step.
        at = where.rsplit(".", 1)[0]
        return f"{at}.pdf.source.base64.data: The PDF specified was not valid."
    return None


def _marked(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The blocks with a cache_control, by their plain location, in the API's reading order.

    Tools, then the system, then the messages (a tool result's blocks after the result).
    """
    for k, tool in enumerate(body.get("tools") or ()):
        if isinstance(tool, dict) and tool.get("cache_control") is not None:
            yield f"tools.{k}", {"type": "tool", **tool}
    system = body.get("system")
    for i, block in enumerate(system if isinstance(system, list) else ()):
        if block.get("cache_control") is not None:
            yield f"system.{i}", block
    for where, block in _blocks(body):
        if block.get("cache_control") is not None:
            yield where.rsplit(".", 1)[0], block


def _ttl_order(body: dict[str, Any]) -> str | None:
    seen_short = False
    for where, block in _marked(body):
        long = block["cache_control"].get("ttl") == "1h"
        if long and seen_short:
            # Live 400s quoted in cnighswonger/claude-code-cache-fix#44 and
            # anthropics/claude-code#39599.
            return (
                f"{where}.cache_control.ttl: a ttl='1h' cache_control block must not come after "
                "a ttl='5m' cache_control block. Note that blocks are processed in the following "
                "order: `tools`, `system`, `messages`."
            )
        seen_short = seen_short or not long
    return None


def _breakpoints(body: dict[str, Any]) -> int:
    tools = body.get("tools") or []
    system = body.get("system")
    marked = [t for t in tools if isinstance(t, dict)]
    marked += system if isinstance(system, list) else []
    marked += [block for _, block in _blocks(body)]
    count = sum(1 for block in marked if block.get("cache_control") is not None)
    return count + (body.get("cache_control") is not None)


def _url_on_vertex(where: str, block: dict[str, Any]) -> str | None:
    """Claude on Vertex AI fetches no URL: an image or document URL source is refused."""
    if block["type"] not in ("image", "document") or block["source"]["type"] != "url":
        return None
    # Live 400s quoted in BerriAI/litellm#18430 (an image) and anthropics/anthropic-sdk-typescript
    # #1038 (a document, located as an image all the same).
    at = where.rsplit(".", 1)[0]
    return f"{at}.image.source.base64.data: URL sources are not supported"


def problem(body: dict[str, Any], *, vertex: bool = False) -> str | None:
    """The first image, document or cache_control rule a schema-valid body breaks.

    Args:
        body: The request body.
        vertex: Claude on Vertex AI (which takes no URL sources).

    Returns:
        The ``error.message`` of the 400, or ``None``.
    """
    for where, block in _marked(body):
        if block["type"] == "text" and not block["text"]:
            # Live 400 quoted in anthropics/claude-code#54013 ("at messages.N.content.1.text").
            return f"{where}.text: cache_control cannot be set for empty text blocks"
    refusal = _ttl_order(body)
    if refusal is not None:
        return refusal
    for where, block in _blocks(body):
        refusal = _url_on_vertex(where, block) if vertex else None
        if refusal is not None:
            return refusal
        if block["type"] == "image":
            refusal = _image(where, block["source"])
        elif block["type"] == "document":
            refusal = _document(where, block["source"])
        else:
            refusal = None
        if refusal is not None:
            return refusal
    found = _breakpoints(body)
    if found > MAX_BREAKPOINTS:
        # Live 400 quoted in tghamm/Anthropic.SDK#50 and Wei-Shaw/sub2api#176.
        return (
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {found}."
        )
    return None


def breakpoints(body: dict[str, Any]) -> list[Breakpoint]:
    """The cache breakpoints of a valid request, in the order the API renders the prompt.

    Tools, then the system, then the messages; a prefix is keyed by everything rendered up to
    and including its marked block, and counts the tokens the emulator reports for that part
    of the prompt (the words of text blocks). The top-level ``cache_control`` marks the last
    block.

    Args:
        body: The request body.

    Returns:
        One entry per mark.
    """
    rendered: list[Any] = []
    tokens = 0
    out: list[Breakpoint] = []

    def visit(block: dict[str, Any], words: int) -> None:
        nonlocal tokens
        rendered.append(block)
        tokens += words
        mark = block.get("cache_control")
        if isinstance(mark, dict):
            out.append((_key(rendered), tokens, mark.get("ttl") or "5m"))

    for tool in body.get("tools") or ():
        visit(tool, 0)
    system = body.get("system")
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system or ():
        visit(block, count_tokens(block.get("text", "")))
    for message in body["messages"]:
        rendered.append({"role": message["role"]})
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks:
            visit(block, count_tokens(block.get("text", "")))
    mark = body.get("cache_control")
    if isinstance(mark, dict) and rendered:
        out.append((_key(rendered), tokens, mark.get("ttl") or "5m"))
    return out


def _key(rendered: list[Any]) -> str:
    text = json.dumps(rendered, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
