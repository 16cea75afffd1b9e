"""Tools: their definitions, the calls a model makes, and the choice between them (SPEC §2.9)."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from llmorch.exceptions import InvalidRequestError
from llmorch.parts import CacheControl, parse_cache_control

__all__ = [
    "Tool",
    "ToolCall",
    "ToolChoice",
    "generated_id",
    "is_generated_id",
    "parse_arguments",
    "validate_tool_choice",
    "validate_tools",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RESERVED = frozenset({"auto", "none", "required"})
_GENERATED = re.compile(
    r"^call_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
_EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


def generated_id() -> str:
    """A tool call id for a vendor that sent none: ``call_<uuid4>``.

    Returns:
        A new id, unique across any history.
    """
    return f"call_{uuid.uuid4()}"


def is_generated_id(call_id: str) -> bool:
    """Whether an id is one llmorch generated (and so is never sent to a vendor).

    Args:
        call_id: A tool call id.

    Returns:
        True for ids made by :func:`generated_id`.
    """
    return _GENERATED.match(call_id) is not None


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool the model asked for.

    Attributes:
        id: The vendor's call id, or a generated ``call_<uuid4>`` when it sent none.
        name: The tool's name.
        arguments: The parsed arguments (``{}`` when they were not a JSON object).
        arguments_json: The arguments exactly as the vendor sent them.
        error: Why ``arguments`` could not be parsed (``None`` when they could).
    """

    id: str
    name: str
    arguments: dict[str, Any]
    arguments_json: str
    error: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The call in OpenAI's ``tool_calls`` shape, as messages carry it.

        Returns:
            ``{"id", "type": "function", "function": {"name", "arguments"}}``.
        """
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


def parse_arguments(call_id: str, name: str, arguments_json: str) -> ToolCall:
    """Build a :class:`ToolCall` from the arguments' JSON text, keeping malformed text raw.

    Args:
        call_id: The call id.
        name: The tool name.
        arguments_json: The JSON text the vendor sent (``""`` means no arguments).

    Returns:
        The call; ``error`` is set when the text is not a JSON object.
    """
    if not arguments_json.strip():
        return ToolCall(call_id, name, {}, arguments_json)
    try:
        value = json.loads(arguments_json)
    except ValueError as exc:
        return ToolCall(call_id, name, {}, arguments_json, f"arguments are not valid JSON: {exc}")
    if not isinstance(value, dict):
        kind = type(value).__name__
        return ToolCall(call_id, name, {}, arguments_json, f"arguments are a {kind}, not an object")
    return ToolCall(call_id, name, value, arguments_json)


@dataclass(frozen=True)
class Tool:
    """A tool the model may call.

    Attributes:
        name: ``[A-Za-z0-9_-]{1,64}``; not ``auto``, ``none`` or ``required``.
        description: What the tool does (the model reads it).
        parameters: The JSON schema of its arguments (an object schema).
        strict: OpenAI's strict mode (``None`` leaves the vendor default).
        function: The Python callable :meth:`~llmorch.AsyncLLMOrchestrator.run_tools` calls.
        cache: A prompt-cache breakpoint after the tool definitions up to this one (a tool
            dict's ``cache_control``), where the vendor takes one.
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: dict(_EMPTY_SCHEMA))
    strict: bool | None = None
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    cache: CacheControl | None = None

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
    ) -> Tool:
        """A tool from a function: the schema from its signature, the text from its docstring.

        Parameter descriptions come from a Google-style ``Args:`` section.

        Args:
            fn: A sync or async function with type-annotated parameters.
            name: The tool name (the function's name by default).
            description: The description (the docstring's summary by default).
            strict: OpenAI's strict mode.

        Returns:
            The tool, with ``function=fn``.

        Raises:
            InvalidRequestError: The signature cannot be described as a JSON schema.
        """
        from pydantic import TypeAdapter

        try:
            schema = TypeAdapter(fn).json_schema()  # type: ignore[arg-type]
        except Exception as exc:  # pydantic's errors for unsupported annotations vary
            raise InvalidRequestError(
                f"tool {getattr(fn, '__name__', fn)!r}: cannot build a schema from its "
                f"signature: {exc}"
            ) from exc
        summary, params = _docstring(inspect.getdoc(fn) or "")
        properties = schema.get("properties") or {}
        for key, text in params.items():
            if key in properties and "description" not in properties[key]:
                properties[key]["description"] = text
        _drop_titles(schema)
        schema.setdefault("properties", {})
        return cls(
            name=name or fn.__name__,
            description=description if description is not None else summary,
            parameters=schema,
            strict=strict,
            function=fn,
        )

    @classmethod
    def from_model(cls, model: type[Any], *, name: str | None = None) -> Tool:
        """A tool whose arguments are a pydantic model.

        Args:
            model: A ``pydantic.BaseModel`` subclass.
            name: The tool name (the class name by default).

        Returns:
            The tool (its description is the class docstring).
        """
        schema = dict(model.model_json_schema())
        _drop_titles(schema)
        description = schema.pop("description", "") or ""
        return cls(name=name or model.__name__, description=description, parameters=schema)

    def to_openai(self) -> dict[str, Any]:
        """The tool in OpenAI's ``tools`` shape.

        Returns:
            ``{"type": "function", "function": {"name", "description"?, "parameters", "strict"?}}``.
        """
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = dict(self.parameters)
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}


