"""The Gemini wire format, sans I/O, shared by the Gemini API and Vertex AI adapters.

Four pure mappings (docs/wire/google.md has the facts and their sources):

- request: :func:`encode_request` turns a :class:`~llmorch.request.ChatRequest` into a
  ``generateContent`` body (``contents``, ``systemInstruction``, ``generationConfig``,
  ``tools`` / ``toolConfig``, ``thinkingConfig``);
- response: :func:`decode_response` reads a ``GenerateContentResponse`` (text, ``functionCall``
  parts, ``thought: true`` summaries, ``thoughtSignature`` on the part it came on, usage);
- stream: :class:`GeminiStreamParser`, one SSE event in, normalised events out (calls come
  whole, one per chunk: ``tool_start`` with the arguments, then ``tool_end``);
- errors: :func:`classify_error` and :func:`retry_delay` for ``google.rpc.Status`` bodies.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmorch._sse import ServerSentEvent
from llmorch.capabilities import capabilities
from llmorch.exceptions import (
    AuthenticationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.messages import ChatMessage, ReasoningItem
from llmorch.providers._common import class_for_status, not_an_answer
from llmorch.request import ChatRequest
from llmorch.tools import Tool, ToolCall, ToolChoice, generated_id, is_generated_id, parse_arguments
from llmorch.types import LLMResponse, StreamEvent, normalize_tokens

__all__ = [
    "SKIP_SIGNATURE",
    "ErrorFactory",
    "GeminiStreamParser",
    "classify_error",
    "decode_response",
    "encode_request",
    "retry_delay",
    "same_family",
    "usage_tokens",
]

logger = logging.getLogger("llmorch")

SKIP_SIGNATURE = "skip_thought_signature_validator"
"""The stand-in Google documents for a call turn whose signature is not available (a history
from another model or provider): Gemini 3 refuses a current-turn call without a signature."""

# -- request --------------------------------------------------------------------------------

_FUNCTION_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
# reasoning= effort to Gemini 3's thinkingLevel and Gemini 2.5's thinkingBudget (0 = off,
# -1 = dynamic; ai.google.dev/gemini-api/docs/thinking). Gemini 3 cannot turn thinking off:
# "none" is its least thinking, MINIMAL on Flash, LOW on Pro (vellum-ai/vellum-assistant#32687).
_LEVELS = {"none": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
_BUDGETS = {"none": 0, "low": 1024, "medium": 8192, "high": 24576}
_VERSION = re.compile(r"gemini-(\d+)")


def same_family(produced_by: str, model: str) -> bool:
    """Whether reasoning state from one model may go back to another.

    Thought signatures are tied to the model generation that issued them (a Gemini 2.5
    signature is no Gemini 3 one): the family is ``gemini-<major>``.

    Args:
        produced_by: The model that produced the state.
        model: The model of this request.

    Returns:
        True for the same Gemini major version.
    """
    a, b = _VERSION.search(produced_by), _VERSION.search(model)
    return a is not None and b is not None and a.group(1) == b.group(1)


def _needs_signatures(model: str) -> bool:
    match = _VERSION.search(model)
    return match is not None and int(match.group(1)) >= 3


def _kept(message: ChatMessage, request: ChatRequest, provider_type: str) -> list[ReasoningItem]:
    """The message's reasoning state that may go back to this request's model."""
    kept = []
    for item in message.reasoning:
        if item.provider_type == provider_type and same_family(item.model, request.model):
            kept.append(item)
        else:
            logger.debug(
                "reasoning state from %s/%s is not sent to %s/%s",
                item.provider_type,
                item.model,
                provider_type,
                request.model,
            )
    return kept


def _model_parts(
    message: ChatMessage, request: ChatRequest, provider_type: str
) -> list[dict[str, Any]]:
    """An assistant turn as ``model`` parts, each signature back on the part it came on."""
    items = _kept(message, request, provider_type)
    by_call = {i.tool_call_id: i.signature for i in items if i.tool_call_id and i.signature}
    parts: list[dict[str, Any]] = [
        {"text": i.text, "thought": True, "thoughtSignature": i.signature}
        for i in items
        if i.text and i.signature and not i.tool_call_id
    ]
    texts = [{"text": p.text} for p in message.text_parts if p.text or not message.tool_calls]
    bare = [i.signature for i in items if not i.text and not i.tool_call_id and i.signature]
    if bare:
        if not texts:
            texts.append({"text": ""})
        texts[-1]["thoughtSignature"] = bare[-1]
    parts += texts
    for n, call in enumerate(message.tool_calls):
        function: dict[str, Any] = {"name": call.name, "args": call.arguments}
        if not is_generated_id(call.id):
            function["id"] = call.id
        part: dict[str, Any] = {"functionCall": function}
        signature = by_call.get(call.id)
        if signature is None and n == 0 and _needs_signatures(request.model):
            signature = SKIP_SIGNATURE
        if signature is not None:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _result_part(message: ChatMessage) -> dict[str, Any]:
    """A ``tool`` turn as a ``functionResponse`` (the text under ``output``, as the API asks)."""
    response: dict[str, Any] = {
        "name": message.tool_name or "",
        "response": {"output": message.text},
    }
    if message.tool_call_id and not is_generated_id(message.tool_call_id):
        response = {"id": message.tool_call_id, **response}
    return {"functionResponse": response}


def _contents(
    request: ChatRequest, provider_type: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(systemInstruction parts, contents)``; consecutive turns of one role share a Content."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        role = message.role
        if role in ("system", "developer"):
            system += [{"text": part.text} for part in message.text_parts]
            continue
        if role == "assistant":
            turn, parts = "model", _model_parts(message, request, provider_type)
        elif role == "tool":
            turn, parts = "user", [_result_part(message)]
        else:
            turn, parts = "user", [{"text": part.text} for part in message.text_parts]
        if contents and contents[-1]["role"] == turn:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": turn, "parts": parts})
    return system, contents


def _declaration(tool: Tool) -> dict[str, Any]:
    """A ``FunctionDeclaration``; the JSON Schema goes as ``parametersJsonSchema``.

    (The OpenAPI-subset ``parameters`` refuses ``additionalProperties`` and the like.)
    """
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    declaration["parametersJsonSchema"] = dict(tool.parameters)
    return declaration


def _tool_config(choice: ToolChoice) -> dict[str, Any]:
    calling: dict[str, Any] = {"mode": _FUNCTION_MODES[choice.kind]}
    if choice.kind == "tool" and choice.name:
        calling["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": calling}


def _thinking(request: ChatRequest, provider_type: str) -> dict[str, Any] | None:
    """``thinkingConfig`` for ``reasoning=``, by the model's control (capability table).

    Raises:
        InvalidRequestError: A budget for a model that takes levels, or reasoning for a model
            that does not reason.
    """
    reasoning = request.reasoning
    if reasoning is None:
        return None
    control = capabilities(provider_type, request.model).reasoning
    if control is None:  # unknown model: its generation decides, as Google's docs do
        control = "level" if _needs_signatures(request.model) else "budget"
    effort = reasoning.effort
    if control == "none":
        if not reasoning.enabled:
            return None
        raise InvalidRequestError(f"{request.model} does not reason: reasoning= cannot be sent")
    config: dict[str, Any] = {}
    if control == "level":
        if effort is None:
            raise InvalidRequestError(
                f"{request.model} takes a thinking level, not a token budget: pass "
                "reasoning='low' | 'medium' | 'high' (or 'none')"
            )
        level = _LEVELS[effort]
        if level == "MINIMAL" and "-pro" in request.model:
            level = "LOW"  # "Thinking level MINIMAL is not supported for this model." on Pro
        config["thinkingLevel"] = level
    else:
        budget = reasoning.budget_tokens
        config["thinkingBudget"] = _BUDGETS[effort] if budget is None and effort else budget
    if reasoning.enabled:
        config["includeThoughts"] = True
    return config


def encode_request(
    request: ChatRequest,
    provider_type: str,
    safety_settings: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Build a ``generateContent`` body.

    System and developer turns become ``systemInstruction``; ``assistant`` turns are ``model``
    turns carrying their calls and signatures; ``tool`` turns become ``functionResponse`` parts,
    consecutive ones in one ``user`` turn. Reasoning state from another provider type or model
    family is dropped (logged at DEBUG); a Gemini 3 call turn without its signature then gets
    Google's documented stand-in.

    Args:
        request: The typed request.
        provider_type: ``gemini`` or ``vertex`` (reasoning state must come from the same).
        safety_settings: The configured ``safetySettings``.

    Returns:
        The body (``extra_body`` is merged by the caller).

    Raises:
        InvalidRequestError: Nothing to send, ``parallel_tool_calls=False`` (Gemini has no
            switch), or a ``reasoning=`` the model cannot take.
    """
    system, contents = _contents(request, provider_type)
    if not contents:
        raise InvalidRequestError("Gemini needs at least one user or assistant message")
    if request.parallel_tool_calls is False:
        raise InvalidRequestError(
            "parallel_tool_calls=False: Gemini has no switch for parallel function calls"
        )
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.top_k is not None:
        config["topK"] = request.top_k
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop is not None:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    thinking = _thinking(request, provider_type)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = _tool_config(request.tool_choice)
    if safety_settings is not None:
        body["safetySettings"] = [dict(s) for s in safety_settings]
    return body


