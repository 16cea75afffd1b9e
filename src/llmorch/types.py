"""The value types that cross llmorch's public API, and message validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from llmorch.exceptions import InvalidRequestError

if TYPE_CHECKING:
    from llmorch.exceptions import OrchestratorError

__all__ = [
    "FinishReason",
    "LLMResponse",
    "Message",
    "ModelInfo",
    "StreamEvent",
    "UsageRecord",
    "normalize_tokens",
    "validate_messages",
]

Message = dict[str, str]
"""One chat turn: ``{"role": "system" | "user" | "assistant", "content": str}``."""

FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]

_ROLES = frozenset({"system", "user", "assistant"})
_OPTIONAL_TOKEN_KEYS = ("cache_read", "cache_write", "reasoning")


def validate_messages(messages: object) -> list[Message]:
    """Check a message list before any network call.

    Args:
        messages: What the caller passed as ``messages``.

    Returns:
        The messages as a new list of plain dicts.

    Raises:
        InvalidRequestError: The list is empty or not a list, or an entry has an unknown role,
            a missing or non-string content, or unexpected keys. The message names the index.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"messages must be a list of {{'role', 'content'}} dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidRequestError("messages must not be empty")
    out: list[Message] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise InvalidRequestError(f"messages[{i}] must be a dict, got {type(msg).__name__}")
        role = msg.get("role")
        if role not in _ROLES:
            raise InvalidRequestError(
                f"messages[{i}].role must be one of 'system', 'user', 'assistant', got {role!r}"
            )
        if "content" not in msg:
            raise InvalidRequestError(f"messages[{i}] has no 'content'")
        content = msg["content"]
        if not isinstance(content, str):
            raise InvalidRequestError(
                f"messages[{i}].content must be a str, got {type(content).__name__}"
            )
        extra = set(msg) - {"role", "content"}
        if extra:
            raise InvalidRequestError(f"messages[{i}] has unexpected keys: {sorted(extra)}")
        out.append({"role": role, "content": content})
    return out


def normalize_tokens(
    prompt: int,
    completion: int,
    *,
    cache_read: int | None = None,
    cache_write: int | None = None,
    reasoning: int | None = None,
) -> dict[str, int]:
    """Build the normalised ``tokens_used`` dict.

    ``prompt`` counts every input token processed (cached or not) and ``completion`` every output
    token billed (reasoning included); the optional keys are parts of those and appear only when
    the vendor reported them.

    Args:
        prompt: All input tokens.
        completion: All billed output tokens.
        cache_read: Input tokens read from the prompt cache, if reported.
        cache_write: Input tokens written to the prompt cache, if reported.
        reasoning: Output tokens spent on reasoning, if reported.

    Returns:
        A dict with ``prompt``, ``completion``, ``total`` and the reported optional keys.
    """
    tokens = {"prompt": prompt, "completion": completion, "total": prompt + completion}
    optional = zip(_OPTIONAL_TOKEN_KEYS, (cache_read, cache_write, reasoning), strict=True)
    tokens.update({key: int(value) for key, value in optional if value is not None})
    return tokens


@dataclass
class LLMResponse:
    """One completed answer.

    Attributes:
        content: The generated text.
        model: The model id that was requested and answered (as in the chain).
        provider: The configured provider name.
        tokens_used: ``prompt``, ``completion``, ``total`` always; ``cache_read``,
            ``cache_write``, ``reasoning`` when the provider reports them.
        finish_reason: ``stop``, ``length``, ``content_filter``, ``tool_calls`` or ``other``.
        cost: The cost in USD, as tracked.
        request_id: The vendor's request id, when it sent one.
        latency_s: Seconds from sending the request to the full answer.
        attempts: The failed fallback attempts before this one, as ``(model, error)``.
        raw_response: The provider's JSON (for streams, the last event carrying metadata).
        model_answered: The model id the provider echoed back (e.g. a dated id), if any.
    """

    content: str
    model: str
    provider: str
    tokens_used: dict[str, int]
    finish_reason: str | None = None
    cost: float = 0.0
    request_id: str | None = None
    latency_s: float = 0.0
    attempts: list[tuple[str, OrchestratorError]] = field(default_factory=list)
    raw_response: dict[str, Any] | None = field(default=None, repr=False)
    model_answered: str | None = None


@dataclass(slots=True)
class StreamEvent:
    """A normalised event from an adapter's stream.

    Attributes:
        kind: ``"start"`` (metadata only), ``"text"``, ``"usage"`` or ``"finish"``.
        text: The text delta, for ``"text"``.
        tokens: The usage so far, for ``"usage"`` (normalised like ``tokens_used``).
        finish_reason: The normalised finish reason, for ``"finish"``.
        request_id: The vendor's request id, for ``"start"``.
        model_answered: The model the vendor echoed, when known.
        raw: The vendor's event, when useful for ``raw_response``.
    """

    kind: Literal["start", "text", "usage", "finish"]
    text: str = ""
    tokens: dict[str, int] | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    model_answered: str | None = None
    raw: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class ModelInfo:
    """What the registry knows about one model.

    Attributes:
        name: The model id to send.
        provider: The configured provider name.
        deprecated: True once the model went missing from a listing (or the vendor says so).
        first_seen: When a listing first contained it (UTC).
        last_seen: When a listing last contained it (UTC).
        last_validated: When ``validate_model`` last succeeded for it, if ever.
        raw: The vendor's entry from the list endpoint.
    """

    name: str
    provider: str
    deprecated: bool = False
    first_seen: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    last_seen: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    last_validated: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class UsageRecord:
    """One line of the cost ledger (schema version 1).

    Attributes:
        ts: When the call finished (UTC).
        session_id: The orchestrator session that made the call.
        provider: The configured provider name.
        model: The model id requested.
        model_answered: The model id the vendor echoed, if any.
        request_id: The vendor's request id, if any.
        prompt: All input tokens.
        completion: All billed output tokens.
        total: ``prompt + completion``.
        cache_read: Part of ``prompt`` read from cache.
        cache_write: Part of ``prompt`` written to cache.
        reasoning: Part of ``completion`` spent reasoning.
        cost: USD.
        pricing_as_of: The date of the price table used, or ``"override"``; ``None`` if unpriced.
        priced: False when no price was known (cost is then 0).
        complete: False when the call was cut short (stream closed, cancelled or broken).
        estimated: True when token counts were estimated from text instead of reported.
        tags: Free-form labels passed by the caller.
        v: Ledger schema version.
    """

    ts: datetime
    session_id: str
    provider: str
    model: str
    prompt: int
    completion: int
    total: int
    cost: float
    model_answered: str | None = None
    request_id: str | None = None
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    pricing_as_of: str | None = None
    priced: bool = True
    complete: bool = True
    estimated: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    v: int = 1

    @property
    def tokens(self) -> dict[str, int]:
        """The token counts as a ``tokens_used``-style dict."""
        return normalize_tokens(
            self.prompt,
            self.completion,
            cache_read=self.cache_read,
            cache_write=self.cache_write,
            reasoning=self.reasoning,
        )
