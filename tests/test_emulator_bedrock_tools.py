"""The Bedrock dialect serves tool calls and reasoning the Converse way and refuses bad tool turns
with Bedrock's own 400 bodies (raw signed requests, decoded with botocore's event-stream reader)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.testing._bedrock_rules import family, signing_kind
from llmorch.testing._signing import sign

pytest.importorskip("botocore")
from botocore.eventstream import EventStreamBuffer

CLAUDE = "us.anthropic.claude-haiku-5-5"
NOVA = "us.amazon.nova-2-lite-v1:0"
GPT_OSS = "openai.gpt-oss-120b-1:0"
WEATHER = {
    "toolSpec": {
        "name": "weather",
        "description": "Weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            }
        },
    }
}
CLOCK = {"toolSpec": {"name": "clock", "inputSchema": {"json": {"type": "object"}}}}
USER = {"role": "user", "content": [{"text": "weather in Paris and the time"}]}
THINKING = {
    "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}
}
ID = re.compile(r"^tooluse_[A-Za-z0-9]{22}$")


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


async def post(
    emu: ProviderEmulator, model: str, body: dict[str, Any], *, stream: bool = False
) -> httpx.Response:
    from llmorch.config import BedrockConfig
    from llmorch.providers._aws import AWSAuth, encode_label

    config = emu.config_for("bedrock")
    auth = AWSAuth("bedrock", BedrockConfig(**{k: v for k, v in config.items() if k != "type"}))
    operation = "converse-stream" if stream else "converse"
    url = f"{config['endpoint_url']}/model/{encode_label(model)}/{operation}"
    raw = json.dumps(body).encode()
    headers = await auth.sign("POST", url, raw, {"content-type": "application/json"})
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=raw, headers=headers)


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The (event type, payload) pairs of an event-stream body, via botocore's decoder."""
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)
    return [
        (str(m.headers[":event-type"]), json.loads(m.payload))
        for m in buffer
        if m.headers[":message-type"] == "event"
    ]


def tools(*specs: dict[str, Any], choice: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"tools": list(specs)}
    if choice is not None:
        config["toolChoice"] = choice
    return {"toolConfig": config}


PARALLEL = Reply(
    "Let me look.",
    tool_calls=(ToolUse("weather", {"city": "Paris", "days": 2}), ToolUse("clock", id="tooluse_x")),
)


async def test_tool_calls_non_streamed(emu: ProviderEmulator) -> None:
    """Scripted parallel calls come back as toolUse blocks after the text, with Bedrock-style ids
    (or the scripted one), object inputs and stopReason tool_use."""
    emu.script("bedrock", CLAUDE, PARALLEL)
    response = await post(emu, CLAUDE, {"messages": [USER]} | tools(WEATHER, CLOCK))
    data = response.json()
    content = data["output"]["message"]["content"]
    assert {"text": "Let me look."} == content[0]
    first, second = content[1]["toolUse"], content[2]["toolUse"]
    assert ID.match(first["toolUseId"])
    assert ("weather", {"city": "Paris", "days": 2}) == (first["name"], first["input"])
    assert {"toolUseId": "tooluse_x", "name": "clock", "input": {}} == second
    assert "tool_use" == data["stopReason"]
    assert 3 + 1 + 1 == data["usage"]["outputTokens"]  # the words, then each arguments JSON


