from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llmorch.costs import (
    LEDGER_COLUMNS,
    CostTracker,
    compute_cost,
    record_from_dict,
    record_to_dict,
)
from llmorch.exceptions import ConfigurationError
from llmorch.pricing import DEFAULT_PRICES, PRICING_AS_OF, ModelPrice
from llmorch.types import UsageRecord, normalize_tokens

SRC = str(Path(__file__).resolve().parents[1] / "src")
UTC = timezone.utc


def _line(ts: datetime | str, **kw: Any) -> str:
    d: dict[str, Any] = {
        "v": 1,
        "ts": ts if isinstance(ts, str) else ts.isoformat(),
        "session_id": "s1",
        "provider": "openai",
        "model": "gpt-4o",
        "model_answered": None,
        "request_id": None,
        "prompt": 10,
        "completion": 5,
        "total": 15,
        "cache_read": 0,
        "cache_write": 0,
        "reasoning": 0,
        "cost": 0.001,
        "pricing_as_of": PRICING_AS_OF,
        "priced": True,
        "complete": True,
        "estimated": False,
        "tags": {},
    }
    d.update(kw)
    return json.dumps(d) + "\n"


# --- arithmetic --------------------------------------------------------------------------------


def test_openai_cached_tokens_are_part_of_prompt() -> None:
    """OpenAI cached tokens are billed at the cached rate and not again at the input rate."""
    t = CostTracker(enabled=False)
    tokens = normalize_tokens(10_000, 1_000, cache_read=4_000)
    # 6,000 x 2.50 + 4,000 x 1.25 + 1,000 x 10 = 30,000 per million
    assert t.calculate_cost("openai", "gpt-4o", tokens) == pytest.approx(0.03)


def test_anthropic_cache_read_and_5m_and_1h_writes() -> None:
    """Anthropic reads, 5-minute writes and 1-hour writes each get their own rate."""
    t = CostTracker(enabled=False)
    tokens: dict[str, int] = {
        **normalize_tokens(10_000, 500, cache_read=5_000, cache_write=3_000),
        "cache_write_1h": 1_000,
    }
    # 2,000 x 3 + 5,000 x 0.30 + 2,000 x 3.75 + 1,000 x 6 + 500 x 15 = 28,500 per million
    assert t.calculate_cost("anthropic", "claude-sonnet-4-5-20250929", tokens) == pytest.approx(
        0.0285
    )


def test_1h_writes_fall_back_to_the_write_price() -> None:
    """Without a 1-hour price, 1-hour writes cost the 5-minute write price (not 2x input)."""
    price = ModelPrice(1.0, 2.0, cache_write=1.5)
    tokens = {"prompt": 1_000_000, "completion": 0, "cache_write": 1_000_000, "cache_write_1h": 10}
    assert compute_cost(price, tokens) == pytest.approx(1.5)


def test_reasoning_is_not_counted_twice() -> None:
    """Reasoning tokens are part of completion and are billed once, as output."""
    t = CostTracker(enabled=False)
    with_reasoning = normalize_tokens(0, 1_000, reasoning=800)
    assert t.calculate_cost("openai", "gpt-5-mini", with_reasoning) == pytest.approx(0.002)


def test_gemini_long_context_tier_applies_to_whole_request() -> None:
    """A Gemini 2.5 Pro prompt over 200k tokens is priced entirely at the long tier."""
    t = CostTracker(enabled=False)
    long = normalize_tokens(300_000, 10_000, cache_read=100_000)
    # 200,000 x 2.50 + 100,000 x 0.25 + 10,000 x 15 = 675,000 per million
    assert t.calculate_cost("gemini", "gemini-2.5-pro", long) == pytest.approx(0.675)
    at_threshold = normalize_tokens(200_000, 1_000)
    # 200,000 x 1.25 + 1,000 x 10
    assert t.calculate_cost("gemini", "models/gemini-2.5-pro", at_threshold) == pytest.approx(0.26)


