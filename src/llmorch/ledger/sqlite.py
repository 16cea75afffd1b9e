"""The SQLite ledger: one database file shared by every process on a machine (stdlib ``sqlite3``).

The file is in WAL mode, so readers never wait for writers and writers wait only for each other.
Every write and every reservation is one ``BEGIN IMMEDIATE`` transaction: it takes the
database's write lock first, so two processes reserving against one budget are serialised by
SQLite and neither can pass the limit. A reservation waits at most
:data:`RESERVE_TIMEOUT_MS` for that lock (never queuing behind a long write); a write waits
at most :data:`WRITE_TIMEOUT_MS`. Commits are ``synchronous=NORMAL``: a committed record
survives the process being killed; the last commits may be lost on power loss.

Reports never scan the whole table: in the same transaction as each insert (and each delete,
e.g. a retention job's), triggers keep daily sums per (day, provider, model, session) and per
(day, tag, value); a report reads whole days from them and only the part days at the ends of
its window from the records.

Each operation takes a connection from a small pool (a ``sqlite3`` connection must not be used
by two threads at once, and threads come and go), and a process forked from one using the
ledger opens its own: a SQLite connection never crosses ``fork()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from llmorch.ledger.base import (
    GROUPS,
    Aggregate,
    Bucket,
    BudgetState,
    Claim,
    Entry,
    Hold,
    LedgerBackend,
    LedgerUnavailableError,
    to_pico,
)
from llmorch.ledger.records import LEDGER_COLUMNS, SCHEMA_VERSION
from llmorch.types import UsageRecord

__all__ = ["RESERVE_TIMEOUT_MS", "WRITE_TIMEOUT_MS", "SqliteLedger"]

RESERVE_TIMEOUT_MS = 250
"""How long a reservation (or a cooldown) waits for the write lock before failing."""

WRITE_TIMEOUT_MS = 5000
"""How long a write of records waits for the write lock before failing (it is spooled then)."""

_SETUP_TIMEOUT_S = 5.0  # opening: switching to WAL and creating the tables, once per file
_FETCH = 1000  # rows fetched at a time by iter_records

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llmorch_records (
    v INTEGER NOT NULL,
    ts TEXT NOT NULL,
    session_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    model_answered TEXT,
    request_id TEXT,
    prompt INTEGER NOT NULL,
    completion INTEGER NOT NULL,
    total INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    reasoning INTEGER NOT NULL,
    cost REAL NOT NULL,
    pricing_as_of TEXT,
    priced INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    tags TEXT NOT NULL,
    id TEXT NOT NULL PRIMARY KEY,
    latency_s REAL,
    tool_calls TEXT NOT NULL,
    warnings TEXT NOT NULL,
    cost_pico INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS llmorch_records_ts ON llmorch_records (ts);
CREATE TABLE IF NOT EXISTS llmorch_budgets (
    budget TEXT NOT NULL,
    "window" TEXT NOT NULL,
    limit_pico INTEGER NOT NULL,
    spent_pico INTEGER NOT NULL,
    PRIMARY KEY (budget, "window")
);
CREATE TABLE IF NOT EXISTS llmorch_holds (
    id TEXT NOT NULL,
    budget TEXT NOT NULL,
    "window" TEXT NOT NULL,
    amount_pico INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (id, budget)
);
CREATE TABLE IF NOT EXISTS llmorch_cooldowns (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (provider, model)
);
CREATE TABLE IF NOT EXISTS llmorch_meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS llmorch_daily (
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    session_id TEXT NOT NULL,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost_pico INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    PRIMARY KEY (day, provider, model, session_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS llmorch_daily_tags (
    day TEXT NOT NULL,
    tag TEXT NOT NULL,
    value TEXT NOT NULL,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost_pico INTEGER NOT NULL,
    PRIMARY KEY (day, tag, value)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS llmorch_records_added AFTER INSERT ON llmorch_records BEGIN
    INSERT INTO llmorch_daily VALUES (
        substr(NEW.ts, 1, 10), NEW.provider, NEW.model, NEW.session_id,
        1, NEW.total, NEW.cost_pico, NEW.priced = 0
    ) ON CONFLICT DO UPDATE SET
        requests = requests + 1,
        tokens = tokens + excluded.tokens,
        cost_pico = cost_pico + excluded.cost_pico,
        unpriced = unpriced + excluded.unpriced;
    INSERT INTO llmorch_daily_tags
        SELECT substr(NEW.ts, 1, 10), key, value, 1, NEW.total, NEW.cost_pico
        FROM json_each(NEW.tags) WHERE value IS NOT NULL
    ON CONFLICT DO UPDATE SET
        requests = requests + 1,
        tokens = tokens + excluded.tokens,
        cost_pico = cost_pico + excluded.cost_pico;
END;
CREATE TRIGGER IF NOT EXISTS llmorch_records_deleted AFTER DELETE ON llmorch_records BEGIN
    UPDATE llmorch_daily SET
        requests = requests - 1,
        tokens = tokens - OLD.total,
        cost_pico = cost_pico - OLD.cost_pico,
        unpriced = unpriced - (OLD.priced = 0)
    WHERE day = substr(OLD.ts, 1, 10) AND provider = OLD.provider AND model = OLD.model
        AND session_id = OLD.session_id;
    DELETE FROM llmorch_daily WHERE day = substr(OLD.ts, 1, 10) AND provider = OLD.provider
        AND model = OLD.model AND session_id = OLD.session_id AND requests = 0;
    UPDATE llmorch_daily_tags SET
        requests = requests - 1,
        tokens = tokens - OLD.total,
        cost_pico = cost_pico - OLD.cost_pico
    WHERE day = substr(OLD.ts, 1, 10)
        AND (tag, value) IN (SELECT key, value FROM json_each(OLD.tags));
    DELETE FROM llmorch_daily_tags WHERE day = substr(OLD.ts, 1, 10) AND requests = 0;
END;
"""

