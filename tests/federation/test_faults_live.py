"""Faults across the border (issue 15 §4): the peer down, then back; a peer answering wrongly."""

from __future__ import annotations

import json
import os
from typing import Any

from nacl.signing import SigningKey

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.encoding import b64e
from crypto.federation import sign_peer_ack
from crypto.log_entries import ForwardedInEntry
from liaison.federation.outbound import ItemState
from liaison.server.federation import peering
from liaison.server.federation.forwarding import ENVELOPES_PATH
from liaison.server.federation.requests import PeerAnswer, PeerClient
from tests.federation.conftest import RunningRelay, start_again
from tests.federation.test_forwarding import border, entries_of, inbox, until
from tests.server.helpers import enrol, send


async def test_peer_down_backlog_and_health_then_everything_once_in_order(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    vn.relay.federation.degraded_after = 0.2
    port = cn.server.port
    await cn.server.close()  # the Chinese relay goes down (its app closes its store)

    sent = []
    for n in range(8):
        envelope = w["vn_officer"].seal([w["cn_officer"]], f"thông báo {n}")
        assert (await send(vn.api, w["vn_token"], envelope)).status == 201
        sent.append(envelope.header.message_id)

    async def degraded() -> bool:
        health = await vn.api.get("/v1/health")
        return health.body["status"] == "degraded"

    await until(degraded, "health degraded")
    health = await vn.api.get("/v1/health")
    assert health.body["degraded_peers"] == [cn.identity.origin]
    [listed] = await peering.list_peers(vn.relay)
    assert listed["backlog"] == len(sent) and listed["backlog_age"] > 0

    # The Chinese relay comes back on the same address and data.
    back = await start_again(cn, port)
    try:
        token = await back.api.login(w["cn_officer"])

        async def all_there() -> list | None:
            got = await inbox(back, token)
            return got if len(got) >= len(sent) else None

        got = await until(all_there, "the backlog delivered", seconds=40)
        assert [m["message_id"] for m in got] == sent
        logged = [e.message_id for _i, e in await entries_of(back, ForwardedInEntry)]
        assert logged == sent  # once each, in order

        async def drained() -> bool:
            [p] = await peering.list_peers(vn.relay)
            return p["backlog"] == 0

        await until(drained, "the backlog empty")
        assert (await vn.api.get("/v1/health")).body["status"] == "ok"
    finally:
        await back.api.client.close()


async def test_a_log_that_does_not_extend_its_checkpoint_is_refused_and_reported(relays) -> None:
    vn, cn = relays
    await border(vn, cn)
    held = cn.relay.federation.peers[vn.identity.origin]
    assert held.checkpoint_size
    forged = sign_checkpoint(
        Checkpoint(origin=vn.identity.origin, size=held.checkpoint_size, root_hash=os.urandom(32)),
        key_name=vn.identity.origin,
        signing_key=vn.relay.identity.signing_key,
    )
    client = PeerClient(signing_key=vn.relay.identity.signing_key, origin=vn.identity.origin)
    body = json.dumps(
        {
            "checkpoint": forged,
            "consistency_from": held.checkpoint_size,
            "consistency_proof": [],
            "items": [],
        }
    ).encode()
    try:
        answer = await client.request(
            peer_origin=cn.identity.origin,
            base_url=cn.url,
            method="POST",
            target=ENVELOPES_PATH,
            body=body,
        )
    finally:
        await client.close()
    assert (answer.status, answer.code) == (422, "peer_misbehaved")
    assert "same_size_different_root" in cn.relay.federation.problems[vn.identity.origin]


async def test_a_wrong_acknowledgement_is_refused_and_the_item_stays_queued(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    worker = vn.relay.federation.workers[cn.identity.origin]
    # Stop the worker from sending by itself; drive one batch's outcome by hand.
    await worker.stop()
    envelope = w["vn_officer"].seal([w["cn_officer"]], "thông báo")
    assert (await send(vn.api, w["vn_token"], envelope)).status == 201
    mid = envelope.header.message_id
    [item] = worker.queue.next_batch()

    def ack(key: SigningKey, envelope_hash: bytes) -> str:
        return b64e(
            sign_peer_ack(
                key,
                relay=cn.identity.origin,
                to_relay=vn.identity.origin,
                message_id=mid,
                envelope_hash=envelope_hash,
                event="logged",
                device_id=None,
                log_index=3,
                at=vn.relay.clock(),
            ).to_bytes()
        )

    # Signed by another key: refused, reported, kept.
    await worker._outcomes(
        [item],
        [
            {
                "message_id": mid,
                "status": "logged",
                "ack": ack(SigningKey.generate(), item.envelope_hash),
            }
        ],
    )
    assert "bad_signature" in vn.relay.federation.problems[cn.identity.origin]
    assert worker.queue.item(mid).state is ItemState.PENDING
    # The peer's key, but another envelope hash.
    worker.queue.retry_now()
    [item] = worker.queue.next_batch()
    await worker._outcomes(
        [item],
        [
            {
                "message_id": mid,
                "status": "logged",
                "ack": ack(cn.relay.identity.signing_key, bytes(32)),
            }
        ],
    )
    assert "hash_differs" in vn.relay.federation.problems[cn.identity.origin]
    assert worker.queue.item(mid).state is ItemState.PENDING
    assert await vn.relay.store.peer_acks([mid]) == []


async def _post_batch(vn: RunningRelay, cn: RunningRelay, batch: dict) -> PeerAnswer:
    client = PeerClient(signing_key=vn.relay.identity.signing_key, origin=vn.identity.origin)
    try:
        return await client.request(
            peer_origin=cn.identity.origin,
            base_url=cn.url,
            method="POST",
            target=ENVELOPES_PATH,
            body=json.dumps({**batch, "items": []}).encode(),
        )
    finally:
        await client.close()


async def _grown(vn: RunningRelay, device: Any) -> tuple[int, str]:
    """The VN log one certificate (of `device`) longer, and its checkpoint (size, note)."""
    await enrol(vn.api, device)
    return vn.relay.log.checkpoint()


async def test_a_batch_proving_from_a_size_still_in_flight_needs_no_second_trip(relays) -> None:
    """Batches in flight together each carry a new checkpoint: the later one also proves
    consistency from the earlier one's size, which the peer may hold by then (no 409)."""
    vn, cn = relays
    w = await border(vn, cn)
    held = cn.relay.federation.peers[vn.identity.origin].checkpoint_size
    assert held
    agency = w["vn_officer"].agency

    async def batch(note: str, size: int, alternatives: dict[int, int]) -> PeerAnswer:
        """`note` at `size`, proved from `held`, and from each key of `alternatives` by a
        proof computed from its value (equal for a true proof)."""

        async def proof(old: int) -> list[str]:
            return [b64e(h) for h in await vn.relay.log.consistency_proof(old, size)]

        more = [{"from": n, "proof": await proof(old)} for n, old in alternatives.items()]
        return await _post_batch(
            vn,
            cn,
            {
                "checkpoint": note,
                "consistency_from": held,
                "consistency_proof": await proof(held),
                "consistency_alternatives": more,
            },
        )

    first, first_note = await _grown(vn, agency.device("first"))
    second, second_note = await _grown(vn, agency.device("second"))
    third, third_note = await _grown(vn, agency.device("third"))
    # The first batch arrives: the peer now holds its size.
    answer = await batch(first_note, first, {})
    assert (answer.status, answer.data["checkpoint_size"]) == (200, first)
    # The second was built before that answer: its main proof starts from the old size.
    answer = await batch(second_note, second, {first: first})
    assert (answer.status, answer.data["checkpoint_size"]) == (200, second)
    # Without a proof from the size held, the peer still refuses and names it.
    answer = await batch(third_note, third, {first: first})
    assert (answer.status, answer.code) == (409, "checkpoint_unknown")
    assert answer.data["checkpoint_size"] == second
    # An alternative is checked like the main proof: a wrong one is misbehaviour.
    answer = await batch(third_note, third, {second: first})
    assert (answer.status, answer.code) == (422, "peer_misbehaved")
    assert cn.relay.federation.peers[vn.identity.origin].checkpoint_size == second
