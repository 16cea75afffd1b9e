from __future__ import annotations

import re

import pytest

from llmorch.costs import CostTracker, compute_cost
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


# --- issue 12: review 9 and 10, prices.md --------------------------------------------------------

M = {"prompt": 1_000_000, "completion": 1_000_000}


def _tracker() -> CostTracker:
    return CostTracker(
        enabled=False, log_path=None, provider_types={"vertex": "vertex", "bedrock": "bedrock"}
    )


def test_review_9_gpt_4o_2024_05_13_priced_at_its_own_list_price() -> None:
    """The first GPT-4o snapshot costs $5 / $15 with no cache discount, not the alias price."""
    t = _tracker()
    cost, _, priced = t.price("openai", "gpt-4o-2024-05-13", M)
    assert (cost, priced) == (pytest.approx(20.0), True)
    cached = {"prompt": 1_000_000, "completion": 0, "cache_read": 1_000_000}
    assert t.price("openai", "gpt-4o-2024-05-13", cached)[0] == pytest.approx(5.0)
    # A snapshot the alias lists as same-priced still resolves onto it.
    assert t.price("openai", "gpt-4o-2024-08-06", M)[0] == pytest.approx(12.5)


def test_review_9_unlisted_snapshot_never_falls_onto_a_differently_priced_alias() -> None:
    """A dated id the alias does not list as same-priced is unpriced, never the alias price."""
    t = _tracker()
    for model in ("gpt-3.5-turbo-1106", "gpt-4o-2099-01-01", "claude-sonnet-4-5-20991231"):
        kind = "anthropic" if model.startswith("claude") else "openai"
        assert t.price(kind, model, M) == (0.0, None, False), model
    assert resolve_price({"gpt-4o": P}, "gpt-4o-2024-08-06") is None


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5@20250929",
        "publishers/anthropic/models/claude-sonnet-4-5@20250929",
        "projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929",
        "claude-sonnet-4-5",
    ],
)
def test_review_10_claude_on_vertex_is_priced_at_anthropics_prices(model: str) -> None:
    """Claude served by a vertex provider costs what the Anthropic table says."""
    cost, as_of, priced = _tracker().price("vertex", model, M)
    assert (cost, as_of, priced) == (pytest.approx(18.0), PRICING_AS_OF, True)


def test_review_10_every_anthropic_model_is_priced_on_vertex() -> None:
    """The vertex table carries every Anthropic entry, at the same rates."""
    for key, price in DEFAULT_PRICES["anthropic"].items():
        assert key in DEFAULT_PRICES["vertex"], key
        on_vertex = DEFAULT_PRICES["vertex"][key]
        assert (on_vertex.input, on_vertex.output, on_vertex.cache_read) == (
            price.input,
            price.output,
            price.cache_read,
        )
    opus = _tracker().price("vertex", "claude-opus-4-6@default", M)
    assert opus[0] == pytest.approx(30.0)


def test_prices_1_gemini_cache_reads_at_the_caching_rate() -> None:
    """Cached Gemini tokens cost the context-caching rate (a tenth), not the input price."""
    t = _tracker()
    tokens = {"prompt": 12_000, "completion": 900, "cache_read": 8_000}
    # 4k * 0.30 + 8k * 0.03 + 900 * 2.50, per million (genai-prices' calc_price: $0.00369).
    assert t.price("gemini", "gemini-2.5-flash", tokens)[0] == pytest.approx(0.00369)
    assert t.price("vertex", "gemini-2.5-flash", tokens)[0] == pytest.approx(0.00369)
    for kind in ("gemini", "vertex"):
        for key, price in DEFAULT_PRICES[kind].items():
            if key.startswith("gemini") and key != "gemini-2.0-flash-lite":
                assert price.cache_read is not None and price.cache_read < price.input, key
    big = {"prompt": 260_000, "completion": 900, "cache_read": 60_000}
    # Above 200k every rate is long: 200k * 4 + 60k * 0.40 + 900 * 18.
    assert t.price("gemini", "gemini-3.1-pro-preview", big)[0] == pytest.approx(0.8402)


def test_prices_2_bedrock_geographic_claude_costs_ten_percent_over_global() -> None:
    """us./eu./apac. profiles (and the in-Region id) of Claude >= 4.5 cost 1.1x global."""
    t = _tracker()
    base = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert t.price("bedrock", f"global.{base}", M)[0] == pytest.approx(18.0)
    for prefix in ("us.", "eu.", "apac.", "jp.", "au.", ""):
        assert t.price("bedrock", prefix + base, M)[0] == pytest.approx(19.8), prefix
    arn = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{base}"
    assert t.price("bedrock", arn, M)[0] == pytest.approx(19.8)
    # 12k in with 8k cached (5-minute writes none), 900 out, as in prices.md: $0.0307.
    tokens = {"prompt": 12_000, "completion": 900, "cache_read": 8_000}
    assert t.price("bedrock", f"us.{base}", tokens)[0] == pytest.approx(0.030690)
    # Older models' profiles keep the base price.
    nova = t.price("bedrock", "eu.amazon.nova-pro-v1:0", M)[0]
    assert nova == t.price("bedrock", "amazon.nova-pro-v1:0", M)[0] == pytest.approx(4.0)


