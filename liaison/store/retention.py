"""Storage of retention and legal hold (periods, case tags, holds, purges) and cosignatures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from liaison.store.repository import Store, WriteTx
from liaison.store.tables import (
    case_tags,
    cosignatures,
    deliveries,
    envelopes,
    legal_holds,
    retention_periods,
)


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


def _hold(row: Any) -> HoldRecord:
    return HoldRecord(
        row.agency, bytes(row.tag), row.placed_by, bytes(row.reason_hash), row.placed_at,
        row.log_index,
    )  # fmt: skip


# --- retention periods ----------------------------------------------------------------------


async def set_retention(tx: WriteTx, *, agency: str, days: int, log_index: int, at: int) -> None:
    await tx.execute_write(delete(retention_periods).where(retention_periods.c.agency == agency))
    await tx.execute_write(
        insert(retention_periods).values(
            agency=agency, days=days, log_index=log_index, updated_at=at
        )
    )


async def retention_days(store: Store) -> dict[str, int]:
    async with store.read_connection() as conn:
        rows = await conn.execute(select(retention_periods.c.agency, retention_periods.c.days))
        return {agency: int(days) for agency, days in rows}


# --- case tags and holds --------------------------------------------------------------------


async def insert_case_tags(tx: WriteTx, message_id: str, tags: Iterable[bytes]) -> None:
    rows = [{"message_id": message_id, "tag": tag} for tag in sorted(set(tags))]
    if rows:
        tx.dirty = True  # as WriteTx._write does: a failure after this undoes the batch
        await tx.conn.execute(insert(case_tags), rows)


async def case_tags_in_tx(tx: WriteTx, message_id: str) -> set[bytes]:
    query = select(case_tags.c.tag).where(case_tags.c.message_id == message_id)
    return {bytes(tag) for (tag,) in await tx.conn.execute(query)}


async def active_hold_in_tx(tx: WriteTx, agency: str, tag: bytes) -> HoldRecord | None:
    query = select(legal_holds).where(
        and_(
            legal_holds.c.agency == agency,
            legal_holds.c.tag == tag,
            legal_holds.c.released_at.is_(None),
        )
    )
    row = (await tx.conn.execute(query)).first()
    return None if row is None else _hold(row)


async def held_in_tx(tx: WriteTx, tags: Iterable[bytes]) -> bool:
    """Whether any active hold, of any agency, names one of `tags`."""
    tags = list(tags)
    if not tags:
        return False
    query = select(func.count()).where(
        and_(legal_holds.c.tag.in_(tags), legal_holds.c.released_at.is_(None))
    )
    return bool((await tx.conn.execute(query)).scalar_one())


async def insert_hold(
    tx: WriteTx,
    *,
    agency: str,
    tag: bytes,
    placed_by: str,
    reason_hash: bytes,
    log_index: int,
    at: int,
) -> None:
    await tx.execute_write(
        insert(legal_holds).values(
            agency=agency,
            tag=tag,
            placed_by=placed_by,
            reason_hash=reason_hash,
            placed_at=at,
            log_index=log_index,
        )
    )


async def release_hold(tx: WriteTx, *, agency: str, tag: bytes, log_index: int, at: int) -> None:
    await tx.execute_write(
        update(legal_holds)
        .where(
            and_(
                legal_holds.c.agency == agency,
                legal_holds.c.tag == tag,
                legal_holds.c.released_at.is_(None),
            )
        )
        .values(released_at=at, release_log_index=log_index)
    )


async def active_holds(store: Store, agency: str | None = None) -> list[HoldRecord]:
    query = select(legal_holds).where(legal_holds.c.released_at.is_(None))
    if agency is not None:
        query = query.where(legal_holds.c.agency == agency)
    async with store.read_connection() as conn:
        return [_hold(row) for row in await conn.execute(query.order_by(legal_holds.c.id))]


# --- purge ----------------------------------------------------------------------------------


async def envelopes_received_before(store: Store, before: int) -> list[StoredEnvelope]:
    """Envelopes still holding ciphertext that arrived before `before`, oldest first."""
    query = (
        select(
            envelopes.c.message_id,
            envelopes.c.envelope_hash,
            envelopes.c.sender_device,
            envelopes.c.log_index,
            envelopes.c.received_at,
        )
        .where(and_(envelopes.c.purged_at.is_(None), envelopes.c.received_at < before))
        .order_by(envelopes.c.log_index)
    )
    async with store.read_connection() as conn:
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
        )
        for row in rows
    ]


async def purge_envelope(tx: WriteTx, message_id: str, at: int) -> bool:
    """Drop the ciphertext (the row, its hash and log index stay); False if already purged."""
    result = await tx.execute_write(
        update(envelopes)
        .where(and_(envelopes.c.message_id == message_id, envelopes.c.purged_at.is_(None)))
        .values(envelope=b"", purged_at=at)
    )
    return bool(result.rowcount)


async def purged_count(store: Store) -> int:
    async with store.read_connection() as conn:
        query = select(func.count()).where(envelopes.c.purged_at.is_not(None))
        return int((await conn.execute(query)).scalar_one())


# --- witness cosignatures -------------------------------------------------------------------


async def put_cosignature(
    tx: WriteTx, *, size: int, witness: str, witness_key: bytes, line: str, at: int
) -> None:
    await tx.execute_write(
        delete(cosignatures).where(
            and_(cosignatures.c.size == size, cosignatures.c.witness == witness)
        )
    )
    await tx.execute_write(
        insert(cosignatures).values(
            size=size, witness=witness, witness_key=witness_key, line=line, created_at=at
        )
    )


async def cosignature_lines(store: Store, size: int) -> list[tuple[str, bytes, str]]:
    """(witness name, witness key, signature line) of the cosignatures held for `size`."""
    query = (
        select(cosignatures.c.witness, cosignatures.c.witness_key, cosignatures.c.line)
        .where(cosignatures.c.size == size)
        .order_by(cosignatures.c.witness)
    )
    async with store.read_connection() as conn:
        return [(name, bytes(key), line) for name, key, line in await conn.execute(query)]


async def latest_cosigned_size(store: Store) -> int | None:
    async with store.read_connection() as conn:
        size = (await conn.execute(select(func.max(cosignatures.c.size)))).scalar()
    return None if size is None else int(size)


async def witness_count(store: Store) -> int:
    async with store.read_connection() as conn:
        query = select(func.count(func.distinct(cosignatures.c.witness)))
        return int((await conn.execute(query)).scalar_one())
