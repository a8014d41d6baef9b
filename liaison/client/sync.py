"""Sync: fetch new envelopes, check each against the log and its sender, keep them encrypted.

The replay guard runs here, in server order; nothing is decrypted.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from crypto.encoding import b64e
from crypto.envelope import Envelope
from crypto.errors import CryptoError, ReplayError
from crypto.replay import ReplayGuard
from liaison.client import directory, officer, transparency
from liaison.client.answers import Message
from liaison.client.errors import ClientError, VerificationError
from liaison.client.home import Home
from liaison.client.records import MessageRecord, SyncCursor, replay_state_from_json
from liaison.client.transport import ApiClient
from liaison.client.wire import decode_b64
from liaison.i18n import _

REPLAY_FILE = "replay.json"
SYNC_FILE = "sync.json"
PAGE = 100


def replay_guard(home: Home) -> ReplayGuard:
    """replay.json, typed by crypto's `ReplayGuard` (its own versioned format)."""
    return home.load_record(REPLAY_FILE, replay_state_from_json)


@dataclass
class _SyncContext:
    api: ApiClient
    own_id: str
    guard: ReplayGuard
    lookups: directory.Lookups


async def sync(
    home: Home,
    api: ApiClient,
    *,
    now: int | None = None,
    lookups: directory.Lookups | None = None,
) -> list[MessageRecord]:
    """Fetch new envelopes, check each against the log, store them (still encrypted) in the
    cache; returns the new records. The replay guard runs here, in server order. Pass the
    operation's `lookups` to share its sender verifications with the reads that follow."""
    now = (lookups.now if lookups else int(time.time())) if now is None else now
    lookups = lookups or directory.Lookups(home, api, now)
    own_id = officer.own_certificate(home).device_id
    cursor = SyncCursor.from_json(home.read_json(SYNC_FILE)).cursor
    context = _SyncContext(api, own_id, replay_guard(home), lookups)
    new: list[MessageRecord] = []
    while True:
        fetch_page = functools.partial(api.fetch_messages, after=cursor, limit=PAGE)
        page = await officer.authenticated(home, api, fetch_page)
        items = page.messages
        # Every sync checks the page's checkpoint, even an empty page: a split view is caught
        # (and recorded by transparency.advance) at the first contact after it happens.
        cp = await transparency.advance(home, api, page.checkpoint)
        for item in items:
            if home.load_message(item.message_id) is None:
                record = await _accept(context, cp, item)
                home.save_message(record)
                new.append(record)
            cursor = item.cursor
        home.write_json(REPLAY_FILE, context.guard.to_dict())
        home.write_json(SYNC_FILE, SyncCursor(cursor).to_json())
        next_cursor = page.next_cursor
        if next_cursor is None or not items:
            break
        cursor = next_cursor
    return new


async def _accept(context: _SyncContext, cp: Any, item: Message) -> MessageRecord:
    """The cache record of one delivered envelope, with what was found checking it."""
    raw = decode_b64(item.envelope)
    message_id = item.message_id
    record = MessageRecord(
        message_id=message_id,
        direction="received",
        envelope=b64e(raw),
        log_index=item.log_index,
        received_at=item.received_at,
        acknowledged=item.acknowledged,
        cursor=item.cursor,
        status="new",
    )
    try:
        envelope = Envelope.from_bytes(raw)
    except CryptoError:
        return record.with_changes(status="refused", problem="malformed")
    header = envelope.header
    record = record.with_changes(
        envelope_hash=b64e(envelope.envelope_hash()),
        sender_device=header.sender_device,
        sent_at=header.sent_at,
        counter=header.counter,
        recipients=tuple(header.recipients),
    )
    if header.message_id != message_id:
        raise VerificationError(_("The server delivered an envelope under another message id."))
    index = item.log_index
    entry = await transparency.fetch_entry(context.api, index)
    # A message from an agency homed on a peer is logged here as `forwarded_in` (the
    # recipient side's proof, PROTOCOL.md §16.6); its sender is checked below against the
    # directory of the sender's home relay.
    if (
        entry.get("kind") not in ("envelope", "forwarded_in")
        or entry.get("message_id") != message_id
        or entry.get("envelope_hash") != record.envelope_hash
    ):
        raise VerificationError(
            _("The log entry of message {id} does not match its envelope.").format(id=message_id)
        )
    inclusion = await transparency.verify_entry_included(
        context.api,
        cp,
        index,
        entry,
        proof=item.inclusion_proof,
        proof_size=item.tree_size,
    )
    record = record.with_changes(
        leaf_hash=b64e(inclusion.leaf_hash),
        tree_size=inclusion.size,
        inclusion_proof=tuple(inclusion.to_dict()["inclusion_proof"]),
        logged_at=entry.get("at"),
    )
    if context.own_id not in header.recipients:
        return record.with_changes(status="refused", problem="not_a_recipient")
    try:
        sender = await context.lookups.device(header.sender_device)
    except ClientError as exc:
        return record.with_changes(status="unverified", problem=exc.code)
    problem = sender_problem(sender, header, envelope, index)
    if problem is not None:
        return record.with_changes(status="refused", problem=problem)
    try:
        context.guard.record(header)
    except ReplayError:
        record = record.with_changes(status="refused", problem="replay")
    return record.with_changes(sender_names=dict(sender.certificate.display_names))


def sender_problem(
    sender: directory.VerifiedDevice, header: Any, envelope: Envelope, log_index: int
) -> str | None:
    if sender.revoked and (
        sender.revocation_log_index is None or sender.revocation_log_index < log_index
    ):
        return "sender_revoked"
    if sender.certificate.cert_hash() != header.sender_cert_hash:
        return "wrong_sender_certificate"
    try:
        envelope.verify_signature(sender.certificate.signing_key)
    except CryptoError:
        return "bad_signature"
    return None


__all__ = ["REPLAY_FILE", "SYNC_FILE", "replay_guard", "sender_problem", "sync"]
