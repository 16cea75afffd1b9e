"""Reading a JSON-lines ledger fast, and exactly as the line-by-line reader would.

The file is read in blocks; each block is decoded once and parsed a line at a time by the JSON
scanner. A line in the form the writer produces is summed straight from the parsed JSON when a
report asks (every field checked as :func:`~llmorch.ledger.records.record_from_dict` checks
it); anything else — a blank, torn, glued or non-UTF-8 line, a version 1 line — takes the
line-by-line path, with its line number, WARNING and resynchronisation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from itertools import chain
from typing import Any, BinaryIO, cast

from llmorch.exceptions import OrchestratorError
from llmorch.ledger.base import GROUPS, PICO, Aggregate, Bucket
from llmorch.ledger.records import LEDGER_COLUMNS, record_from_dict
from llmorch.types import UsageRecord

__all__ = ["FastPath", "count_into", "fold", "read_file", "resync", "summing"]

logger = logging.getLogger("llmorch.costs")

_RECORD_START = '{"v"'  # every ledger line begins so; a reader resynchronises at it
_MAX_RESYNC_MISSES = 64  # bounds the work spent on one corrupt line
_DECODER = json.JSONDecoder()


def read_file(path: str, fast: FastPath | None = None) -> Iterator[UsageRecord]:
    """Every record of the file, in order (see :meth:`JsonlLedger.iter_records` for bad lines).

    The file is read in blocks of :data:`_BLOCK` bytes, each decoded once and parsed a
    line at a time by the JSON scanner, without splitting it into lines. A line that does
    not parse in one go (blank, torn, glued, not UTF-8 ...) is handed to the line-by-line
    path, which gives it the line number, WARNING and resynchronisation it always had.

    Args:
        path: The ledger file.
        fast: Takes a parsed line first; when it returns True the line was a valid
            record and it has dealt with it (no :class:`UsageRecord` is built or yielded).

    Yields:
        The records that did not go to ``fast``.
    """
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    lines = _Lines(path)
    with fh:
        lineno = 0  # lines before the block
        for block in _blocks(fh):
            yield from _parse_block(block, lineno, lines, fast)
            lineno += block.count(b"\n")
    lines.finish()


def resync(raw: bytes) -> list[UsageRecord]:
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
class FastPath:
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
            kept = resync(raw)
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
    block: bytes, before: int, lines: _Lines, fast: FastPath | None
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


def _sum_block(text: str, fast: FastPath) -> bool:
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
    text: str, before: int, lines: _Lines, fast: FastPath | None
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


def count_into(
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


def summing(
    sums: dict[tuple[Any, ...], list[int]],
    start: datetime | None,
    end: datetime | None,
    tags: tuple[str, ...],
) -> FastPath:
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

    return FastPath(make(sums), undo)


def fold(sums: dict[tuple[Any, ...], list[int]], tags: tuple[str, ...]) -> Aggregate:
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