# -- response -------------------------------------------------------------------------------

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_FILTERED = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
}
_FINISH.update(dict.fromkeys(_FILTERED, "content_filter"))


class ErrorFactory(Protocol):
    """What the codec needs from its adapter to raise mapped errors (no I/O)."""

    name: str

    def make_error(
        self,
        status: int | None,
        payload: Any,
        model: str | None,
        response_headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> ProviderError:
        """Build the mapped error for an error body."""

    def content_filtered(
        self, message: str, model: str, request_id: str | None, raw: Any
    ) -> ContentFilteredError:
        """Build a content-filtered error."""

    def decode_event(self, data: str, model: str, request_id: str | None) -> Any:
        """Decode one stream event's JSON (a mapped error when it is not JSON)."""


def usage_tokens(meta: Mapping[str, Any]) -> dict[str, int]:
    """Normalise ``usageMetadata``.

    ``prompt`` is ``promptTokenCount`` (which includes cached content) plus
    ``toolUsePromptTokenCount``; ``completion`` is ``candidatesTokenCount`` plus
    ``thoughtsTokenCount`` (``candidatesTokenCount`` excludes thinking, which is billed as
    output); ``cache_read`` is ``cachedContentTokenCount`` and ``reasoning`` is
    ``thoughtsTokenCount``, when sent.

    Args:
        meta: The ``usageMetadata`` object.

    Returns:
        The normalised token counts.
    """
    thoughts = meta.get("thoughtsTokenCount")
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + int(thoughts or 0)
    return normalize_tokens(
        prompt, completion, cache_read=meta.get("cachedContentTokenCount"), reasoning=thoughts
    )


def _candidate(data: Mapping[str, Any]) -> dict[str, Any]:
    candidates = data.get("candidates") or [{}]
    first = candidates[0] if isinstance(candidates, list) else {}
    return first if isinstance(first, dict) else {}


def _parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content") or {}
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or [] if isinstance(p, dict)]


