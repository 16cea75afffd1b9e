"""boto3's bedrock-runtime and bedrock clients parse everything the emulator's Bedrock dialect
serves, and their SigV4 signatures verify against it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from llmorch.config import BedrockConfig
from llmorch.providers._aws import AWSAuth, encode_label
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402 - after the importorskip
from botocore.exceptions import ClientError, EventStreamError  # noqa: E402
from botocore.validate import ParamValidator  # noqa: E402

MODEL = "amazon.nova-lite-v1:0"  # the emulator's on-demand model (an id with a ':')
PROFILE = "us.anthropic.claude-haiku-5-5"  # its default model, an inference profile
MESSAGES: list[Any] = [{"role": "user", "content": [{"text": "one two three"}]}]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def client(emu: ProviderEmulator, service: str) -> Any:
    config = emu.config_for("bedrock")
    endpoint = config["endpoint_url" if service == "bedrock-runtime" else "control_endpoint_url"]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key=config["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def runtime(emu: ProviderEmulator) -> Iterator[Any]:
    runtime_client = client(emu, "bedrock-runtime")
    yield runtime_client
    runtime_client.close()


@pytest.fixture
def bedrock(emu: ProviderEmulator) -> Iterator[Any]:
    control = client(emu, "bedrock")
    yield control
    control.close()


def test_converse(emu: ProviderEmulator, runtime: Any) -> None:
    """converse parses text, stop reason, usage (cache counters included) and metrics."""
    emu.script("bedrock", MODEL, Reply("alpha beta gamma"))
    response = runtime.converse(
        modelId=MODEL,
        system=[{"text": "be brief"}],
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 100, "temperature": 0.2},
    )
    assert "alpha beta gamma" == response["output"]["message"]["content"][0]["text"]
    assert "end_turn" == response["stopReason"]
    usage = response["usage"]
    assert (5, 3, 8, 0) == (
        usage["inputTokens"],
        usage["outputTokens"],
        usage["totalTokens"],
        usage["cacheReadInputTokens"],
    )
    assert 36 == len(response["ResponseMetadata"]["RequestId"])
    assert "%3A" in emu.requests[-1].path  # botocore's own encoding verifies too


def test_converse_with_profile_and_max_tokens(emu: ProviderEmulator, runtime: Any) -> None:
    """A profile id answers; hitting maxTokens reads as stopReason max_tokens."""
    emu.script("bedrock", PROFILE, "a b c d")
    response = runtime.converse(
        modelId=PROFILE, messages=MESSAGES, inferenceConfig={"maxTokens": 2}
    )
    assert ("a b", "max_tokens") == (
        response["output"]["message"]["content"][0]["text"],
        response["stopReason"],
    )


def test_converse_stream_events(emu: ProviderEmulator, runtime: Any) -> None:
    """converse_stream yields messageStart, deltas, contentBlockStop, messageStop, metadata."""
    emu.script("bedrock", MODEL, "delta epsilon zeta")
    response = runtime.converse_stream(modelId=MODEL, messages=MESSAGES)
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert ["messageStart"] + ["contentBlockDelta"] * 3 == kinds[:4]
    assert ["contentBlockStop", "messageStop", "metadata"] == kinds[4:]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:4])
    assert "delta epsilon zeta" == text
    assert "end_turn" == events[5]["messageStop"]["stopReason"]
    assert (3, 3) == (
        events[6]["metadata"]["usage"]["inputTokens"],
        events[6]["metadata"]["usage"]["outputTokens"],
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [("rate_limit", "throttlingException"), ("overloaded", "serviceUnavailableException")],
)
def test_stream_exception_events(
    emu: ProviderEmulator, runtime: Any, error: Any, code: str
) -> None:
    """An in-stream exception frame is raised by boto3 as EventStreamError with its code."""
    emu.script("bedrock", MODEL, Fault.stream_error(after=1, error=error))
    stream = runtime.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    with pytest.raises(EventStreamError) as info:
        list(stream)
    stream.close()
    assert code == info.value.response["Error"]["Code"]


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        (Fault.rate_limit(None), "ThrottlingException", 429),
        (Fault.http(400, error="context_length"), "ValidationException", 400),
        (Fault.http(403), "AccessDeniedException", 403),
        (Fault.overloaded(), "ServiceUnavailableException", 503),
        (Fault.http(500), "InternalServerException", 500),
        (
            Fault.http(429, headers={"x-amzn-ErrorType": "ModelNotReadyException"}),
            "ModelNotReadyException",
            429,
        ),
    ],
)
def test_http_errors_are_modelled_exceptions(
    emu: ProviderEmulator, runtime: Any, fault: Fault, code: str, status: int
) -> None:
    """Error statuses parse into boto3's modelled exceptions with code, message, request id."""
    emu.script("bedrock", MODEL, fault)
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=MODEL, messages=MESSAGES)
    error = info.value.response
    assert (code, status) == (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"])
    assert error["Error"]["Message"]
    assert error["ResponseMetadata"]["RequestId"]
    assert type(info.value).__name__ == code


def test_wrong_secret_is_an_invalid_signature(emu: ProviderEmulator) -> None:
    """boto3 signing with another secret gets InvalidSignatureException."""
    config = emu.config_for("bedrock")
    bad = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key="wrong",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError, match="InvalidSignatureException"):
        bad.converse(modelId=MODEL, messages=MESSAGES)
    bad.close()


