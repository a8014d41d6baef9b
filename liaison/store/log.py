"""Log storage: the Merkle log's entries and head, and witness cosignatures on checkpoints.

Entries are appended by the group-commit writer (`TxCore.append_log`, liaison/store/writer.py),
which also moves the log head, so that every process sees one order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, insert, select

from liaison.store.records import LogEntryRecord
from liaison.store.tables import cosignatures, log_entries, log_head


class LogReads:
    """Reads of `Store` (liaison/store/repository.py), each on a pooled read connection."""

    read_connection: Any  # Store.read_connection

    async def log_size(self) -> int:
        query = select(log_head.c.size).where(log_head.c.id == 1)
        async with self.read_connection() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def leaf_hashes(self, start: int, end: int | None = None) -> list[bytes]:
        """Leaf hashes of entries start ≤ index < end, in index order."""
        query = select(log_entries.c.leaf_hash).where(log_entries.c.idx >= start)
        if end is not None:
            query = query.where(log_entries.c.idx < end)
        async with self.read_connection() as conn:
            return [bytes(h) for (h,) in await conn.execute(query.order_by(log_entries.c.idx))]

    async def log_entries(self, start: int, end: int) -> list[LogEntryRecord]:
        query = (
            select(log_entries)
            .where(and_(log_entries.c.idx >= start, log_entries.c.idx < end))
            .order_by(log_entries.c.idx)
        )
        async with self.read_connection() as conn:
            return [
                LogEntryRecord(row.idx, bytes(row.data), bytes(row.leaf_hash))
                for row in await conn.execute(query)
            ]

    async def cosignature_lines(self, size: int) -> list[tuple[str, bytes, str]]:
        """(witness name, witness key, signature line) of the cosignatures held for `size`."""
        query = (
            select(cosignatures.c.witness, cosignatures.c.witness_key, cosignatures.c.line)
            .where(cosignatures.c.size == size)
            .order_by(cosignatures.c.witness)
        )
        async with self.read_connection() as conn:
            return [(name, bytes(key), line) for name, key, line in await conn.execute(query)]

    async def latest_cosigned_size(self) -> int | None:
        async with self.read_connection() as conn:
            size = (await conn.execute(select(func.max(cosignatures.c.size)))).scalar()
        return None if size is None else int(size)

    async def witness_count(self) -> int:
        async with self.read_connection() as conn:
            query = select(func.count(func.distinct(cosignatures.c.witness)))
            return int((await conn.execute(query)).scalar_one())


class LogWrites:
    """Writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    execute_write: Any  # TxCore.execute_write

    async def put_cosignature(
        self, *, size: int, witness: str, witness_key: bytes, line: str, at: int
    ) -> None:
        """Store (or replace) the witness's cosignature line on the checkpoint of `size`."""
        await self.execute_write(
            delete(cosignatures).where(
                and_(cosignatures.c.size == size, cosignatures.c.witness == witness)
            )
        )
        await self.execute_write(
            insert(cosignatures).values(
                size=size, witness=witness, witness_key=witness_key, line=line, created_at=at
            )
        )
