from __future__ import annotations

import json
from pathlib import Path

from benchmarks.run import main


def test_bench_harness_runs_on_tiny_counts(tmp_path: Path) -> None:
    """`python -m benchmarks --quick` measures every scenario and writes the JSON report."""
    out = tmp_path / "latest.json"
    assert 0 == main(["--quick", "--clients", "llmorch", "--out", str(out)])
    results = json.loads(out.read_text())
    assert {"httpx", "httpx+aiohttp", "llmorch"} <= set(results["request"])
    assert results["stream"]["llmorch"]["median_ms"] > 0
    assert results["concurrency"]["llmorch"]["wall_s"] > 0
    assert "import llmorch" in results["imports"]
    assert results["cold_first_request"]["in_process_s"] > 0
    assert "×httpx" in results["table"]
    assert results["events"]["tool_stream"]["ratio"] > 0
    assert "µs per event" in results["table"]
    tracing = results["telemetry"]
    assert tracing["request"]["off"]["ratio"] == 1.0
    assert tracing["stream"]["sdk"]["median_ms"] > 0
    assert "on, SDK, no exporter" in results["table"]
