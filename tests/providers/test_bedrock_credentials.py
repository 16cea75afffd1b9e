"""Credential refresh without a restart, and botocore's chain kept off the event loop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.testing import ProviderEmulator
from llmorch.testing._bedrock import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY

MODEL = "amazon.nova-lite-v1:0"
MESSAGES = [{"role": "user", "content": "one two three"}]


class CredentialServer:
    """A loopback stand-in for the ECS/EKS container credentials endpoint."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime = lifetime
        self.issued: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = f"session-token-{len(server.issued) + 1}"
                server.issued.append(token)
                expiry = datetime.now(timezone.utc) + server.lifetime
                body = json.dumps(
                    {
                        "AccessKeyId": TEST_ACCESS_KEY_ID,
                        "SecretAccessKey": TEST_SECRET_ACCESS_KEY,
                        "Token": token,
                        "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v2/credentials/test"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def botocore_threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record the thread of every botocore call that resolves or refreshes credentials."""
    import botocore.credentials
    import botocore.session
    import botocore.utils

    calls: list[tuple[str, int]] = []

    def spy(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((f"{cls.__name__}.{name}", threading.get_ident()))
            return original(*args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    spy(botocore.session.Session, "get_credentials")
    spy(botocore.session.Session, "get_config_variable")
    spy(botocore.credentials.RefreshableCredentials, "get_frozen_credentials")
    spy(botocore.credentials.Credentials, "get_frozen_credentials")
    spy(botocore.utils.ContainerMetadataFetcher, "retrieve_full_uri")
    return calls


def container_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)


def orch_for(emu: ProviderEmulator) -> AsyncLLMOrchestrator:
    provider = emu.config_for("bedrock")
    del provider["aws_access_key_id"], provider["aws_secret_access_key"]
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": "bedrock",
                "active_model": MODEL,
                "providers": {"bedrock": provider | {"fallback_models": [], "max_retries": 0}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"enabled": False},
            }
        )
    )


def tokens_sent(emu: ProviderEmulator) -> list[str | None]:
    return [r.headers.get("x-amz-security-token") for r in emu.requests]


async def _requests_through(emu: ProviderEmulator) -> int:
    async with orch_for(emu) as orch:
        for _ in range(3):
            await orch.send_request(MESSAGES)
        async with orch.send_streaming_request(MESSAGES) as stream:
            assert "".join([c async for c in stream])
    return threading.get_ident()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_expiring_credentials_are_refreshed_off_the_loop(
    emu: ProviderEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    botocore_threads: list[tuple[str, int]],
    backend: str,
) -> None:
    """Credentials close to expiry are re-fetched before the next request, in a worker thread,
    and every request is signed with the newest token (the emulator verifies each one); under
    asyncio (aiohttp transport) and trio (httpx's own)."""
    server = CredentialServer(lifetime=timedelta(minutes=2))
    container_env(monkeypatch, tmp_path, server.url)
    try:
        loop_thread = anyio.run(_requests_through, emu, backend=backend)
    finally:
        server.close()
    sent = tokens_sent(emu)
    assert 4 == len(sent) == len(set(sent)), sent
    assert set(sent) <= set(server.issued)
    assert sent[-1] == server.issued[-1]
    names = {name for name, _ in botocore_threads}
    assert {"ContainerMetadataFetcher.retrieve_full_uri", "Session.get_credentials"} <= names
    assert [] == [name for name, thread in botocore_threads if thread == loop_thread]


async def test_long_lived_credentials_are_resolved_once(
    emu: ProviderEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    botocore_threads: list[tuple[str, int]],
) -> None:
    """Credentials valid for an hour are fetched once and reused without touching botocore."""
    server = CredentialServer(lifetime=timedelta(hours=1))
    container_env(monkeypatch, tmp_path, server.url)
    loop_thread = threading.get_ident()
    try:
        async with orch_for(emu) as orch:
            for _ in range(3):
                await orch.send_request(MESSAGES)
    finally:
        server.close()
    assert ["session-token-1"] == server.issued
    assert ["session-token-1"] * 3 == tokens_sent(emu)
    frozen_calls = [n for n, _ in botocore_threads if n.endswith("get_frozen_credentials")]
    assert 1 == len(frozen_calls)
    assert [] == [name for name, thread in botocore_threads if thread == loop_thread]
