"""The dated default price table, in USD per million tokens, and model-id resolution.

Prices change; this table is a snapshot checked on :data:`PRICING_AS_OF`. Every entry carries its
``source`` (the vendor page it comes from) and ``as_of`` (the day it was checked). A user's price
file (``pricing_file:`` in the config, :func:`load_price_file`) overrides this table, and
``pricing:`` in the config wins over both. Sources, per provider type:

- ``openai``: https://developers.openai.com/api/docs/pricing (Standard, Flex and Priority
  tiers) and the per-model pages https://developers.openai.com/api/docs/models/<model>.
- ``anthropic``: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing":
  base input, 5-minute and 1-hour cache writes, cache hits, output; long-context rows).
- ``gemini``: https://ai.google.dev/gemini-api/docs/pricing (Standard tier; context-caching
  reads; the rows for prompts over 200k tokens).
- ``vertex``: https://cloud.google.com/vertex-ai/generative-ai/pricing (Gemini at the Gemini
  API's standard prices, Claude at Anthropic's list prices for global endpoints).
- ``bedrock``: https://aws.amazon.com/bedrock/pricing/ (on-demand, us-east-1; Claude >= 4.5
  through ``global.`` profiles at the list price, geographic ``us.``/``eu.``/… profiles +10 %,
  GovCloud ``us-gov.`` +20 %).

Every figure was cross-checked on 2026-12-01 against LiteLLM 1.110.2's bundled cost map and
genai-prices 0.2.3; the ``prices`` nox session repeats that check (``tests/prices``).

A field left ``None`` falls back as documented on :class:`ModelPrice`. A dimension the table
cannot price (an unknown service tier, a GovCloud id without a GovCloud price, server-tool fees)
makes the call unpriced rather than charged at the standard rate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from llmorch.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_PRICES",
    "PRICE_FIELDS",
    "PRICING_AS_OF",
    "PRICING_SOURCES",
    "ModelPrice",
    "load_price_file",
    "price_from_mapping",
    "resolve_price",
    "usage_dimensions",
]

PRICING_AS_OF = "2026-12-01"
"""The day :data:`DEFAULT_PRICES` was last checked against the sources below."""

PRICING_SOURCES: dict[str, str] = {
    "openai": "https://developers.openai.com/api/docs/pricing",
    "anthropic": "https://platform.claude.com/docs/en/about-claude/pricing",
    "gemini": "https://ai.google.dev/gemini-api/docs/pricing",
    "vertex": "https://cloud.google.com/vertex-ai/generative-ai/pricing",
    "bedrock": "https://aws.amazon.com/bedrock/pricing/",
}
"""The vendor pricing page behind each provider type's part of :data:`DEFAULT_PRICES`."""


@dataclass(frozen=True)
class ModelPrice:
    """The price of one model, in USD per million tokens.

    Attributes:
        input: Uncached input tokens.
        output: Output tokens, reasoning included.
        cache_read: Input tokens read from the prompt cache; ``None`` means the input price.
        cache_write: Input tokens written to the cache (Anthropic: 5-minute writes);
            ``None`` means the input price.
        cache_write_1h: Anthropic 1-hour cache writes; ``None`` means ``cache_write``.
        long_context_threshold: Prompt size (all input tokens) above which the ``*_long``
            prices apply to the whole request; ``None`` when the model has no such tier.
        input_long: ``input`` above the threshold.
        output_long: ``output`` above the threshold.
        cache_read_long: ``cache_read`` above the threshold.
        cache_write_long: ``cache_write`` above the threshold.
        cache_write_1h_long: ``cache_write_1h`` above the threshold.
        regional: Bedrock: the factor on every price (which is the ``global.`` profile's) for
            a geographic cross-Region profile (``us.``, ``eu.``, ``apac.``, ``jp.``, ``au.``,
            ``ca.``) and for the in-Region id; ``None`` means every form costs the same.
        govcloud: Bedrock: the factor on every price for a ``us-gov.`` profile; ``None`` means
            the table has no GovCloud price, so such calls are unpriced.
        service_tiers: Prices for non-standard service tiers the vendor reports (OpenAI
            ``flex``, ``priority``), by tier name. A reported tier not listed is unpriced.
        snapshots: Dated ids' suffixes (``"2024-08-06"``, ``"20250929"``, ``"001"``) priced
            exactly as this entry. A dated id resolves onto its alias only when listed here.
        retired: The day the vendor retired (or scheduled to retire) the model, ISO format;
            the entry stays so that old ledgers still price.
        source: The page the price was taken from.
        as_of: The day the price was checked.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    long_context_threshold: int | None = None
    input_long: float | None = None
    output_long: float | None = None
    cache_read_long: float | None = None
    cache_write_long: float | None = None
    cache_write_1h_long: float | None = None
    regional: float | None = None
    govcloud: float | None = None
    service_tiers: Mapping[str, ModelPrice] = field(default_factory=dict, hash=False)
    snapshots: tuple[str, ...] = ()
    retired: str | None = None
    source: str | None = None
    as_of: str | None = None

    def scaled(self, factor: float) -> ModelPrice:
        """This price with every rate multiplied by ``factor`` (tiers included).

        Args:
            factor: The multiplier (e.g. 1.1 for a 10 % surcharge).

        Returns:
            A new price; ``regional``, ``govcloud``, dates and sources are kept.
        """
        rates = {
            name: round(value * factor, 8)
            for name in _RATE_FIELDS
            if (value := getattr(self, name)) is not None
        }
        tiers = {name: tier.scaled(factor) for name, tier in self.service_tiers.items()}
        return replace(self, **rates, service_tiers=tiers)


_RATE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "input_long",
    "output_long",
    "cache_read_long",
    "cache_write_long",
    "cache_write_1h_long",
)
PRICE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ModelPrice))
"""Every key a price entry (config override or price file) may carry."""


# --- Builders ----------------------------------------------------------------------------------


def _tiers(price: ModelPrice, flex: float | None = 0.5, priority: float | None = 2.0) -> ModelPrice:
    """``price`` with OpenAI Flex and Priority tiers at the given factors of the standard rates."""
    tiers = {
        name: replace(price.scaled(factor), snapshots=())
        for name, factor in (("flex", flex), ("priority", priority))
        if factor is not None
    }
    return replace(price, service_tiers=tiers)


def _flex_read(price: ModelPrice, cache_read: float) -> ModelPrice:
    """``price`` whose Flex tier's cache reads are ``cache_read`` (not exactly half)."""
    flex = replace(price.service_tiers["flex"], cache_read=cache_read)
    return replace(price, service_tiers={**price.service_tiers, "flex": flex})


