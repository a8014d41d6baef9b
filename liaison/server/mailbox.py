"""The mailbox: accept an envelope (parse, check, verify, store and log, push), fetch, ack."""

from __future__ import annotations

from typing import Any

from crypto.encoding import b64e
from crypto.envelope import Envelope, EnvelopeHeader
from crypto.errors import MalformedError, SignatureError
from crypto.log_entries import AckEntry, EnvelopeEntry
from liaison.server import attachments, retention
from liaison.server.auth import registered_device
from liaison.server.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
)
from liaison.server.federation import forwarding
from liaison.server.log import TreeView
from liaison.server.log_queries import proof_tree
from liaison.server.models import SendRequest, decode_field
from liaison.server.relay import Relay
from liaison.store import SendCheck, WriteTx
from liaison.store.records import DeliveryRecord, DeviceRecord

# --- send, step by step ---------------------------------------------------------------------


def parse_envelope(relay: Relay, text: str) -> tuple[bytes, Envelope]:
    """The envelope's bytes and parsed form, refused when too large or malformed."""
    data = decode_field(text, "envelope")
    if len(data) > relay.max_envelope_bytes:
        raise PayloadTooLarge(
            "envelope_too_large",
            f"The envelope exceeds {relay.max_envelope_bytes} bytes.",
        )
    try:
        return data, Envelope.from_bytes(data)
    except MalformedError as exc:
        raise BadRequest("malformed_envelope", "The envelope does not parse.") from exc


async def check_sender(
    relay: Relay, device_id: str, header: EnvelopeHeader, now: int
) -> DeviceRecord:
    """The authenticated device's certificate, which the envelope must name and be valid under."""
    if header.sender_device != device_id:
        raise Forbidden("sender_mismatch", "The envelope's sender is not the authenticated device.")
    sender = await registered_device(relay, device_id)
    if header.sender_cert_hash != sender.cert_hash:
        raise Unprocessable(
            "sender_certificate_mismatch",
            "The envelope names another certificate than the sender's registered one.",
        )
    if now > sender.not_after:
        raise Forbidden("certificate_expired", "The sender's certificate has expired.")
    return sender


def verify_signature(envelope: Envelope, sender: DeviceRecord) -> None:
    """The sender's signature over the envelope.

    On the event loop, before the write: handing it to a thread costs more than the check
    (bench/relay.py, docs/operations.md).
    """
    try:
        envelope.verify_signature(sender.signing_key)
    except SignatureError as exc:
        raise Unprocessable("bad_signature", "The envelope signature does not verify.") from exc


async def check_recipients(relay: Relay, device_ids: tuple[str, ...]) -> dict[str, list[str]]:
    """Every recipient is a registered device (revocations are checked in the writer), or a
    device of an agency homed on a peer relay: answers those, by peer (PROTOCOL.md §16.6).
    Agency homes are held in memory, so a recipient across the border costs no read."""
    missing = [d for d in device_ids if d not in relay.cert_cache]
    if not missing:
        return {}
    foreign = await forwarding.foreign_recipients(relay, missing)
    homed = {d for devices in foreign.values() for d in devices}
    unknown = [d for d in missing if d not in homed]
    if unknown:
        found = await relay.store.devices(unknown)
        for device_id in unknown:
            device = found.get(device_id)
            if device is None:
                raise Unprocessable(
                    "unknown_recipient",
                    f"Recipient {device_id} is not a registered device.",
                )
            relay.cert_cache[device_id] = device
    return foreign


async def reserve_envelope_bytes(
    relay: Relay, agency: str, data: bytes, message_id: str, envelope_hash: bytes
) -> bool:
    """Count the envelope against its sender agency's quota, or refuse it before any write.

    False when nothing was counted: no quota, or a resend of an envelope already stored
    (counted when it first arrived; it gets its first receipt even with the quota full).
    """
    quota = relay.envelope_quota
    if quota is None:
        return False
    if quota.reserve(agency, len(data)):
        return True
    stored = await relay.store.envelope(message_id)  # only on the refusal path
    if stored is not None and stored.envelope_hash == envelope_hash:
        return False
    raise PayloadTooLarge("quota_exceeded", "The agency's storage quota for envelopes is full.")