def test_long_tier_without_long_cache_price_uses_the_short_one() -> None:
    """Above the threshold a missing cache_read_long falls back to cache_read."""
    price = ModelPrice(
        1.0, 2.0, cache_read=0.1, long_context_threshold=10, input_long=3.0, output_long=4.0
    )
    tokens = {"prompt": 1_000_000, "completion": 1_000_000, "cache_read": 500_000}
    assert compute_cost(price, tokens) == pytest.approx(0.5 * 3.0 + 0.5 * 0.1 + 4.0)


def test_unpriced_cache_tokens_cost_the_input_price() -> None:
    """With no cache prices, cached tokens cost the input price; oversized parts are clamped."""
    price = ModelPrice(2.0, 4.0)
    tokens = {"prompt": 1_000_000, "completion": 0, "cache_read": 2_000_000, "cache_write": 5}
    assert compute_cost(price, tokens) == pytest.approx(2.0)


def test_bedrock_profile_ids_are_priced() -> None:
    """A global profile gets the base price, a geographic one (Claude >= 4.5) 10 % more."""
    t = CostTracker(enabled=False)
    tokens = normalize_tokens(1_000_000, 0)
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    cost, as_of, priced = t.price("bedrock", "global." + model, tokens)
    assert cost == pytest.approx(3.0)
    assert (as_of, priced) == (PRICING_AS_OF, True)
    assert t.price("bedrock", "us." + model, tokens)[0] == pytest.approx(3.3)


# --- overrides and provider types --------------------------------------------------------------


def test_override_wins_and_is_marked() -> None:
    """A configured price beats the default table and records pricing_as_of='override'."""
    t = CostTracker(
        enabled=False,
        pricing={"openai": {"gpt-4o": {"input": 1.0, "output": 2.0, "cache_read": 0.5}}},
    )
    tokens = normalize_tokens(1_000_000, 1_000_000, cache_read=500_000)
    rec = t.log_usage("openai", "gpt-4o-2024-08-06", tokens, "s")
    assert rec.pricing_as_of == "override"
    assert rec.cost == pytest.approx(0.5 + 0.25 + 2.0)
    # Models without an override still use the defaults.
    other = t.log_usage("openai", "gpt-4o-mini", tokens, "s")
    assert other.pricing_as_of == PRICING_AS_OF


def test_override_accepts_objects_with_attributes() -> None:
    """Overrides may be objects (e.g. pydantic models) read through their attributes."""
    model = SimpleNamespace(input=1.0, output=3.0, cache_read=None, cache_write=2.0)
    t = CostTracker(enabled=False, pricing={"local": {"my-model": model}})
    tokens = normalize_tokens(1_000_000, 1_000_000, cache_write=1_000_000)
    cost, as_of, priced = t.price("local", "my-model", tokens)
    assert (cost, as_of, priced) == (5.0, "override", True)


def test_override_model_price_instance_is_used_as_is() -> None:
    """A ModelPrice given as an override is taken unchanged."""
    t = CostTracker(enabled=False, pricing={"x": {"m": ModelPrice(1.0, 1.0)}})
    assert t.lookup_price("x", "m") == (ModelPrice(1.0, 1.0), "override")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"output": 1.0}, "needs 'input'"),
        ({"input": 1.0}, "needs 'output'"),
        ({"input": "cheap", "output": 1.0}, "pricing.openai.m.input must be a number"),
        ({"input": True, "output": 1.0}, "must be a number"),
    ],
)
def test_invalid_override_is_a_configuration_error(value: dict[str, Any], message: str) -> None:
    """A malformed override names its key path."""
    with pytest.raises(ConfigurationError, match=message):
        CostTracker(enabled=False, pricing={"openai": {"m": value}})


def test_override_long_context_threshold_is_an_int() -> None:
    """Every ModelPrice field may be overridden, the threshold kept as an int."""
    t = CostTracker(
        enabled=False,
        pricing={"g": {"m": {"input": 1, "output": 1, "long_context_threshold": 5.0}}},
    )
    found = t.lookup_price("g", "m")
    assert found is not None and found[0].long_context_threshold == 5


