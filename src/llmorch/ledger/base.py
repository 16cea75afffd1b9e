"""The ledger's storage interface: what every backend (JSON lines, SQLite, PostgreSQL) provides.

A backend stores :class:`~llmorch.types.UsageRecord` values, aggregates them for reports,
keeps budget reservations (:class:`Hold`) and shared model cooldowns. Every method is
synchronous; a backend whose methods do I/O that can take milliseconds says so with
``blocking = True`` and the tracker calls it from a worker thread when on an event loop.

Money crosses this interface as integer pico-dollars (``round(usd * 1e12)``), so that sums are
exact and every backend reports the same totals for the same records.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from llmorch.exceptions import OrchestratorError
from llmorch.types import UsageRecord

__all__ = [
    "GROUPS",
    "PICO",
    "Aggregate",
    "Bucket",
    "BudgetState",
    "Claim",
    "Entry",
    "Hold",
    "LedgerBackend",
    "LedgerUnavailableError",
    "RecordFilter",
    "ceil_pico",
    "to_pico",
]

PICO = 1_000_000_000_000
"""Pico-dollars per dollar."""


def to_pico(usd: float) -> int:
    """A cost in USD as integer pico-dollars (the unit of every sum in the ledger).

    Args:
        usd: The cost.

    Returns:
        ``round(usd * 1e12)``.
    """
    return round(usd * PICO)


class LedgerUnavailableError(OrchestratorError):
    """The ledger's store could not be reached or refused a write (nothing was stored)."""


@dataclass(frozen=True)
class RecordFilter:
    """Which records a budget counts: every key that is set must hold.

    Attributes:
        provider: The configured provider name.
        model: The model id requested.
        session: The orchestrator session id.
        tags: Tags the record must carry with exactly these values.
    """

    provider: str | None = None
    model: str | None = None
    session: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def matches(self, record: UsageRecord) -> bool:
        """Whether a record is counted.

        Args:
            record: The record.

        Returns:
            True when every set key holds.
        """
        return (
            (self.provider is None or record.provider == self.provider)
            and (self.model is None or record.model == self.model)
            and (self.session is None or record.session_id == self.session)
            and all(record.tags.get(k) == v for k, v in self.tags.items())
        )


@dataclass(frozen=True)
class Claim:
    """One budget's part of a reservation: the budget, its current window and its limit.

    Attributes:
        budget: The budget's name.
        window: The window's key: ``"2026-12-01"`` (day), ``"2026-12"`` (month) or ``"total"``.
        start: The window's first instant (UTC, inclusive); ``None`` for ``total``.
        end: The instant after the window (UTC, exclusive); ``None`` for ``total``.
        limit_pico: The budget's limit.
        match: The records the budget counts (a backend that creates the budget's row for a
            window seeds its spend from the records already stored that match).
    """

    budget: str
    window: str
    start: datetime | None
    end: datetime | None
    limit_pico: int
    match: RecordFilter


@dataclass(frozen=True)
class Hold:
    """A reservation of one attempt's worst-case cost against every budget it falls under.

    Attributes:
        id: A UUID (hex) naming the reservation.
        claims: The budgets it counts against.
        amount_pico: The worst-case cost reserved.
        expires_at: When a backend may drop it (Unix time): the reservation of a process that
            died is gone after its TTL.
    """

    id: str
    claims: tuple[Claim, ...]
    amount_pico: int
    expires_at: float


@dataclass(frozen=True)
class Entry:
    """One record to store and, when the call was under budgets, the hold it settles.

    Storing an entry settles its hold: in the same transaction the record's cost is added to
    the spend of every claim's budget window and the hold's reservations are deleted (there may
    be none: a record spooled while the store was down, or a hold that expired). A record whose
    ``id`` is already stored is skipped, and so is its settlement; its hold is still deleted.

    Attributes:
        record: The record.
        hold: The reservation it settles, if any.
    """

    record: UsageRecord
    hold: Hold | None = None


