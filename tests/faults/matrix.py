"""The fault matrix: every scripted fault × every emulated provider, with its documented outcome.

`CASES` is the single definition used by the tests (`test_matrix.py`) and by the table in
`docs/reliability.md` (`render()`), so the page cannot drift from what is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmorch.testing import Fault, Reply

SSE_DIALECTS = ("openai", "anthropic", "gemini", "vertex")
ALL_DIALECTS = (*SSE_DIALECTS, "bedrock")


@dataclass(frozen=True)
class Case:
    """One fault kind.

    Attributes:
        name: What goes wrong.
        outcome: The documented outcome, in words (the matrix cell).
        first: What the first model of the chain serves.
        second: What the second model serves (it answers normally when empty).
        stream: Whether the call streams.
        provider: Config overrides for the provider.
        expect: ``answer`` (first model), ``fallback`` (second model answers),
            ``interrupted`` (StreamInterruptedError) or an error class name raised.
        cause: For ``interrupted``/``fallback``, the error class of the cause / first attempt.
        first_calls: How many requests the first model gets (retries included), if fixed.
        dialects: Where the fault exists (others are n/a).
    """

    name: str
    outcome: str
    first: Callable[[], list[Any]]
    expect: str
    second: Callable[[], list[Any]] = list
    stream: bool = False
    provider: dict[str, Any] = field(default_factory=dict)
    cause: str | None = None
    first_calls: int | None = None
    dialects: tuple[str, ...] = ALL_DIALECTS


def _n(item: Any, n: int = 3) -> Callable[[], list[Any]]:
    return lambda: [item] * n


CASES: list[Case] = [
    Case("429 with Retry-After", "waits as told, same model answers",
         _n(Fault.rate_limit(0.01), 1), "answer", first_calls=2),
    Case("429 without Retry-After", "backs off, same model answers",
         _n(Fault.rate_limit(None), 1), "answer", first_calls=2),
    Case("429 with Retry-After above max_backoff_s", "next model at once",
         _n(Fault.rate_limit(120), 1), "fallback", cause="RateLimitError", first_calls=1),
    Case("429 quota exhausted (insufficient_quota)", "next model at once",
         _n(Fault.http(429, error="quota"), 1), "fallback", first_calls=1,
         dialects=("openai",)),
    Case("500 on every retry", "retries, then next model",
         _n(Fault.http(500)), "fallback", cause="ProviderUnavailableError", first_calls=3),
    Case("502 on every retry", "retries, then next model",
         _n(Fault.http(502)), "fallback", cause="ProviderUnavailableError", first_calls=3),
    Case("503 on every retry", "retries, then next model",
         _n(Fault.http(503)), "fallback", cause="ProviderUnavailableError", first_calls=3),
    Case("overloaded (Anthropic 529)", "retries, then next model",
         _n(Fault.overloaded()), "fallback", cause="ProviderUnavailableError", first_calls=3),
    Case("504 once", "retries, same model answers",
         _n(Fault.http(504), 1), "answer", first_calls=2),
    Case("408 once", "retries, same model answers",
         _n(Fault.http(408), 1), "answer", first_calls=2, dialects=("openai", "anthropic")),
    Case("connection reset before headers", "retries, same model answers",
         _n(Fault.reset(), 1), "answer", first_calls=2),
    Case("hang before headers", "ProviderTimeoutError after `timeout`, next model",
         _n(Fault.hang(), 1), "fallback", cause="ProviderTimeoutError",
         provider={"timeout": 0.3, "max_retries": 0}, first_calls=1),
    Case("truncated JSON body", "connection error, retried",
         _n(Fault.cut(), 1), "answer", first_calls=2),
    Case("malformed JSON body", "provider error, retried",
         _n(Fault.malformed(), 1), "answer", first_calls=2),
    Case("wrong content type (HTML 200)", "provider error, retried",
         _n(Fault.wrong_content_type(), 1), "answer", first_calls=2),
    Case("huge body (2 MB answer)", "parsed whole",
         lambda: [Reply("word " * 400_000)], "answer", first_calls=1),
    Case("401 auth failure", "AuthenticationError, chain stopped (Vertex: after one token refresh)",
         _n(Fault.http(401), 2), "AuthenticationError", first_calls=1),
    Case("403 permission", "PermissionDeniedError, chain stopped",
         _n(Fault.http(403), 1), "PermissionDeniedError", first_calls=1),
    Case("auth failure mid-chain", "AuthenticationError from the second model",
         _n(Fault.http(404), 1), "AuthenticationError", second=_n(Fault.http(401), 2),
         first_calls=1),
    Case("model removed after discovery (404)", "next model at once",
         _n(Fault.http(404), 1), "fallback", cause="ModelNotFoundError", first_calls=1),
    Case("context length exceeded", "next model at once",
         _n(Fault.http(400, error="context_length"), 1), "fallback",
         cause="ContextLengthExceededError", first_calls=1),
    Case("400 invalid request", "next model at once",
         _n(Fault.http(400), 1), "fallback", cause="InvalidRequestError", first_calls=1),
    Case("500 with x-should-retry: false", "next model without retrying",
         _n(Fault.http(500, headers={"x-should-retry": "false"}), 1), "fallback",
         cause="ProviderUnavailableError", first_calls=1, dialects=SSE_DIALECTS),
    Case("every model fails", "AllFallbacksFailedError listing each",
         _n(Fault.http(404), 1), "AllFallbacksFailedError", second=_n(Fault.http(404), 1),
         first_calls=1),
    Case("content filtered, no text", "ContentFilteredError, next model",
         lambda: [Reply("", finish_reason="content_filter")], "fallback",
         cause="ContentFilteredError", first_calls=1),
    Case("stream: 429 before the stream", "retries, same model streams",
         _n(Fault.rate_limit(0.01), 1), "answer", stream=True, first_calls=2),
    Case("stream: error event before any text", "next model streams",
         _n(Fault.stream_error(after=0, error="invalid_request"), 1), "fallback", stream=True,
         first_calls=1),
    Case("stream: error event after text", "StreamInterruptedError, no splice",
         _n(Fault.stream_error(after=2, text="one two three four"), 1), "interrupted",
         cause="ProviderUnavailableError", stream=True, first_calls=1),
    Case("stream: cut after 2 chunks", "StreamInterruptedError, no splice",
         _n(Fault.cut(after=2, text="one two three four"), 1), "interrupted",
         cause="ProviderConnectionError", stream=True, first_calls=1),
    Case("stream: malformed SSE event", "StreamInterruptedError",
         _n(Fault.malformed(after=2), 1), "interrupted", cause="ProviderUnavailableError",
         stream=True, first_calls=1, dialects=SSE_DIALECTS),
    Case("stream: bad event-stream CRC", "StreamInterruptedError",
         _n(Fault.bad_crc(after=2), 1), "interrupted", cause="ProviderUnavailableError",
         stream=True, first_calls=1, dialects=("bedrock",)),
    Case("stream: hang between chunks", "read timeout, StreamInterruptedError",
         _n(Fault.stall(after=2, text="one two three four"), 1), "interrupted",
         cause="ProviderTimeoutError", stream=True, provider={"timeout": 0.3}, first_calls=1),
    Case("stream: wrong content type (HTML 200)", "provider error before any text, retried",
         _n(Fault.wrong_content_type(), 1), "answer", stream=True, first_calls=2),
    Case("stream: slow trickle under the timeout", "streams whole",
         lambda: [Reply("a b c d", chunk_delay=0.02)], "answer", stream=True,
         provider={"timeout": 0.5}, first_calls=1),
    Case("stream: empty answer", "ends at once, recorded",
         lambda: [Reply("")], "answer", stream=True, first_calls=1),
]  # fmt: skip


def cells() -> list[tuple[Case, str]]:
    """Every (case, dialect) cell that exists."""
    return [(case, d) for case in CASES for d in ALL_DIALECTS if d in case.dialects]


def render() -> str:
    """The matrix as a Markdown table (fault × provider → outcome), with the counts."""
    header = "| fault | outcome | " + " | ".join(ALL_DIALECTS) + " |"
    lines = [header, "|" + "---|" * (len(ALL_DIALECTS) + 2)]
    for case in CASES:
        marks = ["✓" if d in case.dialects else "n/a" for d in ALL_DIALECTS]
        lines.append(f"| {case.name} | {case.outcome} | " + " | ".join(marks) + " |")
    count = len(cells())
    lines.append("")
    lines.append(
        f"{len(CASES)} fault kinds × {len(ALL_DIALECTS)} providers: {count} cells tested, "
        f"{len(CASES) * len(ALL_DIALECTS) - count} n/a."
    )
    return "\n".join(lines)
