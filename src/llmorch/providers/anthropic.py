"""Anthropic Messages API (``type: anthropic``)."""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "MessageStreamParser",
    "anthropic_body",
    "classify_error",
    "list_models",
    "parse_message",
]

DEFAULT_MAX_TOKENS = 4096
"""Sent as ``max_tokens`` when the caller passes none: Anthropic requires the field."""

API_VERSION = "2023-06-01"

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


def _usage(usage: Mapping[str, Any]) -> dict[str, int]:
    """Normalise Anthropic usage: ``input_tokens`` excludes the cache counters."""
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


def anthropic_body(
    messages: list[Message],
    temperature: float | None,
    max_tokens: int | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """Build a Messages body (without ``model``): system turns lifted, same-role turns merged.

    Args:
        messages: Validated messages.
        temperature: Sent only when given.
        max_tokens: Defaults to :data:`DEFAULT_MAX_TOKENS`.
        kwargs: ``stop`` (→ ``stop_sequences``), ``top_p`` and top-level body fields.

    Returns:
        The body.

    Raises:
        InvalidRequestError: There is no user or assistant message.
    """
    stop, top_p, rest = split_kwargs(kwargs)
    system = [m["content"] for m in messages if m["role"] == "system"]
    turns: list[dict[str, str]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1]["content"] += "\n\n" + m["content"]
        else:
            turns.append({"role": m["role"], "content": m["content"]})
    if not turns:
        raise InvalidRequestError("Anthropic needs at least one user or assistant message")
    body: dict[str, Any] = {
        "max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        "messages": turns,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if temperature is not None:
        body["temperature"] = temperature
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    if top_p is not None:
        body["top_p"] = top_p
    body.update(rest)
    return body


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


def is_message(data: Mapping[str, Any]) -> bool:
    """Whether a 200 body is an answer: it has content blocks or a stop reason.

    Args:
        data: The response JSON.

    Returns:
        False for a body that is not a Messages answer (not billed, worth retrying).
    """
    return bool(data.get("content") or data.get("stop_reason"))


def parse_message(data: Mapping[str, Any]) -> tuple[str, str, dict[str, int]]:
    """Read text, finish reason and usage from a Messages response.

    Args:
        data: The response JSON.

    Returns:
        ``(text, normalised finish reason, tokens)``.
    """
    text = "".join(
        block.get("text", "")
        for block in data.get("content") or []
        if isinstance(block, dict) and block.get("type") == "text"
    )
    finish = _FINISH.get(data.get("stop_reason") or "", "other")
    return text, finish, _usage(data.get("usage") or {})


class AnthropicProvider(HTTPProvider):
    """Adapter for the Anthropic Messages API."""

    default_base_url = "https://api.anthropic.com"
    request_id_header = "request-id"
    owned_fields = frozenset({"model", "messages", "stream", "system"})

    def auth_headers(self) -> dict[str, str]:
        """``x-api-key`` and ``anthropic-version``.

        Returns:
            The auth headers.
        """
        headers = {"anthropic-version": API_VERSION}
        if self.config.api_key is not None:
            headers["x-api-key"] = self.config.api_key.get_secret_value()
        return headers

    def error_for(
        self, status: int | None, payload: Any, model: str | None
    ) -> tuple[type[ProviderError], str, bool | None]:
        """Classify an Anthropic error.

        Args:
            status: HTTP status, or ``None`` in a stream.
            payload: The decoded body.
            model: The model the request was for.

        Returns:
            ``(class, message, None)``.
        """
        cls, message = classify_error(status, payload)
        return cls, message, None

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
        """Send one Messages request.

        Args:
            messages: Validated messages.
            model: The model id.
            temperature: Sent only when given.
            max_tokens: Defaults to :data:`DEFAULT_MAX_TOKENS`.
            **kwargs: ``stop``, ``top_p`` and top-level body fields.

        Returns:
            The answer.

        Raises:
            ContentFilteredError: The model refused and returned no text.
        """
        body = {"model": model, **anthropic_body(messages, temperature, max_tokens, kwargs)}
        data, headers = await self.request_json(
            "POST", "/v1/messages", model=model, body=body, options=call_options(kwargs)
        )
        request_id = headers.get(self.request_id_header)
        if not is_message(data):
            raise not_an_answer(self.name, model, request_id, data)
        text, finish, tokens = parse_message(data)
        if finish == "content_filter" and not text:
            raise self.content_filtered("the model refused to answer", model, request_id, data)
        return LLMResponse(
            content=text,
            model=model,
            provider=self.name,
            tokens_used=tokens,
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
        """Stream one Messages request.

        Args:
            messages: Validated messages.
            model: The model id.
            temperature: Sent only when given.
            max_tokens: Defaults to :data:`DEFAULT_MAX_TOKENS`.
            **kwargs: ``stop``, ``top_p`` and top-level body fields.

        Returns:
            ``start``, ``text``, ``usage`` and ``finish`` events.
        """
        body = {"model": model, **anthropic_body(messages, temperature, max_tokens, kwargs)}
        body["stream"] = True
        return self.stream_sse(
            "/v1/messages",
            body,
            model,
            lambda rid: MessageStreamParser(self, model, rid),
            call_options(kwargs),
        )

    async def get_available_models(self) -> list[ModelInfo]:
        """List every model from the paginated ``GET /v1/models``.

        Returns:
            The models (Anthropic lists no fine-tunes).
        """
        return await list_models(self)


class MessageStreamParser:
    """Sans-I/O: one Messages SSE event in, the normalised events it means out.

    Usage from ``message_delta`` is cumulative and is merged over ``message_start``'s. Shared
    with Claude on Vertex.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = ("adapter", "complete", "model", "request_id", "started", "usage")

    def __init__(self, adapter: HTTPProvider, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.usage: dict[str, Any] = {}
        self.started = False
        self.complete = False

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event.

        Returns:
            ``text``, ``usage`` and ``finish`` events.

        Raises:
            ProviderError: An ``event: error`` arrived, or an event was not valid JSON.
        """
        kind = sse.event
        if kind == "ping" or not sse.data:
            return []
        data = self.adapter.decode_event(sse.data, self.model, self.request_id)
        if not isinstance(data, dict):
            return []
        kind = kind or data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            text = delta.get("text") if delta.get("type") == "text_delta" else None
            return [StreamEvent("text", text=text)] if text else []
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
                "usage", tokens=_usage(self.usage), model_answered=message.get("model"), raw=message
            )
            return [usage]
        if kind == "message_delta":
            self.usage.update(data.get("usage") or {})
            out = [StreamEvent("usage", tokens=_usage(self.usage))]
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                out.append(StreamEvent("finish", finish_reason=_FINISH.get(reason, "other")))
            return out
        return []


async def list_models(adapter: HTTPProvider) -> list[ModelInfo]:
    """Page through ``GET /v1/models`` with ``after_id`` until ``has_more`` is false.

    Args:
        adapter: The adapter to request with.

    Returns:
        Every model listed.
    """
    models: list[ModelInfo] = []
    params: dict[str, Any] = {"limit": 1000}
    seen: set[str] = set()
    while True:
        data, _ = await adapter.request_json("GET", "/v1/models", params=params)
        page = [e for e in data.get("data") or [] if isinstance(e, dict) and e.get("id")]
        for entry in page:
            if entry["id"] not in seen:
                seen.add(entry["id"])
                models.append(ModelInfo(name=entry["id"], provider=adapter.name, raw=dict(entry)))
        last_id = data.get("last_id") or (page[-1]["id"] if page else None)
        if not data.get("has_more") or not last_id or last_id == params.get("after_id"):
            return models
        params = {"limit": 1000, "after_id": last_id}