def test_list_foundation_models(bedrock: Any) -> None:
    """list_foundation_models parses every summary, lifecycle and filter."""
    summaries = bedrock.list_foundation_models()["modelSummaries"]
    assert MODEL in {s["modelId"] for s in summaries}
    assert all(s["modelArn"].endswith(s["modelId"]) for s in summaries)
    legacy = [s["modelId"] for s in summaries if s["modelLifecycle"]["status"] == "LEGACY"]
    assert ["anthropic.claude-3-haiku-20240307-v1:0"] == legacy
    text = bedrock.list_foundation_models(byOutputModality="TEXT")["modelSummaries"]
    assert {"TEXT"} == {m for s in text for m in s["outputModalities"]}
    assert len(text) < len(summaries)


def test_list_inference_profiles_pages(bedrock: Any) -> None:
    """boto3's paginator walks the inference profiles with nextToken."""
    pages = list(
        bedrock.get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED")
    )
    ids = [p["inferenceProfileId"] for page in pages for p in page["inferenceProfileSummaries"]]
    assert PROFILE in ids
    assert 2 == len(pages)
    assert all(
        p["models"] and p["createdAt"] for page in pages for p in page["inferenceProfileSummaries"]
    )


PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-5-5"
)


@pytest.mark.parametrize("model", [MODEL, "us.amazon.nova-2-lite-v1:0", PROFILE_ARN])
def test_boto3_requests_verify_as_aws_does(emu: ProviderEmulator, model: str) -> None:
    """boto3's own Converse and ConverseStream requests (temporary credentials) verify against
    the emulator's AWS-style check; the wire carries botocore's encoding of the label."""
    config = emu.config_for("bedrock")
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key=config["aws_secret_access_key"],
        aws_session_token="IQoJb3JpZ2luX2VjEXAMPLEtoken",
        config=Config(retries={"total_max_attempts": 1}),
    )
    emu.script("bedrock", model, "one two", "three four")
    reply = runtime.converse(modelId=model, messages=MESSAGES)
    events = list(runtime.converse_stream(modelId=model, messages=MESSAGES)["stream"])
    runtime.close()
    assert "one two" == reply["output"]["message"]["content"][0]["text"]
    assert "three four" == "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    paths = [r.path for r in emu.requests if r.method == "POST"]
    assert all("%3A" in p and ":" not in p for p in paths)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["converse", "converse-stream"]


def test_issue11_item1_boto3_wrong_secret_gets_the_canonical_echo(emu: ProviderEmulator) -> None:
    """A boto3 request signed with another secret gets AWS's message quoting the canonical
    request the service computed: the label encoded twice."""
    config = emu.config_for("bedrock")
    bad = boto3.client(
        "bedrock-runtime",
        endpoint_url=config["endpoint_url"],
        region_name=config["region_name"],
        aws_access_key_id=config["aws_access_key_id"],
        aws_secret_access_key="wrong",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as info:
        bad.converse(modelId=MODEL, messages=MESSAGES)
    bad.close()
    message = info.value.response["Error"]["Message"]
    assert "InvalidSignatureException" == info.value.response["Error"]["Code"]
    assert "/model/amazon.nova-lite-v1%253A0/converse\n" in message
    assert "The String-to-Sign should have been" in message


# -- tools and reasoning (issue 13) -------------------------------------------------------------

TOOLS: dict[str, Any] = {
    "tools": [
        {
            "toolSpec": {
                "name": "weather",
                "description": "Weather for a city",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    }
                },
            }
        },
        {"toolSpec": {"name": "clock", "inputSchema": {"json": {"type": "object"}}}},
    ]
}
THINKING: dict[str, Any] = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
QUESTION: list[Any] = [{"role": "user", "content": [{"text": "weather in Paris and Rome?"}]}]


