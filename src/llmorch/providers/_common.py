"""Plumbing shared by the JSON-over-HTTPS adapters: requests, error bodies, SSE streams."""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import Any, ClassVar, cast

from llmorch._http import Response, map_transport_errors, parse_retry_after, timeout
from llmorch._scrub import scrub
from llmorch._sse import ServerSentEvent, SSEDecoder
from llmorch.exceptions import (
    AuthenticationError,
    ContentFilteredError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers.base import BaseLLMProvider
from llmorch.types import StreamEvent

__all__ = ["HTTPProvider", "class_for_status", "split_kwargs"]

_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    408: ProviderTimeoutError,
    409: ProviderUnavailableError,
    424: ProviderUnavailableError,
    429: RateLimitError,
    499: ProviderUnavailableError,
    504: ProviderTimeoutError,
}


def class_for_status(status: int) -> type[ProviderError]:
    """The error class SPEC §2.4 assigns to an HTTP status, before body-specific refinements.

    Args:
        status: An HTTP status code of 400 or above.

    Returns:
        The llmorch error class.
    """
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ProviderUnavailableError
    return InvalidRequestError


def split_kwargs(kwargs: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """Separate the portable ``stop`` and ``top_p`` from vendor pass-through fields.

    Args:
        kwargs: The caller's extra keyword arguments.

    Returns:
        ``(stop, top_p, rest)``; ``stop`` is ``None``, a str or a list of str.

    Raises:
        InvalidRequestError: ``stop`` is neither a str nor a list of str.
    """
    rest = dict(kwargs)
    stop = rest.pop("stop", None)
    top_p = rest.pop("top_p", None)
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
            raise InvalidRequestError("stop must be a str or a list of str")
        stop = list(stop)
    return stop, top_p, rest


def _should_retry_header(headers: Mapping[str, str]) -> bool | None:
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _body_chunks(response: Response) -> AsyncGenerator[bytes, None]:
    """The response body as an async generator, so it can be closed deterministically."""
    return cast("AsyncGenerator[bytes, None]", response.aiter_bytes())


class HTTPProvider(BaseLLMProvider):
    """Base for adapters that speak JSON over HTTPS with SSE streams.

    Subclasses set :attr:`default_base_url` and :attr:`request_id_header` and implement
    :meth:`auth_headers` and :meth:`error_for`.
    """

    default_base_url: ClassVar[str]
    request_id_header: ClassVar[str]

    @property
    def base_url(self) -> str:
        """The API root (config ``base_url`` or the vendor's)."""
        return (self.config.base_url or self.default_base_url).rstrip("/")

    @abc.abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (never logged).

        Returns:
            The headers to merge into each request.
        """

    @abc.abstractmethod
    def error_for(
        self, status: int | None, payload: Any, model: str | None
    ) -> tuple[type[ProviderError], str, bool | None]:
        """Classify a vendor error.

        Args:
            status: The HTTP status, or ``None`` for an error inside a 200 stream.
            payload: The decoded JSON error body (or the raw text when it was not JSON).
            model: The model the request was for.

        Returns:
            ``(error class, message, is_retryable override or None)``.
        """

    def headers(self) -> dict[str, str]:
        """All request headers: JSON content type, auth, then the configured extras.

        Returns:
            A new dict.
        """
        headers = {"content-type": "application/json", **self.auth_headers()}
        headers.update(self.config.headers)
        return headers

    def make_error(
        self,
        status: int | None,
        payload: Any,
        model: str | None,
        response_headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> ProviderError:
        """Build the mapped error for a vendor error response or in-stream error event.

        Args:
            status: The HTTP status, or ``None`` inside a stream.
            payload: The decoded error body.
            model: The model the request was for.
            response_headers: The response headers, for request id, retry hints.
            request_id: The request id when already known.

        Returns:
            The error to raise.
        """
        payload = scrub(payload, self.secrets)  # vendors echo keys and tokens
        cls, message, retryable = self.error_for(status, payload, model)
        message = scrub(message, self.secrets)
        headers = response_headers or {}
        if request_id is None:
            request_id = headers.get(self.request_id_header)
        if request_id is None and isinstance(payload, dict):
            rid = payload.get("request_id")
            request_id = rid if isinstance(rid, str) else None
        header_retry = _should_retry_header(headers)
        if header_retry is not None:
            retryable = header_retry
        return cls(
            message,
            provider=self.name,
            model=model,
            status_code=status,
            request_id=request_id,
            retry_after=parse_retry_after(headers),
            is_retryable=retryable,
            body=payload,
        )

    def decode_event(self, data: str, model: str, request_id: str | None) -> Any:
        """Decode one stream event's JSON payload.

        Args:
            data: The event's ``data`` text.
            model: The model the request was for.
            request_id: The stream's request id.

        Returns:
            The decoded JSON value.

        Raises:
            ProviderUnavailableError: The payload is not JSON (a malformed stream).
        """
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ProviderUnavailableError(
                f"malformed stream event: {data[:200]!r}",
                provider=self.name,
                model=model,
                request_id=request_id,
            ) from exc

    def content_filtered(
        self, message: str, model: str, request_id: str | None, body: Any
    ) -> ContentFilteredError:
        """The error for an answer the vendor blocked without returning any text.

        Args:
            message: What happened, in words.
            model: The model the request was for.
            request_id: The vendor's request id.
            body: The vendor's response.

        Returns:
            The error to raise.
        """
        return ContentFilteredError(
            message,
            provider=self.name,
            model=model,
            status_code=200,
            request_id=request_id,
            body=body,
        )

    def _error_from_response(
        self, response: Response, body: bytes, model: str | None
    ) -> ProviderError:
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", errors="replace")[:2000]
        return self.make_error(response.status_code, payload, model, response.headers)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        model: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Send one request and return its decoded JSON body and headers.

        Args:
            method: ``GET`` or ``POST``.
            path: Path under :attr:`base_url`.
            model: The model, for errors.
            body: The JSON body, for ``POST``.
            params: Query parameters.

        Returns:
            ``(json body, response headers)``.

        Raises:
            ProviderError: Mapped from the status and error body, or from the transport.
        """
        with map_transport_errors(self.name, model):
            response = await self.http.request(
                method,
                self.base_url + path,
                headers=self.headers(),
                json=body,
                params=params,
                timeout=timeout(self.config.timeout),
            )
        if response.status_code >= 400:
            raise self._error_from_response(response, response.content, model)
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderUnavailableError(
                f"response is not JSON (HTTP {response.status_code})",
                provider=self.name,
                model=model,
                status_code=response.status_code,
                request_id=response.headers.get(self.request_id_header),
                body=response.text[:2000],
            ) from exc
        if not isinstance(data, dict):
            raise ProviderUnavailableError(
                "response JSON is not an object", provider=self.name, model=model, body=data
            )
        return data, response.headers

    def sse_decoder(self) -> SSEDecoder:
        """A fresh decoder for one stream (Google's adapters accept bare JSON values too).

        Returns:
            The decoder.
        """
        return SSEDecoder()

    async def stream_sse(
        self,
        path: str,
        body: Mapping[str, Any],
        model: str,
        parser: Callable[[str | None], Callable[[ServerSentEvent], list[StreamEvent]]],
    ) -> AsyncIterator[StreamEvent]:
        """POST a streaming request and turn its SSE body into normalised events.

        Bytes go through the one SSE decoder and then through ``parser(request_id)``, a sans-I/O
        function from one server-sent event to the events it means. The body is read to its end
        (even after a terminal event), so the connection goes back to the pool.

        Args:
            path: Path under :attr:`base_url`.
            body: The JSON body.
            model: The model, for errors.
            parser: Builds the per-stream event parser, given the request id.

        Yields:
            ``start`` (with the request id), then what the parser produces.

        Raises:
            ProviderError: Mapped from the status, the transport, or an in-stream error.
        """
        with map_transport_errors(self.name, model):
            async with self.http.stream(
                "POST",
                self.base_url + path,
                headers=self.headers(),
                json=body,
                timeout=timeout(self.config.timeout),
            ) as response:
                if response.status_code >= 400:
                    raw = await response.aread()
                    raise self._error_from_response(response, raw, model)
                request_id = response.headers.get(self.request_id_header)
                media = response.headers.get("content-type", "text/event-stream")
                if not media.startswith("text/event-stream"):
                    raise ProviderUnavailableError(
                        f"expected a text/event-stream answer, got {media!r}",
                        provider=self.name,
                        model=model,
                        status_code=response.status_code,
                        request_id=request_id,
                        body=(await response.aread())[:500].decode("utf-8", errors="replace"),
                    )
                yield StreamEvent("start", request_id=request_id)
                parse = parser(request_id)
                decoder = self.sse_decoder()
                async with aclosing(_body_chunks(response)) as chunks:
                    async for chunk in chunks:
                        for sse in decoder.feed(chunk):
                            for event in parse(sse):
                                yield event
                for sse in decoder.flush():
                    for event in parse(sse):
                        yield event
