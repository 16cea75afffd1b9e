"""The PostgreSQL ledger (``postgresql://...``, ``llmorch[postgres]``): the ledger of a fleet.

Every process of a fleet points at one database. Records, budget windows, reservations and
cooldowns live in five tables (``llmorch_records``, ``llmorch_budgets``, ``llmorch_holds``,
``llmorch_cooldowns``, ``llmorch_meta``) and one function (``llmorch_reserve``), created on
first use. A reservation is one statement, its own transaction, that locks its budget rows in
(budget, window) order: the rows stay locked only while the server runs it, a reservation never
waits more than 250 ms for a lock (``lock_timeout``; then the ledger counts as unavailable) and
never deadlocks. Reports are SQL aggregations with integer pico-dollar sums.

Connections come from a :class:`psycopg_pool.ConnectionPool` opened on first use (the
constructor never connects). A connection that died with the server or the network is dropped
when next taken, so the first call after an outage works again; a forked child opens a pool of
its own and never touches its parent's connections. Every driver error becomes
:class:`~llmorch.ledger.base.LedgerUnavailableError`, naming the URL without its password.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

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
from llmorch.ledger.records import SCHEMA_VERSION
from llmorch.types import UsageRecord

__all__ = ["PostgresLedger"]

CONNECT_TIMEOUT_S = 3
"""How long one connection attempt may take (libpq ``connect_timeout``)."""

POOL_TIMEOUT_S = 3.0
"""How long a call waits for a connection before the ledger counts as unavailable."""

POOL_MAX_SIZE = 8
"""Connections per process."""

RESERVE_LOCK_TIMEOUT = "250ms"
"""How long a reservation may wait for a budget row another transaction holds."""

WRITE_LOCK_TIMEOUT = "5s"
"""How long a write may wait for a budget row (reservations hold them for milliseconds)."""

_SCHEMA_LOCK_KEY = 0x6C6C6D6F7263  # pg_advisory_xact_lock key: "llmorc"

_POOL_NAME = "llmorch-ledger"

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "text"),
    ("v", "integer"),
    ("ts", "timestamptz"),
    ("session_id", "text"),
    ("provider", "text"),
    ("model", "text"),
    ("model_answered", "text"),
    ("request_id", "text"),
    ("prompt", "bigint"),
    ("completion", "bigint"),
    ("total", "bigint"),
    ("cache_read", "bigint"),
    ("cache_write", "bigint"),
    ("reasoning", "bigint"),
    ("cost", "double precision"),
    ("cost_pico", "bigint"),
    ("pricing_as_of", "text"),
    ("priced", "boolean"),
    ("complete", "boolean"),
    ("estimated", "boolean"),
    ("tags", "jsonb"),
    ("latency_s", "double precision"),
    ("tool_calls", "jsonb"),
    ("warnings", "jsonb"),
)
"""``llmorch_records``' columns, in the order rows are built (:func:`_row`)."""

_NULLABLE = frozenset({"model_answered", "request_id", "pricing_as_of", "latency_s"})

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS llmorch_records ("
    + ", ".join(
        f"{name} {kind}{'' if name in _NULLABLE else ' NOT NULL'}" for name, kind in _COLUMNS
    )
    # The UTC day, stored: reports group by it, and the planner gets its statistics.
    + ", day date GENERATED ALWAYS AS ((ts AT TIME ZONE 'UTC')::date) STORED"
    + ", PRIMARY KEY (id))",
    "CREATE INDEX IF NOT EXISTS llmorch_records_ts ON llmorch_records (ts)",
    (
        'CREATE TABLE IF NOT EXISTS llmorch_budgets (budget text NOT NULL, "window" text NOT NULL, '
        'limit_pico bigint NOT NULL, spent_pico bigint NOT NULL, PRIMARY KEY (budget, "window"))'
    ),
    (
        "CREATE TABLE IF NOT EXISTS llmorch_holds (id text NOT NULL, budget text NOT NULL, "
        '"window" text NOT NULL, amount_pico bigint NOT NULL, '
        "expires_at double precision NOT NULL, PRIMARY KEY (id, budget))"
    ),
    'CREATE INDEX IF NOT EXISTS llmorch_holds_budget ON llmorch_holds (budget, "window")',
    (
        "CREATE TABLE IF NOT EXISTS llmorch_cooldowns (provider text NOT NULL, "
        'model text NOT NULL, "until" double precision NOT NULL, PRIMARY KEY (provider, model))'
    ),
    "CREATE TABLE IF NOT EXISTS llmorch_meta (key text PRIMARY KEY, value text NOT NULL)",
)

