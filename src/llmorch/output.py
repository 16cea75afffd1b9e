"""Structured output (SPEC §2.9): ``response_format=``, how each model gets it, and ``parsed``.

A call's ``response_format`` is checked once (:func:`validate_response_format`). Per attempt,
:func:`plan_output` decides how that model gets it: the vendor's native mechanism, its JSON mode,
or, where the capability table says a model has no native mechanism, a forced tool that carries
the schema. A root a vendor cannot take (OpenAI strict mode and tools need an object) travels
wrapped as ``{"value": ...}`` and is unwrapped here. :func:`parse_output` turns the answer's text
into ``response.parsed`` or raises :class:`~llmorch.exceptions.OutputValidationError`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from llmorch._schema import is_object_schema, wrap_root
from llmorch.capabilities import capabilities
from llmorch.exceptions import InvalidRequestError, OutputValidationError
from llmorch.messages import ChatMessage
from llmorch.parts import TextPart
from llmorch.tools import Tool, ToolChoice
from llmorch.types import LLMResponse, StreamEvent

__all__ = [
    "JSON_INSTRUCTION",
    "TOOL_NAME",
    "OutputPlan",
    "ResponseFormat",
    "parse_answer",
    "parse_output",
    "plan_output",
    "retry_messages",
    "tool_answer",
    "tool_events_as_text",
    "validate_output_retries",
    "validate_response_format",
    "with_output_tool",
]

TOOL_NAME = "structured_output"
"""The name of the forced tool that carries the schema to a model without native support."""

JSON_INSTRUCTION = (
    "Answer with a single JSON object and nothing else: no text before or after it, no code fences."
)
"""The system text of ``response_format={"type": "json_object"}`` where the vendor has no JSON
mode (Anthropic, Bedrock) or wants the word "json" in the messages (OpenAI)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_SCHEMA_KEYS = frozenset(
    {"type", "properties", "items", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"}
)
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*)\n\s*```\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """A call's ``response_format``, checked.

    Attributes:
        kind: ``json_schema`` (answer in this schema) or ``json_object`` (any JSON object).
        name: The schema's name (``[A-Za-z0-9_-]{1,64}``).
        schema: The JSON Schema as the caller gave it (``$defs`` intact), for ``json_schema``.
        strict: OpenAI's ``strict`` flag, when given.
        description: What the answer is, when given.
        python_type: The pydantic model class (or other type) the answer is validated into;
            ``None`` for a schema dict.
    """

    kind: Literal["json_schema", "json_object"]
    name: str = "response"
    schema: Mapping[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None
    python_type: Any = None


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """How one model gets the format (``ChatRequest.output``; codecs read it).

    Attributes:
        mode: ``native`` (the vendor's schema mechanism), ``json_object`` (its JSON mode) or
            ``tool`` (a forced tool, handled before and after the codec: a codec sends nothing
            for it).
        name: The schema's name.
        schema: The schema to send: wrapped when ``wrapped``; ``$defs`` intact.
        strict: OpenAI's ``strict`` flag, when given.
        description: What the answer is, when given.
        wrapped: The value travels as ``{"value": <root>}``.
    """

    mode: Literal["native", "json_object", "tool"]
    name: str
    schema: dict[str, Any] | None
    strict: bool | None
    description: str | None
    wrapped: bool


def _check_schema(schema: object, where: str) -> None:
    if not isinstance(schema, Mapping):
        raise InvalidRequestError(f"{where}: must be a JSON Schema (a dict)")
    if not (schema.keys() & _SCHEMA_KEYS):
        raise InvalidRequestError(
            f"{where}: not a JSON Schema (no 'type', 'properties', 'items', '$ref', 'anyOf', "
            "'enum' or 'const')"
        )
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for one in kinds:
        if one not in _TYPES:
            raise InvalidRequestError(f"{where}.type: {one!r} is not a JSON Schema type")
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, Mapping):
            raise InvalidRequestError(f"{where}.properties: must be a dict of schemas")
        for name, sub in properties.items():
            if isinstance(sub, Mapping) and not sub:
                continue  # {} is the schema that accepts anything
            _check_schema(sub, f"{where}.properties.{name}")
    required = schema.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise InvalidRequestError(f"{where}.required: must be a list of property names")
    items = schema.get("items")
    if isinstance(items, Mapping) and items:
        _check_schema(items, f"{where}.items")
    elif items is not None and not isinstance(items, (Mapping, bool)):
        raise InvalidRequestError(f"{where}.items: must be a schema")
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if options is not None:
            if not isinstance(options, list) or not options:
                raise InvalidRequestError(f"{where}.{key}: must be a non-empty list of schemas")
            for i, sub in enumerate(options):
                _check_schema(sub, f"{where}.{key}[{i}]")
    for key in ("$defs", "definitions"):
        defs = schema.get(key)
        if defs is not None:
            if not isinstance(defs, Mapping):
                raise InvalidRequestError(f"{where}.{key}: must be a dict of schemas")
            for name, sub in defs.items():
                _check_schema(sub, f"{where}.{key}.{name}")


@functools.lru_cache(maxsize=256)
def _from_type(python_type: Any) -> ResponseFormat:
    from pydantic import BaseModel, TypeAdapter

    try:
        if isinstance(python_type, type) and issubclass(python_type, BaseModel):
            schema = python_type.model_json_schema()
        else:
            schema = TypeAdapter(python_type).json_schema()
    except Exception as exc:  # pydantic's errors for types it cannot describe vary
        raise InvalidRequestError(
            f"response_format: cannot build a JSON Schema from {python_type!r}: {exc}"
        ) from exc
    raw_name = getattr(python_type, "__name__", "") or "response"
    name = re.sub(r"[^A-Za-z0-9_-]", "_", raw_name)[:64] or "response"
    description = schema.pop("description", None)
    return ResponseFormat("json_schema", name, schema, None, description, python_type)


def validate_response_format(value: object) -> ResponseFormat | None:
    """Check ``response_format=`` before any network call.

    Args:
        value: A pydantic model class (or any type pydantic's ``TypeAdapter`` describes, such
            as ``list[Item]``), ``{"type": "json_schema", "json_schema": {"name", "schema",
            "strict"?, "description"?}}`` or ``{"type": "json_object"}``.

    Returns:
        The format, or ``None`` when not given.

    Raises:
        InvalidRequestError: Any other value, or a schema that is not a JSON Schema (naming
            the path, e.g. ``response_format.json_schema.schema.properties.age.type``).
    """
    if value is None or isinstance(value, ResponseFormat):
        return value
    if not isinstance(value, Mapping):
        if isinstance(value, (str, bytes, int, float, list, tuple)):
            raise InvalidRequestError(
                "response_format must be a pydantic model class, {'type': 'json_schema', ...} or "
                f"{{'type': 'json_object'}}, got {value!r}"
            )
        try:
            return _from_type(value)
        except TypeError as exc:  # an unhashable type object
            raise InvalidRequestError(f"response_format: unsupported value {value!r}") from exc
    kind = value.get("type")
    if kind == "json_object":
        if set(value) != {"type"}:
            raise InvalidRequestError(
                f"response_format has unexpected keys: {sorted(set(value) - {'type'})}"
            )
        return ResponseFormat("json_object")
    if kind == "text":
        raise InvalidRequestError(
            "response_format: {'type': 'text'} is the default; leave response_format out"
        )
    if kind != "json_schema":
        raise InvalidRequestError(
            f"response_format.type: must be 'json_schema' or 'json_object', got {kind!r}"
        )
    extra = set(value) - {"type", "json_schema"}
    if extra:
        raise InvalidRequestError(f"response_format has unexpected keys: {sorted(extra)}")
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise InvalidRequestError(
            "response_format.json_schema: must be {'name', 'schema', 'strict'?, 'description'?}"
        )
    extra = set(spec) - {"name", "schema", "strict", "description"}
    if extra:
        raise InvalidRequestError(
            f"response_format.json_schema has unexpected keys: {sorted(extra)}"
        )
    name = spec.get("name", "response")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequestError(
            f"response_format.json_schema.name: must match [A-Za-z0-9_-]{{1,64}}, got {name!r}"
        )
    strict, description = spec.get("strict"), spec.get("description")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequestError("response_format.json_schema.strict: must be a bool")
    if description is not None and not isinstance(description, str):
        raise InvalidRequestError("response_format.json_schema.description: must be a str")
    if "schema" not in spec:
        raise InvalidRequestError("response_format.json_schema.schema: missing")
    schema = spec["schema"]
    _check_schema(schema, "response_format.json_schema.schema")
    return ResponseFormat("json_schema", name, dict(schema), strict, description)


def plan_output(fmt: ResponseFormat, provider_type: str, model: str) -> OutputPlan:
    """Decide how one model gets a format.

    Args:
        fmt: The call's format.
        provider_type: The provider type of the attempt.
        model: The model of the attempt.

    Returns:
        The plan (``tool`` where the table says the model has no native mechanism).
    """
    caps = capabilities(provider_type, model)
    if fmt.kind == "json_object":
        if caps.structured_output == "tool":
            schema = {"type": "object", "additionalProperties": True}
            return OutputPlan("tool", fmt.name, schema, None, fmt.description, False)
        return OutputPlan("json_object", fmt.name, None, None, fmt.description, False)
    schema = dict(fmt.schema or {})
    mode: Literal["native", "tool"] = "tool" if caps.structured_output == "tool" else "native"
    wrap = not is_object_schema(schema) and (mode == "tool" or caps.json_schema_root == "object")
    if wrap:
        schema = wrap_root(schema)
    return OutputPlan(mode, fmt.name, schema, fmt.strict, fmt.description, wrap)


def with_output_tool(plan: OutputPlan, tools: tuple[Tool, ...], choice: ToolChoice | None, *,
                     forced_ok: bool) -> tuple[tuple[Tool, ...], ToolChoice | None]:  # fmt: skip
    """The tools and tool choice of a request whose format travels as a forced tool.

    Args:
        plan: A plan of mode ``tool``.
        tools: The call's own tools.
        choice: The call's own tool choice.
        forced_ok: False when the model refuses a forced choice (reasoning on): the choice
            is then ``auto`` (the tool's description asks for it).

    Returns:
        The tools with the output tool appended, and the choice.
    """
    description = plan.description or "Give the final answer in this schema."
    tool = Tool(TOOL_NAME, description, plan.schema or {"type": "object"})
    if tools:  # the call's own tools keep their choice; the model may answer through either
        return (*tools, tool), choice
    return (tool,), ToolChoice("tool", TOOL_NAME) if forced_ok else ToolChoice("auto")


def tool_answer(response: LLMResponse[Any]) -> None:
    """Move the output tool's call into the answer's text (mode ``tool``).

    Args:
        response: The answer (changed in place): its call of the output tool becomes
            ``content``; the finish reason becomes ``stop`` when no other call is left.
    """
    ours = [call for call in response.tool_calls if call.name == TOOL_NAME]
    if not ours:
        return
    response.content = ours[0].arguments_json
    response.tool_calls = [call for call in response.tool_calls if call.name != TOOL_NAME]
    if not response.tool_calls and response.finish_reason == "tool_calls":
        response.finish_reason = "stop"


async def tool_events_as_text(events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """Turn a stream's output-tool events into text events (mode ``tool``, streamed).

    Args:
        events: An adapter's stream.

    Yields:
        The same events, but the output tool's argument fragments as ``text`` events and its
        start and end left out; a ``tool_calls`` finish becomes ``stop`` when only the output
        tool was called.
    """
    ours: set[int] = set()
    others = False
    async for event in events:
        kind = event.kind
        if kind == "tool_start":
            if event.name == TOOL_NAME:
                ours.add(event.index)
                if event.text:  # a vendor that sends whole calls (Gemini) puts them here
                    yield StreamEvent("text", text=event.text)
                continue
            others = True
        elif kind in ("tool_delta", "tool_end") and event.index in ours:
            if kind == "tool_delta" and event.text:
                yield StreamEvent("text", text=event.text)
            continue
        elif kind == "finish" and ours and not others and event.finish_reason == "tool_calls":
            event = dataclasses.replace(event, finish_reason="stop")
        yield event


def _unfence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group("body") if match else text


def parse_output(text: str, fmt: ResponseFormat, plan: OutputPlan | None) -> Any:
    """Parse and validate an answer's text.

    Args:
        text: The answer's text (JSON; a single surrounding Markdown code fence is allowed).
        fmt: The call's format.
        plan: How the model got it (``wrapped`` values are unwrapped).

    Returns:
        An instance of ``fmt.python_type``, or the parsed JSON for a schema dict.

    Raises:
        OutputValidationError: The text is not JSON, or does not validate (``.errors`` lists
            ``{"loc", "msg", "type"}`` dicts).
    """
    try:
        value = json.loads(_unfence(text))
    except ValueError as exc:
        error = {"loc": [], "msg": f"the answer is not valid JSON: {exc}", "type": "json_invalid"}
        raise OutputValidationError(text, [error]) from exc
    if plan is not None and plan.wrapped:
        if not isinstance(value, dict) or "value" not in value:
            error = {"loc": [], "msg": "expected an object with key 'value'", "type": "missing"}
            raise OutputValidationError(text, [error])
        value = value["value"]
    if fmt.kind == "json_object" and plan is not None and not isinstance(value, dict):
        error = {"loc": [], "msg": "expected a JSON object", "type": "dict_type"}
        raise OutputValidationError(text, [error])
    if fmt.python_type is None:
        return value
    from pydantic import TypeAdapter, ValidationError

    try:
        return _adapter(fmt.python_type).validate_python(value)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise OutputValidationError(text, errors) from exc
    except TypeError:  # pragma: no cover - an unhashable type cannot reach here (validated)
        return TypeAdapter(fmt.python_type).validate_python(value)


@functools.lru_cache(maxsize=256)
def _adapter(python_type: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(python_type)


def retry_messages(text: str, errors: list[dict[str, Any]]) -> tuple[ChatMessage, ChatMessage]:
    """The two turns that re-ask a model after an answer failed validation.

    Args:
        text: The answer that failed.
        errors: Its validation errors.

    Returns:
        The assistant turn with the answer, and a user turn listing the errors.
    """
    lines = [
        f"- {'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in errors[:20]
    ]
    ask = (
        "That answer does not match the required JSON schema:\n"
        + "\n".join(lines)
        + "\nAnswer again with JSON that matches the schema, and nothing else."
    )
    return (
        ChatMessage("assistant", (TextPart(text or "(empty)"),)),
        ChatMessage("user", (TextPart(ask),)),
    )


def validate_output_retries(value: object) -> int:
    """Check ``output_retries=``.

    Args:
        value: What the caller passed (``None`` for none).

    Returns:
        The number of re-asks (0 when not given).

    Raises:
        InvalidRequestError: Not an int from 0 to 10.
    """
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise InvalidRequestError(f"output_retries must be an int from 0 to 10, got {value!r}")
    return value


def parse_answer(response: LLMResponse[Any], request: Any) -> None:
    """Set ``response.parsed`` for a call with ``response_format``.

    Nothing is parsed for an answer that calls tools (the model is not done) or a refusal
    (``finish_reason == "content_filter"``: ``parsed`` stays ``None``).

    Args:
        response: The recorded answer (changed in place).
        request: The :class:`~llmorch.request.ChatRequest` the answering model got.

    Raises:
        OutputValidationError: The answer is not JSON in the asked shape.
    """
    fmt = request.response_format
    if fmt is None or response.tool_calls or response.finish_reason == "content_filter":
        return
    try:
        response.parsed = parse_output(response.content, fmt, request.output)
    except OutputValidationError as exc:
        if response.finish_reason == "length":
            exc.errors.append(
                {
                    "loc": [],
                    "msg": "the answer was cut short at max_tokens (finish_reason 'length')",
                    "type": "truncated",
                }
            )
        raise
