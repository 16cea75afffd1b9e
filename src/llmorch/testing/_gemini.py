"""The Gemini API dialect (``generativelanguage.googleapis.com``), framed like the recordings.

Streams are ``data: <GenerateContentResponse>`` events with CRLF line endings and no ``[DONE]``;
an in-stream error is a bare, pretty-printed ``{"error": …}`` object without ``data:``. Function
calls come whole, one per chunk, as ``functionCall`` parts (Gemini 3: with ``id``, and a
``thoughtSignature`` on the first of parallel calls); thought summaries are ``thought: true``
text parts, sent only when ``thinkingConfig.includeThoughts`` asks for them (fixtures under
``tests/fixtures/google/``).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from llmorch.testing._dialect import Dialect, Plan
from llmorch.testing._google_media import check_media
from llmorch.testing._google_output import JSON, answer_schema, check_output
from llmorch.testing._google_schema import (
    GEMINI_REQUEST,
    TEXT_SIGNATURE,
    THOUGHT_SIGNATURE,
    VERTEX_REQUEST,
    call_signature_text,
    check,
    check_semantics,
    is_gemini3,
    pick,
)
from llmorch.testing._script import (
    ErrorKind,
    Fault,
    Reply,
    ToolUse,
    count_tokens,
    default_arguments,
    schema_instance,
    split_chunks,
)
from llmorch.testing._server import JSONResponse, Request, Response
from llmorch.testing._signing import sign
from llmorch.testing._strict import Obj

__all__ = ["GeminiDialect", "google_error"]

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}
_STATES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# kind -> (status, default message)
_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "Request contains an invalid argument."),
    "context_length": (
        400,
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ),
    "auth": (401, "Request had invalid authentication credentials."),
    "permission": (403, "The caller does not have permission"),
    "not_found": (404, "Requested entity was not found."),
    "rate_limit": (429, "Resource has been exhausted (e.g. check quota)."),
    "quota": (429, "You exceeded your current quota, please check your plan and billing details."),
    "server_error": (500, "An internal error has occurred. Please retry or report it."),
    "overloaded": (503, "The model is overloaded. Please try again later."),
    "timeout": (504, "Deadline expired before operation could complete."),
}
_GENERATE = re.compile(
    r"^/(v1|v1beta|v1alpha)/models/([^/:]+):(generateContent|streamGenerateContent)$"
)
_GET_MODEL = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+)$")
_NOT_CHAT = re.compile(r"embedding|imagen|veo|aqa")
_QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_requests"


def google_error(
    status: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A ``google.rpc.Status`` error body.

    Args:
        status: The HTTP status (529 has no Google equivalent and is sent as 503).
        message: The message.
        details: ``google.rpc`` detail objects.

    Returns:
        ``{"error": {code, message, status[, details]}}``.
    """
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _texts(body: dict[str, Any]) -> tuple[list[str], str]:
    """Every text part of a request (system included), and the last user turn's text."""
    texts: list[str] = []
    last_user = ""
    system = pick(body, "systemInstruction") or {}
    texts += [
        part["text"]
        for part in (system.get("parts") or [] if isinstance(system, dict) else [])
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    for content in body.get("contents") or []:
        if not isinstance(content, dict):
            continue
        parts = [
            p["text"]
            for p in content.get("parts") or []
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
        texts += parts
        if content.get("role", "user") == "user":
            last_user = "\n\n".join(parts)
    return texts, last_user


class GeminiDialect(Dialect):
    """``{base}/gemini``: ``models/{m}:generateContent``, ``:streamGenerateContent``, ``models``."""

    name = "gemini"
    prefix = "/gemini"
    request_schema: ClassVar[Obj] = GEMINI_REQUEST
    chat_models = ("gemini-3.8-flash", "gemini-3.5-flash-lite", "gemini-3.5-flash")
    default_models = (
        *chat_models,
        "gemini-3.1-pro-preview",
        "gemini-embedding-001",
        "text-embedding-004",
        "imagen-4.0-generate-001",
    )

    def error(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        """A ``google.rpc.Status`` error; quota errors carry ``QuotaFailure`` details.

        Args:
            status: The HTTP status (529 becomes 503).
            kind: The error kind.
            message: The message (empty: the vendor's usual wording).
            headers: Extra headers.

        Returns:
            The response.
        """
        status = 503 if status == 529 else status
        default_status, default = _ERRORS.get(kind, _ERRORS["server_error"])
        details: list[dict[str, Any]] = []
        if kind in ("rate_limit", "quota"):
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": _QUOTA_METRIC,
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                        }
                    ],
                }
            )
        return JSONResponse(
            status, google_error(status, message or default, details), headers or {}
        )

    def fault_response(self, fault: Fault, model: str | None) -> Response:
        """Status faults as Google sends them: a retry delay goes in ``RetryInfo``, no header.

        Args:
            fault: A ``status``, ``reset`` or ``hang`` fault.
            model: The model requested.

        Returns:
            The response.
        """
        if fault.kind != "status":
            return super().fault_response(fault, model)
        response = self.error(
            fault.status, fault.error or "server_error", fault.message, dict(fault.headers)
        )
        if fault.retry_after is not None:
            error = response.payload["error"]
            error.setdefault("details", []).append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{fault.retry_after:g}s",
                }
            )
        return response

    def request_model(self, path: str, body: Any) -> str | None:
        """The model named in the path (``…/models/{model}:generateContent``).

        Args:
            path: The path after the prefix.
            body: The decoded body.

        Returns:
            The model id, if any.
        """
        match = re.search(r"/models/([^/:]+):", path)
        return match.group(1) if match else None

    def is_chat(self, model: str) -> bool:
        """Whether a listed model supports ``generateContent``.

        Args:
            model: The model id.

        Returns:
            True for chat models.
        """
        return _NOT_CHAT.search(model) is None

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request; the key comes in ``x-goog-api-key`` (or ``?key=``).

        Args:
            request: The request.
            path: The path after ``/gemini``.

        Returns:
            The response.
        """
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        status = self.key_status(key)
        if status == "missing":
            message = (
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API."
            )
            return JSONResponse(403, google_error(403, message))
        if status == "invalid":
            return self._invalid_key()
        if request.method == "GET" and path in ("/v1beta/models", "/v1/models"):
            return self._list(request)
        match = _GET_MODEL.match(path)
        if request.method == "GET" and match:
            model = match.group(2)
            if model not in self.models():
                return self.error(404, "not_found", f"models/{model} is not found")
            return JSONResponse(200, self._model_entry(model))
        match = _GENERATE.match(path)
        if request.method == "POST" and match:
            stream = match.group(3) == "streamGenerateContent"
            return self.generate(request, match.group(2), stream, match.group(1))
        return self.error(404, "not_found", f"Not found: {request.method} {request.path}")

    def _invalid_key(self) -> JSONResponse:
        message = "API key not valid. Please pass a valid API key."
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ]
        return JSONResponse(400, google_error(400, message, details))

    def _model_entry(self, model: str) -> dict[str, Any]:
        chat = self.is_chat(model)
        methods = ["generateContent", "countTokens", "createCachedContent"]
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model.replace("-", " ").title(),
            "description": f"{model} on the llmorch emulator",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": methods if chat else ["embedContent", "predict"],
            "temperature": 1,
            "maxTemperature": 2,
            "topP": 0.95,
            "topK": 64,
        }

    def page(self, request: Request) -> tuple[list[str], str | None] | JSONResponse:
        """One page of :meth:`models`, by ``pageSize`` (capped by the emulator's page size).

        Args:
            request: The list request.

        Returns:
            ``(model ids, nextPageToken or None)``, or a 400 for a bad parameter.
        """
        try:
            size = max(1, int(request.query.get("pageSize", "50")))
            start = int(request.query.get("pageToken") or "0")
        except ValueError:
            return self.error(400, "invalid_request", "Invalid pageSize or pageToken.")
        models = self.models()
        end = start + min(size, self.page_size)
        return models[start:end], (str(end) if end < len(models) else None)

    def _list(self, request: Request) -> JSONResponse:
        page = self.page(request)
        if isinstance(page, JSONResponse):
            return page
        ids, token = page
        body: dict[str, Any] = {"models": [self._model_entry(m) for m in ids]}
        if token:
            body["nextPageToken"] = token
        return JSONResponse(200, body)

    # -- generation ---------------------------------------------------------------------------

    def not_found_message(self, model: str) -> str:
        """The vendor's wording for an unknown model.

        Args:
            model: The model id.

        Returns:
            The message.
        """
        return (
            f"models/{model} is not found for API version v1beta, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their "
            "supported methods."
        )

    def proto_package(self, version: str) -> str:
        """The proto package Google's errors name types in, for an API version.

        Args:
            version: The path's version (``v1beta``, …).

        Returns:
            The package.
        """
        return f"google.ai.generativelanguage.{version}"

    def generate(self, request: Request, model: str, stream: bool, version: str) -> Response:
        """Answer ``generateContent`` / ``streamGenerateContent``.

        Args:
            request: The request.
            model: The model from the path.
            stream: True for ``streamGenerateContent`` (SSE with ``alt=sse``, else a JSON array).
            version: The API version in the path.

        Returns:
            The response.
        """
        body = request.json()
        if not isinstance(body, dict):
            return self.error(400, "invalid_request", "Invalid JSON payload received.")
        package = self.proto_package(version)
        vertex = self.request_schema is VERTEX_REQUEST
        refusal = (
            check(body, self.request_schema, package)
            or check_semantics(body, model, package, vertex=vertex)
            or check_media(body, model, vertex=vertex)
            or check_output(body, model, package)
        )
        if refusal is not None:
            message, details = refusal
            return JSONResponse(400, google_error(400, message, details))
        if model not in self.models() or not self.is_chat(model):
            return self.error(404, "not_found", self.not_found_message(model))
        texts, last_user = _texts(body)
        max_tokens = pick(body, "generationConfig", "maxOutputTokens")
        default = _forced_call(body) or _shaped(body, last_user)
        plan = self.plan(model, (None, *texts), max_tokens, last_user, default)
        if isinstance(plan, Fault):
            return self.fault_response(plan, model)
        asked = _Asked.of(body, model, vertex=self.request_schema is VERTEX_REQUEST)
        response_id = secrets.token_urlsafe(16)
        if stream and request.query.get("alt") == "sse":
            return self.stream(
                plan, lambda p: self._frames(p, asked, response_id), "text/event-stream", {}
            )
        if plan.ending == "error":
            status = _ERRORS.get(plan.error or "server_error", _ERRORS["server_error"])[0]
            return self.error(status, plan.error or "server_error", plan.message)
        if plan.ending == "malformed":
            return JSONResponse(200, "not json {")
        complete = plan.ending == "complete"
        parts = [*_thoughts(plan, asked, whole=True), *_answer_parts(plan, asked, complete)]
        answer = self.answer(plan, parts, response_id, final=complete)
        return self.whole(plan, [answer] if stream else answer)

    def usage(self, plan: Plan, final: bool) -> dict[str, Any]:
        """``usageMetadata``: ``candidatesTokenCount`` appears once generation is done.

        ``candidatesTokenCount`` excludes thinking, which ``thoughtsTokenCount`` reports (the
        recorded Gemini 3 answers: total = prompt + candidates + thoughts).

        Args:
            plan: The answer.
            final: Whether this is the last chunk (or a whole answer).

        Returns:
            The usage object.
        """
        thoughts = count_tokens(plan.reasoning or "")
        completion = plan.completion_tokens if final else 0
        usage: dict[str, Any] = {
            "promptTokenCount": plan.prompt_tokens,
            "totalTokenCount": plan.prompt_tokens + max(completion, thoughts),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.prompt_tokens}],
        }
        if final:
            usage["candidatesTokenCount"] = max(completion - thoughts, 0)
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def answer(
        self, plan: Plan, parts: list[dict[str, Any]], response_id: str, *, final: bool
    ) -> dict[str, Any]:
        """One ``GenerateContentResponse`` (a whole answer, or one stream chunk).

        Args:
            plan: The answer.
            parts: This response's parts.
            response_id: The ``responseId``.
            final: Whether it ends the answer (carries ``finishReason`` and the output count).

        Returns:
            The response JSON.
        """
        if final and plan.finish_reason == "content_filter" and not plan.text:
            return {
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": self.usage(plan, False),
                "modelVersion": plan.model,
                "responseId": response_id,
            }
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if final:
            malformed = any(isinstance(_arguments(c), str) for c in plan.tool_calls)
            candidate["finishReason"] = (
                "MALFORMED_FUNCTION_CALL" if malformed else _FINISH.get(plan.finish_reason, "STOP")
            )
            if plan.tool_calls and not malformed and any("functionCall" in p for p in parts):
                candidate["finishMessage"] = "Model generated function call(s)."
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": self.usage(plan, final),
            "modelVersion": plan.model,
            "responseId": response_id,
        }

    def _frames(self, plan: Plan, asked: _Asked, response_id: str) -> list[bytes]:
        """The SSE events: thoughts, text words, one whole call per chunk, then the finish.

        The recorded streams end a function-call answer with an empty text part carrying
        ``finishReason`` (and, for a signed text answer, the ``thoughtSignature``); a plain text
        answer puts ``finishReason`` on its last word. A cut mid-call sends half of the last
        call's event and closes the connection.
        """
        complete = plan.ending == "complete"
        chunks: list[list[dict[str, Any]]] = [[p] for p in _thoughts(plan, asked, whole=False)]
        chunks += [[{"text": text}] for text in plan.chunks]
        calls = [[p] for p in _call_parts(plan.tool_calls, asked)]
        half: bytes = b""
        if plan.ending == "cut" and calls:
            last = calls.pop()
            if not plan.clean:
                event = _data(self.answer(plan, last, response_id, final=False))
                half = event[: len(event) // 2]
        for call in calls:
            chunks += _streamed_call(call[0]) if asked.streamed_args else [call]
        if complete and (plan.tool_calls or not plan.chunks):
            chunks.append([{"text": ""}])
        elif complete and plan.reasoning and asked.signed:
            signature = sign(THOUGHT_SIGNATURE, TEXT_SIGNATURE)
            chunks.append([{"text": "", "thoughtSignature": signature}])
        frames = [
            _data(self.answer(plan, parts, response_id, final=complete and i == len(chunks) - 1))
            for i, parts in enumerate(chunks)
        ]
        if half:
            frames.append(half)
        if plan.ending == "error":
            status, default = _ERRORS.get(plan.error or "server_error", _ERRORS["server_error"])
            error = json.dumps(google_error(status, plan.message or default), indent=2)
            frames.append(error.replace("\n", "\r\n").encode() + b"\r\n")
        elif plan.ending == "malformed":
            frames.append(b"data: {this is not json\r\n\r\n")
        return frames


@dataclass(frozen=True)
class _Asked:
    """What the request turned on that shapes the answer.

    Attributes:
        thoughts: ``thinkingConfig.includeThoughts``: thought summaries are sent (``thought:
            true`` parts).
        signed: Parts carry ``thoughtSignature`` (Gemini 3 always signs its function calls;
            earlier models only with thoughts shown).
        ids: ``functionCall.id`` is sent (Gemini 3 "always returns a unique id with every
            functionCall", function-calling docs).
        streamed_args: Vertex's ``functionCallingConfig.streamFunctionCallArguments``: a
            streamed call's arguments come as ``partialArgs`` (the recorded Vertex streams).
    """

    thoughts: bool
    signed: bool
    ids: bool
    streamed_args: bool = False

    @classmethod
    def of(cls, body: dict[str, Any], model: str, *, vertex: bool) -> _Asked:
        thoughts = pick(body, "generationConfig", "thinkingConfig", "includeThoughts") is True
        gemini3 = is_gemini3(model)
        calling = pick(body, "toolConfig", "functionCallingConfig")
        streamed = vertex and pick(calling, "streamFunctionCallArguments") is True
        return cls(thoughts, gemini3 or thoughts, gemini3, streamed)


def _arguments(call: ToolUse) -> dict[str, Any] | str:
    """A call's ``args`` object; a scripted string that is no JSON object stays a string."""
    if not isinstance(call.arguments, str):
        return dict(call.arguments)
    try:
        parsed = json.loads(call.arguments)
    except ValueError:
        return call.arguments
    return parsed if isinstance(parsed, dict) else call.arguments


def _call_parts(calls: tuple[ToolUse, ...], asked: _Asked) -> list[dict[str, Any]]:
    """``functionCall`` parts; parallel calls carry one signature, on the first part.

    A call whose scripted arguments are not a JSON object cannot be written as ``args``: the
    model's answer is then ``MALFORMED_FUNCTION_CALL`` with no call part (Gemini's finish reason
    for a function call it could not form).
    """
    parts: list[dict[str, Any]] = []
    for call in calls:
        args = _arguments(call)
        if isinstance(args, str):
            continue
        function: dict[str, Any] = {"name": call.name, "args": args}
        if asked.ids or call.id:
            function["id"] = call.id or secrets.token_hex(4)
        part: dict[str, Any] = {"functionCall": function}
        if asked.signed and not parts:
            part["thoughtSignature"] = sign(THOUGHT_SIGNATURE, call_signature_text(function))
        parts.append(part)
    return parts


def _thoughts(plan: Plan, asked: _Asked, *, whole: bool) -> list[dict[str, Any]]:
    """Thought summary parts, sent only with ``includeThoughts``: one, or one per stream word."""
    if not plan.reasoning or not asked.thoughts:
        return []
    pieces = [plan.reasoning] if whole else split_chunks(plan.reasoning)
    return [{"text": piece, "thought": True} for piece in pieces]


def _answer_parts(plan: Plan, asked: _Asked, complete: bool) -> list[dict[str, Any]]:
    """The answer's text part and call parts; a signed text answer signs its text part."""
    calls = _call_parts(plan.tool_calls, asked) if complete else []
    parts: list[dict[str, Any]] = []
    if plan.text or not calls:
        parts.append({"text": plan.text})
    if complete and not calls and plan.reasoning and asked.signed:
        parts[-1]["thoughtSignature"] = sign(THOUGHT_SIGNATURE, TEXT_SIGNATURE)
    return parts + calls


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _partial(path: str, value: Any) -> list[dict[str, Any]]:
    """One leaf as ``PartialArg`` pieces: a string in two pieces then an empty one, as recorded."""
    if isinstance(value, str):
        cut = len(value) // 2
        pieces = [value[:cut], value[cut:]] if cut else [value]
        args = [{"jsonPath": path, "stringValue": piece, "willContinue": True} for piece in pieces]
        return [*args, {"jsonPath": path, "stringValue": ""}]
    if isinstance(value, bool):
        return [{"jsonPath": path, "boolValue": value}]
    if isinstance(value, (int, float)):
        return [{"jsonPath": path, "numberValue": value}]
    return [{"jsonPath": path, "nullValue": "NULL_VALUE"}]


def _streamed_call(part: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """A call the Vertex way with ``streamFunctionCallArguments``, one chunk per piece.

    Opened by name (with its id and signature), its arguments as ``partialArgs`` leaf by leaf,
    closed by an empty ``functionCall`` (``tests/fixtures/google/vertex_streamed_arguments*``).
    """
    function = part["functionCall"]
    opening: dict[str, Any] = {"name": function["name"], "willContinue": True}
    if "id" in function:
        opening["id"] = function["id"]
    first = {"functionCall": opening}
    if "thoughtSignature" in part:
        first["thoughtSignature"] = part["thoughtSignature"]
    chunks = [[first]]
    args = function["args"]
    for path, value in _leaves(args, "$") if args else []:
        chunks += [
            [{"functionCall": {"partialArgs": [piece], "willContinue": True}}]
            for piece in _partial(path, value)
        ]
    chunks.append([{"functionCall": {}}])
    return chunks


def _forced_call(body: dict[str, Any]) -> Reply | None:
    """With mode ``ANY`` and nothing scripted the model calls a tool: the first allowed one."""
    calling = pick(body, "toolConfig", "functionCallingConfig")
    if not isinstance(calling, dict) or str(calling.get("mode", "")).upper() != "ANY":
        return None
    declarations = [
        d
        for tool in body.get("tools") or []
        if isinstance(tool, dict)
        for d in pick(tool, "functionDeclarations") or []
        if isinstance(d, dict)
    ]
    allowed = pick(calling, "allowedFunctionNames") or [d.get("name") for d in declarations]
    for declaration in declarations:
        if declaration.get("name") == allowed[0]:
            schema = pick(declaration, "parametersJsonSchema") or pick(declaration, "parameters")
            return Reply(tool_calls=(ToolUse(allowed[0], default_arguments(schema)),))
    return None


def _shaped(body: dict[str, Any], last_user: str) -> Reply | None:
    """The answer a structured-output request gets when nothing is scripted.

    JSON valid for the schema (any root); with ``application/json`` and no schema, a JSON object
    echoing the question; with ``text/x.enum``, the first value of the enum.
    """
    shape = answer_schema(body)
    if shape is None:
        return None
    mime, schema = shape
    if mime != JSON:
        values = schema.get("enum") if isinstance(schema, dict) else None
        return Reply(str(values[0])) if values else None
    value = {"answer": last_user[:80]} if schema is None else schema_instance(schema)
    return Reply(json.dumps(value, ensure_ascii=False))


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"
