"""The capability table's Bedrock facts: one test per fact, each tied to its source (a recorded
400 in tests/fixtures/bedrock, the botocore service model, or the AWS documentation row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch.capabilities import capabilities
from llmorch.providers._converse_errors import unsupported_parameter

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
CLAUDE_5 = [
    "global.anthropic.claude-opus-5",
    "us.anthropic.claude-sonnet-5",
    "us.anthropic.claude-haiku-5-5",
    "anthropic.claude-fable-5",
    "us.anthropic.claude-opus-4-7",
    "anthropic.claude-opus-4-8-v1:0",
]
NATIVE = [
    "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "anthropic.claude-opus-4-5-20251101-v1:0",
    "global.anthropic.claude-opus-4-6-v1",
    "us.anthropic.claude-sonnet-4-6",
]
OLDER_CLAUDE = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
]


def service_shape(name: str) -> dict[str, Any]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape: dict[str, Any] = model._service_description["shapes"][name]
    return shape


def message(name: str) -> str:
    return str(json.loads((FIXTURES / name).read_text(encoding="utf-8"))["message"])


@pytest.mark.parametrize("model", CLAUDE_5)
def test_claude_5_and_opus_4_7_reject_temperature_and_top_p(model: str) -> None:
    """Opus 4.7+ and Claude 5 reject temperature and top_p, as their recorded 400s name them;
    top_k stays accepted (the recorded top_k answer)."""
    caps = capabilities("bedrock", model)
    named = {
        unsupported_parameter(message(f))
        for f in ("error_temperature_deprecated.json", "error_top_p_deprecated.json")
    }
    assert frozenset(named) == caps.rejects
    assert "top_k" not in caps.rejects
    answer = json.loads((FIXTURES / "converse_opus5_top_k.json").read_text(encoding="utf-8"))
    assert "end_turn" == answer["stopReason"]


@pytest.mark.parametrize("model", ["us.openai.gpt-5.6-sol", "global.openai.gpt-5.6-luna"])
def test_gpt_5_rejects_temperature_top_p_and_stop(model: str) -> None:
    """OpenAI's GPT-5 on Converse rejects the three fields its recorded 400s name."""
    names = ("error_openai_temperature.json", "error_openai_top_p.json")
    named = {
        unsupported_parameter(message(f)) for f in (*names, "error_openai_stop_sequences.json")
    }
    assert frozenset(named) == capabilities("bedrock", model).rejects


@pytest.mark.parametrize("model", NATIVE)
def test_claude_4_5_and_4_6_have_native_structured_output(model: str) -> None:
    """Claude Haiku/Sonnet/Opus 4.5 and Opus/Sonnet 4.6 take outputConfig."""
    assert "native" == capabilities("bedrock", model).structured_output


@pytest.mark.parametrize("model", CLAUDE_5 + OLDER_CLAUDE)
def test_other_claude_models_get_the_forced_tool(model: str) -> None:
    """Claude before 4.5 and from Opus 4.7 on refuse outputConfig: structured output goes as a
    forced tool."""
    assert "tool" == capabilities("bedrock", model).structured_output


@pytest.mark.parametrize(
    "model", ["amazon.nova-lite-v1:0", "openai.gpt-oss-120b-1:0", "qwen.qwen3-32b-v1:0"]
)
def test_other_models_are_assumed_native(model: str) -> None:
    """No row says otherwise: unknown is assumed accepted (native)."""
    assert capabilities("bedrock", model).structured_output is None


def test_output_schema_roots_must_be_objects() -> None:
    """Every Bedrock model gets a non-object root wrapped."""
    assert "object" == capabilities("bedrock", "amazon.nova-pro-v1:0").json_schema_root


def test_images_and_documents_are_bytes_only() -> None:
    """ImageSource and DocumentSource have bytes / s3Location (and text forms), no URL: Bedrock
    fetches no image URL."""
    assert {"bytes", "s3Location"} == set(service_shape("ImageSource")["members"])
    assert "url" not in service_shape("DocumentSource")["members"]
    assert capabilities("bedrock", NATIVE[0]).image_urls is False


def test_image_and_document_types_are_the_service_models_enums() -> None:
    """The media types are the ImageFormat / DocumentFormat enums."""
    caps = capabilities("bedrock", "amazon.nova-lite-v1:0")
    assert caps.image_types is not None and caps.document_types is not None
    images = [t.removeprefix("image/") for t in caps.image_types]
    assert service_shape("ImageFormat")["enum"] == images
    assert 9 == len(service_shape("DocumentFormat")["enum"]) == len(caps.document_types)


