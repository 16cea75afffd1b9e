"""Per-call options: what a call may carry besides messages, checked before any network call.

SPEC §2.9: the calls accept a fixed set of keyword arguments; ``timeout``, ``extra_body`` and
``extra_headers`` are per-call options. Fields llmorch builds itself (``model``, ``messages``,
``stream``, ...; listed per adapter as ``owned_fields``) may not be set through ``extra_body``,
``extra_headers`` may not carry credentials, and any other keyword argument is refused with an
:class:`~llmorch.exceptions.InvalidRequestError` naming ``extra_body``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from llmorch._http import Timeout
from llmorch.exceptions import InvalidRequestError
from llmorch.request import CallOptions

__all__ = ["check_options", "refuse_unknown"]

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


_ACCEPTED = (
    "provider, model, temperature, max_tokens, top_p, top_k, stop, seed, tools, tool_choice, "
    "parallel_tool_calls, response_format, output_retries, reasoning, timeout, extra_body, "
    "extra_headers, tags"
)
_UNKNOWN_HINTS = {
    "n": "llmorch returns one answer per call: make several calls for several answers",
    "stream": "use send_streaming_request() for a stream",
    "logprobs": "log probabilities are not normalised across vendors: send "
    "extra_body={'logprobs': True} to a vendor that has them",
    "top_logprobs": "send extra_body={'top_logprobs': N} to a vendor that has them",
    "max_completion_tokens": "pass max_tokens=",
    "max_output_tokens": "pass max_tokens=",
}


def refuse_unknown(kwargs: Mapping[str, Any], owned: frozenset[str]) -> None:
    """Refuse keyword arguments a call does not accept (SPEC §2.9 per-call options).

    Args:
        kwargs: The call's keyword arguments beyond the accepted ones.
        owned: The body fields the provider's adapter builds itself.

    Raises:
        InvalidRequestError: Always when ``kwargs`` is not empty: it names the argument, what
            is accepted, and ``extra_body`` (with a specific hint for ``n``, ``stream``,
            ``logprobs`` and fields llmorch owns).
    """
    if not kwargs:
        return
    _refuse_owned(list(kwargs), owned, "")
    key = sorted(kwargs)[0]
    hint = _UNKNOWN_HINTS.get(key)
    raise InvalidRequestError(
        f"unknown keyword argument {key!r}"
        + (f": {hint}" if hint else "")
        + f". The calls accept {_ACCEPTED}; vendor fields go in extra_body={{...}}"
    )


def check_options(
    *,
    owned: frozenset[str],
    timeout: object = None,
    extra_body: object = None,
    extra_headers: object = None,
) -> CallOptions:
    """Validate one call's options.

    Args:
        owned: The body fields the provider's adapter builds itself.
        timeout: The call's ``timeout=`` (seconds or ``httpx.Timeout``), or ``None``.
        extra_body: The call's ``extra_body=`` (a dict), or ``None``.
        extra_headers: The call's ``extra_headers=`` (a dict of str), or ``None``.

    Returns:
        The options.

    Raises:
        InvalidRequestError: A field llmorch owns in ``extra_body``, a credential header, or a
            malformed option.
    """
    if timeout is not None:
        _check_timeout(timeout)
    body: dict[str, Any] | None = None
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise InvalidRequestError(f"extra_body must be a dict, got {type(extra_body).__name__}")
        _refuse_owned([str(k) for k in extra_body], owned, "extra_body: ")
        body = dict(extra_body)
    headers: dict[str, str] | None = None
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
        headers = dict(extra_headers)
    return CallOptions(timeout, body, headers)  # type: ignore[arg-type]
