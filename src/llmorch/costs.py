"""Cost tracking: prices, the ledger, reports and CSV export.

Every call the orchestrator makes ends in one :class:`~llmorch.types.UsageRecord`. The tracker
prices it (configured overrides first, then the dated table in :mod:`llmorch.pricing`) and
stores it in the ledger, a :class:`~llmorch.ledger.LedgerBackend` named by a URL: a JSON-lines
file (the default, ``log_path``), SQLite or PostgreSQL. A write the ledger refuses goes to a
local spool file and is stored with the next write that succeeds, so no record is lost
silently. Reports and CSV exports read the ledger back, so a weekly report covers every
process that wrote to it; on a SQL ledger a report is one aggregation in the database.

Token semantics (SPEC §2.2): ``prompt`` counts every input token, ``cache_read`` and
``cache_write`` are parts of it; ``completion`` counts every output token, ``reasoning`` is part
of it. So a request costs::

    (prompt - cache_read - cache_write) * input
    + cache_read * cache_read_price + cache_write * cache_write_price
    + completion * output                                  (all per million tokens)

This module knows nothing of vendors or transport.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timezone
from time import monotonic
from typing import Any

import anyio
import anyio.to_thread

from llmorch.ledger import LedgerBackend, LedgerURL, open_ledger
from llmorch.ledger.base import Aggregate, Entry, Hold, LedgerUnavailableError
from llmorch.ledger.jsonl import JsonlLedger
from llmorch.ledger.records import (
    LEDGER_COLUMNS,
    opt_text,
    record_from_dict,
    record_to_dict,
    utf8_text,
)
from llmorch.ledger.spool import Spool
from llmorch.pricing import (
    DEFAULT_PRICES,
    PRICING_AS_OF,
    ModelPrice,
    price_for_dimensions,
    price_from_mapping,
    resolve_price,
)
from llmorch.types import UsageRecord

__all__ = [
    "DEFAULT_SPOOL",
    "LEDGER_COLUMNS",
    "CostTracker",
    "compute_cost",
    "record_from_dict",
    "record_to_dict",
]

logger = logging.getLogger("llmorch.costs")

DEFAULT_SPOOL = "./llm_costs.spool"
"""Where records wait when the ledger refuses them (relative to the working directory)."""

OVERRIDE = "override"
_PER_MILLION = 1_000_000
_RETRY_MIN_S = 0.5  # a ledger that refused a write is tried again after this, then doubling
_RETRY_MAX_S = 5.0


# --- Arithmetic --------------------------------------------------------------------------------


def _count(tokens: Mapping[str, int], key: str) -> int:
    value = tokens.get(key) or 0
    return max(int(value), 0)


def _rate(long: bool, long_rate: float | None, rate: float | None, fallback: float) -> float:
    if long and long_rate is not None:
        return long_rate
    return rate if rate is not None else fallback


def compute_cost(price: ModelPrice, tokens: Mapping[str, int]) -> float:
    """Price one request.

    ``cache_read`` and ``cache_write`` are parts of ``prompt`` and ``reasoning`` is part of
    ``completion`` (SPEC §2.2), so no token is counted twice. ``cache_write_1h``, when present,
    is the part of ``cache_write`` that went to Anthropic's 1-hour cache and is priced at
    ``price.cache_write_1h`` (falling back to the 5-minute write price). Parts larger than their
    whole are clamped. When the price has a long-context tier and ``prompt`` exceeds its
    threshold, the ``*_long`` prices apply to the whole request (each falling back to its
    standard-context price when unset).

    Args:
        price: The model's price.
        tokens: A ``tokens_used`` dict (``prompt``, ``completion``, optional ``cache_read``,
            ``cache_write``, ``cache_write_1h``; other keys are ignored).

    Returns:
        The cost in USD.
    """
    prompt = _count(tokens, "prompt")
    completion = _count(tokens, "completion")
    cache_read = min(_count(tokens, "cache_read"), prompt)
    cache_write = min(_count(tokens, "cache_write"), prompt - cache_read)
    write_1h = min(_count(tokens, "cache_write_1h"), cache_write)

    long = price.long_context_threshold is not None and prompt > price.long_context_threshold
    input_rate = price.input_long if long and price.input_long is not None else price.input
    output_rate = price.output_long if long and price.output_long is not None else price.output
    if long and price.cache_read_long is not None:
        read_rate = price.cache_read_long
    else:
        read_rate = price.cache_read if price.cache_read is not None else input_rate
    write_rate = _rate(long, price.cache_write_long, price.cache_write, input_rate)
    write_1h_rate = _rate(long, price.cache_write_1h_long, price.cache_write_1h, write_rate)

    total = (
        (prompt - cache_read - cache_write) * input_rate
        + cache_read * read_rate
        + (cache_write - write_1h) * write_rate
        + write_1h * write_1h_rate
        + completion * output_rate
    )
    return round(total / _PER_MILLION, 12)


# --- Dates -------------------------------------------------------------------------------------


def _as_utc(value: datetime | date | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=timezone.utc)
        raise TypeError(f"{name} must be a datetime or date, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _csv_value(key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "tags":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, float):
        text = f"{value:.12f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return str(value)


# --- The tracker -------------------------------------------------------------------------------


class CostTracker:
    """Prices calls, keeps the ledger and reports on it.

    Thread-safe. Several processes may share one ledger.

    Args:
        enabled: When False nothing is written; costs are still computed and returned, and
            reports come from this tracker's in-memory records.
        log_path: The JSON-lines ledger (relative paths resolve against the working directory
            at construction); ``None`` keeps records in memory only. Ignored when ``ledger``
            is given.
        pricing: Configured overrides, keyed by configured provider name, then model id; each
            value a mapping or object with ``input``, ``output`` and optionally ``cache_read``,
            ``cache_write`` (and any other :class:`~llmorch.pricing.ModelPrice` field).
        ledger: The ledger's URL (``jsonl:PATH``, ``sqlite:///PATH``, ``postgresql://...``) or a
            backend; nothing connects until the first record or report.
        spool_path: Where records wait while the ledger refuses them
            (default :data:`DEFAULT_SPOOL`).
        provider_types: Configured provider name → provider type (``{"ollama": "openai"}``),
            used to find the default prices; a name not listed is its own type.
        prices: The table under the overrides, keyed by provider type then model id (what
            :func:`llmorch.pricing.load_price_file` returns, merged over the shipped table);
            ``None`` is :data:`llmorch.pricing.DEFAULT_PRICES`.
        fsync: JSON lines: also ``fsync`` after each line (survives power loss, at a cost per
            call). Each line always reaches the operating system before :meth:`log_usage`
            returns.

    Raises:
        ConfigurationError: An override lacks ``input`` or ``output`` or has a non-numeric
            price, or the ledger URL is malformed.
    """

    def __init__(
        self,
        enabled: bool = True,
        log_path: str | os.PathLike[str] | None = "./llm_costs.log",
        pricing: Mapping[str, Mapping[str, Mapping[str, float] | Any]] | None = None,
        *,
        ledger: str | LedgerURL | LedgerBackend | None = None,
        spool_path: str | os.PathLike[str] | None = None,
        provider_types: Mapping[str, str] | None = None,
        prices: Mapping[str, Mapping[str, ModelPrice]] | None = None,
        fsync: bool = False,
    ) -> None:
        self.enabled = enabled
        backend: LedgerBackend | None
        if isinstance(ledger, LedgerBackend):
            backend = ledger
        elif ledger is not None:
            backend = open_ledger(ledger, fsync=fsync)
        elif log_path is not None:
            backend = JsonlLedger(log_path, fsync=fsync)
        else:
            backend = None
        self.backend = backend
        """Where records go (``None``: in memory only)."""
        self.log_path: str | None = backend.path if isinstance(backend, JsonlLedger) else None
        self._spool = Spool(spool_path if spool_path is not None else DEFAULT_SPOOL)
        self._outage = False
        self._retry_at = 0.0  # while the ledger is down: when to try it again (monotonic)
        self._retry_s = _RETRY_MIN_S
        self._provider_types = dict(provider_types or {})
        self._prices = DEFAULT_PRICES if prices is None else prices
        self._overrides: dict[str, dict[str, ModelPrice]] = {
            str(name): {
                str(model): price_from_mapping(p, f"pricing.{name}.{model}")
                for model, p in models.items()
            }
            for name, models in (pricing or {}).items()
        }
        # Re-entrant, and with _busy/_deferred below, so that a finaliser which records a call
        # (an abandoned stream collected by the GC) while this thread is inside a locked section
        # neither deadlocks nor interleaves with the record being stored.
        self._lock = threading.RLock()
        self._busy = False
        self._deferred: deque[Entry] = deque()
        self._warned: set[tuple[str, ...]] = set()
        self._session_costs: dict[str, float] = {}
        self._records: list[UsageRecord] = []
        self._price_cache: dict[tuple[str, str], tuple[ModelPrice, str] | None] = {}
        _TRACKERS.add(self)

    def __repr__(self) -> str:
        where = self.backend.url if self.backend is not None else "memory"
        return f"CostTracker({where!r}, enabled={self.enabled})"

    def _after_fork_in_child(self) -> None:  # pragma: no cover - runs in a forked child
        # A thread of the parent may have held the lock when another one forked; in the child
        # that thread does not exist, so the lock would never be released.
        self._lock = threading.RLock()
        self._busy = False

    @property
    def writes_ledger(self) -> bool:
        """Whether records go to the ledger (``enabled`` and a ledger or ``log_path``)."""
        return self.enabled and self.backend is not None

    # -- pricing --

    def lookup_price(self, provider: str, model: str) -> tuple[ModelPrice, str] | None:
        """Find the price a call would be charged at.

        Args:
            provider: The configured provider name.
            model: The model id.

        Returns:
            ``(price, pricing_as_of)`` — ``"override"`` for a configured price, else the date
            the entry was checked (the default table's date, or a price file's ``as_of``) — or
            ``None`` when the model is unpriced.
        """
        key = (provider, model)
        if key in self._price_cache:
            return self._price_cache[key]
        found = self._lookup_price(provider, model)
        self._price_cache[key] = found
        return found

    def _lookup_price(self, provider: str, model: str) -> tuple[ModelPrice, str] | None:
        table = self._prices.get(self._provider_types.get(provider, provider))
        overrides = self._overrides.get(provider)
        if overrides:
            hit = resolve_price(overrides, model, reference=table)
            if hit is not None:
                return hit[1], OVERRIDE
        if table:
            hit = resolve_price(table, model)
            if hit is not None:
                return hit[1], hit[1].as_of or PRICING_AS_OF
        return None

    def price(
        self,
        provider: str,
        model: str,
        tokens: Mapping[str, int],
        *,
        dimensions: Mapping[str, str] | None = None,
    ) -> tuple[float, str | None, bool]:
        """Price one call, with where the price came from.

        An unpriced model costs 0 and logs one WARNING per ``(provider, model)`` per tracker.
        A call that reported a billing dimension the table has no price for (``dimensions``,
        see :func:`llmorch.pricing.usage_dimensions`) is unpriced too, with one WARNING per
        ``(provider, model, reason)`` — never charged at the standard rate.

        Args:
            provider: The configured provider name.
            model: The model id.
            tokens: The call's ``tokens_used``.
            dimensions: The call's non-standard billing dimensions (``{"service_tier":
                "flex"}``); priced at that tier where the table has it.

        Returns:
            ``(cost, pricing_as_of, priced)``: ``pricing_as_of`` is ``"override"``, the
            entry's date, or ``None`` when unpriced (then ``priced`` is False and cost 0.0).
        """
        found = self.lookup_price(provider, model)
        if found is None:
            self._warn_unpriced(provider, model)
            return 0.0, None, False
        price: ModelPrice | None = found[0]
        if dimensions:
            price, reason = price_for_dimensions(found[0], dimensions)
            if price is None:
                self._warn_dimension(provider, model, str(reason))
                return 0.0, None, False
        assert price is not None
        return compute_cost(price, tokens), found[1], True

    def calculate_cost(self, provider: str, model: str, tokens: Mapping[str, int]) -> float:
        """Price one call.

        Args:
            provider: The configured provider name.
            model: The model id.
            tokens: The call's ``tokens_used``.

        Returns:
            The cost in USD (0.0 for an unpriced model, which is warned about once).
        """
        return self.price(provider, model, tokens)[0]

    def _warn_unpriced(self, provider: str, model: str) -> None:
        key = (provider, model)
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(
            "no price known for model %r on provider %r: its calls are recorded with cost 0 "
            "and priced=false; add it under 'pricing:' in the config",
            model,
            provider,
        )

    def _warn_dimension(self, provider: str, model: str, reason: str) -> None:
        key = (provider, model, reason)
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(
            "model %r on provider %r: %s in the price table, so its calls are recorded with "
            "cost 0 and priced=false; add that price under 'pricing_file:'",
            model,
            provider,
            reason,
        )

    # -- logging --

    def _make_record(
        self,
        provider: str,
        model: str,
        tokens: Mapping[str, int],
        session_id: str,
        *,
        model_answered: str | None,
        request_id: str | None,
        complete: bool,
        estimated: bool,
        tags: Mapping[str, str] | None,
        cost: float | None,
        dimensions: Mapping[str, str] | None,
        latency_s: float | None,
        tool_calls: Sequence[str],
        warnings: Sequence[str],
    ) -> UsageRecord:
        if cost is None:
            cost, as_of, priced = self.price(provider, model, tokens, dimensions=dimensions)
        else:
            found = self.lookup_price(provider, model)
            as_of = found[1] if found is not None else None
            priced = found is not None or cost != 0
        prompt = _count(tokens, "prompt")
        completion = _count(tokens, "completion")
        total = tokens.get("total")
        return UsageRecord(
            ts=datetime.now(timezone.utc),
            session_id=utf8_text(session_id),
            provider=utf8_text(provider),
            model=utf8_text(model),
            prompt=prompt,
            completion=completion,
            total=int(total) if total is not None else prompt + completion,
            cost=float(cost),
            model_answered=opt_text(model_answered),
            request_id=opt_text(request_id),
            cache_read=_count(tokens, "cache_read"),
            cache_write=_count(tokens, "cache_write"),
            reasoning=_count(tokens, "reasoning"),
            pricing_as_of=as_of,
            priced=priced,
            complete=complete,
            estimated=estimated,
            tags={utf8_text(str(k)): utf8_text(str(v)) for k, v in (tags or {}).items()},
            latency_s=latency_s,
            tool_calls=tuple(utf8_text(name) for name in tool_calls),
            warnings=tuple(utf8_text(w) for w in warnings),
        )

    def log_usage(
        self,
        provider: str,
        model: str,
        tokens: Mapping[str, int],
        session_id: str,
        *,
        model_answered: str | None = None,
        request_id: str | None = None,
        complete: bool = True,
        estimated: bool = False,
        tags: Mapping[str, str] | None = None,
        cost: float | None = None,
        dimensions: Mapping[str, str] | None = None,
        latency_s: float | None = None,
        tool_calls: Sequence[str] = (),
        warnings: Sequence[str] = (),
        hold: Hold | None = None,
    ) -> UsageRecord:
        r"""Record one call (blocking: from async code use :meth:`alog_usage`).

        The record is priced (unless ``cost`` is given), counted for :meth:`get_session_cost`
        and, when the ledger is on, stored. A write the ledger refuses goes to the spool (one
        WARNING per outage) and is stored with the next write that succeeds; it is never
        raised: the call itself succeeded. A string that is not valid Unicode (a lone
        surrogate, e.g. a file name from :func:`os.fsdecode`) is recorded with the offending
        code points escaped (``\xff``), never refused.

        Args:
            provider: The configured provider name.
            model: The model id requested.
            tokens: The call's ``tokens_used``.
            session_id: The orchestrator session.
            model_answered: The model id the vendor echoed, if any.
            request_id: The vendor's request id, if any.
            complete: False when the call was cut short.
            estimated: True when the token counts were estimated.
            tags: Free-form labels.
            cost: A cost already computed for this call; then ``priced`` is True when the model
                has a price or the cost is non-zero, and no unpriced warning is logged.
            dimensions: Non-standard billing dimensions the answer reported (see
                :meth:`price`).
            latency_s: The attempt's latency.
            tool_calls: The names of the tools the answer called.
            warnings: What was changed in the request to fit the model.
            hold: The budget reservation this record settles.

        Returns:
            The record.
        """
        record = self._make_record(
            provider, model, tokens, session_id, model_answered=model_answered,
            request_id=request_id, complete=complete, estimated=estimated, tags=tags,
            cost=cost, dimensions=dimensions, latency_s=latency_s, tool_calls=tool_calls,
            warnings=warnings,
        )  # fmt: skip
        self._commit(Entry(record, hold, fresh=True))
        return record

    async def alog_usage(
        self,
        provider: str,
        model: str,
        tokens: Mapping[str, int],
        session_id: str,
        *,
        model_answered: str | None = None,
        request_id: str | None = None,
        complete: bool = True,
        estimated: bool = False,
        tags: Mapping[str, str] | None = None,
        cost: float | None = None,
        dimensions: Mapping[str, str] | None = None,
        latency_s: float | None = None,
        tool_calls: Sequence[str] = (),
        warnings: Sequence[str] = (),
        hold: Hold | None = None,
    ) -> UsageRecord:
        """Record one call from async code: :meth:`log_usage` without blocking the event loop.

        A database ledger is written from a worker thread; the record is stored (or spooled)
        before this returns, even when the caller is cancelled meanwhile.

        Args:
            provider: The configured provider name.
            model: The model id requested.
            tokens: The call's ``tokens_used``.
            session_id: The orchestrator session.
            model_answered: The model id the vendor echoed, if any.
            request_id: The vendor's request id, if any.
            complete: False when the call was cut short.
            estimated: True when the token counts were estimated.
            tags: Free-form labels.
            cost: A cost already computed for this call.
            dimensions: Non-standard billing dimensions the answer reported.
            latency_s: The attempt's latency.
            tool_calls: The names of the tools the answer called.
            warnings: What was changed in the request to fit the model.
            hold: The budget reservation this record settles.

        Returns:
            The record.
        """
        record = self._make_record(
            provider, model, tokens, session_id, model_answered=model_answered,
            request_id=request_id, complete=complete, estimated=estimated, tags=tags,
            cost=cost, dimensions=dimensions, latency_s=latency_s, tool_calls=tool_calls,
            warnings=warnings,
        )  # fmt: skip
        entry = Entry(record, hold, fresh=True)
        if self.backend is not None and self.backend.blocking and self.enabled:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._commit, entry)
        else:
            self._commit(entry)
        return record

    def _commit(self, entry: Entry) -> None:
        with self._lock:
            if self._busy:  # re-entered on this thread (a finaliser): store it on the way out
                self._deferred.append(entry)
                return
            self._busy = True
            try:
                self._store(entry)
                while self._deferred:
                    self._store(self._deferred.popleft())
            finally:
                self._busy = False

    def _store(self, entry: Entry) -> None:
        record = entry.record
        self._session_costs[record.session_id] = round(
            self._session_costs.get(record.session_id, 0.0) + record.cost, 12
        )
        if self.backend is None or not self.enabled:
            self._records.append(record)
        else:
            self._write([entry])

    @property
    def ledger_down(self) -> bool:
        """Whether the ledger refused the last write and is not to be tried again yet.

        While it is, records go straight to the spool (a call never waits on a store known to be
        down) and budget checks fail at once.
        """
        return self._outage and monotonic() < self._retry_at

    def _write(self, entries: list[Entry]) -> None:
        """Store entries, the spool's first; on failure spool them (never raised)."""
        assert self.backend is not None
        if self.ledger_down:
            self._spool_entries(entries, None)
            return
        try:
            if self._spool.pending:
                stored = self._spool.flush(self.backend.write)
                if stored:
                    logger.warning(
                        "the cost ledger %s answers again: stored %d spooled record(s)",
                        self.backend.url,
                        stored,
                    )
            self.backend.write(entries)
            self._outage = False
            self._retry_s = _RETRY_MIN_S
        except (LedgerUnavailableError, OSError) as exc:  # OSError: the spool could not be read
            self._retry_at = monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
            self._spool_entries(entries, exc)

    def _spool_entries(self, entries: list[Entry], why: Exception | None) -> None:
        assert self.backend is not None
        try:
            self._spool.add(entries)
        except OSError as exc:
            logger.warning(
                "could not store %d cost record(s): the ledger %s failed (%s) and so did its "
                "spool %s (%s)",
                len(entries),
                self.backend.url,
                why or "it is down",
                self._spool.path,
                exc,
            )
            return
        if not self._outage:
            self._outage = True
            logger.warning(
                "could not store in the cost ledger %s (%s): records go to the spool %s until "
                "it answers again",
                self.backend.url,
                why,
                self._spool.path,
            )

    def flush_spool(self) -> int:
        """Store the spooled records now, if the ledger answers.

        Returns:
            How many were stored (0 when none were waiting or the ledger still fails).
        """
        if self.backend is None or not self._spool.pending:
            return 0
        with self._lock:
            try:
                return self._spool.flush(self.backend.write)
            except (LedgerUnavailableError, OSError):
                return 0

    def close(self) -> None:
        """Close the ledger's files and connections (they reopen when used). Safe to call twice.

        Records still in the spool are stored first, if the ledger answers.
        """
        with self._lock:
            if not self._busy and self.backend is not None:
                if self.enabled and not self.ledger_down:
                    self.flush_spool()
                self.backend.close()

    # -- reading --

    def get_session_cost(self, session_id: str) -> float:
        """The cost of the calls this tracker logged for one session.

        Args:
            session_id: The orchestrator session.

        Returns:
            USD; 0.0 for an unknown session.
        """
        with self._lock:
            return self._session_costs.get(utf8_text(session_id), 0.0)

    def iter_records(
        self,
        start_date: datetime | date | None = None,
        end_date: datetime | date | None = None,
    ) -> Iterator[UsageRecord]:
        """Read the records in a time window.

        With the ledger on, the ledger is read, so records of earlier processes are included
        (a JSON-lines file skips a corrupt line with a WARNING naming its line number);
        otherwise this tracker's in-memory records are used.

        Args:
            start_date: Inclusive lower bound. Naive datetimes are taken as UTC; a ``date``
                means its midnight UTC.
            end_date: Exclusive upper bound, same rules.

        Yields:
            The records (JSON lines: in file order; SQL: in time order).
        """
        start = _as_utc(start_date, "start_date")
        end = _as_utc(end_date, "end_date")
        if self.writes_ledger:
            assert self.backend is not None
            yield from self.backend.iter_records(start, end)
            return
        with self._lock:
            records = list(self._records)
        for record in records:
            if (start is None or record.ts >= start) and (end is None or record.ts < end):
                yield record

    def get_usage_report(
        self,
        start_date: datetime | date | None = None,
        end_date: datetime | date | None = None,
        *,
        by_tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Summarise the records in a time window (on a SQL ledger: aggregated in SQL).

        Args:
            start_date: Inclusive lower bound (see :meth:`iter_records`).
            end_date: Exclusive upper bound.
            by_tags: Tag names to group by as well: ``by_tag[name][value]``; records without
                that tag are in no group of it.

        Returns:
            ``total_requests``, ``total_tokens``, ``total_cost``, ``unpriced_requests``,
            ``start_date`` and ``end_date`` (UTC ISO strings or ``None``), and the groupings
            ``by_provider`` (provider name), ``by_model`` (``"provider/model"``), ``by_session``
            and ``by_day`` (``"YYYY-MM-DD"``, UTC), each mapping a key to
            ``{"cost", "requests", "tokens"}``; ``by_tag`` when ``by_tags`` is given.
        """
        start = _as_utc(start_date, "start_date")
        end = _as_utc(end_date, "end_date")
        tags = [by_tags] if isinstance(by_tags, str) else list(by_tags)
        if self.writes_ledger:
            assert self.backend is not None
            agg = self.backend.aggregate(start, end, tags)
        else:
            agg = Aggregate()
            for record in self.iter_records(start, end):
                agg.add(record, tags)
        return agg.report(start, end, tags)

    def export_to_csv(
        self,
        path: str | os.PathLike[str],
        start_date: datetime | date | None = None,
        end_date: datetime | date | None = None,
    ) -> int:
        """Write the records in a time window as CSV.

        The header is :data:`LEDGER_COLUMNS`; ``cost`` is a plain decimal number, booleans are
        ``true``/``false``, ``tags`` is JSON and missing values are empty.

        Args:
            path: The CSV file to (over)write; parent directories are created.
            start_date: Inclusive lower bound (see :meth:`iter_records`).
            end_date: Exclusive upper bound.

        Returns:
            The number of rows written, header excluded.
        """
        target = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(target))
        os.makedirs(parent, exist_ok=True)
        rows = 0
        with open(target, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(LEDGER_COLUMNS)
            for record in self.iter_records(start_date, end_date):
                d = record_to_dict(record)
                writer.writerow([_csv_value(k, d[k]) for k in LEDGER_COLUMNS])
                rows += 1
        return rows


_TRACKERS: weakref.WeakSet[CostTracker] = weakref.WeakSet()


def _reset_trackers_in_child() -> None:  # pragma: no cover - runs in a forked child
    for tracker in list(_TRACKERS):
        tracker._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_reset_trackers_in_child)
