"""OpenAI Chat Completions (``type: openai``), also any OpenAI-compatible ``base_url``."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from llmorch._sse import ServerSentEvent
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
from llmorch.providers._common import (
    HTTPProvider,
    call_options,
    class_for_status,
    legacy_call,
    not_an_answer,
    split_kwargs,
)
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, Message, ModelInfo, StreamEvent, normalize_tokens

__all__ = ["ChunkParser", "OpenAIProvider", "is_chat_model"]

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


class OpenAIProvider(HTTPProvider):
    """Adapter for the OpenAI Chat Completions API."""

    default_base_url = "https://api.openai.com/v1"
    request_id_header = "x-request-id"
    owned_fields = frozenset({"model", "messages", "stream", "stream_options"})

    def auth_headers(self) -> dict[str, str]:
        """Bearer key plus the optional organization and project headers.

        Returns:
            The auth headers (none when no key is configured, e.g. a local server).
        """
        headers: dict[str, str] = {}
        if self.config.api_key is not None:
            headers["authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        organization = getattr(self.config, "organization", None)
        project = getattr(self.config, "project", None)
        if organization:
            headers["openai-organization"] = organization
        if project:
            headers["openai-project"] = project
        return headers

    def error_for(
        self, status: int | None, payload: Any, model: str | None
    ) -> tuple[type[ProviderError], str, bool | None]:
        """Classify an OpenAI error body (``{"error": {message, type, param, code}}``).

        Args:
            status: HTTP status, or ``None`` for an in-stream error object.
            payload: The decoded body.
            model: The model the request was for.

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

    def _body(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None,
        max_tokens: int | None,
        kwargs: Mapping[str, Any],
    ) -> dict[str, Any]:
        stop, top_p, rest = split_kwargs(kwargs)
        body: dict[str, Any] = {"model": model, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_completion_tokens"] = max_tokens
        if stop is not None:
            body["stop"] = stop
        if top_p is not None:
            body["top_p"] = top_p
        body.update(rest)
        return body

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one chat request (text only until this vendor's codec maps tools).

        Args:
            request: The typed request.

        Returns:
            The answer.
        """
        messages, model, temperature, max_tokens, kwargs = legacy_call(request, self.config.type)
        return await self._send_text(messages, model, temperature, max_tokens, **kwargs)

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat request (text only until this vendor's codec maps tools).

        Args:
            request: The typed request.

        Returns:
            The normalised events.
        """
        messages, model, temperature, max_tokens, kwargs = legacy_call(request, self.config.type)
        return self._stream_text(messages, model, temperature, max_tokens, **kwargs)

    async def _send_text(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> LLMResponse:
        """Send one chat completion.

        Args:
            messages: Validated messages.
            model: The model id.
            temperature: Sent only when given.
            max_tokens: Sent as ``max_completion_tokens`` when given.
            **kwargs: ``stop``, ``top_p`` and top-level body fields.

        Returns:
            The answer.

        Raises:
            ContentFilteredError: The answer was filtered and carries no text.
        """
        body = self._body(messages, model, temperature, max_tokens, kwargs)
        data, headers = await self.request_json(
            "POST", "/chat/completions", model=model, body=body, options=call_options(kwargs)
        )
        request_id = headers.get(self.request_id_header)
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict) or not (
            choice.get("message") or choice.get("finish_reason")
        ):
            raise not_an_answer(self.name, model, request_id, data)
        message = choice.get("message") or {}
        content = message.get("content") or message.get("refusal") or ""
        finish = _FINISH.get(choice.get("finish_reason") or "", "other")
        if finish == "content_filter" and not content:
            raise self.content_filtered(
                "the answer was blocked by the content filter", model, request_id, data
            )
        return LLMResponse(
            content=content,
            model=model,
            provider=self.name,
            tokens_used=_usage(data.get("usage") or {}),
            finish_reason=finish,
            request_id=request_id,
            raw_response=data,
            model_answered=data.get("model"),
        )

    def _stream_text(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one chat completion; usage is always requested.

        Args:
            messages: Validated messages.
            model: The model id.
            temperature: Sent only when given.
            max_tokens: Sent as ``max_completion_tokens`` when given.
            **kwargs: ``stop``, ``top_p`` and top-level body fields.

        Returns:
            ``start``, ``text``, ``finish`` and ``usage`` events.
        """
        body = self._body(messages, model, temperature, max_tokens, kwargs)
        body["stream"] = True
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
        return self.stream_sse(
            "/chat/completions",
            body,
            model,
            lambda rid: ChunkParser(self, model, rid),
            call_options(kwargs),
        )

    async def get_available_models(self) -> list[ModelInfo]:
        """List chat-capable base models from ``GET /models`` (one page; the API does not page).

        Returns:
            The models, fine-tunes and non-chat families excluded.
        """
        data, _ = await self.request_json("GET", "/models")
        models: list[ModelInfo] = []
        for entry in data.get("data") or []:
            model_id = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(model_id, str) and is_chat_model(model_id):
                models.append(ModelInfo(name=model_id, provider=self.name, raw=dict(entry)))
        return models


class ChunkParser:
    """Sans-I/O: one Chat Completions SSE event in, the normalised events it means out.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = ("adapter", "complete", "done", "model", "request_id", "started")

    def __init__(self, adapter: HTTPProvider, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.done = False
        self.started = False
        self.complete = False

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event.

        Returns:
            ``text``, ``finish`` and ``usage`` events (none after ``[DONE]``).

        Raises:
            ProviderError: A ``{"error": …}`` object arrived, or a chunk was not valid JSON.
        """
        data = sse.data
        if self.done or not data:
            return []
        if data.startswith("[DONE]"):
            self.done = self.complete = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = self.adapter.decode_event(data, self.model, self.request_id)  # raises
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            raise self.adapter.make_error(None, chunk, self.model, request_id=self.request_id)
        self.started = True
        out: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if text:
                out.append(StreamEvent("text", text=text))
            reason = choice.get("finish_reason")
            if reason:
                self.complete = True  # the answer is whole; the usage chunk may follow
                out.append(
                    StreamEvent(
                        "finish",
                        finish_reason=_FINISH.get(reason, "other"),
                        model_answered=chunk.get("model"),
                    )
                )
        usage = chunk.get("usage")
        if usage:
            out.append(
                StreamEvent(
                    "usage", tokens=_usage(usage), model_answered=chunk.get("model"), raw=chunk
                )
            )
        return out
