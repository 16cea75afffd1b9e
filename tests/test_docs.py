"""The documentation stays true: runnable blocks run, every config key and public name is there.

A code block is *runnable* when the line before its opening fence is ``<!-- runnable -->``:

- a ``python`` block is executed against the provider emulator, in a fresh directory holding a
  ``config.yaml`` that points every provider at the emulator (blocks read it as users would).
  A block with top-level ``await`` / ``async with`` runs under ``asyncio.run``.
- a ``yaml`` block must be a whole configuration that validates.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch import OrchestratorConfig
from llmorch.config import (
    AnthropicConfig,
    BedrockConfig,
    BudgetConfig,
    CostTrackingConfig,
    CustomProviderConfig,
    GeminiConfig,
    ModelDiscoveryConfig,
    ModelPrice,
    OpenAIConfig,
    VertexConfig,
)
from llmorch.testing import ProviderEmulator

DOCS = Path(__file__).parent.parent / "docs"
MARKER = "<!-- runnable -->"
_BLOCK = re.compile(
    r"^<!-- runnable -->\n```(?P<lang>\w+)[^\n]*\n(?P<code>.*?)^```\s*$", re.MULTILINE | re.DOTALL
)
# Variables the YAML examples reference; set so that the active provider's resolve.
_ENV = {
    "OPENAI_API_KEY": "sk-docs",
    "ANTHROPIC_API_KEY": "sk-ant-docs",
    "GEMINI_API_KEY": "docs-key",
    "AWS_BEARER_TOKEN_BEDROCK": "docs-bedrock-key",
}


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _pages() -> Iterator[Path]:
    yield from sorted(DOCS.rglob("*.md"))


def _blocks() -> list[Block]:
    blocks = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            rel = str(page.relative_to(DOCS))
            blocks.append(Block(rel, line, match["lang"], match["code"]))
    return blocks


BLOCKS = _blocks()


def test_every_marker_belongs_to_a_block() -> None:
    """A marker that is not right above a fence would silently test nothing."""
    markers = sum(page.read_text(encoding="utf-8").count(MARKER) for page in _pages())
    assert markers == len(BLOCKS)
    assert {b.lang for b in BLOCKS} <= {"python", "yaml"}
    assert sum(b.lang == "python" for b in BLOCKS) >= 10


@pytest.fixture(scope="module")
def emulator() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emu:
        yield emu


def _config(emu: ProviderEmulator) -> dict[str, Any]:
    return {
        "active_provider": "openai",
        "active_model": "gpt-4o-mini",
        "providers": {name: emu.config_for(name) for name in emu.dialects},
        "cost_tracking": {"enabled": True, "log_path": "./llm_costs.log"},
    }


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.id)
def test_python_block_runs(
    block: Block, emulator: ProviderEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each runnable Python block runs to the end against the emulator."""
    emulator.clear()
    for name in (*_ENV, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config(emulator), sort_keys=False))
    code = compile(
        block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "yaml"], ids=lambda b: b.id)
def test_yaml_block_validates(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each runnable YAML block is a whole configuration that validates."""
    for name, value in _ENV.items():
        monkeypatch.setenv(name, value)
    OrchestratorConfig.from_dict(yaml.safe_load(block.code), source=block.id)


# --------------------------------------------------------------------------- config reference

_PROVIDER_MODELS = (
    OpenAIConfig,
    AnthropicConfig,
    GeminiConfig,
    VertexConfig,
    BedrockConfig,
    CustomProviderConfig,
)


def _keys(model: type[Any], prefix: str) -> set[str]:
    return {prefix + name for name, field in model.model_fields.items() if not field.exclude}


def _all_config_keys() -> set[str]:
    keys = _keys(OrchestratorConfig, "")
    for model in _PROVIDER_MODELS:
        keys |= _keys(model, "providers.<name>.")
    keys |= _keys(CostTrackingConfig, "cost_tracking.")
    keys |= _keys(BudgetConfig, "budgets.")
    keys |= _keys(ModelDiscoveryConfig, "model_discovery.")
    keys |= _keys(ModelPrice, "pricing.<provider>.<model>.")
    return keys


def _reference_rows() -> set[str]:
    """The keys the configuration page documents: the first cell of each table row."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9_<>.]+)` \|", text, re.MULTILINE))


def test_configuration_page_documents_every_key() -> None:
    """Walks the pydantic models: each key has a row on the configuration page."""
    missing = _all_config_keys() - _reference_rows()
    assert not missing, f"undocumented config keys: {sorted(missing)}"