@dataclass(frozen=True)
class BudgetState:
    """One budget's current window.

    Attributes:
        budget: The budget's name.
        window: The window's key.
        limit_pico: The limit.
        spent_pico: Recorded spend in the window.
        reserved_pico: Live reservations (not expired, not settled).
    """

    budget: str
    window: str
    limit_pico: int
    spent_pico: int
    reserved_pico: int


class LedgerBackend(ABC):
    """Where the ledger lives.

    Attributes:
        url: The backend's URL for messages: never carries a password.
        blocking: True when calls do I/O that may take milliseconds (a database): the tracker
            runs them on a worker thread when called from an event loop.
        shared: True when budgets and cooldowns are shared by every process using this store
            (a SQL database); False when they hold in this process only (JSON lines).
    """

    url: str
    blocking: bool = True
    shared: bool = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- records --

    @abstractmethod
    def write(self, entries: Sequence[Entry]) -> None:
        """Store records and settle their holds, all or nothing.

        Idempotent by ``record.id``: storing a record twice keeps one.

        Args:
            entries: The records, in order.

        Raises:
            LedgerUnavailableError: The store could not be reached or refused the write; then
                nothing of this call was stored.
        """

    @abstractmethod
    def iter_records(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[UsageRecord]:
        """The records with ``start <= ts < end`` (UTC; ``None``: unbounded).

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.

        Yields:
            Records in timestamp order (JSON lines: file order).
        """

    @abstractmethod
    def aggregate(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        by_tags: Sequence[str] = (),
    ) -> Aggregate:
        """Sum the records in a window (SQL backends: in the database).

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.
            by_tags: Tag names to group by as well (each its own grouping).

        Returns:
            The sums.
        """

    @abstractmethod
    def count(self) -> int:
        """The number of records stored.

        Returns:
            The count.
        """

    # -- budgets --

    @abstractmethod
    def reserve(self, hold: Hold, now: float) -> BudgetState | None:
        """Reserve a hold against every one of its claims, atomically and without queuing.

        For each claim: create the budget window's row when absent (seeding its spend from the
        stored records that match it in that window), drop reservations expired at ``now``,
        and check ``spent + reserved + hold.amount_pico <= limit``. When every claim passes the
        hold is stored; otherwise nothing is.

        Args:
            hold: The reservation.
            now: The current Unix time.

        Returns:
            ``None`` when reserved, else the state of the first budget it would pass.

        Raises:
            LedgerUnavailableError: The store could not be reached, or the budget rows stayed
                locked by another writer past a short lock timeout.
        """

    @abstractmethod
    def release(self, hold_id: str) -> None:
        """Drop a reservation whose attempt failed unbilled (unknown ids are ignored).

        Args:
            hold_id: :attr:`Hold.id`.

        Raises:
            LedgerUnavailableError: The store could not be reached.
        """

    @abstractmethod
    def budget_state(self, claims: Sequence[Claim], now: float) -> list[BudgetState]:
        """The spend and live reservations of budget windows.

        Args:
            claims: The windows (limit and match as configured now).
            now: The current Unix time (reservations expired by then are not counted).

        Returns:
            One state per claim, in order.

        Raises:
            LedgerUnavailableError: The store could not be reached.
        """

    # -- cooldowns --

    @abstractmethod
    def bench(self, provider: str, model: str, until: float) -> None:
        """Skip a model until a time (a later time already stored wins).

        Args:
            provider: The configured provider name.
            model: The model id.
            until: Unix time.

        Raises:
            LedgerUnavailableError: The store could not be reached.
        """

    @abstractmethod
    def benched(self, provider: str, now: float) -> dict[str, float]:
        """The models of a provider benched past ``now``.

        Args:
            provider: The configured provider name.
            now: The current Unix time.

        Returns:
            Model id → Unix time it is benched until.

        Raises:
            LedgerUnavailableError: The store could not be reached.
        """

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release connections and files (the backend reopens them when used again)."""


@dataclass
class Bucket:
    """Sums over a group of records.

    Attributes:
        requests: Number of records.
        tokens: Sum of ``total``.
        cost_pico: Sum of costs in pico-dollars.
    """

    requests: int = 0
    tokens: int = 0
    cost_pico: int = 0

    def add(self, tokens: int, cost_pico: int, requests: int = 1) -> None:
        """Count records into the bucket.

        Args:
            tokens: Their ``total`` tokens.
            cost_pico: Their cost.
            requests: How many.
        """
        self.requests += requests
        self.tokens += tokens
        self.cost_pico += cost_pico

    def as_dict(self) -> dict[str, float | int]:
        """The report's form: ``{"cost", "requests", "tokens"}`` (cost in USD).

        Returns:
            The dict.
        """
        return {"cost": self.cost_pico / PICO, "requests": self.requests, "tokens": self.tokens}


GROUPS = ("by_provider", "by_model", "by_session", "by_day")
"""The groupings every report has (``by_model`` keys are ``provider/model``; ``by_day`` UTC)."""


@dataclass
class Aggregate:
    """What a backend's :meth:`LedgerBackend.aggregate` returns.

    Attributes:
        total: Every record in the window.
        unpriced: How many of them have ``priced`` false.
        groups: :data:`GROUPS` → key → sums; records lacking a grouped tag are in no group of it.
        tags: Tag name → tag value → sums, for the tags asked for.
    """

    total: Bucket = field(default_factory=Bucket)
    unpriced: int = 0
    groups: dict[str, dict[str, Bucket]] = field(
        default_factory=lambda: {name: {} for name in GROUPS}
    )
    tags: dict[str, dict[str, Bucket]] = field(default_factory=dict)

    def add(self, record: UsageRecord, by_tags: Sequence[str] = ()) -> None:
        """Count one record (the reference aggregation; SQL backends do this in SQL).

        Args:
            record: The record.
            by_tags: Tag names to group by as well.
        """
        pico = to_pico(record.cost)
        tokens = record.total
        self.total.add(tokens, pico)
        if not record.priced:
            self.unpriced += 1
        groups = self.groups
        keys = (
            record.provider,
            f"{record.provider}/{record.model}",
            record.session_id,
            record.ts.date().isoformat(),
        )
        for name, key in zip(GROUPS, keys, strict=True):
            group = groups[name]
            bucket = group.get(key)
            if bucket is None:
                bucket = group[key] = Bucket()
            bucket.add(tokens, pico)
        for tag in by_tags:
            value = record.tags.get(tag)
            if value is not None:
                self.tags.setdefault(tag, {}).setdefault(value, Bucket()).add(tokens, pico)

    def report(
        self, start: datetime | None, end: datetime | None, by_tags: Sequence[str] = ()
    ) -> dict[str, object]:
        """The public report dict (SPEC §2.7, §2.11).

        Args:
            start: The window's start, as asked.
            end: The window's end, as asked.
            by_tags: The tags grouped by (``by_tag`` is present only when some were asked).

        Returns:
            ``total_requests``, ``total_tokens``, ``total_cost``, the groupings,
            ``unpriced_requests``, ``start_date`` and ``end_date``, and ``by_tag``.
        """
        out: dict[str, object] = {
            "total_requests": self.total.requests,
            "total_tokens": self.total.tokens,
            "total_cost": self.total.cost_pico / PICO,
        }
        for name in GROUPS:
            group = self.groups.get(name, {})
            out[name] = {key: group[key].as_dict() for key in sorted(group)}
        out["unpriced_requests"] = self.unpriced
        out["start_date"] = start.isoformat() if start else None
        out["end_date"] = end.isoformat() if end else None
        if by_tags:
            out["by_tag"] = {
                tag: {k: v.as_dict() for k, v in sorted(self.tags.get(tag, {}).items())}
                for tag in by_tags
            }
        return out


def ceil_pico(usd: float) -> int:
    """A worst-case cost in pico-dollars, rounded up.

    Args:
        usd: The cost.

    Returns:
        ``ceil(usd * 1e12)``.
    """
    return math.ceil(usd * PICO)
