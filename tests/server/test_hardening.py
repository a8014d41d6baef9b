"""Issue 14 (hardening): push-socket limits, logging that cannot flood, and the server-side halves
of defects whose fix belongs to the request handlers."""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import sqlite3
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from nacl.signing import SigningKey

from crypto.checkpoint import cosign_checkpoint, verify_cosignature
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from liaison.server.app import STORE_KEY
from liaison.server.identity import (
    ADMIN_TOKEN_FILE,
    ADMIN_TOKEN_HASH_FILE,
    ensure_server_identity,
)
from liaison.server.keys import PUSH_KEY, RELAY_KEY
from liaison.server.push import (
    CLOSE_REPLACED,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TRY_AGAIN_LATER,
    PushHub,
)
from liaison.server.ratelog import RateLimitFilter, limit_server_error_logs, remove_limit
from liaison.server.review import log_closed_refusal_windows
from liaison.server.witness import register_witness
from liaison.store.engine import SQLITE_FILENAME
from tests.e2e.e2e_relay import PROJECT_ROOT, free_port
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send
from tests.server.relay_api import row_counts


@pytest.fixture
def database():
    """SQLite: push sockets live in the process, the same on both backends."""
    return None, None


async def _logged_in(api, *officers: str) -> list[str]:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    devices = [vn.device(officer) for officer in officers]
    await enrol(api, *devices)
    return [await api.login(device) for device in devices]


async def _close_code(ws: aiohttp.ClientWebSocketResponse) -> int:
    frame = await asyncio.wait_for(ws.receive(), timeout=10)
    assert frame.type == aiohttp.WSMsgType.CLOSE, frame
    return int(frame.data)


# --- defect 2: WebSocket exhaustion --------------------------------------------------------


async def test_a_device_keeps_at_most_four_sockets_and_its_oldest_are_closed(api, relay) -> None:
    (token,) = await _logged_in(api, "alice")
    sockets = [await api.client.ws_connect("/v1/ws", params={"token": token}) for _ in range(10)]
    try:
        codes = [await _close_code(ws) for ws in sockets[:6]]
        assert codes == [CLOSE_REPLACED] * 6
        hub = relay[1][PUSH_KEY]
        assert hub.connected("VN-QN-CA:alice:phone") == 4 and hub.open_sockets == 4
        assert not any(ws.closed for ws in sockets[6:])
    finally:
        for ws in sockets:
            await ws.close()


async def test_beyond_the_global_cap_new_sockets_are_refused(api, relay) -> None:
    tokens = await _logged_in(api, "alice", "bob", "carol")
    relay[1][PUSH_KEY].max_sockets = 2
    first = await api.client.ws_connect("/v1/ws", params={"token": tokens[0]})
    second = await api.client.ws_connect("/v1/ws", params={"token": tokens[1]})
    third = await api.client.ws_connect("/v1/ws", params={"token": tokens[2]})
    try:
        assert await _close_code(third) == CLOSE_TRY_AGAIN_LATER
        assert not first.closed and not second.closed
        # A place freed is a place for the next device.
        await first.close()
        await asyncio.wait_for(_until_open(relay[1][PUSH_KEY], 1), timeout=10)
        fourth = await api.client.ws_connect("/v1/ws", params={"token": tokens[2]})
        assert relay[1][PUSH_KEY].open_sockets == 2 and not fourth.closed
        await fourth.close()
    finally:
        for ws in (first, second, third):
            await ws.close()