def _claude(
    input_: float,
    output: float,
    *,
    cache_read: float | None = None,
    long_threshold: int | None = None,
    long_factor: float = 1.0,
    **extra: Any,
) -> ModelPrice:
    """An Anthropic price: 5-minute writes 1.25x, 1-hour writes 2x, hits 0.1x unless given."""
    base = ModelPrice(
        input=input_,
        output=output,
        cache_read=round(input_ * 0.1, 6) if cache_read is None else cache_read,
        cache_write=round(input_ * 1.25, 6),
        cache_write_1h=round(input_ * 2, 6),
        **extra,
    )
    if long_threshold is None:
        return base
    return replace(
        base,
        long_context_threshold=long_threshold,
        input_long=round(base.input * long_factor, 6),
        output_long=round(base.output * long_factor, 6),
        cache_read_long=round((base.cache_read or 0) * long_factor, 6),
        cache_write_long=round((base.cache_write or 0) * long_factor, 6),
        cache_write_1h_long=round((base.cache_write_1h or 0) * long_factor, 6),
    )


def _gemini(
    input_: float,
    output: float,
    cache_read: float,
    *,
    long: tuple[int, float, float, float] | None = None,
    **extra: Any,
) -> ModelPrice:
    """A Google price; ``long`` is ``(threshold, input, output, cache_read)`` above it."""
    price = ModelPrice(input_, output, cache_read=cache_read, **extra)
    if long is None:
        return price
    threshold, input_long, output_long, read_long = long
    return replace(
        price,
        long_context_threshold=threshold,
        input_long=input_long,
        output_long=output_long,
        cache_read_long=read_long,
    )


def _openai_long(
    input_: float, output: float, cache_read: float | None, **extra: Any
) -> ModelPrice:
    """An OpenAI price with the tier above 272k prompt tokens: input and cache 2x, output 1.5x."""
    return ModelPrice(
        input_,
        output,
        cache_read=cache_read,
        long_context_threshold=272_000,
        input_long=input_ * 2,
        output_long=output * 1.5,
        cache_read_long=None if cache_read is None else cache_read * 2,
        **extra,
    )


def _openai_writes(
    input_: float, output: float, cache_read: float, cache_write: float, **extra: Any
) -> ModelPrice:
    """A GPT-5.6 / GPT-6 price: cache writes billed; above 272k all 2x but output 1.5x."""
    price = _openai_long(input_, output, cache_read, **extra)
    return replace(price, cache_write=cache_write, cache_write_long=cache_write * 2)


def _stamped(table: dict[str, ModelPrice], source: str) -> dict[str, ModelPrice]:
    """Give every entry of ``table`` its source and check date (unless it has its own)."""
    return {
        key: replace(
            price,
            source=price.source or source,
            as_of=price.as_of or PRICING_AS_OF,
            service_tiers={
                name: replace(t, source=t.source or source, as_of=t.as_of or PRICING_AS_OF)
                for name, t in price.service_tiers.items()
            },
        )
        for key, price in table.items()
    }


