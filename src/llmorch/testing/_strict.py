"""Request-body schemas and the validator the dialects refuse bad requests with.

Each dialect writes its vendor's request schema with these few node types (from the vendor's
API reference and the field sets of its official SDK's request types) and turns the first
:class:`Problem` found into the vendor's own 400 wording. Nothing here knows any vendor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

__all__ = [
    "ANY",
    "Arr",
    "Either",
    "Obj",
    "Path",
    "Problem",
    "Scalar",
    "Spec",
    "Tagged",
    "json_kind",
    "validate",
]

ScalarKind = Literal["string", "integer", "number", "boolean"]
Path = tuple[Union[str, int], ...]  # noqa: UP007 - a runtime alias on Python 3.10


@dataclass(frozen=True)
class Scalar:
    """A JSON string, integer, number or boolean, with an optional range or set of values.

    Attributes:
        kind: The JSON kind.
        minimum: The smallest value allowed (inclusive).
        maximum: The largest value allowed (inclusive).
        choices: The only values allowed (enums).
        proto: The protobuf type name Google's errors quote (``TYPE_FLOAT``, an enum's name).
    """

    kind: ScalarKind
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    proto: str = ""


@dataclass(frozen=True)
class Obj:
    """A JSON object with declared fields; any other key is unknown.

    Attributes:
        fields: Field name to schema.
        required: Fields that must be present (and not null).
        proto: The message type Google's errors quote.
    """

    fields: Mapping[str, Spec]
    required: frozenset[str] = frozenset()
    proto: str = ""


@dataclass(frozen=True)
class Arr:
    """A JSON array whose items all follow one schema.

    Attributes:
        items: The items' schema.
        min_items: The fewest items allowed.
    """

    items: Spec
    min_items: int = 0


@dataclass(frozen=True)
class Tagged:
    """An object whose variant a tag field names (content blocks by ``type``, messages by role).

    Attributes:
        tag: The tag field.
        variants: Tag value to the variant's schema (which declares the tag field too).
    """

    tag: str
    variants: Mapping[str, Obj]


@dataclass(frozen=True)
class Either:
    """One of several schemas, chosen by the value's JSON kind (e.g. a string or a list of parts).

    Attributes:
        options: The schemas, the first one being what a wrong kind is reported against.
    """

    options: tuple[Spec, ...]


@dataclass(frozen=True)
class _Anything:
    """Declared but not inspected (free-form objects, JSON schemas, features not emulated)."""


ANY = _Anything()
"""A declared field whose value is not checked further."""

Spec = Union[Scalar, Obj, Arr, Tagged, Either, _Anything]  # noqa: UP007 - a runtime alias


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a request body.

    Attributes:
        kind: ``unknown`` (undeclared field), ``type`` (wrong JSON kind), ``missing`` (a required
            field absent), ``range`` (a number out of range), ``choice`` (a value outside an
            enum), ``tag`` (an unknown or missing variant tag) or ``short`` (too few items).
        path: Where, from the body's root (field names and list indexes).
        spec: The schema the value broke.
        value: The offending value (``None`` for ``missing``).
        expected: For ``type``: the JSON kind expected.
    """

    kind: Literal["unknown", "type", "missing", "range", "choice", "tag", "short"]
    path: Path
    spec: Spec | None = field(default=None, repr=False)
    value: Any = None
    expected: str = ""


def json_kind(value: Any) -> str:
    """The JSON kind of a decoded value: object, array, string, integer, number, boolean, null.

    Args:
        value: A value decoded from JSON.

    Returns:
        The kind's name.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _expected(spec: Spec) -> str:
    if isinstance(spec, Scalar):
        return spec.kind
    if isinstance(spec, Arr):
        return "array"
    if isinstance(spec, Either):
        return _expected(spec.options[0])
    return "object"


def _number(value: Any, kind: ScalarKind, numeric_strings: bool) -> float | None:
    """The value as a number if it is one of ``kind`` (integers may be written ``2.0``)."""
    if isinstance(value, str) and numeric_strings:
        try:
            value = float(value) if kind == "number" else int(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if kind == "integer" and isinstance(value, float) and not value.is_integer():
        return None
    return float(value)


def _scalar(value: Any, spec: Scalar, path: Path, numeric_strings: bool) -> Problem | None:
    if spec.kind in ("integer", "number"):
        number = _number(value, spec.kind, numeric_strings)
        if number is None:
            return Problem("type", path, spec, value, spec.kind)
        too_low = spec.minimum is not None and number < spec.minimum
        too_high = spec.maximum is not None and number > spec.maximum
        return Problem("range", path, spec, value) if too_low or too_high else None
    if spec.kind == "boolean" and not isinstance(value, bool):
        return Problem("type", path, spec, value, "boolean")
    if spec.kind == "string" and not isinstance(value, str):
        return Problem("type", path, spec, value, "string")
    if spec.choices is not None and value not in spec.choices:
        return Problem("choice", path, spec, value)
    return None


def _object(value: dict[str, Any], spec: Obj, path: Path, numeric_strings: bool) -> Problem | None:
    for key in value:
        if key not in spec.fields:
            return Problem("unknown", (*path, key), spec, value[key])
    for key, item in value.items():
        if item is None and key not in spec.required:
            continue  # an explicit null is the default
        problem = validate(item, spec.fields[key], (*path, key), numeric_strings=numeric_strings)
        if problem is not None:
            return problem
    for key in spec.fields:
        if key in spec.required and value.get(key) is None:
            return Problem("missing", (*path, key), spec.fields[key])
    return None


def validate(
    value: Any, spec: Spec, path: Path = (), *, numeric_strings: bool = False
) -> Problem | None:
    """Check a decoded JSON value against a schema.

    Args:
        value: The value.
        spec: Its schema.
        path: Where the value sits (for the problem's path).
        numeric_strings: Accept numbers written as strings (protobuf JSON and pydantic do).

    Returns:
        The first problem, depth first in the body's order, or ``None``.
    """
    if isinstance(spec, _Anything):
        return None
    if isinstance(spec, Scalar):
        return _scalar(value, spec, path, numeric_strings)
    if isinstance(spec, Either):
        kind = json_kind(value)
        for option in spec.options:
            want = _expected(option)
            if want == kind or (want == "number" and kind == "integer"):
                return validate(value, option, path, numeric_strings=numeric_strings)
        return validate(value, spec.options[0], path, numeric_strings=numeric_strings)
    if isinstance(spec, Arr):
        if not isinstance(value, list):
            return Problem("type", path, spec, value, "array")
        if len(value) < spec.min_items:
            return Problem("short", path, spec, value)
        for i, item in enumerate(value):
            problem = validate(item, spec.items, (*path, i), numeric_strings=numeric_strings)
            if problem is not None:
                return problem
        return None
    if not isinstance(value, dict):
        return Problem("type", path, spec, value, "object")
    if isinstance(spec, Tagged):
        tag = value.get(spec.tag)
        variant = spec.variants.get(tag) if isinstance(tag, str) else None
        if variant is None:
            return Problem("tag", (*path, spec.tag), spec, value.get(spec.tag))
        return _object(value, variant, path, numeric_strings)
    return _object(value, spec, path, numeric_strings)
