"""The authorization matrix (issue 14, section 4): every route of the relay's OpenAPI document ×
every kind of caller → the status the relay must answer. A route without a row fails the test.

One relay is set up once for the module (agencies, officers, supervisors, a revoked, an expired
and a not-yet-valid device, a message, a hold) and probed with every (route, caller) pair; each
cell is then its own test. Where today's answer is a known defect of issue 14, the cell holds
the correct answer and is marked xfail(strict=True) with the defect: it fails, to be unmarked,
the day the defect is fixed.

Each route is probed with one request whose body is well-formed, so that a refusal says who may
call it, not what the body lacks: an allowed caller may still get a 4xx for what the probe asks
(a bogus signature, an unknown message), which the row states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from crypto.encoding import b64d, b64e, blake2b
from liaison.server.app import Settings, create_app
from tests.e2e.e2e_relay import free_port
from tests.server.factory import NOW, DeviceKit, china_agency, vietnam_agency

CALLERS = (
    "no_token",
    "bad_token",
    "other_officer",
    "revoked",
    "expired",
    "not_yet_valid",
    "officer",
    "supervisor",
    "other_supervisor",
    "admin",
)
DEVICE_CALLERS = ("other_officer", "officer", "supervisor", "other_supervisor")
DAY = 86400
# The probes run after the clock moved on by this much: the expired device's certificate has
# run out, every token (valid for TOKEN_TTL) has not.
LATER = 2 * DAY
TOKEN_TTL = 30 * DAY


@dataclass(frozen=True)
class Cell:
    status: int
    defect: str | None = None  # today's answer differs: xfail(strict=True) with this reason


def _public(status: int = 200) -> dict[str, Cell]:
    """Anyone, any token or none: the same answer (a token changes nothing)."""
    return {caller: Cell(status) for caller in CALLERS}


def _admin(status: int) -> dict[str, Cell]:
    return {caller: Cell(status if caller == "admin" else 401) for caller in CALLERS}


def _device(allowed: int | Mapping[str, int]) -> dict[str, Cell]:
    """Device-token routes: no or a bad token or the admin token 401; a revoked device 403;
    a device outside its certificate's validity window 403 (defect 4); enrolled
    devices `allowed` (one status for all, or per caller)."""
    per_caller = allowed if isinstance(allowed, Mapping) else dict.fromkeys(DEVICE_CALLERS, allowed)
    row = {caller: Cell(per_caller[caller]) for caller in DEVICE_CALLERS}
    row.update(no_token=Cell(401), bad_token=Cell(401), admin=Cell(401), revoked=Cell(403))
    row.update(expired=Cell(403), not_yet_valid=Cell(403))
    return row


def _directory() -> dict[str, Cell]:
    """Section 2: directory and log reads are for enrolled devices only."""
    return _device(200)


SUPERVISORS_ONLY = {
    "officer": 403,
    "other_officer": 403,
    "supervisor": 200,
    "other_supervisor": 200,
}

MATRIX: dict[tuple[str, str], dict[str, Cell]] = {
    ("GET", "/v1/health"): _public(),
    ("GET", "/v1/health/live"): _public(),
    ("GET", "/v1/server"): _public(),
    ("GET", "/v1/openapi.json"): _public(),
    ("GET", "/v1/agencies"): _public(),
    ("GET", "/v1/agencies/{code}"): _public(),
    ("GET", "/v1/agencies/{code}/devices"): _directory(),
    ("GET", "/v1/devices/{device_id}"): _public(),
    ("GET", "/v1/log/checkpoint"): _public(),
    ("GET", "/v1/log/consistency"): _public(),
    ("GET", "/v1/log/proof"): _public(),
    ("GET", "/v1/log/entries"): _directory(),
    # Signed uploads: the signature inside is the authority, a bearer token is ignored. The
    # probes carry well-formed bytes that do not verify.
    ("POST", "/v1/agencies/{code}/review-keys"): _public(400),
    ("POST", "/v1/certificates"): _public(400),
    ("POST", "/v1/revocations"): _public(400),
    ("POST", "/v1/review-keys/wraps"): _public(400),
    ("POST", "/v1/auth/challenge"): _public(404),
    ("POST", "/v1/auth/token"): _public(404),
    ("POST", "/v1/log/cosignatures"): _public(400),
    ("POST", "/v1/agencies"): _admin(400),
    ("PUT", "/v1/agencies/{code}/retention"): _admin(200),
    ("GET", "/v1/ws"): _device(101),
    # Revocation is checked in the storing transaction, after the envelope parses (the send
    # path's one database round trip), so the revoked device's malformed probe is a 400.
    ("POST", "/v1/messages"): {
        **_device(400),
        "revoked": Cell(400),
    },
    ("GET", "/v1/messages"): _device(200),
    ("POST", "/v1/messages/{message_id}/ack"): _device(
        {"officer": 200, "other_officer": 404, "supervisor": 404, "other_supervisor": 404},
    ),
    ("POST", "/v1/messages/{message_id}/case-tags"): _device(
        {"officer": 200, "other_officer": 404, "supervisor": 404, "other_supervisor": 404},
    ),
    ("GET", "/v1/holds"): _device(200),
    ("POST", "/v1/holds"): _device(
        {"officer": 403, "other_officer": 403, "supervisor": 201, "other_supervisor": 201},
    ),
    ("POST", "/v1/holds/release"): _device(
        {"officer": 403, "other_officer": 403, "supervisor": 404, "other_supervisor": 404},
    ),
    ("GET", "/v1/review-keys/wraps"): _device(200),
    ("GET", "/v1/review/messages"): _device(SUPERVISORS_ONLY),
    ("POST", "/v1/review/messages/{message_id}"): _device(
        {"officer": 403, "other_officer": 403, "supervisor": 422, "other_supervisor": 403},
    ),
    ("GET", "/v1/audit/records"): _device(200),
    # Attachments: any enrolled device may upload; a session is its opener's only and a blob
    # its envelope's parties' only, so the probes' unknown ids are 404 to everyone.
    ("POST", "/v1/uploads"): _device(201),
    ("GET", "/v1/uploads/{upload_id}"): _device(404),
    ("PUT", "/v1/uploads/{upload_id}"): _device(404),
    ("DELETE", "/v1/uploads/{upload_id}"): _device(404),
    ("POST", "/v1/uploads/{upload_id}/complete"): _device(404),
    ("GET", "/v1/blobs/{blob_id}"): _device(404),
    # Federation (issue 15): relay-to-relay requests are authorized by the calling relay's
    # signature (§16.3), never by a bearer token: unsigned, the peering answer is the identity
    # only, and the forwarding routes are refused as malformed whatever token comes along.
    ("GET", "/v1/federation/peering"): _public(200),
    ("POST", "/v1/federation/envelopes"): _public(400),
    ("POST", "/v1/federation/acks"): _public(400),
    ("PUT", "/v1/federation/blobs/{blob_id}"): _public(400),
    ("GET", "/v1/federation/blobs/{blob_id}"): _public(400),
    # Witnessing each other (§16.7): the peer's checkpoint and its cosignature, peers only.
    ("GET", "/v1/federation/witness"): _public(400),
    ("POST", "/v1/federation/cosignatures"): _public(400),
    ("POST", "/v1/federation/reviews"): _public(400),
    ("GET", "/v1/federation/log/messages/{message_id}"): _public(400),
    # Both relays' entries of a cross-border message: any device, but only of a message it may
    # see, so the probe's unknown id is 404 to every device.
    ("GET", "/v1/foreign/log/messages/{message_id}"): _device(404),
    # A peer's proved directory of one of its agencies (§16.5): for peers only (unsigned: 400);
    # through the own relay for enrolled devices (no peer here: 404 to every device).
    ("GET", "/v1/federation/agencies/{code}"): _public(400),
    ("GET", "/v1/foreign/agencies/{code}"): _device(404),
    # Home statements (§16.4): the agency root's signature authorizes them, not the caller.
    ("POST", "/v1/agencies/{code}/home"): _public(422),
    ("GET", "/v1/agencies/{code}/home"): _public(404),
}


class _Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    """What the probes refer to: an agency, a device, a message addressed to the officer."""

    code: str
    device_id: str
    message_id: str
    log_size: int
    tokens: dict[str, str | None]


def _probe(route: tuple[str, str], world: World, caller: str) -> dict[str, Any]:
    """The one request each route is probed with: path, query and a well-formed body."""
    method, template = route
    path = (
        template.replace("{code}", world.code)
        .replace("{device_id}", world.device_id)
        .replace("{message_id}", world.message_id)
        .replace("{upload_id}", "0" * 32)
        .replace("{blob_id}", "0" * 64)
    )
    junk32, junk64 = b64e(bytes(32)), b64e(bytes(64))
    params: dict[str, Any] = {
        "/v1/log/consistency": {"from": 1, "to": world.log_size},
        "/v1/log/proof": {"index": 0, "size": world.log_size},
        "/v1/log/entries": {"start": 0, "end": 1},
        "/v1/uploads/{upload_id}": {"offset": 0} if method == "PUT" else {},
    }.get(template, {})
    bodies: dict[str, Any] = {
        "/v1/agencies/{code}/review-keys": {"statement": junk64},
        "/v1/certificates": {"certificate": junk64},
        "/v1/revocations": {"revocation": junk64},
        "/v1/review-keys/wraps": {"wrap": junk64},
        "/v1/auth/challenge": {"device_id": "VN-QN-CA:nobody:phone"},
        "/v1/auth/token": {
            "device_id": "VN-QN-CA:nobody:phone",
            "challenge": junk32,
            "signature": junk64,
        },
        "/v1/log/cosignatures": {"cosignature": "junk"},
        "/v1/agencies": {},
        "/v1/agencies/{code}/retention": {"days": 3650},
        "/v1/messages": {"envelope": "AAAA"},
        "/v1/messages/{message_id}/case-tags": {"case_tags": [junk32]},
        # One case per caller: a hold placed by one (rightly or not) does not refuse the next.
        "/v1/holds": {"case_tag": b64e(blake2b(caller.encode())), "reason_hash": junk32},
        "/v1/holds/release": {"case_tag": b64e(bytes([9]) * 32)},
        "/v1/uploads": {"size": 41},
        "/v1/federation/envelopes": {
            "checkpoint": "x",
            "consistency_from": 0,
            "consistency_proof": [],
            "items": [],
        },
        "/v1/federation/acks": {"acks": []},
        "/v1/federation/reviews": {"checkpoint": "x", "review_entry": "AAAA"},
        "/v1/federation/cosignatures": {"cosignature": "junk"},
        "/v1/agencies/{code}/home": {"statement": "AAAA"},
        "/v1/federation/blobs/{blob_id}": {},
        "/v1/uploads/{upload_id}": {},
        "/v1/uploads/{upload_id}/complete": {"blob": "ab" * 32},
        "/v1/review/messages/{message_id}": {
            "reason_hash": junk32,
            "requested_at": NOW + LATER,
            "signature": junk64,
        },
    }
    probe: dict[str, Any] = {"method": method, "path": path, "params": params}
    if method in ("POST", "PUT") and template != "/v1/messages/{message_id}/ack":
        probe["json"] = bodies[template]
    return probe


async def _call(session, base, probe, token) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if probe["path"] == "/v1/ws":
        try:
            params = {"token": token} if token else {}
            async with session.ws_connect(f"{base}/v1/ws", params=params, headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
    async with session.request(
        probe["method"],
        base + probe["path"],
        params=probe["params"],
        json=probe.get("json"),
        headers=headers,
    ) as answer:
        return answer.status


async def _post(session, base, path, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(base + path, json=body, headers=headers) as answer:
        return answer.status, await answer.json()


async def _login(session, base, device: DeviceKit) -> str | None:
    """The device's token, or None when the relay refuses one."""
    async with session.get(base + "/v1/server") as answer:
        log_key = b64d((await answer.json())["log_public_key"])
    status, challenge = await _post(
        session, base, "/v1/auth/challenge", {"device_id": device.device_id}
    )
    if status != 200:
        return None
    signature = device.sign_challenge(log_key, b64d(challenge["challenge"]))
    body = {
        "device_id": device.device_id,
        "challenge": challenge["challenge"],
        "signature": b64e(signature),
    }
    status, token = await _post(session, base, "/v1/auth/token", body)
    return token["token"] if status == 200 else None


