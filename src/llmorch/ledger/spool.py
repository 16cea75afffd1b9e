"""The spool: a local JSON-lines file holding records the ledger's store refused.

When a write fails (the database is down, the disk is full) the entries go to the spool and
the tracker retries them with the next write that succeeds, oldest first. Storing is
idempotent by record id, so a record flushed twice (by two processes sharing a spool, or after
a crash between the flush and the truncation) is still stored once. The file is locked while
it is appended to or drained, so several processes may share one spool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock between processes
    fcntl = None  # type: ignore[assignment]

from llmorch.ledger.base import Claim, Entry, Hold, RecordFilter
from llmorch.ledger.records import parse_ts, record_from_dict, record_to_dict

__all__ = ["Spool"]

logger = logging.getLogger("llmorch.costs")


def _hold_to_dict(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "amount_pico": hold.amount_pico,
        "expires_at": hold.expires_at,
        "claims": [
            {
                "budget": c.budget,
                "window": c.window,
                "start": c.start.isoformat() if c.start else None,
                "end": c.end.isoformat() if c.end else None,
                "limit_pico": c.limit_pico,
                "match": {
                    "provider": c.match.provider,
                    "model": c.match.model,
                    "session": c.match.session,
                    "tags": dict(c.match.tags),
                },
            }
            for c in hold.claims
        ],
    }


def _hold_from_dict(d: dict[str, Any]) -> Hold:
    return Hold(
        id=str(d["id"]),
        amount_pico=int(d["amount_pico"]),
        expires_at=float(d["expires_at"]),
        claims=tuple(
            Claim(
                budget=str(c["budget"]),
                window=str(c["window"]),
                start=parse_ts(c["start"]) if c["start"] else None,
                end=parse_ts(c["end"]) if c["end"] else None,
                limit_pico=int(c["limit_pico"]),
                match=RecordFilter(
                    provider=c["match"]["provider"],
                    model=c["match"]["model"],
                    session=c["match"]["session"],
                    tags=dict(c["match"]["tags"]),
                ),
            )
            for c in d["claims"]
        ),
    )


class Spool:
    """Entries waiting for the ledger's store.

    Args:
        path: The spool file (relative paths resolve against the working directory now).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self._pending = os.path.exists(self.path) and os.path.getsize(self.path) > 0

    @property
    def pending(self) -> bool:
        """Whether this process may have entries waiting (a cheap check, no I/O)."""
        return self._pending

    @contextlib.contextmanager
    def _locked(self, flags: int) -> Iterator[int]:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, flags | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def add(self, entries: Sequence[Entry]) -> None:
        """Append entries.

        Args:
            entries: The entries the store refused.

        Raises:
            OSError: The spool itself could not be written.
        """
        lines = b"".join(
            json.dumps(
                {
                    "record": record_to_dict(e.record),
                    "hold": _hold_to_dict(e.hold) if e.hold else None,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode("utf-8")
            + b"\n"
            for e in entries
        )
        with self._locked(os.O_WRONLY | os.O_APPEND) as fd:
            os.write(fd, lines)
        self._pending = True

    def flush(self, store: Callable[[Sequence[Entry]], None]) -> int:
        """Hand every spooled entry to ``store`` (oldest first), then empty the spool.

        A line that cannot be read back is kept in ``PATH.bad`` and warned about.

        Args:
            store: Stores entries or raises (then the spool is left as it was).

        Returns:
            How many entries were stored.
        """
        if not os.path.exists(self.path):
            self._pending = False
            return 0
        with self._locked(os.O_RDWR) as fd:
            with os.fdopen(os.dup(fd), "rb") as fh:
                raw_lines = fh.read().splitlines()
            entries: list[Entry] = []
            bad: list[bytes] = []
            for raw in raw_lines:
                if not raw.strip():
                    continue
                try:
                    d = json.loads(raw)
                    entries.append(
                        Entry(
                            record_from_dict(d["record"]),
                            _hold_from_dict(d["hold"]) if d.get("hold") else None,
                        )
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    logger.warning("spool %s: unreadable line kept aside: %s", self.path, exc)
                    bad.append(raw)
            if entries:
                store(entries)
            if bad:
                with open(self.path + ".bad", "ab") as out:
                    out.write(b"\n".join(bad) + b"\n")
            os.ftruncate(fd, 0)
        self._pending = False
        return len(entries)
