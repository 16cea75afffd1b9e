"""Issue 15, acceptance 1: a fleet writing one ledger, on every backend.

Four processes make 500 calls each (plain requests, streams read to the end and streams closed
after their first chunk) through ``AsyncLLMOrchestrator`` against one emulator, all logging to
one ledger URL. Every call leaves exactly one record with its own id, and the report the
backend computes equals what the processes saw in their responses. The emulator's usage is
deterministic, so every backend reports the same totals for the same workload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import llmorch
from llmorch.costs import CostTracker
from llmorch.ledger.base import PICO
from llmorch.testing import ProviderEmulator
from tests.emulated import one_provider
from tests.ledger.conftest import url_for

PROCESSES = 4
CALLS = 500
MODEL = "gpt-5.4-mini"
COMPARED = ("total_requests", "total_tokens", "total_cost", "by_model", "by_tag")
RESULTS: dict[str, dict[str, object]] = {}  # each backend's report, compared across backends

CLIENT = """
import json, sys
import anyio
from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.ledger.base import to_pico

k, config_path, calls = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
config = OrchestratorConfig.from_dict(json.loads(open(config_path).read()))
messages = [{"role": "user", "content": "hello there from the fleet"}]
seen = {"requests": 0, "tokens": 0, "cost_pico": 0, "cut": 0}

async def call(orch, i):
    tags = {"proc": str(k), "kind": ("request", "stream", "cut")[i % 3]}
    if i % 3 == 0:
        response = await orch.send_request(messages, max_tokens=20, tags=tags)
    else:
        stream = orch.send_streaming_request(messages, max_tokens=20, tags=tags)
        async for _ in stream:
            if i % 3 == 2:
                break
        await stream.aclose()
        response = stream.response
        seen["cut"] += i % 3 == 2
    seen["requests"] += 1
    seen["tokens"] += response.tokens_used["total"]
    seen["cost_pico"] += to_pico(response.cost)

async def main():
    limiter = anyio.Semaphore(8)
    async with AsyncLLMOrchestrator(config) as orch:
        async def one(i):
            async with limiter:
                await call(orch, i)
        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(one, i)
    print(json.dumps(seen))

anyio.run(main)
"""


def _run_fleet(emu: ProviderEmulator, url: str, tmp_path: Path) -> list[dict[str, int]]:
    config = one_provider(emu, "openai", MODEL, tmp_path / "unused.jsonl", max_retries=0)
    config["cost_tracking"] = {"ledger": url, "spool_path": str(tmp_path / "spool.jsonl")}
    config["pricing"] = {"openai": {MODEL: {"input": 3.0, "output": 12.0}}}
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    env = os.environ | {"PYTHONPATH": str(Path(llmorch.__file__).parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(k), str(config_path), str(CALLS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(PROCESSES)
    ]
    seen = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        seen.append(json.loads(out.splitlines()[-1]))
    assert not (tmp_path / "spool.jsonl").exists() or not (tmp_path / "spool.jsonl").read_text()
    return seen


@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "postgresql"])
def test_four_processes_on_one_ledger(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """2000 calls from four processes: 2000 records, unique ids, the report the callers saw."""
    url = url_for(kind, tmp_path, request)
    with ProviderEmulator() as emu:
        seen = _run_fleet(emu, url, tmp_path)
    tracker = CostTracker(ledger=url)
    try:
        ids = [r.id for r in tracker.iter_records()]
        report = tracker.get_usage_report(by_tags=("proc", "kind"))
    finally:
        tracker.close()
    total = PROCESSES * CALLS
    assert len(ids) == len(set(ids)) == total
    assert sum(s["cut"] for s in seen) == PROCESSES * (CALLS // 3)
    tokens = sum(s["tokens"] for s in seen)
    cost_pico = sum(s["cost_pico"] for s in seen)
    assert report["total_requests"] == total
    assert report["total_tokens"] == tokens
    assert report["total_cost"] == cost_pico / PICO
    assert report["by_model"] == {
        f"openai/{MODEL}": {"cost": cost_pico / PICO, "requests": total, "tokens": tokens}
    }
    by_tag = report["by_tag"]
    assert {p: v["requests"] for p, v in by_tag["proc"].items()} == {
        str(k): CALLS for k in range(PROCESSES)
    }
    assert sum(v["requests"] for v in by_tag["kind"].values()) == total
    # Under one pytest process the backends run one after another: each matches the others.
    RESULTS[kind] = report
    for other, theirs in RESULTS.items():
        assert {k: theirs[k] for k in COMPARED} == {k: report[k] for k in COMPARED}, other