# --- OpenAI ------------------------------------------------------------------------------------
# https://developers.openai.com/api/docs/pricing ; https://developers.openai.com/api/docs/models/*
_OPENAI: dict[str, ModelPrice] = {
    # GPT-6 and GPT-5.6: cache writes billed; a tier above 272k prompt tokens.
    "gpt-6.1-sol": _tiers(_openai_writes(2.0, 10.0, 0.10, 2.5)),
    "gpt-6.1-terra": _tiers(_openai_writes(1.0, 5.0, 0.05, 1.25)),
    "gpt-6-sol": _tiers(_openai_writes(2.0, 10.0, 0.20, 2.5)),
    "gpt-6-luna": _tiers(_openai_writes(0.10, 0.50, 0.01, 0.125)),
    "gpt-6-astra": _tiers(_openai_writes(10.0, 50.0, 1.0, 12.5)),
    "gpt-6-astra-law": ModelPrice(10.0, 50.0, cache_read=1.0),
    "gpt-6-cyber": ModelPrice(20.0, 100.0, cache_read=2.0, cache_write=25.0),
    "gpt-6-rosalind": _openai_writes(15.0, 75.0, 1.5, 18.75),
    "gpt-5.6": _tiers(_openai_writes(4.0, 20.0, 0.40, 5.0)),
    "gpt-5.6-sol": _tiers(_openai_writes(4.0, 20.0, 0.40, 5.0)),
    "gpt-5.6-terra": _tiers(_openai_writes(2.0, 12.0, 0.20, 2.5)),
    "gpt-5.6-luna": _tiers(_openai_writes(0.20, 1.20, 0.02, 0.25)),
    "gpt-5.6-cyber": _openai_writes(12.5, 75.0, 1.25, 15.625),
    # GPT-5.5 and GPT-5.4 (a tier above 272k prompt tokens).
    "gpt-5.5": _tiers(_openai_long(5.0, 30.0, 0.50, snapshots=("2026-04-23",)), priority=2.5),
    "gpt-5.5-pro": _tiers(
        _openai_long(30.0, 180.0, None, snapshots=("2026-04-23",)), priority=None
    ),
    "gpt-5.5-cyber": ModelPrice(12.5, 75.0, cache_read=1.25),
    "gpt-5.5-cyber-preview": ModelPrice(12.5, 75.0, cache_read=1.25),
    "gpt-5.4": _flex_read(_tiers(_openai_long(2.5, 15.0, 0.25, snapshots=("2026-03-05",))), 0.13),
    "gpt-5.4-pro": _tiers(
        _openai_long(30.0, 180.0, None, snapshots=("2026-03-05",)), priority=None
    ),
    "gpt-5.4-mini": _tiers(ModelPrice(0.75, 4.5, cache_read=0.075, snapshots=("2026-03-17",))),
    "gpt-5.4-nano": _tiers(
        ModelPrice(0.20, 1.25, cache_read=0.02, snapshots=("2026-03-17",)), priority=None
    ),
    # GPT-5.3 … GPT-5.
    "gpt-5.3": ModelPrice(1.75, 14.0, cache_read=0.175),
    "gpt-5.3-codex": _tiers(ModelPrice(1.75, 14.0, cache_read=0.175), flex=None),
    "gpt-5.2": _tiers(ModelPrice(1.75, 14.0, cache_read=0.175, snapshots=("2025-12-11",))),
    "gpt-5.2-pro": ModelPrice(21.0, 168.0, snapshots=("2025-12-11",)),
    "gpt-5.1": _tiers(ModelPrice(1.25, 10.0, cache_read=0.125, snapshots=("2025-11-13",))),
    "gpt-5.1-codex-mini": ModelPrice(0.25, 2.0, cache_read=0.025, retired="2026-07-23"),
    "gpt-5": _tiers(ModelPrice(1.25, 10.0, cache_read=0.125, snapshots=("2025-08-07",))),
    "gpt-5-pro": ModelPrice(15.0, 120.0, snapshots=("2025-10-06",)),
    "gpt-5-codex": ModelPrice(1.25, 10.0, cache_read=0.125, retired="2026-07-23"),
    "gpt-5-mini": _tiers(
        ModelPrice(0.25, 2.0, cache_read=0.025, snapshots=("2025-08-07",)), priority=1.8
    ),
    "gpt-5-nano": _tiers(
        ModelPrice(0.05, 0.40, cache_read=0.005, snapshots=("2025-08-07",)), priority=None
    ),
    # GPT-4.1 family.
    "gpt-4.1": _tiers(
        ModelPrice(2.0, 8.0, cache_read=0.50, snapshots=("2025-04-14",)), flex=None, priority=1.75
    ),
    "gpt-4.1-mini": _tiers(
        ModelPrice(0.40, 1.60, cache_read=0.10, snapshots=("2025-04-14",)),
        flex=None,
        priority=1.75,
    ),
    "gpt-4.1-nano": _tiers(
        ModelPrice(0.10, 0.40, cache_read=0.025, snapshots=("2025-04-14",), retired="2026-10-23"),
        flex=None,
    ),
    # GPT-4o family. The first snapshot has its own, higher price and no cache discount.
    "gpt-4o": _tiers(
        ModelPrice(2.50, 10.0, cache_read=1.25, snapshots=("2024-08-06", "2024-11-20")),
        flex=None,
        priority=1.7,
    ),
    "gpt-4o-2024-05-13": ModelPrice(5.0, 15.0, retired="2026-10-23"),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, cache_read=0.075, snapshots=("2024-07-18",)),
    # o-series reasoning models.
    "o3-pro": ModelPrice(20.0, 80.0, snapshots=("2025-06-10",)),
    "o3": _tiers(ModelPrice(2.0, 8.0, cache_read=0.50, snapshots=("2025-04-16",)), priority=1.75),
    "o4-mini": ModelPrice(
        1.10, 4.40, cache_read=0.275, snapshots=("2025-04-16",), retired="2026-10-23"
    ),
    "o3-mini": ModelPrice(
        1.10, 4.40, cache_read=0.55, snapshots=("2025-01-31",), retired="2026-10-23"
    ),
    "o1-pro": ModelPrice(150.0, 600.0, snapshots=("2025-03-19",), retired="2026-10-23"),
    "o1": ModelPrice(15.0, 60.0, cache_read=7.50, snapshots=("2024-12-17",), retired="2026-10-23"),
    "o1-preview": ModelPrice(15.0, 60.0, cache_read=7.50),
    "o1-mini": ModelPrice(1.10, 4.40, cache_read=0.55),
    # Older models (no prompt caching). A snapshot priced apart from its alias (e.g.
    # gpt-3.5-turbo-1106) is not listed in the alias's snapshots, so it stays unpriced.
    "gpt-4": ModelPrice(30.0, 60.0, retired="2026-10-23"),
    "gpt-4-0613": ModelPrice(30.0, 60.0, retired="2026-10-23"),
    "gpt-4-turbo": ModelPrice(10.0, 30.0, snapshots=("2024-04-09",), retired="2026-10-23"),
    "gpt-4-turbo-preview": ModelPrice(10.0, 30.0, retired="2026-10-23"),
    "gpt-4-0125-preview": ModelPrice(10.0, 30.0, retired="2026-10-23"),
    "gpt-3.5-turbo": ModelPrice(0.50, 1.50, retired="2026-10-23"),
    "gpt-3.5-turbo-0125": ModelPrice(0.50, 1.50, retired="2026-10-23"),
    "gpt-3.5-turbo-instruct": ModelPrice(1.50, 2.0, retired="2026-09-28"),
}

