"""Copy a ledger into another: ``llmorch ledger migrate SRC_URL DST_URL`` (SPEC §2.11).

Records are read from the source in its order (JSON lines: file order; SQL: timestamp order)
and written to the destination in batches through :meth:`LedgerBackend.write`, which stores a
record whose ``id`` is already there once. So a migration can be run again, stopped and
restarted, or pointed at a destination that already holds some of the records: each record is
stored once. Version 1 lines carry no id; each is given one derived from its content, so they too
are stored once however often they are migrated. A JSON-lines destination has no index of ids:
the ids it holds are read first and those records skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from llmorch.exceptions import ConfigurationError
from llmorch.ledger.base import Entry, LedgerBackend
from llmorch.ledger.jsonl import JsonlLedger
from llmorch.ledger.urls import parse_ledger_url
from llmorch.types import UsageRecord

__all__ = ["MigrationResult", "migrate"]


@dataclass(frozen=True)
class MigrationResult:
    """What a migration did.

    Attributes:
        src: The source's URL (no password).
        dst: The destination's URL (no password).
        read: Records read from the source.
        stored: Records the destination gained.
        present: Records read that the destination already held (``read - stored``; a
            record repeated in the source counts here from its second copy on).
    """

    src: str
    dst: str
    read: int
    stored: int
    present: int


def _open(url: str | LedgerBackend, key: str) -> tuple[LedgerBackend, bool]:
    """The backend for a URL (and True: opened here, to be closed), or a backend as given."""
    if isinstance(url, LedgerBackend):
        return url, False
    from llmorch.ledger import open_ledger

    return open_ledger(parse_ledger_url(url, key=key)), True


def _same_store(src: LedgerBackend, dst: LedgerBackend) -> bool:
    return type(src) is type(dst) and src.url == dst.url


def _batches(
    records: Iterator[UsageRecord], size: int, skip: set[str] | None
) -> Iterator[tuple[int, list[Entry]]]:
    """``(records read, entries to write)`` per batch of ``size`` records read."""
    batch: list[Entry] = []
    read = 0
    for record in records:
        read += 1
        if skip is None:
            batch.append(Entry(record))
        elif record.id not in skip:
            # Checked against the file here: it need not read itself again for each batch.
            skip.add(record.id)
            batch.append(Entry(record, fresh=True))
        if read % size == 0:
            yield read, batch
            batch = []
    yield read, batch


def migrate(
    src: str | LedgerBackend, dst: str | LedgerBackend, *, batch: int = 5000
) -> MigrationResult:
    """Copy every record of one ledger into another, idempotently (by record id).

    Args:
        src: The source: a ledger URL (``jsonl:PATH``, ``sqlite:///PATH``,
            ``postgresql://...``) or a backend.
        dst: The destination, likewise (created when absent).
        batch: Records per :meth:`LedgerBackend.write` (one transaction each on SQL).

    Returns:
        The counts.

    Raises:
        ConfigurationError: A malformed URL, a batch below 1, or source and destination are
            the same ledger.
        LedgerUnavailableError: A store could not be reached; the batches written before stay
            written (running the migration again completes it).
        OrchestratorError: The source is a file that is not a ledger.
    """
    if batch < 1:
        raise ConfigurationError(f"batch must be at least 1, got {batch}")
    source, close_source = _open(src, "SRC_URL")
    try:
        target, close_target = _open(dst, "DST_URL")
        try:
            if _same_store(source, target):
                raise ConfigurationError(
                    f"{source.url}: the source and the destination are the same ledger"
                )
            return _copy(source, target, batch)
        finally:
            if close_target:
                target.close()
    finally:
        if close_source:
            source.close()


def _copy(source: LedgerBackend, target: LedgerBackend, size: int) -> MigrationResult:
    # A JSON-lines file appends whatever it is given: the ids it holds are skipped here, and
    # every id written joins them (so a record repeated in the source is written once too).
    skip = {r.id for r in target.iter_records()} if isinstance(target, JsonlLedger) else None
    before = len(skip) if skip is not None else target.count()
    read = 0
    for done, entries in _batches(source.iter_records(), size, skip):
        if entries:
            target.write(entries)
        read = done
    stored = (len(skip) if skip is not None else target.count()) - before
    return MigrationResult(source.url, target.url, read, stored, max(read - stored, 0))
