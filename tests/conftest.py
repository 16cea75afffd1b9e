from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import llmorch

# Never let a credential chain reach cloud metadata addresses from tests (SPEC §2.8).
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "True")

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_loopback(host):
        raise OSError(f"test network guard: refusing to resolve non-loopback host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise OSError(f"test network guard: refusing to connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise OSError(f"test network guard: refusing to connect to {address!r}")
    return _real_connect_ex(self, address)


# No test may send a packet anywhere but loopback (SPEC §2.8): not even a DNS query.
socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs in its own directory with its own XDG cache, so nothing leaks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    yield


async def chunks(data: bytes, *cuts: int) -> AsyncIterator[bytes]:
    """Yield ``data`` split at the given offsets."""
    start = 0
    for cut in (*cuts, len(data)):
        yield data[start:cut]
        start = cut


def base_config(**overrides: Any) -> dict[str, Any]:
    """A minimal two-provider config dict (no discovery, ledger in the cwd)."""
    config: dict[str, Any] = {
        "active_provider": "openai",
        "active_model": "gpt-4o",
        "providers": {
            "openai": {"api_key": "sk-test-openai", "fallback_models": ["gpt-4o-mini"]},
            "anthropic": {
                "api_key": "sk-ant-test",
                "fallback_models": ["claude-sonnet-4-5", "claude-haiku-4-5"],
            },
        },
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        # respx mocks httpx's own transport; the emulator tests cover aiohttp over real sockets.
        "http_transport": "httpx",
        "cost_tracking": {"enabled": True, "log_path": "ledger.jsonl"},
    }
    config.update(overrides)
    return config


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake clock: record every backoff sleep instead of waiting."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(llmorch.AsyncLLMOrchestrator, "_sleep", staticmethod(fake_sleep))
    return slept
