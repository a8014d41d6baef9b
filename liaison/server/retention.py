"""Retention of ciphertext and legal hold: per-agency periods, case-tag holds, the purge job.

Rule (docs/operations.md, crypto/PROTOCOL.md section 10): an envelope's ciphertext is deleted
once every party agency (the sender's and each recipient device's) has a retention period and
the longest of them has passed since the envelope was received, unless one of its case tags is
under an active legal hold. The log entry of the envelope stays; a `purge` entry records the
deletion. Holds name a case only by a keyed hash the server cannot invert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from crypto.certs import DeviceCertificate
from crypto.encoding import b64e
from crypto.keys import device_agency
from crypto.log_entries import (
    HoldEntry,
    HoldReleaseEntry,
    PurgeEntry,
    RetentionEntry,
)
from liaison.server import attachments
from liaison.server.directory import agency_record
from liaison.server.errors import BadRequest, Conflict, Forbidden, NotFound
from liaison.server.models import (
    CaseTags,
    HoldRelease,
    HoldRequest,
    RetentionSetting,
    decode_field,
)
from liaison.server.relay import Relay
from liaison.store import WriteTx

log = logging.getLogger(__name__)

DAY = 86400
CASE_TAG_BYTES = 32
MAX_CASE_TAGS = 16


def case_tags_of(tags: list[str]) -> list[bytes]:
    """The `case_tags` of a send or case-tags request: at most 16 keyed hashes of 32 bytes."""
    if len(tags) > MAX_CASE_TAGS:
        raise BadRequest("invalid_request", "At most 16 case tags per envelope.")
    return [decode_field(tag, "case_tags", length=CASE_TAG_BYTES) for tag in tags]


async def add_case_tags(
    relay: Relay, device_id: str, message_id: str, request: CaseTags
) -> dict[str, Any]:
    """POST /v1/messages/{message_id}/case-tags [device]: a recipient (or the sender) adds its
    agency's tag once it has read the notice's case reference. Not logged: the log is public
    and tags on envelopes would link a case's messages for any reader."""
    tags = case_tags_of(request.case_tags)
    envelope = await relay.store.envelope(message_id)
    delivery = await relay.store.delivery(device_id, message_id)
    if envelope is None or (delivery is None and envelope.sender_device != device_id):
        raise NotFound("unknown_message", "No such message is queued for this device.")

    async def job(tx: WriteTx) -> dict[str, Any]:
        known = await tx.message_case_tags(message_id)
        if len(known | set(tags)) > MAX_CASE_TAGS:
            # Per message, not per request (issue 14, defect 8): repeated requests add no more.
            raise Conflict(
                "too_many_case_tags", "This message already has the most case tags allowed (16)."
            )
        await tx.insert_case_tags(message_id, [t for t in tags if t not in known])
        return {"message_id": message_id, "case_tags": len(known | set(tags))}

    return await relay.store.write(job)


async def set_retention(relay: Relay, code: str, request: RetentionSetting) -> dict[str, Any]:
    """PUT /v1/agencies/{code}/retention [admin]: the agency's retention period, logged."""
    await agency_record(relay, code)
    days = request.days
    now = relay.clock()

    async def job(tx: WriteTx) -> dict[str, Any]:
        entry = RetentionEntry(agency=code, days=days, at=now)
        index = await relay.log.append(tx, entry)
        await tx.set_retention(agency=code, days=days, log_index=index, at=now)
        return {"agency": code, "days": days, "log_index": index}

    return await relay.store.write(job)


async def _supervisor(relay: Relay, device_id: str, agency: str) -> None:
    device = await relay.store.device(device_id)
    if device is None or device.revoked:
        raise Forbidden("device_revoked", "This device has been revoked.")
    role = DeviceCertificate.from_bytes(device.certificate).role
    if device.agency != agency or role != "supervisor":
        raise Forbidden(
            "not_supervisor", "Only a supervisor of the agency may place or release its holds."
        )


async def place_hold(relay: Relay, device_id: str, request: HoldRequest) -> dict[str, Any]:
    """POST /v1/holds [supervisor]: block deletion of envelopes carrying the case tag."""
    agency = device_agency(device_id)
    await _supervisor(relay, device_id, agency)
    tag = decode_field(request.case_tag, "case_tag", length=CASE_TAG_BYTES)
    reason_hash = decode_field(request.reason_hash, "reason_hash", length=32)
    now = relay.clock()

    async def job(tx: WriteTx) -> dict[str, Any]:
        existing = await tx.active_hold(agency, tag)
        if existing is not None:
            raise Conflict("hold_exists", "A hold on this case is already in place.")
        entry = HoldEntry(
            agency=agency, case_tag=tag, device_id=device_id, reason_hash=reason_hash, at=now
        )
        index = await relay.log.append(tx, entry)
        await tx.insert_hold(
            agency=agency,
            tag=tag,
            placed_by=device_id,
            reason_hash=reason_hash,
            log_index=index,
            at=now,
        )
        return {"log_index": index}

    return await relay.store.write(job)


