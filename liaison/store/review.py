"""Storage of supervisor review: review-key wraps, an agency's traffic metadata, held envelopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, union

from liaison.store.tables import deliveries, envelopes, review_key_wraps, review_requests


@dataclass(frozen=True)
class ReviewKeyWrapRecord:
    device_id: str
    key_id: str
    agency: str
    wrap: bytes
    issued_at: int
    log_index: int


@dataclass(frozen=True)
class DeliveryState:
    device_id: str
    acknowledged_at: int | None


@dataclass(frozen=True)
class TrafficRecord:
    """Routing metadata of one envelope, as a supervisor may list it (no ciphertext)."""

    message_id: str
    sender_device: str
    size: int
    log_index: int
    received_at: int
    deliveries: tuple[DeliveryState, ...]


@dataclass(frozen=True)
class HeldEnvelope:
    message_id: str
    sender_device: str
    envelope: bytes
    log_index: int
    received_at: int
    recipients: tuple[str, ...]


# --- named queries ----------------------------------------------------------------------


def _wrap_record(row: Any) -> ReviewKeyWrapRecord:
    return ReviewKeyWrapRecord(
        row.device_id, row.key_id, row.agency, bytes(row.wrap), row.issued_at, row.log_index
    )


def _of_agency(column: Any, agency: str) -> Any:
    # Device ids are `<agency>:<officer>:<suffix>` and agency codes hold no LIKE wildcards.
    return column.like(agency + ":%")


def _delivered_to(prefix: str) -> Any:
    """The envelope has a delivery to a device id starting with `prefix` (no wildcards).

    A scalar subquery, checked per envelope through ix_deliveries_message_device: PostgreSQL
    may turn an EXISTS under OR into a hashed set of every matching delivery (an officer's or
    an agency's whole history, the cost that grew with the log), never a scalar subquery."""
    recipient = deliveries.alias("recipient")
    matches = (
        select(func.count())
        .where(
            and_(
                recipient.c.message_id == envelopes.c.message_id,
                recipient.c.device_id.like(prefix + "%"),
            )
        )
        .scalar_subquery()
    )
    return matches > 0


# The device ids with a prefix, one index seek each: from the prefix, the next id above the last
# found and below the prefix's upper bound (ids compare byte by byte: SQLite's BINARY, the "C"
# collation of revision 0010 on PostgreSQL). Over deliveries (recipients) and envelopes
# (senders), so an officer's devices are found whatever the length of their history.
_DEVICES_WITH_PREFIX = text(
    "WITH RECURSIVE"
    " r(d) AS ("
    "  SELECT (SELECT device_id FROM deliveries WHERE device_id >= :lo AND device_id < :hi"
    "   ORDER BY device_id LIMIT 1)"
    "  UNION ALL"
    "  SELECT (SELECT device_id FROM deliveries WHERE device_id > r.d AND device_id < :hi"
    "   ORDER BY device_id LIMIT 1) FROM r WHERE r.d IS NOT NULL"
    " ),"
    " s(d) AS ("
    "  SELECT (SELECT sender_device FROM envelopes WHERE sender_device >= :lo"
    "   AND sender_device < :hi ORDER BY sender_device LIMIT 1)"
    "  UNION ALL"
    "  SELECT (SELECT sender_device FROM envelopes WHERE sender_device > s.d"
    "   AND sender_device < :hi ORDER BY sender_device LIMIT 1) FROM s WHERE s.d IS NOT NULL"
    " )"
    " SELECT d FROM r WHERE d IS NOT NULL UNION SELECT d FROM s WHERE d IS NOT NULL"
)


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    """[lo, hi): the strings starting with `prefix` under a byte-wise order."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _sent_or_received_by(devices: list[str], start: int | None, end: int | None) -> Any:
    """Message ids sent by or delivered to one of `devices` in [start, end): one range of
    ix_envelopes_sender_received and of ix_deliveries_device_received per device."""
    sent = select(envelopes.c.message_id).where(
        envelopes.c.sender_device.in_(bindparam("devices", devices, expanding=True))
    )
    received = select(deliveries.c.message_id).where(
        deliveries.c.device_id.in_(bindparam("devices", devices, expanding=True))
    )
    if start is not None:
        sent = sent.where(envelopes.c.received_at >= start)
        received = received.where(deliveries.c.received_at >= start)
    if end is not None:
        sent = sent.where(envelopes.c.received_at < end)
        received = received.where(deliveries.c.received_at < end)
    return union(sent, received)


async def _held_envelope(conn: Any, message_id: str) -> HeldEnvelope | None:
    row = (
        await conn.execute(
            select(
                envelopes.c.message_id,
                envelopes.c.sender_device,
                envelopes.c.envelope,
                envelopes.c.log_index,
                envelopes.c.received_at,
            ).where(envelopes.c.message_id == message_id)
        )
    ).first()
    if row is None:
        return None
    recipients = await conn.execute(
        select(deliveries.c.device_id)
        .where(deliveries.c.message_id == message_id)
        .order_by(deliveries.c.device_id)
    )
    return HeldEnvelope(
        row.message_id,
        row.sender_device,
        bytes(row.envelope),
        row.log_index,
        row.received_at,
        tuple(r.device_id for r in recipients),
    )


# --- the store's reads (pooled read connections) -------------------------------------------


class ReviewReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def held_envelope(self, message_id: str) -> HeldEnvelope | None:
        """The envelope (ciphertext, empty once purged) and its recipient devices."""
        async with self.read_connection() as conn:
            return await _held_envelope(conn, message_id)

    async def wraps_for_device(self, device_id: str) -> list[ReviewKeyWrapRecord]:
        query = (
            select(review_key_wraps)
            .where(review_key_wraps.c.device_id == device_id)
            .order_by(review_key_wraps.c.log_index)
        )
        async with self.read_connection() as conn:
            return [_wrap_record(row) for row in await conn.execute(query)]

    async def agency_traffic(
        self,
        agency: str,
        *,
        officer_prefix: str | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[TrafficRecord]:
        """Envelopes sent by a device of `agency` or delivered to one, oldest first.

        `officer_prefix` (`<agency>:<officer>:`) keeps those the officer sent or received;
        `start <= received_at < end` bounds the time.
        """
        # An officer's list starts from the officer's devices (a few index seeks) and reads
        # each one's rows of the period (revision 0010): the work follows the officer's rows,
        # not the period's traffic (checking every envelope of a month cost 2.35 times more at
        # 2 million entries than in a small store, issue 17 §3). An agency's list checks each
        # envelope of the period (ix_envelopes_received_at): sender by prefix on the row,
        # recipients through ix_deliveries_message_device. The former `message_id IN (every
        # delivery of the agency)` read the agency's whole history for a day's page.
        conditions = []
        async with self.read_connection() as conn:
            if officer_prefix is not None:
                lo, hi = _prefix_bounds(officer_prefix)
                found = await conn.execute(_DEVICES_WITH_PREFIX, {"lo": lo, "hi": hi})
                devices = sorted(r.d for r in found)
                if not devices:
                    return []
                conditions.append(
                    envelopes.c.message_id.in_(_sent_or_received_by(devices, start, end))
                )
                # The period bounds the devices' rows already: bounding the envelopes too would
                # let SQLite's planner walk the period's envelopes by ix_envelopes_received_at
                # and probe the set for each (6 times the small store's cost at 10 million
                # entries), where the set's few hundred ids are primary-key lookups.
                start = end = None
            return await self._traffic_page(
                conn, agency, officer_prefix, start, end, limit, conditions
            )

    async def _traffic_page(
        self,
        conn: Any,
        agency: str,
        officer_prefix: str | None,
        start: int | None,
        end: int | None,
        limit: int,
        conditions: list[Any],
    ) -> list[TrafficRecord]:
        if officer_prefix is None or not officer_prefix.startswith(agency + ":"):
            # (An officer of the agency implies the agency: one check per envelope, not two.)
            conditions.append(
                or_(_of_agency(envelopes.c.sender_device, agency), _delivered_to(agency + ":"))
            )
        if start is not None:
            conditions.append(envelopes.c.received_at >= start)
        if end is not None:
            conditions.append(envelopes.c.received_at < end)
        query = (
            select(
                envelopes.c.message_id,
                envelopes.c.sender_device,
                envelopes.c.size,
                envelopes.c.log_index,
                envelopes.c.received_at,
            )
            .where(and_(*conditions))
            .order_by(envelopes.c.log_index)
            .limit(limit)
        )
        rows = (await conn.execute(query)).all()
        ids = [r.message_id for r in rows]
        states: dict[str, list[DeliveryState]] = {i: [] for i in ids}
        if ids:
            found = await conn.execute(
                select(
                    deliveries.c.message_id,
                    deliveries.c.device_id,
                    deliveries.c.acknowledged_at,
                )
                .where(deliveries.c.message_id.in_(ids))
                .order_by(deliveries.c.device_id)
            )
            for d in found:
                states[d.message_id].append(DeliveryState(d.device_id, d.acknowledged_at))
        return [
            TrafficRecord(
                r.message_id,
                r.sender_device,
                r.size,
                r.log_index,
                r.received_at,
                tuple(states[r.message_id]),
            )
            for r in rows
        ]


# --- writes (inside the group-commit writer's transaction) ---------------------------------


class ReviewWrites:
    """Reads and writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write

    async def review_key_wrap(self, device_id: str, key_id: str) -> ReviewKeyWrapRecord | None:
        """The wrap of review key `key_id` held for `device_id`, if any."""
        query = select(review_key_wraps).where(
            and_(review_key_wraps.c.device_id == device_id, review_key_wraps.c.key_id == key_id)
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _wrap_record(row)

    async def review_request_honoured(
        self, *, device_id: str, message_id: str, requested_at: int, reason_hash: bytes
    ) -> bool:
        """Whether this very review request was honoured before (checked in the transaction that
        would log it; the primary key backs the check)."""
        seen = select(review_requests.c.log_index).where(
            and_(
                review_requests.c.device_id == device_id,
                review_requests.c.message_id == message_id,
                review_requests.c.requested_at == requested_at,
                review_requests.c.reason_hash == reason_hash,
            )
        )
        return (await self.conn.execute(seen)).first() is not None

    async def record_review_request(
        self,
        *,
        device_id: str,
        message_id: str,
        requested_at: int,
        reason_hash: bytes,
        log_index: int,
    ) -> None:
        """Remember a honoured review request (see `review_request_honoured`)."""
        await self.execute_write(
            insert(review_requests).values(
                device_id=device_id,
                message_id=message_id,
                requested_at=requested_at,
                reason_hash=reason_hash,
                log_index=log_index,
            )
        )

    async def put_wrap(
        self,
        *,
        device_id: str,
        key_id: str,
        agency: str,
        wrap: bytes,
        wrap_hash: bytes,
        issued_at: int,
        log_index: int,
        at: int,
    ) -> None:
        """Store (or replace) the wrap of review key `key_id` for `device_id`."""
        await self.execute_write(
            delete(review_key_wraps).where(
                and_(review_key_wraps.c.device_id == device_id, review_key_wraps.c.key_id == key_id)
            )
        )
        await self.execute_write(
            insert(review_key_wraps).values(
                device_id=device_id,
                key_id=key_id,
                agency=agency,
                wrap=wrap,
                wrap_hash=wrap_hash,
                issued_at=issued_at,
                log_index=log_index,
                created_at=at,
            )
        )
