"""The contract every ledger backend keeps (JSON lines, SQLite, PostgreSQL), checked on each.

The reference for reports is :meth:`Aggregate.add` over the same records; the reference for
records is :func:`record_to_dict`. Where JSON lines differ by design (file order, in-process
budgets, no de-duplication) the test says so.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llmorch.ledger import (
    Aggregate,
    BudgetState,
    Claim,
    Entry,
    Hold,
    JsonlLedger,
    LedgerBackend,
    RecordFilter,
    open_ledger,
)
from llmorch.ledger.base import to_pico
from llmorch.ledger.records import record_to_dict
from llmorch.types import UsageRecord

UTC = timezone.utc
T0 = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
NOW = 1_800_000_000.0  # the "now" of budget tests (Unix time)


def rec(ts: datetime, *, prompt: int = 10, completion: int = 5, **fields: Any) -> UsageRecord:
    """A record at ``ts`` with plausible defaults."""
    values: dict[str, Any] = {
        "session_id": "s1",
        "provider": "openai",
        "model": "gpt-4o",
        "cost": 0.000125,
        "pricing_as_of": "2026-10-01",
    }
    return UsageRecord(
        ts=ts, prompt=prompt, completion=completion, total=prompt + completion, **values | fields
    )


def dicts(records: Iterable[UsageRecord]) -> list[dict[str, object]]:
    return [record_to_dict(r) for r in records]


def store(backend: LedgerBackend, records: Iterable[UsageRecord]) -> list[UsageRecord]:
    records = list(records)
    backend.write([Entry(r) for r in records])
    return records


def reference(
    records: Iterable[UsageRecord],
    start: datetime | None = None,
    end: datetime | None = None,
    by_tags: tuple[str, ...] = (),
) -> dict[str, object]:
    agg = Aggregate()
    for r in records:
        if (start is None or r.ts >= start) and (end is None or r.ts < end):
            agg.add(r, by_tags)
    return agg.report(start, end, by_tags)


def mixed_records(n: int, seed: int = 1) -> list[UsageRecord]:
    """Records over three UTC days: several providers, models, sessions, tags, unpriced ones."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tags = {"user": f"u{rng.randrange(5)}"}
        if rng.random() < 0.7:
            tags["feature"] = rng.choice(("search", "chat", "summarize"))
        priced = rng.random() > 0.1
        prompt, completion = rng.randint(1, 3000), rng.randint(0, 900)
        out.append(
            rec(
                T0 + timedelta(seconds=i * 259_200 / n + rng.random()),
                session_id=f"s{rng.randrange(4)}",
                provider=rng.choice(("openai", "anthropic", "gemini")),
                model=rng.choice(("m-a", "m-b", "m-c")),
                prompt=prompt,
                completion=completion,
                cost=(prompt * 2.5 + completion * 10) / 1e6 if priced else 0.0,
                priced=priced,
                pricing_as_of="2026-10-01" if priced else None,
                tags=tags,
            )
        )
    return out


def claim(
    budget: str = "b",
    limit: int = 1000,
    match: RecordFilter | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    window: str = "total",
) -> Claim:
    return Claim(budget, window, start, end, limit, match or RecordFilter())


def hold(amount: int, *claims: Claim, expires_at: float = NOW + 600) -> Hold:
    return Hold(uuid.uuid4().hex, claims, amount, expires_at)


def state(backend: LedgerBackend, c: Claim, now: float = NOW) -> tuple[int, int]:
    (s,) = backend.budget_state([c], now)
    return s.spent_pico, s.reserved_pico


# -- records --


def test_a_fresh_backend_is_empty(any_backend: LedgerBackend) -> None:
    """Nothing stored yet: no records, an empty report, and writing nothing changes nothing."""
    any_backend.write([])
    assert any_backend.count() == 0
    assert list(any_backend.iter_records()) == []
    assert any_backend.aggregate().report(None, None) == reference([])