# --- Anthropic ---------------------------------------------------------------------------------
# https://platform.claude.com/docs/en/about-claude/pricing (Model pricing table). Retired models
# without a published retirement day carry the day they were found gone from the references.
_GONE = "2026-12-01"
_ANTHROPIC: dict[str, ModelPrice] = {
    "claude-mythos-5-2": _claude(8.0, 40.0, cache_read=0.20),
    "claude-mythos-5-1": _claude(10.0, 50.0, cache_read=0.25),
    "claude-mythos-5": _claude(10.0, 50.0),
    "claude-fable-5-2": _claude(8.0, 40.0, cache_read=0.20),
    "claude-fable-5-1": _claude(10.0, 50.0, cache_read=0.25),
    "claude-fable-5": _claude(10.0, 50.0),
    "claude-opus-5-5": _claude(4.0, 20.0, cache_read=0.20),
    "claude-opus-5": _claude(5.0, 25.0),
    "claude-opus-4-8": _claude(5.0, 25.0),
    "claude-opus-4-7": _claude(5.0, 25.0, snapshots=("20260416",)),
    "claude-opus-4-6": _claude(5.0, 25.0, snapshots=("20260205",)),
    "claude-opus-4-5": _claude(5.0, 25.0, snapshots=("20251101",)),
    "claude-opus-4-1": _claude(15.0, 75.0, snapshots=("20250805",), retired=_GONE),
    "claude-opus-4": _claude(15.0, 75.0, snapshots=("20250514",), retired=_GONE),
    "claude-opus-4-0": _claude(15.0, 75.0, retired=_GONE),
    "claude-3-opus": _claude(15.0, 75.0, snapshots=("20240229",), retired=_GONE),
    # Sonnet 5.5 cache hits were cut from $0.20 to $0.10 on 2026-10-07 (0.05x input).
    "claude-sonnet-5-5": _claude(2.0, 10.0, cache_read=0.10),
    "claude-sonnet-5": _claude(2.0, 10.0),
    "claude-sonnet-4-6": _claude(3.0, 15.0),
    # The 1M-context beta (prices above 200k) was retired on 2026-04-30: such prompts now fail.
    "claude-sonnet-4-5": _claude(3.0, 15.0, snapshots=("20250929",), retired="2026-11-30"),
    "claude-sonnet-4": _claude(3.0, 15.0, snapshots=("20250514",), retired=_GONE),
    "claude-sonnet-4-0": _claude(3.0, 15.0, retired=_GONE),
    "claude-3-7-sonnet": _claude(3.0, 15.0, snapshots=("20250219",), retired=_GONE),
    # Haiku 5.5: all five prices are 5x for prompts over 100k tokens.
    "claude-haiku-5-5": _claude(0.10, 0.50, long_threshold=100_000, long_factor=5.0),
    "claude-haiku-4-5": _claude(1.0, 5.0, snapshots=("20251001",)),
    "claude-3-5-haiku": ModelPrice(
        0.80,
        4.0,
        cache_read=0.08,
        cache_write=1.0,
        cache_write_1h=1.6,
        snapshots=("20241022",),
        retired=_GONE,
    ),
    "claude-3-haiku": ModelPrice(
        0.25,
        1.25,
        cache_read=0.03,
        cache_write=0.30,
        cache_write_1h=0.50,
        snapshots=("20240307",),
        retired=_GONE,
    ),
}

