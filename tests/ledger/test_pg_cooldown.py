"""Acceptance 6 of issue 15: ``cooldown_s`` shared by two processes through a PostgreSQL ledger.

The first process sees the primary model fail with 503 and falls back; a second process that
starts afterwards never sends that model a request (the emulator's record of requests, told
apart by each process's API key, says so) and answers from the fallback model at once.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import anyio

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.testing import Fault, ProviderEmulator
from tests.emulated import one_provider

PRIMARY = "gpt-5.4-mini"
FALLBACK = "gpt-5.4"
MESSAGES = [{"role": "user", "content": "hello there"}]

_SPAWN = multiprocessing.get_context("spawn")


def _raw_config(emu: ProviderEmulator, url: str, tmp: Path, key: str) -> Any:
    raw = one_provider(
        emu,
        "openai",
        PRIMARY,
        tmp / "unused.jsonl",
        max_retries=0,
        cooldown_s=120,
        fallback_models=[FALLBACK],
        api_key=key,
    )
    raw["cost_tracking"] = {"ledger": url, "spool_path": str(tmp / f"{key}.spool")}
    return raw


async def _answer(raw: Any) -> tuple[str, int]:
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
        response = await orch.send_request(MESSAGES, max_tokens=20)
        return response.model, len(response.attempts)


def _second_process(raw: Any, results: Any) -> None:
    results.put(anyio.run(_answer, raw))


def _requests(emu: ProviderEmulator, model: str, key: str) -> int:
    return sum(
        1
        for r in emu.requests
        if r.path.endswith("/chat/completions")
        and r.model == model
        and key in r.headers.get("authorization", "")
    )


def test_a_model_benched_by_one_process_is_skipped_by_another(pg_url: str, tmp_path: Path) -> None:
    with ProviderEmulator() as emu:
        emu.script("openai", PRIMARY, Fault.http(503))
        first = _raw_config(emu, pg_url, tmp_path, "key-first")
        assert anyio.run(_answer, first) == (FALLBACK, 1)  # the primary failed, then benched
        assert _requests(emu, PRIMARY, "key-first") == 1

        results = _SPAWN.Queue()
        second = _SPAWN.Process(
            target=_second_process, args=(_raw_config(emu, pg_url, tmp_path, "key-second"), results)
        )
        second.start()
        answer = results.get(timeout=60)
        second.join(timeout=30)
        assert second.exitcode == 0
        assert answer == (FALLBACK, 0)  # straight to the fallback: no failed attempt
        assert _requests(emu, PRIMARY, "key-second") == 0
        assert _requests(emu, FALLBACK, "key-second") == 1