def test_every_column_round_trips(any_backend: LedgerBackend) -> None:
    """What comes back is what was written, column for column (record_to_dict equal)."""
    full = UsageRecord(
        ts=datetime(2026, 11, 3, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
        session_id="sess-é",
        provider="anthropic",
        model="claude-x",
        prompt=1234,
        completion=567,
        total=1801,
        cost=0.0123456789012345,
        model_answered="claude-x-20261001",
        request_id="req_01",
        cache_read=1000,
        cache_write=34,
        reasoning=200,
        pricing_as_of="override",
        priced=True,
        complete=False,
        estimated=True,
        tags={"user": "u17", "feature": "search", "ünï": "cödé"},
        latency_s=1.25,
        tool_calls=("search", "lookup_order", "search"),
        warnings=("temperature dropped: unsupported by the model",),
    )
    bare = UsageRecord(
        ts=datetime(2026, 11, 4, 8, 0, tzinfo=UTC),
        session_id="s2",
        provider="gemini",
        model="g-1",
        prompt=0,
        completion=0,
        total=0,
        cost=0.0,
        priced=False,
    )
    store(any_backend, [full, bare])
    back = list(any_backend.iter_records())
    assert dicts(back) == dicts([full, bare])
    assert [r.ts for r in back] == [full.ts, bare.ts]
    assert back[0].tool_calls == full.tool_calls and back[0].warnings == full.warnings


def test_writing_a_record_twice_keeps_one(
    any_backend: LedgerBackend, request: pytest.FixtureRequest
) -> None:
    """Writes are idempotent by id: across calls and within one batch."""
    r = rec(T0)
    other = rec(T0 + timedelta(seconds=1))
    store(any_backend, [r])
    store(any_backend, [r, other, other])
    assert any_backend.count() == 2
    assert dicts(any_backend.iter_records()) == dicts([r, other])
    assert any_backend.aggregate().report(None, None) == reference([r, other])


def test_a_bulk_write_stores_every_record(any_backend: LedgerBackend) -> None:
    """One call with 10,000 entries stores them all (the migration and bench batch size)."""
    records = [
        rec(T0 + timedelta(milliseconds=i), session_id=f"s{i % 7}", tags={"n": str(i % 3)})
        for i in range(10_000)
    ]
    store(any_backend, records)
    assert any_backend.count() == 10_000
    assert {r.id for r in any_backend.iter_records()} == {r.id for r in records}
    assert any_backend.aggregate(by_tags=("n",)).report(None, None, ("n",)) == reference(
        records, by_tags=("n",)
    )


def test_windows_are_start_inclusive_end_exclusive(any_backend: LedgerBackend) -> None:
    """``start <= ts < end``, to the microsecond, for records and reports alike."""
    start, end = T0 + timedelta(hours=5), T0 + timedelta(days=1, hours=2)
    tiny = timedelta(microseconds=1)
    at = [start - tiny, start, start + tiny, end - tiny, end, end + tiny]
    records = store(any_backend, [rec(ts, session_id=f"s{i}") for i, ts in enumerate(at)])
    inside = [r for r in records if start <= r.ts < end]
    assert [r.ts for r in inside] == [start, start + tiny, end - tiny]
    assert dicts(any_backend.iter_records(start, end)) == dicts(inside)
    assert dicts(any_backend.iter_records(start)) == dicts(records[1:])
    assert dicts(any_backend.iter_records(None, end)) == dicts(records[:4])
    assert any_backend.aggregate(start, end).report(start, end) == reference(records, start, end)
    assert list(any_backend.iter_records(end, start)) == []


def test_records_come_back_in_timestamp_order(any_backend: LedgerBackend) -> None:
    """SQL backends yield by timestamp; JSON lines in file order (which is write order)."""
    base = [rec(T0 + timedelta(minutes=m)) for m in (30, 10, 50, 20, 40)]
    store(any_backend, base[:2])
    store(any_backend, base[2:])
    got = [r.id for r in any_backend.iter_records()]
    if isinstance(any_backend, JsonlLedger):
        assert got == [r.id for r in base]
    else:
        assert got == [r.id for r in sorted(base, key=lambda r: r.ts)]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (T0 + timedelta(days=1), T0 + timedelta(days=2)),  # one whole UTC day
        (T0 + timedelta(hours=7, minutes=13), T0 + timedelta(days=2, hours=3)),  # part days
        (T0 + timedelta(hours=3), T0 + timedelta(hours=9)),  # inside one day
        (None, T0 + timedelta(days=1, hours=12)),
        (T0 + timedelta(days=1, seconds=1), None),
        (T0 + timedelta(days=9), None),  # nothing in it
    ],
    ids=["all", "day", "part-days", "within-a-day", "open-start", "open-end", "empty"],
)
def test_aggregate_equals_the_reference(
    any_backend: LedgerBackend, start: datetime | None, end: datetime | None
) -> None:
    """Every grouping, by_tag (records without a tag in no group), unpriced, exact costs."""
    records = store(any_backend, mixed_records(600))
    tags = ("user", "feature", "absent")
    got = any_backend.aggregate(start, end, tags).report(start, end, tags)
    assert got == reference(records, start, end, tags)
    assert got["by_tag"]["absent"] == {}  # type: ignore[index]
    plain = any_backend.aggregate(start, end).report(start, end)
    assert "by_tag" not in plain
    assert plain == reference(records, start, end)


