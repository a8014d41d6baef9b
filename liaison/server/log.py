"""The server's view of the Merkle log: in-memory tree over the stored leaf hashes, checkpoints."""

from __future__ import annotations

import json
from typing import Any

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.encoding import MAX_SAFE_INTEGER, canonical_json
from crypto.merkle import MerkleTree, leaf_hash
from liaison.server.identity import ServerIdentity
from liaison.store import Store, WriteTx
from liaison.store.records import LogEntryRecord


def _plain_ascii(value: Any) -> bool:
    """Whether RFC 8785 and sorted compact `json.dumps` agree on `value`: ASCII strings and
    keys (already NFC, one UTF-16 unit per character, same escapes), safe integers, no floats."""
    kind = type(value)
    if kind is str:
        return bool(value.isascii())
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is list:
        return all(_plain_ascii(item) for item in value)
    if kind is dict:
        return all(
            type(key) is str and key.isascii() and _plain_ascii(item) for key, item in value.items()
        )
    return value is None or kind is bool


def entry_bytes(entry: dict[str, Any]) -> bytes:
    """The canonical JSON (RFC 8785) of a log entry; the common all-ASCII entry without the
    general canonicaliser, which costs several times more (tests compare the two)."""
    if _plain_ascii(entry):
        return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return canonical_json(entry)


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
    def encode(entry: dict[str, Any]) -> tuple[bytes, bytes]:
        data = entry_bytes(entry)
        return data, leaf_hash(data)

    async def append(self, tx: WriteTx, entry: dict[str, Any]) -> int:
        data, h = self.encode(entry)
        return await tx.append_log(data, h, at=int(entry.get("at", 0)))

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
