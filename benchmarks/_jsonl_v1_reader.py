"""The JSON-lines reader of main before issue 15's faster one, kept to measure against.

A faithful copy of that reader's loop (``CostTracker._read_ledger`` and ``get_usage_report``
at commit 4e18d42, the same loop ``JsonlLedger._read`` started from): every line is decoded,
parsed with ``json.loads`` and rebuilt as a :class:`~llmorch.types.UsageRecord` before it is
counted. The benchmark times it beside the new reader in the same run, and the reader's tests
check the new one against it. Not part of the package.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from llmorch.exceptions import OrchestratorError
from llmorch.ledger._jsonl_read import resync
from llmorch.ledger.base import Aggregate
from llmorch.ledger.records import record_from_dict
from llmorch.types import UsageRecord

__all__ = ["aggregate_v1", "read_v1", "usage_report_v1"]

logger = logging.getLogger("llmorch.costs")


def read_v1(path: str) -> Iterator[UsageRecord]:
    """Every record of a ledger file, line by line, as the old reader read it.

    Args:
        path: The file.

    Yields:
        The records (bad lines skipped with a WARNING, glued records kept).

    Raises:
        OrchestratorError: No line of the file is a ledger record.
    """
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    held: list[tuple[int, Exception, int]] = []
    is_ledger = False
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = record_from_dict(json.loads(raw.decode("utf-8")))
            except (ValueError, TypeError, RecursionError) as exc:
                kept = resync(raw)
                held.append((lineno, exc, len(kept)))
                if kept or raw.lstrip().startswith(b"{"):
                    is_ledger = True
                if is_ledger:
                    _warn_skipped(path, held)
                yield from kept
            else:
                if not is_ledger:
                    is_ledger = True
                    _warn_skipped(path, held)
                yield record
    if held and not is_ledger:
        first, problem, _ = held[0]
        raise OrchestratorError(
            f"{path}: not a llmorch cost ledger (none of its {len(held)} "
            f"line(s) is a ledger record; line {first}: {problem})"
        )


def _warn_skipped(path: str, held: list[tuple[int, Exception, int]]) -> None:
    for lineno, exc, kept in held:
        logger.warning(
            "skipping line %d of the cost ledger %s: %s%s",
            lineno,
            path,
            exc,
            f" (kept the {kept} whole record(s) glued to it)" if kept else "",
        )
    held.clear()


def _in_window(ts: datetime, start: datetime | None, end: datetime | None) -> bool:
    return not ((start is not None and ts < start) or (end is not None and ts >= end))


def aggregate_v1(
    path: str,
    start: datetime | None = None,
    end: datetime | None = None,
    by_tags: Sequence[str] = (),
) -> Aggregate:
    """The reference sums: :meth:`Aggregate.add` over :func:`read_v1` in a window.

    Args:
        path: The file.
        start: Inclusive lower bound.
        end: Exclusive upper bound.
        by_tags: Tag names to group by as well.

    Returns:
        The sums.
    """
    agg = Aggregate()
    for record in read_v1(path):
        if _in_window(record.ts, start, end):
            agg.add(record, by_tags)
    return agg


def usage_report_v1(path: str) -> dict[str, Any]:
    """The old ``get_usage_report()`` of a whole ledger: what took 18 s on 1,000,000 records.

    Args:
        path: The file.

    Returns:
        The report dict of that version.
    """
    report: dict[str, Any] = {
        "total_requests": 0,
        "total_tokens": 0,
        "total_cost": 0.0,
        "by_provider": {},
        "by_model": {},
        "by_session": {},
        "by_day": {},
        "unpriced_requests": 0,
        "start_date": None,
        "end_date": None,
    }
    for record in read_v1(path):
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
            bucket = report[group].setdefault(key, {"cost": 0.0, "requests": 0, "tokens": 0})
            bucket["cost"] = round(bucket["cost"] + record.cost, 12)
            bucket["requests"] += 1
            bucket["tokens"] += record.total
    return report