def test_days_are_utc_days(any_backend: LedgerBackend) -> None:
    """A record written with a local offset counts on its UTC date."""
    plus2 = timezone(timedelta(hours=2))
    records = store(
        any_backend,
        [
            rec(datetime(2026, 11, 4, 0, 30, tzinfo=plus2)),  # 2026-11-03 22:30 UTC
            rec(datetime(2026, 11, 4, 2, 0, tzinfo=plus2)),  # 2026-11-04 00:00 UTC
        ],
    )
    report = any_backend.aggregate().report(None, None)
    assert list(report["by_day"]) == ["2026-11-03", "2026-11-04"]  # type: ignore[call-overload]
    # Aggregate.add takes the date of ts as given: the reference needs the records in UTC.
    assert report == reference(records)


def test_unpriced_records_are_counted(any_backend: LedgerBackend) -> None:
    """``unpriced_requests`` counts records with ``priced`` false; they cost nothing."""
    records = store(
        any_backend,
        [rec(T0, priced=False, cost=0.0), rec(T0, priced=False, cost=0.0), rec(T0, cost=0.5)],
    )
    report = any_backend.aggregate().report(None, None)
    assert report["unpriced_requests"] == 2
    assert report["total_cost"] == 0.5
    assert report == reference(records)


def test_costs_sum_exactly(any_backend: LedgerBackend) -> None:
    """Sums are integer pico-dollars: 10,000 x $0.1 is exactly $1000 on every backend."""
    store(any_backend, [rec(T0 + timedelta(seconds=i), cost=0.1) for i in range(10_000)])
    agg = any_backend.aggregate()
    assert agg.total.cost_pico == 10_000 * to_pico(0.1)
    assert agg.report(None, None)["total_cost"] == 1000.0


def test_close_then_use_again(any_backend: LedgerBackend) -> None:
    """``close()`` releases the store; the next call reopens it (and closing twice is fine)."""
    a, b = rec(T0), rec(T0 + timedelta(seconds=1))
    store(any_backend, [a])
    any_backend.close()
    any_backend.close()
    assert any_backend.count() == 1
    store(any_backend, [b])
    any_backend.close()
    assert dicts(any_backend.iter_records()) == dicts([a, b])


