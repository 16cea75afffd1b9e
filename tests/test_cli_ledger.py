"""The command line on ledger URLs: ``costs --ledger``, ``--by tag:NAME``, ``ledger migrate``,
``budgets`` (SPEC §2.11, §4)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch import CostTracker
from llmorch.cli import main
from tests.conftest import base_config

NOW = datetime.now(timezone.utc)


def tagged_ledger(url: str) -> CostTracker:
    """Five records now, four with a ``feature`` tag (two values) and all with a ``user``."""
    tracker = CostTracker(ledger=url)
    calls = [
        ("openai", "gpt-4o", 1000, {"feature": "search", "user": "ann"}),
        ("openai", "gpt-4o", 2000, {"feature": "search", "user": "bob"}),
        ("anthropic", "claude-sonnet-4-5", 500, {"feature": "chat", "user": "ann"}),
        ("anthropic", "claude-sonnet-4-5", 700, {"feature": "chat", "user": "ann"}),
        ("openai", "gpt-4o-mini", 300, {"user": "bob"}),
    ]
    for provider, model, prompt, tags in calls:
        tracker.log_usage(provider, model, {"prompt": prompt, "completion": 50}, "s1", tags=tags)
    tracker.close()
    return tracker


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_costs_reads_any_ledger_url_alike(capsys: pytest.CaptureFixture[str]) -> None:
    """--ledger jsonl:, sqlite:/// and --log give the same report of the same records."""
    tagged_ledger("jsonl:ledger.jsonl")
    assert main(["ledger", "migrate", "jsonl:ledger.jsonl", "sqlite:///ledger.db"]) == 0
    capsys.readouterr()
    by_log = run_json(capsys, "costs", "--log", "ledger.jsonl")
    assert by_log["total_requests"] == 5
    assert run_json(capsys, "costs", "--ledger", "jsonl:ledger.jsonl") == by_log
    assert run_json(capsys, "costs", "--ledger", "sqlite:///ledger.db") == by_log
    assert main(["costs", "--ledger", "sqlite:///ledger.db", "--by", "model"]) == 0
    out = capsys.readouterr().out
    assert "(ledger: sqlite:///ledger.db)" in out
    assert next(line for line in out.splitlines() if line.startswith("TOTAL")).split()[1] == "5"