def _block_reason(data: Mapping[str, Any]) -> str | None:
    feedback = data.get("promptFeedback") or {}
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return str(reason) if reason and not data.get("candidates") else None


def _finish(candidate: Mapping[str, Any]) -> str | None:
    reason = candidate.get("finishReason")
    return _FINISH.get(str(reason), "other") if reason else None


def _arguments_json(call: Mapping[str, Any]) -> str:
    """A whole call's ``args`` as JSON text (the accumulator parses it, as for every vendor)."""
    args = call.get("args")
    return "" if args is None else json.dumps(args, ensure_ascii=False, separators=(",", ":"))


@dataclass
class _Answer:
    """What a candidate's parts say."""

    text: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    items: list[ReasoningItem] = field(default_factory=list)


def _read_parts(parts: list[dict[str, Any]]) -> _Answer:
    answer = _Answer()
    thought_signature: str | None = None
    text_signature: str | None = None
    for part in parts:
        signature = part.get("thoughtSignature")
        call = part.get("functionCall")
        if isinstance(call, dict):
            call_id = call.get("id") or generated_id()
            text = _arguments_json(call)
            answer.calls.append(parse_arguments(call_id, str(call.get("name") or ""), text))
            if signature:
                answer.items.append(ReasoningItem("", signature, tool_call_id=call_id))
        elif isinstance(part.get("text"), str):
            if part.get("thought"):
                answer.thoughts.append(part["text"])
                thought_signature = signature or thought_signature
            else:
                answer.text.append(part["text"])
                text_signature = signature or text_signature
    if answer.thoughts:
        answer.items.insert(0, ReasoningItem("".join(answer.thoughts), thought_signature))
    if text_signature:
        answer.items.append(ReasoningItem("", text_signature))
    return answer


