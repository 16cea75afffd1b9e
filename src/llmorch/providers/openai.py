"""OpenAI Chat Completions (``type: openai``), also any OpenAI-compatible ``base_url``.

The I/O around the sans-I/O codec in ``_openai_wire`` (request, response, stream and errors);
the wire facts, with their sources, are in ``docs/wire/openai.md``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llmorch.exceptions import InvalidRequestError, ProviderError
from llmorch.providers._common import HTTPProvider
from llmorch.providers._openai_wire import (
    ChunkParser,
    classify_error,
    decode_response,
    encode_request,
    is_chat_model,
    same_family,
    strict_schema,
    unsupported_parameter,
)
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, ModelInfo, StreamEvent

__all__ = [
    "ChunkParser",
    "OpenAIProvider",
    "classify_error",
    "decode_response",
    "encode_request",
    "is_chat_model",
    "same_family",
    "strict_schema",
]


# --- I/O ------------------------------------------------------------------------------------


class OpenAIProvider(HTTPProvider):
    """Adapter for the OpenAI Chat Completions API: the codec above over the shared I/O."""

    default_base_url = "https://api.openai.com/v1"
    request_id_header = "x-request-id"
    owned_fields = frozenset(
        {
            "model",
            "messages",
            "stream",
            "stream_options",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "response_format",
        }
    )

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
        """Classify an OpenAI error (see :func:`classify_error`).

        Args:
            status: HTTP status, or ``None`` for an in-stream error object.
            payload: The decoded body.
            model: The model the request was for.

        Returns:
            ``(class, message, retryable override)``.
        """
        return classify_error(status, payload)

    def unsupported_parameter(self, error: InvalidRequestError) -> str | None:
        """The parameter an OpenAI 400 says the model does not take (temperature, top_p, …).

        Args:
            error: The mapped 400.

        Returns:
            The llmorch parameter name, or ``None`` when the 400 is about something else.
        """
        return unsupported_parameter(error.body)

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one chat completion.

        Args:
            request: The typed request.

        Returns:
            The answer (text, tool calls, any reasoning a compatible server sent, usage).
        """
        body = encode_request(request, stream=False)
        data, headers = await self.request_json(
            "POST", "/chat/completions", model=request.model, body=body, options=request.options
        )
        return decode_response(
            data,
            provider=self.name,
            model=request.model,
            request_id=headers.get(self.request_id_header),
        )

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat completion; usage is always requested.

        Args:
            request: The typed request.

        Returns:
            ``start``, ``text``, ``reasoning``, ``tool_*``, ``usage`` and ``finish`` events.
        """
        model = request.model
        return self.stream_sse(
            "/chat/completions",
            encode_request(request, stream=True),
            model,
            lambda rid: ChunkParser(self, model, rid),
            request.options,
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
