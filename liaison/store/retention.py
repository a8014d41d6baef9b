"""Storage of retention and legal hold: per-agency periods, case tags, holds and purges."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from liaison.store.tables import (
    case_tags,
    deliveries,
    envelopes,
    legal_holds,
    retention_periods,
)

PURGE_SLICE = 1000  # envelopes per slice of the retention purge


@dataclass(frozen=True)
class HoldRecord:
    agency: str
    tag: bytes
    placed_by: str
    reason_hash: bytes
    placed_at: int
    log_index: int


@dataclass(frozen=True)
class StoredEnvelope:
    """What the purge job needs to decide on one envelope whose ciphertext is still held."""

    message_id: str
    envelope_hash: bytes
    sender_device: str
    log_index: int
    received_at: int
    recipients: tuple[str, ...]
    tags: frozenset[bytes]
    size: int = 0  # bytes of ciphertext, freed from the sender agency's quota when purged


def _hold(row: Any) -> HoldRecord:
    return HoldRecord(
        row.agency, bytes(row.tag), row.placed_by, bytes(row.reason_hash), row.placed_at,
        row.log_index,
    )  # fmt: skip


def _active_hold(agency: str, tag: bytes) -> Any:
    return and_(
        legal_holds.c.agency == agency,
        legal_holds.c.tag == tag,
        legal_holds.c.released_at.is_(None),
    )


# --- the store's reads (pooled read connections) -------------------------------------------


class RetentionReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def retention_days(self) -> dict[str, int]:
        """Every agency's retention period in days (agencies without one are absent)."""
        async with self.read_connection() as conn:
            rows = await conn.execute(select(retention_periods.c.agency, retention_periods.c.days))
            return {agency: int(days) for agency, days in rows}

    async def active_holds(self, agency: str | None = None) -> list[HoldRecord]:
        """The holds in place, of `agency` or of every agency, oldest first."""
        query = select(legal_holds).where(legal_holds.c.released_at.is_(None))
        if agency is not None:
            query = query.where(legal_holds.c.agency == agency)
        async with self.read_connection() as conn:
            return [_hold(row) for row in await conn.execute(query.order_by(legal_holds.c.id))]

    async def envelopes_received_before(
        self, before: int, *, after: tuple[int, str] | None = None, limit: int = PURGE_SLICE
    ) -> list[StoredEnvelope]:
        """Envelopes still holding ciphertext that arrived before `before`, oldest first (by
        arrival, then message id), at most `limit`, from after `after` = (received_at,
        message_id) of the previous slice's last. Sliced so that the recipients' and tags'
        queries stay far below PostgreSQL's 32,767 bind parameters, and served by the partial
        index of live envelopes (revision 0008)."""
        conditions = [envelopes.c.purged_at.is_(None), envelopes.c.received_at < before]
        if after is not None:
            conditions.append(
                or_(
                    envelopes.c.received_at > after[0],
                    and_(envelopes.c.received_at == after[0], envelopes.c.message_id > after[1]),
                )
            )
        query = (
            select(
                envelopes.c.message_id,
                envelopes.c.envelope_hash,
                envelopes.c.sender_device,
                envelopes.c.log_index,
                envelopes.c.received_at,
                envelopes.c.size,
            )
            .where(and_(*conditions))
            .order_by(envelopes.c.received_at, envelopes.c.message_id)
            .limit(limit)
        )
        async with self.read_connection() as conn:
            rows = (await conn.execute(query)).all()
            ids = [row.message_id for row in rows]
            recipients: dict[str, list[str]] = {}
            tags: dict[str, set[bytes]] = {}
            if ids:
                found = await conn.execute(
                    select(deliveries.c.message_id, deliveries.c.device_id).where(
                        deliveries.c.message_id.in_(ids)
                    )
                )
                for message_id, device_id in found:
                    recipients.setdefault(message_id, []).append(device_id)
                found = await conn.execute(
                    select(case_tags.c.message_id, case_tags.c.tag).where(
                        case_tags.c.message_id.in_(ids)
                    )
                )
                for message_id, tag in found:
                    tags.setdefault(message_id, set()).add(bytes(tag))
        return [
            StoredEnvelope(
                row.message_id,
                bytes(row.envelope_hash),
                row.sender_device,
                row.log_index,
                row.received_at,
                tuple(sorted(recipients.get(row.message_id, ()))),
                frozenset(tags.get(row.message_id, ())),
                row.size,
            )
            for row in rows
        ]

    async def purged_count(self) -> int:
        async with self.read_connection() as conn:
            query = select(func.count()).where(envelopes.c.purged_at.is_not(None))
            return int((await conn.execute(query)).scalar_one())


