"""The OpenAI Chat Completions codec: sans-I/O, no network, no clock.

Four sections a newcomer reads top to bottom: the request (:func:`encode_request`), the response
(:func:`decode_response`), the stream (:class:`ChunkParser`) and errors (:func:`classify_error`,
:func:`unsupported_parameter`). :class:`~llmorch.providers.openai.OpenAIProvider` is the thin I/O
shell around it. The wire facts, with their sources, are in ``docs/wire/openai.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import re
from collections.abc import Mapping, Sequence
from typing import Any

from llmorch._sse import ServerSentEvent, event_json
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
from llmorch.output import JSON_INSTRUCTION
from llmorch.parts import DocumentPart, ImagePart, Part, TextPart
from llmorch.providers._common import HTTPProvider, class_for_status, not_an_answer
from llmorch.providers._openai_format import response_format, strict_schema
from llmorch.request import ChatRequest, Reasoning
from llmorch.tools import Tool, ToolCall, ToolChoice, generated_id, is_generated_id, parse_arguments
from llmorch.types import LLMResponse, StreamEvent, normalize_tokens

__all__ = [
    "PROVIDER_TYPE",
    "ChunkParser",
    "classify_error",
    "decode_response",
    "encode_request",
    "is_chat_model",
    "same_family",
    "strict_schema",
    "unsupported_parameter",
]

logger = logging.getLogger("llmorch")
PROVIDER_TYPE = "openai"

_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}
# Families the /models list mixes in that cannot chat; patterns, not model lists (SPEC §2.5).
_NOT_CHAT = re.compile(
    r"embedding|tts|whisper|transcribe|dall-e|image|moderation|realtime|audio|search"
    r"|^(babbage|davinci)-|^sora"
)
_CODE_CLASSES: dict[str, type[ProviderError]] = {
    "context_length_exceeded": ContextLengthExceededError,
    "invalid_api_key": AuthenticationError,
    "model_not_found": ModelNotFoundError,
    "rate_limit_exceeded": RateLimitError,
    "insufficient_quota": RateLimitError,
    "unsupported_country_region_territory": PermissionDeniedError,
}
_TYPE_CLASSES: dict[str, type[ProviderError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": ModelNotFoundError,
    "rate_limit_error": RateLimitError,
    "server_error": ProviderUnavailableError,
    "api_error": ProviderUnavailableError,
    "timeout_error": ProviderTimeoutError,
    "overloaded_error": ProviderUnavailableError,
}


def _usage(usage: Mapping[str, Any]) -> dict[str, int]:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return normalize_tokens(
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        cache_read=prompt_details.get("cached_tokens"),
        cache_write=prompt_details.get("cache_write_tokens"),
        reasoning=completion_details.get("reasoning_tokens"),
    )


def is_chat_model(model_id: str) -> bool:
    """Whether an id from ``/models`` is a chat-capable base model.

    Fine-tunes (``ft:…`` and ``…:ft-…``) and non-chat families are excluded by pattern.

    Args:
        model_id: The ``id`` of one ``/models`` entry.

    Returns:
        True for base chat models.
    """
    if model_id.startswith(("ft:", "ft-")) or ":ft-" in model_id:
        return False
    return _NOT_CHAT.search(model_id) is None


# --- request --------------------------------------------------------------------------------

# Served only by the Responses API (platform.openai.com/docs/models): o1-pro, o3-pro, the
# deep-research models, gpt-5-pro / gpt-5.x-pro and the codex models.
_RESPONSES_ONLY = re.compile(r"^(o\d+-pro|o\d+(-mini)?-deep-research|gpt-5(\.\d+)?-(pro|codex))")
# Reasoning families by the efforts they take (the reasoning guides): the o-series
# low|medium|high; gpt-5 / -mini / -nano minimal|low|medium|high; gpt-5.1 and later none..xhigh.
_O_SERIES = re.compile(r"^o\d+(-mini)?(-\d{4}-\d{2}-\d{2})?$")
_GPT5 = re.compile(r"^gpt-5(-mini|-nano)?(-\d{4}-\d{2}-\d{2})?$")
_SNAPSHOT = re.compile(r"(-\d{4}-?\d{2}-?\d{2}|-\d{4}|@[\w.-]+|:[\w.-]+)$")
_MAX_STOP = 4
_MAX_ID = 40  # OpenAI refuses longer tool call ids ("Expected a string with maximum length 40")


def same_family(item_model: str, model: str) -> bool:
    """Whether reasoning state from ``item_model`` may go back to ``model``.

    The same model id once a date or snapshot suffix is removed (``deepseek-reasoner`` and
    ``deepseek-reasoner-2025-12-01``); anything else is another family.

    Args:
        item_model: The model that produced the state.
        model: The model of this request.

    Returns:
        True for the same family.
    """
    return _SNAPSHOT.sub("", item_model) == _SNAPSHOT.sub("", model)


def wire_id(call_id: str) -> str:
    """A tool call id as OpenAI takes it (at most 40 characters, stable for one history).

    A generated ``call_<uuid4>`` (41 characters) loses its dashes; a longer foreign id is
    replaced by a digest of itself, so the assistant call and its tool result still match.

    Args:
        call_id: The id in llmorch's history.

    Returns:
        The id to send.
    """
    if is_generated_id(call_id):
        return call_id.replace("-", "")
    if len(call_id) > _MAX_ID:
        return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:32]
    return call_id


def _tool(tool: Tool) -> dict[str, Any]:
    encoded = tool.to_openai()
    if tool.strict:
        encoded["function"]["parameters"] = strict_schema(tool.parameters)
    return encoded


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.kind == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.kind


def _effort(reasoning: Reasoning, model: str) -> str | None:
    """``reasoning_effort`` for a model: the effort, or a budget mapped to the nearest effort.

    ``none`` becomes the lowest effort of a model that always reasons (``minimal`` on gpt-5,
    ``low`` on the o-series); a non-reasoning model in the capability table is refused.
    """
    effort: str | None = reasoning.effort
    if effort is None and reasoning.budget_tokens is not None:
        budget = reasoning.budget_tokens
        effort = "none" if budget == 0 else "low" if budget <= 2048 else "medium"
        effort = "high" if budget > 16384 else effort
    if capabilities(PROVIDER_TYPE, model).reasoning == "none":
        if effort == "none":
            return None  # nothing to turn off
        raise InvalidRequestError(
            f"reasoning: {model} does not reason (llmorch's capability table); leave "
            "reasoning= out or pick a reasoning model"
        )
    if effort == "none" and _GPT5.match(model):
        return "minimal"
    if effort == "none" and _O_SERIES.match(model):
        return "low"
    return effort


def _content(message: ChatMessage, where: str) -> str | list[dict[str, Any]]:
    """A turn's ``content``: one text part as a string, else the parts (media: user turns only).

    Raises:
        InvalidRequestError: An image or document in a tool result (Chat Completions takes only
            text there: ``ChatCompletionToolMessageParam``).
    """
    parts = message.parts
    if len(parts) == 1 and type(parts[0]) is TextPart:
        return parts[0].text
    if not parts:
        return ""
    if message.role != "user":
        for index, part in enumerate(parts):
            if type(part) is not TextPart:
                raise InvalidRequestError(
                    f"{where}.content[{index}]: OpenAI Chat Completions takes images and files "
                    "only in user turns (a tool result is text only)"
                )
    return [_part(part) for part in parts]


def _part(part: Part) -> dict[str, Any]:
    """One content part; ``cache_control`` is never sent (OpenAI caches prefixes by itself)."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        image: dict[str, Any] = {"url": part.data_url}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    return {"type": "file", "file": {"file_data": part.data_url, "filename": _filename(part)}}


