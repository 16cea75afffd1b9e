from __future__ import annotations

import re

import pytest

from llmorch.pricing import (
    DEFAULT_PRICES,
    PRICING_AS_OF,
    PRICING_SOURCES,
    ModelPrice,
    resolve_price,
)

P = ModelPrice(1.0, 2.0)


def test_as_of_is_an_iso_date() -> None:
    """PRICING_AS_OF is a YYYY-MM-DD date."""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICING_AS_OF)


def test_every_provider_type_has_prices_and_a_source() -> None:
    """All five provider types are in the table, each with a source page."""
    for kind in ("openai", "anthropic", "gemini", "vertex", "bedrock"):
        assert DEFAULT_PRICES[kind]
        assert PRICING_SOURCES[kind].startswith("https://")


def test_prices_are_positive_and_consistent() -> None:
    """Every price is positive and a long-context tier always has a threshold."""
    for table in DEFAULT_PRICES.values():
        for price in table.values():
            assert price.input > 0 and price.output > 0
            if price.input_long is not None or price.output_long is not None:
                assert price.long_context_threshold is not None


def test_anthropic_cache_multipliers() -> None:
    """Anthropic cache reads cost 0.1x, 5m writes 1.25x and 1h writes 2x input."""
    p = DEFAULT_PRICES["anthropic"]["claude-sonnet-4-5"]
    assert (p.input, p.cache_read, p.cache_write, p.cache_write_1h, p.output) == (
        3.0,
        0.3,
        3.75,
        6.0,
        15.0,
    )


def test_exact_id_wins() -> None:
    """An id present in the table resolves to itself."""
    assert resolve_price({"gpt-4o": P}, "gpt-4o") == ("gpt-4o", P)


def test_mini_never_gets_the_bigger_models_price() -> None:
    """Resolution is not prefix matching: gpt-4o-mini does not match gpt-4o."""
    assert resolve_price({"gpt-4o": P}, "gpt-4o-mini") is None
    assert resolve_price({"gpt-4o": P}, "gpt-4o-mini-2024-07-18") is None
    hit = resolve_price(DEFAULT_PRICES["openai"], "gpt-4o-mini")
    assert hit is not None and hit[0] == "gpt-4o-mini"
    assert hit[1] != DEFAULT_PRICES["openai"]["gpt-4o"]


@pytest.mark.parametrize(
    ("kind", "model", "key"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai", "o3-2025-04-16", "o3"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-opus-4-20250514", "claude-opus-4"),
        ("anthropic", "claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini", "gemini-2.5-flash-latest", "gemini-2.5-flash"),
        ("vertex", "publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("vertex", "gemini-2.5-flash@latest", "gemini-2.5-flash"),
    ],
)
def test_dated_and_aliased_ids_resolve(kind: str, model: str, key: str) -> None:
    """Dated, -latest, -001, models/ and Vertex @ ids resolve to the base id."""
    hit = resolve_price(DEFAULT_PRICES[kind], model)
    assert hit is not None and hit[0] == key


def test_vertex_at_date_suffix() -> None:
    """A Vertex @YYYYMMDD suffix is stripped when the alias lists that snapshot."""
    same = ModelPrice(1.0, 2.0, snapshots=("20250929",))
    assert resolve_price({"claude-sonnet-4-5": same}, "claude-sonnet-4-5@20250929") == (
        "claude-sonnet-4-5",
        same,
    )
    assert resolve_price({"claude-sonnet-4-5": P}, "claude-sonnet-4-5@20250929") is None


@pytest.mark.parametrize(
    "model",
    [
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "apac.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        ),
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v1",
        "anthropic.claude-sonnet-4-5-20250929",
    ],
)
def test_bedrock_regional_arn_and_version_forms(model: str) -> None:
    """Regional prefixes, ARNs and missing version suffixes resolve to the Bedrock id."""
    hit = resolve_price(DEFAULT_PRICES["bedrock"], model)
    assert hit is not None
    assert hit[0] == "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_bedrock_version_suffix_dropped_to_match_table() -> None:
    """A table keyed without ``:0`` / ``-v1:0`` still matches a fully versioned id."""
    assert resolve_price({"amazon.nova-pro-v1": P}, "us.amazon.nova-pro-v1:0") == (
        "amazon.nova-pro-v1",
        P,
    )
    assert resolve_price({"amazon.nova-pro": P}, "amazon.nova-pro-v1:0") == (
        "amazon.nova-pro",
        P,
    )
    assert resolve_price(DEFAULT_PRICES["bedrock"], "amazon.nova-micro") is not None


def test_bedrock_v2_never_becomes_v1() -> None:
    """A -v2:0 id does not pick up a -v1:0 price."""
    table = {"anthropic.claude-x-v1:0": P}
    assert resolve_price(table, "anthropic.claude-x-v2:0") is None


def test_vendor_prefix_is_not_taken_for_a_region() -> None:
    """``amazon.`` / ``meta.`` are vendor parts, not regions, and stay in place."""
    assert resolve_price({"nova-pro-v1:0": P}, "amazon.nova-pro-v1:0") is None
    assert resolve_price({"llama3-70b-instruct-v1:0": P}, "meta.llama3-70b-instruct-v1:0") is None


def test_unknown_model_is_none() -> None:
    """An unknown id resolves to nothing."""
    assert resolve_price(DEFAULT_PRICES["openai"], "not-a-model") is None
    assert resolve_price({}, "gpt-4o") is None


def test_snapshot_with_a_different_price_is_not_aliased() -> None:
    """Four-digit OpenAI snapshots are not stripped (gpt-3.5-turbo-1106 had its own price)."""
    assert resolve_price(DEFAULT_PRICES["openai"], "gpt-3.5-turbo-1106") is None
    hit = resolve_price(DEFAULT_PRICES["openai"], "gpt-3.5-turbo-0125")
    assert hit is not None and hit[0] == "gpt-3.5-turbo-0125"