def results_for(turn: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": b["toolUse"]["toolUseId"], "content": [{"text": "sunny"}]}}
            for b in turn["content"]
            if "toolUse" in b
        ],
    }


def test_converse_tool_loop(emu: ProviderEmulator, runtime: Any) -> None:
    """boto3 runs a two-turn loop: parallel toolUse blocks (with reasoning, thinking on), the
    results sent back with the assistant turn unchanged, then the final answer."""
    emu.script(
        "bedrock",
        PROFILE,
        Reply(
            reasoning="two cities, two calls",
            tool_calls=(
                ToolUse("weather", {"city": "Paris"}),
                ToolUse("weather", {"city": "Rome"}),
            ),
        ),
        Reply("Sunny in both.", reasoning="both sunny"),
    )
    first = runtime.converse(
        modelId=PROFILE, messages=QUESTION, toolConfig=TOOLS, additionalModelRequestFields=THINKING
    )
    turn = first["output"]["message"]
    assert "tool_use" == first["stopReason"]
    assert (
        "two cities, two calls" == turn["content"][0]["reasoningContent"]["reasoningText"]["text"]
    )
    calls = [b["toolUse"] for b in turn["content"] if "toolUse" in b]
    assert [{"city": "Paris"}, {"city": "Rome"}] == [c["input"] for c in calls]
    assert len({c["toolUseId"] for c in calls}) == 2
    final = runtime.converse(
        modelId=PROFILE,
        messages=[*QUESTION, turn, results_for(turn)],
        toolConfig=TOOLS,
        additionalModelRequestFields=THINKING,
    )
    assert "end_turn" == final["stopReason"]
    assert "Sunny in both." == final["output"]["message"]["content"][-1]["text"]


