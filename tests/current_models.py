"""The current models llmorch names (config.yaml, the demo, the emulator) and the retired ones.

Sources, both read offline on 2026-12-01 (``/work/shared/findings/2026-12/prices.md``):

- LiteLLM 1.110.2, ``model_prices_and_context_window_backup.json``: ``deprecation_date``
  (cited below as ``litellm <date>``);
- genai-prices 0.2.3: ``deprecated`` flags and "Shut down" notes (cited as ``genai-prices``).

Every model named as a default or a fallback is listed by both references without a
``deprecation_date`` on or before 2026-12-01.
"""

from __future__ import annotations

from typing import Any

AS_OF = "2026-12-01"
_GONE = "retired: prices.md lists it among the Anthropic models LiteLLM dropped"

# (provider type, model id): when the references retire it, and which one says so.
RETIRED: dict[tuple[str, str], str] = {
    ("openai", "gpt-4"): "litellm 2026-10-23",
    ("openai", "gpt-4-0613"): "litellm 2026-10-23",
    ("openai", "gpt-4-turbo"): "litellm 2026-10-23",
    ("openai", "gpt-4.1-nano"): "litellm 2026-10-23",
    ("openai", "gpt-3.5-turbo"): "litellm 2026-10-23",
    ("openai", "gpt-3.5-turbo-instruct"): "litellm 2026-09-28",
    ("openai", "gpt-4o-2024-05-13"): "litellm 2026-10-23",
    ("openai", "gpt-5-codex"): "litellm 2026-07-23",
    ("openai", "o1"): "litellm 2026-10-23",
    ("openai", "o1-pro"): "litellm 2026-10-23",
    ("openai", "o3-mini"): "litellm 2026-10-23",
    ("openai", "o4-mini"): "litellm 2026-10-23",
    ("anthropic", "claude-sonnet-4-5"): "litellm 2026-11-30",
    ("anthropic", "claude-sonnet-4-5-20250929"): "litellm 2026-11-30",
    ("anthropic", "claude-sonnet-4-20250514"): _GONE,
    ("anthropic", "claude-3-5-haiku-20241022"): _GONE,
    ("anthropic", "claude-opus-4-1"): _GONE,
    ("gemini", "gemini-2.5-pro"): "litellm 2026-12-01",
    ("gemini", "gemini-2.5-flash"): "litellm 2026-12-01",
    ("gemini", "gemini-2.0-flash"): "genai-prices: shut down; litellm 2026-06-01 (vertex)",
    ("gemini", "gemini-2.0-flash-lite"): "genai-prices: shut down",
    ("vertex", "gemini-2.5-pro"): "litellm 2026-10-20",
    ("vertex", "gemini-2.5-flash"): "litellm 2026-10-20",
    ("vertex", "gemini-2.5-flash-lite"): "litellm 2026-10-20",
    ("vertex", "gemini-2.0-flash"): "litellm 2026-06-01",
    ("vertex", "gemini-3.6-flash"): "litellm 2026-11-19",
    ("vertex", "claude-sonnet-4-5@20250929"): "litellm 2026-09-29",
    ("vertex", "claude-haiku-4-5@20251001"): "litellm 2026-10-15",
    ("vertex", "claude-opus-4-5@20251101"): "litellm 2026-11-24",
    ("bedrock", "anthropic.claude-sonnet-4-20250514-v1:0"): "litellm 2026-10-14",
    ("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"): "litellm 2026-10-14",
    ("bedrock", "ai21.jamba-1-5-large-v1:0"): "litellm 2026-11-26",
    ("bedrock", "ai21.jamba-1-5-mini-v1:0"): "litellm 2026-11-26",
}

# The default and the first fallback chosen per provider, with their list prices (USD per 1M
# tokens; LiteLLM 1.110.2 and genai-prices 0.2.3 agree on each).
DEFAULTS: dict[str, tuple[str, str]] = {
    "openai": ("gpt-5.4-mini", "gpt-5.6-luna"),
    "anthropic": ("claude-haiku-5-5", "claude-sonnet-5-5"),
    "gemini": ("gemini-3.8-flash", "gemini-3.5-flash-lite"),
    "vertex": ("gemini-3.8-flash", "gemini-3.5-flash-lite"),
    "bedrock": ("us.anthropic.claude-haiku-5-5", "us.amazon.nova-2-lite-v1:0"),
}

