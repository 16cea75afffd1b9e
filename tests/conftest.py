from __future__ import annotations

import os
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
