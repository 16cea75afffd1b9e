"""The Anthropic Messages codec's content blocks, sans I/O: turns, parts and cache breakpoints.

Text, image and document parts become ``text``, ``image`` and ``document`` blocks (base64 or
URL sources), tool results ``tool_result`` blocks (their images and documents inside), and a
part's, message's or tool's ``cache_control`` goes on the block it marks. Wire facts and their
sources: ``docs/wire/anthropic.md``.
"""

from __future__ import annotations

import logging
from typing import Any

from llmorch.exceptions import InvalidRequestError
from llmorch.messages import ChatMessage
from llmorch.parts import CacheControl, DocumentPart, ImagePart, Part, TextPart
from llmorch.tools import Tool

__all__ = ["MAX_BREAKPOINTS", "cache_mark", "check_breakpoints", "same_family", "system", "turns"]

log = logging.getLogger("llmorch")

MAX_BREAKPOINTS = 4
"""The most ``cache_control`` marks Anthropic takes in one request."""

Blocks = list[dict[str, Any]]


def same_family(item_model: str, model: str) -> bool:
    """Whether reasoning state from ``item_model`` may go back to ``model``: both are Claude.

    Args:
        item_model: The model that produced the thinking block.
        model: The model of this request.

    Returns:
        True when both ids name Claude models (Anthropic signs thinking for every Claude model
        the same way; a Gemini model on Vertex AI is another family).
    """
    return item_model.startswith("claude") and model.startswith("claude")


def cache_mark(cache: CacheControl) -> dict[str, str]:
    """Anthropic's ``cache_control`` for a breakpoint.

    Args:
        cache: The breakpoint.

    Returns:
        ``{"type": "ephemeral"}``, with ``ttl`` when one is asked for.
    """
    return {"type": "ephemeral", "ttl": cache.ttl} if cache.ttl else {"type": "ephemeral"}


def check_breakpoints(messages: tuple[ChatMessage, ...], tools: tuple[Tool, ...]) -> None:
    """Refuse the cache breakpoints Anthropic would refuse, before any I/O.

    Args:
        messages: The request's turns.
        tools: The request's tools.

    Raises:
        InvalidRequestError: More than :data:`MAX_BREAKPOINTS` (naming each one), a mark on an
            empty text part, or a 1h mark after a 5m one in Anthropic's reading order.
    """
    marks = [(f"tools[{k}]", t.cache) for k, t in enumerate(tools) if t.cache is not None]
    system = [(i, m) for i, m in enumerate(messages) if m.role in ("system", "developer")]
    rest = [(i, m) for i, m in enumerate(messages) if m.role not in ("system", "developer")]
    for i, message in system + rest:  # the order Anthropic reads them: tools, system, messages
        for j, part in enumerate(message.parts):
            if part.cache is None:
                continue
            where = f"messages[{i}].content[{j}]"
            if type(part) is TextPart and not part.text:
                raise InvalidRequestError(
                    f"{where}.cache_control: Anthropic refuses a cache breakpoint on an empty "
                    "text block"
                )
            marks.append((where, part.cache))
    if len(marks) > MAX_BREAKPOINTS:
        paths = ", ".join(f"{where}.cache_control" for where, _ in marks)
        raise InvalidRequestError(
            f"cache_control: Anthropic takes at most {MAX_BREAKPOINTS} cache breakpoints per "
            f"request, this one has {len(marks)} ({paths})"
        )
    short = None
    for where, cache in marks:
        if cache.ttl == "1h" and short is not None:
            raise InvalidRequestError(
                f"{where}.cache_control.ttl: Anthropic reads tools, then the system, then the "
                f"messages, and refuses a 1h breakpoint after a 5m one ({short}.cache_control)"
            )
        if cache.ttl != "1h":
            short = short or where