async def test_tool_calls_streamed_block_by_block(emu: ProviderEmulator) -> None:
    """Streamed: text deltas on block 0, then per call contentBlockStart (id, name), input
    fragments and contentBlockStop by contentBlockIndex; messageStop tool_use, then metadata."""
    emu.script("bedrock", CLAUDE, PARALLEL)
    response = await post(emu, CLAUDE, {"messages": [USER]} | tools(WEATHER, CLOCK), stream=True)
    got = events(response)
    kinds = [k for k, _ in got]
    assert ["messageStart", "contentBlockDelta"] == kinds[:2]
    assert ["messageStop", "metadata"] == kinds[-2:]
    starts = [
        (p["contentBlockIndex"], p["start"]["toolUse"]) for k, p in got if k == "contentBlockStart"
    ]
    assert [1, 2] == [i for i, _ in starts]
    assert [("weather", True), ("clock", False)] == [
        (s["name"], bool(ID.match(s["toolUseId"]))) for _, s in starts
    ]
    fragments: dict[int, list[str]] = {}
    for kind, payload in got:
        if kind == "contentBlockDelta" and "toolUse" in payload["delta"]:
            fragments.setdefault(payload["contentBlockIndex"], []).append(
                payload["delta"]["toolUse"]["input"]
            )
    assert 1 < len(fragments[1])
    assert {"city": "Paris", "days": 2} == json.loads("".join(fragments[1]))
    assert "{}" == "".join(fragments[2])
    stops = [p["contentBlockIndex"] for k, p in got if k == "contentBlockStop"]
    assert [0, 1, 2] == stops
    assert "tool_use" == got[-2][1]["stopReason"]


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_only_when_turned_on_and_signed(
    emu: ProviderEmulator, stream: bool
) -> None:
    """Claude with thinking on gets a signed reasoning block first (block 0); without thinking
    the same script sends no reasoning at all."""
    script = Reply("Sunny.", reasoning="I should check the forecast")
    emu.script("bedrock", CLAUDE, script, script)
    on = await post(emu, CLAUDE, {"messages": [USER]} | THINKING, stream=stream)
    off = await post(emu, CLAUDE, {"messages": [USER]}, stream=stream)
    if stream:
        deltas = [p["delta"] for k, p in events(on) if k == "contentBlockDelta"]
        text = "".join(
            d["reasoningContent"].get("text", "") for d in deltas if "reasoningContent" in d
        )
        (signature,) = [
            d["reasoningContent"]["signature"]
            for d in deltas
            if "signature" in d.get("reasoningContent", {})
        ]
        assert "I should check the forecast" == text
        assert not any(
            "reasoningContent" in p["delta"] for k, p in events(off) if k == "contentBlockDelta"
        )
    else:
        block = on.json()["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
        text, signature = block["text"], block["signature"]
        assert "I should check the forecast" == text
        assert [{"text": "Sunny."}] == off.json()["output"]["message"]["content"]
    assert sign(signing_kind, text) == signature


@pytest.mark.parametrize(
    ("model", "extra", "signed"),
    [
        (NOVA, {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}, True),
        (GPT_OSS, {"reasoning_effort": "low"}, False),
    ],
)
async def test_reasoning_per_family(
    emu: ProviderEmulator, model: str, extra: dict[str, Any], signed: bool
) -> None:
    """Nova reads reasoningConfig, gpt-oss reasoning_effort (and sends its reasoning unsigned)."""
    emu.script("bedrock", model, Reply("ok", reasoning="think"))
    body = {"messages": [USER], "additionalModelRequestFields": extra}
    block = (await post(emu, model, body)).json()["output"]["message"]["content"][0]
    assert "think" == block["reasoningContent"]["reasoningText"]["text"]
    assert signed == ("signature" in block["reasoningContent"]["reasoningText"])


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("anthropic.claude-sonnet-5-5", "claude"),
        ("global.anthropic.claude-opus-5", "claude"),
        ("us-gov.anthropic.claude-haiku-5-5", "claude"),
        ("apac.amazon.nova-2-lite-v1:0", "nova"),
        ("openai.gpt-oss-20b-1:0", "gpt-oss"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-x",
            "claude",
        ),
        ("meta.llama3-70b-instruct-v1:0", "other"),
        ("amazon.titan-text-express-v1", "other"),
    ],
)
def test_family_after_an_optional_geo_prefix(model: str, expected: str) -> None:
    """The family of a model id, profile or ARN."""
    assert expected == family(model)


