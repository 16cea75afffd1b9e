from __future__ import annotations

import ast
import io
import time
from pathlib import Path

import llmorch.testing
from llmorch.demo import run_demo

FORBIDDEN = ("llmorch.providers", "llmorch._sse", "llmorch.streaming", "llmorch._http")


def test_demo_runs_offline_fast_and_its_costs_add_up() -> None:
    """The demo shows models, answers, streams, a fallback and a cost table matching the ledger."""
    out = io.StringIO()
    started = time.perf_counter()
    assert 0 == run_demo(out)
    assert time.perf_counter() - started < 5
    text = out.getvalue()
    for needle in (
        "Model discovery",
        "openai: one request",
        "anthropic: one request",
        "stream:",
        "RateLimitError after retries -> next model",
        "Cost report",
        "TOTAL",
        "matches the report and the session cost",
    ):
        assert needle in text


def test_emulator_shares_no_wire_code_with_the_clients() -> None:
    """llmorch.testing imports no provider, SSE, stream or HTTP-client module (SPEC §3)."""
    root = Path(llmorch.testing.__file__).parent
    imported: set[str] = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert any(name.startswith("llmorch.testing") for name in imported)
    assert not [m for m in imported if m.startswith(FORBIDDEN)]
