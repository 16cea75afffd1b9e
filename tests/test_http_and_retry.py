from __future__ import annotations

import email.utils
import importlib.util
from pathlib import Path

import anyio
import httpx
import pytest

import llmorch
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
    """Outside asyncio auto is httpx; aiohttp there, or without aiohttp, is a clear error."""
    assert "httpx" == _http.resolve_transport("auto")
    assert "httpx" == anyio.run(_resolve_auto, backend="trio")
    with pytest.raises(ConfigurationError, match="only on asyncio"):
        _http.resolve_transport("aiohttp")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "aiohttp" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigurationError, match="pip install aiohttp"):
        _http.resolve_transport("aiohttp")
    assert "httpx" == anyio.run(_resolve_auto)


async def _resolve_auto() -> str:
    return _http.resolve_transport("auto")


def test_chaos_bug2_every_aiohttp_failure_maps_to_an_llmorch_error() -> None:
    """What aiohttp raises for broken HTTP (bad status line, framing, disconnects, a reason
    phrase that is not UTF-8) becomes an httpx transport error, then an llmorch error."""
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import http_exceptions

    request = httpx.Request("GET", "http://127.0.0.1/")
    info = aiohttp.RequestInfo(
        yarl_url("http://127.0.0.1/"), "GET", {}, yarl_url("http://127.0.0.1/")
    )  # type: ignore[arg-type]
    cases: list[tuple[Exception, type[Exception]]] = [
        (aiohttp.ServerDisconnectedError(), ProviderConnectionError),
        (aiohttp.ServerTimeoutError(), ProviderTimeoutError),
        (aiohttp.ConnectionTimeoutError(), ProviderTimeoutError),
        (
            aiohttp.ClientResponseError(info, (), status=400, message="Bad status line"),
            ProviderConnectionError,
        ),
        (aiohttp.ClientPayloadError("Response payload is not completed"), ProviderConnectionError),
        (http_exceptions.BadStatusLine("GARBAGE"), ProviderConnectionError),
        (http_exceptions.TransferEncodingError("bad chunk"), ProviderConnectionError),
        (
            UnicodeEncodeError("utf-8", "\udcfc", 0, 1, "surrogates not allowed"),
            ProviderConnectionError,
        ),
        (TimeoutError(), ProviderTimeoutError),
    ]
    for cause, expected in cases:
        mapped = _http._transport_error(cause, request)
        assert isinstance(mapped, httpx.TransportError)
        with pytest.raises(expected) as caught, _http.map_transport_errors("p", "m"):
            raise mapped from cause
        assert caught.value.__cause__ is mapped


def test_chaos_bug2_raw_transport_exceptions_never_escape_the_mapper() -> None:
    """An exception a transport library raises past httpx is still an llmorch error."""
    aiohttp = pytest.importorskip("aiohttp")
    for raw in (
        aiohttp.ClientPayloadError("x"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x"),
        OSError(5, "x"),
    ):
        with pytest.raises(ProviderConnectionError), _http.map_transport_errors("p", "m"):
            raise raw
    with pytest.raises(ZeroDivisionError), _http.map_transport_errors("p", "m"):
        raise ZeroDivisionError  # a bug of ours is not disguised as a network failure


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "nan"},
        {"retry-after-ms": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "-inf"},
    ],
)
def test_review_21_non_finite_retry_after_is_ignored(headers: dict[str, str]) -> None:
    """`retry-after: nan` is not "retry now": a non-finite delay is no delay at all (backoff)."""
    assert _http.parse_retry_after(headers) is None
    assert 0.25 == Backoff(max_s=30).delay(0, RateLimitError("x", retry_after=None), lambda: 0.5)


def yarl_url(text: str) -> object:
    import yarl

    return yarl.URL(text)


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


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_body_over_a_mebibyte_goes_out_without_blocking_the_loop(
    transport: str, tmp_path: Path
) -> None:
    """An image or PDF makes multi-MiB bodies; aiohttp must get them as a file object.

    (aiohttp writes a plain ``bytes`` body above 1 MiB in one go and warns about it; the
    suite turns that ResourceWarning into an error.)
    """
    from llmorch.testing import ProviderEmulator
    from tests.emulated import one_provider

    async with ProviderEmulator() as emu:
        config = one_provider(emu, "openai", "gpt-5.4-mini", tmp_path / "ledger.jsonl")
        config["http_transport"] = transport
        big = "word " * 300_000  # 1.5 MB of text
        async with llmorch.AsyncLLMOrchestrator(config) as orch:
            response = await orch.send_request([{"role": "user", "content": big}])
        assert response.tokens_used["prompt"] >= 300_000
        (request,) = [r for r in emu.requests if r.path.endswith("/chat/completions")]
        assert len(request.body["messages"][0]["content"]) > 1 << 20