@pytest.mark.parametrize(
    ("choice", "name"), [({"any": {}}, "weather"), ({"tool": {"name": "clock"}}, "clock")]
)
async def test_forced_choice_unscripted_calls_the_tool(
    emu: ProviderEmulator, choice: dict[str, Any], name: str
) -> None:
    """toolChoice any (first tool) or tool (that tool) with nothing scripted: the dialect calls
    it with arguments that satisfy the schema's required properties."""
    body = {"messages": [USER]} | tools(WEATHER, CLOCK, choice=choice)
    data = (await post(emu, CLAUDE, body)).json()
    (block,) = data["output"]["message"]["content"]
    assert name == block["toolUse"]["name"]
    expected = {"city": "x", "days": 1} if name == "weather" else {}
    assert expected == block["toolUse"]["input"]
    assert "tool_use" == data["stopReason"]


async def test_cut_mid_call(emu: ProviderEmulator) -> None:
    """Fault.cut with tool calls: the first call whole, the last one's first half of fragments,
    then the connection ends with no contentBlockStop, messageStop or metadata for it."""
    calls = (ToolUse("clock"), ToolUse("weather", {"city": "Paris", "days": 2}))
    emu.script(
        "bedrock", CLAUDE, Fault.cut(after=1, text="Checking now", tool_calls=calls, clean=True)
    )
    got = events(await post(emu, CLAUDE, {"messages": [USER]} | tools(WEATHER, CLOCK), stream=True))
    kinds = [k for k, _ in got]
    assert "messageStop" not in kinds and "metadata" not in kinds
    assert [0, 1] == [p["contentBlockIndex"] for k, p in got if k == "contentBlockStop"]
    last = "".join(
        p["delta"]["toolUse"]["input"]
        for k, p in got
        if k == "contentBlockDelta" and p["contentBlockIndex"] == 2
    )
    full = json.dumps({"city": "Paris", "days": 2}, separators=(",", ":"))
    assert last and full.startswith(last) and last != full


def call_turn(*ids: str, reasoning: dict[str, Any] | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"reasoningContent": reasoning}] if reasoning else []
    blocks += [{"toolUse": {"toolUseId": i, "name": "clock", "input": {}}} for i in ids]
    return {"role": "assistant", "content": blocks}


def result_turn(*ids: str, status: str = "success") -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": i, "content": [{"text": "12:00"}], "status": status}}
            for i in ids
        ],
    }


