"""Reviews across the border (PROTOCOL.md §16.6, "Reviews"): a CN supervisor's review of a
message from a VN officer is logged on the CN relay and forwarded to the VN relay, which
verifies it against the CN relay's log and logs it as `peer_review`; the VN officer sees it
in their audit records; the route is idempotent and refuses a tampered review."""

from __future__ import annotations

import json
import secrets
from typing import Any

from crypto.encoding import b64d, b64e
from crypto.log_entries import PeerReviewEntry, ReviewEntry
from crypto.review_keys import review_request_bytes, sign_review_request
from liaison.cli.review import describe_record
from liaison.server.federation import reviews
from tests.federation.conftest import RunningRelay, restart, start_again
from tests.federation.test_forwarding import border, entries_of, inbox, until
from tests.server.helpers import enrol, send


def _review_body(supervisor: Any, message_id: str, now: int) -> dict[str, Any]:
    reason_hash = secrets.token_bytes(32)
    signed = review_request_bytes(
        message_id=message_id,
        device_id=supervisor.device_id,
        reason_hash=reason_hash,
        requested_at=now,
    )
    return {
        "reason_hash": b64e(reason_hash),
        "requested_at": now,
        "signature": b64e(sign_review_request(supervisor.keys, signed)),
    }


async def _reviewed_across(vn: RunningRelay, cn: RunningRelay) -> dict[str, Any]:
    w = await border(vn, cn)
    cn_agency = w["cn_officer"].agency
    supervisor = cn_agency.device("zhao.lei", role="supervisor")
    await enrol(cn.api, supervisor)
    notice = w["vn_officer"].seal([w["cn_officer"]], "Thông báo bàn giao")
    assert (await send(vn.api, w["vn_token"], notice)).status == 201
    mid = notice.header.message_id
    await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    token = await cn.api.login(supervisor)
    body = _review_body(supervisor, mid, cn.relay.clock())
    answer = await cn.api.post(f"/v1/review/messages/{mid}", json=body, token=token)
    assert answer.status == 200, answer.body
    return {**w, "mid": mid, "review_index": answer.body["log_index"], "supervisor": supervisor}


async def test_a_review_on_one_side_is_logged_on_the_other(relays) -> None:
    vn, cn = relays
    w = await _reviewed_across(vn, cn)

    async def forwarded() -> Any:
        return await entries_of(vn, PeerReviewEntry)

    [(index, entry)] = await until(forwarded, "the peer_review entry on the VN relay")
    [(_i, review)] = await entries_of(cn, ReviewEntry)
    assert entry.message_id == w["mid"] == review.message_id
    assert (entry.from_relay, entry.review_index) == (cn.identity.origin, w["review_index"])
    assert (entry.device_id, entry.signature) == (review.device_id, review.signature)
    # The VN officer, sender of the message, sees the review in their audit records.
    records = await vn.api.get("/v1/audit/records", token=w["vn_token"])
    assert records.status == 200, records.body
    seen = {r["index"]: r for r in records.body["records"]}
    assert seen[index]["entry"]["kind"] == "peer_review"
    # `liaison audit log` words it with the reviewer and the relay it was logged on first.
    line = describe_record(seen[index])
    assert w["supervisor"].device_id in line and cn.identity.origin in line


async def test_a_forwarded_review_is_logged_once_and_a_tampered_one_refused(relays) -> None:
    vn, cn = relays
    w = await _reviewed_across(vn, cn)
    await until(lambda: entries_of(vn, PeerReviewEntry), "the peer_review entry")
    record = vn.relay.federation.peers[cn.identity.origin]
    held = record.checkpoint_size or 0
    body = await reviews._body(cn.relay, w["review_index"], held)

    async def post(data: bytes) -> Any:
        return await cn.relay.federation.client.request(
            peer_origin=vn.identity.origin,
            base_url=vn.url,
            method="POST",
            target=reviews.REVIEWS_PATH,
            body=data,
        )

    again = await post(body)
    assert again.status == 200, again.data
    assert again.data["logged"] is False
    assert len(await entries_of(vn, PeerReviewEntry)) == 1

    # Another reason hash under the same signature: the inclusion proof no longer holds.
    obj = json.loads(body)
    entry = json.loads(b64d(obj["review_entry"]))
    entry["reason_hash"] = b64e(secrets.token_bytes(32))
    obj["review_entry"] = b64e(json.dumps(entry).encode())
    tampered = await post(json.dumps(obj).encode())
    assert tampered.status in (400, 422), tampered.data
    assert len(await entries_of(vn, PeerReviewEntry)) == 1

    # Unsigned (no peer signature): refused before anything is read.
    plain = await vn.api.post(reviews.REVIEWS_PATH, json=obj)
    assert (plain.status, plain.body["code"]) == (400, "federation_request_malformed")


async def test_a_review_made_while_the_peer_is_down_arrives_after_a_restart(relays) -> None:
    vn, cn = relays
    w = await border(vn, cn)
    supervisor = w["cn_officer"].agency.device("zhao.lei", role="supervisor")
    await enrol(cn.api, supervisor)
    notice = w["vn_officer"].seal([w["cn_officer"]], "Thông báo bàn giao")
    assert (await send(vn.api, w["vn_token"], notice)).status == 201
    mid = notice.header.message_id
    await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    vn_port = vn.server.port
    await vn.server.close()  # the Vietnamese relay goes down

    token = await cn.api.login(supervisor)
    body = _review_body(supervisor, mid, cn.relay.clock())
    answer = await cn.api.post(f"/v1/review/messages/{mid}", json=body, token=token)
    assert answer.status == 200, answer.body
    index = answer.body["log_index"]

    async def tried() -> Any:
        rows = await cn.relay.store.review_outbox()
        return [r for r in rows if r.attempts >= 1 and r.finished_at is None]

    [row] = await until(tried, "a failed attempt at forwarding the review")
    assert (row.peer, row.review_index, row.message_id) == (vn.identity.origin, index, mid)

    # The CN relay restarts (its memory is gone), then the VN relay comes back.
    cn_back = await restart(cn)
    vn_back = await start_again(vn, vn_port)
    try:

        async def forwarded() -> Any:
            return await entries_of(vn_back, PeerReviewEntry)

        [(peer_index, entry)] = await until(forwarded, "the review on the VN relay", seconds=40)
        assert (entry.from_relay, entry.review_index) == (cn.identity.origin, index)
        vn_token = await vn_back.api.login(w["vn_officer"])
        records = await vn_back.api.get("/v1/audit/records", token=vn_token)
        seen = {r["index"]: r for r in records.body["records"]}
        assert seen[peer_index]["entry"]["kind"] == "peer_review"
        assert supervisor.device_id in describe_record(seen[peer_index])

        async def answered() -> Any:
            return [r for r in await cn_back.relay.store.review_outbox() if r.finished_at]

        [done] = await until(answered, "the outbox row answered")
        assert done.last_error is None
    finally:
        await cn_back.api.client.close()
        await vn_back.api.client.close()
