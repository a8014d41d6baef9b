"""Envelopes across the border (PROTOCOL.md §16.6): a VN officer's notice reaches a CN officer
through both relays, the reply comes back, acknowledgements travel back as signed peer acks,
and each relay's database holds only envelopes to or from its own agencies."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from sqlalchemy import select

from crypto.federation import InMemoryReplayCache, PeerAck
from crypto.log_entries import ForwardedInEntry, ForwardedOutEntry, PeerAckEntry, parse_log_entry
from liaison.server.federation import forwarding, peering
from liaison.store.tables import deliveries, envelopes
from tests.federation import peering_steps
from tests.federation.conftest import RunningRelay
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send


async def until(check: Any, what: str, seconds: float = 10.0) -> Any:
    """Wait (bounded) for `check()` to answer something true."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def border(
    vn: RunningRelay, cn: RunningRelay, *, cn_url: str | None = None
) -> dict[str, Any]:
    """Both relays peered, an agency and an officer on each, each agency's home recorded
    (`cn_url`: where the VN relay reaches the CN relay, if not at its own address)."""
    await peering_steps.mutual(vn, cn, cn_url)
    vn_agency, cn_agency = vietnam_agency(), china_agency()
    await register(vn.api, vn_agency)
    await register(cn.api, cn_agency)
    vn_officer = vn_agency.device("nguyen.van.a")
    cn_officer = cn_agency.device("li.wei")
    cn_colleague = cn_agency.device("wang.fang")
    await enrol(vn.api, vn_officer)
    await enrol(cn.api, cn_officer, cn_colleague)
    await peering.set_home(vn.relay, cn_agency.code, cn.identity.origin)
    await peering.set_home(cn.relay, vn_agency.code, vn.identity.origin)
    for side in (vn, cn):
        await peering.refresh_peers(side.relay, force=True)
        await forwarding.sync_workers(side.relay)  # what the relay's peer sync does in 2 s
    return {
        "vn_officer": vn_officer,
        "cn_officer": cn_officer,
        "cn_colleague": cn_colleague,
        "vn_token": await vn.api.login(vn_officer),
        "cn_token": await cn.api.login(cn_officer),
    }


async def inbox(relay: RunningRelay, token: str) -> list[dict]:
    answer = await relay.api.get("/v1/messages", token=token, params={"all": 1})
    assert answer.status == 200, answer.body
    return answer.body["messages"]


async def entries_of(relay: RunningRelay, kind: type) -> list[Any]:
    size = await relay.relay.store.log_size()
    found = []
    for stored in await relay.relay.store.log_entries(0, size):
        entry = parse_log_entry(stored.data)
        if isinstance(entry, kind):
            found.append((stored.index, entry))
    return found


async def message_ids(relay: RunningRelay) -> set[str]:
    async with relay.relay.store.read_connection() as conn:
        return {m for (m,) in await conn.execute(select(envelopes.c.message_id))}


async def delivered_to(relay: RunningRelay) -> set[tuple[str, str]]:
    async with relay.relay.store.read_connection() as conn:
        query = select(deliveries.c.message_id, deliveries.c.device_id)
        return {(m, d) for m, d in await conn.execute(query)}


