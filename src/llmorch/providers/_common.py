"""Plumbing shared by the JSON-over-HTTPS adapters: requests, error bodies, SSE streams."""

from __future__ import annotations

import abc
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, Protocol

from llmorch._http import Head, fetch, open_stream, parse_retry_after
from llmorch._scrub import scrub
from llmorch._sse import ServerSentEvent, SSEDecoder, SSEError
from llmorch.exceptions import (
    AuthenticationError,
    ContentFilteredError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers.base import BaseLLMProvider
from llmorch.request import NO_OPTIONS, CallOptions
from llmorch.types import StreamEvent

__all__ = [
    "EventStream",
    "HTTPProvider",
    "StreamParser",
    "class_for_status",
    "end_of_stream",
    "not_an_answer",
]

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


def _should_retry_header(headers: Mapping[str, str]) -> bool | None:
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def not_an_answer(
    provider: str, model: str, request_id: str | None, body: Any
) -> ProviderUnavailableError:
    """The error for a 200 that is not an answer: no output, no finish reason, nothing billed.

    Args:
        provider: The configured provider name.
        model: The model the request was for.
        request_id: The vendor's request id.
        body: What the vendor sent.

    Returns:
        A retryable :class:`~llmorch.exceptions.ProviderUnavailableError`.
    """
    return ProviderUnavailableError(
        "the response carried no answer (no output and no finish reason)",
        provider=provider,
        model=model,
        status_code=200,
        request_id=request_id,
        body=body,
    )


class StreamParser(Protocol):
    """A sans-I/O stream parser: one server-sent event in, the normalised events it means out.

    A parser may also have an ``end()`` method returning the events it held back (e.g. a
    finish it keeps until the usage that follows it); it is called once the body has ended.

    Attributes:
        started: An event of the vendor's protocol arrived (the body is a real stream).
        complete: The vendor's terminal event arrived (the answer is whole).
    """

    started: bool
    complete: bool

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event."""


def end_of_stream(
    started: bool, complete: bool, provider: str, model: str, request_id: str | None
) -> None:
    """Check a stream's body ended the way the vendor ends an answer.

    Args:
        started: Whether any event of the vendor's protocol arrived.
        complete: Whether its terminal event arrived.
        provider: The configured provider name.
        model: The model the request was for.
        request_id: The stream's request id.

    Raises:
        ProviderUnavailableError: Nothing of the vendor's protocol arrived (an HTML page, junk,
            an empty body): not an answer.
        ProviderConnectionError: The body ended before the terminal event (a cut stream).
    """
    if complete:
        return
    if not started:
        raise ProviderUnavailableError(
            "the stream carried no answer (no event of the vendor's protocol)",
            provider=provider,
            model=model,
            request_id=request_id,
            status_code=200,
        )
    raise ProviderConnectionError(
        "the stream ended before its terminal event",
        provider=provider,
        model=model,
        request_id=request_id,
    )


def _parse_all(
    parse: StreamParser, events: list[ServerSentEvent]
) -> tuple[list[StreamEvent], Exception | None]:
    """Parse a read's events; on a failure, the events before it and the failure."""
    batch: list[StreamEvent] = []
    try:
        for sse in events:
            batch += parse(sse)
    except Exception as exc:  # raised once what came before it has been delivered
        return batch, exc
    return batch, None


