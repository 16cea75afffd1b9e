"""The fast JSON-lines reader gives exactly what the line-by-line reader gave.

Generated ledgers mix the lines a real file may hold (version 2 and version 1 records, records
in forms only the full path takes, torn and glued records, blank and foreign lines, bytes that
are not UTF-8, lone-surrogate escapes) and are read in blocks small enough to cut lines. The
sums must equal :meth:`Aggregate.add` over the old reader's records, and the records, the count,
the WARNINGs and the not-a-ledger error must be the old reader's.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from benchmarks._jsonl_v1_reader import aggregate_v1, read_v1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmorch.ledger._jsonl_read as jsonl_module
from llmorch.exceptions import OrchestratorError
from llmorch.ledger import JsonlLedger
from llmorch.ledger.records import LEDGER_COLUMNS, encode_record, record_to_dict
from llmorch.types import UsageRecord

T0 = datetime(2026, 11, 30, 22, tzinfo=timezone.utc)
TIMES = [T0 + timedelta(hours=h, microseconds=m) for h in range(0, 30, 3) for m in (0, 250)]
WINDOWS = [None, T0 + timedelta(hours=6), T0 + timedelta(hours=9, microseconds=250)]


def _record(draw: st.DrawFn) -> UsageRecord:
    tags = draw(
        st.dictionaries(
            st.sampled_from(["user", "feature", "team"]),
            st.sampled_from(["a", "b", "ü", "x,y"]),
            max_size=3,
        )
    )
    prompt, completion = draw(st.integers(0, 5000)), draw(st.integers(0, 900))
    return UsageRecord(
        ts=draw(st.sampled_from(TIMES)),
        session_id=draw(st.sampled_from(["s1", "s2", "sé"])),
        provider=draw(st.sampled_from(["openai", "anthropic"])),
        model=draw(st.sampled_from(["m1", "m2"])),
        prompt=prompt,
        completion=completion,
        total=prompt + completion,
        cost=draw(st.floats(0, 2, allow_nan=False)),
        priced=draw(st.booleans()),
        tags=tags,
        latency_s=draw(st.none() | st.floats(0, 9, allow_nan=False)),
        tool_calls=tuple(draw(st.lists(st.sampled_from(["search", "get"]), max_size=2))),
        request_id=draw(st.none() | st.just("req_1")),
    )


def _v1(d: dict[str, Any]) -> dict[str, Any]:
    out = {k: d[k] for k in LEDGER_COLUMNS[:-4]}
    out["v"] = 1
    return out


# Each mutation takes a record's ledger dict and gives one line (bytes, no newline).
MUTATIONS: dict[str, Any] = {
    "v2": lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode(),
    "v1": lambda d: json.dumps(_v1(d)).encode(),
    "v1 without cache_write": lambda d: json.dumps(
        {k: v for k, v in _v1(d).items() if k != "cache_write"}
    ).encode(),
    "spaced": lambda d: json.dumps(d).encode(),
    "z time": lambda d: json.dumps({**d, "ts": d["ts"].replace("+00:00", "Z")}).encode(),
    "offset": lambda d: json.dumps({**d, "ts": d["ts"].replace("+00:00", "+05:00")}).encode(),
    "naive": lambda d: json.dumps({**d, "ts": d["ts"].replace("+00:00", "")}).encode(),
    "bad time": lambda d: json.dumps({**d, "ts": "2026-13-01T00:00:00+00:00"}).encode(),
    "int cost": lambda d: json.dumps({**d, "cost": 1}).encode(),
    "int latency": lambda d: json.dumps({**d, "latency_s": 2}).encode(),
    "nan cost": lambda d: json.dumps({**d, "cost": float("nan")}).encode(),
    "huge cost": lambda d: json.dumps(d).replace('"cost": ', '"cost": 1e400 + ').encode(),
    "inf cost": lambda d: json.dumps({**d, "cost": float("inf")}).encode(),
    "null tags": lambda d: json.dumps({**d, "tags": None}).encode(),
    "tag values": lambda d: json.dumps({**d, "tags": {"user": 7, "team": None}}).encode(),
    "nested tag": lambda d: json.dumps({**d, "tags": {"user": [["x"]]}}).encode(),
    "empty id": lambda d: json.dumps({**d, "id": ""}).encode(),
    "null id": lambda d: json.dumps({**d, "id": None}).encode(),
    "str prompt": lambda d: json.dumps({**d, "prompt": "12"}).encode(),
    "bool total": lambda d: json.dumps({**d, "total": True}).encode(),
    "int priced": lambda d: json.dumps({**d, "priced": 1}).encode(),
    "tool ints": lambda d: json.dumps({**d, "tool_calls": [1]}).encode(),
    "v0": lambda d: json.dumps({**d, "v": 0}).encode(),
    "extra key": lambda d: json.dumps({**d, "later": [1, 2]}).encode(),
    "reordered": lambda d: json.dumps(dict(reversed(list(d.items())))).encode(),
    "missing model": lambda d: json.dumps({k: v for k, v in d.items() if k != "model"}).encode(),
    "surrogate": lambda d: json.dumps({**d, "session_id": "s\udcff"}).encode(),
    "pair escape": lambda d: json.dumps({**d, "session_id": "s\U0001f600"}).encode(),
    "torn": lambda d: json.dumps(d).encode()[:40],
    "glued": lambda d: (
        json.dumps(d).encode()[:50]
        + encode_record(
            UsageRecord(
                ts=T0,
                session_id="g",
                provider="openai",
                model="m1",
                prompt=1,
                completion=1,
                total=2,
                cost=0.5,
            )
        ).rstrip(b"\n")
    ),
    "two glued": lambda d: (lambda line: line + b"],[" + line)(json.dumps(d).encode()),
    "comma glued": lambda d: (lambda line: line + b"," + line)(json.dumps(d).encode()),
    "crlf": lambda d: json.dumps(d).encode() + b"\r",
    "bom": lambda d: b"\xef\xbb\xbf" + json.dumps(d).encode(),
    "not utf-8": lambda d: json.dumps(d).encode().replace(b'"s', b'"\xff', 1),
    "blank": lambda d: b"",
    "spaces": lambda d: b"  \t",
    "garbage": lambda d: b"model: gpt-4o",
    "array": lambda d: b"[1, 2]",
    "number": lambda d: b"3",
    "two values": lambda d: b"1,2",
    "open list": lambda d: json.dumps(d).encode()[:-1] + b',"x":[[1',
    "close list": lambda d: b"2]]}",
}


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    kinds = draw(
        st.lists(st.sampled_from(sorted(MUTATIONS)) | st.just("v2"), min_size=0, max_size=40)
    )
    lines = [MUTATIONS[kind](record_to_dict(_record(draw))) for kind in kinds]
    data = b"\n".join(lines)
    if lines and draw(st.booleans()):
        data += b"\n"
    return data, kinds


def _run(call: Any, caplog: pytest.LogCaptureFixture) -> tuple[Any, list[str]]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        try:
            result: Any = call()
        except OrchestratorError as exc:
            result = ("error", str(exc))
    return result, [r.getMessage() for r in caplog.records]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ledger=ledgers(),
    block=st.sampled_from([64, 300, 1 << 16]),
    start=st.sampled_from(WINDOWS),
    end=st.sampled_from([*WINDOWS[1:], None]),
    by_tags=st.sampled_from([(), ("user",), ("user", "team", "user")]),
)
def test_the_fast_reader_equals_the_line_by_line_reader(
    ledger: tuple[bytes, list[str]],
    block: int,
    start: datetime | None,
    end: datetime | None,
    by_tags: tuple[str, ...],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sums, records, count, WARNINGs and errors are the old reader's, for any mix of lines."""
    data, _ = ledger
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(jsonl_module, "_BLOCK", block)
    backend = JsonlLedger(path)

    expected = _run(lambda: aggregate_v1(str(path), start, end, by_tags), caplog)
    assert _run(lambda: backend.aggregate(start, end, by_tags), caplog) == expected

    def old_records() -> list[dict[str, Any]]:
        return [record_to_dict(r) for r in read_v1(str(path))]

    def new_records() -> list[dict[str, Any]]:
        return [record_to_dict(r) for r in backend.iter_records()]

    assert _run(new_records, caplog) == _run(old_records, caplog)
    old_count = _run(lambda: sum(1 for _ in read_v1(str(path))), caplog)
    assert _run(backend.count, caplog) == old_count


