"""The AWS Bedrock dialect: Converse, ConverseStream (binary event stream), model listings.

Runtime operations live under ``{base}/bedrock/runtime``, the control plane under
``{base}/bedrock/control``. Every request must carry a SigV4 signature (service ``bedrock``,
region :data:`TEST_REGION`) that verifies for the emulator's documented test credentials
(:data:`TEST_ACCESS_KEY_ID` / :data:`TEST_SECRET_ACCESS_KEY`; any session token is accepted),
or a Bedrock API key as ``Authorization: Bearer``. Signatures are checked as AWS checks them
(:mod:`llmorch.testing._sigv4`: canonical path rebuilt from the received one, AWS's 403 echo of
the expected canonical request). The event-stream encoder is written here from the documented
frame layout; it shares no code with llmorch's decoder.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import struct
import uuid
from collections.abc import Callable, Collection
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from llmorch.testing._bedrock_content import CacheBook, content_problem, output_schema
from llmorch.testing._bedrock_rules import Turns, family, reasoning_on, rules_problem, signing_kind
from llmorch.testing._bedrock_shapes import body_problem, constraint_problem
from llmorch.testing._dialect import Dialect, Plan
from llmorch.testing._script import (
    BAD_CRC,
    ErrorKind,
    Fault,
    Reply,
    Scripts,
    ToolUse,
    default_arguments,
    schema_instance,
    split_chunks,
)
from llmorch.testing._server import JSONResponse, Request, Response
from llmorch.testing._signing import sign
from llmorch.testing._sigv4 import verify

__all__ = [
    "TEST_ACCESS_KEY_ID",
    "TEST_REGION",
    "TEST_SECRET_ACCESS_KEY",
    "BedrockDialect",
    "encode_frame",
]

TEST_ACCESS_KEY_ID = "AKIAEMULATORLLMORCH0"
"""The access key id the emulator's Bedrock dialect accepts."""
TEST_SECRET_ACCESS_KEY = "llmorch+emulator/test+secret/access+key0"
"""The secret key the emulator verifies SigV4 signatures with."""
TEST_REGION = "us-east-1"
"""The region requests must be signed for."""

_ERROR_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_STOP["content_filter"] = "content_filtered"
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_DEFAULT_THINKING = "The user asked something; I will answer it."

# kind -> (status, x-amzn-ErrorType, default message)
_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_request": (400, "ValidationException", "Malformed input request."),
    "context_length": (400, "ValidationException", "Input is too long for requested model."),
    "auth": (
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    ),
    "permission": (
        403,
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    "not_found": (404, "ResourceNotFoundException", "Model not found."),
    "rate_limit": (
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ),
    "quota": (400, "ServiceQuotaExceededException", "You have exceeded your service quota."),
    "server_error": (500, "InternalServerException", "The server encountered an internal error."),
    "overloaded": (
        503,
        "ServiceUnavailableException",
        "Bedrock is unable to process your request.",
    ),
    "timeout": (408, "ModelTimeoutException", "Model has timed out in processing the request."),
}
# kind -> the ConverseStream exception member sent inside a 200 stream
_STREAM_ERRORS = {
    "rate_limit": "throttlingException",
    "overloaded": "serviceUnavailableException",
    "invalid_request": "validationException",
    "context_length": "validationException",
    "timeout": "modelStreamErrorException",
}

