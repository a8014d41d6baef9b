"""The server's view of the Merkle log: the tree as tiles in the database, checkpoints.

The tree is not held in memory. Full tiles (256 hashes of one tree level, C2SP tlog-tiles
layout) are rows of `merkle_tiles`, written in the transaction that completes them
(liaison/store/tiles.py); the relay keeps only the right edge (`TileEdge`, at most 255 hashes
per tile level) and a small cache of recently read tiles. At start it reads the log's tail and
the full tiles under the edge, a few hundred rows whatever the size of the log, so start time
and memory do not grow with it. Roots and proofs are crypto/merkle.py's pure functions over the
nodes: first the nodes a proof needs are named (`nodes_needed`), then fetched (the edge and the
cache, then the missing tiles in one query), then the proof is computed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TypeVar

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.errors import ProofError
from crypto.log_entries import LogEntry
from crypto.merkle import (
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    MerkleTree,
    NodeHash,
    TileEdge,
    consistency_path,
    inclusion_path,
    leaf_hash,
    nodes_needed,
    tile_of,
    tile_root,
    tree_root,
)
from liaison.server.identity import ServerIdentity
from liaison.store import Store, WriteTx
from liaison.store.records import LogEntryRecord

T = TypeVar("T")

TILE_CACHE = 256
"""Full tiles kept in memory, most recently used (about 16 KiB each with their inner nodes)."""


def _tile_tree(hashes: bytes) -> MerkleTree:
    return MerkleTree(hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE))


class TreeView:
    """The nodes fetched for some proofs at one tree size: answers them synchronously.

    What `TransparencyLog.view` returns: a handler fetches once, then formats many proofs.
    Asking for a proof whose nodes were not fetched raises KeyError.
    """

    def __init__(self, size: int, nodes: dict[tuple[int, int], bytes]) -> None:
        self.size = size
        self._nodes = nodes

    def _node(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]

    def _resolve(self, size: int | None) -> int:
        if size is None:
            return self.size
        if size > self.size:
            raise ProofError(f"tree size {size} exceeds the log size {self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        return tree_root(self._resolve(size), self._node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_path(index, self._resolve(size), self._node)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_path(old_size, self._resolve(new_size), self._node)

    def leaf_hash_at(self, index: int) -> bytes:
        return self._node(0, index)


class TransparencyLog:
    """Appends go through the store (one order for every process); proofs come from tiles.

    The edge is caught up from the database before answering, since another process sharing
    PostgreSQL may have appended (its writer stored the tiles it completed).
    """

    def __init__(self, store: Store, identity: ServerIdentity) -> None:
        self.store = store
        self.identity = identity
        self._edge = TileEdge()
        self._tiles: OrderedDict[tuple[int, int], MerkleTree] = OrderedDict()
        self._signed: tuple[int, str] | None = None
        store.add_commit_listener(self._committed)

    @property
    def size(self) -> int:
        """The number of leaves the relay knows of (see `catch_up`)."""
        return self._edge.size

    async def load(self) -> None:
        """Rebuild the right edge from the database: the log's tail, and the roots of the full
        tiles under each partial tile (fewer than 256 per level). Missing tiles (a log
        written without them) are written first."""
        size, counts = await self.store.log_size_and_tiles()
        have = [counts.get(level, 0) for level in range(8)]
        expected = [size >> (TILE_HEIGHT * (level + 1)) for level in range(8)]
        if have != expected:
            await self.store.write(lambda tx: tx.repair_tiles())
            size, counts = await self.store.log_size_and_tiles()
        partial: list[list[bytes]] = []
        level = 0
        while size >> (TILE_HEIGHT * level):
            count = size >> (TILE_HEIGHT * level)  # nodes of tree level 8·level
            first = count - count % TILE_WIDTH
            if level == 0:
                partial.append(await self.store.leaf_hashes(first, count))
            else:
                below = await self.store.tile_range(level - 1, first, count)
                partial.append([tile_root(h) for h in below])
            level += 1
        self._edge = TileEdge(size, partial)
        self._tiles.clear()

    def _committed(self, entries: list[LogEntryRecord]) -> None:
        # Our own batch: append directly when it follows on; otherwise `catch_up` reads the DB.
        for entry in entries:
            if entry.index == self._edge.size:
                self._edge.append(entry.leaf_hash)

    async def catch_up(self, needed: int | None = None) -> int:
        """Bring the edge up to the database (or at least to `needed` leaves); answer its size."""
        if needed is not None and self._edge.size >= needed and not self.store.postgres:
            return self._edge.size
        start = self._edge.size
        for offset, h in enumerate(await self.store.leaf_hashes(start)):
            if start + offset == self._edge.size:
                self._edge.append(h)
        return self._edge.size

    @staticmethod
    def encode(entry: LogEntry) -> tuple[bytes, bytes]:
        """The entry's leaf data (crypto/log_entries.py) and its leaf hash."""
        data = entry.encode()
        return data, leaf_hash(data)

    async def append(self, tx: WriteTx, entry: LogEntry) -> int:
        data, h = self.encode(entry)
        return await tx.append_log(data, h, at=entry.at)

    def checkpoint(self) -> tuple[int, str]:
        """The signed note for the tree as it is now, and its size (signed once per size).

        The root of the current size needs only the edge (every peak of the tree lies in a
        partial tile), so this reads nothing."""
        edge = self._edge
        size = edge.size
        if self._signed is None or self._signed[0] != size:
            note = sign_checkpoint(
                Checkpoint(
                    origin=self.identity.origin, size=size, root_hash=tree_root(size, edge.node)
                ),
                key_name=self.identity.key_name,
                signing_key=self.identity.signing_key,
            )
            self._signed = (size, note)
        return size, self._signed[1]

    # --- proofs from tiles -------------------------------------------------------------------

    def _size(self, size: int | None, what: str = "tree size") -> int:
        if size is None:
            return self._edge.size
        if not isinstance(size, int) or size < 0:
            raise ProofError(f"{what} must be a non-negative int")
        if size > self._edge.size:
            raise ProofError(f"{what} {size} exceeds the log size {self._edge.size}")
        return size

    async def _nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The hashes of complete nodes: from the edge, the tile cache, then the database."""
        edge = self._edge.snapshot()  # answers for its size whatever is appended meanwhile
        found: dict[tuple[int, int], bytes] = {}
        wanted: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
        for level, index in keys:
            tile_level, tile_index, row, offset = tile_of(level, index)
            if tile_index >= edge.full_tiles(tile_level):
                found[(level, index)] = edge.node(level, index)
                continue
            tile = self._tiles.get((tile_level, tile_index))
            if tile is None:
                wanted.setdefault((tile_level, tile_index), []).append((level, index, row, offset))
                continue
            self._tiles.move_to_end((tile_level, tile_index))
            found[(level, index)] = tile.node(row, offset)
        if wanted:
            fetched = await self.store.tiles(wanted)
            for key, nodes in wanted.items():
                if key not in fetched:
                    raise RuntimeError(f"tile {key} of the Merkle tree is missing from the store")
                tile = _tile_tree(fetched[key])
                self._tiles[key] = tile
                for level, index, row, offset in nodes:
                    found[(level, index)] = tile.node(row, offset)
            while len(self._tiles) > TILE_CACHE:
                self._tiles.popitem(last=False)
        return found

    async def _compute(self, compute: Callable[[NodeHash], T]) -> T:
        nodes = await self._nodes(nodes_needed(compute))
        return compute(lambda level, index: nodes[(level, index)])

    async def root(self, size: int | None = None) -> bytes:
        """The root hash of the tree of the first `size` leaves (default: all known)."""
        size = self._size(size)
        return await self._compute(lambda node: tree_root(size, node))

    async def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162, as MerkleTree.inclusion_proof answers it."""
        size = self._size(size)
        return await self._compute(lambda node: inclusion_path(index, size, node))

    async def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162, as MerkleTree.consistency_proof does."""
        new_size = self._size(new_size, "new size")
        return await self._compute(lambda node: consistency_path(old_size, new_size, node))

    async def leaf_hash_at(self, index: int) -> bytes:
        """The leaf hash at `index` (ProofError when out of range)."""
        if not 0 <= index < self._edge.size:
            raise ProofError(f"leaf index {index} out of range for size {self._edge.size}")
        return (await self._nodes([(0, index)]))[(0, index)]

    async def view(self, indexes: Iterable[int], size: int | None = None) -> TreeView:
        """A TreeView answering the inclusion proofs (and leaf hashes) of `indexes` in the tree
        of `size` leaves, and its root: one fetch for many proofs."""
        size = self._size(size)
        wanted = sorted(set(indexes))

        def every(node: NodeHash) -> None:
            tree_root(size, node)
            for index in wanted:
                node(0, index)
                inclusion_path(index, size, node)

        return TreeView(size, await self._nodes(nodes_needed(every)))