def _clean_ledger(path: Path, n: int) -> list[UsageRecord]:
    records = [
        UsageRecord(
            ts=TIMES[i % len(TIMES)],
            session_id=f"s{i % 3}",
            provider="openai",
            model=f"m{i % 2}",
            prompt=i,
            completion=1,
            total=i + 1,
            cost=i / 1000,
            tags={"user": f"u{i % 4}"},
            priced=i % 5 != 0,
        )
        for i in range(n)
    ]
    path.write_bytes(b"".join(encode_record(r) for r in records))
    return records


def test_a_clean_ledger_is_summed_without_building_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's lines all take the fast path: no UsageRecord is built for a report."""
    path = tmp_path / "ledger.jsonl"
    _clean_ledger(path, 2000)
    built: list[object] = []
    real = jsonl_module.record_from_dict

    def counting(d: Any) -> UsageRecord:
        built.append(d)
        return real(d)

    monkeypatch.setattr(jsonl_module, "record_from_dict", counting)
    agg = JsonlLedger(path).aggregate(by_tags=["user"])
    assert built == []
    assert agg == aggregate_v1(str(path), by_tags=["user"])
    assert agg.total.requests == 2000 and agg.unpriced == 400
    assert JsonlLedger(path).count() == 2000 and built == []


def test_one_odd_line_costs_its_block_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt line mid-file is reported with its line number; the sums stay exact."""
    path = tmp_path / "ledger.jsonl"
    _clean_ledger(path, 3000)
    lines = path.read_bytes().split(b"\n")
    lines[1500] = lines[1500][:30]
    path.write_bytes(b"\n".join(lines))
    monkeypatch.setattr(jsonl_module, "_BLOCK", 4096)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        agg = JsonlLedger(path).aggregate()
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        f"skipping line 1501 of the cost ledger {path}"
    ]
    assert agg.total.requests == 2999
    assert agg == aggregate_v1(str(path))


def test_a_file_that_is_not_a_ledger_is_one_error(tmp_path: Path) -> None:
    """A config file read as a ledger: the old one-line error, not a warning per line."""
    path = tmp_path / "config.yaml"
    path.write_text("providers:\n  openai: {}\n")
    with pytest.raises(OrchestratorError, match="not a llmorch cost ledger .* line 1"):
        JsonlLedger(path).aggregate()
