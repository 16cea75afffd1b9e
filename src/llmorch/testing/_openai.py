"""The OpenAI Chat Completions dialect, as the recorded fixtures frame it.

Tool calls are served as OpenAI sends them (tests/fixtures/openai/): a whole answer's
``message.tool_calls`` with ``content`` null; a stream opens each call with its ``index``, ``id``,
``type`` and ``name`` (``arguments`` empty), then sends argument fragments, the parallel calls one
after another by index, and ends with ``finish_reason: "tool_calls"`` on an empty delta.
A ``response_format`` request with nothing scripted is answered with JSON in the asked shape
(``schema_instance``); a scripted reply is sent as it is (tests script invalid JSON that way).
A scripted ``Reply(text, finish_reason="content_filter")`` is the model's refusal, as recorded
(tests/fixtures/openai/chat_*_refusal.*): ``message.refusal`` (streamed as ``delta.refusal``) with
``content`` null and ``finish_reason: "stop"``.
Reasoning is never sent as text (Chat Completions has no field for it): a reasoning model counts
it in ``usage.completion_tokens_details.reasoning_tokens`` when the request lets it reason, so there
is no opaque state to sign or check either.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
import time
from typing import Any

from llmorch.testing._dialect import Dialect, Plan
from llmorch.testing._openai_schema import check, check_semantics, model_rules
from llmorch.testing._script import (
    ErrorKind,
    Fault,
    Reply,
    ToolUse,
    count_tokens,
    default_arguments,
    schema_instance,
)
from llmorch.testing._server import JSONResponse, Request, Response

__all__ = ["OpenAIDialect"]

_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}
_FINISH["tool_calls"] = "tool_calls"
_ALNUM = string.ascii_letters + string.digits
_FRAGMENT = 6
"""Characters per streamed argument fragment (the recordings send a few characters each)."""

# kind -> (status, type, code, default message)
_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "invalid_request": (400, "invalid_request_error", None, "Invalid request."),
    "context_length": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        (
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130000 tokens. Please reduce the length of the messages."
        ),
    ),
    "auth": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "permission": (
        403,
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    "not_found": (404, "invalid_request_error", "model_not_found", "The model does not exist."),
    "rate_limit": (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "server_error": (500, "server_error", None, "The server had an error processing your request."),
    "overloaded": (503, "server_error", None, "The engine is currently overloaded."),
    "timeout": (408, "timeout", None, "Request timed out."),
}


class OpenAIDialect(Dialect):
    """``{base}/openai/v1``: ``POST /chat/completions`` (JSON or SSE), ``GET /models``."""

    name = "openai"
    prefix = "/openai/v1"
    chat_models = ("gpt-5.4-mini", "gpt-5.6-luna", "gpt-5.4")
    default_models = (
        *chat_models,
        "gpt-5.4-nano",
        "text-embedding-3-small",
        "tts-1",
        "whisper-1",
        "gpt-image-2",
        "omni-moderation-latest",
        "ft:gpt-4o-mini:acme:emulated:abc123",
    )

    def error(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        """An OpenAI error body: ``{"error": {message, type, param, code}}``.

        Args:
            status: The HTTP status (529 becomes 503: OpenAI has no 529).
            kind: The error kind.
            message: The message (empty: the vendor's usual wording).
            headers: Extra headers.

        Returns:
            The response.
        """
        _, kind_type, code, default = _ERRORS.get(kind, _ERRORS["server_error"])
        message = message or default
        return JSONResponse(
            503 if status == 529 else status,
            {"error": {"message": message, "type": kind_type, "param": None, "code": code}},
            {"x-request-id": self.request_id(), **(headers or {})},
        )

    def invalid(
        self, message: str, param: str | None, code: str | None, status: int = 400
    ) -> JSONResponse:
        """An ``invalid_request_error`` (a 400 unless told) naming the offending parameter.

        Args:
            message: The message.
            param: The parameter's path, if the API names one.
            code: The error code, if the API gives one.
            status: The HTTP status.

        Returns:
            The response.
        """
        error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
        return JSONResponse(status, {"error": error}, {"x-request-id": self.request_id()})

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request.

        Args:
            request: The request.
            path: The path after ``/openai/v1``.

        Returns:
            The response.
        """
        auth = request.headers.get("authorization", "")
        status = self.key_status(auth[7:] if auth.lower().startswith("bearer ") else "")
        if status != "ok":
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                if status == "missing"
                else "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            return self.error(401, "auth", message)
        if request.method == "GET" and path == "/models":
            return self._models()
        if request.method == "POST" and path == "/chat/completions":
            return self._chat(request)
        return self.error(404, "invalid_request", f"Invalid URL ({request.method} {request.path})")

    def _models(self) -> JSONResponse:
        data = [
            {"id": m, "object": "model", "created": 1721172741, "owned_by": "system"}
            for m in self.models()
        ]
        return JSONResponse(
            200, {"object": "list", "data": data}, {"x-request-id": self.request_id()}
        )

    def _chat(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return self.error(
                400, "invalid_request", "We could not parse the JSON body of your request."
            )
        refusal = check(body)
        if refusal is not None:
            return self.invalid(*refusal)
        semantic = check_semantics(body)
        if semantic is not None:
            status, text, param, code = semantic
            return self.invalid(text, param, code, status)
        model = body["model"]
        messages = body["messages"]
        if model not in self.models():
            return self.error(
                404,
                "not_found",
                f"The model `{model}` does not exist or you do not have access to it.",
            )
        last_user = next(
            (_said(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        plan = self.plan(model, (messages,), limit, last_user, _formatted(body, last_user))
        if isinstance(plan, Fault):
            return self.fault_response(plan, model)
        plan = _with_tools(plan, body)
        reasoning_tokens = 0
        if plan.reasoning:
            if model_rules(model).reasons(body.get("reasoning_effort")):
                reasoning_tokens = count_tokens(plan.reasoning)
            else:  # the model did not think: its tokens are not billed
                plan.completion_tokens = max(
                    0, plan.completion_tokens - count_tokens(plan.reasoning)
                )
        calls = [(c.id or "call_" + _token(24), c) for c in plan.tool_calls]
        request_id = self.request_id()
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = (
                bool(options.get("include_usage")) if isinstance(options, dict) else False
            )
            return self.stream(
                plan,
                lambda p: self._frames(p, include_usage, calls, reasoning_tokens),
                "text/event-stream; charset=utf-8",
                {"x-request-id": request_id},
            )
        if plan.ending == "error":
            error = _ERRORS.get(plan.error or "server_error", _ERRORS["server_error"])
            return self.error(error[0], plan.error or "server_error", plan.message)
        if plan.ending == "malformed":
            return JSONResponse(200, "not json {", {"x-request-id": request_id})
        refused = _refused(plan)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if refused or (calls and not plan.text) else plan.text,
            "refusal": plan.text if refused else None,
            "annotations": [],
        }
        if calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for call_id, call in calls
            ]
        return self.whole(
            plan,
            {
                "id": "chatcmpl-" + request_id[4:],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": _finish(plan),
                    }
                ],
                "usage": self._usage(plan, reasoning_tokens),
                "system_fingerprint": "fp_llmorch_emu",
            },
            {"x-request-id": request_id},
        )

    @staticmethod
    def _usage(plan: Plan, reasoning_tokens: int) -> dict[str, Any]:
        return {
            "prompt_tokens": plan.prompt_tokens,
            "completion_tokens": plan.completion_tokens,
            "total_tokens": plan.prompt_tokens + plan.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens,
                "audio_tokens": 0,
            },
        }

    def _frames(
        self,
        plan: Plan,
        include_usage: bool,
        calls: list[tuple[str, ToolUse]],
        reasoning_tokens: int,
    ) -> list[bytes]:
        base = {
            "id": "chatcmpl-" + self.request_id()[4:],
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": plan.model,
            "system_fingerprint": "fp_llmorch_emu",
        }
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _data({**base, "choices": [choice], **extra})

        refused = _refused(plan)
        if refused:  # as recorded: content null, refusal "" then refusal fragments
            frames = [chunk({"role": "assistant", "content": None, "refusal": ""})]
            frames += [chunk({"refusal": text}) for text in plan.chunks]
        else:
            opening = "" if plan.chunks or not calls else None
            frames = [chunk({"role": "assistant", "content": opening, "refusal": None})]
            frames += [chunk({"content": text}) for text in plan.chunks]
        for index, (call_id, call) in enumerate(calls):
            head = {"name": call.name, "arguments": ""}
            opened = {"index": index, "id": call_id, "type": "function", "function": head}
            frames.append(chunk({"tool_calls": [opened]}))
            fragments = _fragments(call.arguments_json)
            if plan.ending == "cut" and index == len(calls) - 1:
                fragments = fragments[: len(fragments) // 2]
            frames += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in fragments
            ]
        if plan.ending == "error":
            _, kind_type, code, default = _ERRORS.get(
                plan.error or "server_error", _ERRORS["server_error"]
            )
            error = {
                "message": plan.message or default,
                "type": kind_type,
                "param": None,
                "code": code,
            }
            return [*frames, _data({"error": error})]
        if plan.ending == "malformed":
            return [*frames, b"data: {this is not json\n\n"]
        if plan.ending == "cut":
            return frames
        frames.append(chunk({}, _finish(plan)))
        if include_usage:
            usage = self._usage(plan, reasoning_tokens)
            frames.append(_data({**base, "choices": [], "usage": usage}))
        frames.append(b"data: [DONE]\n\n")
        return frames


