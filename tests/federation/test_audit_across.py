"""The audit of a message across the border (PROTOCOL.md §16.6): a device asks its own relay
for both relays' entries of a cross-border message (the peer's fetched over a signed request),
and the client's checks (liaison/client/crossing.py) find the same envelope hash in both logs,
each included in its relay's signed checkpoint; a tampered answer is caught."""

from __future__ import annotations

from typing import Any

import pytest

from crypto.encoding import b64d, b64e
from crypto.log_entries import EnvelopeEntry, ForwardedInEntry, parse_log_entry
from liaison.client import crossing
from liaison.client.errors import ClientError
from tests.federation.conftest import RunningRelay
from tests.federation.test_forwarding import border, inbox, until
from tests.server.helpers import enrol, send


def _check(answer: dict[str, Any], own: RunningRelay) -> crossing.CrossingReport:
    """What `liaison audit verify --across` checks, with the own relay's key as pinned."""
    report = crossing.CrossingReport(answer["message_id"])
    own_side = {**answer["own"], "origin": own.identity.origin}
    own_cp = crossing._peer_checkpoint(
        {**own_side, "log_public_key": b64e(own.identity.public_key)}
    )
    own_entry = crossing._included(own_side, own_cp)
    for side in answer["peers"]:
        peer = crossing._included(side, crossing._peer_checkpoint(side))
        crossing._pair(report, own.identity.origin, own_entry, peer, side["origin"])
        report.sides.append({"origin": side["origin"]})
    report.sides.append({"origin": own.identity.origin})
    return report


async def _crossed(vn: RunningRelay, cn: RunningRelay) -> dict[str, Any]:
    w = await border(vn, cn)
    notice = w["vn_officer"].seal([w["cn_officer"]], "Thông báo bàn giao")
    assert (await send(vn.api, w["vn_token"], notice)).status == 201
    await until(lambda: inbox(cn, w["cn_token"]), "the notice on the CN relay")
    return {**w, "notice": notice, "mid": notice.header.message_id}


async def test_both_logs_name_the_same_envelope_hash_from_either_side(relays) -> None:
    vn, cn = relays
    w = await _crossed(vn, cn)
    path = f"/v1/foreign/log/messages/{w['mid']}"
    expected = w["notice"].envelope_hash()
    for own, token, own_kind in (
        (vn, w["vn_token"], EnvelopeEntry),
        (cn, w["cn_token"], ForwardedInEntry),
    ):
        answer = await own.api.get(path, token=token)
        assert answer.status == 200, answer.body
        report = _check(answer.body, own)
        assert report.ok, report.problems
        assert report.envelope_hash == expected.hex()
        entry = parse_log_entry(b64d(answer.body["own"]["entry"]))
        assert isinstance(entry, own_kind)


async def test_a_tampered_peer_answer_and_a_stranger_are_refused(relays) -> None:
    vn, cn = relays
    w = await _crossed(vn, cn)
    path = f"/v1/foreign/log/messages/{w['mid']}"
    answer = (await vn.api.get(path, token=w["vn_token"])).body
    [side] = answer["peers"]

    # The own relay swaps in another log key for the peer: the checkpoint no longer verifies.
    forged = {**side, "log_public_key": b64e(vn.identity.public_key)}
    with pytest.raises(ClientError):
        crossing._peer_checkpoint(forged)
    # Another entry at the same index: not included in the peer's checkpoint.
    other = parse_log_entry(b64d(side["entry"]))
    assert isinstance(other, ForwardedInEntry)
    changed = ForwardedInEntry(**{**other.__dict__, "envelope_hash": bytes(32)})
    with pytest.raises(ClientError):
        crossing._included(
            {**side, "entry": b64e(changed.encode())}, crossing._peer_checkpoint(side)
        )
    # Two entries naming different hashes are reported, even when each is included.
    report = crossing.CrossingReport(w["mid"])
    own = parse_log_entry(b64d(answer["own"]["entry"]))
    crossing._pair(report, vn.identity.origin, own, changed, cn.identity.origin)
    assert report.problems and report.envelope_hash is None

    # A device that is no party to the message learns nothing of it.
    stranger = w["cn_officer"].agency.device("chen.jie")
    await enrol(cn.api, stranger)
    refused = await cn.api.get(path, token=await cn.api.login(stranger))
    assert (refused.status, refused.body["code"]) == (404, "unknown_message")
    # The peer route is for peers only: unsigned, it is refused.
    unsigned = await cn.api.get(f"/v1/federation/log/messages/{w['mid']}")
    assert unsigned.status == 400, unsigned.body
