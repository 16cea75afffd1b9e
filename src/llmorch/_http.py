"""Everything llmorch needs from httpx, in the one module that imports it.

The client factory and the aiohttp transport behind it, per-attempt deadlines (a non-streamed
attempt ends within its timeout; a stream must deliver each event within the timeout of the
previous one), ``Retry-After`` parsing, and the mapping of every transport failure onto
llmorch's error tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib.util
import io
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

import anyio
import httpx

from llmorch.exceptions import (
    ConfigurationError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "AsyncClient",
    "Head",
    "Response",
    "StreamBody",
    "SyncHTTP",
    "Timeout",
    "create_client",
    "fetch",
    "map_transport_errors",
    "open_stream",
    "parse_retry_after",
    "release_unawaited",
    "resolve_transport",
    "timeout",
    "transport_name",
]

AsyncClient = httpx.AsyncClient
Timeout = httpx.Timeout


class Head(Protocol):
    """What callers read of an answer's head: an ``httpx.Response`` or a direct-route answer."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers (case-insensitive)."""


class Response(Head, Protocol):
    """What callers read of a whole answer: an ``httpx.Response`` or a direct-route answer."""

    @property
    def content(self) -> bytes:
        """The body, content-decoded."""

    @property
    def text(self) -> str:
        """The body as text (the charset of its content type, else UTF-8)."""

    def json(self, **kwargs: Any) -> Any:
        """The body, decoded as JSON."""


_USER_AGENT = "llmorch/0.1"
logger = logging.getLogger("llmorch")


def _asyncio_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def resolve_transport(setting: str, *, on_asyncio: bool | None = None) -> str:
    """Decide what carries the bytes under httpx.

    ``auto`` is ``aiohttp`` (aiohttp's connection pool, which holds up under concurrency) when
    running on asyncio with ``aiohttp`` installed, else httpx's own pool (always under trio:
    aiohttp is asyncio-only).

    Args:
        setting: The config's ``http_transport``: ``auto``, ``aiohttp`` or ``httpx``.
        on_asyncio: Whether the client will run on asyncio (by default: whether this thread
            runs an asyncio loop; pass it when building the client in a worker thread).

    Returns:
        ``"aiohttp"`` or ``"httpx"``.

    Raises:
        ConfigurationError: ``aiohttp`` was asked for outside asyncio or without aiohttp.
    """
    if setting == "httpx":
        return "httpx"
    available = importlib.util.find_spec("aiohttp") is not None
    on_asyncio = _asyncio_running() if on_asyncio is None else on_asyncio
    if setting == "aiohttp":
        if not available:
            raise ConfigurationError(
                "http_transport: 'aiohttp' needs the aiohttp package: pip install aiohttp"
            )
        if not on_asyncio:
            raise ConfigurationError(
                "http_transport: 'aiohttp' runs only on asyncio; use 'httpx' (or 'auto')"
            )
        return "aiohttp"
    return "aiohttp" if available and on_asyncio else "httpx"


def create_client(transport: str = "auto", *, on_asyncio: bool | None = None) -> httpx.AsyncClient:
    """Create the pooled client an orchestrator shares between its providers.

    Call it inside the event loop that will drive the client, or pass ``on_asyncio``.

    Args:
        transport: The config's ``http_transport`` (see :func:`resolve_transport`).
        on_asyncio: As for :func:`resolve_transport`.

    Returns:
        A new client; the caller closes it.
    """
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    kwargs: dict[str, Any] = {}
    if resolve_transport(transport, on_asyncio=on_asyncio) == "aiohttp":
        kwargs["transport"] = AiohttpTransport(limits)
    client = httpx.AsyncClient(
        headers={"user-agent": _USER_AGENT},
        limits=limits,
        follow_redirects=False,
        trust_env=True,
        **kwargs,
    )
    if isinstance(client._transport, AiohttpTransport):
        client._transport.adopt(client)
    return client


def release_unawaited(client: httpx.AsyncClient) -> None:
    """Close a client's pooled connections without awaiting: for a forgotten ``aclose()``.

    Call it on the thread of the loop the client ran on, or once that loop has closed.
    aiohttp's connector closes its transports synchronously underneath its async ``close()``
    (which also keeps aiohttp from reporting an "Unclosed client session" and an "Unclosed
    connector"); httpx's own pool has no synchronous close, and its sockets close, silently,
    when they are collected.

    Args:
        client: A client from :func:`create_client`.
    """
    if isinstance(client._transport, AiohttpTransport):
        client._transport.close_now()


