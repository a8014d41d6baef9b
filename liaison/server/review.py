"""The relay's supervisor review: review-key wraps, agency traffic, logged review, audit records.

Service functions over the `Relay` (its store, log and clock); handlers in `handlers.py` call
one each. A review is released only after its log record is committed, and a refused review
is itself logged (crypto/PROTOCOL.md section 12).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from crypto.certs import DeviceCertificate
from crypto.encoding import b64e
from crypto.errors import CryptoError, MalformedError, SignatureError
from crypto.keys import device_agency, validate_officer_id
from crypto.log_entries import (
    AckEntry,
    AgencyEntry,
    CertificateEntry,
    EnvelopeEntry,
    ForwardedInEntry,
    ForwardedOutEntry,
    HoldEntry,
    HoldReleaseEntry,
    LogEntry,
    PeerAckEntry,
    PeerReviewEntry,
    PurgeEntry,
    RetentionEntry,
    ReviewEntry,
    ReviewKeyEntry,
    ReviewKeyWrapEntry,
    ReviewRefusalsCountedEntry,
    ReviewRefusedEntry,
    RevocationEntry,
    content_hash,
    parse_log_entry,
)
from crypto.review_keys import ReviewKeyWrap, review_request_bytes, verify_review_request
from liaison.server.auth import registered_device
from liaison.server.directory import agency_record
from liaison.server.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from liaison.server.federation import reviews as federation_reviews
from liaison.server.log_queries import MAX_LOG_ENTRIES_PAGE, proof_tree
from liaison.server.models import ReviewKeyWrapUpload, ReviewRequest, decode_field
from liaison.server.relay import Relay
from liaison.store import WriteTx
from liaison.store.records import DeviceRecord
from liaison.store.review import HeldEnvelope

MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_REQUEST_SKEW = 300
# Directory entries of an agency (its `agency` entry names it by `code`).
DIRECTORY_ENTRIES = (ReviewKeyEntry, CertificateEntry, RevocationEntry, ReviewKeyWrapEntry)
# Entries about one message: shown to whoever may see that message (a purge included).
# Federation's hops of a message (§16.9) are shown the same way, so a sender sees the peer
# relay's delivery and its recipients' acknowledgements across the border.
MESSAGE_ENTRIES = (
    AckEntry,
    ReviewEntry,
    ReviewRefusedEntry,
    PurgeEntry,
    ForwardedOutEntry,
    ForwardedInEntry,
    PeerAckEntry,
    PeerReviewEntry,
)
# Entries by a device about a message (what a supervisor's own devices did).
DEVICE_MESSAGE_ENTRIES = (AckEntry, ReviewEntry, ReviewRefusedEntry)
# Entries of an agency's retention and holds: shown to the agency's supervisors.
RETENTION_ENTRIES = (RetentionEntry, HoldEntry, HoldReleaseEntry)
# Log entries one GET /v1/audit/records reads at most, whatever it finds among them.
MAX_AUDIT_SCAN = 10 * MAX_LOG_ENTRIES_PAGE


def _role(device: DeviceRecord) -> str:
    return DeviceCertificate.from_bytes(device.certificate).role


# --- review-key wraps -----------------------------------------------------------------------


async def upload_wrap(relay: Relay, request: ReviewKeyWrapUpload) -> tuple[dict[str, Any], bool]:
    """POST /v1/review-keys/wraps: a root-signed review key sealed to a supervisor device."""
    data = decode_field(request.wrap, "wrap")
    try:
        wrap = ReviewKeyWrap.from_bytes(data)
    except MalformedError as exc:
        raise BadRequest(
            "malformed_review_key_wrap", "The review-key wrap does not parse."
        ) from exc
    agency = await agency_record(relay, wrap.agency)
    try:
        wrap.verify(agency.root_key)
    except SignatureError as exc:
        raise Unprocessable(
            "bad_signature", "The review-key wrap does not verify against the agency root key."
        ) from exc
    if wrap.key_id not in {s.key_id for s in await relay.store.review_statements(agency.code)}:
        raise Unprocessable(
            "unknown_review_key", "The wrap names a review key the agency has not registered."
        )
    device = await relay.store.device(wrap.device_id)
    if device is not None and (device.revoked or _role(device) != "supervisor"):
        raise Unprocessable(
            "not_supervisor", "The device is not a supervisor device of the agency."
        )
    wrap_hash = content_hash(data)
    now = relay.clock()

    async def job(tx: WriteTx) -> tuple[dict[str, Any], bool]:
        existing = await tx.review_key_wrap(wrap.device_id, wrap.key_id)
        if existing is not None:
            if existing.wrap == data:
                return {"log_index": existing.log_index}, False
            if existing.issued_at >= wrap.issued_at:
                raise Conflict(
                    "stale_review_key_wrap", "A newer wrap of this review key is already held."
                )
        entry = ReviewKeyWrapEntry(
            agency=wrap.agency,
            device_id=wrap.device_id,
            key_id=wrap.key_id,
            wrap_hash=wrap_hash,
            at=now,
        )
        index = await relay.log.append(tx, entry)
        await tx.put_wrap(
            device_id=wrap.device_id,
            key_id=wrap.key_id,
            agency=wrap.agency,
            wrap=data,
            wrap_hash=wrap_hash,
            issued_at=wrap.issued_at,
            log_index=index,
            at=now,
        )
        return {"log_index": index}, True

    return await relay.store.write(job)


async def device_wraps(relay: Relay, device_id: str) -> dict[str, Any]:
    """GET /v1/review-keys/wraps: the wraps addressed to the authenticated device."""
    records = await relay.store.wraps_for_device(device_id)
    return {
        "wraps": [
            {"key_id": r.key_id, "wrap": b64e(r.wrap), "log_index": r.log_index} for r in records
        ]
    }


# --- review ---------------------------------------------------------------------------------


async def _supervisor(relay: Relay, device_id: str) -> DeviceRecord | None:
    device = await registered_device(relay, device_id)
    return device if _role(device) == "supervisor" else None


async def traffic(
    relay: Relay,
    device_id: str,
    *,
    officer: str | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> dict[str, Any]:
    """GET /v1/review/messages: metadata of the envelopes the supervisor's agency is party to."""
    device = await _supervisor(relay, device_id)
    if device is None:
        raise Forbidden("review_forbidden", "Only a supervisor device may review traffic.")
    prefix = None
    if officer:
        agency_part, _sep, officer_part = officer.rpartition(":")
        try:
            validate_officer_id(officer_part)
        except MalformedError as exc:
            raise BadRequest("invalid_request", "The officer id is not valid.") from exc
        prefix = f"{agency_part or device.agency}:{officer_part}:"
    records = await relay.store.agency_traffic(
        device.agency, officer_prefix=prefix, start=start, end=end, limit=limit
    )
    return {
        "agency": device.agency,
        "messages": [
            {
                "message_id": r.message_id,
                "sender": r.sender_device,
                "recipients": [
                    {"device_id": d.device_id, "acknowledged_at": d.acknowledged_at}
                    for d in r.deliveries
                ],
                "size": r.size,
                "log_index": r.log_index,
                "received_at": r.received_at,
            }
            for r in records
        ],
    }


