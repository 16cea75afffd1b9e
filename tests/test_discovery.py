"""Discovery that costs nothing: the cache keyed by listing, start-up listing only stale ones.

Counted on the emulator (real sockets): newcomer.md 7 (one ``llmorch ask`` made 17 requests) and
17 (two projects sharing the default cache marked each other's models deprecated).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch import AsyncLLMOrchestrator, ConfigurationError, ModelRegistry, OrchestratorConfig
from llmorch.cli import main
from llmorch.testing import ProviderEmulator, RecordedRequest
from tests.test_registry import FakeProvider

FIVE = ("openai", "anthropic", "gemini", "vertex", "bedrock")


def five_providers(emu: ProviderEmulator, active: str, **discovery: Any) -> dict[str, Any]:
    """A config with every dialect of the emulator, as newcomer 7 had it."""
    return {
        "active_provider": active,
        "active_model": emu.chat_models(active)[0],
        "providers": {name: emu.config_for(name) for name in FIVE},
        "cost_tracking": {"enabled": False},
        "model_discovery": {"cache_path": "models.json", **discovery},
    }


def listings(requests: list[RecordedRequest]) -> list[str]:
    """The dialects of the model-listing requests (every listing is a GET; chat is a POST)."""
    return [r.dialect for r in requests if r.method == "GET"]


def test_newcomer_7_ask_lists_only_the_provider_it_uses_and_nothing_when_fresh(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Five providers, empty cache: `ask` lists its own provider (every page), then nothing."""
    with ProviderEmulator() as emu:
        # Anthropic paginates (page size 2), so "one listing" spans several pages.
        config = five_providers(emu, "anthropic")
        Path("five.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        pages = math.ceil(len(emu.models("anthropic")) / 2)
        assert pages >= 2

        assert main(["ask", "-c", "five.yaml", "hi"]) == 0
        first = list(emu.requests)
        assert listings(first) == ["anthropic"] * pages  # one listing, however many pages
        assert [r.dialect for r in first if r.method == "POST"] == ["anthropic"]  # the call
        assert len(first) == pages + 1

        emu.clear()
        assert main(["ask", "-c", "five.yaml", "hi"]) == 0
        assert [(r.dialect, r.method) for r in emu.requests] == [("anthropic", "POST")]
    assert capsys.readouterr().out.count("You said: hi") == 2


def test_ask_with_refresh_on_start_false_lists_nothing() -> None:
    """refresh_on_start: false keeps its meaning for one-shot commands: no listing at all."""
    with ProviderEmulator() as emu:
        config = five_providers(emu, "openai", refresh_on_start=False)
        Path("five.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        assert main(["ask", "-c", "five.yaml", "hi"]) == 0
        assert [(r.dialect, r.method) for r in emu.requests] == [("openai", "POST")]


def test_newcomer_7_ask_survives_a_failing_listing(caplog: pytest.LogCaptureFixture) -> None:
    """A listing that fails is one WARNING; the call itself still goes out and answers."""
    with ProviderEmulator() as emu:
        config = five_providers(emu, "openai")
        config["providers"]["openai"]["base_url"] = emu.base_url + "/nowhere/v1"
        Path("five.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="llmorch.cli"):
            assert main(["ask", "-c", "five.yaml", "hi"]) == 1  # the chat call 404s too
        assert "model discovery failed for provider 'openai'" in caplog.text
        assert {r.dialect for r in emu.requests} == set()  # nothing reached a dialect


async def test_newcomer_7_start_up_lists_only_listings_older_than_max_age() -> None:
    """A second start within max_age (24 h by default) lists nothing; max_age 0 lists all."""
    async with ProviderEmulator() as emu:
        config = five_providers(emu, "openai")
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
            assert all(orch.registry.has_fetched(name) for name in FIVE)
        assert set(listings(emu.requests)) == set(FIVE)

        emu.clear()
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
            assert await orch.get_available_models("bedrock")  # from the cache
        assert emu.requests == []

        config["model_discovery"]["max_age"] = 0
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)):
            pass
        assert set(listings(emu.requests)) == set(FIVE)


async def test_start_up_relists_only_the_stale_listing() -> None:
    """With one listing aged past max_age, start-up lists that provider and no other."""
    async with ProviderEmulator() as emu:
        config = five_providers(emu, "openai", max_age="1h")
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)):
            pass
        data = json.loads(Path("models.json").read_text(encoding="utf-8"))
        key = next(k for k in data["providers"] if k.startswith("gemini "))
        old = datetime.now(timezone.utc) - timedelta(hours=2)
        data["providers"][key]["fetched_at"] = old.isoformat()
        Path("models.json").write_text(json.dumps(data), encoding="utf-8")

        emu.clear()
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)):
            pass
        assert set(listings(emu.requests)) == {"gemini"}


def _project(emu: ProviderEmulator) -> OrchestratorConfig:
    """A project with one `openai` provider and the default (machine-wide) cache path."""
    return OrchestratorConfig.from_dict(
        {
            "active_provider": "openai",
            "active_model": "gpt-4o-mini",
            "providers": {"openai": emu.config_for("openai")},
            "cost_tracking": {"enabled": False},
        }
    )


