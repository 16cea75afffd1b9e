"""Test helpers that ship with llmorch: the provider emulator.

It shares no wire code with llmorch's clients (it never imports ``llmorch.providers``, the SSE
decoder or the stream accumulator), so a bug on one side cannot hide itself on the other.
"""

from __future__ import annotations

from llmorch.testing._script import Fault, Reply, ToolUse
from llmorch.testing.emulator import ProviderEmulator, RecordedRequest

__all__ = ["Fault", "ProviderEmulator", "RecordedRequest", "Reply", "ToolUse"]