def test_provider_types_map_names_to_default_tables() -> None:
    """A provider named 'azure' of type openai uses the OpenAI table; its overrides still win."""
    t = CostTracker(
        enabled=False,
        provider_types={"azure": "openai", "ollama": "openai"},
        pricing={"ollama": {"gpt-4o": {"input": 0, "output": 0}}},
    )
    tokens = normalize_tokens(1_000_000, 0)
    assert t.price("azure", "gpt-4o", tokens) == (2.5, PRICING_AS_OF, True)
    assert t.price("ollama", "gpt-4o", tokens) == (0.0, "override", True)
    assert t.price("ollama", "llama3", tokens)[2] is False


def test_unpriced_model_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """An unpriced model costs 0, is flagged priced=False and warns once per tracker."""
    t = CostTracker(enabled=False)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        r1 = t.log_usage("openai", "mystery-model", normalize_tokens(10, 10), "s")
        r2 = t.log_usage("openai", "mystery-model", normalize_tokens(10, 10), "s")
    assert (r1.cost, r1.priced, r1.pricing_as_of) == (0.0, False, None)
    assert r2.priced is False
    warnings = [r for r in caplog.records if r.name == "llmorch.costs"]
    assert len(warnings) == 1
    assert "mystery-model" in warnings[0].getMessage()


def test_unknown_provider_type_is_unpriced() -> None:
    """A provider whose type has no table is unpriced."""
    assert CostTracker(enabled=False).price("nowhere", "gpt-4o", {"prompt": 1})[2] is False


def test_given_cost_is_recorded_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    """An explicit cost is kept; priced reflects whether a price exists or the cost is non-zero."""
    t = CostTracker(enabled=False)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        a = t.log_usage("openai", "gpt-4o", normalize_tokens(1, 1), "s", cost=0.5)
        b = t.log_usage("openai", "unknown", normalize_tokens(1, 1), "s", cost=0.0)
        c = t.log_usage("openai", "unknown", normalize_tokens(1, 1), "s", cost=0.2)
    assert (a.cost, a.priced, a.pricing_as_of) == (0.5, True, PRICING_AS_OF)
    assert (b.priced, b.pricing_as_of) == (False, None)
    assert c.priced is True
    assert not caplog.records


# --- logging and the ledger --------------------------------------------------------------------


def test_disabled_tracker_writes_nothing(tmp_path: Path) -> None:
    """enabled=False writes no file but still returns the priced record and session cost."""
    path = tmp_path / "ledger.log"
    t = CostTracker(enabled=False, log_path=path)
    rec = t.log_usage("openai", "gpt-4o", normalize_tokens(1_000_000, 0), "sess")
    assert rec.cost == pytest.approx(2.5)
    assert not path.exists()
    assert t.get_session_cost("sess") == pytest.approx(2.5)
    assert [r.request_id for r in t.iter_records()] == [None]
    assert t.writes_ledger is False


def test_ledger_line_has_exactly_the_columns(tmp_path: Path) -> None:
    """One call appends one JSON line whose keys are LEDGER_COLUMNS, in order."""
    path = tmp_path / "sub" / "dir" / "ledger.log"
    t = CostTracker(log_path=path)
    rec = t.log_usage(
        "anthropic",
        "claude-haiku-4-5",
        normalize_tokens(100, 50, cache_read=10, cache_write=5, reasoning=7),
        "sess",
        model_answered="claude-haiku-4-5-20251001",
        request_id="req_1",
        complete=False,
        estimated=True,
        tags={"team": "a"},
    )
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert tuple(data) == LEDGER_COLUMNS
    assert data["ts"].endswith("+00:00")
    assert (data["complete"], data["estimated"], data["tags"]) == (False, True, {"team": "a"})
    assert record_from_dict(data) == rec
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_relative_log_path_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ledger path resolves against the working directory at construction."""
    monkeypatch.chdir(tmp_path)
    t = CostTracker(log_path="rel.log")
    assert t.log_path == str(tmp_path / "rel.log")


def test_ledger_write_failure_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ledger that cannot be written logs a WARNING and the record is still returned."""
    t = CostTracker(log_path=tmp_path)  # a directory: os.open fails
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        rec = t.log_usage("openai", "gpt-4o", normalize_tokens(1, 1), "s")
    assert rec.priced
    assert any("could not append" in r.getMessage() for r in caplog.records)