async def release_hold(relay: Relay, device_id: str, request: HoldRelease) -> dict[str, Any]:
    """POST /v1/holds/release [supervisor]: lift the agency's hold on the case tag."""
    agency = device_agency(device_id)
    await _supervisor(relay, device_id, agency)
    tag = decode_field(request.case_tag, "case_tag", length=CASE_TAG_BYTES)
    now = relay.clock()

    async def job(tx: WriteTx) -> dict[str, Any]:
        existing = await tx.active_hold(agency, tag)
        if existing is None:
            raise NotFound("unknown_hold", "No hold on this case is in place.")
        entry = HoldReleaseEntry(
            agency=agency,
            case_tag=tag,
            device_id=device_id,
            hold_index=existing.log_index,
            at=now,
        )
        index = await relay.log.append(tx, entry)
        await tx.release_hold(agency=agency, tag=tag, log_index=index, at=now)
        return {"log_index": index}

    return await relay.store.write(job)


async def holds(relay: Relay, device_id: str) -> dict[str, Any]:
    """GET /v1/holds [device]: the active holds of the device's own agency."""
    agency = device_agency(device_id)
    return {
        "holds": [
            {
                "case_tag": b64e(h.tag),
                "placed_by": h.placed_by,
                "reason_hash": b64e(h.reason_hash),
                "placed_at": h.placed_at,
                "log_index": h.log_index,
            }
            for h in await relay.store.active_holds(agency)
        ]
    }


@dataclass
class PurgeReport:
    purged: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"purged": self.purged, "held": self.held}


async def _purge_slice(
    relay: Relay,
    candidates: list[Any],
    periods: dict[str, int],
    held_tags: set[bytes],
    now: int,
    report: PurgeReport,
) -> None:
    due: list[tuple[Any, list[str]]] = []
    for envelope in candidates:
        parties = sorted(
            {device_agency(envelope.sender_device)}
            | {device_agency(d) for d in envelope.recipients}
        )
        if any(agency not in periods for agency in parties):
            continue  # an agency without a period keeps its ciphertext
        if now < envelope.received_at + max(periods[a] for a in parties) * DAY:
            continue
        if envelope.tags & held_tags:
            report.held.append(envelope.message_id)
            continue
        due.append((envelope, parties))
    if not due:
        return

    async def job(tx: WriteTx) -> set[str]:
        # Checked again in the writer: a hold placed since the read above wins. One job per
        # slice: a few statements for a thousand envelopes, the log entries in their order.
        held = await tx.held_tags({tag for envelope, _p in due for tag in envelope.tags})
        purged = await tx.purge_envelopes(
            [envelope.message_id for envelope, _p in due if not envelope.tags & held], now
        )
        for envelope, parties in due:
            if envelope.message_id in purged:
                entry = PurgeEntry(
                    message_id=envelope.message_id,
                    envelope_hash=envelope.envelope_hash,
                    envelope_index=envelope.log_index,
                    agencies=tuple(parties),
                    at=now,
                )
                await relay.log.append(tx, entry)
        return purged

    purged = await relay.store.write(job)
    for envelope, _parties in due:
        if envelope.message_id in purged:
            report.purged.append(envelope.message_id)
            if relay.envelope_quota is not None:
                sender_agency = device_agency(envelope.sender_device)
                relay.envelope_quota.release(sender_agency, envelope.size)
        else:
            report.held.append(envelope.message_id)


async def purge(relay: Relay, *, now: int | None = None) -> PurgeReport:
    """Delete the ciphertext of every envelope past its retention and not held; log each."""
    now = relay.clock() if now is None else now
    report = PurgeReport()
    periods = await relay.store.retention_days()
    if not periods:
        return report
    shortest = min(periods.values())
    held_tags = {h.tag for h in await relay.store.active_holds()}
    before = now - shortest * DAY + 1
    after: tuple[int, str] | None = None
    while True:
        # A slice of candidates at a time: bounded memory and query size, and each slice's
        # purges in one write job (one UPDATE and the slice's log entries, one commit).
        candidates = await relay.store.envelopes_received_before(before, after=after)
        if not candidates:
            break
        after = (candidates[-1].received_at, candidates[-1].message_id)
        await _purge_slice(relay, candidates, periods, held_tags, now, report)
    if report.purged and relay.blobs is not None:
        # Attachments go with their last declaring envelope (PROTOCOL.md section 14.6).
        await attachments.release_purged(relay, report.purged)
    return report


async def purge_periodically(relay: Relay, interval: int, stop: asyncio.Event) -> None:
    """The server's purge task: run `purge` every `interval` seconds until `stop` is set."""
    while not stop.is_set():
        try:
            report = await purge(relay)
            if relay.measured:
                from liaison.server.metrics import observe_purge

                observe_purge(len(report.purged))
            if report.purged:
                log.info("retention: purged %d envelopes", len(report.purged))
            if relay.blobs is not None:
                expired = await attachments.expire(relay)
                if expired.uploads_removed or expired.blobs_removed:
                    log.info(
                        "attachments: %d stale uploads and %d undeclared blobs removed",
                        expired.uploads_removed,
                        expired.blobs_removed,
                    )
        except Exception:
            log.exception("retention purge failed; retrying at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