def test_a_second_backend_on_the_same_url_sees_the_records(ledger_url: str) -> None:
    """The store is the truth: another backend object (another process) reads what was written."""
    first, second = open_ledger(ledger_url), open_ledger(ledger_url)
    try:
        records = store(first, mixed_records(50))
        assert dicts(second.iter_records()) == dicts(records)
        assert second.aggregate().report(None, None) == reference(records)
    finally:
        first.close()
        second.close()


def test_version_1_lines_read_with_stable_ids(any_backend: LedgerBackend, tmp_path: Path) -> None:
    """v1 lines (no id) get content-derived ids: reading twice and storing twice keeps one each."""
    v1 = tmp_path / "v1.jsonl"
    lines = [
        {
            "v": 1,
            "ts": f"2026-11-03T1{i}:00:00+00:00",
            "session_id": "old",
            "provider": "openai",
            "model": "gpt-4o",
            "model_answered": None,
            "request_id": None,
            "prompt": 10 + i,
            "completion": 2,
            "total": 12 + i,
            "cache_read": 0,
            "cache_write": 0,
            "reasoning": 0,
            "cost": 0.001 * (i + 1),
            "pricing_as_of": "2026-01-01",
            "priced": True,
            "complete": True,
            "estimated": False,
            "tags": {"user": "u1"} if i else {},
        }
        for i in range(3)
    ]
    v1.write_text("".join(json.dumps(line) + "\n" for line in lines))
    first = list(JsonlLedger(v1).iter_records())
    again = list(JsonlLedger(v1).iter_records())
    assert [r.id for r in first] == [r.id for r in again]
    assert len({r.id for r in first}) == 3
    assert all(r.v == 1 for r in first)
    store(any_backend, first)
    back = list(any_backend.iter_records())
    assert dicts(back) == dicts(first)


