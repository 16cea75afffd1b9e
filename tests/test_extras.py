"""Extras (SPEC §1): google-auth and botocore only for the providers that need them.

newcomer.md 8: every install pulled botocore and cryptography (89 MB) for OpenAI-only users.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.exceptions import ConfigurationError
from llmorch.testing import ProviderEmulator

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = {"httpx", "anyio", "pydantic", "pyyaml", "h11", "aiohttp"}
HINTS = {"bedrock": "pip install 'llmorch[bedrock]'", "vertex": "pip install 'llmorch[vertex]'"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match is not None
    return match[0].lower()


def test_newcomer_8_runtime_dependencies_leave_the_cloud_sdks_to_extras() -> None:
    """Runtime deps are SPEC §1's; vertex = google-auth, bedrock = botocore, postgres = psycopg;
    all = every one of them."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {_name(r) for r in project["dependencies"]} == RUNTIME
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    assert extras["vertex"] == {"google-auth"}
    assert extras["bedrock"] == {"botocore"}
    assert extras["postgres"] == {"psycopg"}
    assert extras["otel"] == {"opentelemetry-api"}
    expected = extras["vertex"] | extras["bedrock"] | extras["postgres"] | extras["otel"]
    assert extras["all"] == expected


def _block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` unimportable, as if their packages were not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def _config(emu: ProviderEmulator, **discovery: Any) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        {
            "active_provider": "openai",
            "active_model": "gpt-4o-mini",
            "providers": {name: emu.config_for(name) for name in ("openai", "vertex", "bedrock")},
            "cost_tracking": {"enabled": False},
            "model_discovery": {"cache_path": None, "refresh_on_start": False, **discovery},
        }
    )


@pytest.mark.parametrize(
    ("dialect", "modules"), [("bedrock", ["botocore"]), ("vertex", ["google.auth"])]
)
async def test_newcomer_8_a_provider_without_its_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, dialect: str, modules: list[str]
) -> None:
    """Without botocore / google-auth, OpenAI works and Bedrock / Vertex name their extra."""
    async with ProviderEmulator() as emu:
        config = _config(emu)
        _block(monkeypatch, *modules)
        async with AsyncLLMOrchestrator(config) as orch:
            response = await orch.send_request([{"role": "user", "content": "hi"}])
            assert "You said: hi" in response.content
            with pytest.raises(Exception) as raised:
                await orch.send_request([{"role": "user", "content": "hi"}], provider=dialect)
    assert isinstance(raised.value, ConfigurationError)
    assert HINTS[dialect] in str(raised.value)
    assert not any(r.dialect == dialect for r in emu.requests)


async def test_start_up_skips_a_provider_without_its_extra_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Start-up discovery lists the others and says once what to install for the skipped one."""
    async with ProviderEmulator() as emu:
        config = _config(emu, refresh_on_start=True)
        _block(monkeypatch, "botocore")
        with caplog.at_level(logging.WARNING, logger="llmorch.registry"):
            async with AsyncLLMOrchestrator(config) as orch:
                assert orch.registry.has_fetched("openai")
                assert not orch.registry.has_fetched("bedrock")
    [warning] = [r.getMessage() for r in caplog.records]
    assert "'bedrock'" in warning and HINTS["bedrock"] in warning


def test_newcomer_8_emulator_turns_vertex_and_bedrock_off_without_their_extras(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The emulator serves the other three, and its printout and config_for say what to install."""
    _block(monkeypatch, "google.auth", "botocore")
    with ProviderEmulator() as emu:
        assert emu.dialects == ("openai", "anthropic", "gemini")
        assert set(emu.off) == {"vertex", "bedrock"}
        described = emu.describe()
        assert all(hint in described for hint in HINTS.values())
        with pytest.raises(ValueError, match=re.escape(HINTS["bedrock"])):
            emu.config_for("bedrock")
        with pytest.raises(ValueError, match="unknown dialect 'nope'"):
            emu.config_for("nope")


def test_emulator_without_cryptography_turns_vertex_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Vertex dialect signs with cryptography itself: without it, it is off too."""
    _block(monkeypatch, "cryptography")
    assert set(ProviderEmulator().off) == {"vertex"}


_IN_THE_VENV = textwrap.dedent(
    """
    import importlib.util, io, sys
    for module in ("botocore", "google.auth", "cryptography"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        assert not found, module
    from llmorch import ConfigurationError, LLMOrchestrator, OrchestratorConfig
    from llmorch.demo import run_demo
    from llmorch.testing import ProviderEmulator

    out = io.StringIO()
    assert run_demo(out) == 0, out.getvalue()
    print(out.getvalue())
    with ProviderEmulator() as emu:
        bedrock = {"region_name": "us-east-1", "endpoint_url": emu.base_url + "/bedrock"}
        config = OrchestratorConfig.from_dict({
            "active_provider": "openai", "active_model": "gpt-4o-mini",
            "providers": {"openai": emu.config_for("openai"), "bedrock": bedrock},
            "cost_tracking": {"enabled": False}, "model_discovery": {"cache_path": None},
        })
        with LLMOrchestrator(config) as orch:
            print("openai:", orch.send_request([{"role": "user", "content": "hi"}]).content)
            try:
                hi = [{"role": "user", "content": "hi"}]
                orch.send_request(hi, provider="bedrock", model="amazon.nova-lite-v1:0")
            except ConfigurationError as exc:
                print("bedrock:", exc)
    """
)


def test_newcomer_8_pip_install_without_extras_has_no_cloud_sdk_and_names_the_extra(
    tmp_path: Path,
) -> None:
    """`pip install .` into a fresh venv: no botocore, google-auth or cryptography; the demo runs
    (Vertex and Bedrock off, with the install command); OpenAI answers; Bedrock names its extra.
    """
    source = tmp_path / "src-copy"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.lower()
    installed = {line.split("==")[0] for line in listed.splitlines()}
    assert not installed & {"botocore", "google-auth", "cryptography"}

    env = {"AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "True", "PATH": ""}
    run = subprocess.run(
        [str(python), "-c", _IN_THE_VENV],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"^openai: .*You said: hi$", run.stdout, re.MULTILINE)
    assert "bedrock: provider type 'bedrock' needs botocore" in run.stdout
    assert HINTS["bedrock"] in run.stdout
    assert HINTS["vertex"] in run.stdout  # the demo's note: the Vertex dialect is off
