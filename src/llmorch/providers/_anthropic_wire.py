"""The Anthropic Messages codec, sans I/O: request body, answer, stream events, errors.

Shared by ``type: anthropic`` and Claude on Vertex AI (``rawPredict``). Each function is pure;
the adapters in :mod:`llmorch.providers.anthropic` and :mod:`llmorch.providers.vertex` only do
the I/O. Wire facts and their sources: ``docs/wire/anthropic.md``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from llmorch._schema import close_objects, transform
from llmorch._sse import ServerSentEvent, event_json
from llmorch.capabilities import capabilities
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
from llmorch.messages import ReasoningItem
from llmorch.output import JSON_INSTRUCTION, OutputPlan
from llmorch.providers import _anthropic_content as content
from llmorch.providers._anthropic_content import same_family
from llmorch.providers._common import HTTPProvider, class_for_status
from llmorch.request import ChatRequest
from llmorch.tools import Tool, ToolCall, ToolChoice
from llmorch.types import StreamEvent, normalize_tokens

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "JSON_INSTRUCTION",
    "Decoded",
    "MessageStreamParser",
    "classify_error",
    "decode_message",
    "encode_request",
    "is_message",
    "output_schema",
    "same_family",
    "unsupported_parameter",
    "usage_tokens",
]

log = logging.getLogger("llmorch")

DEFAULT_MAX_TOKENS = 4096
"""Sent as ``max_tokens`` when the caller passes none: Anthropic requires the field."""
THINKING_HEADROOM = 4096
"""With reasoning on and no ``max_tokens``: the thinking budget plus this, capped at the ceiling."""
MIN_BUDGET = 1024
"""The smallest ``thinking.budget_tokens`` Anthropic takes."""
EFFORT_BUDGETS = {"low": 2048, "medium": 8192, "high": 24576}
"""``budget_tokens`` per effort on budget models (the ``max_tokens`` reserve on adaptive ones)."""

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TYPE_CLASSES: dict[str, type[ProviderError]] = {
    "invalid_request_error": InvalidRequestError,
    "request_too_large": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "billing_error": PermissionDeniedError,
    "not_found_error": ModelNotFoundError,
    "rate_limit_error": RateLimitError,
    "api_error": ProviderUnavailableError,
    "overloaded_error": ProviderUnavailableError,
    "timeout_error": ProviderTimeoutError,
}
_CHOICES = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}
_UNSUPPORTED = {
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "string": ("minLength", "maxLength"),
    "array": ("maxItems", "uniqueItems"),
}
_UNSUPPORTED["integer"] = _UNSUPPORTED["number"]


# -- request ------------------------------------------------------------------------------------


def encode_request(request: ChatRequest, provider_type: str = "anthropic") -> dict[str, Any]:
    """The Messages body for a request (without ``model``, which the adapter adds or puts in a URL).

    Args:
        request: The validated request (``request.model`` is this attempt's model).
        provider_type: The adapter's ``config.type``; reasoning items from another type are
            dropped.

    Returns:
        The body.

    Raises:
        InvalidRequestError: Before any I/O: no user or assistant message, a ``seed`` (Anthropic
            has none), a thinking budget below 1024 or not below ``max_tokens`` (or the model's
            output ceiling), a forced ``tool_choice`` with reasoning on a model that refuses the
            two together, a ``temperature`` other than 1 with reasoning on, or more than four
            cache breakpoints.
    """
    messages = content.turns(request.messages, provider_type, request.model)
    if not messages:
        raise InvalidRequestError("Anthropic needs at least one user or assistant message")
    if request.seed is not None:
        raise InvalidRequestError("seed: Anthropic's Messages API has no seed parameter")
    content.check_breakpoints(request.messages, request.tools)
    body: dict[str, Any] = {"max_tokens": request.max_tokens, "messages": messages}
    system = content.system(request.messages)
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.top_k is not None:
        body["top_k"] = request.top_k
    if request.stop is not None:
        body["stop_sequences"] = list(request.stop)
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
    choice = _tool_choice(request.tool_choice, request.parallel_tool_calls)
    if choice is not None:
        body["tool_choice"] = choice
    reserve = _reasoning(body, request, choice, provider_type)
    if reserve is not None and body["thinking"]["type"] == "enabled":
        _check_thinking_history(messages)
    if request.output is not None and request.output.mode != "tool":  # tool: a forced tool
        _output(body, request.output)
    if body["max_tokens"] is None:
        limit = _default_max_tokens(provider_type, request.model, reserve)
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "enabled" and limit <= thinking["budget_tokens"]:
            raise InvalidRequestError(
                f"reasoning.budget_tokens: {thinking['budget_tokens']} leaves no room for the "
                f"answer under {request.model}'s output ceiling of {limit} tokens"
            )
        body["max_tokens"] = limit
    return body


def _check_thinking_history(turns: list[dict[str, Any]]) -> None:
    """With manual thinking, the last assistant turn that called tools must lead with thinking.

    Anthropic refuses it otherwise ("a final `assistant` message must start with a thinking
    block"): its thinking blocks were missing, or dropped as another provider's.
    """
    last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=None)
    if last is None or last == len(turns) - 1 or isinstance(turns[last]["content"], str):
        return
    blocks = turns[last]["content"]
    calls_tools = any(b["type"] == "tool_use" for b in blocks)
    if calls_tools and blocks[0]["type"] not in ("thinking", "redacted_thinking"):
        raise InvalidRequestError(
            "messages: with reasoning budget_tokens on, Anthropic needs the thinking blocks of "
            "the last assistant turn that called tools, and the history has none for this "
            "provider (keep its 'reasoning' entries, or use reasoning='none' for this call)"
        )


def _default_max_tokens(provider_type: str, model: str, reserve: int | None) -> int:
    if reserve is None:
        return DEFAULT_MAX_TOKENS
    ceiling = capabilities(provider_type, model).max_output_tokens
    wanted = reserve + THINKING_HEADROOM
    return min(wanted, ceiling) if ceiling else wanted


def _reasoning(
    body: dict[str, Any], request: ChatRequest, choice: dict[str, Any] | None, provider_type: str
) -> int | None:
    """Add ``thinking`` (and ``output_config.effort``); returns the tokens to reserve for it."""
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if not reasoning.enabled:
        body["thinking"] = {"type": "disabled"}
        return None
    caps = capabilities(provider_type, request.model)
    forced = choice is not None and choice["type"] in ("any", "tool")
    if forced and caps.forced_tool_choice_with_reasoning is False:
        raise InvalidRequestError(
            f"tool_choice: {request.model} refuses a forced tool choice while thinking "
            "(Anthropic: 'Thinking may not be enabled when tool_choice forces tool use'); "
            "use tool_choice='auto' or reasoning='none'"
        )
    if request.temperature is not None and request.temperature != 1:
        raise InvalidRequestError(
            "temperature: Anthropic takes only temperature=1 while thinking "
            f"(got {request.temperature:g}); leave it unset or turn reasoning off"
        )
    budget = reasoning.budget_tokens
    if budget is not None or caps.reasoning == "budget":
        budget = budget if budget is not None else EFFORT_BUDGETS[reasoning.effort or "medium"]
        if budget < MIN_BUDGET:
            raise InvalidRequestError(
                f"reasoning.budget_tokens: Anthropic needs at least {MIN_BUDGET}, got {budget}"
            )
        limit = body["max_tokens"]
        if limit is not None and budget >= limit:
            raise InvalidRequestError(
                f"reasoning.budget_tokens: must be below max_tokens ({budget} >= {limit})"
            )
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        return budget
    body["thinking"] = {"type": "adaptive"}
    if reasoning.effort is not None:
        body["output_config"] = {"effort": reasoning.effort}
    return EFFORT_BUDGETS[reasoning.effort or "medium"]


def _output(body: dict[str, Any], plan: OutputPlan) -> None:
    """Structured output: ``output_config.format``, or for JSON mode a system instruction.

    Anthropic has no JSON mode, and an open object schema is refused (every object must set
    ``additionalProperties: false``), so ``json_object`` asks for one JSON object in words.
    """
    if plan.mode == "json_object" or plan.schema is None:  # only JSON mode comes without one
        system = body.get("system")
        if isinstance(system, list):
            body["system"] = [*system, {"type": "text", "text": JSON_INSTRUCTION}]
        else:
            body["system"] = f"{system}\n\n{JSON_INSTRUCTION}" if system else JSON_INSTRUCTION
        return
    fmt = {"type": "json_schema", "schema": output_schema(plan.schema)}
    body.setdefault("output_config", {})["format"] = fmt


def output_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Schema as Anthropic's structured output takes it.

    Every object is closed (``additionalProperties: false``, replacing any other value, as the
    API requires); the keywords outside Anthropic's subset (numeric bounds, string lengths,
    ``maxItems``, ``uniqueItems``, ``minItems`` above 1) move into the node's ``description``
    as ``{key: value}`` text, the way the official SDK's ``transform_schema`` keeps them as a
    hint; ``$defs`` and ``$ref`` stay (the API resolves local references).

    Args:
        schema: The plan's schema.

    Returns:
        The schema to send (a copy).
    """
    result: dict[str, Any] = transform(close_objects(schema), _subset)
    return result


def _subset(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else []
    if node.get("additionalProperties", False) is not False:  # close_objects left it open
        node["additionalProperties"] = False
    moved = {
        key: node.pop(key) for kind in kinds for key in _UNSUPPORTED.get(kind, ()) if key in node
    }
    if "array" in kinds and node.get("minItems", 0) not in (0, 1):
        moved["minItems"] = node.pop("minItems")
    if moved:
        hint = "{" + ", ".join(f"{key}: {value}" for key, value in moved.items()) + "}"
        described = node.get("description")
        node["description"] = f"{described}\n\n{hint}" if described else hint
    return node


def _tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    schema = {"type": "object", **tool.parameters}
    out["input_schema"] = close_objects(schema) if tool.strict else schema
    if tool.strict:
        out["strict"] = True
    if tool.cache is not None:
        out["cache_control"] = content.cache_mark(tool.cache)
    return out


def _tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    out: dict[str, Any] = {"type": _CHOICES[choice.kind if choice else "auto"]}
    if out["type"] == "tool":
        out["name"] = choice.name if choice else None
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


# -- response -----------------------------------------------------------------------------------


def usage_tokens(usage: Mapping[str, Any]) -> dict[str, int]:
    """Normalise Anthropic usage: ``input_tokens`` excludes the cache counters.

    Args:
        usage: ``usage`` of a message (or the merged stream usage).

    Returns:
        ``tokens_used`` (``reasoning`` from ``output_tokens_details.thinking_tokens`` when sent).
    """
    cache_read = usage.get("cache_read_input_tokens")
    cache_write = usage.get("cache_creation_input_tokens")
    prompt = int(usage.get("input_tokens") or 0) + int(cache_read or 0) + int(cache_write or 0)
    details = usage.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, dict) else None
    tokens = normalize_tokens(
        prompt,
        int(usage.get("output_tokens") or 0),
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=thinking,
    )
    breakdown = usage.get("cache_creation") or {}
    one_hour = breakdown.get("ephemeral_1h_input_tokens") if isinstance(breakdown, dict) else None
    if one_hour:
        tokens["cache_write_1h"] = int(one_hour)
    return tokens


def is_message(data: Mapping[str, Any]) -> bool:
    """Whether a 200 body is an answer: it has content blocks or a stop reason.

    Args:
        data: The response JSON.

    Returns:
        False for a body that is not a Messages answer (not billed, worth retrying).
    """
    return bool(data.get("content") or data.get("stop_reason"))


class Decoded(NamedTuple):
    """What a Messages answer says.

    Attributes:
        text: The text blocks, joined.
        finish_reason: Normalised; ``tool_calls`` whenever a client tool is called.
        tokens: ``tokens_used``.
        tool_calls: The ``tool_use`` blocks (``server_tool_use`` ones run at Anthropic: not here).
        reasoning: The thinking text, or ``None``.
        reasoning_items: Every thinking and redacted thinking block, in order.
    """

    text: str
    finish_reason: str
    tokens: dict[str, int]
    tool_calls: list[ToolCall]
    reasoning: str | None
    reasoning_items: list[ReasoningItem]


def _call(block: Mapping[str, Any]) -> ToolCall:
    """A :class:`ToolCall` from a ``tool_use`` block (its ``input`` is an object)."""
    value = block.get("input")
    arguments = value if isinstance(value, dict) else {}
    return ToolCall(
        str(block.get("id") or ""),
        str(block.get("name") or ""),
        arguments,
        json.dumps(arguments, ensure_ascii=False, separators=(",", ":")),
    )


def refusal_explanation(details: Any) -> str:
    """The explanation of a refusal's ``stop_details`` (``{"type": "refusal", ...}``), or "".

    Args:
        details: ``stop_details`` of a message or of a stream's ``message_delta``.

    Returns:
        The text a refusal without text answers with.
    """
    if isinstance(details, dict) and details.get("type") == "refusal":
        return str(details.get("explanation") or "")
    return ""


def decode_message(data: Mapping[str, Any]) -> Decoded:
    """Read a Messages answer (reasoning items are stamped with provider and model later).

    A refusal (``stop_reason: refusal``) without text answers with the explanation of its
    ``stop_details``.

    Args:
        data: The response JSON.

    Returns:
        The answer's parts.
    """
    texts: list[str] = []
    calls: list[ToolCall] = []
    items: list[ReasoningItem] = []
    for block in data.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(_call(block))
        elif kind == "thinking":
            items.append(ReasoningItem(block.get("thinking") or "", block.get("signature")))
        elif kind == "redacted_thinking":
            items.append(ReasoningItem(block.get("data") or "", redacted=True))
    finish = "tool_calls" if calls else _FINISH.get(data.get("stop_reason") or "", "other")
    thoughts = [item.text for item in items if not item.redacted and item.text]
    text = "".join(texts)
    if finish == "content_filter" and not text:
        text = refusal_explanation(data.get("stop_details"))
    return Decoded(
        text,
        finish,
        usage_tokens(data.get("usage") or {}),
        calls,
        "".join(thoughts) if thoughts else None,
        items,
    )


# -- stream -------------------------------------------------------------------------------------


class MessageStreamParser:
    """Sans-I/O: one Messages SSE event in, the normalised events it means out.

    Usage from ``message_delta`` is cumulative and is merged over ``message_start``'s; a refusal
    that streamed no text answers with its ``stop_details`` explanation. Blocks
    are keyed by their ``index``: ``thinking_delta`` / ``signature_delta`` are ``reasoning``
    events, a ``redacted_thinking`` block one ``reasoning`` event (``redacted``), a ``tool_use``
    block ``tool_start``, ``tool_delta`` per non-empty ``input_json_delta`` and ``tool_end``;
    ``server_tool_use`` blocks (run by Anthropic) are not client calls and are skipped.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = (
        "adapter",
        "complete",
        "model",
        "request_id",
        "started",
        "texted",
        "tools",
        "usage",
    )

    def __init__(self, adapter: HTTPProvider, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.usage: dict[str, Any] = {}
        self.tools: set[int] = set()
        self.started = False
        self.texted = False
        self.complete = False

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event.

        Returns:
            The normalised events.

        Raises:
            ProviderError: An ``event: error`` arrived, or an event was not valid JSON.
            ContentFilteredError: The model refused without text and without an explanation.
        """
        kind = sse.event
        if kind == "ping" or not sse.data:
            return []
        try:
            data = event_json(sse.data)
        except ValueError:
            data = self.adapter.decode_event(sse.data, self.model, self.request_id)  # raises
        if not isinstance(data, dict):
            return []
        kind = kind or data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                self.texted = self.texted or bool(text)
                return [StreamEvent("text", text)] if text else []
            return self._delta(data.get("index", 0), dtype, delta)
        if kind == "content_block_start":
            return self._start(data.get("index", 0), data.get("content_block") or {})
        if kind == "content_block_stop":
            index = data.get("index", 0)
            return [StreamEvent("tool_end", index=index)] if index in self.tools else []
        if kind == "error":
            raise self.adapter.make_error(None, data, self.model, request_id=self.request_id)
        if kind == "message_stop":
            self.complete = True
            return []
        if kind == "message_start":
            self.started = True
            message = data.get("message") or {}
            self.usage.update(message.get("usage") or {})
            usage = StreamEvent(
                "usage",
                tokens=usage_tokens(self.usage),
                model_answered=message.get("model"),
                raw=message,
            )
            return [usage]
        if kind == "message_delta":
            self.usage.update(data.get("usage") or {})
            out = [StreamEvent("usage", tokens=usage_tokens(self.usage))]
            delta = data.get("delta") or {}
            reason = delta.get("stop_reason")
            if reason:
                finish = "tool_calls" if self.tools else _FINISH.get(reason, "other")
                if finish == "content_filter" and not self.texted:
                    out += self._refusal(data)
                out.append(StreamEvent("finish", finish_reason=finish))
            return out
        return []

    def _refusal(self, data: Mapping[str, Any]) -> list[StreamEvent]:
        """A refusal that streamed no text: its explanation, or ContentFilteredError."""
        explanation = refusal_explanation((data.get("delta") or {}).get("stop_details"))
        if not explanation:
            raise self.adapter.content_filtered(
                "the model refused to answer", self.model, self.request_id, data
            )
        return [StreamEvent("text", text=explanation)]

    def _start(self, index: int, block: Mapping[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "tool_use":
            self.tools.add(index)
            return [
                StreamEvent("tool_start", index=index, tool_id=block.get("id"), name=block["name"])
            ]
        if kind == "redacted_thinking":
            return [
                StreamEvent("reasoning", index=index, text=block.get("data") or "", redacted=True)
            ]
        return []

    def _delta(self, index: int, kind: Any, delta: Mapping[str, Any]) -> list[StreamEvent]:
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            if fragment and index in self.tools:
                return [StreamEvent("tool_delta", fragment, index=index)]
            return []
        if kind == "thinking_delta":
            text = delta.get("thinking")
            return [StreamEvent("reasoning", index=index, text=text)] if text else []
        if kind == "signature_delta":
            return [StreamEvent("reasoning", index=index, signature=delta.get("signature"))]
        return []


# -- errors -------------------------------------------------------------------------------------


_DEPRECATED = re.compile(r"`(temperature|top_p|top_k)` is deprecated for this model")
_UNDECLARED = re.compile(r"^(temperature|top_p|top_k): Extra inputs are not permitted")


def unsupported_parameter(error: InvalidRequestError) -> str | None:
    """The sampling parameter an Anthropic 400 says the model does not take.

    Claude Opus 4.7+ and Claude 5 answer `` `temperature` is deprecated for this model. `` (and
    the same for ``top_p``); API versions without the sampling fields answer
    ``temperature: Extra inputs are not permitted``.

    Args:
        error: The mapped 400.

    Returns:
        ``temperature``, ``top_p`` or ``top_k``, or ``None`` for any other 400.
    """
    body = error.body
    inner = body.get("error") if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    text = message if isinstance(message, str) else str(error)
    match = _DEPRECATED.search(text) or _UNDECLARED.match(text)
    return match[1] if match else None


def classify_error(status: int | None, payload: Any) -> tuple[type[ProviderError], str]:
    """Classify an Anthropic error body (``{"type": "error", "error": {type, message}}``).

    Args:
        status: HTTP status, or ``None`` for an ``event: error`` inside a stream.
        payload: The decoded body.

    Returns:
        ``(class, message)``.
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {"message": str(payload)[:500] if payload else f"HTTP {status}"}
    message = str(error.get("message") or f"HTTP {status}")
    kind = str(error.get("type") or "")
    if status is not None and (status >= 500 or status in (401, 403, 404, 408, 409, 429)):
        cls = class_for_status(status)
    elif kind in _TYPE_CLASSES:
        cls = _TYPE_CLASSES[kind]
    elif status is not None:
        cls = class_for_status(status)
    else:
        cls = ProviderUnavailableError
    if cls is InvalidRequestError and "prompt is too long" in message.lower():
        cls = ContextLengthExceededError
    return cls, message