async def _observe(data_dir: Path) -> tuple[set[tuple[str, str]], dict[tuple[str, str, str], int]]:
    clock = _Clock(NOW)
    shown: list[str] = []
    settings = Settings(
        data_dir=data_dir, clock=clock, token_ttl=TOKEN_TTL, announce_admin_token=shown.append
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            vn, cn = vietnam_agency(), china_agency()
            for agency in (vn, cn):
                status, answer = await _post(
                    session, base, "/v1/agencies", agency.registration(), shown[0]
                )
                assert status == 201, answer
            devices = {
                "officer": vn.device("alice"),
                "other_officer": cn.device("wei"),
                "supervisor": vn.device("sup", role="supervisor"),
                "other_supervisor": cn.device("csup", role="supervisor"),
                "revoked": vn.device("ron"),
                # Supervisors of the officer's agency: whatever a live supervisor may do, these
                # must not (a role refusal would hide the validity check).
                "expired": vn.device(
                    "old", role="supervisor", not_before=NOW - DAY, not_after=NOW + DAY
                ),
                "not_yet_valid": vn.device("new", role="supervisor", not_before=NOW + 10 * DAY),
            }
            # The message stays inside the officer's agency: the other agency is no party to it.
            lan = vn.device("lan")
            for device in [*devices.values(), lan]:
                status, answer = await _post(session, base, "/v1/certificates", device.upload())
                assert status == 201, answer
            tokens: dict[str, str | None] = {
                name: await _login(session, base, device)
                for name, device in devices.items()
                if name != "not_yet_valid"
            }
            # Refused (defect 4); its token comes from a clock that ran ahead and was set
            # back, so the probes check every request, not only the login.
            assert await _login(session, base, devices["not_yet_valid"]) is None
            clock.now = NOW + 10 * DAY
            tokens["not_yet_valid"] = await _login(session, base, devices["not_yet_valid"])
            clock.now = NOW
            message = lan.seal([devices["officer"]], "x")
            status, answer = await _post(
                session,
                base,
                "/v1/messages",
                {"envelope": b64e(message.to_bytes())},
                await _login(session, base, lan),
            )
            assert status == 201, answer
            status, answer = await _post(
                session,
                base,
                "/v1/revocations",
                {"revocation": b64e(vn.revoke(devices["revoked"]).to_bytes())},
            )
            assert status == 201, answer
            clock.now = NOW + LATER
            tokens.update(no_token=None, bad_token="not-a-token", admin=shown[0])
            async with session.get(base + "/v1/log/checkpoint") as answer:
                size = (await answer.json())["size"]
            world = World(
                vn.code, devices["officer"].device_id, message.header.message_id, size, tokens
            )
            async with session.get(base + "/v1/openapi.json") as answer:
                document = await answer.json()
            routes = {
                (method.upper(), path)
                for path, operations in document["paths"].items()
                for method in operations
                if method in ("get", "post", "put", "patch", "delete")
            }
            observed = {}
            for route in sorted(routes & set(MATRIX)):
                for caller in CALLERS:
                    probe = _probe(route, world, caller)
                    observed[(*route, caller)] = await _call(session, base, probe, tokens[caller])
            return routes, observed
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> tuple[set[tuple[str, str]], dict[tuple[str, str, str], int]]:
    return asyncio.run(_observe(tmp_path_factory.mktemp("matrix") / "data"))


def test_every_route_of_the_openapi_document_has_a_row(observed) -> None:
    routes, _ = observed
    assert routes - set(MATRIX) == set(), "routes without a row in the authorization matrix"
    assert set(MATRIX) - routes == set(), "rows for routes the relay no longer has"


def _cells() -> list[Any]:
    cells = []
    for route, row in MATRIX.items():
        assert set(row) == set(CALLERS), route
        for caller in CALLERS:
            cell = row[caller]
            marks = [pytest.mark.xfail(strict=True, reason=cell.defect)] if cell.defect else []
            cells.append(
                pytest.param(
                    route, caller, cell.status, marks=marks, id=f"{route[0]} {route[1]} {caller}"
                )
            )
    return cells


@pytest.mark.parametrize(("route", "caller", "status"), _cells())
def test_authorization(observed, route, caller, status) -> None:
    _, answers = observed
    assert answers[(*route, caller)] == status