def decode_response(
    data: dict[str, Any], model: str, errors: ErrorFactory, request_id: str | None
) -> LLMResponse:
    """Turn a ``GenerateContentResponse`` into an :class:`~llmorch.types.LLMResponse`.

    Text is the non-thought text parts; ``reasoning`` the ``thought: true`` parts; each
    ``functionCall`` part is a :class:`~llmorch.tools.ToolCall` (the vendor's ``id``, else a
    generated one); each ``thoughtSignature`` a reasoning item on the part it came on.

    Args:
        data: The response JSON.
        model: The model requested.
        errors: The adapter, for mapped errors.
        request_id: The request id from the headers, if any (``responseId`` wins).

    Returns:
        The answer.

    Raises:
        ContentFilteredError: The prompt or the answer was blocked and nothing came back.
        ProviderUnavailableError: A 200 that is no answer (no candidates, no finish, no usage).
    """
    request_id = data.get("responseId") or request_id
    block = _block_reason(data)
    if block:
        raise errors.content_filtered(f"the prompt was blocked ({block})", model, request_id, data)
    candidate = _candidate(data)
    answer = _read_parts(_parts(candidate))
    finish = _finish(candidate)
    text = "".join(answer.text)
    if not text and not answer.calls and finish is None:
        raise not_an_answer(errors.name, model, request_id, data)
    if finish == "content_filter" and not text and not answer.calls:
        reason = candidate.get("finishReason")
        raise errors.content_filtered(f"the answer was blocked ({reason})", model, request_id, data)
    if answer.calls and finish == "stop":
        finish = "tool_calls"
    return LLMResponse(
        content=text,
        model=model,
        provider=errors.name,
        tokens_used=usage_tokens(data.get("usageMetadata") or {}),
        finish_reason=finish or "other",
        request_id=request_id,
        raw_response=data,
        model_answered=data.get("modelVersion"),
        tool_calls=answer.calls,
        reasoning="".join(answer.thoughts) if answer.thoughts else None,
        reasoning_items=answer.items,
    )


# -- stream ---------------------------------------------------------------------------------

_COUNTS = frozenset({"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"})
# (Vertex's early chunks carry usageMetadata with only trafficType: no usage to report yet.)
_THOUGHTS = 0  # reasoning block of the thought summaries
_TEXT_SIGNATURE = 1  # the bare signature on the answer's text part


