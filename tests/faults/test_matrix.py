"""Run every cell of the fault matrix over real sockets against llmorch's own clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmorch
from llmorch import AllFallbacksFailedError, AsyncLLMOrchestrator
from llmorch.testing import ProviderEmulator
from tests.faults.matrix import CASES, Case, cells, render
from tests.faults.support import chain, config, ledger

MESSAGES = [{"role": "user", "content": "one two three"}]


async def _run(emu: ProviderEmulator, case: Case, dialect: str) -> tuple[Any, list[str | None]]:
    first, second = chain(emu, dialect)
    emu.clear()
    emu.script(dialect, first, *case.first())
    emu.script(dialect, second, *case.second())
    provider = emu.config_for(dialect) | {"fallback_models": [second]} | case.provider
    outcome: Any
    async with AsyncLLMOrchestrator(config(dialect, first, {dialect: provider})) as orch:
        try:
            if case.stream:
                stream = orch.send_streaming_request(MESSAGES)
                chunks = [c async for c in stream]
                outcome = (stream.response, chunks)
            else:
                outcome = (await orch.send_request(MESSAGES), None)
        except llmorch.OrchestratorError as exc:
            outcome = exc
    models = [r.model for r in emu.requests if r.method == "POST"]
    return outcome, models


@pytest.mark.parametrize(("case", "dialect"), cells(), ids=lambda v: getattr(v, "name", v))
async def test_fault_cell(
    emu: ProviderEmulator, case: Case, dialect: str, sleeps: list[float]
) -> None:
    """The fault ends in its documented outcome, and the ledger has one line per answer."""
    first, second = chain(emu, dialect)
    outcome, models = await _run(emu, case, dialect)
    records = ledger()
    if case.first_calls is not None:
        refreshed = dialect == "vertex" and case.name == "401 auth failure"  # refresh, retry once
        assert case.first_calls + refreshed == models.count(first), models
    if case.expect in ("answer", "fallback"):
        assert not isinstance(outcome, Exception), repr(outcome)
        response, chunks = outcome
        assert (first if case.expect == "answer" else second) == response.model
        if case.expect == "fallback":
            assert case.cause is None or case.cause == type(response.attempts[0][1]).__name__
        if chunks is not None:
            assert "".join(chunks) == response.content
        assert 1 == len(records)
        assert records[0]["model"] == response.model
    elif case.expect == "interrupted":
        assert isinstance(outcome, llmorch.StreamInterruptedError), repr(outcome)
        assert case.cause == type(outcome.__cause__).__name__
        assert outcome.partial_text
        assert second not in models  # never spliced with another model
        assert 1 == len(records) and records[0]["complete"] is False
    else:
        assert case.expect == type(outcome).__name__, repr(outcome)
        if isinstance(outcome, AllFallbacksFailedError):
            assert [first, second] == [m for m, _ in outcome.attempts]
        assert [] == records


def test_the_reliability_page_shows_this_matrix() -> None:
    """docs/reliability.md carries exactly the matrix these tests run, with its counts."""
    page = Path(__file__).parent.parent.parent / "docs" / "reliability.md"
    assert render() in page.read_text()
    assert len(CASES) >= 30