# --- Gemini API --------------------------------------------------------------------------------
# https://ai.google.dev/gemini-api/docs/pricing (Standard tier, text/image/video input; cache
# reads are the context-caching rate, which also applies to implicit cache hits).
_GEMINI: dict[str, ModelPrice] = {
    # gemini-4-argon: $4 / $20 from its general availability on 2026-12-01 ($2 / $10 before).
    "gemini-4-argon": _gemini(4.0, 20.0, 0.20),
    "gemini-4-hydrogen": _gemini(1.5, 7.5, 0.075),
    "gemini-3.8-flash": _gemini(0.75, 3.75, 0.075),
    "gemini-3.7-flash": _gemini(0.75, 3.75, 0.075),
    "gemini-3.6-flash": _gemini(0.75, 3.75, 0.075),
    "gemini-3.5-flash": _gemini(1.5, 9.0, 0.15),
    "gemini-3.5-flash-lite": _gemini(0.30, 2.50, 0.03),
    "gemini-3.1-pro-preview": _gemini(2.0, 12.0, 0.20, long=(200_000, 4.0, 18.0, 0.40)),
    "gemini-3.1-flash-lite": _gemini(0.25, 1.50, 0.025),
    "gemini-3-flash-preview": _gemini(0.50, 3.0, 0.05),
    "gemini-2.5-pro": _gemini(
        1.25, 10.0, 0.125, long=(200_000, 2.50, 15.0, 0.25), retired="2026-12-01"
    ),
    "gemini-2.5-flash": _gemini(0.30, 2.50, 0.03, retired="2026-12-01"),
    "gemini-2.5-flash-lite": _gemini(0.10, 0.40, 0.01),
    "gemini-2.0-flash": _gemini(0.10, 0.40, 0.025, snapshots=("001",), retired="2026-06-01"),
    "gemini-2.0-flash-lite": ModelPrice(0.075, 0.30, snapshots=("001",), retired="2026-06-01"),
}

