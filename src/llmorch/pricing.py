"""The dated default price table, in USD per million tokens, and model-id resolution.

Prices change; this table is a snapshot taken on :data:`PRICING_AS_OF`. Configured overrides
(``pricing:`` in the config) always win over it. Sources, per provider type:

- ``openai``: https://developers.openai.com/api/docs/pricing and the per-model pages
  https://developers.openai.com/api/docs/models/<model> (gpt-5, gpt-5-mini, gpt-5-nano,
  gpt-5-codex, gpt-4.1-nano, gpt-4, gpt-4-turbo, gpt-3.5-turbo). gpt-4o, gpt-4o-mini, gpt-4.1,
  gpt-4.1-mini, o1, o3, o3-mini and o4-mini were cross-checked against gateways that republish
  OpenAI's list prices (vercel.com/ai-gateway model pages, helicone.ai/model).
- ``anthropic``: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing":
  base input, 5-minute and 1-hour cache writes, cache hits, output) and the model overview pages
  https://platform.claude.com/docs/en/models/<model>/overview.
- ``gemini``: https://ai.google.dev/gemini-api/docs/pricing (Standard tier; Gemini 2.5 Pro has a
  tier for prompts over 200k tokens).
- ``vertex``: https://cloud.google.com/vertex-ai/generative-ai/pricing (Gemini on Vertex AI is
  listed at the Gemini API's standard prices).
- ``bedrock``: https://aws.amazon.com/bedrock/pricing/ (on-demand, us-east-1). The page renders
  its numbers client-side, so the figures were cross-checked against republished copies
  (LangChain's Bedrock Anthropic callback, Bifrost's Bedrock cost pages). Claude on Bedrock is
  billed at Anthropic's list prices; Amazon Nova cache reads are 75% below input, as the page says.

A field left ``None`` was not verified: cache reads then cost the input price, and 1-hour cache
writes cost the 5-minute write price.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_PRICES",
    "PRICING_AS_OF",
    "PRICING_SOURCES",
    "ModelPrice",
    "resolve_price",
]

PRICING_AS_OF = "2026-11-24"
"""The day :data:`DEFAULT_PRICES` was checked against the sources below."""

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


def _anthropic(input_: float, output: float) -> ModelPrice:
    # Anthropic's sheet: cache hits 0.1x, 5-minute writes 1.25x, 1-hour writes 2x the input price
    # (each value below matches the published row).
    return ModelPrice(
        input=input_,
        output=output,
        cache_read=round(input_ * 0.1, 6),
        cache_write=round(input_ * 1.25, 6),
        cache_write_1h=round(input_ * 2, 6),
    )


# --- OpenAI ------------------------------------------------------------------------------------
# https://developers.openai.com/api/docs/pricing ; https://developers.openai.com/api/docs/models/*
_OPENAI: dict[str, ModelPrice] = {
    # GPT-5 family (model pages: gpt-5-nano, gpt-5-mini, gpt-5-codex "a version of GPT-5").
    "gpt-5": ModelPrice(1.25, 10.0, cache_read=0.125),
    "gpt-5-codex": ModelPrice(1.25, 10.0, cache_read=0.125),
    "gpt-5-mini": ModelPrice(0.25, 2.0, cache_read=0.025),
    "gpt-5-nano": ModelPrice(0.05, 0.40, cache_read=0.005),
    # GPT-4.1 family (gpt-4.1-nano model page; gpt-4.1 and -mini cross-checked).
    "gpt-4.1": ModelPrice(2.0, 8.0, cache_read=0.50),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60, cache_read=0.10),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40, cache_read=0.025),
    # GPT-4o family (cross-checked).
    "gpt-4o": ModelPrice(2.50, 10.0, cache_read=1.25),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, cache_read=0.075),
    # o-series reasoning models (cross-checked).
    "o1": ModelPrice(15.0, 60.0, cache_read=7.50),
    "o3": ModelPrice(2.0, 8.0, cache_read=0.50),
    "o3-mini": ModelPrice(1.10, 4.40, cache_read=0.55),
    "o4-mini": ModelPrice(1.10, 4.40, cache_read=0.275),
    # Older models (model pages; no prompt caching). Snapshots whose price differs from the
    # alias (e.g. gpt-3.5-turbo-1106) are deliberately absent rather than mispriced.
    "gpt-4": ModelPrice(30.0, 60.0),
    "gpt-4-0613": ModelPrice(30.0, 60.0),
    "gpt-4-turbo": ModelPrice(10.0, 30.0),
    "gpt-4-turbo-preview": ModelPrice(10.0, 30.0),
    "gpt-4-0125-preview": ModelPrice(10.0, 30.0),
    "gpt-3.5-turbo": ModelPrice(0.50, 1.50),
    "gpt-3.5-turbo-0125": ModelPrice(0.50, 1.50),
    "gpt-3.5-turbo-instruct": ModelPrice(1.50, 2.0),
}

# --- Anthropic ---------------------------------------------------------------------------------
# https://platform.claude.com/docs/en/about-claude/pricing (Model pricing table) and
# https://platform.claude.com/docs/en/models/{sonnet-5,sonnet-5-5,opus-5}/overview
_ANTHROPIC: dict[str, ModelPrice] = {
    "claude-fable-5-1": ModelPrice(
        10.0, 50.0, cache_read=0.25, cache_write=12.50, cache_write_1h=20.0
    ),
    "claude-opus-5": _anthropic(5.0, 25.0),
    "claude-opus-4-8": _anthropic(5.0, 25.0),
    "claude-opus-4-7": _anthropic(5.0, 25.0),
    "claude-opus-4-6": _anthropic(5.0, 25.0),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-opus-4-0": _anthropic(15.0, 75.0),
    "claude-3-opus": _anthropic(15.0, 75.0),
    "claude-sonnet-5-5": ModelPrice(
        2.0, 10.0, cache_read=0.20, cache_write=2.50, cache_write_1h=4.0
    ),
    "claude-sonnet-5": ModelPrice(2.0, 10.0, cache_read=0.20, cache_write=2.50, cache_write_1h=4.0),
    "claude-sonnet-4-6": _anthropic(3.0, 15.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-sonnet-4-0": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": ModelPrice(0.80, 4.0, cache_read=0.08, cache_write=1.0, cache_write_1h=1.6),
    "claude-3-haiku": ModelPrice(
        0.25, 1.25, cache_read=0.03, cache_write=0.30, cache_write_1h=0.50
    ),
}

# --- Gemini API and Vertex AI ------------------------------------------------------------------
# https://ai.google.dev/gemini-api/docs/pricing (Standard tier, text/image/video input).
_GEMINI: dict[str, ModelPrice] = {
    "gemini-3.1-pro-preview": ModelPrice(
        2.0,
        12.0,
        long_context_threshold=200_000,
        input_long=4.0,
        output_long=18.0,
    ),
    "gemini-2.5-pro": ModelPrice(
        1.25,
        10.0,
        cache_read=0.125,
        long_context_threshold=200_000,
        input_long=2.50,
        output_long=15.0,
        cache_read_long=0.25,
    ),
    "gemini-2.5-flash": ModelPrice(0.30, 2.50),
    "gemini-2.5-flash-lite": ModelPrice(0.10, 0.40),
    "gemini-2.0-flash": ModelPrice(0.10, 0.40),
    "gemini-2.0-flash-lite": ModelPrice(0.075, 0.30),
}

# https://cloud.google.com/vertex-ai/generative-ai/pricing — same standard prices for Gemini.
_VERTEX: dict[str, ModelPrice] = {
    k: v
    for k, v in _GEMINI.items()
    if k in {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash"}
}

# --- Amazon Bedrock ----------------------------------------------------------------------------
# https://aws.amazon.com/bedrock/pricing/ (on-demand, us-east-1).
_BEDROCK: dict[str, ModelPrice] = {
    "anthropic.claude-opus-4-5-20251101-v1:0": _anthropic(5.0, 25.0),
    "anthropic.claude-opus-4-1-20250805-v1:0": _anthropic(15.0, 75.0),
    "anthropic.claude-opus-4-20250514-v1:0": _anthropic(15.0, 75.0),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": _anthropic(3.0, 15.0),
    "anthropic.claude-sonnet-4-20250514-v1:0": _anthropic(3.0, 15.0),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": _anthropic(3.0, 15.0),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": _anthropic(3.0, 15.0),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": _anthropic(3.0, 15.0),
    "anthropic.claude-haiku-4-5-20251001-v1:0": _anthropic(1.0, 5.0),
    "anthropic.claude-3-5-haiku-20241022-v1:0": ModelPrice(
        0.80, 4.0, cache_read=0.08, cache_write=1.0
    ),
    "anthropic.claude-3-haiku-20240307-v1:0": ModelPrice(0.25, 1.25),
    "anthropic.claude-3-opus-20240229-v1:0": ModelPrice(15.0, 75.0),
    "amazon.nova-pro-v1:0": ModelPrice(0.80, 3.20, cache_read=0.20),
    "amazon.nova-lite-v1:0": ModelPrice(0.06, 0.24, cache_read=0.015),
    "amazon.nova-micro-v1:0": ModelPrice(0.035, 0.14, cache_read=0.00875),
    "meta.llama3-70b-instruct-v1:0": ModelPrice(2.65, 3.50),
    "cohere.command-r-v1:0": ModelPrice(0.50, 1.50),
    "ai21.jamba-1-5-large-v1:0": ModelPrice(2.0, 8.0),
    "ai21.jamba-1-5-mini-v1:0": ModelPrice(0.20, 0.40),
}

DEFAULT_PRICES: dict[str, dict[str, ModelPrice]] = {
    "openai": _OPENAI,
    "anthropic": _ANTHROPIC,
    "gemini": _GEMINI,
    "vertex": _VERTEX,
    "bedrock": _BEDROCK,
}
"""Default prices keyed by provider type, then base model id (as of :data:`PRICING_AS_OF`)."""


# --- Model-id resolution -----------------------------------------------------------------------

_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^/]*:(?:[a-z-]*inference-profile|foundation-model)/")
_MODELS_PREFIX = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?models/")
_VERTEX_SUFFIX = re.compile(r"@(?:latest|\d{8}|\d{3})$")
_LATEST = re.compile(r"-latest$")
_DATE = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
_VERSION3 = re.compile(r"-\d{3}$")
_REGION = re.compile(r"^[a-z]{2,6}(?:-[a-z]{2,4})?\.(?=[a-z0-9-]+\.)")
_BEDROCK_REV = re.compile(r":\d+$")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_BEDROCK_V_ONLY = re.compile(r"-v\d+$")


def _strip(pattern: re.Pattern[str]) -> Callable[[str], str]:
    return lambda s: pattern.sub("", s, count=1)


_TRANSFORMS: tuple[Callable[[str], str], ...] = (
    _strip(_ARN),
    _strip(_MODELS_PREFIX),
    _strip(_VERTEX_SUFFIX),
    _strip(_LATEST),
    _strip(_DATE),
    _strip(_VERSION3),
    _strip(_REGION),
    _strip(_BEDROCK_REV),
    _strip(_BEDROCK_VERSION),
)
_VERSION_STRIPS = (_TRANSFORMS[-2], _TRANSFORMS[-1])
_MAX_CANDIDATES = 64


def _candidates(model: str) -> Iterator[str]:
    """Yield ``model`` and then its normalised forms, least changed first."""
    seen = [model.strip()]
    unversioned = {seen[0]} if not _BEDROCK_VERSION.search(seen[0]) else set()
    i = 0
    while i < len(seen) and len(seen) < _MAX_CANDIDATES:
        for transform in _TRANSFORMS:
            new = transform(seen[i])
            if new and new not in seen:
                seen.append(new)
                # "Never carried a version" passes on unless this step removed one.
                if seen[i] in unversioned and transform not in _VERSION_STRIPS:
                    unversioned.add(new)
        i += 1
    yield from seen
    # Bedrock ids are versioned (``-v1:0``); a bare or half-versioned id may name that version.
    # Only forms that never carried a full version get one added, so ``-v2:0`` never becomes
    # ``-v1:0``.
    for cand in seen:
        if _BEDROCK_V_ONLY.search(cand):
            yield cand + ":0"
        elif cand in unversioned and "." in cand:
            yield cand + "-v1:0"


def resolve_price(table: Mapping[str, ModelPrice], model: str) -> tuple[str, ModelPrice] | None:
    """Find the price of ``model`` in ``table``.

    The exact id is tried first, then normalised forms of it — never a prefix match, so
    ``gpt-4o-mini`` cannot get ``gpt-4o``'s price. The rules, applied in any combination: strip
    a trailing date (``-2024-08-06``, ``-20250929``), ``-latest``, a three-digit version
    (``-001``), a ``models/`` or ``publishers/…/models/`` prefix, a Vertex ``@20250929`` /
    ``@latest`` suffix, a Bedrock ARN (``arn:aws:bedrock:…:inference-profile/<id>`` or
    ``…:foundation-model/<id>``), a Bedrock cross-region prefix (``us.``, ``eu.``, ``apac.``,
    ``global.``, ``us-gov.``, …) and a Bedrock version (``:0``, ``-v1:0``); an unversioned
    Bedrock id also tries ``-v1:0``.

    Args:
        table: Prices keyed by model id (one provider's part of the table).
        model: The model id as configured or as the vendor echoed it.

    Returns:
        ``(matched_key, price)``, or ``None`` when no form of the id is in the table.
    """
    for cand in _candidates(model):
        price = table.get(cand)
        if price is not None:
            return cand, price
    return None
