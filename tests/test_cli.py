from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx
import yaml

from llmorch import CostTracker, cli
from llmorch.cli import main
from llmorch.costs import LEDGER_COLUMNS, record_to_dict
from llmorch.types import UsageRecord
from tests.conftest import base_config

CHAT = "https://api.openai.com/v1/chat/completions"
OPENAI_MODELS = "https://api.openai.com/v1/models"
ANTHROPIC_MODELS = "https://api.anthropic.com/v1/models"
NOW = datetime.now(timezone.utc)


def write_config(name: str = "config.yaml", **overrides: Any) -> str:
    Path(name).write_text(yaml.safe_dump(base_config(**overrides)), encoding="utf-8")
    return name


def completion(text: str = "hi") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


def sse(*texts: str) -> bytes:
    events: list[dict[str, Any]] = [
        {"model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": t}}]} for t in texts
    ]
    events.append(
        {"model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    )
    events.append(
        {"model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    )
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return body.encode()


def model_list(*ids: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "owned_by": "openai"} for i in ids],
    }


def past_record(
    days_ago: float,
    provider: str = "openai",
    model: str = "gpt-4o",
    cost: float = 0.5,
    total: int = 100,
    session: str = "old",
    priced: bool = True,
) -> str:
    record = UsageRecord(
        ts=NOW - timedelta(days=days_ago),
        session_id=session,
        provider=provider,
        model=model,
        prompt=total - 10,
        completion=10,
        total=total,
        cost=cost,
        priced=priced,
    )
    return json.dumps(record_to_dict(record))


def make_ledger(path: str = "ledger.jsonl") -> CostTracker:
    """Three fresh records from this process plus two old ones (10 and 3 days ago)."""
    tracker = CostTracker(log_path=path)
    tracker.log_usage("openai", "gpt-4o", {"prompt": 1000, "completion": 500}, "s1")
    tracker.log_usage("anthropic", "claude-sonnet-4-5", {"prompt": 2000, "completion": 100}, "s1")
    tracker.log_usage("openai", "no-such-model", {"prompt": 10, "completion": 5}, "s2")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(past_record(10, cost=0.25, total=50) + "\n")
        fh.write(past_record(3, provider="anthropic", model="claude-haiku-4-5", cost=1.0) + "\n")
    return tracker


# --- ask ---------------------------------------------------------------------------------------


def test_ask_prints_the_answer_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """`ask` prints the content on stdout, a one-line summary on stderr, and logs one record."""
    write_config()
    with respx.mock() as mock:
        route = mock.post(CHAT).respond(200, json=completion("hi there"))
        assert main(["ask", "--max-tokens", "5", "--temperature", "0.5", "Say hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "hi there\n"
    assert "openai/gpt-4o (gpt-4o-2024-08-06)" in err and "3 in + 1 out = 4 tokens" in err
    assert "$" in err and err.count("\n") == 1
    body = json.loads(route.calls.last.request.content)
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert body["max_completion_tokens"] == 5 and body["temperature"] == 0.5
    assert len(Path("ledger.jsonl").read_text().splitlines()) == 1


def test_ask_stream_prints_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    """`ask --stream` writes each chunk as it arrives and ends the line."""
    write_config()
    with respx.mock() as mock:
        mock.post(CHAT).respond(
            200, content=sse("Hel", "lo"), headers={"content-type": "text/event-stream"}
        )
        assert main(["ask", "--stream", "hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello\n"
    assert "3 in + 2 out = 5 tokens" in err


def test_ask_json_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ask --json -` reads the prompt from stdin and prints the response fields as JSON."""
    config = write_config("other.yaml")
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin"))
    with respx.mock() as mock:
        route = mock.post(CHAT).respond(200, json=completion())
        assert main(["ask", "-c", config, "--json", "--model", "gpt-4o-mini", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "content",
        "model",
        "provider",
        "tokens_used",
        "finish_reason",
        "cost",
        "request_id",
        "latency_s",
    }
    assert (
        data["content"] == "hi"
        and data["model"] == "gpt-4o-mini"
        and data["finish_reason"] == "stop"
    )
    assert data["tokens_used"]["total"] == 4
    assert json.loads(route.calls.last.request.content)["messages"][0]["content"] == "from stdin"


def test_ask_stream_json_prints_only_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`ask --stream --json` consumes the stream silently and prints the final response."""
    write_config()
    with respx.mock() as mock:
        mock.post(CHAT).respond(
            200, content=sse("a\n"), headers={"content-type": "text/event-stream"}
        )
        assert main(["ask", "--stream", "--json", "hi"]) == 0
    assert json.loads(capsys.readouterr().out)["content"] == "a\n"


def test_ask_summary_notes_fallback_and_dims_on_a_tty(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a fallback the summary says so; on a terminal it is dim unless NO_COLOR is set."""
    write_config()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with respx.mock() as mock:
        mock.post(CHAT).mock(
            side_effect=[
                httpx.Response(404, json={"error": {"message": "no", "code": "model_not_found"}}),
                httpx.Response(200, json=completion()),
            ]
        )
        assert main(["ask", "hi"]) == 0
    err = capsys.readouterr().err
    assert "llmorch: warning: model openai/gpt-4o failed" in err
    assert "\x1b[2mopenai/gpt-4o-mini" in err and "after 1 failed attempt(s)\x1b[0m" in err
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli._dim("x") == "x"


def test_ask_provider_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A rejected key prints one `llmorch: error:` line, no traceback, exit 1."""
    write_config()
    with respx.mock() as mock:
        mock.post(CHAT).respond(
            401, json={"error": {"message": "bad key", "type": "invalid_request_error"}}
        )
        assert main(["ask", "hi"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("llmorch: error: ") and err.count("\n") == 1
    assert "Traceback" not in err and "sk-test-openai" not in err


def test_ask_unknown_provider_and_missing_config(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --provider and a missing ./config.yaml are one-line errors."""
    assert main(["ask", "hi"]) == 1
    assert "config.yaml: file not found" in capsys.readouterr().err
    write_config()
    assert main(["ask", "--provider", "nope", "hi"]) == 1
    err = capsys.readouterr().err
    assert "unknown provider 'nope'" in err and err.count("\n") == 1


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown subcommand, missing PROMPT, bad --since and no command are usage errors (2)."""
    for argv in (
        ["frobnicate"],
        ["ask"],
        ["costs", "--since", "yesterday"],
        [],
        ["config"],
        ["ask", "--max-tokens", "0", "x"],
        ["emulator", "--port", "70000"],
        ["emulator", "--port", "x"],
        ["ask", "--max-tokens", "x", "y"],
    ):
        assert main(argv) == 2, argv
        assert "usage:" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert main(["--version"]) == 0
    assert "llmorch 0.1.0" in capsys.readouterr().out


# --- models ------------------------------------------------------------------------------------


def test_models_lists_each_provider_and_reports_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """All providers are listed; one that fails gets a stderr line and the exit stays 0."""
    write_config()
    with respx.mock() as mock:
        mock.get(OPENAI_MODELS).respond(
            200, json=model_list("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")
        )
        mock.get(ANTHROPIC_MODELS).respond(
            401, json={"type": "error", "error": {"type": "authentication_error", "message": "no"}}
        )
        assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["openai (2 models)", "  gpt-4o", "  gpt-4o-mini"]
    assert err.startswith("llmorch: error: anthropic: ") and "Traceback" not in err


def test_models_all_failing_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """When every requested provider fails (or is unknown) the exit code is 1."""
    write_config()
    with respx.mock() as mock:
        mock.get(OPENAI_MODELS).respond(401, json={"error": {"message": "no"}})
        assert main(["models", "openai"]) == 1
    assert main(["models", "nope"]) == 1
    err = capsys.readouterr().err
    assert "llmorch: error: openai: " in err and "llmorch: error: nope: unknown provider" in err


def test_models_refresh_marks_deprecated(capsys: pytest.CaptureFixture[str]) -> None:
    """Cached listings are reused; --refresh lists again and --include-deprecated shows the gone."""
    write_config(model_discovery={"refresh_on_start": False, "cache_path": "models.json"})
    with respx.mock() as mock:
        route = mock.get(OPENAI_MODELS).respond(200, json=model_list("gpt-4o", "gpt-4o-mini"))
        assert main(["models", "openai"]) == 0
        assert main(["models", "openai", "--json"]) == 0
        assert route.call_count == 1
        route.respond(200, json=model_list("gpt-4o"))
        assert main(["models", "openai", "--refresh", "--include-deprecated"]) == 0
        assert route.call_count == 2
    out = capsys.readouterr().out
    assert "  gpt-4o-mini  [deprecated]" in out and "openai (1 model)" not in out
    listing = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert listing == {
        "openai": [
            {"name": "gpt-4o", "deprecated": False},
            {"name": "gpt-4o-mini", "deprecated": False},
        ]
    }


def test_models_honours_refresh_on_start(capsys: pytest.CaptureFixture[str]) -> None:
    """refresh_on_start lists only the requested provider, again once its listing is stale."""
    write_config(model_discovery={"refresh_on_start": True, "cache_path": "models.json"})
    with respx.mock() as mock:
        route = mock.get(OPENAI_MODELS).respond(200, json=model_list("gpt-4o"))
        assert main(["models", "openai"]) == 0
        assert main(["models", "openai"]) == 0  # younger than max_age (24 h): from the cache
        assert route.call_count == 1
        assert main(["models", "openai", "--refresh"]) == 0
        assert route.call_count == 2
        write_config(
            model_discovery={"refresh_on_start": True, "cache_path": "models.json", "max_age": 0}
        )
        assert main(["models", "openai"]) == 0
        assert route.call_count == 3
    assert capsys.readouterr().out.count("openai (1 model)") == 4


# --- costs -------------------------------------------------------------------------------------


def test_costs_table_by_provider(capsys: pytest.CaptureFixture[str]) -> None:
    """The default table groups by provider, with a TOTAL row and the unpriced count."""
    tracker = make_ledger()
    report = tracker.get_usage_report()
    assert main(["costs", "--log", "ledger.jsonl"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert total.split() == [
        "TOTAL",
        "5",
        str(report["total_tokens"]),
        f"{report['total_cost']:.6f}",
    ]
    anthropic = next(line for line in lines if line.startswith("anthropic"))
    by = report["by_provider"]["anthropic"]
    assert anthropic.split() == ["anthropic", "2", str(by["tokens"]), f"{by['cost']:.6f}"]
    assert "1 unpriced request (counted at cost 0)" in out
    assert (
        len({len(line) for line in lines[2:] if line.startswith(("openai", "anthropic", "TOTAL"))})
        == 1
    )


def test_costs_by_model_session_and_since(capsys: pytest.CaptureFixture[str]) -> None:
    """--by model/session group by those keys; --since 7d drops the 10-day-old record."""
    make_ledger()
    assert main(["costs", "--log", "ledger.jsonl", "--by", "model", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    assert "openai/no-such-model" in out and "anthropic/claude-haiku-4-5" in out
    assert next(line for line in out.splitlines() if line.startswith("TOTAL")).split()[1] == "4"
    assert main(["costs", "--log", "ledger.jsonl", "--by", "session", "--until", "1h"]) == 0
    out = capsys.readouterr().out
    assert "old" in out and "s1" not in out


def test_costs_by_day_draws_bars(capsys: pytest.CaptureFixture[str]) -> None:
    """--by day has one row per day in order, with bars proportional to cost (max 40)."""
    make_ledger()
    assert main(["costs", "--log", "ledger.jsonl", "--by", "day"]) == 0
    out = capsys.readouterr().out
    days = [(NOW - timedelta(days=d)).date().isoformat() for d in (10, 3)]
    rows = [line for line in out.splitlines() if line[:4].isdigit()]
    assert [row.split()[0] for row in rows[:2]] == days
    bars = {row.split()[0]: row.count("█") for row in rows}
    assert bars[days[1]] == 40 and bars[days[0]] == 10
    assert all(0 < n <= 40 for n in bars.values())


def test_costs_json_and_empty_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the report dict; a missing ledger is a note, not an error."""
    tracker = make_ledger()
    since = (NOW - timedelta(days=5)).date().isoformat()
    assert main(["costs", "--log", "ledger.jsonl", "--json", "--since", since]) == 0
    expected = tracker.get_usage_report(
        start_date=datetime.fromisoformat(since + "T00:00:00+00:00")
    )
    assert json.loads(capsys.readouterr().out) == expected
    assert main(["costs", "--log", "missing.jsonl"]) == 0
    out, err = capsys.readouterr()
    assert "(no records)" in out and "no cost ledger" in err


def test_costs_csv_matches_export(capsys: pytest.CaptureFixture[str]) -> None:
    """--csv writes byte-for-byte what CostTracker.export_to_csv writes, and says how many rows."""
    tracker = make_ledger()
    assert main(["costs", "--log", "ledger.jsonl", "--csv", "out.csv"]) == 0
    assert capsys.readouterr().out == "wrote 5 rows to out.csv\n"
    assert tracker.export_to_csv("ref.csv") == 5
    assert Path("out.csv").read_bytes() == Path("ref.csv").read_bytes()
    with open("out.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == LEDGER_COLUMNS
    assert (
        main(["costs", "--log", "ledger.jsonl", "--csv", "week.csv", "--since", "7d", "--json"])
        == 0
    )
    out, err = capsys.readouterr()
    assert "wrote 4 rows to week.csv" in err and json.loads(out)["total_requests"] == 4


def test_costs_ledger_from_config(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger comes from -c, $LLMORCH_CONFIG or ./config.yaml, else ./llm_costs.log."""
    make_ledger("a.jsonl")
    make_ledger("llm_costs.log")
    write_config("conf-a.yaml", cost_tracking={"log_path": "a.jsonl"})
    assert main(["costs", "-c", "conf-a.yaml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_requests"] == 5
    monkeypatch.setenv("LLMORCH_CONFIG", "conf-a.yaml")
    assert main(["costs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_requests"] == 5
    monkeypatch.delenv("LLMORCH_CONFIG")
    write_config(cost_tracking={"log_path": "none-yet.jsonl"})
    assert main(["costs"]) == 0
    assert "none-yet.jsonl" in capsys.readouterr().err
    Path("config.yaml").unlink()
    assert main(["costs"]) == 0
    assert "TOTAL" in capsys.readouterr().out


def test_costs_config_with_unset_key_still_gives_ledger(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config failing only on an unset ${KEY} still names the ledger; -v shows why (DEBUG)."""
    monkeypatch.delenv("CLI_TEST_KEY", raising=False)
    make_ledger("b.jsonl")
    data = base_config(cost_tracking={"log_path": "b.jsonl"})
    data["providers"]["openai"]["api_key"] = "${CLI_TEST_KEY}"
    Path("c.yaml").write_text(yaml.safe_dump(data))
    assert main(["-v", "costs", "-c", "c.yaml", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["total_requests"] == 5
    assert "DEBUG llmorch.cli" in err and "CLI_TEST_KEY" in err
    data.pop("cost_tracking")
    Path("d.yaml").write_text(yaml.safe_dump(data))
    assert main(["costs", "-c", "d.yaml"]) == 0
    assert "llm_costs.log" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        "active_provider: [",
        "- a list",
        "cost_tracking: 3\n",
        "cost_tracking: {log_path: '${NOPE_X}'}\n",
    ],
)
def test_costs_unusable_config_is_an_error(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """A config whose ledger path cannot be read is a one-line error."""
    Path("bad.yaml").write_text(text)
    assert main(["costs", "-c", "bad.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llmorch: error: bad.yaml") and err.count("\n") == 1


def test_costs_bad_window_and_file_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """--since after --until, a missing -c file and an unwritable --csv exit 1 with one line."""
    assert main(["costs", "--since", "2025-02-01", "--until", "2025-01-01"]) == 1
    assert "--since must be earlier" in capsys.readouterr().err
    assert main(["costs", "-c", "nope.yaml"]) == 1
    assert "nope.yaml: file not found" in capsys.readouterr().err
    Path("dir").mkdir()
    assert main(["costs", "--csv", "dir"]) == 1
    err = capsys.readouterr().err
    assert err.endswith("llmorch: error: dir: Is a directory\n") and "Traceback" not in err


def test_parse_when_forms() -> None:
    """Relative, date, ISO with Z and naive ISO times all become aware UTC datetimes."""
    now = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)
    assert cli._parse_when("24h", now=now) == datetime(2025, 3, 9, 12, 0, tzinfo=timezone.utc)
    assert cli._parse_when("30M", now=now) == datetime(2025, 3, 10, 11, 30, tzinfo=timezone.utc)
    assert cli._parse_when("2025-01-02") == datetime(2025, 1, 2, tzinfo=timezone.utc)
    assert cli._parse_when("2025-01-02T03:04:05Z") == datetime(
        2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc
    )
    assert cli._parse_when("2025-01-02T03:04:05") == datetime(
        2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc
    )
    plus_one = cli._parse_when("2025-01-02T03:00:00+01:00")
    assert (
        plus_one == datetime(2025, 1, 2, 2, 0, tzinfo=timezone.utc)
        and plus_one.tzinfo == timezone.utc
    )


# --- config check ------------------------------------------------------------------------------


def test_config_check_prints_masked_yaml(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid file prints as YAML with secrets masked, then `OK: <file>`."""
    write_config("good.yaml")
    assert main(["config", "check", "good.yaml"]) == 0
    out = capsys.readouterr().out
    assert "sk-test-openai" not in out and "sk-ant-test" not in out and "**********" in out
    assert out.endswith("OK: good.yaml\n")
    assert yaml.safe_load(out.rsplit("OK:", 1)[0])["active_model"] == "gpt-4o"
    monkeypatch.setenv("LLMORCH_CONFIG", "good.yaml")
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.endswith("OK: good.yaml\n")


def test_config_check_invalid_and_missing(capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid file names the key path on one line (exit 1); a missing file exits 1."""
    data = base_config()
    data["providers"]["openai"]["timeout"] = -1
    data["providers"]["openai"]["max_retries"] = "many"
    Path("config.yaml").write_text(yaml.safe_dump(data))
    assert main(["config", "check"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("llmorch: error: config.yaml: providers.openai.")
    assert "providers.openai.timeout" in err and "providers.openai.max_retries" in err
    assert main(["config", "check", "missing.yaml"]) == 1
    assert capsys.readouterr().err == "llmorch: error: missing.yaml: file not found\n"


def test_newcomer_3_config_check_warns_about_every_unset_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each provider's unset ${VAR} is a warning line naming key path and variable (exit 0);
    the active provider's is an error (exit 1), as it is when the file is loaded."""
    monkeypatch.delenv("LLMORCH_TEST_UNSET_A", raising=False)
    monkeypatch.delenv("LLMORCH_TEST_UNSET_B", raising=False)
    data = base_config()
    data["providers"]["anthropic"]["api_key"] = "${LLMORCH_TEST_UNSET_A}"
    data["providers"]["gemini"] = {"api_key": "${LLMORCH_TEST_UNSET_B}"}
    Path("config.yaml").write_text(yaml.safe_dump(data))
    assert main(["config", "check"]) == 0
    out, err = capsys.readouterr()
    assert out.endswith("OK: config.yaml (2 warnings)\n")
    assert err.splitlines() == [
        (
            "llmorch: warning: config.yaml: providers.anthropic.api_key: environment variable "
            "LLMORCH_TEST_UNSET_A is not set (provider 'anthropic' fails when it is used)"
        ),
        (
            "llmorch: warning: config.yaml: providers.gemini.api_key: environment variable "
            "LLMORCH_TEST_UNSET_B is not set (provider 'gemini' fails when it is used)"
        ),
    ]
    data["providers"]["openai"]["api_key"] = "${LLMORCH_TEST_UNSET_A}"
    Path("config.yaml").write_text(yaml.safe_dump(data))
    assert main(["config", "check"]) == 1
    assert capsys.readouterr().err == (
        "llmorch: error: config.yaml: providers.openai.api_key: environment variable "
        "LLMORCH_TEST_UNSET_A is not set\n"
    )


def test_review_16_config_check_masks_url_userinfo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config check` prints a base_url's credentials masked."""
    monkeypatch.setenv("LLMORCH_TEST_GW_PASSWORD", "hunter2-very-secret")
    data = base_config()
    data["providers"]["openai"]["base_url"] = (
        "https://svc:${LLMORCH_TEST_GW_PASSWORD}@gateway.example/v1"
    )
    Path("config.yaml").write_text(yaml.safe_dump(data))
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "svc" not in out
    assert "base_url: https://**********@gateway.example/v1" in out


# --- errors, logging, entry points -------------------------------------------------------------


def test_verbose_logs_debug_and_quiet_shows_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    """-v (before or after the command) enables DEBUG; otherwise warnings still reach stderr."""
    write_config()
    with respx.mock() as mock:
        mock.post(CHAT).respond(200, json=completion())
        assert main(["ask", "-v", "hi"]) == 0
    assert "DEBUG llmorch.cli: loading config config.yaml" in capsys.readouterr().err
    Path("ledger.jsonl").write_text('{"v": 1, "torn\n')  # a ledger with a torn line
    assert main(["costs"]) == 0
    err = capsys.readouterr().err
    assert "llmorch: warning: skipping line 1" in err and "DEBUG" not in err


def test_keyboard_interrupt_and_broken_pipe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C exits 130 and a closed stdout exits 1, both without a traceback."""

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_costs", interrupted)
    assert main(["costs"]) == 130
    monkeypatch.undo()

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["costs"]) == 1
    monkeypatch.undo()
    assert "Traceback" not in capsys.readouterr().err


def test_exit_code_from_system_exit() -> None:
    """argparse's SystemExit codes map to return codes (None → 0, text → 1)."""
    assert cli._exit_code(None) == 0
    assert cli._exit_code(2) == 2
    assert cli._exit_code("bye") == 1


def test_python_dash_m() -> None:
    """`python -m llmorch --version` runs the same entry point."""
    result = subprocess.run(
        [sys.executable, "-m", "llmorch", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0 and result.stdout.strip() == "llmorch 0.1.0"


def test_demo_runs_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """`llmorch demo` runs the offline tour and exits 0 with its cost check passing."""
    assert main(["demo"]) == 0
    assert "matches the report and the session cost" in capsys.readouterr().out


# --- emulator ----------------------------------------------------------------------------------


def test_emulator_interrupted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C stops `emulator` with exit 0."""
    seen: list[tuple[str, int]] = []

    def fake_run(func: Any) -> None:
        seen.append(func.args)
        raise KeyboardInterrupt

    monkeypatch.setattr(anyio, "run", fake_run)
    assert main(["emulator", "--port", "0", "--host", "localhost"]) == 0
    assert seen == [("localhost", 0)]
    assert "emulator stopped" in capsys.readouterr().err


async def test_serve_emulator_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    """The emulator serves on a free port, prints its description, and stops on the event."""
    pytest.importorskip("llmorch.testing")
    stop, started = anyio.Event(), anyio.Event()
    seen: list[Any] = []

    def ready(emulator: Any) -> None:
        seen.append(emulator)
        started.set()

    async def probe() -> None:
        await started.wait()
        emulator = seen[0]
        assert emulator.base_url.startswith("http://127.0.0.1:") and emulator.dialects
        assert emulator.config_for(emulator.dialects[0])["base_url"]
        async with httpx.AsyncClient() as client:
            response = await client.get(emulator.base_url)
        assert response.status_code < 600
        urls.append((emulator.base_url, emulator.describe()))
        stop.set()

    urls: list[tuple[str, str]] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(probe)
            await cli._serve_emulator("127.0.0.1", 0, ready=ready, stop=stop)
    out = capsys.readouterr().out
    with anyio.move_on_after(0.2):  # without a stop event it serves until cancelled
        await cli._serve_emulator("127.0.0.1", 0)
    base_url, description = urls[0]
    assert out.startswith(description.rstrip("\n") + "\n") and base_url in out
