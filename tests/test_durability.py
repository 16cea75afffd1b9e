"""The ledger survives SIGKILL, and cancelled streams leak neither connections nor memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from llmorch import AsyncLLMOrchestrator, CostTracker, OrchestratorConfig
from llmorch.testing import ProviderEmulator

WRITER = textwrap.dedent(
    """
    import sys
    from llmorch import CostTracker
    tracker = CostTracker(log_path=sys.argv[1])
    i = 0
    while True:
        tokens = {"prompt": 10, "completion": 5}
        tracker.log_usage("openai", "gpt-4o", tokens, "s", request_id=str(i))
        i += 1
        if i == 200:
            print("ready", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_run_leaves_at_most_one_partial_line(tmp_path: Path) -> None:
    """A writer killed mid-run leaves whole lines (at most a partial last one, which is skipped)."""
    ledger = tmp_path / "ledger.jsonl"
    src = str(Path(__file__).parent.parent / "src")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ledger)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert writer.stdout is not None
    assert "ready" == writer.stdout.readline().strip()
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    lines = ledger.read_bytes().split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or one partial line
    parsed = [json.loads(line) for line in lines]
    assert len(parsed) >= 200
    assert [str(i) for i in range(len(parsed))] == [r["request_id"] for r in parsed]
    records = list(CostTracker(log_path=ledger).iter_records())
    assert len(parsed) == len(records)  # a partial tail, if any, is skipped, never counted
    assert len(tail) < 1000


def _open_sockets() -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    "backend",
    [
        "asyncio",
        # Under trio, httpx's *inner* body generators (aiter_raw and httpcore's) are left to the
        # garbage collector when the outer one is closed early, and trio warns about each. The
        # connection itself is closed by the response's context exit; the objects are httpx's.
        pytest.param(
            "trio",
            marks=[
                pytest.mark.filterwarnings("ignore:Async generator 'http:ResourceWarning"),
                pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
            ],
        ),
    ],
)
def test_a_thousand_cancelled_streams_leak_nothing(backend: str) -> None:
    """1,000 streams cancelled mid-stream: pool healthy, every call recorded, RSS flat."""
    with ProviderEmulator() as emu:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "openai",
                "active_model": "gpt-4o-mini",
                "providers": {"openai": emu.config_for("openai")},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        messages = [{"role": "user", "content": "a b c d e f g h"}]

        async def cancelled_streams(n: int) -> None:
            for i in range(n):
                with anyio.CancelScope() as scope:
                    if i % 2:  # cancelled in the caller's own code, inside `async with`
                        async with orch.send_streaming_request(messages) as stream:
                            async for _chunk in stream:
                                scope.cancel()
                                await anyio.lowlevel.checkpoint()
                    else:  # cancelled at the stream's next read (if it has to wait for one)
                        async for _chunk in orch.send_streaming_request(messages):
                            scope.cancel()

        async def main() -> tuple[float, float, int, int]:
            global orch
            async with AsyncLLMOrchestrator(config) as orch:
                await cancelled_streams(100)  # warm-up
                rss_before, sockets_before = _rss_mib(), _open_sockets()
                started = time.perf_counter()
                await cancelled_streams(1000)
                assert time.perf_counter() - started < 60
                response = await orch.send_request(messages)  # the pool still works
                assert response.content
                return rss_before, _rss_mib(), sockets_before, _open_sockets()

        rss_before, rss_after, sockets_before, sockets_after = anyio.run(main, backend=backend)
    records = [json.loads(x) for x in Path("ledger.jsonl").read_text().splitlines()]
    assert 1101 == len(records)
    assert 550 <= sum(1 for r in records if r["complete"] is False)  # one per call, complete or not
    assert sockets_after <= sockets_before + 5
    assert rss_after - rss_before < 10


orch: AsyncLLMOrchestrator
