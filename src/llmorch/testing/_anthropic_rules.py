"""What Anthropic refuses in a well-shaped Messages body: tool turns, thinking blocks and settings.

The checks run after the schema's (:mod:`llmorch.testing._anthropic_schema`), on the
conversation as the API sees it: consecutive turns of one role merged into one (the recorded
live 400 in ``tests/fixtures/anthropic/error_400_tool_result_without_tool_use.json`` locates a
tool result of a second user turn at ``messages.0.content.1``). Each wording is quoted from a
live 400 body; the source is named next to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from llmorch.testing import _anthropic_output, _anthropic_parts
from llmorch.testing._signing import verify

__all__ = ["THINKING_KIND", "custom_tools", "deprecated_sampling", "problem", "thinking_on"]

THINKING_KIND = "anthropic-thinking"
"""The :mod:`~llmorch.testing._signing` kind of a thinking block's signature."""

_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
# Live 400s quoted in vercel/ai#7927 and liuw1535/antigravity2api-nodejs#149 (2026-02).
_BUDGET = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
    f"documentation at {_DOCS}#max-tokens-and-context-window-size"
)
# Live 400s quoted in MartialBE/one-hub#529 (2025) and dotCipher/opencode-claude-bridge#1
# (2026-03, "or in adaptive mode" since adaptive thinking exists).
_TEMPERATURE = (
    "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. Please "
    f"consult our documentation at {_DOCS}#important-considerations-when-using-extended-thinking"
)
# Live 400 quoted in mastra-ai/mastra#7507 and can1357/oh-my-pi#341.
_FORCED = "Thinking may not be enabled when tool_choice forces tool use."
# The tool name pattern (64 characters in the tool-use docs until 2025, 128 since: BerriAI/litellm
# #26788, 2026-05), in pydantic's wording for a pattern mismatch.
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# Live 400 quoted in eclipse-theia/theia#16122 and onyx-dot-app/onyx#9229 (2026-03).
_UNIQUE = "tools: Tool names must be unique."


_GENERATION = re.compile(r"^claude-([a-z]+)-(\d+)(?:-(\d{1,2}))?(?![0-9])")


def deprecated_sampling(model: str) -> bool:
    """Whether a model refuses ``temperature`` and ``top_p``: Claude Opus 4.7 and later, Claude 5.

    The migration guide for Opus 4.7 (platform.claude.com/docs/en/about-claude/models/
    migration-guide) removed the sampling parameters; Claude 5 models answer the same 400.

    Args:
        model: The model id (``claude-opus-4-7``, ``claude-sonnet-5-5@20260101``).

    Returns:
        True when the model refuses them.
    """
    match = _GENERATION.match(model)
    if match is None:
        return False
    family, major, minor = match[1], int(match[2]), int(match[3] or 0)
    return major >= 5 or (family == "opus" and (major, minor) >= (4, 7))


def _vertex_output(body: dict[str, Any], model: str) -> str | None:
    """Vertex AI lists structured output from the Claude 4.6 models on (4.5: "coming soon")."""
    match = _GENERATION.match(model)
    config = body.get("output_config") or {}
    if match is None or config.get("format") is None:
        return None
    if (int(match[2]), int(match[3] or 0)) >= (4, 6):
        return None
    # Live 400 quoted in Portkey-AI/gateway#1570 (Claude on Vertex AI, the field not enabled).
    return "output_config.format: Extra inputs are not permitted"


def _model_settings(body: dict[str, Any], model: str, vertex: bool) -> str | None:
    refusal = _vertex_output(body, model) if vertex else None
    if refusal is not None or not deprecated_sampling(model):
        return refusal
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            # Live 400s quoted in UKGovernmentBEIS/inspect_ai#3721 (Opus 4.7), github/app#2574
            # (Opus 5, Sonnet 5) and router-for-me/CLIProxyAPI#4383 (top_p).
            return f"`{name}` is deprecated for this model."
    return None


