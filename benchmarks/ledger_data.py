"""Synthetic ledger records for the ledger benchmarks: a fleet's month of calls.

The shape of issue 15's benchmark: records spread evenly over ``days`` UTC days, each from one
of ``sessions`` sessions and ``models`` models (over five providers), with realistic token
counts, costs, latencies and tags (``user`` on every record, ``feature`` on most). The same
arguments always give the same records (ids included), so every backend loads identical data.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from llmorch.types import UsageRecord

__all__ = ["START", "synthetic_records"]

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
"""The first record's day (UTC midnight)."""

_PROVIDERS = ("openai", "anthropic", "gemini", "vertex", "bedrock")
_FEATURES = ("search", "chat", "summarize", "extract", "translate", "classify")
_TOOLS = ("search", "lookup_order", "get_weather")


def _model_table(models: int) -> list[tuple[str, str, float, float]]:
    """``models`` (provider, model, input USD/M, output USD/M), spread over the providers."""
    rng = random.Random(models)
    table = []
    for i in range(models):
        provider = _PROVIDERS[i % len(_PROVIDERS)]
        price_in = rng.choice((0.1, 0.15, 0.4, 1.25, 2.5, 3.0, 15.0))
        table.append((provider, f"{provider}-model-{i:02d}", price_in, price_in * 4))
    return table


def synthetic_records(
    n: int, sessions: int = 100, models: int = 20, days: int = 30, seed: int = 0
) -> Iterator[UsageRecord]:
    """Yield ``n`` records in timestamp order, deterministic for the arguments.

    Args:
        n: How many records.
        sessions: Distinct session ids.
        models: Distinct ``provider/model`` pairs.
        days: UTC days the records span, from :data:`START`.
        seed: Varies the data (same seed, same records).

    Yields:
        The records; about one in 40 is unpriced (cost 0) and one in 10 lacks the
        ``feature`` tag.
    """
    rng = random.Random(seed)
    table = _model_table(models)
    session_ids = [f"sess-{seed}-{i:04d}" for i in range(sessions)]
    step = timedelta(days=days) / max(n, 1)
    for i in range(n):
        provider, model, price_in, price_out = table[rng.randrange(models)]
        prompt = rng.randint(20, 4000)
        completion = rng.randint(1, 1200)
        priced = rng.random() >= 0.025
        cost = (prompt * price_in + completion * price_out) / 1e6 if priced else 0.0
        tags = {"user": f"u{rng.randrange(50)}"}
        if rng.random() >= 0.1:
            tags["feature"] = rng.choice(_FEATURES)
        yield UsageRecord(
            ts=START + step * i,
            session_id=session_ids[rng.randrange(sessions)],
            provider=provider,
            model=model,
            prompt=prompt,
            completion=completion,
            total=prompt + completion,
            cost=cost,
            model_answered=f"{model}-2026-10-01",
            request_id=f"req_{rng.getrandbits(64):016x}",
            cache_read=rng.choice((0, 0, 0, prompt // 2)),
            reasoning=rng.choice((0, 0, completion // 3)),
            pricing_as_of="2026-10-01" if priced else None,
            priced=priced,
            complete=rng.random() >= 0.02,
            tags=tags,
            id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            latency_s=round(rng.uniform(0.2, 8.0), 3),
            tool_calls=(rng.choice(_TOOLS),) if rng.random() < 0.1 else (),
        )
