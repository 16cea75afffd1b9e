"""Helpers shared by the fault suites: the model chain, the config, the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmorch import OrchestratorConfig
from llmorch.testing import ProviderEmulator

LEDGER = "ledger.jsonl"


def chain(emu: ProviderEmulator, dialect: str) -> tuple[str, str]:
    """The first two chat models of a dialect: the active model and its fallback."""
    models = emu.chat_models(dialect)
    return models[0], models[1]


def config(
    dialect: str, first: str, providers: dict[str, dict[str, Any]], **top: Any
) -> OrchestratorConfig:
    """An orchestrator config: no discovery, the ledger in the cwd, ``first`` active."""
    return OrchestratorConfig.from_dict(
        {
            "active_provider": dialect,
            "active_model": first,
            "providers": providers,
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": LEDGER},
            **top,
        }
    )


def ledger() -> list[dict[str, Any]]:
    """Every record of the cwd's ledger."""
    path = Path(LEDGER)
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