def test_fsync_option_writes_durably(tmp_path: Path) -> None:
    """fsync=True still appends exactly one line per call."""
    path = tmp_path / "l.log"
    t = CostTracker(log_path=path, fsync=True)
    t.log_usage("openai", "gpt-4o", normalize_tokens(1, 1), "s")
    t.log_usage("openai", "gpt-4o", normalize_tokens(1, 1), "s")
    assert len(path.read_text().splitlines()) == 2


def test_log_path_none_keeps_records_in_memory() -> None:
    """log_path=None reports from memory."""
    t = CostTracker(log_path=None)
    t.log_usage("openai", "gpt-4o", normalize_tokens(1, 1), "s")
    assert t.get_usage_report()["total_requests"] == 1


def test_total_defaults_to_prompt_plus_completion() -> None:
    """A tokens dict without 'total' gets prompt + completion."""
    rec = CostTracker(enabled=False).log_usage(
        "openai", "gpt-4o", {"prompt": 3, "completion": 4}, "s"
    )
    assert rec.total == 7
    assert rec.tokens["total"] == 7


def test_two_processes_append_1000_whole_lines(tmp_path: Path) -> None:
    """Two processes x 500 log_usage calls on one ledger give exactly 1,000 parseable lines."""
    path = tmp_path / "shared.log"
    script = textwrap.dedent(
        f"""
        import sys
        from llmorch.costs import CostTracker
        t = CostTracker(log_path={str(path)!r})
        for i in range(500):
            t.log_usage("openai", "gpt-4o", {{"prompt": 100 + i, "completion": 50}},
                        sys.argv[1], request_id=f"{{sys.argv[1]}}-{{i}}", tags={{"pad": "x" * 300}})
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", script, name], env=env) for name in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]
    assert len(parsed) == 1000
    assert {d["request_id"] for d in parsed} == {f"{s}-{i}" for s in "ab" for i in range(500)}
    report = CostTracker(log_path=path).get_usage_report()
    assert report["total_requests"] == 1000
    assert report["by_session"]["a"]["requests"] == 500


def test_corrupt_lines_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Corrupt, partial and wrong-schema lines are skipped with their line numbers."""
    path = tmp_path / "l.log"
    now = datetime.now(UTC)
    path.write_text(
        _line(now)
        + "{not json\n"
        + _line(now, prompt="ten")
        + "\n"
        + "[1, 2]\n"
        + _line(now, model="gpt-4.1")
        + '{"v": 1, "ts": "2026'
    )
    t = CostTracker(log_path=path)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        records = list(t.iter_records())
    assert [r.model for r in records] == ["gpt-4o", "gpt-4.1"]
    messages = [r.getMessage() for r in caplog.records]
    for lineno in (2, 3, 5, 7):
        assert any(f"line {lineno} " in m for m in messages), messages
    assert len(messages) == 4


def test_invalid_utf8_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A line that is not UTF-8 is skipped, not fatal."""
    path = tmp_path / "l.log"
    path.write_bytes(b"\xff\xfe\n" + _line(datetime.now(UTC)).encode())
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        assert len(list(CostTracker(log_path=path).iter_records())) == 1
    assert "line 1 " in caplog.records[0].getMessage()


def test_missing_ledger_yields_nothing(tmp_path: Path) -> None:
    """A ledger that does not exist yet gives an empty report."""
    report = CostTracker(log_path=tmp_path / "nope.log").get_usage_report()
    assert report["total_requests"] == 0
    assert report["total_cost"] == 0.0


# --- reports -----------------------------------------------------------------------------------


def test_seven_day_report_from_an_earlier_ledger(tmp_path: Path) -> None:
    """A new tracker reports exactly the earlier records in [start, end)."""
    path = tmp_path / "l.log"
    end = datetime(2026, 11, 24, tzinfo=UTC)
    start = end - timedelta(days=7)
    stamps = {
        "before": start - timedelta(seconds=1),
        "at-start": start,
        "middle": start + timedelta(days=3),
        "just-before-end": end - timedelta(microseconds=1),
        "at-end": end,
    }
    path.write_text("".join(_line(ts, request_id=name) for name, ts in stamps.items()))
    t = CostTracker(log_path=path)
    ids = [r.request_id for r in t.iter_records(start, end)]
    assert ids == ["at-start", "middle", "just-before-end"]
    report = t.get_usage_report(start_date=start, end_date=end)
    assert report["total_requests"] == 3
    assert report["start_date"] == "2026-11-17T00:00:00+00:00"
    assert report["end_date"] == "2026-11-24T00:00:00+00:00"
    assert sorted(report["by_day"]) == ["2026-11-17", "2026-11-20", "2026-11-23"]


def test_naive_and_date_bounds_are_utc(tmp_path: Path) -> None:
    """Naive datetimes and dates are taken as UTC; other types are rejected."""
    path = tmp_path / "l.log"
    path.write_text(
        _line("2026-11-20T12:00:00Z", request_id="z")
        + _line("2026-11-21T12:00:00", request_id="naive")
        + _line("2026-11-22T14:00:00+02:00", request_id="offset")
    )
    t = CostTracker(log_path=path)
    assert [r.request_id for r in t.iter_records(datetime(2026, 11, 21))] == ["naive", "offset"]
    assert [r.request_id for r in t.iter_records(end_date=date(2026, 11, 21))] == ["z"]
    assert [r.ts.tzinfo for r in t.iter_records()] == [UTC, UTC, UTC]
    with pytest.raises(TypeError, match="start_date"):
        list(t.iter_records("2026-11-21"))  # type: ignore[arg-type]


def test_report_aggregates(tmp_path: Path) -> None:
    """Totals and the provider, provider/model, session and day groupings add up."""
    t = CostTracker(log_path=tmp_path / "l.log")
    m = 1_000_000
    t.log_usage("openai", "gpt-4o", normalize_tokens(m, 0), "s1")
    t.log_usage("openai", "gpt-4o-mini", normalize_tokens(m, 0), "s1")
    t.log_usage("azure", "gpt-4o", normalize_tokens(m, 0), "s2")
    t.log_usage("openai", "mystery", normalize_tokens(10, 5), "s2")
    report = t.get_usage_report()
    assert report["total_requests"] == 4
    assert report["total_tokens"] == 3 * m + 15
    assert report["total_cost"] == pytest.approx(2.5 + 0.15)
    assert report["unpriced_requests"] == 2  # azure has no type mapping here, mystery no price
    assert report["by_provider"]["openai"] == {
        "cost": pytest.approx(2.65),
        "requests": 3,
        "tokens": 2 * m + 15,
    }
    assert set(report["by_model"]) == {
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "azure/gpt-4o",
        "openai/mystery",
    }
    assert report["by_model"]["openai/gpt-4o"]["cost"] == pytest.approx(2.5)
    assert report["by_session"]["s1"]["requests"] == 2
    assert report["by_session"]["s2"]["cost"] == 0.0
    today = datetime.now(UTC).date().isoformat()
    assert report["by_day"][today]["requests"] == 4
    assert t.get_session_cost("s1") == pytest.approx(2.65)
    assert t.get_session_cost("unknown") == 0.0
    assert report["start_date"] is None and report["end_date"] is None


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_export(tmp_path: Path) -> None:
    """CSV has the ledger columns as header, one row per record and a numeric cost."""
    t = CostTracker(log_path=tmp_path / "l.log")
    t.log_usage("openai", "gpt-4o", normalize_tokens(1_000, 100), "s", tags={"k": "v"})
    t.log_usage("openai", "gpt-4o-mini", normalize_tokens(7, 3), "s")
    t.log_usage("openai", "mystery", normalize_tokens(1, 1), "s")
    out = tmp_path / "exports" / "costs.csv"
    assert t.export_to_csv(out) == 3
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == LEDGER_COLUMNS
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(body) == 3
    assert float(body[0]["cost"]) == pytest.approx(0.0035)
    assert "e" not in body[1]["cost"].lower() and float(body[1]["cost"]) > 0
    assert body[2]["cost"] == "0"
    assert json.loads(body[0]["tags"]) == {"k": "v"}
    assert body[0]["priced"] == "true" and body[2]["priced"] == "false"
    assert body[0]["request_id"] == "" and body[2]["pricing_as_of"] == ""


def test_csv_export_respects_the_window(tmp_path: Path) -> None:
    """Only records inside the window are exported."""
    path = tmp_path / "l.log"
    path.write_text(_line("2026-01-01T00:00:00+00:00") + _line("2026-02-01T00:00:00+00:00"))
    n = CostTracker(log_path=path).export_to_csv(
        tmp_path / "x.csv", start_date=datetime(2026, 1, 15, tzinfo=UTC)
    )
    assert n == 1


# --- record (de)serialisation ------------------------------------------------------------------


def test_record_round_trip_and_defaults() -> None:
    """record_to_dict / record_from_dict round-trip; optional keys default; extra keys pass."""
    rec = UsageRecord(
        ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        session_id="s",
        provider="p",
        model="m",
        prompt=1,
        completion=2,
        total=3,
        cost=0.5,
    )
    d = record_to_dict(rec)
    assert d["ts"] == "2026-01-02T01:04:05+00:00"
    assert record_from_dict(d).ts == rec.ts
    minimal = {
        "ts": "2026-01-02T01:04:05Z",
        "session_id": "s",
        "provider": "p",
        "model": "m",
        "prompt": 1,
        "completion": 2,
        "cost": 1,
        "future_column": "ignored",
        "tags": None,
    }
    back = record_from_dict(minimal)
    assert (back.total, back.v, back.priced, back.tags, back.cost) == (3, 1, True, {}, 1.0)


def test_naive_record_timestamp_serialises_as_utc() -> None:
    """A naive ts on a record is written as UTC."""
    rec = UsageRecord(
        ts=datetime(2026, 1, 1), session_id="s", provider="p", model="m", prompt=0,
        completion=0, total=0, cost=0.0,
    )  # fmt: skip
    assert record_to_dict(rec)["ts"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": None}, "'prompt' is null"),
        ({"prompt": True}, "must not be a bool"),
        ({"cost": "1"}, "wrong type"),
        ({"cost": float("inf")}, "finite"),
        ({"v": 0}, "schema version"),
        ({"priced": "yes"}, "wrong type"),
        ({"ts": "yesterday"}, "isoformat|Invalid"),
    ],
)
def test_record_from_dict_rejects_bad_values(change: dict[str, Any], message: str) -> None:
    """Wrong types, nulls and bad versions raise ValueError."""
    d = json.loads(_line("2026-01-01T00:00:00+00:00"))
    d.update(change)
    with pytest.raises(ValueError, match=message):
        record_from_dict(d)


def test_record_from_dict_needs_an_object_and_required_keys() -> None:
    """Non-objects and missing required keys raise ValueError."""
    with pytest.raises(ValueError, match="JSON object"):
        record_from_dict([1, 2])  # type: ignore[arg-type]
    d = json.loads(_line("2026-01-01T00:00:00+00:00"))
    del d["session_id"]
    with pytest.raises(ValueError, match="missing 'session_id'"):
        record_from_dict(d)


def test_default_table_is_used_by_type() -> None:
    """Every default table is reachable through a tracker by its provider type."""
    t = CostTracker(enabled=False)
    for kind, table in DEFAULT_PRICES.items():
        # (an entry without a regional surcharge: Bedrock's in-Region ids of newer models cost
        # more than the table's global price)
        model = next(m for m, p in table.items() if p.regional is None)
        assert t.lookup_price(kind, model) == (table[model], PRICING_AS_OF)
