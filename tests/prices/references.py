"""Read the two price references (test-only data) into llmorch's terms.

- LiteLLM's bundled ``model_prices_and_context_window_backup.json``, found inside the installed
  ``litellm`` package without importing it (the ``prices`` nox session installs it without its
  dependencies, and sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so nothing would be fetched).
- genai-prices' bundled snapshot, read through its own model matching.

Both answer "what does this reference charge, per million tokens, for each token kind of this
model (optionally in a service tier)?" as ``{field: rate}`` with llmorch's field names; a kind
the reference does not list is absent.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

AT = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
"""The day genai-prices' date-dependent prices are evaluated at (the table's date)."""

Rates = dict[str, float]

_LITELLM_FIELDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
}
_LITELLM_TIER = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")
_GENAI_FIELDS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
    "cache_write_1h": "cache_write_1h_mtok",
}
_GENAI_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex": "google",
    "bedrock": "aws",
}


def litellm_map_path() -> Path | None:
    """The installed LiteLLM's bundled cost map, or ``None`` when LiteLLM is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)))
    path /= "model_prices_and_context_window_backup.json"
    return path if path.is_file() else None


@cache
def _litellm_map() -> dict[str, Any]:
    path = litellm_map_path()
    assert path is not None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def litellm_ids(kind: str, model: str) -> list[str]:
    """The LiteLLM keys that may name ``model`` of provider type ``kind``, best first."""
    if kind == "gemini":
        return [f"gemini/{model}"]
    if kind == "vertex":
        bare = model.replace("@", "-") if model.startswith("claude") else model
        return [f"vertex_ai/{model}", model if model.startswith("gemini") else bare]
    if kind == "bedrock":
        return [model, f"bedrock/{model}"]
    return [model]


def litellm_rates(kind: str, model: str, tier: str | None = None) -> tuple[str, Rates] | None:
    """LiteLLM's rates for ``model`` (first matching key), with the key used."""
    data = _litellm_map()
    for key in litellm_ids(kind, model):
        entry = data.get(key)
        if not isinstance(entry, Mapping) or "input_cost_per_token" not in entry:
            continue
        if kind == "vertex" and key == model and "vertex" not in str(entry.get("litellm_provider")):
            continue
        return key, _litellm_entry_rates(entry, tier)
    return None


def _litellm_entry_rates(entry: Mapping[str, Any], tier: str | None) -> Rates:
    suffix = f"_{tier}" if tier else ""
    rates: Rates = {}
    thresholds = sorted(int(m.group(1)) * 1000 for key in entry if (m := _LITELLM_TIER.match(key)))
    for name, field in _LITELLM_FIELDS.items():
        value = entry.get(field + suffix)
        if isinstance(value, (int, float)):
            rates[name] = float(value) * 1e6
    if tier and not rates:
        return {}
    if thresholds:
        threshold = thresholds[0]
        k = f"above_{threshold // 1000}k_tokens"
        long_fields = {
            "input_long": f"input_cost_per_token_{k}",
            "output_long": f"output_cost_per_token_{k}",
            "cache_read_long": f"cache_read_input_token_cost_{k}",
            "cache_write_long": f"cache_creation_input_token_cost_{k}",
            "cache_write_1h_long": f"cache_creation_input_token_cost_above_1hr_{k}",
        }
        for name, field in long_fields.items():
            value = entry.get(field + suffix)
            if isinstance(value, (int, float)):
                rates[name] = float(value) * 1e6
                rates["long_context_threshold"] = float(threshold)
    return rates


def litellm_retired(kind: str, model: str) -> str | None:
    """LiteLLM's ``deprecation_date`` for ``model``, if any."""
    data = _litellm_map()
    for key in litellm_ids(kind, model):
        entry = data.get(key)
        if isinstance(entry, Mapping) and entry.get("deprecation_date"):
            return str(entry["deprecation_date"])
    return None


def _genai_model(kind: str, model: str) -> Any | None:
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(
            model, None, _GENAI_PROVIDER[kind], None
        )
    except LookupError:
        return None
    return info


def _genai_value(value: Any, prompt: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    price = value.base
    for tier in value.tiers:
        if prompt > tier.start:
            price = tier.price
    return float(price)


def _genai_threshold(price: Any) -> float | None:
    starts = [
        tier.start
        for field in _GENAI_FIELDS.values()
        if (value := getattr(price, field, None)) is not None and not isinstance(value, Decimal)
        for tier in value.tiers
    ]
    return float(min(starts)) if starts else None


def genai_rates(kind: str, model: str, tier: str | None = None) -> tuple[str, Rates] | None:
    """genai-prices' rates for ``model`` at :data:`AT`, with the id of the model matched."""
    info = _genai_model(kind, model)
    if info is None:
        return None
    context = {"service_tier": tier} if tier else None
    price = info.get_prices(AT, context)
    if tier and not any(
        variant.when.get("service_tier") == tier for variant in info.price_variants or ()
    ):
        return info.id, {}
    rates: Rates = {}
    threshold = _genai_threshold(price)
    for name, field in _GENAI_FIELDS.items():
        value = _genai_value(getattr(price, field, None), 1)
        if value is not None:
            rates[name] = value
        if threshold is not None:
            long = _genai_value(getattr(price, field, None), int(threshold) * 2)
            if long is not None:
                rates[name + "_long"] = long
    if threshold is not None:
        rates["long_context_threshold"] = threshold
    return info.id, rates


def genai_retired(kind: str, model: str) -> bool:
    """Whether genai-prices marks ``model`` deprecated (shut down)."""
    info = _genai_model(kind, model)
    return bool(info is not None and info.deprecated)
