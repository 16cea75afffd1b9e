"""What OpenAI's Chat Completions endpoint accepts, and how it words a refusal.

The declared fields are those of the API reference's ``CreateChatCompletionRequest``, as the
official SDK types them (openai-python 3.57 ``CompletionCreateParams``, the message params and
content parts): a field the SDK can send is accepted even where the emulator does not act on it.
Ranges are the reference's: ``temperature`` 0–2, ``top_p`` 0–1, penalties -2–2, ``n`` 1–128,
``top_logprobs`` 0–20, token limits at least 1.

The wording follows refusals the API returned (quoted in issue trackers): an undeclared top-level
field gets ``Unrecognized request argument supplied: foo`` (``param``/``code`` null); one nested in
an object ``Unknown parameter: 'messages[0].foo'.`` (``unknown_parameter``); a wrong JSON type
``Invalid type for 'messages[0].content': expected a string, but got an array instead.``; an
unknown role ``Invalid value: 'x'. Supported values are: …`` (``invalid_value``, the role's path as
``param``); a missing model ``you must provide a model parameter``; other missing fields
``Missing required parameter: 'messages'.`` (``missing_required_parameter``); out of range
``3 is greater than the maximum of 2 - 'temperature'``; a value outside an enum ``Invalid value:
'x'. Supported values are: …`` (``invalid_value``).

Tools, tool turns, image and file parts, ``response_format`` (those two in ``_openai_format``) and
each model's own limits are checked past the schema by :func:`check_semantics`, each rule with the
wording OpenAI answered with (sources next to each rule; ``docs/wire/openai.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmorch.testing._openai_format import format_problem, part_problem, strict_problem
from llmorch.testing._strict import (
    ANY,
    Arr,
    Either,
    Obj,
    Path,
    Problem,
    Scalar,
    Tagged,
    json_kind,
    validate,
)

__all__ = [
    "CHAT_REQUEST",
    "ROLES",
    "ModelRules",
    "check",
    "check_semantics",
    "model_rules",
    "problem_error",
    "wire_path",
]

_STRING = Scalar("string")
_BOOL = Scalar("boolean")
_INT = Scalar("integer")
_TOKENS = Scalar("integer", minimum=1)
_PENALTY = Scalar("number", minimum=-2, maximum=2)


DETAILS = ("auto", "low", "high")
"""The ``image_url.detail`` values (openai-python ``ImageURL.detail``)."""


def _part(payload: str, payload_spec: Any = ANY) -> Obj:
    return Obj(
        {"type": _STRING, payload: payload_spec, "prompt_cache_breakpoint": ANY},
        frozenset({"type", payload}),
    )


_TEXT = _part("text", _STRING)
_IMAGE = _part(
    "image_url",
    Obj({"url": _STRING, "detail": Scalar("string", choices=DETAILS)}, frozenset({"url"})),
)
_FILE = _part("file", Obj({"file_data": _STRING, "file_id": _STRING, "filename": _STRING}))
_USER_PARTS = Tagged(
    "type",
    {
        "text": _TEXT,
        "image_url": _IMAGE,
        "input_audio": _part("input_audio"),
        "file": _FILE,
    },
)
_ASSISTANT_PARTS = Tagged(
    "type", {"text": _TEXT, "refusal": Obj({"type": _STRING, "refusal": _STRING})}
)
_TEXT_CONTENT = Either((_STRING, Arr(Tagged("type", {"text": _TEXT}))))

# Tools, tool choice and assistant tool calls, field for field as openai-python types them
# (ChatCompletionToolUnionParam, ChatCompletionToolChoiceOptionParam,
# ChatCompletionMessageToolCallUnionParam).
_FUNCTION = Obj(
    {"name": _STRING, "description": _STRING, "parameters": ANY, "strict": _BOOL},
    frozenset({"name"}),
)
_TOOL = Tagged(
    "type",
    {
        "function": Obj({"type": _STRING, "function": _FUNCTION}, frozenset({"type", "function"})),
        "custom": Obj(
            {
                "type": _STRING,
                "custom": Obj(
                    {"name": _STRING, "description": _STRING, "format": ANY}, frozenset({"name"})
                ),
            },
            frozenset({"type", "custom"}),
        ),
    },
)
_NAMED = Obj({"name": _STRING}, frozenset({"name"}))
_TOOL_CHOICE = Either(
    (
        Scalar("string", choices=("none", "auto", "required")),
        Tagged(
            "type",
            {
                "function": Obj(
                    {"type": _STRING, "function": _NAMED}, frozenset({"type", "function"})
                ),
                "custom": Obj({"type": _STRING, "custom": _NAMED}, frozenset({"type", "custom"})),
                "allowed_tools": Obj(
                    {
                        "type": _STRING,
                        "allowed_tools": Obj(
                            {
                                "mode": Scalar("string", choices=("auto", "required")),
                                "tools": Arr(ANY),
                            },
                            frozenset({"mode", "tools"}),
                        ),
                    },
                    frozenset({"type", "allowed_tools"}),
                ),
            },
        ),
    )
)
_TOOL_CALL = Tagged(
    "type",
    {
        "function": Obj(
            {
                "id": _STRING,
                "type": _STRING,
                "function": Obj(
                    {"name": _STRING, "arguments": _STRING}, frozenset({"name", "arguments"})
                ),
            },
            frozenset({"id", "type", "function"}),
        ),
        "custom": Obj(
            {
                "id": _STRING,
                "type": _STRING,
                "custom": Obj({"name": _STRING, "input": _STRING}, frozenset({"name", "input"})),
            },
            frozenset({"id", "type", "custom"}),
        ),
    },
)
# response_format as openai-python types it (ResponseFormatText | ResponseFormatJSONSchema |
# ResponseFormatJSONObject); the schema itself is checked by _openai_format.
_RESPONSE_FORMAT = Tagged(
    "type",
    {
        "text": Obj({"type": _STRING}, frozenset({"type"})),
        "json_object": Obj({"type": _STRING}, frozenset({"type"})),
        "json_schema": Obj(
            {
                "type": _STRING,
                "json_schema": Obj(
                    {
                        "name": _STRING,
                        "description": _STRING,
                        "schema": ANY,
                        "strict": _BOOL,
                    },
                    frozenset({"name"}),
                ),
            },
            frozenset({"type", "json_schema"}),
        ),
    },
)
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
"""Every ``reasoning_effort`` value the API declares (each model takes some of them)."""

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
"""The message roles, in the order the API lists them."""

_MESSAGE = Tagged(
    "role",
    {
        "system": Obj(
            {"role": _STRING, "content": _TEXT_CONTENT, "name": _STRING},
            frozenset({"role", "content"}),
        ),
        "developer": Obj(
            {"role": _STRING, "content": _TEXT_CONTENT, "name": _STRING},
            frozenset({"role", "content"}),
        ),
        "user": Obj(
            {"role": _STRING, "content": Either((_STRING, Arr(_USER_PARTS))), "name": _STRING},
            frozenset({"role", "content"}),
        ),
        "assistant": Obj(
            {
                "role": _STRING,
                "content": Either((_STRING, Arr(_ASSISTANT_PARTS))),
                "name": _STRING,
                "refusal": _STRING,
                "tool_calls": Arr(_TOOL_CALL),
                "function_call": ANY,
                "audio": ANY,
            },
            frozenset({"role"}),
        ),
        "tool": Obj(
            {"role": _STRING, "content": _TEXT_CONTENT, "tool_call_id": _STRING},
            frozenset({"role", "content", "tool_call_id"}),
        ),
        "function": Obj(
            {"role": _STRING, "content": ANY, "name": _STRING}, frozenset({"role", "name"})
        ),
    },
)

CHAT_REQUEST = Obj(
    {
        "model": _STRING,
        "messages": Arr(_MESSAGE, min_items=1),
        "audio": ANY,
        "frequency_penalty": _PENALTY,
        "function_call": ANY,
        "functions": Arr(ANY),
        "logit_bias": ANY,
        "logprobs": _BOOL,
        "max_completion_tokens": _TOKENS,
        "max_tokens": _TOKENS,
        "metadata": ANY,
        "modalities": Arr(_STRING),
        "moderation": ANY,
        "n": Scalar("integer", minimum=1, maximum=128),
        "parallel_tool_calls": _BOOL,
        "prediction": ANY,
        "presence_penalty": _PENALTY,
        "prompt_cache_key": _STRING,
        "prompt_cache_options": ANY,
        "prompt_cache_retention": _STRING,
        "reasoning_effort": Scalar("string", choices=EFFORTS),
        "response_format": _RESPONSE_FORMAT,
        "safety_identifier": _STRING,
        "seed": _INT,
        "service_tier": _STRING,
        "stop": Either((_STRING, Arr(_STRING))),
        "store": _BOOL,
        "stream": _BOOL,
        "stream_options": Obj({"include_usage": _BOOL, "include_obfuscation": _BOOL}),
        "temperature": Scalar("number", minimum=0, maximum=2),
        "tool_choice": _TOOL_CHOICE,
        "tools": Arr(_TOOL, min_items=1),
        "top_logprobs": Scalar("integer", minimum=0, maximum=20),
        "top_p": Scalar("number", minimum=0, maximum=1),
        "user": _STRING,
        "verbosity": _STRING,
        "web_search_options": ANY,
    },
    frozenset({"model", "messages"}),
)
"""``POST /v1/chat/completions``, streamed or not."""

_KIND_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def wire_path(path: Path) -> str:
    """A path as OpenAI writes it: ``messages[0].content[1].text``.

    Args:
        path: Field names and list indexes.

    Returns:
        The dotted path.
    """
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _number(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _got(value: Any) -> str:
    return _KIND_WORDS.get(json_kind(value), "an object")


def problem_error(problem: Problem) -> tuple[str, str | None, str | None]:
    """OpenAI's wording for a problem.

    Args:
        problem: What :func:`validate` found.

    Returns:
        ``(message, param, code)``.
    """
    where = wire_path(problem.path)
    if problem.kind == "unknown":
        if len(problem.path) == 1:
            return f"Unrecognized request argument supplied: {where}", None, None
        return f"Unknown parameter: '{where}'.", where, "unknown_parameter"
    if problem.kind == "missing":
        if problem.path == ("model",):
            return "you must provide a model parameter", None, None
        return f"Missing required parameter: '{where}'.", where, "missing_required_parameter"
    if problem.kind == "short":
        return f"[] is too short - '{where}'", None, None
    if problem.kind == "tag" and problem.value is None:
        return f"Missing required parameter: '{where}'.", where, "missing_required_parameter"
    if problem.kind == "choice":
        assert isinstance(problem.spec, Scalar) and problem.spec.choices
        listed = _listed(problem.spec.choices)
        return (
            f"Invalid value: {_number(problem.value)}. Supported values are: {listed}.",
            where,
            "invalid_value",
        )
    if problem.kind == "tag":
        choices = ROLES if problem.path[-1] == "role" else _tags(problem)
        return (
            f"Invalid value: {_number(problem.value)}. Supported values are: {_listed(choices)}.",
            where,
            "invalid_value",
        )
    if problem.kind == "range":
        assert isinstance(problem.spec, Scalar)
        low, high = problem.spec.minimum, problem.spec.maximum
        if high is not None and float(problem.value) > high:
            return (
                f"{_number(problem.value)} is greater than the maximum of {high:g} - '{where}'",
                None,
                None,
            )
        return (
            f"{_number(problem.value)} is less than the minimum of {low:g} - '{where}'",
            None,
            None,
        )
    expected = _KIND_WORDS.get(problem.expected, "an object")
    return (
        f"Invalid type for '{where}': expected {expected}, but got {_got(problem.value)} instead.",
        where,
        "invalid_type",
    )


def _listed(choices: Sequence[str]) -> str:
    """``'a', 'b', and 'c'`` (one value: ``'a'``), as OpenAI lists supported values."""
    if len(choices) == 1:
        return f"'{choices[0]}'"
    return ", ".join(f"'{c}'" for c in choices[:-1]) + f", and '{choices[-1]}'"


def _tags(problem: Problem) -> tuple[str, ...]:
    spec = problem.spec
    return tuple(spec.variants) if isinstance(spec, Tagged) else ("",)


def check(body: Any) -> tuple[str, str | None, str | None] | None:
    """Validate a chat request body.

    Args:
        body: The decoded JSON body.

    Returns:
        ``(message, param, code)`` of the refusal, or ``None`` when the body is valid.
    """
    problem = validate(body, CHAT_REQUEST)
    return None if problem is None else problem_error(problem)


Refusal = tuple[int, str, "str | None", "str | None"]
"""``(status, message, param, code)`` of a refusal past the schema."""


@dataclass(frozen=True)
class ModelRules:
    """What one model takes, by the emulator's own reading of OpenAI's model docs.

    Attributes:
        kind: ``chat`` (no reasoning), ``reasoning`` (o-series, gpt-5: always reasons),
            ``hybrid`` (gpt-5.1 and later: reasons unless ``reasoning_effort`` is ``none``,
            its default) or ``responses_only`` (o1-pro, o3-pro, gpt-5-pro, codex models).
        efforts: The ``reasoning_effort`` values the model takes.
        default_effort: The effort when the request names none.
        takes_stop: Whether ``stop`` is accepted (not by o3, o4-mini and gpt-5).
    """

    kind: Literal["chat", "reasoning", "hybrid", "responses_only"]
    efforts: tuple[str, ...] = ()
    default_effort: str = "none"
    takes_stop: bool = True

    def reasons(self, effort: Any) -> bool:
        """Whether a request with this ``reasoning_effort`` (or none) makes the model reason.

        Args:
            effort: The request's ``reasoning_effort`` (``None`` when absent).

        Returns:
            True when reasoning is on.
        """
        if self.kind not in ("reasoning", "hybrid"):
            return False
        return (effort if isinstance(effort, str) else self.default_effort) != "none"


_DATE = r"(-\d{4}-\d{2}-\d{2})?"
# The model docs (platform.openai.com/docs/models, 2026-12): o1-pro, o3-pro, the deep-research
# models, gpt-5-pro / gpt-5.x-pro and the codex models serve only the Responses API.
_RESPONSES_ONLY = re.compile(r"^(o\d+-pro|o\d+(-mini)?-deep-research|gpt-5(\.\d+)?-(pro|codex))")
_O_SERIES = re.compile(r"^o\d+(-mini)?" + _DATE + "$")
_GPT5 = re.compile(r"^gpt-5(-mini|-nano)?" + _DATE + "$")
_NO_STOP = re.compile(r"^(o3|o4-mini)" + _DATE + "$")
_GPT5_POINT = re.compile(r"^gpt-5\.\d+(?!.*-chat)")
_RULES = {
    # o-series: effort low|medium|high, default medium (reasoning guide).
    "o": ModelRules("reasoning", ("low", "medium", "high"), "medium"),
    # o3 and o4-mini take no stop (openai-python CompletionCreateParams.stop: "Not supported
    # with latest reasoning models `o3` and `o4-mini`"), nor gpt-5 (huggingface/smolagents#1671).
    "o3": ModelRules("reasoning", ("low", "medium", "high"), "medium", takes_stop=False),
    # gpt-5, -mini, -nano: minimal|low|medium|high, default medium (GPT-5 guide).
    "gpt-5": ModelRules("reasoning", ("minimal", "low", "medium", "high"), "medium", False),
    # gpt-5.1 onwards: none (the default) … xhigh (GPT-5.1+ guide, "reasoning_effort none").
    "gpt-5.x": ModelRules("hybrid", ("none", "low", "medium", "high", "xhigh"), "none"),
}


def model_rules(model: str) -> ModelRules:
    """The emulator's rules for a model id (never the client's capability table, SPEC §3).

    Args:
        model: The requested model.

    Returns:
        Its rules; an unknown family is a chat model without reasoning.
    """
    if _RESPONSES_ONLY.match(model):
        return ModelRules("responses_only")
    if _O_SERIES.match(model):
        return _RULES["o3" if _NO_STOP.match(model) else "o"]
    if _GPT5.match(model):
        return _RULES["gpt-5"]
    if _GPT5_POINT.match(model):
        return _RULES["gpt-5.x"]
    return ModelRules("chat")


def _invalid(message: str, param: str | None, code: str | None = None) -> Refusal:
    return 400, message, param, code


_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


def _tool_problem(index: int, tool: dict[str, Any]) -> Refusal | None:
    """A function tool's name and, for ``strict: true``, its schema (Structured Outputs rules)."""
    if tool.get("type") != "function":
        return None
    function = tool["function"]
    name = function["name"]
    where = f"tools[{index}].function.name"
    # Wording as OpenAI answers (quoted in many reports, e.g. litellm#5356, openai-node#1109).
    if len(name) > 64:
        return _invalid(
            f"Invalid '{where}': string too long. Expected a string with maximum length 64, "
            f"but got a string with length {len(name)} instead.",
            where,
            "string_above_max_length",
        )
    if not _NAME.match(name):
        return _invalid(
            f"Invalid '{where}': string does not match pattern. Expected a string that matches "
            "the pattern '^[a-zA-Z0-9_-]+$'.",
            where,
            "invalid_value",
        )
    if function.get("strict") is True:
        problem = strict_problem(function.get("parameters") or {}, ())
        if problem is not None:
            return _invalid(
                f"Invalid schema for function '{name}': {problem}",
                f"tools[{index}].function.parameters",
                "invalid_function_parameters",
            )
    return None


