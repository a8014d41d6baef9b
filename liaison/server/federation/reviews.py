"""Reviews across the border (PROTOCOL.md §16.6, "Reviews"): a supervisor's `review` entry of a
cross-border message is forwarded to the peer relay(s) the message crossed with, which verify
it against this relay's log and the supervisor's certificate and log it as `peer_review`.

Sending is best-effort with bounded retries in this process (the review is in this relay's
log whatever happens; a relay restarted before the peer answered does not send it again):
the receiving side is idempotent per (sending relay, review entry index).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from crypto.certs import DeviceCertificate
from crypto.encoding import b64d, b64e
from crypto.envelope import Envelope
from crypto.errors import CryptoError
from crypto.federation import RelayIdentity
from crypto.keys import device_agency
from crypto.log_entries import CertificateEntry, PeerReviewEntry, ReviewEntry, parse_log_entry
from crypto.review_keys import review_request_bytes, verify_review_request
from liaison.server.errors import BadRequest, Forbidden, NotFound, Unprocessable
from liaison.server.federation import foreign, inbound, peering
from liaison.server.relay import Relay
from liaison.store import WriteTx

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

REVIEWS_PATH = "/v1/federation/reviews"
# Attempts per peer for one forwarded review, and the cap of the back-off between them (s).
REVIEW_ATTEMPTS = 6
REVIEW_BACKOFF_CAP = 30.0

_tasks: set[asyncio.Task[None]] = set()


def forward_review(relay: Relay, message_id: str, index: int) -> None:
    """Start forwarding the `review` entry at `index` to every peer `message_id` crossed with."""
    if relay.federation.client is None:
        return  # federation not running (a relay without peers, or a test without it)
    task = asyncio.create_task(_forward(relay, message_id, index), name="liaison-review-fwd")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _forward(relay: Relay, message_id: str, index: int) -> None:
    try:
        peers = await relay.store.message_peers(message_id)
        for origin in sorted(peers):
            await _forward_to(relay, origin, index)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("forwarding the review at %d failed", index)


async def _body(relay: Relay, index: int, held: int) -> bytes:
    await relay.log.catch_up(index + 1)
    size, note = relay.log.checkpoint()
    [review] = await relay.store.log_entries(index, index + 1)
    entry = parse_log_entry(review.data)
    assert isinstance(entry, ReviewEntry)
    device = await relay.store.device(entry.device_id)
    if device is None:
        raise LookupError("the reviewing device is not stored")
    [cert_entry] = await relay.store.log_entries(device.log_index, device.log_index + 1)
    consistency = await relay.log.consistency_proof(held, size) if 0 < held <= size else []
    return _encode(
        {
            "checkpoint": note,
            "consistency_from": held,
            "consistency_proof": [b64e(h) for h in consistency],
            "review_entry": b64e(review.data),
            "review_index": index,
            "review_proof": [b64e(h) for h in await relay.log.inclusion_proof(index, size)],
            "certificate": b64e(device.certificate),
            "certificate_entry": b64e(cert_entry.data),
            "certificate_index": device.log_index,
            "certificate_proof": [
                b64e(h) for h in await relay.log.inclusion_proof(device.log_index, size)
            ],
        }
    )


async def _forward_to(relay: Relay, origin: str, index: int) -> None:
    worker = relay.federation.workers.get(origin)
    held = getattr(worker, "held_size", None) or 0
    for attempt in range(REVIEW_ATTEMPTS):
        record = relay.federation.peers.get(origin)
        if record is None:
            return  # no longer peered
        body = await _body(relay, index, held)
        try:
            answer = await relay.federation.client.request(
                peer_origin=origin, base_url=record.url, method="POST", target=REVIEWS_PATH,
                body=body,
            )  # fmt: skip
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("forwarding a review to %s: %s", origin, type(exc).__name__)
        else:
            data = answer.data if isinstance(answer.data, dict) else {}
            if answer.status == 200:
                return
            log.info("peer %s answered a review %s %s", origin, answer.status, answer.code)
            size = data.get("checkpoint_size")
            if answer.status == 409 and isinstance(size, int) and not isinstance(size, bool):
                held = size
                continue  # at once, with a consistency proof from the size the peer holds
            if answer.status not in (401, 403, 503) and answer.status < 500:
                log.warning("peer %s refused a review: %s", origin, answer.code)
                return
        await asyncio.sleep(random.uniform(0, min(REVIEW_BACKOFF_CAP, 0.5 * 2**attempt)))


# --- the receiving side -----------------------------------------------------------------------


def _refused(code: str) -> Unprocessable:
    return Unprocessable("peer_misbehaved", f"The forwarded review does not verify ({code}).")


async def receive_review(relay: Relay, request: web.Request) -> dict[str, Any]:
    """POST /v1/federation/reviews [peer]: a review of a message that crossed with the peer,
    verified against the peer's log and the supervisor's certificate, logged as `peer_review`
    (once per review entry of the peer's log)."""
    verified, body = await peering.authenticate_peer(relay, request)
    origin = verified.sender_origin
    identity = RelayIdentity(origin, relay.federation.peers[origin].log_key)
    obj = inbound._json_body(body)
    before = relay.federation.peers[origin].checkpoint_size
    cp = await inbound._peer_checkpoint(relay, identity, obj)
    held = relay.federation.peers[origin]
    if held.checkpoint_size != before:
        await inbound._save_held(relay, held)
    try:
        review_data = b64d(obj.get("review_entry", ""))
        cert_data = b64d(obj.get("certificate_entry", ""))
        entry = parse_log_entry(review_data)
        cert_entry = parse_log_entry(cert_data)
        certificate = DeviceCertificate.from_bytes(b64d(obj.get("certificate", "")))
    except (CryptoError, TypeError) as exc:
        raise BadRequest("invalid_request", "The forwarded review does not parse.") from exc
    if not isinstance(entry, ReviewEntry) or not isinstance(cert_entry, CertificateEntry):
        raise _refused("wrong_message")
    review_index = obj.get("review_index")
    try:
        inbound._included(review_data, review_index, obj.get("review_proof"), cp)
        inbound._included(cert_data, obj.get("certificate_index"), obj.get("certificate_proof"), cp)
    except inbound.ItemRefused as exc:
        raise _refused(exc.code) from exc
    assert isinstance(review_index, int)
    if (
        cert_entry.device_id != entry.device_id
        or cert_entry.cert_hash != certificate.cert_hash()
        or certificate.device_id != entry.device_id
    ):
        raise _refused("sender_certificate_mismatch")
    if certificate.role != "supervisor" or entry.agency != device_agency(entry.device_id):
        raise Forbidden("review_forbidden", "Only a supervisor device may review a message.")
    if not await foreign.homed_on(relay, origin, entry.agency):
        raise Forbidden("review_forbidden", "The reviewing agency is not homed on that relay.")
    signed = review_request_bytes(
        message_id=entry.message_id,
        device_id=entry.device_id,
        reason_hash=entry.reason_hash,
        requested_at=entry.requested_at,
    )
    try:
        verify_review_request(certificate.signing_key, signed, entry.signature)
    except CryptoError as exc:
        raise Unprocessable(
            "bad_signature", "The review request is not signed by this device."
        ) from exc
    message = await relay.store.held_envelope(entry.message_id)
    if message is None or origin not in await relay.store.message_peers(entry.message_id):
        raise NotFound("unknown_message", "No such message crossed with that relay.")
    if not message.envelope:
        raise NotFound(
            "envelope_purged", "The ciphertext of this message was deleted after retention."
        )
    # The header names every recipient; the relay's deliveries only its own agencies' devices.
    header = Envelope.from_bytes(message.envelope).header
    parties = {device_agency(header.sender_device), *map(device_agency, header.recipients)}
    if entry.agency not in parties:
        raise Forbidden("review_forbidden", "The reviewing agency is not a party to this message.")
    now = relay.clock()
    peer_entry = PeerReviewEntry(
        message_id=entry.message_id,
        from_relay=origin,
        review_index=review_index,
        device_id=entry.device_id,
        agency=entry.agency,
        reason_hash=entry.reason_hash,
        requested_at=entry.requested_at,
        signature=entry.signature,
        at=now,
    )

    async def job(tx: WriteTx) -> tuple[int, bool]:
        existing = await tx.peer_review_index(origin, review_index)
        if existing is not None:
            return existing, False
        index = await relay.log.append(tx, peer_entry)
        await tx.insert_peer_review(
            from_relay=origin,
            review_index=review_index,
            message_id=entry.message_id,
            log_index=index,
            at=now,
        )
        return index, True

    index, new = await relay.store.write(job)
    return {
        "message_id": entry.message_id,
        "log_index": index,
        "logged": new,
        "checkpoint_size": relay.federation.peers[origin].checkpoint_size,
    }
