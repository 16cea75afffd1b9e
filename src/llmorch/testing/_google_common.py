"""What the Gemini and Vertex rule modules share: field lookup, model versions, refusals."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Refusal", "gemini_version", "is_gemini3", "pick", "refusal", "snake"]

Refusal = tuple[str, list[dict[str, Any]]]
"""A 400's ``(message, google.rpc details)``."""

_SNAKE = re.compile(r"(?<!^)([A-Z])")
_VERSION = re.compile(r"gemini-(\d+)(?:\.(\d+))?")


def snake(name: str) -> str:
    """A lowerCamelCase JSON name as its proto (snake_case) name.

    Args:
        name: The JSON name.

    Returns:
        The proto name.
    """
    return _SNAKE.sub(r"_\1", name).lower()


def pick(value: Any, *path: str) -> Any:
    """A field by its JSON names, each taken in either spelling Google accepts.

    Args:
        value: A decoded JSON value.
        *path: lowerCamelCase field names, outermost first.

    Returns:
        The value found, or ``None`` when a step is missing or not an object.
    """
    for name in path:
        if not isinstance(value, dict):
            return None
        found = value.get(name)
        value = value.get(snake(name)) if found is None else found
    return value


def gemini_version(model: str) -> tuple[int, int] | None:
    """A Gemini model id's version (``gemini-3.5-flash`` → ``(3, 5)``), if it names one.

    Args:
        model: The model id.

    Returns:
        ``(major, minor)`` or ``None``.
    """
    match = _VERSION.search(model)
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


def is_gemini3(model: str) -> bool:
    """Whether a model is Gemini 3 or later (thought signatures required, call ids returned).

    Args:
        model: The model id.

    Returns:
        True for Gemini 3+.
    """
    version = gemini_version(model)
    return version is not None and version >= (3, 0)


def refusal(message: str, field: str | None = None) -> Refusal:
    """A 400's message, with a ``google.rpc.BadRequest`` field violation when a field is named.

    Args:
        message: Google's wording.
        field: The proto path of the offending field, if the API names one.

    Returns:
        ``(message, details)``.
    """
    if field is None:
        return message, []
    violation = {"field": field, "description": message}
    return message, [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    ]
