"""The conversation rules Bedrock enforces on a Converse body that fits the service model.

Tool calls and their results, reasoning turned on per model family, and the opaque reasoning
signatures that must come back unchanged. Each refusal carries the wording of Bedrock's own 400
``ValidationException``; the comment beside it says where the wording was recorded. Bedrock
relays a model's own refusal (Claude's, here) prefixed with "The model returned the following
errors: ".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from llmorch.testing._signing import verify

__all__ = ["Family", "Turns", "family", "reasoning_on", "rules_problem", "signing_kind"]

Family = Literal["claude", "nova", "gpt-oss", "other"]

_FAMILY = re.compile(
    r"^(?:arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:[a-z-]+/)?"  # an ARN's resource part
    r"(?:[a-z]{2,6}\.)?"  # a geography prefix (us., eu., apac., global., us-gov.)
    r"(?P<family>anthropic\.|amazon\.nova|openai\.gpt-oss)"
)
_FAMILIES: dict[str, Family] = {
    "anthropic.": "claude",
    "amazon.nova": "nova",
    "openai.gpt-oss": "gpt-oss",
}
_MODEL_SAYS = "The model returned the following errors: "

signing_kind = "bedrock-reasoning"
"""The :mod:`llmorch.testing._signing` kind of the dialect's reasoning signatures."""


def family(model: str) -> Family:
    """The model family of a Bedrock model id, profile id or ARN.

    Args:
        model: The model identifier from the path.

    Returns:
        ``claude`` (``anthropic.``), ``nova`` (``amazon.nova``), ``gpt-oss``
        (``openai.gpt-oss``) or ``other``, after an optional geography prefix.
    """
    match = _FAMILY.match(model.replace("-gov.", "."))
    return _FAMILIES[match.group("family")] if match else "other"


def reasoning_on(body: dict[str, Any], kind: Family) -> bool:
    """Whether a request turns reasoning on the way its model family reads it.

    Claude: ``additionalModelRequestFields.thinking.type`` ``enabled`` or ``adaptive``; Nova:
    ``reasoningConfig.type`` ``enabled``; gpt-oss: ``reasoning_effort`` low/medium/high.

    Args:
        body: The request body.
        kind: The model family.

    Returns:
        True when the answer carries reasoning.
    """
    extra = body.get("additionalModelRequestFields")
    if not isinstance(extra, dict):
        return False
    if kind == "claude":
        thinking = extra.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    if kind == "nova":
        config = extra.get("reasoningConfig")
        return isinstance(config, dict) and config.get("type") == "enabled"
    if kind == "gpt-oss":
        return extra.get("reasoning_effort") in ("low", "medium", "high")
    return False