@dataclass
class RefusalWindow:
    """One device's refused reviews in the current window (issue 14, defect 7)."""

    start: int
    logged: int = 0
    counted: int = 0
    first_counted_at: int = 0


def _close_window(
    relay: Relay, device_id: str, window: RefusalWindow, now: int
) -> ReviewRefusalsCountedEntry | None:
    del relay.refusal_windows[device_id]
    if not window.counted:
        return None
    return ReviewRefusalsCountedEntry(
        device_id=device_id, count=window.counted, since=window.first_counted_at, at=now
    )


async def _log_refusal(relay: Relay, device_id: str, message_id: str, refusal: str) -> None:
    """Log a refused review: one by one up to the window's limit, then counted, the count
    logged as one entry when the window closes."""
    now = relay.clock()
    limits = relay.limiter.limits
    entries: list[LogEntry] = []
    window = relay.refusal_windows.get(device_id)
    if window is not None and now >= window.start + limits.review_refusal_window:
        counted = _close_window(relay, device_id, window, now)
        entries += [counted] if counted else []
        window = None
    if window is None:
        window = relay.refusal_windows[device_id] = RefusalWindow(start=now)
    if window.logged < limits.review_refusals_logged:
        window.logged += 1
        entries.append(
            ReviewRefusedEntry(message_id=message_id, device_id=device_id, refusal=refusal, at=now)
        )
    else:
        window.first_counted_at = window.first_counted_at or now
        window.counted += 1
    await _append(relay, entries)


