"""Log storage: the Merkle log's entries and head, and witness cosignatures on checkpoints.

Entries are appended by the group-commit writer (`TxCore.append_log`, liaison/store/writer.py),
which also moves the log head, so that every process sees one order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select

from liaison.store.records import LogEntryRecord
from liaison.store.tables import cosignatures, log_entries, log_head, merkle_tiles, witnesses
from liaison.store.tiles import write_tiles


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

    async def log_size_and_tiles(self) -> tuple[int, dict[int, int]]:
        """The log size and, per tile level, how many full tiles are stored (one snapshot)."""
        counts = select(merkle_tiles.c.level, func.count()).group_by(merkle_tiles.c.level)
        async with self.read_connection() as conn, conn.begin():
            size = (
                await conn.execute(select(log_head.c.size).where(log_head.c.id == 1))
            ).scalar_one()
            return int(size), {int(level): int(n) for level, n in await conn.execute(counts)}

    async def tiles(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored full tiles among `keys` (tile level, tile index)."""
        by_level: dict[int, set[int]] = {}
        for level, index in keys:
            by_level.setdefault(level, set()).add(index)
        if not by_level:
            return {}
        query = select(merkle_tiles).where(
            or_(
                *(
                    and_(merkle_tiles.c.level == level, merkle_tiles.c.idx.in_(sorted(indexes)))
                    for level, indexes in sorted(by_level.items())
                )
            )
        )
        async with self.read_connection() as conn:
            return {(row.level, row.idx): bytes(row.hashes) for row in await conn.execute(query)}

    async def tile_range(self, level: int, start: int, end: int) -> list[bytes]:
        """The full tiles start ≤ index < end of tile level `level`, in index order."""
        query = (
            select(merkle_tiles.c.hashes)
            .where(
                and_(
                    merkle_tiles.c.level == level,
                    merkle_tiles.c.idx >= start,
                    merkle_tiles.c.idx < end,
                )
            )
            .order_by(merkle_tiles.c.idx)
        )
        async with self.read_connection() as conn:
            return [bytes(h) for (h,) in await conn.execute(query)]

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

    async def newest_cosignatures(self) -> list[tuple[str, bytes, int, str]]:
        """(witness name, witness key, size, signature line): the newest cosignature of each
        registered witness key."""
        query = select(
            cosignatures.c.witness,
            cosignatures.c.witness_key,
            cosignatures.c.size,
            cosignatures.c.line,
        ).order_by(cosignatures.c.witness, cosignatures.c.witness_key)
        async with self.read_connection() as conn:
            return [
                (name, bytes(key), int(size), line)
                for name, key, size, line in await conn.execute(query)
            ]

    async def witness_registered(self, name: str, key: bytes) -> bool:
        query = select(witnesses.c.name).where(
            and_(witnesses.c.name == name, witnesses.c.witness_key == key)
        )
        async with self.read_connection() as conn:
            return (await conn.execute(query)).first() is not None

    async def registered_witnesses(self) -> list[tuple[str, bytes, int]]:
        """(name, key, added_at) of every witness the operator registered."""
        query = select(witnesses).order_by(witnesses.c.name, witnesses.c.witness_key)
        async with self.read_connection() as conn:
            return [
                (row.name, bytes(row.witness_key), int(row.added_at))
                for row in await conn.execute(query)
            ]


class LogWrites:
    """Writes of `WriteTx` (liaison/store/repository.py) in the writer's batch."""

    conn: Any  # TxCore.conn
    batch: Any  # TxCore.batch
    dirty: bool  # TxCore.dirty
    execute_write: Any  # TxCore.execute_write

    async def repair_tiles(self) -> int:
        """Write every missing full tile of the log as it is in this transaction; answer how
        many. For a log whose tiles were not kept (entries written by hand, or restored without
        them); the migration fills them for an existing log."""
        counts = select(merkle_tiles.c.level, func.count()).group_by(merkle_tiles.c.level)
        have = dict(iter((await self.conn.execute(counts)).all()))
        size = int((await self.conn.execute(select(log_head.c.size))).scalar_one())
        self.dirty = True
        return await write_tiles(self.batch, size, size, [int(have.get(lv, 0)) for lv in range(8)])

    async def put_cosignature(
        self, *, size: int, witness: str, witness_key: bytes, line: str, at: int
    ) -> bool:
        """Keep the witness key's cosignature on the checkpoint of `size` unless it holds one on
        a larger tree already (the newest per witness is served); False when kept the old."""
        key_matches = and_(
            cosignatures.c.witness == witness, cosignatures.c.witness_key == witness_key
        )
        held = (await self.conn.execute(select(cosignatures.c.size).where(key_matches))).first()
        if held is not None and held.size > size:
            return False
        await self.execute_write(delete(cosignatures).where(key_matches))
        await self.execute_write(
            insert(cosignatures).values(
                size=size, witness=witness, witness_key=witness_key, line=line, created_at=at
            )
        )
        return True

    async def add_witness(self, *, name: str, witness_key: bytes, at: int) -> bool:
        """Register a witness key; False when it was registered already."""
        query = select(witnesses.c.name).where(
            and_(witnesses.c.name == name, witnesses.c.witness_key == witness_key)
        )
        if (await self.conn.execute(query)).first() is not None:
            return False
        await self.execute_write(
            insert(witnesses).values(name=name, witness_key=witness_key, added_at=at)
        )
        return True

    async def remove_witness(self, *, name: str, witness_key: bytes) -> bool:
        """Unregister a witness key and drop its cosignature; False when it was not registered."""
        match = and_(witnesses.c.name == name, witnesses.c.witness_key == witness_key)
        if (await self.conn.execute(select(witnesses.c.name).where(match))).first() is None:
            return False
        await self.execute_write(delete(witnesses).where(match))
        await self.execute_write(
            delete(cosignatures).where(
                and_(cosignatures.c.witness == name, cosignatures.c.witness_key == witness_key)
            )
        )
        return True
