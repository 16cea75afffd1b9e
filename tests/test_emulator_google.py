"""The Gemini and Vertex dialects over real sockets, against llmorch's own clients."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    AuthenticationError,
    ContentFilteredError,
    ContextLengthExceededError,
    OrchestratorConfig,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from llmorch.providers import _google
from llmorch.testing import Fault, ProviderEmulator, Reply
from llmorch.testing._vertex import VertexDialect
from tests.current_models import prices

DIALECTS = ["gemini", "vertex"]
# The emulator's default chain: its first chat model, then its first fallback.
FIRST = {"gemini": "gemini-3.8-flash", "vertex": "gemini-3.8-flash"}
SECOND = {"gemini": "gemini-3.5-flash-lite", "vertex": "gemini-3.5-flash-lite"}
MESSAGES = [{"role": "user", "content": "one two three"}]
CLAUDE = "claude-haiku-5-5"


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def orch_for(
    emu: ProviderEmulator, dialect: str, transport: str = "auto", **provider: Any
) -> AsyncLLMOrchestrator:
    config = emu.config_for(dialect) | provider
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": FIRST[dialect],
                "providers": {dialect: config},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
                "pricing": prices(dialect),
                "http_transport": transport,
            }
        )
    )


def models_sent(emu: ProviderEmulator) -> list[str | None]:
    return [r.model for r in emu.requests if r.method == "POST" and r.model]


def token_requests(emu: ProviderEmulator) -> int:
    return sum(1 for r in emu.requests if r.path == "/oauth2/token")


def ledger() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_chat_and_stream_with_deterministic_usage(
    emu: ProviderEmulator, dialect: str, transport: str
) -> None:
    """A reply comes back whole and streamed (CRLF SSE), with word-count usage and costs."""
    emu.script(dialect, FIRST[dialect], "alpha beta gamma", Reply("delta epsilon"))
    async with orch_for(emu, dialect, transport) as orch:
        response = await orch.send_request(MESSAGES, max_tokens=50, stop=["X"])
        stream = orch.send_streaming_request(MESSAGES)
        chunks = [c async for c in stream]
    assert "alpha beta gamma" == response.content
    assert {"prompt": 3, "completion": 3, "total": 6} == response.tokens_used
    assert ["delta", " epsilon"] == chunks
    assert ("stop", 2) == (stream.response.finish_reason, stream.response.tokens_used["completion"])
    assert response.request_id and stream.response.request_id
    assert (FIRST[dialect], FIRST[dialect]) == (response.model_answered, response.model)
    assert response.cost == pytest.approx((3 * 0.75 + 3 * 3.75) / 1e6)
    assert 2 == len(ledger())
    body = next(r.body for r in emu.requests if r.method == "POST" and r.model)
    assert {"maxOutputTokens": 50, "stopSequences": ["X"]} == body["generationConfig"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_max_tokens_truncates_with_length(emu: ProviderEmulator, dialect: str) -> None:
    """maxOutputTokens cuts the reply to that many words: finish_reason length (MAX_TOKENS)."""
    emu.script(dialect, FIRST[dialect], "a b c d e", "a b c d e")
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES, max_tokens=2)
        stream = orch.send_streaming_request(MESSAGES, max_tokens=3)
        assert "a b c" == "".join([c async for c in stream])
    assert ("a b", "length", 2) == (
        response.content,
        response.finish_reason,
        response.tokens_used["completion"],
    )
    assert "length" == stream.response.finish_reason


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_model_listing_over_pages(emu: ProviderEmulator, dialect: str) -> None:
    """Discovery pages through the list (page size 2) and keeps only chat models."""
    async with orch_for(emu, dialect) as orch:
        listed = await orch.get_available_models()
    expected = [
        "gemini-3.1-pro-preview",
        "gemini-3.5-flash",
        "gemini-3.5-flash-lite",
        "gemini-3.8-flash",
    ]
    assert expected == listed
    pages = [r for r in emu.requests if r.method == "GET"]
    assert 4 == len(pages)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "fault", [Fault.http(500), Fault.overloaded(), Fault.reset(), Fault.rate_limit(None)]
)
async def test_retryable_faults_retry_then_fall_back(
    emu: ProviderEmulator, dialect: str, fault: Fault, sleeps: list[float]
) -> None:
    """5xx, overload (503), connection reset and 429 retry max_retries times, then move on."""
    emu.script(dialect, FIRST[dialect], fault, fault, fault)
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES)
    assert [FIRST[dialect]] * 3 + [SECOND[dialect]] == models_sent(emu)
    error = response.attempts[0][1]
    expected = {"reset": ProviderConnectionError}.get(fault.kind)
    expected = expected or (RateLimitError if fault.status == 429 else ProviderUnavailableError)
    assert isinstance(error, expected)
    assert 2 == len(sleeps)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_retry_info_delay_is_honoured(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """429 RESOURCE_EXHAUSTED with RetryInfo.retryDelay "2s" (no header) waits exactly 2 s."""
    emu.script(dialect, FIRST[dialect], Fault.rate_limit(2), "ok")
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES)
    assert [2.0] == sleeps
    assert (FIRST[dialect], "ok") == (response.model, response.content)


async def test_gemini_key_checks_follow_the_vendor() -> None:
    """A wrong key is Gemini's 400 API_KEY_INVALID (an auth error); no key is a 403."""
    async with ProviderEmulator(api_keys={"gemini": ["right-key"]}) as emu:
        async with orch_for(emu, "gemini", api_key="wrong-key") as orch:
            with pytest.raises(AuthenticationError) as info:
                await orch.send_request(MESSAGES)
        assert 400 == info.value.status_code
        async with orch_for(emu, "gemini", api_key=None) as orch:
            with pytest.raises(PermissionDeniedError):
                await orch.send_request(MESSAGES)
        assert 2 == len(emu.requests)
        async with orch_for(emu, "gemini") as orch:  # config_for carries the pinned key
            assert (await orch.send_request(MESSAGES)).content
        url = emu.url("gemini") + "/v1beta/models/gemini-3.8-flash"
        async with httpx.AsyncClient() as http:
            assert 200 == (await http.get(url, params={"key": "right-key"})).status_code
            assert 404 == (await http.get(url + "x", params={"key": "right-key"})).status_code


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_non_retryable_errors_move_on_and_unknown_models_404(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """Context overflow moves on at once; an unknown model is a 404; all failing lists both."""
    emu.script(dialect, FIRST[dialect], Fault.http(400, error="context_length"))
    async with orch_for(emu, dialect, fallback_models=["no-such-model"]) as orch:
        with pytest.raises(AllFallbacksFailedError) as info:
            await orch.send_request(MESSAGES)
    (_, error1), (second, error2) = info.value.attempts
    assert isinstance(error1, ContextLengthExceededError)
    assert ("no-such-model", 404) == (second, error2.status_code)  # type: ignore[attr-defined]
    assert [] == sleeps


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_blocked_prompt_is_content_filtered_then_falls_back(
    emu: ProviderEmulator, dialect: str
) -> None:
    """promptFeedback.blockReason with no text is ContentFilteredError, whole and streamed."""
    blocked = Reply("", finish_reason="content_filter")
    emu.script(dialect, FIRST[dialect], blocked, blocked)
    async with orch_for(emu, dialect) as orch:
        response = await orch.send_request(MESSAGES)
        stream = orch.send_streaming_request(MESSAGES)
        assert [c async for c in stream]
    for result in (response, stream.response):
        ((model, error),) = result.attempts
        assert (FIRST[dialect], ContentFilteredError) == (model, type(error))


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_hang_times_out_and_falls_back(emu: ProviderEmulator, dialect: str) -> None:
    """A server that never answers ends in ProviderTimeoutError after `timeout`, then falls back."""
    emu.script(dialect, FIRST[dialect], Fault.hang())
    async with orch_for(emu, dialect, timeout=0.3, max_retries=0) as orch:
        response = await orch.send_request(MESSAGES)
    assert isinstance(response.attempts[0][1], ProviderTimeoutError)
    assert SECOND[dialect] == response.model


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault.cut(after=2, text="one two three four"), ProviderConnectionError),
        (Fault.stream_error(after=2, text="one two three four"), ProviderUnavailableError),
        (Fault.stream_error(after=2, error="rate_limit", text="one two x"), RateLimitError),
        (Fault.malformed(after=2), ProviderUnavailableError),
    ],
)
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_stream_faults_after_text_interrupt_without_fallback(
    emu: ProviderEmulator, dialect: str, fault: Fault, cause: type[Exception], transport: str
) -> None:
    """Cut, a bare in-stream error object and malformed events after text interrupt the stream."""
    emu.script(dialect, FIRST[dialect], fault)
    got: list[str] = []
    async with orch_for(emu, dialect, transport) as orch:
        with pytest.raises(StreamInterruptedError) as info:
            async with orch.send_streaming_request(MESSAGES) as stream:
                async for chunk in stream:
                    got.append(chunk)  # noqa: PERF401 - the list must survive the raise
    assert 2 == len(got)
    assert "".join(got) == info.value.partial_text
    assert isinstance(info.value.__cause__, cause)
    assert [FIRST[dialect]] == models_sent(emu)
    (record,) = ledger()
    assert record["complete"] is False


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_stream_error_before_text_falls_back(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """An in-stream error before any text is handled like an HTTP error: the next model answers."""
    emu.script(dialect, FIRST[dialect], Fault.stream_error(after=0, error="invalid_request"))
    async with orch_for(emu, dialect) as orch:
        chunks = [c async for c in orch.send_streaming_request(MESSAGES)]
    assert chunks
    assert [FIRST[dialect], SECOND[dialect]] == models_sent(emu)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_non_stream_cut_and_stream_faults_on_plain_requests(
    emu: ProviderEmulator, dialect: str, sleeps: list[float]
) -> None:
    """On non-streaming calls, a cut body, a stream error and a malformed body are all retried."""
    emu.script(dialect, FIRST[dialect], Fault.cut(), Fault.stream_error(), Fault.malformed())
    async with orch_for(emu, dialect, max_retries=3) as orch:
        response = await orch.send_request(MESSAGES)
    assert [] == response.attempts
    assert 4 == len(models_sent(emu))


async def test_long_context_tier_is_priced_through_the_cost_tracker(
    emu: ProviderEmulator,
) -> None:
    """gemini-2.5-pro above 200k prompt tokens is priced at the long-context rates."""
    emu.script(
        "gemini", "gemini-2.5-pro", Reply("ok", prompt_tokens=250_000, completion_tokens=1000)
    )
    emu.script(
        "gemini", "gemini-2.5-pro", Reply("ok", prompt_tokens=150_000, completion_tokens=1000)
    )
    async with orch_for(emu, "gemini") as orch:
        long = await orch.send_request(MESSAGES, model="gemini-2.5-pro")
        short = await orch.send_request(MESSAGES, model="gemini-2.5-pro")
    assert long.cost == pytest.approx((250_000 * 2.50 + 1000 * 15.0) / 1e6)
    assert short.cost == pytest.approx((150_000 * 1.25 + 1000 * 10.0) / 1e6)


# -- Vertex auth: google-auth's real service-account flow against the emulator ---------------


async def test_real_service_account_flow_refreshes_off_the_loop(emu: ProviderEmulator) -> None:
    """google-auth signs a JWT, the emulator verifies it and issues a token; an expiring token
    is refreshed before use, in a worker thread, and the old one is replaced."""
    refresh_threads: list[int] = []
    original = _google.TokenSource._refresh_blocking

    def spy(self: _google.TokenSource) -> _google.AccessToken:
        refresh_threads.append(threading.get_ident())
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_google.TokenSource, "_refresh_blocking", spy)
        async with orch_for(emu, "vertex") as orch:
            await orch.send_request(MESSAGES)
            await orch.send_request(MESSAGES)
            assert 1 == token_requests(emu)  # reused while fresh
            source = orch._adapter_map()["vertex"].tokens  # type: ignore[attr-defined]
            expires_at = source.current.expires_at
            source._clock = lambda: expires_at - 1  # within the refresh margin: renew first
            await orch.send_request(MESSAGES)
    assert 2 == token_requests(emu)
    bearers = [r.headers["authorization"] for r in emu.requests if r.model]
    assert bearers[0] == bearers[1] != bearers[2]
    assert 2 == len(refresh_threads)
    assert threading.get_ident() not in refresh_threads