def transport_name(client: httpx.AsyncClient) -> str:
    """Which transport a client uses (for logs and benchmarks).

    Args:
        client: A client from :func:`create_client`.

    Returns:
        ``"aiohttp"`` or ``"httpx"``.
    """
    return "aiohttp" if isinstance(client._transport, AiohttpTransport) else "httpx"


# -- the aiohttp transport ---------------------------------------------------------------------

_LARGE_BODY = 1 << 20  # aiohttp's limit for a bytes body (images, PDFs): above it, a file object


def _transport_error(exc: Exception, request: httpx.Request | None) -> httpx.TransportError:
    """The httpx exception for anything aiohttp (or its parser) raised for one request.

    Every failure is mapped, including the ones aiohttp reports as ``ClientResponseError``
    (a malformed status line, headers or chunked framing), so nothing raw escapes and the
    orchestrator can retry.
    """
    import aiohttp

    message = f"{type(exc).__name__}: {exc}"[:500]
    cls: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        cls = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        cls = httpx.ReadTimeout
    elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        cls = httpx.PoolTimeout
    elif isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        cls = httpx.ProxyError
    elif isinstance(exc, aiohttp.ClientConnectorError):
        cls = httpx.ConnectError
    elif isinstance(exc, aiohttp.InvalidURL):
        cls = httpx.UnsupportedProtocol
    elif isinstance(exc, aiohttp.ClientOSError):
        cls = httpx.ReadError
    else:  # disconnects, payload and framing errors, bad status lines, undecodable bytes
        cls = httpx.RemoteProtocolError
    return cls(message, request=request)


class _AiohttpBody(httpx.AsyncByteStream):
    """A response body read from aiohttp, handed over as soon as bytes arrive."""

    __slots__ = ("_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _chunks(self._response, self._request)

    async def aclose(self) -> None:
        # A body not read to its end closes the connection instead of pooling it.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over aiohttp's connection pool (asyncio only).

    The URL is sent exactly as httpx encoded it (yarl does not re-quote it, so a path that was
    signed is the path sent), and every aiohttp failure becomes an httpx transport error.

    Args:
        limits: The pool size (``max_connections``) and keep-alive expiry.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        import aiohttp  # noqa: F401 - imported here, where start-up builds it off the loop

        self._limits = limits
        self._ssl = httpx.create_ssl_context()  # loads the CA bundle: not on the event loop
        self._session: aiohttp.ClientSession | None = None
        self.direct: _Direct | None = None

    def adopt(self, client: httpx.AsyncClient) -> None:
        """Open the direct route for the client :func:`create_client` built on this transport.

        Only where httpx would add nothing of its own to a request: no proxy from the
        environment (a proxy is one of httpx's mounts), and response encodings aiohttp decodes.

        Args:
            client: The client this transport carries.
        """
        from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD

        decodable = {"gzip", "deflate", "identity"}
        decodable |= {"br"} if HAS_BROTLI else set()
        decodable |= {"zstd"} if HAS_ZSTD else set()
        accepted = {e.strip() for e in client.headers.get("accept-encoding", "").split(",")}
        if not client._mounts and accepted <= decodable:
            self.direct = _Direct(self, dict(client.headers))

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and return the response with its body still unread.

        Args:
            request: The httpx request (its body already built).

        Returns:
            The response; its stream reads from aiohttp.

        Raises:
            httpx.TransportError: Any failure, mapped (the original is the cause).
        """
        import yarl

        session = self._session or self._open()
        timeouts = request.extensions.get("timeout", {})
        body = _payload(await request.aread())
        url = request.url
        if url.userinfo:  # httpx already made it an Authorization header, as its own pool does
            url = url.copy_with(username=None, password=None)
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(url), encoded=True),
                headers=request.headers.multi_items(),
                data=body,
                allow_redirects=False,
                timeout=_client_timeout(
                    timeouts.get("connect"), timeouts.get("read"), timeouts.get("pool")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except Exception as exc:
            raise _transport_error(exc, request) from exc
        try:
            phrase = (response.reason or "").encode("utf-8", "surrogateescape")
        except UnicodeError:  # a reason phrase aiohttp could not round-trip: drop it
            phrase = b""
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_AiohttpBody(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": phrase},
        )

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()

    def close_now(self) -> None:
        """Close the pool's connections without awaiting (an orchestrator never closed).

        aiohttp's connector closes its transports synchronously under its async ``close()``
        (a private method: checked by a test against the installed aiohttp); a closed connector
        also keeps aiohttp from reporting an unclosed session and connector.
        """
        connector = self._session.connector if self._session is not None else None
        close = getattr(connector, "_close", None)
        if callable(close):
            close()


class _Head:
    """The status and headers of an answer read on the direct route."""

    __slots__ = ("headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.headers = headers


class _Answer(_Head):
    """A whole answer read on the direct route: what llmorch reads of an ``httpx.Response``."""

    __slots__ = ("content",)

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        super().__init__(status_code, headers)
        self.content = content

    @property
    def text(self) -> str:
        """The body as text: the content type's charset, else UTF-8 (undecodable bytes replaced)."""
        _, _, params = self.headers.get("content-type", "").partition(";")
        charset = "utf-8"
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"' ")
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.content, **kwargs)