# --- Vertex AI ---------------------------------------------------------------------------------
# https://cloud.google.com/vertex-ai/generative-ai/pricing: Gemini at the Gemini API's standard
# prices (global and regional endpoints alike); Claude (``publishers/anthropic``) at Anthropic's
# list prices, the same table as the Anthropic API.
_VERTEX_ONLY: dict[str, ModelPrice] = {
    "gemini-4-argon": _gemini(4.0, 20.0, 0.20),
    "gemini-4-argon-cyber-permissive": _gemini(4.0, 20.0, 0.20),
    "gemini-4-hydrogen": _gemini(1.5, 7.5, 0.075),
    "gemini-3.8-flash-cyber": _gemini(1.5, 7.5, 0.15),
    "gemini-3.6-flash": _gemini(0.75, 3.75, 0.075, retired="2026-11-19"),
    "gemini-3.1-flash-lite-preview": _gemini(0.25, 1.50, 0.025),
    "gemini-3-pro-preview": _gemini(
        2.0, 12.0, 0.20, long=(200_000, 4.0, 18.0, 0.40), retired=_GONE
    ),
    "gemini-2.5-pro": replace(_GEMINI["gemini-2.5-pro"], retired="2026-10-20"),
    "gemini-2.5-flash": replace(_GEMINI["gemini-2.5-flash"], retired="2026-10-20"),
    "gemini-2.5-flash-lite": replace(_GEMINI["gemini-2.5-flash-lite"], retired="2026-10-20"),
    "gemini-2.5-flash-preview-09-2025": _gemini(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite-preview-09-2025": _gemini(0.10, 0.40, 0.01),
}
_VERTEX_GEMINI = (
    "gemini-3.8-flash",
    "gemini-3.7-flash",
    "gemini-3.5-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite",
    "gemini-3-flash-preview",
    "gemini-2.0-flash",
)
# Claude models Vertex retired earlier than the Anthropic API did.
_VERTEX_CLAUDE_RETIRED = {
    "claude-opus-4-5": "2026-11-24",
    "claude-haiku-4-5": "2026-10-15",
    "claude-sonnet-4-5": "2026-09-29",
}
_VERTEX: dict[str, ModelPrice] = {
    **{key: _GEMINI[key] for key in _VERTEX_GEMINI},
    **_VERTEX_ONLY,
    **{
        key: replace(
            price,
            source=PRICING_SOURCES["vertex"],
            retired=_VERTEX_CLAUDE_RETIRED.get(key, price.retired),
        )
        for key, price in _ANTHROPIC.items()
    },
}

# --- Amazon Bedrock ----------------------------------------------------------------------------
# https://aws.amazon.com/bedrock/pricing/ (on-demand, us-east-1). Claude >= 4.5 and Nova 2 are
# served through inference profiles: ``global.`` at the list price (the figures below),
# geographic profiles and the in-Region id +10 % (AWS: global routing "offers approximately 10%
# savings"; the AWS price list's regional rows), GovCloud ``us-gov.`` +20 % where AWS lists the
# model there. Older models' geographic profiles cost the base id's price (AWS
# bills a cross-Region profile at the source Region's price; this table has us-east-1 only).
_GEO = 1.1
_GOV = 1.2
_BEDROCK: dict[str, ModelPrice] = {
    "anthropic.claude-mythos-5-2": _claude(8.0, 40.0, cache_read=0.20, regional=_GEO),
    "anthropic.claude-mythos-5-1": _claude(10.0, 50.0, cache_read=0.25, regional=_GEO),
    "anthropic.claude-mythos-5": _claude(10.0, 50.0, regional=_GEO),
    "anthropic.claude-fable-5-2": _claude(8.0, 40.0, cache_read=0.20, regional=_GEO),
    "anthropic.claude-fable-5-1": _claude(
        10.0, 50.0, cache_read=0.25, regional=_GEO, govcloud=_GOV
    ),
    "anthropic.claude-fable-5": _claude(10.0, 50.0, regional=_GEO),
    "anthropic.claude-opus-5-5": _claude(4.0, 20.0, cache_read=0.20, regional=_GEO, govcloud=_GOV),
    "anthropic.claude-opus-5": _claude(5.0, 25.0, regional=_GEO, govcloud=_GOV),
    "anthropic.claude-opus-4-8": _claude(5.0, 25.0, regional=_GEO, govcloud=_GOV),
    "anthropic.claude-opus-4-7": _claude(5.0, 25.0, regional=_GEO),
    "anthropic.claude-opus-4-6-v1": _claude(5.0, 25.0, regional=_GEO),
    "anthropic.claude-opus-4-5-20251101-v1:0": _claude(5.0, 25.0, regional=_GEO),
    "anthropic.claude-opus-4-1-20250805-v1:0": _claude(15.0, 75.0),
    "anthropic.claude-opus-4-20250514-v1:0": _claude(15.0, 75.0),
    "anthropic.claude-sonnet-5-5": _claude(
        2.0, 10.0, cache_read=0.10, regional=_GEO, govcloud=_GOV
    ),
    "anthropic.claude-sonnet-5": _claude(2.0, 10.0, regional=_GEO, govcloud=_GOV),
    "anthropic.claude-sonnet-4-6": _claude(3.0, 15.0, regional=_GEO),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": _claude(3.0, 15.0, regional=_GEO, govcloud=_GOV),
    "anthropic.claude-sonnet-4-20250514-v1:0": _claude(3.0, 15.0, retired="2026-10-14"),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": _claude(3.0, 15.0),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": _claude(3.0, 15.0),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": _claude(3.0, 15.0),
    "anthropic.claude-haiku-5-5": _claude(
        0.10, 0.50, long_threshold=100_000, long_factor=5.0, regional=_GEO, govcloud=_GOV
    ),
    "anthropic.claude-haiku-4-5-20251001-v1:0": _claude(1.0, 5.0, regional=_GEO),
    "anthropic.claude-3-5-haiku-20241022-v1:0": ModelPrice(
        0.80, 4.0, cache_read=0.08, cache_write=1.0
    ),
    "anthropic.claude-3-haiku-20240307-v1:0": ModelPrice(0.25, 1.25),
    "anthropic.claude-3-opus-20240229-v1:0": ModelPrice(15.0, 75.0),
    "amazon.nova-premier-v1:0": ModelPrice(2.5, 12.5, cache_read=0.625),
    "amazon.nova-2-pro-preview-20251202-v1:0": ModelPrice(
        1.25, 10.0, cache_read=0.3125, regional=_GEO
    ),
    "amazon.nova-2-lite-v1:0": ModelPrice(0.30, 2.50, cache_read=0.075, regional=_GEO),
    "amazon.nova-pro-v1:0": ModelPrice(0.80, 3.20, cache_read=0.20),
    "amazon.nova-lite-v1:0": ModelPrice(0.06, 0.24, cache_read=0.015),
    "amazon.nova-micro-v1:0": ModelPrice(0.035, 0.14, cache_read=0.00875),
    "meta.llama3-70b-instruct-v1:0": ModelPrice(2.65, 3.50),
    "cohere.command-r-v1:0": ModelPrice(0.50, 1.50, retired=_GONE),
    "ai21.jamba-1-5-large-v1:0": ModelPrice(2.0, 8.0, retired="2026-11-26"),
    "ai21.jamba-1-5-mini-v1:0": ModelPrice(0.20, 0.40, retired="2026-11-26"),
}

DEFAULT_PRICES: dict[str, dict[str, ModelPrice]] = {
    kind: _stamped(table, PRICING_SOURCES[kind])
    for kind, table in (
        ("openai", _OPENAI),
        ("anthropic", _ANTHROPIC),
        ("gemini", _GEMINI),
        ("vertex", _VERTEX),
        ("bedrock", _BEDROCK),
    )
}
"""Default prices keyed by provider type, then base model id (as of :data:`PRICING_AS_OF`)."""


# --- Model-id resolution -----------------------------------------------------------------------

_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^/]*:(?:[a-z-]*inference-profile|foundation-model)/")
_MODELS_PREFIX = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?models/")
_VERTEX_ALIAS = re.compile(r"@(?:latest|default)$")
_VERTEX_SNAPSHOT = re.compile(r"@(\d{8}|\d{3})$")
_LATEST = re.compile(r"-latest$")
_DATE = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_VERSION3 = re.compile(r"-(\d{3})$")
_PROFILE = re.compile(r"^(us-gov|us|eu|apac|jp|au|ca|global)\.(?=[a-z0-9-]+\.)")
_BEDROCK_REV = re.compile(r":\d+$")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_BEDROCK_V_ONLY = re.compile(r"-v\d+$")
_MAX_CANDIDATES = 64


@dataclass(frozen=True)
class _Form:
    """One normalised form of a model id and what was stripped to reach it."""

    id: str
    snapshots: tuple[str, ...] = ()  # dated suffixes removed (the entry must list each)
    profile: str | None = None  # Bedrock inference-profile prefix removed
    versioned: bool = False  # a Bedrock version was removed on the way (never add -v1:0)


_Step = Callable[[_Form], "_Form | None"]


def _plain(pattern: re.Pattern[str], *, version: bool = False) -> _Step:
    def step(form: _Form) -> _Form | None:
        new = pattern.sub("", form.id, count=1)
        if new == form.id or not new:
            return None
        return replace(form, id=new, versioned=form.versioned or version)

    return step