_NAMES = ", ".join(name for name, _ in _COLUMNS)

COPY_ABOVE = 64
"""Batches larger than this travel by ``COPY`` through a temporary table (bulk loads)."""

# A small batch is one statement: each column travels as one array (JSON ones as text).
_INSERT_ARRAYS = (
    f"INSERT INTO llmorch_records ({_NAMES}) SELECT "
    + ", ".join(f"u.{name}::jsonb" if kind == "jsonb" else f"u.{name}" for name, kind in _COLUMNS)
    + " FROM unnest("
    + ", ".join(f"%s::{'text' if kind == 'jsonb' else kind}[]" for _, kind in _COLUMNS)
    + f") AS u ({_NAMES}) ON CONFLICT (id) DO NOTHING"
)

# A large one is copied into a temporary table of this session first.
_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS llmorch_stage (LIKE llmorch_records) "
    "ON COMMIT DELETE ROWS"
)
_COPY = f"COPY llmorch_stage ({_NAMES}) FROM STDIN"
_INSERT_STAGE = (
    f"INSERT INTO llmorch_records ({_NAMES}) SELECT {_NAMES} FROM llmorch_stage "
    "ON CONFLICT (id) DO NOTHING"
)

# A budget window's row, created when absent with the spend of the records it matches.
_SEED = (
    'INSERT INTO llmorch_budgets (budget, "window", limit_pico, spent_pico) '
    "SELECT %s, %s, %s, COALESCE(SUM(cost_pico), 0) FROM llmorch_records"
)

# A reservation, run by the server in one call: lock the budget rows in (budget, window) order
# (waiting at most the lock timeout), then — each statement with a snapshot taken after the
# locks, so it sees every reservation committed by the transactions it waited for — drop the
# expired holds, keep the limits as configured now, check every claim and store the hold only
# when all fit. The commit need not wait for the disk: the locks go as soon as it is decided.
_RESERVE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION llmorch_reserve(
    p_id text, p_amount bigint, p_expires double precision, p_now double precision,
    p_budgets text[], p_windows text[], p_limits bigint[]
) RETURNS TABLE (r_budget text, r_window text, r_spent bigint, r_reserved bigint, r_fits boolean)
LANGUAGE plpgsql SET lock_timeout = '{RESERVE_LOCK_TIMEOUT}' AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM llmorch_budgets b
        JOIN unnest(p_budgets, p_windows) AS k (budget, "window")
        ON b.budget = k.budget AND b."window" = k."window"
        ORDER BY b.budget, b."window" FOR UPDATE OF b;
    DELETE FROM llmorch_holds h WHERE h.budget = ANY(p_budgets) AND h.expires_at <= p_now;
    UPDATE llmorch_budgets b SET limit_pico = k.limit_pico
        FROM unnest(p_budgets, p_windows, p_limits) AS k (budget, "window", limit_pico)
        WHERE b.budget = k.budget AND b."window" = k."window" AND b.limit_pico <> k.limit_pico;
    RETURN QUERY WITH state AS (
        SELECT b.budget, b."window", b.spent_pico, COALESCE(SUM(h.amount_pico), 0)::bigint AS held,
            b.spent_pico + COALESCE(SUM(h.amount_pico), 0) + p_amount <= b.limit_pico AS fits
        FROM llmorch_budgets b
        JOIN unnest(p_budgets, p_windows) AS k (budget, "window")
            ON b.budget = k.budget AND b."window" = k."window"
        LEFT JOIN llmorch_holds h
            ON h.budget = b.budget AND h."window" = b."window" AND h.expires_at > p_now
        GROUP BY b.budget, b."window", b.spent_pico, b.limit_pico
    ), added AS (
        INSERT INTO llmorch_holds (id, budget, "window", amount_pico, expires_at)
        SELECT p_id, s.budget, s."window", p_amount, p_expires FROM state s
        WHERE (SELECT count(*) = cardinality(p_budgets) AND bool_and(t.fits) FROM state t)
    )
    SELECT s.budget, s."window", s.spent_pico, s.held, s.fits FROM state s;