class _Direct:
    """llmorch's own requests straight onto aiohttp, skipping httpx's request and response models.

    What goes on the wire is what httpx would send through :class:`AiohttpTransport`: the
    client's default headers under the request's (names lower-cased, as httpx hands them over),
    the URL as httpx normalises it (parsed once per URL), the same timeouts, no redirects; the
    body is content-decoded by aiohttp for the encodings the client advertises. Failures become
    the httpx errors the transport raises, so :func:`map_transport_errors` maps them alike.

    Args:
        transport: The transport whose pool carries the requests.
        defaults: The client's default headers.
    """

    __slots__ = ("_defaults", "_transport", "_urls")

    def __init__(self, transport: AiohttpTransport, defaults: dict[str, str]) -> None:
        self._transport = transport
        self._defaults = {name.lower(): value for name, value in defaults.items()}
        self._urls: dict[str, Any] = {}

    def takes(self, url: str) -> bool:
        """Whether this URL goes the direct route (not one with credentials in it).

        Args:
            url: The absolute URL.

        Returns:
            False for a URL with userinfo (httpx turns it into an Authorization header).
        """
        return url in self._urls or self._url(url) is not None

    def _url(self, url: str) -> Any:
        import yarl

        known = self._urls.get(url)
        if known is None:
            parsed = httpx.URL(url)
            if parsed.userinfo:
                return None
            if len(self._urls) >= 512:  # URLs carry model ids: a bounded cache
                self._urls.clear()
            known = self._urls[url] = yarl.URL(str(parsed), encoded=True)
        return known

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        per_request: httpx.Timeout,
    ) -> aiohttp.ClientResponse:
        """Send one request; its body is still unread (:func:`_whole`, :func:`_opened` read it).

        Raises:
            httpx.TransportError: Any failure, mapped as :class:`AiohttpTransport` maps it.
        """
        transport = self._transport
        session = transport._session or transport._open()
        merged = self._defaults.copy()
        for name, value in headers.items():
            merged[name.lower()] = value
        try:
            return await session.request(
                method,
                self._url(url),
                headers=merged,
                data=_payload(content),
                allow_redirects=False,
                timeout=_client_timeout(per_request.connect, per_request.read, per_request.pool),
                auto_decompress=True,
            )
        except Exception as exc:
            raise _transport_error(exc, None) from exc


async def _whole(response: aiohttp.ClientResponse) -> _Answer:
    """Read a direct-route answer to its end (and give its connection back)."""
    try:
        body = await response.read()
    except Exception as exc:
        raise _transport_error(exc, None) from exc
    finally:
        response.release()
    return _Answer(response.status, response.headers, body)


def _opened(
    response: aiohttp.ClientResponse,
) -> tuple[_Head, AsyncGenerator[bytes, None], Callable[[], Awaitable[None]]]:
    """A direct-route answer to stream: its head, its body's chunks and its release."""

    async def release() -> None:
        response.release()  # a body not read to its end closes the connection

    return _Head(response.status, response.headers), _chunks(response, None), release


