from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import llmorch
from llmorch import exceptions

SPEC_NAMES = {
    "AsyncLLMOrchestrator", "LLMOrchestrator", "LLMResponse", "ResponseStream",
    "SyncResponseStream", "ModelInfo", "UsageRecord", "ModelRegistry", "CostTracker",
    "ConfigManager", "OrchestratorConfig", "BaseLLMProvider", "OrchestratorError",
    "ProviderError", "AuthenticationError", "PermissionDeniedError", "RateLimitError",
    "ModelNotFoundError", "InvalidRequestError", "ContextLengthExceededError",
    "ContentFilteredError", "ProviderTimeoutError", "ProviderConnectionError",
    "ProviderUnavailableError", "StreamInterruptedError", "AllFallbacksFailedError",
    "ConfigurationError", "Conversation", "SyncConversation",
}  # fmt: skip


def _fresh_interpreter(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter that sees only this checkout's package."""
    src = str(Path(llmorch.__file__).parent.parent)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src, "PATH": ""},
    )


def test_all_is_sorted_complete_and_covers_the_spec() -> None:
    """__all__ is sorted, every name in it exists, and every SPEC §2 name is exported."""
    assert sorted(llmorch.__all__) == llmorch.__all__
    assert all(hasattr(llmorch, name) for name in llmorch.__all__)
    assert SPEC_NAMES <= set(llmorch.__all__)
    public = {n for n in vars(llmorch) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(llmorch.__all__)


def test_exception_tree_matches_the_spec() -> None:
    """The hierarchy is exactly SPEC §2.4's."""
    parents = {
        "ConfigurationError": "OrchestratorError",
        "AllFallbacksFailedError": "OrchestratorError",
        "MaxTurnsExceededError": "OrchestratorError",
        "OutputValidationError": "OrchestratorError",
        "BudgetExceededError": "OrchestratorError",
        "ProviderError": "OrchestratorError",
        "ContextLengthExceededError": "InvalidRequestError",
    }
    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        if name == "OrchestratorError":
            assert Exception is cls.__base__
        else:
            assert parents.get(name, "ProviderError") == cls.__base__.__name__, name


def test_every_public_name_has_a_docstring() -> None:
    """Every exported name carries a docstring."""
    assert [
        n for n in llmorch.__all__ if n != "__version__" and not getattr(llmorch, n).__doc__
    ] == []


def test_import_is_light_and_loads_no_provider_module() -> None:
    """`import llmorch` loads no provider module, botocore, google.auth, and does no I/O."""
    code = textwrap.dedent(
        """
        import json, sys
        import llmorch
        print(json.dumps(sorted(sys.modules)))
        """
    )
    out = _fresh_interpreter(code)
    modules = set(json.loads(out.stdout))
    assert "llmorch" in modules
    forbidden = {"botocore", "google.auth", "boto3", "openai", "anthropic", "aiohttp"}
    assert not forbidden & modules
    assert not {m for m in modules if m.startswith("llmorch.providers.")} - {
        "llmorch.providers.base"
    }


def test_a_configured_provider_imports_only_its_own_module() -> None:
    """Using an Anthropic-only config imports the Anthropic adapter and not OpenAI's."""
    code = textwrap.dedent(
        """
        import json, sys
        from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
        config = OrchestratorConfig.from_dict({
            "active_provider": "anthropic", "active_model": "m",
            "providers": {"anthropic": {"api_key": "k"}, "openai": {"api_key": "k"}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
        })
        orch = AsyncLLMOrchestrator(config)
        orch._adapter_map()["anthropic"]
        print(json.dumps(sorted(sys.modules)))
        """
    )
    out = _fresh_interpreter(code)
    modules = set(json.loads(out.stdout))
    assert "llmorch.providers.anthropic" in modules
    assert "llmorch.providers.openai" not in modules


def test_lazy_names_resolve_on_access_and_unknown_names_raise() -> None:
    """The sync facade and conversations load on first access; ``dir()`` lists them already."""
    code = textwrap.dedent(
        """
        import json, sys
        import llmorch
        lazy = ("llmorch.sync", "llmorch.conversation", "yaml")
        before = sorted(m for m in lazy if m in sys.modules)
        listed = {"LLMOrchestrator", "Conversation"} <= set(dir(llmorch))
        from llmorch import SyncConversation
        from llmorch.sync import LLMOrchestrator
        same = llmorch.LLMOrchestrator is LLMOrchestrator and "SyncConversation" in vars(llmorch)
        try:
            llmorch.NoSuchName
            missing = ""
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps([before, listed, same, missing]))
        """
    )
    out = _fresh_interpreter(code)
    before, listed, same, missing = json.loads(out.stdout)
    assert [[], True, True] == [before, listed, same]
    assert "module 'llmorch' has no attribute 'NoSuchName'" == missing