END
$$
"""


def _key(claim: Claim) -> tuple[str, str, int]:
    return claim.budget, claim.window, claim.limit_pico


# A record's columns, in :data:`_COLUMNS` order (without ``cost_pico``, derived from ``cost``).
_SELECTED = tuple(name for name, _ in _COLUMNS if name != "cost_pico")  # = UsageRecord fields
_SELECT = f"SELECT {', '.join(_SELECTED)} FROM llmorch_records"

# The forked-away pools of parent processes: kept referenced so that they are never
# garbage-collected (and their connections never closed) in the child.
_FORKED_AWAY: list[ConnectionPool[Any]] = []

# Ledgers with an open pool, closed at exit (a pool left to the garbage collector at
# interpreter shutdown complains that its threads did not stop).
_OPEN: weakref.WeakSet[PostgresLedger] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for ledger in list(_OPEN):
        ledger.close()


class _PoolErrors(logging.Filter):
    """Keeps psycopg_pool's warnings about the ledger's pools instead of logging them.

    During an outage the pool logs every failed attempt and every dead connection it drops;
    the tracker already warns once per outage and spools, so those lines would only repeat it.
    The pool's own error for a caller that waited says only that no connection came; the
    failure kept here says why.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[str, str] = {}
        self.connections: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        subject = args[0] if args else None
        if isinstance(subject, psycopg.Connection) and subject in self.connections:
            return record.levelno < logging.WARNING  # "discarding closed connection"
        name = subject if isinstance(subject, str) else ""
        if not name.startswith(_POOL_NAME):
            return True
        if len(args) > 1 and isinstance(args[1], Exception):
            self.last[name] = str(args[1])
        return record.levelno < logging.WARNING  # its debugging lines still show


_POOL_ERRORS = _PoolErrors()
logging.getLogger("psycopg.pool").addFilter(_POOL_ERRORS)