async def _chunks(
    response: aiohttp.ClientResponse, request: httpx.Request | None
) -> AsyncGenerator[bytes, None]:
    """A response body as aiohttp hands it over, every failure mapped."""
    content = response.content
    while True:
        try:
            chunk = await content.readany()
        except Exception as exc:
            raise _transport_error(exc, request) from exc
        if not chunk:
            return
        yield chunk


def _payload(content: bytes | None) -> bytes | io.BytesIO | None:
    """A request body as aiohttp takes it: a large one as a file object.

    aiohttp writes a large bytes body in one blocking go.
    """
    if not content:
        return None
    return io.BytesIO(content) if len(content) > _LARGE_BODY else content


_TIMEOUTS: dict[tuple[float | None, float | None, float | None], Any] = {}


def _client_timeout(connect: float | None, read: float | None, pool: float | None) -> Any:
    """The aiohttp timeout for httpx's connect, read and pool limits (kept: they repeat)."""
    key = (connect, read, pool)
    known = _TIMEOUTS.get(key)
    if known is None:
        import aiohttp

        if len(_TIMEOUTS) >= 64:
            _TIMEOUTS.clear()
        known = _TIMEOUTS[key] = aiohttp.ClientTimeout(
            sock_connect=connect, sock_read=read, connect=pool
        )
    return known


def _direct(client: httpx.AsyncClient, url: str) -> _Direct | None:
    transport = client._transport
    if type(transport) is AiohttpTransport:
        direct = transport.direct
        if direct is not None and direct.takes(url):
            return direct
    return None


# -- timeouts and deadlines --------------------------------------------------------------------


def timeout(value: float | httpx.Timeout) -> tuple[httpx.Timeout, float]:
    """The httpx timeout for one request, and the llmorch deadline ``t`` in seconds.

    A number is one timeout for connect, read, write and pool; the deadline is the same
    number. An ``httpx.Timeout`` is passed as it is, and its longest limit is the deadline
    (none when every limit is ``None``).

    Args:
        value: The provider's ``timeout`` or the call's ``timeout=``.

    Returns:
        ``(httpx timeout, deadline seconds)``; the deadline may be ``math.inf``.
    """
    if isinstance(value, httpx.Timeout):
        limits = [v for v in (value.connect, value.read, value.write, value.pool) if v is not None]
        return value, max(limits) if limits else math.inf
    return httpx.Timeout(value), float(value)


def _deadline_error(provider: str, model: str | None, seconds: float, what: str) -> Exception:
    return ProviderTimeoutError(
        f"request timed out: {what} within {seconds:g} s", provider=provider, model=model
    )


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    model: str | None,
    timeout_s: float | httpx.Timeout,
    headers: Mapping[str, str],
    content: bytes | None = None,
    params: Mapping[str, Any] | None = None,
) -> Response:
    """One non-streamed attempt, from connect to the last byte of the body within the timeout.

    Args:
        client: The shared client.
        method: The HTTP method.
        url: The absolute URL.
        provider: The configured provider name, for errors.
        model: The model, for errors.
        timeout_s: The timeout (see :func:`timeout`).
        headers: Request headers.
        content: The body bytes.
        params: Query parameters.

    Returns:
        The response, body read.

    Raises:
        ProviderTimeoutError: No complete answer within the timeout.
        ProviderConnectionError: Any other transport failure.
    """
    per_request, seconds = timeout(timeout_s)
    direct = None if params else _direct(client, url)
    started = time.monotonic()
    try:
        with map_transport_errors(provider, model):
            with anyio.move_on_after(seconds) as scope:
                response: Response
                if direct is not None:
                    sent = await direct.send(method, url, headers, content, per_request)
                    response = await _whole(sent)
                else:
                    response = await client.request(
                        method,
                        url,
                        headers=headers,
                        content=content,
                        params=params,
                        timeout=per_request,
                    )
                _log_attempt(provider, model, method, url, started, response)
                return response
        assert scope.cancelled_caught
        raise _deadline_error(provider, model, seconds, "no complete answer")
    except ProviderError as exc:
        _log_attempt(provider, model, method, url, started, exc)
        raise


