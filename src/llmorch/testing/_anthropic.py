"""The Anthropic Messages dialect, event for event as the recorded streams frame it."""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
from collections.abc import Collection
from typing import Any, ClassVar

from llmorch.testing._anthropic_output import schema_of
from llmorch.testing._anthropic_parts import MIN_CACHED_TOKENS, breakpoints
from llmorch.testing._anthropic_rules import THINKING_KIND, custom_tools, thinking_on
from llmorch.testing._anthropic_schema import check
from llmorch.testing._dialect import Dialect, Plan
from llmorch.testing._script import (
    ErrorKind,
    Fault,
    Reply,
    Scripts,
    ToolUse,
    count_tokens,
    default_arguments,
    schema_instance,
    split_chunks,
)
from llmorch.testing._server import JSONResponse, Request, Response
from llmorch.testing._signing import sign

__all__ = ["AnthropicDialect"]

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_STOP["content_filter"] = "refusal"

# kind -> (status, error.type, default message)
_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_request": (400, "invalid_request_error", "Invalid request."),
    "context_length": (
        400,
        "invalid_request_error",
        "prompt is too long: 210000 tokens > 200000 maximum",
    ),
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "permission": (
        403,
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    "not_found": (404, "not_found_error", "Not found."),
    "rate_limit": (429, "rate_limit_error", "Number of requests has exceeded your rate limit."),
    "quota": (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API.",
    ),
    "server_error": (500, "api_error", "Internal server error"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "timeout": (504, "timeout_error", "Request timed out"),
}
_RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}
CacheUse = tuple[int, int, str]
"""``(tokens read from the cache, tokens written to it, the ttl written)`` of one request."""
_ID_CHARS = string.ascii_letters + string.digits
DEFAULT_THINKING = "Thinking it over."
"""The thinking an answer carries when ``thinking.type`` is ``enabled`` and none is scripted."""