def envelope_entry(
    device_id: str, header: EnvelopeHeader, envelope_hash: bytes, size: int, now: int
) -> EnvelopeEntry:
    """The log entry of an accepted envelope: routing metadata only."""
    return EnvelopeEntry(
        message_id=header.message_id,
        envelope_hash=envelope_hash,
        sender=device_id,
        recipients=header.recipients,
        size=size,
        at=now,
    )


def receipt(message_id: str, envelope_hash: bytes, index: int, at: int) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "envelope_hash": b64e(envelope_hash),
        "log_index": index,
        "received_at": at,
    }


def schedule_push(relay: Relay, tx: WriteTx, message_id: str) -> None:
    """Tell each recipient's sockets once the write commits (every process on PostgreSQL)."""

    def notices() -> list[tuple[str, dict[str, Any]]]:
        return [
            (device, {"type": "message", "message_id": message_id, "cursor": cursor})
            for device, cursor in tx.cursors(message_id).items()
        ]

    if relay.store.postgres:
        tx.announce(relay.push_channel, notices)
    else:
        tx.on_commit(lambda: relay.push.publish(notices()))


async def store_and_log(
    relay: Relay,
    device_id: str,
    header: EnvelopeHeader,
    data: bytes,
    envelope_hash: bytes,
    case_tags: list[bytes],
    now: int,
    blob_ids: list[str] | None = None,
    foreign: dict[str, list[str]] | None = None,
) -> tuple[dict[str, Any], bool]:
    """In one writer job: the checks only the database can answer (revocation, duplicates,
    counter), then the log entry, the envelope and its deliveries, its case tags, the push."""
    message_id = header.message_id
    # Recipients homed on peer relays get no delivery here: their relay queues them.
    away = {d for devices in (foreign or {}).values() for d in devices}
    local = tuple(d for d in header.recipients if d not in away) if away else header.recipients
    # Encoded here, not in the job: the writer's serial section stays as short as can be.
    entry_data, entry_leaf = relay.log.encode(
        envelope_entry(device_id, header, envelope_hash, len(data), now)
    )

    async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
        check = await tx.send_precheck(
            message_id=message_id,
            sender_device=device_id,
            devices=(device_id, *header.recipients),
        )  # read with the batch's other sends' (SendCheck below)
        if device_id in check.revoked:
            raise Forbidden("device_revoked", "This device has been revoked.")
        if check.existing is not None:
            if check.existing.envelope_hash == envelope_hash:
                existing = check.existing
                return receipt(
                    message_id, envelope_hash, existing.log_index, existing.received_at
                ), False
            raise Conflict("duplicate_message_id", "Another envelope already has this message id.")
        if check.revoked:
            raise Unprocessable(
                "recipient_revoked",
                f"Recipient {min(check.revoked)} has been revoked.",
            )
        if check.last_counter is not None and header.counter <= check.last_counter:
            raise Conflict(
                "duplicate_counter",
                "The envelope's counter is not above the sender's last one.",
            )
        if blob_ids:
            # Checked again in the transaction that declares them: expiry forgets a blob's
            # record in its own transaction before deleting the file, so either the expiry
            # came first and the send is refused here (nothing stored), or the declaration
            # came first and the expiry keeps the blob (PROTOCOL.md section 14.6).
            found = await tx.blobs_by_id(blob_ids)
            gone = sorted(set(blob_ids) - set(found))
            if gone:
                raise Unprocessable(
                    "blob_expired",
                    f"Attachment {gone[0]} is no longer stored (an attachment no envelope "
                    "declares expires a day after its upload): upload it again.",
                )
        index = await tx.append_log(entry_data, entry_leaf, at=now)
        tx.insert_envelope(
            message_id=message_id,
            envelope_hash=envelope_hash,
            sender_device=device_id,
            counter=header.counter,
            envelope=data,
            log_index=index,
            received_at=now,
            recipients=local,
        )
        if foreign:
            await forwarding.enqueue_in(
                relay,
                tx,
                message_id=message_id,
                envelope_hash=envelope_hash,
                sender_device=device_id,
                foreign=foreign,
                now=now,
                payload=(data, entry_data, index, tuple(blob_ids or ())),
            )
        if case_tags:
            await tx.insert_case_tags(message_id, case_tags)
        if blob_ids:
            await tx.declare_blobs(message_id, blob_ids)
        schedule_push(relay, tx, message_id)
        return receipt(message_id, envelope_hash, index, now), True

    check = SendCheck(message_id, device_id, (device_id, *header.recipients))
    return await relay.store.write(job, send_check=check)


