"""Google Vertex AI (``type: vertex``): Gemini models, and Claude models through ``rawPredict``.

Requests carry an OAuth access token from google-auth (Application Default Credentials, or the
``credentials_path`` file), refreshed in a worker thread before it expires; a 401 refreshes it
and retries once. A model id starting with ``claude`` goes to the Anthropic publisher.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from llmorch.exceptions import ConfigurationError, InvalidRequestError, ProviderError
from llmorch.providers._anthropic_wire import (
    MessageStreamParser,
    encode_request,
)
from llmorch.providers._anthropic_wire import (
    classify_error as classify_anthropic_error,
)
from llmorch.providers._anthropic_wire import unsupported_parameter as claude_unsupported_parameter
from llmorch.providers._common import StreamParser
from llmorch.providers._gemini_errors import classify_error
from llmorch.providers._gemini_stream import GeminiStreamParser
from llmorch.providers.anthropic import claude_response
from llmorch.providers.gemini import GoogleProvider
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, ModelInfo, StreamEvent

try:
    from llmorch.providers._google import TokenSource
except ImportError as exc:  # pragma: no cover - load_provider_class checks the extra first
    raise ImportError(
        f"type: vertex needs google-auth: pip install 'llmorch[vertex]': {exc}"
    ) from exc

if TYPE_CHECKING:
    from llmorch._http import AsyncClient
    from llmorch.config import ProviderConfig

__all__ = ["ANTHROPIC_VERSION", "VertexProvider", "is_chat_model", "vertex_host"]

ANTHROPIC_VERSION = "vertex-2023-10-16"
"""Sent in the body of Claude requests (instead of the ``anthropic-version`` header)."""

# Publisher models that cannot chat: patterns, not model lists (SPEC §2.5).
_NOT_CHAT = re.compile(r"embedding|imagen|image|veo|tts|audio|live|chirp|lyria|robotics")


def vertex_host(location: str) -> str:
    """The Vertex AI API root for a location.

    Args:
        location: ``us-central1``, ``europe-west4``, ``global``, or the ``us`` / ``eu``
            multi-regions.

    Returns:
        ``https://{location}-aiplatform.googleapis.com`` (``global``:
        ``https://aiplatform.googleapis.com``; ``us``/``eu``: ``aiplatform.{l}.rep``).
    """
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def is_chat_model(entry: dict[str, Any]) -> bool:
    """Whether a ``publisherModels`` entry is a Gemini base model that can chat.

    Args:
        entry: One entry of ``GET /v1beta1/publishers/google/models``.

    Returns:
        True for ``gemini…`` models that are not customised (no ``parent``) and not a non-chat
        family (embeddings, image, audio, live).
    """
    name = str(entry.get("name") or "").rsplit("/", 1)[-1]
    return name.startswith("gemini") and not entry.get("parent") and not _NOT_CHAT.search(name)


def _is_claude(model: str) -> bool:
    return model.startswith("claude")


class VertexProvider(GoogleProvider):
    """Adapter for Vertex AI (Gemini and Claude publisher models)."""

    default_base_url = "https://us-central1-aiplatform.googleapis.com"
    # Gemini's fields, and Claude's (rawPredict bodies carry no ``model``: it is in the URL).
    owned_fields = frozenset(
        {"contents", "systemInstruction", "system_instruction", "messages", "stream", "system"}
        | {"anthropic_version", "tools", "toolConfig", "tool_config", "tool_choice"}
    )

    def __init__(self, name: str, config: ProviderConfig, http: AsyncClient) -> None:
        super().__init__(name, config, http)
        self.location: str = getattr(config, "location", None) or "us-central1"
        self.tokens = TokenSource(name, getattr(config, "credentials_path", None))

    @property
    def base_url(self) -> str:
        """The API root (config ``base_url`` or the location's host)."""
        return (self.config.base_url or vertex_host(self.location)).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        """The bearer token (and ``x-goog-user-project`` when the credentials name one).

        Returns:
            The auth headers (empty before the first token).
        """
        token = self.tokens.current
        if token is None:
            return {}
        headers = {"authorization": f"Bearer {token.token}"}
        if token.quota_project_id:
            headers["x-goog-user-project"] = token.quota_project_id
        return headers

    async def prepare(self) -> str | None:
        """Get a fresh token (refreshed in a worker thread when close to expiry).

        Returns:
            The token the request will use.
        """
        return (await self.tokens.get()).token

    async def recover(self, used: str | None) -> bool:
        """After a 401, refresh the token (once) so the request can be retried.

        Args:
            used: The token the API rejected.

        Returns:
            True.
        """
        await self.tokens.renew(used)
        return True

    def _project(self) -> str:
        project = getattr(self.config, "project_id", None)
        token = self.tokens.current
        project = project or (token.project_id if token else None)
        if not project:
            raise ConfigurationError(
                f"providers.{self.name}.project_id: not set, and the Google credentials name no "
                "project"
            )
        return str(project)

    def _model_url(self, publisher: str, model: str) -> str:
        return (
            f"/v1/projects/{self._project()}/locations/{self.location}"
            f"/publishers/{publisher}/models/{model}"
        )

    def error_for(
        self, status: int | None, payload: Any, model: str | None
    ) -> tuple[type[ProviderError], str, bool | None]:
        """Classify a Vertex error: ``google.rpc.Status``, or Anthropic's shape from Claude.

        Args:
            status: HTTP status, or ``None`` in a stream.
            payload: The decoded body.
            model: The model the request was for.

        Returns:
            ``(class, message, None)``.
        """
        error = payload.get("error") if isinstance(payload, dict) else None
        anthropic_shape = isinstance(payload, dict) and (
            payload.get("type") == "error" or isinstance(error, dict) and "type" in error
        )
        if anthropic_shape:
            cls, message = classify_anthropic_error(status, payload)
        else:
            cls, message = classify_error(status, payload)
        return cls, message, None

    def _claude_body(self, request: ChatRequest) -> dict[str, Any]:
        """The Messages body for Claude: no ``model`` (it is in the URL), ``anthropic_version``."""
        return {**encode_request(request, self.config.type), "anthropic_version": ANTHROPIC_VERSION}

    def unsupported_parameter(self, error: InvalidRequestError) -> str | None:
        """The parameter a Vertex 400 says the model refuses (Claude's wording; Gemini has none).

        Args:
            error: The mapped 400.

        Returns:
            ``temperature``, ``top_p`` or ``top_k`` for a Claude model's refusal, else ``None``.
        """
        if error.model is not None and _is_claude(error.model):
            return claude_unsupported_parameter(error)
        return None

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one chat request: ``generateContent`` (Gemini) or ``rawPredict`` (Claude).

        Args:
            request: The typed request.

        Returns:
            The answer.
        """
        if _is_claude(request.model):
            return await self._claude(request)
        path = partial(self._model_url, "google", request.model)
        return await self.generate(request, lambda: path() + ":generateContent")

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat request: ``streamGenerateContent`` (Gemini) or ``streamRawPredict``.

        Args:
            request: The typed request.

        Returns:
            The normalised events.
        """
        if _is_claude(request.model):
            return self._claude_stream(request)
        return self._gemini_stream(request)

    async def _claude(self, request: ChatRequest) -> LLMResponse:
        """Claude through ``rawPredict``: the Anthropic codec, Vertex's URL and token."""
        body = self._claude_body(request)
        model = request.model

        async def call() -> tuple[dict[str, Any], Any]:
            path = self._model_url("anthropic", model) + ":rawPredict"
            return await self.request_json(
                "POST", path, model=model, body=body, options=request.options
            )

        data, headers = await self.with_auth(call)
        return claude_response(
            self, data, model, headers.get(self.request_id_header) or data.get("id")
        )

    async def _claude_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Claude through ``streamRawPredict``, parsed by the Anthropic stream parser."""
        body = self._claude_body(request)
        body["stream"] = True
        model = request.model
        await self.prepare()
        path = self._model_url("anthropic", model) + ":streamRawPredict"
        parser = partial(MessageStreamParser, self, model)
        stream = self.stream_with_auth(path, body, model, parser, request.options)
        async with aclosing(cast("AsyncGenerator[StreamEvent, None]", stream)) as events:
            async for event in events:
                yield event

    async def _gemini_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Gemini through ``streamGenerateContent?alt=sse``, parsed by the Gemini codec."""
        model = request.model
        body = self.encode(request)
        await self.prepare()  # the project may come from the credentials
        path = self._model_url("google", model) + ":streamGenerateContent?alt=sse"
        parser: Callable[[str | None], StreamParser] = partial(GeminiStreamParser, self, model)
        stream = self.stream_with_auth(path, body, model, parser, request.options)
        async with aclosing(cast("AsyncGenerator[StreamEvent, None]", stream)) as events:
            async for event in events:
                yield event

    async def get_available_models(self) -> list[ModelInfo]:
        """List Gemini publisher models (``GET /v1beta1/publishers/google/models``, every page).

        Returns:
            Chat-capable Gemini base models, by id (``gemini-3.8-flash``).
        """
        models: list[ModelInfo] = []
        seen: set[str] = set()
        params: dict[str, Any] = {"pageSize": 100}
        while True:

            async def call(params: dict[str, Any] = params) -> tuple[dict[str, Any], Any]:
                path = "/v1beta1/publishers/google/models"
                return await self.request_json("GET", path, params=params)

            data, _ = await self.with_auth(call)
            for entry in data.get("publisherModels") or []:
                if not isinstance(entry, dict) or not is_chat_model(entry):
                    continue
                model_id = str(entry["name"]).rsplit("/", 1)[-1]
                if model_id not in seen:
                    seen.add(model_id)
                    models.append(ModelInfo(name=model_id, provider=self.name, raw=dict(entry)))
            token = data.get("nextPageToken")
            if not token or token == params.get("pageToken"):
                return models
            params = {"pageSize": 100, "pageToken": token}

    async def aclose(self) -> None:
        """Close the token endpoint's connections."""
        self.tokens.close()
