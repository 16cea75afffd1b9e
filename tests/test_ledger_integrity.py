"""The ledger never loses a record to a torn one, a rotation, a bad tag or a corrupt line.

Findings: review.md 7, 13, 14, 20 and "Suspected" (re-entrant deadlock); chaos.md BUG-6.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, CostTracker, OrchestratorConfig
from llmorch.testing import ProviderEmulator

SRC = str(Path(__file__).parent.parent / "src")
TOKENS = {"prompt": 1000, "completion": 1000}


def _lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data.split(b"\n")[:-1]


def _sessions(path: Path) -> list[str]:
    return [r.session_id for r in CostTracker(log_path=path).iter_records()]


# --- review 7 / chaos BUG-6: a torn record never swallows the next one -------------------------


def test_review_7_a_torn_fragment_does_not_swallow_the_next_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The review's script: a fragment left by a dead writer, then another process appends."""
    path = tmp_path / "ledger.log"
    CostTracker(log_path=path).log_usage("openai", "gpt-4o", TOKENS, "s1")
    with open(path, "ab") as fh:  # a writer that died half-way through its line
        fh.write(b'{"v":1,"ts":"2026-11-30T00:00:00+00:00","session_id":"s0","provi')
    t2 = CostTracker(log_path=path)
    t2.log_usage("openai", "gpt-4o", TOKENS, "s2")
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        report = t2.get_usage_report()
    assert report["total_requests"] == 2
    assert sorted(report["by_session"]) == ["s1", "s2"]
    lines = _lines(path)
    assert json.loads(lines[-1])["session_id"] == "s2"  # on a line of its own
    assert lines[1].endswith(b'"provi')
    assert [r.getMessage().startswith("skipping line 2 ") for r in caplog.records] == [True]


