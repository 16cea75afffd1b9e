"""The Gemini wire format, sans I/O, shared by the Gemini API and Vertex AI adapters.

Pure mappings (docs/wire/google.md has the facts and their sources); the stream parser is
in :mod:`~llmorch.providers._gemini_stream`, the error bodies in
:mod:`~llmorch.providers._gemini_errors`:

- request: :func:`encode_request` turns a :class:`~llmorch.request.ChatRequest` into a
  ``generateContent`` body (``contents``, ``systemInstruction``, ``generationConfig``,
  ``tools`` / ``toolConfig``, ``thinkingConfig``);
- response: :func:`decode_response` reads a ``GenerateContentResponse`` (text, ``functionCall``
  parts, ``thought: true`` summaries, ``thoughtSignature`` on the part it came on, usage);
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmorch.capabilities import capabilities
from llmorch.exceptions import ContentFilteredError, InvalidRequestError, ProviderError
from llmorch.messages import ChatMessage, ReasoningItem
from llmorch.providers._common import not_an_answer
from llmorch.providers._gemini_parts import content_parts, output_config, result_media
from llmorch.request import ChatRequest
from llmorch.tools import Tool, ToolCall, ToolChoice, generated_id, is_generated_id, parse_arguments
from llmorch.types import LLMResponse, normalize_tokens

__all__ = [
    "SKIP_SIGNATURE",
    "ErrorFactory",
    "decode_response",
    "encode_request",
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


def _result_part(message: ChatMessage, provider_type: str, where: str) -> dict[str, Any]:
    """A ``tool`` turn as a ``functionResponse`` (text under ``output``, media as ``parts``)."""
    response: dict[str, Any] = {
        "name": message.tool_name or "",
        "response": {"output": message.text},
    }
    if message.tool_call_id and not is_generated_id(message.tool_call_id):
        response = {"id": message.tool_call_id, **response}
    media = result_media(message, provider_type, where)
    if media:
        response["parts"] = media
    return {"functionResponse": response}


def _contents(
    request: ChatRequest, provider_type: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(systemInstruction parts, contents)``; consecutive turns of one role share a Content."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        role = message.role
        if role in ("system", "developer"):
            system += [{"text": part.text} for part in message.text_parts]
            continue
        if role == "assistant":
            turn, parts = "model", _model_parts(message, request, provider_type)
        elif role == "tool":
            turn, parts = "user", [_result_part(message, provider_type, f"messages[{i}]")]
        else:
            turn, parts = "user", content_parts(message, f"messages[{i}]")
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

    System and developer turns become ``systemInstruction``; user turns carry text, image and
    document parts (:mod:`~llmorch.providers._gemini_parts`); ``assistant`` turns are ``model``
    turns carrying their calls and signatures; ``tool`` turns become ``functionResponse`` parts,
    consecutive ones in one ``user`` turn. Reasoning state from another provider type or model
    family is dropped (logged at DEBUG); a Gemini 3 call turn without its signature then gets
    Google's documented stand-in. ``request.output`` asks for JSON (``responseMimeType``,
    ``responseJsonSchema``); ``cache_control`` marks are never sent (Gemini caches implicitly).

    Args:
        request: The typed request.
        provider_type: ``gemini`` or ``vertex`` (reasoning state must come from the same).
        safety_settings: The configured ``safetySettings``.

    Returns:
        The body (``extra_body`` is merged by the caller).

    Raises:
        InvalidRequestError: Nothing to send, ``parallel_tool_calls=False`` (Gemini has no
            switch), a ``reasoning=`` the model cannot take, a media part Gemini cannot take
            that way, or structured output the model or ``extra_body`` conflicts with.
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
    config.update(output_config(request))
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
