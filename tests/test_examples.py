"""Every script in ``examples/`` runs to exit 0 against the emulator (no keys, no network)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmorch import ConfigManager

EXAMPLES = Path(__file__).parent.parent / "examples"
_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "LLM_COST_LOG",
    "ENVIRONMENT",
    "LLMORCH_CONFIG",
)


def _offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _KEYS}
    env.update(AWS_EC2_METADATA_DISABLED="true", NO_GCE_CHECK="True", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_example(
    name: str, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=_offline_env(**env),
        check=False,
    )
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stderr}"
    return result


def test_every_example_is_tested() -> None:
    """A new script in examples/ needs a test here."""
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    tested = {
        "chatbot.py",
        "stream_to_terminal.py",
        "cost_report.py",
        "provider_migration.py",
        "environments.py",
        "compare_models.py",
        "fastapi_app.py",
        "tool_loop.py",
        "structured_output.py",
    }
    assert scripts == tested


def test_chatbot_answers_each_line_until_quit() -> None:
    """Each line gets one answer; ``quit`` ends the loop and the session cost is shown."""
    out = run_example("chatbot.py", stdin="Hello!\nWhat's the weather like?\nquit\nnot read\n")
    assert out.stdout.count("Bot: ") == 2
    assert "You said: What's the weather like?" in out.stdout
    assert "not read" not in out.stdout
    assert "Total cost: $" in out.stdout


def test_chatbot_ends_at_end_of_input() -> None:
    """End of input ends the loop like ``quit``."""
    out = run_example("chatbot.py", stdin="Hello!\n")
    assert out.stdout.count("Bot: ") == 1
    assert "Total cost: $" in out.stdout


def test_stream_to_terminal() -> None:
    """The answer is printed as it streams, then its finish reason and cost."""
    out = run_example("stream_to_terminal.py", "Tell me about robots")
    assert "You said: Tell me about robots" in out.stdout
    assert "finish=stop" in out.stdout


def test_cost_report_prints_and_exports_csv(tmp_path: Path) -> None:
    """The 7-day report lists both providers and the CSV holds one row per call."""
    out = run_example("cost_report.py", "--days", "7", "--csv", str(tmp_path / "week.csv"))
    assert "=== 7-Day Usage Report ===" in out.stdout
    assert "Total Requests: 4" in out.stdout
    assert "openai/gpt-5.4-mini" in out.stdout and "anthropic/" in out.stdout
    with open(tmp_path / "week.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert {r["provider"] for r in rows} == {"openai", "anthropic"}


def test_provider_migration_same_code_two_providers() -> None:
    """The same function answers from OpenAI with one config and Anthropic with the other."""
    out = run_example("provider_migration.py")
    before, after = (line for line in out.stdout.splitlines() if "] This is" in line)
    assert "[openai/" in before
    assert "[anthropic/" in after


@pytest.mark.parametrize(
    ("environment", "expected"),
    [("dev", "openai/gpt-5.4-mini"), ("prod", "anthropic/claude-sonnet-5-5")],
)
def test_environments(environment: str, expected: str) -> None:
    """ENVIRONMENT picks config.dev.yaml or config.prod.yaml; both run offline."""
    out = run_example("environments.py", ENVIRONMENT=environment)
    assert f"{environment}: {expected}" in out.stdout


def test_environment_configs_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    """config.dev.yaml and config.prod.yaml load with only the keys set; defaults fill the rest."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "LLM_COST_LOG"):
        monkeypatch.delenv(name, raising=False)
    dev = ConfigManager.load_config(EXAMPLES / "config.dev.yaml")
    prod = ConfigManager.load_config(EXAMPLES / "config.prod.yaml")
    assert dev.providers["openai"].base_url == "https://api.openai.com/v1"
    assert prod.cost_tracking.log_path == "/var/log/llm_costs.log"
    assert prod.providers["anthropic"].fallback_models == ["claude-haiku-5-5"]


def test_compare_models() -> None:
    """Every candidate model is priced and the table is printed."""
    out = run_example("compare_models.py", "1")
    assert out.stdout.count("\n") >= 5
    assert "session total: $" in out.stdout


def _events(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        events.append((name, "\n".join(data)))
    return events


def test_fastapi_app_streams_sse(monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /chat streams data events then a done event; POST /ask answers; an unknown
    provider is 400."""
    pytest.importorskip("fastapi")
    import anyio
    import httpx

    for name in _KEYS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("fastapi_app", EXAMPLES / "fastapi_app.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    async def exercise() -> None:
        app = module.app
        # httpx's ASGI transport (not Starlette's TestClient, which needs an extra package);
        # the app's lifespan is entered here, as a server would.
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                params = {"q": "Stream me\nplease"}
                async with client.stream("GET", "/chat", params=params) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    body = "".join([part async for part in response.aiter_text()])
                events = _events(body)
                text = "".join(data for name, data in events if name == "message")
                assert "You said: Stream me\nplease" in text
                name, data = events[-1]
                assert name == "done"
                done = json.loads(data)
                assert done["provider"] == "openai" and done["cost"] > 0

                answer = await client.post("/ask", json={"q": "Hi", "provider": "anthropic"})
                assert answer.status_code == 200
                assert answer.json()["provider"] == "anthropic"

                failed = await client.post("/ask", json={"q": "Hi", "provider": "nope"})
                assert failed.status_code == 400  # the client's mistake, not the provider's

    anyio.run(exercise)

    ledger = [json.loads(line) for line in Path("llm_costs.log").read_text().splitlines()]
    assert len(ledger) == 2


def test_tool_loop_runs_on_every_provider() -> None:
    """Each provider runs two parallel tools, sends the results back and prints the answer."""
    out = run_example("tool_loop.py").stdout
    providers = re.search(r"^PROVIDERS = \((.*)\)$", (EXAMPLES / "tool_loop.py").read_text(), re.M)
    assert providers is not None
    names = re.findall(r'"(\w+)"', providers[1])
    assert {"openai", "anthropic", "gemini", "vertex", "bedrock"} == set(names)
    for name in names:
        assert f"\n{name} (" in f"\n{out}"
    n = len(names)
    assert n == out.count("2 turns, tools ['get_weather', 'get_time']")
    assert n == out.count('tool result: {"city": "Paris", "temperature": 21, "unit": "celsius"}')
    assert n == out.count("tool result: Paris: 14:05")
    assert n == out.count("answer: It is 21 degrees and 14:05 in Paris.")
    assert "Session cost: $" in out


def test_structured_output_runs_on_every_provider() -> None:
    """Each provider gives a parsed recipe, plain and streamed, and one retry corrects an
    invalid answer with exactly two requests."""
    out = run_example("structured_output.py").stdout
    script = (EXAMPLES / "structured_output.py").read_text()
    providers = re.search(r"^PROVIDERS = \((.*)\)$", script, re.M)
    assert providers is not None
    names = re.findall(r'"(\w+)"', providers[1])
    assert {"openai", "anthropic", "gemini", "vertex", "bedrock"} == set(names)
    for name in names:
        assert f"\n{name} (" in f"\n{out}"
    n = len(names)
    assert n == out.count("parsed: Pancakes, 4 servings, 500 g")
    assert n == len(re.findall(r"streamed: \d+ chunks -> Pancakes", out))
    assert n == out.count("retried: 2 requests -> 4 servings")
    assert "still invalid" not in out
    assert "Session cost: $" in out
