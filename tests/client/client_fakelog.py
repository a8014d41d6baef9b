"""An in-memory stand-in for the server's log routes, to test the client's log checks alone."""

from __future__ import annotations

from typing import Any

import nacl.signing

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.encoding import b64e, canonical_json
from crypto.merkle import MerkleTree

ORIGIN = "liaison.test/log"


class FakeLog:
    """Implements the ApiClient methods the log checks call; `entries` can be tampered with."""

    def __init__(self) -> None:
        self.key = nacl.signing.SigningKey(bytes(range(32)))
        self.entries_list: list[dict[str, Any]] = []

    def append(self, entry: dict[str, Any]) -> int:
        self.entries_list.append(entry)
        return len(self.entries_list) - 1

    @property
    def tree(self) -> MerkleTree:
        tree = MerkleTree()
        for entry in self.entries_list:
            tree.append(canonical_json(entry))
        return tree

    def note(self) -> str:
        tree = self.tree
        cp = Checkpoint(ORIGIN, tree.size, tree.root())
        return sign_checkpoint(cp, key_name=ORIGIN, signing_key=self.key)

    async def server_info(self) -> dict[str, Any]:
        return {
            "origin": ORIGIN,
            "log_key_name": ORIGIN,
            "log_public_key": b64e(bytes(self.key.verify_key)),
        }

    async def checkpoint(self) -> dict[str, Any]:
        return {"checkpoint": self.note(), "size": len(self.entries_list)}

    async def consistency(self, old: int, new: int) -> dict[str, Any]:
        return {"proof": [b64e(h) for h in self.tree.consistency_proof(old, new)]}

    async def inclusion(self, index: int, size: int) -> dict[str, Any]:
        tree = self.tree
        return {
            "leaf_hash": b64e(tree.leaf_hash_at(index)),
            "proof": [b64e(h) for h in tree.inclusion_proof(index, size)],
        }

    async def entries(self, start: int, end: int) -> dict[str, Any]:
        return {
            "entries": [
                {"index": i, "entry": self.entries_list[i]}
                for i in range(start, min(end, len(self.entries_list)))
            ]
        }
