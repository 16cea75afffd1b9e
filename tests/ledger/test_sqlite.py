"""The SQLite ledger: threads and processes at once, fork, locks, and stores it cannot use."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import llmorch
from llmorch.ledger import (
    Aggregate,
    Claim,
    Entry,
    Hold,
    LedgerUnavailableError,
    RecordFilter,
    open_ledger,
)
from llmorch.ledger.sqlite import RESERVE_TIMEOUT_MS, SqliteLedger
from llmorch.types import UsageRecord

T0 = datetime(2026, 11, 3, tzinfo=timezone.utc)
SRC = str(Path(llmorch.__file__).parent.parent)


def rec(i: int, **fields: object) -> UsageRecord:
    values: dict[str, object] = {
        "session_id": f"s{i % 3}",
        "provider": "openai",
        "model": "gpt-4o",
        "prompt": 10,
        "completion": 5,
        "total": 15,
        "cost": 0.0001,
        "tags": {"user": f"u{i % 4}"},
    }
    values.update(fields)
    return UsageRecord(ts=T0 + timedelta(seconds=i), **values)  # type: ignore[arg-type]


def run_processes(script: str, n: int, *args: str) -> list[str]:
    """Run ``n`` copies of a script at once (argv: its index, then ``args``); their stdout."""
    env = os.environ | {"PYTHONPATH": SRC}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(k), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def test_nothing_is_opened_until_first_use(tmp_path: Path) -> None:
    """The constructor touches nothing; first use creates the file, its directory and tables."""
    path = tmp_path / "deep" / "dir" / "ledger.db"
    ledger = open_ledger(f"sqlite:///{path}")
    assert isinstance(ledger, SqliteLedger)
    assert ledger.url == f"sqlite:///{path}" and ledger.blocking and ledger.shared
    assert not path.parent.exists()
    assert ledger.count() == 0
    ledger.close()
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        meta = dict(conn.execute("SELECT key, value FROM llmorch_meta"))
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    conn.close()
    assert {
        "llmorch_records",
        "llmorch_budgets",
        "llmorch_holds",
        "llmorch_cooldowns",
        "llmorch_meta",
    } <= tables
    assert meta == {"schema_version": "2"}
    assert mode == "wal"


def test_a_relative_url_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///rel/path`` is relative to where the process runs, fixed at open."""
    monkeypatch.chdir(tmp_path)
    ledger = open_ledger("sqlite:///rel/l.db")
    monkeypatch.chdir("/")
    ledger.write([Entry(rec(1))])
    ledger.close()
    assert (tmp_path / "rel" / "l.db").is_file()