def test_the_default_ledger_is_the_configs_url(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --ledger/--log: cost_tracking.ledger, else jsonl: + its log_path."""
    tagged_ledger("sqlite:///costs.db")
    Path("config.yaml").write_text(
        yaml.safe_dump(base_config(cost_tracking={"ledger": "sqlite:///costs.db"}))
    )
    assert run_json(capsys, "costs")["total_requests"] == 5
    # A config failing only on an unset ${KEY} still gives its literal ledger URL.
    data = base_config(cost_tracking={"ledger": "sqlite:///costs.db"})
    data["providers"]["openai"]["api_key"] = "${CLI_LEDGER_UNSET_KEY}"
    Path("unset.yaml").write_text(yaml.safe_dump(data))
    assert run_json(capsys, "costs", "-c", "unset.yaml")["total_requests"] == 5


def test_ledger_and_log_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--ledger with --log: exit 2 naming both."""
    assert main(["costs", "--ledger", "sqlite:///a.db", "--log", "a.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "llmorch: error: costs: argument --log: not allowed with argument --ledger" in err


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://db/x", "is not a ledger URL"),
        ("sqlite:/x.db", "names no file"),
        ("postgresql://app:s3cret@127.0.0.1:1/llm", "127.0.0.1:1"),
    ],
)
def test_a_bad_or_unreachable_ledger_is_one_line(
    capsys: pytest.CaptureFixture[str], url: str, expected: str
) -> None:
    """A malformed URL or a database that does not answer: one line, exit 1, no password."""
    pytest.importorskip("psycopg") if url.startswith("postgresql") else None
    assert main(["costs", "--ledger", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llmorch: error: ") and err.count("\n") == 1
    assert expected in err and "s3cret" not in err


def test_a_missing_ledger_file_is_a_warning_and_stays_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Reading a ledger that does not exist yet reports nothing and creates no file."""
    assert main(["costs", "--ledger", "sqlite:///none.db"]) == 0
    out, err = capsys.readouterr()
    assert "(no records)" in out and "no cost ledger at sqlite:///none.db" in err
    assert not Path("none.db").exists()


def test_costs_by_tag(capsys: pytest.CaptureFixture[str]) -> None:
    """--by tag:NAME is a table of that tag's values; records without it are one row."""
    tagged_ledger("jsonl:ledger.jsonl")
    assert main(["costs", "--log", "ledger.jsonl", "--by", "tag:feature"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["search"][1] == "2" and rows["chat"][1] == "2"
    assert rows["(no"][:4] == ["(no", "feature", "tag)", "1"]
    assert rows["TOTAL"][1] == "5"
    report = CostTracker(log_path="ledger.jsonl").get_usage_report(by_tags=["feature"])
    search = report["by_tag"]["feature"]["search"]
    assert rows["search"][2:] == [str(search["tokens"]), f"{search['cost']:.6f}"]


def test_costs_by_several_groupings_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--by repeats (one table each); --json has by_tag for the tags asked, and only those."""
    tagged_ledger("jsonl:ledger.jsonl")
    argv = ["costs", "--log", "ledger.jsonl", "--by", "tag:user", "--by", "provider"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Costs by tag:user, provider, ")
    assert out.count("TOTAL") == 2 and "ann" in out and "anthropic" in out
    report = run_json(capsys, *argv, "--by", "tag:feature")
    assert set(report["by_tag"]) == {"user", "feature"}
    assert report["by_tag"]["user"]["ann"]["requests"] == 3
    assert report["by_tag"]["feature"]["chat"]["requests"] == 2
    assert "by_tag" not in run_json(capsys, "costs", "--log", "ledger.jsonl")


@pytest.mark.parametrize("by", ["tag:", "tags:x", "week"])
def test_a_bad_grouping_is_a_usage_error(capsys: pytest.CaptureFixture[str], by: str) -> None:
    """--by accepts provider, model, session, day or tag:NAME."""
    assert main(["costs", "--by", by]) == 2
    assert "invalid grouping" in capsys.readouterr().err


def test_ledger_migrate_prints_counts_and_is_idempotent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Twice: every record stored the first time, none the second; the counts say so."""
    tagged_ledger("jsonl:ledger.jsonl")
    argv = ["ledger", "migrate", "jsonl:ledger.jsonl", "sqlite:///copy.db"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("read 5 records from jsonl:") and "stored 5 in sqlite:///" in first
    assert first.rstrip().endswith("0 already there")
    assert main([*argv, "--batch", "2"]) == 0
    assert "stored 0 in sqlite:///" in (second := capsys.readouterr().out)
    assert second.rstrip().endswith("5 already there")
    assert run_json(capsys, "costs", "--ledger", "sqlite:///copy.db")["total_requests"] == 5


def test_ledger_migrate_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """Same ledger twice, a bad URL, a missing argument: one line each (usage: exit 2)."""
    tagged_ledger("jsonl:ledger.jsonl")
    assert main(["ledger", "migrate", "jsonl:ledger.jsonl", "jsonl:./ledger.jsonl"]) == 1
    assert "the same ledger" in capsys.readouterr().err
    assert main(["ledger", "migrate", "jsonl:ledger.jsonl", "redis://x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llmorch: error: DST_URL: ") and err.count("\n") == 1
    assert main(["ledger", "migrate", "jsonl:ledger.jsonl"]) == 2
    assert main(["ledger"]) == 2
    capsys.readouterr()


def budget_config(ledger: str, budgets: list[dict[str, Any]]) -> None:
    data = base_config(cost_tracking={"ledger": ledger})
    data["budgets"] = budgets
    Path("config.yaml").write_text(yaml.safe_dump(data))


def test_budgets_shows_each_window(capsys: pytest.CaptureFixture[str]) -> None:
    """Limit, spent (from the ledger's records in the window), reserved and what is left."""
    tracker = tagged_ledger("sqlite:///costs.db")
    report = tracker.get_usage_report(by_tags=["feature"])
    budget_config(
        "sqlite:///costs.db",
        [
            {"name": "all", "limit_usd": 100, "window": "month"},
            {"name": "search", "limit_usd": 0.5, "window": "day",
             "match": {"tags": {"feature": "search"}}},
            {"name": "mini", "limit_usd": 1, "window": "total", "match": {"model": "gpt-4o-mini"}},
        ],
    )  # fmt: skip
    states = run_json(capsys, "budgets")
    assert [s["name"] for s in states] == ["all", "search", "mini"]
    assert [s["window"] for s in states] == [NOW.strftime("%Y-%m"), NOW.date().isoformat(), "total"]
    assert states[0]["spent_usd"] == pytest.approx(report["total_cost"])
    search = report["by_tag"]["feature"]["search"]["cost"]
    assert states[1]["spent_usd"] == pytest.approx(search)
    assert states[1]["remaining_usd"] == pytest.approx(max(0.0, 0.5 - search))
    assert all(s["reserved_usd"] == 0 for s in states)
    assert main(["budgets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Budgets  (ledger: sqlite:///") and lines[0].endswith("costs.db)")
    assert lines[2].split() == ["budget", "window", "limit", "spent", "reserved", "remaining"]
    assert lines[4].split()[:3] == ["all", NOW.strftime("%Y-%m"), "100.000000"]


def test_budgets_without_budgets_or_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    """No budgets: a warning, exit 0; an unreachable ledger: one line, exit 1."""
    budget_config("sqlite:///costs.db", [])
    assert main(["budgets", "-c", "config.yaml", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [] and "config.yaml: no budgets configured" in err
    pytest.importorskip("psycopg")
    budget_config(
        "postgresql://postgres@127.0.0.1:1/llm", [{"name": "b", "limit_usd": 1, "window": "day"}]
    )
    assert main(["budgets"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llmorch: error: ") and err.count("\n") == 1
