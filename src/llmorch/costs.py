"""Cost tracking: prices, the JSON-lines ledger, reports and CSV export.

Every call the orchestrator makes ends in one :class:`~llmorch.types.UsageRecord`. The tracker
prices it (configured overrides first, then the dated table in :mod:`llmorch.pricing`) and
appends it as one JSON line to the ledger. The ledger is append-only and shared: each line is
written with a single ``os.write`` on a file opened with ``O_APPEND``, so several processes can
log to one file without interleaving. Before each write the tracker checks that ``log_path`` is
still the file it holds open (a rotated or deleted ledger is reopened) and that the file ends in a
newline (a record torn by a full disk or a killed writer is ended first, so it never swallows the
next record). Reports and CSV exports read the ledger back, so a weekly report covers every
process that wrote to it; a corrupt line is skipped with a WARNING, and whole records found glued
to a torn one on the same line are kept.

Token semantics (SPEC §2.2): ``prompt`` counts every input token, ``cache_read`` and
``cache_write`` are parts of it; ``completion`` counts every output token, ``reasoning`` is part
of it. So a request costs::

    (prompt - cache_read - cache_write) * input
    + cache_read * cache_read_price + cache_write * cache_write_price
    + completion * output                                  (all per million tokens)

This module knows nothing of vendors or transport.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timezone
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: records are appended without the checks
    fcntl = None  # type: ignore[assignment]

from llmorch.exceptions import OrchestratorError
from llmorch.pricing import (
    DEFAULT_PRICES,
    PRICING_AS_OF,
    ModelPrice,
    price_for_dimensions,
    price_from_mapping,
    resolve_price,
)
from llmorch.ledger.records import (
    LEDGER_COLUMNS,
    encode_record,
    opt_text,
    record_from_dict,
    record_to_dict,
    utf8_text,
)
from llmorch.types import UsageRecord

__all__ = [
    "LEDGER_COLUMNS",
    "CostTracker",
    "compute_cost",
    "record_from_dict",
    "record_to_dict",
]

logger = logging.getLogger("llmorch.costs")


OVERRIDE = "override"
_PER_MILLION = 1_000_000
_RECORD_START = '{"v"'  # every ledger line begins so; a reader resynchronises at it
_MAX_RESYNC_MISSES = 64  # bounds the work spent on one corrupt line
_DECODER = json.JSONDecoder()
_LOCK_TRIES = 1000  # each a sched_yield: about a millisecond when nothing else runs
_CHECKS = fcntl is not None and hasattr(os, "pread")  # the torn-record check (POSIX)


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


def _bucket() -> dict[str, Any]:
    return {"cost": 0.0, "requests": 0, "tokens": 0}


def _add(bucket: dict[str, Any], record: UsageRecord) -> None:
    bucket["cost"] = round(bucket["cost"] + record.cost, 12)
    bucket["requests"] += 1
    bucket["tokens"] += record.total


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

    Thread-safe. Several processes may share one ledger file.

    Args:
        enabled: When False nothing is written; costs are still computed and returned, and
            reports come from this tracker's in-memory records.
        log_path: The JSON-lines ledger (relative paths resolve against the working directory
            at construction); ``None`` keeps records in memory only.
        pricing: Configured overrides, keyed by configured provider name, then model id; each
            value a mapping or object with ``input``, ``output`` and optionally ``cache_read``,
            ``cache_write`` (and any other :class:`~llmorch.pricing.ModelPrice` field).
        provider_types: Configured provider name → provider type (``{"ollama": "openai"}``),
            used to find the default prices; a name not listed is its own type.
        prices: The table under the overrides, keyed by provider type then model id (what
            :func:`llmorch.pricing.load_price_file` returns, merged over the shipped table);
            ``None`` is :data:`llmorch.pricing.DEFAULT_PRICES`.
        fsync: Also ``fsync`` after each line (survives power loss, at a cost per call). Each
            line always reaches the operating system before :meth:`log_usage` returns.

    Raises:
        ConfigurationError: An override lacks ``input`` or ``output`` or has a non-numeric price.
    """

    def __init__(
        self,
        enabled: bool = True,
        log_path: str | os.PathLike[str] | None = "./llm_costs.log",
        pricing: Mapping[str, Mapping[str, Mapping[str, float] | Any]] | None = None,
        *,
        provider_types: Mapping[str, str] | None = None,
        prices: Mapping[str, Mapping[str, ModelPrice]] | None = None,
        fsync: bool = False,
    ) -> None:
        self.enabled = enabled
        self.log_path: str | None = (
            os.path.abspath(os.fspath(log_path)) if log_path is not None else None
        )
        self._fsync = fsync
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
        self._deferred: deque[tuple[UsageRecord, bytes | None]] = deque()
        self._warned: set[tuple[str, ...]] = set()
        self._session_costs: dict[str, float] = {}
        self._records: list[UsageRecord] = []
        self._dir_ready = False
        self._fd: int | None = None
        self._fd_pid = 0
        self._fd_id = (0, 0)  # (st_dev, st_ino) of the open ledger
        self._end = -1  # the file's size after this tracker's last write (-1: unknown)
        self._fd_readable = False
        self._price_cache: dict[tuple[str, str], tuple[ModelPrice, str] | None] = {}
        _TRACKERS.add(self)

    def _after_fork_in_child(self) -> None:  # pragma: no cover - runs in a forked child
        # A thread of the parent may have held the lock when another one forked; in the child
        # that thread does not exist, so the lock would never be released.
        self._lock = threading.RLock()
        self._busy = False

    @property
    def writes_ledger(self) -> bool:
        """Whether records go to the ledger file (``enabled`` and a ``log_path``)."""
        return self.enabled and self.log_path is not None

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
    ) -> UsageRecord:
        r"""Record one call.

        The record is priced (unless ``cost`` is given), counted for :meth:`get_session_cost`
        and, when the ledger is on, appended as one JSON line. A failure to write the ledger is
        logged as a WARNING and never raised: the call itself succeeded. A string that is not
        valid Unicode (a lone surrogate, e.g. a file name from :func:`os.fsdecode`) is recorded
        with the offending code points escaped (``\xff``), never refused.

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

        Returns:
            The record.
        """
        if cost is None:
            cost, as_of, priced = self.price(provider, model, tokens, dimensions=dimensions)
        else:
            found = self.lookup_price(provider, model)
            as_of = found[1] if found is not None else None
            priced = found is not None or cost != 0
        prompt = _count(tokens, "prompt")
        completion = _count(tokens, "completion")
        total = tokens.get("total")
        record = UsageRecord(
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
        )
        line = _encode(record) if self.writes_ledger else None
        self._commit(record, line)
        return record

    def _commit(self, record: UsageRecord, line: bytes | None) -> None:
        with self._lock:
            if self._busy:  # re-entered on this thread (a finaliser): store it on the way out
                self._deferred.append((record, line))
                return
            self._busy = True
            try:
                self._store(record, line)
                while self._deferred:
                    self._store(*self._deferred.popleft())
            finally:
                self._busy = False

    def _store(self, record: UsageRecord, line: bytes | None) -> None:
        self._session_costs[record.session_id] = round(
            self._session_costs.get(record.session_id, 0.0) + record.cost, 12
        )
        if line is None:
            self._records.append(record)
        else:
            self._append(line)

    def _open_fd(self) -> int:
        """Open (or create) the ledger for appending; read access too, for the newline check."""
        assert self.log_path is not None
        if not self._dir_ready:
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
            self._dir_ready = True
        flags = os.O_APPEND | os.O_CREAT
        try:
            fd = os.open(self.log_path, os.O_RDWR | flags, 0o600)
            self._fd_readable = True
        except PermissionError:  # a write-only ledger: append without the newline check
            fd = os.open(self.log_path, os.O_WRONLY | flags, 0o600)
            self._fd_readable = False
        self._fd, self._fd_pid = fd, os.getpid()
        st = os.fstat(fd)
        self._fd_id = (st.st_dev, st.st_ino)
        return fd

    def _ledger_fd(self) -> tuple[int, int]:
        """The descriptor of the file now at ``log_path``, and that file's size (-1: unknown).

        The descriptor is kept open, but a ledger that was renamed (logrotate), replaced or
        deleted since is closed and ``log_path`` (re)opened, so records always land there.
        """
        assert self.log_path is not None
        if self._fd is not None and self._fd_pid == os.getpid():
            try:
                st = os.stat(self.log_path)
            except FileNotFoundError:
                self._dir_ready = False  # its directory may be gone too
            else:
                if (st.st_dev, st.st_ino) == self._fd_id:
                    return self._fd, st.st_size
            self._close_fd()
        return self._open_fd(), -1

    def _append(self, data: bytes) -> None:
        try:
            fd, size = self._ledger_fd()
            self._checked_write(fd, data, size)
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            self._end = -1
            self._dir_ready = False
            self._close_fd()
            logger.warning("could not append to the cost ledger %s: %s", self.log_path, exc)

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        # One write per line: O_APPEND makes it land whole at the end of the file even when
        # other processes append at the same time.
        written = os.write(fd, data)
        if written < len(data):  # a full disk: the retry raises ENOSPC
            os.write(fd, data[written:])

    def _checked_write(self, fd: int, data: bytes, seen: int) -> None:
        locked = _CHECKS and _lock_file(fd)
        try:
            # A file that does not end in a newline ends in a torn record (a full disk, a
            # writer killed mid-write): end that line first, or this record would join it.
            # Under the file lock no other llmorch writer is half-way through its line.
            end, self._end = self._end, -1
            if _CHECKS and self._fd_readable:
                size = os.lseek(fd, 0, os.SEEK_END)
                # The file still ends where this tracker's last line ended: it ends in that
                # line's newline, so there is nothing to read.
                if size and not (locked and size == end == seen):
                    if os.pread(fd, 1, size - 1) != b"\n":
                        data = b"\n" + data
                self._write(fd, data)
                if locked:  # no other llmorch writer moved the end meanwhile
                    self._end = size + len(data)
            else:
                self._write(fd, data)
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and self._fd_pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Close the ledger file (it reopens on the next record). Safe to call twice."""
        with self._lock:
            if not self._busy:
                self._close_fd()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:  # not when __init__ failed half-way
            self._close_fd()

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

        With the ledger on, the ledger file is read, so records of earlier processes are
        included; a missing file yields nothing; a corrupt or partial line, or one that does not
        fit the schema, is skipped with a WARNING naming its line number, and any whole records
        glued to a torn one on that line are still yielded. Otherwise this tracker's in-memory
        records are used.

        Args:
            start_date: Inclusive lower bound. Naive datetimes are taken as UTC; a ``date``
                means its midnight UTC.
            end_date: Exclusive upper bound, same rules.

        Yields:
            The records in ledger order.
        """
        start = _as_utc(start_date, "start_date")
        end = _as_utc(end_date, "end_date")
        for record in self._all_records():
            if start is not None and record.ts < start:
                continue
            if end is not None and record.ts >= end:
                continue
            yield record

    def _all_records(self) -> Iterable[UsageRecord]:
        if not self.writes_ledger:
            with self._lock:
                return list(self._records)
        return self._read_ledger()

    def _read_ledger(self) -> Iterator[UsageRecord]:
        assert self.log_path is not None
        try:
            fh = open(self.log_path, "rb")
        except FileNotFoundError:
            return
        # Bad lines are reported once a line that looks like a record (a JSON object, even a
        # torn one) shows the file is a ledger; a file with no such line at all (a config, a
        # CSV) is not a ledger: one error, not a warning per line.
        held: list[tuple[int, Exception, int]] = []
        is_ledger = False
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    record = record_from_dict(json.loads(raw.decode("utf-8")))
                except (ValueError, TypeError, RecursionError) as exc:
                    kept = _resync(raw)
                    held.append((lineno, exc, len(kept)))
                    if kept or raw.lstrip().startswith(b"{"):
                        is_ledger = True
                    if is_ledger:
                        self._warn_skipped(held)
                    yield from kept
                else:
                    if not is_ledger:
                        is_ledger = True
                        self._warn_skipped(held)
                    yield record
        if held and not is_ledger:
            first, problem, _ = held[0]
            raise OrchestratorError(
                f"{self.log_path}: not a llmorch cost ledger (none of its {len(held)} "
                f"line(s) is a ledger record; line {first}: {problem})"
            )

    def _warn_skipped(self, held: list[tuple[int, Exception, int]]) -> None:
        for lineno, exc, kept in held:
            logger.warning(
                "skipping line %d of the cost ledger %s: %s%s",
                lineno,
                self.log_path,
                exc,
                f" (kept the {kept} whole record(s) glued to it)" if kept else "",
            )
        held.clear()

    def get_usage_report(
        self,
        start_date: datetime | date | None = None,
        end_date: datetime | date | None = None,
    ) -> dict[str, Any]:
        """Summarise the records in a time window.

        Args:
            start_date: Inclusive lower bound (see :meth:`iter_records`).
            end_date: Exclusive upper bound.

        Returns:
            ``total_requests``, ``total_tokens``, ``total_cost``, ``unpriced_requests``,
            ``start_date`` and ``end_date`` (UTC ISO strings or ``None``), and the groupings
            ``by_provider`` (provider name), ``by_model`` (``"provider/model"``), ``by_session``
            and ``by_day`` (``"YYYY-MM-DD"``, UTC), each mapping a key to
            ``{"cost", "requests", "tokens"}``.
        """
        start = _as_utc(start_date, "start_date")
        end = _as_utc(end_date, "end_date")
        report: dict[str, Any] = {
            "total_requests": 0,
            "total_tokens": 0,
            "total_cost": 0.0,
            "by_provider": {},
            "by_model": {},
            "by_session": {},
            "by_day": {},
            "unpriced_requests": 0,
            "start_date": start.isoformat() if start else None,
            "end_date": end.isoformat() if end else None,
        }
        for record in self.iter_records(start, end):
            report["total_requests"] += 1
            report["total_tokens"] += record.total
            report["total_cost"] = round(report["total_cost"] + record.cost, 12)
            if not record.priced:
                report["unpriced_requests"] += 1
            keys = (
                ("by_provider", record.provider),
                ("by_model", f"{record.provider}/{record.model}"),
                ("by_session", record.session_id),
                ("by_day", record.ts.astimezone(timezone.utc).date().isoformat()),
            )
            for group, key in keys:
                _add(report[group].setdefault(key, _bucket()), record)
        return report

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


