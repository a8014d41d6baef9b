"""The Merkle tree's full tiles (table `merkle_tiles`, C2SP tlog-tiles layout), written in the
transaction that completes them.

A tile of tile level L holds 256 hashes of tree level 8L: leaf hashes for L = 0, the roots of
256 tiles of level L-1 above. The writer calls `write_tiles` after a batch's log entries are
inserted, with the log size before and after: a tile is complete when the count of tree-level
8L nodes crosses a multiple of 256, which happens once every 256**(L+1) entries, and costs one
read of what it covers (256 leaf hashes, or 256 tiles of the level below). Nothing is kept in
memory, so every process sharing PostgreSQL writes the same tiles for the same log.
"""

from __future__ import annotations

from typing import Any

from crypto.merkle import HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, tile_root

# Leaves read per statement when filling many level-0 tiles (a repair or a migration).
LEAF_CHUNK = TILE_WIDTH * TILE_WIDTH

_LEAVES = {
    False: "SELECT leaf_hash FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
    True: "SELECT leaf_hash FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
}
_TILES = {
    False: "SELECT hashes FROM merkle_tiles WHERE level = $1 AND idx >= $2 AND idx < $3"
    " ORDER BY idx",
    True: "SELECT hashes FROM merkle_tiles WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
}
_INSERT = {
    False: "INSERT INTO merkle_tiles (level, idx, hashes) VALUES ($1, $2, $3)",
    True: "INSERT INTO merkle_tiles (level, idx, hashes) VALUES (?, ?, ?)",
}


class _Rows:
    """The batch's connection, whichever store: SQLite's raw cursor or PostgreSQL's asyncpg."""

    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self.sqlite = hasattr(batch.conn, "raw")

    async def fetch(self, which: dict[bool, str], *args: Any) -> list[bytes]:
        if self.sqlite:
            return [bytes(r[0]) for r in self.batch.conn.raw(which[True], args).fetchall()]
        driver = await self.batch.driver()
        return [bytes(r[0]) for r in await driver.fetch(which[False], *args)]

    async def insert(self, rows: list[tuple[int, int, bytes]]) -> None:
        if not rows:
            return
        if self.sqlite:
            self.batch.conn.raw_many(_INSERT[True], rows)
        else:
            await (await self.batch.driver()).executemany(_INSERT[False], rows)


def full_tiles(size: int, level: int) -> int:
    """The number of full tiles of tile level `level` in a tree of `size` leaves."""
    return size >> (TILE_HEIGHT * (level + 1))


async def write_tiles(
    batch: Any, old_size: int, new_size: int, have: list[int] | None = None
) -> int:
    """Insert the tiles completed between log sizes `old_size` and `new_size` (or, with `have`,
    every tile of level L from `have[L]` on: a repair); answer how many were written."""
    if have is None and old_size >> TILE_HEIGHT == new_size >> TILE_HEIGHT:
        return 0  # the common case: no tile completed, nothing read
    rows = _Rows(batch)
    written = 0
    level = 0
    while full_tiles(new_size, level):
        if have is not None:
            lo = have[level] if level < len(have) else 0
        else:
            lo = full_tiles(old_size, level)
        hi = full_tiles(new_size, level)
        step = LEAF_CHUNK // TILE_WIDTH if level == 0 else 1
        for first in range(lo, hi, step):
            last = min(hi, first + step)
            if level == 0:
                found = await rows.fetch(_LEAVES, first * TILE_WIDTH, last * TILE_WIDTH)
                joined = b"".join(found)
            else:
                below = await rows.fetch(_TILES, level - 1, first * TILE_WIDTH, last * TILE_WIDTH)
                joined = b"".join(tile_root(h) for h in below)
            width = TILE_WIDTH * HASH_SIZE
            if len(joined) != (last - first) * width:
                raise RuntimeError(
                    f"tiles of level {level} from {first}: what they cover is incomplete"
                )
            await rows.insert(
                [
                    (level, t, joined[(t - first) * width : (t - first + 1) * width])
                    for t in range(first, last)
                ]
            )
            written += last - first
        level += 1
    return written
