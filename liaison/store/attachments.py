"""Storage of attachment blobs' records: who uploaded each, and which envelopes declare it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select

from liaison.store.tables import blobs, deliveries, envelope_blobs, envelopes


@dataclass(frozen=True)
class BlobRecord:
    blob_id: str
    size: int
    uploader_device: str
    agency: str
    completed_at: int


def _blob(row: Any) -> BlobRecord:
    return BlobRecord(row.blob_id, row.size, row.uploader_device, row.agency, row.completed_at)


class AttachmentReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def blob(self, blob_id: str) -> BlobRecord | None:
        async with self.read_connection() as conn:
            row = (await conn.execute(select(blobs).where(blobs.c.blob_id == blob_id))).first()
            return None if row is None else _blob(row)

    async def agency_blob_bytes(self, agency: str) -> int:
        """Bytes of the agency's stored blobs: what counts against its quota."""
        query = select(func.coalesce(func.sum(blobs.c.size), 0)).where(blobs.c.agency == agency)
        async with self.read_connection() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def blob_parties(self, blob_id: str) -> set[str]:
        """Devices named by the envelopes (not purged) declaring `blob_id`: their senders and
        recipients. Supervisors of these devices' agencies may fetch too (the caller checks)."""
        live = and_(
            envelope_blobs.c.blob_id == blob_id,
            envelopes.c.message_id == envelope_blobs.c.message_id,
            envelopes.c.purged_at.is_(None),
        )
        async with self.read_connection() as conn:
            senders = await conn.execute(select(envelopes.c.sender_device).where(live))
            parties = {device for (device,) in senders}
            recipients = await conn.execute(
                select(deliveries.c.device_id).where(
                    and_(live, deliveries.c.message_id == envelope_blobs.c.message_id)
                )
            )
            parties.update(device for (device,) in recipients)
        return parties


class AttachmentWrites:
    """Reads and writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    execute_write: Any  # TxCore.execute_write
    dirty: bool  # TxCore.dirty
    will_write: Any  # TxCore.will_write

    async def insert_blob(
        self, *, blob_id: str, size: int, uploader_device: str, agency: str, at: int
    ) -> None:
        """Record a completed blob; the same content uploaded again keeps its first record."""
        found = await self.conn.execute(select(blobs.c.blob_id).where(blobs.c.blob_id == blob_id))
        if found.first() is None:
            await self.execute_write(
                insert(blobs).values(
                    blob_id=blob_id,
                    size=size,
                    uploader_device=uploader_device,
                    agency=agency,
                    completed_at=at,
                )
            )

    async def blobs_by_id(self, blob_ids: Iterable[str]) -> dict[str, BlobRecord]:
        ids = list(blob_ids)
        if not ids:
            return {}
        rows = await self.conn.execute(select(blobs).where(blobs.c.blob_id.in_(ids)))
        return {row.blob_id: _blob(row) for row in rows}

    async def declare_blobs(self, message_id: str, blob_ids: Iterable[str]) -> None:
        rows = [{"message_id": message_id, "blob_id": b} for b in sorted(set(blob_ids))]
        if rows:
            await self.will_write()
            await self.conn.execute(insert(envelope_blobs), rows)

    async def blobs_left_by_purge(self, message_id: str) -> list[str]:
        """Blobs the purged `message_id` declared that no unpurged envelope declares any more."""
        declared = select(envelope_blobs.c.blob_id).where(envelope_blobs.c.message_id == message_id)
        orphans = []
        for (blob_id,) in (await self.conn.execute(declared)).all():
            still = await self.conn.execute(
                select(func.count()).where(
                    and_(
                        envelope_blobs.c.blob_id == blob_id,
                        envelopes.c.message_id == envelope_blobs.c.message_id,
                        envelopes.c.purged_at.is_(None),
                    )
                )
            )
            if not still.scalar_one():
                orphans.append(blob_id)
        return orphans

    async def forget_undeclared_blobs(self, *, completed_before: int) -> list[str]:
        """Delete the records of blobs completed before `completed_before` that no envelope
        declares, in the writer's transaction (so no send can declare one meanwhile); the
        ids, whose files the caller deletes after the commit."""
        declared = select(envelope_blobs.c.blob_id)
        query = select(blobs.c.blob_id).where(
            and_(blobs.c.completed_at < completed_before, blobs.c.blob_id.not_in(declared))
        )
        stale = [blob_id for (blob_id,) in (await self.conn.execute(query)).all()]
        if stale:
            await self.execute_write(delete(blobs).where(blobs.c.blob_id.in_(stale)))
        return stale

    async def delete_blob_records(self, blob_id: str) -> None:
        """Forget a deleted blob: its record and its declarations (the envelopes stay)."""
        await self.execute_write(delete(envelope_blobs).where(envelope_blobs.c.blob_id == blob_id))
        await self.execute_write(delete(blobs).where(blobs.c.blob_id == blob_id))