def system(messages: tuple[ChatMessage, ...]) -> str | Blocks | None:
    """The ``system`` of a request: its system and developer turns.

    Args:
        messages: The request's turns.

    Returns:
        The texts joined into one string; a list of text blocks when any part carries a cache
        breakpoint (the mark goes on its block); ``None`` without such turns.
    """
    turns = [m for m in messages if m.role in ("system", "developer")]
    if not turns:
        return None
    if not any(part.cache is not None for m in turns for part in m.parts):
        return "\n\n".join(m.text for m in turns)
    return [_text(part) for m in turns for part in m.text_parts]


def turns(messages: tuple[ChatMessage, ...], provider_type: str, model: str) -> Blocks:
    """The turns: tool results as user turns, same-role turns merged.

    Args:
        messages: The request's turns (system and developer ones are skipped).
        provider_type: The adapter's type; reasoning items of another type are dropped.
        model: The model of the request.

    Returns:
        The ``messages`` of the body.
    """
    out: Blocks = []
    for m in messages:
        role = m.role
        if role in ("system", "developer"):
            continue
        content: str | Blocks
        if role == "tool":
            role = "user"
            content = [_tool_result(m)]
        elif role == "assistant" and (m.tool_calls or m.reasoning):
            content = _assistant_blocks(m, provider_type, model)
        elif _plain(m.parts):
            content = m.text
        else:
            content = [_block(part) for part in m.parts]
        if out and out[-1]["role"] == role:
            _merge(out[-1], content)
        else:
            out.append({"role": role, "content": content})
    return out


def _plain(parts: tuple[Part, ...]) -> bool:
    return all(type(part) is TextPart and part.cache is None for part in parts)


def _text(part: TextPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    if part.cache is not None:
        block["cache_control"] = cache_mark(part.cache)
    return block


def _block(part: Part) -> dict[str, Any]:
    """The block of one part: text, an image (base64 or URL source) or a document."""
    if isinstance(part, TextPart):
        return _text(part)
    block: dict[str, Any]
    if isinstance(part, ImagePart):
        source: dict[str, Any] = (
            {"type": "url", "url": part.url}
            if part.data is None
            else {"type": "base64", "media_type": part.media_type, "data": part.base64}
        )
        block = {"type": "image", "source": source}
    else:
        block = {"type": "document", "source": _document_source(part)}
        if part.filename:
            block["title"] = part.filename
    if part.cache is not None:
        block["cache_control"] = cache_mark(part.cache)
    return block


def _document_source(part: DocumentPart) -> dict[str, Any]:
    """A plain-text document travels as its text; any other (a PDF) as base64."""
    if part.media_type == "text/plain":
        text = part.data.decode("utf-8", errors="replace")
        return {"type": "text", "media_type": "text/plain", "data": text}
    return {"type": "base64", "media_type": part.media_type, "data": part.base64}


def _tool_result(m: ChatMessage) -> dict[str, Any]:
    """A tool turn's ``tool_result``: its text, or its blocks when it carries media or marks."""
    content: str | Blocks = m.text if _plain(m.parts) else [_block(part) for part in m.parts]
    return {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": content}


def _merge(turn: dict[str, Any], content: str | Blocks) -> None:
    before = turn["content"]
    if isinstance(before, str) and isinstance(content, str):
        turn["content"] = before + "\n\n" + content
        return
    blocks = [{"type": "text", "text": before}] if isinstance(before, str) else before
    more = [{"type": "text", "text": content}] if isinstance(content, str) else content
    turn["content"] = [*blocks, *more]


def _assistant_blocks(m: ChatMessage, provider_type: str, model: str) -> Blocks:
    blocks: Blocks = []
    for item in m.reasoning:
        if item.provider_type != provider_type or not same_family(item.model, model):
            log.debug(
                "reasoning item from %s/%s dropped for %s/%s",
                item.provider_type,
                item.model,
                provider_type,
                model,
            )
        elif item.redacted:
            blocks.append({"type": "redacted_thinking", "data": item.text})
        else:
            blocks.append(
                {"type": "thinking", "thinking": item.text, "signature": item.signature or ""}
            )
    if _plain(m.parts):
        if m.text:
            blocks.append({"type": "text", "text": m.text})
    else:
        blocks += [_text(part) for part in m.text_parts]
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in m.tool_calls
    ]
    return blocks
