"""Mailbox storage: envelopes once each, one delivery per recipient device, acknowledgements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from liaison.store.records import DeliveryRecord, EnvelopeRecord
from liaison.store.tables import deliveries, envelopes, revocations
from liaison.store.writer import Batch, SyncConnection

# --- named queries, shared by reads and writes --------------------------------------------


def _envelope_record(row: Any) -> EnvelopeRecord:
    return EnvelopeRecord(
        message_id=row.message_id,
        envelope_hash=bytes(row.envelope_hash),
        sender_device=row.sender_device,
        counter=row.counter,
        size=row.size,
        log_index=row.log_index,
        received_at=row.received_at,
    )


_envelope_meta = (
    envelopes.c.message_id,
    envelopes.c.envelope_hash,
    envelopes.c.sender_device,
    envelopes.c.counter,
    envelopes.c.size,
    envelopes.c.log_index,
    envelopes.c.received_at,
)


async def _envelope(conn: AsyncConnection, message_id: str) -> EnvelopeRecord | None:
    query = select(*_envelope_meta).where(envelopes.c.message_id == message_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _envelope_record(row)


def _delivery_query():  # type: ignore[no-untyped-def]
    return select(
        deliveries.c.cursor,
        deliveries.c.message_id,
        deliveries.c.device_id,
        deliveries.c.acknowledged_at,
        deliveries.c.ack_log_index,
        envelopes.c.envelope,
        envelopes.c.log_index,
        envelopes.c.received_at,
    ).select_from(deliveries.join(envelopes, envelopes.c.message_id == deliveries.c.message_id))


def _delivery_record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        cursor=row.cursor,
        message_id=row.message_id,
        device_id=row.device_id,
        envelope=bytes(row.envelope),
        log_index=row.log_index,
        received_at=row.received_at,
        acknowledged=row.acknowledged_at is not None,
        ack_log_index=row.ack_log_index,
    )


async def _delivery(
    conn: AsyncConnection, device_id: str, message_id: str
) -> DeliveryRecord | None:
    query = _delivery_query().where(
        and_(deliveries.c.device_id == device_id, deliveries.c.message_id == message_id)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _delivery_record(row)


@dataclass(frozen=True)
class SendPrecheck:
    """What a send must know, read in one statement inside the writer's transaction."""

    existing: EnvelopeRecord | None
    last_counter: int | None
    revoked: frozenset[str]


# Built once: constructing SQLAlchemy statements per call costs more than running them.
# The same for the PostgreSQL writer, on asyncpg directly (hot path): revoked devices are
# listed at once, and the envelope is read by one index look-up.
_SEND_PRECHECK_PG = (
    "SELECT e.envelope_hash, e.log_index, e.received_at, e.counter,"
    " (SELECT max(counter) FROM envelopes WHERE sender_device = $2),"
    " ARRAY(SELECT device_id FROM revocations WHERE device_id = ANY($3::varchar[]))"
    " FROM (SELECT 1) AS one LEFT JOIN envelopes AS e ON e.message_id = $1"
)
# The same for the SQLite writer, on the sqlite3 driver directly (hot path).
_SEND_PRECHECK_QMARK = (
    "SELECT"
    " (SELECT envelope_hash FROM envelopes WHERE message_id = ?),"
    " (SELECT log_index FROM envelopes WHERE message_id = ?),"
    " (SELECT received_at FROM envelopes WHERE message_id = ?),"
    " (SELECT counter FROM envelopes WHERE message_id = ?),"
    " (SELECT max(counter) FROM envelopes WHERE sender_device = ?),"
    " (SELECT count(*) FROM revocations WHERE device_id IN ({marks}))"
)


# --- the store's reads (pooled read connections) -------------------------------------------


class MailboxReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection
    postgres: bool  # Store.postgres

    async def envelope(self, message_id: str) -> EnvelopeRecord | None:
        async with self.read_connection() as conn:
            return await _envelope(conn, message_id)

    async def deliveries(
        self, device_id: str, *, after: int, limit: int, include_acknowledged: bool
    ) -> list[DeliveryRecord]:
        """The device's deliveries with cursor > `after`, oldest first, at most `limit`."""
        query = _delivery_query().where(
            and_(
                deliveries.c.device_id == device_id,
                deliveries.c.cursor > after,
                envelopes.c.purged_at.is_(None),  # retention deleted the ciphertext
            )
        )
        if not include_acknowledged:
            query = query.where(deliveries.c.acknowledged_at.is_(None))
        query = query.order_by(deliveries.c.cursor).limit(limit)
        async with self.read_connection() as conn:
            return [_delivery_record(row) for row in await conn.execute(query)]

    async def delivery(self, device_id: str, message_id: str) -> DeliveryRecord | None:
        async with self.read_connection() as conn:
            return await _delivery(conn, device_id, message_id)

    async def stored_envelope_bytes(self) -> dict[str, int]:
        """Bytes of ciphertext still held, per sender device (one aggregate query)."""
        query = (
            select(envelopes.c.sender_device, func.sum(envelopes.c.size))
            .where(envelopes.c.purged_at.is_(None))
            .group_by(envelopes.c.sender_device)
        )
        if not self.postgres:
            # SQLite walks every envelope (purged ones too) by a sender index to group them
            # without a sort: 3.9 s at start with 2 million envelopes (bench/scale.py). Read
            # the live ones from their partial index (ix_envelopes_live_received_at), then
            # group: the cost follows the envelopes held, 20 times less there.
            live = (
                select(envelopes.c.sender_device, envelopes.c.size)
                .where(envelopes.c.purged_at.is_(None))
                .order_by(envelopes.c.received_at)
                .subquery()
            )
            query = select(live.c.sender_device, func.sum(live.c.size)).group_by(
                live.c.sender_device
            )
        async with self.read_connection() as conn:
            return {device: int(total) for device, total in await conn.execute(query)}


