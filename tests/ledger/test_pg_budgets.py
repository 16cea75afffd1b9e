"""Acceptance 3 of issue 15: one budget shared by three processes on one PostgreSQL server.

Three processes each start 40 streamed calls at the same moment against a budget that fits 30
worst-case reservations. Each call's real cost is its worst case (the emulator reports the
prompt bound as its prompt tokens and the reply fills ``max_tokens``), so a budget that let one
reservation too many through would show as recorded spend over the limit. The refused calls
raise ``BudgetExceededError`` before any request; no reservation waits on another's lock (every
refusal says "limit", none "unavailable" — the 250 ms lock timeout would have said so — and 40
calls of 0.3 s each take far less than 40 × 0.3 s). A process killed with SIGKILL mid-call
leaves a reservation that expires after ``budget_reservation_ttl_s``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from llmorch import AsyncLLMOrchestrator, BudgetExceededError, OrchestratorConfig
from llmorch.budgets import prompt_bytes, worst_case_usd
from llmorch.ledger import open_ledger
from llmorch.messages import validate_messages
from llmorch.pricing import ModelPrice
from llmorch.request import ChatRequest
from llmorch.testing import Fault, ProviderEmulator, Reply
from tests.emulated import one_provider

MODEL = "gpt-5.4-mini"
MESSAGES = [{"role": "user", "content": "hello there"}]
PRICE = {"input": 1000.0, "output": 2000.0}  # USD per million tokens
MAX_TOKENS = 10
CHUNK_DELAY = 0.03  # ten chunks: a call takes about 0.3 s
PROCESSES = 3
CALLS = 40
FITS = 30

_SPAWN = multiprocessing.get_context("spawn")


def _prompt_bound() -> int:
    return prompt_bytes(ChatRequest(validate_messages(MESSAGES), MODEL, max_tokens=MAX_TOKENS))


def _worst() -> float:
    return worst_case_usd(ModelPrice(**PRICE), _prompt_bound(), MAX_TOKENS)


def _raw_config(emu: ProviderEmulator, url: str, tmp: Path, limit: float, **top: Any) -> Any:
    raw = one_provider(emu, "openai", MODEL, tmp / "unused.jsonl", max_retries=0)
    raw["cost_tracking"] = {"ledger": url, "spool_path": str(tmp / "spool")}
    raw["pricing"] = {"openai": {MODEL: PRICE}}
    raw["budgets"] = [{"name": "fleet", "limit_usd": limit, "window": "day"}]
    return raw | top


def _chat_requests(emu: ProviderEmulator) -> int:
    return sum(1 for r in emu.requests if r.path.endswith("/chat/completions"))


# -- the child processes (spawned: each imports this module afresh) --


def _burst(raw: Any, barrier: Any, results: Any) -> None:
    results.put(anyio.run(_aburst, raw, barrier))


async def _aburst(raw: Any, barrier: Any) -> dict[str, Any]:
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
        backend = orch.cost_tracker.backend
        assert backend is not None
        reserve = backend.reserve
        reserve_s: list[float] = []

        def timed(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return reserve(*args)
            finally:
                reserve_s.append(time.perf_counter() - started)

        backend.reserve = timed  # type: ignore[method-assign] # measured, not replaced
        async with anyio.create_task_group() as tg:  # open the pool's connections first
            for _ in range(8):
                tg.start_soon(orch.budgets)
        await anyio.to_thread.run_sync(barrier.wait)
        outcomes: list[str] = []

        async def one() -> None:
            try:
                stream = orch.send_streaming_request(MESSAGES, max_tokens=MAX_TOKENS)
                async for _ in stream:
                    pass
                outcomes.append("ok")
            except BudgetExceededError as exc:
                outcomes.append(f"refused:{exc.reason}")
            except Exception as exc:  # reported to the parent
                outcomes.append(f"error:{exc!r}")

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(CALLS):
                tg.start_soon(one)
        wall = time.perf_counter() - started
    return {"outcomes": outcomes, "wall": wall, "reserve_s": reserve_s}


def _hang(raw: Any) -> None:
    async def call() -> None:
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
            await orch.send_request(MESSAGES, max_tokens=MAX_TOKENS)

    anyio.run(call)


# -- the tests --


def test_three_processes_never_pass_a_shared_budget(pg_url: str, tmp_path: Path) -> None:
    worst = _worst()
    limit = worst * (FITS + 0.5)
    reply = Reply(
        " ".join(["word"] * MAX_TOKENS), prompt_tokens=_prompt_bound(), chunk_delay=CHUNK_DELAY
    )
    with ProviderEmulator() as emu:
        emu.script("openai", MODEL, *[reply] * (PROCESSES * CALLS))
        raw = _raw_config(emu, pg_url, tmp_path, limit)
        barrier = _SPAWN.Barrier(PROCESSES)
        results = _SPAWN.Queue()
        children = [
            _SPAWN.Process(target=_burst, args=(raw, barrier, results)) for _ in range(PROCESSES)
        ]
        for child in children:
            child.start()
        reports = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=30)
            assert child.exitcode == 0
        sent = _chat_requests(emu)

    outcomes = [o for report in reports for o in report["outcomes"]]
    ok = outcomes.count("ok")
    assert len(outcomes) == PROCESSES * CALLS
    assert set(outcomes) <= {"ok", "refused:limit"}, outcomes  # no lock timeout, no error
    assert 25 <= ok <= FITS
    assert sent == ok  # a refused call never reached the emulator

    ledger = open_ledger(pg_url)
    try:
        report = ledger.aggregate().report(None, None)
        assert report["total_requests"] == ok
        assert report["total_cost"] <= limit
        assert report["total_cost"] == pytest.approx(ok * worst, rel=1e-9)
    finally:
        ledger.close()

    reserve_s = [s for report in reports for s in report["reserve_s"]]
    walls = [report["wall"] for report in reports]
    print(  # the measured figures, for the report (pytest -s)
        f"reserve: n={len(reserve_s)} median={statistics.median(reserve_s) * 1000:.1f} ms "
        f"max={max(reserve_s) * 1000:.1f} ms; 40 calls wall: {[f'{w:.2f}' for w in walls]} s"
    )
    assert len(reserve_s) == PROCESSES * CALLS
    # No reservation waited 250 ms for a lock: that would have been a refusal "unavailable"
    # (checked above). These times also count waiting for a pooled connection and for the CPU
    # (three busy processes on a small machine), so only most of them must be that quick.
    assert sorted(reserve_s)[len(reserve_s) * 9 // 10] < 0.25
    # Forty 0.3 s calls one after another would take 12 s.
    assert max(walls) < CALLS * CHUNK_DELAY * MAX_TOKENS / 4


def test_a_killed_processs_reservation_expires_after_its_ttl(pg_url: str, tmp_path: Path) -> None:
    ttl = 2.0
    with ProviderEmulator() as emu:
        emu.script("openai", MODEL, Fault.hang())
        # One worst case fits: while the child's reservation lives, nobody else's does.
        raw = _raw_config(emu, pg_url, tmp_path, _worst() * 1.5, budget_reservation_ttl_s=ttl)
        child = _SPAWN.Process(target=_hang, args=(raw,))
        child.start()

        async def main() -> None:
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
                deadline = time.monotonic() + 60
                while (await orch.budgets())[0]["reserved_usd"] == 0:
                    assert time.monotonic() < deadline, "the child never reserved"
                    await anyio.sleep(0.05)
                seen = time.monotonic()
                assert child.pid is not None
                os.kill(child.pid, signal.SIGKILL)
                await anyio.to_thread.run_sync(child.join, 10)
                state = (await orch.budgets())[0]
                assert state["reserved_usd"] == pytest.approx(_worst(), rel=1e-6)
                with pytest.raises(BudgetExceededError) as info:
                    await orch.send_request(MESSAGES, max_tokens=MAX_TOKENS)
                assert info.value.reason == "limit"
                while (await orch.budgets())[0]["reserved_usd"] != 0:
                    assert time.monotonic() - seen < ttl + 5, "the reservation never expired"
                    await anyio.sleep(0.1)
                assert ttl - 0.5 < time.monotonic() - seen < ttl + 5  # the TTL, not a release
                response = await orch.send_request(MESSAGES, max_tokens=MAX_TOKENS)
                assert response.content

        try:
            anyio.run(main)
        finally:
            if child.is_alive():
                child.kill()
            child.join()
        assert child.exitcode == -signal.SIGKILL