async def _append(relay: Relay, entries: list[LogEntry]) -> None:
    if not entries:
        return

    async def job(tx: WriteTx) -> None:
        for entry in entries:
            await relay.log.append(tx, entry)

    await relay.store.write(job)


async def log_closed_refusal_windows(relay: Relay, *, closing_all: bool = False) -> int:
    """Log the counts of the refusal windows that have ended (every one when the relay stops,
    so nothing goes unrecorded); answers how many entries were logged."""
    now = relay.clock()
    window_seconds = relay.limiter.limits.review_refusal_window
    entries: list[LogEntry] = []
    for device_id, window in list(relay.refusal_windows.items()):
        if closing_all or now >= window.start + window_seconds:
            counted = _close_window(relay, device_id, window, now)
            entries += [counted] if counted else []
    await _append(relay, entries)
    return len(entries)


async def log_refusal_counts_periodically(relay: Relay, stop: asyncio.Event) -> None:
    """Every window, log the counts of the windows that ended; on stop, of all of them."""
    interval = max(1, relay.limiter.limits.review_refusal_window)
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            await log_closed_refusal_windows(relay)
            continue
        await log_closed_refusal_windows(relay, closing_all=True)
        return


async def review(
    relay: Relay, device_id: str, message_id: str, request: ReviewRequest
) -> dict[str, Any]:
    """POST /v1/review/messages/{message_id}: log the review, then release the envelope."""
    if not MESSAGE_ID.match(message_id):
        raise BadRequest("invalid_request", "The message id is not valid.")
    reason_hash = decode_field(request.reason_hash, "reason_hash", length=32)
    signature = decode_field(request.signature, "signature", length=64)
    requested_at = request.requested_at
    device = await _supervisor(relay, device_id)
    if device is None:
        # A message the relay does not hold has nothing to protect: no log entry (defect 7).
        if await relay.store.held_envelope(message_id) is not None:
            await _log_refusal(relay, device_id, message_id, "not_supervisor")
        raise Forbidden("review_forbidden", "Only a supervisor device may review a message.")
    held = await relay_envelope(relay, message_id)
    parties = {device_agency(held.sender_device), *(device_agency(r) for r in held.recipients)}
    if device.agency not in parties:
        await _log_refusal(relay, device_id, message_id, "not_party")
        raise Forbidden(
            "review_forbidden", "Your agency is not a party to this message; review refused."
        )
    if not held.envelope:
        # Retention deleted the ciphertext: nothing can be released, so nothing is logged.
        raise NotFound(
            "envelope_purged", "The ciphertext of this message was deleted after retention."
        )
    signed = review_request_bytes(
        message_id=message_id,
        device_id=device_id,
        reason_hash=reason_hash,
        requested_at=requested_at,
    )
    try:
        verify_review_request(device.signing_key, signed, signature)
    except CryptoError as exc:
        raise Unprocessable(
            "bad_signature", "The review request is not signed by this device."
        ) from exc
    now = relay.clock()
    if abs(now - requested_at) > MAX_REQUEST_SKEW:
        raise Unprocessable(
            "stale_review_request", "The review request's time is too far from the server's."
        )
    entry = ReviewEntry(
        message_id=message_id,
        device_id=device_id,
        agency=device.agency,
        reason_hash=reason_hash,
        requested_at=requested_at,
        signature=signature,
        at=now,
    )

    async def job(tx: WriteTx) -> int:
        # One review per signed request (issue 14, defect 6), checked where it is logged.
        request_key = {
            "device_id": device_id,
            "message_id": message_id,
            "requested_at": requested_at,
            "reason_hash": reason_hash,  # salted per request: a replay repeats it
        }
        if await tx.review_request_honoured(**request_key):
            raise Conflict(
                "review_replayed",
                "This review request was already honoured; sign a new one to review again.",
            )
        index = await relay.log.append(tx, entry)
        await tx.record_review_request(**request_key, log_index=index)
        # A review of a cross-border message is logged on the peer relay too (§16.6): queued
        # here, in the same transaction, so that it is sent whatever happens to this process.
        await federation_reviews.enqueue(
            tx, peers=crossed, message_id=message_id, index=index, at=now
        )
        return index

    # The peers a message crossed with are fixed once it is stored (send or receive).
    crossed = await relay.store.message_peers(message_id)
    index = await relay.store.write(job)
    federation_reviews.forward_review(relay)
    tree, size, note = await proof_tree(relay, [index, held.log_index])
    return {
        "message_id": message_id,
        "envelope": b64e(held.envelope),
        "envelope_log_index": held.log_index,
        "envelope_inclusion_proof": [b64e(h) for h in tree.inclusion_proof(held.log_index, size)],
        "review": entry.to_json(),
        "log_index": index,
        "tree_size": size,
        "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(index, size)],
        "checkpoint": note,
    }