def _filename(part: DocumentPart) -> str:
    """The part's file name, or one made up: OpenAI refuses ``file_data`` without a filename."""
    if part.filename:
        return part.filename
    extension = ".pdf" if part.media_type == "application/pdf" else None
    return "document" + (extension or mimetypes.guess_extension(part.media_type) or "")


def _assistant(message: ChatMessage, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = message.text
    out["content"] = text if text or not message.tool_calls else None
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": wire_id(call.id),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json or "{}"},
            }
            for call in message.tool_calls
        ]
    if message.reasoning:
        # OpenAI itself sends no reasoning text; a compatible server that did (DeepSeek's
        # reasoning_content) takes it back on the assistant turn, for the same model family.
        kept = [
            item.text
            for item in message.reasoning
            if item.provider_type == PROVIDER_TYPE
            and same_family(item.model, model)
            and not item.redacted
            and item.text
        ]
        if len(kept) < len(message.reasoning):
            logger.debug(
                "dropped %d reasoning item(s) from another provider type or model family",
                len(message.reasoning) - len(kept),
            )
        if kept:
            out["reasoning_content"] = "".join(kept)
    return out


def encode_messages(messages: Sequence[ChatMessage], model: str) -> list[dict[str, Any]]:
    """The typed turns in Chat Completions' ``messages`` shape.

    Args:
        messages: The validated turns.
        model: The request's model (reasoning state goes back only to its family).

    Returns:
        The wire messages.

    Raises:
        InvalidRequestError: An image or document outside a user turn.
    """
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.role
        where = f"messages[{index}]"
        if role == "assistant" and (message.tool_calls or message.reasoning):
            out.append(_assistant(message, model))
        elif role == "tool":
            call_id = wire_id(message.tool_call_id or "")
            content = _content(message, where)
            out.append({"role": "tool", "tool_call_id": call_id, "content": content})
        else:
            out.append({"role": role, "content": _content(message, where)})
    return out


