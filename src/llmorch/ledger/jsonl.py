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
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from itertools import chain
from typing import Any, BinaryIO, cast

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: records are appended without the checks
    fcntl = None  # type: ignore[assignment]

from llmorch.exceptions import OrchestratorError
from llmorch.ledger.base import (
    GROUPS,
    PICO,
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
from llmorch.ledger.records import LEDGER_COLUMNS, encode_record, record_from_dict
from llmorch.types import UsageRecord

__all__ = ["JsonlLedger"]

logger = logging.getLogger("llmorch.costs")

_RECORD_START = '{"v"'  # every ledger line begins so; a reader resynchronises at it
_MAX_RESYNC_MISSES = 64  # bounds the work spent on one corrupt line
_DECODER = json.JSONDecoder()
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

    def _read(self, fast: _FastPath | None = None) -> Iterator[UsageRecord]:
        """Every record of the file, in order (see :meth:`iter_records` for bad lines).

        The file is read in blocks of :data:`_BLOCK` bytes, each decoded once and parsed a
        line at a time by the JSON scanner, without splitting it into lines. A line that does
        not parse in one go (blank, torn, glued, not UTF-8 ...) is handed to the line-by-line
        path, which gives it the line number, WARNING and resynchronisation it always had.

        Args:
            fast: Takes a parsed line first; when it returns True the line was a valid
                record and it has dealt with it (no :class:`UsageRecord` is built or yielded).
        """
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        lines = _Lines(self.path)
        with fh:
            lineno = 0  # lines before the block
            for block in _blocks(fh):
                yield from _parse_block(block, lineno, lines, fast)
                lineno += block.count(b"\n")
        lines.finish()

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
        for record in self._read(_summing(sums, start, end, tags)):
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
            _count(sums, key, record.total, to_pico(record.cost), record.priced)
        return _fold(sums, tags)

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


# -- the reader ---------------------------------------------------------------------------------

_BLOCK = 1 << 16  # bytes read, decoded and parsed at a time
# The decoder's scanner (C when available): (text, index) -> (value, end index), or
# StopIteration when no JSON value starts at the index.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_V2_KEYS = LEDGER_COLUMNS  # a version 2 line, in the order the writer puts them
_V1_KEYS = LEDGER_COLUMNS[:-4]  # a version 1 line: no id, latency_s, tool_calls, warnings
_V2_SIZE = len(_V2_KEYS)
_MAX_SKIPS = 64  # blocks read line by line, at most, after one that could not be read whole
_round = float.__round__


@dataclass(frozen=True)
class _FastPath:
    """How :meth:`JsonlLedger.aggregate` sums a parsed line without building a record.

    Attributes:
        add: Takes a parsed line; returns True when it was a valid record and is counted (or
            outside the window), False when it must take the full path (nothing counted).
        undo: Takes back what ``add`` counted for some lines.
    """

    add: Callable[[Any], bool]
    undo: Callable[[Iterable[Any]], None]


class _Lines:
    """The line-by-line path, and what tells a ledger with bad lines from a file that is not one.

    Bad lines are reported once a line that looks like a record (a JSON object, even a torn
    one) shows the file is a ledger; a file with no such line at all (a config, a CSV) is not a
    ledger: one error, not a warning per line.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.held: list[tuple[int, Exception, int]] = []
        self.is_ledger = False
        self.skip = 0  # blocks still to read line by line
        self.skips = 1  # how many the next block that cannot be read whole sets it to

    def good(self) -> None:
        """A valid record was read."""
        if not self.is_ledger:
            self.is_ledger = True
            self.warn()

    def line(self, lineno: int, raw: bytes) -> list[UsageRecord]:
        """The records of one line (as read from the file, newline included)."""
        if not raw.strip():
            return []
        try:
            record = record_from_dict(json.loads(raw.decode("utf-8")))
        except (ValueError, TypeError, RecursionError) as exc:
            kept = _resync(raw)
            self.held.append((lineno, exc, len(kept)))
            if kept or raw.lstrip().startswith(b"{"):
                self.is_ledger = True
            if self.is_ledger:
                self.warn()
            return kept
        self.good()
        return [record]

    def warn(self) -> None:
        """Log the bad lines held so far."""
        for lineno, exc, kept in self.held:
            logger.warning(
                "skipping line %d of the cost ledger %s: %s%s",
                lineno,
                self.path,
                exc,
                f" (kept the {kept} whole record(s) glued to it)" if kept else "",
            )
        self.held.clear()

    def finish(self) -> None:
        """The end of the file: a file of bad lines only is not a ledger."""
        if self.held and not self.is_ledger:
            first, problem, _ = self.held[0]
            raise OrchestratorError(
                f"{self.path}: not a llmorch cost ledger (none of its {len(self.held)} "
                f"line(s) is a ledger record; line {first}: {problem})"
            )


def _blocks(fh: BinaryIO) -> Iterator[bytes]:
    """The file in blocks of whole lines (the last one may lack its newline)."""
    parts: list[bytes] = []  # the start of a line longer than a block, read so far
    while chunk := fh.read(_BLOCK):
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            parts.append(chunk)
            continue
        if parts:
            parts.append(chunk[:cut])
            yield b"".join(parts)
            parts = []
        else:
            yield chunk[:cut] if cut < len(chunk) else chunk
        if cut < len(chunk):
            parts.append(chunk[cut:])
    if parts:
        yield b"".join(parts)


def _parse_block(
    block: bytes, before: int, lines: _Lines, fast: _FastPath | None
) -> Iterator[UsageRecord]:
    """The records of a block of whole lines whose first line is line ``before + 1``."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:  # somewhere in the block: every line on its own
        pos = 0
        while pos < len(block):
            stop = block.find(b"\n", pos) + 1 or len(block)
            before += 1
            yield from lines.line(before, block[pos:stop])
            pos = stop
        return
    # A JSON escape of a lone surrogate changes a string when the record is built
    # (utf8_text): only whole records are built from such a block.
    if fast is not None and "\\" in text and ("\\ud" in text or "\\uD" in text):
        fast = None
    if fast is not None:
        if lines.skip:
            lines.skip -= 1
        elif _sum_block(text, fast):
            lines.good()
            lines.skips = 1
            return
        else:  # a block with a line the fast path does not take: line by line for a while
            lines.skip, lines.skips = lines.skips, min(2 * lines.skips, _MAX_SKIPS)
    yield from _scan_block(text, before, lines, fast)


def _sum_block(text: str, fast: _FastPath) -> bool:
    r"""Sum a block whose lines are all records the fast path takes, with one ``json.loads``.

    Each line is wrapped in a list and the lines joined into one JSON array:
    ``[[line 1],\n[line 2],...]``. No JSON string spans a newline, so the array's elements
    are the lines' wrappers, unless a line opens a list it does not close (its wrapper
    swallows the next lines) or closes its own wrapper early (it becomes several elements).
    The first puts a list of lists in some element, which the fast path refuses (its records
    hold lists of strings only); then the count of elements equal to the count of lines rules
    out the second. So when every element is a one-item list that the fast path takes, each
    line parses on its own to that item, which is what ``json.loads`` of the line gives.

    Returns:
        True when the block was summed; False when some line needs the line-by-line path
        (whatever was counted of the block is taken back).
    """
    body = text[:-1] if text.endswith("\n") else text
    try:
        items = json.loads("[[" + body.replace("\n", "],\n[") + "]]")
    except (ValueError, RecursionError):
        return False
    if len(items) != body.count("\n") + 1:
        return False
    if set(map(len, items)) != {1}:  # some line is not one JSON value
        return False
    values = list(chain.from_iterable(items))
    rest = iter(values)
    if all(map(fast.add, rest)):
        return True
    fast.undo(values[: len(values) - sum(1 for _ in rest) - 1])  # the lines before the refused
    return False


def _scan_block(
    text: str, before: int, lines: _Lines, fast: _FastPath | None
) -> Iterator[UsageRecord]:
    """The records of a decoded block, a line at a time."""
    add = fast.add if fast is not None else None
    torn_end = not text.endswith("\n")
    if torn_end:
        text += "\n"
    scan, end, pos = _SCAN, len(text), 0
    counted, counted_at = before, 0  # lines before the one at counted_at
    while pos < end:
        try:
            value, stop = scan(text, pos)
        except (StopIteration, ValueError, RecursionError):
            stop = -1
        if stop != -1 and text[stop] == "\n":
            # The line is one JSON value and nothing else: what json.loads would give.
            if add is not None and add(value):
                lines.good()
                pos = stop + 1
                continue
            try:
                record = record_from_dict(value)
            except (ValueError, TypeError, RecursionError):
                pass  # the line-by-line path reports it
            else:
                lines.good()
                yield record
                pos = stop + 1
                continue
        stop = text.find("\n", pos)
        counted += text.count("\n", counted_at, pos)
        counted_at = pos
        newline = b"" if torn_end and stop == end - 1 else b"\n"
        yield from lines.line(counted + 1, text[pos:stop].encode("utf-8") + newline)
        pos = stop + 1


def _count(
    sums: dict[tuple[Any, ...], list[int]],
    key: tuple[Any, ...],
    tokens: int,
    pico: int,
    priced: bool,
) -> None:
    """Count one record into its group of :func:`_summing`'s sums."""
    acc = sums.get(key)
    if acc is None:
        sums[key] = [1, tokens, pico, 0 if priced else 1]
    else:
        acc[0] += 1
        acc[1] += tokens
        acc[2] += pico
        if not priced:
            acc[3] += 1


def _summing(
    sums: dict[tuple[Any, ...], list[int]],
    start: datetime | None,
    end: datetime | None,
    tags: tuple[str, ...],
) -> _FastPath:
    """The fast path of :meth:`JsonlLedger.aggregate`.

    A line is taken only when it holds exactly the keys of a version 2 (or 1) line, in the
    writer's order, and every value has the type
    :func:`~llmorch.ledger.records.record_from_dict` accepts and keeps as is (strings without
    lone surrogates, a finite float cost, a flat tag dict of strings, lists of strings, a
    timestamp read as UTC); for such a line the record would carry these very values, so
    summing them is summing the record. Anything else returns False and takes the full path.
    Sums go to ``sums``: ``(provider, model, session, UTC day ordinal, *tag values)`` →
    ``[requests, tokens, pico-dollars, unpriced]``.
    """
    fromiso = datetime.fromisoformat
    utc = timezone.utc
    windowed = start is not None or end is not None
    seen = [_V2_KEYS]  # the last keys taken: the same str objects within one json.loads

    def make(into: dict[tuple[Any, ...], list[int]]) -> Callable[[Any], bool]:
        def add(d: Any) -> bool:
            if type(d) is not dict:
                return False
            keys = tuple(d)
            if keys != seen[0] and keys != _V2_KEYS and keys != _V1_KEYS:
                return False
            seen[0] = keys
            if len(keys) == _V2_SIZE:
                (
                    v,
                    ts,
                    session,
                    provider,
                    model,
                    answered,
                    request_id,
                    prompt,
                    completion,
                    total,
                    cache_read,
                    cache_write,
                    reasoning,
                    cost,
                    as_of,
                    priced,
                    complete,
                    estimated,
                    record_tags,
                    record_id,
                    latency,
                    tool_calls,
                    warnings,
                ) = d.values()
                if not (
                    (record_id is None or type(record_id) is str)
                    and (latency is None or type(latency) is float)
                    and type(tool_calls) is list
                    and type(warnings) is list
                ):
                    return False
                if tool_calls or warnings:
                    try:
                        "".join(tool_calls)  # TypeError unless all strings
                        "".join(warnings)
                    except TypeError:
                        return False
            else:
                (
                    v,
                    ts,
                    session,
                    provider,
                    model,
                    answered,
                    request_id,
                    prompt,
                    completion,
                    total,
                    cache_read,
                    cache_write,
                    reasoning,
                    cost,
                    as_of,
                    priced,
                    complete,
                    estimated,
                    record_tags,
                ) = d.values()
            if not (
                type(v)
                is type(total)
                is type(prompt)
                is type(completion)
                is type(cache_read)
                is type(cache_write)
                is type(reasoning)
                is int
                and v >= 1
                and type(provider) is type(model) is type(session) is str
                and type(cost) is float
                and cost - cost == 0.0  # finite
                and type(priced) is type(complete) is type(estimated) is bool
                and (answered is None or type(answered) is str)
                and (request_id is None or type(request_id) is str)
                and (as_of is None or type(as_of) is str)
                and type(record_tags) is dict
            ):
                return False
            try:
                "".join(record_tags.values())  # TypeError unless all strings
                when = fromiso(ts)  # TypeError unless a string
            except (TypeError, ValueError):
                return False
            if when.tzinfo is not utc:  # parse_ts would convert it: the full path
                return False
            if windowed and (
                (start is not None and when < start) or (end is not None and when >= end)
            ):
                return True
            if tags:
                key: tuple[Any, ...] = (
                    provider,
                    model,
                    session,
                    when.toordinal(),
                    *map(record_tags.get, tags),
                )
            else:
                key = (provider, model, session, when.toordinal())
            acc = into.get(key)
            if acc is None:
                into[key] = [1, total, _round(cost * PICO), 0 if priced else 1]
            else:
                acc[0] += 1
                acc[1] += total
                acc[2] += _round(cost * PICO)
                if not priced:
                    acc[3] += 1
            return True

        return add

    scratch: dict[tuple[Any, ...], list[int]] = {}
    redo = make(scratch)

    def undo(lines: Iterable[Any]) -> None:
        scratch.clear()
        for d in lines:
            redo(d)
        for key, (requests, tokens, pico, unpriced) in scratch.items():
            acc = sums[key]
            acc[0] -= requests
            acc[1] -= tokens
            acc[2] -= pico
            acc[3] -= unpriced

    return _FastPath(make(sums), undo)


def _fold(sums: dict[tuple[Any, ...], list[int]], tags: tuple[str, ...]) -> Aggregate:
    """The :class:`Aggregate` of :func:`_summing`'s sums."""
    agg = Aggregate()
    groups = [agg.groups[name] for name in GROUPS]
    for key, (requests, tokens, pico, unpriced) in sums.items():
        if not requests:  # taken back (a block read again line by line)
            continue
        agg.total.add(tokens, pico, requests)
        agg.unpriced += unpriced
        provider, model, session, day = cast("tuple[str, str, str, int]", key[:4])
        names = (provider, f"{provider}/{model}", session, date.fromordinal(day).isoformat())
        for group, name in zip(groups, names, strict=True):
            bucket = group.get(name)
            if bucket is None:
                bucket = group[name] = Bucket()
            bucket.add(tokens, pico, requests)
        for tag, value in zip(tags, key[4:], strict=True):
            if value is not None:
                agg.tags.setdefault(tag, {}).setdefault(value, Bucket()).add(tokens, pico, requests)
    return agg