def test_configuration_page_documents_no_stale_key() -> None:
    """Every row of the configuration page is a key the models accept."""
    stale = _reference_rows() - _all_config_keys()
    assert not stale, f"documented keys that do not exist: {sorted(stale)}"


# --------------------------------------------------------------------------- API reference


def _api_reference() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").glob("*.md"))


def test_api_reference_covers_every_public_name() -> None:
    """Every name in ``llmorch.__all__`` and ``llmorch.testing.__all__`` has an API entry."""
    reference = _api_reference()
    documented = set(re.findall(r"^::: ([\w.]+)", reference, re.MULTILINE))
    if "llmorch.exceptions" in documented:
        import llmorch.exceptions

        documented |= {f"llmorch.{n}" for n in llmorch.exceptions.__all__}
    expected = {f"llmorch.{n}" for n in llmorch.__all__ if n != "__version__"}
    expected |= {f"llmorch.testing.{n}" for n in llmorch.testing.__all__}
    missing = expected - documented
    assert not missing, f"public names missing from docs/reference: {sorted(missing)}"


# --------------------------------------------------------------------------- performance page


def _hooks() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_performance_page_takes_the_benchmark_table(tmp_path: Path) -> None:
    """The build hook puts ``benchmarks/results/latest.json``'s table into the page."""
    hooks = _hooks()
    assert hooks.MARKER in (DOCS / "performance.md").read_text(encoding="utf-8")
    missing = hooks.benchmark_markdown(tmp_path / "latest.json")
    assert "python -m benchmarks" in missing
    results = {
        "table": "| client | ms |\n|---|---|\n| llmorch | 0.3 |\n\nserver floor: 0.1 ms",
        "machine": {"python": "3.13.0", "cpus": 8},
    }
    (tmp_path / "latest.json").write_text(json.dumps(results))
    page = hooks.on_page_markdown(
        f"# Performance\n\n{hooks.MARKER}\n",
        page=None,
        config={"config_file_path": str(tmp_path / "project" / "mkdocs.yml")},
    )
    assert hooks.MARKER not in page
    rendered = hooks.benchmark_markdown(tmp_path / "latest.json")
    assert "| llmorch | 0.3 |" in rendered
    assert "- server floor: 0.1 ms" in rendered
    assert "python 3.13.0" in rendered


# --------------------------------------------------------------------------- capability page


def _capability_renderer() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_capabilities", DOCS / "_capabilities.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_capability_page_matches_the_data() -> None:
    """docs/capabilities.md holds the table as rendered from capabilities.yaml now.

    When this fails, the data changed: run ``python docs/_capabilities.py`` and commit the page.
    """
    renderer = _capability_renderer()
    page = (DOCS / "capabilities.md").read_text(encoding="utf-8")
    assert page == renderer.updated(page, renderer.load()), (
        "docs/capabilities.md is stale: run `python docs/_capabilities.py` and commit the page"
    )


def test_capability_page_lists_every_row_and_fact() -> None:
    """The rendering has one table row per data row, and every fact key of each row."""
    renderer = _capability_renderer()
    data = renderer.load()
    rendered = renderer.render(data)
    rows = [line for line in rendered.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == len(data["models"])
    for line, row in zip(rows, data["models"], strict=True):
        for key in row:
            if key not in ("provider_type", "patterns", "source"):
                assert f"{key}: " in line, (key, line)


def test_capability_renderer_refuses_a_page_without_markers() -> None:
    """A page that lost its markers is an error, not a page silently left stale."""
    renderer = _capability_renderer()
    with pytest.raises(ValueError, match="markers"):
        renderer.updated("# Model capabilities\n", renderer.load())


def test_capability_renderer_rewrites_a_stale_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python docs/_capabilities.py`` puts the current table between the markers, once."""
    renderer = _capability_renderer()
    stale = tmp_path / "capabilities.md"
    stale.write_text(f"# Caps\n\n{renderer.BEGIN}\n| old |\n{renderer.END}\n\nAfter.\n")
    assert renderer.main(stale) == 0
    text = stale.read_text()
    assert "| old |" not in text and text.endswith(f"{renderer.END}\n\nAfter.\n")
    assert renderer.render(renderer.load()) in text
    assert renderer.main(stale) == 0
    assert capsys.readouterr().out.splitlines() == [
        "rewrote capabilities.md",
        "capabilities.md is up to date",
    ]