def _mentions_json(messages: Sequence[ChatMessage]) -> bool:
    return any("json" in message.text.lower() for message in messages)


def encode_request(request: ChatRequest, stream: bool) -> dict[str, Any]:
    """The JSON body for one request (``extra_body`` is merged by the I/O shell).

    Args:
        request: The typed request.
        stream: Whether to stream (usage is then always asked for).

    Returns:
        The body.

    Raises:
        InvalidRequestError: Something Chat Completions cannot take, before any network call:
            a Responses-only model, ``top_k``, more than 4 stop sequences, reasoning on a model
            that does not reason.
    """
    model = request.model
    if _RESPONSES_ONLY.match(model):
        raise InvalidRequestError(
            f"{model} is served only by OpenAI's Responses API; llmorch speaks Chat "
            "Completions (pick a Chat Completions model)"
        )
    body: dict[str, Any] = {"model": model, "messages": encode_messages(request.messages, model)}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_completion_tokens"] = request.max_tokens
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.top_k is not None:
        raise InvalidRequestError(
            "top_k: OpenAI Chat Completions has no top_k (an OpenAI-compatible server that "
            "takes one gets it through extra_body={'top_k': ...})"
        )
    if request.stop is not None:
        if len(request.stop) > _MAX_STOP:
            raise InvalidRequestError(
                f"stop: OpenAI takes at most {_MAX_STOP} stop sequences, got {len(request.stop)}"
            )
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.output is not None and request.output.mode != "tool":  # tool: the shared code's
        body["response_format"] = response_format(request.output)
        if request.output.mode == "json_object" and not _mentions_json(request.messages):
            # JSON mode 400s unless the messages say "json" somewhere: say it for the caller.
            body["messages"].insert(0, {"role": "system", "content": JSON_INSTRUCTION})
    if request.reasoning is not None:
        effort = _effort(request.reasoning, model)
        if effort is not None:
            body["reasoning_effort"] = effort
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


# --- response -------------------------------------------------------------------------------


def _tool_calls(raw: Any) -> list[ToolCall]:
    calls = []
    for entry in raw or ():
        if not isinstance(entry, dict):
            continue
        function = entry.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # some compatible servers send an object
            arguments = "" if arguments is None else json.dumps(arguments)
        call_id = entry.get("id") or generated_id()
        calls.append(parse_arguments(call_id, str(function.get("name") or ""), arguments))
    return calls