class AnthropicDialect(Dialect):
    """``{base}/anthropic``: ``POST /v1/messages`` (JSON or SSE), paginated ``GET /v1/models``."""

    name = "anthropic"
    prefix = "/anthropic"
    chat_models = ("claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5")
    default_models = (*chat_models, "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001")
    tool_id_prefix: ClassVar[str] = "toolu_"
    """Tool-use ids are this, ``01`` and 22 letters and digits (as recorded: ``toolu_01QE1W…``)."""

    def __init__(self, scripts: Scripts, keys: Collection[str] | None, page_size: int) -> None:
        super().__init__(scripts, keys, page_size)
        self.cached: set[str] = set()
        """The keys of the prompt prefixes written to the cache so far."""

    def error(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        """An Anthropic error body: ``{"type": "error", "error": {type, message}, request_id}``.

        Args:
            status: The HTTP status.
            kind: The error kind.
            message: The message (empty: the vendor's usual wording).
            headers: Extra headers.

        Returns:
            The response.
        """
        _, kind_type, default = _ERRORS.get(kind, _ERRORS["server_error"])
        message = message or default
        request_id = self.request_id()
        extra = {"request-id": request_id}
        if status in _RETRYABLE:
            extra["x-should-retry"] = "true"
        return JSONResponse(
            status,
            {
                "type": "error",
                "error": {"type": kind_type, "message": message},
                "request_id": request_id,
            },
            {**extra, **(headers or {})},
        )

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request.

        Args:
            request: The request.
            path: The path after ``/anthropic``.

        Returns:
            The response.
        """
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or (
            bearer[7:] if bearer.lower().startswith("bearer ") else None
        )
        status = self.key_status(key)
        if status != "ok":
            message = "x-api-key header is required" if status == "missing" else "invalid x-api-key"
            return self.error(401, "auth", message)
        if not request.headers.get("anthropic-version"):
            return self.error(400, "invalid_request", "anthropic-version: header is required")
        if request.method == "GET" and path == "/v1/models":
            return self._models(request)
        if request.method == "POST" and path == "/v1/messages":
            return self._messages(request)
        return self.error(404, "not_found", f"Not found: {request.method} {request.path}")

    def _models(self, request: Request) -> JSONResponse:
        models = self.models()
        try:
            limit = max(1, min(int(request.query.get("limit", "20")), 1000))
        except ValueError:
            return self.error(400, "invalid_request", "limit: Input should be a valid integer")
        limit = min(limit, self.page_size)
        after = request.query.get("after_id")
        start = models.index(after) + 1 if after in models else 0
        page = models[start : start + limit]
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m.replace("-", " ").title(),
                "created_at": "2025-09-29T00:00:00Z",
            }
            for m in page
        ]
        return JSONResponse(
            200,
            {
                "data": data,
                "has_more": start + limit < len(models),
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
            },
            {"request-id": self.request_id()},
        )

    def _messages(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return self.error(400, "invalid_request", "There was an error parsing the body.")
        refusal = check(body, request.headers.get("anthropic-version", ""))
        if refusal is not None:
            return self.error(400, "invalid_request", refusal)
        return self.answer(body, request)

    def answer(self, body: dict[str, Any], request: Request) -> Response:
        """Answer a Messages request whose body is valid.

        Args:
            body: The body, ``model`` included (Vertex AI's comes from the path).
            request: The request.

        Returns:
            The response.
        """
        model = body["model"]
        messages = body["messages"]
        if model not in self.models():
            return self.error(404, "not_found", f"model: {model}")
        system = body.get("system")
        last_user = next(
            (
                m.get("content", "")
                for m in reversed(messages)
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            "",
        )
        extra = (system,) if system else ()
        schema = schema_of(body)
        default = None if schema is None else Reply(json.dumps(schema_instance(schema)))
        plan = self.plan(model, (messages, *extra), body["max_tokens"], str(last_user), default)
        if isinstance(plan, Fault):
            return self.fault_response(plan, model)
        plan = _shaped(plan, body)
        thinking = body.get("thinking") or {}
        shown = thinking.get("display") != "omitted"
        request_id = self.request_id()
        cache = self._cache_use(body, plan.prompt_tokens)
        if body.get("stream"):
            return self.stream(
                plan,
                lambda p: self._frames(p, shown, cache),
                "text/event-stream; charset=utf-8",
                {"request-id": request_id},
            )
        if plan.ending == "error":
            status = _ERRORS.get(plan.error or "server_error", _ERRORS["server_error"])[0]
            return self.error(status, plan.error or "server_error", plan.message)
        if plan.ending == "malformed":
            return JSONResponse(200, "not json {", {"request-id": request_id})
        content: list[dict[str, Any]] = []
        if plan.reasoning is not None:
            text = plan.reasoning if shown else ""
            content.append(
                {"type": "thinking", "thinking": text, "signature": sign(THINKING_KIND, text)}
            )
        if plan.text or not plan.tool_calls:
            content.append({"type": "text", "text": plan.text})
        content += [{**self._tool_use(call), "input": _arguments(call)} for call in plan.tool_calls]
        return self.whole(
            plan,
            {
                "model": model,
                "id": "msg_" + request_id[4:],
                "type": "message",
                "role": "assistant",
                "content": content,
                "stop_reason": _STOP.get(plan.finish_reason, "end_turn"),
                "stop_sequence": None,
                **_stop_details(plan),
                "usage": self._usage(plan, plan.completion_tokens, cache),
            },
            {"request-id": request_id},
        )

    def _cache_use(self, body: dict[str, Any], prompt: int) -> CacheUse:
        """The prompt tokens read from and written to the cache by this request's breakpoints.

        The longest prefix cached before is read; the prefix up to the last breakpoint is
        written when it is new and at least :data:`MIN_CACHED_TOKENS` long (each prefix stays
        cached for the emulator's lifetime: it never expires).
        """
        points = [p for p in breakpoints(body) if p[1] >= MIN_CACHED_TOKENS]
        read = max((tokens for key, tokens, _ in points if key in self.cached), default=0)
        write, ttl = 0, "5m"
        if points and points[-1][0] not in self.cached:
            write, ttl = points[-1][1] - read, points[-1][2]
        self.cached.update(key for key, _, _ in points)
        read = min(read, prompt)
        return read, min(write, prompt - read), ttl

    def _tool_use(self, call: ToolUse) -> dict[str, Any]:
        """A ``tool_use`` block, its input empty (as ``content_block_start`` sends it)."""
        tool_id = call.id or self.tool_id_prefix + "01" + "".join(
            secrets.choice(_ID_CHARS) for _ in range(22)
        )
        caller = {"type": "direct"}
        return {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}, "caller": caller}

    @staticmethod
    def _usage(
        plan: Plan, output_tokens: int, cache: CacheUse, *, details: bool = True
    ) -> dict[str, Any]:
        read, write, ttl = cache
        usage: dict[str, Any] = {
            "input_tokens": plan.prompt_tokens - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write if ttl == "5m" else 0,
                "ephemeral_1h_input_tokens": write if ttl == "1h" else 0,
            },
            "output_tokens": output_tokens,
        }
        if details and plan.reasoning is not None:
            # Sent with thinking (tests/fixtures/anthropic/message_thinking_tokens.json).
            usage["output_tokens_details"] = {"thinking_tokens": count_tokens(plan.reasoning)}
        usage["service_tier"] = "standard"
        return usage

    def _frames(self, plan: Plan, shown: bool, cache: CacheUse) -> list[bytes]:
        """The SSE events of an answer: thinking, text, then each tool call, one block each."""
        message: dict[str, Any] = {
            "id": "msg_" + self.request_id()[4:],
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": plan.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self._usage(plan, 1, cache, details=False),
        }
        frames = [_event("message_start", {"type": "message_start", "message": message})]
        index = 0
        if plan.reasoning is not None:
            thinking = plan.reasoning if shown else ""
            deltas: list[dict[str, Any]] = [
                {"type": "thinking_delta", "thinking": chunk} for chunk in split_chunks(thinking)
            ]
            deltas.append({"type": "signature_delta", "signature": sign(THINKING_KIND, thinking)})
            frames += _block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)
            index += 1
        text_block = bool(plan.chunks) or not plan.tool_calls
        if text_block:
            deltas = [{"type": "text_delta", "text": text} for text in plan.chunks]
            frames += _block(index, {"type": "text", "text": ""}, deltas, stop=False)
        frames.insert(2, _event("ping", {"type": "ping"}))  # after the first block's start
        if plan.ending == "error":
            _, kind_type, default = _ERRORS.get(
                plan.error or "server_error", _ERRORS["server_error"]
            )
            error = {
                "type": "error",
                "error": {"type": kind_type, "message": plan.message or default},
            }
            return [*frames, _event("error", error)]
        if plan.ending == "malformed":
            return [*frames, b"event: content_block_delta\ndata: {this is not json\n\n"]
        if plan.ending == "cut" and not plan.tool_calls:
            return frames
        if text_block:
            frames.append(
                _event("content_block_stop", {"type": "content_block_stop", "index": index})
            )
            index += 1
        for n, call in enumerate(plan.tool_calls):
            fragments = [
                "",
                *_fragments(call.arguments_json),
            ]  # the first one is empty, as recorded
            cut = plan.ending == "cut" and n == len(plan.tool_calls) - 1
            if cut:
                fragments = fragments[: 1 + (len(fragments) - 1) // 2]
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
            frames += _block(index, self._tool_use(call), deltas, stop=not cut)
            index += 1
        if plan.ending == "cut":
            return frames
        usage = self._usage(plan, plan.completion_tokens, cache)
        return [
            *frames,
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": _STOP.get(plan.finish_reason, "end_turn"),
                        "stop_sequence": None,
                        **_stop_details(plan),
                    },
                    "usage": usage,
                },
            ),
            _event("message_stop", {"type": "message_stop"}),
        ]


def _stop_details(plan: Plan) -> dict[str, Any]:
    """A refusal's ``stop_details`` (as the SDK's streaming fixture has it), nothing otherwise.

    Its ``category`` and ``explanation`` are null, as the API sends them for a refusal that
    maps to no named category: the scripted text (if any) is all the answer says.
    """
    if plan.finish_reason != "content_filter":
        return {}
    return {"stop_details": {"type": "refusal", "category": None, "explanation": None}}


def _shaped(plan: Plan, body: dict[str, Any]) -> Plan:
    """The plan as the request's tool choice and thinking settings let the model answer.

    ``tool_choice`` ``none`` drops scripted calls; ``any`` or ``tool`` with nothing scripted calls
    the (first or named) tool with :func:`default_arguments`, without text (a forced choice
    prefills the call); ``disable_parallel_tool_use`` keeps the first call; thinking is sent
    only when the request turns it on, and always (:data:`DEFAULT_THINKING` when none is
    scripted) with ``thinking.type: enabled``.
    """
    choice = body.get("tool_choice") or {}
    kind = choice.get("type", "auto")
    calls, chunks, completion = plan.tool_calls, plan.chunks, plan.completion_tokens
    if kind == "none":
        calls = ()
    elif kind in ("any", "tool") and not calls and plan.ending == "complete":
        tools = {tool["name"]: tool for _, tool in custom_tools(body)}
        name = choice["name"] if kind == "tool" else next(iter(tools), None)
        if name is not None:
            schema = tools.get(name, {}).get("input_schema")
            calls = (ToolUse(name, default_arguments(schema)),)
            chunks = []
            completion = count_tokens(calls[0].arguments_json)
    if choice.get("disable_parallel_tool_use"):
        calls = calls[:1]
    finish = plan.finish_reason
    if calls and finish != "length":
        finish = "tool_calls"
    elif not calls and finish == "tool_calls":
        finish = "stop"
    reasoning = plan.reasoning if thinking_on(body) else None
    if plan.reasoning and reasoning is None:
        completion = max(0, completion - count_tokens(plan.reasoning))
    thinking = body.get("thinking") or {}
    if reasoning is None and thinking.get("type") == "enabled" and plan.ending == "complete":
        # Manual extended thinking answers with a thinking block first (adaptive may skip it).
        reasoning = DEFAULT_THINKING
        completion += count_tokens(reasoning)
    return dataclasses.replace(
        plan,
        tool_calls=calls,
        chunks=chunks,
        finish_reason=finish,
        reasoning=reasoning,
        completion_tokens=completion,
    )


def _arguments(call: ToolUse) -> Any:
    """A call's input object (a non-streamed answer cannot carry malformed JSON: ``{}``)."""
    try:
        value = json.loads(call.arguments_json)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _fragments(text: str, size: int = 12) -> list[str]:
    """The ``input_json_delta`` fragments of a call's arguments."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _block(
    index: int, start: dict[str, Any], deltas: list[dict[str, Any]], *, stop: bool = True
) -> list[bytes]:
    """One content block's events: its start, its deltas and (unless cut) its stop."""
    frames = [
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    frames += [
        _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    if stop:
        frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return frames


def _event(name: str, payload: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
