"""``llmorch ledger migrate`` and by-tag reports across backends (issue 15, acceptance 5)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llmorch.exceptions import ConfigurationError
from llmorch.ledger import Entry, open_ledger
from llmorch.ledger.migrate import MigrationResult, migrate
from llmorch.ledger.records import LEDGER_COLUMNS, record_to_dict
from llmorch.types import UsageRecord

T0 = datetime(2026, 11, 28, 23, 30, tzinfo=timezone.utc)


def records(n: int) -> list[UsageRecord]:
    """``n`` records over three UTC days, tagged ``feature`` (three values, some missing)."""
    out = []
    for i in range(n):
        tags = {"user": f"u{i % 5}"}
        if i % 4:
            tags["feature"] = ("search", "chat", "summarize")[i % 3]
        out.append(
            UsageRecord(
                ts=T0 + timedelta(minutes=37 * i),
                session_id=f"s{i % 3}",
                provider=("openai", "anthropic")[i % 2],
                model=f"m{i % 4}",
                prompt=10 * i,
                completion=i,
                total=11 * i,
                cost=i * 0.000123,
                priced=i % 7 != 0,
                tags=tags,
                tool_calls=("search",) if i % 5 == 0 else (),
                latency_s=0.5 + i / 100,
            )
        )
    return out


def jsonl_ledger(path: Path, n: int, *, v1_lines: int = 0) -> str:
    """A JSON-lines ledger of ``n`` records (the first ``v1_lines`` written as version 1)."""
    lines = []
    for i, record in enumerate(records(n)):
        d = record_to_dict(record)
        if i < v1_lines:
            d = {k: d[k] for k in LEDGER_COLUMNS[:-4]} | {"v": 1}
        lines.append(json.dumps(d))
    path.write_text("\n".join(lines) + "\n")
    return f"jsonl:{path}"


def dst_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'copy.db'}"
    if kind == "jsonl":
        return f"jsonl:{tmp_path / 'copy.jsonl'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "jsonl"])
def test_migrating_twice_gives_the_same_count(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """jsonl → each backend: every record once, the second run stores none (v1 lines too)."""
    src = jsonl_ledger(tmp_path / "src.jsonl", 1234, v1_lines=100)
    dst = dst_url(kind, tmp_path, request)
    first = migrate(src, dst, batch=500)
    assert (first.read, first.stored, first.present) == (1234, 1234, 0)
    second = migrate(src, dst, batch=5000)
    assert (second.read, second.stored, second.present) == (1234, 0, 1234)
    backend = open_ledger(dst)
    try:
        assert backend.count() == 1234
        source = open_ledger(src)
        want = sorted((record_to_dict(r) for r in source.iter_records()), key=lambda d: d["id"])
        got = sorted((record_to_dict(r) for r in backend.iter_records()), key=lambda d: d["id"])
        assert got == want
    finally:
        backend.close()


def test_a_partly_migrated_destination_gets_the_rest(tmp_path: Path) -> None:
    """Records already in the destination are counted as present, the others stored."""
    src = jsonl_ledger(tmp_path / "src.jsonl", 300)
    dst = open_ledger(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        dst.write([Entry(r) for r in list(open_ledger(src).iter_records())[:120]])
        result = migrate(src, dst)
        assert result == MigrationResult(f"{src}", dst.url, 300, 180, 120)
        assert dst.count() == 300
    finally:
        dst.close()


def test_a_source_repeating_a_record_stores_it_once(tmp_path: Path) -> None:
    """A record replayed twice in a JSON-lines source (a spool flushed twice) is one record."""
    path = tmp_path / "src.jsonl"
    jsonl_ledger(path, 10)
    path.write_text(path.read_text() + path.read_text().splitlines()[3] + "\n")
    for name in ("copy.db", "copy.jsonl"):
        scheme = "sqlite:///" if name.endswith(".db") else "jsonl:"
        result = migrate(f"jsonl:{path}", f"{scheme}{tmp_path / name}")
        assert (result.read, result.stored, result.present) == (11, 10, 1)


def test_migrate_refuses_bad_arguments(tmp_path: Path) -> None:
    """The same ledger as source and destination, a bad URL, a batch of 0."""
    src = jsonl_ledger(tmp_path / "src.jsonl", 3)
    with pytest.raises(ConfigurationError, match="the same ledger"):
        migrate(src, f"jsonl:{tmp_path}/./src.jsonl")
    with pytest.raises(ConfigurationError, match="DST_URL"):
        migrate(src, "mongodb://x")
    with pytest.raises(ConfigurationError, match="batch"):
        migrate(src, f"sqlite:///{tmp_path / 'x.db'}", batch=0)


@pytest.mark.parametrize("by_tags", [["feature"], ["feature", "user"]])
def test_by_tag_reports_are_the_same_on_every_backend(
    by_tags: list[str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Acceptance 5: the same records give the same by-tag groups (and the whole report)."""
    src = jsonl_ledger(tmp_path / "src.jsonl", 500)
    start, end = T0 + timedelta(hours=3), T0 + timedelta(days=2)
    reports = {}
    for kind in ("jsonl", "sqlite", "postgresql"):
        url = src if kind == "jsonl" else dst_url(kind, tmp_path, request)
        if kind != "jsonl":
            migrate(src, url)
        backend = open_ledger(url)
        try:
            reports[kind] = {
                "all": backend.aggregate(by_tags=by_tags).report(None, None, by_tags),
                "window": backend.aggregate(start, end, by_tags).report(start, end, by_tags),
            }
        finally:
            backend.close()
    jsonl = reports["jsonl"]
    assert set(jsonl["all"]["by_tag"]["feature"]) == {"search", "chat", "summarize"}
    assert sum(v["requests"] for v in jsonl["all"]["by_tag"]["feature"].values()) == 375
    assert reports["sqlite"] == jsonl
    assert reports["postgresql"] == jsonl