def _with_tools(plan: Plan, body: dict[str, Any]) -> Plan:
    """Apply the request's ``tool_choice`` to a plan.

    ``none`` drops scripted calls; a forced choice (``required`` or a named function) with no
    call scripted calls that tool (``required``: the first one) with arguments that satisfy its
    schema, as the model must.
    """
    choice = body.get("tool_choice")
    tools = [t["function"] for t in body.get("tools") or () if t.get("type") == "function"]
    if choice == "none" or not tools:
        if not plan.tool_calls:
            return plan
        finish = "stop" if plan.finish_reason == "tool_calls" else plan.finish_reason
        return dataclasses.replace(plan, tool_calls=(), finish_reason=finish)
    if plan.tool_calls or plan.ending != "complete":
        return plan
    forced: dict[str, Any] | None = None
    if choice == "required":
        forced = tools[0]
    elif isinstance(choice, dict) and choice.get("type") == "function":
        forced = next(t for t in tools if t["name"] == choice["function"]["name"])
    if forced is None:
        return plan
    call = ToolUse(forced["name"], default_arguments(forced.get("parameters")))
    spoken = count_tokens(call.arguments_json)
    return dataclasses.replace(
        plan, chunks=[], tool_calls=(call,), finish_reason="tool_calls", completion_tokens=spoken
    )


