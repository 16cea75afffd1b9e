"""The ledger benchmark: reports on a big ledger, and the event loop while records are written.

``python -m benchmarks ledger [--records 1000000]`` (also part of the full run):

- ``get_usage_report()`` over ``--records`` synthetic records (100 sessions, 20 models, 30 days:
  :func:`benchmarks.ledger_data.synthetic_records`) on every backend: JSON lines with this
  checkout's reader and with the previous reader (:mod:`benchmarks._jsonl_v1_reader`) in
  alternating rounds, SQLite, and PostgreSQL in a database the benchmark creates on
  127.0.0.1:5432 and drops afterwards (the column is skipped, with a note, when no server
  answers or psycopg is missing). The JSON-lines file and the SQLite database are cached in
  ``--cache`` between runs; PostgreSQL is loaded each run.
- The event loop's stall while 1,000 records are written with ``await tracker.alog_usage(...)``
  from 50 tasks on each backend (each task pausing 0-50 ms between records, as a call's round
  trip would): a ticker task asks for 1 ms sleeps and records how late each wakes; the report
  gives the p99 and the worst lateness.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio

from benchmarks._jsonl_v1_reader import usage_report_v1
from benchmarks.ledger_data import synthetic_records
from llmorch.costs import CostTracker
from llmorch.ledger import Entry, LedgerBackend, open_ledger
from llmorch.ledger.records import encode_record

__all__ = ["main", "measure"]

PG_ADMIN = os.environ.get("LLMORCH_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CACHE = Path(tempfile.gettempdir()) / "llmorch-bench-cache"
RESULTS = Path(__file__).parent / "results" / "ledger.json"
BATCH = 10_000
DATA_VERSION = 1  # bump when synthetic_records changes: the cache is keyed by it


def _batches(n: int) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    for record in synthetic_records(n):
        batch.append(Entry(record))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _jsonl_file(cache: Path, n: int) -> Path:
    path = cache / f"ledger-{n}-v{DATA_VERSION}.jsonl"
    if not path.exists():
        part = path.with_suffix(".part")
        with part.open("wb") as fh:
            for batch in _batches(n):
                fh.write(b"".join(encode_record(e.record) for e in batch))
        part.replace(path)
    return path


def _load(backend: LedgerBackend, n: int) -> float:
    started = time.perf_counter()
    for batch in _batches(n):
        backend.write(batch)
    return time.perf_counter() - started


def _sqlite_file(cache: Path, n: int) -> tuple[Path, float | None]:
    path = cache / f"ledger-{n}-v{DATA_VERSION}.db"
    if path.exists():
        return path, None
    part = cache / f"ledger-{n}-v{DATA_VERSION}.part.db"
    for leftover in cache.glob(part.name + "*"):
        leftover.unlink()
    backend = open_ledger(f"sqlite:///{part}")
    try:
        seconds = _load(backend, n)
    finally:
        backend.close()
    for suffix in ("-wal", "-shm"):  # a closed WAL database has none; be sure
        Path(str(part) + suffix).unlink(missing_ok=True)
    part.replace(path)
    return path, seconds


@contextmanager
def _pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped afterwards."""
    import psycopg

    name = f"llmorch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_missing() -> str | None:
    """Why PostgreSQL cannot be measured, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'llmorch[postgres]')"
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL at {PG_ADMIN.rsplit('@', 1)[-1]}: {str(exc).splitlines()[0]}"
    return None


def _timed(call: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    report = call()
    return time.perf_counter() - started, report


def _report_times(
    calls: dict[str, Callable[[], dict[str, Any]]], rounds: int
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Median seconds per call, the calls' order alternating from round to round."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    reports: dict[str, dict[str, Any]] = {}
    names = list(calls)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            seconds, reports[name] = _timed(calls[name])
            times[name].append(seconds)
    return {n: round(statistics.median(t), 3) for n, t in times.items()}, reports


async def _stall(url: str, writes: int, tasks: int, spool: Path) -> dict[str, float]:
    """Loop lateness (ms) of a 1 ms ticker while ``writes`` records are logged from tasks."""
    tracker = CostTracker(ledger=url, spool_path=spool)
    lateness: list[float] = []
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lateness.append(time.perf_counter() - started - 0.001)

    async def writer(seed: int, count: int) -> None:
        pause = random.Random(seed)
        for i in range(count):
            # A call's round trip comes between two records: 0-50 ms here, so that the
            # 1,000 records take about half a second and the ticker wakes some 400 times.
            await anyio.sleep(pause.uniform(0, 0.05))
            await tracker.alog_usage(
                "openai",
                "gpt-4o-mini",
                {"prompt": 100 + i, "completion": 20},
                "bench",
                tags={"user": f"u{i % 7}"},
            )

    try:
        # One write first: a database ledger connects and creates its tables on first use.
        await tracker.alog_usage("openai", "gpt-4o-mini", {"prompt": 1, "completion": 1}, "b")
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            async with anyio.create_task_group() as writers:
                for t in range(tasks):
                    writers.start_soon(writer, t, writes // tasks + (t < writes % tasks))
            done.set()
        wall = time.perf_counter() - started
    finally:
        tracker.close()
    ordered = sorted(lateness)
    return {
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "ticks": len(ordered),
        "writes_per_s": round(writes / wall),
    }


def measure(
    records: int = 1_000_000,
    *,
    rounds: int = 3,
    writes: int = 1000,
    tasks: int = 50,
    cache: Path = CACHE,
    backends: Sequence[str] = ("jsonl", "sqlite", "postgresql"),
) -> dict[str, Any]:
    """Run the ledger benchmark.

    Args:
        records: Records in the reported ledger.
        rounds: Timed reports per backend (median).
        writes: Records written during the stall measurement.
        tasks: Tasks writing them.
        cache: Where the generated JSON-lines file and SQLite database are kept.
        backends: Which backends to measure.

    Returns:
        ``report_s`` (backend → median seconds of ``get_usage_report()``), ``jsonl_speedup``,
        ``load_s``, ``same_totals``, ``stall`` (backend → lateness), ``notes``.
    """
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"records": records, "rounds": rounds, "writes": writes, "notes": []}
    load: dict[str, float] = {}
    calls: dict[str, Callable[[], dict[str, Any]]] = {}
    opened: list[LedgerBackend] = []
    missing = _pg_missing() if "postgresql" in backends else "not asked for"
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        if "jsonl" in backends:
            started = time.perf_counter()
            path = _jsonl_file(cache, records)
            load["jsonl"] = round(time.perf_counter() - started, 1)
            calls["jsonl (previous reader)"] = lambda: usage_report_v1(str(path))
            calls["jsonl"] = CostTracker(ledger=f"jsonl:{path}").get_usage_report
        if "sqlite" in backends:
            db, seconds = _sqlite_file(cache, records)
            if seconds is not None:
                load["sqlite"] = round(seconds, 1)
            sqlite = open_ledger(f"sqlite:///{db}")
            opened.append(sqlite)
            calls["sqlite"] = CostTracker(ledger=sqlite).get_usage_report
        pg_url = None
        if missing is None:
            pg_url = stack.enter_context(_pg_database())
            postgres = open_ledger(pg_url)
            opened.append(postgres)
            load["postgresql"] = round(_load(postgres, records), 1)
            calls["postgresql"] = CostTracker(ledger=postgres).get_usage_report
        elif "postgresql" in backends:
            out["notes"].append(f"postgresql skipped: {missing}")
        try:
            times, reports = _report_times(calls, rounds)
        finally:
            for backend in opened:
                backend.close()
        out["report_s"] = times
        out["load_s"] = load
        if "jsonl" in times and times["jsonl"]:
            out["jsonl_speedup"] = round(times["jsonl (previous reader)"] / times["jsonl"], 2)
        totals = {
            name: (r["total_requests"], r["total_tokens"], round(r["total_cost"], 6))
            for name, r in reports.items()
        }
        out["same_totals"] = len(set(totals.values())) <= 1
        if not out["same_totals"]:
            out["notes"].append(f"totals differ: {totals}")
        stall: dict[str, Any] = {}
        urls = {
            "jsonl": f"jsonl:{Path(tmp) / 'stall.jsonl'}",
            "sqlite": f"sqlite:///{Path(tmp) / 'stall.db'}",
            "postgresql": pg_url,
        }
        for name, url in urls.items():
            if name in backends and url is not None:
                stall[name] = anyio.run(_stall, url, writes, tasks, Path(tmp) / f"{name}.spool")
        out["stall"] = stall
    return out


def table(results: dict[str, Any]) -> str:
    """The results as text lines for the benchmark's printed report.

    Args:
        results: What :func:`measure` returned.

    Returns:
        The lines.
    """
    n = results["records"]
    lines = [
        (
            f"| ledger backend | get_usage_report() on {n:,} records, s "
            f"| {results['writes']:,} async writes: loop stall p99 (max) ms |"
        ),
        "|---|---|---|",
    ]
    stall = results.get("stall", {})
    for name, seconds in results["report_s"].items():
        s = stall.get(name)
        cell = f"{s['p99_ms']} ({s['max_ms']})" if s else "—"
        lines.append(f"| {name} | {seconds} | {cell} |")
    if "jsonl_speedup" in results:
        lines.append(f"JSON-lines reader: {results['jsonl_speedup']}× the previous one")
    lines.append(f"same totals on every backend: {'yes' if results['same_totals'] else 'NO'}")
    if results["load_s"]:
        loads = ", ".join(f"{k} {v} s" for k, v in results["load_s"].items())
        lines.append(f"loaded this run (cached next time except postgresql): {loads}")
    lines += [f"note: {note}" for note in results["notes"]]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    """``python -m benchmarks ledger``: the ledger benchmark alone.

    Args:
        argv: The arguments after ``ledger``.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks ledger")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"default: {CACHE}")
    parser.add_argument(
        "--backends", default="jsonl,sqlite,postgresql", help="comma-separated subset"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = measure(
        args.records,
        rounds=args.rounds,
        writes=args.writes,
        tasks=args.tasks,
        cache=args.cache,
        backends=args.backends.split(","),
    )
    results["table"] = table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(results["table"] + f"\n\nwritten to {args.out}\n")
    return 0
