"""Run every benchmark in one process tree and report medians and ratios to bare httpx."""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from benchmarks import check
from benchmarks.clients import CLIENTS, MESSAGES, available, llmorch_config
from benchmarks.targets import IMPORT_DEPS
from benchmarks.telemetry import measure as measure_telemetry
from benchmarks.telemetry import table_lines as telemetry_lines

# Loopback only: LiteLLM fetches a price list from the internet at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("NO_GCE_CHECK", "True")

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results" / "latest.json"
BASELINES = ("httpx", "httpx+aiohttp")
KINDS = ("request", "stream", "events", "tools")
CHECK_HELP = """\
--check prints every target of issue 17 (benchmarks/targets.py) with its measured figure and
PASS, MISS or SKIP (a peer that is not installed), and exits 1 when one is missed. Run it as
`python -m benchmarks --check` or, with the SDKs installed, `nox -s bench -- --check` (nox takes
the session's arguments after `--`); `--quick --check` is a smoke test, not a measurement.
"""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 4)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _latency(
    base: str, names: list[str], count: int, rounds: int, kind: str
) -> dict[str, Any]:
    """Sequential calls, in rounds whose client order alternates, after a warm-up.

    ``kind`` is one of :data:`KINDS`; a client without that call is left out of the result.
    """
    times: dict[str, list[float]] = {n: [] for n in names}
    per_round = max(1, count // rounds)
    for r in range(rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            async with CLIENTS[name](base) as client:
                call = getattr(client, kind)
                if call is None:
                    continue
                for _ in range(max(3, per_round // 10)):
                    await call()
                for _ in range(per_round):
                    started = time.perf_counter()
                    await call()
                    times[name].append(time.perf_counter() - started)
    return {
        n: {"median_ms": _ms(statistics.median(t)), "p99_ms": _ms(_pct(t, 0.99)), "n": len(t)}
        for n, t in times.items()
        if t
    }


def _concurrency(base: str, names: list[str], total: int, inflight: int, rounds: int) -> Any:
    """Each client's concurrency run in its own process, in alternating rounds: the medians."""
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            worker = ["-m", "benchmarks", "worker", name, base, str(total), str(inflight)]
            runs[name].append(_subprocess_json(worker))
    return {
        n: {
            "wall_s": round(statistics.median(x["wall_s"] for x in got), 4),
            "peak_rss_mib": round(statistics.median(x["peak_rss_mib"] for x in got), 1),
            "rounds": len(got),
        }
        for n, got in runs.items()
    }


async def _concurrent(base: str, name: str, total: int, inflight: int) -> float:
    async with CLIENTS[name](base) as client:
        await client.request()
        limiter = anyio.Semaphore(inflight)

        async def one() -> None:
            async with limiter:
                await client.request()

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(total):
                tg.start_soon(one)
        return time.perf_counter() - started


def _worker(argv: Sequence[str]) -> int:
    """``python -m benchmarks worker NAME BASE TOTAL INFLIGHT``: one concurrency run, as JSON."""
    name, base, total, inflight = argv[0], argv[1], int(argv[2]), int(argv[3])
    wall = anyio.run(_concurrent, base, name, total, inflight)
    rss = peak_rss_mib()
    sys.stdout.write(json.dumps({"wall_s": round(wall, 4), "peak_rss_mib": round(rss, 1)}) + "\n")
    return 0


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB (VmHWM, which, unlike ru_maxrss, resets at exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _subprocess_json(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


_IMPORT = """
import json, time
t = time.perf_counter()
{code}
elapsed = time.perf_counter() - t
from benchmarks.run import peak_rss_mib
print(json.dumps({{"s": elapsed, "rss": peak_rss_mib()}}))
"""

_CONFIGURED = """
import llmorch
from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.providers import BUILTIN_TYPES
extra = {{
    "vertex": {{"project_id": "p", "location": "us-central1"}},
    "bedrock": {{"region_name": "us-east-1", "aws_access_key_id": "AKIDEXAMPLE",
                 "aws_secret_access_key": "secret"}},
}}
names = {names}
providers = {{n: {{"type": n, "api_key": "k", **extra.get(n, {{}})}} for n in names}}
for n in ("vertex", "bedrock"):
    if n in providers:
        providers[n].pop("api_key")
orch = AsyncLLMOrchestrator(OrchestratorConfig.from_dict({{
    "active_provider": names[0], "active_model": "m", "providers": providers,
    "model_discovery": {{"refresh_on_start": False, "cache_path": None}},
    "cost_tracking": {{"enabled": False}}, "http_transport": "httpx"}}))
for n in names:
    orch._adapter_map()[n]
"""


def _cache_bytecode() -> None:
    """Compile llmorch's modules to bytecode, as installing a wheel does.

    The dependencies' bytecode is cached; without llmorch's, a run under PYTHONDONTWRITEBYTECODE
    (or from a fresh tree) would time compiling llmorch, not importing it.
    """
    import llmorch

    compileall.compile_dir(str(Path(llmorch.__file__).parent), quiet=1)


def _imports(repeat: int, names: list[str]) -> dict[str, Any]:
    from llmorch.providers import BUILTIN_TYPES

    _cache_bytecode()

    cases = {
        IMPORT_DEPS: "import httpx, pydantic, yaml, anyio, aiohttp",
        "import llmorch": "import llmorch",
        "llmorch + openai configured": _CONFIGURED.format(names=["openai"]),
        f"llmorch + all {len(BUILTIN_TYPES)} built-in providers configured": _CONFIGURED.format(
            names=sorted(BUILTIN_TYPES)
        ),
    }
    for name, module in (
        ("openai SDK", "openai"),
        ("anthropic SDK", "anthropic"),
        ("litellm", "litellm"),
    ):
        if name in names:
            cases[f"import {module}"] = f"import {module}"
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True"}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in cases}
    for r in range(repeat):
        for label in cases if r % 2 == 0 else list(reversed(cases)):
            runs[label].append(_subprocess_json(["-c", _IMPORT.format(code=cases[label])], env))
    out: dict[str, Any] = {}
    for label, got in runs.items():
        out[label] = {
            "median_s": round(statistics.median(r["s"] for r in got), 4),
            "rss_mib": round(statistics.median(r["rss"] for r in got), 1),
        }
    return out


_COLD = """
import json, time
t = time.perf_counter()
import anyio
from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
async def main():
    config = OrchestratorConfig.from_dict({{
        "active_provider": "openai", "active_model": "gpt-4o-mini",
        "providers": {{"openai": {{"base_url": "{base}/openai/v1", "api_key": "k"}}}},
        "model_discovery": {{"refresh_on_start": False, "cache_path": None}},
        "cost_tracking": {{"enabled": False}}}})
    async with AsyncLLMOrchestrator(config) as orch:
        await orch.send_request([{{"role": "user", "content": "hi"}}])
anyio.run(main)
print(json.dumps({{"s": time.perf_counter() - t}}))
"""


def _cold(base: str, repeat: int) -> dict[str, float]:
    _cache_bytecode()
    inner, outer = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        inner.append(_subprocess_json(["-c", _COLD.format(base=base)])["s"])
        outer.append(time.perf_counter() - started)
    return {
        "in_process_s": round(statistics.median(inner), 4),
        "with_interpreter_start_s": round(statistics.median(outer), 4),
    }


async def _async_core_times(base: str, ledger: str, count: int) -> list[float]:
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

    async with AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(llmorch_config(base, ledger))
    ) as orch:
        for _ in range(max(3, count // 10)):
            await orch.send_request(MESSAGES)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await orch.send_request(MESSAGES)
            times.append(time.perf_counter() - started)
    return times


def _sync_times(base: str, ledger: str, count: int) -> list[float]:
    from llmorch import LLMOrchestrator, OrchestratorConfig

    with LLMOrchestrator(OrchestratorConfig.from_dict(llmorch_config(base, ledger))) as orch:
        for _ in range(max(3, count // 10)):
            orch.send_request(MESSAGES)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            orch.send_request(MESSAGES)
            times.append(time.perf_counter() - started)
    return times


def _sync_overhead(base: str, count: int, rounds: int) -> dict[str, Any]:
    """The sync facade against the async core per call: one config, alternating rounds."""
    per_round = max(1, count // rounds)
    sync: list[float] = []
    core: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        ledger = f"{tmp}/ledger.jsonl"
        for r in range(rounds):
            for facade in ("sync", "async") if r % 2 == 0 else ("async", "sync"):
                if facade == "sync":
                    sync += _sync_times(base, ledger, per_round)
                else:
                    core += anyio.run(_async_core_times, base, ledger, per_round)
    median, async_median = statistics.median(sync), statistics.median(core)
    return {
        "median_ms": _ms(median),
        "async_median_ms": _ms(async_median),
        "ratio": _ratio(median, async_median),
        "n": len(sync),
    }


def _server_floor(base: str, count: int) -> float:
    """The server's own floor: a raw asyncio client, one keep-alive socket, prebuilt bytes."""
    import asyncio

    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    request = (
        f"POST /openai/v1/chat/completions HTTP/1.1\r\nhost: {host}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n{body}"
    ).encode()

    async def run() -> float:
        reader, writer = await asyncio.open_connection(host, int(port))
        times = []
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            times.append(time.perf_counter() - started)
        writer.close()
        return statistics.median(times)

    return _ms(asyncio.run(run()))


def _start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    return server, f"http://127.0.0.1:{port}"


def _ratio(value: float, base: float) -> float:
    return round(value / base, 3) if base else 0.0


def _table(results: dict[str, Any]) -> str:
    lat, stream, conc = results["request"], results["stream"], results["concurrency"]
    floor = lat["httpx"]["median_ms"]
    floor_a = lat["httpx+aiohttp"]["median_ms"]
    sfloor, sfloor_a = stream["httpx"]["median_ms"], stream["httpx+aiohttp"]["median_ms"]
    lines = [
        (
            "| client | request median (p99) ms | ×httpx | ×httpx+aiohttp | 50-chunk stream ms "
            "| ×httpx | ×httpx+aiohttp | 1,000 @ 100 in flight s | peak RSS MiB |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in lat:
        r, s, c = lat[name], stream[name], conc.get(name, {})
        cells = [
            name,
            f"{r['median_ms']:.3f} ({r['p99_ms']:.3f})",
            _ratio(r["median_ms"], floor),
            _ratio(r["median_ms"], floor_a),
            f"{s['median_ms']:.3f}",
            _ratio(s["median_ms"], sfloor),
            _ratio(s["median_ms"], sfloor_a),
            c.get("wall_s", "—"),
            c.get("peak_rss_mib", "—"),
        ]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    lines += ["", "| import (subprocess, median) | seconds | RSS MiB |", "|---|---|---|"]
    lines += [f"| {k} | {v['median_s']} | {v['rss_mib']} |" for k, v in results["imports"].items()]
    lines += _typed_lines(results)
    cold, sync = results["cold_first_request"], results["sync_facade"]
    lines += [
        "",
        f"server floor: {results['server_floor_ms']} ms per request (raw asyncio client)",
        (
            f"cold process to first answer: {cold['in_process_s']} s in-process, "
            f"{cold['with_interpreter_start_s']} s with interpreter start"
        ),
        (
            f"sync facade: {sync['median_ms']} ms per request against {sync['async_median_ms']} ms "
            f"for the async core (same config, alternating rounds): {sync['ratio']}×"
        ),
    ]
    if "telemetry" in results:
        lines += telemetry_lines(results["telemetry"])
    return "\n".join(lines)


def _typed_lines(results: dict[str, Any]) -> list[str]:
    """The typed-event cases: ``stream.events()`` and the tool-call stream, against bare httpx."""
    events, tools = results["events"], results["tools"]
    lines = [
        "",
        (
            "| client | 50-chunk stream.events() ms | ×httpx | ×httpx+aiohttp "
            "| 50-delta tool-call stream ms | ×httpx | ×httpx+aiohttp |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in events.items():
        cells: list[object] = [name, f"{e['median_ms']:.3f}"]
        cells += [_ratio(e["median_ms"], events[b]["median_ms"]) for b in BASELINES]
        t = tools.get(name)
        if t:
            cells.append(f"{t['median_ms']:.3f}")
            cells += [_ratio(t["median_ms"], tools[b]["median_ms"]) for b in BASELINES]
        else:
            cells += ["—", "—", "—"]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; ``--quick`` runs every scenario on tiny counts, ``--check`` judges targets.

    Args:
        argv: Command-line arguments.

    Returns:
        The exit code.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        return _worker(argv[1:])
    if argv and argv[0] == "ab":
        from benchmarks.ab import main as ab

        return ab(argv[1:])
    if argv and argv[0] == "ledger":
        from benchmarks.ledger import main as ledger

        return ledger(argv[1:])
    if argv and argv[0] == "readme":
        from benchmarks.readme import main as readme

        return readme(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        epilog=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument(
        "--check",
        action="store_true",
        help="print every target with PASS/MISS/SKIP; exit 1 when one is missed (see below)",
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5, help="subprocess repeats (imports, cold)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--readme",
        type=Path,
        nargs="?",
        const=ROOT / "README.md",
        help="write the results into the README's Performance section (default: this repo's)",
    )
    parser.add_argument("--clients", help="comma-separated subset of: " + ", ".join(CLIENTS))
    parser.add_argument(
        "--ledger-records",
        type=int,
        default=1_000_000,
        help="records in the ledger benchmark (also alone: python -m benchmarks ledger --help)",
    )
    parser.add_argument("--no-ledger", action="store_true", help="skip the ledger benchmark")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.streams, args.total, args.inflight, args.rounds, args.repeat = (
            8,
            4,
            20,
            5,
            2,
            1,
        )
        args.ledger_records = 2000
    names = available()
    if args.clients:
        wanted = args.clients.split(",")
        names = [n for n in names if n in wanted or n in BASELINES]
    server, base = _start_server()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
    try:
        results: dict[str, Any] = {
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "server": "benchmarks/server.py (raw asyncio, canned answers), pinned to core 0",
            },
            "counts": {k: getattr(args, k) for k in ("requests", "streams", "total", "inflight")},
            "server_floor_ms": _server_floor(base, args.requests),
            **{
                kind: anyio.run(
                    _latency,
                    base,
                    names,
                    args.requests if kind == "request" else args.streams,
                    args.rounds,
                    kind,
                )
                for kind in KINDS
            },
            "concurrency": _concurrency(base, names, args.total, args.inflight, args.rounds),
            "imports": _imports(args.repeat, names),
            "cold_first_request": _cold(base, args.repeat),
            "sync_facade": _sync_overhead(base, args.requests // 2, args.rounds),
            "telemetry": anyio.run(
                measure_telemetry, base, args.requests, args.streams, args.rounds
            ),
        }
    finally:
        server.terminate()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    if not args.no_ledger:
        from benchmarks.ledger import measure as measure_ledger
        from benchmarks.ledger import table as ledger_table

        quick: dict[str, Any] = {"rounds": 1, "writes": 200, "tasks": 20} if args.quick else {}
        results["ledger"] = measure_ledger(args.ledger_records, **quick)
    results["table"] = _table(results)
    if "ledger" in results:
        results["table"] += "\n\n" + ledger_table(results["ledger"])
    code = 0
    report = results["table"]
    if args.check:
        results["check"] = check.evaluate(results)
        code = check.exit_code(results["check"])
        report += "\n\nTargets (issue 17):\n\n" + check.table(results["check"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.readme is not None:
        from benchmarks.readme import rewrite

        rewrite(args.readme, results)
    sys.stdout.write(report + f"\n\nwritten to {args.out}\n")
    return code
