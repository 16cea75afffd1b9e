"""The Vertex AI dialect: Gemini publisher models, Claude through ``rawPredict``, and OAuth.

Requests need a bearer token that ``{base}/oauth2/token`` issued for a service-account JWT
(RS256, checked against the emulator's own key pair), so google-auth's real flow runs. The
service-account file :meth:`VertexDialect.config` points at is written on first use and deleted
when the emulator stops. google-auth and cryptography are imported only here, and only then.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import tempfile
import time
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qs

from llmorch.testing._anthropic import AnthropicDialect
from llmorch.testing._anthropic_schema import check
from llmorch.testing._dialect import Plan
from llmorch.testing._gemini import GeminiDialect, google_error
from llmorch.testing._google_schema import VERTEX_REQUEST
from llmorch.testing._server import JSONResponse, Request, Response

__all__ = ["PROJECT_ID", "VertexDialect"]

PROJECT_ID = "llmorch-emulator"
"""The only project the emulator's service account may use (others get a 403)."""
TOKEN_PATH = "/oauth2/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
ANTHROPIC_VERSION = "vertex-2023-10-16"
_API_VERSION = re.compile(r"(?:vertex-)?\d{4}-\d{2}-\d{2}")  # newer SDKs send a dated version

_PREDICT = re.compile(
    r"^/(v1|v1beta1)/projects/([^/]+)/locations/([^/]+)/publishers/(google|anthropic)"
    r"/models/([^/:]+):(\w+)$"
)
_MODEL_IN_PATH = re.compile(r"/models/([^/:]+):")
_TEMPLATE = "projects/{{project}}/locations/{{location}}/publishers/google/models/{model}@001"


@functools.cache
def _key_pair() -> tuple[str, str]:
    """A 2048-bit RSA key pair, generated once per process: ``(private PEM, public PEM)``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


class _VertexClaude(AnthropicDialect):
    """Claude on Vertex: the Messages format, scripted under the ``vertex`` dialect's queues."""

    name = "vertex"
    prefix = "/vertex"
    chat_models = ("claude-haiku-5-5", "claude-sonnet-5-5")  # type: ignore[assignment]
    default_models = chat_models  # type: ignore[assignment]
    tool_id_prefix = "toolu_vrtx_"  # as in a live Vertex 400 quoted in Kilo-Org/kilocode#5163