def test_converse_stream_tool_loop(emu: ProviderEmulator, runtime: Any) -> None:
    """boto3's event-stream parser yields every block: the signed reasoning, then the parallel
    calls (start with id and name, input fragments), which rebuilt into an assistant turn are
    accepted on the second streamed turn."""
    emu.script(
        "bedrock",
        PROFILE,
        Reply(
            "Checking.",
            reasoning="two cities",
            tool_calls=(
                ToolUse("weather", {"city": "Paris"}),
                ToolUse("weather", {"city": "Rome"}),
            ),
        ),
        Reply("Sunny in both."),
    )
    stream = runtime.converse_stream(
        modelId=PROFILE, messages=QUESTION, toolConfig=TOOLS, additionalModelRequestFields=THINKING
    )["stream"]
    blocks: dict[int, dict[str, Any]] = {}
    stop = ""
    for event in stream:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = start["start"]["toolUse"]
            blocks[start["contentBlockIndex"]] = {"toolUse": dict(tool, input="")}
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]
            block = blocks.setdefault(delta["contentBlockIndex"], {})
            if "toolUse" in delta["delta"]:
                block["toolUse"]["input"] += delta["delta"]["toolUse"]["input"]
            elif "reasoningContent" in delta["delta"]:
                part = delta["delta"]["reasoningContent"]
                text = block.setdefault("reasoningContent", {"reasoningText": {"text": ""}})
                text["reasoningText"]["text"] += part.get("text", "")
                if "signature" in part:
                    text["reasoningText"]["signature"] = part["signature"]
            else:
                block["text"] = block.get("text", "") + delta["delta"]["text"]
        elif "messageStop" in event:
            stop = event["messageStop"]["stopReason"]
    assert "tool_use" == stop
    assert [0, 1, 2, 3] == sorted(blocks)
    calls = [blocks[2]["toolUse"], blocks[3]["toolUse"]]
    assert [{"city": "Paris"}, {"city": "Rome"}] == [json.loads(c["input"]) for c in calls]
    for call in calls:
        call["input"] = json.loads(call["input"])
    turn = {"role": "assistant", "content": [blocks[i] for i in sorted(blocks)]}
    final = list(
        runtime.converse_stream(
            modelId=PROFILE,
            messages=[*QUESTION, turn, results_for(turn)],
            toolConfig=TOOLS,
            additionalModelRequestFields=THINKING,
        )["stream"]
    )
    text = "".join(
        e["contentBlockDelta"]["delta"].get("text", "") for e in final if "contentBlockDelta" in e
    )
    assert "Sunny in both." == text


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [
                *QUESTION,
                {
                    "role": "assistant",
                    "content": [
                        {"toolUse": {"toolUseId": "tooluse_a", "name": "clock", "input": {}}}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "x"}]}}
                    ],
                },
            ],
            "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_a",
        ),
        (
            [
                *QUESTION,
                {"role": "assistant", "content": [{"text": "no call"}]},
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "x"}]}}
                    ],
                },
            ],
            (
                "The number of toolResult blocks at messages.2.content exceeds the number of "
                "toolUse blocks of previous turn."
            ),
        ),
    ],
)
def test_invalid_tool_turn_is_a_validation_exception(
    runtime: Any, messages: list[Any], message: str
) -> None:
    """A tool result without its call reaches boto3 as ValidationException with Bedrock's text."""
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId=PROFILE, messages=messages, toolConfig=TOOLS)
    assert "ValidationException" == info.value.response["Error"]["Code"]
    assert message == info.value.response["Error"]["Message"]
    assert 400 == info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_modified_reasoning_signature_is_refused(emu: ProviderEmulator, runtime: Any) -> None:
    """The reasoning block sent back with one character changed is Bedrock's 400 (Claude's
    refusal relayed), where the unchanged one passes (test_converse_tool_loop)."""
    emu.script("bedrock", PROFILE, Reply(reasoning="think", tool_calls=(ToolUse("clock"),)))
    turn = runtime.converse(
        modelId=PROFILE, messages=QUESTION, toolConfig=TOOLS, additionalModelRequestFields=THINKING
    )["output"]["message"]
    turn["content"][0]["reasoningContent"]["reasoningText"]["text"] = "thinK"
    with pytest.raises(ClientError) as info:
        runtime.converse(
            modelId=PROFILE,
            messages=[*QUESTION, turn, results_for(turn)],
            toolConfig=TOOLS,
            additionalModelRequestFields=THINKING,
        )
    assert info.value.response["Error"]["Message"].endswith(
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


# Tool-shaped bodies botocore's ParamValidator (the SDK's own request types) refuses; the
# emulator must refuse each of them too when it gets them over the wire.
PARAM_REFUSALS: list[dict[str, Any]] = [
    {"toolConfig": {"tools": []}},
    {"toolConfig": {"toolChoice": {"auto": {}}}},
    {"toolConfig": {"tools": [{"toolSpec": {"name": "f"}}]}},
    {"toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {}}}]}},
    {
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "f", "parameters": {}, "inputSchema": {"json": {}}}}]
        }
    },
    {"toolConfig": {"tools": TOOLS["tools"], "toolChoice": {"tool": {}}}},
    {"toolConfig": {"tools": TOOLS["tools"], "toolChoice": {"auto": {}, "any": {}}}},
    {"toolConfig": {"tools": TOOLS["tools"], "toolChoice": {"none": {}}}},
    {
        "toolConfig": {
            "tools": TOOLS["tools"],
            "toolChoice": {"auto": {}, "disableParallelToolUse": True},
        }
    },
    {"toolConfig": {"tools": TOOLS["tools"], "parallelToolCalls": False}},
    {
        "messages": [
            *QUESTION,
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "clock"}}]},
        ],
        "toolConfig": TOOLS,
    },
    {
        "messages": [
            *QUESTION,
            {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "", "name": "clock", "input": {}}}],
            },
        ],
        "toolConfig": TOOLS,
    },
    {
        "messages": [
            {"role": "user", "content": [{"toolResult": {"toolUseId": "a"}}]},
        ],
        "toolConfig": TOOLS,
    },
    {
        "messages": [
            *QUESTION,
            {
                "role": "assistant",
                "content": [{"reasoningContent": {"reasoningText": {"signature": "s"}}}],
            },
        ]
    },
    {
        "messages": [
            *QUESTION,
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "t"}, "redactedContent": b"x"}}
                ],
            },
        ]
    },
]


