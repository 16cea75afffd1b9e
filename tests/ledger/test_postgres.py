"""The PostgreSQL ledger on the machine's real server: what only PostgreSQL has to get right.

Secrets in URLs, a server that is not there or goes away and comes back, reservations raced by
many threads and by a lock held elsewhere, forked children, tables created by several instances
at once, and reports that agree with the reference aggregation.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from llmorch.ledger import (
    Aggregate,
    Claim,
    Entry,
    Hold,
    LedgerBackend,
    LedgerUnavailableError,
    RecordFilter,
    open_ledger,
)
from llmorch.ledger.base import to_pico
from llmorch.ledger.records import record_to_dict
from llmorch.types import UsageRecord

from .conftest import PG_HOST, PG_PORT, pg_server_or_skip
from .tcp_proxy import TcpProxy

psycopg = pytest.importorskip("psycopg") if os.environ.get("CI") != "true" else None
if psycopg is None:
    import psycopg

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
DAY = Claim(
    "daily",
    "2026-12-01",
    T0,
    T0 + timedelta(days=1),
    limit_pico=to_pico(1.0),
    match=RecordFilter(provider="openai"),
)


def _record(i: int = 0, **kw: object) -> UsageRecord:
    fields: dict[str, object] = {
        "ts": T0 + timedelta(minutes=i),
        "session_id": f"s{i % 3}",
        "provider": "openai",
        "model": f"m{i % 2}",
        "prompt": 10 + i,
        "completion": 5,
        "total": 15 + i,
        "cost": 0.01 * (i + 1),
        "tags": {"user": f"u{i % 2}"} if i % 3 else {},
        "latency_s": 0.25,
        "tool_calls": ("lookup",) if i % 2 else (),
        "warnings": ("dropped: seed",) if i == 4 else (),
    }
    fields.update(kw)
    return UsageRecord(**fields)  # type: ignore[arg-type]


def _hold(amount_usd: float, *claims: Claim, ttl: float = 60.0) -> Hold:
    return Hold(uuid.uuid4().hex, claims or (DAY,), to_pico(amount_usd), time.time() + ttl)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ledger(pg_url: str) -> Iterator[LedgerBackend]:
    backend = open_ledger(pg_url)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    pg_server_or_skip()
    tcp = TcpProxy((PG_HOST, PG_PORT))
    try:
        yield tcp
    finally:
        tcp.close()


def _via(proxy: TcpProxy, pg_url: str) -> str:
    return pg_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.port}")


# -- secrets and unreachable servers --


def test_the_password_is_never_shown() -> None:
    """A URL's password appears neither in the backend's repr nor in its errors."""
    port = _free_port()
    backend = open_ledger(f"postgresql://app:hunter2-secret@127.0.0.1:{port}/ledger")
    try:
        assert "hunter2-secret" not in repr(backend)
        assert "***" in backend.url
        with pytest.raises(LedgerUnavailableError) as info:
            backend.count()
        assert "hunter2-secret" not in str(info.value)
        assert "hunter2-secret" not in repr(info.value)
        assert f"127.0.0.1:{port}" in str(info.value)
    finally:
        backend.close()


def test_a_server_refusing_the_database_names_no_password(pg_url: str) -> None:
    """A reachable server that refuses the login: the error still hides the password."""
    pg_server_or_skip()
    url = (
        f"postgresql://postgres:pw-77-secret@{PG_HOST}:{PG_PORT}/llmorch_absent_{uuid.uuid4().hex}"
    )
    backend = open_ledger(url)
    try:
        with pytest.raises(LedgerUnavailableError) as info:
            backend.write([Entry(_record())])
        assert "pw-77-secret" not in str(info.value)
        assert "does not exist" in str(info.value)
    finally:
        backend.close()


def test_an_unreachable_server_fails_on_use_and_fast() -> None:
    """Constructing never connects; the first use fails with LedgerUnavailableError in ~3 s."""
    backend = open_ledger(f"postgresql://postgres@127.0.0.1:{_free_port()}/nothing")
    try:
        for call in (backend.count, lambda: backend.reserve(_hold(0.1), time.time())):
            started = time.monotonic()
            with pytest.raises(LedgerUnavailableError, match="unavailable"):
                call()
            assert time.monotonic() - started < 4.5
    finally:
        backend.close()


def test_the_next_call_after_an_outage_succeeds(
    proxy: TcpProxy, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Established connections reset and new ones refused: calls fail; restored: the next works.

    The pool's own warning per failed attempt is not logged (the tracker warns once).
    """
    caplog.set_level(logging.WARNING)
    backend = open_ledger(_via(proxy, pg_url))
    try:
        backend.write([Entry(_record(i)) for i in range(3)])
        backend.bench("openai", "m0", time.time() + 60)
        proxy.cut()
        with pytest.raises(LedgerUnavailableError):
            backend.write([Entry(_record(3))])
        with pytest.raises(LedgerUnavailableError):
            backend.benched("openai", time.time())
        proxy.restore()
        backend.write([Entry(_record(4))])
        assert backend.count() == 4
        assert set(backend.benched("openai", time.time())) == {"m0"}
    finally:
        backend.close()
    assert [r for r in caplog.records if r.name.startswith("psycopg")] == []


