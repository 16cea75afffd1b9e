"""Shared by the examples: your ``config.yaml`` when you have keys, else the built-in emulator.

Every example runs offline: when the API key it needs is not set, it starts llmorch's provider
emulator (a loopback server that speaks the vendors' protocols) and a config pointing at it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from llmorch.testing import ProviderEmulator

# Credential chains must never probe cloud metadata addresses from an offline run.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "True")


def emulator_config(
    emu: ProviderEmulator,
    workdir: str | os.PathLike[str],
    providers: Sequence[str] = ("openai", "anthropic"),
) -> dict[str, Any]:
    """A whole config pointing ``providers`` at the emulator, the first one active.

    Args:
        emu: A running emulator.
        workdir: Where the cost ledger goes.
        providers: Dialects to configure, the active one first.

    Returns:
        Config data for ``OrchestratorConfig.from_dict`` or a YAML file.
    """
    return {
        "active_provider": providers[0],
        "active_model": emu.chat_models(providers[0])[0],
        "providers": {name: emu.config_for(name) for name in providers},
        "cost_tracking": {"enabled": True, "log_path": str(Path(workdir) / "llm_costs.log")},
        "model_discovery": {"refresh_on_start": True, "cache_path": None},
    }


@contextmanager
def config_or_emulator(
    key_var: str = "OPENAI_API_KEY",
    config: str = "config.yaml",
    providers: Sequence[str] = ("openai", "anthropic"),
) -> Iterator[str]:
    """Yield the path of a config file: ``config`` if ``key_var`` is set, else an emulator's.

    Args:
        key_var: The environment variable holding the API key the example needs.
        config: Your config file, used when the key is set.
        providers: Dialects the emulator config should have, the active one first.

    Yields:
        A config file path.
    """
    if os.environ.get(key_var):
        yield config
        return
    with ProviderEmulator() as emu, tempfile.TemporaryDirectory(prefix="llmorch-ex-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(emulator_config(emu, tmp, providers), sort_keys=False))
        print(
            f"[{key_var} is not set: using the llmorch emulator at {emu.base_url}]", file=sys.stderr
        )
        yield str(path)
