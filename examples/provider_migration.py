"""Provider migration by configuration only: the same code, two configs, two providers.

Run ``python examples/provider_migration.py [BEFORE.yaml AFTER.yaml]``.

``answer()`` below is the application code; it never names a provider. Moving from OpenAI to
Anthropic is a change of ``active_provider`` / ``active_model`` in the config. Without arguments
(and without keys) both configs point at the emulator, differing only in those two keys.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml
from _emulator import emulator_config

from llmorch import LLMOrchestrator, LLMResponse
from llmorch.testing import ProviderEmulator

QUESTION = [{"role": "user", "content": "In one sentence, why migrate gradually?"}]


def answer(config_path: str) -> LLMResponse:
    """The application code: identical whichever provider the config makes active.

    Args:
        config_path: A config file.

    Returns:
        The answer.
    """
    with LLMOrchestrator(config_path) as orch:
        return orch.send_request(QUESTION)


def report(label: str, config_path: str) -> None:
    """Answer with one config and say who answered.

    Args:
        label: ``before`` or ``after``.
        config_path: A config file.
    """
    response = answer(config_path)
    print(f"{label:>6}: [{response.provider}/{response.model}] {response.content}")
    print(f"        {response.tokens_used['total']} tokens, ${response.cost:.6f}")


def main(argv: list[str]) -> int:
    """Run the same code against the two configs.

    Args:
        argv: ``BEFORE.yaml AFTER.yaml``, or nothing to use the emulator.

    Returns:
        The exit code.
    """
    if len(argv) == 2:
        report("before", argv[0])
        report("after", argv[1])
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    with ProviderEmulator() as emu, tempfile.TemporaryDirectory(prefix="llmorch-ex-") as tmp:
        before = emulator_config(emu, tmp, ("openai", "anthropic"))
        # Week 3 of the migration: the only change is which provider and model are active.
        after = {**before, "active_provider": "anthropic", "active_model": "claude-sonnet-5-5"}
        paths = []
        for name, data in (("before", before), ("after", after)):
            path = Path(tmp) / f"config.{name}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            paths.append(str(path))
        print(f"[no arguments: both configs use the llmorch emulator at {emu.base_url}]\n")
        report("before", paths[0])
        report("after", paths[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