def _drop_titles(schema: dict[str, Any]) -> None:
    """Remove pydantic's generated ``title`` keys (noise to a model) from a schema's top."""
    schema.pop("title", None)
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)


def _docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary paragraph and the ``Args:`` descriptions of a Google-style docstring."""
    summary = doc.split("\n\n", 1)[0].strip()
    params: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:"))
    except StopIteration:
        return summary, params
    current: str | None = None
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break  # the next section
        match = re.match(r"^\s{2,}(\*{0,2}\w+)\s*(?:\([^)]*\))?:\s*(.*)$", line)
        if match and not line.startswith(" " * 8):
            current = match.group(1).lstrip("*")
            params[current] = match.group(2).strip()
        elif current and line.strip():
            params[current] = f"{params[current]} {line.strip()}".strip()
    return summary, params


def _is_pydantic_model(value: object) -> bool:
    return isinstance(value, type) and hasattr(value, "model_json_schema")


def _from_dict(value: Mapping[str, Any], where: str) -> Tool:
    if value.get("type") != "function" or not isinstance(value.get("function"), Mapping):
        raise InvalidRequestError(
            f"{where}: a tool dict must be {{'type': 'function', 'function': {{...}}}}"
        )
    function = value["function"]
    extra = set(value) - {"type", "function", "cache_control"}
    if extra:
        raise InvalidRequestError(f"{where} has unexpected keys: {sorted(extra)}")
    cache = None
    if "cache_control" in value:
        cache = parse_cache_control(value["cache_control"], f"{where}.cache_control")
    unknown = set(function) - {"name", "description", "parameters", "strict"}
    if unknown:
        raise InvalidRequestError(f"{where}.function has unexpected keys: {sorted(unknown)}")
    name = function.get("name")
    if not isinstance(name, str):
        raise InvalidRequestError(f"{where}.function.name must be a str")
    description = function.get("description", "")
    if not isinstance(description, str):
        raise InvalidRequestError(f"{where}.function.description must be a str")
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequestError(f"{where}.function.strict must be a bool")
    parameters = function.get("parameters", _EMPTY_SCHEMA)
    return Tool(name, description, parameters, strict, cache=cache)


def _check_tool(tool: Tool, where: str) -> Tool:
    if not isinstance(tool.name, str) or not _NAME.match(tool.name):
        raise InvalidRequestError(
            f"{where}.name: {tool.name!r} is not a valid tool name (1 to 64 of A-Z a-z 0-9 _ -)"
        )
    if tool.name in _RESERVED:
        raise InvalidRequestError(
            f"{where}.name: {tool.name!r} is reserved (it would collide with tool_choice)"
        )
    schema = tool.parameters
    if not isinstance(schema, Mapping):
        raise InvalidRequestError(
            f"{where}.parameters: the schema must be a JSON object (a dict), "
            f"got {type(schema).__name__}"
        )
    if schema.get("type", "object") != "object":
        raise InvalidRequestError(
            f"{where}.parameters: the schema must describe an object "
            f"(type 'object'), got type {schema.get('type')!r}"
        )
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"{where}.parameters: not JSON-serialisable: {exc}") from exc
    return tool


def validate_tools(tools: object) -> tuple[Tool, ...]:
    """Normalise ``tools=``: OpenAI dicts, :class:`Tool`, pydantic model classes or functions.

    Args:
        tools: What the caller passed.

    Returns:
        The tools, each checked.

    Raises:
        InvalidRequestError: Not a list, an entry of an unknown kind, an invalid or reserved
            name, a duplicate name, or a schema that is not a JSON object schema.
    """
    if tools is None:
        return ()
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise InvalidRequestError(f"tools must be a list, got {type(tools).__name__}")
    out: list[Tool] = []
    seen: set[str] = set()
    for i, item in enumerate(tools):
        where = f"tools[{i}]"
        if isinstance(item, Tool):
            tool = item
        elif isinstance(item, Mapping):
            tool = _from_dict(item, where)
        elif _is_pydantic_model(item):
            tool = Tool.from_model(item)
        elif callable(item):
            tool = Tool.from_function(item)
        else:
            raise InvalidRequestError(
                f"{where}: expected a tool dict, an llmorch.Tool, a pydantic model class or a "
                f"function, got {type(item).__name__}"
            )
        _check_tool(tool, where)
        if tool.name in seen:
            raise InvalidRequestError(f"{where}.name: duplicate tool name {tool.name!r}")
        seen.add(tool.name)
        out.append(tool)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Whether and which tool the model must call.

    Attributes:
        kind: ``auto`` (the model decides), ``none`` (no tool), ``required`` (some tool) or
            ``tool`` (the one named).
        name: The tool, for ``kind == "tool"``.
    """

    kind: Literal["auto", "none", "required", "tool"]
    name: str | None = None

    @property
    def forced(self) -> bool:
        """True when the model must call a tool (``required`` or a named tool)."""
        return self.kind in ("required", "tool")


