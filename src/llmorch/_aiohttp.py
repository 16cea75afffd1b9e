"""httpx-aiohttp's transport, made to send every URL byte for byte as httpx encoded it.

httpx-aiohttp hands aiohttp ``str(request.url)``, and aiohttp parses a string URL with yarl,
which re-normalises the percent-encoding: ``%3A`` goes out as ``:`` (RFC 3986 allows a raw
``:`` in a path). The httpx transport sends the URL as given. A signed request (SigV4 covers the
path) must reach the server exactly as it was signed, whatever transport moves it, so this
transport gives aiohttp the URL as a ``yarl.URL(..., encoded=True)``, aiohttp's documented way
to send an already-encoded URL verbatim.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from yarl import URL

__all__ = ["VerbatimURLTransport"]

_SENDING: ContextVar[str | None] = ContextVar("llmorch_aiohttp_url", default=None)
"""The encoded URL of the request this task is handing to aiohttp right now."""


class _EncodedURLRequest(aiohttp.ClientRequest):
    """aiohttp's request, on the URL exactly as httpx encoded it (when it names the same URL)."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        encoded = _SENDING.get()
        if encoded is not None and url == URL(encoded):
            url = URL(encoded, encoded=True)
        super().__init__(method, url, **kwargs)


class VerbatimURLTransport(AiohttpTransport):
    """httpx-aiohttp's transport whose request line carries httpx's encoding of the URL."""

    def get_client(self) -> aiohttp.ClientSession:
        """The aiohttp session: the pool httpx-aiohttp would build, with verbatim URLs.

        Returns:
            A new session.
        """
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, request_class=_EncodedURLRequest)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request, its URL as httpx encoded it.

        Args:
            request: The request.

        Returns:
            The response (its body not read yet).
        """
        token = _SENDING.set(str(request.url))
        try:
            return await super().handle_async_request(request)
        finally:
            _SENDING.reset(token)