# --- writes (inside the group-commit writer's transaction) ---------------------------------


class RetentionWrites:
    """Reads and writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write
    dirty: bool  # TxCore.dirty
    will_write: Any  # TxCore.will_write

    async def set_retention(self, *, agency: str, days: int, log_index: int, at: int) -> None:
        await self.execute_write(
            delete(retention_periods).where(retention_periods.c.agency == agency)
        )
        await self.execute_write(
            insert(retention_periods).values(
                agency=agency, days=days, log_index=log_index, updated_at=at
            )
        )

    async def insert_case_tags(self, message_id: str, tags: Iterable[bytes]) -> None:
        rows = [{"message_id": message_id, "tag": tag} for tag in sorted(set(tags))]
        if rows:
            await self.will_write()
            await self.conn.execute(insert(case_tags), rows)

    async def message_case_tags(self, message_id: str) -> set[bytes]:
        query = select(case_tags.c.tag).where(case_tags.c.message_id == message_id)
        return {bytes(tag) for (tag,) in await self.conn.execute(query)}

    async def active_hold(self, agency: str, tag: bytes) -> HoldRecord | None:
        """The agency's hold in place on `tag`, if any."""
        row = (
            await self.conn.execute(select(legal_holds).where(_active_hold(agency, tag)))
        ).first()
        return None if row is None else _hold(row)

    async def tags_held(self, tags: Iterable[bytes]) -> bool:
        """Whether any active hold, of any agency, names one of `tags`."""
        tags = list(tags)
        if not tags:
            return False
        query = select(func.count()).where(
            and_(legal_holds.c.tag.in_(tags), legal_holds.c.released_at.is_(None))
        )
        return bool((await self.conn.execute(query)).scalar_one())

    async def held_tags(self, tags: Iterable[bytes]) -> set[bytes]:
        """Which of `tags` an active hold, of any agency, names (one query per 1000 tags)."""
        tags = sorted(set(tags))
        held: set[bytes] = set()
        for i in range(0, len(tags), PURGE_SLICE):
            query = select(legal_holds.c.tag).where(
                and_(
                    legal_holds.c.tag.in_(tags[i : i + PURGE_SLICE]),
                    legal_holds.c.released_at.is_(None),
                )
            )
            held |= {bytes(tag) for (tag,) in await self.conn.execute(query)}
        return held

    async def purge_envelopes(self, message_ids: list[str], at: int) -> set[str]:
        """Drop the ciphertext of these envelopes (rows, hashes and log indexes stay), one
        statement per 1000; answer those purged now (not those purged already)."""
        purged: set[str] = set()
        for i in range(0, len(message_ids), PURGE_SLICE):
            result = await self.execute_write(
                update(envelopes)
                .where(
                    and_(
                        envelopes.c.message_id.in_(message_ids[i : i + PURGE_SLICE]),
                        envelopes.c.purged_at.is_(None),
                    )
                )
                .values(envelope=b"", purged_at=at)
                .returning(envelopes.c.message_id)
            )
            purged |= {message_id for (message_id,) in result}
        return purged

    async def insert_hold(
        self,
        *,
        agency: str,
        tag: bytes,
        placed_by: str,
        reason_hash: bytes,
        log_index: int,
        at: int,
    ) -> None:
        await self.execute_write(
            insert(legal_holds).values(
                agency=agency,
                tag=tag,
                placed_by=placed_by,
                reason_hash=reason_hash,
                placed_at=at,
                log_index=log_index,
            )
        )

    async def release_hold(self, *, agency: str, tag: bytes, log_index: int, at: int) -> None:
        await self.execute_write(
            update(legal_holds)
            .where(_active_hold(agency, tag))
            .values(released_at=at, release_log_index=log_index)
        )

    async def purge_envelope(self, message_id: str, at: int) -> bool:
        """Drop the ciphertext (the row, its hash and log index stay); False if already purged."""
        result = await self.execute_write(
            update(envelopes)
            .where(and_(envelopes.c.message_id == message_id, envelopes.c.purged_at.is_(None)))
            .values(envelope=b"", purged_at=at)
        )
        return bool(result.rowcount)
