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
``3 is greater than the maximum of 2 - 'temperature'``.
"""

from __future__ import annotations

import json
from typing import Any

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

__all__ = ["CHAT_REQUEST", "ROLES", "check", "problem_error", "wire_path"]

_STRING = Scalar("string")
_BOOL = Scalar("boolean")
_INT = Scalar("integer")
_TOKENS = Scalar("integer", minimum=1)
_PENALTY = Scalar("number", minimum=-2, maximum=2)


def _part(payload: str, payload_spec: Any = ANY) -> Obj:
    return Obj(
        {"type": _STRING, payload: payload_spec, "prompt_cache_breakpoint": ANY},
        frozenset({"type", payload}),
    )


_TEXT = _part("text", _STRING)
_IMAGE = _part(
    "image_url",
    Obj({"url": _STRING, "detail": Scalar("string")}, frozenset({"url"})),
)
_USER_PARTS = Tagged(
    "type",
    {
        "text": _TEXT,
        "image_url": _IMAGE,
        "input_audio": _part("input_audio"),
        "file": _part("file"),
    },
)
_ASSISTANT_PARTS = Tagged(
    "type", {"text": _TEXT, "refusal": Obj({"type": _STRING, "refusal": _STRING})}
)
_TEXT_CONTENT = Either((_STRING, Arr(Tagged("type", {"text": _TEXT}))))

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
                "tool_calls": Arr(ANY),
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
        "reasoning_effort": _STRING,
        "response_format": ANY,
        "safety_identifier": _STRING,
        "seed": _INT,
        "service_tier": _STRING,
        "stop": Either((_STRING, Arr(_STRING))),
        "store": _BOOL,
        "stream": _BOOL,
        "stream_options": Obj({"include_usage": _BOOL, "include_obfuscation": _BOOL}),
        "temperature": Scalar("number", minimum=0, maximum=2),
        "tool_choice": ANY,
        "tools": Arr(ANY),
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
    if problem.kind == "tag":
        choices = ROLES if problem.path[-1] == "role" else _tags(problem)
        listed = ", ".join(f"'{c}'" for c in choices[:-1]) + f", and '{choices[-1]}'"
        return (
            f"Invalid value: {_number(problem.value)}. Supported values are: {listed}.",
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