def thinking_on(body: dict[str, Any]) -> bool:
    """Whether a request turns thinking on (``thinking.type`` ``enabled`` or ``adaptive``).

    Args:
        body: A valid request body.

    Returns:
        True when the answer may carry thinking blocks.
    """
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def custom_tools(body: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The request's custom tools (``type`` absent or ``custom``) with their indexes.

    Args:
        body: A request body.

    Yields:
        ``(index, tool)`` for each custom tool.
    """
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if isinstance(tool, dict) and tool.get("type") in (None, "custom"):
            yield i, tool


def _turns(messages: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """The turns the API sees: consecutive messages of one role merged, content as blocks."""
    turns: list[tuple[str, list[Any]]] = []
    for message in messages:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if turns and turns[-1][0] == message["role"]:
            turns[-1][1].extend(blocks)
        else:
            turns.append((message["role"], list(blocks)))
    return turns


def _tool_use_ids(turn: tuple[str, list[Any]] | None) -> list[str]:
    if turn is None or turn[0] != "assistant":
        return []
    return [b["id"] for b in turn[1] if b.get("type") == "tool_use"]


def _user_turn(i: int, blocks: list[Any], calls: list[str]) -> str | None:
    """Tool results of a user turn against the calls of the assistant turn before it."""
    results = [(j, b) for j, b in enumerate(blocks) if b.get("type") == "tool_result"]
    unexpected = [(j, b["tool_use_id"]) for j, b in results if b["tool_use_id"] not in calls]
    if unexpected:
        # Live 400: tests/fixtures/anthropic/error_400_tool_result_without_tool_use.json.
        ids = ", ".join(tool_use_id for _, tool_use_id in unexpected)
        return (
            f"messages.{i}.content.{unexpected[0][0]}: unexpected `tool_use_id` found in "
            f"`tool_result` blocks: {ids}. Each `tool_result` block must have a corresponding "
            "`tool_use` block in the previous message."
        )
    answered = {b["tool_use_id"] for _, b in results}
    missing = [call for call in calls if call not in answered]
    if missing:
        return _unanswered(i - 1, missing)
    leading = next((j for j, b in enumerate(blocks) if b.get("type") != "tool_result"), len(blocks))
    if calls and leading < len(results):
        # Live 400 quoted in anthropics/anthropic-sdk-typescript#653 and
        # langchain-ai/langchain-aws#389 (a text block before the results).
        return (
            f"messages.{i}: Did not find {len(calls)} `tool_result` block(s) at the beginning "
            "of this message. Messages following `tool_use` blocks must begin with a matching "
            "number of `tool_result` blocks."
        )
    return None


def _unanswered(i: int, ids: list[str]) -> str:
    # Live 400s quoted in anthropics/claude-code#5989 (two ids) and Kilo-Org/kilocode#5163.
    return (
        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {', '.join(ids)}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )


def _assistant_turn(i: int, blocks: list[Any]) -> str | None:
    """Thinking blocks must come back exactly as they were signed."""
    for j, block in enumerate(blocks):
        if block.get("type") == "thinking" and not verify(
            THINKING_KIND, block["thinking"], block["signature"]
        ):
            # Live 400 quoted in anthropics/claude-code#10627 and ding113/claude-code-hub#518.
            return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
    return None


def _final_assistant(turns: list[tuple[str, list[Any]]]) -> str | None:
    """With thinking enabled, a tool loop's last assistant turn must start with thinking."""
    last = max((i for i, (role, _) in enumerate(turns) if role == "assistant"), default=None)
    if last is None or last == len(turns) - 1 or not _tool_use_ids(turns[last]):
        return None
    first = turns[last][1][0].get("type") if turns[last][1] else None
    if first in ("thinking", "redacted_thinking"):
        return None
    # Live 400 quoted in lbjlaq/Antigravity-Manager#139 (the API's own spelling "preceeding").
    return (
        f"messages.{last}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a "
        "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
        "We recommend you include thinking blocks from previous turns. To avoid this "
        f"requirement, disable `thinking`. Please consult our documentation at {_DOCS}"
    )


def _settings(body: dict[str, Any]) -> str | None:
    names: set[str] = set()
    for i, tool in custom_tools(body):
        if not _NAME.fullmatch(tool["name"]):
            return f"tools.{i}.custom.name: String should match pattern '{_NAME.pattern}'"
        if tool["name"] in names:
            return _UNIQUE
        names.add(tool["name"])
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled" and thinking["budget_tokens"] >= body["max_tokens"]:
        return _BUDGET
    if not thinking_on(body):
        return None
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return _TEMPERATURE
    choice = body.get("tool_choice") or {}
    if choice.get("type") in ("any", "tool"):
        return _FORCED
    return None


def problem(body: dict[str, Any], model: str, *, vertex: bool = False) -> str | None:
    """The first rule a schema-valid request body breaks, in Anthropic's wording.

    Args:
        body: The request body (already valid against the request schema).
        model: The model asked for (the body's, or Vertex AI's path's).
        vertex: Claude on Vertex AI.

    Returns:
        The ``error.message`` of the 400, or ``None`` when the body is accepted.
    """
    refusal = (
        _settings(body)  # thinking's temperature rule is answered first (mnfst/modelparams.dev#214)
        or _model_settings(body, model, vertex)
        or _anthropic_parts.problem(body, vertex=vertex)
        or _anthropic_output.problem(body)
    )
    if refusal is not None:
        return refusal
    turns = _turns(body["messages"])
    for i, (role, blocks) in enumerate(turns):
        calls = _tool_use_ids(turns[i - 1] if i else None)
        if role == "user":
            refusal = _user_turn(i, blocks, calls)
        elif calls:
            refusal = _unanswered(i - 1, calls)  # the next turn is not the user's results
        if refusal is None and role == "assistant":
            refusal = _assistant_turn(i, blocks)
        if refusal is not None:
            return refusal
    thinking = body.get("thinking") or {}
    return _final_assistant(turns) if thinking.get("type") == "enabled" else None
