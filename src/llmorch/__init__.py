"""llmorch: one async interface to OpenAI, Anthropic, Gemini, Vertex AI and Bedrock.

Raw HTTP with httpx, model discovery, ordered within-provider fallback and a cost ledger.
"""

from __future__ import annotations

from llmorch import events
from llmorch.config import ConfigManager, OrchestratorConfig
from llmorch.conversation import Conversation
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
from llmorch.sync import LLMOrchestrator, SyncConversation, SyncResponseStream
from llmorch.tool_loop import ToolLoopResult
from llmorch.tools import Tool, ToolCall
from llmorch.types import LLMResponse, ModelInfo, StreamEvent, UsageRecord

__version__ = "0.1.0"

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
