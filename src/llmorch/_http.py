"""Everything llmorch needs from httpx, in the one module that imports it.

The client factory, per-request timeouts, ``Retry-After`` parsing and the mapping of transport
failures onto llmorch's error tree.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterator, Mapping

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
    "create_client",
    "map_transport_errors",
    "parse_retry_after",
    "timeout",
]

AsyncClient = httpx.AsyncClient
Response = httpx.Response

_USER_AGENT = "llmorch/0.1"


def create_client(transport: str = "auto") -> httpx.AsyncClient:
    """Create the pooled client an orchestrator shares between its providers.

    Args:
        transport: ``"httpx"`` for httpx's own pool, ``"aiohttp"`` for the ``httpx-aiohttp``
            transport (must be installed), ``"auto"`` for the best one available.

    Returns:
        A new client; the caller closes it.

    Raises:
        ConfigurationError: ``aiohttp`` was asked for but ``httpx-aiohttp`` is not installed.
    """
    kwargs: dict[str, object] = {}
    if transport == "aiohttp":
        try:
            from httpx_aiohttp import (  # type: ignore[import-not-found,unused-ignore]
                AiohttpTransport,
            )
        except ImportError as exc:
            raise ConfigurationError(
                "http_transport: 'aiohttp' needs the httpx-aiohttp package: "
                "pip install httpx-aiohttp"
            ) from exc
        kwargs["transport"] = AiohttpTransport()
    return httpx.AsyncClient(
        headers={"user-agent": _USER_AGENT},
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        follow_redirects=False,
        trust_env=True,
        **kwargs,  # type: ignore[arg-type]
    )


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