class GeminiStreamParser:
    """Sans-I/O: one ``streamGenerateContent?alt=sse`` event in, the normalised events out.

    Each chunk carries only its new parts; ``usageMetadata`` repeats, and is reported when its
    counts change. There is no ``[DONE]``: the answer is whole once a candidate carries
    ``finishReason``. A function call arrives whole in one part: it is reported as
    ``tool_start`` (with its arguments and signature) and ``tool_end``, numbered by a running
    count. With Vertex's ``streamFunctionCallArguments`` a call instead opens with ``name`` and
    ``willContinue``, its ``partialArgs`` (values at JSON paths, strings in pieces) follow, and
    an empty ``functionCall`` closes it: the arguments are assembled here, because they are no
    JSON text fragments, and reported as one ``tool_delta`` when it closes. A bare
    ``{"error": …}`` object (or one wrapped in a list) is raised mapped.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = (
        "adapter",
        "calls",
        "complete",
        "growing",
        "model",
        "request_id",
        "seen_content",
        "started",
        "usage",
    )

    def __init__(self, adapter: ErrorFactory, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.seen_content = False
        self.started = False
        self.complete = False
        self.calls = 0
        self.usage: dict[str, int] | None = None
        self.growing: tuple[int, dict[str, Any]] | None = None  # a call with streamed args

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event (from a ``bare_json`` decoder).

        Returns:
            ``text``, ``reasoning``, ``tool_start``/``tool_end``, ``usage`` and ``finish``
            events.

        Raises:
            ProviderError: An error object arrived, a chunk was not JSON, or the prompt or
                answer was blocked before any content (``ContentFilteredError``).
        """
        if not sse.data:
            return []
        decoded = self.adapter.decode_event(sse.data, self.model, self.request_id)
        out: list[StreamEvent] = []
        for chunk in decoded if isinstance(decoded, list) else [decoded]:
            if isinstance(chunk, dict):
                out += self._chunk(chunk)
        return out

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if "error" in chunk:
            raise self.adapter.make_error(None, chunk, self.model, request_id=self.request_id)
        self.request_id = chunk.get("responseId") or self.request_id
        block = _block_reason(chunk)
        if block and not self.seen_content:
            message = f"the prompt was blocked ({block})"
            raise self.adapter.content_filtered(message, self.model, self.request_id, chunk)
        if "candidates" in chunk or "usageMetadata" in chunk:
            self.started = True
        candidate = _candidate(chunk)
        out = self._parts(_parts(candidate))
        finish = _finish(candidate)
        if finish and self.growing is not None:  # the call's closing part never came
            out += self._close()
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict) and _COUNTS.intersection(meta):
            tokens = usage_tokens(meta)
            if tokens != self.usage:
                self.usage = tokens
                out.append(
                    StreamEvent(
                        "usage",
                        tokens=tokens,
                        request_id=chunk.get("responseId"),
                        model_answered=chunk.get("modelVersion"),
                        raw=chunk,
                    )
                )
        if finish == "content_filter" and not self.seen_content:
            message = f"the answer was blocked ({candidate.get('finishReason')})"
            raise self.adapter.content_filtered(message, self.model, self.request_id, chunk)
        if finish:
            self.complete = True
            if finish == "stop" and self.calls:
                finish = "tool_calls"
            out.append(StreamEvent("finish", finish_reason=finish))
        return out

    def _parts(self, parts: list[dict[str, Any]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for part in parts:
            signature = part.get("thoughtSignature")
            call = part.get("functionCall")
            if isinstance(call, dict):
                out += self._call(call, signature)
                continue
            text = part.get("text")
            if not isinstance(text, str):
                continue
            if part.get("thought"):
                self.seen_content = self.seen_content or bool(text)
                out.append(
                    StreamEvent("reasoning", text=text, index=_THOUGHTS, signature=signature)
                )
                continue
            if text:
                self.seen_content = True
                out.append(StreamEvent("text", text=text))
            if signature:
                out.append(StreamEvent("reasoning", index=_TEXT_SIGNATURE, signature=signature))
        return out

    def _call(self, call: dict[str, Any], signature: str | None) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        partial = call.get("partialArgs")
        if self.growing is not None:
            if isinstance(partial, list):
                for arg in partial:
                    if isinstance(arg, dict):
                        _set_partial(self.growing[1], arg)
                return out
            if "name" not in call:
                return self._close() if not call.get("willContinue") else out
            out += self._close()
        elif "name" not in call:
            return out  # a stray terminator or continuation: nothing is open
        index = self.calls
        self.calls += 1
        self.seen_content = True
        streamed = bool(call.get("willContinue"))
        out.append(
            StreamEvent(
                "tool_start",
                text="" if streamed else _arguments_json(call),
                index=index,
                tool_id=call.get("id"),
                name=str(call.get("name") or ""),
                signature=signature,
            )
        )
        if streamed:
            self.growing = (index, {})
        else:
            out.append(StreamEvent("tool_end", index=index))
        return out

    def _close(self) -> list[StreamEvent]:
        assert self.growing is not None
        index, args = self.growing
        self.growing = None
        text = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        return [
            StreamEvent("tool_delta", text=text, index=index),
            StreamEvent("tool_end", index=index),
        ]


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _set_partial(args: dict[str, Any], arg: Mapping[str, Any]) -> None:
    """Apply one ``PartialArg``: a value at a JSON path (``$.a.b[0].c``); strings come in pieces."""
    steps: list[str | int] = [
        name if name else int(number)
        for name, number in _PATH_STEP.findall(str(arg.get("jsonPath") or "")[1:])
    ]
    if not steps:
        return
    node: Any = args
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if following is None:
            break
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int) and isinstance(node, list):
            while len(node) <= step:
                node.append(None)
            node[step] = node[step] if node[step] is not None else fresh
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict):
            node = node.setdefault(step, fresh)
        else:
            return
    last = steps[-1]
    if "stringValue" in arg:
        value: Any = arg["stringValue"]
        current = node[last] if _has(node, last) else None
        value = (current if isinstance(current, str) else "") + str(value)
    elif "numberValue" in arg:
        value = arg["numberValue"]
    elif "boolValue" in arg:
        value = arg["boolValue"]
    else:
        value = None
    if isinstance(last, int) and isinstance(node, list):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    elif isinstance(last, str) and isinstance(node, dict):
        node[last] = value


