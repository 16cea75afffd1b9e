"""The one retry policy: what an error means for the chain, and how long to wait."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from llmorch.exceptions import AuthenticationError, PermissionDeniedError, ProviderError

__all__ = ["Backoff", "Decision", "decide"]

Decision = Literal["stop", "retry", "next"]


def decide(exc: ProviderError) -> Decision:
    """What the chain does after an error.

    Auth and permission errors stop it (every model of the provider would fail alike);
    retryable errors (429, 5xx, 529, timeouts, connection failures, or ``x-should-retry: true``)
    retry the same model; anything else (model not found, context length, content filter,
    invalid request, exhausted quota) moves to the next model at once.

    Args:
        exc: The mapped error.

    Returns:
        ``"stop"``, ``"retry"`` or ``"next"``.
    """
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return "stop"
    return "retry" if exc.is_retryable else "next"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped; the server's own delay wins.

    Attributes:
        base_s: The first retry's ceiling (0.5 s), doubled per retry.
        max_s: The cap (``max_backoff_s``); a server delay above it skips to the next model.
    """

    base_s: float = 0.5
    max_s: float = 30.0

    def delay(
        self, retry: int, exc: ProviderError, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based).

        Args:
            retry: How many retries of this model have already happened.
            exc: The error that prompted the retry (its ``retry_after`` wins).
            rand: Uniform [0, 1) source, for tests.

        Returns:
            The delay, or ``None`` when the server asked for longer than the cap (move on).
        """
        if exc.retry_after is not None:
            return None if exc.retry_after > self.max_s else exc.retry_after
        return rand() * min(self.max_s, self.base_s * 2.0**retry)