# (model id, provider, inference types, output modality, lifecycle status)
_CATALOGUE: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    ("anthropic.claude-haiku-5-5", "Anthropic", ("INFERENCE_PROFILE",), "TEXT", "ACTIVE"),
    ("amazon.nova-2-lite-v1:0", "Amazon", ("INFERENCE_PROFILE",), "TEXT", "ACTIVE"),
    ("amazon.nova-lite-v1:0", "Amazon", ("ON_DEMAND",), "TEXT", "ACTIVE"),
    ("amazon.nova-micro-v1:0", "Amazon", ("ON_DEMAND",), "TEXT", "ACTIVE"),
    ("anthropic.claude-sonnet-5-5", "Anthropic", ("INFERENCE_PROFILE",), "TEXT", "ACTIVE"),
    (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "Anthropic",
        ("INFERENCE_PROFILE",),
        "TEXT",
        "ACTIVE",
    ),
    ("anthropic.claude-3-haiku-20240307-v1:0", "Anthropic", ("ON_DEMAND",), "TEXT", "LEGACY"),
    ("meta.llama3-70b-instruct-v1:0", "Meta", ("PROVISIONED",), "TEXT", "ACTIVE"),
    ("amazon.titan-embed-text-v2:0", "Amazon", ("ON_DEMAND",), "EMBEDDING", "ACTIVE"),
    ("stability.sd3-5-large-v1:0", "Stability AI", ("ON_DEMAND",), "IMAGE", "ACTIVE"),
)
_PROFILES = (
    "us.anthropic.claude-haiku-5-5",
    "us.amazon.nova-2-lite-v1:0",
    "us.anthropic.claude-sonnet-5-5",
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
)
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:[a-z-]+/(?P<id>.+)$")
_GEO_PREFIX = re.compile(r"^[a-z]{2,6}\.[a-z0-9-]+\.")
_MAX_SKEW_S = 15 * 60
_RUNTIME = re.compile(r"/runtime/model/([^/]+)/(converse|converse-stream)")


def encode_frame(headers: dict[str, str], payload: bytes, *, bad_crc: bool = False) -> bytes:
    """Encode one AWS event-stream message (string headers only).

    Layout: total length, headers length, prelude CRC32, headers, payload, message CRC32.

    Args:
        headers: Header names to string values.
        payload: The payload bytes.
        bad_crc: Write a wrong message CRC (a fault).

    Returns:
        The frame.
    """
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack(">B", len(raw_name)) + raw_name
        encoded += struct.pack(">BH", 7, len(raw_value)) + raw_value
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    crc = binascii.crc32(message) ^ (0xFFFFFFFF if bad_crc else 0)
    return message + struct.pack(">I", crc)


def _event(name: str, payload: dict[str, Any], *, bad_crc: bool = False) -> bytes:
    headers = {
        ":event-type": name,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, json.dumps(payload).encode(), bad_crc=bad_crc)


def _model_id(model: str) -> str:
    match = _ARN.match(model)
    return match.group("id") if match else model


