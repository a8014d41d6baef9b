"""The transport maps the server's JSON refusals and network failures to typed errors."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from liaison.client.errors import ServerError, TransportError
from liaison.client.transport import ApiClient


async def test_json_refusal_becomes_server_error_with_its_code(aiohttp_server) -> None:
    async def refuse(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        return web.json_response({"code": "agency_exists", "message": "Already."}, status=409)

    app = web.Application()
    app.router.add_post("/v1/agencies", refuse)
    server = await aiohttp_server(app)
    async with ApiClient(str(server.make_url(""))) as api:
        with pytest.raises(ServerError) as caught:
            await api.register_agency("tok", {"code": "VN-QN-CA"})
    assert (caught.value.status, caught.value.code) == (409, "agency_exists")


async def test_non_json_error_still_has_a_code(aiohttp_server) -> None:
    app = web.Application()
    server = await aiohttp_server(app)
    async with ApiClient(str(server.make_url(""))) as api:
        with pytest.raises(ServerError) as caught:
            await api.health()
    assert caught.value.code == "http_404"


async def test_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ApiClient(f"http://127.0.0.1:{port}") as api:
        with pytest.raises(TransportError):
            await api.health()
