"""Input messages (SPEC §2.9): the OpenAI Chat shape, validated into typed turns.

Callers pass plain dicts (``{"role", "content", "tool_calls"?, "tool_call_id"?, "reasoning"?}``);
:func:`validate_messages` checks every rule before any network call, with the exact path of the
first violation, and returns :class:`ChatMessage` values the vendor codecs encode.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmorch.exceptions import InvalidRequestError
from llmorch.parts import (
    CacheControl,
    DocumentPart,
    ImagePart,
    Part,
    TextPart,
    parse_cache_control,
    parse_part,
)
from llmorch.tools import ToolCall, parse_arguments

__all__ = [
    "CacheControl",
    "ChatMessage",
    "DocumentPart",
    "ImagePart",
    "Part",
    "ReasoningItem",
    "Role",
    "TextPart",
    "validate_messages",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
_ROLES = ("system", "developer", "user", "assistant", "tool")
_KEYS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "cache_control"}),
    "developer": frozenset({"role", "content", "cache_control"}),
    "user": frozenset({"role", "content", "cache_control"}),
    "assistant": frozenset({"role", "content", "tool_calls", "reasoning", "cache_control"}),
    "tool": frozenset({"role", "content", "tool_call_id", "cache_control"}),
}
_PLAIN_ROLES = ("user", "system", "assistant", "developer")
_MEDIA_ROLES = ("user", "tool")


@dataclass(frozen=True, slots=True)
class ReasoningItem:
    """One piece of a model's reasoning state, kept to send back to the same model family.

    Attributes:
        text: The thinking text; for a redacted block, the vendor's opaque data; ``""`` for a
            bare signature.
        signature: The vendor's signature over it (Anthropic, Bedrock) or a Gemini
            ``thoughtSignature``.
        redacted: True for a redacted thinking block (``text`` is opaque).
        provider_type: The provider type that produced it (``anthropic``, ``gemini``, ...).
        model: The model that produced it.
        tool_call_id: For a bare signature that rode on a tool call's part (Gemini), that call.
    """

    text: str
    signature: str | None = None
    redacted: bool = False
    provider_type: str = ""
    model: str = ""
    tool_call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as a message's ``reasoning`` entry.

        Returns:
            ``{"text", "provider_type", "model"}`` plus the optional keys that are set.
        """
        out: dict[str, Any] = {"text": self.text}
        if self.signature is not None:
            out["signature"] = self.signature
        if self.redacted:
            out["redacted"] = True
        out["provider_type"] = self.provider_type
        out["model"] = self.model
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One validated turn.

    Attributes:
        role: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``.
        parts: The content parts (empty for an assistant turn that only calls tools).
        tool_calls: An assistant turn's tool calls.
        reasoning: An assistant turn's reasoning state.
        tool_call_id: A tool turn's call id.
        tool_name: A tool turn's tool name, from the assistant call with that id.
    """

    role: Role
    parts: tuple[Part, ...]
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: tuple[ReasoningItem, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None

    @property
    def text_parts(self) -> tuple[TextPart, ...]:
        """The text parts, in order."""
        return tuple(part for part in self.parts if type(part) is TextPart)

    @property
    def text(self) -> str:
        """The text of every text part, joined (images and documents left out)."""
        parts = self.parts
        if len(parts) == 1 and type(parts[0]) is TextPart:
            return parts[0].text
        return "".join(part.text for part in parts if type(part) is TextPart)


def _parts(content: object, where: str, role: str) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (TextPart(content),)
    if isinstance(content, (bytes, Mapping)) or not isinstance(content, Sequence):
        raise InvalidRequestError(
            f"{where}: must be a str or a list of parts, got {type(content).__name__}"
        )
    if not content:
        raise InvalidRequestError(f"{where}: the list of parts is empty")
    out: list[Part] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, Mapping):
            raise InvalidRequestError(f"{at}: a part must be a dict, got {type(part).__name__}")
        typed = parse_part(part, at)
        if type(typed) is not TextPart and role not in _MEDIA_ROLES:
            raise InvalidRequestError(
                f"{at}.type: {part.get('type')!r} parts go in user and tool turns only, not in "
                f"a {role!r} turn"
            )
        out.append(typed)
    return tuple(out)


def _tool_calls(value: object, where: str, seen: set[str]) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidRequestError(f"{where}: must be a list, got {type(value).__name__}")
    calls: list[ToolCall] = []
    for j, call in enumerate(value):
        at = f"{where}[{j}]"
        call_id: object
        name: object
        arguments: object
        if isinstance(call, ToolCall):
            call_id, name, arguments = call.id, call.name, call.arguments_json
        else:
            if not isinstance(call, Mapping):
                raise InvalidRequestError(f"{at}: must be a dict, got {type(call).__name__}")
            function = call.get("function")
            if call.get("type", "function") != "function" or not isinstance(function, Mapping):
                raise InvalidRequestError(
                    f"{at}: expected {{'id', 'type': 'function', 'function': {{'name', "
                    "'arguments'}}"
                )
            call_id, name = call.get("id"), function.get("name")
            arguments = function.get("arguments", "")
            if isinstance(arguments, Mapping):
                arguments = json.dumps(dict(arguments), separators=(",", ":"))
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(f"{at}.id: must be a non-empty str")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"{at}.function.name: must be a non-empty str")
        if not isinstance(arguments, str):
            raise InvalidRequestError(f"{at}.function.arguments: must be a JSON str or a dict")
        if call_id in seen:
            raise InvalidRequestError(f"{at}.id: duplicate tool call id {call_id!r}")
        seen.add(call_id)
        calls.append(parse_arguments(call_id, name, arguments))
    return tuple(calls)


def _reasoning(value: object, where: str) -> tuple[ReasoningItem, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise InvalidRequestError(f"{where}: must be a list, got {type(value).__name__}")
    items: list[ReasoningItem] = []
    for j, item in enumerate(value):
        at = f"{where}[{j}]"
        if isinstance(item, ReasoningItem):
            items.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidRequestError(f"{at}: must be a dict, got {type(item).__name__}")
        extra = set(item) - {
            "text",
            "signature",
            "redacted",
            "provider_type",
            "model",
            "tool_call_id",
        }
        if extra:
            raise InvalidRequestError(f"{at} has unexpected keys: {sorted(extra)}")
        text, signature = item.get("text", ""), item.get("signature")
        provider_type, model = item.get("provider_type", ""), item.get("model", "")
        tool_call_id, redacted = item.get("tool_call_id"), item.get("redacted", False)
        for key, got in (("text", text), ("provider_type", provider_type), ("model", model)):
            if not isinstance(got, str):
                raise InvalidRequestError(f"{at}.{key}: must be a str")
        for key, got in (("signature", signature), ("tool_call_id", tool_call_id)):
            if got is not None and not isinstance(got, str):
                raise InvalidRequestError(f"{at}.{key}: must be a str")
        if not isinstance(redacted, bool):
            raise InvalidRequestError(f"{at}.redacted: must be a bool")
        items.append(ReasoningItem(text, signature, redacted, provider_type, model, tool_call_id))
    return tuple(items)


def validate_messages(messages: object) -> tuple[ChatMessage, ...]:
    """Check a message list before any network call and type it.

    Rules: a non-empty list of dicts; known roles and keys; ``content`` a str or a list of
    parts (``None`` or absent only on an assistant turn with ``tool_calls``); tool call ids
    unique across the history; a ``tool`` turn answers a call of an earlier assistant turn,
    once; every call is answered before the next user or assistant turn.

    Args:
        messages: What the caller passed as ``messages``.

    Returns:
        The typed messages.

    Raises:
        InvalidRequestError: The first violation, naming its path
            (``messages[2].content[1].type: ...``).
    """
    if type(messages) is not list and (
        isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidRequestError("messages must not be empty")
    out: list[ChatMessage] = []
    seen_ids: set[str] = set()
    pending: dict[str, tuple[str, str]] = {}  # call id -> (tool name, where it was made)
    for i, msg in enumerate(messages):
        if type(msg) is dict and len(msg) == 2:  # the common case: {"role", "content": str}
            role = msg.get("role")
            content = msg.get("content")
            if type(content) is str and role in _PLAIN_ROLES and not pending:
                out.append(ChatMessage(role, (TextPart(content),)))
                continue
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise InvalidRequestError(f"{where} must be a dict, got {type(msg).__name__}")
        role = msg.get("role")
        content = msg.get("content")
        if role in _PLAIN_ROLES and type(content) is str and len(msg) == 2:
            if pending:
                _unanswered(pending)
            out.append(ChatMessage(role, (TextPart(content),)))
            continue
        if role not in _ROLES:
            raise InvalidRequestError(
                f"{where}.role must be one of {', '.join(map(repr, _ROLES))}, got {role!r}"
            )
        extra = set(msg) - _KEYS[role]
        if extra:
            hint = " (tool_call_id belongs on 'tool' turns)" if "tool_call_id" in extra else ""
            raise InvalidRequestError(f"{where} has unexpected keys: {sorted(extra)}{hint}")
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequestError(f"{where}.tool_call_id: must be a non-empty str")
            if call_id not in pending:
                made = "was already answered" if call_id in seen_ids else "has no tool call"
                raise InvalidRequestError(
                    f"{where}.tool_call_id: {call_id!r} {made} in an earlier assistant turn "
                    "(a tool result must answer a call of the assistant turn before it)"
                )
            if "content" not in msg:
                raise InvalidRequestError(f"{where} has no 'content'")
            tool_name, _ = pending.pop(call_id)
            tool_parts = _cached(_parts(content, f"{where}.content", role), msg, where)
            out.append(ChatMessage("tool", tool_parts, tool_call_id=call_id, tool_name=tool_name))
            continue
        if pending:
            _unanswered(pending)
        if role == "assistant":
            calls = _tool_calls(msg.get("tool_calls"), f"{where}.tool_calls", seen_ids)
            if content is None or ("content" not in msg):
                if not calls:
                    raise InvalidRequestError(f"{where} has no 'content' (and no tool_calls)")
                parts: tuple[Part, ...] = ()
            elif content == "" and calls:
                parts = ()
            else:
                parts = _cached(_parts(content, f"{where}.content", role), msg, where)
            reasoning = _reasoning(msg.get("reasoning"), f"{where}.reasoning")
            for j, call in enumerate(calls):
                pending[call.id] = (call.name, f"{where}.tool_calls[{j}]")
            out.append(ChatMessage("assistant", parts, calls, reasoning))
            continue
        if "content" not in msg:
            raise InvalidRequestError(f"{where} has no 'content'")
        out.append(
            ChatMessage(role, _cached(_parts(content, f"{where}.content", role), msg, where))
        )
    if pending:
        _unanswered(pending)
    return tuple(out)


def _cached(parts: tuple[Part, ...], msg: Mapping[str, Any], where: str) -> tuple[Part, ...]:
    """Apply a message-level ``cache_control`` (LiteLLM's shape) to the message's last part."""
    if "cache_control" not in msg:
        return parts
    cache = parse_cache_control(msg["cache_control"], f"{where}.cache_control")
    if not parts:
        raise InvalidRequestError(f"{where}.cache_control: the message has no content to cache")
    return (*parts[:-1], dataclasses.replace(parts[-1], cache=cache))


def _unanswered(pending: Mapping[str, tuple[str, str]]) -> None:
    call_id, (_, where) = next(iter(pending.items()))
    raise InvalidRequestError(
        f"{where}: tool call {call_id!r} has no tool result: every call needs a "
        "{'role': 'tool', 'tool_call_id': ...} message right after its assistant turn"
    )