_COLUMNS = ", ".join(LEDGER_COLUMNS)
_INSERT = (
    f"INSERT INTO llmorch_records ({_COLUMNS}, cost_pico) "
    f"VALUES ({', '.join('?' * (len(LEDGER_COLUMNS) + 1))}) ON CONFLICT (id) DO NOTHING"
)
_SELECT = f"SELECT {_COLUMNS} FROM llmorch_records"
_DAY = "substr(ts, 1, 10)"  # the UTC date of a stored timestamp

_MAX_IDLE = 8  # idle connections kept open for the next operations


class _Pool:
    """The idle connections of one ledger, safe across threads and ``fork()``.

    Connections are taken per operation rather than kept per thread: worker threads come and
    go (anyio's exit after idling), and a connection per thread would outlive its thread. A
    process forked from this one starts with no connection: SQLite's must never be used, nor
    closed, on both sides of a ``fork()``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._generation = 0  # bumped by close(): connections in use then are not kept

    def _forked(self) -> bool:
        """Whether this is a child of the process that opened the idle connections."""
        if self._pid == os.getpid():
            return False
        _INHERITED.extend(self._idle)
        self._idle.clear()
        self._pid = os.getpid()
        return True

    def take(self) -> tuple[sqlite3.Connection | None, tuple[int, int]]:
        """An idle connection (``None``: open one) and the token to give it back with."""
        with self._lock:
            self._forked()
            conn = self._idle.pop() if self._idle else None
            return conn, (self._pid, self._generation)

    def give_back(self, conn: sqlite3.Connection, token: tuple[int, int]) -> None:
        """Keep a connection for the next operation, or close it.

        Args:
            conn: The connection.
            token: What :meth:`take` returned with it.
        """
        with self._lock:
            if token == (os.getpid(), self._generation) and len(self._idle) < _MAX_IDLE:
                self._idle.append(conn)
                return
        self.discard(conn, token)

    @staticmethod
    def discard(conn: sqlite3.Connection, token: tuple[int, int]) -> None:
        """Close a connection (one opened before a ``fork()`` is only kept from the GC).

        Args:
            conn: The connection.
            token: What :meth:`take` returned with it.
        """
        if token[0] != os.getpid():
            _INHERITED.append(conn)
            return
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        """Close every idle connection (also run when the ledger is garbage-collected)."""
        with self._lock:
            if not self._forked():
                for conn in self._idle:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
                self._idle.clear()
            self._generation += 1


# Connections inherited through fork(): never used nor closed in the child (closing one there
# could disturb the parent's locks), only kept from being garbage-collected.
_INHERITED: list[sqlite3.Connection] = []


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one at a time (a trigger's body holds semicolons)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""


def _ts(ts: datetime) -> str:
    """A timestamp as stored: fixed-width UTC ISO-8601, so text order is time order."""
    if ts.tzinfo is not timezone.utc:
        ts = ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    return ts.isoformat(timespec="microseconds")


def _json(value: dict[str, str] | tuple[str, ...]) -> str:
    """Tags or a list of names as JSON text (the empty ones, most of them, without encoding)."""
    if not value:
        return "[]" if isinstance(value, tuple) else "{}"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _row(record: UsageRecord) -> tuple[Any, ...]:
    """A record's values in :data:`LEDGER_COLUMNS` order, then ``cost_pico``."""
    return (
        record.v,
        _ts(record.ts),
        record.session_id,
        record.provider,
        record.model,
        record.model_answered,
        record.request_id,
        record.prompt,
        record.completion,
        record.total,
        record.cache_read,
        record.cache_write,
        record.reasoning,
        record.cost,
        record.pricing_as_of,
        record.priced,
        record.complete,
        record.estimated,
        _json(record.tags),
        record.id,
        record.latency_s,
        _json(record.tool_calls),
        _json(record.warnings),
        to_pico(record.cost),
    )


