"""What a dishonest relay operator could do to the SQLite database while the relay is stopped,
and envelopes it could hold to inject."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from crypto.encoding import b64e, canonical_json
from crypto.envelope import Envelope, RecipientDevice, seal
from crypto.merkle import leaf_hash
from liaison.client import directory, officer
from liaison.client.home import Home
from liaison.client.payload import Payload
from liaison.client.transport import ApiClient

REVIEW_AGENCIES = ("CN-GX-DXGA", "VN-QN-CA")


def seal_outside(
    url: str, sender: Home, to: Home, text: str, *, counter: int, log_size: int
) -> Envelope:
    """An envelope signed with `sender`'s device keys to `to`'s device, sealed without the
    client's checks: what a thief of the device, or a relay replaying old traffic, could hold."""

    async def review_keys() -> list:
        async with ApiClient(url) as api:
            return [
                await directory.current_review_key(sender, api, code) for code in REVIEW_AGENCIES
            ]

    recipient = officer.own_certificate(to)
    return seal(
        sender=officer.device_keys(sender),
        sender_cert=officer.own_certificate(sender),
        recipients=[RecipientDevice(recipient.device_id, recipient.encryption_key)],
        review=asyncio.run(review_keys()),
        plaintext=Payload.text(text).to_bytes(),
        counter=counter,
        sent_at=int(time.time()),
        log_size=log_size,
    )


def _size(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM log_entries").fetchone()[0])


def _set_size(db: sqlite3.Connection, size: int) -> None:
    db.execute("UPDATE log_head SET size = ? WHERE id = 1", (size,))


def append_entry(db: sqlite3.Connection, entry: dict[str, object], now: int = 0) -> int:
    """Append an entry to the log as the relay would (so the log stays consistent); its index."""
    index = _size(db)
    data = canonical_json(entry)
    db.execute(
        "INSERT INTO log_entries (idx, data, leaf_hash, created_at) VALUES (?, ?, ?, ?)",
        (index, data, leaf_hash(data), now),
    )
    _set_size(db, index + 1)
    return index


def inject_envelope(db: sqlite3.Connection, raw: bytes) -> int:
    """Log and queue an envelope the relay's checks would have refused; answer its log index."""
    envelope = Envelope.from_bytes(raw)
    header = envelope.header
    now = int(time.time())
    entry = {
        "kind": "envelope",
        "message_id": header.message_id,
        "envelope_hash": b64e(envelope.envelope_hash()),
        "sender": header.sender_device,
        "recipients": list(header.recipients),
        "size": len(raw),
        "at": now,
    }
    index = append_entry(db, entry, now)
    db.execute(
        "INSERT INTO envelopes (message_id, envelope_hash, sender_device, counter, envelope, size,"
        " log_index, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            header.message_id,
            envelope.envelope_hash(),
            header.sender_device,
            header.counter,
            raw,
            len(raw),
            index,
            now,
        ),
    )
    for device in header.recipients:
        db.execute(
            "INSERT INTO deliveries (message_id, device_id, received_at) VALUES (?, ?, ?)",
            (header.message_id, device, now),
        )
    db.commit()
    return index


def _rewrite(db: sqlite3.Connection, index: int, data: bytes) -> None:
    db.execute(
        "UPDATE log_entries SET data = ?, leaf_hash = ? WHERE idx = ?",
        (data, leaf_hash(data), index),
    )


def change_entry(db: sqlite3.Connection, index: int) -> None:
    """Alter one field of a logged entry (its leaf hash recomputed, as a careful liar would)."""
    import json

    (data,) = db.execute("SELECT data FROM log_entries WHERE idx = ?", (index,)).fetchone()
    entry = json.loads(data)
    entry["at"] = int(entry["at"]) - 3600
    _rewrite(db, index, canonical_json(entry))
    db.commit()


def drop_entry(db: sqlite3.Connection, index: int) -> None:
    """Remove one entry and close the gap, so the log looks whole."""
    rows = db.execute("SELECT idx, data FROM log_entries WHERE idx > ? ORDER BY idx", (index,))
    later = rows.fetchall()
    db.execute("DELETE FROM log_entries WHERE idx >= ?", (index,))
    for idx, data in later:
        db.execute(
            "INSERT INTO log_entries (idx, data, leaf_hash, created_at) VALUES (?, ?, ?, 0)",
            (idx - 1, data, leaf_hash(bytes(data))),
        )
    _set_size(db, _size(db))
    db.commit()


def swap_entries(db: sqlite3.Connection, first: int, second: int) -> None:
    """Reorder two entries."""
    (a,) = db.execute("SELECT data FROM log_entries WHERE idx = ?", (first,)).fetchone()
    (b,) = db.execute("SELECT data FROM log_entries WHERE idx = ?", (second,)).fetchone()
    _rewrite(db, first, bytes(b))
    _rewrite(db, second, bytes(a))
    db.commit()
