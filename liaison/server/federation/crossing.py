"""The audit of a message across the border (PROTOCOL.md §16.6, "Audit across the border"):
each relay's log entry of a cross-border message with its inclusion proof and signed
checkpoint, this relay's own and the peer's (fetched over a signed request), for a device
that may see the message to check both logs name the same envelope hash."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp import web

from crypto.certs import DeviceCertificate
from crypto.encoding import b64e
from crypto.envelope import Envelope
from crypto.keys import device_agency
from liaison.server.auth import registered_device
from liaison.server.errors import ApiError, BadRequest, NotFound
from liaison.server.federation import peering
from liaison.server.log_queries import proof_tree
from liaison.server.relay import Relay

PEER_ENTRY_PATH = "/v1/federation/log/messages"
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")


class PeerUnreachable(ApiError):
    """The peer relay did not answer a request made on a device's behalf (502)."""

    status = 502

    def __init__(self) -> None:
        super().__init__("peer_unreachable", "The peer relay did not answer; try again later.")


def _message_id(message_id: str) -> str:
    if not MESSAGE_ID.match(message_id):
        raise BadRequest("invalid_request", "The message id is not valid.")
    return message_id


async def _entry_index(relay: Relay, message_id: str, peer: str) -> int | None:
    """This relay's entry of a message that crossed with `peer`: its `forwarded_in` entry when
    the peer forwarded it here, its `envelope` entry when it was sent here and forwarded
    there (both name the envelope hash)."""
    received = await relay.store.inbound(message_id)
    if received is not None:
        return received.log_index if received.from_relay == peer else None
    if peer not in await relay.store.message_peers(message_id):
        return None
    held = await relay.store.held_envelope(message_id)
    return None if held is None else held.log_index


async def _proved(relay: Relay, index: int) -> dict[str, Any]:
    [stored] = await relay.store.log_entries(index, index + 1)
    tree, size, note = await proof_tree(relay, [index])
    return {
        "origin": relay.identity.origin,
        "index": index,
        "entry": b64e(stored.data),
        "tree_size": size,
        "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(index, size)],
        "checkpoint": note,
    }


async def peer_entry(relay: Relay, request: web.Request, message_id: str) -> dict[str, Any]:
    """GET /v1/federation/log/messages/{message_id} [peer]: this relay's entry of a message
    that crossed with the calling relay, proved against this relay's checkpoint."""
    verified, _body = await peering.authenticate_peer(relay, request)
    index = await _entry_index(relay, _message_id(message_id), verified.sender_origin)
    if index is None:
        raise NotFound("unknown_message", "No such message crossed with your relay.")
    return await _proved(relay, index)


async def _may_see(relay: Relay, device_id: str, message_id: str) -> bool:
    device = await registered_device(relay, device_id)
    held = await relay.store.held_envelope(message_id)
    if held is None:
        return False
    parties = [held.sender_device, *held.recipients]
    if held.envelope:
        header = Envelope.from_bytes(held.envelope).header
        parties = [header.sender_device, *header.recipients]
    if DeviceCertificate.from_bytes(device.certificate).role == "supervisor":
        return any(device_agency(d) == device.agency for d in parties)
    return device_id in parties


async def across(relay: Relay, device_id: str, message_id: str) -> dict[str, Any]:
    """GET /v1/foreign/log/messages/{message_id} [device]: this relay's entry of the message
    and each peer's, as the peer answered it, with the peer's log key from the peer table (a
    convenience: the client pins that key with the home statement, §16.4)."""
    _message_id(message_id)
    if not await _may_see(relay, device_id, message_id):
        raise NotFound("unknown_message", "No such message is held by the relay.")
    peers = sorted(await relay.store.message_peers(message_id))
    if not peers:
        raise NotFound("not_cross_border", "This message did not cross the border.")
    own_index = await _entry_index(relay, message_id, peers[0])
    if own_index is None:
        raise NotFound("unknown_message", "No such message is held by the relay.")
    foreign = []
    for origin in peers:
        record = relay.federation.peers.get(origin)
        if record is None or relay.federation.client is None:
            continue  # no longer peered: nothing to ask
        try:
            answer = await relay.federation.client.request(
                peer_origin=origin,
                base_url=record.url,
                method="GET",
                target=f"{PEER_ENTRY_PATH}/{message_id}",
                body=b"",
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerUnreachable() from exc
        if answer.status != 200 or not isinstance(answer.data, dict):
            foreign.append({"origin": origin, "log_public_key": b64e(record.log_key),
                            "status": answer.status, "code": answer.code})  # fmt: skip
            continue
        foreign.append({**answer.data, "origin": origin, "log_public_key": b64e(record.log_key)})
    return {"message_id": message_id, "own": await _proved(relay, own_index), "peers": foreign}