async def send(relay: Relay, device_id: str, request: SendRequest) -> tuple[dict[str, Any], bool]:
    """POST /v1/messages [device]: parse, check sender and recipients, verify, store and log,
    push. The answer is the receipt; a resent identical envelope gets the first receipt."""
    data, envelope = parse_envelope(relay, request.envelope)
    header = envelope.header
    now = relay.clock()
    sender = await check_sender(relay, device_id, header, now)
    verify_signature(envelope, sender)
    foreign = await check_recipients(relay, header.recipients)
    case_tags = retention.case_tags_of(request.case_tags) if request.case_tags else []
    blob_ids = (
        await attachments.check_declared(relay, device_id, request.blobs) if request.blobs else []
    )
    envelope_hash = envelope.envelope_hash()
    counted = await reserve_envelope_bytes(
        relay, sender.agency, data, header.message_id, envelope_hash
    )
    try:
        answer, stored = await store_and_log(
            relay, device_id, header, data, envelope_hash, case_tags, now, blob_ids, foreign
        )
    except Exception:
        # Refused by the writer: nothing stored. (A cancelled request keeps its count: its
        # write may still commit, and counting too much is the safe side.)
        if counted:
            _uncount(relay, sender.agency, data)
        raise
    if counted and not stored:
        _uncount(relay, sender.agency, data)  # a resend: counted when it first arrived
    return answer, stored


def _uncount(relay: Relay, agency: str, data: bytes) -> None:
    if relay.envelope_quota is not None:
        relay.envelope_quota.release(agency, len(data))


# --- fetch and acknowledge ------------------------------------------------------------------


def _message_json(d: DeliveryRecord, tree: TreeView, size: int) -> dict[str, Any]:
    return {
        "cursor": d.cursor,
        "message_id": d.message_id,
        "envelope": b64e(d.envelope),
        "log_index": d.log_index,
        "received_at": d.received_at,
        "acknowledged": d.acknowledged,
        "tree_size": size,
        "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(d.log_index, size)],
    }


async def fetch(
    relay: Relay, device_id: str, *, after: int, limit: int, include_acknowledged: bool
) -> dict[str, Any]:
    """GET /v1/messages [device]: a page of the device's deliveries, with inclusion proofs."""
    page = await relay.store.deliveries(
        device_id, after=after, limit=limit, include_acknowledged=include_acknowledged
    )
    tree, size, note = await proof_tree(relay, [d.log_index for d in page])
    return {
        "messages": [_message_json(d, tree, size) for d in page],
        "next_cursor": page[-1].cursor if len(page) == limit else None,
        "checkpoint": note,
    }


async def acknowledge(relay: Relay, device_id: str, message_id: str) -> dict[str, Any]:
    """POST /v1/messages/{message_id}/ack [device]: logged once; again, the same answer."""
    now = relay.clock()

    async def job(tx: WriteTx) -> dict[str, Any]:
        delivery = await tx.delivery(device_id, message_id)
        if delivery is None:
            raise NotFound("unknown_message", "No such message is queued for this device.")
        if delivery.ack_log_index is not None:
            return {"log_index": delivery.ack_log_index}
        entry = AckEntry(message_id=message_id, device_id=device_id, at=now)
        index = await relay.log.append(tx, entry)
        await tx.acknowledge(device_id=device_id, message_id=message_id, log_index=index, at=now)
        await forwarding.device_acknowledged(relay, tx, message_id, device_id, index, now)
        return {"log_index": index}

    return await relay.store.write(job)