def _has(node: Any, key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and key < len(node)


# -- errors ---------------------------------------------------------------------------------

_STATUS_NAMES: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": ModelNotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
}
_CONTEXT = re.compile(
    r"input token count.*exceeds|exceeds the maximum number of tokens", re.I | re.S
)
_MODEL_MISSING = re.compile(r"\bmodels?\b.*\b(?:is|was) not found", re.I | re.S)


def _error_object(payload: Any) -> dict[str, Any]:
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error
    return {"message": str(payload)[:500] if payload else ""}


def _details(error: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    return [
        d
        for d in details or []
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc." + kind)
    ]


def classify_error(status: int | None, payload: Any) -> tuple[type[ProviderError], str]:
    """Classify a ``google.rpc.Status`` error body (``{"error": {code, message, status, …}}``).

    Args:
        status: The HTTP status, or ``None`` for an error inside a stream (its ``code`` is used).
        payload: The decoded body, possibly wrapped in a one-element list.

    Returns:
        ``(class, message)``. An invalid API key (400 with reason ``API_KEY_INVALID``) is an
        authentication error; a prompt over the context window is a context-length error.
    """
    error = _error_object(payload)
    code = error.get("code") if status is None else status
    state = str(error.get("status") or "")
    message = str(error.get("message") or f"HTTP {status}")
    if isinstance(code, int) and code >= 400:
        cls = class_for_status(code)
    else:
        cls = _STATUS_NAMES.get(state, ProviderUnavailableError)
    if any(d.get("reason") == "API_KEY_INVALID" for d in _details(error, "ErrorInfo")):
        cls = AuthenticationError
    elif cls is InvalidRequestError and _CONTEXT.search(message):
        cls = ContextLengthExceededError
    elif cls is InvalidRequestError and _MODEL_MISSING.search(message):
        cls = ModelNotFoundError
    return cls, message


def retry_delay(payload: Any) -> float | None:
    """The back-off a ``google.rpc.RetryInfo`` detail asks for.

    Args:
        payload: The decoded error body.

    Returns:
        Seconds (``"12s"`` → 12.0, also ``{"seconds": 12, "nanos": …}``), or ``None``.
    """
    for detail in _details(_error_object(payload), "RetryInfo"):
        delay = detail.get("retryDelay")
        seconds: float | None = None
        try:
            if isinstance(delay, str) and delay.endswith("s"):
                seconds = float(delay[:-1])
            elif isinstance(delay, dict):
                seconds = float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
        # "NaNs" or "infs" is no usable delay: ignore it so the exponential backoff applies.
        return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None
    return None