def _text(value: str) -> str:
    r"""A string PostgreSQL can store: a NUL character (which ``text`` refuses) becomes ``\x00``."""
    return value.replace("\x00", "\\x00") if "\x00" in value else value


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _json(value: object) -> str:
    r"""JSON text for a ``jsonb`` column (which refuses ``\u0000`` too)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\\u0000", "\\\\x00") if "\\u0000" in text else text


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts


def _row(record: UsageRecord) -> tuple[Any, ...]:
    """A record as the values of :data:`_COLUMNS`, in order."""
    return (
        _text(record.id),
        record.v,
        _utc(record.ts),
        _text(record.session_id),
        _text(record.provider),
        _text(record.model),
        _opt_text(record.model_answered),
        _opt_text(record.request_id),
        record.prompt,
        record.completion,
        record.total,
        record.cache_read,
        record.cache_write,
        record.reasoning,
        record.cost,
        to_pico(record.cost),
        _opt_text(record.pricing_as_of),
        record.priced,
        record.complete,
        record.estimated,
        _json(record.tags),
        record.latency_s,
        _json(list(record.tool_calls)),
        _json(list(record.warnings)),
    )


def _record(row: tuple[Any, ...]) -> UsageRecord:
    """A row of :data:`_SELECT` as a record (its column names are the record's fields)."""
    fields = dict(zip(_SELECTED, row, strict=True))
    fields["ts"] = fields["ts"].astimezone(timezone.utc)
    fields["tags"] = dict(fields["tags"])
    fields["tool_calls"] = tuple(fields["tool_calls"])
    fields["warnings"] = tuple(fields["warnings"])
    return UsageRecord(**fields)


def _window(start: datetime | None, end: datetime | None) -> tuple[list[str], list[Any]]:
    """``WHERE`` conditions (and their parameters) for ``start <= ts < end``."""
    where: list[str] = []
    params: list[Any] = []
    if start is not None:
        where.append("ts >= %s")
        params.append(_utc(start))
    if end is not None:
        where.append("ts < %s")
        params.append(_utc(end))
    return where, params


def _claim_filter(claim: Claim) -> tuple[str, list[Any]]:
    """The condition selecting the records a claim's budget counts in its window."""
    where, params = _window(claim.start, claim.end)
    match = claim.match
    for column, value in (
        ("provider", match.provider),
        ("model", match.model),
        ("session_id", match.session),
    ):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(_text(value))
    if match.tags:
        where.append("tags @> %s")
        params.append(Jsonb({_text(k): _text(v) for k, v in match.tags.items()}))
    return (" AND ".join(where) or "TRUE"), params


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


class PostgresLedger(LedgerBackend):
    """A ledger in a PostgreSQL database, shared by every process that uses it.

    Args:
        url: A libpq connection URL (``postgresql://user:password@host:5432/db``); it may carry
            a password, which is never shown.
        display: The URL as messages show it (password redacted).
    """

    blocking = True
    shared = True

    def __init__(self, url: str, *, display: str) -> None:
        self.url = display
        self._conninfo = url
        self._secret = _password(url)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._ready = False  # the tables were made (or found) by this process
        self._windows: set[tuple[str, str]] = set()  # budget rows known to exist

    # -- connections --

    def _unavailable(self, exc: BaseException, doing: str) -> LedgerUnavailableError:
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, PoolTimeout) and self._pool is not None:
            cause = _POOL_ERRORS.last.pop(self._pool.name, None)
            if cause:
                detail = f"{detail}; the last attempt: {cause}"
        detail = " ".join(detail.split())
        if self._secret:
            detail = detail.replace(self._secret, "***")
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            detail = f"budget rows stayed locked past {RESERVE_LOCK_TIMEOUT} ({detail})"
        return LedgerUnavailableError(f"the ledger {self.url} is unavailable ({doing}): {detail}")

    def _get_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        pid = os.getpid()
        if self._pid != pid:  # a forked child: the parent's connections are not ours
            if self._pool is not None:
                _FORKED_AWAY.append(self._pool)
            self._lock = threading.Lock()
            self._pool, self._pid, self._ready = None, pid, False
        with self._lock:
            if self._pool is None:
                pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                    self._conninfo,
                    kwargs=self._connect_kwargs(),
                    configure=_POOL_ERRORS.connections.add,
                    min_size=1,
                    max_size=POOL_MAX_SIZE,
                    open=False,
                    timeout=POOL_TIMEOUT_S,
                    # Give up on a failing connection attempt soon, so that the next call
                    # starts a fresh one at once instead of waiting out a long backoff.
                    reconnect_timeout=POOL_TIMEOUT_S,
                    name=f"{_POOL_NAME} {self.url}",
                )
                pool.open(wait=False)
                self._pool = pool
                _OPEN.add(self)
            return self._pool

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self._conninfo:  # the URL's own wins
            kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        return kwargs

    @contextlib.contextmanager
    def _connection(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        """A live connection (the tables made), every driver error as unavailability."""
        try:
            pool = self._get_pool()
            deadline = time.monotonic() + POOL_TIMEOUT_S
            conn = pool.getconn(timeout=POOL_TIMEOUT_S)
            # A connection that died with the server or the network fails this round trip;
            # given back, the pool drops it (and opens another), and the next one is tried.
            for _ in range(POOL_MAX_SIZE + 1):
                try:
                    conn.execute("")
                    break
                except psycopg.OperationalError:
                    pool.putconn(conn)
                    conn = pool.getconn(timeout=max(0.01, deadline - time.monotonic()))
        except psycopg.Error as exc:
            raise self._unavailable(exc, doing) from exc
        try:
            if not self._ready:
                self._create_tables(conn)
            yield conn
        except psycopg.Error as exc:
            raise self._unavailable(exc, doing) from exc
        finally:
            pool.putconn(conn)

    def _create_tables(self, conn: psycopg.Connection[Any]) -> None:
        """Create the tables when absent (one process at a time: an advisory lock)."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            for statement in (*_SCHEMA, _RESERVE_FUNCTION):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO llmorch_meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
        self._ready = True

    def close(self) -> None:
        """Close the pool's connections (a new pool opens on the next call)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close(timeout=1.0)

    # -- records --

    def write(self, entries: Sequence[Entry]) -> None:
        """Store records and settle their holds in one transaction (see :class:`LedgerBackend`).

        Args:
            entries: The records.

        Raises:
            LedgerUnavailableError: The database could not be reached or refused the write.
        """
        if not entries:
            return
        rows = [_row(entry.record) for entry in entries]
        holds = [entry for entry in entries if entry.hold is not None]
        with self._connection("writing records") as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{WRITE_LOCK_TIMEOUT}'")
            returning = " RETURNING id" if holds else ""
            if len(rows) > COPY_ABOVE:
                conn.execute(_STAGE)
                with conn.cursor() as cur:
                    with cur.copy(_COPY) as copy:
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(_INSERT_STAGE + returning)
                    stored = {row[0] for row in cur.fetchall()} if holds else set()
            else:
                columns = [list(values) for values in zip(*rows, strict=True)]
                cur = conn.execute(_INSERT_ARRAYS + returning, columns)
                stored = {row[0] for row in cur.fetchall()} if holds else set()
            if not holds:
                return
            delta: dict[tuple[str, str], tuple[Claim, int]] = {}
            for entry, row in zip(entries, rows, strict=True):
                if entry.hold is None or row[0] not in stored:
                    continue
                for claim in entry.hold.claims:
                    key = (claim.budget, claim.window)
                    old = delta.get(key, (claim, 0))[1]
                    delta[key] = (claim, old + row[15])  # row[15]: cost_pico
            for key in sorted(delta):
                claim, pico = delta[key]
                where, params = _claim_filter(claim)
                conn.execute(
                    _SEED + f' WHERE {where} ON CONFLICT (budget, "window") DO UPDATE '
                    "SET spent_pico = llmorch_budgets.spent_pico + %s",
                    (*_key(claim), *params, pico),
                )
            conn.execute(
                "DELETE FROM llmorch_holds WHERE id = ANY(%s)",
                ([entry.hold.id for entry in holds if entry.hold is not None],),
            )

    def iter_records(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[UsageRecord]:
        """The records in a window, in timestamp order, streamed by a server-side cursor.

        Args:
            start: Inclusive lower bound (UTC).
            end: Exclusive upper bound (UTC).

        Yields:
            The records.

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        where, params = _window(start, end)
        query = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY ts, id"
        with self._connection("reading records") as conn, conn.transaction():
            with conn.cursor(name="llmorch_records_scan") as cur:
                cur.itersize = 2000
                cur.execute(query, params)
                for row in cur:
                    yield _record(row)

    def aggregate(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        by_tags: Sequence[str] = (),
    ) -> Aggregate:
        """Sum the records in a window with one ``GROUP BY GROUPING SETS`` query.

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.
            by_tags: Tag names to group by as well.

        Returns:
            The sums (exact: integer pico-dollars).

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        where, params = _window(start, end)
        tags = list(dict.fromkeys(by_tags))
        keys = ["provider", "model", "session_id", "day"] + [f"t{i}" for i in range(len(tags))]
        # One scan, one hash table per grouping; totals and providers are summed from the
        # models here (exact: integers).
        sets = ["(provider, model)", "(session_id)", "(day)"] + [
            f"(t{i})" for i in range(len(tags))
        ]
        query = sql.SQL(
            "SELECT GROUPING({keys}), {keys}, count(*), SUM(total), SUM(cost_pico), "
            "count(*) FILTER (WHERE NOT priced) FROM ("
            "SELECT provider, model, session_id, day, total, cost_pico, priced{tag_columns} "
            "FROM llmorch_records{where}) AS r GROUP BY GROUPING SETS ({sets})"
        ).format(
            keys=sql.SQL(", ").join(sql.Identifier(key) for key in keys),
            tag_columns=sql.SQL("").join(
                sql.SQL(", tags ->> {} AS {}").format(tag, sql.Identifier(f"t{i}"))
                for i, tag in enumerate(tags)
            ),
            where=sql.SQL(f" WHERE {' AND '.join(where)}" if where else ""),
            sets=sql.SQL(", ".join(sets)),
        )
        with self._connection("reading a report") as conn, conn.transaction():
            # Hash every grouping in memory; a report is not worth compiling (JIT).
            conn.execute("SET LOCAL work_mem = '64MB'")
            conn.execute("SET LOCAL jit = off")
            rows = conn.execute(query, params).fetchall()
        return _fill(rows, len(keys), tags)

    def count(self) -> int:
        """The number of records stored.

        Returns:
            The count.

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        with self._connection("counting records") as conn:
            row = conn.execute("SELECT count(*) FROM llmorch_records").fetchone()
        return int(row[0]) if row else 0

    # -- budgets --

    def reserve(self, hold: Hold, now: float) -> BudgetState | None:
        """Reserve a hold against its budgets in one transaction (see :class:`LedgerBackend`).

        The budget rows are created when absent (seeded from the stored records); then one
        call of the ``llmorch_reserve`` function locks them in (budget, window) order, waiting
        at most 250 ms for another transaction's lock, and decides. The rows stay locked only
        while the server runs that one statement, never while this process waits for the CPU.
        Its commit does not wait for the disk (``synchronous_commit = off``): only a crash of
        the database server itself could lose the reservations of its last fraction of a
        second (records are always written durably).

        Args:
            hold: The reservation.
            now: The current Unix time.

        Returns:
            ``None`` when reserved, else the state of the first budget it would pass.

        Raises:
            LedgerUnavailableError: The database could not be reached, or a budget row stayed
                locked past the lock timeout.
        """
        if not hold.claims:
            return None
        claims = sorted(hold.claims, key=lambda c: (c.budget, c.window))
        with self._connection("reserving a budget") as conn:
            fresh = [c for c in claims if (c.budget, c.window) not in self._windows]
            if fresh:  # a window's first reservation here: create its row if absent
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = '{RESERVE_LOCK_TIMEOUT}'")
                    for claim in fresh:
                        where, params = _claim_filter(claim)
                        conn.execute(
                            _SEED + f" WHERE {where} ON CONFLICT DO NOTHING",
                            (*_key(claim), *params),
                        )
            # One statement (its own transaction): the rows are locked only while it runs.
            rows = conn.execute(
                "SELECT * FROM llmorch_reserve(%s, %s, %s, %s, %s, %s, %s)",
                (
                    hold.id,
                    hold.amount_pico,
                    hold.expires_at,
                    now,
                    [c.budget for c in claims],
                    [c.window for c in claims],
                    [c.limit_pico for c in claims],
                ),
            ).fetchall()
        found = {(r[0], r[1]): r for r in rows}
        if len(found) < len(claims):  # a budget row was deleted: create it again next time
            self._windows.difference_update((c.budget, c.window) for c in claims)
            raise LedgerUnavailableError(f"the ledger {self.url} lost a budget row; retry")
        self._windows.update(found)
        for claim in hold.claims:
            row = found[(claim.budget, claim.window)]
            if not row[4]:
                return BudgetState(
                    claim.budget, claim.window, claim.limit_pico, int(row[2]), int(row[3])
                )
        return None

    def release(self, hold_id: str) -> None:
        """Drop a reservation (unknown ids are ignored).

        Args:
            hold_id: :attr:`Hold.id`.

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        with self._connection("releasing a reservation") as conn:
            conn.execute("DELETE FROM llmorch_holds WHERE id = %s", (hold_id,))

    def budget_state(self, claims: Sequence[Claim], now: float) -> list[BudgetState]:
        """The spend and live reservations of budget windows (no row is created).

        Args:
            claims: The windows.
            now: The current Unix time.

        Returns:
            One state per claim, in order.

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        states: list[BudgetState] = []
        with self._connection("reading budgets") as conn, conn.transaction():
            for claim in claims:
                row = conn.execute(
                    'SELECT spent_pico FROM llmorch_budgets WHERE budget = %s AND "window" = %s',
                    (claim.budget, claim.window),
                ).fetchone()
                if row is None:  # not reserved against yet: what the records say
                    where, params = _claim_filter(claim)
                    row = conn.execute(
                        f"SELECT COALESCE(SUM(cost_pico), 0) FROM llmorch_records WHERE {where}",
                        params,
                    ).fetchone()
                held = conn.execute(
                    "SELECT COALESCE(SUM(amount_pico), 0) FROM llmorch_holds "
                    'WHERE budget = %s AND "window" = %s AND expires_at > %s',
                    (claim.budget, claim.window, now),
                ).fetchone()
                states.append(
                    BudgetState(
                        claim.budget,
                        claim.window,
                        claim.limit_pico,
                        int(row[0]) if row else 0,
                        int(held[0]) if held else 0,
                    )
                )
        return states

    # -- cooldowns --

    def bench(self, provider: str, model: str, until: float) -> None:
        """Skip a model on every instance until a time (a later time already stored wins).

        Args:
            provider: The configured provider name.
            model: The model id.
            until: Unix time.

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        with self._connection("benching a model") as conn:
            conn.execute(
                'INSERT INTO llmorch_cooldowns (provider, model, "until") VALUES (%s, %s, %s) '
                'ON CONFLICT (provider, model) DO UPDATE SET "until" = '
                'GREATEST(llmorch_cooldowns."until", EXCLUDED."until")',
                (_text(provider), _text(model), until),
            )

    def benched(self, provider: str, now: float) -> dict[str, float]:
        """The models of a provider benched past ``now`` by any instance.

        Args:
            provider: The configured provider name.
            now: The current Unix time.

        Returns:
            Model id → Unix time it is benched until.

        Raises:
            LedgerUnavailableError: The database could not be reached.
        """
        with self._connection("reading cooldowns") as conn:
            rows = conn.execute(
                'SELECT model, "until" FROM llmorch_cooldowns WHERE provider = %s AND "until" > %s',
                (_text(provider), now),
            ).fetchall()
        return {model: float(until) for model, until in rows}


def _fill(rows: Sequence[tuple[Any, ...]], nkeys: int, tags: Sequence[str]) -> Aggregate:
    """An :class:`Aggregate` from the rows of the ``GROUPING SETS`` query.

    Each row is ``(grouping bits, provider, model, session_id, day, tag values..., requests,
    tokens, cost_pico, unpriced)``; a bit set in ``GROUPING(...)`` (leftmost key: highest bit)
    means that key is not part of the row's grouping. The total and ``by_provider`` are the
    sums of the ``(provider, model)`` groups.
    """
    agg = Aggregate()
    by_provider = agg.groups[GROUPS[0]]
    for row in rows:
        bits, keys = row[0], row[1 : 1 + nkeys]
        requests, tokens, pico, unpriced = (int(n) for n in row[1 + nkeys :])
        bucket = Bucket(requests, tokens, pico)
        grouped = tuple(i for i in range(nkeys) if not (bits >> (nkeys - 1 - i)) & 1)
        if grouped == (0, 1):
            agg.groups[GROUPS[1]][f"{keys[0]}/{keys[1]}"] = bucket
            by_provider.setdefault(keys[0], Bucket()).add(tokens, pico, requests)
            agg.total.add(tokens, pico, requests)
            agg.unpriced += unpriced
        elif grouped == (2,):
            agg.groups[GROUPS[2]][keys[2]] = bucket
        elif grouped == (3,):
            agg.groups[GROUPS[3]][keys[3].isoformat()] = bucket
        elif keys[grouped[0]] is not None:  # a tag; records lacking it are in no group
            agg.tags.setdefault(tags[grouped[0] - 4], {})[keys[grouped[0]]] = bucket
    return agg