@dataclass(frozen=True)
class Turns:
    """What the rules look at in one request.

    Attributes:
        body: The request body (already valid against the service model).
        family: The model family.
        reasoning: Whether the request turned reasoning on.
        model: The model id (a geography prefix removed).
    """

    body: dict[str, Any]
    family: Family
    reasoning: bool
    model: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages (a list of dicts, as the shape check guarantees)."""
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def tool_config(self) -> dict[str, Any] | None:
        """The ``toolConfig``, if any."""
        config = self.body.get("toolConfig")
        return config if isinstance(config, dict) else None


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b[kind] for b in message.get("content") or [] if isinstance(b.get(kind), dict)]


def _tool_problems(turns: Turns) -> str | None:
    config = turns.tool_config
    messages = turns.messages
    uses_tools = any(_blocks(m, "toolUse") or _blocks(m, "toolResult") for m in messages)
    if uses_tools and config is None:
        # langgenius/dify#17545, vxcontrol/pentagi#196 (a live ValidationException).
        return (
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    for i, message in enumerate(messages):
        ids = [u["toolUseId"] for u in _blocks(message, "toolUse")]
        twice = next((x for n, x in enumerate(ids) if x in ids[:n]), None)
        if twice is not None:
            # vercel/ai amazon-bedrock-mistral-duplicate-tool-call-ids-error.json (live).
            return f"The toolUse blocks at messages.{i}.content contain duplicate Ids: {twice}"
        if message.get("role") == "user" and _blocks(message, "reasoningContent"):
            # vercel/ai issue-7034-error.json (live).
            return (
                "User messages cannot contain reasoning content. Please remove the reasoning "
                "content and try again."
            )
        for j, result in enumerate(_blocks(message, "toolResult")):
            if result.get("status") == "error" and not result.get("content"):
                # aws-samples/sample-multi-agent-orchestration-chat-on-agentcore#15 (live).
                return (
                    f"The content field at messages.{i}.content.{j}.toolResult cannot be empty "
                    "when status value is error."
                )
        previous = messages[i - 1] if i else {}
        calls = [u["toolUseId"] for u in _blocks(previous, "toolUse")]
        results = [r["toolUseId"] for r in _blocks(message, "toolResult")]
        if len(results) > len(calls):
            # Just-Curieous/Curie#16, pydantic/pydantic-ai#2327 (Bedrock's body, quoted).
            return (
                f"The number of toolResult blocks at messages.{i}.content exceeds the number of "
                "toolUse blocks of previous turn."
            )
        missing = [c for c in calls if c not in results]
        if missing and message.get("role") == "user":
            # camel-ai/camel#3954, genkit-ai/aws-bedrock-js-plugin#664 (botocore's message).
            return (
                f"Expected toolResult blocks at messages.{i}.content for the following Ids: "
                + ", ".join(missing)
            )
    return _tool_config_problems(config) if config is not None else None


def _tool_config_problems(config: dict[str, Any]) -> str | None:
    for i, tool in enumerate(config.get("tools") or []):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        schema = (spec or {}).get("inputSchema", {}).get("json")
        if spec is None:
            continue
        if not isinstance(schema, dict):
            # aws/aws-sdk-net#3377 (the service's ValidationException, relayed).
            return (
                f"The format of the value at toolConfig.tools.{i}.toolSpec.inputSchema.json is "
                "invalid. Provide a json object for the field and try again."
            )
        if schema.get("type") != "object":
            # earendil-works/pi#8279 (a live ValidationException, 2026-08).
            return (
                f"The value at toolConfig.tools.{i}.toolSpec.inputSchema.json.type must be one "
                "of the following: object."
            )
    return None


def _reasoning_problems(turns: Turns) -> str | None:
    messages = turns.messages
    choice = (turns.tool_config or {}).get("toolChoice") or {}
    forced = "any" in choice or "tool" in choice
    if forced and "anthropic.claude-opus-5-5" in turns.model:
        # vercel/ai bedrock-opus-5-5-forced-tool-error.json (live): refused with or without
        # thinking.
        return _MODEL_SAYS + 'tool_choice: type "tool" and "any" are not supported for this model.'
    if turns.family == "claude" and turns.reasoning and forced:
        # vercel/ai amazon-bedrock-issue-11227-opus-4-5-error.json (live).
        return _MODEL_SAYS + "Thinking may not be enabled when tool_choice forces tool use."
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        for j, block in enumerate(message.get("content") or []):
            text = (block.get("reasoningContent") or {}).get("reasoningText")
            if not isinstance(text, dict) or turns.family != "claude":
                continue
            signature = text.get("signature")
            if signature is None:
                # can1357/oh-my-pi#10486 (Bedrock's relay of Claude's refusal, live).
                return _MODEL_SAYS + f"messages.{i}.content.{j}.thinking.signature: Field required"
            if not verify(signing_kind, text.get("text", ""), signature):
                # Claude's wording (anthropics/anthropic-sdk-python#1598) behind Bedrock's
                # relay prefix, as in the two refusals above.
                return (
                    _MODEL_SAYS
                    + f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                )
    if turns.family == "claude" and turns.reasoning and messages:
        last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
        first = (last or {}).get("content") or [{}]
        if last is not None and _blocks(last, "toolUse") and "reasoningContent" not in first[0]:
            i = messages.index(last)
            found = "tool_use" if "toolUse" in first[0] else "text"
            # RooCodeInc/Roo-Code#11238 (Claude on Bedrock with thinking and tool use, live).
            return _MODEL_SAYS + (
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but "
                f"found `{found}`. When `thinking` is enabled, a final `assistant` message must "
                "start with a thinking block."
            )
    return None


def rules_problem(turns: Turns) -> str | None:
    """Why Bedrock refuses a conversation that fits the service model, in its words.

    Tool rules: a ``toolConfig`` whenever the history has tool blocks; unique ``toolUse`` ids
    per turn; results only for the previous turn's calls and every call answered; error results
    with content; input schemas that are JSON objects of type ``object``. Reasoning rules (Claude):
    no forced tool choice with thinking on; no reasoning in user turns; every returned
    ``reasoningText`` signed, and signed by the emulator for exactly that text; with thinking
    on, the final assistant turn with tool calls starts with its reasoning block.

    Args:
        turns: The request.

    Returns:
        The ``ValidationException`` message, or ``None``.
    """
    return _tool_problems(turns) or _reasoning_problems(turns)
