"""The direct route: llmorch's own aiohttp pool carries its requests without httpx's models.

It must put on the wire what the httpx path through the same transport puts there, decode
what that path decodes, and step aside where httpx would add something of its own (a proxy
from the environment, credentials in the URL).
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from llmorch import _http
from llmorch.exceptions import ProviderConnectionError
from tests.rawhttp import ANSWER, EVENTS, SSE_HEAD, Writer, chunk, json_response, raw_upstream

pytestmark = pytest.mark.anyio
HEADERS = {"Content-Type": "application/json", "authorization": "Bearer k", "X-Extra": "v"}
BODY = json.dumps({"model": "m", "stream": False}).encode()


def _head_fields(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    line, *rest = head.rstrip(b"\r\n").split(b"\r\n")
    fields = dict(h.split(b": ", 1) for h in rest)
    return line, {k.lower(): v for k, v in fields.items()}


def _httpx_path(client: _http.AsyncClient) -> _http.AsyncClient:
    transport = client._transport
    assert isinstance(transport, _http.AiohttpTransport)
    transport.direct = None  # the same transport, every request through httpx's models
    return client


async def _fetch(client: _http.AsyncClient, url: str) -> _http.Response:
    return await _http.fetch(
        client,
        "POST",
        url,
        provider="openai",
        model="m",
        timeout_s=5,
        headers=HEADERS,
        content=BODY,
    )


async def test_direct_route_sends_the_bytes_the_httpx_path_sends() -> None:
    """Request line, header names and values are the same on both paths, and so is the answer."""
    async with raw_upstream() as up:
        url = up.base_url + "/chat/completions"
        direct = _http.create_client("aiohttp")
        viahttpx = _httpx_path(_http.create_client("aiohttp"))
        try:
            assert isinstance(direct._transport, _http.AiohttpTransport)
            assert direct._transport.direct is not None
            one = await _fetch(direct, url)
            two = await _fetch(viahttpx, url)
        finally:
            await direct.aclose()
            await viahttpx.aclose()
    assert _head_fields(up.heads[1]) == _head_fields(up.heads[0])
    line, fields = _head_fields(up.heads[0])
    assert b"POST /v1/chat/completions HTTP/1.1" == line
    assert b"llmorch/0.1" == fields[b"user-agent"]
    assert b"v" == fields[b"x-extra"]
    assert (200, ANSWER, "application/json") == (
        one.status_code,
        one.content,
        one.headers["Content-Type"],
    )
    assert (two.status_code, two.content, two.json()) == (one.status_code, one.content, one.json())


async def _gzip_json(writer: Writer, stream: bool) -> bool:
    body = gzip.compress(ANSWER)
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n"
        b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    )
    await writer.drain()
    return True


async def _gzip_sse(writer: Writer, stream: bool) -> bool:
    body = gzip.compress(b"".join(EVENTS))
    head = SSE_HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: gzip\r\n\r\n")
    writer.write(head + chunk(body[:7]) + chunk(body[7:]) + b"0\r\n\r\n")
    await writer.drain()
    return True


async def test_direct_route_decodes_gzip_bodies_and_streams() -> None:
    """A gzip answer arrives decoded, whole or streamed, as httpx's decoders hand it over."""
    async with raw_upstream(_gzip_json, _gzip_sse) as up:
        client = _http.create_client("aiohttp")
        try:
            answer = await _fetch(client, up.base_url + "/chat/completions")
            stream = await _http.open_stream(
                client,
                "POST",
                up.base_url + "/chat/completions",
                provider="openai",
                model="m",
                timeout_s=5,
                headers=HEADERS,
                content=BODY,
            )
            try:
                streamed = b"".join([piece async for piece in stream])
            finally:
                await stream.aclose()
        finally:
            await client.aclose()
    assert json.loads(ANSWER) == answer.json()
    assert ANSWER.decode() == answer.text
    assert 200 == stream.response.status_code
    assert b"".join(EVENTS) == streamed


async def _cut_body(writer: Writer, stream: bool) -> bool:
    writer.write(json_response()[:-10])
    await writer.drain()
    return False


async def test_direct_route_maps_a_cut_body_to_a_connection_error() -> None:
    """A body cut short fails as the httpx path fails: a ProviderConnectionError."""
    async with raw_upstream(_cut_body) as up:
        client = _http.create_client("aiohttp")
        try:
            with pytest.raises(ProviderConnectionError, match="connection failed"):
                await _fetch(client, up.base_url + "/chat/completions")
        finally:
            await client.aclose()


async def test_a_client_with_mounts_keeps_requests_on_httpx() -> None:
    """A mount (httpx's proxy routing) would change where a request goes: no direct route."""
    import httpx

    limits = httpx.Limits(max_connections=1)
    transport = _http.AiohttpTransport(limits)
    client = httpx.AsyncClient(transport=transport, mounts={"all://": httpx.AsyncHTTPTransport()})
    try:
        transport.adopt(client)
        assert transport.direct is None
        transport.adopt(httpx.AsyncClient(transport=transport))
        assert transport.direct is not None
    finally:
        await client.aclose()


async def test_credentials_in_the_url_go_the_httpx_way() -> None:
    """userinfo becomes httpx's Basic Authorization header, so such a URL takes the httpx path."""
    async with raw_upstream() as up:
        client = _http.create_client("aiohttp")
        url = f"http://user:pw@127.0.0.1:{up.port}/v1/chat/completions"
        try:
            assert _http._direct(client, url) is None
            assert _http._direct(client, up.base_url + "/x") is not None
            await _fetch(client, url)
        finally:
            await client.aclose()
    _, fields = _head_fields(up.heads[0])
    assert fields[b"authorization"].startswith(b"Basic ")


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("text/plain; charset=latin-1", "café".encode("latin-1"), "café"),
        ("application/json", "café".encode(), "café"),
        ('text/plain; charset="nonsense"', b"ok", "ok"),
    ],
)
def test_answer_text_follows_the_content_type_charset(
    content_type: str, body: bytes, text: Any
) -> None:
    """The text of an error body is decoded as httpx decodes it: the charset, else UTF-8."""
    assert text == _http._Answer(503, {"content-type": content_type}, body).text