def test_version_1_records_stored_twice_are_kept_once(
    any_backend: LedgerBackend, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Migrating the same v1 file twice stores each of its records once."""
    v1 = tmp_path / "v1.jsonl"
    line = {"ts": "2026-11-03T10:00:00Z", "session_id": "a", "provider": "p", "model": "m"}
    v1.write_text(
        "".join(
            json.dumps(line | {"prompt": i, "completion": 1, "cost": 0.0}) + "\n" for i in (1, 2)
        )
    )
    for _ in range(2):
        store(any_backend, JsonlLedger(v1).iter_records())
    assert any_backend.count() == 2


# -- budgets --


def test_the_limit_is_exactly_reachable_and_one_pico_more_is_refused(
    any_backend: LedgerBackend,
) -> None:
    """spent + reserved + amount <= limit passes; one pico over returns the state, stores none."""
    c = claim(limit=1000)
    assert any_backend.reserve(hold(600, c), NOW) is None
    refused = any_backend.reserve(hold(401, c), NOW)
    assert refused == BudgetState("b", "total", 1000, 0, 600)
    assert state(any_backend, c) == (0, 600)
    assert any_backend.reserve(hold(400, c), NOW) is None
    assert state(any_backend, c) == (0, 1000)
    assert any_backend.reserve(hold(1, c), NOW) is not None
    assert state(any_backend, c) == (0, 1000)


def test_a_multi_budget_hold_is_all_or_nothing(any_backend: LedgerBackend) -> None:
    """A hold that one of its budgets refuses is stored against none of them."""
    roomy, tight = claim("roomy", 10_000), claim("tight", 100)
    refused = any_backend.reserve(hold(150, roomy, tight), NOW)
    assert refused is not None
    assert (refused.budget, refused.limit_pico, refused.reserved_pico) == ("tight", 100, 0)
    assert state(any_backend, roomy) == (0, 0)
    assert any_backend.reserve(hold(100, roomy, tight), NOW) is None
    assert [s.reserved_pico for s in any_backend.budget_state([roomy, tight], NOW)] == [100, 100]


def test_expired_holds_are_dropped(any_backend: LedgerBackend) -> None:
    """A hold counts until its expiry; from then on its room is free again."""
    c = claim(limit=100)
    assert any_backend.reserve(hold(100, c, expires_at=NOW + 10), NOW) is None
    assert any_backend.reserve(hold(1, c), NOW + 9.9) is not None
    assert state(any_backend, c, NOW + 10) == (0, 0)
    assert any_backend.reserve(hold(100, c, expires_at=NOW + 20), NOW + 10) is None
    assert state(any_backend, c, NOW + 10) == (0, 100)


def test_release_frees_the_room(any_backend: LedgerBackend) -> None:
    """Releasing a hold drops its reservations; an unknown id is ignored."""
    c = claim(limit=100)
    h = hold(100, c)
    assert any_backend.reserve(h, NOW) is None
    any_backend.release(h.id)
    any_backend.release(uuid.uuid4().hex)
    assert state(any_backend, c) == (0, 0)
    assert any_backend.reserve(hold(100, c), NOW) is None


def test_settling_adds_the_cost_and_deletes_the_hold(any_backend: LedgerBackend) -> None:
    """Writing the record of a hold moves its cost into spent and frees the reservation."""
    a, b = claim("a", to_pico(1.0)), claim("b", to_pico(1.0))
    h = hold(to_pico(0.5), a, b)
    assert any_backend.reserve(h, NOW) is None
    r = rec(T0, cost=0.2)
    any_backend.write([Entry(r, h)])
    assert state(any_backend, a) == (to_pico(0.2), 0)
    assert state(any_backend, b) == (to_pico(0.2), 0)
    assert any_backend.count() == 1
    assert any_backend.reserve(hold(to_pico(0.8), a), NOW) is None
    assert any_backend.reserve(hold(1, a), NOW) is not None


def test_a_replayed_record_is_not_counted_twice(
    any_backend: LedgerBackend, request: pytest.FixtureRequest
) -> None:
    """A record stored again (a spool replay) adds nothing to spent; its hold still goes."""
    c = claim(limit=to_pico(1.0))
    h = hold(to_pico(0.5), c)
    assert any_backend.reserve(h, NOW) is None
    r = rec(T0, cost=0.3)
    any_backend.write([Entry(r, h)])
    any_backend.write([Entry(r, h)])
    assert state(any_backend, c) == (to_pico(0.3), 0)
    assert any_backend.count() == 1


def test_a_settled_record_without_a_reservation_counts(any_backend: LedgerBackend) -> None:
    """A record whose hold expired (or was spooled) still adds its cost when written."""
    c = claim(limit=to_pico(1.0))
    h = hold(to_pico(0.5), c, expires_at=NOW + 1)
    assert any_backend.reserve(h, NOW) is None
    assert state(any_backend, c, NOW + 5) == (0, 0)
    any_backend.write([Entry(rec(T0, cost=0.25), h)])
    assert state(any_backend, c, NOW + 5) == (to_pico(0.25), 0)


SEED_MATCHES = [
    RecordFilter(),
    RecordFilter(provider="openai"),
    RecordFilter(provider="anthropic", model="m-b"),
    RecordFilter(session="s2"),
    RecordFilter(tags={"user": "u3"}),
    RecordFilter(tags={"user": "u1", "feature": "chat"}),
    RecordFilter(provider="gemini", tags={"feature": "search"}),
    RecordFilter(provider="nobody"),
]


@pytest.mark.parametrize("match", SEED_MATCHES, ids=lambda m: repr(m)[12:-1] or "all")
@pytest.mark.parametrize(
    ("start", "end", "window"),
    [
        (None, None, "total"),
        (T0 + timedelta(days=1), T0 + timedelta(days=2), "2026-11-04"),
        (T0 + timedelta(hours=6), T0 + timedelta(days=1, hours=18), "odd"),
    ],
    ids=["total", "day", "part-days"],
)
def test_spent_is_seeded_from_the_matching_records(
    any_backend: LedgerBackend,
    match: RecordFilter,
    start: datetime | None,
    end: datetime | None,
    window: str,
) -> None:
    """A budget window first seen starts from the spend already recorded that it counts."""
    records = store(any_backend, mixed_records(300, seed=7))
    expected = sum(
        to_pico(r.cost)
        for r in records
        if match.matches(r) and (start is None or r.ts >= start) and (end is None or r.ts < end)
    )
    c = claim(limit=10**15, match=match, start=start, end=end, window=window)
    assert state(any_backend, c) == (expected, 0)
    assert any_backend.reserve(hold(5, c), NOW) is None
    assert state(any_backend, c) == (expected, 5)
    room = 10**15 - expected - 5
    assert any_backend.reserve(hold(room + 1, c), NOW) is not None
    assert any_backend.reserve(hold(room, c), NOW) is None


def test_a_window_seeded_once_then_counts_settlements(any_backend: LedgerBackend) -> None:
    """After its row exists, a window's spend grows by settlements, not by re-reading."""
    match = RecordFilter(tags={"user": "u1"})
    store(any_backend, [rec(T0, cost=0.5, tags={"user": "u1"}), rec(T0, cost=9.0)])
    c = claim(limit=to_pico(2.0), match=match)
    h = hold(to_pico(1.0), c)
    assert any_backend.reserve(h, NOW) is None
    assert state(any_backend, c) == (to_pico(0.5), to_pico(1.0))
    any_backend.write([Entry(rec(T0, cost=0.75, tags={"user": "u1"}), h)])
    assert state(any_backend, c) == (to_pico(1.25), 0)


def test_budget_state_reports_each_claim_in_order(any_backend: LedgerBackend) -> None:
    """One state per claim, with the limit as configured now and only live reservations."""
    store(any_backend, [rec(T0, cost=1e-9, provider="openai"), rec(T0, cost=1e-9, provider="x")])
    a = claim("a", 5000, RecordFilter(provider="openai"))
    b = claim("b", 7000)
    assert any_backend.reserve(hold(300, a, b, expires_at=NOW + 60), NOW) is None
    assert any_backend.reserve(hold(200, b, expires_at=NOW + 30), NOW) is None
    assert any_backend.budget_state([b, a], NOW + 40) == [
        BudgetState("b", "total", 7000, 2000, 300),
        BudgetState("a", "total", 5000, 1000, 300),
    ]
    raised = claim("a", 9000, RecordFilter(provider="openai"))
    assert any_backend.budget_state([raised], NOW)[0].limit_pico == 9000


def test_a_hold_with_no_claims_is_reserved(any_backend: LedgerBackend) -> None:
    """Nothing to check: reserved, and settling it only stores the record."""
    h = Hold(uuid.uuid4().hex, (), 10**18, NOW + 600)
    assert any_backend.reserve(h, NOW) is None
    any_backend.write([Entry(rec(T0), h)])
    assert any_backend.count() == 1


# -- cooldowns --


def test_bench_keeps_the_later_time_and_expires(any_backend: LedgerBackend) -> None:
    """The later ``until`` wins; a model is benched while ``until > now``; per provider."""
    any_backend.bench("openai", "gpt-4o", NOW + 100)
    any_backend.bench("openai", "gpt-4o", NOW + 50)
    any_backend.bench("openai", "o3", NOW + 10)
    any_backend.bench("anthropic", "claude", NOW + 100)
    assert any_backend.benched("openai", NOW) == {"gpt-4o": NOW + 100, "o3": NOW + 10}
    assert any_backend.benched("openai", NOW + 10) == {"gpt-4o": NOW + 100}
    assert any_backend.benched("openai", NOW + 100) == {}
    assert any_backend.benched("gemini", NOW) == {}
    any_backend.bench("openai", "gpt-4o", NOW + 200)
    assert any_backend.benched("openai", NOW + 150) == {"gpt-4o": NOW + 200}
