"""The JSON-lines ledger: one record per line in a file that several processes may append to.

Each line is written with a single ``os.write`` on a file opened with ``O_APPEND``, so several
processes can log to one file without interleaving. Before each write the backend checks that
the path is still the file it holds open (a rotated or deleted ledger is reopened) and that the
file ends in a newline (a record torn by a full disk or a killed writer is ended first, so it
never swallows the next record). Reading skips a corrupt line with a WARNING, and whole records
found glued to a torn one on the same line are kept.

Budgets and cooldowns on this backend hold in this process only (``shared = False``): the file
has no transactions. A fleet that shares a budget needs a SQL ledger.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: records are appended without the checks
    fcntl = None  # type: ignore[assignment]

from llmorch.ledger._jsonl_read import FastPath, count_into, fold, read_file, summing
from llmorch.ledger.base import (
    Aggregate,
    BudgetState,
    Claim,
    Entry,
    Hold,
    LedgerBackend,
    LedgerUnavailableError,
    to_pico,
)
from llmorch.ledger.records import encode_record
from llmorch.types import UsageRecord

__all__ = ["JsonlLedger"]

logger = logging.getLogger("llmorch.costs")

_LOCK_TRIES = 1000  # each a sched_yield: about a millisecond when nothing else runs
_CHECKS = fcntl is not None and hasattr(os, "pread")  # the torn-record check (POSIX)


class JsonlLedger(LedgerBackend):
    """A ledger in a JSON-lines file.

    Args:
        path: The file (relative paths resolve against the working directory now).
        fsync: Also ``fsync`` after each write (survives power loss, at a cost per call).
    """

    blocking = False
    shared = False

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.url = f"jsonl:{self.path}"
        self._fsync = fsync
        self._dir_ready = False
        self._fd: int | None = None
        self._fd_pid = 0
        self._fd_id = (0, 0)  # (st_dev, st_ino) of the open ledger
        self._end = -1  # the file's size after this backend's last write (-1: unknown)
        self._fd_readable = False
        # Budgets and cooldowns of this process.
        self._state_lock = threading.Lock()
        self._spent: dict[tuple[str, str], int] = {}
        self._holds: dict[str, Hold] = {}
        self._benched: dict[tuple[str, str], float] = {}

    # -- writing --

    def write(self, entries: Sequence[Entry]) -> None:
        """Append the records, one line each, and settle their holds in this process.

        A replayed entry (not ``fresh``: from the spool or a migration) whose id the file already
        holds is skipped; finding that out reads the file, so it happens only for replays.

        Args:
            entries: The records.

        Raises:
            LedgerUnavailableError: The file could not be written.
        """
        if not all(entry.fresh for entry in entries):
            entries = self._new_only(entries)
        data = b"".join(encode_record(entry.record) for entry in entries)
        if not data:
            return
        try:
            fd, size = self._ledger_fd()
            self._checked_write(fd, data, size)
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            self._end = -1
            self._dir_ready = False
            self._close_fd()
            raise LedgerUnavailableError(f"could not append to {self.path}: {exc}") from exc
        for entry in entries:
            if entry.hold is not None:
                self._settle(entry.record, entry.hold)

    def _new_only(self, entries: Sequence[Entry]) -> list[Entry]:
        """The entries whose records the file does not hold yet (their holds released)."""
        try:
            stored = {record.id for record in self._read()}
        except OSError as exc:
            raise LedgerUnavailableError(f"could not read {self.path}: {exc}") from exc
        kept = []
        for entry in entries:
            if entry.record.id in stored:
                if entry.hold is not None:
                    self.release(entry.hold.id)
            else:
                stored.add(entry.record.id)
                kept.append(entry)
        return kept

    def _open_fd(self) -> int:
        """Open (or create) the ledger for appending; read access too, for the newline check."""
        if not self._dir_ready:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._dir_ready = True
        flags = os.O_APPEND | os.O_CREAT
        try:
            fd = os.open(self.path, os.O_RDWR | flags, 0o600)
            self._fd_readable = True
        except PermissionError:  # a write-only ledger: append without the newline check
            fd = os.open(self.path, os.O_WRONLY | flags, 0o600)
            self._fd_readable = False
        self._fd, self._fd_pid = fd, os.getpid()
        st = os.fstat(fd)
        self._fd_id = (st.st_dev, st.st_ino)
        return fd

    def _ledger_fd(self) -> tuple[int, int]:
        """The descriptor of the file now at ``path``, and that file's size (-1: unknown).

        The descriptor is kept open, but a ledger that was renamed (logrotate), replaced or
        deleted since is closed and ``path`` (re)opened, so records always land there.
        """
        if self._fd is not None and self._fd_pid == os.getpid():
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._dir_ready = False  # its directory may be gone too
            else:
                if (st.st_dev, st.st_ino) == self._fd_id:
                    return self._fd, st.st_size
            self._close_fd()
        return self._open_fd(), -1

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        # One write per call: O_APPEND makes it land whole at the end of the file even when
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
                # The file still ends where this backend's last line ended: it ends in that
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
        """Close the file (it reopens on the next write). Safe to call twice."""
        self._close_fd()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:  # not when __init__ failed half-way
            self._close_fd()

    # -- reading --

    def iter_records(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[UsageRecord]:
        """The records in a window, in file order (see :class:`LedgerBackend`).

        A missing file yields nothing; a corrupt or partial line, or one that does not fit the
        schema, is skipped with a WARNING naming its line number, and any whole records glued to
        a torn one on that line are still yielded.

        Args:
            start: Inclusive lower bound (UTC).
            end: Exclusive upper bound (UTC).

        Yields:
            The records.
        """
        for record in self._read():
            if start is not None and record.ts < start:
                continue
            if end is not None and record.ts >= end:
                continue
            yield record

    def _read(self, fast: FastPath | None = None) -> Iterator[UsageRecord]:
        return read_file(self.path, fast)

    def aggregate(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        by_tags: Sequence[str] = (),
    ) -> Aggregate:
        """Sum the records in a window, reading the whole file.

        Lines in the form this backend writes are summed straight from the parsed JSON (every
        field checked as :func:`~llmorch.ledger.records.record_from_dict` would); any other
        line takes the full path. The sums are those of :meth:`Aggregate.add` over
        :meth:`iter_records`, exactly.

        Args:
            start: Inclusive lower bound.
            end: Exclusive upper bound.
            by_tags: Tag names to group by as well.

        Returns:
            The sums.
        """
        tags = tuple(by_tags)
        sums: dict[tuple[Any, ...], list[int]] = {}
        for record in self._read(summing(sums, start, end, tags)):
            ts = record.ts
            if (start is not None and ts < start) or (end is not None and ts >= end):
                continue
            key = (
                record.provider,
                record.model,
                record.session_id,
                ts.toordinal(),
                *(record.tags.get(tag) for tag in tags),
            )
            count_into(sums, key, record.total, to_pico(record.cost), record.priced)
        return fold(sums, tags)

    def count(self) -> int:
        """The number of records in the file.

        Returns:
            The count.
        """
        return self.aggregate().total.requests

    # -- budgets (this process) --

    def _window_spent(self, claim: Claim) -> int:
        key = (claim.budget, claim.window)
        spent = self._spent.get(key)
        if spent is None:
            spent = self._spent[key] = _seed(self.iter_records(claim.start, claim.end), claim)
        return spent

    def reserve(self, hold: Hold, now: float) -> BudgetState | None:
        """Reserve a hold in this process (see :meth:`LedgerBackend.reserve`).

        Args:
            hold: The reservation.
            now: The current Unix time.

        Returns:
            ``None`` when reserved, else the state of the first budget it would pass.
        """
        with self._state_lock:
            self._expire(now)
            for claim in hold.claims:
                state = self._state(claim)
                if state.spent_pico + state.reserved_pico + hold.amount_pico > claim.limit_pico:
                    return state
            self._holds[hold.id] = hold
            return None

    def _expire(self, now: float) -> None:
        for hold_id in [h.id for h in self._holds.values() if h.expires_at <= now]:
            del self._holds[hold_id]

    def _state(self, claim: Claim) -> BudgetState:
        reserved = sum(
            h.amount_pico
            for h in self._holds.values()
            if any(c.budget == claim.budget and c.window == claim.window for c in h.claims)
        )
        return BudgetState(
            claim.budget, claim.window, claim.limit_pico, self._window_spent(claim), reserved
        )

    def _settle(self, record: UsageRecord, hold: Hold) -> None:
        pico = to_pico(record.cost)
        with self._state_lock:
            self._holds.pop(hold.id, None)
            for claim in hold.claims:
                key = (claim.budget, claim.window)
                if key in self._spent:
                    self._spent[key] += pico

    def release(self, hold_id: str) -> None:
        """Drop a reservation.

        Args:
            hold_id: The hold's id.
        """
        with self._state_lock:
            self._holds.pop(hold_id, None)

    def budget_state(self, claims: Sequence[Claim], now: float) -> list[BudgetState]:
        """The windows' spend (seeded from the file once) and this process's reservations.

        Args:
            claims: The windows.
            now: The current Unix time.

        Returns:
            One state per claim.
        """
        with self._state_lock:
            self._expire(now)
            return [self._state(claim) for claim in claims]

    # -- cooldowns (this process) --

    def bench(self, provider: str, model: str, until: float) -> None:
        """Skip a model in this process until a time.

        Args:
            provider: The configured provider name.
            model: The model id.
            until: Unix time.
        """
        with self._state_lock:
            key = (provider, model)
            self._benched[key] = max(until, self._benched.get(key, 0.0))

    def benched(self, provider: str, now: float) -> dict[str, float]:
        """The models this process benched past ``now``.

        Args:
            provider: The configured provider name.
            now: The current Unix time.

        Returns:
            Model id → Unix time.
        """
        with self._state_lock:
            return {m: t for (p, m), t in self._benched.items() if p == provider and t > now}


def _seed(records: Iterable[UsageRecord], claim: Claim) -> int:
    """The spend already recorded in a budget's window."""
    return sum(to_pico(r.cost) for r in records if claim.match.matches(r))


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