async def relay_envelope(relay: Relay, message_id: str) -> HeldEnvelope:
    held = await relay.store.held_envelope(message_id)
    if held is None:
        raise NotFound("unknown_message", "No such message is held by the relay.")
    return held


# --- audit records ----------------------------------------------------------------------------


class _Visibility:
    """Which log entries a device may see: a supervisor its agency's, an officer its own."""

    def __init__(self, relay: Relay, device: DeviceRecord, role: str) -> None:
        self.relay = relay
        self.agency = device.agency
        self.supervisor = role == "supervisor"
        officer_id = DeviceCertificate.from_bytes(device.certificate).officer_id
        self.prefix = f"{device.agency}:{officer_id}:"
        self._parties: dict[str, tuple[str, ...]] = {}

    def _ours(self, device_id: str) -> bool:
        return device_id.startswith(self.agency + ":" if self.supervisor else self.prefix)

    async def _message_devices(self, message_id: str) -> tuple[str, ...]:
        if message_id not in self._parties:
            held = await self.relay.store.held_envelope(message_id)
            self._parties[message_id] = (
                () if held is None else (held.sender_device, *held.recipients)
            )
        return self._parties[message_id]

    async def visible(self, entry: LogEntry) -> bool:
        if isinstance(entry, AgencyEntry):
            return entry.code == self.agency
        if isinstance(entry, DIRECTORY_ENTRIES):
            return entry.agency == self.agency
        if isinstance(entry, EnvelopeEntry):
            return any(self._ours(d) for d in (entry.sender, *entry.recipients))
        if isinstance(entry, MESSAGE_ENTRIES):
            if (
                self.supervisor
                and isinstance(entry, DEVICE_MESSAGE_ENTRIES)
                and self._ours(entry.device_id)
            ):
                return True
            devices = await self._message_devices(entry.message_id)
            return any(self._ours(d) for d in devices)
        if isinstance(entry, RETENTION_ENTRIES):
            return self.supervisor and entry.agency == self.agency
        if isinstance(entry, ReviewRefusalsCountedEntry):
            return self._ours(entry.device_id)
        return False


async def audit_records(relay: Relay, device_id: str, *, after: int, limit: int) -> dict[str, Any]:
    """GET /v1/audit/records: the log entries this device may see from index `after` on."""
    device = await registered_device(relay, device_id)
    visibility = _Visibility(relay, device, _role(device))
    size = await relay.log.catch_up()
    found: list[tuple[int, LogEntry]] = []
    start = after
    # Bounded work per request however sparse this device's records are: the answer's `next`
    # says where the following request goes on scanning.
    stop = min(size, after + MAX_AUDIT_SCAN)
    while start < stop and len(found) < limit:
        end = min(stop, start + MAX_LOG_ENTRIES_PAGE)
        for record in await relay.store.log_entries(start, end):
            entry = parse_log_entry(record.data)
            if await visibility.visible(entry):
                found.append((record.index, entry))
                if len(found) == limit:
                    end = record.index + 1
                    break
        start = end
    tree, tree_size, note = await proof_tree(relay, [i for i, _e in found])
    return {
        "records": [
            {
                "index": index,
                "entry": entry.to_json(),
                "inclusion_proof": [b64e(h) for h in tree.inclusion_proof(index, tree_size)],
            }
            for index, entry in found
        ],
        "next": start if start < size else None,
        "tree_size": tree_size,
        "checkpoint": note,
    }