async def _until_open(hub: PushHub, count: int) -> None:
    # The hub has no event to wait on: yield to the server's handlers (no wall-clock wait)
    # until they have (dis)connected; the caller bounds this with wait_for.
    while hub.open_sockets != count:  # noqa: ASYNC110
        await asyncio.sleep(0)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_socket_is_closed_when_its_token_expires(aiohttp_client) -> None:
    clock = _Clock(1000.0)
    hub = PushHub(clock=clock, expiry_sweep_seconds=3600)

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hub.connect(request.query["device"], ws, expires_at=float(request.query["expires"]))
        async for _ in ws:
            pass
        hub.disconnect(request.query["device"], ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    client = await aiohttp_client(app)
    early = await client.ws_connect("/ws", params={"device": "a", "expires": "1010"})
    late = await client.ws_connect("/ws", params={"device": "b", "expires": "1100"})
    await asyncio.wait_for(_until_open(hub, 2), timeout=10)
    assert hub.close_expired() == 0
    clock.now = 1010.0
    assert hub.close_expired() == 1
    assert await _close_code(early) == CLOSE_TOKEN_EXPIRED
    assert not late.closed and hub.connected("b") == 1
    await late.close()
    await hub.close_all()


async def test_the_relay_closes_a_push_socket_when_its_token_expires(api, relay, clock) -> None:
    (token,) = await _logged_in(api, "alice")
    hub = relay[1][PUSH_KEY]
    hub.clock = clock
    ws = await api.client.ws_connect("/v1/ws", params={"token": token})
    try:
        await asyncio.wait_for(_until_open(hub, 1), timeout=10)
        clock.now += 24 * 3600
        assert hub.close_expired() == 1
        assert await _close_code(ws) == CLOSE_TOKEN_EXPIRED
    finally:
        await ws.close()


def test_a_burst_of_errors_logs_one_line_per_cause(caplog) -> None:
    clock = _Clock(0.0)
    limiter = limit_server_error_logs(interval=60, clock=clock)
    try:
        caplog.set_level(logging.INFO)
        accept, handling = logging.getLogger("asyncio"), logging.getLogger("aiohttp.server")
        for _ in range(1000):
            try:
                raise OSError(errno.EMFILE, "Too many open files")
            except OSError:
                accept.exception("socket.accept() out of system resource")
                handling.exception("Error handling request")
        for _ in range(100):
            handling.error("another failure %s", "x")
        assert len(caplog.records) == 3
        clock.now = 61.0
        handling.error("another failure %s", "y")
        assert len(caplog.records) == 4
        assert "99 more like this" in caplog.records[-1].getMessage()
        logging.getLogger("aiohttp.server").info("ordinary line")
        assert len(caplog.records) == 5
    finally:
        remove_limit(limiter)


def test_the_filter_remembers_a_bounded_number_of_causes() -> None:
    limiter = RateLimitFilter(interval=60, clock=lambda: 0.0)
    records = [
        logging.LogRecord("x", logging.ERROR, __file__, 1, f"cause {i}", None, None)
        for i in range(5000)
    ]
    passed = sum(limiter.filter(record) for record in records)
    assert passed <= 1024 and len(limiter._causes) <= 1024


# --- defect 3, server half: an undecodable bearer token ------------------------------------


async def test_a_non_utf8_bearer_token_is_invalid_token(api) -> None:
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"GET /v1/messages HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\xfd\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"401", answer
    assert b'"invalid_token"' in rest


# --- defect 11, `liaison serve` half: slow clients -----------------------------------------


async def test_serve_closes_a_connection_that_never_finishes_its_headers(tmp_path) -> None:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "liaison", "serve", "--data-dir", str(tmp_path / "data")],
        *["--port", str(port), "--header-timeout", "1"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await asyncio.wait_for(_until_listening(port, server), timeout=30)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /v1/health HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
        await writer.drain()
        # Closed by the server once the header timeout runs out: EOF, not our own timeout.
        assert await asyncio.wait_for(reader.read(), timeout=10) == b""
        writer.close()
    finally:
        if server.returncode is None:
            server.kill()
        await server.wait()


async def _until_listening(port: int, server: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            if server.returncode is not None:
                assert server.stdout is not None
                raise AssertionError(f"liaison serve exited: {await server.stdout.read()!r}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/v1/health") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)  # the process is still starting: poll its port


# --- defect 4: the certificate's validity window -------------------------------------------


async def test_no_challenge_before_the_certificate_starts(api, clock) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    early = vn.device("alice", not_before=clock.now + 3600)
    await enrol(api, early)
    answer = await api.post("/v1/auth/challenge", json={"device_id": early.device_id})
    assert (answer.status, answer.body["code"]) == (403, "certificate_not_yet_valid")
    clock.now += 3600
    assert await api.login(early)


async def test_a_token_stops_working_when_the_certificate_ends(api, clock) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    ending = vn.device("alice", not_after=clock.now + 60)
    await enrol(api, ending)
    token = await api.login(ending)
    assert (await api.get("/v1/messages", token=token)).status == 200
    clock.now += 61  # the token itself is still valid (15 minutes)
    answer = await api.get("/v1/messages", token=token)
    assert (answer.status, answer.body["code"]) == (403, "certificate_expired")
    answer = await api.post("/v1/auth/challenge", json={"device_id": ending.device_id})
    assert (answer.status, answer.body["code"]) == (403, "certificate_expired")


# --- defect 1: witness cosignatures ---------------------------------------------------------


def _cosignature(note: str, name: str, key: SigningKey, now: int) -> dict[str, str]:
    line = cosign_checkpoint(note, witness_name=name, witness_key=key, timestamp=now)
    return {
        "checkpoint": note + line,
        "witness_name": name,
        "witness_key": b64e(bytes(key.verify_key)),
    }


async def _bare_checkpoint(api) -> str:
    """The relay's current note with its own signature line only."""
    note = (await api.get("/v1/log/checkpoint")).body["checkpoint"]
    text, _sep, signatures = note.partition("\n\n")
    return f"{text}\n\n{signatures.splitlines()[0]}\n"


async def test_only_registered_witnesses_cosign_and_each_keeps_its_newest(
    api, relay, clock
) -> None:
    store = relay[1][STORE_KEY]
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    real, junk, other = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    early = await _bare_checkpoint(api)
    refused = await api.post(
        "/v1/log/cosignatures", json=_cosignature(early, "auditor.example", real, clock.now)
    )
    assert (refused.status, refused.body["code"]) == (403, "unknown_witness")

    await register_witness(store, "auditor.example", bytes(real.verify_key), clock.now)
    await register_witness(store, "cn.example", bytes(other.verify_key), clock.now)
    posted = await api.post(
        "/v1/log/cosignatures", json=_cosignature(early, "auditor.example", real, clock.now)
    )
    assert posted.status == 201, posted.body
    # The real witness's name with another key: refused, and the real cosignature stays.
    impostor = await api.post(
        "/v1/log/cosignatures", json=_cosignature(early, "auditor.example", junk, clock.now)
    )
    assert (impostor.status, impostor.body["code"]) == (403, "unknown_witness")
    for name in [f"junk{i}.example" for i in range(40)]:  # no limit to exhaust any more
        answer = await api.post("/v1/log/cosignatures", json=_cosignature(early, name, junk, 1))
        assert answer.status == 403
    first = (await api.get("/v1/log/checkpoint")).body
    assert first["witnessed"] == [first["cosigned"]]
    assert first["cosigned"] == first["checkpoint"]  # the log has not grown since
    verify_cosignature(
        first["cosigned"], witness_name="auditor.example", witness_public=bytes(real.verify_key)
    )

    await enrol(api, vn.device("alice"))
    later = await _bare_checkpoint(api)
    assert later != early
    posted = await api.post(
        "/v1/log/cosignatures", json=_cosignature(later, "cn.example", other, clock.now)
    )
    assert posted.status == 201
    # The first witness sending its older view again changes nothing; a newer one replaces it.
    again = await api.post(
        "/v1/log/cosignatures", json=_cosignature(early, "auditor.example", real, clock.now + 1)
    )
    assert again.status == 201
    both = (await api.get("/v1/log/checkpoint")).body
    assert both["cosigned"] == both["checkpoint"]  # the newest cosigned is the current one
    assert len(both["witnessed"]) == 2
    signed_by = {}
    for note in both["witnessed"]:
        for name, key in (("auditor.example", real), ("cn.example", other)):
            try:
                verify_cosignature(note, witness_name=name, witness_public=bytes(key.verify_key))
                signed_by[name] = note
            except CryptoError:
                pass
    assert signed_by["auditor.example"].startswith(early.split("\n\n")[0])
    assert signed_by["cn.example"].startswith(later.split("\n\n")[0])


# --- defect 5: integers are JSON integers ---------------------------------------------------


async def test_a_float_where_an_integer_belongs_is_a_400(api) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    path = f"/v1/agencies/{vn.code}/retention"
    answer = await api.call("PUT", path, data='{"days": 30.0}', token=api.admin_token)
    assert (answer.status, answer.body["code"]) == (400, "invalid_request")
    sup = vn.device("sup", role="supervisor")
    await enrol(api, sup)
    reason, signature = b64e(bytes(32)), b64e(bytes(64))
    body = f'{{"reason_hash": "{reason}", "requested_at": 1.0, "signature": "{signature}"}}'
    answer = await api.call(
        "POST", "/v1/review/messages/" + "0" * 32, data=body, token=await api.login(sup)
    )
    assert (answer.status, answer.body["code"]) == (400, "invalid_request")
    assert (await api.call("PUT", path, data='{"days": 30}', token=api.admin_token)).status == 200


# --- defect 7: log spam ---------------------------------------------------------------------


def _review_body(now: int) -> dict[str, Any]:
    return {"reason_hash": b64e(bytes(32)), "requested_at": now, "signature": b64e(bytes(64))}


async def _log_size(api) -> int:
    return (await api.get("/v1/log/checkpoint")).body["size"]


async def test_refused_reviews_are_logged_up_to_a_limit_then_counted(api, relay, clock) -> None:
    hub_relay = relay[1][RELAY_KEY]
    hub_relay.limiter.limits = replace(
        hub_relay.limiter.limits, review_refusals_logged=2, review_refusal_window=3600
    )
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, bob = vn.device("alice"), vn.device("bob")
    await enrol(api, alice, bob)
    token = await api.login(alice)
    envelope = bob.seal([alice], "x")
    assert (await send(api, await api.login(bob), envelope)).status == 201

    size = await _log_size(api)
    for _ in range(30):  # messages that do not exist: nothing to protect, nothing logged
        path = f"/v1/review/messages/{secrets.token_hex(16)}"
        answer = await api.post(path, json=_review_body(clock.now), token=token)
        assert (answer.status, answer.body["code"]) == (403, "review_forbidden")
    assert await _log_size(api) == size

    path = f"/v1/review/messages/{envelope.header.message_id}"
    for _ in range(5):
        answer = await api.post(path, json=_review_body(clock.now), token=token)
        assert answer.status == 403
    assert await _log_size(api) == size + 2  # two logged one by one, three counted
    started = clock.now
    clock.now += 3600
    token = await api.login(alice)
    assert (await api.post(path, json=_review_body(clock.now), token=token)).status == 403
    entries = (
        await api.get("/v1/log/entries", params={"start": size, "end": size + 4}, token=token)
    ).body["entries"]
    kinds = [e["entry"]["kind"] for e in entries]
    assert kinds == ["review_refused"] * 2 + ["review_refusals_counted", "review_refused"]
    counted = entries[2]["entry"]
    assert (counted["device_id"], counted["count"], counted["since"]) == (
        alice.device_id,
        3,
        started,
    )
    # Past the limit again, the count is logged once the window closes, with no further request.
    for _ in range(2):
        await api.post(path, json=_review_body(clock.now), token=token)
    clock.now += 3600
    assert await log_closed_refusal_windows(hub_relay) == 1
    assert await _log_size(api) == size + 6


# --- defect 8: case tags per message --------------------------------------------------------


async def test_a_message_holds_at_most_sixteen_case_tags(api) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, bob = vn.device("alice"), vn.device("bob")
    await enrol(api, alice, bob)
    envelope = alice.seal([bob], "x")
    token = await api.login(bob)
    assert (await send(api, await api.login(alice), envelope)).status == 201
    path = f"/v1/messages/{envelope.header.message_id}/case-tags"
    tags = [b64e(bytes([i]) * 32) for i in range(17)]
    answer = await api.post(path, json={"case_tags": tags[:16]}, token=token)
    assert answer.body["case_tags"] == 16
    again = await api.post(path, json={"case_tags": tags[:16]}, token=token)  # nothing new
    assert (again.status, again.body["case_tags"]) == (200, 16)
    answer = await api.post(path, json={"case_tags": tags[16:]}, token=token)
    assert (answer.status, answer.body["code"]) == (409, "too_many_case_tags")


# --- defect 9: challenge flood --------------------------------------------------------------


async def test_challenges_write_nothing_and_cannot_be_forged(api, relay, clock) -> None:
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice = vn.device("alice")
    await enrol(api, alice)
    before = await row_counts(relay[1])
    challenges = [
        (await api.post("/v1/auth/challenge", json={"device_id": alice.device_id})).body
        for _ in range(50)
    ]
    assert await row_counts(relay[1]) == before  # nothing stored, nothing fsynced
    assert len({c["challenge"] for c in challenges}) == 50
    log_key = b64d((await api.get("/v1/server")).body["log_public_key"])
    nonce = bytearray(b64d(challenges[0]["challenge"]))
    nonce[:8] = (clock.now + 10 * 365 * 86400).to_bytes(8, "big")  # a later expiry: forged
    forged = await api.post(
        "/v1/auth/token",
        json={
            "device_id": alice.device_id,
            "challenge": b64e(bytes(nonce)),
            "signature": b64e(alice.sign_challenge(log_key, bytes(nonce))),
        },
    )
    assert (forged.status, forged.body["code"]) == (401, "unknown_challenge")


# --- defect 13: the admin token at rest ----------------------------------------------------


def _files_text(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def test_only_the_admin_tokens_hash_is_kept(tmp_path) -> None:
    identity, token = ensure_server_identity(tmp_path)
    assert token is not None and identity.is_admin_token(token)
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()
    hash_path = tmp_path / ADMIN_TOKEN_HASH_FILE
    assert stat.S_IMODE(hash_path.stat().st_mode) == 0o600
    assert token.encode() not in _files_text(tmp_path)
    again, shown_again = ensure_server_identity(tmp_path)
    assert shown_again is None and again.is_admin_token(token)
    assert not again.is_admin_token(token[:-1] + ("0" if token[-1] != "0" else "1"))


def test_a_plaintext_admin_token_becomes_its_hash_on_start(tmp_path) -> None:
    token = "a" * 64
    (tmp_path / ADMIN_TOKEN_FILE).write_text(token + "\n")
    (tmp_path / ADMIN_TOKEN_FILE).chmod(0o600)
    identity, shown = ensure_server_identity(tmp_path)
    assert shown is None  # the operator has it already: nothing new to show
    assert identity.is_admin_token(token)
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()
    assert token.encode() not in _files_text(tmp_path)
    assert ensure_server_identity(tmp_path)[0].is_admin_token(token)


def test_a_start_interrupted_after_hashing_removes_the_plaintext_next_time(tmp_path) -> None:
    identity, token = ensure_server_identity(tmp_path)
    assert token is not None
    (tmp_path / ADMIN_TOKEN_FILE).write_text(token + "\n")  # as if the unlink never happened
    assert ensure_server_identity(tmp_path)[0].is_admin_token(token)
    assert not (tmp_path / ADMIN_TOKEN_FILE).exists()


def test_the_backup_holds_no_plaintext_admin_token(tmp_path) -> None:
    data_dir, dest = tmp_path / "data", tmp_path / "backups"
    _identity, token = ensure_server_identity(data_dir)
    assert token is not None
    sqlite3.connect(data_dir / SQLITE_FILENAME).close()
    subprocess.run(
        ["bash", str(PROJECT_ROOT / "deploy" / "backup.sh"), str(data_dir), str(dest)],
        check=True,
        capture_output=True,
    )
    (backup,) = dest.iterdir()
    assert (backup / ADMIN_TOKEN_HASH_FILE).exists()
    assert not (backup / ADMIN_TOKEN_FILE).exists()
    assert token.encode() not in _files_text(backup)
