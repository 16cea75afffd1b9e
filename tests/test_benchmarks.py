from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from benchmarks import check
from benchmarks.run import main
from benchmarks.targets import IMPORT_DEPS, TARGETS

DOCS = Path(__file__).parent.parent / "docs" / "performance.md"


def test_bench_harness_runs_on_tiny_counts_and_checks_every_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--quick --check` measures every scenario, lists every target, exits by PASS/MISS."""
    out = tmp_path / "latest.json"
    code = main(["--quick", "--check", "--clients", "llmorch", "--no-ledger", "--out", str(out)])
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    assert {"httpx", "httpx+aiohttp", "llmorch"} <= set(results["request"])
    assert results["stream"]["llmorch"]["median_ms"] > 0
    for kind in ("events", "tools"):
        assert {"httpx+aiohttp", "llmorch"} <= set(results[kind])
    assert results["concurrency"]["llmorch"]["rounds"] == 2
    assert "import llmorch" in results["imports"]
    assert results["cold_first_request"]["in_process_s"] > 0
    assert results["sync_facade"]["async_median_ms"] > 0
    assert "×httpx" in results["table"]
    assert "50-delta tool-call stream ms" in results["table"]
    assert results["telemetry"]["request"]["off"]["ratio"] == 1.0
    rows = results["check"]
    assert [row["target"] for row in rows] == [t.label for t in TARGETS]
    for target in TARGETS:
        assert re.search(rf"\| {re.escape(target.label)} \| .* \| (PASS|MISS|SKIP)", printed)
    verdicts = {row["target"]: row["verdict"] for row in rows}
    assert verdicts["plain request ≤ 1.10× bare httpx (same transport)"] in {"PASS", "MISS"}
    assert verdicts["openai SDK ≥ 2× slower than llmorch per request"] == "SKIP"
    assert code == (1 if "MISS" in verdicts.values() else 0)


def _passing() -> dict[str, Any]:
    """Results in which every target holds (llmorch at the bare floor, peers far behind)."""
    names = [
        "httpx+aiohttp",
        "llmorch",
        "llmorch anthropic",
        "openai SDK",
        "anthropic SDK",
        "litellm",
    ]
    slow = {"openai SDK": 10.0, "anthropic SDK": 10.0, "litellm": 10.0}
    timed = {n: {"median_ms": slow.get(n, 1.0)} for n in names}
    return {
        "request": timed,
        "stream": copy.deepcopy(timed),
        "events": copy.deepcopy(timed),
        "concurrency": {n: {"wall_s": slow.get(n, 1.0), "peak_rss_mib": 40.0} for n in names},
        "imports": {"import llmorch": {"median_s": 0.2}, IMPORT_DEPS: {"median_s": 0.2}},
        "sync_facade": {"median_ms": 1.1, "async_median_ms": 1.0},
    }


def test_check_passes_misses_and_skips_by_the_target_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every target holds → exit 0; one ratio over its limit → MISS and exit 1; absent → SKIP."""
    monkeypatch.setattr("benchmarks.check.find_spec", lambda name: object())
    results = _passing()
    rows = check.evaluate(results)
    assert {row["verdict"] for row in rows} == {"PASS"}
    assert check.exit_code(rows) == 0

    results["events"]["llmorch"]["median_ms"] = 1.2
    results["concurrency"]["llmorch"]["peak_rss_mib"] = 46.5
    rows = check.evaluate(results)
    missed = {row["target"] for row in rows if row["verdict"] == "MISS"}
    assert missed == {
        "50-chunk stream.events() ≤ 1.15× bare httpx (same transport)",
        "peak RSS at 100 in flight ≤ bare transport's peak + 6 MiB",
    }
    assert check.exit_code(rows) == 1
    assert "+6.5 MiB" in check.table(rows)

    del results["request"]["litellm"]
    rows = check.evaluate(results)
    skipped = [row for row in rows if row["verdict"] == "SKIP"]
    assert [row["target"].split(" ")[0] for row in skipped] == ["litellm"] * 3
    assert all("not measured" in row["note"] for row in skipped)
    assert check.table(rows).endswith("11 PASS, 2 MISS, 3 SKIP")


def test_every_target_is_in_the_docs_with_its_limit() -> None:
    """docs/performance.md lists the targets exactly as benchmarks/targets.py defines them."""
    text = DOCS.read_text()
    for target in TARGETS:
        assert f"- {target.label}" in text
        assert f"{target.limit:g}" in target.label
    assert "nox -s bench -- --check" in text


def test_readme_block_is_rewritten_from_a_run(tmp_path: Path) -> None:
    """`--readme` replaces only the block between the markers, with the run's tables."""
    from benchmarks import readme

    results = _passing()
    results["machine"] = {"python": "3.13.0", "platform": "Linux", "cpus": 2}
    results["counts"] = {"requests": 10, "streams": 5, "total": 20, "inflight": 5}
    results["table"] = "| client | ms |\n|---|---|\n| llmorch | 0.3 |\n\nsync facade: 1.1×"
    results["check"] = check.evaluate(results)
    page = tmp_path / "README.md"
    page.write_text(f"# Title\n\n{readme.START}\nold table\n{readme.END}\n\n## Next\n")
    readme.rewrite(page, results)
    readme.rewrite(page, results)  # idempotent: the markers survive
    text = page.read_text()
    assert text.startswith("# Title\n\n" + readme.START + "\nMeasured on 2 cores, Linux")
    assert text.endswith(readme.END + "\n\n## Next\n")
    assert "old table" not in text
    assert "| llmorch | 0.3 |" in text and "- sync facade: 1.1×" in text
    assert text.count(TARGETS[0].label) == 1
    page.write_text("no markers\n")
    with pytest.raises(ValueError, match="has no block"):
        readme.rewrite(page, results)


def test_the_repository_readme_has_the_results_block() -> None:
    """The README carries the markers `--readme` writes between, once each, in order."""
    from benchmarks import readme

    text = (Path(__file__).parent.parent / "README.md").read_text()
    assert text.count(readme.START) == 1 == text.count(readme.END)
    assert text.index(readme.START) < text.index(readme.END)
