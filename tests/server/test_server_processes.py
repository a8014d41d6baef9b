"""Several relay processes on one PostgreSQL database: one log order, push across processes."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from crypto.encoding import b64e
from liaison.server.app import create_app
from liaison.server.push import CLOSE_REVOKED
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send
from tests.server.relay_api import Api


@pytest.fixture
def database(request):
    """PostgreSQL only: SQLite has one writer process by design."""
    return request.getfixturevalue("_pg_database")


@pytest.fixture
async def _pg_database(postgres_url):
    import secrets

    import asyncpg

    schema = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_url, schema
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.mark.postgres
async def test_two_processes_share_one_log_and_push_across(aiohttp_client, api, settings) -> None:
    other = Api(await aiohttp_client(create_app(settings)), api.admin_token)
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn)
    await register(other, cn)
    alice, wei = vn.device("alice"), cn.device("wei")
    await enrol(api, alice)
    await enrol(other, wei)
    sender, receiver = await api.login(alice), await other.login(wei)
    async with other.client.ws_connect("/v1/ws", params={"token": receiver}) as ws:
        answer = await send(api, sender, alice.seal([wei], "x"))
        notice = await asyncio.wait_for(ws.receive_json(), timeout=10)
    assert notice["message_id"] == answer.body["message_id"]
    # Concurrent sends through both processes land in one gapless order.
    bob = vn.device("bob")
    await enrol(other, bob)
    bob_token = await other.login(bob)

    async def burst(relay, token, device):
        # One device sends in order (its counter must increase); the two devices race.
        return [await send(relay, token, device.seal([wei], f"m{i}")) for i in range(5)]

    bursts = await asyncio.gather(burst(api, sender, alice), burst(other, bob_token, bob))
    answers = bursts[0] + bursts[1]
    assert [a.status for a in answers] == [201] * 10, [a.body for a in answers]
    indexes = sorted(a.body["log_index"] for a in answers)
    assert len(set(indexes)) == 10
    first = (await api.get("/v1/log/checkpoint")).body
    second = (await other.get("/v1/log/checkpoint")).body
    assert first == second
    entries = (await api.get("/v1/log/entries", params={"start": 0, "end": first["size"]})).body
    assert [e["index"] for e in entries["entries"]] == list(range(first["size"]))


@pytest.mark.postgres
async def test_a_revocation_closes_the_devices_sockets_in_every_process(
    aiohttp_client, api, settings
) -> None:
    """Issue 14, defect 10: revoked through one process, its socket on the other is closed."""
    other = Api(await aiohttp_client(create_app(settings)), api.admin_token)
    vn = vietnam_agency()
    await register(api, vn)
    alice = vn.device("alice")
    await enrol(api, alice)
    token = await other.login(alice)
    async with other.client.ws_connect("/v1/ws", params={"token": token}) as ws:
        answer = await api.post(
            "/v1/revocations", json={"revocation": b64e(vn.revoke(alice).to_bytes())}
        )
        assert answer.status == 201
        frame = await asyncio.wait_for(ws.receive(), timeout=10)
    assert frame.type == aiohttp.WSMsgType.CLOSE and frame.data == CLOSE_REVOKED
