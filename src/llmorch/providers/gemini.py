"""Google Gemini API, ``generativelanguage.googleapis.com`` (``type: gemini``).

The I/O shell around the sans-I/O codec in :mod:`llmorch.providers._gemini_wire`:
:class:`GoogleProvider` (shared with Vertex AI) sends bodies, retries once after a 401 where
credentials can be renewed, and hands answers and stream events to the codec.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, TypeVar, cast

from llmorch._sse import SSEDecoder
from llmorch.exceptions import AuthenticationError, ProviderError
from llmorch.providers._common import HTTPProvider, StreamParser
from llmorch.providers._gemini_errors import classify_error, retry_delay
from llmorch.providers._gemini_stream import GeminiStreamParser
from llmorch.providers._gemini_wire import decode_response, encode_request
from llmorch.request import CallOptions, ChatRequest
from llmorch.types import LLMResponse, ModelInfo, StreamEvent

__all__ = ["GeminiProvider", "GoogleProvider", "model_path"]

T = TypeVar("T")

API_VERSION = "v1beta"


def model_path(model: str) -> str:
    """The resource name of a model: bare ids get ``models/``; tuned models keep theirs.

    Args:
        model: ``gemini-3.8-flash``, ``models/gemini-2.5-flash`` or ``tunedModels/…``.

    Returns:
        The resource name for the URL.
    """
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


class GoogleProvider(HTTPProvider):
    """What the Gemini API and Vertex AI adapters share: errors, streams, auth retries.

    Subclasses may override :meth:`prepare` and :meth:`recover` to fetch and renew credentials.
    """

    request_id_header = "x-request-id"
    owned_fields = frozenset(
        {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig"}
        | {"tool_config"}
    )

    def error_for(
        self, status: int | None, payload: Any, model: str | None
    ) -> tuple[type[ProviderError], str, bool | None]:
        """Classify a Google error body.

        Args:
            status: HTTP status, or ``None`` in a stream.
            payload: The decoded body.
            model: The model the request was for.

        Returns:
            ``(class, message, None)``.
        """
        cls, message = classify_error(status, payload)
        return cls, message, None

    def make_error(
        self,
        status: int | None,
        payload: Any,
        model: str | None,
        response_headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> ProviderError:
        """Build the mapped error; ``RetryInfo.retryDelay`` in the body sets ``retry_after``.

        Args:
            status: The HTTP status, or ``None`` inside a stream.
            payload: The decoded error body.
            model: The model the request was for.
            response_headers: The response headers.
            request_id: The request id when already known.

        Returns:
            The error to raise.
        """
        error = super().make_error(status, payload, model, response_headers, request_id)
        if error.retry_after is None:
            error.retry_after = retry_delay(payload)
        return error

    def sse_decoder(self) -> SSEDecoder:
        """A decoder that also collects the bare JSON error objects Google streams carry.

        Returns:
            The decoder.
        """
        return SSEDecoder(bare_json=True)

    async def prepare(self) -> str | None:
        """Make the credentials ready before a request (nothing to do for an API key).

        Returns:
            The credential the request will use, to hand to :meth:`recover` on a 401.
        """
        return None

    async def recover(self, used: str | None) -> bool:
        """Renew credentials after an authentication failure.

        Args:
            used: What :meth:`prepare` returned for the failed request.

        Returns:
            True when the request is worth retrying once (an API key is not).
        """
        return False

    async def with_auth(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one request; after a 401, let :meth:`recover` renew credentials and retry once.

        Args:
            call: Sends the request.

        Returns:
            What ``call`` returned.
        """
        used = await self.prepare()
        try:
            return await call()
        except AuthenticationError:
            if not await self.recover(used):
                raise
        return await call()

    async def stream_with_auth(
        self,
        path: str,
        body: Mapping[str, Any],
        model: str,
        parser: Callable[[str | None], StreamParser],
        options: CallOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream like :meth:`stream_sse`; a 401 before the first event may be retried once.

        Args:
            path: Path under :attr:`base_url`.
            body: The JSON body.
            model: The model, for errors.
            parser: Builds the per-stream event parser, given the request id.
            options: The call's options.

        Yields:
            ``start`` and then the parsed events.
        """
        used = await self.prepare()
        for attempt in (0, 1):
            started = False
            try:
                stream = self.stream_sse(path, body, model, parser, options)
                async with aclosing(cast("AsyncGenerator[StreamEvent, None]", stream)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except AuthenticationError:
                if started or attempt or not await self.recover(used):
                    raise

    def encode(self, request: ChatRequest) -> dict[str, Any]:
        """The ``generateContent`` body for a request (the codec, with this provider's settings).

        Args:
            request: The typed request.

        Returns:
            The body.
        """
        safety = getattr(self.config, "safety_settings", None)
        return encode_request(request, self.config.type, safety)

    async def generate(self, request: ChatRequest, path: Callable[[], str]) -> LLMResponse:
        """POST ``generateContent`` and decode the answer.

        Args:
            request: The typed request.
            path: Gives the ``…:generateContent`` path once credentials are ready.

        Returns:
            The answer.
        """
        body = self.encode(request)

        async def call() -> tuple[dict[str, Any], Any]:
            return await self.request_json(
                "POST", path(), model=request.model, body=body, options=request.options
            )

        data, headers = await self.with_auth(call)
        return decode_response(data, request.model, self, headers.get(self.request_id_header))

    def generate_stream(self, request: ChatRequest, path: str) -> AsyncIterator[StreamEvent]:
        """POST ``streamGenerateContent?alt=sse`` and parse its events.

        Args:
            request: The typed request.
            path: The ``…:streamGenerateContent?alt=sse`` path.

        Returns:
            The normalised events (an async generator: closing it releases the connection).
        """
        model = request.model
        return self.stream_with_auth(
            path,
            self.encode(request),
            model,
            lambda rid: GeminiStreamParser(self, model, rid),
            request.options,
        )


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

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one ``generateContent`` request.

        Args:
            request: The typed request.

        Returns:
            The answer (text, tool calls, reasoning and its signatures).
        """
        path = f"/{API_VERSION}/{model_path(request.model)}:generateContent"
        return await self.generate(request, lambda: path)

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one ``streamGenerateContent?alt=sse`` request (usage comes on every chunk).

        Args:
            request: The typed request.

        Returns:
            ``start``, then ``text``, ``reasoning``, ``tool_start``/``tool_end``, ``usage`` and
            ``finish`` events.
        """
        path = f"/{API_VERSION}/{model_path(request.model)}:streamGenerateContent?alt=sse"
        return self.generate_stream(request, path)

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
