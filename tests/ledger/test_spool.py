"""The spool: records a ledger refused wait in a local file and are stored exactly once later."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import anyio
import pytest

from llmorch.costs import CostTracker
from llmorch.ledger import (
    Aggregate,
    BudgetState,
    Claim,
    Entry,
    Hold,
    LedgerBackend,
    LedgerUnavailableError,
    RecordFilter,
)
from llmorch.ledger.spool import Spool
from llmorch.types import UsageRecord

TOKENS = {"prompt": 10, "completion": 5, "total": 15}


class FlakyLedger(LedgerBackend):
    """An in-memory store that refuses writes while ``down``; idempotent by id."""

    url = "flaky:"
    blocking = True

    def __init__(self) -> None:
        self.down = False
        self.stored: dict[str, UsageRecord] = {}
        self.settled: list[str] = []
        self.writes = 0

    def write(self, entries: Sequence[Entry]) -> None:
        self.writes += 1
        if self.down:
            raise LedgerUnavailableError("flaky: down")
        for entry in entries:
            self.stored.setdefault(entry.record.id, entry.record)
            if entry.hold is not None:
                self.settled.append(entry.hold.id)

    def iter_records(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[UsageRecord]:
        yield from self.stored.values()

    def aggregate(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        by_tags: Sequence[str] = (),
    ) -> Aggregate:
        agg = Aggregate()
        for record in self.stored.values():
            agg.add(record, by_tags)
        return agg

    def count(self) -> int:
        return len(self.stored)

    def reserve(self, hold: Hold, now: float) -> BudgetState | None:
        raise NotImplementedError

    def release(self, hold_id: str) -> None:
        raise NotImplementedError

    def budget_state(self, claims: Sequence[Claim], now: float) -> list[BudgetState]:
        raise NotImplementedError

    def bench(self, provider: str, model: str, until: float) -> None:
        raise NotImplementedError

    def benched(self, provider: str, now: float) -> dict[str, float]:
        raise NotImplementedError


def test_refused_records_are_spooled_then_stored_once_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = FlakyLedger()
    tracker = CostTracker(ledger=ledger, spool_path=tmp_path / "spool")
    first = tracker.log_usage("openai", "gpt-4o", TOKENS, "s")
    ledger.down = True
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        during = [tracker.log_usage("openai", "gpt-4o", TOKENS, "s") for _ in range(3)]
    warnings = [r for r in caplog.records if "spool" in r.getMessage()]
    assert len(warnings) == 1  # one per outage, not one per record
    assert (tmp_path / "spool").read_bytes().count(b"\n") == 3
    assert list(ledger.stored) == [first.id]
    ledger.down = False
    after = tracker.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert list(ledger.stored) == [first.id, *(r.id for r in during), after.id]
    assert (tmp_path / "spool").read_bytes() == b""
    # The spool is empty now: a later write does not store anything twice.
    tracker.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert ledger.count() == 6
    assert tracker.get_session_cost("s") == pytest.approx(
        sum(r.cost for r in ledger.stored.values())
    )


def test_a_spooled_hold_is_settled_when_flushed(tmp_path: Path) -> None:
    """The record keeps its reservation in the spool, so its spend is counted on flush."""
    claim = Claim("team", "total", None, None, 10**12, RecordFilter())
    hold = Hold("h1", (claim,), 5, 1e12)
    ledger = FlakyLedger()
    ledger.down = True
    tracker = CostTracker(ledger=ledger, spool_path=tmp_path / "spool")
    tracker.log_usage("openai", "gpt-4o", TOKENS, "s", hold=hold)
    ledger.down = False
    assert tracker.flush_spool() == 1
    assert ledger.settled == ["h1"]
    assert tracker.flush_spool() == 0


def test_a_second_process_sharing_the_spool_flushes_what_the_first_left(tmp_path: Path) -> None:
    ledger = FlakyLedger()
    ledger.down = True
    CostTracker(ledger=ledger, spool_path=tmp_path / "spool").log_usage(
        "openai", "gpt-4o", TOKENS, "a"
    )
    ledger.down = False
    other = CostTracker(ledger=ledger, spool_path=tmp_path / "spool")  # finds it pending
    other.log_usage("openai", "gpt-4o", TOKENS, "b")
    assert [r.session_id for r in ledger.stored.values()] == ["a", "b"]


def test_an_unreadable_spool_line_is_kept_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool")
    (tmp_path / "spool").write_bytes(b"{not json\n")
    stored: list[Entry] = []
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        assert spool.flush(stored.extend) == 0
    assert (tmp_path / "spool.bad").read_bytes() == b"{not json\n"
    assert "unreadable" in caplog.text


async def test_alog_usage_writes_a_blocking_ledger_from_a_worker_thread(tmp_path: Path) -> None:
    """The loop stays free while a slow store writes, and the record is stored on return."""
    import threading
    import time

    class Slow(FlakyLedger):
        def write(self, entries: Sequence[Entry]) -> None:
            assert threading.current_thread() is not threading.main_thread()
            time.sleep(0.2)
            super().write(entries)

    ledger = Slow()
    tracker = CostTracker(ledger=ledger, spool_path=tmp_path / "spool")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        record = await tracker.alog_usage("openai", "gpt-4o", TOKENS, "s")
        tg.cancel_scope.cancel()
    assert record.id in ledger.stored
    assert ticks >= 10  # the loop ran while the write slept
