from __future__ import annotations

import functools
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llmorch import ConfigurationError
from llmorch.config import VertexConfig
from llmorch.exceptions import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers import _google
from llmorch.providers.vertex import ANTHROPIC_VERSION, VertexProvider, vertex_host
from tests.adapters import send, stream
from tests.conftest import chunks, fixture_bytes

TOKEN_URL = "https://oauth2.googleapis.com/token"
HOST = "https://us-central1-aiplatform.googleapis.com"
PREFIX = f"{HOST}/v1/projects/p1/locations/us-central1/publishers"
GEMINI = f"{PREFIX}/google/models/gemini-2.5-flash"
CLAUDE = f"{PREFIX}/anthropic/models/claude-sonnet-4-5@20250929"
MESSAGES = [{"role": "user", "content": "Hi"}]


@functools.cache
def private_key() -> str:
    """A fresh RSA key for this test run (never a checked-in one)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def sa_file(tmp_path: Path, **extra: Any) -> str:
    info = {
        "type": "service_account",
        "project_id": "p1",
        "private_key_id": "kid1",
        "private_key": private_key(),
        "client_email": "sa@p1.iam.gserviceaccount.com",
        "token_uri": TOKEN_URL,
        **extra,
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return str(path)


def tokens(*values: str, expires_in: int = 3600) -> list[httpx.Response]:
    return [httpx.Response(200, json={"access_token": v, "expires_in": expires_in}) for v in values]


@pytest.fixture
async def adapter(tmp_path: Path) -> AsyncIterator[VertexProvider]:
    async with httpx.AsyncClient() as http:
        config = VertexConfig(credentials_path=sa_file(tmp_path))
        provider = VertexProvider("vertex", config, http)
        yield provider
        await provider.aclose()


def _err(code: int, status: str, message: str = "x") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


async def test_gemini_request_with_a_service_account_token(adapter: VertexProvider) -> None:
    """The key signs a JWT grant; the token goes out as a bearer on the regional host."""
    body = json.loads(fixture_bytes("gemini_generate_content_response.json"))
    with respx.mock() as mock:
        grant = mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
        route = mock.post(f"{GEMINI}:generateContent").respond(200, json=body)
        first = await send(adapter, MESSAGES, "gemini-2.5-flash", max_tokens=5)
        await send(adapter, MESSAGES, "gemini-2.5-flash")
    assert 1 == grant.call_count  # the token is reused while fresh
    form = grant.calls[0].request.content.decode()
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in form
    request = route.calls[0].request
    assert "Bearer ya29.one" == request.headers["authorization"]
    assert {"maxOutputTokens": 5} == json.loads(request.content)["generationConfig"]
    assert ({"prompt": 7, "completion": 22, "total": 29}, "stop") == (
        first.tokens_used,
        first.finish_reason,
    )
    assert "ya29.one" not in repr(adapter.tokens.current) + repr(adapter.tokens)


async def test_vertex_stream_fixture_over_http(adapter: VertexProvider) -> None:
    """The recorded Vertex stream, served in odd pieces, gives "Cheyenne" and its usage."""
    data = fixture_bytes("vertex_gemini_stream_basic.sse")
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
        route = mock.post(f"{GEMINI}:streamGenerateContent").respond(
            200, stream=chunks(data, 1, 77, len(data) - 3)
        )
        events = [e async for e in stream(adapter, MESSAGES, "gemini-2.5-flash")]
    assert "sse" == route.calls[0].request.url.params["alt"]
    assert "Cheyenne" == "".join(e.text for e in events)
    usage = [e.tokens for e in events if e.kind == "usage"]
    assert [{"prompt": 6, "completion": 4, "total": 10}] == usage


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_hosts_per_location(location: str, host: str) -> None:
    """Regional, global and multi-region locations each have their own host."""
    assert host == vertex_host(location)
    config = VertexConfig(location=location, credentials_path="unused.json")
    adapter = VertexProvider("v", config, httpx.AsyncClient())
    assert (host, {}) == (adapter.base_url, adapter.auth_headers())


async def test_a_401_refreshes_the_token_and_retries_once(adapter: VertexProvider) -> None:
    """A rejected token is refreshed and the call repeated once; a second 401 is raised."""
    body = json.loads(fixture_bytes("gemini_generate_content_response.json"))
    unauth = httpx.Response(401, json=_err(401, "UNAUTHENTICATED"))
    with respx.mock() as mock:
        grant = mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.a", "ya29.b", "ya29.c"))
        route = mock.post(f"{GEMINI}:generateContent").mock(
            side_effect=[unauth, httpx.Response(200, json=body), unauth, unauth]
        )
        response = await send(adapter, MESSAGES, "gemini-2.5-flash")
        assert ["Bearer ya29.a", "Bearer ya29.b"] == [
            c.request.headers["authorization"] for c in route.calls
        ]
        assert response.content
        with pytest.raises(AuthenticationError):
            await send(adapter, MESSAGES, "gemini-2.5-flash")
    assert (3, 4) == (grant.call_count, route.call_count)


async def test_a_401_on_a_stream_refreshes_and_reopens(adapter: VertexProvider) -> None:
    """A 401 opening a stream refreshes the token and opens it again."""
    data = fixture_bytes("vertex_gemini_stream_basic.sse")
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.a", "ya29.b"))
        route = mock.post(f"{GEMINI}:streamGenerateContent").mock(
            side_effect=[
                httpx.Response(401, json=_err(401, "UNAUTHENTICATED")),
                httpx.Response(200, content=data),
            ]
        )
        events = [e async for e in stream(adapter, MESSAGES, "gemini-2.5-flash")]
    assert "Cheyenne" == "".join(e.text for e in events)
    assert "Bearer ya29.b" == route.calls[1].request.headers["authorization"]


async def test_claude_goes_to_raw_predict_without_model(adapter: VertexProvider) -> None:
    """claude-* ids use the Anthropic publisher, rawPredict, and anthropic_version in the body."""
    body = json.loads(fixture_bytes("anthropic_message_response.json"))
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
        route = mock.post(f"{CLAUDE}:rawPredict").respond(200, json=body)
        response = await send(adapter, MESSAGES, "claude-sonnet-4-5@20250929", 0.5)
    sent = json.loads(route.calls[0].request.content)
    assert "model" not in sent
    assert (ANTHROPIC_VERSION, 4096, 0.5) == (
        sent["anthropic_version"],
        sent["max_tokens"],
        sent["temperature"],
    )
    assert {"prompt": 406, "completion": 50, "total": 456, "cache_read": 0, "cache_write": 0} == (
        response.tokens_used
    )
    assert ("msg_01T4jd6NyD9xGGtTPDC4ogy5", "stop") == (
        response.request_id,
        response.finish_reason,
    )


async def test_claude_stream_uses_stream_raw_predict(adapter: VertexProvider) -> None:
    """Streaming Claude posts stream: true to streamRawPredict and parses Messages SSE."""
    data = fixture_bytes("anthropic_messages_stream_basic.sse")
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
        route = mock.post(f"{CLAUDE}:streamRawPredict").respond(200, stream=chunks(data, 9))
        events = [e async for e in stream(adapter, MESSAGES, "claude-sonnet-4-5@20250929")]
    assert json.loads(route.calls[0].request.content)["stream"] is True
    assert "Hello there!" == "".join(e.text for e in events)
    assert ["stop"] == [e.finish_reason for e in events if e.kind == "finish"]


async def test_claude_refusal_and_anthropic_shaped_errors(adapter: VertexProvider) -> None:
    """A refusal without text is content-filtered; Claude's own error bodies map as Anthropic's."""
    from llmorch.exceptions import ContentFilteredError

    refusal = {"content": [], "stop_reason": "refusal", "usage": {"input_tokens": 1}}
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
        mock.post(f"{CLAUDE}:rawPredict").mock(
            side_effect=[httpx.Response(200, json=refusal), httpx.Response(529, json=overloaded)]
        )
        with pytest.raises(ContentFilteredError):
            await send(adapter, MESSAGES, "claude-sonnet-4-5@20250929")
        with pytest.raises(ProviderUnavailableError, match="Overloaded"):
            await send(adapter, MESSAGES, "claude-sonnet-4-5@20250929")


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, _err(400, "INVALID_ARGUMENT"), InvalidRequestError),
        (
            400,
            _err(400, "INVALID_ARGUMENT", "The input token count (3000000) exceeds the maximum"),
            ContextLengthExceededError,
        ),
        (
            403,
            json.loads(fixture_bytes("vertex_error_403_iam_permission_denied.json")),
            PermissionDeniedError,
        ),
        (404, _err(404, "NOT_FOUND", "Publisher Model `x` was not found"), ModelNotFoundError),
        (408, _err(408, "DEADLINE_EXCEEDED"), ProviderTimeoutError),
        (409, _err(409, "ABORTED"), ProviderUnavailableError),
        (424, _err(424, "FAILED_DEPENDENCY"), ProviderUnavailableError),
        (429, _err(429, "RESOURCE_EXHAUSTED", "Resource exhausted."), RateLimitError),
        (499, _err(499, "CANCELLED"), ProviderUnavailableError),
        (500, _err(500, "INTERNAL"), ProviderUnavailableError),
        (503, _err(503, "UNAVAILABLE"), ProviderUnavailableError),
        (504, _err(504, "DEADLINE_EXCEEDED"), ProviderTimeoutError),
    ],
)
async def test_http_errors_map_to_the_spec_classes(
    adapter: VertexProvider, status: int, body: Any, cls: type[ProviderError]
) -> None:
    """Every SPEC §2.4 status maps to its class on Vertex; the token never appears."""
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.secret"))
        mock.post(f"{GEMINI}:generateContent").respond(status, json=body)
        with pytest.raises(cls) as info:
            await send(adapter, MESSAGES, "gemini-2.5-flash")
    assert (type(info.value), status) == (cls, info.value.status_code)
    assert "ya29.secret" not in str(info.value) + repr(info.value) + str(info.value.body)


async def test_publisher_model_listing_follows_pages(adapter: VertexProvider) -> None:
    """GET /v1beta1/publishers/google/models is paged; only Gemini chat base models are kept."""
    pages = [
        {
            "publisherModels": [
                {"name": "publishers/google/models/gemini-2.5-flash"},
                {"name": "publishers/google/models/text-embedding-005"},
                {"name": "publishers/google/models/imagen-4.0-generate-001"},
            ],
            "nextPageToken": "t2",
        },
        {
            "publisherModels": [
                {"name": "publishers/google/models/gemini-2.5-pro"},
                {"name": "publishers/google/models/gemini-2.5-pro"},
                {"name": "publishers/google/models/gemini-tuned", "parent": "x"},
                "junk",
            ]
        },
    ]
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
        route = mock.get(f"{HOST}/v1beta1/publishers/google/models").mock(
            side_effect=[httpx.Response(200, json=p) for p in pages]
        )
        models = await adapter.get_available_models()
    assert ["gemini-2.5-flash", "gemini-2.5-pro"] == [m.name for m in models]
    assert "t2" == route.calls[1].request.url.params["pageToken"]
    assert "Bearer ya29.one" == route.calls[0].request.headers["authorization"]


async def test_token_is_refreshed_before_expiry_in_a_worker_thread(tmp_path: Path) -> None:
    """A token near its expiry is renewed before use, by a refresh that runs off the loop."""
    now = [1_000_000.0]
    source = _google.TokenSource("vertex", sa_file(tmp_path), clock=lambda: now[0])
    threads: list[int] = []
    original = _google.HttpxRequest.__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(self, *args, **kwargs)

    with respx.mock() as mock, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_google.HttpxRequest, "__call__", spy)
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.a", "ya29.b"))
        first = await source.get()
        now[0] = first.expires_at - _google.REFRESH_MARGIN_S - 1 if first.expires_at else 0
        assert "ya29.a" == (await source.get()).token  # still fresh
        now[0] += 2  # now inside the refresh margin
        assert "ya29.b" == (await source.get()).token
    assert "p1" == first.project_id
    assert 2 == len(threads)
    assert threading.get_ident() not in threads
    source.close()


async def test_renew_skips_a_refresh_another_task_already_did(tmp_path: Path) -> None:
    """renew(stale) refreshes only when the rejected token is still the current one."""
    source = _google.TokenSource("vertex", sa_file(tmp_path))
    with respx.mock() as mock:
        grant = mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.a", "ya29.b"))
        await source.get()
        assert "ya29.b" == (await source.renew("ya29.a")).token
        assert "ya29.b" == (await source.renew("ya29.a")).token
    assert 2 == grant.call_count
    source.close()


async def test_concurrent_requests_share_one_refresh(tmp_path: Path) -> None:
    """Many tasks asking at once wait for a single refresh and get the same token."""
    import anyio

    source = _google.TokenSource("vertex", sa_file(tmp_path))
    got: list[str] = []

    async def one() -> None:
        got.append((await source.get()).token)

    with respx.mock() as mock:
        grant = mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.a", "ya29.b"))
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
    assert (1, ["ya29.a"] * 5) == (grant.call_count, got)
    source.close()


async def test_token_endpoint_failures_map_to_llmorch_errors(tmp_path: Path) -> None:
    """invalid_grant is an AuthenticationError, an unreachable endpoint a connection error."""
    source = _google.TokenSource("vertex", sa_file(tmp_path))
    with respx.mock() as mock:
        route = mock.post(TOKEN_URL)
        route.respond(400, json={"error": "invalid_grant", "error_description": "Invalid JWT"})
        with pytest.raises(AuthenticationError, match="invalid_grant"):
            await source.get()
        route.side_effect = httpx.ConnectError("refused")
        with pytest.raises(ProviderConnectionError, match="token endpoint"):
            await source.get()
    source.close()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "cannot read"),
        ("not json", "cannot read"),
        (json.dumps({"type": "external_account"}), "not supported"),
        (json.dumps({"type": "service_account"}), "missing fields"),
    ],
)
async def test_bad_credential_files_are_authentication_errors(
    tmp_path: Path, content: str | None, match: str
) -> None:
    """Missing, unreadable, unsupported or incomplete files fail clearly, with no google error."""
    path = tmp_path / "creds.json"
    if content is not None:
        path.write_text(content)
    source = _google.TokenSource("vertex", str(path))
    with pytest.raises(AuthenticationError, match=match) as info:
        await source.get()
    assert not type(info.value).__module__.startswith("google")
    source.close()


async def test_authorized_user_file_sends_its_quota_project(tmp_path: Path) -> None:
    """gcloud user credentials refresh with their refresh token and bill x-goog-user-project."""
    info = {
        "type": "authorized_user",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rt",
        "quota_project_id": "billing-proj",
    }
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(info))
    body = json.loads(fixture_bytes("gemini_generate_content_response.json"))
    async with httpx.AsyncClient() as http:
        adapter = VertexProvider("v", VertexConfig(credentials_path=str(path)), http)
        with respx.mock() as mock:
            mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.user"))
            url = f"{HOST}/v1/projects/billing-proj/locations/us-central1/publishers/google"
            route = mock.post(f"{url}/models/gemini-2.5-flash:generateContent").respond(
                200, json=body
            )
            await send(adapter, MESSAGES, "gemini-2.5-flash")
        await adapter.aclose()
    assert "billing-proj" == route.calls[0].request.headers["x-goog-user-project"]


async def test_adc_is_used_without_credentials_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no credentials_path, Application Default Credentials (here the env file) are used."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_file(tmp_path, project_id="adc-p"))
    source = _google.TokenSource("vertex", None)
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.adc"))
        token = await source.get()
    assert ("ya29.adc", "adc-p") == (token.token, token.project_id)
    source.close()


async def test_missing_project_is_a_configuration_error(tmp_path: Path) -> None:
    """Without project_id in the config or the credentials, the call fails before sending."""
    path = sa_file(tmp_path, project_id=None)
    async with httpx.AsyncClient() as http:
        adapter = VertexProvider("v", VertexConfig(credentials_path=path), http)
        with respx.mock() as mock:
            mock.post(TOKEN_URL).mock(side_effect=tokens("ya29.one"))
            with pytest.raises(ConfigurationError, match="project_id"):
                await send(adapter, MESSAGES, "gemini-2.5-flash")
        await adapter.aclose()


async def test_transport_errors_reach_google_auth_as_its_own(tmp_path: Path) -> None:
    """The httpx-backed google-auth transport raises google's TransportError on failures."""
    import google.auth.exceptions

    from llmorch._http import SyncHTTP

    http = SyncHTTP("vertex")
    request = _google.HttpxRequest(http)
    with respx.mock() as mock:
        mock.get("https://example.invalid/x").mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(google.auth.exceptions.TransportError):
            request("https://example.invalid/x")
        mock.get("https://example.invalid/y").respond(204, headers={"a": "b"})
        response = request("https://example.invalid/y", timeout=3)
    assert (204, "b", b"") == (response.status, response.headers["a"], response.data)
    http.close()
