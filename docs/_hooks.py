"""mkdocs hooks: put the latest benchmark results into the Performance page at build time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "<!-- benchmark-table -->"


def benchmark_markdown(results_path: Path) -> str:
    """The benchmark results as Markdown, or a note saying how to produce them.

    Args:
        results_path: ``benchmarks/results/latest.json``.

    Returns:
        Markdown: the tables, the other figures as a list, and the machine they ran on.
    """
    if not results_path.is_file():
        return (
            '!!! note "No results in this build"\n'
            "    `benchmarks/results/latest.json` was not found when this site was built.\n"
            "    Run `python -m benchmarks` (or `nox -s bench`) and rebuild the docs to see\n"
            "    the table.\n"
        )
    results: dict[str, Any] = json.loads(results_path.read_text(encoding="utf-8"))
    lines = []
    for line in str(results.get("table", "")).splitlines():
        stripped = line.strip()
        lines.append(line if not stripped or stripped.startswith("|") else f"- {stripped}")
    machine = results.get("machine") or {}
    counts = results.get("counts") or {}
    if machine:
        lines += ["", "Measured on: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + "."]
    if counts:
        lines += ["Counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Replace the benchmark marker on the Performance page with the latest results."""
    if MARKER not in markdown:
        return markdown
    root = Path(config["config_file_path"]).parent
    return markdown.replace(
        MARKER, benchmark_markdown(root / "benchmarks" / "results" / "latest.json")
    )
