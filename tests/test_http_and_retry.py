from __future__ import annotations

import email.utils
import importlib.util

import anyio
import httpx
import pytest

from llmorch import _http
from llmorch._retry import Backoff, decide
from llmorch.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "x", "retry-after": "3"}, 3.0),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """retry-after-ms wins; Retry-After is seconds or an HTTP date; junk gives None."""
    assert expected == _http.parse_retry_after(headers, now=NOW)


def test_parse_retry_after_uses_the_clock_by_default() -> None:
    """Without `now`, an HTTP date is measured against the current time."""
    delay = _http.parse_retry_after({"retry-after": email.utils.formatdate(usegmt=True)})
    assert delay is not None and delay <= 1.0


async def test_auto_transport_is_aiohttp_on_asyncio_and_httpx_elsewhere() -> None:
    """auto picks aiohttp inside asyncio, httpx's own pool outside it (e.g. under trio)."""
    client = _http.create_client("auto")
    assert "aiohttp" == _http.transport_name(client)
    assert client.headers["user-agent"].startswith("llmorch/")
    await client.aclose()
    plain = _http.create_client("httpx")
    assert "httpx" == _http.transport_name(plain)
    await plain.aclose()


def test_auto_outside_asyncio_and_explicit_aiohttp_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside asyncio auto is httpx; aiohttp there, or without httpx-aiohttp, is a clear error."""
    assert "httpx" == _http.resolve_transport("auto")
    assert "httpx" == anyio.run(_resolve_auto, backend="trio")
    with pytest.raises(ConfigurationError, match="only on asyncio"):
        _http.resolve_transport("aiohttp")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "httpx_aiohttp" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigurationError, match="pip install httpx-aiohttp"):
        _http.resolve_transport("aiohttp")
    assert "httpx" == anyio.run(_resolve_auto)


async def _resolve_auto() -> str:
    return _http.resolve_transport("auto")


def test_aiohttp_connection_errors_are_not_reported_as_timeouts() -> None:
    """httpx-aiohttp's ConnectTimeout over a disconnect is a connection error, not a timeout."""
    aiohttp = pytest.importorskip("aiohttp")
    for cause, expected in (
        (aiohttp.ServerDisconnectedError(), ProviderConnectionError),
        (aiohttp.ServerTimeoutError(), ProviderTimeoutError),
    ):
        with pytest.raises(expected), _http.map_transport_errors("p", "m"):
            raise httpx.ConnectTimeout("x") from cause


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectTimeout("t"), ProviderTimeoutError),
        (httpx.PoolTimeout("t"), ProviderTimeoutError),
        (httpx.ConnectError("refused"), ProviderConnectionError),
        (httpx.RemoteProtocolError("peer closed"), ProviderConnectionError),
        (httpx.StreamClosed(), ProviderConnectionError),
    ],
)
def test_transport_errors_are_mapped(raised: Exception, expected: type[Exception]) -> None:
    """Every httpx failure becomes an llmorch error that keeps the original as its cause."""
    with pytest.raises(expected) as info, _http.map_transport_errors("openai", "gpt-4o"):
        raise raised
    assert raised is info.value.__cause__
    assert ("openai", "gpt-4o") == (info.value.provider, info.value.model)  # type: ignore[attr-defined]


def test_provider_errors_pass_through_the_mapper() -> None:
    """An llmorch error raised inside the mapper is not rewrapped."""
    error = RateLimitError("slow")
    with pytest.raises(RateLimitError) as info, _http.map_transport_errors("p", None):
        raise error
    assert error is info.value


def test_decide() -> None:
    """Auth errors stop, retryable errors retry, the rest move on."""
    assert "stop" == decide(AuthenticationError("x"))
    assert "stop" == decide(PermissionDeniedError("x"))
    assert "retry" == decide(ProviderUnavailableError("x"))
    assert "retry" == decide(RateLimitError("x"))
    assert "next" == decide(RateLimitError("quota", is_retryable=False))
    assert "next" == decide(ModelNotFoundError("x"))


def test_backoff_full_jitter_cap_and_server_delay() -> None:
    """0.5 s × 2ⁿ scaled by jitter, capped; a server delay wins unless above the cap."""
    backoff = Backoff(max_s=4)
    error = ProviderUnavailableError("x")
    assert [0.5, 1.0, 2.0, 4.0, 4.0] == [backoff.delay(n, error, lambda: 1.0) for n in range(5)]
    assert 0.0 == backoff.delay(3, error, lambda: 0.0)
    assert 3.0 == backoff.delay(0, RateLimitError("x", retry_after=3.0))
    assert backoff.delay(0, RateLimitError("x", retry_after=5.0)) is None