def test_prices_2_govcloud_priced_where_listed_else_unpriced() -> None:
    """us-gov. costs 1.2x where AWS lists the model there; elsewhere it is never guessed."""
    t = _tracker()
    gov = t.price("bedrock", "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", M)
    assert gov[0] == pytest.approx(21.6)
    assert t.price("bedrock", "us-gov.anthropic.claude-opus-4-7", M) == (0.0, None, False)
    assert t.price("bedrock", "xx.anthropic.claude-opus-4-7", M) == (0.0, None, False)


def test_prices_3_sonnet_5_5_cache_reads_cost_ten_cents() -> None:
    """Sonnet 5.5 cache hits are $0.10 per million since the 2026-10-07 cut."""
    assert DEFAULT_PRICES["anthropic"]["claude-sonnet-5-5"].cache_read == 0.10
    tokens = {"prompt": 12_000, "completion": 900, "cache_read": 8_000}
    cost = _tracker().price("anthropic", "claude-sonnet-5-5", tokens)[0]
    assert cost == pytest.approx(0.0178)


def test_prices_fine_tuned_ids_never_get_the_base_models_price() -> None:
    """ft:… ids are unpriced unless the table names them exactly."""
    for model in ("ft:gpt-4o-mini-2024-07-18:org::abc123", "ft:gpt-4o:org:custom:9"):
        assert resolve_price(DEFAULT_PRICES["openai"], model) is None
    assert resolve_price({"ft:gpt-4o:o::1": P}, "ft:gpt-4o:o::1") == ("ft:gpt-4o:o::1", P)


def test_prices_current_models_of_every_provider_are_listed() -> None:
    """The models prices.md found missing are in the table."""
    wanted = {
        "openai": ["gpt-5.1", "gpt-5.2-pro", "gpt-5.4-mini", "gpt-5.5", "gpt-5.6-sol", "o3-pro"],
        "anthropic": ["claude-opus-5-5", "claude-haiku-5-5", "claude-fable-5", "claude-mythos-5"],
        "gemini": ["gemini-3-flash-preview", "gemini-3.5-flash", "gemini-3.8-flash"],
        "vertex": ["gemini-3.1-pro-preview", "gemini-4-argon", "claude-opus-5-5"],
        "bedrock": [
            "amazon.nova-premier-v1:0",
            "amazon.nova-2-lite-v1:0",
            "anthropic.claude-sonnet-5-5",
        ],
    }
    for kind, models in wanted.items():
        for model in models:
            assert model in DEFAULT_PRICES[kind], (kind, model)
    assert resolve_price(DEFAULT_PRICES["bedrock"], "anthropic.claude-opus-4-7-v1:0") is not None


def test_prices_every_entry_has_a_source_and_a_date() -> None:
    """Each entry says where its price comes from and when it was checked."""
    for kind, table in DEFAULT_PRICES.items():
        for key, price in table.items():
            assert price.source and price.source.startswith("https://"), (kind, key)
            assert price.as_of and re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.as_of), (kind, key)
            if price.retired is not None:
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.retired), (kind, key)


def test_prices_retired_models_stay_and_are_marked() -> None:
    """Retired models still price (old ledgers), and say so."""
    t = _tracker()
    for kind, model in [
        ("openai", "gpt-4"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gemini", "gemini-2.5-pro"),
    ]:
        assert DEFAULT_PRICES[kind][model].retired is not None
        assert t.price(kind, model, M)[2]
    assert DEFAULT_PRICES["anthropic"]["claude-sonnet-5-5"].retired is None


def test_prices_cache_writes_by_ttl_and_long_context_tiers() -> None:
    """5-minute and 1-hour writes at their own rates; above the threshold every rate is long."""
    price = DEFAULT_PRICES["anthropic"]["claude-haiku-5-5"]
    short = {"prompt": 50_000, "completion": 0, "cache_write": 30_000, "cache_write_1h": 10_000}
    # 20k input * 0.1 + 20k 5m * 0.125 + 10k 1h * 0.2
    assert compute_cost(price, short) == pytest.approx((2000 + 2500 + 2000) / 1e6)
    long = {
        "prompt": 150_000,
        "completion": 1_000,
        "cache_read": 50_000,
        "cache_write": 40_000,
        "cache_write_1h": 10_000,
    }
    # x5 above 100k: 60k * 0.5 + 50k * 0.05 + 30k * 0.625 + 10k * 1.0 + 1k * 2.5
    expected = (30_000 + 2_500 + 18_750 + 10_000 + 2_500) / 1e6
    assert compute_cost(price, long) == pytest.approx(expected)


def test_prices_gpt_5_6_cache_writes_are_billed() -> None:
    """GPT-5.6 and GPT-6 charge for cache writes, doubling above 272k prompt tokens."""
    price = DEFAULT_PRICES["openai"]["gpt-5.6-sol"]
    assert compute_cost(
        price, {"prompt": 1_000_000, "completion": 0, "cache_write": 1_000_000}
    ) == (pytest.approx(price.cache_write_long))
    small = {"prompt": 100_000, "completion": 0, "cache_write": 100_000}
    assert compute_cost(price, small) == pytest.approx(0.5)


def test_prices_model_counts_per_provider() -> None:
    """The table's size per provider type (reported in the issue's closing note)."""
    counts = {kind: len(table) for kind, table in DEFAULT_PRICES.items()}
    assert counts["openai"] >= 50 and counts["anthropic"] >= 25 and counts["bedrock"] >= 35
    assert counts["gemini"] >= 14 and counts["vertex"] >= 45