async def test_a_vertex_401_refreshes_the_token_and_retries_once(emu: ProviderEmulator) -> None:
    """A 401 UNAUTHENTICATED gets a new token from the endpoint and the same call again."""
    emu.script("vertex", FIRST["vertex"], Fault.http(401), "after refresh")
    async with orch_for(emu, "vertex") as orch:
        response = await orch.send_request(MESSAGES)
    assert ("after refresh", []) == (response.content, response.attempts)
    assert 2 == token_requests(emu)
    assert [FIRST["vertex"]] * 2 == models_sent(emu)


async def test_emulator_rejects_expired_foreign_and_missing_tokens(
    emu: ProviderEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Expired or unknown bearers get 401s; a JWT signed by another key is an invalid_grant."""
    monkeypatch.setattr(VertexDialect, "token_lifetime_s", -1)
    config = emu.config_for("vertex")
    source = _google.TokenSource("vertex", config["credentials_path"])
    expired = (await source.get()).token
    source.close()
    url = config["base_url"] + "/v1beta1/publishers/google/models"
    async with httpx.AsyncClient() as http:
        for header, reason in [
            (f"Bearer {expired}", "ACCESS_TOKEN_EXPIRED"),
            ("Bearer made-up", "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
            ("", "CREDENTIALS_MISSING"),
        ]:
            response = await http.get(url, headers={"authorization": header})
            assert 401 == response.status_code
            assert reason == response.json()["error"]["details"][0]["reason"]
        grant = await http.post(emu.base_url + "/oauth2/token", data={"grant_type": "password"})
        assert "unsupported_grant_type" == grant.json()["error"]
    from tests.providers.test_vertex import private_key

    info = json.loads(await anyio.Path(config["credentials_path"]).read_text())
    info["private_key"] = private_key()  # generated by the test, unknown to the emulator
    foreign = anyio.Path(tmp_path / "foreign.json")
    await foreign.write_text(json.dumps(info))
    async with orch_for(emu, "vertex", credentials_path=str(foreign)) as orch:
        with pytest.raises(AuthenticationError, match="invalid_grant"):
            await orch.send_request(MESSAGES)
    assert [] == models_sent(emu)


async def test_token_endpoint_checks_the_issuer_and_paging_is_validated(
    emu: ProviderEmulator,
) -> None:
    """A well-signed JWT for another account is refused; a bad pageSize is a 400."""
    import time

    import google.auth.crypt
    import google.auth.jwt

    config = emu.config_for("vertex")
    signer = google.auth.crypt.RSASigner.from_service_account_file(config["credentials_path"])
    now = int(time.time())
    claims = {"iss": "other@x.iam.gserviceaccount.com", "scope": "s", "iat": now, "exp": now + 60}
    claims["aud"] = "https://oauth2.googleapis.com/token"
    assertion = google.auth.jwt.encode(signer, claims).decode()
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    source = _google.TokenSource("vertex", config["credentials_path"])
    token = (await source.get()).token
    source.close()
    async with httpx.AsyncClient() as http:
        refused = await http.post(emu.base_url + "/oauth2/token", data=grant)
        listing = await http.get(
            config["base_url"] + "/v1beta1/publishers/google/models",
            params={"pageSize": "many"},
            headers={"authorization": f"Bearer {token}"},
        )
    assert (400, "invalid_grant") == (refused.status_code, refused.json()["error"])
    assert 400 == listing.status_code


async def test_another_project_is_permission_denied(emu: ProviderEmulator) -> None:
    """A project the service account may not use gets the IAM 403, which stops the chain."""
    async with orch_for(emu, "vertex", project_id="someone-else") as orch:
        with pytest.raises(PermissionDeniedError, match="aiplatform.endpoints.predict"):
            await orch.send_request(MESSAGES)


async def test_claude_on_vertex_through_raw_predict(emu: ProviderEmulator) -> None:
    """claude-* models answer through rawPredict / streamRawPredict with Messages bodies."""
    emu.script("vertex", CLAUDE, "hello from claude", "streamed claude")
    async with orch_for(emu, "vertex") as orch:
        response = await orch.send_request(MESSAGES, model=CLAUDE)
        chunks = [c async for c in orch.send_streaming_request(MESSAGES, model=CLAUDE)]
    assert ("hello from claude", 3) == (response.content, response.tokens_used["completion"])
    assert "streamed claude" == "".join(chunks)
    paths = [r.path for r in emu.requests if r.model == CLAUDE]
    assert paths[0].endswith(f"/publishers/anthropic/models/{CLAUDE}:rawPredict")
    assert paths[1].endswith(":streamRawPredict")


async def test_vertex_claude_body_checks(emu: ProviderEmulator) -> None:
    """The emulator insists on anthropic_version and refuses a model field in the body."""
    config = emu.config_for("vertex")
    source = _google.TokenSource("vertex", config["credentials_path"])
    token = (await source.get()).token
    source.close()
    base = config["base_url"] + "/v1/projects/llmorch-emulator/locations/us-central1/publishers"
    url = f"{base}/anthropic/models/{CLAUDE}:rawPredict"
    headers = {"authorization": f"Bearer {token}"}
    message = {"max_tokens": 5, "messages": MESSAGES}
    async with httpx.AsyncClient(headers=headers) as http:
        assert 400 == (await http.post(url, json=message)).status_code
        versioned = {**message, "anthropic_version": "vertex-2023-10-16"}
        assert 400 == (await http.post(url, json={**versioned, "model": CLAUDE})).status_code
        assert 400 == (await http.post(url, content=b"[")).status_code
        assert 200 == (await http.post(url, json=versioned)).status_code
        other = f"{base}/google/models/gemini-3.8-flash:predict"
        assert 400 == (await http.post(other, json={})).status_code
        assert 404 == (await http.get(config["base_url"] + "/v1/nowhere")).status_code


def test_service_account_file_is_written_once_and_deleted_on_exit() -> None:
    """config_for writes one service-account file (token_uri = the emulator) and exit removes it."""
    with ProviderEmulator() as emu:
        path = emu.config_for("vertex")["credentials_path"]
        assert path == emu.config_for("vertex")["credentials_path"]
        info = json.loads(Path(path).read_text())
        assert emu.base_url + "/oauth2/token" == info["token_uri"]
        assert path in emu.describe()
    assert not os.path.exists(path)


async def test_gemini_wire_details(emu: ProviderEmulator) -> None:
    """Streams use CRLF; without alt=sse a stream is a JSON array; bad paging is a 400."""
    base = emu.url("gemini") + "/v1beta"
    headers = {"x-goog-api-key": "k"}
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    async with httpx.AsyncClient(headers=headers) as http:
        sse = await http.post(
            f"{base}/models/gemini-3.5-flash:streamGenerateContent?alt=sse", json=body
        )
        assert sse.content.startswith(b"data: {") and b"\r\n\r\n" in sse.content
        array = await http.post(f"{base}/models/gemini-3.5-flash:streamGenerateContent", json=body)
        assert "STOP" == array.json()[0]["candidates"][0]["finishReason"]
        assert 400 == (await http.get(f"{base}/models", params={"pageSize": "x"})).status_code
        assert (
            400 == (await http.post(f"{base}/models/gemini-3.5-flash:generateContent")).status_code
        )
        empty = {"contents": []}
        url = f"{base}/models/gemini-3.5-flash:generateContent"
        assert 400 == (await http.post(url, json=empty)).status_code
        embed = f"{base}/models/gemini-embedding-001:generateContent"
        assert 404 == (await http.post(embed, json=body)).status_code
        assert 404 == (await http.delete(f"{base}/models")).status_code


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_clean_cut_ends_the_stream_without_a_finish_reason(dialect: str) -> None:
    """Fault.cut(clean=True): the SSE body ends properly, no chunk ever carries finishReason."""
    from tests.test_emulator import RawConnection

    with ProviderEmulator() as emu:
        headers = {"x-goog-api-key": "k"}
        path = f"/v1beta/models/{FIRST[dialect]}"
        if dialect == "vertex":
            source = _google.TokenSource("vertex", emu.config_for("vertex")["credentials_path"])
            headers = {"authorization": f"Bearer {(await source.get()).token}"}
            source.close()
            project = "/v1/projects/llmorch-emulator/locations/us-central1"
            path = f"{project}/publishers/google/models/{FIRST[dialect]}"
        emu.script(dialect, FIRST[dialect], Fault.cut(after=2, clean=True, text="a b c d"), "ok")
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        connection = RawConnection(emu.url(dialect))
        try:
            url = f"{path}:streamGenerateContent?alt=sse"
            status, fields, wire, content = await anyio.to_thread.run_sync(
                connection.post, url, body, headers
            )
            assert (200, "chunked") == (status, fields["transfer-encoding"])
            assert wire.endswith(b"\r\n0\r\n\r\n")
            assert 2 == content.count(b"data: ") and b"finishReason" not in content
            again = await anyio.to_thread.run_sync(connection.post, url, body, headers)
            assert 200 == again[0] and b'"finishReason": "STOP"' in again[3]
        finally:
            connection.close()
