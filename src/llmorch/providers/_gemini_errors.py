"""Gemini API and Vertex AI error bodies (``google.rpc.Status``), sans I/O: classes and back-off."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from llmorch.exceptions import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers._common import class_for_status

__all__ = ["classify_error", "retry_delay"]

_STATUS_NAMES: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": ModelNotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
}
_CONTEXT = re.compile(
    r"input token count.*exceeds|exceeds the maximum number of tokens", re.I | re.S
)
_MODEL_MISSING = re.compile(r"\bmodels?\b.*\b(?:is|was) not found", re.I | re.S)


def _error_object(payload: Any) -> dict[str, Any]:
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error
    return {"message": str(payload)[:500] if payload else ""}


def _details(error: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    return [
        d
        for d in details or []
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc." + kind)
    ]


def classify_error(status: int | None, payload: Any) -> tuple[type[ProviderError], str]:
    """Classify a ``google.rpc.Status`` error body (``{"error": {code, message, status, …}}``).

    Args:
        status: The HTTP status, or ``None`` for an error inside a stream (its ``code`` is used).
        payload: The decoded body, possibly wrapped in a one-element list.

    Returns:
        ``(class, message)``. An invalid API key (400 with reason ``API_KEY_INVALID``) is an
        authentication error; a prompt over the context window is a context-length error.
    """
    error = _error_object(payload)
    code = error.get("code") if status is None else status
    state = str(error.get("status") or "")
    message = str(error.get("message") or f"HTTP {status}")
    if isinstance(code, int) and code >= 400:
        cls = class_for_status(code)
    else:
        cls = _STATUS_NAMES.get(state, ProviderUnavailableError)
    if any(d.get("reason") == "API_KEY_INVALID" for d in _details(error, "ErrorInfo")):
        cls = AuthenticationError
    elif cls is InvalidRequestError and _CONTEXT.search(message):
        cls = ContextLengthExceededError
    elif cls is InvalidRequestError and _MODEL_MISSING.search(message):
        cls = ModelNotFoundError
    return cls, message


def retry_delay(payload: Any) -> float | None:
    """The back-off a ``google.rpc.RetryInfo`` detail asks for.

    Args:
        payload: The decoded error body.

    Returns:
        Seconds (``"12s"`` → 12.0, also ``{"seconds": 12, "nanos": …}``), or ``None``.
    """
    for detail in _details(_error_object(payload), "RetryInfo"):
        delay = detail.get("retryDelay")
        seconds: float | None = None
        try:
            if isinstance(delay, str) and delay.endswith("s"):
                seconds = float(delay[:-1])
            elif isinstance(delay, dict):
                seconds = float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
        # "NaNs" or "infs" is no usable delay: ignore it so the exponential backoff applies.
        return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None
    return None
