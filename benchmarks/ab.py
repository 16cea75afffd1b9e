"""A/B of two llmorch builds in one run: this checkout against a git ref, alternating rounds.

``python -m benchmarks ab --baseline 4a56482 [--rounds 6]`` exports the ref's ``src/`` with
``git archive``, then runs the same workload (sequential requests, 50-chunk streams, 1,000
requests at 100 in flight, sync facade calls) in a fresh interpreter per build and round, the
builds' order alternating from round to round, against one benchmark server. It prints each
build's median of round medians, the ratio of this build to the baseline, and the noise: the
spread of one build's round medians (max - min over median), the yardstick a difference must
exceed to mean anything.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.run import ROOT, _start_server

_WORKER = """
import json, statistics, sys, time
import anyio
from benchmarks.clients import CLIENTS, MESSAGES
from benchmarks.run import _concurrent
base, requests, streams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

async def timed(kind, count):
    async with CLIENTS["llmorch"](base) as client:
        call = client.request if kind == "request" else client.stream
        for _ in range(max(3, count // 10)):
            await call()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000

def sync_ms(count):
    from llmorch import LLMOrchestrator, OrchestratorConfig
    config = OrchestratorConfig.from_dict({
        "active_provider": "openai", "active_model": "gpt-4o-mini",
        "providers": {"openai": {"base_url": base + "/openai/v1", "api_key": "k"}},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "cost_tracking": {"enabled": False}})
    with LLMOrchestrator(config) as orch:
        for _ in range(max(3, count // 10)):
            orch.send_request(MESSAGES)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            orch.send_request(MESSAGES)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000

out = {
    "request_ms": anyio.run(timed, "request", requests),
    "stream_ms": anyio.run(timed, "stream", streams),
    "inflight_s": anyio.run(_concurrent, base, "llmorch", 1000, 100),
    "sync_ms": sync_ms(requests // 2),
}
import llmorch
out["build"] = llmorch.__file__
print(json.dumps(out))
"""

METRICS = ("request_ms", "stream_ms", "inflight_s", "sync_ms")


def export(ref: str, into: Path) -> Path:
    """Write the ``src/`` tree of git ``ref`` under ``into`` and return its ``src`` path."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_build(src: Path, base: str, requests: int, streams: int) -> dict[str, Any]:
    """One round of the workload in a fresh interpreter importing llmorch from ``src``."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, base, str(requests), str(streams)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["build"].startswith(str(src)):
        raise RuntimeError(f"round imported {result['build']}, not the build under {src}")
    return result


def summarise(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians, ratio (this build / baseline) and noise per metric."""
    out: dict[str, Any] = {}
    for metric in METRICS:
        row: dict[str, Any] = {}
        for build, results in rounds.items():
            values = [r[metric] for r in results]
            median = statistics.median(values)
            row[build] = {
                "median": round(median, 4),
                "noise": round((max(values) - min(values)) / median, 3),
            }
        row["ratio"] = round(row["this"]["median"] / row["baseline"]["median"], 3)
        out[metric] = row
    return out


def main(argv: Sequence[str]) -> int:
    """Run the A/B.

    Args:
        argv: ``--baseline REF [--rounds N] [--requests N] [--streams N] [--out FILE]``.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks ab")
    parser.add_argument("--baseline", required=True, help="a git ref to compare against")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ab.json")
    args = parser.parse_args(argv)
    server, base = _start_server()
    builds = {"this": ROOT / "src"}
    rounds: dict[str, list[dict[str, Any]]] = {"this": [], "baseline": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            builds["baseline"] = export(args.baseline, Path(tmp))
            for r in range(args.rounds):
                order = ["this", "baseline"] if r % 2 == 0 else ["baseline", "this"]
                for build in order:
                    rounds[build].append(
                        run_build(builds[build], base, args.requests, args.streams)
                    )
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    summary = {"baseline": args.baseline, "rounds": args.rounds, **summarise(rounds)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "raw": rounds}, indent=2) + "\n")
    lines = [f"A/B against {args.baseline}, {args.rounds} alternating rounds", ""]
    lines.append("| metric | this | baseline | this/baseline | noise this | noise baseline |")
    lines.append("|---|---|---|---|---|---|")
    for metric in METRICS:
        row = summary[metric]
        lines.append(
            f"| {metric} | {row['this']['median']} | {row['baseline']['median']} | "
            f"{row['ratio']} | {row['this']['noise']} | {row['baseline']['noise']} |"
        )
    sys.stdout.write("\n".join(lines) + f"\n\nwritten to {args.out}\n")
    return 0