class EventStream:
    """An adapter's event iterator fed a network read at a time.

    The parsing generator steps once per read that completed events and hands over all of
    them; iterating takes them one by one from that batch, so an event costs no generator
    switch. It is an ``AsyncIterator[StreamEvent]`` with ``aclose()``, like a generator.

    Args:
        batches: Lists of events, none of them empty.
    """

    __slots__ = ("_batches", "_buffer")

    def __init__(self, batches: AsyncGenerator[list[StreamEvent], None]) -> None:
        self._batches = batches
        self._buffer: list[StreamEvent] = []  # the batch's rest, reversed: pop() is the next

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        buffer = self._buffer
        if buffer:
            return buffer.pop()
        buffer = await self._batches.__anext__()
        buffer.reverse()
        self._buffer = buffer
        return buffer.pop()

    def take(self) -> StreamEvent | None:
        """The next event if the last read left one, without awaiting (``None`` if not).

        Returns:
            The event, or ``None``: await the iterator for the next one.
        """
        buffer = self._buffer
        return buffer.pop() if buffer else None

    async def aclose(self) -> None:
        """Drop what is buffered and close the generator (releasing the connection)."""
        self._buffer = []
        await self._batches.aclose()


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

    def _error_from_response(self, response: Head, body: bytes, model: str | None) -> ProviderError:
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = scrub(body.decode("utf-8", errors="replace"), self.secrets)[:2000]
        return self.make_error(response.status_code, payload, model, response.headers)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        model: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        options: CallOptions | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Send one request and return its decoded JSON body and headers.

        The whole attempt, connect to last byte, ends within the timeout.

        Args:
            method: ``GET`` or ``POST``.
            path: Path under :attr:`base_url`.
            model: The model, for errors.
            body: The JSON body, for ``POST``.
            params: Query parameters.
            options: The call's options (timeout, extra body and headers).

        Returns:
            ``(json body, response headers)``.

        Raises:
            ProviderError: Mapped from the status and error body, or from the transport.
        """
        options = options or NO_OPTIONS
        response = await fetch(
            self.http,
            method,
            self.base_url + path,
            provider=self.name,
            model=model,
            timeout_s=options.timeout or self.config.timeout,
            headers=self._request_headers(options),
            content=self._encode(body, options),
            params=params,
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
                body=scrub(response.text, self.secrets)[:2000],
            ) from exc
        if not isinstance(data, dict):
            raise ProviderUnavailableError(
                "response JSON is not an object", provider=self.name, model=model, body=data
            )
        return data, response.headers

    def _request_headers(self, options: CallOptions) -> dict[str, str]:
        headers = self.headers()
        if options.extra_headers:
            headers.update(options.extra_headers)
        return headers

    @staticmethod
    def _encode(body: Mapping[str, Any] | None, options: CallOptions) -> bytes | None:
        if body is None:
            return None
        merged = options.apply(dict(body)) if options.extra_body else body
        return json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode()

    def sse_decoder(self) -> SSEDecoder:
        """A fresh decoder for one stream (Google's adapters accept bare JSON values too).

        Returns:
            The decoder.
        """
        return SSEDecoder()

    def stream_sse(
        self,
        path: str,
        body: Mapping[str, Any],
        model: str,
        parser: Callable[[str | None], StreamParser],
        options: CallOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """POST a streaming request and turn its SSE body into normalised events.

        Bytes go through the one SSE decoder and then through ``parser(request_id)``, a sans-I/O
        function from one server-sent event to the events it means. The body is read to its end
        (even after a terminal event), so the connection goes back to the pool. Each event must
        arrive within the timeout of the previous one; a body that ends before the vendor's
        terminal event is a cut stream, and one that carries no event of the vendor's protocol
        is not an answer.

        Args:
            path: Path under :attr:`base_url`.
            body: The JSON body.
            model: The model, for errors.
            parser: Builds the per-stream event parser, given the request id.
            options: The call's options (timeout, extra body and headers).

        Returns:
            ``start`` (with the request id), then what the parser produces (nothing is sent
            before the first step).

        Raises:
            ProviderError: Mapped from the status, the transport, or an in-stream error; a
                cut stream or a non-answer (see :func:`end_of_stream`).
        """
        return EventStream(self._sse_batches(path, body, model, parser, options))

    async def _sse_batches(
        self,
        path: str,
        body: Mapping[str, Any],
        model: str,
        parser: Callable[[str | None], StreamParser],
        options: CallOptions | None,
    ) -> AsyncGenerator[list[StreamEvent], None]:
        """:meth:`stream_sse`'s events, one list per network read that completed any."""
        options = options or NO_OPTIONS
        stream = await open_stream(
            self.http,
            "POST",
            self.base_url + path,
            provider=self.name,
            model=model,
            timeout_s=options.timeout or self.config.timeout,
            headers=self._request_headers(options),
            content=self._encode(body, options),
        )
        try:
            response = stream.response
            if response.status_code >= 400:
                raise self._error_from_response(response, await stream.read(), model)
            request_id = response.headers.get(self.request_id_header)
            media = response.headers.get("content-type", "text/event-stream")
            if not media.startswith("text/event-stream"):
                raise ProviderUnavailableError(
                    f"expected a text/event-stream answer, got {media!r}",
                    provider=self.name,
                    model=model,
                    status_code=response.status_code,
                    request_id=request_id,
                    body=(await stream.read(500)).decode("utf-8", errors="replace"),
                )
            yield [StreamEvent("start", request_id=request_id)]
            parse = parser(request_id)
            decoder = self.sse_decoder()
            try:
                async for chunk in stream:
                    events = decoder.feed(chunk)
                    if events:
                        stream.event()  # the next read gets a fresh deadline
                        batch, error = _parse_all(parse, events)
                        if batch:
                            yield batch
                        if error is not None:
                            raise error
                batch, error = _parse_all(parse, decoder.flush())
                end = getattr(parse, "end", None)  # a parser may hold events to the body's end
                if end is not None and error is None:
                    batch += end()
                if batch:
                    yield batch
                if error is not None:
                    raise error
            except SSEError as exc:
                raise ProviderUnavailableError(
                    f"malformed stream: {exc}",
                    provider=self.name,
                    model=model,
                    request_id=request_id,
                ) from None
            end_of_stream(parse.started, parse.complete, self.name, model, request_id)
        finally:
            await stream.aclose()