async def test_newcomer_17_projects_sharing_the_default_cache_keep_their_own_listings() -> None:
    """Project B's server lists a model A's does not: A never marks it deprecated, nor B later."""
    finetune = "my-finetune-server-model"
    async with ProviderEmulator() as server_a, ProviderEmulator() as server_b:
        server_b.script("openai", finetune, "tuned")
        project_a, project_b = _project(server_a), _project(server_b)
        assert project_a.model_discovery.cache_path == project_b.model_discovery.cache_path

        async with AsyncLLMOrchestrator(project_b) as orch:
            assert finetune in await orch.get_available_models("openai")
        async with AsyncLLMOrchestrator(project_a) as orch:
            assert not orch.registry.is_model_deprecated("openai", finetune)
            assert finetune not in await orch.get_available_models("openai")
        async with AsyncLLMOrchestrator(project_b) as orch:
            assert not orch.registry.is_model_deprecated("openai", finetune)
            assert finetune in await orch.get_available_models("openai")
        # Each project listed its own server once; B's second start used its fresh listing.
        assert len(listings(server_a.requests)) == 1
        assert len(listings(server_b.requests)) == 1


# -- listing keys ----------------------------------------------------------------------------


def _provider(name: str, **settings: Any) -> Any:
    config = OrchestratorConfig.from_dict(
        {"active_provider": name, "active_model": "m", "providers": {name: settings}}
    )
    return config.providers[name]


def test_listing_key_names_type_and_endpoint_and_never_a_secret() -> None:
    """Type, endpoint, region and project identify a listing; userinfo and queries are dropped."""
    from llmorch.registry import listing_key

    plain = listing_key(_provider("openai", api_key="sk-one"))
    assert plain == "openai"
    assert plain == listing_key(_provider("openai", api_key="sk-two"))  # same listing
    proxied = listing_key(
        _provider("openai", base_url="https://user:hunter2@proxy.example/v1/", api_key="sk-x")
    )
    assert proxied == "openai base_url=https://proxy.example/v1"
    assert "hunter2" not in proxied and "sk-x" not in proxied
    east = listing_key(_provider("bedrock", region_name="us-east-1", aws_secret_access_key="s"))
    west = listing_key(_provider("bedrock", region_name="us-west-2"))
    assert east == "bedrock region_name=us-east-1" and east != west
    vertex = listing_key(_provider("vertex", project_id="p1"))
    assert vertex == "vertex project_id=p1 location=us-central1"


async def test_names_sharing_a_listing_are_listed_once(tmp_path: Path) -> None:
    """Two names for one endpoint share one listing: one request, each name sees the models."""
    shared = FakeProvider("a", ["m1", "m2"])
    registry = ModelRegistry(
        {"a": shared, "b": shared},
        cache_path=tmp_path / "models.json",
        listing_keys={"a": "openai", "b": "openai"},
    )
    await registry.refresh_models()
    assert shared.list_calls == 1
    assert [m.provider for m in registry.get_available_models("b")] == ["b", "b"]
    assert registry.is_fresh("a", 60) and registry.is_fresh("b", math.inf)
    data = json.loads((tmp_path / "models.json").read_text(encoding="utf-8"))
    assert list(data["providers"]) == ["openai"]

    again = ModelRegistry(
        {"b": shared}, cache_path=tmp_path / "models.json", listing_keys={"b": "openai"}
    )
    await again.refresh_models(older_than=60)
    assert shared.list_calls == 1  # fresh on disk: not listed again
    assert [m.name for m in again.get_available_models("b")] == ["m1", "m2"]


async def test_a_version_1_cache_is_replaced_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache keyed by provider name (version 1) is dropped at INFO, not read as anyone's."""
    cache = tmp_path / "models.json"
    stale = {
        "fetched_at": None,
        "models": {"gone": {"first_seen": "2024-01-01", "last_seen": "2024-01-01"}},
    }
    cache.write_text(json.dumps({"version": 1, "providers": {"p": stale}}), encoding="utf-8")
    registry = ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache)
    with caplog.at_level(logging.INFO, logger="llmorch.registry"):
        await registry.refresh_models()
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "older llmorch" in caplog.text
    assert [m.name for m in registry.get_available_models("p", include_deprecated=True)] == ["m"]
    assert json.loads(cache.read_text(encoding="utf-8"))["version"] == 2


def test_is_fresh_needs_a_fetch_time() -> None:
    """A listing loaded without fetched_at is known (has_fetched) but never fresh."""
    registry = ModelRegistry({"p": FakeProvider("p")})
    assert not registry.is_fresh("p", math.inf)
    registry._merge("p", [])
    registry._cache["p"].fetched_at = None
    assert registry.is_fresh("p", math.inf) and not registry.is_fresh("p", 10**9)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 86400.0),
        (90, 90.0),
        ("90", 90.0),
        ("45s", 45.0),
        ("30m", 1800.0),
        ("1.5h", 5400.0),
        ("24H", 86400.0),
        ("7d", 604800.0),
        (0, 0.0),
    ],
)
def test_max_age_takes_seconds_or_a_duration(value: Any, seconds: float) -> None:
    """model_discovery.max_age: seconds, or a duration with s/m/h/d; 24 h by default."""
    discovery = {} if value is None else {"max_age": value}
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "openai",
            "active_model": "m",
            "providers": {"openai": {}},
            "model_discovery": discovery,
        }
    )
    assert config.model_discovery.max_age == seconds


@pytest.mark.parametrize("value", ["soon", "-5m", "1w", -1])
def test_max_age_refuses_what_is_not_a_duration(value: Any) -> None:
    """An unreadable or negative max_age is a ConfigurationError naming the key."""
    with pytest.raises(ConfigurationError, match=r"model_discovery\.max_age"):
        OrchestratorConfig.from_dict(
            {
                "active_provider": "openai",
                "active_model": "m",
                "providers": {"openai": {}},
                "model_discovery": {"max_age": value},
            }
        )
