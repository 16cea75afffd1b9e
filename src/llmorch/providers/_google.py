"""Google OAuth access tokens for Vertex AI, refreshed in a worker thread before they expire.

google-auth is imported here only, and this module only when a Vertex provider is used. Its
refresh does blocking network I/O (a token endpoint, or the GCE metadata server for ADC on
Google Cloud), so it always runs in :func:`anyio.to_thread.run_sync`, through a small
``google.auth.transport.Request`` over httpx's sync client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import anyio
import anyio.to_thread
import google.auth
import google.auth.exceptions
import google.auth.transport
import google.oauth2.credentials
from google.auth.credentials import Credentials
from google.oauth2 import service_account

from llmorch._http import SyncHTTP
from llmorch.exceptions import AuthenticationError, ProviderConnectionError, ProviderError

__all__ = ["CLOUD_PLATFORM", "REFRESH_MARGIN_S", "AccessToken", "HttpxRequest", "TokenSource"]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN_S = 300.0
"""A token is renewed when it has less than this many seconds left."""


class _Response(google.auth.transport.Response):
    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self._status = status
        self._headers = headers
        self._data = data

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def data(self) -> bytes:
        return self._data


class HttpxRequest(google.auth.transport.Request):
    """google-auth's synchronous transport, over httpx (instead of ``requests``).

    Args:
        http: The blocking client to send with.
    """

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        """Send one request for google-auth.

        Args:
            url: The URL.
            method: The HTTP method.
            body: The body.
            headers: The headers.
            timeout: Seconds; ``None`` means 120.
            **kwargs: Ignored.

        Returns:
            The response.

        Raises:
            google.auth.exceptions.TransportError: The request could not be sent.
        """
        try:
            status, response_headers, data = self._http.request(
                method, url, headers=headers, body=body, timeout_s=timeout or 120.0
            )
        except ProviderError as exc:
            raise google.auth.exceptions.TransportError(exc.message) from exc  # type: ignore[no-untyped-call]
        return _Response(status, response_headers, data)


@dataclass(frozen=True)
class AccessToken:
    """One access token and what came with it.

    Attributes:
        token: The bearer token (a secret).
        expires_at: Unix time of expiry, or ``None`` when unknown.
        project_id: The project the credentials name, if any.
        quota_project_id: The project to bill quota to (``x-goog-user-project``), if any.
    """

    token: str
    expires_at: float | None
    project_id: str | None
    quota_project_id: str | None

    def __repr__(self) -> str:
        return f"AccessToken(expires_at={self.expires_at!r}, project_id={self.project_id!r})"


class TokenSource:
    """Hands out a valid access token, loading and refreshing credentials off the event loop.

    Args:
        provider: The configured provider name, for errors.
        credentials_path: A service-account (or other credentials) JSON file; ``None`` means
            Application Default Credentials.
        clock: Unix time source (for tests).
    """

    def __init__(
        self,
        provider: str,
        credentials_path: str | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.credentials_path = credentials_path
        self._clock = clock
        self._credentials: Credentials | None = None
        self._project: str | None = None
        self._current: AccessToken | None = None
        self._lock = anyio.Lock()
        self._http = SyncHTTP(provider)

    def __repr__(self) -> str:
        return f"TokenSource(provider={self.provider!r}, path={self.credentials_path!r})"

    @property
    def current(self) -> AccessToken | None:
        """The last token obtained (it may have expired)."""
        return self._current

    def _fresh(self, token: AccessToken) -> bool:
        return token.expires_at is None or self._clock() < token.expires_at - REFRESH_MARGIN_S

    async def get(self) -> AccessToken:
        """A token with at least :data:`REFRESH_MARGIN_S` seconds left, refreshed if needed.

        Returns:
            The token.

        Raises:
            AuthenticationError: No credentials were found, or the token endpoint refused them.
            ProviderConnectionError: The token endpoint could not be reached.
        """
        current = self._current
        if current is not None and self._fresh(current):
            return current
        async with self._lock:
            current = self._current
            if current is not None and self._fresh(current):
                return current
            return await self._refresh()

    async def renew(self, stale: str | None) -> AccessToken:
        """Refresh after the API rejected ``stale`` (unless another task already did).

        Args:
            stale: The token that was rejected.

        Returns:
            A new token.
        """
        async with self._lock:
            current = self._current
            if current is not None and current.token != stale and self._fresh(current):
                return current
            return await self._refresh()

    async def _refresh(self) -> AccessToken:
        token = await anyio.to_thread.run_sync(self._refresh_blocking)
        self._current = token
        return token

    def _refresh_blocking(self) -> AccessToken:
        """Load the credentials if needed and refresh them (worker thread only)."""
        try:
            if self._credentials is None:
                self._credentials, self._project = self._load()
            credentials = self._credentials
            credentials.refresh(HttpxRequest(self._http))  # type: ignore[no-untyped-call]
        except google.auth.exceptions.TransportError as exc:
            raise ProviderConnectionError(
                f"cannot reach the Google token endpoint: {exc}", provider=self.provider
            ) from exc
        except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
            raise AuthenticationError(
                f"Google credentials failed: {type(exc).__name__}: {str(exc)[:300]}",
                provider=self.provider,
            ) from exc
        expiry = credentials.expiry
        expires_at = expiry.replace(tzinfo=timezone.utc).timestamp() if expiry else None
        return AccessToken(
            str(credentials.token),
            expires_at,
            self._project,
            getattr(credentials, "quota_project_id", None),
        )

    def _load(self) -> tuple[Credentials, str | None]:
        if not self.credentials_path:
            return google.auth.default(scopes=[CLOUD_PLATFORM])
        try:
            with open(self.credentials_path, encoding="utf-8") as handle:
                info = json.load(handle)
        except (OSError, ValueError) as exc:
            raise AuthenticationError(
                f"cannot read credentials_path {self.credentials_path!r}: {exc}",
                provider=self.provider,
            ) from exc
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            credentials: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM]
            )
            return credentials, info.get("project_id")
        if kind == "authorized_user":
            credentials = google.oauth2.credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                info, scopes=[CLOUD_PLATFORM]
            )
            return credentials, info.get("quota_project_id")
        raise AuthenticationError(
            f"credentials_path {self.credentials_path!r}: type {kind!r} is not supported here "
            "(use a service_account or authorized_user file, or Application Default Credentials "
            "via GOOGLE_APPLICATION_CREDENTIALS)",
            provider=self.provider,
        )

    def close(self) -> None:
        """Close the token endpoint's connections."""
        self._http.close()