def _lock_file(fd: int) -> bool:
    """Take the ledger's advisory lock between llmorch writers, if it comes within ~1 ms.

    It only makes the torn-record check exact. A writer stopped (SIGSTOP, a debugger) while
    holding it must not stall every other process, so after a bounded wait, or where the
    filesystem has no locks, the record is appended without it.
    """
    for _ in range(_LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # noqa: PERF203 - a retry loop
            os.sched_yield()
        except OSError:  # e.g. ENOLCK on some network filesystems
            return False
        else:
            return True
    return False


def _resync(raw: bytes) -> list[UsageRecord]:
    """The whole records in a corrupt ledger line.

    A torn record (a writer killed mid-write, a full disk) followed on the same line by the next
    process's record makes one unparseable line. The records in it start at ``{"v"``; a JSON
    string cannot hold that text unescaped, so each candidate is tried in turn and every one that
    parses as a record, with valid UTF-8 throughout, is kept. A torn record never parses: it lacks
    at least its closing brace.
    """
    text = raw.decode("utf-8", "surrogateescape")
    kept: list[UsageRecord] = []
    misses = 0
    pos = text.find(_RECORD_START)
    while pos != -1 and misses < _MAX_RESYNC_MISSES:
        found = _record_at(text, pos)
        if found is None:
            misses += 1
            pos = text.find(_RECORD_START, pos + 1)
        else:
            kept.append(found[0])
            pos = text.find(_RECORD_START, found[1])
    return kept


def _record_at(text: str, pos: int) -> tuple[UsageRecord, int] | None:
    """The record that starts at ``text[pos]`` and where it ends, or ``None``."""
    try:
        obj, end = _DECODER.raw_decode(text, pos)
        text[pos:end].encode("utf-8")  # bytes that were not UTF-8 are not a record
        return record_from_dict(obj), end
    except (ValueError, TypeError, RecursionError):
        return None


def _encode(record: UsageRecord) -> bytes:
    """One ledger line (its strings are already UTF-8-safe, see :func:`_utf8_text`)."""
    line = json.dumps(record_to_dict(record), ensure_ascii=False, separators=(",", ":"))
    return (line + "\n").encode("utf-8")