# --- writes (inside the group-commit writer's transaction) ---------------------------------


class MailboxWrites:
    """Reads and writes of `WriteTx` (liaison/store/repository.py) in the writer's batch.

    Envelopes and deliveries are the send path's rows: they are collected here and inserted
    by the writer once per batch; reads in the same batch see them through `envelopes` and
    `counters`.
    """

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write
    batch: Batch
    envelope_rows: list[dict[str, Any]]
    delivery_rows: list[dict[str, Any]]
    envelopes: dict[str, EnvelopeRecord]
    counters: dict[str, int]

    async def envelope(self, message_id: str) -> EnvelopeRecord | None:
        pending = self.envelopes.get(message_id) or self.batch.envelopes.get(message_id)
        return pending or await _envelope(self.conn, message_id)

    async def last_counter(self, sender_device: str) -> int | None:
        query = select(func.max(envelopes.c.counter)).where(
            envelopes.c.sender_device == sender_device
        )
        stored = (await self.conn.execute(query)).scalar()
        return self._with_pending_counter(sender_device, stored)

    def _with_pending_counter(self, sender: str, stored: int | None) -> int | None:
        known = [c for c in (stored, self.counters.get(sender), self.batch.counters.get(sender))]
        present = [c for c in known if c is not None]
        return max(present) if present else None

    async def send_precheck(
        self, *, message_id: str, sender_device: str, devices: Sequence[str]
    ) -> SendPrecheck:
        """Existing envelope of this id, the sender's last counter, which devices are revoked."""
        revoked: frozenset[str] = frozenset()
        read_ahead = self.batch.send_checks.get((message_id, sender_device))
        if read_ahead is not None:
            # Read with the batch's other sends (GroupCommitWriter._run_batch), plus the
            # revocations this batch's earlier jobs wrote since.
            row = tuple(read_ahead[2:7])
            named = set(devices)
            revoked = frozenset(named & (self.batch.checked_revoked | self.batch.revoked_now))
        elif not isinstance(self.conn, SyncConnection):
            driver = await self.batch.driver()
            row = await driver.fetchrow(_SEND_PRECHECK_PG, message_id, sender_device, list(devices))
            revoked = frozenset(row[5] + [d for d in devices if d in self.batch.revoked_now])
        else:
            marks = ",".join("?" * len(devices))
            row = self.conn.raw(
                _SEND_PRECHECK_QMARK.format(marks=marks),
                (message_id,) * 4 + (sender_device, *devices),
            ).fetchone()
        existing = self.envelopes.get(message_id) or self.batch.envelopes.get(message_id)
        if existing is None and row[0] is not None:
            existing = EnvelopeRecord(
                message_id, bytes(row[0]), sender_device, row[3], 0, row[1], row[2]
            )
        if isinstance(self.conn, SyncConnection) and row[5]:
            found = await self.conn.execute(
                select(revocations.c.device_id).where(revocations.c.device_id.in_(list(devices)))
            )
            revoked = frozenset(device for (device,) in found)
        return SendPrecheck(existing, self._with_pending_counter(sender_device, row[4]), revoked)

    def insert_envelope(
        self,
        *,
        message_id: str,
        envelope_hash: bytes,
        sender_device: str,
        counter: int,
        envelope: bytes,
        log_index: int,
        received_at: int,
        recipients: Sequence[str],
    ) -> None:
        """Store the envelope once and queue one delivery per recipient (at the batch's end)."""
        self.envelope_rows.append(
            {
                "message_id": message_id,
                "envelope_hash": envelope_hash,
                "sender_device": sender_device,
                "counter": counter,
                "envelope": envelope,
                "size": len(envelope),
                "log_index": log_index,
                "received_at": received_at,
            }
        )
        self.delivery_rows += [
            {"message_id": message_id, "device_id": device_id, "received_at": received_at}
            for device_id in recipients
        ]
        self.envelopes[message_id] = EnvelopeRecord(
            message_id, envelope_hash, sender_device, counter, len(envelope), log_index, received_at
        )
        self.counters[sender_device] = max(counter, self.counters.get(sender_device, counter))

    async def delivery(self, device_id: str, message_id: str) -> DeliveryRecord | None:
        return await _delivery(self.conn, device_id, message_id)

    async def acknowledge(
        self, *, device_id: str, message_id: str, log_index: int, at: int
    ) -> None:
        await self.execute_write(
            update(deliveries)
            .where(and_(deliveries.c.device_id == device_id, deliveries.c.message_id == message_id))
            .values(acknowledged_at=at, ack_log_index=log_index)
        )