def _snapshot(pattern: re.Pattern[str]) -> _Step:
    def step(form: _Form) -> _Form | None:
        match = pattern.search(form.id)
        if match is None or match.start() == 0:
            return None
        return replace(
            form, id=form.id[: match.start()], snapshots=(*form.snapshots, match.group(1))
        )

    return step


def _profile(form: _Form) -> _Form | None:
    match = _PROFILE.match(form.id)
    if match is None or form.profile is not None:
        return None
    return replace(form, id=form.id[match.end() :], profile=match.group(1))


_STEPS: tuple[_Step, ...] = (
    _plain(_ARN),
    _plain(_MODELS_PREFIX),
    _plain(_VERTEX_ALIAS),
    _snapshot(_VERTEX_SNAPSHOT),
    _plain(_LATEST),
    _snapshot(_DATE),
    _snapshot(_VERSION3),
    _profile,
    _plain(_BEDROCK_REV, version=True),
    _plain(_BEDROCK_VERSION, version=True),
)


def _forms(model: str) -> Iterator[_Form]:
    """Yield ``model`` and then its normalised forms, least changed first."""
    start = model.strip()
    forms = [_Form(start, versioned=bool(_BEDROCK_VERSION.search(start)))]
    seen = {start}
    i = 0
    while i < len(forms) and len(forms) < _MAX_CANDIDATES:
        for step in _STEPS:
            new = step(forms[i])
            if new is not None and new.id not in seen:
                seen.add(new.id)
                forms.append(new)
        i += 1
    yield from forms
    # Bedrock ids are versioned (``-v1:0``); a bare or half-versioned id may name that version.
    # Only forms that never carried a full version get one added, so ``-v2:0`` never becomes
    # ``-v1:0``.
    for form in forms:
        if _BEDROCK_V_ONLY.search(form.id):
            yield replace(form, id=form.id + ":0")
        elif not form.versioned and "." in form.id:
            yield replace(form, id=form.id + "-v1:0")


def resolve_price(
    table: Mapping[str, ModelPrice],
    model: str,
    *,
    reference: Mapping[str, ModelPrice] | None = None,
) -> tuple[str, ModelPrice] | None:
    """Find the price of ``model`` in ``table``.

    The exact id is tried first, then normalised forms of it — never a prefix match, so
    ``gpt-4o-mini`` cannot get ``gpt-4o``'s price. The rules, applied in any combination:

    - a dated or numbered snapshot (``-2024-08-06``, ``-20250929``, ``-001``, Vertex
      ``@20250929``) resolves onto its alias only when the alias lists that suffix in
      :attr:`ModelPrice.snapshots` (same price); any other snapshot stays unpriced;
    - ``-latest``, ``@latest`` and ``@default`` name the alias itself;
    - a ``models/`` or ``publishers/…/models/`` prefix and a Bedrock ARN
      (``arn:aws:bedrock:…:inference-profile/<id>`` or ``…:foundation-model/<id>``) are dropped;
    - a Bedrock inference-profile prefix: ``global.`` costs the table's price; ``us.``, ``eu.``,
      ``apac.``, ``jp.``, ``au.``, ``ca.`` and the bare (in-Region) id cost it times
      :attr:`ModelPrice.regional` when set; ``us-gov.`` costs it times
      :attr:`ModelPrice.govcloud` (unpriced when that is not known); any other prefix is not
      recognised;
    - a Bedrock version (``:0``, ``-v1:0``) is dropped, and an unversioned Bedrock id also
      tries ``-v1:0``.

    Fine-tuned ids (``ft:…``) resolve only to an entry of exactly that id: a fine-tuned model is
    never priced as its base model.

    Args:
        table: Prices keyed by model id (one provider's part of the table).
        model: The model id as configured or as the vendor echoed it.
        reference: A table whose entries' ``snapshots`` also count (configured overrides
            carry none: a snapshot reaches an overridden alias when the shipped table lists
            it as priced like that alias).

    Returns:
        ``(matched_key, price)`` — the price already carries a profile's surcharge — or
        ``None`` when no form of the id is in the table.
    """
    if model.strip().startswith("ft:"):
        price = table.get(model.strip())
        return None if price is None else (model.strip(), price)
    for form in _forms(model):
        price = table.get(form.id)
        if price is None:
            continue
        same = set(price.snapshots)
        ref = reference.get(form.id) if reference is not None else None
        if ref is not None:
            same.update(ref.snapshots)
        if not set(form.snapshots) <= same:
            continue
        if form.profile == "us-gov":
            if price.govcloud is None:
                return None
            price = price.scaled(price.govcloud)
        elif form.profile != "global" and price.regional is not None:
            price = price.scaled(price.regional)
        return form.id, price
    return None


# --- Usage dimensions --------------------------------------------------------------------------

_STANDARD_TIERS = frozenset({"", "default", "standard", "auto"})
_STANDARD_GEOS = frozenset({"", "global", "not_available"})