SIGNED = {
    "reasoningText": {"text": "need the time", "signature": sign(signing_kind, "need the time")}
}
REFUSALS: list[tuple[dict[str, Any], str]] = [
    (
        {"messages": [USER, call_turn("a"), result_turn("a")]},
        "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
    ),
    (
        {"messages": [USER, call_turn("a"), result_turn("a", "b")]} | tools(CLOCK),
        (
            "The number of toolResult blocks at messages.2.content exceeds the number of toolUse "
            "blocks of previous turn."
        ),
    ),
    (
        {"messages": [USER, result_turn("a")]} | tools(CLOCK),
        (
            "The number of toolResult blocks at messages.1.content exceeds the number of toolUse "
            "blocks of previous turn."
        ),
    ),
    (
        {"messages": [USER, call_turn("a", "b"), result_turn("a", "c")]} | tools(CLOCK),
        "Expected toolResult blocks at messages.2.content for the following Ids: b",
    ),
    (
        {"messages": [USER, call_turn("a", "a"), result_turn("a", "a")]} | tools(CLOCK),
        "The toolUse blocks at messages.1.content contain duplicate Ids: a",
    ),
    (
        {"messages": [{"role": "user", "content": [{"reasoningContent": SIGNED}]}]},
        (
            "User messages cannot contain reasoning content. Please remove the reasoning content "
            "and "
            "try again."
        ),
    ),
    (
        {"messages": [USER, {"role": "assistant", "content": []}, USER]},
        (
            "The content field in the Message object at messages.1 is empty. Add a ContentBlock "
            "object to the content field and try again."
        ),
    ),
    (
        {"messages": [USER]} | tools(CLOCK, choice={"any": {}}) | THINKING,
        (
            "The model returned the following errors: Thinking may not be enabled when tool_choice "
            "forces tool use."
        ),
    ),
    (
        {
            "messages": [
                USER,
                call_turn(
                    "a",
                    reasoning={
                        "reasoningText": {
                            "text": "need the time",
                            "signature": sign(signing_kind, "need the time!"),
                        }
                    },
                ),
                result_turn("a"),
            ]
        }
        | tools(CLOCK)
        | THINKING,
        (
            "The model returned the following errors: messages.1.content.0: Invalid `signature` in "
            "`thinking` block"
        ),
    ),
    (
        {
            "messages": [
                USER,
                call_turn("a", reasoning={"reasoningText": {"text": "t"}}),
                result_turn("a"),
            ]
        }
        | tools(CLOCK),
        (
            "The model returned the following errors: messages.1.content.0.thinking.signature: "
            "Field required"
        ),
    ),
    (
        {"messages": [USER, call_turn("a"), result_turn("a")]} | tools(CLOCK) | THINKING,
        (
            "The model returned the following errors: messages.1.content.0.type: Expected "
            "`thinking` "
            "or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final "
            "`assistant` message must start with a thinking block."
        ),
    ),
    (
        {"messages": [USER]} | tools({"toolSpec": {"name": "f", "inputSchema": {"json": [1]}}}),
        (
            "The format of the value at toolConfig.tools.0.toolSpec.inputSchema.json is invalid. "
            "Provide a json object for the field and try again."
        ),
    ),
    (
        {"messages": [USER]}
        | tools(CLOCK, {"toolSpec": {"name": "f", "inputSchema": {"json": {}}}}),
        (
            "The value at toolConfig.tools.1.toolSpec.inputSchema.json.type must be one of the "
            "following: object."
        ),
    ),
    (
        {
            "messages": [
                USER,
                call_turn("a"),
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "a", "content": [], "status": "error"}}
                    ],
                },
            ]
        }
        | tools(CLOCK),
        (
            "The content field at messages.2.content.0.toolResult cannot be empty when status "
            "value "
            "is error."
        ),
    ),
    (
        {"messages": [USER]}
        | tools({"toolSpec": {"name": "$READFILE", "inputSchema": {"json": {"type": "object"}}}}),
        (
            "1 validation error detected: Value at 'toolConfig.tools.1.member.toolSpec.name' "
            "failed "
            "to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
        ),
    ),
    (
        {"messages": [USER]} | {"toolConfig": {"tools": []}},
        (
            "1 validation error detected: Value at 'toolConfig.tools' failed to satisfy "
            "constraint: "
            "Member must have length greater than or equal to 1"
        ),
    ),
    (
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": [{"toolUse": {"toolUseId": "a", "name": "clock"}}],
                },
            ]
        }
        | tools(CLOCK),
        (
            "1 validation error detected: Value null at "
            "'messages.2.member.content.1.member.toolUse."
            "input' failed to satisfy constraint: Member must not be null"
        ),
    ),
    (
        {"messages": [USER, call_turn("a"), result_turn("a", status="failed")]} | tools(CLOCK),
        (
            "1 validation error detected: Value at 'messages.3.member.content.1.member.toolResult."
            "status' failed to satisfy constraint: Member must satisfy enum value set: [success, "
            "error]"
        ),
    ),
    (
        {"messages": [USER]} | {"toolConfig": {"toolChoice": {"auto": {}}}},
        (
            "1 validation error detected: Value null at 'toolConfig.tools' failed to satisfy "
            "constraint: Member must not be null"
        ),
    ),
]


@pytest.mark.parametrize(("body", "message"), REFUSALS)
@pytest.mark.parametrize("stream", [False, True])
async def test_bad_tool_turns_get_bedrocks_400(
    emu: ProviderEmulator, body: dict[str, Any], message: str, stream: bool
) -> None:
    """Each refused tool turn gets 400 ValidationException with Bedrock's wording, streamed or
    not, and is never answered."""
    emu.script("bedrock", CLAUDE, "never sent")
    response = await post(emu, CLAUDE, body, stream=stream)
    assert 400 == response.status_code
    assert "ValidationException" == response.headers["x-amzn-errortype"].split(":")[0]
    assert message == response.json()["message"]


