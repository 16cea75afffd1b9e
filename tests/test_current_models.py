"""Issue 12, "current models everywhere we name one": config.yaml, the demo and the emulator's
default model lists name no model the price references retire, and the price table is to carry
every one of them (see ``tests/current_models.py`` for the lists and their sources)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmorch.demo import _config as demo_config
from llmorch.pricing import DEFAULT_PRICES, resolve_price
from llmorch.testing import ProviderEmulator
from llmorch.testing._anthropic import AnthropicDialect
from llmorch.testing._bedrock import BedrockDialect
from llmorch.testing._dialect import Dialect
from llmorch.testing._gemini import GeminiDialect
from llmorch.testing._openai import OpenAIDialect
from llmorch.testing._vertex import VertexDialect, _VertexClaude
from tests.current_models import DEFAULTS, EXPECTED_PRICED, PRICES, RETIRED

REPO = Path(__file__).parent.parent
DIALECTS: tuple[type[Dialect], ...] = (
    OpenAIDialect,
    AnthropicDialect,
    GeminiDialect,
    VertexDialect,
    _VertexClaude,
    BedrockDialect,
)
CONFIGS = ("config.yaml", "examples/config.dev.yaml", "examples/config.prod.yaml")


def config_yaml_models(name: str = "config.yaml") -> set[tuple[str, str]]:
    """``(provider type, model)`` for the active model and every fallback in a config file."""
    data = yaml.safe_load((REPO / name).read_text())
    types = {name: (entry or {}).get("type", name) for name, entry in data["providers"].items()}
    named = {(types[data["active_provider"]], data["active_model"])}
    for name, entry in data["providers"].items():
        named |= {(types[name], m) for m in (entry or {}).get("fallback_models", [])}
    return named


def demo_models() -> set[tuple[str, str]]:
    """The demo's active model and each configured provider's fallbacks."""
    with ProviderEmulator() as emu:
        data = demo_config(emu, Path("ledger"))
    named = {(data["active_provider"], data["active_model"])}
    for entry in data["providers"].values():
        named |= {(entry["type"], m) for m in entry.get("fallback_models", [])}
    return named


def emulator_chat_models() -> set[tuple[str, str]]:
    """Every dialect's chat models (what ``config_for`` and ``chat_models()`` hand out)."""
    return {(d.name, m) for d in DIALECTS for m in d.chat_models}


def emulator_listed_models() -> set[tuple[str, str]]:
    """Everything a dialect serves and lists by default (chat or not)."""
    return {(d.name, m) for d in DIALECTS for m in d.default_models}


def retired(provider: str, model: str) -> str | None:
    """Why ``model`` is retired: the id itself, or the table entry it is priced as, is listed."""
    if (provider, model) in RETIRED:
        return RETIRED[provider, model]
    resolved = resolve_price(DEFAULT_PRICES[provider], model)
    return RETIRED.get((provider, resolved[0])) if resolved else None


def test_issue12_config_demo_and_emulator_name_no_retired_model() -> None:
    """No id in config.yaml (or the examples' configs), the demo or the emulator's default lists
    is retired. On a141999 claude-sonnet-4-5, gemini-2.5-flash / -pro, gemini-2.0-flash, o3-mini
    and the Claude 3.5 Haiku / Sonnet 4 ids were all named."""
    named = demo_models() | emulator_listed_models()
    named = named.union(*(config_yaml_models(name) for name in CONFIGS))
    found = {f"{p}/{m}": why for p, m in sorted(named) if (why := retired(p, m))}
    assert {} == found


def test_issue12_every_chat_model_we_name_is_one_the_price_table_is_to_carry() -> None:
    """The chat models handed out as defaults or fallbacks are all in the expected-priced list,
    and the defaults chosen per provider lead config.yaml's and the emulator's chains."""
    named = demo_models() | emulator_chat_models()
    named = named.union(*(config_yaml_models(name) for name in CONFIGS))
    assert set() == named - EXPECTED_PRICED
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    chains = {name: entry["fallback_models"] for name, entry in data["providers"].items()}
    chains["openai"] = [data["active_model"], *chains["openai"]]  # the active provider
    for provider, (default, fallback) in DEFAULTS.items():
        assert [default, fallback] == chains[provider][:2]
        dialect = next(d for d in DIALECTS if d.name == provider)
        assert (default, fallback) == dialect.chat_models[:2]


@pytest.mark.parametrize(("provider", "model"), sorted(EXPECTED_PRICED))
def test_issue12_expected_ids_are_priced_at_the_references_rates(provider: str, model: str) -> None:
    """Each expected id is priced by the table at the references' input and output rates (within
    1 %)."""
    resolved = resolve_price(DEFAULT_PRICES[provider], model)
    assert resolved is not None, f"{provider}/{model} is not priced"
    price = resolved[1]
    reference = PRICES.get(provider, {}).get(model)
    assert price.input > 0 and price.output > 0
    if reference is not None:
        assert price.input == pytest.approx(reference["input"], rel=0.01)
        assert price.output == pytest.approx(reference["output"], rel=0.01)