def _record(row: Sequence[Any]) -> UsageRecord:
    """The record a stored row (:data:`LEDGER_COLUMNS` order: the record's fields) holds."""
    fields = dict(zip(LEDGER_COLUMNS, row, strict=True))
    fields["ts"] = datetime.fromisoformat(fields["ts"])
    for flag in ("priced", "complete", "estimated"):
        fields[flag] = bool(fields[flag])
    tags, calls, warnings = fields["tags"], fields["tool_calls"], fields["warnings"]
    fields["tags"] = json.loads(tags) if tags != "{}" else {}
    fields["tool_calls"] = tuple(json.loads(calls)) if calls != "[]" else ()
    fields["warnings"] = tuple(json.loads(warnings)) if warnings != "[]" else ()
    return UsageRecord(**fields)


def _window(start: datetime | None, end: datetime | None) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) for ``start <= ts < end``."""
    where: list[str] = []
    args: list[Any] = []
    if start is not None:
        where.append("ts >= ?")
        args.append(_ts(start))
    if end is not None:
        where.append("ts < ?")
        args.append(_ts(end))
    return where, args


def _where(conditions: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


class SqliteLedger(LedgerBackend):
    """A ledger in a SQLite database file (created with its tables when absent).

    Nothing is opened until first use; every failure to open, read or write the file raises
    :class:`~llmorch.ledger.base.LedgerUnavailableError` naming it.

    Args:
        path: The database file (relative paths resolve against the working directory now).
    """

    blocking = True
    shared = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.url = f"sqlite:///{self.path}"
        self._pool = _Pool()
        self._schema_ready = False
        weakref.finalize(self, self._pool.close)

    # -- connections --

    def _unavailable(self, what: str, exc: BaseException) -> LedgerUnavailableError:
        hint = ""
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            hint = " (another process held the database's write lock too long)"
        return LedgerUnavailableError(
            f"the SQLite ledger {self.path} could not {what}: {exc}{hint}"
        )

    @contextlib.contextmanager
    def _connection(self, what: str) -> Iterator[sqlite3.Connection]:
        """An idle connection (or a new one) for one operation; sqlite3 errors become ours."""
        conn, token = self._pool.take()
        if conn is None:
            conn = self._open()
        try:
            yield conn
        except sqlite3.Error as exc:
            self._pool.discard(conn, token)  # it may be broken: the next call opens another
            raise self._unavailable(what, exc) from exc
        except BaseException:
            self._pool.give_back(conn, token)
            raise
        self._pool.give_back(conn, token)

    def _open(self) -> sqlite3.Connection:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=_SETUP_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,  # taken per operation, by whichever thread
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable("open the database", exc) from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if not self._schema_ready:
                self._create_schema(conn)
                self._schema_ready = True
        except sqlite3.Error as exc:
            conn.close()
            raise self._unavailable("open the database", exc) from exc
        except LedgerUnavailableError:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(_SCHEMA):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO llmorch_meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
            (version,) = conn.execute(
                "SELECT value FROM llmorch_meta WHERE key = 'schema_version'"
            ).fetchone()
            if int(version) > SCHEMA_VERSION:
                raise LedgerUnavailableError(
                    f"the SQLite ledger {self.path} has schema version {version}, written by "
                    f"a newer llmorch (this one knows version {SCHEMA_VERSION})"
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _transaction(
        self, what: str, timeout_ms: int, *, write: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` when writing), rolled back on any error."""
        with self._connection(what) as conn:
            conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the idle connections; those in use close when their operation ends.

        The next call opens new ones.
        """
        self._pool.close()

    # -- records --

    def write(self, entries: Sequence[Entry]) -> None:
        """Store records and settle their holds in one transaction (see the base class).

        Args:
            entries: The records.

        Raises:
            LedgerUnavailableError: The file could not be written (nothing was stored).
        """
        if not entries:
            return
        rows = [_row(entry.record) for entry in entries]
        with self._transaction("store records", WRITE_TIMEOUT_MS) as conn:
            if all(entry.hold is None for entry in entries):
                conn.executemany(_INSERT, rows)
                return
            for entry, row in zip(entries, rows, strict=True):
                hold = entry.hold
                if hold is None:
                    conn.execute(_INSERT, row)
                    continue
                for claim in hold.claims:  # seeded before the record is in the table
                    _budget_spent(conn, claim)
                if conn.execute(_INSERT, row).rowcount == 1:
                    cost_pico = row[-1]
                    conn.executemany(
                        "UPDATE llmorch_budgets SET spent_pico = spent_pico + ? "
                        'WHERE budget = ? AND "window" = ?',
                        [(cost_pico, claim.budget, claim.window) for claim in hold.claims],
                    )
                conn.execute("DELETE FROM llmorch_holds WHERE id = ?", (hold.id,))

    def iter_records(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[UsageRecord]:
        """The records with ``start <= ts < end``, in timestamp order, read in batches.

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.

        Yields:
            The records.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        where, args = _window(start, end)
        sql = f"{_SELECT}{_where(where)} ORDER BY ts, rowid"
        with (
            self._connection("read records") as conn,
            contextlib.closing(conn.execute(sql, args)) as cursor,
        ):
            while rows := cursor.fetchmany(_FETCH):
                for row in rows:
                    yield _record(row)

    def aggregate(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        by_tags: Sequence[str] = (),
    ) -> Aggregate:
        """Sum the records in a window, in the database.

        Whole UTC days of the window are read from the daily sums that triggers keep up to
        date on every insert and delete (one row per day, provider, model and session, and
        per day and tag value); the part of a day at either end of the window is summed from
        the records with ``GROUP BY``. Every SQL sum covers at most one day, so none overflows.

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.
            by_tags: Tag names to group by as well.

        Returns:
            The sums.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        days, edges = _split(start, end)
        agg = Aggregate()
        with self._transaction("aggregate records", WRITE_TIMEOUT_MS, write=False) as conn:
            queries: list[tuple[str, list[Any]]] = []
            if days is not None:
                where, args = _days(days)
                queries.append((f"{_DAILY}{_where(where)}", args))
            for lo, hi in edges:
                where, args = _window(lo, hi)
                queries.append((f"{_DAILY_RAW}{_where(where)}{_DAILY_GROUP}", args))
            for sql, args in queries:
                _add_rows(agg, conn.execute(sql, args))
            for tag in by_tags:
                groups: dict[str, Bucket] = {}
                if days is not None:
                    where, args = _days(days)
                    sql = f"{_TAGS}{_where(['tag = ?', *where])}"
                    _add_buckets(groups, conn.execute(sql, [tag, *args]))
                for lo, hi in edges:
                    where, args = _window(lo, hi)
                    sql = f"{_TAGS_RAW}{_where(['t.key = ?', 't.value IS NOT NULL', *where])}"
                    _add_buckets(groups, conn.execute(f"{sql}{_TAGS_GROUP}", [tag, *args]))
                if groups:
                    agg.tags[tag] = groups
        return agg

    def count(self) -> int:
        """The number of records stored.

        Returns:
            The count.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        with self._connection("count records") as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM llmorch_records").fetchone()
        return int(n)

    # -- budgets --

    def reserve(self, hold: Hold, now: float) -> BudgetState | None:
        """Reserve a hold against its claims in one ``BEGIN IMMEDIATE`` transaction.

        Args:
            hold: The reservation.
            now: The current Unix time.

        Returns:
            ``None`` when reserved, else the state of the first budget it would pass (then no
            reservation is stored; the budget rows it created, seeded, are kept).

        Raises:
            LedgerUnavailableError: The file could not be written, or another process held
                its write lock for more than :data:`RESERVE_TIMEOUT_MS`.
        """
        if not hold.claims:
            return None
        budgets = sorted({claim.budget for claim in hold.claims})
        with self._transaction("reserve a budget", RESERVE_TIMEOUT_MS) as conn:
            conn.execute(
                "DELETE FROM llmorch_holds WHERE expires_at <= ? "
                f"AND budget IN ({', '.join('?' * len(budgets))})",
                (now, *budgets),
            )
            for claim in hold.claims:
                spent = _budget_spent(conn, claim)
                conn.execute(
                    'UPDATE llmorch_budgets SET limit_pico = ? WHERE budget = ? AND "window" = ?',
                    (claim.limit_pico, claim.budget, claim.window),
                )
                reserved = _reserved(conn, claim, now)
                if spent + reserved + hold.amount_pico > claim.limit_pico:
                    return BudgetState(
                        claim.budget, claim.window, claim.limit_pico, spent, reserved
                    )
            conn.executemany(
                'INSERT OR REPLACE INTO llmorch_holds (id, budget, "window", amount_pico, '
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (hold.id, claim.budget, claim.window, hold.amount_pico, hold.expires_at)
                    for claim in hold.claims
                ],
            )
        return None

    def release(self, hold_id: str) -> None:
        """Drop a reservation (unknown ids are ignored).

        Args:
            hold_id: The hold's id.

        Raises:
            LedgerUnavailableError: The file could not be written.
        """
        with self._transaction("release a reservation", WRITE_TIMEOUT_MS) as conn:
            conn.execute("DELETE FROM llmorch_holds WHERE id = ?", (hold_id,))

    def budget_state(self, claims: Sequence[Claim], now: float) -> list[BudgetState]:
        """The windows' spend (from their rows, or the records when absent) and live holds.

        Args:
            claims: The windows.
            now: The current Unix time.

        Returns:
            One state per claim.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        with self._transaction("read budgets", WRITE_TIMEOUT_MS, write=False) as conn:
            return [
                BudgetState(
                    claim.budget,
                    claim.window,
                    claim.limit_pico,
                    _budget_spent(conn, claim, create=False),
                    _reserved(conn, claim, now),
                )
                for claim in claims
            ]

    # -- cooldowns --

    def bench(self, provider: str, model: str, until: float) -> None:
        """Skip a model on every process using this file until a time (a later one wins).

        Args:
            provider: The configured provider name.
            model: The model id.
            until: Unix time.

        Raises:
            LedgerUnavailableError: The file could not be written.
        """
        with self._transaction("bench a model", RESERVE_TIMEOUT_MS) as conn:
            conn.execute(
                "INSERT INTO llmorch_cooldowns (provider, model, until) VALUES (?, ?, ?) "
                "ON CONFLICT (provider, model) DO UPDATE SET until = max(until, excluded.until)",
                (provider, model, until),
            )

    def benched(self, provider: str, now: float) -> dict[str, float]:
        """The models of a provider benched past ``now`` by any process.

        Args:
            provider: The configured provider name.
            now: The current Unix time.

        Returns:
            Model id → Unix time.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        with self._connection("read cooldowns") as conn:
            rows = conn.execute(
                "SELECT model, until FROM llmorch_cooldowns WHERE provider = ? AND until > ?",
                (provider, now),
            ).fetchall()
        return {model: float(until) for model, until in rows}


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def _midnight(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def _split(
    start: datetime | None, end: datetime | None
) -> tuple[tuple[str | None, str | None] | None, list[tuple[datetime | None, datetime | None]]]:
    """A window as the whole UTC days in it and the part-day ranges at its ends.

    Returns:
        ``(first day, day after the last)`` as ISO dates (``None``: unbounded), or ``None``
        when the window holds no whole day; and the ``[lo, hi)`` ranges not covered by them.
    """
    lo = hi = None
    if start is not None:
        start = _utc(start)
        lo = _midnight(start)
        if lo < start:
            lo += timedelta(days=1)
    if end is not None:
        end = _utc(end)
        hi = _midnight(end)
    if lo is not None and hi is not None and lo >= hi:
        return None, [(start, end)]
    edges: list[tuple[datetime | None, datetime | None]] = []
    if start is not None and lo is not None and start < lo:
        edges.append((start, lo))
    if end is not None and hi is not None and hi < end:
        edges.append((hi, end))
    days = (lo.date().isoformat() if lo else None, hi.date().isoformat() if hi else None)
    return days, edges


def _days(days: tuple[str | None, str | None]) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) on the daily sums' ``day``."""
    where: list[str] = []
    args: list[Any] = []
    if days[0] is not None:
        where.append("day >= ?")
        args.append(days[0])
    if days[1] is not None:
        where.append("day < ?")
        args.append(days[1])
    return where, args