class BedrockDialect(Dialect):
    """``{base}/bedrock``: Converse and ConverseStream under ``/runtime``, lists under ``/control``.

    Models that the catalogue lists as profile-only answer a bare-id call with Bedrock's
    ``ValidationException``; unknown ids get "The provided model identifier is invalid."
    """

    name = "bedrock"
    prefix = "/bedrock"
    chat_models = (
        "us.anthropic.claude-haiku-5-5",
        "us.amazon.nova-2-lite-v1:0",
        "amazon.nova-lite-v1:0",
    )
    default_models = tuple(m[0] for m in _CATALOGUE) + _PROFILES

    def __init__(self, scripts: Scripts, keys: Collection[str] | None, page_size: int) -> None:
        super().__init__(scripts, keys, page_size)
        self.cache_book = CacheBook()

    def config(self, base_url: str) -> dict[str, Any]:
        """A Bedrock provider config pointing at this dialect, with the test credentials.

        Args:
            base_url: The emulator's root URL.

        Returns:
            ``{"type", "endpoint_url", "control_endpoint_url", "region_name",
            "aws_access_key_id", "aws_secret_access_key", "fallback_models"}``.
        """
        return {
            "type": "bedrock",
            "endpoint_url": f"{base_url}{self.prefix}/runtime",
            "control_endpoint_url": f"{base_url}{self.prefix}/control",
            "region_name": TEST_REGION,
            "aws_access_key_id": TEST_ACCESS_KEY_ID,
            "aws_secret_access_key": TEST_SECRET_ACCESS_KEY,
            "fallback_models": list(self.chat_models[1:]),
        }

    def credentials(self, base_url: str) -> str:
        """The SigV4 test credentials (and Bedrock API keys) this dialect accepts.

        Args:
            base_url: The emulator's root URL.

        Returns:
            One line of text.
        """
        bearer = ", ".join(sorted(self.keys)) if self.keys else "any non-empty key"
        return (
            f"SigV4 aws_access_key_id={TEST_ACCESS_KEY_ID} "
            f"aws_secret_access_key={TEST_SECRET_ACCESS_KEY} region_name={TEST_REGION} "
            f"(control plane {base_url}{self.prefix}/control); Bedrock API key: {bearer}"
        )

    def request_model(self, path: str, body: Any) -> str | None:
        """The model id from a runtime path (``/runtime/model/{modelId}/…``), decoded.

        Args:
            path: The path after ``/bedrock``.
            body: The decoded JSON body (unused: Converse names the model in the path).

        Returns:
            The model id, or ``None`` for control-plane requests.
        """
        match = _RUNTIME.fullmatch(path)
        return unquote(match.group(1)) if match else None

    @staticmethod
    def aws_error(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        """An AWS REST-JSON error: ``x-amzn-ErrorType`` header and ``{"message": …}``.

        Args:
            status: The HTTP status.
            code: The error code (e.g. ``ThrottlingException``).
            message: The message.
            headers: Extra headers (they win, so a script may change the error type).

        Returns:
            The response.
        """
        base = {"x-amzn-errortype": code + _ERROR_SUFFIX, "x-amzn-requestid": str(uuid.uuid4())}
        base.update({name.lower(): value for name, value in (headers or {}).items()})
        return JSONResponse(status, {"message": message}, base)

    def error(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        """The Bedrock error for an error kind.

        Args:
            status: The HTTP status (529 becomes 503: AWS has no 529).
            kind: The error kind.
            message: The message (empty: Bedrock's usual wording).
            headers: Extra headers.

        Returns:
            The response.
        """
        _, code, default = _ERRORS.get(kind, _ERRORS["server_error"])
        return self.aws_error(503 if status == 529 else status, code, message or default, headers)

    async def handle(self, request: Request, path: str) -> Response:
        """Verify the signature, then route one request.

        Args:
            request: The request.
            path: The path after ``/bedrock``.

        Returns:
            The response.
        """
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        runtime = _RUNTIME.fullmatch(path)
        if request.method == "POST" and runtime:
            return self._converse(request, unquote(runtime.group(1)), runtime.group(2))
        if request.method == "GET" and path == "/control/foundation-models":
            return self._foundation_models(request)
        if request.method == "GET" and path == "/control/inference-profiles":
            return self._inference_profiles(request)
        return self.aws_error(404, "UnknownOperationException", f"Unknown operation {path}")

    # -- auth --

    def _check_auth(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            if self.key_status(header[7:].strip()) == "ok":
                return None
            return self.aws_error(403, "UnrecognizedClientException", "Invalid API Key format.")
        if not header:
            return self.aws_error(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        match = _AUTH.match(header)
        amz_date = request.headers.get("x-amz-date", "")
        signed = match.group("signed").split(";") if match else []
        if not match or not amz_date or "host" not in signed or "x-amz-date" not in signed:
            return self.aws_error(
                403, "IncompleteSignatureException", "Authorization header is incomplete."
            )
        if match.group("key") != TEST_ACCESS_KEY_ID:
            return self.error(403, "auth", "")
        problem = self._scope_problem(match, amz_date)
        if problem is not None:
            return self.aws_error(403, "InvalidSignatureException", problem)
        verdict = verify(
            method=request.method,
            raw_path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            signed_headers=signed,
            signature=match.group("signature"),
            secret_key=TEST_SECRET_ACCESS_KEY,
            scope=(match.group("day"), match.group("region"), match.group("service")),
            amz_date=amz_date,
        )
        if not verdict.ok:
            return self.aws_error(403, "InvalidSignatureException", verdict.message())
        return None

    @staticmethod
    def _scope_problem(match: re.Match[str], amz_date: str) -> str | None:
        if match.group("service") != "bedrock":
            return "Credential should be scoped to correct service: 'bedrock'."
        if match.group("region") != TEST_REGION:
            return f"Credential should be scoped to a valid region, not {match.group('region')!r}."
        if match.group("day") != amz_date[:8]:
            return "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date."
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return f"Invalid X-Amz-Date: {amz_date}"
        if abs((datetime.now(timezone.utc) - when).total_seconds()) > _MAX_SKEW_S:
            return f"Signature expired: {amz_date} is outside the allowed clock skew."
        return None

    # -- runtime --

    def _invocable(self, model: str) -> str | None:
        """Why ``model`` cannot be invoked with Converse, or ``None`` when it can."""
        if model in self.scripts.models(self.name) or model in _PROFILES:
            return None
        model_id = _model_id(model)
        if model_id in _PROFILES:
            return None
        for entry_id, _, kinds, modality, _ in _CATALOGUE:
            if entry_id != model_id:
                continue
            if modality != "TEXT":
                return "This action doesn't support the model that you provided."
            if "ON_DEMAND" not in kinds:
                return (
                    f"Invocation of model ID {model_id} with on-demand throughput isn't "
                    "supported. Retry your request with the ID or ARN of an inference profile "
                    "that contains this model."
                )
            return None
        return "The provided model identifier is invalid."

    def _converse(self, request: Request, model: str, operation: str) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return self.error(400, "invalid_request", "Malformed input request.")
        shape = "ConverseStreamRequest" if operation == "converse-stream" else "ConverseRequest"
        problem = body_problem(body, shape) or constraint_problem(body, shape)
        if problem is not None:
            return self.aws_error(400, "ValidationException", problem)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error(
                400, "invalid_request", "A conversation must start with a user message."
            )
        problem = self._invocable(model)
        if problem is not None:
            return self.aws_error(400, "ValidationException", problem)
        kind = family(_model_id(model))
        turns = Turns(body, kind, reasoning_on(body, kind), _model_id(model))
        problem = (
            _empty_content(messages)
            or rules_problem(turns)
            or content_problem(body, _model_id(model))
        )
        if problem is not None:
            return self.aws_error(400, "ValidationException", problem)
        system = body.get("system")
        system = system if isinstance(system, list) else []
        system_text = [b.get("text", "") for b in system if isinstance(b, dict)]
        last_user = next(
            (
                " ".join(b.get("text", "") for b in m.get("content") or [] if isinstance(b, dict))
                for m in reversed(messages)
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            "",
        )
        max_tokens = (body.get("inferenceConfig") or {}).get("maxTokens")
        plan = self.plan(
            model, (messages, *system_text), max_tokens, last_user, default=_default(turns)
        )
        if isinstance(plan, Fault):
            return self.fault_response(plan, model)
        answer = _Answer(plan, turns, self.cache_book.usage(body))
        request_id = {"x-amzn-requestid": str(uuid.uuid4())}
        if operation == "converse-stream":
            return self.stream(
                plan, answer.frames, "application/vnd.amazon.eventstream", request_id
            )
        if plan.ending == "error":
            status = _ERRORS.get(plan.error or "server_error", _ERRORS["server_error"])[0]
            return self.error(status, plan.error or "server_error", plan.message)
        if plan.ending == "malformed":
            return JSONResponse(200, "not json {", request_id)
        return JSONResponse(
            200,
            {
                "output": {"message": {"role": "assistant", "content": answer.content()}},
                "stopReason": _STOP.get(plan.finish_reason, "end_turn"),
                "usage": answer.usage(),
                "metrics": {"latencyMs": 42},
            },
            request_id,
            cut=plan.ending == "cut",
        )

    # -- control plane --

    def _summaries(self) -> list[dict[str, Any]]:
        known = {e[0] for e in _CATALOGUE} | set(_PROFILES)
        scripted = [
            (model, model.split(".")[0].title(), ("ON_DEMAND",), "TEXT", "ACTIVE")
            for model in sorted(self.scripts.models(self.name) - known)
            if not _ARN.match(model) and not _GEO_PREFIX.match(model)
        ]
        entries = [*_CATALOGUE, *scripted]
        return [
            {
                "modelArn": f"arn:aws:bedrock:{TEST_REGION}::foundation-model/{model}",
                "modelId": model,
                "modelName": model.split(".", 1)[-1],
                "providerName": provider,
                "inputModalities": ["TEXT"],
                "outputModalities": [modality],
                "responseStreamingSupported": modality == "TEXT",
                "customizationsSupported": [],
                "inferenceTypesSupported": list(kinds),
                "modelLifecycle": {"status": status},
            }
            for model, provider, kinds, modality, status in entries
        ]

    def _foundation_models(self, request: Request) -> JSONResponse:
        filters: dict[str, Callable[[dict[str, Any], str], bool]] = {
            "byOutputModality": lambda s, v: v in s["outputModalities"],
            "byInferenceType": lambda s, v: v in s["inferenceTypesSupported"],
            "byProvider": lambda s, v: v.lower() == s["providerName"].lower(),
            "byCustomizationType": lambda s, v: v in s["customizationsSupported"],
        }
        summaries = self._summaries()
        for name, keep in filters.items():
            if name in request.query:
                summaries = [s for s in summaries if keep(s, request.query[name])]
        return JSONResponse(
            200, {"modelSummaries": summaries}, {"x-amzn-requestid": str(uuid.uuid4())}
        )

    def _inference_profiles(self, request: Request) -> JSONResponse:
        kind = request.query.get("type", "SYSTEM_DEFINED")
        profiles = list(_PROFILES) if kind == "SYSTEM_DEFINED" else []
        try:
            limit = max(1, min(int(request.query.get("maxResults", "1000")), self.page_size))
            token = request.query.get("nextToken")
            start = int(base64.b64decode(token).decode()[6:]) if token else 0
        except (ValueError, binascii.Error):
            return self.aws_error(400, "ValidationException", "Invalid pagination parameters.")
        page = [self._profile(p) for p in profiles[start : start + limit]]
        data: dict[str, Any] = {"inferenceProfileSummaries": page}
        if start + limit < len(profiles):
            data["nextToken"] = base64.b64encode(f"offset{start + limit}".encode()).decode()
        return JSONResponse(200, data, {"x-amzn-requestid": str(uuid.uuid4())})

    @staticmethod
    def _profile(profile_id: str) -> dict[str, Any]:
        model = profile_id.split(".", 1)[1]
        return {
            "inferenceProfileName": f"US {model}",
            "description": f"Routes requests to {model} in us-east-1, us-east-2 and us-west-2.",
            "createdAt": "2024-08-01T00:00:00Z",
            "updatedAt": "2024-08-01T00:00:00Z",
            "inferenceProfileArn": (
                f"arn:aws:bedrock:{TEST_REGION}:123456789012:inference-profile/{profile_id}"
            ),
            "models": [
                {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model}"}
                for region in ("us-east-1", "us-east-2", "us-west-2")
            ],
            "inferenceProfileId": profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }


def _usage(plan: Plan, cache: tuple[int, int]) -> dict[str, int]:
    """Converse usage: ``inputTokens`` excludes the cache's reads and writes."""
    written, read = cache
    uncached = max(plan.prompt_tokens - written - read, 0)
    return {
        "inputTokens": uncached,
        "outputTokens": plan.completion_tokens,
        "totalTokens": uncached + written + read + plan.completion_tokens,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": written,
    }


def _empty_content(messages: list[Any]) -> str | None:
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("content") == []:
            # vercel/ai amazon-bedrock-empty-message-validation-error.json (live, Nova 2 Lite).
            return (
                f"The content field in the Message object at messages.{i} is empty. Add a "
                "ContentBlock object to the content field and try again."
            )
    return None


def _default(turns: Turns) -> Reply | None:
    """The unscripted answer: JSON of an ``outputConfig`` schema, or a forced tool's call."""
    schema = output_schema(turns.body)
    if isinstance(schema, dict):
        return Reply(json.dumps(schema_instance(schema), separators=(",", ":")))
    return _forced(turns)


def _forced(turns: Turns) -> Reply | None:
    """The answer to a forced tool choice (``any`` / ``tool``) when nothing is scripted."""
    config = turns.tool_config or {}
    choice = config.get("toolChoice") or {}
    specs = [t["toolSpec"] for t in config.get("tools") or [] if "toolSpec" in t]
    if "tool" in choice:
        specs = [s for s in specs if s.get("name") == choice["tool"].get("name")]
    elif "any" not in choice:
        return None
    if not specs:
        return None
    schema = specs[0].get("inputSchema", {}).get("json")
    return Reply(tool_calls=(ToolUse(specs[0]["name"], default_arguments(schema)),))


def _tool_use_id() -> str:
    return "tooluse_" + "".join(secrets.choice(_PADDING) for _ in range(22))


def _fragments(arguments: str) -> list[str]:
    """Split arguments JSON into the pieces a stream sends (at least two when it can)."""
    width = max(1, min(12, len(arguments) // 2))
    return [arguments[i : i + width] for i in range(0, len(arguments), width)]


class _Answer:
    """One answer's content blocks: reasoning (when on), text, tool calls, in that order."""

    def __init__(self, plan: Plan, turns: Turns, cache: tuple[int, int] = (0, 0)) -> None:
        self.plan = plan
        self.cache = cache
        self.family = turns.family
        self.reasoning = plan.reasoning if turns.reasoning else None
        if self.reasoning is None and turns.reasoning and turns.family == "claude":
            # Claude with thinking on always thinks first (and its next turn must start with
            # that block), so an answer scripted without reasoning still carries one.
            self.reasoning = _DEFAULT_THINKING if plan.ending == "complete" else None
        self.ids = [call.id or _tool_use_id() for call in plan.tool_calls]

    def usage(self) -> dict[str, int]:
        """The answer's ``usage`` (cache writes and reads from the request's cache points)."""
        return _usage(self.plan, self.cache)

    def _signature(self, text: str) -> str | None:
        # gpt-oss sends its reasoning unsigned (vercel/ai issue-9967-gpt-oss-*.json, live).
        return None if self.family == "gpt-oss" else sign(signing_kind, text)

    def content(self) -> list[dict[str, Any]]:
        """The ``output.message.content`` blocks of a non-streamed answer."""
        blocks: list[dict[str, Any]] = []
        if self.reasoning is not None:
            text: dict[str, Any] = {"text": self.reasoning}
            signature = self._signature(self.reasoning)
            if signature is not None:
                text["signature"] = signature
            blocks.append({"reasoningContent": {"reasoningText": text}})
        if self.plan.text or not self.plan.tool_calls:
            blocks.append({"text": self.plan.text})
        for call, call_id in zip(self.plan.tool_calls, self.ids, strict=True):
            try:
                arguments: Any = json.loads(call.arguments_json)
            except ValueError:
                arguments = call.arguments_json
            blocks.append(
                {"toolUse": {"toolUseId": call_id, "name": call.name, "input": arguments}}
            )
        return blocks

    def frames(self, plan: Plan) -> list[bytes]:
        """The ConverseStream frames: blocks by ``contentBlockIndex``, one after another."""
        frames = [_event("messageStart", {"p": _PADDING[:21], "role": "assistant"})]
        index = 0
        if self.reasoning is not None:
            for piece in split_chunks(self.reasoning):
                delta = {"reasoningContent": {"text": piece}}
                frames.append(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
            signature = self._signature(self.reasoning)
            if signature is not None:
                delta = {"reasoningContent": {"signature": signature}}
                frames.append(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
            frames.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        frames += [
            _event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"text": text}, "p": _PADDING[: 5 + i % 30]},
            )
            for i, text in enumerate(plan.chunks)
        ]
        if plan.ending == "error":
            kind = plan.error or "server_error"
            member = _STREAM_ERRORS.get(kind, "internalServerException")
            message = plan.message or _ERRORS.get(kind, _ERRORS["server_error"])[2]
            headers = {
                ":exception-type": member,
                ":content-type": "application/json",
                ":message-type": "exception",
            }
            return [*frames, encode_frame(headers, json.dumps({"message": message}).encode())]
        if plan.ending == "malformed" and plan.message == BAD_CRC:
            corrupt = {"contentBlockIndex": index, "delta": {"text": " corrupted"}}
            return [*frames, _event("contentBlockDelta", corrupt, bad_crc=True)]
        if plan.ending == "malformed":
            headers = {
                ":event-type": "contentBlockDelta",
                ":content-type": "application/json",
                ":message-type": "event",
            }
            return [*frames, encode_frame(headers, b'{"contentBlockIndex":0,"delta":{"te')]
        if plan.ending == "cut" and not plan.tool_calls:
            return frames
        if plan.chunks or not plan.tool_calls:
            frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for n, (call, call_id) in enumerate(zip(plan.tool_calls, self.ids, strict=True)):
            start = {"toolUse": {"toolUseId": call_id, "name": call.name}}
            frames.append(_event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            pieces = _fragments(call.arguments_json)
            cut_here = plan.ending == "cut" and n == len(plan.tool_calls) - 1
            for piece in pieces[: len(pieces) // 2] if cut_here else pieces:
                delta = {"toolUse": {"input": piece}}
                frames.append(
                    _event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})
                )
            if cut_here:
                return frames
            frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        return [
            *frames,
            _event("messageStop", {"stopReason": _STOP.get(plan.finish_reason, "end_turn")}),
            _event("metadata", {"usage": self.usage(), "metrics": {"latencyMs": 42}}),
        ]
