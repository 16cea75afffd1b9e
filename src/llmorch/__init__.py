"""llmorch: one async interface to OpenAI, Anthropic, Gemini, Vertex AI and Bedrock.

Raw HTTP with httpx, model discovery, ordered within-provider fallback and a cost ledger.
"""

from __future__ import annotations

import importlib
import typing

from llmorch import events
from llmorch.config import ConfigManager, OrchestratorConfig
from llmorch.costs import CostTracker
from llmorch.exceptions import (
    AllFallbacksFailedError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    MaxTurnsExceededError,
    ModelNotFoundError,
    OrchestratorError,
    OutputValidationError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from llmorch.orchestrator import AsyncLLMOrchestrator
from llmorch.parts import document, image
from llmorch.providers.base import BaseLLMProvider
from llmorch.registry import ModelRegistry
from llmorch.streaming import ResponseStream
from llmorch.tool_loop import ToolLoopResult
from llmorch.tools import Tool, ToolCall
from llmorch.types import LLMResponse, ModelInfo, StreamEvent, UsageRecord

if typing.TYPE_CHECKING:
    from llmorch.conversation import Conversation
    from llmorch.sync import LLMOrchestrator, SyncConversation, SyncResponseStream

__version__ = "0.1.0"

# Imported on first access (PEP 562): the sync facade (a portal thread, anyio.from_thread) and
# conversations are not on an async caller's path, so ``import llmorch`` does not pay for them.
_LAZY = {
    "Conversation": "llmorch.conversation",
    "LLMOrchestrator": "llmorch.sync",
    "SyncConversation": "llmorch.sync",
    "SyncResponseStream": "llmorch.sync",
}

__all__ = [
    "AllFallbacksFailedError",
    "AsyncLLMOrchestrator",
    "AuthenticationError",
    "BaseLLMProvider",
    "BudgetExceededError",
    "ConfigManager",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextLengthExceededError",
    "Conversation",
    "CostTracker",
    "InvalidRequestError",
    "LLMOrchestrator",
    "LLMResponse",
    "MaxTurnsExceededError",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelRegistry",
    "OrchestratorConfig",
    "OrchestratorError",
    "OutputValidationError",
    "PermissionDeniedError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ResponseStream",
    "StreamEvent",
    "StreamInterruptedError",
    "SyncConversation",
    "SyncResponseStream",
    "Tool",
    "ToolCall",
    "ToolLoopResult",
    "UsageRecord",
    "__version__",
    "document",
    "events",
    "image",
]


def __getattr__(name: str) -> typing.Any:
    """Import the module behind a lazily exported name on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmorch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted({*globals(), *__all__})
