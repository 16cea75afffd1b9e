"""The SQLite ledger: one database file shared by every process on a machine (stdlib ``sqlite3``).

The file is in WAL mode, so readers never wait for writers and writers wait only for each other.
Every write and every reservation is one ``BEGIN IMMEDIATE`` transaction: it takes the
database's write lock first, so two processes reserving against one budget are serialised by
SQLite and neither can pass the limit. A reservation waits at most
:data:`RESERVE_TIMEOUT_MS` for that lock (never queuing behind a long write); a write waits
at most :data:`WRITE_TIMEOUT_MS`. Commits are ``synchronous=NORMAL``: a committed record
survives the process being killed; the last commits may be lost on power loss.

Each thread has its own connection (``sqlite3`` connections must not be shared by threads at
once), and a process forked from one using the ledger opens its own: a SQLite connection never
crosses ``fork()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
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

WRITE_TIMEOUT_MS = 2000
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
"""

_COLUMNS = ", ".join(LEDGER_COLUMNS)
_INSERT = (
    f"INSERT INTO llmorch_records ({_COLUMNS}, cost_pico) "
    f"VALUES ({', '.join('?' * (len(LEDGER_COLUMNS) + 1))}) ON CONFLICT (id) DO NOTHING"
)
_SELECT = f"SELECT {_COLUMNS} FROM llmorch_records"
_DAY = "substr(ts, 1, 10)"  # the UTC date of a stored timestamp

# Connections inherited through fork(): never used nor closed in the child (closing one there
# could disturb the parent's locks), only kept from being garbage-collected.
_INHERITED: list[sqlite3.Connection] = []