def test_connections_dropped_while_idle_are_replaced_without_an_error(
    proxy: TcpProxy, pg_url: str
) -> None:
    """Every pooled connection reset between calls: the next call still succeeds at once."""
    backend = open_ledger(_via(proxy, pg_url))
    try:
        threads = [
            threading.Thread(target=backend.write, args=([Entry(_record(i))],)) for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        proxy.cut()
        proxy.restore()
        started = time.monotonic()
        assert backend.count() == 8
        assert time.monotonic() - started < 1.0
    finally:
        backend.close()


# -- reservations --


def test_threads_racing_for_a_budget_never_pass_its_limit(pg_url: str) -> None:
    """60 reservations of 0.1 from 3 instances × 20 threads against 1.0: at most 10 hold."""
    backends = [open_ledger(pg_url) for _ in range(3)]
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(60)

    def reserve(backend: LedgerBackend) -> None:
        start.wait()
        try:
            outcome = "held" if backend.reserve(_hold(0.1), time.time()) is None else "refused"
        except LedgerUnavailableError:
            outcome = "unavailable"
        with lock:
            results.append(outcome)

    try:
        threads = [threading.Thread(target=reserve, args=(backends[i % 3],)) for i in range(60)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        state = backends[0].budget_state([DAY], time.time())[0]
    finally:
        for backend in backends:
            backend.close()
    assert results.count("held") <= 10
    assert results.count("held") + results.count("unavailable") >= 10
    assert state.reserved_pico == results.count("held") * to_pico(0.1) <= DAY.limit_pico


def test_a_reservation_never_waits_on_a_held_lock(ledger: LedgerBackend, pg_url: str) -> None:
    """Another transaction holding the budget row: reserve fails within the 250 ms lock timeout."""
    assert ledger.reserve(_hold(0.1), time.time()) is None  # creates the row
    with psycopg.connect(pg_url) as other:
        other.execute("SELECT * FROM llmorch_budgets FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(LedgerUnavailableError, match="locked"):
            ledger.reserve(_hold(0.1), time.time())
        assert time.monotonic() - started < 1.0
    assert ledger.reserve(_hold(0.1), time.time()) is None  # the lock is gone


def test_a_refused_reservation_leaves_nothing(ledger: LedgerBackend) -> None:
    """A hold over two budgets, one of them full: neither budget keeps any of it."""
    small = Claim("small", "total", None, None, to_pico(0.05), RecordFilter())
    state = ledger.reserve(_hold(0.1, DAY, small), time.time())
    assert state is not None and state.budget == "small"
    states = ledger.budget_state([DAY, small], time.time())
    assert [s.reserved_pico for s in states] == [0, 0]


def test_a_lowered_limit_applies_to_the_next_reservation(ledger: LedgerBackend) -> None:
    """The limit is the claim's, as configured now, not the one stored with the window."""
    assert ledger.reserve(_hold(0.1), time.time()) is None
    lowered = Claim(DAY.budget, DAY.window, DAY.start, DAY.end, to_pico(0.15), DAY.match)
    state = ledger.reserve(_hold(0.1, lowered), time.time())
    assert state is not None
    assert (state.limit_pico, state.reserved_pico) == (to_pico(0.15), to_pico(0.1))


def test_budget_rows_are_seeded_from_the_records_and_settled_once(
    ledger: LedgerBackend,
) -> None:
    """A new window starts from the stored records it matches; a replayed record settles once."""
    ledger.write([Entry(_record(0)), Entry(_record(1, provider="other"))])
    hold = _hold(0.5)
    assert ledger.reserve(hold, time.time()) is None
    state = ledger.budget_state([DAY], time.time())[0]
    assert (state.spent_pico, state.reserved_pico) == (to_pico(0.01), to_pico(0.5))
    settled = _record(2)
    ledger.write([Entry(settled, hold)])
    ledger.write([Entry(settled, hold)])
    state = ledger.budget_state([DAY], time.time())[0]
    assert (state.spent_pico, state.reserved_pico) == (to_pico(0.01) + to_pico(0.03), 0)


def test_expired_reservations_stop_counting(ledger: LedgerBackend) -> None:
    """A hold past its expiry is not reserved any more, and frees room for a new one."""
    assert ledger.reserve(_hold(0.9, ttl=0.5), time.time()) is None
    assert ledger.reserve(_hold(0.5), time.time()) is not None
    later = time.time() + 1.0
    assert ledger.budget_state([DAY], later)[0].reserved_pico == 0
    assert ledger.reserve(_hold(0.5), later) is None


def test_a_bulk_write_settles_every_hold(ledger: LedgerBackend) -> None:
    """A batch above the COPY threshold stores each record once and settles its hold."""
    holds = [_hold(0.001) for _ in range(100)]
    for hold in holds:
        assert ledger.reserve(hold, time.time()) is None
    records = [_record(i % 50, cost=0.001, id=uuid.uuid4().hex) for i in range(100)]
    entries = [Entry(r, h) for r, h in zip(records, holds, strict=True)]
    ledger.write(entries)
    ledger.write(entries)
    assert ledger.count() == 100
    state = ledger.budget_state([DAY], time.time())[0]
    assert (state.spent_pico, state.reserved_pico) == (100 * to_pico(0.001), 0)


# -- processes --


def test_a_forked_child_uses_connections_of_its_own(ledger: LedgerBackend) -> None:
    """The child writes through a new pool; the parent's connections keep working unharmed."""
    ledger.write([Entry(_record(0))])
    pool = ledger._pool  # type: ignore[attr-defined]
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            ledger.write([Entry(_record(1))])
            code = 0 if ledger._pool is not pool else 2  # type: ignore[attr-defined]
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ledger.count() == 2
    assert ledger._pool is pool  # type: ignore[attr-defined]
    assert pool.get_stats().get("connections_lost", 0) == 0


def test_instances_starting_together_create_the_tables_once(pg_url: str) -> None:
    """Eight instances' first calls at the same moment on an empty database all succeed."""
    backends = [open_ledger(pg_url) for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def first_call(backend: LedgerBackend, i: int) -> None:
        start.wait()
        try:
            backend.write([Entry(_record(i))])
        except LedgerUnavailableError as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=first_call, args=(b, i)) for i, b in enumerate(backends)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert backends[0].count() == 8
        with psycopg.connect(pg_url) as conn:
            version = conn.execute(
                "SELECT value FROM llmorch_meta WHERE key = 'schema_version'"
            ).fetchall()
        assert version == [("2",)]
    finally:
        for backend in backends:
            backend.close()


# -- records and reports --


def test_records_round_trip_and_reports_match_the_reference(ledger: LedgerBackend) -> None:
    """What is read back equals what was written; SQL sums equal the reference aggregation."""
    records = [_record(i) for i in range(12)] + [_record(40, priced=False, cost=0.0)]
    ledger.write([Entry(r) for r in records[:5]])
    ledger.write([Entry(r) for r in records[5:]])
    back = list(ledger.iter_records())
    assert [record_to_dict(r) for r in back] == [record_to_dict(r) for r in records]
    start, end = T0 + timedelta(minutes=2), T0 + timedelta(minutes=9)
    for window in ((None, None), (start, end)):
        expected = Aggregate()
        for record in records:
            if (window[0] is None or record.ts >= window[0]) and (
                window[1] is None or record.ts < window[1]
            ):
                expected.add(record, ("user", "absent"))
        got = ledger.aggregate(*window, by_tags=("user", "absent"))
        assert got.report(*window, ("user", "absent")) == expected.report(
            *window, ("user", "absent")
        )
    assert [record_to_dict(r) for r in ledger.iter_records(start, end)] == [
        record_to_dict(r) for r in records[2:9]
    ]


def test_text_postgresql_cannot_store_is_escaped_not_refused(ledger: LedgerBackend) -> None:
    r"""A NUL in a session id or a tag (which PostgreSQL refuses) is stored as ``\x00``."""
    ledger.write([Entry(_record(0, session_id="a\x00b", tags={"k": "v\x00"}))])
    (back,) = ledger.iter_records()
    assert (back.session_id, back.tags) == ("a\\x00b", {"k": "v\\x00"})
