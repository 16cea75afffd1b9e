"""Opaque reasoning state the emulator hands out and checks when it comes back.

Vendors sign thinking (Anthropic ``signature``, Gemini ``thoughtSignature``, Bedrock
``reasoningContent.reasoningText.signature``) so a client cannot alter it; the emulator does
the same with an HMAC under a per-process key, so a modified or invented signature is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["sign", "verify"]

_KEY = secrets.token_bytes(32)


def sign(kind: str, text: str) -> str:
    """A signature over ``text`` for one kind of state (e.g. ``"anthropic-thinking"``).

    Args:
        kind: What is signed (keeps one dialect's signatures from passing for another's).
        text: The signed content (thinking text, a function call's name and arguments).

    Returns:
        A base64 string, as the vendors send theirs.
    """
    digest = hmac.new(_KEY, f"{kind}\0{text}".encode(), hashlib.sha256).digest()
    return base64.b64encode(b"emu1" + digest).decode()


def verify(kind: str, text: str, signature: object) -> bool:
    """Whether ``signature`` is the one :func:`sign` gave for ``(kind, text)``.

    Args:
        kind: As for :func:`sign`.
        text: The content that came back.
        signature: The signature that came back.

    Returns:
        True when it matches exactly.
    """
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(kind, text))