def test_many_threads_write_and_read_at_once(tmp_path: Path) -> None:
    """Eight threads writing one record per call while others read: every record, once."""
    ledger = SqliteLedger(tmp_path / "l.db")
    errors: list[BaseException] = []
    written: list[str] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        try:
            for i in range(100):
                r = rec(i, session_id=f"t{k}")
                ledger.write([Entry(r)])
                with lock:
                    written.append(r.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(20):
                ledger.aggregate(by_tags=("user",))
                sum(1 for _ in ledger.iter_records())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ledger.count() == 800
    assert sorted(r.id for r in ledger.iter_records()) == sorted(written)
    assert ledger.aggregate().total.requests == 800
    ledger.close()


WRITER = """
import random, sys
from datetime import datetime, timedelta, timezone
from llmorch.ledger import Entry
from llmorch.ledger.sqlite import SqliteLedger
from llmorch.types import UsageRecord
k, path = int(sys.argv[1]), sys.argv[2]
ledger = SqliteLedger(path)
rng = random.Random(k)
t0 = datetime(2026, 11, 3, tzinfo=timezone.utc)
records = [
    UsageRecord(ts=t0 + timedelta(seconds=i), session_id=f"p{k}", provider="openai",
                model="gpt-4o", prompt=1, completion=1, total=2, cost=0.001, id=f"{k}-{i}")
    for i in range(300)
]
i = 0
while i < len(records):
    n = rng.randint(1, 5)
    ledger.write([Entry(r) for r in records[i:i + n]])
    i += n
ledger.close()
"""


def test_four_processes_write_at_once(tmp_path: Path) -> None:
    """Four processes writing batches at once onto a file none created: exact, unique ids."""
    path = tmp_path / "shared.db"
    run_processes(WRITER, 4, str(path))
    ledger = SqliteLedger(path)
    ids = [r.id for r in ledger.iter_records()]
    assert ledger.count() == len(ids) == 1200
    assert set(ids) == {f"{k}-{i}" for k in range(4) for i in range(300)}
    report = ledger.aggregate().report(None, None)
    assert report["by_session"] == {
        f"p{k}": {"cost": 0.3, "requests": 300, "tokens": 600} for k in range(4)
    }
    ledger.close()


RESERVER = """
import sys, time, uuid
from llmorch.ledger import Claim, Hold, LedgerUnavailableError, RecordFilter
from llmorch.ledger.sqlite import SqliteLedger
k, path = int(sys.argv[1]), sys.argv[2]
ledger = SqliteLedger(path)
claim = Claim("shared", "total", None, None, 1000, RecordFilter())
won = lost = busy = 0
for _ in range(60):
    while True:
        try:
            state = ledger.reserve(Hold(uuid.uuid4().hex, (claim,), 10, time.time() + 600), 0.0)
        except LedgerUnavailableError:
            busy += 1
            continue
        break
    if state is None:
        won += 1
    else:
        lost += 1
print(won, lost, busy)
ledger.close()
"""


def test_four_processes_never_pass_a_shared_budget(tmp_path: Path) -> None:
    """240 reservations of 10 from four processes against a limit of 1000: exactly 100 pass."""
    path = tmp_path / "budget.db"
    outs = run_processes(RESERVER, 4, str(path))
    won = sum(int(out.split()[0]) for out in outs)
    lost = sum(int(out.split()[1]) for out in outs)
    assert (won, lost) == (100, 140)
    ledger = SqliteLedger(path)
    (state,) = ledger.budget_state([Claim("shared", "total", None, None, 1000, RecordFilter())], 0)
    assert (state.spent_pico, state.reserved_pico) == (0, 1000)
    ledger.close()


@pytest.mark.parametrize("kind", ["under-a-file", "a-directory", "not-a-database"])
def test_a_store_it_cannot_use_raises_unavailable(tmp_path: Path, kind: str) -> None:
    """Every method raises LedgerUnavailableError naming the file; the constructor never fails."""
    if kind == "under-a-file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "ledger.db"
    elif kind == "a-directory":
        path = tmp_path
    else:
        path = tmp_path / "ledger.db"
        path.write_bytes(b"this is not a database" * 100)
    ledger = SqliteLedger(path)
    c = Claim("b", "total", None, None, 10, RecordFilter())
    calls = [
        lambda: ledger.write([Entry(rec(1))]),
        lambda: ledger.count(),
        lambda: list(ledger.iter_records()),
        lambda: ledger.aggregate(),
        lambda: ledger.reserve(Hold("h", (c,), 1, 1.0), 0.0),
        lambda: ledger.release("h"),
        lambda: ledger.budget_state([c], 0.0),
        lambda: ledger.bench("p", "m", 1.0),
        lambda: ledger.benched("p", 0.0),
    ]
    for call in calls:
        with pytest.raises(LedgerUnavailableError) as info:
            call()
        assert str(path) in str(info.value)
        assert "could not" in str(info.value)
    ledger.close()


def test_a_held_write_lock_fails_a_reservation_fast(tmp_path: Path) -> None:
    """A reservation never queues behind another writer: it fails within its short timeout."""
    path = tmp_path / "l.db"
    ledger = SqliteLedger(path)
    ledger.bench("p", "m", 10.0)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    c = Claim("b", "total", None, None, 10, RecordFilter())
    started = time.monotonic()
    with pytest.raises(LedgerUnavailableError, match="write lock"):
        ledger.reserve(Hold("h", (c,), 1, 1e10), 0.0)
    assert time.monotonic() - started < RESERVE_TIMEOUT_MS / 1000 + 1.0
    assert ledger.benched("p", 0.0) == {"m": 10.0}  # readers do not wait for writers
    blocker.execute("ROLLBACK")
    blocker.close()
    assert ledger.reserve(Hold("h", (c,), 1, 1e10), 0.0) is None
    ledger.close()


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    """After fork() the child never uses the parent's connections; both go on working."""
    ledger = SqliteLedger(tmp_path / "l.db")
    ledger.write([Entry(rec(1))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            ledger.write([Entry(rec(2))])
            code = 0 if ledger.count() == 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ledger.write([Entry(rec(3))])
    assert [r.ts for r in ledger.iter_records()] == [T0 + timedelta(seconds=s) for s in (1, 2, 3)]
    ledger.close()


def test_connections_do_not_outlive_short_lived_threads(tmp_path: Path) -> None:
    """Fifty threads that each make one call leave at most a few open connections."""
    path = tmp_path / "l.db"
    ledger = SqliteLedger(path)
    for _ in range(50):
        t = threading.Thread(target=ledger.count)
        t.start()
        t.join()
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd to count open files")

    def open_db_files() -> int:
        return sum(os.path.realpath(fd) == str(path) for fd in fds.iterdir() if fd.exists())

    assert 1 <= open_db_files() <= 2
    ledger.close()
    assert open_db_files() == 0


def test_reports_stay_right_after_records_are_deleted(tmp_path: Path) -> None:
    """Deleting records by hand (retention) keeps the daily sums behind reports in step."""
    path = tmp_path / "l.db"
    ledger = SqliteLedger(path)
    records = [rec(i * 3600, provider=f"p{i % 2}") for i in range(100)]
    ledger.write([Entry(r) for r in records])
    cut = T0 + timedelta(days=2, hours=5)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM llmorch_records WHERE ts < ?", (cut.isoformat(),))
    conn.close()
    kept = [r for r in records if r.ts >= cut]
    expected = Aggregate()
    for r in kept:
        expected.add(r, ("user",))
    assert ledger.aggregate(by_tags=("user",)) == expected
    assert ledger.count() == len(kept)
    ledger.close()


def test_a_ledger_from_a_newer_llmorch_is_refused(tmp_path: Path) -> None:
    """A schema version this code does not know is an error naming both versions."""
    path = tmp_path / "l.db"
    SqliteLedger(path).count()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE llmorch_meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(LedgerUnavailableError, match="schema version 3"):
        SqliteLedger(path).count()


def test_an_abandoned_iteration_gives_its_connection_back(tmp_path: Path) -> None:
    """A reader that stops early leaves the ledger fully usable, writes included."""
    ledger = SqliteLedger(tmp_path / "l.db")
    ledger.write([Entry(rec(i)) for i in range(2500)])
    it = ledger.iter_records()
    assert next(it).ts == T0
    ledger.write([Entry(rec(5000))])
    it.close()
    assert ledger.count() == 2501
    c = Claim("b", "total", None, None, 10, RecordFilter(provider="nobody"))
    h = Hold(uuid.uuid4().hex, (c,), 1, 1e10)
    assert ledger.reserve(h, 0.0) is None
    ledger.close()