_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-goog-request-id")


def _log_attempt(
    provider: str,
    model: str | None,
    method: str,
    url: str,
    started: float,
    outcome: Head | ProviderError,
) -> None:
    """Log one DEBUG line for an attempt (SPEC §2.12).

    It names the provider and model, the URL's path only (never its query or userinfo, which
    may carry a key), the status or the failure, the latency and the vendor's request id.
    """
    if not logger.isEnabledFor(logging.DEBUG):
        return
    if not isinstance(outcome, ProviderError):
        result = f"HTTP {outcome.status_code}"
        found = (outcome.headers.get(name) for name in _REQUEST_ID_HEADERS)
        request_id = next((value for value in found if value), None)
    else:
        result = type(outcome).__name__
        request_id = None
    logger.debug(
        "attempt %s/%s: %s %s -> %s in %.3fs%s",
        provider,
        model or "-",
        method,
        httpx.URL(url).path,
        result,
        time.monotonic() - started,
        f" (request_id {request_id})" if request_id else "",
    )


class StreamBody:
    """A streamed response body whose every read is bounded by a moving deadline.

    The first event must arrive within ``t`` of sending the request, and each next one within
    ``t`` of the previous (the caller reports events with :meth:`event`), so a silent, dripping
    or wedged peer always ends the stream with :class:`~llmorch.exceptions.ProviderTimeoutError`.
    The clock restarts when the next read begins after an event, so time the consumer spends
    between chunks never counts against the peer. Iterate it for byte chunks; :meth:`aclose`
    releases the connection.

    Attributes:
        response: The response (status and headers; the body is read through this object).
    """

    __slots__ = (
        "_chunks",
        "_deadline",
        "_fresh",
        "_model",
        "_provider",
        "_release",
        "_seconds",
        "response",
    )

    def __init__(
        self,
        response: Head,
        chunks: AsyncGenerator[bytes, None],
        release: Callable[[], Awaitable[None]],
        provider: str,
        model: str | None,
        seconds: float,
    ) -> None:
        self.response = response
        self._provider = provider
        self._model = model
        self._seconds = seconds
        self._deadline = anyio.current_time() + seconds
        self._fresh = False
        self._chunks = chunks  # content-decoded (gzip), like the body fetch() reads
        self._release = release

    def event(self) -> None:
        """A whole event arrived: the next one has ``t`` seconds (a flag: called per event)."""
        self._fresh = True

    def __aiter__(self) -> StreamBody:
        return self

    async def __anext__(self) -> bytes:
        if self._fresh:
            self._fresh = False
            self._deadline = anyio.current_time() + self._seconds
        with map_transport_errors(self._provider, self._model):
            with anyio.CancelScope(deadline=self._deadline) as scope:
                return await self._chunks.__anext__()
        assert scope.cancelled_caught
        raise _deadline_error(self._provider, self._model, self._seconds, "no stream event")

    async def read(self, limit: int = 1 << 16) -> bytes:
        """Read what is left of the body (an error answer), at most ``limit`` bytes kept.

        Args:
            limit: How many bytes to keep.

        Returns:
            The bytes read.
        """
        parts: list[bytes] = []
        size = 0
        async for chunk in self:
            if size < limit:
                parts.append(chunk)
                size += len(chunk)
        return b"".join(parts)[:limit]

    async def aclose(self) -> None:
        """Release the connection (shielded from cancellation: it always happens)."""
        with anyio.CancelScope(shield=True):
            try:
                await self._chunks.aclose()
                await self._release()
            except Exception:  # the connection is going away either way
                logger.debug("error while closing a response", exc_info=True)


