"""Streams over real sockets on every provider: clean cuts are cut streams, early closes release
their connection at once (review.md 19, chaos.md BUG-3)."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, StreamInterruptedError
from llmorch.testing import Fault, ProviderEmulator, Reply

DIALECTS = [
    ("openai", "gpt-5.4-mini"),
    ("anthropic", "claude-haiku-5-5"),
    ("gemini", "gemini-3.8-flash"),
    ("vertex", "gemini-3.8-flash"),
    ("vertex", "claude-sonnet-5-5"),
    ("bedrock", "us.anthropic.claude-haiku-5-5"),
]
MESSAGES = [{"role": "user", "content": "hi"}]


def config(emu: ProviderEmulator, dialect: str, model: str, log: Path) -> OrchestratorConfig:
    provider = {**emu.config_for(dialect), "max_retries": 0, "fallback_models": []}
    return OrchestratorConfig.from_dict(
        {
            "active_provider": dialect,
            "active_model": model,
            "providers": {dialect: provider},
            "cost_tracking": {"log_path": str(log)},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "http_transport": "httpx",  # so the pool's connections can be counted
        }
    )


def busy(orch: AsyncLLMOrchestrator) -> int:
    pool = orch._adapter_map().http._transport._pool  # type: ignore[attr-defined]
    return sum(1 for c in pool.connections if not c.is_idle() and not c.is_closed())


@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_chaos_bug3_clean_cut_on_every_provider_is_an_interrupted_stream(
    dialect: str, model: str, tmp_path: Path
) -> None:
    """The body ends properly but without the vendor's terminal event: StreamInterruptedError
    and a ledger record with complete=false (4a56482: a complete success)."""
    log = tmp_path / "l.jsonl"
    async with ProviderEmulator() as emu:
        emu.script(dialect, model, Fault.cut(after=3, clean=True))
        async with AsyncLLMOrchestrator(config(emu, dialect, model, log)) as orch:
            with pytest.raises(StreamInterruptedError) as info:
                async for _ in orch.send_streaming_request(MESSAGES):
                    pass
    assert info.value.partial_text
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["complete"] is False


@pytest.mark.parametrize(("dialect", "model"), DIALECTS)
async def test_review_19_closing_a_stream_early_releases_its_connection_at_once(
    dialect: str, model: str, tmp_path: Path
) -> None:
    """After `break` + aclose(), no connection is still checked out, on every provider
    (4a56482: Gemini and Vertex kept theirs until the async-generator finaliser ran)."""
    log = tmp_path / "l.jsonl"
    async with ProviderEmulator() as emu:
        emu.script(dialect, model, Reply(" ".join(["w"] * 300), chunk_delay=0.01))
        async with AsyncLLMOrchestrator(config(emu, dialect, model, log)) as orch:
            gc.disable()
            try:
                async with orch.send_streaming_request(MESSAGES) as stream:
                    async for _ in stream:
                        break
                in_use: Any = busy(orch)
            finally:
                gc.enable()
    assert 0 == in_use
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["complete"] is False