async def test_a_notice_crosses_the_border_and_the_reply_comes_back(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    notice = w["vn_officer"].seal([w["cn_officer"]], "Thông báo bàn giao tại Móng Cái")
    answer = await send(vn.api, w["vn_token"], notice)
    assert answer.status == 201, answer.body
    mid = notice.header.message_id

    # The CN officer gets it from the CN relay, with the envelope bytes unchanged.
    got = await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    assert [m["message_id"] for m in got] == [mid]
    # Logged on both sides with the same envelope hash.
    [(_i, out)] = await entries_of(vn, ForwardedOutEntry)
    [(in_index, fin)] = await entries_of(cn, ForwardedInEntry)
    assert out.envelope_hash == fin.envelope_hash == notice.envelope_hash()
    assert (out.to_relay, fin.from_relay) == (cn.identity.origin, vn.identity.origin)
    assert fin.recipients == (w["cn_officer"].device_id,)

    # The sending relay keeps the peer's signed `logged` ack, pointing at forwarded_in.
    async def logged() -> Any:
        return [a for a in await vn.relay.store.peer_acks([mid]) if a.event == "logged"]

    [kept] = await until(logged, "the logged ack")
    ack = PeerAck.from_bytes(kept.ack)
    ack.verify(cn.identity, addressed_to=vn.identity.origin)
    assert ack.log_index == in_index

    # The CN officer acknowledges: the VN relay learns it as a signed `acknowledged` ack.
    assert (await cn.api.post(f"/v1/messages/{mid}/ack", token=w["cn_token"])).status == 200

    async def acknowledged() -> Any:
        return [a for a in await vn.relay.store.peer_acks([mid]) if a.event == "acknowledged"]

    [back] = await until(acknowledged, "the device ack back on the VN relay")
    assert back.device_id == w["cn_officer"].device_id
    kinds = [e.event for _i, e in await entries_of(vn, PeerAckEntry)]
    assert sorted(kinds) == ["acknowledged", "logged"]
    # The VN officer sees both hops and the acknowledgement in their audit records.
    records = await vn.api.get("/v1/audit/records", token=w["vn_token"])
    assert records.status == 200, records.body
    seen = [(r["entry"]["kind"], r["entry"].get("event")) for r in records.body["records"]]
    assert ("forwarded_out", None) in seen
    assert ("peer_ack", "logged") in seen and ("peer_ack", "acknowledged") in seen
    # The CN officer sees the forwarded_in entry of the notice on their side.
    records = await cn.api.get("/v1/audit/records", token=w["cn_token"])
    assert "forwarded_in" in [r["entry"]["kind"] for r in records.body["records"]]

    # The reply goes the other way.
    reply = w["cn_officer"].seal([w["vn_officer"]], "已收到，同意移交")
    assert (await send(cn.api, w["cn_token"], reply)).status == 201
    got = await until(lambda: inbox(vn, w["vn_token"]), "the reply on the VN relay")
    assert [m["message_id"] for m in got] == [reply.header.message_id]

    # A message between two Chinese officers never reaches the Vietnamese relay.
    internal = w["cn_officer"].seal([w["cn_colleague"]], "内部消息")
    assert (await send(cn.api, w["cn_token"], internal)).status == 201
    # Forwarding is queued in the send's own transaction: nothing queued, nothing will cross.
    queued = {row.message_id for row in await cn.relay.store.outbound_rows()}
    assert reply.header.message_id in queued and internal.header.message_id not in queued
    vn_ids, cn_ids = await message_ids(vn), await message_ids(cn)
    assert vn_ids == {mid, reply.header.message_id}
    assert cn_ids == {mid, reply.header.message_id, internal.header.message_id}
    # Deliveries only for each side's own devices.
    assert {d for _m, d in await delivered_to(vn)} == {w["vn_officer"].device_id}
    assert {d for _m, d in await delivered_to(cn)} <= {
        w["cn_officer"].device_id,
        w["cn_colleague"].device_id,
    }
    health = await vn.api.get("/v1/health")
    assert health.body["status"] == "ok"


async def test_messages_keep_their_order_and_arrive_once(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    sent = []
    for n in range(20):
        envelope = w["vn_officer"].seal([w["cn_officer"]], f"thông báo {n}")
        assert (await send(vn.api, w["vn_token"], envelope)).status == 201
        sent.append(envelope.header.message_id)

    async def all_there() -> Any:
        got = await inbox(cn, w["cn_token"])
        return got if len(got) >= len(sent) else None

    got = await until(all_there, "twenty notices")
    assert [m["message_id"] for m in got] == sent
    assert [e.message_id for _i, e in await entries_of(cn, ForwardedInEntry)] == sent


async def test_a_batch_replayed_to_another_process_is_refused(relays) -> None:
    """The nonce of a batch is kept in the transaction that logs its items: a process that never
    saw the request (empty in-memory cache) refuses its replay."""
    vn, cn = relays
    w = await border(vn, cn)
    client = vn.relay.federation.client
    sent: list[tuple[dict[str, str], bytes]] = []
    signed_headers = client.signed_headers

    def recording(*, peer_origin: str, method: str, target: str, body: bytes) -> dict[str, str]:
        headers = signed_headers(peer_origin=peer_origin, method=method, target=target, body=body)
        if target == forwarding.ENVELOPES_PATH:
            sent.append((headers, body))
        return headers

    client.signed_headers = recording
    notice = w["vn_officer"].seal([w["cn_officer"]], "Thông báo")
    assert (await send(vn.api, w["vn_token"], notice)).status == 201
    await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    [(headers, body)] = sent
    cn.relay.federation.replay_cache = InMemoryReplayCache()  # another worker, or a restart
    async with (
        aiohttp.ClientSession() as session,
        session.post(cn.url + forwarding.ENVELOPES_PATH, data=body, headers=headers) as answer,
    ):
        assert (answer.status, (await answer.json())["code"]) == (401, "federation_replayed")
    assert len(await entries_of(cn, ForwardedInEntry)) == 1