class VertexDialect(GeminiDialect):
    """``{base}/vertex``: Gemini, Claude ``rawPredict``, model listing, ``{base}/oauth2/token``.

    Gemini is served under ``/v1/projects/{p}/locations/{l}/publishers/google/models/{m}``.
    """

    name = "vertex"
    prefix = "/vertex"
    extra_paths = (TOKEN_PATH,)
    request_schema = VERTEX_REQUEST
    default_models = (
        *GeminiDialect.chat_models,
        "gemini-3.1-pro-preview",
        "gemini-embedding-001",
        "text-embedding-005",
        "imagen-4.0-generate-001",
    )
    token_lifetime_s: ClassVar[int] = 900
    """Lifetime of the access tokens the emulator issues (short, so refreshes happen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_email = f"emulator@{PROJECT_ID}.iam.gserviceaccount.com"
        self._claude = _VertexClaude(self.scripts, None, self.page_size)
        self._tokens: dict[str, float] = {}
        self._file: tuple[str, str] | None = None  # (token_uri, path)

    # -- credentials --------------------------------------------------------------------------

    def service_account_file(self, base_url: str) -> str:
        """Write (once) the service-account JSON whose ``token_uri`` is this emulator's.

        Args:
            base_url: The emulator's root URL.

        Returns:
            The file's path (deleted when the emulator stops).
        """
        token_uri = base_url + TOKEN_PATH
        if self._file is not None and self._file[0] == token_uri:
            return self._file[1]
        self.close()
        private, _ = _key_pair()
        info = {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": secrets.token_hex(20),
            "private_key": private,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }
        fd, path = tempfile.mkstemp(prefix="llmorch-emulator-vertex-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(info, handle)
        self._file = (token_uri, path)
        return path

    def close(self) -> None:
        """Delete the service-account file, if one was written."""
        if self._file is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._file[1])
            self._file = None

    def credentials(self, base_url: str) -> str:
        """The service-account file and the token endpoint that accepts it.

        Args:
            base_url: The emulator's root URL.

        Returns:
            One line of text.
        """
        path = self.service_account_file(base_url)
        return f"service account {path} (project {PROJECT_ID}, tokens from {TOKEN_PATH})"

    def config(self, base_url: str) -> dict[str, Any]:
        """A ``type: vertex`` provider config with the emulator's service account.

        Args:
            base_url: The emulator's root URL.

        Returns:
            ``{"type", "base_url", "project_id", "location", "credentials_path",
            "fallback_models"}``.
        """
        return {
            "type": self.name,
            "base_url": base_url + self.prefix,
            "project_id": PROJECT_ID,
            "location": "us-central1",
            "credentials_path": self.service_account_file(base_url),
            "fallback_models": list(self.chat_models[1:]),
        }

    def _token(self, request: Request) -> JSONResponse:
        """The OAuth token endpoint: a JWT-bearer grant signed with the service account's key."""
        import google.auth.exceptions
        import google.auth.jwt

        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if request.method != "POST" or form.get("grant_type") != JWT_BEARER:
            description = f"Invalid grant_type: {form.get('grant_type', '')}"
            return JSONResponse(
                400, {"error": "unsupported_grant_type", "error_description": description}
            )
        # google-auth signs for Google's own token endpoint whatever token_uri says.
        audience = [GOOGLE_TOKEN_AUDIENCE, *([self._file[0]] if self._file else [])]
        try:
            claims = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
                form.get("assertion", ""), certs=_key_pair()[1], audience=audience
            )
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            description = f"Invalid JWT: {exc}"[:200]
            return JSONResponse(400, {"error": "invalid_grant", "error_description": description})
        if claims.get("iss") != self.client_email or not claims.get("scope"):
            description = "Invalid JWT: iss or scope"
            return JSONResponse(400, {"error": "invalid_grant", "error_description": description})
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        self._tokens[token] = time.time() + self.token_lifetime_s
        return JSONResponse(
            200,
            {"access_token": token, "expires_in": self.token_lifetime_s, "token_type": "Bearer"},
            {"cache-control": "no-store"},
        )

    def _unauthenticated(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not token:
            reason = "CREDENTIALS_MISSING"
            message = "Request is missing required authentication credential."
        elif self._tokens.get(token, 0.0) > time.time():
            return None
        else:
            reason = (
                "ACCESS_TOKEN_EXPIRED" if token in self._tokens else "ACCESS_TOKEN_TYPE_UNSUPPORTED"
            )
            message = "Request had invalid authentication credentials."
        message += (
            " Expected OAuth 2 access token, login cookie or other valid authentication credential."
        )
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com"},
            }
        ]
        return JSONResponse(401, google_error(401, message, details))

    # -- routing ------------------------------------------------------------------------------

    def request_model(self, path: str, body: Any) -> str | None:
        """The model named in the path (``…/models/{model}:method``).

        Args:
            path: The path after the prefix.
            body: The decoded body.

        Returns:
            The model id, if any.
        """
        match = _MODEL_IN_PATH.search(path)
        return match.group(1) if match else None

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request: the token endpoint, or an authenticated Vertex call.

        Args:
            request: The request.
            path: The path after ``/vertex`` (or ``/oauth2/token``).

        Returns:
            The response.
        """
        if path == TOKEN_PATH:
            return self._token(request)
        problem = self._unauthenticated(request)
        if problem is not None:
            return problem
        if request.method == "GET" and path == "/v1beta1/publishers/google/models":
            return self._publisher_models(request)
        match = _PREDICT.match(path)
        if request.method != "POST" or not match:
            return self.error(404, "not_found", f"Not found: {request.method} {request.path}")
        version, project, location, publisher, model, method = match.groups()
        if project != PROJECT_ID:
            return self._denied(project, location, publisher, model)
        if publisher == "google" and method in ("generateContent", "streamGenerateContent"):
            return self.generate(request, model, method == "streamGenerateContent", version)
        if publisher == "anthropic" and method in ("rawPredict", "streamRawPredict"):
            return self._claude_call(request, model)
        return self.error(400, "invalid_request", f"Unsupported method {publisher}/{method}.")

    def _denied(self, project: str, location: str, publisher: str, model: str) -> JSONResponse:
        resource = f"projects/{project}/locations/{location}/publishers/{publisher}/models/{model}"
        message = (
            "Permission 'aiplatform.endpoints.predict' denied on resource "
            f"'//aiplatform.googleapis.com/{resource}' (or it may not exist)."
        )
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "aiplatform.googleapis.com",
                "metadata": {"permission": "aiplatform.endpoints.predict", "resource": resource},
            }
        ]
        return JSONResponse(403, google_error(403, message, details))

    def _publisher_models(self, request: Request) -> JSONResponse:
        page = self.page(request)
        if isinstance(page, JSONResponse):
            return page
        ids, token = page
        entries = [
            {
                "name": f"publishers/google/models/{m}",
                "versionId": "001",
                "openSourceCategory": "PROPRIETARY",
                "launchStage": "GA",
                "versionState": "VERSION_STATE_STABLE",
                "publisherModelTemplate": _TEMPLATE.format(model=m),
            }
            for m in ids
        ]
        body: dict[str, Any] = {"publisherModels": entries}
        if token:
            body["nextPageToken"] = token
        return JSONResponse(200, body)

    def _claude_call(self, request: Request, model: str) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return self._claude.error(
                400, "invalid_request", "There was an error parsing the body."
            )
        if not _API_VERSION.fullmatch(str(body.get("anthropic_version") or "")):
            message = f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'"
            return self._claude.error(400, "invalid_request", message)
        refusal = check(body, body["anthropic_version"], model=model)
        if refusal is not None:
            return self._claude.error(400, "invalid_request", refusal)
        return self._claude.answer({**body, "model": model}, request)

    # -- answers ------------------------------------------------------------------------------

    def proto_package(self, version: str) -> str:
        """Vertex AI's proto package for an API version.

        Args:
            version: The path's version (``v1`` or ``v1beta1``).

        Returns:
            The package.
        """
        return f"google.cloud.aiplatform.{version}"

    def not_found_message(self, model: str) -> str:
        """Vertex's wording for an unknown publisher model.

        Args:
            model: The model id.

        Returns:
            The message.
        """
        return (
            f"Publisher Model `projects/{PROJECT_ID}/locations/us-central1/publishers/google/"
            f"models/{model}` was not found or your project does not have access to it."
        )

    def usage(self, plan: Plan, final: bool) -> dict[str, Any]:
        """Gemini's usage plus Vertex's ``trafficType``.

        Args:
            plan: The answer.
            final: Whether this is the last chunk (or a whole answer).

        Returns:
            The usage object.
        """
        return {**super().usage(plan, final), "trafficType": "ON_DEMAND"}

    def answer(
        self, plan: Plan, parts: list[dict[str, Any]], response_id: str, *, final: bool
    ) -> dict[str, Any]:
        """Gemini's response plus Vertex's ``createTime``.

        Args:
            plan: The answer.
            parts: This response's parts.
            response_id: The ``responseId``.
            final: Whether it ends the answer.

        Returns:
            The response JSON.
        """
        created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        return {**super().answer(plan, parts, response_id, final=final), "createTime": created}

    def models(self) -> list[str]:
        """Gemini publisher models (scripted Claude models are served, not listed)."""
        return [m for m in super().models() if not m.startswith("claude")]
