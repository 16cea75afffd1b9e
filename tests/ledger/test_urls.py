"""Ledger URLs: what each form names, what is refused, and that a password never shows."""

from __future__ import annotations

import os

import pytest

from llmorch.exceptions import ConfigurationError
from llmorch.ledger.urls import parse_ledger_url, redact_url


@pytest.mark.parametrize(
    ("url", "scheme", "target"),
    [
        ("jsonl:costs.log", "jsonl", "costs.log"),
        ("jsonl:///var/log/costs.log", "jsonl", "/var/log/costs.log"),
        ("sqlite:///rel/costs.db", "sqlite", "rel/costs.db"),
        ("sqlite:////abs/costs.db", "sqlite", "/abs/costs.db"),
        ("postgres://app@db/llm", "postgresql", "postgresql://app@db/llm"),
        ("POSTGRESQL://app@db:6432/llm", "postgresql", "postgresql://app@db:6432/llm"),
    ],
)
def test_each_form_names_its_store(url: str, scheme: str, target: str) -> None:
    parsed = parse_ledger_url(url)
    expected = target if "://" in target else os.path.abspath(target)  # relative: to the cwd
    assert (parsed.scheme, parsed.target) == (scheme, expected)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://db/llm", "is not a ledger URL"),
        ("costs.log", "is not a ledger URL"),
        ("jsonl:", "names no file"),
        ("sqlite://costs.db", "sqlite:///relative/path"),
        ("sqlite:///", "names no file"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql://", "names no server or database"),
    ],
)
def test_malformed_urls_are_one_clear_error(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as info:
        parse_ledger_url(url)
    assert str(info.value).startswith("cost_tracking.ledger: ")
    assert "\n" not in str(info.value)


def test_a_password_never_shows() -> None:
    url = "postgresql://app:s3cr%40t@db:5432/llm?sslmode=require"
    assert redact_url(url) == "postgresql://app:***@db:5432/llm?sslmode=require"
    assert "s3cr" not in parse_ledger_url(url).display
    with pytest.raises(ConfigurationError) as info:
        parse_ledger_url("mysql://app:s3cr3t@db/llm")
    assert "s3cr3t" not in str(info.value)
    assert redact_url("postgresql://app@db/llm") == "postgresql://app@db/llm"
    assert "hunter2" not in redact_url("postgresql://u:hunter2@[::1/db")  # not even a valid URL