def validate_tool_choice(choice: object, tools: Sequence[Tool]) -> ToolChoice | None:
    """Normalise ``tool_choice=``: ``auto``/``none``/``required``, a tool name or OpenAI's dict.

    Args:
        choice: What the caller passed.
        tools: The call's validated tools.

    Returns:
        The choice, or ``None`` when not given.

    Raises:
        InvalidRequestError: Given without tools, or naming a tool that is not defined.
    """
    if choice is None:
        return None
    if not tools:
        raise InvalidRequestError("tool_choice is set but tools= is empty: pass the tools too")
    name: object
    if isinstance(choice, str):
        if choice in _RESERVED:
            return ToolChoice(choice)  # type: ignore[arg-type]
        name = choice
    elif isinstance(choice, Mapping):
        function = choice.get("function")
        if choice.get("type") != "function" or not isinstance(function, Mapping):
            raise InvalidRequestError(
                "tool_choice must be 'auto', 'none', 'required', a tool name or "
                "{'type': 'function', 'function': {'name': ...}}"
            )
        name = function.get("name")
    else:
        raise InvalidRequestError(
            f"tool_choice must be a str or a dict, got {type(choice).__name__}"
        )
    names = [tool.name for tool in tools]
    if name not in names:
        raise InvalidRequestError(f"tool_choice names {name!r}, which is not in tools ({names})")
    return ToolChoice("tool", str(name))