def _tool_choice_problem(body: dict[str, Any]) -> Refusal | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    # "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are
    # specified." (param tool_choice, code null: dapr/dapr-agents#248); the same for
    # parallel_tool_calls (quoted in agentx-dev's troubleshooting page).
    for field in ("tool_choice", "parallel_tool_calls"):
        if body.get(field) is not None and not tools:
            return _invalid(
                f"Invalid value for '{field}': '{field}' is only allowed when 'tools' are "
                "specified.",
                field,
            )
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice["function"]["name"]
        names = {t["function"]["name"] for t in tools or () if t.get("type") == "function"}
        if name not in names:
            # Not recorded from OpenAI; the wording of OpenAI-compatible servers that mirror it
            # (sglang's request validator), in OpenAI's "Invalid value for" form.
            return _invalid(
                f"Invalid value for 'tool_choice': function '{name}' not found in 'tools'.",
                "tool_choice",
            )
    return None


def _turn_problem(messages: list[dict[str, Any]]) -> Refusal | None:
    """Tool messages answer the assistant ``tool_calls`` right before them, every id answered.

    Wordings as OpenAI answers them (tests/fixtures/openai/error_400_*.json and their sources):
    a tool message without a call before it, a ``tool_call_id`` the previous assistant turn did
    not issue, and an assistant turn whose calls are not all answered before the next message.
    """
    pending: list[str] = []
    answered: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if not pending and not answered:
                return _invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            call_id = message.get("tool_call_id")
            if call_id not in pending and call_id not in answered:
                return _invalid(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in "
                    "'tool_calls' of previous message.",
                    f"messages.[{i}].tool_call_id",
                )
            if call_id in pending:
                pending.remove(call_id)
                answered.add(call_id)
            continue
        if pending:
            return _unanswered(pending, i)
        answered = set()
        if role == "assistant" and message.get("tool_calls"):
            pending = [call["id"] for call in message["tool_calls"]]
    return _unanswered(pending, len(messages)) if pending else None


