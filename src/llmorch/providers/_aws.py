"""AWS credentials and SigV4 signing for Bedrock, with botocore kept off the event loop.

botocore is imported on first use only. Resolving credentials (env, profile, SSO, container, IMDS,
assume-role) can block on the network, so it runs in a worker thread; the frozen credentials are
cached and re-resolved, again in a thread, shortly before they expire. Signing itself is pure CPU
(an HMAC chain) and runs where the request is built.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread

from llmorch.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ProviderConnectionError,
    ProviderError,
)

if TYPE_CHECKING:
    from botocore.credentials import Credentials, ReadOnlyCredentials

    from llmorch.config import BedrockConfig

__all__ = ["SIGNING_NAME", "AWSAuth", "encode_label", "encode_query"]

logger = logging.getLogger("llmorch")

SIGNING_NAME = "bedrock"
"""The SigV4 service name of both ``bedrock-runtime`` and ``bedrock`` (the control plane)."""

REFRESH_MARGIN_S = 15 * 60
"""Re-resolve credentials this long before they expire (botocore's advisory refresh window)."""

RECHECK_S = 5 * 60
"""How often refreshable credentials whose expiry botocore does not expose are re-checked."""

_SAFE = "-._~"
"""RFC 3986 unreserved characters besides letters and digits: AWS leaves only these as they are."""


def encode_label(value: str) -> str:
    """Percent-encode one URI path label exactly as botocore's REST serializer does.

    Everything but RFC 3986 unreserved characters is escaped (``:`` as ``%3A``, ``/`` as
    ``%2F``), UTF-8 first. That is the one form every AWS SDK sends: SigV4 then signs the path
    encoded once more (``%253A``), and AWS computes the same canonical path from it whichever way
    it reads the received path. The transports send it byte for byte (see
    :class:`llmorch._http.AiohttpTransport` for the aiohttp one).

    Args:
        value: A model id, inference-profile id or ARN.

    Returns:
        The encoded label.
    """
    return quote(value, safe=_SAFE)


def encode_query(params: Mapping[str, Any]) -> str:
    """Encode query parameters in SigV4's canonical form (sorted, RFC 3986 escapes).

    Args:
        params: Parameter names to values (``None`` values are dropped).

    Returns:
        The query string without the leading ``?``.
    """
    items = sorted((k, str(v)) for k, v in params.items() if v is not None)
    return urlencode(items, quote_via=quote, safe=_SAFE)


def _credential_error(exc: Exception, provider: str) -> ProviderError:
    """Map a failure of botocore's credential chain onto llmorch's tree (no secrets in it)."""
    from botocore import exceptions as boto

    text = f"cannot resolve AWS credentials: {type(exc).__name__}: {exc}"
    definite = (
        boto.NoCredentialsError,
        boto.PartialCredentialsError,
        boto.ProfileNotFound,
        boto.ConfigNotFound,
        boto.ClientError,
        boto.UnauthorizedSSOTokenError,
        boto.SSOTokenLoadError,
        boto.InvalidConfigError,
    )
    if isinstance(exc, definite):
        return AuthenticationError(text, provider=provider)
    return ProviderConnectionError(text, provider=provider)


def _expiry(credentials: Credentials) -> float | None:
    """When refreshable credentials must be re-resolved (Unix time), or ``None`` if never."""
    from botocore.credentials import RefreshableCredentials

    if not isinstance(credentials, RefreshableCredentials):
        return None
    # botocore keeps the expiry private; without it, ask again every few minutes.
    expiry = getattr(credentials, "_expiry_time", None)
    if isinstance(expiry, datetime):
        return expiry.timestamp() - REFRESH_MARGIN_S
    return time.time() + RECHECK_S


class AWSAuth:
    """Signs Bedrock requests: SigV4 with botocore's signer, or a Bedrock API key (bearer).

    Credentials come from the config keys when given, else botocore's default chain for
    ``profile_name``. The region is ``region_name`` or the profile's.

    Args:
        provider: The configured provider name, for errors.
        config: The Bedrock configuration.
        session_factory: Builds the botocore session (tests inject one); called in a thread.
    """

    def __init__(
        self,
        provider: str,
        config: BedrockConfig,
        *,
        session_factory: Any = None,
    ) -> None:
        self.provider = provider
        self.config = config
        self._session_factory = session_factory
        bearer = config.api_key.get_secret_value() if config.api_key is not None else None
        self._bearer = bearer or os.environ.get("AWS_BEARER_TOKEN_BEDROCK") or None
        self._region: str | None = config.region_name
        self._credentials: Credentials | None = None
        self._loaded = False
        self._frozen: ReadOnlyCredentials | None = None
        self._refresh_at: float | None = None
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        mode = "bearer" if self._bearer else "sigv4"
        return f"AWSAuth(provider={self.provider!r}, mode={mode!r}, region={self._region!r})"

    @property
    def secrets(self) -> list[str]:
        """The secrets requests carry: the bearer key, or the resolved secret key and token.

        Returns:
            The values known so far (credentials from the default chain once resolved).
        """
        found = [self._bearer or ""]
        if self._frozen is not None:
            found += [self._frozen.secret_key or "", self._frozen.token or ""]
        return [s for s in found if s]

    @property
    def uses_bearer(self) -> bool:
        """True when requests carry a Bedrock API key instead of a SigV4 signature."""
        return self._bearer is not None

    async def region(self) -> str:
        """The region requests are signed for (and default endpoints are built from).

        Returns:
            The region name.

        Raises:
            ConfigurationError: Neither the config nor the AWS profile names a region.
        """
        if self._region is None and not self._loaded:
            async with self._lock:
                await self._load()
        if self._region is None:
            raise ConfigurationError(
                f"providers.{self.provider}.region_name: no AWS region configured "
                "(set region_name, AWS_REGION or a region in the AWS profile)"
            )
        return self._region

    def _session(self) -> Any:
        if self._session_factory is not None:
            return self._session_factory()
        import botocore.session

        return botocore.session.Session(profile=self.config.profile_name)

    def _resolve(self) -> tuple[Credentials | None, str | None]:
        """Build the credential source and find the region (worker thread: may do I/O)."""
        config = self.config
        if config.aws_access_key_id is not None and config.aws_secret_access_key is not None:
            from botocore.credentials import Credentials

            token = config.aws_session_token
            credentials: Credentials | None = Credentials(
                config.aws_access_key_id.get_secret_value(),
                config.aws_secret_access_key.get_secret_value(),
                token.get_secret_value() if token is not None else None,
            )
            region = self._region
            if region is None:
                region = self._session().get_config_variable("region")
            return credentials, region
        session = self._session()
        region = self._region or session.get_config_variable("region")
        return session.get_credentials(), region

    def _freeze(self, credentials: Credentials) -> tuple[ReadOnlyCredentials, float | None]:
        """Get current credentials, refreshing when botocore says so (worker thread)."""
        return credentials.get_frozen_credentials(), _expiry(credentials)

    async def _load(self) -> None:
        """Resolve the credential source and region once, in a worker thread (call locked)."""
        if self._loaded:
            return
        try:
            credentials, region = await anyio.to_thread.run_sync(self._resolve)
        except Exception as exc:
            raise _credential_error(exc, self.provider) from None
        self._credentials, self._region = credentials, self._region or region
        self._loaded = True

    def _fresh(self) -> bool:
        return self._frozen is not None and (
            self._refresh_at is None or time.time() < self._refresh_at
        )

    async def _ensure_credentials(self) -> ReadOnlyCredentials:
        """The current frozen credentials; resolves or refreshes them in a worker thread."""
        if self._frozen is not None and self._fresh():
            return self._frozen
        async with self._lock:
            if self._frozen is not None and self._fresh():
                return self._frozen
            await self._load()
            if self._credentials is None:
                raise AuthenticationError(
                    "no AWS credentials found (config keys, environment, profile, SSO, "
                    "container or instance metadata)",
                    provider=self.provider,
                )
            try:
                frozen, refresh_at = await anyio.to_thread.run_sync(self._freeze, self._credentials)
            except Exception as exc:
                raise _credential_error(exc, self.provider) from None
            if self._frozen is not None and frozen.token != self._frozen.token:
                logger.debug("AWS credentials for provider %r were refreshed", self.provider)
            self._frozen, self._refresh_at = frozen, refresh_at
            return frozen

    async def sign(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """Sign one request for exactly this method, URL and body.

        Args:
            method: ``GET`` or ``POST``.
            url: The full URL as it will be sent (path labels already encoded).
            body: The exact body bytes.
            headers: Headers to send and sign (e.g. ``content-type``).

        Returns:
            The headers to send: ``headers`` plus ``authorization``, ``x-amz-date`` and
            ``x-amz-security-token`` (temporary credentials), or ``authorization: Bearer``.
        """
        if self._bearer is not None:
            return {**headers, "authorization": f"Bearer {self._bearer}"}
        frozen = await self._ensure_credentials()
        region = await self.region()
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(frozen, SIGNING_NAME, region).add_auth(request)
        return {name.lower(): str(value) for name, value in request.headers.items()}
