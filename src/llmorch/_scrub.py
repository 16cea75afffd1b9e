"""Removing secrets that vendors echo back in error messages and bodies (SPEC §2.8).

Vendors quote parts of the request in their errors: AWS's ``InvalidSignatureException`` prints
the whole canonical request it expected, signed headers and session token included; gateways
repeat the ``Authorization`` header; some APIs repeat a rejected key. Every error llmorch
builds from a vendor's answer passes through :func:`scrub` first, so nothing of that reaches a
message, ``.body``, ``repr()`` or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar, cast

__all__ = ["MASK", "scrub"]

MASK = "**********"
"""What a removed secret is replaced with (the mask :meth:`OrchestratorConfig.masked` uses)."""

_MIN_SECRET = 4
"""Shorter configured values are not searched for: they would mask ordinary words."""

_SECRET_NAME = re.compile(
    r"auth|key|token|secret|passw|credential|cookie|signature|session", re.IGNORECASE
)

# AWS's echo of the canonical request and of the string to sign: cut from there to the end.
_AWS_ECHO = re.compile(
    r"\s*The (Canonical String for this request|String-to-Sign) should have been\b.*",
    re.DOTALL,
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(x-amz-security-token\s*[:=]\s*)[^\s'\",&]+", re.IGNORECASE), rf"\g<1>{MASK}"),
    (re.compile(r"(x-amz-signature\s*[:=]\s*)[^\s'\",&]+", re.IGNORECASE), rf"\g<1>{MASK}"),
    (re.compile(r"(x-amz-credential\s*[:=]\s*)[^\s'\",&]+", re.IGNORECASE), rf"\g<1>{MASK}"),
    (re.compile(r"\b(Credential=)[^\s,'\"&]+"), rf"\g<1>{MASK}"),
    (re.compile(r"\b(Signature=)[^\s,'\"&]+"), rf"\g<1>{MASK}"),
    # 16+ characters: a token, not prose such as "bearer token"
    (re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE), rf"\g<1>{MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), MASK),
)

T = TypeVar("T")


def _scrub_text(text: str, secrets: list[str]) -> str:
    text = _AWS_ECHO.sub("", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: T, secrets: Iterable[str] = ()) -> T:
    """Remove configured secrets and known vendor echoes from text or decoded JSON.

    Removed: every value in ``secrets`` (4 characters or longer); AWS's "The Canonical String
    for this request should have been …" and "The String-to-Sign should have been …" tails;
    ``x-amz-security-token:…``, ``Credential=…``, ``Signature=…``; ``Bearer …`` tokens and
    ``sk-…`` / ``AIza…`` style keys. Dicts, lists and tuples are walked; other values are kept.

    Args:
        value: A message, or a decoded error body.
        secrets: The provider's configured secrets.

    Returns:
        A scrubbed copy of the same shape.
    """
    ordered = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
    return cast("T", _walk(value, ordered))


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, dict):
        return {key: _walk(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(_walk(item, secrets) for item in value)
    return value
