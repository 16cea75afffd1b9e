"""Anthropic Messages API (``type: anthropic``): the I/O around the codec in ``_anthropic_wire``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from llmorch.exceptions import InvalidRequestError, ProviderError
from llmorch.providers._anthropic_wire import (
    DEFAULT_MAX_TOKENS,
    MessageStreamParser,
    classify_error,
    decode_message,
    encode_request,
    is_message,
    unsupported_parameter,
)
from llmorch.providers._common import HTTPProvider, not_an_answer
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, ModelInfo, StreamEvent

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicProvider",
    "MessageStreamParser",
    "claude_response",
    "classify_error",
    "list_models",
]

API_VERSION = "2023-06-01"


def claude_response(
    adapter: HTTPProvider,
    data: Mapping[str, Any],
    model: str,
    request_id: str | None,
) -> LLMResponse:
    """The :class:`LLMResponse` for a Messages answer (Anthropic's and Claude on Vertex's).

    Args:
        adapter: The adapter that asked.
        data: The response JSON.
        model: The model the request was for.
        request_id: The vendor's request id.

    Returns:
        The response.

    Raises:
        ProviderUnavailableError: The body is not a Messages answer.
        ContentFilteredError: The model refused and returned no text and no call.
    """
    if not is_message(data):
        raise not_an_answer(adapter.name, model, request_id, data)
    answer = decode_message(data)
    if answer.finish_reason == "content_filter" and not answer.text:
        raise adapter.content_filtered("the model refused to answer", model, request_id, data)
    return LLMResponse(
        content=answer.text,
        model=model,
        provider=adapter.name,
        tokens_used=answer.tokens,
        finish_reason=answer.finish_reason,
        request_id=request_id,
        raw_response=dict(data),
        model_answered=data.get("model"),
        tool_calls=answer.tool_calls,
        reasoning=answer.reasoning,
        reasoning_items=answer.reasoning_items,
    )


class AnthropicProvider(HTTPProvider):
    """Adapter for the Anthropic Messages API."""

    default_base_url = "https://api.anthropic.com"
    request_id_header = "request-id"
    owned_fields = frozenset({"model", "messages", "stream", "system", "tools", "tool_choice"})

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

    def unsupported_parameter(self, error: InvalidRequestError) -> str | None:
        """The sampling parameter an Anthropic 400 says the model refuses.

        Args:
            error: The mapped 400.

        Returns:
            ``temperature``, ``top_p`` or ``top_k``, or ``None``.
        """
        return unsupported_parameter(error)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        return {"model": request.model, **encode_request(request, self.config.type)}

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one Messages request.

        Args:
            request: The typed request.

        Returns:
            The answer, tool calls and thinking included.

        Raises:
            ContentFilteredError: The model refused and returned no text.
        """
        body = self._body(request)
        data, headers = await self.request_json(
            "POST", "/v1/messages", model=request.model, body=body, options=request.options
        )
        return claude_response(self, data, request.model, headers.get(self.request_id_header))

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one Messages request.

        Args:
            request: The typed request.

        Returns:
            ``start``, ``text``, ``reasoning``, ``tool_*``, ``usage`` and ``finish`` events.
        """
        body = self._body(request)
        body["stream"] = True
        model = request.model
        return self.stream_sse(
            "/v1/messages",
            body,
            model,
            lambda rid: MessageStreamParser(self, model, rid),
            request.options,
        )

    async def get_available_models(self) -> list[ModelInfo]:
        """List every model from the paginated ``GET /v1/models``.

        Returns:
            The models (Anthropic lists no fine-tunes).
        """
        return await list_models(self)


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