def _said(content: Any) -> str:
    """A user turn's text (its text parts, joined; images and files left out)."""
    if isinstance(content, str):
        return content
    return " ".join(p.get("text") or "" for p in content or () if p.get("type") == "text")


def _formatted(body: dict[str, Any], last_user: str) -> Reply | None:
    """The answer to a ``response_format`` request when nothing is scripted.

    ``json_schema``: a value the schema accepts (:func:`schema_instance`), as compact JSON the
    way the recorded answers send it; ``json_object``: a JSON object echoing the user.
    """
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt["type"] == "text":
        return None
    if fmt["type"] == "json_object":
        return Reply(json.dumps({"answer": last_user[:80]}))
    schema = fmt["json_schema"].get("schema")
    value = schema_instance(schema) if isinstance(schema, dict) else {}
    return Reply(json.dumps(value, separators=(",", ":")))


def _refused(plan: Plan) -> bool:
    """A scripted ``content_filter`` answer with text: the model refuses (``message.refusal``)."""
    return plan.finish_reason == "content_filter" and bool(plan.text)


def _finish(plan: Plan) -> str:
    """OpenAI's finish reason; a refusal finishes ``stop`` (the recorded refusals do)."""
    return "stop" if _refused(plan) else _FINISH.get(plan.finish_reason, "stop")


def _fragments(arguments: str) -> list[str]:
    return [arguments[i : i + _FRAGMENT] for i in range(0, len(arguments), _FRAGMENT)]


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
