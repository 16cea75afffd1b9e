"""Write one run's results into the README's Performance section.

``python -m benchmarks readme [--results PATH] [--readme PATH]`` replaces what lies between
:data:`START` and :data:`END` with the run's tables, its machine and counts, and, when the run
was a ``--check``, the target table; ``python -m benchmarks --readme`` does it after a run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import check

ROOT = Path(__file__).parent.parent
START = "<!-- benchmark results: written by `python -m benchmarks --readme` -->"
END = "<!-- end of benchmark results -->"


def section(results: dict[str, Any]) -> str:
    """The README block for one run: what it measured, on what, and how the targets fared.

    Args:
        results: One run's results, as ``python -m benchmarks`` writes them.

    Returns:
        Markdown, without the markers.
    """
    machine, counts = results["machine"], results["counts"]
    lines = [
        (
            f"Measured on {machine['cpus']} cores, {machine['platform']}, CPython "
            f"{machine['python']}: {counts['requests']} sequential requests and "
            f"{counts['streams']} 50-chunk streams per client in alternating rounds, then "
            f"{counts['total']} requests with {counts['inflight']} in flight in a fresh process "
            "per client."
        ),
        "",
    ]
    for line in str(results["table"]).splitlines():
        stripped = line.strip()
        lines.append(line if not stripped or stripped.startswith("|") else f"- {stripped}")
    if "check" in results:
        lines += ["", "The performance targets, judged on this run (`--check`):", ""]
        lines += check.table(results["check"]).splitlines()
    return "\n".join(lines)


def rewrite(readme: Path, results: dict[str, Any]) -> None:
    """Replace the README's results block with this run's.

    Args:
        readme: The README.
        results: One run's results.

    Raises:
        ValueError: The README has no results block (both markers, in order).
    """
    text = readme.read_text(encoding="utf-8")
    head, start, rest = text.partition(START)
    old, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{readme} has no block between {START!r} and {END!r}")
    readme.write_text(f"{head}{START}\n{section(results)}\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str]) -> int:
    """``python -m benchmarks readme``: write a saved run into the README.

    Args:
        argv: Command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m benchmarks readme")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/latest.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    rewrite(args.readme, json.loads(args.results.read_text(encoding="utf-8")))
    return 0