async def open_stream(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    model: str | None,
    timeout_s: float | httpx.Timeout,
    headers: Mapping[str, str],
    content: bytes | None = None,
) -> StreamBody:
    """Send a streaming request and return its body once the headers are in.

    The headers must arrive within the timeout; the body's reads share the first event's
    deadline (see :class:`StreamBody`). The caller must ``aclose()`` the result.

    Args:
        client: The shared client.
        method: The HTTP method.
        url: The absolute URL.
        provider: The configured provider name, for errors.
        model: The model, for errors.
        timeout_s: The timeout (see :func:`timeout`).
        headers: Request headers.
        content: The body bytes.

    Returns:
        The stream body.

    Raises:
        ProviderTimeoutError: No answer within the timeout.
        ProviderConnectionError: Any other transport failure.
    """
    per_request, seconds = timeout(timeout_s)
    direct = _direct(client, url)
    started = time.monotonic()
    try:
        with map_transport_errors(provider, model):
            with anyio.move_on_after(seconds) as scope:
                head: Head
                if direct is not None:
                    sent = await direct.send(method, url, headers, content, per_request)
                    head, chunks, release = _opened(sent)
                else:
                    request = client.build_request(
                        method, url, headers=headers, content=content, timeout=per_request
                    )
                    response = await client.send(request, stream=True)
                    head, release = response, response.aclose
                    chunks = cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
                _log_attempt(provider, model, method, url, started, head)
                return StreamBody(head, chunks, release, provider, model, seconds)
        assert scope.cancelled_caught
        raise _deadline_error(provider, model, seconds, "no answer")
    except ProviderError as exc:
        _log_attempt(provider, model, method, url, started, exc)
        raise


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read the delay a server asked for.

    ``retry-after-ms`` wins over ``retry-after``, which may be seconds or an HTTP date. A value
    that is not a finite number (``nan``, ``inf``) is ignored, so backoff applies.

    Args:
        headers: Response headers (case-insensitive mapping).
        now: The current Unix time, for tests.

    Returns:
        Seconds to wait (never negative), or ``None`` when the server gave no usable delay.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        ms = _finite(raw_ms)
        if ms is not None:
            return max(0.0, ms / 1000)
    raw = headers.get("retry-after")
    if not raw:
        return None
    seconds = _finite(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_TRANSPORT_MODULES = ("aiohttp", "yarl", "httpcore", "h11", "anyio", "ssl")


@contextlib.contextmanager
def map_transport_errors(provider: str, model: str | None) -> Iterator[None]:
    """Turn every transport exception into an llmorch error, keeping the original as the cause.

    httpx's own errors are mapped by kind; anything else a transport library raises (an
    exception from aiohttp, httpcore, h11 or ssl, an ``OSError`` or a ``UnicodeError`` from
    undecodable bytes on the wire) is a connection failure.

    Args:
        provider: The configured provider name, for the error.
        model: The model id, for the error.

    Yields:
        Nothing; wrap the request (and stream iteration) in it.

    Raises:
        ProviderTimeoutError: Connect, read, write or pool timeout.
        ProviderConnectionError: Any other transport failure.
    """
    try:
        yield
    except ProviderError:
        raise
    except httpx.TimeoutException as exc:
        raise ProviderTimeoutError(
            f"request timed out ({type(exc).__name__})", provider=provider, model=model
        ) from exc
    except (httpx.RequestError, httpx.StreamError) as exc:
        raise ProviderConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}", provider=provider, model=model
        ) from exc
    except (OSError, UnicodeError) as exc:
        raise ProviderConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}", provider=provider, model=model
        ) from exc
    except Exception as exc:
        if not type(exc).__module__.startswith(_TRANSPORT_MODULES):
            raise
        raise ProviderConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}", provider=provider, model=model
        ) from exc


class SyncHTTP:
    """A small blocking client for credential libraries that need one (google-auth's refresh).

    Use it only from worker threads, never on the event loop.

    Args:
        provider: The configured provider name, for errors.
    """

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._client = httpx.Client(
            headers={"user-agent": _USER_AGENT}, follow_redirects=False, trust_env=True
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None,
        timeout_s: float = 60.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request and read the whole answer.

        Args:
            method: The HTTP method.
            url: The absolute URL.
            headers: Request headers.
            body: The request body.
            timeout_s: Connect/read/write/pool timeout in seconds.

        Returns:
            ``(status, lower-cased headers, body)``.

        Raises:
            ProviderTimeoutError: The request timed out.
            ProviderConnectionError: Any other transport failure.
        """
        with map_transport_errors(self._provider, None):
            response = self._client.request(
                method, url, headers=headers, content=body, timeout=timeout_s
            )
        return response.status_code, dict(response.headers), response.content

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
