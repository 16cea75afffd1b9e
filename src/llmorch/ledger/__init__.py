"""Where the cost ledger lives: a JSON-lines file, SQLite or PostgreSQL, chosen by URL.

``open_ledger("jsonl:./llm_costs.log")``, ``open_ledger("sqlite:///costs.db")`` and
``open_ledger("postgresql://app@db/llm")`` return a :class:`LedgerBackend`; the
:class:`~llmorch.costs.CostTracker` writes to it, reads reports from it and keeps budget
reservations and shared cooldowns in it (SPEC §2.11).
"""

from __future__ import annotations

from llmorch.exceptions import ConfigurationError
from llmorch.ledger.base import (
    Aggregate,
    BudgetState,
    Claim,
    Entry,
    Hold,
    LedgerBackend,
    LedgerUnavailableError,
    RecordFilter,
)
from llmorch.ledger.jsonl import JsonlLedger
from llmorch.ledger.urls import LedgerURL, parse_ledger_url

__all__ = [
    "Aggregate",
    "BudgetState",
    "Claim",
    "Entry",
    "Hold",
    "JsonlLedger",
    "LedgerBackend",
    "LedgerURL",
    "LedgerUnavailableError",
    "RecordFilter",
    "open_ledger",
    "parse_ledger_url",
]


def open_ledger(url: str | LedgerURL, *, fsync: bool = False) -> LedgerBackend:
    """The backend a ledger URL names. Nothing is connected yet: that happens on first use.

    Args:
        url: ``jsonl:PATH``, ``sqlite:///PATH`` (``sqlite:////abs/path``) or
            ``postgresql://...`` (a libpq URL; ``llmorch[postgres]``).
        fsync: JSON lines only: ``fsync`` after each write.

    Returns:
        The backend.

    Raises:
        ConfigurationError: The URL is malformed, or its backend's extra is not installed.
    """
    parsed = url if isinstance(url, LedgerURL) else parse_ledger_url(url)
    if parsed.scheme == "jsonl":
        return JsonlLedger(parsed.target, fsync=fsync)
    if parsed.scheme == "sqlite":
        from llmorch.ledger.sqlite import SqliteLedger

        return SqliteLedger(parsed.target)
    try:
        from llmorch.ledger.postgres import PostgresLedger
    except ImportError as exc:
        raise ConfigurationError(
            f"a PostgreSQL ledger needs psycopg 3: pip install 'llmorch[postgres]' ({exc})"
        ) from exc
    return PostgresLedger(parsed.target, display=parsed.display)
