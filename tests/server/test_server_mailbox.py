"""Mailbox: send (checked, stored once, logged), fetch with proofs, acknowledge, push."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp

from crypto.encoding import b64d, b64e
from crypto.envelope import Envelope
from tests.server.factory import china_agency, vietnam_agency
from tests.server.helpers import enrol, register, send, verify_logged
from tests.server.relay_api import row_counts


async def _two_countries(api):
    vn, cn = vietnam_agency(), china_agency()
    await register(api, vn, cn)
    alice, alice_tablet, wei, li = (
        vn.device("alice"),
        vn.device("alice", "tablet"),
        cn.device("wei"),
        cn.device("li"),
    )
    await enrol(api, alice, alice_tablet, wei, li)
    return vn, cn, alice, alice_tablet, wei, li


async def test_envelope_is_stored_once_queued_per_device_and_logged(api, relay) -> None:
    _, _, alice, tablet, wei, li = await _two_countries(api)
    token = await api.login(alice)
    envelope = alice.seal([tablet, wei, li], "Đề nghị xác minh / 协查")
    before = await row_counts(relay[1])
    answer = await send(api, token, envelope)
    assert answer.status == 201, answer.body
    assert answer.body["message_id"] == envelope.header.message_id
    assert answer.body["envelope_hash"] == b64e(envelope.envelope_hash())
    after = await row_counts(relay[1])
    assert after["envelopes"] == before["envelopes"] + 1
    assert after["deliveries"] == before["deliveries"] + 3
    assert after["log_entries"] == before["log_entries"] + 1
    entry = (
        await api.get(
            "/v1/log/entries",
            params={"start": answer.body["log_index"], "end": answer.body["log_index"] + 1},
        )
    ).body["entries"][0]["entry"]
    assert entry["kind"] == "envelope"
    assert entry["sender"] == alice.device_id
    assert entry["recipients"] == sorted([tablet.device_id, wei.device_id, li.device_id])
    assert entry["envelope_hash"] == answer.body["envelope_hash"]


async def test_recipient_fetches_with_inclusion_proof_and_acknowledges(api) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    sender, receiver = await api.login(alice), await api.login(wei)
    envelope = alice.seal([wei], "Đề nghị xác minh")
    sent = (await send(api, sender, envelope)).body
    page = (await api.get("/v1/messages", token=receiver)).body
    [message] = page["messages"]
    assert b64d(message["envelope"]) == envelope.to_bytes()
    assert message["acknowledged"] is False
    entry = await verify_logged(
        api,
        page["checkpoint"],
        message["log_index"],
        message["tree_size"],
        message["inclusion_proof"],
    )
    assert entry["envelope_hash"] == sent["envelope_hash"]
    ack = await api.post(f"/v1/messages/{message['message_id']}/ack", token=receiver)
    assert ack.status == 200
    again = await api.post(f"/v1/messages/{message['message_id']}/ack", token=receiver)
    assert again.body == ack.body
    ack_entry = (
        await api.get(
            "/v1/log/entries",
            params={"start": ack.body["log_index"], "end": ack.body["log_index"] + 1},
        )
    ).body["entries"][0]["entry"]
    assert ack_entry == {**ack_entry, "kind": "ack", "device_id": wei.device_id}
    assert (await api.get("/v1/messages", token=receiver)).body["messages"] == []
    everything = (await api.get("/v1/messages", token=receiver, params={"all": "1"})).body
    assert [m["acknowledged"] for m in everything["messages"]] == [True]


async def test_sender_cannot_acknowledge_a_message_not_queued_for_it(api) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    sender = await api.login(alice)
    sent = (await send(api, sender, alice.seal([wei], "x"))).body
    answer = await api.post(f"/v1/messages/{sent['message_id']}/ack", token=sender)
    assert (answer.status, answer.body["code"]) == (404, "unknown_message")


async def test_fetch_is_paginated_by_cursor(api) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    sender, receiver = await api.login(alice), await api.login(wei)
    ids = [
        (await send(api, sender, alice.seal([wei], f"n{i}"))).body["message_id"] for i in range(5)
    ]
    seen, cursor = [], 0
    while True:
        page = (
            await api.get("/v1/messages", token=receiver, params={"after": cursor, "limit": 2})
        ).body
        seen += [m["message_id"] for m in page["messages"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == ids


async def test_identical_resend_returns_the_first_answer(api, relay) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    token = await api.login(alice)
    envelope = alice.seal([wei], "x")
    first = await send(api, token, envelope)
    before = await row_counts(relay[1])
    again = await send(api, token, envelope)
    assert (again.status, again.body) == (200, first.body)
    assert await row_counts(relay[1]) == before


async def test_duplicate_message_id_or_counter_is_refused(api, relay) -> None:
    _, _, alice, _, wei, li = await _two_countries(api)
    token = await api.login(alice)
    first = alice.seal([wei], "x")
    await send(api, token, first)
    before = await row_counts(relay[1])
    replayed_counter = alice.seal([li], "y", counter=first.header.counter)
    answer = await send(api, token, replayed_counter)
    assert (answer.status, answer.body["code"]) == (409, "duplicate_counter")
    # Same message id, other content: re-sign a header carrying the first message id.
    other = alice.seal([li], "z")
    header = replace(other.header, message_id=first.header.message_id)
    forged = _resign(alice, other, header)
    answer = await send(api, token, forged)
    assert (answer.status, answer.body["code"]) == (409, "duplicate_message_id")
    assert await row_counts(relay[1]) == before


def _resign(device, envelope: Envelope, header) -> Envelope:
    from crypto.encoding import signed_message
    from crypto.envelope import _signed_hashes
    from crypto.labels import LABEL_ENVELOPE_SIGNATURE

    changed = Envelope(
        header,
        header.to_bytes(),
        envelope.body,
        envelope.wraps,
        envelope.review_wraps,
        envelope.signature,
    )
    signature = device.keys.signing.sign(
        signed_message(
            LABEL_ENVELOPE_SIGNATURE,
            _signed_hashes(changed.header_hash, changed.body, changed.wraps, changed.review_wraps),
        )
    ).signature
    return Envelope(
        header,
        changed.header_bytes,
        changed.body,
        changed.wraps,
        changed.review_wraps,
        bytes(signature),
    )


async def test_envelope_from_another_device_is_refused(api, relay) -> None:
    _, _, alice, tablet, wei, _ = await _two_countries(api)
    token = await api.login(tablet)
    before = await row_counts(relay[1])
    answer = await send(api, token, alice.seal([wei], "x"))
    assert (answer.status, answer.body["code"]) == (403, "sender_mismatch")
    assert await row_counts(relay[1]) == before


async def test_tampered_envelope_signature_is_refused(api, relay) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    token = await api.login(alice)
    envelope = alice.seal([wei], "x")
    tampered = replace(envelope, signature=bytes(64))
    before = await row_counts(relay[1])
    answer = await send(api, token, tampered)
    assert (answer.status, answer.body["code"]) == (422, "bad_signature")
    assert await row_counts(relay[1]) == before


async def test_unknown_or_revoked_recipient_is_refused(api, relay) -> None:
    vn, cn, alice, _, wei, li = await _two_countries(api)
    token = await api.login(alice)
    ghost = cn.device("ghost")
    before = await row_counts(relay[1])
    answer = await send(api, token, alice.seal([wei, ghost], "x"))
    assert (answer.status, answer.body["code"]) == (422, "unknown_recipient")
    assert await row_counts(relay[1]) == before
    await api.post("/v1/revocations", json={"revocation": b64e(cn.revoke(li).to_bytes())})
    before = await row_counts(relay[1])
    answer = await send(api, token, alice.seal([li], "x"))
    assert (answer.status, answer.body["code"]) == (422, "recipient_revoked")
    assert await row_counts(relay[1]) == before


async def test_oversized_envelope_is_refused(api, relay) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    token = await api.login(alice)
    big = alice.seal([wei], "x", padding=(1 << 20) + 80 * 1024)
    before = await row_counts(relay[1])
    answer = await send(api, token, big)
    assert answer.status == 413
    assert answer.body["code"] in ("envelope_too_large", "payload_too_large")
    assert await row_counts(relay[1]) == before


async def test_envelope_just_under_the_limit_is_accepted(api) -> None:
    _, _, alice, _, wei, _ = await _two_countries(api)
    token = await api.login(alice)
    answer = await send(api, token, alice.seal([wei], "x", padding=1 << 20))
    assert answer.status == 201


async def test_connected_device_is_pushed_new_messages(api) -> None:
    _, _, alice, tablet, wei, _ = await _two_countries(api)
    sender, receiver = await api.login(alice), await api.login(wei)
    async with api.client.ws_connect("/v1/ws", params={"token": receiver}) as ws:
        answer = await send(api, sender, alice.seal([tablet, wei], "x"))
        notice = await asyncio.wait_for(ws.receive_json(), timeout=10)
    assert notice["type"] == "message"
    assert notice["message_id"] == answer.body["message_id"]
    page = (await api.get("/v1/messages", token=receiver)).body
    assert page["messages"][0]["cursor"] == notice["cursor"]


async def test_websocket_refuses_a_bad_token(api) -> None:
    answer = await api.get("/v1/ws", params={"token": "nope"})
    assert (answer.status, answer.body["code"]) == (401, "invalid_token")


async def test_shutdown_closes_push_channels_at_once(api, relay) -> None:
    # Closed as shutdown begins (1001, "going away"), not when aiohttp's shutdown timeout
    # runs out: a restart with officers watching would otherwise wait a minute.
    _, _, _, _, wei, _ = await _two_countries(api)
    receiver = await api.login(wei)
    async with api.client.ws_connect("/v1/ws", params={"token": receiver}) as ws:
        await relay[1].shutdown()
        closing = await asyncio.wait_for(ws.receive(), timeout=10)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 1001