def test_size_limits_are_the_documented_ones() -> None:
    """3.75 MB per image and 4.5 MB per document, as the Message shape documents them."""
    doc = service_shape("Message")["members"]["content"]["documentation"]
    assert "3.75 MB" in doc and "4.5 MB" in doc
    caps = capabilities("bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
    assert (3_932_160, 4_718_592) == (caps.max_image_bytes, caps.max_document_bytes)


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("us.anthropic.claude-haiku-5-5", True),
        ("us.amazon.nova-2-lite-v1:0", True),
        ("amazon.nova-micro-v1:0", True),
        ("us.meta.llama4-maverick-17b-instruct-v1:0", True),
        ("openai.gpt-oss-120b-1:0", False),
        ("us.openai.gpt-5.6-sol", False),
        ("mistral.mistral-large-2407-v1:0", False),
    ],
)
def test_tool_result_media_per_family(model: str, allowed: bool) -> None:
    """Images in tool results: Claude and Nova (the service model's note), Llama 4 (a live
    check); no other family (the recorded refusal)."""
    note = service_shape("ToolResultContentBlock")["members"]["image"]["documentation"]
    assert "Amazon Nova and Anthropic Claude" in note
    assert "doesn't support the image field" in message("error_image_unsupported.json")
    assert allowed is capabilities("bedrock", model).tool_result_media


@pytest.mark.parametrize(
    ("model", "images"),
    [
        ("amazon.nova-micro-v1:0", False),
        ("openai.gpt-oss-20b-1:0", False),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", False),
        (NATIVE[1], True),
        ("us.anthropic.claude-haiku-5-5", True),
    ],
)
def test_image_input(model: str, images: bool) -> None:
    """Nova Micro, gpt-oss and Claude 3.5 Haiku read text only; other Claude models read
    images."""
    assert images is capabilities("bedrock", model).image_input


@pytest.mark.parametrize(
    ("model", "caching"),
    [
        (NATIVE[0], "explicit"),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "explicit"),
        ("amazon.nova-pro-v1:0", "explicit"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "implicit"),
        ("openai.gpt-oss-120b-1:0", "implicit"),
        ("meta.llama3-70b-instruct-v1:0", "implicit"),
    ],
)
def test_prompt_caching_is_explicit_for_claude_and_nova(model: str, caching: str) -> None:
    """cachePoint blocks go to Claude (3.5 Haiku, 3.7 Sonnet and later) and Nova; elsewhere
    cache_control is ignored with a warning. CachePointBlock takes ttl 5m / 1h."""
    assert ["5m", "1h"] == service_shape("CacheTTL")["enum"]
    assert caching == capabilities("bedrock", model).prompt_caching


def test_every_bedrock_row_has_a_source() -> None:
    """Each Bedrock row names where its facts come from."""
    from importlib import resources

    text = resources.files("llmorch").joinpath("data/capabilities.yaml").read_text("utf-8")
    rows = [r for r in yaml.safe_load(text)["models"] if r["provider_type"] == "bedrock"]
    assert 10 < len(rows)
    assert all(str(r.get("source", "")).strip() for r in rows)


async def test_claude_opus_5_5_refuses_a_forced_tool_so_the_output_tool_is_offered(
    tmp_path: Path,
) -> None:
    """The recorded 400 for a forced toolChoice to Opus 5.5: the table says so, the emulator
    answers it, and structured output there goes through an offered (auto) tool."""
    from pydantic import BaseModel

    from llmorch.output import TOOL_NAME
    from llmorch.testing import ProviderEmulator, Reply, ToolUse
    from tests.emulated import orch_for

    class Answer(BaseModel):
        city: str

    model = "us.anthropic.claude-opus-5-5"
    caps = capabilities("bedrock", model)
    assert caps.forced_tool_choice is False and caps.structured_output == "tool"
    async with ProviderEmulator() as emu:
        emu.script("bedrock", model, Reply(tool_calls=(ToolUse(TOOL_NAME, {"city": "Oslo"}),)))
        async with orch_for(emu, "bedrock", model, tmp_path / "ledger.jsonl") as orch:
            ask = [{"role": "user", "content": "Where?"}]
            response = await orch.send_request(ask, response_format=Answer)
        assert response.parsed == Answer(city="Oslo")
        (sent,) = [r for r in emu.requests if r.path.endswith("/converse")]
        assert sent.body["toolConfig"]["toolChoice"] == {"auto": {}}
        forced = {**sent.body, "toolConfig": {**sent.body["toolConfig"], "toolChoice": {"any": {}}}}
        from tests.test_emulator_bedrock_tools import post

        refused = await post(emu, model, forced)
    assert refused.status_code == 400
    assert refused.json()["message"] == message("error_forced_tool_choice_unsupported.json")