@pytest.mark.parametrize("change", PARAM_REFUSALS)
def test_emulator_refuses_what_param_validator_refuses(
    emu: ProviderEmulator, change: dict[str, Any]
) -> None:
    """Each tool-shaped body fails botocore's ParamValidator against the Converse input shape,
    and the emulator answers it (sent raw, past the SDK's check) with a 400 ValidationException."""
    body = {"messages": QUESTION} | change
    model = (
        boto3.session.Session()
        .client("bedrock-runtime", region_name="us-east-1")
        .meta.service_model
    )
    shape = model.operation_model("Converse").input_shape
    assert ParamValidator().validate({"modelId": PROFILE, **body}, shape).has_errors()

    def wire(value: Any) -> Any:  # blobs go over JSON as base64 text, as botocore sends them
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: wire(v) for k, v in value.items()}
        if isinstance(value, list):
            return [wire(v) for v in value]
        return value

    config = emu.config_for("bedrock")
    auth = AWSAuth("bedrock", BedrockConfig(**{k: v for k, v in config.items() if k != "type"}))
    url = f"{config['endpoint_url']}/model/{encode_label(PROFILE)}/converse"
    raw = json.dumps(wire(body)).encode()

    async def send() -> httpx.Response:
        headers = await auth.sign("POST", url, raw, {"content-type": "application/json"})
        async with httpx.AsyncClient() as http:
            return await http.post(url, content=raw, headers=headers)

    response = anyio.run(send)
    assert 400 == response.status_code
    assert "ValidationException" == response.headers["x-amzn-errortype"].split(":")[0]


def test_llmorch_tool_bodies_validate_against_the_service_model(emu: ProviderEmulator) -> None:
    """The bodies llmorch builds for tools, each tool_choice, tool results, reasoning on every
    family and the reasoning round trip pass botocore's ParamValidator for Converse and
    ConverseStream (undeclared members, wrong types, missing members all fail it)."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

    weather = {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather for a city",
            "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    nova, oss = "us.amazon.nova-2-lite-v1:0", "openai.gpt-oss-120b-1:0"
    question = [{"role": "user", "content": "weather in Paris?"}]
    call = Reply(reasoning="one call", tool_calls=(ToolUse("weather", {"city": "Paris"}),))

    async def run() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "bedrock",
                "active_model": PROFILE,
                "providers": {"bedrock": emu.config_for("bedrock") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            for choice in ("auto", "required", "weather", "none"):
                await orch.send_request(question, tools=[weather], tool_choice=choice)
            for model, reasoning in ((PROFILE, "high"), (nova, "low"), (oss, "medium")):
                emu.script("bedrock", model, call, "done", call, "done")
                for streamed in (False, True):
                    kwargs: dict[str, Any] = {"model": model, "tools": [weather]}
                    kwargs["reasoning"] = reasoning
                    if streamed:
                        stream = orch.send_streaming_request(question, **kwargs)
                        async for _ in stream:
                            pass
                        first = stream.response
                    else:
                        first = await orch.send_request(question, **kwargs)
                    results = [
                        {"role": "tool", "tool_call_id": c.id, "content": "sunny"}
                        for c in first.tool_calls
                    ]
                    await orch.send_request([*question, first.message, *results], **kwargs)

    anyio.run(run)
    service = boto3.session.Session().client("bedrock-runtime", region_name="us-east-1")
    model = service.meta.service_model
    bodies = [r for r in emu.requests if r.method == "POST"]
    assert 4 + 3 * 4 == len(bodies)
    assert any("reasoningContent" in json.dumps(r.body) for r in bodies)
    assert any("toolResult" in json.dumps(r.body) for r in bodies)
    for recorded in bodies:
        operation = "ConverseStream" if recorded.path.endswith("converse-stream") else "Converse"
        shape = model.operation_model(operation).input_shape
        report = ParamValidator().validate({"modelId": recorded.model, **recorded.body}, shape)
        assert not report.has_errors(), (recorded.body, report.generate_report())
