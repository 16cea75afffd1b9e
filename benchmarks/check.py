"""``--check``: every target of :mod:`benchmarks.targets` against one run, PASS, MISS or SKIP.

A target whose clients were not measured is a SKIP with the reason (a peer not installed, or left
out by ``--clients``), never a PASS; the exit code is 1 when any target is a MISS.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from benchmarks.clients import NEEDS
from benchmarks.targets import TARGETS, Target


def _missing(target: Target, results: dict[str, Any]) -> str | None:
    """Why the target cannot be judged from ``results``, or None when it can."""
    for name in target.clients:
        if name in results["request"]:
            continue
        package = NEEDS.get(name)
        if package and find_spec(package) is None:
            return f"{package} is not installed (pip install {package}, or nox -s bench)"
        return f"{name} was not measured (--clients)"
    return None


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Judge every target.

    Args:
        results: One run's results, as ``python -m benchmarks`` writes them.

    Returns:
        One row per target, in the table's order: ``target``, ``limit``, ``measured`` (the
        figure, or None), ``verdict`` (``PASS``, ``MISS`` or ``SKIP``) and ``note``.
    """
    rows = []
    for target in TARGETS:
        reason = _missing(target, results)
        value = None if reason else round(target.figure(results), 3)
        if value is None:
            verdict = "SKIP"
        else:
            verdict = "PASS" if target.holds(value) else "MISS"
        rows.append(
            {
                "target": target.label,
                "limit": target.limit_text(),
                "measured": value,
                "unit": target.unit,
                "verdict": verdict,
                "note": reason or "",
            }
        )
    return rows


def exit_code(rows: list[dict[str, Any]]) -> int:
    """1 when any target is missed, else 0 (a SKIP is not a miss)."""
    return 1 if any(row["verdict"] == "MISS" for row in rows) else 0


def table(rows: list[dict[str, Any]]) -> str:
    """The check as a Markdown table and a one-line tally."""
    lines = ["| target | limit | measured | verdict |", "|---|---|---|---|"]
    for row in rows:
        value = row["measured"]
        if value is None:
            measured = "—"
        elif row["unit"] == "MiB":
            measured = f"{value:+.1f} MiB"
        else:
            measured = f"{value:.3f}×"
        verdict = f"SKIP: {row['note']}" if row["verdict"] == "SKIP" else row["verdict"]
        lines.append(f"| {row['target']} | {row['limit']} | {measured} | {verdict} |")
    tally = {v: sum(row["verdict"] == v for row in rows) for v in ("PASS", "MISS", "SKIP")}
    lines += ["", ", ".join(f"{n} {v}" for v, n in tally.items())]
    return "\n".join(lines)
