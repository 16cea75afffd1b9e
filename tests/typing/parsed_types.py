"""Checked by ``mypy --strict`` in the typecheck session (never run): ``parsed`` is typed.

SPEC §2.9: ``LLMResponse`` is generic, so ``response.parsed`` is typed as the class given to
``response_format=`` (``Any`` without one, or with a schema dict).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

from llmorch import AsyncLLMOrchestrator, LLMOrchestrator, LLMResponse


class Item(BaseModel):
    """An answer's shape."""

    name: str


async def typed(orch: AsyncLLMOrchestrator, sync: LLMOrchestrator) -> None:
    """Each call's ``parsed`` type follows its ``response_format``."""
    messages = [{"role": "user", "content": "hi"}]
    one = await orch.send_request(messages, response_format=Item)
    assert_type(one.parsed, Item | None)
    many = sync.send_request(messages, response_format=list[Item])
    assert_type(many.parsed, list[Item] | None)
    schema = await orch.send_request(messages, response_format={"type": "json_object"})
    assert_type(schema, LLMResponse[Any])
    plain: LLMResponse = await orch.send_request(messages)
    assert_type(plain.parsed, Any | None)
