"""The capability table's OpenAI facts: one test per fact, each against its source.

Where the emulator (which never reads the table) enforces the same fact, the test also sends the
request it is about and checks OpenAI's own refusal or answer, so the table and the vendor's
behaviour as recorded cannot drift apart silently.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmorch.capabilities import capabilities
from llmorch.testing import ProviderEmulator

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
ALWAYS_REASONING = [
    "o1",
    "o3",
    "o3-mini-2025-01-31",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
]
HYBRID = ["gpt-5.4", "gpt-5.4-mini", "gpt-5.6-luna", "gpt-5.2"]
CHAT = ["gpt-4o", "gpt-4.1-mini", "gpt-5-chat-latest"]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def post(emu: ProviderEmulator, body: dict[str, Any]) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": "hi, in JSON"}], **body}
    return httpx.post(
        emu.url("openai") + "/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-test"},
    )


@pytest.mark.parametrize("model", ALWAYS_REASONING)
def test_models_that_always_reason_take_temperature_only_at_1(
    emu: ProviderEmulator, model: str
) -> None:
    """only_default temperature 1 (source: the recorded 400 error_400_temperature_*.json)."""
    assert {"temperature": 1} == dict(capabilities("openai", model).only_default)
    recorded = json.loads((FIXTURES / "error_400_temperature_reasoning_model.json").read_text())
    response = post(emu, {"model": model, "temperature": 0.2})
    assert (400, recorded) == (response.status_code, response.json())


@pytest.mark.parametrize("model", ALWAYS_REASONING)
def test_models_that_always_reason_reject_top_p(emu: ProviderEmulator, model: str) -> None:
    """rejects top_p (source: the 400 reported for o1 and gpt-5)."""
    assert "top_p" in capabilities("openai", model).rejects
    response = post(emu, {"model": model, "top_p": 0.5})
    assert ("top_p", "unsupported_parameter") == (
        response.json()["error"]["param"],
        response.json()["error"]["code"],
    )


@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"])
def test_o3_o4_mini_and_gpt_5_reject_stop(emu: ProviderEmulator, model: str) -> None:
    """rejects stop (source: the SDK's stop docstring and the 400 reported for both)."""
    assert {"stop", "top_p"} <= capabilities("openai", model).rejects
    response = post(emu, {"model": model, "stop": ["END"]})
    assert refused(response) == ("stop", "unsupported_parameter")


@pytest.mark.parametrize("model", ["o1", "o3-mini", *HYBRID, *CHAT])
def test_other_models_take_stop(model: str) -> None:
    """No stop fact for o1, o3-mini, gpt-5.1+ or the chat models."""
    assert "stop" not in capabilities("openai", model).rejects


def refused(response: httpx.Response) -> tuple[str, str]:
    return response.json()["error"]["param"], response.json()["error"]["code"]


@pytest.mark.parametrize("model", HYBRID + CHAT)
def test_other_models_take_sampling_parameters(model: str) -> None:
    """gpt-5.1+ refuse them only while reasoning, chat models never: nothing in the table."""
    caps = capabilities("openai", model)
    assert (frozenset(), {}) == (caps.rejects, dict(caps.only_default))


@pytest.mark.parametrize("model", ["gpt-5.4-mini", "gpt-4o", "o3", "deepseek-chat"])
def test_structured_output_is_native_with_an_object_root(emu: ProviderEmulator, model: str) -> None:
    """structured_output native, json_schema_root object (source: the non-object-root 400)."""
    caps = capabilities("openai", model)
    assert ("native", "object") == (caps.structured_output, caps.json_schema_root)
    fmt = {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type": "array"}}}
    response = post(emu, {"model": "gpt-5.4-mini", "response_format": fmt})
    assert (
        "schema must be a JSON Schema of 'type: \"object\"'" in response.json()["error"]["message"]
    )


@pytest.mark.parametrize("model", ["gpt-5.4-mini", "gpt-4o", "o3", "o4-mini", "gpt-4.1"])
def test_vision_models_take_images_by_url_and_pdfs(model: str) -> None:
    """image_input, document_input, image_urls (source: the vision and PDF guides)."""
    caps = capabilities("openai", model)
    assert (True, True, True) == (caps.image_input, caps.document_input, caps.image_urls)


@pytest.mark.parametrize("model", ["o3-mini", "o1-mini", "gpt-3.5-turbo", "gpt-4", "gpt-4-0613"])
def test_text_only_models_take_no_media(model: str) -> None:
    """image_input / document_input false (source: the model pages)."""
    caps = capabilities("openai", model)
    assert (False, False) == (caps.image_input, caps.document_input)


def test_tool_results_are_text_only(emu: ProviderEmulator) -> None:
    """tool_result_media false (source: ChatCompletionToolMessageParam.content, checked against
    the SDK in tests/conformance/test_openai_strict_schema.py)."""
    assert capabilities("openai", "gpt-5.4").tool_result_media is False
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "image_url", "image_url": {"url": png}}],
        },
    ]
    tools = [{"type": "function", "function": {"name": "f"}}]
    response = post(emu, {"model": "gpt-5.4-mini", "messages": messages, "tools": tools})
    assert 400 == response.status_code
    assert "messages[2].content[0].type" == response.json()["error"]["param"]


def test_image_types_and_size(emu: ProviderEmulator) -> None:
    """PNG, JPEG, GIF, WebP up to 20 MB (source: the vision guide)."""
    caps = capabilities("openai", "gpt-5.4")
    assert ("image/png", "image/jpeg", "image/gif", "image/webp") == caps.image_types
    assert 20 * 1024 * 1024 == caps.max_image_bytes
    heic = "data:image/heic;base64," + base64.b64encode(b"\x00\x00\x00\x18ftypheic").decode()
    content = [{"type": "image_url", "image_url": {"url": heic}}]
    response = post(
        emu, {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": content}]}
    )
    assert "invalid_image_format" == response.json()["error"]["code"]


def test_documents_are_pdfs_up_to_32_mb() -> None:
    """document_types application/pdf, 32 MB (source: the PDF files guide)."""
    caps = capabilities("openai", "gpt-5.4")
    assert (("application/pdf",), 32 * 1024 * 1024) == (
        caps.document_types,
        caps.max_document_bytes,
    )


def test_prompt_caching_is_implicit() -> None:
    """prompt_caching implicit (source: the prompt-caching guide): cache_control is not sent."""
    assert "implicit" == capabilities("openai", "gpt-5.4").prompt_caching


def test_every_openai_fact_names_its_source() -> None:
    """Each matching row contributes a source."""
    for model in [*ALWAYS_REASONING, *HYBRID, *CHAT, "o3-mini"]:
        source = capabilities("openai", model).source or ""
        assert "structured-outputs" in source and "images-vision" in source, model
    assert "error_400_temperature_reasoning_model.json" in (
        capabilities("openai", "o3").source or ""
    )
