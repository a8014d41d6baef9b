"""The server's view of the Merkle log: in-memory tree over the stored leaf hashes, checkpoints."""

from __future__ import annotations

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.log_entries import LogEntry
from crypto.merkle import MerkleTree, leaf_hash
from liaison.server.identity import ServerIdentity
from liaison.store import Store, WriteTx
from liaison.store.records import LogEntryRecord


class TransparencyLog:
    """Appends go through the store (one order for every process); proofs come from memory.

    The tree is rebuilt from the stored leaf hashes at start and caught up from the database
    before answering, since another process sharing PostgreSQL may have appended.
    """

    def __init__(self, store: Store, identity: ServerIdentity) -> None:
        self.store = store
        self.identity = identity
        self.tree = MerkleTree()
        self._signed: tuple[int, str] | None = None
        store.add_commit_listener(self._committed)

    async def load(self) -> None:
        self.tree = MerkleTree(await self.store.leaf_hashes(0))

    def _committed(self, entries: list[LogEntryRecord]) -> None:
        # Our own batch: append directly when it follows on; otherwise `catch_up` reads the DB.
        for entry in entries:
            if entry.index == self.tree.size:
                self.tree.append_hash(entry.leaf_hash)

    async def catch_up(self, needed: int | None = None) -> int:
        """Bring the tree up to the database (or at least to `needed` leaves); answer its size."""
        if needed is not None and self.tree.size >= needed and not self.store.postgres:
            return self.tree.size
        start = self.tree.size
        for offset, h in enumerate(await self.store.leaf_hashes(start)):
            if start + offset == self.tree.size:
                self.tree.append_hash(h)
        return self.tree.size

    @staticmethod
    def encode(entry: LogEntry) -> tuple[bytes, bytes]:
        """The entry's leaf data (crypto/log_entries.py) and its leaf hash."""
        data = entry.encode()
        return data, leaf_hash(data)

    async def append(self, tx: WriteTx, entry: LogEntry) -> int:
        data, h = self.encode(entry)
        return await tx.append_log(data, h, at=entry.at)

    def checkpoint(self) -> tuple[int, str]:
        """The signed note for the tree as it is now, and its size (signed once per size)."""
        size = self.tree.size
        if self._signed is None or self._signed[0] != size:
            note = sign_checkpoint(
                Checkpoint(origin=self.identity.origin, size=size, root_hash=self.tree.root()),
                key_name=self.identity.key_name,
                signing_key=self.identity.signing_key,
            )
            self._signed = (size, note)
        return size, self._signed[1]
