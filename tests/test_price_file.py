"""``pricing_file:``: a user's price file laid over the shipped table (issue 12, "Prices")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch import AsyncLLMOrchestrator, ConfigurationError, OrchestratorConfig
from llmorch.config import ConfigManager
from llmorch.costs import CostTracker
from llmorch.pricing import DEFAULT_PRICES, load_price_file

M = {"prompt": 1_000_000, "completion": 1_000_000}
BASE: dict[str, Any] = {
    "active_provider": "openai",
    "active_model": "gpt-5",
    "providers": {"openai": {"api_key": "k"}, "work": {"type": "openai", "api_key": "k"}},
    "cost_tracking": {"enabled": False},
    "model_discovery": {"refresh_on_start": False, "cache_path": None},
}


def _write(path: Path, data: Any) -> Path:
    text = json.dumps(data) if path.suffix == ".json" else _yaml(data)
    path.write_text(text, encoding="utf-8")
    return path


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data)


@pytest.mark.parametrize("name", ["prices.yaml", "prices.json"])
def test_price_file_overrides_the_shipped_table(tmp_path: Path, name: str) -> None:
    """Entries of the file replace or add to the table; the rest of the table stays."""
    path = _write(
        tmp_path / name,
        {
            "openai": {
                "gpt-5": {
                    "input": 1.0,
                    "output": 2.0,
                    "as_of": "2026-12-02",
                    "snapshots": ["2025-08-07"],
                },
                "my-model": {
                    "input": 3.0,
                    "output": 4.0,
                    "service_tiers": {"flex": {"input": 1, "output": 1}},
                },
            }
        },
    )
    config = OrchestratorConfig.from_dict({**BASE, "pricing_file": str(path)})
    table = config.price_table()
    assert table["openai"]["gpt-5"].input == 1.0
    assert table["openai"]["my-model"].service_tiers["flex"].input == 1.0
    assert table["openai"]["gpt-4o"] == DEFAULT_PRICES["openai"]["gpt-4o"]
    assert table["anthropic"] == DEFAULT_PRICES["anthropic"]
    t = CostTracker(enabled=False, log_path=None, prices=table)
    assert t.price("openai", "gpt-5-2025-08-07", M) == (pytest.approx(3.0), "2026-12-02", True)
    assert t.price("openai", "my-model", M)[0] == pytest.approx(7.0)


async def test_pricing_in_the_config_wins_over_the_file(tmp_path: Path) -> None:
    """``pricing:`` beats the price file, which beats the shipped table; read once at start."""
    path = _write(tmp_path / "p.yaml", {"openai": {"gpt-5": {"input": 1.0, "output": 2.0}}})
    (tmp_path / "config.yaml").write_text(
        _yaml(
            {
                **BASE,
                "pricing_file": "p.yaml",
                "pricing": {"work": {"gpt-5": {"input": 9, "output": 9}}},
            }
        ),
        encoding="utf-8",
    )
    config = ConfigManager.load_config(tmp_path / "config.yaml")  # relative to the config file
    async with AsyncLLMOrchestrator(config) as orch:
        path.write_text("openai: {gpt-5: {input: 100, output: 100}}", encoding="utf-8")  # no reload
        assert orch.cost_tracker.price("openai", "gpt-5", M)[:2] == (
            pytest.approx(3.0),
            "2026-12-01",
        )
        assert orch.cost_tracker.price("work", "gpt-5", M)[:2] == (pytest.approx(18.0), "override")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"openai": {"gpt-5": {"input": "cheap", "output": 1}}},
            "openai.gpt-5.input must be a number",
        ),
        ({"openai": {"gpt-5": {"output": 1}}}, "openai.gpt-5 needs 'input'"),
        (
            {"openai": {"gpt-5": {"input": 1, "output": 1, "inptu": 2}}},
            "openai.gpt-5.inptu is not a price field",
        ),
        (
            {"openai": {"gpt-5": {"input": -1, "output": 1}}},
            "openai.gpt-5.input must be a number >= 0",
        ),
        (
            {"openai": {"gpt-5": {"input": 1, "output": 1, "snapshots": "x"}}},
            "snapshots must be a list",
        ),
        (
            {"openai": {"gpt-5": {"input": 1, "output": 1, "retired": 5}}},
            "retired must be a string",
        ),
        (
            {"openai": {"m": {"input": 1, "output": 1, "service_tiers": {"flex": {"input": 1}}}}},
            "openai.m.service_tiers.flex needs 'output'",
        ),
        (
            {"openai": {"m": {"input": 1, "output": 1, "service_tiers": []}}},
            "service_tiers must be a mapping",
        ),
        ({"openai": ["gpt-5"]}, "openai: expected a mapping of model id"),
        (["openai"], "expected a mapping of provider type"),
    ],
)
def test_bad_price_file_names_the_file_and_the_key(
    tmp_path: Path, content: Any, message: str
) -> None:
    """Every error is a ConfigurationError naming the file and the key path, at load time."""
    path = _write(tmp_path / "prices.yaml", content)
    with pytest.raises(ConfigurationError) as caught:
        OrchestratorConfig.from_dict({**BASE, "pricing_file": str(path)})
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_unreadable_price_files(tmp_path: Path) -> None:
    """A missing file, bad JSON or bad YAML is one ConfigurationError naming the file."""
    with pytest.raises(ConfigurationError, match="pricing file not found"):
        load_price_file(tmp_path / "none.yaml")
    bad_json = tmp_path / "p.json"
    bad_json.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"p\.json: not valid JSON/YAML"):
        load_price_file(bad_json)
    bad_yaml = tmp_path / "p.yaml"
    bad_yaml.write_text("a: [", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"p\.yaml: not valid"):
        load_price_file(bad_yaml)
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_price_file(folder)


def test_override_objects_with_attributes_still_work() -> None:
    """An override given as an object (not a mapping) is read by attribute."""

    class Price:
        input = 1.0
        output = 2.0

    t = CostTracker(enabled=False, log_path=None, pricing={"openai": {"x": Price()}})
    assert t.price("openai", "x", M)[0] == pytest.approx(3.0)
