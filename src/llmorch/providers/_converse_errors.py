"""Bedrock's errors, sans I/O: code, message, llmorch class, and the parameter refused.

The parameter is the one a 400 says the model does not take (SPEC §2.10's learned retry). AWS
names an error by its code (``x-amzn-ErrorType``, the body's ``__type``, or an event-stream
exception's type), not by status alone (a 429 can be throttling or a model not ready yet).
"""

from __future__ import annotations

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

__all__ = ["classify_error", "error_code", "error_message", "unsupported_parameter"]

# Error code (``x-amzn-ErrorType`` / ``__type`` / event-stream exception) -> (class, retryable).
_CODES: dict[str, tuple[type[ProviderError], bool | None]] = {
    "ThrottlingException": (RateLimitError, True),
    "TooManyRequestsException": (RateLimitError, True),
    "ServiceQuotaExceededException": (RateLimitError, False),
    "ModelNotReadyException": (ProviderUnavailableError, True),
    "ServiceUnavailableException": (ProviderUnavailableError, True),
    "InternalServerException": (ProviderUnavailableError, True),
    "InternalFailure": (ProviderUnavailableError, True),
    "ModelStreamErrorException": (ProviderUnavailableError, True),
    "ModelErrorException": (ProviderUnavailableError, None),
    "ModelTimeoutException": (ProviderTimeoutError, True),
    "ValidationException": (InvalidRequestError, None),
    "SerializationException": (InvalidRequestError, None),
    "AccessDeniedException": (PermissionDeniedError, None),
    "ResourceNotFoundException": (ModelNotFoundError, None),
    "UnrecognizedClientException": (AuthenticationError, None),
    "InvalidSignatureException": (AuthenticationError, None),
    "IncompleteSignatureException": (AuthenticationError, None),
    "MissingAuthenticationTokenException": (AuthenticationError, None),
    "InvalidClientTokenId": (AuthenticationError, None),
    "ExpiredTokenException": (AuthenticationError, None),
    "SignatureDoesNotMatch": (AuthenticationError, None),
}
_CONTEXT = re.compile(
    r"input is too long|too many (input )?tokens|prompt is too long|context (length|window)"
    r"|maximum context|exceeds? the (maximum|max)[a-z ]* tokens|input tokens exceed",
    re.IGNORECASE,
)
_INVALID_MODEL = re.compile(
    r"model identifier is invalid|model (id|identifier)? ?(is )?not found|could not resolve the "
    r"foundation model|end of its life",
    re.IGNORECASE,
)


# -- errors ----------------------------------------------------------------------------------


def error_code(headers: Mapping[str, str], payload: Any) -> str:
    """The AWS error code: ``x-amzn-ErrorType``, else the body's ``__type`` / ``code``.

    Like botocore, the code is cut at the first ``:`` and after any ``#``.

    Args:
        headers: The response headers.
        payload: The decoded body.

    Returns:
        The code, or ``""``.
    """
    raw = headers.get("x-amzn-errortype") or ""
    if not raw and isinstance(payload, dict):
        raw = str(payload.get("__type") or payload.get("code") or payload.get("Code") or "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def error_message(payload: Any, status: int | None) -> str:
    """The message of an AWS error body (``message`` / ``Message``), or a stand-in.

    Args:
        payload: The decoded body (or its text).
        status: The HTTP status, ``None`` inside a stream.

    Returns:
        The message.
    """
    if isinstance(payload, dict):
        for key in ("message", "Message", "errorMessage"):
            if isinstance(payload.get(key), str) and payload[key]:
                return str(payload[key])
    if isinstance(payload, str) and payload.strip():
        return payload.strip()[:500]
    return f"HTTP {status}" if status else "Bedrock stream error"


def classify_error(
    status: int | None, code: str, message: str
) -> tuple[type[ProviderError], bool | None]:
    """Classify a Bedrock error by its code, then its message, then its status.

    Args:
        status: The HTTP status, or ``None`` for an exception event inside a stream.
        code: The error code (``ThrottlingException``; stream events' lowerCamel names too).
        message: The error message.

    Returns:
        ``(class, is_retryable override or None)``.
    """
    code = code[:1].upper() + code[1:]
    cls: type[ProviderError]
    if code in _CODES:
        cls, retryable = _CODES[code]
    elif status is not None:
        cls, retryable = class_for_status(status), None
    else:
        cls, retryable = ProviderUnavailableError, None
    if cls is InvalidRequestError:
        if _CONTEXT.search(message):
            cls = ContextLengthExceededError
        elif _INVALID_MODEL.search(message):
            cls = ModelNotFoundError
    return cls, retryable


_DEPRECATED = re.compile(r"`(temperature|top_p|top_k)` is deprecated for this model")
_NO_FIELD = re.compile(
    r"This model doesn't support the (temperature|topP|topK|stopSequences) field"
)
_PARAMETERS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "topP": "top_p",
    "topK": "top_k",
    "stopSequences": "stop",
}


def unsupported_parameter(message: str) -> str | None:
    """The llmorch parameter a Bedrock 400 message says the model does not take.

    Bedrock words it two ways: Claude's refusal relayed ("The model returned the following
    errors: `temperature` is deprecated for this model.") and its own ("This model doesn't
    support the topP field. Remove topP and try again.").

    Args:
        message: The ``ValidationException`` message.

    Returns:
        ``temperature``, ``top_p``, ``top_k`` or ``stop``, or ``None``.
    """
    match = _DEPRECATED.search(message) or _NO_FIELD.search(message)
    return _PARAMETERS[match.group(1)] if match else None
