"""The typed events of ``stream.events()`` (SPEC §2.9).

A stream yields, in the order the vendor sent them: :class:`TextDelta` and
:class:`ReasoningDelta` for text; :class:`ToolCallStarted`, :class:`ToolCallDelta` and
:class:`ToolCallDone` for each tool call (keyed by ``index`` as the vendor started them, so
parallel calls may interleave); :class:`Usage` whenever the vendor reports usage; and one
:class:`Finish` at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from llmorch.tools import ToolCall

__all__ = [
    "Event",
    "Finish",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallDone",
    "ToolCallStarted",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text.

    Attributes:
        text: The text.
    """

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking text.

    Attributes:
        text: The text.
    """

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model began a tool call.

    Attributes:
        index: The call's position in this answer (the key of its deltas).
        id: The call id (the vendor's, or a generated one when it sends none).
        name: The tool's name.
    """

    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call's arguments (JSON text, to be joined).

    Attributes:
        index: The call's position in this answer.
        id: The call id.
        arguments_delta: The fragment.
    """

    index: int
    id: str
    arguments_delta: str


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    """A tool call is complete.

    Attributes:
        call: The whole call, arguments parsed (``call.error`` set when they are not JSON).
    """

    call: ToolCall


@dataclass(frozen=True, slots=True)
class Usage:
    """The usage the vendor reported (normalised like ``LLMResponse.tokens_used``).

    Attributes:
        tokens: ``prompt``, ``completion``, ``total`` and the optional keys.
    """

    tokens: dict[str, int]


@dataclass(frozen=True, slots=True)
class Finish:
    """The answer ended.

    Attributes:
        reason: ``stop``, ``length``, ``content_filter``, ``tool_calls`` or ``other``.
    """

    reason: str | None


Event = Union[  # noqa: UP007 - a runtime alias on Python 3.10
    TextDelta, ReasoningDelta, ToolCallStarted, ToolCallDelta, ToolCallDone, Usage, Finish
]
"""Any event of ``stream.events()``."""
