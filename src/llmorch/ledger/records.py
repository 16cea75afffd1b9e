"""A ledger record's stored form: the JSON object of one ledger line (schema version 2).

The same columns, in the same order, are the CSV header and the SQL backends' columns.
Version 1 lines (no ``id``, ``latency_s``, ``tool_calls``, ``warnings``) still read: each is
given an ``id`` derived from its content, so reading or migrating it twice names it the same.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from llmorch.types import UsageRecord

__all__ = [
    "LEDGER_COLUMNS",
    "SCHEMA_VERSION",
    "encode_record",
    "iso_ts",
    "opt_text",
    "parse_ts",
    "record_from_dict",
    "record_to_dict",
    "utf8_text",
    "v1_id",
]

SCHEMA_VERSION = 2

LEDGER_COLUMNS: tuple[str, ...] = (
    "v",
    "ts",
    "session_id",
    "provider",
    "model",
    "model_answered",
    "request_id",
    "prompt",
    "completion",
    "total",
    "cache_read",
    "cache_write",
    "reasoning",
    "cost",
    "pricing_as_of",
    "priced",
    "complete",
    "estimated",
    "tags",
    "id",
    "latency_s",
    "tool_calls",
    "warnings",
)
"""The keys of one ledger line, in order; also the CSV header (``v`` always comes first)."""


def iso_ts(ts: datetime) -> str:
    """A timestamp as the ledger writes it: UTC ISO-8601 ending in ``+00:00``.

    Args:
        ts: The time (naive means UTC).

    Returns:
        The text.
    """
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).isoformat()


def utf8_text(value: str) -> str:
    r"""Make a string encodable as UTF-8 without losing what it says.

    A lone surrogate (what :func:`os.fsdecode` gives for a byte that is not UTF-8) cannot be
    written to a UTF-8 file. Surrogates from ``surrogateescape`` become the original byte spelled
    ``\xNN``; any other lone surrogate becomes ``\uNNNN``. Every other string is returned as is.

    Args:
        value: The string.

    Returns:
        ``value``, or its escaped form when it holds lone surrogates.
    """
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def opt_text(value: str | None) -> str | None:
    """:func:`utf8_text` for an optional string.

    Args:
        value: The string or ``None``.

    Returns:
        The safe string or ``None``.
    """
    return None if value is None else utf8_text(value)


def record_to_dict(record: UsageRecord) -> dict[str, Any]:
    """Turn a record into its ledger form.

    Args:
        record: The record.

    Returns:
        A JSON-ready dict with exactly :data:`LEDGER_COLUMNS` as keys, in that order;
        ``ts`` is a UTC ISO-8601 string ending in ``+00:00``.
    """
    return {
        "v": record.v,
        "ts": iso_ts(record.ts),
        "session_id": record.session_id,
        "provider": record.provider,
        "model": record.model,
        "model_answered": record.model_answered,
        "request_id": record.request_id,
        "prompt": record.prompt,
        "completion": record.completion,
        "total": record.total,
        "cache_read": record.cache_read,
        "cache_write": record.cache_write,
        "reasoning": record.reasoning,
        "cost": record.cost,
        "pricing_as_of": record.pricing_as_of,
        "priced": record.priced,
        "complete": record.complete,
        "estimated": record.estimated,
        "tags": dict(record.tags),
        "id": record.id,
        "latency_s": record.latency_s,
        "tool_calls": list(record.tool_calls),
        "warnings": list(record.warnings),
    }


_MISSING: Any = object()


def _get(
    d: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    *,
    default: Any = _MISSING,
    nullable: bool = False,
) -> Any:
    if key not in d:
        if default is _MISSING:
            raise ValueError(f"missing {key!r}")
        return default
    value = d[key]
    if value is None:
        if nullable:
            return None
        raise ValueError(f"{key!r} is null")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ValueError(f"{key!r} must not be a bool")
    if not isinstance(value, kinds):
        raise ValueError(f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def parse_ts(value: str) -> datetime:
    """Read a ledger timestamp (``Z`` or an offset; naive means UTC) as an aware UTC datetime.

    Args:
        value: The ISO-8601 text.

    Returns:
        The time in UTC.

    Raises:
        ValueError: Not an ISO-8601 timestamp.
    """
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc)


def _strings(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _get(d, key, list, default=[], nullable=True) or []
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"{key!r} must be a list of strings")
    return tuple(utf8_text(item) for item in items)


def v1_id(d: Mapping[str, Any]) -> str:
    """The id a record without one (a version 1 line) is given: a UUID of its content.

    Args:
        d: The parsed line.

    Returns:
        A UUID (hex), the same every time the same line is read.
    """
    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha1(canonical.encode("utf-8"), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5).hex


def record_from_dict(d: Mapping[str, Any]) -> UsageRecord:
    r"""Rebuild a record from its ledger form.

    Unknown keys are ignored (a later schema may add columns); missing optional keys take the
    record's defaults. A naive ``ts`` is taken as UTC. A lone surrogate in a string (a JSON
    ``\udcff`` escape) is escaped as the writer does, so every record can be exported as UTF-8.

    Args:
        d: One parsed ledger line.

    Returns:
        The record.

    Raises:
        ValueError: A required key is missing or a value has the wrong type.
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    v = _get(d, "v", int, default=1)
    if v < 1:
        raise ValueError(f"unknown schema version {v!r}")
    prompt = _get(d, "prompt", int)
    completion = _get(d, "completion", int)
    cost = _get(d, "cost", (int, float))
    if not math.isfinite(cost):
        raise ValueError("'cost' must be a finite number")
    tags = _get(d, "tags", dict, default={}, nullable=True) or {}
    record_id = _get(d, "id", str, default=None, nullable=True)
    latency = _get(d, "latency_s", (int, float), default=None, nullable=True)
    return UsageRecord(
        ts=parse_ts(_get(d, "ts", str)),
        session_id=utf8_text(_get(d, "session_id", str)),
        provider=utf8_text(_get(d, "provider", str)),
        model=utf8_text(_get(d, "model", str)),
        prompt=prompt,
        completion=completion,
        total=_get(d, "total", int, default=prompt + completion),
        cost=float(cost),
        model_answered=opt_text(_get(d, "model_answered", str, default=None, nullable=True)),
        request_id=opt_text(_get(d, "request_id", str, default=None, nullable=True)),
        cache_read=_get(d, "cache_read", int, default=0),
        cache_write=_get(d, "cache_write", int, default=0),
        reasoning=_get(d, "reasoning", int, default=0),
        pricing_as_of=_get(d, "pricing_as_of", str, default=None, nullable=True),
        priced=_get(d, "priced", bool, default=True),
        complete=_get(d, "complete", bool, default=True),
        estimated=_get(d, "estimated", bool, default=False),
        tags={utf8_text(str(k)): utf8_text(str(val)) for k, val in tags.items()},
        v=v,
        id=utf8_text(record_id) if record_id else v1_id(d),
        latency_s=float(latency) if latency is not None else None,
        tool_calls=_strings(d, "tool_calls"),
        warnings=_strings(d, "warnings"),
    )


def encode_record(record: UsageRecord) -> bytes:
    """One ledger line (the record's strings are already UTF-8-safe, see :func:`utf8_text`).

    Args:
        record: The record.

    Returns:
        The JSON object and its newline, as UTF-8.
    """
    line = json.dumps(record_to_dict(record), ensure_ascii=False, separators=(",", ":"))
    return (line + "\n").encode("utf-8")
