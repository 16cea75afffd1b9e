"""Every error llmorch raises, in one place.

The hierarchy::

    OrchestratorError
    ├── ConfigurationError
    ├── AllFallbacksFailedError                (.attempts)
    ├── MaxTurnsExceededError                  tool loop past max_turns (.messages, .turns)
    ├── OutputValidationError                  an answer not in the asked schema (.text, .errors)
    └── ProviderError                          (provider, model, status_code, request_id,
        │                                       retry_after, is_retryable, body)
        ├── AuthenticationError                401 (Gemini: 400 API_KEY_INVALID)
        ├── PermissionDeniedError              403
        ├── ModelNotFoundError                 404 / "model not found"
        ├── RateLimitError                     429, quota (not retryable for insufficient_quota)
        ├── InvalidRequestError                other 4xx
        │   └── ContextLengthExceededError     prompt too long
        ├── ContentFilteredError               blocked with no text
        ├── ProviderUnavailableError           5xx, 409, 424, 499, Anthropic 529
        ├── ProviderTimeoutError               408, 504, transport timeouts
        ├── ProviderConnectionError            transport failures
        └── StreamInterruptedError             failure after the first chunk (.partial_text,
                                               .partial_tool_calls)

No exception from httpx, botocore or google-auth escapes the public API: each provider maps
what it receives onto this tree, and the original is kept as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmorch.tools import ToolCall

__all__ = [
    "AllFallbacksFailedError",
    "AuthenticationError",
    "BudgetExceededError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthExceededError",
    "InvalidRequestError",
    "MaxTurnsExceededError",
    "ModelNotFoundError",
    "OrchestratorError",
    "OutputValidationError",
    "PermissionDeniedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "StreamInterruptedError",
]

_BODY_LIMIT = 2000


class OrchestratorError(Exception):
    """Base class of every error llmorch raises."""


class ConfigurationError(OrchestratorError):
    """The configuration is invalid: the message names the file, the key path and the problem."""


class ProviderError(OrchestratorError):
    """A provider call failed.

    Attributes:
        provider: The configured provider name (e.g. ``"openai"``).
        model: The model id the call was for, if known.
        status_code: The HTTP status, or ``None`` for transport and in-stream errors.
        request_id: The vendor's request id, when it sent one.
        retry_after: Seconds the vendor asked us to wait, or ``None``.
        is_retryable: Whether retrying the same model may succeed.
        body: The vendor's error body, truncated; never contains credentials.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        is_retryable: bool | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        self.is_retryable = self.default_retryable if is_retryable is None else is_retryable
        if isinstance(body, str) and len(body) > _BODY_LIMIT:
            body = body[:_BODY_LIMIT] + "…"
        self.body = body

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self._context().items() if v is not None]
        return f"{self.message} ({', '.join(parts)})" if parts else self.message

    def _context(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "model": self.model,
            "status": self.status_code,
            "request_id": self.request_id,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"model={self.model!r}, status_code={self.status_code!r}, "
            f"request_id={self.request_id!r})"
        )


class AuthenticationError(ProviderError):
    """The credentials were rejected (HTTP 401; Gemini's 400 ``API_KEY_INVALID``)."""


class PermissionDeniedError(ProviderError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class ModelNotFoundError(ProviderError):
    """The model does not exist or this account cannot see it (HTTP 404)."""


class RateLimitError(ProviderError):
    """Too many requests or quota exhausted (HTTP 429).

    Retryable, except for exhausted quota (OpenAI ``insufficient_quota``).
    """

    default_retryable = True


class InvalidRequestError(ProviderError):
    """The request was rejected as invalid (HTTP 400 and other 4xx), or failed local validation."""


class ContextLengthExceededError(InvalidRequestError):
    """The prompt is longer than the model's context window."""


class ContentFilteredError(ProviderError):
    """The provider blocked the request or answer and returned no text."""


class ProviderUnavailableError(ProviderError):
    """The provider is failing or overloaded (5xx, 409, 424, 499, Anthropic 529)."""

    default_retryable = True


class ProviderTimeoutError(ProviderError):
    """The call timed out (HTTP 408, 504, or a transport timeout)."""

    default_retryable = True


class ProviderConnectionError(ProviderError):
    """The connection failed or broke before an answer arrived."""

    default_retryable = True


class StreamInterruptedError(ProviderError):
    """A stream failed after its first chunk reached the caller.

    The mapped cause is ``__cause__``; no fallback happens, since two models' outputs are never
    spliced together.

    Attributes:
        partial_text: The text the caller had received before the failure.
        partial_tool_calls: Every tool call the stream had begun: finished ones whole, the
            unfinished one with the arguments received so far (its ``error`` says so).
    """

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        partial_tool_calls: Sequence[ToolCall] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text
        self.partial_tool_calls: list[ToolCall] = list(partial_tool_calls)


class MaxTurnsExceededError(OrchestratorError):
    """A tool loop still had tool calls to answer after ``max_turns`` model turns.

    Attributes:
        messages: The full history so far (the last turn's calls unanswered).
        turns: Every response of the loop, in order.
    """

    def __init__(self, message: str, *, messages: Sequence[Any], turns: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.messages: list[Any] = list(messages)
        self.turns: list[Any] = list(turns)


class OutputValidationError(OrchestratorError):
    """An answer that does not match the ``response_format`` it was asked for.

    It is raised after the call is recorded in the ledger (the answer was billed).

    Attributes:
        text: The answer's text.
        errors: What is wrong: ``{"loc", "msg", "type"}`` dicts (pydantic's shape).
        response: The response that failed (its cost, tokens and ``attempts``), once known.
    """

    def __init__(self, text: str, errors: Sequence[dict[str, Any]]) -> None:
        self.text = text
        self.errors: list[dict[str, Any]] = list(errors)
        self.response: Any = None
        first = self.errors[0] if self.errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(part) for part in first.get("loc", [])) or "(root)"
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"the answer does not match the response_format: {where}: "
                         f"{first['msg']}{more}")  # fmt: skip


class BudgetExceededError(OrchestratorError):
    """A call was refused before any network call because of a budget (SPEC §2.11).

    It stops the fallback chain: no other model is tried.

    Attributes:
        budget: The budget's name (``None`` when the ledger could not be asked at all).
        reason: ``"limit"`` (the attempt's worst case would pass the limit), ``"unavailable"``
            (the ledger could not be reached, and ``budgets_fail_open`` is off) or
            ``"unpriced"`` (the model has no price, so its cost cannot be bounded).
        limit_usd: The budget's limit.
        spent_usd: Spend recorded in its current window.
        reserved_usd: Reservations of calls in flight.
        requested_usd: This attempt's worst-case cost.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: str | None,
        reason: str,
        limit_usd: float | None = None,
        spent_usd: float | None = None,
        reserved_usd: float | None = None,
        requested_usd: float | None = None,
    ) -> None:
        super().__init__(message)
        self.budget = budget
        self.reason = reason
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        self.requested_usd = requested_usd


class AllFallbacksFailedError(OrchestratorError):
    """Every model in the fallback chain failed.

    Attributes:
        attempts: One ``(model, error)`` per model tried, in chain order (its last error).
    """

    def __init__(self, attempts: Sequence[tuple[str, OrchestratorError]]) -> None:
        self.attempts: list[tuple[str, OrchestratorError]] = list(attempts)
        lines = "; ".join(f"{m}: {type(e).__name__}: {e}" for m, e in self.attempts)
        count = len(self.attempts)
        what = "the only model failed" if count == 1 else f"all {count} models failed"
        super().__init__(f"{what} — {lines}")