def _reasoning_text(message: Mapping[str, Any]) -> str | None:
    """Thinking text an OpenAI-compatible server put on the message (OpenAI puts none)."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def decode_response(
    data: dict[str, Any], *, provider: str, model: str, request_id: str | None
) -> LLMResponse:
    """Turn a chat completion into an :class:`~llmorch.types.LLMResponse`.

    A refusal (``message.refusal``; OpenAI says ``finish_reason: "stop"``) is
    ``finish_reason == "content_filter"`` with the refusal as the text.

    Args:
        data: The decoded body.
        provider: The configured provider name.
        model: The model requested.
        request_id: The ``x-request-id``.

    Returns:
        The answer.

    Raises:
        ProviderUnavailableError: A 200 that is not an answer.
        ContentFilteredError: The filter blocked the answer and left nothing.
    """
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict) or not (choice.get("message") or choice.get("finish_reason")):
        raise not_an_answer(provider, model, request_id, data)
    message = choice.get("message") or {}
    content = message.get("content") or ""
    finish = _FINISH.get(choice.get("finish_reason") or "", "other")
    refusal = message.get("refusal")
    if refusal and not content:
        content, finish = refusal, "content_filter"
    calls = _tool_calls(message.get("tool_calls")) if message.get("tool_calls") else []
    if calls and finish == "stop":
        finish = "tool_calls"
    if finish == "content_filter" and not content and not calls:
        raise ContentFilteredError(
            "the answer was blocked by the content filter",
            provider=provider,
            model=model,
            status_code=200,
            request_id=request_id,
            body=data,
        )
    reasoning = _reasoning_text(message)
    return LLMResponse(
        content=content,
        model=model,
        provider=provider,
        tokens_used=_usage(data.get("usage") or {}),
        finish_reason=finish,
        request_id=request_id,
        raw_response=data,
        model_answered=data.get("model"),
        tool_calls=calls,
        reasoning=reasoning,
        reasoning_items=[ReasoningItem(reasoning)] if reasoning else [],
    )


# --- stream ---------------------------------------------------------------------------------


class ChunkParser:
    """Sans-I/O: one Chat Completions SSE event in, the normalised events it means out.

    Tool calls are reported keyed by ``tool_calls[].index`` (``tool_start`` when an index is
    first seen, then ``tool_delta`` per arguments fragment, ``tool_end`` for every call at the
    finish); fragments are never merged here. Thinking that an OpenAI-compatible server streams
    as ``delta.reasoning_content`` or ``delta.reasoning`` becomes ``reasoning`` events. The
    finish is held until the usage chunk (or ``[DONE]``, or :meth:`end`), so ``Usage`` comes
    before ``Finish``.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = (
        "_calls",
        "_finish",
        "_refused",
        "adapter",
        "complete",
        "done",
        "model",
        "request_id",
        "started",
    )

    def __init__(self, adapter: HTTPProvider, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.done = False
        self.started = False
        self.complete = False
        self._calls: list[int] = []
        self._finish: StreamEvent | None = None
        self._refused = False

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event.

        Returns:
            The normalised events (none after ``[DONE]``).

        Raises:
            ProviderError: A ``{"error": …}`` object arrived, or a chunk was not valid JSON.
        """
        data = sse.data
        if self.done or not data:
            return []
        if data.startswith("[DONE]"):
            self.done = self.complete = True
            return self._flush()
        try:
            chunk = event_json(data)
        except ValueError:
            chunk = self.adapter.decode_event(data, self.model, self.request_id)  # raises
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            raise self.adapter.make_error(None, chunk, self.model, request_id=self.request_id)
        self.started = True
        choices = chunk.get("choices")
        usage = chunk.get("usage")
        if not usage and isinstance(choices, list) and len(choices) == 1:  # the usual chunk
            choice = choices[0]
            if isinstance(choice, dict) and not choice.get("finish_reason"):
                delta = choice.get("delta")
                if isinstance(delta, dict) and len(delta) == 1 and choice.get("index", 0) == 0:
                    text = delta.get("content")
                    if text:
                        return [StreamEvent("text", text)]
        return self._chunk(chunk, choices, usage)

    def _chunk(self, chunk: dict[str, Any], choices: Any, usage: Any) -> list[StreamEvent]:
        """Any chunk: every delta of choice 0, its finish, the usage."""
        out: list[StreamEvent] = []
        for choice in choices or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                out.append(StreamEvent("text", text))
                if len(delta) > 1:  # more than a text fragment
                    self._rest(delta, out)
            elif delta:
                self._rest(delta, out)
            reason = choice.get("finish_reason")
            if reason:
                self.complete = True  # the answer is whole; the usage chunk may follow
                finish = _FINISH.get(reason, "other")
                if self._refused and finish == "stop":
                    finish = "content_filter"
                out += [StreamEvent("tool_end", index=index) for index in self._calls]
                self._calls = []
                self._finish = StreamEvent(
                    "finish", finish_reason=finish, model_answered=chunk.get("model")
                )
        if usage:
            out.append(
                StreamEvent(
                    "usage", tokens=_usage(usage), model_answered=chunk.get("model"), raw=chunk
                )
            )
            out += self._flush()
        return out

    def _rest(self, delta: dict[str, Any], out: list[StreamEvent]) -> None:
        """A delta that is not plain text: refusal, reasoning, tool calls."""
        refusal = delta.get("refusal")
        if refusal:
            self._refused = True
            out.append(StreamEvent("text", text=refusal))
        thought = delta.get("reasoning_content") or delta.get("reasoning")
        if thought and isinstance(thought, str):
            out.append(StreamEvent("reasoning", text=thought))
        for position, call in enumerate(delta.get("tool_calls") or ()):
            if not isinstance(call, dict):
                continue
            index = call.get("index", position)
            function = call.get("function") or {}
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                arguments = json.dumps(arguments)  # a compatible server sent an object
            if index not in self._calls:
                self._calls.append(index)
                out.append(
                    StreamEvent(
                        "tool_start",
                        index=index,
                        tool_id=call.get("id") or None,
                        name=function.get("name") or "",
                    )
                )
            if arguments:
                out.append(StreamEvent("tool_delta", arguments, index=index))

    def end(self) -> list[StreamEvent]:
        """The events held back when the body ends (a finish no usage chunk or ``[DONE]`` followed).

        Returns:
            The held finish, if any.
        """
        return self._flush()

    def _flush(self) -> list[StreamEvent]:
        finish, self._finish = self._finish, None
        return [finish] if finish is not None else []


# --- errors ---------------------------------------------------------------------------------


def classify_error(
    status: int | None, payload: Any
) -> tuple[type[ProviderError], str, bool | None]:
    """Classify an OpenAI error body (``{"error": {message, type, param, code}}``).

    By status first, then ``code`` and ``type`` (never by the message, whose wording is not a
    contract), except the context-length wording older compatible servers send without a code.

    Args:
        status: HTTP status, or ``None`` for an in-stream error object.
        payload: The decoded body.

    Returns:
        ``(class, message, retryable override)``.
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {"message": str(payload)[:500] if payload else f"HTTP {status}"}
    message = str(error.get("message") or f"HTTP {status}")
    code = str(error.get("code") or "")
    kind = str(error.get("type") or "")
    retryable: bool | None = None
    cls = class_for_status(status) if status is not None else ProviderUnavailableError
    if code in _CODE_CLASSES:
        cls = _CODE_CLASSES[code]
    elif status is None and kind in _TYPE_CLASSES:
        cls = _TYPE_CLASSES[kind]
    if cls is InvalidRequestError and "maximum context length" in message:
        cls = ContextLengthExceededError
    if code == "insufficient_quota" or kind == "insufficient_quota":
        cls, retryable = RateLimitError, False
    return cls, message, retryable


# OpenAI's names for the sampling parameters llmorch maps one to one.
_PARAMETERS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "stop": "stop"}
_UNSUPPORTED = re.compile(r"^Unsupported (?:parameter|value): '(\w+)'")


def unsupported_parameter(payload: Any) -> str | None:
    """The llmorch parameter an OpenAI 400 says this model does not take, if it says one.

    OpenAI answers ``{"param": "temperature", "code": "unsupported_value"}`` ("Only the default
    (1) value is supported") or ``{"param": "top_p", "code": "unsupported_parameter"}`` (both in
    ``tests/fixtures/openai/`` and ``docs/wire/openai.md``). A compatible server that leaves
    ``param`` out is read by the same message's opening words.

    Args:
        payload: The decoded error body.

    Returns:
        ``temperature``, ``top_p``, ``seed`` or ``stop``; ``None`` for any other 400.
    """
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None
    param = error.get("param")
    if error.get("code") in ("unsupported_value", "unsupported_parameter") and param:
        return _PARAMETERS.get(str(param))
    match = _UNSUPPORTED.match(str(error.get("message") or ""))
    return _PARAMETERS.get(match.group(1)) if match else None
