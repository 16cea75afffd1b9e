"""The OpenAI codec on structured output, image and file parts, and the 400s about parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmorch.config import OpenAIConfig
from llmorch.exceptions import InvalidRequestError
from llmorch.providers._openai_wire import unsupported_parameter
from llmorch.providers.openai import OpenAIProvider

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def openai_400(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return {"error": error}


@pytest.mark.parametrize(
    ("payload", "parameter"),
    [
        pytest.param(
            fixture("error_400_temperature_reasoning_model.json"), "temperature", id="rec"
        ),
        pytest.param(
            openai_400(
                "Unsupported parameter: 'top_p' is not supported with this model.",
                "top_p",
                "unsupported_parameter",
            ),
            "top_p",
            id="top-p",
        ),
        pytest.param(
            {
                "error": {
                    "message": "Unsupported parameter: 'seed' is not supported with this model."
                }
            },
            "seed",
            id="compatible-server-without-param",
        ),
        pytest.param(
            fixture("error_400_max_tokens_reasoning_model.json"), None, id="not-a-sampling-param"
        ),
        pytest.param(
            openai_400(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
                "unsupported_parameter",
            ),
            None,
            id="reasoning-effort",
        ),
        pytest.param(fixture("error_400_tool_calls_without_results.json"), None, id="other-400"),
        pytest.param("Bad Request", None, id="not-json"),
    ],
)
def test_unsupported_parameter_reads_openai_400(payload: Any, parameter: str | None) -> None:
    """temperature/top_p/seed/stop from param+code (or the message's opening), else None."""
    assert parameter == unsupported_parameter(payload)


async def test_the_adapter_hook_reads_the_error_body() -> None:
    """OpenAIProvider.unsupported_parameter reads InvalidRequestError.body."""
    async with httpx.AsyncClient() as http:
        adapter = OpenAIProvider("openai", OpenAIConfig(api_key="sk-test"), http)
        error = InvalidRequestError(
            "x", status_code=400, body=fixture("error_400_temperature_reasoning_model.json")
        )
        assert "temperature" == adapter.unsupported_parameter(error)
        assert adapter.unsupported_parameter(InvalidRequestError("x", body=None)) is None
