"""Acceptance 2 of issue 15: PostgreSQL goes away mid-run, through a TCP proxy the test cuts.

Calls under no budget go on and their records wait in the spool; once the proxy listens again
(on the same port) a later write flushes them: the final count is exact and nothing is stored
twice. A call under a budget fails closed (``BudgetExceededError``, reason ``unavailable``, no
request sent) unless ``budgets_fail_open`` is set, and then it goes on and is recorded too. The
machine's PostgreSQL server itself is never stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from llmorch import AsyncLLMOrchestrator, BudgetExceededError, OrchestratorConfig
from llmorch.ledger import open_ledger
from llmorch.testing import ProviderEmulator
from tests.emulated import one_provider

from .conftest import PG_HOST, PG_PORT, pg_server_or_skip
from .tcp_proxy import TcpProxy

MODEL = "gpt-5.4-mini"
MESSAGES = [{"role": "user", "content": "hello there"}]
CAPPED = {"team": "capped"}  # the tag the budget matches
SECRET = "pw-never-logged"


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    pg_server_or_skip()
    tcp = TcpProxy((PG_HOST, PG_PORT))
    try:
        yield tcp
    finally:
        tcp.close()


def _config(emu: ProviderEmulator, url: str, spool: Path, **top: Any) -> OrchestratorConfig:
    raw = one_provider(emu, "openai", MODEL, spool.with_suffix(".unused"), max_retries=0)
    raw["cost_tracking"] = {"ledger": url, "spool_path": str(spool)}
    raw["pricing"] = {"openai": {MODEL: {"input": 1.0, "output": 2.0}}}
    raw["budgets"] = [
        {"name": "capped", "limit_usd": 10.0, "window": "day", "match": {"tags": CAPPED}}
    ]
    return OrchestratorConfig.from_dict(raw | top)


def _chat_requests(emu: ProviderEmulator) -> int:
    return sum(1 for r in emu.requests if r.path.endswith("/chat/completions"))


async def test_an_outage_spools_calls_without_budget_and_fails_budgeted_ones_closed(
    proxy: TcpProxy, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Trust authentication never asks for the password: it is there to be kept out of logs.
    url = pg_url.replace(f"@{PG_HOST}:{PG_PORT}", f":{SECRET}@127.0.0.1:{proxy.port}")
    async with ProviderEmulator() as emu:
        closed = _config(emu, url, tmp_path / "closed.spool")
        opened = _config(emu, url, tmp_path / "open.spool", budgets_fail_open=True)
        async with AsyncLLMOrchestrator(closed) as orch, AsyncLLMOrchestrator(opened) as orch_open:
            ids: list[str] = []

            async def call(o: AsyncLLMOrchestrator, tags: dict[str, str] | None = None) -> None:
                response = await o.send_request(MESSAGES, max_tokens=20, tags=tags)
                assert response.request_id is not None
                ids.append(response.request_id)

            # Before: both kinds of call work and are stored.
            await call(orch)
            await call(orch, CAPPED)
            assert (await orch.budgets())[0]["spent_usd"] > 0

            proxy.cut()
            sent_before = _chat_requests(emu)
            refused: list[BudgetExceededError] = []

            async def capped_call() -> None:
                try:
                    await call(orch, CAPPED)
                except BudgetExceededError as exc:
                    refused.append(exc)

            with caplog.at_level(logging.WARNING, logger="llmorch"):
                async with anyio.create_task_group() as tg:
                    for _ in range(3):
                        tg.start_soon(call, orch)
                    tg.start_soon(capped_call)
                    tg.start_soon(call, orch_open, CAPPED)  # fail open: goes on
            # The budgeted call failed closed, before any request; the others went out.
            assert len(refused) == 1
            assert refused[0].reason == "unavailable"
            assert _chat_requests(emu) == sent_before + 4
            assert len(ids) == 2 + 4
            assert (tmp_path / "closed.spool").stat().st_size > 0
            assert (tmp_path / "open.spool").stat().st_size > 0
            assert any("spool" in r.getMessage() for r in caplog.records)
            assert not any(SECRET in r.getMessage() for r in caplog.records)

            proxy.restore()
            # Each tracker flushes its spool with its next write once it tries the ledger again
            # (a tracker that just failed waits a moment before it does).
            deadline = time.monotonic() + 20
            for o, spool in ((orch, "closed.spool"), (orch_open, "open.spool")):
                await call(o)
                while (tmp_path / spool).stat().st_size:
                    assert time.monotonic() < deadline, f"{spool} was never flushed"
                    await anyio.sleep(0.25)
                    await call(o)
            assert len(ids) >= 8

    ledger = open_ledger(pg_url)
    try:
        stored = [record.request_id for record in ledger.iter_records()]
        unique = {record.id for record in ledger.iter_records()}
        assert ledger.count() == len(ids)
    finally:
        ledger.close()
    assert sorted(stored) == sorted(ids)  # every call once, none twice
    assert len(unique) == len(ids)
