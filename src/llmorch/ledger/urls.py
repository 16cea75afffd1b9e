"""Ledger URLs: ``jsonl:PATH``, ``sqlite:///PATH`` and ``postgresql://...`` (SPEC §2.11)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from llmorch.exceptions import ConfigurationError

__all__ = ["LedgerURL", "parse_ledger_url", "redact_url"]

_SCHEMES = ("jsonl", "sqlite", "postgresql", "postgres")


@dataclass(frozen=True)
class LedgerURL:
    """A parsed ledger URL.

    Attributes:
        scheme: ``jsonl``, ``sqlite`` or ``postgresql``.
        target: The file path (``jsonl``, ``sqlite``; absolute) or the libpq connection URL
            (``postgresql``, password included: never print it, print :attr:`display`).
        display: The URL with any password replaced by ``***``.
    """

    scheme: str
    target: str
    display: str


def redact_url(url: str) -> str:
    """A URL with the password of its userinfo replaced by ``***``.

    Args:
        url: The URL.

    Returns:
        The URL, safe to log.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^@/]*@", "//***@", url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def parse_ledger_url(url: str, *, key: str = "cost_tracking.ledger") -> LedgerURL:
    """Check a ledger URL and say what it names.

    Args:
        url: The URL.
        key: The configuration key it came from, for the error.

    Returns:
        The parsed URL.

    Raises:
        ConfigurationError: An unknown scheme or a URL missing its path or database.
    """
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    display = redact_url(url)
    if not sep or scheme not in _SCHEMES:
        raise ConfigurationError(
            f"{key}: {display!r} is not a ledger URL: use jsonl:PATH, sqlite:///PATH or "
            "postgresql://USER@HOST/DB"
        )
    if scheme == "jsonl":
        path = rest[2:] if rest.startswith("//") else rest
        if not path:
            raise ConfigurationError(f"{key}: {display!r} names no file (jsonl:PATH)")
        return LedgerURL("jsonl", os.path.abspath(os.path.expanduser(path)), display)
    if scheme == "sqlite":
        if not rest.startswith("///") or len(rest) == 3:
            raise ConfigurationError(
                f"{key}: {display!r} names no file: use sqlite:///relative/path or "
                "sqlite:////absolute/path"
            )
        path = rest[3:]
        if path == ":memory:":
            raise ConfigurationError(
                f"{key}: an in-memory SQLite ledger keeps nothing; name a file"
            )
        return LedgerURL("sqlite", os.path.abspath(os.path.expanduser(path)), display)
    parts = urlsplit(url)
    if not parts.netloc and not parts.path.strip("/"):
        raise ConfigurationError(
            f"{key}: {display!r} names no server or database (postgresql://USER@HOST/DB)"
        )
    return LedgerURL("postgresql", "postgresql" + url[len(scheme) :], display)
