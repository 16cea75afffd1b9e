"""Issue 15, acceptance 7: bad ledger and budget config is one line naming the key; a database
that does not answer at start is one WARNING and the spool, never a failed start."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch import AsyncLLMOrchestrator, ConfigManager, OrchestratorConfig
from llmorch.exceptions import ConfigurationError
from llmorch.testing import ProviderEmulator
from tests.emulated import one_provider

BASE: dict[str, Any] = {
    "active_provider": "openai",
    "active_model": "gpt-4o",
    "providers": {"openai": {"api_key": "k"}},
}


def budget(**fields: Any) -> dict[str, Any]:
    return {"budgets": [{"name": "b", "limit_usd": 1, "window": "day", **fields}]}


@pytest.mark.parametrize(
    ("extra", "key", "says"),
    [
        ({"cost_tracking": {"ledger": "mysql://db/llm"}}, "cost_tracking.ledger", "not a ledger"),
        ({"cost_tracking": {"ledger": "sqlite:x.db"}}, "cost_tracking.ledger", "names no file"),
        (budget(limit_usd=-5), "budgets.0.limit_usd", "greater than or equal to 0"),
        (budget(match={"team": "x"}), "budgets.0.match.team", "unknown key"),
        (
            {"cost_tracking": {"ledger": "sqlite:///a.db", "log_path": "a.log"}},
            "cost_tracking",
            "ledger and log_path are both set",
        ),
    ],
)
def test_bad_ledger_and_budget_config_is_one_line_naming_the_key(
    tmp_path: Path, extra: dict[str, Any], key: str, says: str
) -> None:
    """From a dict and from a file (then the file is named too): one line, the key, the why."""
    with pytest.raises(ConfigurationError) as from_dict:
        OrchestratorConfig.from_dict(BASE | extra)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(BASE | extra))
    with pytest.raises(ConfigurationError) as from_file:
        ConfigManager.load_config(path)
    for message in (str(from_dict.value), str(from_file.value)):
        assert "\n" not in message
        assert f"{key}:" in message and says in message
    assert str(path) in str(from_file.value) or path.name in str(from_file.value)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_database_at_start_is_one_warning_and_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A PostgreSQL ledger on a closed port: the orchestrator starts, calls succeed, their
    records wait in the spool, and the outage is one WARNING (naming no password)."""
    pytest.importorskip("psycopg")
    spool = tmp_path / "llm_costs.spool"
    async with ProviderEmulator() as emu:
        config = one_provider(emu, "openai", "gpt-5.4-mini", tmp_path / "unused.jsonl")
        config["cost_tracking"] = {
            "ledger": f"postgresql://app:s3cret@127.0.0.1:{closed_port()}/llm?connect_timeout=2",
            "spool_path": str(spool),
        }
        with caplog.at_level(logging.WARNING, logger="llmorch"):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                first = await orch.send_request([{"role": "user", "content": "hi"}])
                second = await orch.send_request([{"role": "user", "content": "again"}])
    assert first.content and second.content
    spooled = [json.loads(line) for line in spool.read_text().splitlines()]
    assert len(spooled) == 2
    assert "gpt-5.4-mini" in json.dumps(spooled)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "127.0.0.1" in message and "s3cret" not in message and "\n" not in message
