"""The request bodies llmorch's own clients send, captured from the emulator."""

from __future__ import annotations

from typing import Any

import anyio

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.testing import ProviderEmulator

OPTIONS: list[dict[str, Any]] = [
    {},
    {"temperature": 0.2, "max_tokens": 40},
    {"temperature": 1, "max_tokens": 1, "top_p": 0.5, "stop": "END"},
    {"stop": ["A", "B"], "top_p": 1},
]
"""The per-call options llmorch maps itself (the suite's usual combinations)."""
MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "one two"},
    {"role": "assistant", "content": "three"},
    {"role": "user", "content": "four"},
]


def llmorch_bodies(emu: ProviderEmulator, dialect: str, model: str) -> list[dict[str, Any]]:
    """Send every :data:`OPTIONS` combination, plain and streamed, and return the chat bodies.

    Args:
        emu: A running emulator.
        dialect: The dialect (and provider type).
        model: The model to call.

    Returns:
        The JSON bodies of the chat requests, in order.
    """

    async def send() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": model,
                "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            for options in OPTIONS:
                await orch.send_request(MESSAGES, **options)
                async for _ in orch.send_streaming_request(MESSAGES, **options):
                    pass

    start = len(emu.requests)
    anyio.run(send)
    chats = [r for r in emu.requests[start:] if r.method == "POST" and r.model == model]
    assert 2 * len(OPTIONS) == len(chats)
    return [r.body for r in chats]
