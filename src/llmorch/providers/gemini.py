"""Google Gemini API, ``generativelanguage.googleapis.com`` (``type: gemini``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llmorch.providers._common import call_options, legacy_call
from llmorch.providers._gemini_wire import GeminiStreamParser, GoogleProvider, gemini_body
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, Message, ModelInfo, StreamEvent

__all__ = ["GeminiProvider", "model_path"]

API_VERSION = "v1beta"


def model_path(model: str) -> str:
    """The resource name of a model: bare ids get ``models/``; tuned models keep theirs.

    Args:
        model: ``gemini-3.8-flash``, ``models/gemini-2.5-flash`` or ``tunedModels/…``.

    Returns:
        The resource name for the URL.
    """
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


class GeminiProvider(GoogleProvider):
    """Adapter for the Gemini API; the key travels in ``x-goog-api-key``, never in the URL."""

    default_base_url = "https://generativelanguage.googleapis.com"

    def auth_headers(self) -> dict[str, str]:
        """The ``x-goog-api-key`` header.

        Returns:
            The auth headers (none when no key is configured).
        """
        if self.config.api_key is None:
            return {}
        return {"x-goog-api-key": self.config.api_key.get_secret_value()}

    def _body(
        self,
        messages: list[Message],
        temperature: float | None,
        max_tokens: int | None,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        safety = getattr(self.config, "safety_settings", None)
        return gemini_body(messages, temperature, max_tokens, kwargs, safety)

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
        """Send one ``generateContent`` request.

        Args:
            messages: Validated messages.
            model: The model id.
            temperature: Sent only when given.
            max_tokens: Sent as ``maxOutputTokens`` when given.
            **kwargs: ``stop``, ``top_p``, ``generationConfig`` fields and top-level fields.

        Returns:
            The answer.
        """
        body = self._body(messages, temperature, max_tokens, kwargs)
        path = f"/{API_VERSION}/{model_path(model)}:generateContent"

        async def call() -> tuple[dict[str, Any], Any]:
            return await self.request_json(
                "POST", path, model=model, body=body, options=call_options(kwargs)
            )

        data, headers = await self.with_auth(call)
        return self.gemini_response(data, model, headers.get(self.request_id_header))

    def _stream_text(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one ``streamGenerateContent?alt=sse`` request (usage comes on every chunk).

        Args:
            messages: Validated messages.
            model: The model id.
            temperature: Sent only when given.
            max_tokens: Sent as ``maxOutputTokens`` when given.
            **kwargs: As for :meth:`send_request`.

        Returns:
            ``start``, ``text``, ``usage`` and ``finish`` events (an async generator: closing it
            releases the connection).
        """
        body = self._body(messages, temperature, max_tokens, kwargs)
        path = f"/{API_VERSION}/{model_path(model)}:streamGenerateContent?alt=sse"
        return self.stream_with_auth(
            path,
            body,
            model,
            lambda rid: GeminiStreamParser(self, model, rid),
            call_options(kwargs),
        )

    async def get_available_models(self) -> list[ModelInfo]:
        """List base models that support ``generateContent``, following every page.

        Returns:
            The models, by bare id (``gemini-3.8-flash``); tuned models are not listed.
        """
        models: list[ModelInfo] = []
        seen: set[str] = set()
        params: dict[str, Any] = {"pageSize": 1000}
        while True:
            data, _ = await self.request_json("GET", f"/{API_VERSION}/models", params=params)
            for entry in data.get("models") or []:
                name = entry.get("name") if isinstance(entry, dict) else None
                methods = entry.get("supportedGenerationMethods") or [] if name else []
                if not isinstance(name, str) or not name.startswith("models/"):
                    continue
                model_id = name[len("models/") :]
                if "generateContent" in methods and model_id not in seen:
                    seen.add(model_id)
                    models.append(ModelInfo(name=model_id, provider=self.name, raw=dict(entry)))
            token = data.get("nextPageToken")
            if not token or token == params.get("pageToken"):
                return models
            params = {"pageSize": 1000, "pageToken": token}
