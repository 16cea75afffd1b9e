"""``llmorch demo``: every feature against the built-in emulator, offline, in a few seconds."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import anyio
import yaml

__all__ = ["run_demo"]

PROMPT = [{"role": "user", "content": "Say hello to llmorch in one sentence."}]


def _config(emu: Any, ledger: Path) -> dict[str, Any]:
    return {
        "active_provider": "openai",
        "active_model": emu.chat_models("openai")[0],
        "providers": {name: emu.config_for(name) for name in emu.dialects},
        "cost_tracking": {"enabled": True, "log_path": str(ledger)},
        "model_discovery": {"refresh_on_start": True, "cache_path": None},
    }


async def _demo(out: TextIO, workdir: Path) -> int:
    from llmorch import AsyncLLMOrchestrator, ConfigManager
    from llmorch.testing import Fault, ProviderEmulator

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    started = time.perf_counter()
    async with ProviderEmulator() as emu:
        ledger = workdir / "llm_costs.log"
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(_config(emu, ledger), sort_keys=False))
        say(f"llmorch demo — provider emulator on {emu.base_url} (no keys, no network)")
        for name, note in emu.off.items():
            say(f"  {name} {note}")
        # The generated config is deleted with the demo; `llmorch emulator --write-config FILE`
        # writes one to keep.
        say("config: generated for this run (`llmorch emulator --write-config FILE` keeps one)\n")
        async with AsyncLLMOrchestrator(ConfigManager.load_config(config_path)) as orch:
            say("== Model discovery (all providers, concurrently, at start)")
            for name in emu.dialects:
                models = await orch.get_available_models(name)
                say(f"  {name:<10} {len(models)} chat models: {', '.join(models)}")
            say()
            for name in emu.dialects:
                say(f"== {name}: one request, then one streamed request")
                response = await orch.send_request(PROMPT, provider=name, max_tokens=60)
                say(f"  [{response.model}] {response.content}")
                say(
                    f"    tokens {response.tokens_used['prompt']} in / "
                    f"{response.tokens_used['completion']} out, ${response.cost:.6f}"
                )
                out.write("  stream: ")
                async with orch.send_streaming_request(PROMPT, provider=name) as stream:
                    async for chunk in stream:
                        out.write(chunk)
                        out.flush()
                say(f"\n    finish={stream.response.finish_reason}, ${stream.response.cost:.6f}")
                say()
            first = orch.config.active_model
            emu.script("openai", first, *[Fault.rate_limit(retry_after=0.05)] * 3)
            say(f"== Fallback: {first} answers 429 three times (Retry-After 0.05 s)")
            response = await orch.send_request(PROMPT)
            for model, error in response.attempts:
                say(f"  {model}: {type(error).__name__} after retries -> next model")
            say(f"  [{response.model}] {response.content}\n")
            report = orch.cost_tracker.get_usage_report()
            session_cost = orch.get_session_cost()
        say("== Cost report (read back from the ledger)")
        width = max(len(k) for k in report["by_model"]) + 2
        say(f"  {'provider/model':<{width}}{'requests':>9}{'tokens':>9}{'cost (USD)':>14}")
        for key, row in sorted(report["by_model"].items()):
            say(f"  {key:<{width}}{row['requests']:>9}{row['tokens']:>9}{row['cost']:>14.6f}")
        say(
            f"  {'TOTAL':<{width}}{report['total_requests']:>9}"
            f"{report['total_tokens']:>9}{report['total_cost']:>14.6f}"
        )
        lines = ledger.read_text().splitlines()
        ledger_total = sum(json.loads(line)["cost"] for line in lines)
        matches = abs(ledger_total - report["total_cost"]) < 1e-9
        matches = matches and abs(session_cost - ledger_total) < 1e-9
        say(
            f"  ledger: {len(lines)} records, ${ledger_total:.6f} — "
            f"{'matches the report and the session cost' if matches else 'MISMATCH'}"
        )
    say(f"\ndone in {time.perf_counter() - started:.2f} s")
    return 0 if matches else 1


def run_demo(out: TextIO | None = None) -> int:
    """Run the demo: discovery, a request and a stream per provider, a fallback, a cost report.

    Everything talks to a loopback emulator started for the purpose; nothing leaves the machine.

    Args:
        out: Where to write (stdout by default).

    Returns:
        The exit code: 0 when the ledger's total equals the report's.
    """
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.setdefault("NO_GCE_CHECK", "True")
    with tempfile.TemporaryDirectory(prefix="llmorch-demo-") as tmp:
        result: int = anyio.run(_demo, out or sys.stdout, Path(tmp))
    return result
