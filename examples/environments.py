"""One config file per environment, chosen by ``ENVIRONMENT`` (dev or prod).

Run ``ENVIRONMENT=prod python examples/environments.py`` (``dev`` is the default).

``config.dev.yaml`` and ``config.prod.yaml`` (next to this script) take their secrets and
endpoints from the environment with ``${VAR}`` / ``${VAR:-default}``. When the environment's API
key is not set, this script starts the emulator and sets those variables to point at it, so the
very same files are loaded either way.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import _emulator  # noqa: F401 - keeps credential chains off cloud metadata when offline

from llmorch import LLMOrchestrator
from llmorch.testing import ProviderEmulator

HERE = Path(__file__).parent
NEEDS = {"dev": ("openai", "OPENAI"), "prod": ("anthropic", "ANTHROPIC")}


def main() -> int:
    """Load ``config.$ENVIRONMENT.yaml`` and answer one question with it.

    Returns:
        The exit code.
    """
    env = os.environ.get("ENVIRONMENT", "dev")
    if env not in NEEDS:
        print(f"ENVIRONMENT must be one of {', '.join(NEEDS)}, not {env!r}", file=sys.stderr)
        return 2
    dialect, prefix = NEEDS[env]
    with ExitStack() as stack:
        if not os.environ.get(f"{prefix}_API_KEY"):
            emu = stack.enter_context(ProviderEmulator())
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="llmorch-ex-"))
            entry = emu.config_for(dialect)
            os.environ[f"{prefix}_API_KEY"] = entry["api_key"]
            os.environ[f"{prefix}_BASE_URL"] = entry["base_url"]
            os.environ["LLM_COST_LOG"] = str(Path(tmp) / "llm_costs.log")
            print(f"[{prefix}_API_KEY is not set: using the llmorch emulator at {emu.base_url}]")
        with LLMOrchestrator(HERE / f"config.{env}.yaml") as orch:
            config = orch.config
            print(f"{env}: {config.active_provider}/{config.active_model}")
            print(f"ledger: {config.cost_tracking.log_path}")
            response = orch.send_request([{"role": "user", "content": "Which model are you?"}])
            print(f"[{response.model}] {response.content}  (${response.cost:.6f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
