"""The transport maps the server's JSON refusals and network failures to typed errors."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from liaison.client.answers import CheckpointAnswer
from liaison.client.errors import InvalidAnswer, ServerError, TransportError, VerificationError
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


# --- Malformed answers: untrusted input, refused at the edge with the route named ---------------
CALLS: list[tuple[str, str, str, Callable[[ApiClient], Awaitable[object]]]] = [
    ("GET", "/v1/server", "GET /v1/server", lambda api: api.server_info()),
    (
        "GET",
        "/v1/agencies/VN-QN-CA",
        "GET /v1/agencies/{code}",
        lambda api: api.get_agency("VN-QN-CA"),
    ),
    ("GET", "/v1/log/checkpoint", "GET /v1/log/checkpoint", lambda api: api.checkpoint()),
    ("GET", "/v1/log/entries", "GET /v1/log/entries", lambda api: api.entries(0, 1)),
    ("GET", "/v1/messages", "GET /v1/messages", lambda api: api.fetch_messages()),
    ("POST", "/v1/messages", "POST /v1/messages", lambda api: api.send_envelope(b"x")),
    ("POST", "/v1/auth/token", "POST /v1/auth/token", lambda api: api.auth_token("d", "c", b"s")),
    ("GET", "/v1/holds", "GET /v1/holds", lambda api: api.list_holds()),
    ("GET", "/v1/audit/records", "GET /v1/audit/records", lambda api: api.audit_records(0)),
]
GARBAGE = [
    b"<html>502 Bad Gateway</html>",  # not JSON
    b"[1, 2, 3]",  # JSON, not an object
    b"{}",  # required fields missing
    # right keys, wrong types everywhere
    b'{"log_index": "7", "checkpoint": 5, "size": "x", "messages": {}, "entries": [{"index": "0"}],'
    b' "token": 1, "expires_at": "soon", "holds": [{"case_tag": 1}], "records": null,'
    b' "origin": [], "log_key_name": 1, "log_public_key": 2, "code": 3}',
]


async def _garbage_server(aiohttp_server, method: str, path: str, body: bytes) -> str:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, status=201 if method == "POST" else 200)

    app = web.Application()
    app.router.add_route(method, path, answer)
    server = await aiohttp_server(app)
    return str(server.make_url(""))


@pytest.mark.parametrize("body", GARBAGE, ids=["html", "array", "empty", "wrong-types"])
@pytest.mark.parametrize(("method", "path", "route", "call"), CALLS, ids=[c[2] for c in CALLS])
async def test_a_malformed_answer_is_one_clear_error_naming_the_route(
    aiohttp_server, method: str, path: str, route: str, call, body: bytes
) -> None:
    url = await _garbage_server(aiohttp_server, method, path, body)
    async with ApiClient(url) as api:
        with pytest.raises(InvalidAnswer) as caught:
            await call(api)
    assert caught.value.route == route
    assert caught.value.code == "invalid_answer"
    assert route in str(caught.value) and "answered something invalid" in str(caught.value)
    # Refused like any server answer that does not verify: never a KeyError/TypeError.
    assert isinstance(caught.value, VerificationError)


async def test_a_well_formed_answer_is_typed_and_reads_like_its_json(aiohttp_server) -> None:
    body = b'{"checkpoint": "note", "size": 3, "cosigned": null, "extra": "ignored"}'
    url = await _garbage_server(aiohttp_server, "GET", "/v1/log/checkpoint", body)
    async with ApiClient(url) as api:
        answer = await api.checkpoint()
    assert isinstance(answer, CheckpointAnswer)
    assert (answer.checkpoint, answer.size, answer.cosigned) == ("note", 3, None)
    assert answer["size"] == 3 and answer.get("cosigned", "none") == "none"
    assert answer.to_dict() == {"checkpoint": "note", "size": 3}
    with pytest.raises(KeyError):
        answer["extra"]