# The daily sums, and the same sums taken from the records (for part days).
_DAILY = (
    "SELECT provider, model, session_id, day, requests, tokens, cost_pico, unpriced "
    "FROM llmorch_daily"
)
_DAILY_RAW = (
    f"SELECT provider, model, session_id, {_DAY} AS day, COUNT(*), SUM(total), SUM(cost_pico), "
    "SUM(priced = 0) FROM llmorch_records"
)
_DAILY_GROUP = " GROUP BY provider, model, session_id, day"
_TAGS = "SELECT value, requests, tokens, cost_pico FROM llmorch_daily_tags"
_TAGS_RAW = (
    "SELECT t.value, COUNT(*), SUM(total), SUM(cost_pico) "
    "FROM llmorch_records, json_each(llmorch_records.tags) AS t"
)
_TAGS_GROUP = f" GROUP BY t.value, {_DAY}"


def _add_rows(agg: Aggregate, rows: Iterable[tuple[Any, ...]]) -> None:
    """Count (provider, model, session, day, requests, tokens, cost, unpriced) sums in."""
    total, groups = agg.total, agg.groups
    for provider, model, session, day, n, tokens, pico, unpriced in rows:
        total.add(tokens, pico, n)
        agg.unpriced += unpriced
        for name, key in zip(GROUPS, (provider, f"{provider}/{model}", session, day), strict=True):
            group = groups[name]
            bucket = group.get(key)
            if bucket is None:
                bucket = group[key] = Bucket()
            bucket.add(tokens, pico, n)