async def test_signed_reasoning_round_trips(emu: ProviderEmulator) -> None:
    """The reasoning block and call the dialect sent, returned byte for byte with the result,
    are accepted with thinking still on; the loop ends with the final answer."""
    emu.script(
        "bedrock",
        CLAUDE,
        Reply(reasoning="need the time", tool_calls=(ToolUse("clock"),)),
        Reply("It is noon.", reasoning="got it"),
    )
    first = (await post(emu, CLAUDE, {"messages": [USER]} | tools(CLOCK) | THINKING)).json()
    turn = first["output"]["message"]
    call_id = turn["content"][1]["toolUse"]["toolUseId"]
    body = {"messages": [USER, turn, result_turn(call_id)]} | tools(CLOCK) | THINKING
    second = await post(emu, CLAUDE, body)
    assert 200 == second.status_code, second.text
    assert "It is noon." == second.json()["output"]["message"]["content"][1]["text"]


def test_required_members_and_traits_are_the_service_models() -> None:
    """REQUIRED is botocore's required list of every declared structure; each CONSTRAINTS entry
    is the member's min/max/pattern/enum in botocore's bedrock-runtime model."""
    import botocore.session

    from llmorch.testing._bedrock_shapes import CONSTRAINTS, REQUIRED, STRUCTURES

    shapes = botocore.session.get_session().get_service_model("bedrock-runtime")
    raw = shapes._service_description["shapes"]
    required = {
        name: tuple(raw[name]["required"])
        for name in STRUCTURES
        if raw[name].get("required") and not name.startswith("Converse")
    }
    assert required == REQUIRED
    for (structure, member), trait in CONSTRAINTS.items():
        target = raw[raw[structure]["members"][member]["shape"]]
        assert trait == {k: target[k] for k in ("min", "max", "pattern", "enum") if k in target}


PARAM_VALIDATOR_CASES = [body for body, message in REFUSALS if "Member must not be null" in message]
PARAM_VALIDATOR_CASES += [{"messages": [USER], "toolConfig": {"tools": []}}]


@pytest.mark.parametrize("body", PARAM_VALIDATOR_CASES)
def test_required_and_length_refusals_are_param_validator_refusals(body: dict[str, Any]) -> None:
    """The missing-member and too-short refusals are ones botocore's own ParamValidator makes
    too (it checks required members and minimum lengths, not patterns or enums)."""
    import botocore.session
    from botocore.validate import ParamValidator

    from llmorch.testing._bedrock_shapes import constraint_problem

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model("Converse").input_shape
    assert ParamValidator().validate({"modelId": CLAUDE, **body}, shape).has_errors()
    assert constraint_problem(body, "ConverseRequest")


async def test_claude_thinking_on_always_thinks(emu: ProviderEmulator) -> None:
    """Claude with thinking on answers with a signed thinking block even when the script has no
    reasoning (its next tool turn must start with one); Nova does not."""
    emu.script("bedrock", CLAUDE, Reply(tool_calls=(ToolUse("clock"),)))
    first = (await post(emu, CLAUDE, {"messages": [USER]} | tools(CLOCK) | THINKING)).json()
    turn = first["output"]["message"]
    text = turn["content"][0]["reasoningContent"]["reasoningText"]
    assert sign(signing_kind, text["text"]) == text["signature"]
    call_id = turn["content"][1]["toolUse"]["toolUseId"]
    body = {"messages": [USER, turn, result_turn(call_id)]} | tools(CLOCK) | THINKING
    assert 200 == (await post(emu, CLAUDE, body)).status_code
    emu.script("bedrock", NOVA, "plain")
    nova = {
        "messages": [USER],
        "additionalModelRequestFields": {"reasoningConfig": {"type": "enabled"}},
    }
    assert [{"text": "plain"}] == (await post(emu, NOVA, nova)).json()["output"]["message"][
        "content"
    ]