# Every id the configuration, the demo and the emulator's chat models name: the price table
# must carry each (issue 12, "add the current models of all five providers").
EXPECTED_PRICED: frozenset[tuple[str, str]] = frozenset(
    {
        ("openai", "gpt-5.4-mini"),
        ("openai", "gpt-5.6-luna"),
        ("openai", "gpt-5.4"),
        ("anthropic", "claude-haiku-5-5"),
        ("anthropic", "claude-sonnet-5-5"),
        ("anthropic", "claude-opus-5-5"),
        ("gemini", "gemini-3.8-flash"),
        ("gemini", "gemini-3.5-flash-lite"),
        ("gemini", "gemini-3.5-flash"),
        ("vertex", "gemini-3.8-flash"),
        ("vertex", "gemini-3.5-flash-lite"),
        ("vertex", "gemini-3.5-flash"),
        ("vertex", "claude-sonnet-5-5"),
        ("vertex", "claude-haiku-5-5"),
        ("bedrock", "us.anthropic.claude-haiku-5-5"),
        ("bedrock", "us.amazon.nova-2-lite-v1:0"),
        ("bedrock", "us.anthropic.claude-sonnet-5-5"),
        ("bedrock", "amazon.nova-lite-v1:0"),
    }
)

# Prices for the chosen ids, from the references (regional ``us.`` Bedrock rates), for tests that
# assert a cost before the price table carries these models. Overrides win over the table, so
# the tests hold whichever lands first.
PRICES: dict[str, dict[str, dict[str, Any]]] = {
    "openai": {
        "gpt-5.4-mini": {"input": 0.75, "output": 4.50, "cache_read": 0.075},
        "gpt-5.6-luna": {"input": 0.20, "output": 1.20, "cache_read": 0.02},
        "gpt-5.4": {"input": 2.50, "output": 15.0, "cache_read": 0.25},
    },
    "anthropic": {
        "claude-haiku-5-5": {"input": 0.10, "output": 0.50, "cache_read": 0.01},
        "claude-sonnet-5-5": {"input": 2.0, "output": 10.0, "cache_read": 0.10},
        "claude-opus-5-5": {"input": 4.0, "output": 20.0, "cache_read": 0.20},
    },
    "gemini": {
        "gemini-3.8-flash": {"input": 0.75, "output": 3.75, "cache_read": 0.075},
        "gemini-3.5-flash-lite": {"input": 0.30, "output": 2.50, "cache_read": 0.03},
        "gemini-3.5-flash": {"input": 1.50, "output": 9.0, "cache_read": 0.15},
    },
    "vertex": {
        "gemini-3.8-flash": {"input": 0.75, "output": 3.75, "cache_read": 0.075},
        "gemini-3.5-flash-lite": {"input": 0.30, "output": 2.50, "cache_read": 0.03},
        "gemini-3.5-flash": {"input": 1.50, "output": 9.0, "cache_read": 0.15},
        "claude-haiku-5-5": {"input": 0.10, "output": 0.50, "cache_read": 0.01},
        "claude-sonnet-5-5": {"input": 2.0, "output": 10.0, "cache_read": 0.10},
    },
    "bedrock": {
        "us.anthropic.claude-haiku-5-5": {"input": 0.11, "output": 0.55, "cache_read": 0.011},
        "us.amazon.nova-2-lite-v1:0": {"input": 0.33, "output": 2.75, "cache_read": 0.0825},
        "us.anthropic.claude-sonnet-5-5": {"input": 2.2, "output": 11.0, "cache_read": 0.11},
    },
}


def prices(*providers: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The ``pricing:`` overrides for the chosen ids of ``providers`` (all when none given)."""
    return {p: dict(PRICES[p]) for p in providers or tuple(PRICES)}