def test_review_7_full_disk_partial_write_does_not_swallow_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC half-way through a line (a write that lands short, then fails), then space returns."""
    path = tmp_path / "ledger.log"
    tracker = CostTracker(log_path=path)
    tracker.log_usage("openai", "gpt-4o", TOKENS, "before")
    real_write = os.write
    calls: list[int] = []

    def full_disk(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])  # what fitted
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        record = tracker.log_usage("openai", "gpt-4o", TOKENS, "torn")
    monkeypatch.setattr(os, "write", real_write)
    assert record.session_id == "torn"  # never raised
    assert len(calls) == 3  # the short write, its retry, and the spool (on the same full disk)
    assert any("No space left" in r.getMessage() for r in caplog.records)
    assert not path.read_bytes().endswith(b"\n")

    tracker.log_usage("openai", "gpt-4o", TOKENS, "after-disk-freed")  # this process ...
    CostTracker(log_path=path).log_usage("openai", "gpt-4o", TOKENS, "other")  # ... and another
    assert _sessions(path) == ["before", "after-disk-freed", "other"]


@pytest.mark.parametrize(
    "cut",
    [
        b'{"v":1,"ts":"2026-11-30T00:00:00+00:00","session_id":"s0","provi',  # inside a key
        b'{"v":1,"ts":"2026-11-30T00:00:00+00:00","session_id":"s0","tags":',  # after a colon
        b'{"v":1,"session_id":"s0","tags":{"v":"x","pad":"\xc3',  # a tag "v"; a cut UTF-8 char
        b'{"v":1,"session_id":"s0","cost":0.5,',  # after a comma
        b"[[[[[[[[",
    ],
)
def test_chaos_bug6_reader_keeps_whole_records_glued_to_a_torn_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cut: bytes
) -> None:
    """A writer that does not end the torn line (another llmorch version) still costs nothing."""
    path = tmp_path / "ledger.log"
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    CostTracker(log_path=first).log_usage("openai", "gpt-4o", TOKENS, "g1", tags={"v": "1"})
    CostTracker(log_path=second).log_usage("openai", "gpt-4o", TOKENS, "g2")
    glued = first.read_bytes().rstrip(b"\n") + second.read_bytes()  # a whole record, no newline
    path.write_bytes(cut + first.read_bytes() + cut + glued)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        assert _sessions(path) == ["g1", "g1", "g2"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert (
        messages[0].startswith("skipping line 1 ") and "kept the 1 whole record(s)" in messages[0]
    )
    assert (
        messages[1].startswith("skipping line 2 ") and "kept the 2 whole record(s)" in messages[1]
    )


def test_chaos_bug6_resync_gives_up_on_a_pathological_line(tmp_path: Path) -> None:
    """A line of many record starts that never parse costs bounded work and yields nothing."""
    path = tmp_path / "ledger.log"
    path.write_bytes(b'{"v":' * 20_000 + b"\n")
    assert _sessions(path) == []


SURVIVOR = textwrap.dedent(
    """
    import os, sys, time
    from llmorch import CostTracker
    path, stop, pad = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t = CostTracker(log_path=path)
    i = 0
    while not os.path.exists(stop):
        t.log_usage("openai", "gpt-4o-mini", {"prompt": 12, "completion": 34}, "s-A",
                    tags={"w": "A", "i": str(i), "pad": "x" * pad})
        i += 1
        time.sleep(0.0005)
    print(i, flush=True)
    """
)

VICTIMS = textwrap.dedent(
    """
    import os, random, signal, sys, time
    from llmorch import CostTracker
    path, kills, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(7)
    for g in range(kills):
        pid = os.fork()
        if pid == 0:  # write as fast as possible until killed, mid-write with luck
            t = CostTracker(log_path=path)
            i = 0
            while True:
                t.log_usage("openai", "gpt-4o-mini", {"prompt": 12, "completion": 34},
                            f"s-B{g}", tags={"w": f"B{g}", "i": str(i), "pad": "x" * pad})
                i += 1
        time.sleep(rng.uniform(0.0005, 0.002))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_chaos_bug6_sigkilled_writers_never_cost_a_survivor_record(tmp_path: Path) -> None:
    """chaos Appendix C, condensed: ~8 KiB records, a writer SIGKILLed 100 times mid-run.

    Every record the never-killed process wrote is on a line of its own, once; every killed
    generation's records are a gap-free prefix (at most its torn last one is missing).
    """
    path, stop = tmp_path / "ledger.jsonl", tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": SRC}
    pad = "8000"
    survivor = subprocess.Popen(
        [sys.executable, "-c", SURVIVOR, str(path), str(stop), pad],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    victims = subprocess.run(
        [sys.executable, "-c", VICTIMS, str(path), "100", pad], env=env, timeout=60, check=False
    )
    stop.touch()
    out, _ = survivor.communicate(timeout=60)
    assert (victims.returncode, survivor.returncode) == (0, 0)
    written = int(out)

    by_writer: dict[str, list[int]] = collections.defaultdict(list)
    torn = 0
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            tags = json.loads(line)["tags"]
        except ValueError:
            torn += 1
            assert line.count(b'{"v"') == 1  # one torn record, nothing glued to it
            continue
        by_writer[tags["w"]].append(int(tags["i"]))
    assert sorted(by_writer.pop("A")) == list(range(written))
    for writer, indices in by_writer.items():
        assert indices == list(range(len(indices))), writer
    assert torn <= 100
    survivor_records = [
        r for r in CostTracker(log_path=path).iter_records() if r.session_id == "s-A"
    ]
    assert len(survivor_records) == written


def test_ledger_check_runs_without_the_file_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No flock (ENOLCK), or one held too long by a stopped writer: the record is still written."""
    path = tmp_path / "ledger.log"
    tracker = CostTracker(log_path=path)
    path.write_bytes(b'{"v":1,"torn')

    def no_locks(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    tracker.log_usage("openai", "gpt-4o", TOKENS, "nolck")

    def held(fd: int, op: int) -> None:
        raise BlockingIOError(errno.EWOULDBLOCK, "held by a stopped writer")

    monkeypatch.setattr(fcntl, "flock", held)
    monkeypatch.setattr(os, "sched_yield", lambda: None)
    tracker.log_usage("openai", "gpt-4o", TOKENS, "held")
    assert _sessions(path) == ["nolck", "held"]


def test_write_only_ledger_is_appended_without_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger this process may write but not read still gets every record."""
    path = tmp_path / "ledger.log"
    real_open = os.open

    def write_only(file: Any, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(file, flags, mode)

    monkeypatch.setattr(os, "open", write_only)
    tracker = CostTracker(log_path=path)
    tracker.log_usage("openai", "gpt-4o", TOKENS, "a")
    tracker.log_usage("openai", "gpt-4o", TOKENS, "b")
    monkeypatch.setattr(os, "open", real_open)
    assert _sessions(path) == ["a", "b"]


# --- review 14: rotation and deletion ----------------------------------------------------------


def test_review_14_rotation_and_deletion_reopen_the_ledger(tmp_path: Path) -> None:
    """The review's script: logrotate (rename + fresh file), then deletion of the ledger."""
    path = tmp_path / "ledgers" / "llm_costs.log"
    t = CostTracker(log_path=path)  # the orchestrator's long-lived tracker
    t.log_usage("openai", "gpt-4o", TOKENS, "s")
    os.rename(path, str(path) + ".1")  # logrotate (create mode) ...
    path.touch()  # ... and a fresh empty ledger
    t.log_usage("openai", "gpt-4o", TOKENS, "s")
    t.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert CostTracker(log_path=path).get_usage_report()["total_requests"] == 2
    assert len(_lines(Path(str(path) + ".1"))) == 1

    os.unlink(path)  # deleted, or rotated away without a new file
    t.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert CostTracker(log_path=path).get_usage_report()["total_requests"] == 1

    os.unlink(path)
    os.unlink(str(path) + ".1")
    os.rmdir(path.parent)  # even the directory is gone
    t.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert CostTracker(log_path=path).get_usage_report()["total_requests"] == 1

    os.truncate(path, 0)  # logrotate copytruncate: same file, emptied in place
    t.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert len(_lines(path)) == 1


# --- review 13: a tag that is not UTF-8 --------------------------------------------------------


async def test_review_13_non_utf8_tag_is_recorded_and_the_answer_returned(
    tmp_path: Path,
) -> None:
    """A file name decoded with surrogateescape as a tag: the answer returned, the record kept."""
    ledger = tmp_path / "l.log"
    tag = os.fsdecode(b"report-\xff.pdf")  # what os.listdir() gives for a non-UTF-8 name
    async with ProviderEmulator() as emu:
        cfg = OrchestratorConfig.from_dict(
            {
                "active_provider": "openai",
                "active_model": emu.chat_models("openai")[0],
                "providers": {"openai": emu.config_for("openai")},
                "cost_tracking": {"log_path": str(ledger)},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
            }
        )
        async with AsyncLLMOrchestrator(cfg) as orch:
            messages = [{"role": "user", "content": "hi"}]
            response = await orch.send_request(messages, tags={"file": tag, "\ud800": "x"})
            async with orch.send_streaming_request(messages, tags={"file": tag}) as stream:
                async for _ in stream:
                    pass
        assert len(emu.requests) == 2
    assert response.content
    records = list(CostTracker(log_path=ledger).iter_records())
    assert [r.tags for r in records] == [
        {"file": "report-\\xff.pdf", "\\ud800": "x"},
        {"file": "report-\\xff.pdf"},
    ]
    assert records[0].cost == response.cost
    assert CostTracker(log_path=ledger).export_to_csv(tmp_path / "out.csv") == 2


def test_review_13_lone_surrogates_in_every_string_field(tmp_path: Path) -> None:
    """Session, ids from the vendor and tags: escaped when written and when read back."""
    path = tmp_path / "l.log"
    t = CostTracker(log_path=path)
    rec = t.log_usage(
        "openai",
        "gpt-4o",
        TOKENS,
        "s\udcff",
        request_id="r\ud83d",
        model_answered="m\udcfe\ud800",
        tags={"k": "caf\u00e9"},
    )
    assert (rec.session_id, rec.request_id, rec.model_answered) == (
        "s\\xff",
        "r\\ud83d",
        "m\\udcfe\\ud800",
    )
    assert rec.tags == {"k": "café"}
    assert t.get_session_cost("s\udcff") == t.get_session_cost("s\\xff") == rec.cost
    # a line with JSON escapes for lone surrogates (another tool): escaped on reading
    line = json.loads(_lines(path)[0])
    line["tags"] = {"f": "\udcff"}
    path.write_text(json.dumps(line) + "\n")
    assert [r.tags for r in CostTracker(log_path=path).iter_records()] == [{"f": "\\xff"}]


# --- review 20: a deeply nested corrupt line ---------------------------------------------------


def test_review_20_deeply_nested_corrupt_line_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The review's script: 100,000 `[` on a line is skipped with a WARNING, never fatal."""
    path = tmp_path / "l.log"
    t = CostTracker(log_path=path)
    t.log_usage("openai", "gpt-4o", {"prompt": 1, "completion": 1}, "s")
    with open(path, "a") as fh:
        fh.write("[" * 100_000 + "\n")
        fh.write('{"v":' + "[" * 100_000 + "\n")
    t.log_usage("openai", "gpt-4o", {"prompt": 1, "completion": 1}, "s")
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        assert t.get_usage_report()["total_requests"] == 2
        assert t.export_to_csv(tmp_path / "out.csv") == 2
    assert sum("skipping line 2 " in r.getMessage() for r in caplog.records) == 2


# --- review "Suspected": a finaliser that records while this thread holds the lock -------------


def test_review_suspected_reentrant_log_usage_neither_deadlocks_nor_interleaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record made from inside the locked section (what a GC'd stream's finaliser does).

    The hook fires in the middle of the first record's write (at its fsync); the nested record
    must neither block the thread nor land inside the first one.
    """
    path = tmp_path / "l.log"
    tracker = CostTracker(log_path=path, fsync=True)
    real_fsync = os.fsync
    nested: list[str] = []

    def finaliser_runs_here(fd: int) -> None:
        if not nested:
            nested.append("inner")
            tracker.log_usage("openai", "gpt-4o", TOKENS, "inner")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", finaliser_runs_here)
    worker = threading.Thread(
        target=tracker.log_usage, args=("openai", "gpt-4o", TOKENS, "outer"), daemon=True
    )
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "log_usage deadlocked on its own lock"
    assert _sessions(path) == ["outer", "inner"]
    expected = 2 * tracker.calculate_cost("openai", "gpt-4o", TOKENS)
    assert tracker.get_session_cost("outer") + tracker.get_session_cost("inner") == expected
    tracker.close()


def test_reentrant_close_during_a_write_is_deferred(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() from a finaliser mid-write leaves the descriptor to the writer (it is reused)."""
    path = tmp_path / "l.log"
    tracker = CostTracker(log_path=path, fsync=True)
    real_fsync = os.fsync

    def close_here(fd: int) -> None:
        tracker.close()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", close_here)
    tracker.log_usage("openai", "gpt-4o", TOKENS, "s")
    monkeypatch.setattr(os, "fsync", real_fsync)
    tracker.log_usage("openai", "gpt-4o", TOKENS, "s")
    assert _sessions(path) == ["s", "s"]
    tracker.close()


def test_concurrent_writers_leave_no_blank_lines(tmp_path: Path) -> None:
    """The torn-record check never mistakes another writer's line in progress for a torn one."""
    path = tmp_path / "shared.log"
    script = textwrap.dedent(
        f"""
        import sys
        from llmorch.costs import CostTracker
        t = CostTracker(log_path={str(path)!r})
        for i in range(1500):
            t.log_usage("openai", "gpt-4o", {{"prompt": 1, "completion": 1}}, sys.argv[1],
                        tags={{"pad": "x" * 3000}})
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(k)], env=env) for k in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    lines = _lines(path)
    assert len(lines) == 4500
    assert all(lines)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_another_thread_is_recording_does_not_deadlock_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork taken while a thread is inside log_usage: the child's own records still go in."""
    path = tmp_path / "l.log"
    tracker = CostTracker(log_path=path, fsync=True)
    inside, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        inside.set()
        release.wait(5)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    writer = threading.Thread(target=tracker.log_usage, args=("openai", "gpt-4o", TOKENS, "parent"))
    writer.start()
    assert inside.wait(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            signal.alarm(5)
            monkeypatch.setattr(os, "fsync", real_fsync)
            tracker.log_usage("openai", "gpt-4o", TOKENS, "child")
            code = 0
        finally:
            os._exit(code)
    release.set()
    writer.join(5)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(_sessions(path)) == ["child", "parent"]
