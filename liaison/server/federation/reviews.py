"""Reviews across the border (PROTOCOL.md §16.6, "Reviews"): a supervisor's `review` entry of a
cross-border message is forwarded to the peer relay(s) the message crossed with, which verify
it against this relay's log and the supervisor's certificate and log it as `peer_review`.

Sending goes through a durable outbox (`federation_review_outbox`, revision 0011) written in
the transaction that logs the review, retried with full-jitter back-off until the peer logs
it or refuses it for good, across restarts; the receiving side is idempotent per (sending
relay, review entry index), so a review sent twice (two processes, a lost answer) is logged
once.
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
from liaison.store.federation import ReviewOutboxRow

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

REVIEWS_PATH = "/v1/federation/reviews"
# Back-off between the attempts of one forwarded review: full jitter, as the envelope queue's.
REVIEW_BACKOFF_BASE = 1.0
REVIEW_BACKOFF_CAP = 300.0
# Seconds between looks at the outbox when nothing wakes the sender (a retry falling due).
REVIEW_POLL_SECONDS = 1.0
# Rows read per look.
REVIEW_BATCH = 100


async def enqueue(tx: WriteTx, *, peers: set[str], message_id: str, index: int, at: int) -> None:
    """In the transaction logging the `review` entry at `index`: one outbox row per peer the
    message crossed with, so the review is sent even if this process stops first."""
    for origin in sorted(peers):
        await tx.enqueue_review(peer=origin, review_index=index, message_id=message_id, at=at)


def forward_review(relay: Relay) -> None:
    """Wake the sender after a review was enqueued (its transaction committed)."""
    wake = relay.federation.review_wake
    if wake is not None:
        wake.set()


async def run_sender(relay: Relay) -> None:
    """Send due reviews until cancelled: woken by `forward_review`, else every
    REVIEW_POLL_SECONDS for retries falling due (and rows another process enqueued)."""
    wake = relay.federation.review_wake
    assert wake is not None
    while True:
        try:
            await asyncio.wait_for(wake.wait(), timeout=REVIEW_POLL_SECONDS)
        except TimeoutError:
            pass
        wake.clear()
        try:
            for row in await relay.store.review_outbox(due_at=relay.clock()):
                await _send(relay, row)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("forwarding reviews failed; trying again")


async def _send(relay: Relay, row: ReviewOutboxRow) -> None:
    """One attempt at one row; its outcome written to the row."""
    record = relay.federation.peers.get(row.peer)
    if record is None or relay.federation.client is None:
        return  # not peered now: it stays queued until the peer is added again
    outcome = await _forward_to(relay, row.peer, record.url, row.review_index)
    now = relay.clock()
    attempts = row.attempts + 1
    finished: int | None = None
    next_at = float(now)
    if outcome is None:
        finished = now
    elif outcome.startswith("refused"):
        log.warning("peer %s refused a review: %s", row.peer, outcome)
        finished = now
    else:
        next_at = now + random.uniform(
            0, min(REVIEW_BACKOFF_CAP, REVIEW_BACKOFF_BASE * 2**row.attempts)
        )

    async def job(tx: WriteTx) -> None:
        await tx.update_review_outbox(
            peer=row.peer,
            review_index=row.review_index,
            attempts=attempts,
            next_attempt_at=next_at,
            finished_at=finished,
            last_error=outcome,
        )

    await relay.store.write(job)


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


async def _forward_to(relay: Relay, origin: str, url: str, index: int) -> str | None:
    """Send the review at `index` to `origin`: None when the peer logged it (or had), else why
    not: "refused: CODE" for good, anything else to try again later."""
    worker = relay.federation.workers.get(origin)
    held = getattr(worker, "held_size", None) or 0
    for _proof_size in range(2):
        body = await _body(relay, index, held)
        try:
            answer = await relay.federation.client.request(
                peer_origin=origin, base_url=url, method="POST", target=REVIEWS_PATH, body=body
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"unreachable: {type(exc).__name__}"
        data = answer.data if isinstance(answer.data, dict) else {}
        if answer.status == 200:
            return None
        size = data.get("checkpoint_size")
        if answer.status == 409 and isinstance(size, int) and not isinstance(size, bool):
            held = size
            continue  # at once, with a consistency proof from the size the peer holds
        # Transient: our clock or peering (401, 403 unknown_peer), the peer's state (5xx).
        if answer.status in (401, 503) or answer.status >= 500 or answer.code == "unknown_peer":
            return f"failed: {answer.status} {answer.code}"
        return f"refused: {answer.code}"
    return "failed: checkpoint_unknown"


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
