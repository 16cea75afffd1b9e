"""The value types that cross llmorch's public API, and message validation."""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, Literal

if sys.version_info >= (3, 13):
    from typing import TypeVar
else:  # TypeVar defaults (PEP 696); typing_extensions comes with pydantic
    from typing_extensions import TypeVar

from llmorch.messages import ReasoningItem
from llmorch.tools import ToolCall

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
]

Message = dict[str, Any]
"""One chat turn in the OpenAI Chat shape: ``{"role", "content", "tool_calls"?, ...}``."""

ParsedT = TypeVar("ParsedT", default=Any)
"""The type of ``LLMResponse.parsed`` (``Any`` when no ``response_format`` says otherwise)."""

FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]

_OPTIONAL_TOKEN_KEYS = ("cache_read", "cache_write", "reasoning")


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
class LLMResponse(Generic[ParsedT]):
    """One completed answer (``LLMResponse[T]``: ``parsed`` is a ``T``).

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
        tool_calls: The tool calls the answer makes (``finish_reason == "tool_calls"``).
        reasoning: The thinking text the vendor returned, or ``None``.
        reasoning_items: The reasoning state (thinking blocks, signatures) to send back.
        provider_type: The provider type that answered (``anthropic``, ``gemini``, ...).
        parsed: The answer validated into the ``response_format`` given (a model instance,
            or the parsed JSON for a schema dict); ``None`` without one, or for a refusal.
        warnings: What llmorch removed from the call for this model, and why (SPEC §2.10).
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
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    reasoning_items: list[ReasoningItem] = field(default_factory=list, repr=False)
    provider_type: str = field(default="", repr=False)
    parsed: ParsedT | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def message(self) -> dict[str, Any]:
        """The assistant turn as a message, ready to append to the history.

        It carries the text, the tool calls and the reasoning state (which goes back only to
        the same provider type and model family; llmorch strips it for any other).

        Returns:
            ``{"role": "assistant", "content", "tool_calls"?, "reasoning"?}``.
        """
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.content if self.content or not self.tool_calls else None,
        }
        if self.tool_calls:
            message["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.reasoning_items:
            message["reasoning"] = [item.to_dict() for item in self.reasoning_items]
        return message


@dataclass(slots=True)
class StreamEvent:
    """A normalised event from an adapter's stream.

    Tool calls and reasoning blocks are keyed by ``index`` as the vendor numbers them (OpenAI
    ``tool_calls[].index``, Anthropic and Bedrock content block indexes, a running count for
    Gemini); the stream accumulator merges fragments, so adapters never do.

    Attributes:
        kind: ``"start"`` (metadata only), ``"text"``, ``"reasoning"`` (thinking text of block
            ``index``; ``signature`` for that block; ``redacted`` with opaque ``text``),
            ``"tool_start"`` (``index``, ``tool_id`` or ``None``, ``name``, ``signature`` that
            rode on the call's part), ``"tool_delta"`` (``index``, ``text`` = an arguments
            fragment), ``"tool_end"`` (``index``), ``"usage"`` or ``"finish"``.
        text: The text delta, for ``"text"``, ``"reasoning"`` and ``"tool_delta"``.
        tokens: The usage so far, for ``"usage"`` (normalised like ``tokens_used``).
        finish_reason: The normalised finish reason, for ``"finish"``.
        request_id: The vendor's request id, for ``"start"``.
        model_answered: The model the vendor echoed, when known.
        raw: The vendor's event, when useful for ``raw_response``.
        index: The tool call or reasoning block this event belongs to.
        tool_id: The vendor's tool call id, for ``"tool_start"``.
        name: The tool's name, for ``"tool_start"``.
        signature: A reasoning signature, for ``"reasoning"`` and ``"tool_start"``.
        redacted: For ``"reasoning"``: ``text`` is a redacted block's opaque data.
    """

    kind: Literal[
        "start", "text", "reasoning", "tool_start", "tool_delta", "tool_end", "usage", "finish"
    ]
    text: str = ""
    tokens: dict[str, int] | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    model_answered: str | None = None
    raw: dict[str, Any] | None = field(default=None, repr=False)
    index: int = 0
    tool_id: str | None = None
    name: str | None = None
    signature: str | None = None
    redacted: bool = False


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
    """One line of the cost ledger (schema version 2; version 1 lines still read).

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
        id: A UUID (hex) naming the record, so that a replay or a migration stores it once. A
            version 1 line has none: it is given one derived from its content.
        latency_s: Seconds from sending the attempt to its answer (or stream end), if known.
        tool_calls: The names of the tools the answer called, in order (never arguments).
        warnings: What llmorch changed in the request to fit the model (SPEC §2.10).
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
    v: int = 2
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    latency_s: float | None = None
    tool_calls: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

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
