"""Everything llmorch needs from httpx, in the one module that imports it.

The client factory, per-request timeouts, ``Retry-After`` parsing and the mapping of transport
failures onto llmorch's error tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib.util
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from llmorch.exceptions import (
    ConfigurationError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
)

__all__ = [
    "AsyncClient",
    "Response",
    "SyncHTTP",
    "create_client",
    "map_transport_errors",
    "parse_retry_after",
    "release_unawaited",
    "resolve_transport",
    "timeout",
    "transport_name",
]

AsyncClient = httpx.AsyncClient
Response = httpx.Response

_USER_AGENT = "llmorch/0.1"


def _asyncio_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def resolve_transport(setting: str, *, on_asyncio: bool | None = None) -> str:
    """Decide what carries the bytes under httpx.

    ``auto`` is ``aiohttp`` (httpx-aiohttp's transport, whose pool holds up under concurrency)
    when running on asyncio with ``httpx-aiohttp`` installed, else httpx's own pool (always under
    trio: aiohttp is asyncio-only).

    Args:
        setting: The config's ``http_transport``: ``auto``, ``aiohttp`` or ``httpx``.
        on_asyncio: Whether the client will run on asyncio (by default: whether this thread
            runs an asyncio loop; pass it when building the client in a worker thread).

    Returns:
        ``"aiohttp"`` or ``"httpx"``.

    Raises:
        ConfigurationError: ``aiohttp`` was asked for outside asyncio or without httpx-aiohttp.
    """
    if setting == "httpx":
        return "httpx"
    available = importlib.util.find_spec("httpx_aiohttp") is not None
    on_asyncio = _asyncio_running() if on_asyncio is None else on_asyncio
    if setting == "aiohttp":
        if not available:
            raise ConfigurationError(
                "http_transport: 'aiohttp' needs the httpx-aiohttp package: "
                "pip install httpx-aiohttp"
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
        from httpx_aiohttp import AiohttpTransport

        kwargs["transport"] = AiohttpTransport(limits=limits, trust_env=True)
    return httpx.AsyncClient(
        headers={"user-agent": _USER_AGENT},
        limits=limits,
        follow_redirects=False,
        trust_env=True,
        **kwargs,
    )


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
    session = getattr(client._transport, "client", None)
    close = getattr(getattr(session, "connector", None), "_close", None)
    if callable(close):
        close()


def transport_name(client: httpx.AsyncClient) -> str:
    """Which transport a client uses (for logs and benchmarks).

    Args:
        client: A client from :func:`create_client`.

    Returns:
        ``"aiohttp"`` or ``"httpx"``.
    """
    return "aiohttp" if "aiohttp" in type(client._transport).__module__ else "httpx"


def timeout(seconds: float) -> httpx.Timeout:
    """One timeout for connect, read (the gap between two stream events), write and pool.

    Args:
        seconds: The provider's configured ``timeout``.

    Returns:
        The httpx timeout to pass per request.
    """
    return httpx.Timeout(seconds)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Read the delay a server asked for.

    ``retry-after-ms`` wins over ``retry-after``, which may be seconds or an HTTP date.

    Args:
        headers: Response headers (case-insensitive mapping).
        now: The current Unix time, for tests.

    Returns:
        Seconds to wait (never negative), or ``None`` when the server gave no usable delay.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@contextlib.contextmanager
def map_transport_errors(provider: str, model: str | None) -> Iterator[None]:
    """Turn httpx transport exceptions into llmorch errors, keeping the original as the cause.

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
        if _is_disguised_connection_error(exc):
            raise ProviderConnectionError(
                f"connection failed: {type(exc.__cause__).__name__}: {exc}",
                provider=provider,
                model=model,
            ) from exc
        kind = type(exc).__name__
        raise ProviderTimeoutError(
            f"request timed out ({kind})", provider=provider, model=model
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}", provider=provider, model=model
        ) from exc
    except httpx.StreamError as exc:
        raise ProviderConnectionError(
            f"stream failed: {type(exc).__name__}: {exc}", provider=provider, model=model
        ) from exc


def _is_disguised_connection_error(exc: httpx.TimeoutException) -> bool:
    """Whether a ``ConnectTimeout`` is really a connection failure.

    httpx-aiohttp reports every aiohttp connection error (even "server disconnected") as
    ``ConnectTimeout``; only a real timeout underneath makes it one.
    """
    cause = exc.__cause__
    return (
        isinstance(exc, httpx.ConnectTimeout)
        and cause is not None
        and type(cause).__module__.startswith("aiohttp")
        and not isinstance(cause, (TimeoutError, asyncio.TimeoutError))
    )


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