def usage_dimensions(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """The billing dimensions a vendor answer reports beyond token counts.

    Read from the answer's JSON: OpenAI's top-level ``service_tier``; Anthropic's
    ``usage.service_tier``, ``usage.inference_geo`` and ``usage.server_tool_use`` (counts of
    server-side tool calls, billed apart). Standard values (``default``, ``standard``, ``auto``,
    a ``global`` geo, zero tool calls) are left out, so an empty dict means "standard rate".

    Args:
        raw: The vendor's JSON answer, or ``None``.

    Returns:
        ``{"service_tier": "flex"}``, ``{"inference_geo": "us"}``, ``{"server_tool_use":
        "web_search_requests"}`` and so on.
    """
    if not isinstance(raw, Mapping):
        return {}
    found: dict[str, str] = {}
    usage = raw.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    tier = raw.get("service_tier", usage.get("service_tier"))
    if isinstance(tier, str) and tier.lower() not in _STANDARD_TIERS:
        found["service_tier"] = tier.lower()
    geo = usage.get("inference_geo")
    if isinstance(geo, str) and geo.lower() not in _STANDARD_GEOS:
        found["inference_geo"] = geo.lower()
    tools = usage.get("server_tool_use")
    if isinstance(tools, Mapping):
        used = sorted(
            str(name)
            for name, count in tools.items()
            if isinstance(count, (int, float)) and not isinstance(count, bool) and count > 0
        )
        if used:
            found["server_tool_use"] = ",".join(used)
    return found


def price_for_dimensions(
    price: ModelPrice, dimensions: Mapping[str, str]
) -> tuple[ModelPrice | None, str | None]:
    """The price to charge for a call that reported ``dimensions``.

    Args:
        price: The model's standard price.
        dimensions: What :func:`usage_dimensions` found.

    Returns:
        ``(price, None)`` — the tier's price where the table has it — or ``(None, reason)`` when
        the table cannot price a reported dimension.
    """
    tier = dimensions.get("service_tier")
    if tier is not None:
        tiered = price.service_tiers.get(tier)
        if tiered is None:
            return None, f"service tier {tier!r} has no price"
        price = tiered
    geo = dimensions.get("inference_geo")
    if geo is not None:
        return None, f"inference_geo {geo!r} has no price"
    tools = dimensions.get("server_tool_use")
    if tools is not None:
        return None, f"server-tool fees ({tools}) have no price"
    return price, None


# --- Price files -------------------------------------------------------------------------------

_FLOAT_FIELDS = frozenset({*_RATE_FIELDS, "regional", "govcloud"})
_TEXT_FIELDS = frozenset({"retired", "source", "as_of"})


def price_from_mapping(value: Any, where: str) -> ModelPrice:
    """Build a :class:`ModelPrice` from a mapping (or an object with those attributes).

    Args:
        value: ``{"input": 3, "output": 15, ...}`` with any of :data:`PRICE_FIELDS`.
        where: The key path for error messages (``pricing.openai.gpt-5``).

    Returns:
        The price.

    Raises:
        ConfigurationError: A field is unknown, of the wrong type or negative, or ``input`` /
            ``output`` is missing; the message starts with ``where``.
    """
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in PRICE_FIELDS)
        if unknown:
            raise ConfigurationError(
                f"{where}.{unknown[0]} is not a price field (allowed: {', '.join(PRICE_FIELDS)})"
            )
        items = {str(k): v for k, v in value.items() if v is not None}
    else:
        items = {n: getattr(value, n) for n in PRICE_FIELDS if getattr(value, n, None) is not None}
    kwargs: dict[str, Any] = {}
    for name, raw in items.items():
        path = f"{where}.{name}"
        if name in _FLOAT_FIELDS or name == "long_context_threshold":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
                raise ConfigurationError(f"{path} must be a number >= 0, got {raw!r}")
            kwargs[name] = int(raw) if name == "long_context_threshold" else float(raw)
        elif name in _TEXT_FIELDS:
            if not isinstance(raw, str):
                raise ConfigurationError(f"{path} must be a string, got {raw!r}")
            kwargs[name] = raw
        elif name == "snapshots":
            if not isinstance(raw, (list, tuple)) or not all(isinstance(s, str) for s in raw):
                raise ConfigurationError(f"{path} must be a list of strings")
            kwargs[name] = tuple(raw)
        elif name == "service_tiers":
            if not isinstance(raw, Mapping):
                raise ConfigurationError(f"{path} must be a mapping of tier name to price")
            kwargs[name] = {str(t): price_from_mapping(p, f"{path}.{t}") for t, p in raw.items()}
    for required in ("input", "output"):
        if required not in kwargs:
            raise ConfigurationError(f"{where} needs '{required}' (USD per million tokens)")
    return ModelPrice(**kwargs)


def load_price_file(path: str | Path) -> dict[str, dict[str, ModelPrice]]:
    """Read a price file: ``{provider_type: {model_id: {field: value}}}`` in YAML or JSON.

    The fields are :data:`PRICE_FIELDS` (the table's). A ``.json`` file is read as JSON, any
    other as YAML.

    Args:
        path: The file.

    Returns:
        The prices, keyed like :data:`DEFAULT_PRICES`.

    Raises:
        ConfigurationError: The file cannot be read or parsed, or an entry is invalid; the
            message names the file and the key path.
    """
    import yaml  # here, not at import: only a price file needs it

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{source}: pricing file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{source}: cannot read the pricing file: {exc}") from None
    try:
        data = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{source}: not valid JSON/YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source}: expected a mapping of provider type to models")
    table: dict[str, dict[str, ModelPrice]] = {}
    for kind, models in data.items():
        if not isinstance(models, Mapping):
            raise ConfigurationError(f"{source}: {kind}: expected a mapping of model id to price")
        table[str(kind)] = {
            str(model): price_from_mapping(value, f"{source}: {kind}.{model}")
            for model, value in models.items()
        }
    return table