def _add_buckets(groups: dict[str, Bucket], rows: Iterable[tuple[Any, ...]]) -> None:
    """Count (key, requests, tokens, cost) sums in."""
    for key, n, tokens, pico in rows:
        bucket = groups.get(key)
        if bucket is None:
            bucket = groups[key] = Bucket()
        bucket.add(tokens, pico, n)


def _seed(conn: sqlite3.Connection, claim: Claim) -> int:
    """The recorded spend a budget counts in its window.

    A budget matching on provider, model and session (or on one tag alone) is summed from the
    daily sums for whole days; any other match, and part days, from the records.
    """
    match = claim.match
    columns = [
        (column, value)
        for column, value in (
            ("provider", match.provider),
            ("model", match.model),
            ("session_id", match.session),
        )
        if value is not None
    ]
    days, edges = _split(claim.start, claim.end)
    if match.tags and (columns or len(match.tags) > 1):
        days, edges = None, [(claim.start, claim.end)]
    queries: list[tuple[str, list[Any]]] = []
    if days is not None:
        where, args = _days(days)
        if match.tags:
            ((tag, value),) = match.tags.items()
            where += ["tag = ?", "value = ?"]
            args += [tag, value]
            table = "llmorch_daily_tags"
        else:
            where += [f"{column} = ?" for column, _ in columns]
            args += [value for _, value in columns]
            table = "llmorch_daily"
        queries.append((f"SELECT SUM(cost_pico) FROM {table}{_where(where)} GROUP BY day", args))
    for lo, hi in edges:
        where, args = _window(lo, hi)
        where += [f"{column} = ?" for column, _ in columns]
        args += [value for _, value in columns]
        for key, value in match.tags.items():
            where.append(
                "EXISTS (SELECT 1 FROM json_each(llmorch_records.tags) WHERE key = ? AND value = ?)"
            )
            args += [key, value]
        queries.append(
            (f"SELECT SUM(cost_pico) FROM llmorch_records{_where(where)} GROUP BY {_DAY}", args)
        )
    # Per day, summed here: no SQL integer sum can overflow.
    return sum(pico for sql, args in queries for (pico,) in conn.execute(sql, args))


def _budget_spent(conn: sqlite3.Connection, claim: Claim, *, create: bool = True) -> int:
    """A budget window's spend; its row is created (seeded from the records) when absent."""
    row = conn.execute(
        'SELECT spent_pico FROM llmorch_budgets WHERE budget = ? AND "window" = ?',
        (claim.budget, claim.window),
    ).fetchone()
    if row is not None:
        return int(row[0])
    spent = _seed(conn, claim)
    if create:
        conn.execute(
            'INSERT INTO llmorch_budgets (budget, "window", limit_pico, spent_pico) '
            "VALUES (?, ?, ?, ?)",
            (claim.budget, claim.window, claim.limit_pico, spent),
        )
    return spent


def _reserved(conn: sqlite3.Connection, claim: Claim, now: float) -> int:
    """The live reservations of a budget window."""
    (reserved,) = conn.execute(
        'SELECT COALESCE(SUM(amount_pico), 0) FROM llmorch_holds WHERE budget = ? AND "window" = ? '
        "AND expires_at > ?",
        (claim.budget, claim.window, now),
    ).fetchone()
    return int(reserved)