def _unanswered(pending: list[str], index: int) -> Refusal:
    return _invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(pending),
        f"messages.[{index}].role",
    )


def _id_problem(messages: list[dict[str, Any]]) -> Refusal | None:
    # "Expected a string with maximum length 40, but got a string with length 1721 instead."
    # (the tool_call_id limit, quoted in firebase/genkit reports of compat_oai).
    for i, message in enumerate(messages):
        ids = [(f"messages[{i}].tool_call_id", message.get("tool_call_id"))]
        ids += [
            (f"messages[{i}].tool_calls[{j}].id", call.get("id"))
            for j, call in enumerate(message.get("tool_calls") or ())
        ]
        for where, value in ids:
            if isinstance(value, str) and len(value) > 40:
                return _invalid(
                    f"Invalid '{where}': string too long. Expected a string with maximum length "
                    f"40, but got a string with length {len(value)} instead.",
                    where,
                    "string_above_max_length",
                )
    return None


def _model_problem(body: dict[str, Any], rules: ModelRules) -> Refusal | None:
    effort = body.get("reasoning_effort")
    if rules.kind == "responses_only":
        # "This model is only supported in v1/responses and not in v1/chat/completions."
        # (a 404 in reports of o1-pro / gpt-5-pro / codex calls).
        return (
            404,
            "This model is only supported in v1/responses and not in v1/chat/completions.",
            "model",
            None,
        )
    if body.get("max_tokens") is not None and rules.kind != "chat":
        # tests/fixtures/openai/error_400_max_tokens_reasoning_model.json (recorded live)
        return _invalid(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    if effort is not None and rules.kind == "chat":
        # "Unsupported parameter: 'reasoning_effort' is not supported with this model."
        return _invalid(
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            "reasoning_effort",
            "unsupported_parameter",
        )
    if effort is not None and effort not in rules.efforts:
        return _invalid(
            f"Unsupported value: 'reasoning_effort' does not support {effort!r} with this "
            f"model. Supported values are: {_listed(rules.efforts)}.",
            "reasoning_effort",
            "unsupported_value",
        )
    if not rules.takes_stop and body.get("stop") is not None:
        # The same wording for stop (param stop: langgenius/dify#18971, o4-mini).
        return _invalid(
            "Unsupported parameter: 'stop' is not supported with this model.",
            "stop",
            "unsupported_parameter",
        )
    if rules.reasons(effort) and body.get("top_p") is not None:
        # "Unsupported parameter: 'top_p' is not supported with this model." (param top_p,
        # code unsupported_parameter: o1 in aandrew-me/tgpt#333, gpt-5 in lfnovo/open-notebook#107)
        return _invalid(
            "Unsupported parameter: 'top_p' is not supported with this model.",
            "top_p",
            "unsupported_parameter",
        )
    temperature = body.get("temperature")
    if rules.reasons(effort) and temperature is not None and temperature != 1:
        # tests/fixtures/openai/error_400_temperature_reasoning_model.json
        shown = int(temperature) if float(temperature).is_integer() else temperature
        return _invalid(
            f"Unsupported value: 'temperature' does not support {shown} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )
    return None


def check_semantics(body: dict[str, Any]) -> Refusal | None:
    """The rules past the schema: tools, turns, parts, response format, the model's limits.

    Args:
        body: A body that passed :func:`check`.

    Returns:
        ``(status, message, param, code)`` of the first refusal, or ``None``.
    """
    for index, tool in enumerate(body.get("tools") or ()):
        problem = _tool_problem(index, tool)
        if problem is not None:
            return problem
    messages = body["messages"]
    return (
        _tool_choice_problem(body)
        or _id_problem(messages)
        or _turn_problem(messages)
        or part_problem(messages)
        or format_problem(body)
        or _model_problem(body, model_rules(body["model"]))
    )
