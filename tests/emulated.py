"""One provider of the emulator as an orchestrator config, for flow tests over real sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.testing import ProviderEmulator


def one_provider(
    emu: ProviderEmulator, dialect: str, model: str, ledger: Path, **provider: Any
) -> dict[str, Any]:
    """A config dict: ``dialect`` with ``model`` first, no fallbacks, no discovery.

    Args:
        emu: The running emulator.
        dialect: The emulator dialect (also the provider's name and type).
        model: The active model.
        ledger: The ledger file.
        **provider: More provider settings (``unsupported="error"``, ``max_retries=0``, ...).

    Returns:
        The config, as ``OrchestratorConfig.from_dict`` takes it.
    """
    return {
        "active_provider": dialect,
        "active_model": model,
        "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []} | provider},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "cost_tracking": {"log_path": str(ledger)},
    }


def orch_for(
    emu: ProviderEmulator, dialect: str, model: str, ledger: Path, **provider: Any
) -> AsyncLLMOrchestrator:
    """An orchestrator on :func:`one_provider`'s config.

    Args:
        emu: The running emulator.
        dialect: The emulator dialect.
        model: The active model.
        ledger: The ledger file.
        **provider: More provider settings.

    Returns:
        The orchestrator (not started).
    """
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(one_provider(emu, dialect, model, ledger, **provider))
    )
