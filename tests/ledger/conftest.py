"""Fixtures for the ledger backends: a PostgreSQL database of its own per test, and every backend.

The PostgreSQL tests use the machine's real server (127.0.0.1:5432, trust auth). Each gets a
fresh database, dropped afterwards. Without a server they skip on a developer machine; under
``CI=true`` they fail instead, so CI never passes by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmorch.ledger import LedgerBackend, open_ledger

PG_HOST = os.environ.get("LLMORCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("LLMORCH_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("LLMORCH_TEST_PG_USER", "postgres")
BACKENDS = ("jsonl", "sqlite", "postgresql")


def _admin_url() -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"


def pg_server_or_skip() -> None:
    """Skip when no PostgreSQL answers (fail instead under CI=true)."""
    psycopg = pytest.importorskip("psycopg") if os.environ.get("CI") != "true" else None
    if psycopg is None:
        import psycopg
    try:
        psycopg.connect(_admin_url(), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} does not answer under CI: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_HOST}:{PG_PORT}: {exc}")


def create_database() -> tuple[str, str]:
    """Create a fresh database; returns (its name, its URL)."""
    import psycopg

    name = f"llmorch_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_database(name: str) -> None:
    """Drop a test database, closing whatever still uses it."""
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a PostgreSQL database of this test's own (dropped afterwards)."""
    pg_server_or_skip()
    name, url = create_database()
    try:
        yield url
    finally:
        drop_database(name)


def url_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A ledger URL of a kind, fresh for this test."""
    if kind == "jsonl":
        return f"jsonl:{tmp_path / 'ledger.jsonl'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=BACKENDS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh ledger URL, once per backend."""
    return url_for(str(request.param), tmp_path, request)


@pytest.fixture
def any_backend(ledger_url: str) -> Iterator[LedgerBackend]:
    """A fresh backend, once per kind (closed afterwards)."""
    backend = open_ledger(ledger_url)
    try:
        yield backend
    finally:
        backend.close()
