from __future__ import annotations

from typing import Any

import pytest

from llmorch import (
    AllFallbacksFailedError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    RateLimitError,
    StreamInterruptedError,
)
from llmorch.messages import ChatMessage, TextPart, validate_messages
from llmorch.types import UsageRecord, normalize_tokens


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ("hello", "must be a list"),
        (None, "must be a list"),
        ([], "must not be empty"),
        (["hi"], r"messages\[0\] must be a dict"),
        ([{"role": "robot", "content": "x"}], r"messages\[0\]\.role must be one of"),
        ([{"role": "user"}], r"messages\[0\] has no 'content'"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": 3}],
            r"messages\[1\]\.content: must be a str or a list of parts, got int",
        ),
        ([{"role": "user", "content": "a", "name": "x"}], r"unexpected keys: \['name'\]"),
    ],
)
def test_invalid_messages_name_the_index_and_problem(messages: Any, message: str) -> None:
    """Each malformed message list raises InvalidRequestError naming the index."""
    with pytest.raises(InvalidRequestError, match=message):
        validate_messages(messages)


def test_valid_messages_are_typed_and_the_input_untouched() -> None:
    """Validation returns typed turns and never mutates the caller's list."""
    original = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    checked = validate_messages(tuple(original))
    assert checked == (
        ChatMessage("system", (TextPart("s"),)),
        ChatMessage("user", (TextPart("u"),)),
    )
    assert original == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def test_normalize_tokens_keeps_optional_keys_even_when_zero() -> None:
    """Optional keys appear whenever reported, even as 0, and total is their sum."""
    assert {"prompt": 3, "completion": 4, "total": 7, "cache_read": 0} == normalize_tokens(
        3, 4, cache_read=0
    )
    record = UsageRecord(
        ts=None,  # type: ignore[arg-type]
        session_id="s",
        provider="p",
        model="m",
        prompt=5,
        completion=1,
        total=6,
        cost=0.0,
        reasoning=1,
    )
    assert {"prompt": 5, "completion": 1, "total": 6, "cache_read": 0, "cache_write": 0} | {
        "reasoning": 1
    } == record.tokens


def test_provider_error_str_repr_and_body_truncation() -> None:
    """Errors show their context in str, a useful repr, and truncate long bodies."""
    error = RateLimitError(
        "slow down", provider="openai", model="gpt-4o", status_code=429, request_id="req_1"
    )
    assert "slow down (provider=openai, model=gpt-4o, status=429, request_id=req_1)" == str(error)
    assert repr(error).startswith("RateLimitError('slow down', provider='openai'")
    assert error.is_retryable
    assert "bare" == str(ProviderError("bare"))
    long = ProviderError("x", body="y" * 5000)
    assert isinstance(long.body, str) and len(long.body) < 2100


def test_stream_interrupted_and_all_failed_carry_their_data() -> None:
    """StreamInterruptedError keeps partial text; AllFallbacksFailedError lists every model."""
    assert "ab" == StreamInterruptedError("cut", partial_text="ab").partial_text
    attempts = [("m1", ModelNotFoundError("gone")), ("m2", RateLimitError("slow"))]
    error = AllFallbacksFailedError(attempts)
    assert attempts == error.attempts
    assert "all 2 models failed" in str(error)
    assert "m1: ModelNotFoundError: gone" in str(error)
