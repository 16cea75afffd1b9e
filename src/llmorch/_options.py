"""Per-call options: what a call may carry besides messages, checked before any network call.

SPEC §2.9: ``timeout``, ``extra_body`` and ``extra_headers`` are per-call options; ``stop`` and
``top_p`` are mapped per vendor. Fields llmorch builds itself (``model``, ``messages``,
``stream``, ...; listed per adapter as ``owned_fields``) may be set neither as keyword arguments
nor through ``extra_body``, and ``extra_headers`` may not carry credentials. Any other keyword
argument still reaches the vendor body for now, with a :class:`DeprecationWarning` naming
``extra_body``; the tools work turns that into a refusal.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from llmorch._http import Timeout
from llmorch.exceptions import InvalidRequestError

__all__ = ["PORTABLE", "check_call"]

PORTABLE = frozenset({"stop", "top_p"})
"""Keyword arguments mapped to each vendor's own field."""

_HINTS = {
    "stream": "use send_streaming_request() for a stream",
    "stream_options": "streams always ask for usage; nothing to set",
    "model": "pass model= to choose the model",
    "messages": "pass the messages as the first argument",
    "contents": "pass the messages as the first argument",
    "system": "put a system message first in messages",
    "systemInstruction": "put a system message first in messages",
    "system_instruction": "put a system message first in messages",
}

_CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "host",
        "content-length",
        "transfer-encoding",
    }
)


def _refuse_owned(keys: list[str], owned: frozenset[str], where: str) -> None:
    taken = [key for key in keys if key in owned]
    if taken:
        key = taken[0]
        hint = _HINTS.get(key, "llmorch builds it from the call's arguments")
        raise InvalidRequestError(f"{where}{key!r} is set by llmorch and cannot be passed: {hint}")


def _check_timeout(value: object) -> None:
    if isinstance(value, Timeout):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(
            f"timeout must be a number of seconds or an httpx.Timeout, got {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequestError(f"timeout must be a positive number of seconds, got {value!r}")


def check_call(
    kwargs: Mapping[str, Any],
    *,
    owned: frozenset[str],
    timeout: object = None,
    extra_body: object = None,
    extra_headers: object = None,
) -> dict[str, Any]:
    """Validate one call's options and build the keyword arguments its adapter receives.

    Args:
        kwargs: The call's other keyword arguments.
        owned: The body fields the provider's adapter builds itself.
        timeout: The call's ``timeout=`` (seconds or ``httpx.Timeout``), or ``None``.
        extra_body: The call's ``extra_body=`` (a dict), or ``None``.
        extra_headers: The call's ``extra_headers=`` (a dict of str), or ``None``.

    Returns:
        The adapter's keyword arguments (options included only when given).

    Raises:
        InvalidRequestError: A field llmorch owns, a credential header, or a malformed option.
    """
    _refuse_owned(list(kwargs), owned, "")
    unknown = sorted(key for key in kwargs if key not in PORTABLE)
    if unknown:
        warnings.warn(
            f"unknown keyword argument(s) {unknown} are sent as top-level body fields; this is "
            "deprecated and will become an error: pass vendor fields as extra_body={...}",
            DeprecationWarning,
            stacklevel=4,  # the caller of send_request()
        )
    out = dict(kwargs)
    if timeout is not None:
        _check_timeout(timeout)
        out["timeout"] = timeout
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise InvalidRequestError(f"extra_body must be a dict, got {type(extra_body).__name__}")
        _refuse_owned([str(k) for k in extra_body], owned, "extra_body: ")
        out["extra_body"] = dict(extra_body)
    if extra_headers is not None:
        if not isinstance(extra_headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra_headers.items()
        ):
            raise InvalidRequestError("extra_headers must be a dict of str to str")
        credentials = sorted(k for k in extra_headers if k.lower() in _CREDENTIAL_HEADERS)
        if credentials:
            raise InvalidRequestError(
                f"extra_headers may not set {credentials}: credentials come from the provider's "
                "config (and Bedrock signs its own headers)"
            )
        out["extra_headers"] = dict(extra_headers)
    return out
