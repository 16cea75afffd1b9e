"""Check a request body against an SDK's TypedDict request params, refusing undeclared keys.

pydantic validates TypedDicts but ignores extra keys (and a TypedDict cannot take ``extra=forbid``
from a TypeAdapter), so this walks the type hints itself: every key of every object must be
declared by the TypedDict that types it, through unions, lists and ``Required``/``Annotated``.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any

import typing_extensions
from pydantic import TypeAdapter

_WRAPPERS = {typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.Annotated}
_WRAPPERS |= {typing.Required, typing.NotRequired, typing.Annotated}  # type: ignore[attr-defined]


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) in _WRAPPERS:
        tp = typing.get_args(tp)[0]
    return tp


def _is_typeddict(tp: Any) -> bool:
    return typing_extensions.is_typeddict(tp)


def _matches(value: dict[str, Any], tp: Any) -> bool:
    """Whether a TypedDict member of a union is the one a value is (its literal tags agree)."""
    hints = typing_extensions.get_type_hints(tp, include_extras=True)
    for key, hint in hints.items():
        inner = _unwrap(hint)
        if typing.get_origin(inner) is typing.Literal and key in value:
            if value[key] not in typing.get_args(inner):
                return False
    required = getattr(tp, "__required_keys__", frozenset())
    return all(key in value for key in required)


def _applies(value: Any, tp: Any) -> bool:
    """Whether a union member can be the type of a value (by JSON kind, then literal tags)."""
    origin = typing.get_origin(tp) or tp
    if origin in (typing.Union, types.UnionType):
        return any(_applies(value, _unwrap(member)) for member in typing.get_args(tp))
    if isinstance(value, dict):
        if _is_typeddict(tp):
            return _matches(value, tp)
        return origin in (dict, collections.abc.Mapping)
    if isinstance(value, list):
        return origin in _ITERABLES
    return True


_ITERABLES = (list, collections.abc.Iterable, collections.abc.Sequence)


def undeclared(value: Any, tp: Any, path: str = "") -> list[str]:
    """Paths of keys in ``value`` that the type ``tp`` does not declare.

    Args:
        value: A decoded JSON value.
        tp: Its SDK type (a TypedDict, a union of them, a list of them, …).
        path: Where the value sits.

    Returns:
        The undeclared keys' paths (empty when every key is declared).
    """
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in map(_unwrap, typing.get_args(tp)) if _applies(value, m)]
        found = [undeclared(value, member, path) for member in members]
        return min(found, key=len) if found else []
    if _is_typeddict(tp) and isinstance(value, dict):
        hints = typing_extensions.get_type_hints(tp, include_extras=True)
        problems = [f"{path}.{key}".lstrip(".") for key in value if key not in hints]
        for key, item in value.items():
            if key in hints:
                problems += undeclared(item, hints[key], f"{path}.{key}".lstrip("."))
        return problems
    if origin in _ITERABLES and isinstance(value, list):
        (item_type,) = typing.get_args(tp) or (Any,)
        return [
            p for i, item in enumerate(value) for p in undeclared(item, item_type, f"{path}[{i}]")
        ]
    return []


def _required(tp: Any) -> list[str]:
    """A TypedDict's keys marked ``Required[...]`` (the SDKs mark every required key so).

    (``__required_keys__`` cannot be trusted for the SDK's TypedDicts, whose annotations are
    strings under ``from __future__ import annotations``.)
    """
    hints = typing_extensions.get_type_hints(tp, include_extras=True)
    marks = (typing_extensions.Required, typing.Required)  # type: ignore[attr-defined]
    return sorted(key for key, hint in hints.items() if typing.get_origin(hint) in marks)


def missing(value: Any, tp: Any, path: str = "") -> list[str]:
    """Paths of required keys absent from ``value``, through lists pydantic checks only lazily.

    pydantic validates ``Iterable[...]`` fields as lazy generators, so a tool definition or an
    assistant tool call inside one is never checked for its required keys; this walk does.

    Args:
        value: A decoded JSON value.
        tp: Its SDK type.
        path: Where the value sits.

    Returns:
        The missing keys' paths (empty when every required key is there).
    """
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in map(_unwrap, typing.get_args(tp)) if _applies(value, m)]
        if not members and isinstance(value, dict):
            return [path or "."]
        members = [m for m in members if not _is_typeddict(m) or set(_required(m)) <= set(value)]
        if not members:
            return [path or "."]
        found = [missing(value, member, path) for member in members]
        return min(found, key=len) if found else []
    if _is_typeddict(tp) and isinstance(value, dict):
        hints = typing_extensions.get_type_hints(tp, include_extras=True)
        problems = [f"{path}.{key}".lstrip(".") for key in _required(tp) if key not in value]
        for key, item in value.items():
            if key in hints:
                problems += missing(item, hints[key], f"{path}.{key}".lstrip("."))
        return problems
    if origin in _ITERABLES and isinstance(value, list):
        (item_type,) = typing.get_args(tp) or (Any,)
        return [p for i, item in enumerate(value) for p in missing(item, item_type, f"{path}[{i}]")]
    return []


def check_body(body: dict[str, Any], tp: Any) -> None:
    """Assert that an SDK's request type accepts a body: types validate, no key is undeclared.

    Args:
        body: The request body.
        tp: The SDK's TypedDict for that request.
    """
    TypeAdapter(tp).validate_python(body)
    assert [] == undeclared(body, tp)