def _ts(ts: datetime) -> str:
    """A timestamp as stored: fixed-width UTC ISO-8601, so text order is time order."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
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
        _json(dict(record.tags)),
        record.id,
        record.latency_s,
        _json(list(record.tool_calls)),
        _json(list(record.warnings)),
        to_pico(record.cost),
    )


def _record(row: Sequence[Any]) -> UsageRecord:
    """The record a stored row (:data:`LEDGER_COLUMNS` order) holds."""
    (
        v,
        ts,
        session_id,
        provider,
        model,
        model_answered,
        request_id,
        prompt,
        completion,
        total,
        cache_read,
        cache_write,
        reasoning,
        cost,
        pricing_as_of,
        priced,
        complete,
        estimated,
        tags,
        record_id,
        latency_s,
        tool_calls,
        warnings,
    ) = row
    return UsageRecord(
        ts=datetime.fromisoformat(ts),
        session_id=session_id,
        provider=provider,
        model=model,
        prompt=prompt,
        completion=completion,
        total=total,
        cost=cost,
        model_answered=model_answered,
        request_id=request_id,
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
        pricing_as_of=pricing_as_of,
        priced=bool(priced),
        complete=bool(complete),
        estimated=bool(estimated),
        tags=json.loads(tags),
        v=v,
        id=record_id,
        latency_s=latency_s,
        tool_calls=tuple(json.loads(tool_calls)),
        warnings=tuple(json.loads(warnings)),
    )


def _window(
    start: datetime | None, end: datetime | None, column: str = "ts"
) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) for ``start <= ts < end``."""
    where: list[str] = []
    args: list[Any] = []
    if start is not None:
        where.append(f"{column} >= ?")
        args.append(_ts(start))
    if end is not None:
        where.append(f"{column} < ?")
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
        self._local = threading.local()
        self._lock = threading.Lock()  # guards the fields below
        self._pid = os.getpid()
        self._conns: list[sqlite3.Connection] = []  # every thread's, to close them all
        self._generation = 0  # bumped by close(): threads then open new connections
        self._schema_ready = False

    # -- connections --

    def _unavailable(self, what: str, exc: BaseException) -> LedgerUnavailableError:
        hint = ""
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            hint = " (another process held the database's write lock too long)"
        return LedgerUnavailableError(
            f"the SQLite ledger {self.path} could not {what}: {exc}{hint}"
        )

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and anew after fork or close)."""
        pid = os.getpid()
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.key == (pid, self._generation):
            return conn
        with self._lock:
            if self._pid != pid:
                _INHERITED.extend(self._conns)
                self._conns = []
                self._pid = pid
            conn = self._open()
            self._conns.append(conn)
            local.conn, local.key = conn, (pid, self._generation)
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=_SETUP_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,  # close() closes every thread's connection
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._unavailable("open the database", exc) from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            if not self._schema_ready:
                self._create_schema(conn)
                self._schema_ready = True
        except (sqlite3.Error, LedgerUnavailableError) as exc:
            conn.close()
            if isinstance(exc, LedgerUnavailableError):
                raise
            raise self._unavailable("open the database", exc) from exc
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
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
            conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _transaction(
        self, what: str, timeout_ms: int, *, write: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` when writing); sqlite3 errors become ours."""
        conn = self._connection()
        try:
            conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise self._unavailable(what, exc) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._unavailable(what, exc) from exc
            raise

    def close(self) -> None:
        """Close every thread's connection (the next call opens new ones)."""
        with self._lock:
            if self._pid == os.getpid():
                for conn in self._conns:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
            else:
                _INHERITED.extend(self._conns)
            self._conns = []
            self._generation += 1

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
            for entry, row in zip(entries, rows):
                hold = entry.hold
                if hold is None:
                    conn.execute(_INSERT, row)
                    continue
                for claim in hold.claims:  # seeded before the record is in the table
                    _budget_spent(conn, claim)
                if conn.execute(_INSERT, row).rowcount == 1:
                    conn.executemany(
                        'UPDATE llmorch_budgets SET spent_pico = spent_pico + ? '
                        'WHERE budget = ? AND "window" = ?',
                        [(row[-1], claim.budget, claim.window) for claim in hold.claims],
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
        try:
            cursor = self._connection().execute(
                f"{_SELECT}{_where(where)} ORDER BY ts, rowid", args
            )
        except sqlite3.Error as exc:
            raise self._unavailable("read records", exc) from exc
        with contextlib.closing(cursor):
            while True:
                try:
                    rows = cursor.fetchmany(_FETCH)
                except sqlite3.Error as exc:
                    raise self._unavailable("read records", exc) from exc
                if not rows:
                    return
                for row in rows:
                    yield _record(row)

    def aggregate(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        by_tags: Sequence[str] = (),
    ) -> Aggregate:
        """Sum the records in a window with ``GROUP BY`` in the database.

        Sums are taken per (provider, model, session, day) in SQL and added up here, so that
        no SQL integer sum can overflow and each grouping costs one pass over the table.

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.
            by_tags: Tag names to group by as well.

        Returns:
            The sums.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        where, args = _window(start, end)
        agg = Aggregate()
        total, groups = agg.total, agg.groups
        with self._transaction("aggregate records", WRITE_TIMEOUT_MS, write=False) as conn:
            rows = conn.execute(
                f"SELECT provider, model, session_id, {_DAY} AS day, COUNT(*), SUM(total), "
                f"SUM(cost_pico), SUM(priced = 0) FROM llmorch_records{_where(where)} "
                "GROUP BY provider, model, session_id, day",
                args,
            )
            for provider, model, session, day, n, tokens, pico, unpriced in rows:
                total.add(tokens, pico, n)
                agg.unpriced += unpriced
                for name, key in zip(GROUPS, (provider, f"{provider}/{model}", session, day)):
                    group = groups[name]
                    bucket = group.get(key)
                    if bucket is None:
                        bucket = group[key] = Bucket()
                    bucket.add(tokens, pico, n)
            for tag in by_tags:
                agg.tags[tag] = _tag_groups(conn, tag, where, args)
        return agg

    def count(self) -> int:
        """The number of records stored.

        Returns:
            The count.

        Raises:
            LedgerUnavailableError: The file could not be read.
        """
        try:
            (n,) = self._connection().execute("SELECT COUNT(*) FROM llmorch_records").fetchone()
        except sqlite3.Error as exc:
            raise self._unavailable("count records", exc) from exc
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
        try:
            rows = (
                self._connection()
                .execute(
                    "SELECT model, until FROM llmorch_cooldowns WHERE provider = ? AND until > ?",
                    (provider, now),
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise self._unavailable("read cooldowns", exc) from exc
        return {model: float(until) for model, until in rows}


def _tag_groups(
    conn: sqlite3.Connection, tag: str, where: list[str], args: list[Any]
) -> dict[str, Bucket]:
    """Sums per value of one tag (records without it are in no group)."""
    conditions = ["t.key = ?", "t.value IS NOT NULL", *where]
    groups: dict[str, Bucket] = {}
    rows = conn.execute(
        f"SELECT t.value, COUNT(*), SUM(total), SUM(cost_pico) "
        f"FROM llmorch_records, json_each(llmorch_records.tags) AS t{_where(conditions)} "
        f"GROUP BY t.value, {_DAY}",
        [tag, *args],
    )
    for value, n, tokens, pico in rows:
        bucket = groups.get(value)
        if bucket is None:
            bucket = groups[value] = Bucket()
        bucket.add(tokens, pico, n)
    return groups


def _match(claim: Claim) -> tuple[list[str], list[Any]]:
    """SQL conditions for the records a claim's budget counts in its window."""
    where, args = _window(claim.start, claim.end)
    match = claim.match
    for column, value in (
        ("provider", match.provider),
        ("model", match.model),
        ("session_id", match.session),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    for key, value in match.tags.items():
        where.append(
            "EXISTS (SELECT 1 FROM json_each(llmorch_records.tags) WHERE key = ? AND value = ?)"
        )
        args += [key, value]
    return where, args


def _budget_spent(conn: sqlite3.Connection, claim: Claim, *, create: bool = True) -> int:
    """A budget window's spend; its row is created (seeded from the records) when absent."""
    row = conn.execute(
        'SELECT spent_pico FROM llmorch_budgets WHERE budget = ? AND "window" = ?',
        (claim.budget, claim.window),
    ).fetchone()
    if row is not None:
        return int(row[0])
    where, args = _match(claim)
    # Per day, summed here: no SQL integer sum can overflow.
    spent = sum(
        pico
        for (pico,) in conn.execute(
            f"SELECT SUM(cost_pico) FROM llmorch_records{_where(where)} GROUP BY {_DAY}", args
        )
    )
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
